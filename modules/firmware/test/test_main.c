#include "unity.h"

void test_crc16_check_value(void);
void test_crc16_of_nothing_is_the_initial_value(void);
void test_frame_round_trip(void);
void test_corrupted_frame_is_refused(void);
void test_frame_too_big_for_its_buffer(void);

int main(void)
{
    UNITY_BEGIN();
    RUN_TEST(test_crc16_check_value);
    RUN_TEST(test_crc16_of_nothing_is_the_initial_value);
    RUN_TEST(test_frame_round_trip);
    RUN_TEST(test_corrupted_frame_is_refused);
    RUN_TEST(test_frame_too_big_for_its_buffer);
    return UNITY_END();
}

#include <string.h>

#include "crc16.h"
#include "unity.h"

void test_crc16_check_value(void)
{
    /* The catalogue check value of CRC-16/CCITT-FALSE. */
    const char *text = "123456789";
    TEST_ASSERT_EQUAL_INT(0x29B1, crc16((const uint8_t *)text, strlen(text)));
}

void test_crc16_of_nothing_is_the_initial_value(void)
{
    TEST_ASSERT_EQUAL_INT(0xFFFF, crc16((const uint8_t *)"", 0));
}

void test_frame_round_trip(void)
{
    const uint8_t payload[] = {1, 2, 3, 250};
    uint8_t frame[8];
    TEST_ASSERT_EQUAL_INT(8, frame_encode(payload, sizeof payload, frame, sizeof frame));
    TEST_ASSERT_TRUE(frame_valid(frame, sizeof frame));
}

void test_corrupted_frame_is_refused(void)
{
    const uint8_t payload[] = {'h', 'i'};
    uint8_t frame[6];
    frame_encode(payload, sizeof payload, frame, sizeof frame);
    frame[2] ^= 0x01;
    TEST_ASSERT_FALSE(frame_valid(frame, sizeof frame));
}

void test_frame_too_big_for_its_buffer(void)
{
    const uint8_t payload[] = {1, 2, 3};
    uint8_t frame[6];
    TEST_ASSERT_EQUAL_INT(0, frame_encode(payload, sizeof payload, frame, sizeof frame));
}

/* The example firmware: says hello on the console, then sends one framed reading. */
#include "board.h"
#include "crc16.h"

static void put_hex(uint8_t byte)
{
    static const char digits[] = "0123456789abcdef";
    board_putc(digits[byte >> 4]);
    board_putc(digits[byte & 0xF]);
}

int main(void)
{
    static const uint8_t reading[] = {'t', '=', '2', '1', '.', '5'};
    uint8_t frame[16];
    size_t size = frame_encode(reading, sizeof reading, frame, sizeof frame);

    board_puts("fedbuild example firmware ready\n");
    board_puts("frame: ");
    for (size_t i = 0; i < size; i++)
        put_hex(frame[i]);
    board_puts(frame_valid(frame, size) ? " ok\n" : " corrupt\n");
    return 0;
}

#include "crc16.h"

uint16_t crc16(const uint8_t *data, size_t length)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < length; i++) {
        crc ^= (uint16_t)data[i] << 8;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

size_t frame_encode(const uint8_t *payload, size_t length, uint8_t *out, size_t capacity)
{
    if (length > 0xFFFF || capacity < length + 4)
        return 0;
    out[0] = (uint8_t)(length >> 8);
    out[1] = (uint8_t)length;
    for (size_t i = 0; i < length; i++)
        out[2 + i] = payload[i];
    uint16_t crc = crc16(out, length + 2);
    out[length + 2] = (uint8_t)(crc >> 8);
    out[length + 3] = (uint8_t)crc;
    return length + 4;
}

int frame_valid(const uint8_t *frame, size_t size)
{
    if (size < 4)
        return 0;
    size_t length = ((size_t)frame[0] << 8) | frame[1];
    if (length + 4 != size)
        return 0;
    uint16_t crc = crc16(frame, length + 2);
    return frame[length + 2] == (uint8_t)(crc >> 8) && frame[length + 3] == (uint8_t)crc;
}

#ifndef FEDBUILD_EXAMPLE_CRC16_H
#define FEDBUILD_EXAMPLE_CRC16_H

#include <stddef.h>
#include <stdint.h>

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): what the firmware stamps on its frames. */
uint16_t crc16(const uint8_t *data, size_t length);

/* A frame: 2 length bytes (big-endian), the payload, 2 CRC bytes. Returns the frame's size,
   or 0 when `capacity` is too small. */
size_t frame_encode(const uint8_t *payload, size_t length, uint8_t *out, size_t capacity);

/* 1 when `frame` is a whole, intact frame. */
int frame_valid(const uint8_t *frame, size_t size);

#endif

#include "fedmath.h"

#include <stdint.h>

#define FNV_OFFSET 0x811c9dc5u
#define FNV_PRIME 0x01000193u

int fm_add(int a, int b)
{
    return (int)((unsigned)a + (unsigned)b);
}

unsigned fm_checksum(const char *text)
{
    uint32_t hash = FNV_OFFSET;
    if (text == 0)
        return hash;
    for (const unsigned char *p = (const unsigned char *)text; *p; ++p) {
        hash ^= *p;
        hash *= FNV_PRIME;
    }
    return hash;
}

const char *fm_version(void)
{
    return "0.1.0";
}

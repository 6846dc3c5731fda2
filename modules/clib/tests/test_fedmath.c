#include "fedmath.h"

#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,    \
                    __LINE__, #cond);                                 \
            ++failures;                                               \
        }                                                             \
    } while (0)

int main(void)
{
    CHECK(fm_add(2, 3) == 5);
    CHECK(fm_add(-7, 7) == 0);
    CHECK(fm_add(-2, -3) == -5);
    /* Known FNV-1a 32-bit values. */
    CHECK(fm_checksum("") == 0x811c9dc5u);
    CHECK(fm_checksum(NULL) == 0x811c9dc5u);
    CHECK(fm_checksum("a") == 0xe40c292cu);
    CHECK(fm_checksum("foobar") == 0xbf9cf968u);
    CHECK(fm_checksum("fedbuild") != fm_checksum("fedbuilc"));
    CHECK(strcmp(fm_version(), "0.1.0") == 0);
    if (failures == 0)
        printf("fedmath: all checks passed\n");
    return failures == 0 ? 0 : 1;
}

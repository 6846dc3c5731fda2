/* ESP-IDF's application descriptor (esp_app_desc_t), the first 256 bytes of DROM.
 *
 * The bootloader checks its magic word, `esptool image-info` prints it, and
 * `esptool elf2image --elf-sha256-offset 0xb0` fills app_elf_sha256. Name and
 * version come from the build (FEDBUILD_APP_NAME, FEDBUILD_APP_VERSION); time and
 * date stay empty so that the same sources give the same image.
 */
#include <stdint.h>

#ifndef FEDBUILD_APP_NAME
#define FEDBUILD_APP_NAME "app"
#endif
#ifndef FEDBUILD_APP_VERSION
#define FEDBUILD_APP_VERSION "0.0.0"
#endif

typedef struct {
    uint32_t magic_word;
    uint32_t secure_version;
    uint32_t reserv1[2];
    char version[32];
    char project_name[32];
    char time[16];
    char date[16];
    char idf_ver[32];
    uint8_t app_elf_sha256[32];
    /* Later ESP-IDF releases took these from the front of the older reserv2[20]. */
    uint16_t min_efuse_blk_rev_full;
    uint16_t max_efuse_blk_rev_full;
    uint8_t mmu_page_size; /* log2; 0: the chip's fixed 64 KiB */
    uint8_t reserv3[3];
    uint32_t reserv2[18];
} esp_app_desc_t;

_Static_assert(sizeof(esp_app_desc_t) == 256, "esp_app_desc_t is 256 bytes");

__attribute__((section(".flash.appdesc"), used))
const esp_app_desc_t esp_app_desc = {
    .magic_word = 0xABCD5432u,
    .version = FEDBUILD_APP_VERSION,
    .project_name = FEDBUILD_APP_NAME,
    .idf_ver = "fedbuild-baremetal",
    /* Newer bootloaders refuse an app whose maximum is below the chip's eFuse block
     * revision; a bare-metal app depends on no eFuse calibration data. */
    .max_efuse_blk_rev_full = 0xFFFFu,
};

/* ESP32-C3: console on UART0 (the one the ROM and ESP-IDF print on), watchdogs off.
 *
 * Register addresses from the ESP32-C3 Technical Reference Manual. The console
 * writes "\r\n" for "\n", as ESP-IDF's console does by default.
 */
#include <stdint.h>

#include "board.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define UART0_FIFO 0x60000000u
#define UART0_STATUS 0x6000001Cu
#define UART_TXFIFO_CNT(status) (((status) >> 16) & 0x3FFu)
#define UART_TXFIFO_SIZE 128u

#define RTC_CNTL_WDTCONFIG0 0x60008090u
#define RTC_CNTL_WDTWPROTECT 0x600080A8u
#define RTC_CNTL_SWD_CONF 0x600080ACu
#define RTC_CNTL_SWD_WPROTECT 0x600080B0u
#define RTC_CNTL_SWD_AUTO_FEED_EN (1u << 31)
#define TIMG0_WDTCONFIG0 0x6001F048u
#define TIMG0_WDTWPROTECT 0x6001F064u
#define WDT_WKEY 0x50D83AA1u
#define SWD_WKEY 0x8F1D312Au

void board_init(void)
{
    /* ESP-IDF's bootloader leaves the RTC watchdog armed for the app to take over;
     * a bare-metal app that never feeds it would be reset after a few seconds. */
    REG(RTC_CNTL_WDTWPROTECT) = WDT_WKEY;
    REG(RTC_CNTL_WDTCONFIG0) = 0;
    REG(RTC_CNTL_WDTWPROTECT) = 0;
    REG(RTC_CNTL_SWD_WPROTECT) = SWD_WKEY;
    REG(RTC_CNTL_SWD_CONF) |= RTC_CNTL_SWD_AUTO_FEED_EN;
    REG(RTC_CNTL_SWD_WPROTECT) = 0;
    REG(TIMG0_WDTWPROTECT) = WDT_WKEY;
    REG(TIMG0_WDTCONFIG0) = 0;
    REG(TIMG0_WDTWPROTECT) = 0;
}

static void uart_write(char c)
{
    /* Write only while the 128-byte TX FIFO holds fewer than 126 characters. */
    while (UART_TXFIFO_CNT(REG(UART0_STATUS)) >= UART_TXFIFO_SIZE - 2) {
    }
    REG(UART0_FIFO) = (uint8_t)c;
}

void board_putc(char c)
{
    if (c == '\n') {
        uart_write('\r');
    }
    uart_write(c);
}

void board_puts(const char *s)
{
    while (*s) {
        board_putc(*s++);
    }
}

void board_exit(int code)
{
    (void)code;
    /* Let the last characters leave the FIFO, then wait: there is no one to return to. */
    while (UART_TXFIFO_CNT(REG(UART0_STATUS)) != 0) {
    }
    for (;;) {
        __asm__ volatile("wfi");
    }
}

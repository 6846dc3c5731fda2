/* What a trap prints: ESP-IDF's panic report, so the tools that read it work here too.
 *
 * The format follows ESP-IDF's RISC-V panic handler ("Guru Meditation Error", the
 * register dump) plus a "Backtrace:" line of PC:SP pairs in the form ESP-IDF prints
 * on Xtensa. There is no unwinder: the backtrace holds the faulting PC and the
 * return address in RA, both real code addresses of the ELF.
 */
#include <stdint.h>

#include "board.h"

void fedbuild_panic(const uint32_t *regs, uint32_t mcause, uint32_t mepc, uint32_t mtval)
    __attribute__((noreturn));

static const char *const exception_names[] = {
    "Instruction address misaligned", "Instruction access fault", "Illegal instruction",
    "Breakpoint", "Load address misaligned", "Load access fault",
    "Store address misaligned", "Store access fault", "Environment call from U-mode",
    "Environment call from S-mode", "Unknown exception", "Environment call from M-mode",
};

static const char *const register_names[32] = {
    "MEPC", "RA", "SP", "GP", "TP", "T0", "T1", "T2", "S0/FP", "S1", "A0", "A1", "A2",
    "A3", "A4", "A5", "A6", "A7", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10",
    "S11", "T3", "T4", "T5", "T6",
};

static void put_hex(uint32_t value)
{
    board_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        board_putc("0123456789abcdef"[(value >> shift) & 0xFu]);
    }
}

static void put_register(const char *name, uint32_t value, int index)
{
    int width = 0;
    board_puts(name);
    while (name[width]) {
        width++;
    }
    for (; width < 8; width++) {
        board_putc(' ');
    }
    board_puts(": ");
    put_hex(value);
    board_puts(index % 4 == 3 ? "  \n" : "  ");
}

void fedbuild_panic(const uint32_t *regs, uint32_t mcause, uint32_t mepc, uint32_t mtval)
{
    uint32_t code = mcause & 0x7FFFFFFFu;
    int interrupt = (mcause >> 31) != 0;
    board_puts("\nGuru Meditation Error: Core  0 panic'ed (");
    if (interrupt) {
        board_puts("Unhandled interrupt");
    } else {
        board_puts(code < sizeof exception_names / sizeof exception_names[0]
                       ? exception_names[code] : "Unknown exception");
    }
    board_puts("). Exception was unhandled.\n\nCore  0 register dump:\n");
    for (int i = 0; i < 32; i++) {
        put_register(register_names[i], i == 0 ? mepc : regs[i], i);
    }
    put_register("MCAUSE", mcause, 0);
    put_register("MTVAL", mtval, 1);
    board_puts("\n\nBacktrace: ");
    put_hex(mepc);
    board_putc(':');
    put_hex(regs[2]);
    board_putc(' ');
    put_hex(regs[1]);
    board_putc(':');
    put_hex(regs[2]);
    board_puts("\n\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
}

/* What fedbuild's bare-metal runtime gives an app: a console and a way to stop.
 *
 * One implementation per board: board_esp32c3.c (UART0 of the ESP32-C3) and
 * board_virt.c (QEMU's riscv32 `virt` machine: ns16550 UART, sifive_test exit).
 */
#ifndef FEDBUILD_BOARD_H
#define FEDBUILD_BOARD_H

/* Called by start.S before main(): stops what the boot left running (watchdogs). */
void board_init(void);

/* Write one character to the console, waiting while the transmitter is full. */
void board_putc(char c);

/* Write a NUL-terminated string to the console (no newline added). */
void board_puts(const char *s);

/* Stop the program: 0 is success, anything else a failure. On QEMU this ends the
 * emulator with that exit status; a real chip has nowhere to go, so it waits forever. */
void board_exit(int code) __attribute__((noreturn));

#endif

/* picolibc's stdio on the board console: printf() and puts() write through board_putc().
 *
 * picolibc leaves stdin, stdout and stderr to the application. Input is not wired:
 * reading stdin returns EOF. --gc-sections drops all of it from an app that does not
 * use stdio.
 */
#include <stdio.h>

#include "board.h"

static int console_put(char c, FILE *file)
{
    (void)file;
    board_putc(c);
    return (unsigned char)c;
}

static FILE console = FDEV_SETUP_STREAM(console_put, NULL, NULL, _FDEV_SETUP_WRITE);

FILE *const stdin = &console;
FILE *const stdout = &console;
FILE *const stderr = &console;

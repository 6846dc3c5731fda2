/* fedbuild's Unity-compatible test runner: see unity.h for what it prints. */
#include <setjmp.h>

#include "board.h"
#include "unity.h"

static struct {
    const char *file;
    const char *name;
    int line;
    int running;
    int failed;
    int ignored;
    unsigned tests;
    unsigned failures;
    unsigned ignores;
    jmp_buf abort_test;
} unity;

__attribute__((weak)) void setUp(void) {}
__attribute__((weak)) void tearDown(void) {}

static void put_unsigned(unsigned long value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) {
        board_putc(digits[--n]);
    }
}

static void put_signed(long value)
{
    if (value < 0) {
        board_putc('-');
        put_unsigned(0ul - (unsigned long)value);
    } else {
        put_unsigned((unsigned long)value);
    }
}

static void put_quoted(const char *s)
{
    if (s == 0) {
        board_puts("NULL");
        return;
    }
    board_putc('"');
    board_puts(s);
    board_putc('"');
}

/* "file:line:name:" */
static void begin_line(const char *file, int line)
{
    board_puts(file);
    board_putc(':');
    put_signed(line);
    board_putc(':');
    board_puts(unity.name ? unity.name : "");
    board_putc(':');
}

static void stop_test(void)
{
    if (unity.running) {
        longjmp(unity.abort_test, 1);
    }
}

static void fail_begin(const char *file, int line)
{
    unity.failed = 1;
    begin_line(file, line);
    board_puts("FAIL:");
}

/* A custom message follows Unity's ". " spacer. */
static void fail_end(const char *message)
{
    if (message != 0) {
        board_puts(". ");
        board_puts(message);
    }
    board_putc('\n');
    stop_test();
}

void UnityBegin(const char *file)
{
    unity.file = file;
    unity.name = 0;
    unity.running = 0;
    unity.tests = unity.failures = unity.ignores = 0;
}

void UnityFail(const char *file, int line, const char *message)
{
    unity.failed = 1;
    begin_line(file, line);
    board_puts("FAIL");
    if (message != 0) {
        board_puts(": ");
        board_puts(message);
    }
    board_putc('\n');
    stop_test();
}

void UnityIgnore(const char *file, int line, const char *message)
{
    unity.ignored = 1;
    begin_line(file, line);
    board_puts("IGNORE");
    if (message != 0) {
        board_puts(": ");
        board_puts(message);
    }
    board_putc('\n');
    stop_test();
}

void UnityAssertEqualInt(long expected, long actual, const char *message, const char *file,
                         int line)
{
    if (expected == actual) {
        return;
    }
    fail_begin(file, line);
    board_puts(" Expected ");
    put_signed(expected);
    board_puts(" Was ");
    put_signed(actual);
    fail_end(message);
}

static int same_string(const char *a, const char *b)
{
    if (a == 0 || b == 0) {
        return a == b;
    }
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

void UnityAssertEqualString(const char *expected, const char *actual, const char *message,
                            const char *file, int line)
{
    if (same_string(expected, actual)) {
        return;
    }
    fail_begin(file, line);
    board_puts(" Expected ");
    put_quoted(expected);
    board_puts(" Was ");
    put_quoted(actual);
    fail_end(message);
}

void UnityDefaultTestRun(UnityTestFunction test, const char *name, const char *file, int line)
{
    unity.name = name;
    unity.failed = 0;
    unity.ignored = 0;
    unity.tests++;
    unity.running = 1;
    if (setjmp(unity.abort_test) == 0) {
        setUp();
        test();
    }
    if (setjmp(unity.abort_test) == 0) {
        tearDown();
    }
    unity.running = 0;
    if (unity.failed) {
        unity.failures++;
    } else if (unity.ignored) {
        unity.ignores++;
    } else {
        begin_line(file, line);
        board_puts("PASS\n");
    }
    unity.name = 0;
}

int UnityEnd(void)
{
    board_puts("\n-----------------------\n");
    put_unsigned(unity.tests);
    board_puts(" Tests ");
    put_unsigned(unity.failures);
    board_puts(" Failures ");
    put_unsigned(unity.ignores);
    board_puts(" Ignored\n");
    board_puts(unity.failures == 0 ? "OK\n" : "FAIL\n");
    return (int)unity.failures;
}

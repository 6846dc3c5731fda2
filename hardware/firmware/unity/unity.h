/* A small Unity-compatible test framework, written for fedbuild (not ThrowTheSwitch's).
 *
 * The test-writing API is the subset of Unity most tests use, and the output is
 * Unity's, line for line, so tools that read Unity's output read this too:
 *
 *     test/test_math.c:12:test_add:PASS
 *     test/test_math.c:20:test_sub:FAIL: Expected 1 Was 2
 *     test/test_math.c:25:test_later:IGNORE: not yet
 *
 *     -----------------------
 *     3 Tests 1 Failures 1 Ignored
 *     FAIL
 *
 * A PASS or IGNORE line names the RUN_TEST() line, a FAIL or an IGNORE from
 * TEST_IGNORE the file and line of the assertion. A failing assertion ends its
 * test at once (setjmp/longjmp); tearDown() still runs. Output goes through
 * board_putc() only.
 */
#ifndef FEDBUILD_UNITY_H
#define FEDBUILD_UNITY_H

typedef void (*UnityTestFunction)(void);

/* Define these in a test file to run code around every test (optional). */
void setUp(void);
void tearDown(void);

void UnityBegin(const char *file);
int UnityEnd(void);
void UnityDefaultTestRun(UnityTestFunction test, const char *name, const char *file,
                         int line);
void UnityFail(const char *file, int line, const char *message);
void UnityIgnore(const char *file, int line, const char *message);
void UnityAssertEqualInt(long expected, long actual, const char *message,
                         const char *file, int line);
void UnityAssertEqualString(const char *expected, const char *actual, const char *message,
                            const char *file, int line);

#define UNITY_BEGIN() UnityBegin(__FILE__)
#define UNITY_END() UnityEnd()
#define RUN_TEST(test) UnityDefaultTestRun(test, #test, __FILE__, __LINE__)

#define TEST_FAIL_MESSAGE(message) UnityFail(__FILE__, __LINE__, (message))
#define TEST_FAIL() UnityFail(__FILE__, __LINE__, 0)
#define TEST_IGNORE_MESSAGE(message) UnityIgnore(__FILE__, __LINE__, (message))
#define TEST_IGNORE() UnityIgnore(__FILE__, __LINE__, 0)
#define TEST_PASS() ((void)0)

#define UNITY_CHECK(condition, message)                                             \
    do {                                                                            \
        if (!(condition)) {                                                         \
            UnityFail(__FILE__, __LINE__, (message));                               \
        }                                                                           \
    } while (0)

#define TEST_ASSERT(condition) UNITY_CHECK(condition, "Expression Evaluated To FALSE")
#define TEST_ASSERT_MESSAGE(condition, message) UNITY_CHECK(condition, message)
#define TEST_ASSERT_TRUE(condition) UNITY_CHECK(condition, "Expected TRUE Was FALSE")
#define TEST_ASSERT_FALSE(condition) UNITY_CHECK(!(condition), "Expected FALSE Was TRUE")
#define TEST_ASSERT_NULL(pointer) UNITY_CHECK((pointer) == 0, "Expected NULL")
#define TEST_ASSERT_NOT_NULL(pointer) UNITY_CHECK((pointer) != 0, "Expected Non-NULL")

#define TEST_ASSERT_EQUAL_INT(expected, actual)                                     \
    UnityAssertEqualInt((long)(expected), (long)(actual), 0, __FILE__, __LINE__)
#define TEST_ASSERT_EQUAL_INT_MESSAGE(expected, actual, message)                    \
    UnityAssertEqualInt((long)(expected), (long)(actual), (message), __FILE__, __LINE__)
#define TEST_ASSERT_EQUAL(expected, actual) TEST_ASSERT_EQUAL_INT(expected, actual)
#define TEST_ASSERT_EQUAL_STRING(expected, actual)                                  \
    UnityAssertEqualString((expected), (actual), 0, __FILE__, __LINE__)
#define TEST_ASSERT_EQUAL_STRING_MESSAGE(expected, actual, message)                 \
    UnityAssertEqualString((expected), (actual), (message), __FILE__, __LINE__)

#endif

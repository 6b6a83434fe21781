/* A minimal test harness for the C client tests: CHECK records failures, TEST runs one
 * test function, and the summary line reads "N passed, N failed". */
#ifndef EAGLE_TEST_CHECK_H
#define EAGLE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;  /* failed CHECKs in the current test */
static int tests_passed, tests_failed;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "    %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

/* Checks an eagle_* return code, printing the library's message when it differs. */
#define CHECK_RC(expr, want)                                                          \
    do {                                                                              \
        int rc_ = (expr);                                                             \
        if (rc_ != (want)) {                                                          \
            fprintf(stderr, "    %s:%d: %s returned %d (%s: %s), expected %d (%s)\n",  \
                    __FILE__, __LINE__, #expr, rc_, eagle_strerror(rc_),              \
                    eagle_last_error(), (want), eagle_strerror(want));                \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

#define TEST(fn)                                                          \
    do {                                                                  \
        check_failures = 0;                                               \
        fn();                                                             \
        if (check_failures == 0) {                                        \
            tests_passed++;                                               \
            printf("ok   %s\n", #fn);                                     \
        } else {                                                          \
            tests_failed++;                                               \
            printf("FAIL %s\n", #fn);                                     \
        }                                                                 \
        fflush(stdout);                                                   \
    } while (0)

#define SUMMARY(name)                                                      \
    (printf("%s: %d passed, %d failed\n", (name), tests_passed, tests_failed), \
     tests_failed == 0 ? 0 : 1)

#endif

/* testutil.h — tiny assertion helpers shared by the ctest programs. */
#ifndef PTQ_TESTUTIL_H
#define PTQ_TESTUTIL_H

#include <stdio.h>

extern int tu_failures;
/* PTQ_TEST_ASAN: 1 in a build under AddressSanitizer (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define PTQ_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PTQ_TEST_ASAN 1
#endif
#endif
#ifndef PTQ_TEST_ASAN
#define PTQ_TEST_ASAN 0
#endif

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                           \
            tu_failures++;                                                                                     \
        }                                                                                                      \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                                  \
    do {                                                                                                       \
        double _a = (a), _b = (b);                                                                             \
        if (!(fabs(_a - _b) <= (tol))) {                                                                       \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g vs %s = %.9g (tol %g)\n", __FILE__, __LINE__, \
                    #a, _a, #b, _b, (double)(tol));                                                            \
            tu_failures++;                                                                                     \
        }                                                                                                      \
    } while (0)
/* Print the summary and return the exit status for main(). */
int tu_done(const char *name);
/* Path of an asset under the data root ($PTQBENCH_DATA, ./data, ../shared/assets);
 * returns NULL when the data root is missing. */
const char *tu_asset(const char *rel);
#endif

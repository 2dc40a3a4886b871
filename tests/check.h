/*
 * check.h - the test harness: TEST(name) cases, one per ctest entry, and
 * CHECK macros that print the expression, both values and file:line, then end
 * the process with status 1.
 *
 * A test binary runs one named case (`test_x case`) or, with no argument,
 * every case in order.
 */
#ifndef TPSD_CHECK_H
#define TPSD_CHECK_H

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

typedef void (*check_fn)(void);
void check_register(const char *name, check_fn fn);
/* A child process a failing check stops (SIGTERM, then SIGKILL after a
 * grace period) before the test exits: a failed test leaves no daemon
 * behind. `group`: the child leads its own process group; the whole group
 * is signalled. Children already reaped are skipped. */
void check_child(pid_t pid, int group);
void check_failed(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define TEST(name)                                                                             \
    static void test_##name(void);                                                             \
    __attribute__((constructor)) static void register_##name(void)                             \
    {                                                                                          \
        check_register(#name, test_##name);                                                    \
    }                                                                                          \
    static void test_##name(void)

#define CHECK(e)                                                                               \
    do {                                                                                       \
        if (!(e))                                                                              \
            check_failed(__FILE__, __LINE__, "CHECK(%s)", #e);                                 \
    } while (0)

#define CHECK_INT(a, op, b)                                                                    \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (!(a_ op b_))                                                                       \
            check_failed(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op, #b, a_, b_);   \
    } while (0)

#define CHECK_DBL(a, op, b)                                                                    \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                                             \
        if (!(a_ op b_))                                                                       \
            check_failed(__FILE__, __LINE__, "%s %s %s: %.6f vs %.6f", #a, #op, #b, a_, b_);   \
    } while (0)

/* |a - b| <= tol */
#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);                         \
        if (!(a_ - b_ <= t_ && b_ - a_ <= t_))                                                 \
            check_failed(__FILE__, __LINE__, "%s ~ %s (tol %g): %.6f vs %.6f", #a, #b, t_, a_, \
                         b_);                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                   \
            check_failed(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b,             \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                              \
    } while (0)

#endif

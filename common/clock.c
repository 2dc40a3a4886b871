/* clock.c - see clock.h. */
#include "common/clock.h"

#include <errno.h>
#include <time.h>

int64_t
clock_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_sleep_until(int64_t deadline_ns)
{
    int64_t now;
    struct timespec ts;

    /* clock_nanosleep(TIMER_ABSTIME) is not on macOS: sleep the remainder. */
    for (;;) {
        int64_t d;
        now = clock_mono_ns();
        if (now >= deadline_ns)
            return;
        d = deadline_ns - now;
        ts.tv_sec = (time_t)(d / 1000000000);
        ts.tv_nsec = (long)(d % 1000000000);
        if (nanosleep(&ts, NULL) == -1 && errno != EINTR)
            return;
    }
}

void
clock_realtime_in(int64_t rel_ns, struct timespec *out)
{
    clock_gettime(CLOCK_REALTIME, out);
    out->tv_sec += (time_t)(rel_ns / 1000000000);
    out->tv_nsec += (long)(rel_ns % 1000000000);
    if (out->tv_nsec >= 1000000000L) {
        out->tv_sec++;
        out->tv_nsec -= 1000000000L;
    }
}

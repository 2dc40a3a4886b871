/*
 * clock.h - the one monotonic clock every measurement uses, and wall time.
 * Calls nothing of ours.
 */
#ifndef TPSD_CLOCK_H
#define TPSD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC. Can't fail. */
int64_t clock_mono_ns(void);
/* Wall time in milliseconds since the Unix epoch. Can't fail. */
int64_t clock_wall_ms(void);
/* *out = now on CLOCK_REALTIME plus rel_ns (>= 0), normalised: the
 * absolute deadline pthread_cond_timedwait takes. Can't fail. */
void clock_realtime_in(int64_t rel_ns, struct timespec *out);
/* Sleep until the monotonic deadline (ns); returns early on no signal. */
void clock_sleep_until(int64_t deadline_ns);

#endif

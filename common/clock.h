/*
 * clock.h - the one monotonic clock every measurement uses, and wall time.
 * Calls nothing of ours.
 */
#ifndef TPSD_CLOCK_H
#define TPSD_CLOCK_H

#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. Can't fail. */
int64_t clock_mono_ns(void);
/* Wall time in milliseconds since the Unix epoch. Can't fail. */
int64_t clock_wall_ms(void);
/* Sleep until the monotonic deadline (ns); returns early on no signal. */
void clock_sleep_until(int64_t deadline_ns);

#endif

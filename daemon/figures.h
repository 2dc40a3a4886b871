/*
 * figures.h - the figures of one measured request, derived from the raw
 * timestamps the client stored in a struct sample_rec (DESIGN.md,
 * "Measurements"). Old samples can be recomputed: nothing here reads a clock.
 *
 * All offsets are microseconds from t_sent on one monotonic clock:
 *   ttft_ms    = ttft_us / 1000 (first content-bearing delta)
 *   decode_tps = (completion_tokens - 1) / (t_last - t_first)     [tokens/s]
 *   tpot_ms    = (t_last - t_first) / (completion_tokens - 1)     [ms]
 *                  both need completion_tokens >= 2 and t_last > t_first
 *   e2e_tps    = completion_tokens / t_done                       [tokens/s]
 *   prompt_tps = prompt_tokens / ttft                             [tokens/s]
 *   e2e_ms     = t_done / 1000
 *   itl_*_ms   = p50, p90, p99 and max of the gaps between successive
 *                content-bearing SSE events (event_us): per EVENT, not per
 *                token; a server sending several tokens per event shows
 *                fewer, larger gaps. Needs at least two events.
 *   server_*   the server's own prompt rate, decode rate, TTFT and cached
 *              prompt tokens, read from server_stats (server_timings.h);
 *   server_decode_diff_pct = (server decode rate on the client's basis
 *              - decode_tps) / decode_tps * 100, the server's rate taken
 *              as (n - 1) / span of its own count n and span (figures.c);
 *   server_clock_mismatch = |server_decode_diff_pct| > 5.
 * Percentiles are stats_percentile()'s (linear interpolation between
 * closest ranks, numpy's default). t_first is ttft_us.
 *
 * May call common/stats.h and daemon/server_timings.h.
 */
#ifndef TPSD_FIGURES_H
#define TPSD_FIGURES_H

#include "storage/samples.h"

/*
 * Fill s->ttft_ms, decode_tps, e2e_tps, prompt_tps, tpot_ms, itl_p50_ms,
 * itl_p90_ms, itl_p99_ms, itl_max_ms, e2e_ms and the server_* figures from
 * s->ttft_us, t_last_us, t_done_us, prompt_tokens, completion_tokens,
 * event_us[0..n_event_us) and server_stats (NULL: no server figures).
 * Inputs that are unknown (-1, or no events) leave the figures that need
 * them NAN; every figure is overwritten. event_us must not decrease; a
 * decreasing pair is ignored. Reads nothing else, owns nothing; can't fail
 * (when out of memory for the gaps, the itl figures stay NAN).
 */
void figures_compute(struct sample_rec *s);

#endif

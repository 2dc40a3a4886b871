/* figures.c - see figures.h. */
#include "daemon/figures.h"

#include <math.h>
#include <stdlib.h>

#include "common/stats.h"
#include "daemon/server_timings.h"

#define METRICS_US_PER_MS 1000.0
#define METRICS_US_PER_S 1000000.0
#define FIGURES_CLOCK_TOLERANCE_PCT 5.0 /* server vs client decode speed */

static void
metrics_itl(struct sample_rec *s)
{
    double *gap;
    size_t i, n = 0;

    if (s->event_us == NULL || s->n_event_us < 2)
        return;
    gap = malloc((s->n_event_us - 1) * sizeof(*gap));
    if (gap == NULL)
        return;
    for (i = 1; i < s->n_event_us; i++) {
        if (s->event_us[i] < s->event_us[i - 1])
            continue;
        gap[n++] = (double)(s->event_us[i] - s->event_us[i - 1]) / METRICS_US_PER_MS;
    }
    if (n > 0) {
        stats_sort(gap, n);
        s->itl_p50_ms = stats_percentile(gap, n, 0.50);
        s->itl_p90_ms = stats_percentile(gap, n, 0.90);
        s->itl_p99_ms = stats_percentile(gap, n, 0.99);
        s->itl_max_ms = gap[n - 1];
    }
    free(gap);
}

/*
 * The server's figures from s->server_stats, and its decode speed against
 * the client's. Every server counts the first generated token in its decode
 * count but times from it (server_timings.h), where decode_tps counts the
 * tokens after the first: the comparison puts the server on the client's
 * basis, (n - 1) / span from the server's own n and span when it gives
 * them, else its stated rate * (n - 1) / n with the usage's n.
 */
static void
figures_server(struct sample_rec *s)
{
    struct server_timings t;
    double same_basis = NAN;

    s->server_prompt_tps = s->server_decode_tps = s->server_ttft_ms = NAN;
    s->server_decode_diff_pct = NAN;
    s->server_cached_tokens = -1;
    s->server_clock_mismatch = 0;
    if (server_timings_parse(s->server_stats, s->prompt_tokens, s->completion_tokens, &t) != 0)
        return;
    s->server_prompt_tps = t.prompt_tps;
    s->server_decode_tps = t.decode_tps;
    s->server_ttft_ms = t.ttft_ms;
    s->server_cached_tokens = t.cached_tokens;
    if (t.decode_n >= 2 && t.decode_ms > 0)
        same_basis = (double)(t.decode_n - 1) * 1000.0 / t.decode_ms;
    else if (!isnan(t.decode_tps) && s->completion_tokens >= 2)
        same_basis =
            t.decode_tps * (double)(s->completion_tokens - 1) / (double)s->completion_tokens;
    if (!isnan(same_basis) && !isnan(s->decode_tps) && s->decode_tps > 0) {
        s->server_decode_diff_pct = (same_basis - s->decode_tps) / s->decode_tps * 100.0;
        s->server_clock_mismatch =
            fabs(s->server_decode_diff_pct) > FIGURES_CLOCK_TOLERANCE_PCT;
    }
}

void
figures_compute(struct sample_rec *s)
{
    int64_t span;

    s->ttft_ms = s->decode_tps = s->e2e_tps = s->prompt_tps = s->tpot_ms = NAN;
    s->itl_p50_ms = s->itl_p90_ms = s->itl_p99_ms = s->itl_max_ms = s->e2e_ms = NAN;

    if (s->ttft_us >= 0)
        s->ttft_ms = (double)s->ttft_us / METRICS_US_PER_MS;
    if (s->t_done_us >= 0)
        s->e2e_ms = (double)s->t_done_us / METRICS_US_PER_MS;

    if (s->ttft_us >= 0 && s->t_last_us >= 0 && s->completion_tokens >= 2) {
        span = s->t_last_us - s->ttft_us;
        if (span > 0) {
            s->decode_tps =
                (double)(s->completion_tokens - 1) * METRICS_US_PER_S / (double)span;
            s->tpot_ms = (double)span / METRICS_US_PER_MS / (double)(s->completion_tokens - 1);
        }
    }
    if (s->completion_tokens >= 0 && s->t_done_us > 0)
        s->e2e_tps = (double)s->completion_tokens * METRICS_US_PER_S / (double)s->t_done_us;
    if (s->prompt_tokens >= 0 && s->ttft_us > 0)
        s->prompt_tps = (double)s->prompt_tokens * METRICS_US_PER_S / (double)s->ttft_us;
    metrics_itl(s);
    figures_server(s);
}

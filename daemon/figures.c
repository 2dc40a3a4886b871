/* figures.c - see figures.h. */
#include "daemon/figures.h"

#include <math.h>
#include <stdlib.h>

#include "common/stats.h"

#define METRICS_US_PER_MS 1000.0
#define METRICS_US_PER_S 1000000.0

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
            s->decode_tps = (double)(s->completion_tokens - 1) * METRICS_US_PER_S / (double)span;
            s->tpot_ms = (double)span / METRICS_US_PER_MS / (double)(s->completion_tokens - 1);
        }
    }
    if (s->completion_tokens >= 0 && s->t_done_us > 0)
        s->e2e_tps = (double)s->completion_tokens * METRICS_US_PER_S / (double)s->t_done_us;
    if (s->prompt_tokens >= 0 && s->ttft_us > 0)
        s->prompt_tps = (double)s->prompt_tokens * METRICS_US_PER_S / (double)s->ttft_us;
    metrics_itl(s);
}

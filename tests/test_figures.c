/* test_figures.c - per-sample figures (daemon/figures.c) and aggregation (common/stats.c),
 * against values computed by hand. */
#include "daemon/figures.h"
#include "common/stats.h"
#include "tests/check.h"

#include <math.h>
#include <stdlib.h>

#define TOL 1e-9

/* A sample with known raw timestamps; event offsets copied (owned). */
static void
sample(struct sample_rec *s, int64_t ttft, int64_t last, int64_t done, int64_t prompt,
       int64_t completion, const uint32_t *ev, size_t nev)
{
    size_t i;

    sample_rec_init(s);
    s->ttft_us = ttft;
    s->t_last_us = last;
    s->t_done_us = done;
    s->prompt_tokens = prompt;
    s->completion_tokens = completion;
    if (nev > 0) {
        s->event_us = calloc(nev, sizeof(*s->event_us));
        CHECK(s->event_us != NULL);
        for (i = 0; i < nev; i++)
            s->event_us[i] = ev[i];
        s->n_event_us = nev;
    }
}

TEST(one_token_per_event)
{
    struct sample_rec s;
    uint32_t ev[11];
    size_t i;

    /* 11 tokens, one per event, 100 ms apart from 200 ms; done at 1250 ms. */
    for (i = 0; i < 11; i++)
        ev[i] = (uint32_t)(200000 + 100000 * i);
    sample(&s, 200000, 1200000, 1250000, 50, 11, ev, 11);
    figures_compute(&s);
    CHECK_NEAR(s.ttft_ms, 200.0, TOL);
    CHECK_NEAR(s.decode_tps, 10.0, TOL); /* 10 tokens / 1.0 s */
    CHECK_NEAR(s.tpot_ms, 100.0, TOL);
    CHECK_NEAR(s.e2e_tps, 8.8, TOL);      /* 11 / 1.25 s */
    CHECK_NEAR(s.prompt_tps, 250.0, TOL); /* 50 / 0.2 s */
    CHECK_NEAR(s.e2e_ms, 1250.0, TOL);
    CHECK_NEAR(s.itl_p50_ms, 100.0, TOL);
    CHECK_NEAR(s.itl_p90_ms, 100.0, TOL);
    CHECK_NEAR(s.itl_p99_ms, 100.0, TOL);
    CHECK_NEAR(s.itl_max_ms, 100.0, TOL);
    sample_rec_free(&s);
}

TEST(several_tokens_per_event)
{
    struct sample_rec s;
    /* Gaps 50, 200, 50, 700 ms; sorted 50 50 200 700. */
    static const uint32_t ev[] = {100000, 150000, 350000, 400000, 1100000};

    sample(&s, 100000, 1100000, 1200000, 300, 20, ev, 5);
    figures_compute(&s);
    CHECK_NEAR(s.decode_tps, 19.0, TOL); /* 19 / 1.0 s */
    CHECK_NEAR(s.tpot_ms, 1000.0 / 19.0, TOL);
    CHECK_NEAR(s.e2e_tps, 20.0 / 1.2, TOL);
    CHECK_NEAR(s.prompt_tps, 3000.0, TOL); /* 300 / 0.1 s */
    CHECK_NEAR(s.itl_p50_ms, 125.0, TOL);  /* h = 1.5: 50 + .5 * 150 */
    CHECK_NEAR(s.itl_p90_ms, 550.0, TOL);  /* h = 2.7: 200 + .7 * 500 */
    CHECK_NEAR(s.itl_p99_ms, 685.0, TOL);  /* h = 2.97: 200 + .97 * 500 */
    CHECK_NEAR(s.itl_max_ms, 700.0, TOL);
    /* decode_tps and tpot_ms are inverses. */
    CHECK_NEAR(s.decode_tps * s.tpot_ms, 1000.0, 1e-6);
    sample_rec_free(&s);
}

TEST(one_token)
{
    struct sample_rec s;
    static const uint32_t ev[] = {500000};

    sample(&s, 500000, 500000, 600000, 10, 1, ev, 1);
    figures_compute(&s);
    CHECK_NEAR(s.ttft_ms, 500.0, TOL);
    CHECK(isnan(s.decode_tps));
    CHECK(isnan(s.tpot_ms));
    CHECK_NEAR(s.e2e_tps, 1.0 / 0.6, TOL);
    CHECK_NEAR(s.prompt_tps, 20.0, TOL);
    CHECK(isnan(s.itl_p50_ms));
    CHECK(isnan(s.itl_max_ms));
    sample_rec_free(&s);
}

TEST(zero_tokens)
{
    struct sample_rec s;

    sample(&s, -1, -1, 300000, 12, 0, NULL, 0);
    figures_compute(&s);
    CHECK(isnan(s.ttft_ms));
    CHECK(isnan(s.decode_tps));
    CHECK(isnan(s.tpot_ms));
    CHECK(isnan(s.prompt_tps));
    CHECK_NEAR(s.e2e_tps, 0.0, TOL);
    CHECK_NEAR(s.e2e_ms, 300.0, TOL);
    CHECK(isnan(s.itl_p50_ms));
    sample_rec_free(&s);
}

TEST(unknowns_stay_nan)
{
    struct sample_rec s;

    sample_rec_init(&s);
    s.decode_tps = 5; /* stale figures are overwritten */
    figures_compute(&s);
    CHECK(isnan(s.ttft_ms) && isnan(s.decode_tps) && isnan(s.e2e_tps));
    CHECK(isnan(s.prompt_tps) && isnan(s.tpot_ms) && isnan(s.e2e_ms));
    CHECK(isnan(s.itl_p50_ms) && isnan(s.itl_p90_ms) && isnan(s.itl_p99_ms));
    CHECK(isnan(s.itl_max_ms));

    /* Tokens unknown (no usage, no estimate) but times known. */
    sample(&s, 1000, 5000, 6000, -1, -1, NULL, 0);
    figures_compute(&s);
    CHECK_NEAR(s.ttft_ms, 1.0, TOL);
    CHECK(isnan(s.decode_tps) && isnan(s.e2e_tps) && isnan(s.prompt_tps));

    /* Zero decode span with several tokens (all in one event). */
    sample(&s, 1000, 1000, 2000, 5, 5, NULL, 0);
    figures_compute(&s);
    CHECK(isnan(s.decode_tps) && isnan(s.tpot_ms));
    CHECK_NEAR(s.e2e_tps, 2500.0, TOL);

    /* ttft of 0 us: no prompt_tps (division by zero). */
    sample(&s, 0, 1000, 2000, 5, 2, NULL, 0);
    figures_compute(&s);
    CHECK(isnan(s.prompt_tps));
    CHECK_NEAR(s.decode_tps, 1000.0, TOL);
    sample_rec_free(&s);
}

TEST(decreasing_events_ignored)
{
    struct sample_rec s;
    static const uint32_t ev[] = {1000, 3000, 2000, 6000};

    /* Gaps: 2 ms, (skipped), 4 ms. */
    sample(&s, 1000, 6000, 7000, 1, 4, ev, 4);
    figures_compute(&s);
    CHECK_NEAR(s.itl_max_ms, 4.0, TOL);
    CHECK_NEAR(s.itl_p50_ms, 3.0, TOL);
    sample_rec_free(&s);
}

TEST(percentile_definition)
{
    double v[10];
    static const double four[] = {1, 2, 3, 4};
    static const double one[] = {7};
    size_t i;

    for (i = 0; i < 10; i++)
        v[i] = (double)(i + 1);
    CHECK_NEAR(stats_percentile(v, 10, 0.5), 5.5, TOL);
    CHECK_NEAR(stats_percentile(v, 10, 0.9), 9.1, TOL);
    CHECK_NEAR(stats_percentile(v, 10, 0.99), 9.91, TOL);
    CHECK_NEAR(stats_percentile(v, 10, 0.0), 1.0, TOL);
    CHECK_NEAR(stats_percentile(v, 10, 1.0), 10.0, TOL);
    CHECK_NEAR(stats_percentile(v, 10, -3), 1.0, TOL); /* clamped */
    CHECK_NEAR(stats_percentile(v, 10, 7), 10.0, TOL);
    CHECK_NEAR(stats_percentile(four, 4, 0.5), 2.5, TOL);
    CHECK_NEAR(stats_percentile(four, 4, 0.25), 1.75, TOL);
    CHECK_NEAR(stats_percentile(one, 1, 0.99), 7.0, TOL);
    CHECK(isnan(stats_percentile(v, 0, 0.5)));
    CHECK(isnan(stats_percentile(v, 10, NAN)));
}

TEST(summary)
{
    static const double v[] = {3, NAN, 1, 2, NAN, 6};
    struct stats_summary s;

    /* Values 1 2 3 6: mean 3, deviations -2 -1 0 3, SS 14, var 14/3. */
    CHECK_INT(stats_summarize(v, 6, &s), ==, 0);
    CHECK_INT(s.n, ==, 4);
    CHECK_NEAR(s.mean, 3.0, TOL);
    CHECK_NEAR(s.median, 2.5, TOL);
    CHECK_NEAR(s.stddev, sqrt(14.0 / 3.0), TOL);
    CHECK_NEAR(s.min, 1.0, TOL);
    CHECK_NEAR(s.max, 6.0, TOL);
    CHECK_NEAR(s.p90, 5.1, TOL);  /* h = 2.7: 3 + .7 * 3 */
    CHECK_NEAR(s.p95, 5.55, TOL); /* h = 2.85 */
    CHECK_NEAR(s.p99, 5.91, TOL); /* h = 2.97 */
    CHECK_NEAR(v[0], 3.0, TOL);   /* the input is not sorted in place */

    /* One value: no stddev. */
    CHECK_INT(stats_summarize(v, 1, &s), ==, 0);
    CHECK_INT(s.n, ==, 1);
    CHECK_NEAR(s.median, 3.0, TOL);
    CHECK(isnan(s.stddev));

    /* Nothing known. */
    CHECK_INT(stats_summarize(v + 1, 1, &s), ==, 0);
    CHECK_INT(s.n, ==, 0);
    CHECK(isnan(s.mean) && isnan(s.median) && isnan(s.min) && isnan(s.p99));
    CHECK_INT(stats_summarize(NULL, 0, &s), ==, 0);
    CHECK_INT(s.n, ==, 0);
}

TEST(accumulator)
{
    struct stats_acc a, b, all;
    struct stats_summary s;
    double v[100];
    size_t i;

    stats_acc_init(&a);
    CHECK(isnan(stats_acc_mean(&a)) && isnan(stats_acc_stddev(&a)) && isnan(a.min));
    stats_acc_init(&b);
    stats_acc_init(&all);
    for (i = 0; i < 100; i++) {
        v[i] = 1e6 + (double)((i * 37) % 101) / 7.0; /* large offset: Welford stays exact */
        stats_acc_add(i < 40 ? &a : &b, v[i]);
        stats_acc_add(&all, v[i]);
    }
    stats_acc_add(&a, NAN);
    CHECK_INT(a.n, ==, 40);
    CHECK_INT(stats_summarize(v, 100, &s), ==, 0);
    CHECK_NEAR(stats_acc_mean(&all), s.mean, 1e-6);
    CHECK_NEAR(stats_acc_stddev(&all), s.stddev, 1e-6);
    CHECK_NEAR(all.min, s.min, TOL);
    CHECK_NEAR(all.max, s.max, TOL);

    stats_acc_merge(&a, &b);
    CHECK_INT(a.n, ==, 100);
    CHECK_NEAR(a.mean, all.mean, 1e-6);
    CHECK_NEAR(stats_acc_variance(&a), stats_acc_variance(&all), 1e-6);
    CHECK_NEAR(a.min, all.min, TOL);
    CHECK_NEAR(a.max, all.max, TOL);

    /* Merging into or from an empty accumulator. */
    stats_acc_init(&b);
    stats_acc_merge(&b, &all);
    CHECK_INT(b.n, ==, 100);
    CHECK_NEAR(b.m2, all.m2, TOL);
    stats_acc_init(&b);
    stats_acc_merge(&all, &b);
    CHECK_INT(all.n, ==, 100);

    /* Hand-computed: 2 4 4 4 5 5 7 9: mean 5, SS 32, sample var 32/7. */
    {
        static const double w[] = {2, 4, 4, 4, 5, 5, 7, 9};

        stats_acc_init(&a);
        for (i = 0; i < 8; i++)
            stats_acc_add(&a, w[i]);
        CHECK_NEAR(stats_acc_mean(&a), 5.0, TOL);
        CHECK_NEAR(stats_acc_variance(&a), 32.0 / 7.0, TOL);
        CHECK_NEAR(a.min, 2.0, TOL);
        CHECK_NEAR(a.max, 9.0, TOL);
    }
}

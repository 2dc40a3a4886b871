/*
 * test_capsearch.c - capacity_search (daemon/capacity.h) on steps computed
 * from a model's parameters, without a server: the loads it visits, its
 * answer and stop reason for each way a search ends, the judgement stored
 * with each step, and the step figures of capacity_acc.
 */
#include "tests/check.h"

#include "daemon/capacity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_STEPS_MAX 64

/* A server in closed form: per-user decode min(tps, budget / c), TTFT
 * ttft_ms plus a whole answer (answer_ms) per queued round past `slots`,
 * all requests failing from `fail_from` users on (0: never). */
struct model {
    double tps, budget, ttft_ms, answer_ms;
    int slots, fail_from;
    /* what the search asked for and stored */
    double loads[T_STEPS_MAX];
    int nloads, nstored;
    struct capdata_step stored[T_STEPS_MAX];
};

static int
measure(void *arg, int64_t conc, double rps, struct capdata_step *out)
{
    struct model *m = arg;
    double c = conc > 0 ? (double)conc : rps, share = m->budget / c;
    double rounds = m->slots > 0 && c > m->slots ? ceil(c / m->slots) - 1 : 0;

    CHECK(m->nloads < T_STEPS_MAX);
    m->loads[m->nloads++] = c;
    memset(out, 0, sizeof(*out));
    out->step = m->nloads - 1;
    out->concurrency = conc;
    out->rps = rps;
    out->n = 20;
    out->n_failed = m->fail_from > 0 && c >= m->fail_from ? 20 : 0;
    out->error_rate = (double)out->n_failed / 20.0;
    out->decode_p5_tps = out->decode_p50_tps = share < m->tps ? share : m->tps;
    out->ttft_p50_ms = out->ttft_p95_ms = m->ttft_ms + rounds * m->answer_ms;
    /* Total tok/s: every user decoding, at most the slots. */
    out->total_tps = out->decode_p50_tps * (m->slots > 0 && c > m->slots ? m->slots : c);
    out->goodput_rps = out->total_tps / 20.0;
    return 0;
}

static int
store(void *arg, const struct capdata_step *s)
{
    struct model *m = arg;

    CHECK(m->nstored < T_STEPS_MAX);
    m->stored[m->nstored++] = *s;
    return 0;
}

/*
 * Search m with a level (0: unset) of TTFT p95 and decode p5, by rate or
 * concurrency, up to max. `expect` is "LOADS -> ANSWER REASON": the loads
 * the search must visit in order, its answer ("none": no load met the
 * level) and why it ended, e.g. "1 2 4 -> 2 saturated".
 */
static void
run_search(struct model *m, double ttft_lv, double decode_lv, int rate, int max,
           const char *expect, struct capacity_answer *a)
{
    struct capacity_opts o = {
        .rate = rate, .start_rps = 1.0, .max_concurrency = max, .resolution_pct = 10};
    const char *p = expect;
    char *end, reason[CAPACITY_REASON_MAX];
    double ans;
    int i = 0;

    caplevel_init(&o.level);
    if (ttft_lv > 0)
        o.level.ttft_p95_ms = ttft_lv;
    if (decode_lv > 0)
        o.level.decode_tps_p5 = decode_lv;
    CHECK_INT(capacity_search(&o, measure, store, m, a), ==, 0);
    for (;;) {
        double v = strtod(p, &end);

        if (end == p)
            break;
        CHECK(i < m->nloads);
        CHECK_DBL(m->loads[i++], ==, v);
        p = end;
    }
    CHECK_INT(m->nloads, ==, i);
    CHECK_INT(a->nsteps, ==, i);
    CHECK_INT(m->nstored, ==, i);
    p = strstr(p, "->");
    CHECK(p != NULL);
    ans = strncmp(p + 3, "none", 4) == 0 ? NAN : strtod(p + 3, &end);
    if (isnan(ans))
        CHECK(isnan(a->capacity));
    else
        CHECK_DBL(a->capacity, ==, ans);
    snprintf(reason, sizeof(reason), "%s", strrchr(p, ' ') + 1);
    CHECK_STR(a->stop_reason, reason);
}

/* Budget 1000, 100 per user, decode p5 >= 70: floor(1000 / 70) = 14
 * users. Doubling 1..16, bisecting 12, 14, 15. */
TEST(bisects_to_exact_boundary)
{
    struct model m = {.tps = 100, .budget = 1000, .ttft_ms = 50};
    struct capacity_answer a;

    run_search(&m, 0, 70, 0, 64, "1 2 4 8 16 12 14 15 -> 14 bisected", &a);
    CHECK_DBL(a.capacity, ==, floor(1000.0 / 70.0));
    CHECK_DBL(a.goodput_rps, ==, m.stored[6].goodput_rps); /* the step at 14 */
    CHECK_INT((int)m.stored[4].passed, ==, 0);             /* 16 missed */
    CHECK_INT((int)m.stored[7].passed, ==, 0);             /* 15 missed */
}

/* Two slots, a level on decode only (never missed): at 4 users TTFT grows
 * by a whole answer and total tok/s stays flat, so the search stops there
 * instead of going on to 64. */
TEST(stops_at_queueing_saturation)
{
    struct model m = {.tps = 100, .budget = 1e9, .ttft_ms = 50, .answer_ms = 250, .slots = 2};
    struct capacity_answer a;

    run_search(&m, 0, 50, 0, 64, "1 2 4 -> 2 saturated", &a);
    CHECK_INT((int)m.stored[2].saturated, ==, 1);
    CHECK_INT((int)m.stored[2].passed, ==, 1);
    CHECK_INT((int)m.stored[1].saturated, ==, 0);
}

/* Every request fails from 8 users on; with no error_rate in the level
 * that is saturation, not a miss. */
TEST(stops_at_error_saturation)
{
    struct model m = {.tps = 100, .budget = 1e9, .ttft_ms = 50, .fail_from = 8};
    struct capacity_answer a;

    run_search(&m, 1000, 0, 0, 64, "1 2 4 8 -> 4 saturated", &a);
    CHECK_DBL(m.stored[3].error_rate, ==, 1.0);
}

/* A level that holds everywhere ends at capacity_max_concurrency, which
 * is measured even when it is not a power of two. */
TEST(max_concurrency_reached)
{
    struct model m = {.tps = 100, .budget = 1e9, .ttft_ms = 50};
    struct capacity_answer a;

    run_search(&m, 100, 0, 0, 10, "1 2 4 8 10 -> 10 max_reached", &a);
    CHECK_DBL(a.goodput_rps, ==, m.stored[4].goodput_rps);
}

/* TTFT 3 s from the first user on: no load meets ttft_p95_ms 2000. */
TEST(first_step_missed)
{
    struct model m = {.tps = 100, .budget = 1e9, .ttft_ms = 3000};
    struct capacity_answer a;

    run_search(&m, 2000, 0, 0, 64, "1 -> none first_step_missed", &a);
    CHECK(isnan(a.goodput_rps));
}

/* A rate search from 1 request/s, decode 1000 / rps, level 70: the
 * boundary 14.29 req/s bracketed to 10%: 8 passes, 16 misses, then 12 and
 * 14 pass, 15 misses, and 15 <= 14 * 1.1 ends it. */
TEST(rate_bisects_to_resolution)
{
    struct model m = {.tps = 1e9, .budget = 1000, .ttft_ms = 50};
    struct capacity_answer a;

    run_search(&m, 0, 70, 1, 64, "1 2 4 8 16 12 14 15 -> 14 bisected", &a);
    CHECK_INT((int)m.stored[0].concurrency, ==, -1);
    CHECK_DBL(m.stored[5].rps, ==, 12.0);
}

/* The figures of a step from its requests: percentiles of the successful
 * ones, goodput from the requests within the level over the span from the
 * first send to the last answer, TTFT from the scheduled send under rate. */
TEST(acc_figures)
{
    struct capacity_acc a;
    struct capdata_step s;
    struct sample_rec r;
    struct caplevel l;
    int i;

    caplevel_init(&l);
    l.decode_tps_p5 = 50;
    CHECK_INT(capacity_acc_init(&a, &l, 1), ==, 0);
    for (i = 0; i < 10; i++) {
        sample_rec_init(&r);
        r.seq = 100 + i;
        r.ok = i != 9; /* one failure */
        r.passed = -1;
        r.ttft_ms = 100;
        r.sched_delay_us = i * 1000;    /* sent i ms late */
        r.decode_tps = i < 2 ? 40 : 60; /* two below the level */
        r.completion_tokens = 10;
        r.t_done_us = 500000;
        capacity_acc_add(&a, &r, 1000000000LL + i * 100000000LL); /* every 0.1 s */
        sample_rec_free(&r);
    }
    memset(&s, 0, sizeof(s));
    capacity_acc_figures(&a, 99.0, &s);
    capacity_acc_free(&a);
    CHECK_INT(s.n, ==, 10);
    CHECK_INT(s.n_failed, ==, 1);
    CHECK_INT(s.n_good, ==, 7);
    CHECK_DBL(s.error_rate, ==, 0.1);
    CHECK_NEAR(s.duration_s, 0.9 + 0.5, 1e-9); /* first send to last answer */
    CHECK_NEAR(s.goodput_rps, 7 / 1.4, 1e-9);
    CHECK_NEAR(s.total_tps, 90 / 1.4, 1e-9);
    CHECK_NEAR(s.ttft_p50_ms, 104, 1e-9); /* 100 + 0..8 ms late, median 4 */
    CHECK_DBL(s.decode_p50_tps, ==, 60);
    CHECK_INT(s.seq_first, ==, 100);
    CHECK_INT(s.seq_last, ==, 109);
}

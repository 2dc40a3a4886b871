/*
 * capacity.c - see capacity.h.
 *
 * How it works. capacity_search keeps the last passing step (the base a
 * step is judged saturated against) and the bracket [lo, hi]: lo the
 * highest load that passed, hi the lowest that missed. Doubling grows the
 * load until a step misses (hi found), saturates (the search ends: more
 * load only queues) or the maximum passes; bisection then halves [lo, hi]
 * until the loads are adjacent (concurrency) or within the resolution
 * (rate), a saturated step counting as a miss. Each step is measured by
 * the caller, judged here and stored by the caller before the next one
 * starts, so an interrupted search loses at most the step in progress; a
 * resumed one gets its stored steps back from the caller and walks the same
 * path (the search is a function of the steps' outcomes).
 */
#include "daemon/capacity.h"

#include "common/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CAP_SAT_ERROR_SHARE 0.5 /* a step with this share of failures saturates */
#define CAP_SAT_TTFT_GROWTH 2.0 /* median TTFT this many times the last pass's ... */
#define CAP_SAT_TPS_GAIN 1.25   /* ... while total tok/s grew by less than this factor */
#define CAP_ACC_FIRST 256       /* values an accumulator starts with room for */

struct search {
    const struct capacity_opts *o;
    capacity_measure_fn fn;
    capacity_store_fn store;
    void *arg;
    struct capacity_answer *ans;
    struct capdata_step pass; /* the last passing step */
    int have_pass;
};

/* Saturated against the last passing step: mostly failures, or TTFT that
 * doubled while the throughput stayed flat. */
static int
step_saturated(const struct search *S, const struct capdata_step *s)
{
    if (s->n > 0 && s->error_rate >= CAP_SAT_ERROR_SHARE)
        return 1;
    if (!S->have_pass || isnan(s->ttft_p50_ms) || isnan(S->pass.ttft_p50_ms))
        return 0;
    return s->ttft_p50_ms >= CAP_SAT_TTFT_GROWTH * S->pass.ttft_p50_ms &&
           s->total_tps < CAP_SAT_TPS_GAIN * S->pass.total_tps;
}

/* Measure (or get back) the step at `load`, judge and store it. 0 or -1. */
static int
search_step(struct search *S, double load, struct capdata_step *s)
{
    int rc = S->fn(S->arg, S->o->rate ? -1 : (int64_t)load, S->o->rate ? load : NAN, s);

    if (rc == -1)
        return -1;
    if (rc == 0) {
        s->passed = s->n > 0 && caplevel_step_meets(&S->o->level, s->ttft_p95_ms,
                                                    s->decode_p5_tps, s->error_rate);
        s->saturated = step_saturated(S, s);
        if (S->store(S->arg, s) == -1)
            return -1;
    }
    S->ans->nsteps++;
    return 0;
}

/* A step within the level: the answer so far, and the saturation base. */
static void
search_pass(struct search *S, const struct capdata_step *s, double load)
{
    S->pass = *s;
    S->have_pass = 1;
    S->ans->capacity = load;
    S->ans->goodput_rps = s->goodput_rps;
}

static void
search_end(struct search *S, const char *reason)
{
    snprintf(S->ans->stop_reason, sizeof(S->ans->stop_reason), "%s", reason);
}

/* Are lo and hi as close as the search resolves? */
static int
search_adjacent(const struct search *S, double lo, double hi)
{
    if (S->o->rate)
        return hi <= lo * (1.0 + S->o->resolution_pct / 100.0);
    return hi - lo <= 1.0;
}

/* Halve [lo, hi] until adjacent; a saturated step is a miss. 0 or -1. */
static int
search_bisect(struct search *S, double lo, double hi)
{
    struct capdata_step s;
    double mid;

    while (!search_adjacent(S, lo, hi) && S->ans->nsteps < CAPACITY_STEPS_MAX) {
        mid = S->o->rate ? (lo + hi) / 2.0 : floor((lo + hi) / 2.0);
        if (search_step(S, mid, &s) == -1)
            return -1;
        if (s.passed && !s.saturated) {
            search_pass(S, &s, mid);
            lo = mid;
        } else {
            hi = mid;
        }
    }
    search_end(S, "bisected");
    return 0;
}

int
capacity_search(const struct capacity_opts *o, capacity_measure_fn fn, capacity_store_fn store,
                void *arg, struct capacity_answer *ans)
{
    struct search S = {o, fn, store, arg, ans, {0}, 0};
    struct capdata_step s;
    double load = o->rate ? o->start_rps : 1.0;
    double max = o->rate ? o->start_rps * o->max_concurrency : (double)o->max_concurrency;

    memset(ans, 0, sizeof(*ans));
    ans->capacity = ans->goodput_rps = NAN;
    for (;;) {
        if (search_step(&S, load, &s) == -1)
            return -1;
        if (!s.passed)
            break;
        if (s.saturated) {
            search_end(&S, "saturated");
            return 0;
        }
        search_pass(&S, &s, load);
        if (load >= max || ans->nsteps >= CAPACITY_STEPS_MAX) {
            search_end(&S, "max_reached");
            return 0;
        }
        load = load * 2.0 > max ? max : load * 2.0;
    }
    if (!S.have_pass) {
        search_end(&S, "first_step_missed");
        return 0;
    }
    return search_bisect(&S, S.ans->capacity, load);
}

int
capacity_acc_init(struct capacity_acc *a, const struct caplevel *level, int rate)
{
    memset(a, 0, sizeof(*a));
    a->level = level;
    a->rate = rate;
    a->seq_first = a->seq_last = -1;
    a->cap = CAP_ACC_FIRST;
    a->ttft = malloc(a->cap * sizeof(double));
    a->decode = malloc(a->cap * sizeof(double));
    if (a->ttft == NULL || a->decode == NULL) {
        capacity_acc_free(a);
        return -1;
    }
    return 0;
}

/* Room for one more value in both arrays (doubling, up to
 * CAPACITY_STEP_MAX). 0, or -1 when there is none. */
static int
acc_room(struct capacity_acc *a)
{
    size_t need = (a->nttft > a->ndecode ? a->nttft : a->ndecode) + 1, cap = a->cap * 2;
    double *t, *d;

    if (need <= a->cap)
        return 0;
    if (a->cap >= CAPACITY_STEP_MAX)
        return -1;
    t = realloc(a->ttft, cap * sizeof(double));
    if (t == NULL)
        return -1;
    a->ttft = t;
    d = realloc(a->decode, cap * sizeof(double));
    if (d == NULL)
        return -1;
    a->decode = d;
    a->cap = cap;
    return 0;
}

void
capacity_acc_add(struct capacity_acc *a, const struct sample_rec *s, int64_t t_sent_ns)
{
    int ok = s->ok && s->passed != 0;
    double ttft = s->ttft_ms;

    if (s->warmup)
        return;
    /* Under a rate load the user waited from the scheduled send. */
    if (a->rate && !isnan(ttft) && s->sched_delay_us > 0)
        ttft += (double)s->sched_delay_us / 1000.0;
    a->n++;
    if (t_sent_ns > 0 && (a->t_first_ns == 0 || t_sent_ns < a->t_first_ns))
        a->t_first_ns = t_sent_ns;
    if (t_sent_ns > 0 && s->t_done_us >= 0 && t_sent_ns + s->t_done_us * 1000 > a->t_last_ns)
        a->t_last_ns = t_sent_ns + s->t_done_us * 1000;
    if (a->seq_first < 0 || s->seq < a->seq_first)
        a->seq_first = s->seq;
    if (s->seq > a->seq_last)
        a->seq_last = s->seq;
    if (!ok) {
        a->n_failed++;
        return;
    }
    if (caplevel_request_meets(a->level, ok, ttft, s->decode_tps))
        a->n_good++;
    if (s->completion_tokens > 0)
        a->tokens += s->completion_tokens;
    if (acc_room(a) == -1)
        return;
    if (!isnan(ttft))
        a->ttft[a->nttft++] = ttft;
    if (!isnan(s->decode_tps))
        a->decode[a->ndecode++] = s->decode_tps;
}

void
capacity_acc_figures(const struct capacity_acc *a, double duration_s, struct capdata_step *out)
{
    if (a->t_first_ns > 0 && a->t_last_ns > a->t_first_ns)
        duration_s = (double)(a->t_last_ns - a->t_first_ns) / 1e9;
    out->n = a->n;
    out->n_failed = a->n_failed;
    out->n_good = a->n_good;
    out->duration_s = duration_s;
    out->ttft_p50_ms = stats_percentile_select(a->ttft, a->nttft, 0.50);
    out->ttft_p95_ms = stats_percentile_select(a->ttft, a->nttft, 0.95);
    out->decode_p5_tps = stats_percentile_select(a->decode, a->ndecode, 0.05);
    out->decode_p50_tps = stats_percentile_select(a->decode, a->ndecode, 0.50);
    out->error_rate = a->n > 0 ? (double)a->n_failed / (double)a->n : 0.0;
    out->goodput_rps = duration_s > 0 ? (double)a->n_good / duration_s : 0.0;
    out->total_tps = duration_s > 0 ? (double)a->tokens / duration_s : 0.0;
    out->seq_first = a->seq_first;
    out->seq_last = a->seq_last;
}

void
capacity_acc_free(struct capacity_acc *a)
{
    free(a->ttft);
    free(a->decode);
    a->ttft = a->decode = NULL;
    a->cap = 0;
}

/*
 * capacity.h - the capacity search of a job of kind "capacity" (issue 17):
 * for one model, the highest load that still meets the job's service
 * level (caplevel.h), and goodput there.
 *
 * A concurrency search runs steps at 1, 2, 4, ... concurrent users until a
 * step misses the level, then bisects between the last pass and the first
 * miss until they are adjacent; a rate search does the same with Poisson
 * arrivals at r, 2r, 4r, ... requests/s, bisecting until the two rates are
 * within capacity_rate_resolution_pct of each other. A step that shows
 * saturation ends the search at once: half its requests or more failed, or
 * its median TTFT at least doubled against the last passing step while
 * total throughput grew by less than 25% (more load only lengthens the
 * queue: TTFT grows without bound). The load never passes
 * capacity_max_concurrency (a rate search: that many times its first rate).
 *
 * The caller measures a step (runner.c: the suite's cases cycled at the
 * load, at least capacity_step_requests requests, two per user, and
 * capacity_step_s seconds) and feeds each measured request to a capacity_acc, which gives
 * the step's figures. Calls caplevel, common/stats, storage/capdata (types).
 */
#ifndef TPSD_CAPACITY_H
#define TPSD_CAPACITY_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/caplevel.h"
#include "storage/capdata.h"
#include "storage/samples.h"

#define CAPACITY_REASON_MAX 32
#define CAPACITY_STEP_MAX 1000000 /* requests one step keeps figures of */
#define CAPACITY_STEPS_MAX 64     /* steps of one search */

struct capacity_opts {
    struct caplevel level;
    int rate;            /* search requests/s instead of concurrency */
    double start_rps;    /* a rate search's first rate */
    int max_concurrency; /* highest concurrency (rate: times start_rps) */
    int resolution_pct;  /* a rate search ends when hi <= lo * (1 + pct/100) */
};

/*
 * Measure one step at concurrency `conc` (a rate search: -1) or rate `rps`
 * (a concurrency search: NAN): fill out's load and figures (not passed,
 * saturated or step). Return 0 measured, 1 out is a stored step (reused as
 * it is: a resumed search), -1 to end the search (stopped or failed).
 */
typedef int (*capacity_measure_fn)(void *arg, int64_t conc, double rps,
                                   struct capdata_step *out);
/* Store a judged step. 0, or -1 to end the search. */
typedef int (*capacity_store_fn)(void *arg, const struct capdata_step *s);

struct capacity_answer {
    double capacity;    /* highest load within the level; NAN: none */
    double goodput_rps; /* at that load; NAN: none */
    int nsteps;
    char stop_reason[CAPACITY_REASON_MAX]; /* "bisected", "saturated", "max_reached",
                                              "first_step_missed" */
};

/*
 * Run the search described by o: measure each step through fn, judge it
 * (passed, saturated) and store it through store. 0 with *ans filled, or
 * -1 when fn or store asked to end (ans holds what was known).
 */
int capacity_search(const struct capacity_opts *o, capacity_measure_fn fn,
                    capacity_store_fn store, void *arg, struct capacity_answer *ans);

/* The figures of one step, fed one request at a time. */
struct capacity_acc {
    double *ttft, *decode; /* successful requests' values */
    size_t nttft, ndecode, cap;
    int64_t n, n_failed, n_good, tokens, seq_first, seq_last;
    int64_t t_first_ns, t_last_ns; /* first send, last answer (monotonic); 0: none */
    const struct caplevel *level;
    int rate; /* TTFT from the scheduled send (coordinated omission) */
};

/* Start a step's accumulator judged against level. 0, or -1 (memory). */
int capacity_acc_init(struct capacity_acc *a, const struct caplevel *level, int rate);
/* Add one measured request, sent at monotonic t_sent_ns (warm-ups are
 * ignored). Can't fail: values past CAPACITY_STEP_MAX are counted but not
 * kept for percentiles. */
void capacity_acc_add(struct capacity_acc *a, const struct sample_rec *s, int64_t t_sent_ns);
/* The step's figures into out (its load and judgement left as they are)
 * over its span, the first send to the last answer (duration_s, the
 * caller's measure, when no answer says when it ended). */
void capacity_acc_figures(const struct capacity_acc *a, double duration_s,
                          struct capdata_step *out);
void capacity_acc_free(struct capacity_acc *a);

#endif

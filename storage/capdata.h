/*
 * capdata.h - what capacity searches keep (daemon/capacity.h): each step
 * of a model's search, stored as it completes, and the search's answer;
 * read back for the resumed search, `tpsd run`, the report, the API and
 * the capacity trend of a model.
 */
#ifndef TPSD_CAPDATA_H
#define TPSD_CAPDATA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

#define CAPDATA_REASON_MAX 32
#define CAPDATA_TREND_MAX 1000 /* results of one model read back at most */

/*
 * The figures of one step, listed once: X(name, type) where type is I64
 * (stored NULL when -1) or REAL (stored NULL when NAN). From this list
 * come the struct's members, the INSERT and the row read back.
 */
#define CAPDATA_STEP_FIELDS(X)                                                                 \
    X(concurrency, I64) /* a concurrency search's load, else -1 */                             \
    X(rps, REAL)        /* a rate search's offered load, else NAN */                           \
    X(n, I64)                                                                                  \
    X(n_failed, I64)                                                                           \
    X(n_good, I64) /* requests that met the level */                                           \
    X(duration_s, REAL)                                                                        \
    X(ttft_p50_ms, REAL)                                                                       \
    X(ttft_p95_ms, REAL)                                                                       \
    X(decode_p5_tps, REAL)                                                                     \
    X(decode_p50_tps, REAL)                                                                    \
    X(error_rate, REAL)                                                                        \
    X(goodput_rps, REAL)                                                                       \
    X(total_tps, REAL)                                                                         \
    X(passed, I64)                                                                             \
    X(saturated, I64)                                                                          \
    X(seq_first, I64)                                                                          \
    X(seq_last, I64)

#define CAPDATA_CTYPE_I64 int64_t
#define CAPDATA_CTYPE_REAL double

struct capdata_step {
    int64_t run_id;
    int step; /* 0, 1, ... in the order run */
#define CAPDATA_MEMBER(name, type) CAPDATA_CTYPE_##type name;
    CAPDATA_STEP_FIELDS(CAPDATA_MEMBER)
#undef CAPDATA_MEMBER
};

/* Store step s (its run_id, step and figures) in its own IMMEDIATE
 * transaction. 0, or -1 (db->err; a step number stored twice too). */
int capdata_step_put(struct db *db, const struct capdata_step *s);

/*
 * The step of run `run_id` measured at concurrency `concurrency` (when
 * >= 0) or at rate `rps` (else), into *out: a resumed search reuses it.
 * Its step count (the next step number) into *nsteps. 0 found, 1 not
 * found (only *nsteps set), -1 error.
 */
int capdata_step_find(struct db *db, int64_t run_id, int64_t concurrency, double rps,
                      struct capdata_step *out, int *nsteps);

/* A model's answer. capacity and goodput_rps NAN when no load met it. */
struct capdata_result {
    int64_t run_id, job_id;
    const char *model;
    const char *mode;  /* "concurrency" | "rate" */
    const char *level; /* the service level, JSON text */
    double capacity, goodput_rps;
    const char *stop_reason;
};

/* Store (or replace) the answer of r->run_id. 0 or -1. */
int capdata_result_put(struct db *db, const struct capdata_result *r);

/*
 * Job `job_id`'s searches as a new array in *out, one object per run in
 * model order: run_id, model, mode, level (object), capacity, goodput_rps,
 * stop_reason (null until the search ended) and steps (their figures in
 * the order run). An empty array when the job has none. 0 or -1.
 */
int capdata_job_json(struct db *db, int64_t job_id, json_t **out);

/*
 * The capacity trend of `model`: its answers in time order (at most
 * CAPDATA_TREND_MAX, the newest), each job_id, run_id, mode, level,
 * capacity, goodput_rps, stop_reason, finished_at. New array in *out. 0/-1.
 */
int capdata_trend_json(struct db *db, const char *model, json_t **out);

#endif

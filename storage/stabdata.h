/*
 * stabdata.h - what stability runs keep and read back: a run's planned end
 * (fixed once, so a run resumed after a restart ends on time), where its
 * sequence numbers continue, and its measured samples in time order for the
 * analysis (daemon/stability.h).
 */
#ifndef TPSD_STABDATA_H
#define TPSD_STABDATA_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

#define STABDATA_CODE_MAX 32
#define STABDATA_MODEL_MAX 256
#define STABDATA_RUNS_MAX 64 /* runs of one job read back (one per model) */

/*
 * Fix the planned end of run `run_id`: set it to now_ms + duration_ms when
 * it has none yet, and put the stored value in *planned_end_ms (so a
 * resumed run keeps its first value). 0 or -1 (db->err).
 */
int stabdata_plan_end(struct db *db, int64_t run_id, int64_t now_ms, int64_t duration_ms,
                      int64_t *planned_end_ms);

/* The planned end of a run into *planned_end_ms, -1 when none is set. 0 or -1. */
int stabdata_planned_end(struct db *db, int64_t run_id, int64_t *planned_end_ms);

/* The next unused seq of a run: max(seq) + 1, or 0. 0 or -1. */
int stabdata_next_seq(struct db *db, int64_t run_id, int64_t *next);

/* A run of a job, as the analysis needs it. -1 when unknown. */
struct stabdata_run {
    int64_t id;
    int model_index;
    char model[STABDATA_MODEL_MAX];
    char state[16];
    int64_t started_at, finished_at, planned_end_at;
};

/* The runs of job `job_id` in model order, at most STABDATA_RUNS_MAX, into
 * out (cap entries); *n is how many. 0 or -1. */
int stabdata_runs(struct db *db, int64_t job_id, struct stabdata_run *out, size_t cap,
                  size_t *n);

/* One measured (non-warm-up) request. Integers -1 and doubles NAN when unknown. */
struct stabdata_sample {
    int64_t seq;
    int64_t started_at; /* wall clock ms */
    int ok;
    char error_code[STABDATA_CODE_MAX];
    double decode_tps, ttft_ms, e2e_ms, itl_max_ms;
    int64_t ttft_us, t_last_us, t_done_us;
};

/* Called for each sample; non-zero stops the scan. */
typedef int (*stabdata_scan_fn)(void *arg, const struct stabdata_sample *s);

/* The measured samples of run `run_id` ordered by started_at, then seq.
 * 0 (also when stopped by fn), or -1 (db->err). */
int stabdata_samples_scan(struct db *db, int64_t run_id, stabdata_scan_fn fn, void *arg);

/*
 * The newest event of `type` in job `job_id`'s log (job_events): its data
 * (JSON text, caller frees) and time. 0 with *data set, 1 when there is
 * none, -1 on error.
 */
int stabdata_last_event(struct db *db, int64_t job_id, const char *type, char **data,
                        int64_t *at);

#endif

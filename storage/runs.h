/*
 * runs.h - one job x one model (table `runs`): what was loaded, how, on
 * which host, and how it ended. Samples hang off runs (samples.h).
 */
#ifndef TPSD_RUNS_H
#define TPSD_RUNS_H

#include <jansson.h>
#include <stdint.h>

#include "storage/db.h"

/* Facts learned while a run is prepared; NULL/-1/NAN fields are left as they were. */
struct run_facts {
    const char *model_served;
    const char *backend;
    const char *backend_version;
    const char *server_version;
    const char *model_format;
    const char *model_quant;
    int64_t model_size_bytes;
    int64_t context_length;
    double load_ms;
    double load_ready_ms;
    const char *host; /* JSON text */
    const char *tpsd_version;
    const char *fingerprint;
    const char *params; /* JSON text */
};

/* Initialise every field of f to "unknown". */
void run_facts_init(struct run_facts *f);

/*
 * The run of (job, model_index), created pending when absent (a resumed job
 * finds the run it had). Sets *id and *state_out (its current state, at
 * most 15 chars). 0 or -1.
 */
int runs_open(struct db *db, int64_t job_id, int model_index, const char *model,
              const char *suite, int64_t *id, char state_out[16]);

/* Record facts; state becomes running and started_at is set once. 0 or -1. */
int runs_set_facts(struct db *db, int64_t run_id, const struct run_facts *f);

/* Finish a run: state and optional error. 0 or -1. */
int runs_finish(struct db *db, int64_t run_id, const char *state, const char *error_code,
                const char *error_detail);

/*
 * Close the runs still open (pending or running) of jobs that have ended:
 * a job `cancelled` leaves them `cancelled`, any other end `interrupted`
 * (error_code "interrupted"), finished_at the job's (now when it has none).
 * job_id > 0: that job only (jobs_set_state calls it as a job ends); 0:
 * every job (`tpsd db` and the daemon's start: runs an older tpsd left
 * open). Inside the caller's transaction when one is open, else in one of
 * its own. *n (may be NULL) gets how many runs were closed. 0 or -1.
 */
int runs_close_open(struct db *db, int64_t job_id, int *n);

/* A run as JSON, or 1 when absent. With its per-case summary when
 * `with_cases` (n, ok, mean/median/min/max of decode_tps, e2e_tps, ttft_ms). */
int runs_get_json(struct db *db, int64_t run_id, int with_cases, json_t **out);

/* Runs of a job (job_id > 0) or all runs, newest first below `before`. */
int runs_list(struct db *db, int64_t job_id, int64_t before, int limit, json_t **out);

/* Samples of a run in seq order after `after_seq` (-1: from the first, seq 0),
 * at most `limit`. */
int samples_list(struct db *db, int64_t run_id, int64_t after_seq, int limit, json_t **out);

/* The same samples as one page of GET /v1/runs/{id}/samples, written as
 * JSON text: {"samples":[...],"next_after":seq|null}, next_after the last
 * seq when the page is full. *text NUL-terminated, caller frees, *len
 * bytes. 0 or -1 (db->err; also past SAMPLES_TEXT_MAX). */
#define SAMPLES_TEXT_MAX (256 * 1024 * 1024)
int samples_page_text(struct db *db, int64_t run_id, int64_t after_seq, int limit, char **text,
                      size_t *len);

#endif

/*
 * jobs.h - the durable job queue (table `jobs`) and each job's event log
 * (table `job_events`). Every state change commits when it happens.
 *
 * States: queued -> running -> succeeded | failed | cancelled, and
 * interrupted for a job that was running when an earlier process died and
 * was not resumed.
 */
#ifndef TPSD_JOBS_H
#define TPSD_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "storage/db.h"

#define JOB_STATE_MAX 16
#define JOB_CODE_MAX 32
#define JOB_DETAIL_MAX 2048

struct job_rec {
    int64_t id;
    char name[256];
    char kind[16];
    char *spec; /* JSON text, owned */
    char state[JOB_STATE_MAX];
    int priority;
    int attempts;
    int cancel_requested;
    int64_t created_at, started_at, finished_at, updated_at; /* -1: not yet */
};

void job_rec_free(struct job_rec *j);

/* True for succeeded, failed, cancelled, interrupted. */
int jobs_state_is_final(const char *state);

/*
 * Create a queued job. With an idempotency key: the same key and the same
 * body hash return the existing job (*existing = 1); the same key with
 * another hash returns -2 and stores nothing. 0 on success with *id set,
 * -1 on a database error.
 */
int jobs_create(struct db *db, const char *name, const char *kind, const char *spec_json,
                int priority, const char *idem_key, const char *idem_hash, int64_t *id,
                int *existing);

/* Fill *out for job `id`. 0, 1 when there is no such job, -1 on error.
 * Free with job_rec_free. */
int jobs_get(struct db *db, int64_t id, struct job_rec *out);

/* The job as JSON (its spec embedded, plus progress counts). 1 when absent. */
int jobs_get_json(struct db *db, int64_t id, json_t **out);

/* Claim the next queued job (highest priority, then oldest): it becomes
 * running with attempts + 1, in one statement. 0 with *out filled, 1 when
 * the queue is empty, -1 on error. */
int jobs_claim_next(struct db *db, struct job_rec *out);

/* Move a running job to a final state (or back to queued) with an optional
 * error. 0 or -1. */
int jobs_set_state(struct db *db, int64_t id, const char *state, const char *error_code,
                   const char *error_detail);

/*
 * Ask for a job to stop. A queued job becomes cancelled at once; a running
 * one gets cancel_requested (the worker stops it). Returns 0 with the job's
 * state after the request in state_out, 1 when absent, 2 when it had already
 * finished (state_out says how), -1 on error.
 */
int jobs_request_cancel(struct db *db, int64_t id, char state_out[JOB_STATE_MAX]);

/* 1 when a cancel was requested for the job, 0 when not, -1 on error. */
int jobs_cancel_requested(struct db *db, int64_t id);

/* At start-up: jobs left running by an earlier process become queued again
 * (resume != 0) or interrupted. *n is how many. 0 or -1. */
int jobs_recover(struct db *db, int resume, int *n);

/* Newest first, ids below `before` (0: from the newest), at most `limit`,
 * optionally only in `state` (NULL: all). A JSON array of jobs. 0 or -1. */
int jobs_list(struct db *db, const char *state, int64_t before, int limit, json_t **out);

/* {"queued": n, "running": n, ...} for every state. 0 or -1. */
int jobs_count_by_state(struct db *db, json_t **out);

/* Append an event to a job's log (type, data: consumed). 0 or -1. */
int events_append(struct db *db, int64_t job_id, const char *type, json_t *data, int64_t *id);

/* Events of a job after event id `after`, oldest first, at most `limit`:
 * a JSON array of {id, at, type, data}. 0 or -1. */
int events_since(struct db *db, int64_t job_id, int64_t after, int limit, json_t **out);

#endif

/*
 * sampler.h - system sampling while a job runs: a thread takes a reading
 * (sysinfo.h) at once and then every interval, tagged with the job and the
 * run in progress, and queues it; the owner (the worker thread, the only
 * writer of the database) stores the queue with sampler_drain() whenever it
 * gets a moment (it polls between and during requests). Readings taken
 * while the owner is busy for long (a model load) wait in the queue, up to
 * SAMPLER_QUEUE_MAX; beyond that the oldest are dropped and counted.
 *
 * Calls sysinfo and storage (system.h).
 */
#ifndef TPSD_SAMPLER_H
#define TPSD_SAMPLER_H

#include <stdint.h>

#include "daemon/sysinfo.h"
#include "storage/db.h"

#define SAMPLER_QUEUE_MAX 8192 /* readings waiting to be stored */
#define SAMPLER_INTERVAL_MIN_MS 100

struct sampler;

/*
 * Start sampling for job `job_id` every interval_ms (at least
 * SAMPLER_INTERVAL_MIN_MS) with `target` (copied) as the server. NULL when
 * the thread cannot start (the job then runs without system samples).
 */
struct sampler *sampler_start(const struct sysinfo_target *target, int interval_ms,
                              int64_t job_id);

/* Tag the next readings with run `run_id` (0: none). Thread-safe. */
void sampler_set_run(struct sampler *s, int64_t run_id);

/*
 * Store the queued readings through `db` (the caller's connection, on the
 * caller's thread) in one transaction. Returns how many were stored, or -1
 * (db->err) with the readings kept for the next try. NULL s is 0.
 */
int sampler_drain(struct sampler *s, struct db *db);

/* Readings dropped because the queue was full. */
uint64_t sampler_dropped(struct sampler *s);

/* Stop the thread, store what is queued through db (may be NULL: dropped)
 * and free. NULL is fine. */
void sampler_stop(struct sampler *s, struct db *db);

#endif

/*
 * worker.h - the worker thread: recovers jobs an earlier process left
 * running, then claims queued jobs one at a time and runs them (runner.h),
 * committing every state change and sample as it happens.
 *
 * It owns its own database connection (the only writer of runs/samples).
 * While a job runs, a sampler thread (sampler.h) takes system readings every
 * sample_interval_ms (stability jobs: stability_sample_interval_ms), tagged
 * with the run in progress; the worker stores them between requests.
 */
#ifndef TPSD_WORKER_H
#define TPSD_WORKER_H

#include <stddef.h>

#include "daemon/config.h"

struct worker;

/* Recover interrupted jobs and start the thread. `cfg` must outlive the
 * worker. NULL with a message in err on failure. */
struct worker *worker_start(const struct config *cfg, const char *db_path, char *err,
                            size_t errlen);

/* Wake the worker: a job was queued or a cancel requested. Async-safe. */
void worker_notify(struct worker *w);

/* A cancel was requested for job `job_id`: if it is the one running, abort
 * it now (in-flight request, model load). Thread-safe. */
void worker_cancel(struct worker *w, long long job_id);

/* 1 while the thread runs and has made progress in the last minute
 * (heartbeat), else 0. */
int worker_alive(struct worker *w);

/* Stop: abort the in-flight request within grace_ms, leave the running job
 * queued so it resumes at the next start, join the thread, free. */
void worker_stop(struct worker *w, int grace_ms);

#endif

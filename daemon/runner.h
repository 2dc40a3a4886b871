/*
 * runner.h - runs one job: for each model, load it through the backend,
 * warm it up, send the suite's cases under the job's load pattern through
 * the client, validate each answer, and commit every sample as it
 * completes. A resumed job skips the runs it finished and the samples it
 * already stored.
 *
 * A stability job (kind "stability") cycles through the suite's cases on
 * each model's run (sequential: one slot, concurrent: N slots) until the
 * run's planned end: back to back, or with interval_s a cycle starts every
 * interval_s seconds, or with a rate load Poisson arrivals at rps. The planned end is fixed
 * (stored) when measuring first begins, after the load and the warm-ups: now + duration_s. A
 * resumed run warms up again with fresh seqs, continues its seqs after the highest stored, and
 * ends at the same planned time; a request in flight at the planned end finishes and is kept.
 * Events "stability_plan" (planned end) and "stability" (stability.h's analysis, every
 * stability_event_s and at the end of each run) carry run_id, as do "run_started" and
 * "run_finished".
 *
 * Before each model's load and between cases it waits as the job's cool-down asks
 * (cooldown.h). Calls suite, backend, client, stability, cooldown, storage. Reports progress
 * through hooks.
 */
#ifndef TPSD_RUNNER_H
#define TPSD_RUNNER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/jobspec.h"
#include "storage/db.h"

#define RUNNER_PLAN_MAX 1000000   /* requests planned for one run */
#define RUNNER_FAILED_MAX 1024    /* the job's list of failed models in its detail */
#define RUNNER_STAB_RATE_SLOTS 64 /* stability rate loads: requests scheduled or in flight */

struct runner_hooks {
    void *arg;
    /* Set (from any thread or a signal handler) to stop the job at once,
     * killing a model load in progress. May be NULL. */
    atomic_int *abort;
    /* Non-zero stops the job: polled between and during requests. */
    int (*should_stop)(void *arg);
    /* Progress: type ("run_started", "model_loaded", "sample", "run_finished",
     * "preflight"...) and data (consumed). Also stored in job_events. */
    void (*event)(void *arg, const char *type, json_t *data);
};

enum runner_outcome {
    RUNNER_SUCCEEDED, /* every run finished (samples may have failed) */
    RUNNER_FAILED,    /* the job could not run, or a run failed */
    RUNNER_STOPPED,   /* should_stop asked: the caller decides cancel or resume */
};

#define RUNNER_CODE_MAX 32
#define RUNNER_DETAIL_MAX 2048

/* What runner_run tells beside its outcome. */
struct runner_result {
    char code[RUNNER_CODE_MAX];     /* why the job failed; "" otherwise */
    char detail[RUNNER_DETAIL_MAX]; /* the same in words */
    int64_t n_requests;             /* measured requests sent */
    int64_t n_failed;               /* of them, failed */
};

/*
 * Run job `job_id` whose parsed spec is `spec`, writing through `db` (the
 * caller's writer connection). On RUNNER_FAILED, res->code and res->detail
 * say why; res counts the requests and the failed ones in every case.
 */
enum runner_outcome runner_run(struct db *db, int64_t job_id, const struct jobspec *spec,
                               const struct config *cfg, const struct runner_hooks *hooks,
                               struct runner_result *res);

#endif

/* worker.c - see worker.h. */
#include "daemon/worker.h"

#include "common/clock.h"
#include "daemon/jobspec.h"
#include "daemon/heap.h"
#include "daemon/log.h"
#include "daemon/regress.h"
#include "daemon/runner.h"
#include "daemon/sampler.h"
#include "daemon/stability.h"
#include "daemon/thread.h"
#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The idle wait between claims. Jobs arrive through the API, which wakes
 * the worker at once (worker_notify); the wait only catches a job another
 * process queued in the database, and keeps the heartbeat (checked against
 * WORKER_HEARTBEAT_MAX_NS) fresh: an idle daemon's worker wakes twice a
 * minute, not every second. */
#define WORKER_IDLE_MS 30000
#define WORKER_HEARTBEAT_MAX_NS (60LL * 1000000000)
#define WORKER_RETRY_MS                                                                        \
    1000 /* a refused write (final state, claim) is retried this often at first */
#define WORKER_BACKOFF_MAX_MS                                                                  \
    30000 /* a queue that cannot be claimed is retried at most this far apart */

struct worker {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake;
    atomic_int stopping; /* shutdown: the running job resumes later */
    atomic_int abort;    /* stop the running job now (cancel or shutdown) */
    int64_t heartbeat_ns;
    long long current_job;
    int running;
    const struct config *cfg;
    struct db *db;
};

static int64_t
heartbeat_get(struct worker *w)
{
    int64_t t;

    pthread_mutex_lock(&w->mu);
    t = w->heartbeat_ns;
    pthread_mutex_unlock(&w->mu);
    return t;
}

static void
heartbeat(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->heartbeat_ns = clock_mono_ns();
    pthread_mutex_unlock(&w->mu);
}

/* db_set_retry's stop function: a lock wait gives up on cancel or shutdown. */
static int
worker_db_stop(void *arg)
{
    struct worker *w = arg;

    return w->stopping || w->abort;
}

struct job_ctx {
    struct worker *w;
    int64_t job_id;
    int64_t last_check_ns;
    struct sampler *sampler; /* system readings, stored from this thread */
    int sampler_warned;
};

/* Store the sampler's queued readings (the worker is the only writer). */
static void
job_drain(struct job_ctx *j)
{
    if (sampler_drain(j->sampler, j->w->db) == -1 && !j->sampler_warned) {
        log_warnx("job=%lld system samples not stored (will retry): %s", (long long)j->job_id,
                  j->w->db->err);
        j->sampler_warned = 1;
    }
}

static int
job_should_stop(void *arg)
{
    struct job_ctx *j = arg;
    int64_t now = clock_mono_ns();

    if (j->w->stopping || j->w->abort)
        return 1;
    if (now - j->last_check_ns < 200000000LL)
        return 0;
    j->last_check_ns = now;
    heartbeat(j->w);
    job_drain(j);
    return jobs_cancel_requested(j->w->db, j->job_id) == 1;
}

/*
 * Store a job's end state, retrying while the database refuses writes (a
 * full disk, an I/O error): a job must not stay "running" with no one
 * running it. Gives up only when the worker stops; the next start then
 * recovers the job.
 */
static void
store_state(struct worker *w, int64_t id, const char *state, const char *code,
            const char *detail)
{
    struct timespec ts;
    int tries = 0;

    while (jobs_set_state(w->db, id, state, code, detail) == -1) {
        if (tries++ == 0)
            log_warnx("job=%lld state %s not stored: %s (retrying every %d ms)", (long long)id,
                      state, w->db->err, WORKER_RETRY_MS);
        heartbeat(w);
        pthread_mutex_lock(&w->mu);
        if (w->stopping) {
            pthread_mutex_unlock(&w->mu);
            return;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += WORKER_RETRY_MS / 1000;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        pthread_mutex_unlock(&w->mu);
    }
    if (tries > 0)
        log_info("job=%lld state %s stored after %d retries", (long long)id, state, tries);
}

static void
job_event(void *arg, const char *type, json_t *data)
{
    struct job_ctx *j = arg;

    if (data == NULL)
        return;
    /* Readings belong to the run in progress (runner.h: these carry run_id). */
    if (strcmp(type, "run_started") == 0)
        sampler_set_run(j->sampler, json_integer_value(json_object_get(data, "run_id")));
    else if (strcmp(type, "run_finished") == 0)
        sampler_set_run(j->sampler, 0);
    if (strcmp(type, "stability") == 0) { /* kilobytes of analysis: the job's stream has it */
        log_debug("job=%lld event=stability", (long long)j->job_id);
    } else if (strcmp(type, "sample") != 0) {
        char *s = json_dumps(data, JSON_COMPACT);
        log_info("job=%lld event=%s %s", (long long)j->job_id, type, s ? s : "");
        free(s);
    }
    if (events_append(j->w->db, j->job_id, type, data, NULL) == -1)
        log_warnx("job=%lld event %s not stored: %s", (long long)j->job_id, type,
                  j->w->db->err);
}

/* Recover jobs an earlier process left running: resume or interrupt. */
static int
recover(struct worker *w)
{
    json_t *list = NULL, *j;
    size_t i;
    int n = 0;

    if (jobs_list(w->db, "running", 0, 1000, &list) == -1)
        return -1;
    json_array_foreach(list, i, j)
    {
        json_int_t id = json_integer_value(json_object_get(j, "id"));
        json_t *resume = json_object_get(json_object_get(j, "spec"), "resume");
        int again = !json_is_false(resume);
        int cancel = json_integer_value(json_object_get(j, "cancel_requested")) != 0;
        const char *state = cancel ? "cancelled" : again ? "queued" : "interrupted";

        if (jobs_set_state(w->db, id, state, again || cancel ? NULL : "interrupted",
                           again || cancel ? NULL : "the daemon stopped while the job ran") ==
            -1) {
            json_decref(list);
            return -1;
        }
        events_append(w->db, id, "job_recovered", json_pack("{s:s}", "state", state), NULL);
        log_info("job=%lld recovered after restart state=%s", (long long)id, state);
    }
    json_decref(list);
    /* Runs an older tpsd left open although their job had ended. */
    if (runs_close_open(w->db, 0, &n) == 0 && n > 0)
        log_info("worker: closed %d run(s) left open by an ended job", n);
    return 0;
}

/* Test the runs that just finished against their history (regress.h), so
 * verdicts exist without anyone asking GET /v1/regressions. */
static void
scan_regressions(struct worker *w, int64_t job_id)
{
    struct regress_opts o;
    int ntested = 0;

    regress_opts_env(&o);
    if (regress_scan(w->db, &o, &ntested) == -1)
        log_warnx("job=%lld regression scan failed: %s", (long long)job_id, w->db->err);
    else
        log_debug("job=%lld regression scan tested=%d", (long long)job_id, ntested);
}

static void
run_job(struct worker *w, struct job_rec *job)
{
    struct jobspec spec;
    struct job_ctx ctx = {w, job->id, 0, NULL, 0};
    struct sysinfo_target target;
    int sample_ms;
    struct runner_hooks hooks = {&ctx, &w->abort, job_should_stop, job_event};
    json_t *root;
    json_error_t je;
    char err[JOBSPEC_ERR_MAX];
    struct runner_result rr;
    enum runner_outcome oc;
    const char *state;

    memset(&spec, 0, sizeof(spec));
    root = json_loads(job->spec, 0, &je);
    if (root == NULL || jobspec_parse(root, &spec, err, sizeof(err)) == -1) {
        jobs_set_state(w->db, job->id, "failed", "bad_spec", root ? err : je.text);
        json_decref(root);
        return;
    }
    json_decref(root);
    memset(&target, 0, sizeof(target));
    target.pid = w->cfg->server_pid;
    snprintf(target.thermal_source, sizeof(target.thermal_source), "%s",
             w->cfg->thermal_source);
    snprintf(target.process, sizeof(target.process), "%s", w->cfg->server_process);
    sample_ms = strcmp(spec.kind, "stability") == 0 ? w->cfg->stability_sample_interval_ms
                                                    : w->cfg->sample_interval_ms;
    if (sample_ms > 0)
        ctx.sampler = sampler_start(&target, sample_ms, job->id);
    log_info("job=%lld started attempt=%d models=%d", (long long)job->id, job->attempts,
             spec.nmodels);
    events_append(w->db, job->id, "job_started",
                  json_pack("{s:i, s:i}", "attempt", job->attempts, "models", spec.nmodels),
                  NULL);
    oc = runner_run(w->db, job->id, &spec, w->cfg, &hooks, &rr);
    sampler_stop(ctx.sampler, w->db);
    ctx.sampler = NULL;
    if (oc == RUNNER_STOPPED && w->stopping) {
        state = "queued"; /* resumes at the next start */
        rr.code[0] = '\0';
    } else if (oc == RUNNER_STOPPED) {
        state = "cancelled";
        rr.code[0] = '\0';
    } else if (oc == RUNNER_FAILED) {
        state = "failed";
    } else {
        state = "succeeded";
    }
    store_state(w, job->id, state, rr.code[0] ? rr.code : NULL, rr.code[0] ? rr.detail : NULL);
    if (strcmp(state, "queued") != 0)
        events_append(w->db, job->id, "job_finished",
                      json_pack("{s:s, s:s?, s:s?, s:I, s:I}", "state", state, "error_code",
                                rr.code[0] ? rr.code : NULL, "error_detail",
                                rr.code[0] ? rr.detail : NULL, "requests",
                                (json_int_t)rr.n_requests, "failed", (json_int_t)rr.n_failed),
                      NULL);
    log_info("job=%lld finished state=%s requests=%lld failed=%lld%s%s", (long long)job->id,
             state, (long long)rr.n_requests, (long long)rr.n_failed,
             rr.code[0] ? " code=" : "", rr.code);
    if (strcmp(state, "queued") != 0)
        scan_regressions(w, job->id);
    jobspec_free(&spec);
}

/*
 * After a claim: how long to wait before the next (ms). A database that
 * refuses the claim (read-only, full, locked) is retried with a backoff
 * doubling to WORKER_BACKOFF_MAX_MS, and logged when it starts failing or
 * fails for another reason (*failing: the SQLite code, 0 when fine) and
 * once when it recovers, not every second. A read-only
 * connection stays read-only in SQLite: it is opened again before each try,
 * so that a database made writable is seen.
 */
static int64_t
claim_outcome(struct worker *w, int r, int *failing, int64_t *backoff_ms)
{
    char err[DB_ERR_MAX];
    struct db *again;
    int code;

    if (r != -1) {
        if (*failing)
            log_info("worker: the database takes writes again; the queue moves");
        *failing = 0;
        *backoff_ms = WORKER_RETRY_MS;
        return WORKER_IDLE_MS;
    }
    code = db_errcode(w->db);
    if (code == 0)
        code = -1; /* failing, for a reason SQLite did not name */
    if (code != *failing) {
        snprintf(err, sizeof(err), "%s", w->db->err);
        if (db_check_writable(w->db) == -1)
            snprintf(err, sizeof(err), "%s", w->db->err);
        log_warnx("worker: claiming a job failed: %s (retrying, backing off to %d s)", err,
                  WORKER_BACKOFF_MAX_MS / 1000);
    }
    *failing = code;
    if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN) {
        again = db_open(w->db->path, err, sizeof(err));
        if (again != NULL) {
            db_set_retry(again, w->db->retry_ms, worker_db_stop, w);
            db_close(w->db);
            w->db = again;
        }
    }
    *backoff_ms =
        *backoff_ms * 2 < WORKER_BACKOFF_MAX_MS ? *backoff_ms * 2 : WORKER_BACKOFF_MAX_MS;
    return *backoff_ms;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct job_rec job;
    int64_t wait_ms, backoff_ms = WORKER_RETRY_MS;
    int r, failing = 0, ran = 0;

    while (!w->stopping) {
        heartbeat(w);
        r = jobs_claim_next(w->db, &job);
        if (r == 0) {
            pthread_mutex_lock(&w->mu);
            w->current_job = job.id;
            w->abort = 0;
            pthread_mutex_unlock(&w->mu);
            run_job(w, &job);
            pthread_mutex_lock(&w->mu);
            w->current_job = 0;
            pthread_mutex_unlock(&w->mu);
            job_rec_free(&job);
            /* Keep the WAL small between jobs. */
            db_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)");
            ran = 1;
            continue;
        }
        if (ran) {
            /* Idle after a job: the page cache and the heap the job grew
             * (its samples, the client's buffers) go back to the kernel. */
            db_release_memory(w->db);
            heap_trim();
            ran = 0;
        }
        wait_ms = claim_outcome(w, r, &failing, &backoff_ms);
        pthread_mutex_lock(&w->mu);
        if ((!w->wake || failing) && !w->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait_ms / 1000;
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        w->wake = 0;
        pthread_mutex_unlock(&w->mu);
    }
    pthread_mutex_lock(&w->mu);
    w->running = 0;
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct worker *
worker_start(const struct config *cfg, const char *db_path, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof(*w));
    char dberr[DB_ERR_MAX];

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    stability_configure(cfg); /* before any thread reads the defaults */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->db = db_open(db_path, dberr, sizeof(dberr));
    if (w->db == NULL) {
        snprintf(err, errlen, "%s", dberr);
        goto fail;
    }
    db_set_retry(w->db, (int64_t)cfg->storage_retry_s * 1000, worker_db_stop, w);
    if (db_check_writable(w->db) == -1) {
        /* Reads are still served; healthz answers 503 and the queue waits. */
        log_warnx("worker: the database cannot be written: %s; job submissions answer 503 "
                  "until it can",
                  w->db->err);
    } else if (recover(w) == -1) {
        snprintf(err, errlen, "recovering jobs: %s", w->db->err);
        goto fail;
    }
    w->heartbeat_ns = clock_mono_ns();
    w->running = 1;
    if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "cannot start the worker thread");
        goto fail;
    }
    return w;
fail:
    db_close(w->db);
    thread_sync_destroy(&w->mu, &w->cv);
    free(w);
    return NULL;
}

void
worker_notify(struct worker *w)
{
    if (w != NULL)
        thread_wake(&w->mu, &w->cv, &w->wake);
}

void
worker_cancel(struct worker *w, long long job_id)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->current_job == job_id)
        w->abort = 1;
    w->wake = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int
worker_alive(struct worker *w)
{
    int running;

    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->mu);
    running = w->running;
    pthread_mutex_unlock(&w->mu);
    return running && clock_mono_ns() - heartbeat_get(w) < WORKER_HEARTBEAT_MAX_NS;
}

void
worker_stop(struct worker *w, int grace_ms)
{
    if (w == NULL)
        return;
    (void)grace_ms; /* the client aborts within its 100 ms poll; spawn within its grace */
    /* stopping before abort: a job the abort stops sees the shutdown, and
     * stays queued rather than cancelled. */
    w->stopping = 1;
    thread_stop(w->th, &w->mu, &w->cv, &w->abort);
    db_close(w->db);
    thread_sync_destroy(&w->mu, &w->cv);
    free(w);
}

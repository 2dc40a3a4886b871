/*
 * test_daemon.c - `tpsd serve` end to end: the real daemon process on a
 * loopback port with a temporary database, tpsd-sim and the fake lms.
 * Jobs over HTTP followed through their event stream (and resumed with
 * Last-Event-ID), the API's numbers against the database rows, cancel
 * (in-flight request and model load), SIGTERM drain and resume,
 * idempotent submissions from parallel clients, a database that cannot
 * grow (503, then recovery), and the client verbs (submit, jobs, job,
 * watch, cancel) against it.
 */
#ifdef __linux__
#define _GNU_SOURCE /* prlimit */
#endif
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_JOB_MS 60000   /* a test job finishes within */
#define T_CANCEL_MS 2000 /* cancel: state cancelled within */
#define T_STOP_MS 8000   /* SIGTERM: exit within (serve's grace is 5 s) */

#define MODEL_FAST(key) DU_MODEL(key, 400)
/* 40 tokens at 20 tok/s: a request takes about 2 s. */
#define MODEL_SLOW(key) DU_MODEL(key, 20)

static const char *const two_models[] = {"m1", "m2", NULL};
static const char *const one_model[] = {"m1", NULL};

/* The events of a finished job: no duplicate ids, increasing. */
static void
check_ids_increasing(json_t *events)
{
    json_t *ev;
    long long last = 0;
    size_t i;

    json_array_foreach(events, i, ev)
    {
        long long id = (long long)json_integer_value(json_object_get(ev, "id"));
        CHECK_INT(id, >, last);
        last = id;
    }
}

static int
count_type(json_t *events, const char *type)
{
    json_t *ev;
    size_t i;
    int n = 0;

    json_array_foreach(events, i, ev)
    {
        n += strcmp(json_string_value(json_object_get(ev, "event")), type) == 0;
    }
    return n;
}

/* The events of e2e_two_models: followed live (head), resumed after the
 * last (tail), and read whole (all), with the plan's counts. */
static void
e2e_check_events(json_t *head, json_t *tail, json_t *all)
{
    json_t *ev;
    size_t i;

    /* head + tail == all, event by event. */
    CHECK_INT(json_array_size(head) + json_array_size(tail), ==, json_array_size(all));
    json_array_foreach(all, i, ev)
    {
        json_t *part = i < 3 ? json_array_get(head, i) : json_array_get(tail, i - 3);
        CHECK(json_equal(ev, part));
    }
    check_ids_increasing(all);
    CHECK_STR(json_string_value(json_object_get(json_array_get(all, 0), "event")),
              "job_started");
    CHECK_INT(count_type(all, "run_started"), ==, 2);
    CHECK_INT(count_type(all, "model_loaded"), ==, 2);
    CHECK_INT(count_type(all, "sample"), ==, 10); /* 2 x (1 warm-up + 2 cases x 2) */
    CHECK_INT(count_type(all, "run_finished"), ==, 2);
    ev = json_array_get(all, json_array_size(all) - 1);
    CHECK_STR(json_string_value(json_object_get(ev, "event")), "job_finished");
    CHECK_STR(json_string_value(json_object_get(json_object_get(ev, "data"), "state")),
              "succeeded");
}

/* GET /v1/jobs/{id}: state, runs and sample counts as the database has them. */
static void
e2e_check_job(struct du_env *e, sqlite3 *db, long long id)
{
    char sql[256];
    json_t *job = du_job(e, id);

    CHECK(job != NULL);
    CHECK_STR(json_string_value(json_object_get(job, "state")), "succeeded");
    CHECK_INT(json_integer_value(json_object_get(job, "runs")), ==, 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id=r.id"
             " WHERE r.job_id=%lld AND s.warmup=0",
             id);
    CHECK_INT(json_integer_value(json_object_get(job, "samples")), ==,
              (long long)du_q(db, sql));
    CHECK_INT(json_integer_value(json_object_get(job, "samples")), ==, 8);
    CHECK_INT(json_integer_value(json_object_get(job, "errors")), ==, 0);
    CHECK_INT(json_array_size(json_object_get(job, "run_list")), ==, 2);
    json_decref(job);
}

/* One sample of GET /v1/runs/{rid}/samples against its row. */
static void
e2e_check_sample(sqlite3 *db, long long rid, const json_t *s)
{
    long long seq = (long long)json_integer_value(json_object_get(s, "seq"));
    char sql[256];

    snprintf(sql, sizeof(sql), "SELECT decode_tps FROM samples WHERE run_id=%lld AND seq=%lld",
             rid, seq);
    CHECK_NEAR(json_number_value(json_object_get(s, "decode_tps")), du_q(db, sql), 1e-9);
    snprintf(sql, sizeof(sql), "SELECT ttft_ms FROM samples WHERE run_id=%lld AND seq=%lld",
             rid, seq);
    CHECK_NEAR(json_number_value(json_object_get(s, "ttft_ms")), du_q(db, sql), 1e-9);
    snprintf(sql, sizeof(sql),
             "SELECT completion_tokens FROM samples WHERE run_id=%lld AND seq=%lld", rid, seq);
    CHECK_INT(json_integer_value(json_object_get(s, "completion_tokens")), ==,
              (long long)du_q(db, sql));
    CHECK(json_is_true(json_object_get(s, "ok")));
}

/* GET /v1/runs?job= and each run's samples: every seq of the plan, in
 * order, as stored. Returns the number of samples seen. */
static int
e2e_check_runs(struct du_env *e, sqlite3 *db, long long id)
{
    char path[128], sql[256];
    json_t *runs = NULL, *run, *samples, *s;
    size_t i, j;
    int nsamples = 0;

    snprintf(path, sizeof(path), "/v1/runs?job=%lld", id);
    CHECK_INT(du_call(e, "GET", path, NULL, NULL, &runs), ==, 200);
    CHECK_INT(json_array_size(json_object_get(runs, "runs")), ==, 2);
    json_array_foreach(json_object_get(runs, "runs"), i, run)
    {
        long long rid = (long long)json_integer_value(json_object_get(run, "id"));

        CHECK_STR(json_string_value(json_object_get(run, "state")), "succeeded");
        snprintf(path, sizeof(path), "/v1/runs/%lld/samples?limit=5000", rid);
        samples = NULL;
        CHECK_INT(du_call(e, "GET", path, NULL, NULL, &samples), ==, 200);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM samples WHERE run_id=%lld", rid);
        CHECK_INT(json_array_size(json_object_get(samples, "samples")), ==,
                  (long long)du_q(db, sql));
        json_array_foreach(json_object_get(samples, "samples"), j, s)
        {
            CHECK_INT(json_integer_value(json_object_get(s, "seq")), ==, (long long)j);
            e2e_check_sample(db, rid, s);
            nsamples++;
        }
        json_decref(samples);
        /* GET /v1/runs/{id} names the model and the job. */
        snprintf(path, sizeof(path), "/v1/runs/%lld", rid);
        samples = NULL;
        CHECK_INT(du_call(e, "GET", path, NULL, NULL, &samples), ==, 200);
        CHECK_INT(json_integer_value(json_object_get(samples, "job_id")), ==, id);
        json_decref(samples);
    }
    json_decref(runs);
    return nsamples;
}

/* The sample events carry the figures that were stored. */
static void
e2e_check_event_figures(sqlite3 *db, json_t *all)
{
    char sql[256];
    json_t *ev;
    size_t i;

    json_array_foreach(all, i, ev)
    {
        json_t *d = json_object_get(ev, "data");

        if (strcmp(json_string_value(json_object_get(ev, "event")), "sample") != 0)
            continue;
        snprintf(sql, sizeof(sql),
                 "SELECT decode_tps FROM samples WHERE run_id=%lld AND seq=%lld",
                 (long long)json_integer_value(json_object_get(d, "run_id")),
                 (long long)json_integer_value(json_object_get(d, "seq")));
        CHECK_NEAR(json_number_value(json_object_get(d, "decode_tps")), du_q(db, sql), 1e-9);
    }
}

/* Two models over HTTP: the stream, read in two parts with Last-Event-ID,
 * equals the stream read in one go; the API's jobs, runs and samples agree
 * with the database row for row. */
TEST(e2e_two_models)
{
    struct du_env e;
    char path[128], state[32];
    json_t *head = NULL, *tail = NULL, *all = NULL;
    sqlite3 *db;
    long long id, last;

    du_must_setup(&e, MODEL_FAST("m1") "," MODEL_FAST("m2"), NULL);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, two_models, 20, 2, 1, "lms", NULL);
    /* Follow live: the first three events, then reconnect after the last. */
    snprintf(path, sizeof(path), "/v1/jobs/%lld/events", id);
    CHECK_INT(du_sse(&e, path, 0, 3, T_JOB_MS, &head), ==, 0);
    CHECK_INT(json_array_size(head), ==, 3);
    last = (long long)json_integer_value(json_object_get(json_array_get(head, 2), "id"));
    CHECK_INT(du_sse(&e, path, last, 0, T_JOB_MS, &tail), ==, 0);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    CHECK_INT(du_sse(&e, path, 0, 0, T_JOB_MS, &all), ==, 0);
    e2e_check_events(head, tail, all);
    db = du_must_db(&e);
    e2e_check_job(&e, db, id);
    CHECK_INT(e2e_check_runs(&e, db, id), ==, 10);
    e2e_check_event_figures(db, all);
    sqlite3_close(db);
    json_decref(head);
    json_decref(tail);
    json_decref(all);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* Cancel while a request streams: cancelled within T_CANCEL_MS, the samples
 * already stored are kept, and no child of the daemon is left. */
TEST(cancel_in_flight_request)
{
    struct du_env e;
    char path[128], sql[256], state[32];
    json_t *r = NULL;
    pid_t pids[DU_PIDS_MAX];
    uint64_t t0;
    sqlite3 *db;
    long long id;
    double ms;

    du_must_setup(&e, MODEL_SLOW("m1"), NULL);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 40, 5, 0, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    tu_sleep_ms(300); /* well inside the second request */
    snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", id);
    t0 = tu_now_ns();
    CHECK_INT(du_call(&e, "POST", path, "", NULL, &r), ==, 200);
    CHECK_STR(json_string_value(json_object_get(r, "state")), "running");
    json_decref(r);
    CHECK_STR(du_wait_final(&e, id, T_CANCEL_MS, state, sizeof(state)), "cancelled");
    ms = (double)(tu_now_ns() - t0) / 1e6;
    fprintf(stderr, "cancel latency (in-flight request): %.0f ms\n", ms);
    CHECK_DBL(ms, <, T_CANCEL_MS);
    db = du_must_db(&e);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id=r.id"
             " WHERE r.job_id=%lld AND s.ok=1",
             id);
    CHECK_DBL(du_q(db, sql), >=, 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id=r.id"
             " WHERE r.job_id=%lld",
             id);
    CHECK_DBL(du_q(db, sql), <, 10);
    sqlite3_close(db);
    /* Cancelling again: 409, the job already ended. */
    CHECK_INT(du_call(&e, "POST", path, "", NULL, NULL), ==, 409);
    tu_sleep_ms(200);
    CHECK_INT(du_home_pids(&e, pids, DU_PIDS_MAX), ==, 0);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* Cancel while `lms load` runs (a 20 s load): the load is killed, with
 * everything it started, and the job is cancelled within T_CANCEL_MS. */
TEST(cancel_during_load)
{
    struct du_env e;
    char path[128], state[32];
    pid_t pids[DU_PIDS_MAX];
    uint64_t t0;
    long long id;
    int n = 0, k;
    double ms;

    du_must_setup(&e, MODEL_FAST("m1"), "\"load_delay_ms\":20000");
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 10, 1, 0, "lms", NULL);
    /* Wait for `lms load m1 -y` (the fake lms logs its argv first). */
    CHECK_INT(tu_wait_file_has(e.argv_log, "\"load\", \"m1\", \"-y\"", 30000), ==, 0);
    tu_sleep_ms(200);
    n = du_home_pids(&e, pids, DU_PIDS_MAX);
#ifdef __linux__
    CHECK_INT(n, >, 0);
#endif
    snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", id);
    t0 = tu_now_ns();
    CHECK_INT(du_call(&e, "POST", path, "", NULL, NULL), ==, 200);
    CHECK_STR(du_wait_final(&e, id, T_CANCEL_MS, state, sizeof(state)), "cancelled");
    ms = (double)(tu_now_ns() - t0) / 1e6;
    fprintf(stderr, "cancel latency (model load): %.0f ms\n", ms);
    CHECK_DBL(ms, <, T_CANCEL_MS);
    for (k = 0; k < n; k++)
        CHECK_INT(du_pid_alive(pids[k]), ==, 0);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* SIGTERM in the middle of a job: exit 0 within the stop timeout, the WAL
 * checkpointed, the job queued again; the next start resumes it and every
 * sample of the plan is stored exactly once. */
TEST(sigterm_drains_and_resumes)
{
    struct du_env e;
    char sql[256], state[32], wal[TU_PATH_MAX + 8];
    struct stat sb;
    sqlite3 *db;
    uint64_t t0;
    long long id;
    int status = 0;
    double ms, before;

    du_must_setup(&e, MODEL_SLOW("m1") "," MODEL_SLOW("m2"), NULL);
    du_must_start(&e, NULL);
    /* 6 tokens at 20 tok/s: ~0.3 s each */
    id = du_must_submit_job(&e, two_models, 6, 2, 1, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 2, T_JOB_MS), ==, 0);
    tu_sleep_ms(100);
    t0 = tu_now_ns();
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, &status), ==, 0);
    ms = (double)(tu_now_ns() - t0) / 1e6;
    fprintf(stderr, "SIGTERM to exit during a job: %.0f ms\n", ms);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), ==, 0);
    /* The WAL was checkpointed and truncated (or removed) on close. */
    snprintf(wal, sizeof(wal), "%s-wal", e.db);
    CHECK(stat(wal, &sb) == -1 || sb.st_size == 0);
    db = du_must_db(&e);
    snprintf(sql, sizeof(sql), "SELECT state = 'queued' FROM jobs WHERE id=%lld", id);
    CHECK_DBL(du_q(db, sql), ==, 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id=r.id"
             " WHERE r.job_id=%lld",
             id);
    before = du_q(db, sql);
    CHECK_DBL(before, >=, 2);
    CHECK_DBL(before, <, 10);
    sqlite3_close(db);

    du_must_start(&e, NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    db = du_must_db(&e);
    CHECK_DBL(du_q(db, sql), ==, 10);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT DISTINCT s.run_id, s.seq"
             " FROM samples s JOIN runs r ON s.run_id=r.id WHERE r.job_id=%lld)",
             id);
    CHECK_DBL(du_q(db, sql), ==, 10);
    snprintf(sql, sizeof(sql), "SELECT attempts FROM jobs WHERE id=%lld", id);
    CHECK_DBL(du_q(db, sql), ==, 2);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM runs"), ==, 2);
    sqlite3_close(db);
    /* An idle daemon stops at once. */
    t0 = tu_now_ns();
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, &status), ==, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fprintf(stderr, "SIGTERM to exit when idle: %.0f ms\n", (double)(tu_now_ns() - t0) / 1e6);
    du_teardown(&e);
}

/* ---- idempotency ---- */

#define T_IDEM_THREADS 8

struct idem_arg {
    struct du_env *e;
    const char *spec;
    long status;
    char location[128];
};

static void *
idem_post(void *p)
{
    struct idem_arg *a = p;
    const char *hdrs[] = {"Idempotency-Key: same-key-1", NULL};

    a->status = du_call_raw(a->e, "POST", "/v1/jobs", a->spec, hdrs, NULL, "Location",
                            a->location, sizeof(a->location));
    return NULL;
}

/* Parallel POSTs with one key: one job; the others replay it (200, same
 * Location); another body with that key: 422. */
TEST(idempotency_parallel)
{
    struct du_env e;
    struct idem_arg args[T_IDEM_THREADS];
    pthread_t th[T_IDEM_THREADS];
    const char *hdrs[] = {"Idempotency-Key: same-key-1", NULL};
    char *spec, *other;
    json_t *r = NULL;
    sqlite3 *db;
    int i, created = 0;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, NULL);
    spec = du_spec(&e, one_model, 5, 1, 0, "lms", NULL);
    other = du_spec(&e, one_model, 5, 2, 0, "lms", NULL);
    for (i = 0; i < T_IDEM_THREADS; i++) {
        args[i].e = &e;
        args[i].spec = spec;
        CHECK_INT(pthread_create(&th[i], NULL, idem_post, &args[i]), ==, 0);
    }
    for (i = 0; i < T_IDEM_THREADS; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < T_IDEM_THREADS; i++) {
        if (args[i].status != 201)
            CHECK_INT(args[i].status, ==, 200);
        created += args[i].status == 201;
        CHECK_STR(args[i].location, args[0].location);
    }
    CHECK_INT(created, ==, 1);
    CHECK_INT(du_call(&e, "POST", "/v1/jobs", other, hdrs, &r), ==, 422);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
              "idempotency_key_reused");
    json_decref(r);
    db = du_must_db(&e);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM jobs"), ==, 1);
    sqlite3_close(db);
    free(spec);
    free(other);
    du_teardown(&e);
}

/* ---- a database that cannot grow ---- */

#ifdef __linux__
/* Set the daemon's file size limit (RLIMIT_FSIZE): 0 makes every write
 * that would grow a file fail with EFBIG, like a full disk. */
static void
set_fsize(struct du_env *e, rlim_t cur)
{
    struct rlimit lim = {cur, RLIM_INFINITY};

    CHECK_INT(prlimit(e->pid, RLIMIT_FSIZE, &lim, NULL), ==, 0);
}

/* POST a job until the answer is 201 (up to timeout_ms). The job id or 0. */
static long long
submit_eventually(struct du_env *e, const char *spec, long timeout_ms)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    json_t *r;
    long st;
    long long id = 0;

    while (id == 0 && tu_now_ns() < deadline) {
        r = NULL;
        st = du_call(e, "POST", "/v1/jobs", spec, NULL, &r);
        if (st == 201)
            id = (long long)json_integer_value(json_object_get(r, "id"));
        json_decref(r);
        if (id == 0)
            tu_sleep_ms(50);
    }
    return id;
}
#endif

/* The disk "fills" (RLIMIT_FSIZE 0 on the daemon): writes answer 503 with
 * Retry-After, reads go on, nothing crashes; a job running at that moment
 * ends (it is not left "running" forever); when space returns the service
 * takes and finishes jobs again and the database is intact. */
TEST(db_cannot_grow_503)
{
#ifdef __linux__
    struct du_env e;
    char *spec, *slow, *text = NULL, retry[32], state[32];
    json_t *r = NULL;
    sqlite3 *db;
    long long id, id2;
    long st;

    du_must_setup(&e, MODEL_FAST("m1") "," MODEL_SLOW("s"), NULL);
    du_must_start(&e, NULL);
    spec = du_spec(&e, one_model, 5, 1, 0, "lms", NULL);
    {
        const char *const slow_model[] = {"s", NULL};
        slow = du_spec(&e, slow_model, 20, 3, 0, "lms", NULL);
    }
    /* Idle daemon, full disk. */
    set_fsize(&e, 0);
    st = du_call_raw(&e, "POST", "/v1/jobs", spec, NULL, &text, "Retry-After", retry,
                     sizeof(retry));
    CHECK_INT(st, ==, 503);
    r = json_loads(text, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
              "db_unavailable");
    CHECK(retry[0] != '\0');
    json_decref(r);
    free(text);
    CHECK_INT(du_call(&e, "GET", "/v1/jobs", NULL, NULL, NULL), ==, 200);
    CHECK(du_pid_alive(e.pid));
    /* Health says why. */
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, &r), ==, 503);
    CHECK_STR(json_string_value(json_object_get(r, "db")), "write_failed");
    CHECK_STR(json_string_value(json_object_get(r, "status")), "degraded");
    json_decref(r);
    /* Space returns. */
    set_fsize(&e, RLIM_INFINITY);
    id = submit_eventually(&e, spec, 5000);
    CHECK_INT(id, >, 0);
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 200);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");

    /* The disk fills while a job runs. */
    id2 = du_must_submit(&e, slow);
    CHECK_INT(du_wait_samples(&e, id2, 1, T_JOB_MS), ==, 0);
    set_fsize(&e, 0);
    tu_sleep_ms(2500); /* a sample ends and cannot be stored */
    CHECK(du_pid_alive(e.pid));
    set_fsize(&e, RLIM_INFINITY);
    du_wait_final(&e, id2, T_JOB_MS, state, sizeof(state));
    CHECK(strcmp(state, "failed") == 0 || strcmp(state, "succeeded") == 0);
    /* And the queue still moves. */
    id = submit_eventually(&e, spec, 5000);
    CHECK_INT(id, >, 0);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    db = du_must_db(&e);
    {
        sqlite3_stmt *q = NULL;
        CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), ==,
                  SQLITE_OK);
        CHECK_INT(sqlite3_step(q), ==, SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(q, 0), "ok");
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    free(spec);
    free(slow);
    du_teardown(&e);
#endif
}

/* A second `tpsd serve` on the same database is refused (exit 3) and does
 * not touch the first one's running job. */
TEST(second_serve_refused)
{
    struct du_env e;
    char *err = NULL, port[16], errf[TU_PATH_MAX + 16];
    char *argv[12];
    json_t *j;
    long long id;
    int code = -1;

    du_must_setup(&e, MODEL_SLOW("m1"), NULL);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 40, 3, 0, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    snprintf(port, sizeof(port), "%d", e.port + 1);
    snprintf(errf, sizeof(errf), "%s/second.err", e.dir);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "serve", "--db", e.db, "--listen-port", port,
                  "--lms", (char *)tu_src("tests/fake-lms"));
    CHECK_INT(tu_run(argv, NULL, errf, 10000, &code), ==, 0);
    CHECK_INT(code, ==, 3);
    CHECK_INT(tu_read_file(errf, &err, NULL), ==, 0);
    CHECK(strstr(err, "another tpsd serve") != NULL);
    free(err);
    j = du_job(&e, id);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "running");
    CHECK_INT(json_integer_value(json_object_get(j, "attempts")), ==, 1);
    json_decref(j);
    du_teardown(&e);
}

/* ---- the client verbs ---- */

#define T_CLIENT_ARGS 24

/* Run `tpsd VERB args... --url URL` (url NULL: no --url) to completion;
 * stdout and stderr land in *out / *err (caller frees; may be NULL).
 * Returns the exit status. */
static int
t_client(struct du_env *e, const char *url, char **out, char **err, const char *const *args)
{
    char *argv[T_CLIENT_ARGS];
    char outf[TU_PATH_MAX + 16], errf[TU_PATH_MAX + 16];
    int n = 0, i, code = -1;

    argv[n++] = getenv("TPSD_BIN");
    for (i = 0; args[i] != NULL && n < T_CLIENT_ARGS - 3; i++)
        argv[n++] = (char *)args[i];
    if (url != NULL) {
        argv[n++] = "--url";
        argv[n++] = (char *)url;
    }
    argv[n] = NULL;
    snprintf(outf, sizeof(outf), "%s/client.out", e->dir);
    snprintf(errf, sizeof(errf), "%s/client.err", e->dir);
    CHECK_INT(tu_run(argv, outf, errf, 60000, &code), ==, 0);
    if (out != NULL)
        CHECK_INT(tu_read_file(outf, out, NULL), ==, 0);
    if (err != NULL)
        CHECK_INT(tu_read_file(errf, err, NULL), ==, 0);
    return code;
}

#define CHECK_HAS(text, needle)                                                                \
    do {                                                                                       \
        if (strstr((text), (needle)) == NULL)                                                  \
            check_failed(__FILE__, __LINE__, "\"%s\" not in: %.2000s", (needle), (text));      \
    } while (0)

#define T_SUITE                                                                                \
    "{\"name\":\"t\",\"cases\":[{\"name\":\"greet\",\"max_tokens\":10,\"messages\":"           \
    "[{\"role\":\"user\",\"content\":\"say hello\"}]}]}"

/*
 * The verbs' cases, run in order against one live daemon. In args, "@SUITE"
 * is the suite file, "@SIM" the simulator's URL, "@SPEC", "@OTHER" and
 * "@BAD" three spec files (the second a different body, the third with an
 * unknown field). env_url: the daemon is named by TPSD_URL, not --url.
 * json_id: stdout is JSON whose "id" is this (0: not checked).
 */
#define T_NEEDLES 4
struct verb_case {
    const char *args[T_CLIENT_ARGS];
    int env_url;
    int code;
    const char *out_has[T_NEEDLES];
    const char *err_has;
    long long json_id;
};

static const struct verb_case verb_cases[] = {
    {{"submit", "--model", "m1", "--suite", "@SUITE", "--repetitions", "2", "--warmup", "0",
      "--base-url", "@SIM", "--name", "flags"},
     0,
     0,
     {"job 1 queued"},
     NULL,
     0},
    {{"watch", "1"},
     0,
     0,
     {"job started (attempt 1, 1 model(s))", "[m1] loaded as m1", "[m1] 2/2 greet #2: 10 tok",
      "job succeeded: 2 request(s), 0 failed"},
     NULL,
     0},
    {{"jobs"}, 1, 0, {"STATE", "succeeded", "flags"}, NULL, 0},
    {{"jobs", "--state", "failed"}, 0, 0, {"(no jobs in state failed)"}, NULL, 0},
    {{"jobs", "--state", "bogus"}, 0, 2, {NULL}, "state: must be one of", 0},
    {{"job", "1"},
     0,
     0,
     {"job 1 \"flags\" (benchmark): succeeded", "2 sample(s), 0 error(s)", "DECODE tok/s",
      "greet"},
     NULL,
     0},
    {{"job", "1", "--json"}, 0, 0, {NULL}, NULL, 1},
    {{"job", "99"}, 0, 1, {NULL}, "no job 99", 0},
    {{"cancel", "1"}, 0, 1, {NULL}, "already succeeded", 0},
    /* --file with an idempotency key: a retry gets the same job, another
     * body with the key is refused with the daemon's message. */
    {{"submit", "--file", "@SPEC", "--idempotency-key", "k1", "--json"}, 0, 0, {NULL}, NULL, 2},
    {{"submit", "--file", "@SPEC", "--idempotency-key", "k1"},
     0,
     0,
     {"job 2 (already submitted with this idempotency key)"},
     NULL,
     0},
    {{"submit", "--file", "@OTHER", "--idempotency-key", "k1"},
     0,
     2,
     {NULL},
     "Idempotency-Key was used with a different body",
     0},
    {{"submit", "--file", "@BAD"}, 0, 2, {NULL}, "bogus_field", 0},
    {{"submit", "--model", "m1", "--repetitions", "abc"}, 0, 2, {NULL}, "not a number", 0},
    {{"submit", "--file", "@SPEC", "--model", "m1"}, 0, 2, {NULL}, "not both", 0},
    {{"watch", "2"}, 0, 0, {NULL}, NULL, 0},
};

/* The files and URL a case's placeholders stand for. */
struct verb_files {
    char suite[TU_PATH_MAX + 16], spec[TU_PATH_MAX + 16], other[TU_PATH_MAX + 16];
    char bad[TU_PATH_MAX + 16];
    const char *sim;
};

static const char *
verb_arg(const struct verb_files *f, const char *a)
{
    static const struct {
        const char *name;
        size_t off;
    } ph[] = {
        {"@SUITE", offsetof(struct verb_files, suite)},
        {"@SPEC", offsetof(struct verb_files, spec)},
        {"@OTHER", offsetof(struct verb_files, other)},
        {"@BAD", offsetof(struct verb_files, bad)},
    };
    size_t i;

    if (strcmp(a, "@SIM") == 0)
        return f->sim;
    for (i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
        if (strcmp(a, ph[i].name) == 0)
            return (const char *)f + ph[i].off;
    return a;
}

/* Run one case and check its exit status, output and messages. */
static void
verb_run(struct du_env *e, const struct verb_files *f, const struct verb_case *c)
{
    const char *args[T_CLIENT_ARGS];
    char *out = NULL, *err = NULL;
    size_t i;
    json_t *j;

    for (i = 0; i + 1 < T_CLIENT_ARGS && c->args[i] != NULL; i++)
        args[i] = verb_arg(f, c->args[i]);
    args[i] = NULL;
    if (c->env_url)
        CHECK(setenv("TPSD_URL", e->url, 1) == 0); /* the environment names the daemon */
    CHECK_INT(t_client(e, c->env_url ? NULL : e->url, &out, &err, args), ==, c->code);
    if (c->env_url)
        unsetenv("TPSD_URL");
    for (i = 0; i < T_NEEDLES && c->out_has[i] != NULL; i++)
        CHECK_HAS(out, c->out_has[i]);
    if (c->err_has != NULL)
        CHECK_HAS(err, c->err_has);
    if (c->json_id > 0) {
        j = json_loads(out, 0, NULL);
        CHECK(j != NULL);
        CHECK_INT(json_integer_value(json_object_get(j, "id")), ==, c->json_id);
        json_decref(j);
    }
    free(out);
    free(err);
}

/* The spec files of the --file cases. */
static void
verb_files_write(struct du_env *e, struct verb_files *f)
{
    char *spec;

    f->sim = e->sim.base_url;
    snprintf(f->suite, sizeof(f->suite), "%s/suite.json", e->dir);
    snprintf(f->spec, sizeof(f->spec), "%s/spec.json", e->dir);
    snprintf(f->other, sizeof(f->other), "%s/other.json", e->dir);
    snprintf(f->bad, sizeof(f->bad), "%s/bad.json", e->dir);
    CHECK_INT(tu_write_file(f->suite, T_SUITE), ==, 0);
    spec = du_spec(e, one_model, 5, 1, 0, "lms", NULL);
    CHECK_INT(tu_write_file(f->spec, spec), ==, 0);
    free(spec);
    spec = du_spec(e, one_model, 5, 2, 0, "lms", NULL);
    CHECK_INT(tu_write_file(f->other, spec), ==, 0);
    free(spec);
    spec = du_spec(e, one_model, 5, 2, 0, "lms", "\"bogus_field\":1");
    CHECK_INT(tu_write_file(f->bad, spec), ==, 0);
    free(spec);
}

/* submit (flags, --file, idempotency), watch, jobs, job, cancel against a
 * live daemon: output, exit statuses and the daemon's error messages. */
TEST(client_verbs)
{
    struct du_env e;
    struct verb_files f;
    size_t i;
    json_t *j;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, NULL);
    verb_files_write(&e, &f);
    for (i = 0; i < sizeof(verb_cases) / sizeof(verb_cases[0]); i++) {
        verb_run(&e, &f, &verb_cases[i]);
        if (i != 1)
            continue;
        /* After job 1: its suite file went inline, the daemon never had
         * to read it. */
        j = du_job(&e, 1);
        CHECK(json_is_object(json_object_get(json_object_get(j, "spec"), "suite")));
        CHECK_STR(json_string_value(json_object_get(
                      json_object_get(json_object_get(j, "spec"), "server"), "base_url")),
                  e.sim.base_url);
        json_decref(j);
    }
    du_teardown(&e);
}

/* No daemon: a clear message and exit 3 from every verb. */
TEST(client_daemon_down)
{
    struct du_env e;
    static const char *const verbs[][4] = {
        {"jobs", NULL},
        {"job", "1", NULL},
        {"watch", "1", NULL},
        {"cancel", "1", NULL},
        {"submit", "--model", "m1", NULL},
    };
    char *err = NULL;
    size_t i;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        CHECK_INT(t_client(&e, e.url, NULL, &err, verbs[i]), ==, 3);
        CHECK_HAS(err, "cannot reach the daemon at http://127.0.0.1:");
        CHECK_HAS(err, "is `tpsd serve` running?");
        free(err);
    }
    du_teardown(&e);
}

/* A daemon with a token: refused without it (exit 1 with a hint), served
 * with --token, TPSD_TOKEN or the configured token_file. */
TEST(client_token)
{
    struct du_env e;
    char tokf[TU_PATH_MAX + 16], *err = NULL, *out = NULL;
    const char *extra[] = {"--token-file", tokf, NULL};

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    snprintf(tokf, sizeof(tokf), "%s/token", e.dir);
    CHECK_INT(tu_write_file(tokf, "s3cret-token\n"), ==, 0);
    CHECK_INT(chmod(tokf, 0600), ==, 0);
    snprintf(e.token, sizeof(e.token), "s3cret-token");
    du_must_start(&e, extra);
    {
        const char *a[] = {"jobs", NULL};
        CHECK_INT(t_client(&e, e.url, &out, &err, a), ==, 1);
        CHECK_HAS(err, "HTTP 401");
        CHECK_HAS(err, "--token");
        free(out);
        free(err);
    }
    {
        const char *a[] = {"jobs", "--token", "wrong", NULL};
        CHECK_INT(t_client(&e, e.url, &out, &err, a), ==, 1);
        CHECK_HAS(err, "HTTP 401");
        free(out);
        free(err);
    }
    {
        const char *a[] = {"jobs", "--token", "s3cret-token", NULL};
        CHECK_INT(t_client(&e, e.url, &out, &err, a), ==, 0);
        CHECK_HAS(out, "(no jobs)");
        free(out);
        free(err);
    }
    {
        const char *a[] = {"jobs", NULL};
        CHECK(setenv("TPSD_TOKEN", "s3cret-token", 1) == 0);
        CHECK_INT(t_client(&e, e.url, &out, &err, a), ==, 0);
        unsetenv("TPSD_TOKEN");
        free(out);
        free(err);
    }
    {
        /* The daemon's own config: the same token_file and port. */
        char port[16];
        const char *a[] = {"jobs", "--token-file", tokf, "--listen-port", port, NULL};

        snprintf(port, sizeof(port), "%d", e.port);
        CHECK_INT(t_client(&e, NULL, &out, &err, a), ==, 0);
        free(out);
        free(err);
    }
    du_teardown(&e);
}

/* submit --watch, then cancel from another client: the watcher ends with
 * exit 4 (cancelled) within seconds. */
TEST(client_watch_cancelled)
{
    struct du_env e;
    char *spec, specf[TU_PATH_MAX + 16], outf[TU_PATH_MAX + 16], *out = NULL, *err = NULL;
    char *argv[8];
    pid_t pid;
    int st = 0;

    du_must_setup(&e, MODEL_SLOW("m1"), NULL);
    du_must_start(&e, NULL);
    spec = du_spec(&e, one_model, 40, 5, 0, "lms", NULL);
    snprintf(specf, sizeof(specf), "%s/spec.json", e.dir);
    CHECK_INT(tu_write_file(specf, spec), ==, 0);
    free(spec);
    snprintf(outf, sizeof(outf), "%s/watch.out", e.dir);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "submit", "--file", specf, "--watch", "--url",
                  e.url);
    CHECK_INT(tu_spawn(argv, outf, NULL, 1, &pid), ==, 0);
    CHECK_INT(du_wait_samples(&e, 1, 1, T_JOB_MS), ==, 0);
    {
        const char *a[] = {"cancel", "1", NULL};
        CHECK_INT(t_client(&e, e.url, &out, &err, a), ==, 0);
        CHECK_HAS(out, "cancel requested");
        free(out);
        free(err);
    }
    CHECK_INT(tu_wait_pid_exit(pid, 5000, &st), ==, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), ==, 4);
    CHECK_INT(tu_read_file(outf, &out, NULL), ==, 0);
    CHECK_HAS(out, "job 1 queued");
    CHECK_HAS(out, "job cancelled");
    free(out);
    du_teardown(&e);
}

/* argv (6 slots) for `tpsd watch 1 --url URL`. */
static void
t_watch_argv(struct du_env *e, char **argv)
{
    (void)tu_argv(argv, 0, 6, getenv("TPSD_BIN"), "watch", "1", "--url", e->url, (char *)NULL);
}

/* Run argv on a pseudo-terminal of `cols` columns (TERM=xterm) until it
 * exits; what it wrote into *out (caller frees). Returns the exit status. */
static int
t_run_on_pty(char *const *argv, int cols, char **out)
{
    struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    int m, s, st = 0;
    ssize_t n;
    pid_t pid;
    struct pollfd pfd;
    uint64_t deadline = tu_now_ns() + 60 * 1000000000ULL;

    CHECK(buf != NULL);
    m = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(m >= 0);
    CHECK_INT(grantpt(m), ==, 0);
    CHECK_INT(unlockpt(m), ==, 0);
    CHECK_INT(ioctl(m, TIOCSWINSZ, &ws), ==, 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setsid();
        s = open(ptsname(m), O_RDWR);
        if (s < 0)
            _exit(127);
        dup2(s, STDOUT_FILENO);
        dup2(s, STDERR_FILENO);
        close(m);
        setenv("TERM", "xterm", 1);
        execv(argv[0], argv);
        _exit(127);
    }
    check_child(pid, 0);
    pfd.fd = m;
    pfd.events = POLLIN;
    while (tu_now_ns() < deadline) {
        if (poll(&pfd, 1, 100) <= 0) {
            if (waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                break;
            }
            continue;
        }
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf != NULL);
        }
        n = read(m, buf + len, cap - len - 1);
        if (n <= 0)
            break; /* EIO: the child closed the terminal */
        len += (size_t)n;
    }
    if (pid > 0)
        CHECK_INT(tu_wait_pid_exit(pid, 10000, &st), ==, 0);
    close(m);
    buf[len] = '\0';
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* On a terminal, tpsd watch redraws one status line (a bar, done/total,
 * the last sample's figures) cut to the terminal's width, and keeps the
 * other events as lines; with stdout not a terminal it writes lines. */
TEST(client_watch_terminal_bar)
{
    struct du_env e;
    char *spec, *out = NULL, *p, *q, *argv[6];
    const char *a[] = {"watch", "1", NULL};
    char state[32];
    int bars = 0;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, NULL);
    spec = du_spec(&e, one_model, 10, 3, 1, "lms", NULL);
    CHECK_INT(du_must_submit(&e, spec), ==, 1);
    free(spec);
    CHECK_STR(du_wait_final(&e, 1, T_JOB_MS, state, sizeof(state)), "succeeded");
    t_watch_argv(&e, argv);
    CHECK_INT(t_run_on_pty(argv, 60, &out), ==, 0);
    /* every status line starts over the last one and fits in 59 columns */
    for (p = out; (p = strstr(p, "\r\033[K")) != NULL; p = q) {
        p += 4;
        q = p + strcspn(p, "\r\n");
        CHECK(q - p <= 59);
        CHECK(*p == '[');
        bars++;
    }
    if (bars < 6) /* 2 cases x 3 repetitions, and the warm-ups */
        check_failed(__FILE__, __LINE__, "%d status lines in: %s", bars, out);
    CHECK_HAS(out, " 100% [m1] ");
    CHECK_HAS(out, "job succeeded");
    CHECK(strstr(out, "decode 0.00") == NULL);
    free(out);
    /* not a terminal: lines, no escapes */
    CHECK_INT(t_client(&e, e.url, &out, NULL, a), ==, 0);
    CHECK(strstr(out, "\033[") == NULL);
    CHECK_HAS(out, "] 1/7 greet (warm-up) #1: 10 tok"); /* the warm-up counts in the total */
    CHECK_HAS(out, "] 7/7 more #3: 10 tok");
    free(out);
    du_teardown(&e);
}

/* tpsd watch outlives a daemon restart: it reconnects with Last-Event-ID,
 * sees the second attempt and ends with the job (exit 0), each event once. */
TEST(client_watch_survives_restart)
{
    struct du_env e;
    char outf[TU_PATH_MAX + 16], *out = NULL, *p;
    char *argv[6];
    pid_t pid;
    long long id;
    int st = 0, n = 0;

    du_must_setup(&e, MODEL_SLOW("m1"), NULL);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 6, 4, 0, "lms", NULL);
    snprintf(outf, sizeof(outf), "%s/watch.out", e.dir);
    t_watch_argv(&e, argv);
    CHECK_INT(tu_spawn(argv, outf, NULL, 1, &pid), ==, 0);
    CHECK_INT(du_wait_samples(&e, id, 2, T_JOB_MS), ==, 0);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    tu_sleep_ms(1500); /* the watcher finds no daemon for a while */
    du_must_start(&e, NULL);
    CHECK_INT(tu_wait_pid_exit(pid, T_JOB_MS, &st), ==, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), ==, 0);
    CHECK_INT(tu_read_file(outf, &out, NULL), ==, 0);
    CHECK_HAS(out, "job started (attempt 1");
    CHECK_HAS(out, "job started (attempt 2");
    CHECK_HAS(out, "job succeeded");
    /* Every "job started" line once: no event was printed twice. */
    for (p = out; (p = strstr(p, "job started (attempt 1")) != NULL; p++)
        n++;
    CHECK_INT(n, ==, 1);
    free(out);
    du_teardown(&e);
}

/* Hostile requests against the real process: each gets its status and a
 * JSON error naming the problem, and the daemon keeps serving. */
/* --log-level debug writes one access line per request, the URL quoted;
 * at the default level there is none. */
TEST(access_log_at_debug_only)
{
    struct du_env e;
    const char *debug[] = {"--log-level", "debug", NULL};
    char *text = NULL;
    size_t len = 0;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, NULL);
    CHECK_INT(du_call(&e, "GET", "/v1/jobs?limit=1", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    CHECK_INT(tu_read_file(e.log, &text, &len), ==, 0);
    CHECK(strstr(text, "handler_ms=") == NULL);
    free(text);
    du_must_start(&e, debug);
    CHECK_INT(du_call(&e, "GET", "/v1/jobs?limit=1", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_call(&e, "GET", "/v1/no%22pe%0a", NULL, NULL, NULL), ==, 404);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    CHECK_INT(tu_read_file(e.log, &text, &len), ==, 0);
    CHECK_HAS(text, "api: method=GET url=\"/v1/jobs?limit=1\" handler_ms=");
    CHECK_HAS(text, "api: method=GET url=\"/v1/no\\\"pe\\x0a\" handler_ms=");
    free(text);
    du_teardown(&e);
}

TEST(bad_requests_keep_serving)
{
    static const struct {
        const char *method, *path, *body, *header;
        long status;
        const char *code, *says;
    } cases[] = {
        {"POST", "/v1/jobs", "{\"models\": [\"m1\"", NULL, 400, "bad_json", "invalid JSON"},
        {"POST", "/v1/jobs", "{\"models\": \"m1\"}", NULL, 400, "invalid_spec", "models"},
        {"POST", "/v1/jobs", "{\"models\": [\"m1\"], \"repetitions\": \"3\"}", NULL, 400,
         "invalid_spec", "repetitions"},
        {"POST", "/v1/jobs", "{\"models\": [\"m1\"], \"bogus\": 1}", NULL, 400, "invalid_spec",
         "bogus"},
        {"GET", "/v1/jobs/abc", NULL, NULL, 404, "not_found", NULL},
        {"GET", "/v1/jobs/0", NULL, NULL, 404, "not_found", NULL},
        {"GET", "/v1/jobs/99", NULL, NULL, 404, "not_found", "no job 99"},
        {"GET", "/v1/jobs?limit=0", NULL, NULL, 400, "bad_request", "limit"},
        {"DELETE", "/v1/jobs", NULL, NULL, 405, "method_not_allowed", NULL},
        {"GET", "/v1/healthz", NULL, "Host: evil.example", 421, "host_not_allowed", NULL},
        {"GET", "/v1/healthz", NULL, "Host:", 421, "host_not_allowed", NULL},
    };
    struct du_env e;
    const char *extra[] = {"--max-body-bytes", "4096", NULL};
    char *big, *text;
    json_t *r;
    size_t i;
    long st;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, extra);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h[] = {cases[i].header, NULL};

        text = NULL;
        st = du_call_raw(&e, cases[i].method, cases[i].path, cases[i].body,
                         cases[i].header ? h : NULL, &text, NULL, NULL, 0);
        if (st != cases[i].status)
            check_failed(__FILE__, __LINE__, "case %zu (%s %s): status %ld, want %ld: %s", i,
                         cases[i].method, cases[i].path, st, cases[i].status, text);
        r = json_loads(text, 0, NULL);
        CHECK_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  cases[i].code);
        if (cases[i].says != NULL)
            CHECK_HAS(
                json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                cases[i].says);
        json_decref(r);
        free(text);
    }
    /* A body one byte over the cap. */
    big = malloc(4098);
    CHECK(big != NULL);
    memset(big, ' ', 4097);
    big[0] = '{';
    big[4096] = '}';
    big[4097] = '\0';
    CHECK_INT(du_call(&e, "POST", "/v1/jobs", big, NULL, &r), ==, 413);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
              "body_too_large");
    json_decref(r);
    free(big);
    CHECK(du_pid_alive(e.pid));
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

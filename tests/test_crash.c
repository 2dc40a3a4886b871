/*
 * test_crash.c - RELIABILITY.md acceptance tests 1 and 2: `tpsd serve` is
 * SIGKILLed at many (seeded random) points of a running job. After each
 * kill the database passes PRAGMA integrity_check, every sample committed
 * before is still there, unchanged, exactly once (unique (run_id, seq)); on
 * restart the job resumes (or is interrupted when its spec says
 * resume:false) and at the end every seq of the plan is present once. No
 * process the killed daemon started (the fake lms) survives the restart.
 *
 * The seed is printed; TPSD_CRASH_SEED=N repeats a run.
 */
#include "common/rng.h"
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_KILLS 10       /* SIGKILLs in the random test */
#define T_KILL_MIN_MS 50 /* after the daemon answers healthz */
#define T_KILL_MAX_MS 700
#define T_JOB_MS 60000
#define T_SAMPLES_MAX 256

/* 8 tokens at 50 tok/s after 20 ms: about 0.18 s a request. */
#define MODEL(key) DU_MODEL(key, 50)

static const char *const two_models[] = {"m1", "m2", NULL};
static const char *const one_model[] = {"m1", NULL};

/* common/rng.h: the same kill points for the same seed, on every libc. */
static struct rng crash_rng;

static void
crash_seed(void)
{
    const char *s = getenv("TPSD_CRASH_SEED");
    uint64_t seed =
        s != NULL && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();

    if (seed == 0)
        seed = 1;
    fprintf(stderr, "crash seed: %llu (TPSD_CRASH_SEED=%llu repeats it)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    rng_seed(&crash_rng, seed);
}

/* One stored sample: where it sits in the plan and when it was sent. */
struct t_sample {
    long long run_id, seq, started_at;
};

/*
 * The checks after a kill: integrity_check is ok, (run_id, seq) is unique,
 * and every sample seen before is still there with the same started_at
 * (not lost, not measured again). Replaces *prev with the current list.
 */
static void
check_after_kill(struct du_env *e, long long job, struct t_sample *prev, int *nprev)
{
    struct t_sample cur[T_SAMPLES_MAX];
    sqlite3_stmt *st = NULL;
    sqlite3 *db = du_must_db(e);
    char sql[256];
    int n = 0, i, j, found;
    const unsigned char *ic;

    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), ==, SQLITE_OK);
    CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
    ic = sqlite3_column_text(st, 0);
    CHECK_STR((const char *)ic, "ok");
    sqlite3_finalize(st);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM (SELECT run_id, seq FROM samples"
                       " GROUP BY run_id, seq HAVING count(*) > 1)"),
              ==, 0);
    snprintf(sql, sizeof(sql),
             "SELECT s.run_id, s.seq, s.started_at FROM samples s"
             " JOIN runs r ON s.run_id = r.id WHERE r.job_id = %lld ORDER BY s.run_id, s.seq",
             job);
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        CHECK_INT(n, <, T_SAMPLES_MAX);
        cur[n].run_id = sqlite3_column_int64(st, 0);
        cur[n].seq = sqlite3_column_int64(st, 1);
        cur[n].started_at = sqlite3_column_int64(st, 2);
        n++;
    }
    sqlite3_finalize(st);
    for (i = 0; i < *nprev; i++) {
        found = 0;
        for (j = 0; j < n && !found; j++) {
            if (cur[j].run_id == prev[i].run_id && cur[j].seq == prev[i].seq) {
                CHECK_INT(cur[j].started_at, ==, prev[i].started_at);
                found = 1;
            }
        }
        if (!found)
            check_failed(__FILE__, __LINE__, "sample run=%lld seq=%lld was lost",
                         prev[i].run_id, prev[i].seq);
    }
    CHECK_INT(n, >=, *nprev);
    memcpy(prev, cur, (size_t)n * sizeof(cur[0]));
    *nprev = n;
    sqlite3_close(db);
}

/* At the end: every seq 0..per_run-1 of each of nruns runs, once. */
static void
check_complete(struct du_env *e, long long job, int nruns, int per_run)
{
    sqlite3 *db = du_must_db(e);
    char sql[512];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE job_id = %lld", job);
    CHECK_DBL(du_q(db, sql), ==, nruns);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id = r.id"
             " WHERE r.job_id = %lld",
             job);
    CHECK_DBL(du_q(db, sql), ==, nruns * per_run);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT DISTINCT s.run_id, s.seq"
             " FROM samples s JOIN runs r ON s.run_id = r.id WHERE r.job_id = %lld"
             " AND s.seq BETWEEN 0 AND %d)",
             job, per_run - 1);
    CHECK_DBL(du_q(db, sql), ==, nruns * per_run);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM runs WHERE job_id = %lld"
             " AND state = 'succeeded'",
             job);
    CHECK_DBL(du_q(db, sql), ==, nruns);
    sqlite3_close(db);
}

static const char *
db_job_state(struct du_env *e, long long job, char *buf, size_t len)
{
    sqlite3 *db = du_must_db(e);
    sqlite3_stmt *st = NULL;
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT state FROM jobs WHERE id = %lld", job);
    CHECK_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), ==, SQLITE_OK);
    CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
    snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

/* Load models in the sim directly (the "none" backend only checks). */
static void
sim_preload(struct du_env *e, const char *const *models)
{
    char body[256];
    int i;

    for (i = 0; models[i] != NULL; i++) {
        snprintf(body, sizeof(body), "{\"key\":\"%s\"}", models[i]);
        CHECK_INT(tu_sim_call(&e->sim, "POST", "/sim/load", body, NULL), ==, 200);
    }
}

/* Acceptance 1: SIGKILL at T_KILLS random points of a two-model job with
 * two requests in flight at a time. */
TEST(sigkill_random_points)
{
    struct du_env e;
    struct t_sample prev[T_SAMPLES_MAX];
    char state[32];
    uint64_t t0 = tu_now_ns();
    long long id;
    int k, nprev = 0, kills = 0, per_run = 1 + 2 * 8;

    crash_seed();
    du_must_setup(&e, MODEL("m1") "," MODEL("m2"), NULL);
    sim_preload(&e, two_models);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, two_models, 8, 8, 1, "none",
                            "\"load_pattern\":{\"type\":\"concurrent\",\"concurrency\":2}");
    for (k = 0; k < T_KILLS; k++) {
        long ms =
            T_KILL_MIN_MS + (long)(rng_next(&crash_rng) % (T_KILL_MAX_MS - T_KILL_MIN_MS));

        tu_sleep_ms(ms);
        du_kill(&e);
        kills++;
        check_after_kill(&e, id, prev, &nprev);
        db_job_state(&e, id, state, sizeof(state));
        fprintf(stderr, "kill %d after %ld ms: %d samples, job %s\n", k + 1, ms, nprev, state);
        if (strcmp(state, "succeeded") == 0)
            break; /* finished before this kill */
        CHECK(strcmp(state, "running") == 0 || strcmp(state, "queued") == 0);
        du_must_start(&e, NULL);
    }
    if (e.pid <= 0)
        du_must_start(&e, NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    check_after_kill(&e, id, prev, &nprev);
    check_complete(&e, id, 2, per_run);
    fprintf(stderr, "%d kills, %.1f s\n", kills, (double)(tu_now_ns() - t0) / 1e9);
    CHECK_INT(kills, >=, T_KILLS / 2);
    du_teardown(&e);
}

/* resume:false: a job the daemon was running when killed ends interrupted,
 * with what it measured kept. */
TEST(sigkill_resume_false_interrupted)
{
    struct du_env e;
    struct t_sample prev[T_SAMPLES_MAX];
    char state[32], sql[256];
    json_t *job;
    sqlite3 *db;
    long long id;
    int nprev = 0;
    double n;

    du_must_setup(&e, MODEL("m1"), NULL);
    sim_preload(&e, one_model);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 8, 10, 0, "none", "\"resume\":false");
    CHECK_INT(du_wait_samples(&e, id, 2, T_JOB_MS), ==, 0);
    du_kill(&e);
    check_after_kill(&e, id, prev, &nprev);
    CHECK_STR(db_job_state(&e, id, state, sizeof(state)), "running");
    du_must_start(&e, NULL);
    job = du_job(&e, id);
    CHECK(job != NULL);
    CHECK_STR(json_string_value(json_object_get(job, "state")), "interrupted");
    CHECK_STR(json_string_value(json_object_get(job, "error_code")), "interrupted");
    json_decref(job);
    tu_sleep_ms(300); /* nothing runs it again */
    check_after_kill(&e, id, prev, &nprev);
    db = du_must_db(&e);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM samples s JOIN runs r ON s.run_id = r.id"
             " WHERE r.job_id = %lld",
             id);
    n = du_q(db, sql);
    CHECK_DBL(n, ==, nprev);
    CHECK_DBL(n, <, 10);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM job_events WHERE job_id = %lld"
             " AND type = 'job_recovered' AND data LIKE '%%interrupted%%'",
             id);
    CHECK_DBL(du_q(db, sql), ==, 1);
    sqlite3_close(db);
    du_teardown(&e);
}

/* Acceptance 2: killed while `lms load` runs (a slow load), the fake lms
 * outlives the daemon; the next start kills it before serving. Killed
 * again between requests, then the job completes with every sample once. */
TEST(sigkill_no_orphans)
{
    struct du_env e;
    struct t_sample prev[T_SAMPLES_MAX];
    pid_t pids[DU_PIDS_MAX];
    char state[32];
    long long id;
    int n = 0, k, nprev = 0;

    du_must_setup(&e, MODEL("m1"), "\"load_delay_ms\":30000");
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, one_model, 8, 3, 1, "lms", NULL);
    /* Wait for `lms load m1 -y` to be running (its argv is logged first). */
    CHECK_INT(tu_wait_file_has(e.argv_log, "\"load\", \"m1\", \"-y\"", 30000), ==, 0);
    tu_sleep_ms(200);
    du_kill(&e);
#ifdef __linux__
    n = du_home_pids(&e, pids, DU_PIDS_MAX);
    CHECK_INT(n, >, 0); /* the load outlived the daemon: an orphan */
#endif
    check_after_kill(&e, id, prev, &nprev);
    du_must_lms_config(&e, NULL); /* loads are quick from now on */
    du_must_start(&e, NULL);
    /* Killed before the API answered. */
    for (k = 0; k < n; k++) {
        if (du_pid_alive(pids[k]))
            check_failed(__FILE__, __LINE__, "pid %ld left by the killed daemon is alive",
                         (long)pids[k]);
    }
    /* Between requests this time. */
    CHECK_INT(du_wait_samples(&e, id, 2, T_JOB_MS), ==, 0);
    du_kill(&e);
    check_after_kill(&e, id, prev, &nprev);
    du_must_start(&e, NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    check_after_kill(&e, id, prev, &nprev);
    check_complete(&e, id, 1, 1 + 2 * 3);
    du_teardown(&e);
}

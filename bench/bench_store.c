/*
 * bench_store.c - what storing one measured request costs the process: the
 * runner's per-sample transaction (db_batch_begin, samples_insert with the
 * ingest trigger, the sample's job event, the fsync'd COMMIT), timed with
 * getrusage (user + system CPU, the fsync's kernel work included) and
 * counted in WAL frames, for two schema versions of one binary side by
 * side, interleaved round by round so both see the same machine load.
 *
 *   bench_store [compare]   BENCH_OLD: the old version (default 17, whose
 *                           ingest trigger is step 12's)
 *
 * Each round, for the old version and the newest: a new database in
 * TMPDIR, one job and run, BENCH_SAMPLES (default 300) samples of a
 * 500-event answer, one transaction each. Prints per round and the medians
 * of BENCH_ROUNDS (default 5): CPU microseconds per sample, and the WAL
 * frames (pages) that one more sample writes.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define STORE_EVENTS 500    /* events of one stored answer */
#define STORE_ROUNDS_MAX 64 /* BENCH_ROUNDS at most */
#define STORE_PATH_MAX 600

/* This process's user + system CPU so far, in microseconds. */
static double
cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Frames in db's WAL now (a passive checkpoint leaves the count). */
static long
wal_frames(struct db *db)
{
    int nlog = -1, nckpt = -1;

    sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
    return nlog;
}

/* One sample as the runner stores it: its row and its event, one commit. */
static int
store_one(struct db *db, int64_t job, int64_t run, int seq, uint32_t *ev)
{
    struct sample_rec s;
    int rc;

    sample_rec_init(&s);
    s.run_id = run;
    s.seq = seq;
    snprintf(s.case_name, sizeof(s.case_name), "answer");
    s.started_at = 1700000000000LL + seq * 600;
    s.ok = 1;
    s.completion_tokens = STORE_EVENTS;
    s.n_events = STORE_EVENTS;
    s.ttft_ms = 20.0 + seq % 7;
    s.decode_tps = 1000.0 - seq % 13;
    s.e2e_tps = 950.0 - seq % 11;
    s.prompt_tps = 500.0 + seq % 5;
    s.event_us = ev;
    s.n_event_us = STORE_EVENTS;
    rc = db_batch_begin(db);
    if (rc == 0)
        rc = samples_insert(db, &s) == -1 ? -1 : 0;
    if (rc == 0)
        rc = events_append(db, job, "sample",
                           json_pack("{s:i, s:f}", "seq", seq, "decode_tps", s.decode_tps),
                           NULL);
    if (db_batch_end(db, rc == 0) == -1)
        rc = -1;
    return rc;
}

/* One round at schema `version`: CPU us and WAL frames per sample. 0 or -1. */
static int
round_at(int version, int n, uint32_t *ev, double *us, double *frames)
{
    char path[STORE_PATH_MAX], err[DB_ERR_MAX], state[16];
    struct db *db;
    int64_t job, run;
    int existing, i, rc = 0;
    double t0;

    snprintf(path, sizeof(path), "%s/store-%d.db", tu_tmpdir(), version);
    db = db_open_version(path, version, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "bench_store: %s\n", err);
        return -1;
    }
    if (jobs_create(db, "bench", "benchmark", "{}", 0, NULL, NULL, &job, &existing) == -1 ||
        runs_open(db, job, 0, "m", "bench", &run, state) == -1) {
        fprintf(stderr, "bench_store: %s\n", db->err);
        db_close(db);
        return -1;
    }
    t0 = cpu_us();
    for (i = 0; i < n && rc == 0; i++)
        rc = store_one(db, job, run, i, ev);
    *us = (cpu_us() - t0) / n;
    /* The frames of one more sample (the WAL restarts after checkpoints,
     * so its count is read around one sample in an emptied WAL). */
    if (rc == 0 && db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") == 0)
        rc = store_one(db, job, run, n, ev);
    *frames = (double)wal_frames(db);
    db_close(db);
    return rc;
}

static int
by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), by_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

TEST(compare)
{
    static uint32_t ev[STORE_EVENTS];
    double us[2][STORE_ROUNDS_MAX], fr[2][STORE_ROUNDS_MAX];
    int vers[2], n = (int)tu_env_long("BENCH_SAMPLES", 300);
    int rounds = (int)tu_env_long("BENCH_ROUNDS", 5), r, k;

    vers[0] = (int)tu_env_long("BENCH_OLD", 17);
    vers[1] = db_schema_version();
    if (rounds < 1 || rounds > STORE_ROUNDS_MAX || n < 1 || vers[0] < 1 || vers[0] > vers[1]) {
        check_failed(__FILE__, __LINE__,
                     "BENCH_OLD 1..%d, BENCH_ROUNDS 1..%d, BENCH_SAMPLES >= 1", vers[1],
                     STORE_ROUNDS_MAX);
    }
    for (k = 0; k < STORE_EVENTS; k++)
        ev[k] = 20000u + (uint32_t)k * 1000u;
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < 2; k++) {
            CHECK_INT(round_at(vers[k], n, ev, &us[k][r], &fr[k][r]), ==, 0);
            printf("round %d schema %d: %.1f us CPU, %.2f WAL frames per sample\n", r + 1,
                   vers[k], us[k][r], fr[k][r]);
        }
    }
    for (k = 0; k < 2; k++)
        printf("median of %d rounds, schema %d: %.1f us CPU, %.2f WAL frames per sample "
               "(%d samples a round)\n",
               rounds, vers[k], median(us[k], rounds), median(fr[k], rounds), n);
}

/* test_storage.c - database open/migrate, jobs, runs, samples, events. */
#include "tests/check.h"
#include "tests/testutil.h"

#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char path[600];
static char err[DB_ERR_MAX];

static struct db *
fresh(void)
{
    struct db *db;

    snprintf(path, sizeof(path), "%s/t.db", tu_tmpdir());
    db = db_open(path, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    return db;
}

static int64_t
scalar(struct db *db, const char *sql)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    int64_t v = -999;

    CHECK(st != NULL);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

TEST(open_creates_newest_schema)
{
    struct db *db = fresh();

    CHECK_INT(db_schema_version(), >=, 2);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'system_samples'"),
              ==, 1);
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
}

TEST(older_schema_is_upgraded_keeping_data)
{
    struct db *db;
    int64_t id;
    int existing;

    snprintf(path, sizeof(path), "%s/old.db", tu_tmpdir());
    db = db_open_version(path, 1, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_user_version(db), ==, 1);
    CHECK_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'system_samples'"),
              ==, 0);
    CHECK_INT(jobs_create(db, "old", "benchmark", "{}", 0, NULL, NULL, &id, &existing), ==, 0);
    db_close(db);

    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'system_samples'"),
              ==, 1);
    CHECK_INT(scalar(db, "SELECT count(*) FROM jobs WHERE name = 'old'"), ==, 1);
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
}

TEST(failed_migration_step_leaves_old_version)
{
    struct db *db;

    snprintf(path, sizeof(path), "%s/half.db", tu_tmpdir());
    db = db_open_version(path, 1, err, sizeof(err));
    CHECK(db != NULL);
    /* Make step 2 fail: its table already exists. */
    CHECK_INT(db_exec(db, "CREATE TABLE system_samples (x)"), ==, 0);
    db_close(db);
    db = db_open(path, err, sizeof(err));
    CHECK(db == NULL);
    CHECK(strstr(err, "version 2") != NULL);
    CHECK(strstr(err, "left at version 1") != NULL);
    db = db_open_version(path, 1, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_user_version(db), ==, 1);
    CHECK_INT(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples_trend'"), ==,
              0);
    db_close(db);
}

TEST(newer_database_is_refused_and_untouched)
{
    struct db *db;
    sqlite3 *h;
    struct stat before, after;
    FILE *f;
    char buf1[4096], buf2[4096];
    size_t n1, n2;

    snprintf(path, sizeof(path), "%s/new.db", tu_tmpdir());
    CHECK_INT(sqlite3_open(path, &h), ==, SQLITE_OK);
    CHECK_INT(sqlite3_exec(h, "CREATE TABLE future (x); PRAGMA user_version = 999;", NULL, NULL,
                           NULL),
              ==, SQLITE_OK);
    sqlite3_close(h);
    CHECK_INT(stat(path, &before), ==, 0);
    f = fopen(path, "rb");
    n1 = fread(buf1, 1, sizeof(buf1), f);
    fclose(f);

    db = db_open(path, err, sizeof(err));
    CHECK(db == NULL);
    CHECK(strstr(err, "newer than this tpsd") != NULL);
    CHECK(strstr(err, "999") != NULL);

    CHECK_INT(stat(path, &after), ==, 0);
    CHECK_INT(after.st_size, ==, before.st_size);
    f = fopen(path, "rb");
    n2 = fread(buf2, 1, sizeof(buf2), f);
    fclose(f);
    CHECK_INT(n1, ==, n2);
    CHECK(memcmp(buf1, buf2, n1) == 0);
    /* Not switched to WAL either. */
    snprintf(buf1, sizeof(buf1), "%s-wal", path);
    CHECK(stat(buf1, &after) == -1);
}

TEST(garbage_file_is_refused)
{
    FILE *f;
    struct db *db;

    snprintf(path, sizeof(path), "%s/garbage.db", tu_tmpdir());
    f = fopen(path, "wb");
    fputs("this is not a database, just text that is long enough to look like a header....", f);
    fclose(f);
    db = db_open(path, err, sizeof(err));
    CHECK(db == NULL);
    CHECK(strstr(err, "not a tpsd database") != NULL || strstr(err, "cannot") != NULL);
}

TEST(wal_and_foreign_keys)
{
    struct db *db = fresh();

    CHECK_INT(scalar(db, "PRAGMA foreign_keys"), ==, 1);
    CHECK_INT(scalar(db, "PRAGMA synchronous"), ==, 2);
    {
        sqlite3_stmt *st = db_prepare(db, "PRAGMA journal_mode");
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
    }
    /* A run for a job that does not exist is refused. */
    CHECK_INT(db_exec(db, "INSERT INTO runs (job_id, model_index, model) VALUES (42, 0, 'm')"),
              ==, -1);
    db_close(db);
}

TEST(job_lifecycle)
{
    struct db *db = fresh();
    struct job_rec j;
    int64_t a, b, c;
    int existing, n;
    char state[JOB_STATE_MAX];
    json_t *list, *counts;

    CHECK_INT(
        jobs_create(db, "a", "benchmark", "{\"models\":[\"x\"]}", 0, NULL, NULL, &a, &existing),
        ==, 0);
    CHECK_INT(jobs_create(db, "b", "benchmark", "{}", 5, NULL, NULL, &b, &existing), ==, 0);
    CHECK_INT(jobs_create(db, "c", "stability", "{}", 0, NULL, NULL, &c, &existing), ==, 0);

    /* Priority first, then oldest. */
    CHECK_INT(jobs_claim_next(db, &j), ==, 0);
    CHECK_INT(j.id, ==, b);
    CHECK_STR(j.state, "running");
    CHECK_INT(j.attempts, ==, 1);
    job_rec_free(&j);
    CHECK_INT(jobs_claim_next(db, &j), ==, 0);
    CHECK_INT(j.id, ==, a);
    CHECK_STR(j.spec, "{\"models\":[\"x\"]}");
    job_rec_free(&j);

    /* Cancel: queued -> cancelled at once; running -> flag; final -> 2. */
    CHECK_INT(jobs_request_cancel(db, c, state), ==, 0);
    CHECK_STR(state, "cancelled");
    CHECK_INT(jobs_claim_next(db, &j), ==, 1);
    CHECK_INT(jobs_cancel_requested(db, a), ==, 0);
    CHECK_INT(jobs_request_cancel(db, a, state), ==, 0);
    CHECK_STR(state, "running");
    CHECK_INT(jobs_cancel_requested(db, a), ==, 1);
    CHECK_INT(jobs_request_cancel(db, 9999, state), ==, 1);

    CHECK_INT(jobs_set_state(db, b, "succeeded", NULL, NULL), ==, 0);
    CHECK_INT(jobs_request_cancel(db, b, state), ==, 2);
    CHECK_STR(state, "succeeded");

    /* Recovery: the running job (a, cancel requested) is cancelled. */
    CHECK_INT(jobs_recover(db, 1, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    CHECK_INT(jobs_get(db, a, &j), ==, 0);
    CHECK_STR(j.state, "cancelled");
    job_rec_free(&j);
    CHECK_INT(jobs_get(db, 12345, &j), ==, 1);

    CHECK_INT(jobs_list(db, NULL, 0, 2, &list), ==, 0);
    CHECK_INT(json_array_size(list), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(list, 0), "id")), ==, c);
    json_decref(list);
    CHECK_INT(jobs_list(db, NULL, b, 10, &list), ==, 0); /* cursor: ids below b */
    CHECK_INT(json_array_size(list), ==, 1);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(list, 0), "id")), ==, a);
    json_decref(list);
    CHECK_INT(jobs_list(db, "succeeded", 0, 10, &list), ==, 0);
    CHECK_INT(json_array_size(list), ==, 1);
    json_decref(list);
    CHECK_INT(jobs_count_by_state(db, &counts), ==, 0);
    CHECK_INT(json_integer_value(json_object_get(counts, "cancelled")), ==, 2);
    CHECK_INT(json_integer_value(json_object_get(counts, "queued")), ==, 0);
    json_decref(counts);
    db_close(db);
}

TEST(recover_without_resume_interrupts)
{
    struct db *db = fresh();
    struct job_rec j;
    int64_t a;
    int existing, n;

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &a, &existing), ==, 0);
    CHECK_INT(jobs_claim_next(db, &j), ==, 0);
    job_rec_free(&j);
    CHECK_INT(jobs_recover(db, 0, &n), ==, 0);
    CHECK_INT(n, ==, 1);
    CHECK_INT(jobs_get(db, a, &j), ==, 0);
    CHECK_STR(j.state, "interrupted");
    CHECK(j.finished_at > 0);
    job_rec_free(&j);
    db_close(db);
}

TEST(idempotency_key)
{
    struct db *db = fresh();
    int64_t a, b;
    int existing;

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, "key-1", "h1", &a, &existing), ==, 0);
    CHECK_INT(existing, ==, 0);
    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, "key-1", "h1", &b, &existing), ==, 0);
    CHECK_INT(existing, ==, 1);
    CHECK_INT(a, ==, b);
    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, "key-1", "h2", &b, &existing), ==, -2);
    CHECK_INT(scalar(db, "SELECT count(*) FROM jobs"), ==, 1);
    db_close(db);
}

TEST(runs_and_samples_round_trip)
{
    struct db *db = fresh();
    int64_t job, run, run2;
    int existing;
    char state[16];
    struct run_facts f;
    struct sample_rec s;
    json_t *js, *one, *runj;
    uint32_t ev[3] = {1000, 2000, 70000};

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(
        runs_open(db, job, 0, "unsloth/MiniMax-M2.1-GGUF@Q4_K_S", "standard", &run, state), ==,
        0);
    CHECK_STR(state, "pending");
    CHECK_INT(
        runs_open(db, job, 0, "unsloth/MiniMax-M2.1-GGUF@Q4_K_S", "standard", &run2, state), ==,
        0);
    CHECK_INT(run, ==, run2);

    run_facts_init(&f);
    f.model_size_bytes = 130000000000LL;
    f.load_ms = 41400.5;
    f.backend = "lms";
    f.host = "{\"os\":\"Darwin\"}";
    CHECK_INT(runs_set_facts(db, run, &f), ==, 0);

    sample_rec_init(&s);
    s.run_id = run;
    s.seq = 3;
    snprintf(s.case_name, sizeof(s.case_name), "short");
    s.started_at = 1700000000000LL;
    s.ttft_us = 200000;
    s.completion_tokens = 100;
    s.decode_tps = 50.25;
    s.ok = 1;
    s.passed = 1;
    s.server_stats = strdup("{\"tokens_per_second\":49.9}");
    s.event_us = malloc(sizeof(ev));
    memcpy(s.event_us, ev, sizeof(ev));
    s.n_event_us = 3;
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK(s.id > 0);
    /* The same (run, seq) is never stored twice. */
    CHECK_INT(samples_insert(db, &s), ==, 1);
    CHECK_INT(samples_count(db, run), ==, 1);
    CHECK_INT(samples_have_seq(db, run, 3), ==, 1);
    CHECK_INT(samples_have_seq(db, run, 4), ==, 0);
    CHECK_INT(scalar(db, "SELECT length(event_us) FROM samples"), ==, 12);
    CHECK_INT(scalar(db, "SELECT unicode(substr(event_us, 9, 1)) FROM samples"), ==,
              70000 & 0xff);
    sample_rec_free(&s);

    CHECK_INT(samples_list(db, run, -1, 10, &js), ==, 0);
    CHECK_INT(json_array_size(js), ==, 1);
    one = json_array_get(js, 0);
    CHECK_STR(json_string_value(json_object_get(one, "case")), "short");
    CHECK_NEAR(json_real_value(json_object_get(one, "decode_tps")), 50.25, 1e-9);
    CHECK(json_is_true(json_object_get(one, "ok")));
    CHECK(json_is_false(json_object_get(one, "warmup")));
    CHECK(json_is_null(json_object_get(one, "e2e_tps")));
    CHECK_NEAR(json_real_value(
                   json_object_get(json_object_get(one, "server_stats"), "tokens_per_second")),
               49.9, 1e-9);
    json_decref(js);

    CHECK_INT(runs_finish(db, run, "succeeded", NULL, NULL), ==, 0);
    CHECK_INT(runs_get_json(db, run, 1, &runj), ==, 0);
    CHECK_STR(json_string_value(json_object_get(runj, "state")), "succeeded");
    CHECK_INT(json_integer_value(json_object_get(runj, "model_size_bytes")), ==,
              130000000000LL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(runj, "host"), "os")),
              "Darwin");
    CHECK_INT(json_array_size(json_object_get(runj, "cases")), ==, 1);
    json_decref(runj);
    CHECK_INT(runs_get_json(db, 999, 0, &runj), ==, 1);
    db_close(db);
}

/* No statement of the connection is mid-step (holding a read open). */
static int
busy_statements(struct db *db)
{
    sqlite3_stmt *st = NULL;
    int n = 0;

    while ((st = sqlite3_next_stmt(db->h, st)) != NULL)
        n += sqlite3_stmt_busy(st) != 0;
    return n;
}

/* The insert and the seq probe are prepared once per connection
 * (db_prepare_cached): they must see a schema changed by another
 * connection, carry no binding of one sample into the next, survive a
 * failed insert, and leave no read open between calls. */
TEST(cached_statements_survive_schema_change_and_errors)
{
    struct db *db = fresh(), *other;
    int64_t job, run;
    int existing;
    char state[16];
    struct sample_rec s;

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "m", "standard", &run, state), ==, 0);
    sample_rec_init(&s);
    s.run_id = run;
    s.seq = 1;
    s.ok = 1;
    s.server_stats = strdup("{\"tokens_per_second\":1}");
    CHECK_INT(samples_insert(db, &s), ==, 0);
    sample_rec_free(&s);
    CHECK_INT(samples_have_seq(db, run, 1), ==, 1);
    CHECK_INT(busy_statements(db), ==, 0);

    other = db_open(path, err, sizeof(err));
    CHECK(other != NULL);
    CHECK_INT(db_exec(other, "CREATE INDEX t_cached ON samples (ok, seq)"), ==, 0);
    db_close(other);

    sample_rec_init(&s); /* no server stats: NULL, not the last sample's */
    s.run_id = run;
    s.seq = 2;
    CHECK_INT(samples_insert(db, &s), ==, 0);
    s.run_id = run + 1000; /* no such run: the foreign key refuses it */
    s.seq = 3;
    CHECK_INT(samples_insert(db, &s), ==, -1);
    s.run_id = run;
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK_INT(samples_have_seq(db, run, 3), ==, 1);
    CHECK_INT(samples_have_seq(db, run, 4), ==, 0);
    CHECK_INT(busy_statements(db), ==, 0);
    CHECK_INT(samples_count(db, run), ==, 3);
    CHECK_INT(scalar(db, "SELECT count(*) FROM samples WHERE server_stats IS NULL"), ==, 2);
    CHECK_INT(events_append(db, job, "sample", json_pack("{s:i}", "seq", 2), NULL), ==, 0);
    CHECK_INT(events_append(db, job, "sample", json_pack("{s:i}", "seq", 3), NULL), ==, 0);
    CHECK_INT(scalar(db, "SELECT count(*) FROM job_events WHERE type = 'sample'"), ==, 2);
    sample_rec_free(&s);
    db_close(db);
}

/* The figures the rollup reads, written by SQL of their own: a database
 * kept at an old schema step lacks the columns later steps added, which
 * samples_insert writes. NaN is stored as NULL, as samples_insert does. */
static int
sample_put(struct db *db, const struct sample_rec *r)
{
    sqlite3_stmt *st = NULL;
    const double fig[] = {r->decode_tps, r->e2e_tps, r->ttft_ms, r->prompt_tps};
    int i, rc;

    if (sqlite3_prepare_v2(db->h,
                           "INSERT INTO samples (run_id, seq, case_name, repetition, warmup,"
                           " started_at, ok, passed, decode_tps, e2e_tps, ttft_ms, prompt_tps)"
                           " VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, r->run_id);
    sqlite3_bind_int64(st, 2, r->seq);
    sqlite3_bind_text(st, 3, r->case_name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->warmup);
    sqlite3_bind_int64(st, 5, r->started_at);
    sqlite3_bind_int(st, 6, r->ok);
    sqlite3_bind_int(st, 7, r->passed);
    for (i = 0; i < 4; i++)
        if (!isnan(fig[i]))
            sqlite3_bind_double(st, 8 + i, fig[i]);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* Sample i of fill_rollups' pattern, in run `run` (shuffled: stored out
 * of start order, as concurrent requests are). */
static void
put_pattern_sample(struct db *db, int64_t run, int i, int shuffled)
{
    struct sample_rec s;

    sample_rec_init(&s);
    s.run_id = run;
    s.seq = i;
    snprintf(s.case_name, sizeof(s.case_name), "%s", i % 3 ? "short" : "long");
    s.started_at = 1700000000000LL + (shuffled ? i * 37 % 90 : i) * 1000;
    s.warmup = i < 4;
    s.ok = i % 7 != 3;
    s.passed = i % 11 == 5 ? 0 : 1;
    s.decode_tps = 40.0 + (double)(i * 37 % 23) * 0.5;
    s.e2e_tps = i % 5 ? 30.0 + (double)(i * 13 % 11) : NAN;
    s.ttft_ms = 100.0 + (double)(i * 29 % 31) * 1.25;
    s.prompt_tps = i % 4 ? 500.0 + (double)(i * 17 % 19) : NAN;
    CHECK_INT(sample_put(db, &s), ==, 0);
    sample_rec_free(&s);
}

/* Two runs of two cases, samples in an order that moves the percentiles,
 * with failures, warm-ups and missing figures; the runs stay open (their
 * end would recompute the percentiles exactly and hide the trigger's). */
static void
fill_rollups_order(struct db *db, int shuffled)
{
    int64_t job, run[2];
    int existing, i;
    char state[16];

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "m1", "standard", &run[0], state), ==, 0);
    CHECK_INT(runs_open(db, job, 1, "m2", "standard", &run[1], state), ==, 0);
    for (i = 0; i < 90; i++)
        put_pattern_sample(db, run[i % 2], i, shuffled);
}

static void
fill_rollups(struct db *db)
{
    fill_rollups_order(db, 0);
}

/* Schema step 12 computes the ingest trigger's live percentiles in one
 * scan: every rollup column equals what step 11's eight scans gave. */
TEST(rollup_trigger_one_scan_equals_eight)
{
    char old_path[600], sql[700];
    struct db *old, *db;

    snprintf(old_path, sizeof(old_path), "%s/v11.db", tu_tmpdir());
    old = db_open_version(old_path, 11, err, sizeof(err));
    CHECK(old != NULL);
    fill_rollups(old);
    db_close(old);
    db = fresh();
    CHECK_INT(db_user_version(db), >=, 12);
    fill_rollups(db);
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS v11", old_path);
    CHECK_INT(db_exec(db, sql), ==, 0);
    CHECK_INT(scalar(db, "SELECT count(*) FROM history_rollup"), ==, 4);
    CHECK_INT(scalar(db, "SELECT count(*) FROM v11.history_rollup"), ==, 4);
    CHECK_INT(scalar(db, "SELECT count(*) FROM history_rollup WHERE decode_tps_p50 IS NOT NULL"
                         " AND e2e_tps_p90 IS NOT NULL AND prompt_tps_p50 IS NOT NULL"),
              ==, 4);
    CHECK_INT(scalar(db, "SELECT count(*) FROM (SELECT * FROM history_rollup"
                         " EXCEPT SELECT * FROM v11.history_rollup)"),
              ==, 0);
    CHECK_INT(scalar(db, "SELECT count(*) FROM (SELECT * FROM v11.history_rollup"
                         " EXCEPT SELECT * FROM history_rollup)"),
              ==, 0);
    db_close(db);
}

/* Remove a database file and its WAL and shared-memory files. */
static void
remove_db(const char *p)
{
    char aux[640];

    unlink(p);
    snprintf(aux, sizeof(aux), "%s-wal", p);
    unlink(aux);
    snprintf(aux, sizeof(aux), "%s-shm", p);
    unlink(aux);
}

/* WAL pages that storing one more sample of fill_rollups' runs writes on
 * db: the WAL emptied, the sample, the WAL's frame count. */
static int64_t
frames_per_sample(struct db *db)
{
    int nlog = -1, nckpt = -1;

    fill_rollups(db);
    CHECK_INT(db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)"), ==, 0);
    put_pattern_sample(db, scalar(db, "SELECT max(id) FROM runs"), 90, 0);
    CHECK_INT(sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt),
              ==, SQLITE_OK);
    return nlog;
}

/*
 * Schema step 18: the ingest trigger no longer sets `at` on every sample,
 * so a sample writes fewer WAL pages than under step 12's trigger (which
 * rewrote the rollup's indexes holding `at`), and the rollups are the
 * same, bit for bit, also when samples are stored out of start order
 * (`at` still the earliest start).
 */
TEST(rollup_trigger_at_moves_only_when_earlier)
{
    char old_path[600], sql[700];
    struct db *old, *db;
    int64_t old_frames, new_frames;

    snprintf(old_path, sizeof(old_path), "%s/v17.db", tu_tmpdir());
    old = db_open_version(old_path, 17, err, sizeof(err));
    CHECK(old != NULL);
    old_frames = frames_per_sample(old);
    db_close(old);
    db = fresh();
    CHECK_INT(db_user_version(db), >=, 18);
    new_frames = frames_per_sample(db);
    fprintf(stderr, "WAL frames per sample: step 12's trigger %lld, step 18's %lld\n",
            (long long)old_frames, (long long)new_frames);
    CHECK_INT(new_frames, >, 0);
    CHECK_INT(new_frames, <, old_frames);
    db_close(db);
    remove_db(old_path);
    remove_db(path);

    old = db_open_version(old_path, 17, err, sizeof(err));
    CHECK(old != NULL);
    fill_rollups_order(old, 1);
    db_close(old);
    db = fresh();
    fill_rollups_order(db, 1);
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS v17", old_path);
    CHECK_INT(db_exec(db, sql), ==, 0);
    CHECK_INT(scalar(db, "SELECT count(*) FROM history_rollup"), ==, 4);
    CHECK_INT(scalar(db, "SELECT count(*) FROM (SELECT * FROM history_rollup"
                         " EXCEPT SELECT * FROM v17.history_rollup)"),
              ==, 0);
    CHECK_INT(scalar(db, "SELECT count(*) FROM (SELECT * FROM v17.history_rollup"
                         " EXCEPT SELECT * FROM history_rollup)"),
              ==, 0);
    /* `at` is each rollup's earliest non-warm-up start, not its first stored. */
    CHECK_INT(scalar(db, "SELECT count(*) FROM history_rollup r WHERE r.at = (SELECT"
                         " min(started_at) FROM samples s WHERE s.run_id = r.run_id"
                         " AND s.case_name = r.case_name AND s.warmup = 0)"),
              ==, 4);
    CHECK_INT(scalar(db, "SELECT count(*) FROM history_rollup r WHERE r.at != (SELECT"
                         " s.started_at FROM samples s WHERE s.run_id = r.run_id AND"
                         " s.case_name = r.case_name AND s.warmup = 0 ORDER BY s.id LIMIT 1)"),
              >, 0);
    db_close(db);
}

TEST(events_resume_after_id)
{
    struct db *db = fresh();
    int64_t job, e1, e2;
    int existing;
    json_t *arr;

    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(events_append(db, job, "run_started", json_pack("{s:s}", "model", "m"), &e1), ==,
              0);
    CHECK_INT(events_append(db, job, "sample", json_pack("{s:f}", "decode_tps", 40.5), &e2), ==,
              0);
    CHECK_INT(events_since(db, job, e1, 100, &arr), ==, 0);
    CHECK_INT(json_array_size(arr), ==, 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "type")), "sample");
    CHECK_NEAR(json_real_value(json_object_get(json_object_get(json_array_get(arr, 0), "data"),
                                               "decode_tps")),
               40.5, 1e-9);
    json_decref(arr);
    db_close(db);
}

TEST(data_version_changes_on_other_connections_commit)
{
    struct db *a = fresh(), *b;
    int64_t v0, v1, id;
    int existing;

    b = db_open(path, err, sizeof(err));
    CHECK(b != NULL);
    v0 = db_data_version(b);
    CHECK_INT(db_data_version(b), ==, v0);
    CHECK_INT(jobs_create(a, "x", "benchmark", "{}", 0, NULL, NULL, &id, &existing), ==, 0);
    v1 = db_data_version(b);
    CHECK_INT(v1, !=, v0);
    db_close(b);
    db_close(a);
}

/* Equal JSON values, reals within 5e-10 relative (jt_num's promise). */
static int
same_json(json_t *a, json_t *b)
{
    const char *k;
    json_t *v;
    size_t i;

    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return fabs(x - y) <= 5e-10 * fmax(fabs(x), fabs(y)) + 1e-300;
    }
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach(a, k, v) if (!same_json(v, json_object_get(b, k))) return 0;
        return 1;
    }
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        json_array_foreach(a, i, v) if (!same_json(v, json_array_get(b, i))) return 0;
        return 1;
    }
    return json_equal(a, b);
}

/* db_row_text writes what db_row_json builds: every type, hostile text, a
 * blob first (skipped), _json columns valid, invalid and boolean. */
TEST(row_text_equals_row_json)
{
    struct db *db = fresh();
    struct jtext b = JTEXT_INIT(1 << 20);
    sqlite3_stmt *st = db_prepare(
        db,
        "SELECT x'00ff' AS blob, 'a\"b\\c' || char(1) || char(31) || 'é/' AS s,"
        " -9223372036854775807 - 1 AS imin, 9223372036854775807 AS imax, 0 AS zero,"
        " -0.5 AS neg, 1e-7 AS tiny, -1e300 AS big, 123.456789012 AS mid, 0.001 AS edge,"
        " 999999999.5 AS edge2, 'not json{' AS bad_json, '{\"k\":[1,2.5,\"x\"]}' AS good_json,"
        " 'true' AS t_json, 'false' AS f_json, NULL AS n, x'01' AS blob2");
    json_t *want, *got;
    json_error_t jerr;

    CHECK(st != NULL);
    CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
    want = db_row_json(st);
    db_row_text(st, &b);
    sqlite3_finalize(st);
    CHECK(!b.full);
    got = json_loads(b.p, 0, &jerr);
    if (got == NULL)
        check_failed(__FILE__, __LINE__, "not JSON (%s): %s", jerr.text, b.p);
    CHECK_INT(json_object_size(got), ==, 15);
    CHECK(same_json(want, got));
    CHECK_STR(json_string_value(json_object_get(got, "bad")), "not json{");
    CHECK(json_is_true(json_object_get(got, "t")));
    CHECK_INT(json_integer_value(json_object_get(got, "imin")), ==, INT64_MIN);
    json_decref(want);
    json_decref(got);
    free(b.p);

    /* A real that is not finite is null (jansson cannot hold it). */
    b = (struct jtext)JTEXT_INIT(1 << 20);
    st = db_prepare(db, "SELECT 1e999 AS inf, -1e999 AS ninf");
    CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
    db_row_text(st, &b);
    sqlite3_finalize(st);
    CHECK_STR(b.p, "{\"inf\":null,\"ninf\":null}");
    free(b.p);

    /* Past max: full, and nothing more is written. */
    b = (struct jtext)JTEXT_INIT(4096);
    for (int i = 0; i < 1000; i++)
        jt_lit(&b, "0123456789");
    CHECK(b.full);
    CHECK(b.len < 4096);
    free(b.p);
    db_close(db);
}

/* GET /v1/runs/{id}/samples pages: next_after is the last seq of a full
 * page, null after the last; the text holds what samples_list returns. */
TEST(samples_page_text_pages)
{
    struct db *db = fresh();
    int64_t job, run, seq;
    int existing, i;
    char state[16];
    char *text;
    size_t len;
    json_t *page, *list;

    CHECK_INT(jobs_create(db, "p", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "m", "standard", &run, state), ==, 0);
    for (i = 0; i < 5; i++) {
        struct sample_rec s;

        sample_rec_init(&s);
        s.run_id = run;
        s.seq = i;
        snprintf(s.case_name, sizeof(s.case_name), "c\"%d", i);
        s.started_at = 1700000000000LL + i;
        s.decode_tps = 40 + i / 3.0;
        s.ok = i != 2;
        if (i == 4)
            s.server_stats = strdup("{\"tokens_per_second\":41.5}");
        CHECK_INT(samples_insert(db, &s), ==, 0);
        sample_rec_free(&s);
    }
    seq = -1;
    for (i = 0; i < 3; i++) {
        CHECK_INT(samples_page_text(db, run, seq, 2, &text, &len), ==, 0);
        CHECK_INT(strlen(text), ==, len);
        page = json_loads(text, 0, NULL);
        CHECK(page != NULL);
        CHECK_INT(samples_list(db, run, seq, 2, &list), ==, 0);
        CHECK(same_json(list, json_object_get(page, "samples")));
        CHECK_INT(json_array_size(list), ==, i < 2 ? 2 : 1);
        if (i < 2) {
            CHECK_INT(json_integer_value(json_object_get(page, "next_after")), ==, 2 * i + 1);
            seq = 2 * i + 1;
        } else {
            CHECK(json_is_null(json_object_get(page, "next_after")));
            CHECK_NEAR(json_number_value(json_object_get(
                           json_object_get(json_array_get(list, 0), "server_stats"),
                           "tokens_per_second")),
                       41.5, 1e-12);
        }
        json_decref(list);
        json_decref(page);
        free(text);
    }
    /* An empty page: no samples after the last, next_after null. */
    CHECK_INT(samples_page_text(db, run, 4, 2, &text, &len), ==, 0);
    CHECK_STR(text, "{\"samples\":[],\"next_after\":null}");
    free(text);
    db_close(db);
}

/* db_batch_begin: the writes inside commit once at db_batch_end; a write
 * that fails inside is undone alone (its savepoint), the others stay; a
 * batch ended with rollback leaves nothing. Seen from a second connection. */
TEST(batch_commits_once_and_undoes_a_failed_write_alone)
{
    struct db *db = fresh(), *other;
    int64_t job, run, job2;
    int existing;
    char state[16];

    other = db_open(path, err, sizeof(err));
    CHECK(other != NULL);
    CHECK_INT(db_batch_begin(db), ==, 0);
    CHECK_INT(jobs_create(db, "a", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "m", "standard", &run, state), ==, 0);
    /* No such job: the foreign key refuses the run; only this write is undone. */
    CHECK_INT(runs_open(db, job + 100, 0, "m", "standard", &run, state), ==, -1);
    CHECK_INT(scalar(db, "SELECT count(*) FROM runs"), ==, 1);
    CHECK_INT(scalar(other, "SELECT count(*) FROM jobs"), ==, 0); /* not committed yet */
    CHECK_INT(db_batch_end(db, 1), ==, 0);
    CHECK_INT(scalar(other, "SELECT count(*) FROM jobs"), ==, 1);
    CHECK_INT(scalar(other, "SELECT count(*) FROM runs"), ==, 1);

    CHECK_INT(db_batch_begin(db), ==, 0);
    CHECK_INT(jobs_create(db, "b", "benchmark", "{}", 0, NULL, NULL, &job2, &existing), ==, 0);
    CHECK_INT(db_batch_end(db, 0), ==, 0);
    CHECK_INT(scalar(other, "SELECT count(*) FROM jobs"), ==, 1);
    /* Outside a batch each write commits on its own again. */
    CHECK_INT(jobs_create(db, "c", "benchmark", "{}", 0, NULL, NULL, &job2, &existing), ==, 0);
    CHECK_INT(scalar(other, "SELECT count(*) FROM jobs"), ==, 2);
    db_close(other);
    db_close(db);
}

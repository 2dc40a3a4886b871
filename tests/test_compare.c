/*
 * test_compare.c - A/B comparison with confidence: the selectors, the
 * bootstrap rows (daemon/compare.h), the table from a real SQLite file
 * (daemon/compare_table.h over storage/cmpdata.h), GET /v1/compare on a
 * real `tpsd serve` on loopback, and `tpsd compare` as a subprocess.
 *
 * The data are synthetic with a known truth: per request, figure =
 * level * (1 + 0.02 * N(0, 1)) from rng.h's normal generator, stored
 * through storage/ as the runner stores them, with failed requests and
 * warm-ups mixed in (they must be left out). Two configurations 5% apart
 * in decode speed must come out significant with an interval holding 5%;
 * identical ones must come out "no significant difference" for at least
 * 95 of 100 seeds (the interval is a 95% one).
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "common/rng.h"
#include "daemon/compare.h"
#include "daemon/compare_table.h"
#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define T_NOISE 0.02 /* per-request relative noise */
#define T_N 20       /* requests per case and side */
#define T_SEEDS 100
#define T_T0 1764547200000LL /* 2025-12-01T00:00:00Z */
#define T_DAY 86400000LL
/* tpsd compare's exit statuses (daemon/cli/cmd.h) */
#define EXIT_WORK_FAILED_T 1
#define EXIT_USAGE_T 2
#define EXIT_UNAVAILABLE_T 3

/* ---- synthetic data in a real database ---- */

struct t_cfg {
    double decode, e2e, ttft, prompt; /* the levels of the figures */
};

static const struct t_cfg base_cfg = {50.0, 40.0, 300.0, 900.0};

static struct db *
t_open(const char *path)
{
    struct db *db = du_db_open(path);

    /* Thousands of small transactions: no fsync each (a scratch file). */
    CHECK_INT(db_exec(db, "PRAGMA synchronous=OFF"), ==, 0);
    return db;
}

/* A new scratch database, c.db in a fresh folder (its path into path). */
static struct db *
t_scratch(char *path, size_t len)
{
    snprintf(path, len, "%s/c.db", tu_tmpdir());
    return t_open(path);
}

/* A job with one run per model, each with `n` ok requests per case of
 * `cases` (NULL-terminated) at the levels of c with noise from r, plus a
 * warm-up and a failed request per case with absurd figures, started at
 * t0 + i seconds. Returns the job id; run ids in runs[] (may be NULL). */
static int64_t
t_job(struct db *db, const char *const *models, const char *const *cases, int n,
      const struct t_cfg *c, struct rng *r, int64_t t0, int64_t *runs)
{
    struct sample_rec *recs;
    int64_t job, run;
    char state[16];
    size_t nrec, stored = 0;
    int existing, m, k, i, seq;

    CHECK_INT(jobs_create(db, "cmp", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    for (m = 0; models[m] != NULL; m++) {
        CHECK_INT(runs_open(db, job, m, models[m], "t", &run, state), ==, 0);
        if (runs != NULL)
            runs[m] = run;
        for (k = 0; cases[k] != NULL; k++)
            ;
        recs = calloc((size_t)k * (size_t)(n + 2), sizeof(*recs));
        CHECK(recs != NULL);
        seq = 0;
        nrec = 0;
        for (k = 0; cases[k] != NULL; k++) {
            for (i = -2; i < n; i++) {
                struct sample_rec *s = &recs[nrec++];

                sample_rec_init(s);
                s->run_id = run;
                s->seq = seq++;
                snprintf(s->case_name, sizeof(s->case_name), "%s", cases[k]);
                s->started_at = t0 + 1000LL * seq;
                s->warmup = i == -2;
                s->ok = i != -1;
                if (i < 0) { /* a warm-up or a failure: never compared */
                    s->decode_tps = s->e2e_tps = s->prompt_tps = 1e6;
                    s->ttft_ms = 1e-3;
                    if (!s->ok)
                        snprintf(s->error_code, sizeof(s->error_code), "http_500");
                } else {
                    s->decode_tps = c->decode * (1 + T_NOISE * rng_normal(r));
                    s->e2e_tps = c->e2e * (1 + T_NOISE * rng_normal(r));
                    s->ttft_ms = c->ttft * (1 + T_NOISE * rng_normal(r));
                    s->prompt_tps = c->prompt * (1 + T_NOISE * rng_normal(r));
                }
            }
        }
        /* One transaction per run (the runner commits each sample alone;
         * the rows are the same). */
        CHECK_INT(samples_insert_many(db, recs, nrec, &stored), ==, 0);
        CHECK_INT(stored, ==, nrec);
        for (i = 0; i < (int)nrec; i++)
            sample_rec_free(&recs[i]);
        free(recs);
        CHECK_INT(runs_finish(db, run, "succeeded", NULL, NULL), ==, 0);
    }
    CHECK_INT(jobs_set_state(db, job, "succeeded", NULL, NULL), ==, 0);
    return job;
}

static const char *const one_model[] = {"org/m", NULL};
static const char *const two_cases[] = {"short", "long", NULL};

/* compare_table_build or fail; the answer (caller decrefs). */
static json_t *
t_compare(struct db *db, const char *a, const char *b, const char *case_name, uint64_t seed,
          unsigned figures)
{
    struct compare_req q;
    char err[1024] = "";
    json_t *out = NULL;
    enum compare_status st;

    memset(&q, 0, sizeof(q));
    compare_opts_default(&q.opts);
    q.opts.seed = seed;
    q.a = a;
    q.b = b;
    q.case_name = case_name;
    q.figures = figures;
    st = compare_table_build(db, &q, &out, err, sizeof(err));
    if (st != COMPARE_OK)
        check_failed(__FILE__, __LINE__, "compare %s %s: status %d: %s / %s", a, b, (int)st,
                     err, db->err);
    return out;
}

/* The row of (case, figure) in a compare answer; fails when absent. */
static json_t *
t_row(json_t *ans, const char *case_name, const char *figure)
{
    json_t *row;
    size_t i;

    json_array_foreach(json_object_get(ans, "rows"), i, row)
    {
        if (strcmp(json_string_value(json_object_get(row, "case")), case_name) == 0 &&
            strcmp(json_string_value(json_object_get(row, "figure")), figure) == 0)
            return row;
    }
    check_failed(__FILE__, __LINE__, "no row %s/%s", case_name, figure);
}

static double
t_num(json_t *row, const char *k)
{
    json_t *v = json_object_get(row, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *
t_str(json_t *row, const char *k)
{
    const char *s = json_string_value(json_object_get(row, k));

    return s != NULL ? s : "";
}

/* The sample median of the ok, non-warm-up values as the test stored them,
 * recomputed independently from the database (SQL, sorted in C). */
static double
t_median_sql(struct db *db, int64_t job, const char *case_name, const char *col)
{
    char sql[512];
    double v[4 * T_N];
    sqlite3_stmt *st;
    int n = 0, i, j;

    snprintf(sql, sizeof(sql),
             "SELECT s.%s FROM samples s JOIN runs r ON r.id = s.run_id WHERE r.job_id = %lld"
             " AND s.case_name = '%s' AND s.ok = 1 AND s.warmup = 0",
             col, (long long)job, case_name);
    CHECK(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && n < 4 * T_N)
        v[n++] = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    CHECK(n > 0);
    for (i = 1; i < n; i++) { /* insertion sort: independent of stats.c */
        double x = v[i];
        for (j = i; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- selectors ---- */

TEST(selector_parse)
{
    struct compare_sel s;
    char err[COMPARE_ERR_MAX];

    CHECK_INT(compare_sel_parse("job:12", &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.kind, ==, COMPARE_SEL_JOB);
    CHECK_INT(s.id, ==, 12);
    CHECK_INT(compare_sel_parse("run:34", &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.kind, ==, COMPARE_SEL_RUN);
    CHECK_INT(s.id, ==, 34);
    CHECK_INT(compare_sel_parse("model:org/m", &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.kind, ==, COMPARE_SEL_MODEL);
    CHECK_STR(s.model, "org/m");
    CHECK_INT(s.since, ==, 0);
    CHECK_INT(s.until, ==, 0);
    /* '@' in a key: the range is the part after the last '@', only with "..". */
    CHECK_INT(compare_sel_parse("model:org/m@q4_k_m", &s, err, sizeof(err)), ==, 0);
    CHECK_STR(s.model, "org/m@q4_k_m");
    CHECK_INT(compare_sel_parse("model:org/m@q4_k_m@..", &s, err, sizeof(err)), ==, 0);
    CHECK_STR(s.model, "org/m@q4_k_m");
    CHECK_INT(s.since, ==, 0);
    CHECK_INT(
        compare_sel_parse("model:org/m@2025-12-01..2025-12-02T06:00:00Z", &s, err, sizeof(err)),
        ==, 0);
    CHECK_STR(s.model, "org/m");
    CHECK_INT(s.since, ==, T_T0);
    CHECK_INT(s.until, ==, T_T0 + T_DAY + 6 * 3600000LL);
    CHECK_INT(compare_sel_parse("model:m@1000..", &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.since, ==, 1000);
    CHECK_INT(s.until, ==, 0);
    CHECK_INT(compare_sel_parse("model:m@2024-02-29..2024-03-01", &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.until - s.since, ==, T_DAY);
    {
        static const char *const bad[] = {
            "",
            "job:",
            "job:0",
            "job:-1",
            "job:12x",
            "job: 12",
            "run:1.5",
            "jobs:1",
            "12",
            "model:",
            "model:@..",
            "model:m@2025-13-01..",
            "model:m@2025-02-30..",
            "model:m@2023-02-29..",
            "model:m@2025-12-01T25:00:00Z..",
            "model:m@x..y",
            "model:m@2025-12-02..2025-12-01",
            "model:m@5..5",
            "model:m@2025-12-01T00:00Z..",
            NULL,
        };
        int i;

        for (i = 0; bad[i] != NULL; i++) {
            err[0] = '\0';
            if (compare_sel_parse(bad[i], &s, err, sizeof(err)) != -1)
                check_failed(__FILE__, __LINE__, "\"%s\" parsed", bad[i]);
            CHECK(err[0] != '\0');
        }
    }
}

/* ---- the statistics on a real database ---- */

/* B 5% faster in decode (and 10% slower to first token) than A, 2% noise
 * per request: decode significant "faster" with the interval holding 5%,
 * TTFT "slower" (lower is faster), e2e and prefill the same levels. The
 * medians are those of the stored samples. Over 100 seeds: always
 * significant, and the 95% interval holds the true 5% in >= 90 of them. */
TEST(five_percent_apart)
{
    char path[TU_PATH_MAX], a[32], b[32];
    struct t_cfg fast = base_cfg;
    struct db *db;
    struct rng r;
    int seed, covered = 0;

    db = t_scratch(path, sizeof(path));
    fast.decode *= 1.05;
    fast.ttft *= 1.10;
    for (seed = 1; seed <= T_SEEDS; seed++) {
        int64_t ja, jb;
        json_t *ans, *row;

        rng_seed(&r, (uint64_t)seed);
        ja = t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL);
        jb = t_job(db, one_model, two_cases, T_N, &fast, &r, T_T0, NULL);
        snprintf(a, sizeof(a), "job:%lld", (long long)ja);
        snprintf(b, sizeof(b), "job:%lld", (long long)jb);
        /* Decode and TTFT only (a row's interval does not depend on the
         * others: see reproducible). */
        ans = t_compare(db, a, b, NULL, (uint64_t)seed,
                        1u << compare_figure_index("decode_tps") |
                            1u << compare_figure_index("ttft_ms"));
        CHECK_STR(t_str(ans, "match"), "case");
        CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 2 * 2);
        row = t_row(ans, "long", "decode_tps");
        CHECK_STR(t_str(row, "verdict"), "faster");
        CHECK_INT(json_integer_value(json_object_get(row, "n_a")), ==, T_N);
        CHECK_INT(json_integer_value(json_object_get(row, "n_b")), ==, T_N);
        CHECK_DBL(t_num(row, "ci_low_pct"), >, 0);
        CHECK_DBL(t_num(row, "ci_low_pct"), <=, t_num(row, "diff_pct"));
        CHECK_DBL(t_num(row, "diff_pct"), <=, t_num(row, "ci_high_pct"));
        covered += t_num(row, "ci_low_pct") <= 5.0 && 5.0 <= t_num(row, "ci_high_pct");
        if (seed == 1) {
            /* The seed-1 interval must hold 5%, and its medians are the data's. */
            CHECK_DBL(t_num(row, "ci_low_pct"), <=, 5.0);
            CHECK_DBL(t_num(row, "ci_high_pct"), >=, 5.0);
            CHECK_NEAR(t_num(row, "median_a"), t_median_sql(db, ja, "long", "decode_tps"),
                       1e-9);
            CHECK_NEAR(t_num(row, "median_b"), t_median_sql(db, jb, "long", "decode_tps"),
                       1e-9);
            CHECK_NEAR(t_num(row, "diff_pct"),
                       100 * (t_num(row, "median_b") / t_num(row, "median_a") - 1), 1e-9);
        }
        CHECK_STR(t_str(t_row(ans, "short", "decode_tps"), "verdict"), "faster");
        CHECK_STR(t_str(t_row(ans, "short", "ttft_ms"), "verdict"), "slower");
        CHECK_STR(t_str(t_row(ans, "long", "ttft_ms"), "verdict"), "slower");
        json_decref(ans);
    }
    fprintf(stderr, "5%% apart: the 95%% interval held 5%% for %d of %d seeds\n", covered,
            T_SEEDS);
    CHECK_INT(covered, >=, 90);
    db_close(db);
}

/* Two identical configurations: decode_tps "no significant difference" for
 * at least 95 of 100 seeds (data and bootstrap seeded alike). */
TEST(identical_no_difference)
{
    char path[TU_PATH_MAX], a[32], b[32];
    struct db *db;
    struct rng r;
    int seed, same = 0, other = 0;

    db = t_scratch(path, sizeof(path));
    for (seed = 1; seed <= T_SEEDS; seed++) {
        json_t *ans, *row;
        const char *v;

        rng_seed(&r, 1000u + (uint64_t)seed);
        snprintf(a, sizeof(a), "job:%lld",
                 (long long)t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL));
        snprintf(b, sizeof(b), "job:%lld",
                 (long long)t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL));
        ans = t_compare(db, a, b, "long", (uint64_t)seed,
                        1u << compare_figure_index("decode_tps"));
        CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 1);
        row = t_row(ans, "long", "decode_tps");
        v = t_str(row, "verdict");
        if (strcmp(v, "no_significant_difference") == 0) {
            same++;
            CHECK_DBL(t_num(row, "ci_low_pct"), <=, 0);
            CHECK_DBL(t_num(row, "ci_high_pct"), >=, 0);
        } else {
            CHECK(strcmp(v, "faster") == 0 || strcmp(v, "slower") == 0);
            other++;
        }
        json_decref(ans);
    }
    fprintf(stderr, "identical: no significant difference for %d of %d seeds\n", same, T_SEEDS);
    CHECK_INT(same + other, ==, T_SEEDS);
    CHECK_INT(same, >=, 95);
    db_close(db);
}

/* Same seed, same samples: the same answer to the last bit; another seed:
 * another interval around the same medians; one figure asked alone: the
 * same row as in the full table (each row has its own stream). */
TEST(reproducible)
{
    char path[TU_PATH_MAX], a[32], b[32], *t1, *t2, *t3;
    struct compare_req q;
    struct t_cfg fast = base_cfg;
    char err[512];
    json_t *x, *y, *z, *only = NULL;
    struct db *db;
    struct rng r;

    db = t_scratch(path, sizeof(path));
    rng_seed(&r, 7);
    fast.decode *= 1.03;
    snprintf(a, sizeof(a), "job:%lld",
             (long long)t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL));
    snprintf(b, sizeof(b), "job:%lld",
             (long long)t_job(db, one_model, two_cases, T_N, &fast, &r, T_T0, NULL));
    x = t_compare(db, a, b, NULL, 42, 0);
    y = t_compare(db, a, b, NULL, 42, 0);
    z = t_compare(db, a, b, NULL, 43, 0);
    t1 = json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT);
    t2 = json_dumps(y, JSON_SORT_KEYS | JSON_COMPACT);
    t3 = json_dumps(z, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR(t1, t2);
    CHECK(strcmp(t1, t3) != 0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(x, "method"), "seed")), ==,
              42);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(x, "method"), "resamples")),
              ==, COMPARE_RESAMPLES_DEFAULT);
    CHECK_DBL(t_num(t_row(x, "long", "decode_tps"), "ci_low_pct"), !=,
              t_num(t_row(z, "long", "decode_tps"), "ci_low_pct"));
    CHECK_DBL(t_num(t_row(x, "long", "decode_tps"), "median_a"), ==,
              t_num(t_row(z, "long", "decode_tps"), "median_a"));
    memset(&q, 0, sizeof(q));
    compare_opts_default(&q.opts);
    q.opts.seed = 42;
    q.a = a;
    q.b = b;
    q.case_name = "long";
    CHECK_INT(compare_figures_parse("decode_tps", &q.figures, err, sizeof(err)), ==, 0);
    CHECK_INT(compare_table_build(db, &q, &only, err, sizeof(err)), ==, COMPARE_OK);
    CHECK_INT(json_array_size(json_object_get(only, "rows")), ==, 1);
    CHECK(json_equal(t_row(only, "long", "decode_tps"), t_row(x, "long", "decode_tps")));
    free(t1);
    free(t2);
    free(t3);
    json_decref(x);
    json_decref(y);
    json_decref(z);
    json_decref(only);
    db_close(db);
}

/* Fewer than COMPARE_N_MIN requests on a side: no interval, no verdict. */
TEST(insufficient_data)
{
    char path[TU_PATH_MAX], a[32], b[32];
    struct db *db;
    struct rng r;
    json_t *ans, *row;

    db = t_scratch(path, sizeof(path));
    rng_seed(&r, 3);
    snprintf(a, sizeof(a), "job:%lld",
             (long long)t_job(db, one_model, two_cases, COMPARE_N_MIN - 1, &base_cfg, &r, T_T0,
                              NULL));
    snprintf(b, sizeof(b), "job:%lld",
             (long long)t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL));
    ans = t_compare(db, a, b, NULL, 1, 0);
    row = t_row(ans, "short", "decode_tps");
    CHECK_STR(t_str(row, "verdict"), "insufficient_data");
    CHECK(json_is_null(json_object_get(row, "ci_low_pct")));
    CHECK(json_is_null(json_object_get(row, "diff_pct")));
    CHECK_INT(json_integer_value(json_object_get(row, "n_a")), ==, COMPARE_N_MIN - 1);
    CHECK(json_is_number(json_object_get(row, "median_a")));
    json_decref(ans);
    db_close(db);
}

/* Jobs of two models each: rows by (model, case) over the shared models;
 * what one side alone holds is listed as unmatched. A run against a job:
 * the run's one model is found in the job. */
TEST(match_by_model)
{
    static const char *const ab[] = {"org/a", "org/b", NULL};
    static const char *const ac[] = {"org/a", "org/c", NULL};
    char path[TU_PATH_MAX], a[32], b[32], ra[32];
    struct t_cfg fast = base_cfg;
    int64_t runs[2];
    struct db *db;
    struct rng r;
    json_t *ans, *row, *u;
    size_t i;

    db = t_scratch(path, sizeof(path));
    rng_seed(&r, 5);
    fast.decode *= 1.2;
    snprintf(a, sizeof(a), "job:%lld",
             (long long)t_job(db, ab, two_cases, T_N, &base_cfg, &r, T_T0, runs));
    snprintf(ra, sizeof(ra), "run:%lld", (long long)runs[0]);
    snprintf(b, sizeof(b), "job:%lld",
             (long long)t_job(db, ac, two_cases, T_N, &fast, &r, T_T0, NULL));
    ans = t_compare(db, a, b, NULL, 1, 0);
    CHECK_STR(t_str(ans, "match"), "model_case");
    CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 2 * COMPARE_NFIG);
    json_array_foreach(json_object_get(ans, "rows"), i, row)
    {
        CHECK_STR(t_str(row, "model_a"), "org/a");
        CHECK_STR(t_str(row, "model_b"), "org/a");
    }
    CHECK_STR(t_str(t_row(ans, "short", "decode_tps"), "verdict"), "faster");
    CHECK_INT(json_array_size(json_object_get(ans, "unmatched")), ==, 4);
    json_array_foreach(json_object_get(ans, "unmatched"), i, u)
        CHECK_STR(t_str(u, "model"), strcmp(t_str(u, "side"), "a") == 0 ? "org/b" : "org/c");
    json_decref(ans);
    ans = t_compare(db, ra, b, NULL, 1, 0);
    CHECK_STR(t_str(ans, "match"), "model_case");
    CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 2 * COMPARE_NFIG);
    json_decref(ans);
    db_close(db);
}

/* model:KEY@SINCE..UNTIL: one model's history before and after a change
 * (a day of runs at the old speed, a day 8% faster). */
TEST(model_time_ranges)
{
    char path[TU_PATH_MAX];
    struct t_cfg fast = base_cfg;
    struct db *db;
    struct rng r;
    json_t *ans, *row;
    int i;

    db = t_scratch(path, sizeof(path));
    rng_seed(&r, 11);
    fast.decode *= 1.08;
    for (i = 0; i < 3; i++) {
        t_job(db, one_model, two_cases, 8, &base_cfg, &r, T_T0 + i * 3600000LL, NULL);
        t_job(db, one_model, two_cases, 8, &fast, &r, T_T0 + T_DAY + i * 3600000LL, NULL);
    }
    ans = t_compare(db, "model:org/m@2025-12-01..2025-12-02", "model:org/m@2025-12-02..", NULL,
                    1, 0);
    row = t_row(ans, "short", "decode_tps");
    CHECK_INT(json_integer_value(json_object_get(row, "n_a")), ==, 24);
    CHECK_INT(json_integer_value(json_object_get(row, "n_b")), ==, 24);
    CHECK_STR(t_str(row, "verdict"), "faster");
    CHECK_DBL(t_num(row, "ci_low_pct"), <=, 8.0);
    CHECK_DBL(t_num(row, "ci_high_pct"), >=, 8.0);
    json_decref(ans);
    /* The same day on both sides: no difference. */
    ans = t_compare(db, "model:org/m@..1764552600000", "model:org/m@1764552600000..2025-12-02",
                    NULL, 1, 0);
    CHECK_STR(t_str(t_row(ans, "long", "decode_tps"), "verdict"), "no_significant_difference");
    json_decref(ans);
    db_close(db);
}

/* ---- over HTTP: tpsd serve on loopback, and the tpsd compare verb ---- */

/* A daemon on a database holding: job 1 (A) and job 2 (B, 5% faster
 * decode), job 3 with no sample at all. */
static void
t_daemon(struct du_env *e)
{
    struct t_cfg fast = base_cfg;
    struct db *db;
    struct rng r;
    int64_t job;
    int existing;

    du_must_setup(e, "", NULL);
    db = t_open(e->db);
    rng_seed(&r, 1);
    fast.decode *= 1.05;
    CHECK_INT(t_job(db, one_model, two_cases, T_N, &base_cfg, &r, T_T0, NULL), ==, 1);
    CHECK_INT(t_job(db, one_model, two_cases, T_N, &fast, &r, T_T0 + T_DAY, NULL), ==, 2);
    CHECK_INT(jobs_create(db, "empty", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==,
              0);
    CHECK_INT(job, ==, 3);
    db_close(db);
    du_must_start(e, NULL);
}

/* GET path: CHECKs the status and, for errors, the error code. */
static json_t *
t_get(struct du_env *e, const char *path, long want, const char *code)
{
    json_t *body = NULL;
    long st = du_call(e, "GET", path, NULL, NULL, &body);

    if (st != want)
        check_failed(__FILE__, __LINE__, "GET %s: status %ld, want %ld", path, st, want);
    if (code != NULL)
        CHECK_STR(json_string_value(json_object_get(json_object_get(body, "error"), "code")),
                  code);
    return body;
}

TEST(http_compare)
{
    struct du_env e;
    json_t *ans, *row, *again;

    t_daemon(&e);
    ans = t_get(&e, "/v1/compare?a=job:1&b=job:2", 200, NULL);
    row = t_row(ans, "long", "decode_tps");
    CHECK_STR(t_str(row, "verdict"), "faster");
    CHECK_DBL(t_num(row, "ci_low_pct"), <=, 5.0);
    CHECK_DBL(t_num(row, "ci_high_pct"), >=, 5.0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(ans, "method"), "seed")), ==,
              COMPARE_SEED_DEFAULT);
    /* The same answer the library gives on the same file, and again. */
    again = t_get(&e, "/v1/compare?a=job%3A1&b=job%3A2&seed=1&resamples=2000&level=0.95", 200,
                  NULL);
    CHECK(json_equal(ans, again));
    json_decref(again);
    json_decref(ans);
    ans =
        t_get(&e,
              "/v1/compare?a=model:org%2Fm%40..2025-12-02&b=model:org%2Fm%402025-12-02..&case="
              "short&figure=decode_tps,ttft_ms&resamples=500&seed=9",
              200, NULL);
    CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 2);
    CHECK_STR(t_str(t_row(ans, "short", "decode_tps"), "verdict"), "faster");
    CHECK_INT(json_integer_value(json_object_get(json_object_get(ans, "method"), "resamples")),
              ==, 500);
    json_decref(ans);
    du_teardown(&e);
}

TEST(http_bad_input)
{
    static const struct {
        const char *path;
        long status;
        const char *code;
    } cases[] = {
        {"/v1/compare?a=job:1", 400, "bad_request"},
        {"/v1/compare?b=job:1", 400, "bad_request"},
        {"/v1/compare?a=job:99&b=job:1", 404, "not_found"},
        {"/v1/compare?a=job:1&b=run:99", 404, "not_found"},
        {"/v1/compare?a=model:nope&b=job:1", 404, "not_found"},
        {"/v1/compare?a=job:3&b=job:1", 404, "no_samples"},
        {"/v1/compare?a=job:1&b=job:3", 404, "no_samples"},
        {"/v1/compare?a=job:1&b=job:2&case=nope", 404, "no_samples"},
        {"/v1/compare?a=model:org%2Fm%402030-01-01..&b=job:1", 404, "no_samples"},
        {"/v1/compare?a=job:1&b=job:2&figure=tps", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&figure=", 400, "bad_request"},
        {"/v1/compare?a=job:x&b=job:2", 400, "bad_request"},
        {"/v1/compare?a=jobs:1&b=job:2", 400, "bad_request"},
        {"/v1/compare?a=model:m%402025-13-01..&b=job:2", 400, "bad_request"},
        {"/v1/compare?a=model:m%402025-12-02..2025-12-01&b=job:2", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&resamples=10", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&resamples=1000000", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&seed=-1", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&level=1", 400, "bad_request"},
        {"/v1/compare?a=job:1&b=job:2&level=abc", 400, "bad_request"},
    };
    struct du_env e;
    size_t i;

    t_daemon(&e);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *body = t_get(&e, cases[i].path, cases[i].status, cases[i].code);
        CHECK(json_string_value(json_object_get(json_object_get(body, "error"), "message")) !=
              NULL);
        json_decref(body);
    }
    {
        long st = du_call(&e, "POST", "/v1/compare?a=job:1&b=job:2", "{}", NULL, NULL);
        CHECK_INT(st, ==, 405);
    }
    /* Still serving. */
    json_decref(t_get(&e, "/v1/compare?a=job:1&b=job:2&case=short", 200, NULL));
    du_teardown(&e);
}

/* Run `tpsd compare ARGS... --url URL`; exit code, stdout in *out. */
static int
t_cli(struct du_env *e, const char *const *args, char **out)
{
    char *argv[24], outp[TU_PATH_MAX + 16];
    int n = 0, code = -1, i;

    argv[n++] = getenv("TPSD_BIN");
    argv[n++] = "compare";
    for (i = 0; args[i] != NULL && n < 20; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = "--url";
    argv[n++] = e->url;
    argv[n] = NULL;
    snprintf(outp, sizeof(outp), "%s/cli.out", e->dir);
    CHECK_INT(tu_run(argv, outp, NULL, 60000, &code), ==, 0);
    CHECK_INT(tu_read_file(outp, out, NULL), ==, 0);
    return code;
}

TEST(cli_compare)
{
    static const char *const table[] = {"job:1", "job:2", NULL};
    static const char *const md[] = {"job:1",  "job:2", "--format", "md",
                                     "--case", "long",  NULL};
    static const char *const js[] = {"job:1", "job:2", "--json", "--seed", "5", NULL};
    static const char *const notfound[] = {"job:99", "job:2", NULL};
    static const char *const nosamples[] = {"job:3", "job:2", NULL};
    static const char *const badsel[] = {"job:x", "job:2", NULL};
    static const char *const badfig[] = {"job:1", "job:2", "--figure", "tps", NULL};
    static const char *const one[] = {"job:1", NULL};
    static const char *const badfmt[] = {"job:1", "job:2", "--format", "csv", NULL};
    /* Selectors that find nothing (exit 4), bad arguments (exit 2). */
    static const struct {
        const char *const *args;
        int code;
    } refused[] = {
        {notfound, EXIT_WORK_FAILED_T},
        {nosamples, EXIT_WORK_FAILED_T},
        {badsel, EXIT_USAGE_T},
        {badfig, EXIT_USAGE_T},
        {one, EXIT_USAGE_T},
        {badfmt, EXIT_USAGE_T},
    };
    struct du_env e;
    json_t *j;
    char *out = NULL;
    size_t i;

    t_daemon(&e);
    CHECK_INT(t_cli(&e, table, &out), ==, 0);
    CHECK(strstr(out, "MEDIAN A") != NULL);
    CHECK(strstr(out, "decode_tps") != NULL);
    CHECK(strstr(out, "faster") != NULL);
    CHECK(strstr(out, "2000 resamples, seed 1") != NULL);
    free(out);
    CHECK_INT(t_cli(&e, md, &out), ==, 0);
    CHECK(strstr(out, "| Case | Figure | n (A/B) | A | B | Change | Interval | Verdict |") !=
          NULL);
    CHECK(strstr(out, "| long | Decode tok/s | 20/20 |") != NULL);
    CHECK(strstr(out, "**faster**") != NULL);
    CHECK(strstr(out, "| short |") == NULL);
    CHECK(strstr(out, "- **A:** `job:1`: org/m (20 samples)") != NULL); /* of case long */
    free(out);
    CHECK_INT(t_cli(&e, js, &out), ==, 0);
    j = json_loads(out, 0, NULL);
    CHECK(j != NULL);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "method"), "seed")), ==, 5);
    CHECK_INT(json_array_size(json_object_get(j, "rows")), ==, 2 * COMPARE_NFIG);
    json_decref(j);
    free(out);
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        CHECK_INT(t_cli(&e, refused[i].args, &out), ==, refused[i].code);
        free(out);
    }
    du_teardown(&e);
    /* Nobody listening: 3. */
    CHECK_INT(t_cli(&e, table, &out), ==, EXIT_UNAVAILABLE_T);
    free(out);
}

/* End to end with measured samples: tpsd serve benchmarks two tpsd-sim
 * models through the fake lms, one decoding at 100 tok/s and one at 200
 * (the simulator's schedule), and GET /v1/compare on the two runs finds
 * the second faster by about 100%. */
TEST(http_compare_sim)
{
    static const char *const models[] = {"sim/slow", "sim/fast", NULL};
    struct du_env e;
    char state[32], *spec;
    long long job;
    json_t *ans, *row, *runs;
    char path[128];
    size_t i;

    du_must_setup(&e,
                  "{\"key\":\"sim/slow\",\"ttft_ms\":5,\"tps\":100,\"text\":\"hello world \","
                  "\"size_bytes\":1e9},"
                  "{\"key\":\"sim/fast\",\"ttft_ms\":5,\"tps\":200,\"text\":\"hello world \","
                  "\"size_bytes\":1e9}",
                  NULL);
    du_must_start(&e, NULL);
    spec = du_spec(&e, models, 20, 6, 1, "lms", NULL);
    job = du_must_submit(&e, spec);
    free(spec);
    CHECK_STR(du_wait_final(&e, job, 120000, state, sizeof(state)), "succeeded");
    runs = t_get(&e, "/v1/runs?job=1", 200, NULL);
    CHECK_INT(json_array_size(json_object_get(runs, "runs")), ==, 2);
    json_decref(runs);
    /* Runs are numbered in model order: run 1 is sim/slow, run 2 sim/fast. */
    snprintf(path, sizeof(path), "/v1/compare?a=run:1&b=run:2&figure=decode_tps,e2e_tps");
    ans = t_get(&e, path, 200, NULL);
    CHECK_STR(t_str(ans, "match"), "case");
    CHECK_INT(json_array_size(json_object_get(ans, "rows")), ==, 4);
    json_array_foreach(json_object_get(ans, "rows"), i, row)
    {
        CHECK_STR(t_str(row, "model_a"), "sim/slow");
        CHECK_STR(t_str(row, "model_b"), "sim/fast");
        CHECK_INT(json_integer_value(json_object_get(row, "n_a")), ==, 6);
        CHECK_STR(t_str(row, "verdict"), "faster");
    }
    row = t_row(ans, "greet", "decode_tps");
    fprintf(stderr, "sim: decode median %.2f vs %.2f tok/s, %+.1f%% [%+.1f%%, %+.1f%%]\n",
            t_num(row, "median_a"), t_num(row, "median_b"), t_num(row, "diff_pct"),
            t_num(row, "ci_low_pct"), t_num(row, "ci_high_pct"));
    CHECK_NEAR(t_num(row, "median_a"), 100.0, 10.0);
    CHECK_NEAR(t_num(row, "median_b"), 200.0,
               40.0); /* a loaded machine slows the fast one most */
    CHECK_NEAR(t_num(row, "diff_pct"), 100.0, 40.0);
    json_decref(ans);
    du_teardown(&e);
}

/*
 * test_history.c - history (storage/history.h), the regression statistic
 * (daemon/regress.h) and their HTTP routes, against synthetic history with
 * known values built through storage/ in a real SQLite file. Every expected
 * figure is computed here from the samples the test stored, independently
 * of the rollups: bucket boundaries from gmtime (weeks start Monday UTC),
 * type-7 percentiles, two-pass standard deviations, pass rates.
 */
#include "tests/check.h"
#include "tests/httputil.h"
#include "tests/testutil.h"
#include "tests/daemonutil.h"
#include "daemon/curl_dl.h"

#include "api/api.h"
#include "daemon/config.h"
#include "daemon/regress.h"
#include "storage/db.h"
#include "storage/history.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define H_SAMPLES_MAX 4096 /* samples one test stores */
#define H_RESP_MAX (8 * 1024 * 1024)
#define H_TOL 1e-9 /* relative tolerance of exact figures */

static const char *const metrics[] = {"decode_tps", "e2e_tps", "ttft_ms", "prompt_tps"};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

/* ---- synthetic history ---- */

struct h_sample {
    int64_t run_id;
    const char *model;
    const char *case_name;
    int64_t at;
    double v[NMETRICS]; /* decode, e2e, ttft, prompt */
    int ok, passed, warmup;
};

static struct db *db;
static char dbpath[TU_PATH_MAX];
static int64_t job_id;
static int model_index;
static int64_t seq;
static struct h_sample hs[H_SAMPLES_MAX];
static size_t nhs;

/* Open (a new database from the image) the file `name` in the test's
 * folder; version > 0: a new database migrated to that schema version
 * only. Starts a running job for h_run. */
static void
h_open_at(const char *name, int version)
{
    char err[DB_ERR_MAX];
    int existing;

    snprintf(dbpath, sizeof(dbpath), "%s/%s", tu_tmpdir(), name);
    db = version > 0 ? db_open_version(dbpath, version, err, sizeof(err))
                     : db_open(dbpath, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    CHECK_INT(jobs_create(db, "history", "benchmark", "{}", 0, NULL, NULL, &job_id, &existing),
              ==, 0);
    CHECK_INT(jobs_set_state(db, job_id, "running", NULL, NULL), ==, 0);
    model_index = 0;
    seq = 0;
    nhs = 0;
}

static void
h_open(void)
{
    h_open_at("h.db", 0);
}

static void
h_exec(const char *sql)
{
    if (db_exec(db, sql) == -1)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, db->err);
}

/* A running run of `model` (fingerprint and size optional: NULL, -1). */
static int64_t
h_run(const char *model, const char *suite, const char *fp, int64_t size, double load_ms)
{
    struct run_facts f;
    char state[16];
    int64_t id;

    CHECK_INT(runs_open(db, job_id, model_index++, model, suite, &id, state), ==, 0);
    run_facts_init(&f);
    f.fingerprint = fp;
    f.model_size_bytes = size;
    f.load_ms = load_ms;
    if (runs_set_facts(db, id, &f) == -1)
        check_failed(__FILE__, __LINE__, "runs_set_facts: %s", db->err);
    return id;
}

static void
h_finish(int64_t run, const char *state)
{
    if (runs_finish(db, run, state, NULL, NULL) == -1)
        check_failed(__FILE__, __LINE__, "runs_finish: %s", db->err);
}

/* Set while the database is at an old schema version: samples_insert
 * writes every figure of this version's SAMPLE_FIGURES, columns an old
 * schema lacks, so h_put writes the columns of step 1 itself. */
static int h_old_schema;

/* v as SQL: NULL when NAN. */
static const char *
h_real(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "NULL");
    else
        snprintf(buf, len, "%.17g", v);
    return buf;
}

/* The INSERT of step 1's columns h_put sets (case names are ours, plain). */
static void
h_put_old(const struct sample_rec *s)
{
    char sql[1024], a[32], b[32], c[32], d[32], pass[32];

    snprintf(
        sql, sizeof(sql),
        "INSERT INTO samples (run_id, seq, case_name, repetition, warmup, started_at, ok,"
        " passed, error_code, decode_tps, e2e_tps, ttft_ms, prompt_tps) VALUES (%lld, %lld,"
        " '%s', 0, %d, %lld, %d, %s, %s, %s, %s, %s, %s)",
        (long long)s->run_id, (long long)s->seq, s->case_name, s->warmup,
        (long long)s->started_at, s->ok,
        h_real(pass, sizeof(pass), s->passed < 0 ? NAN : s->passed),
        s->ok ? "NULL" : "'http_500'", h_real(a, sizeof(a), s->decode_tps),
        h_real(b, sizeof(b), s->e2e_tps), h_real(c, sizeof(c), s->ttft_ms),
        h_real(d, sizeof(d), s->prompt_tps));
    h_exec(sql);
}

/* Store one sample and remember it. ttft/prompt may be NAN. */
static void
h_put(int64_t run, const char *model, const char *cname, int64_t at, double dec, double e2e,
      double ttft, double ptps, int ok, int passed, int warmup)
{
    struct sample_rec s;
    struct h_sample *h;

    sample_rec_init(&s);
    s.run_id = run;
    s.seq = seq++;
    snprintf(s.case_name, sizeof(s.case_name), "%s", cname);
    s.warmup = warmup;
    s.started_at = at;
    s.ok = ok;
    s.passed = passed;
    if (!ok)
        snprintf(s.error_code, sizeof(s.error_code), "http_500");
    s.decode_tps = dec;
    s.e2e_tps = e2e;
    s.ttft_ms = ttft;
    s.prompt_tps = ptps;
    if (h_old_schema)
        h_put_old(&s);
    else
        CHECK_INT(samples_insert(db, &s), ==, 0);
    sample_rec_free(&s);
    CHECK(nhs < H_SAMPLES_MAX);
    h = &hs[nhs++];
    h->run_id = run;
    h->model = model;
    h->case_name = cname;
    h->at = at;
    h->v[0] = dec;
    h->v[1] = e2e;
    h->v[2] = ttft;
    h->v[3] = ptps;
    h->ok = ok;
    h->passed = passed;
    h->warmup = warmup;
}

/* Deterministic pseudo-random numbers (xorshift64*), uniform and gaussian. */
static uint64_t rng_state = 88172645463325252ULL;

static void
rng_seed(uint64_t s)
{
    rng_state = s * 2685821657736338717ULL + 1442695040888963407ULL;
    if (rng_state == 0)
        rng_state = 1;
}

static double
rng_uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double
rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();

    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* ---- independent statistics ---- */

static int
cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* numpy's default percentile (linear between closest ranks) of v[0..n). */
static double
pctl(double *v, size_t n, double q)
{
    double pos, lo;
    size_t i;

    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_d);
    pos = q * (double)(n - 1);
    lo = floor(pos);
    i = (size_t)lo;
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] * (1.0 - (pos - lo)) + v[i + 1] * (pos - lo);
}

/* Start of the UTC hour, day or Monday-week holding t (ms), by gmtime. */
static int64_t
utc_bucket(const char *bucket, int64_t t)
{
    time_t s = (time_t)(t / 1000);
    struct tm tm;
    int64_t day;

    CHECK(gmtime_r(&s, &tm) != NULL);
    if (strcmp(bucket, "run") == 0)
        return t;
    if (strcmp(bucket, "hour") == 0)
        return t - (int64_t)(tm.tm_min * 60 + tm.tm_sec) * 1000 - t % 1000;
    day = t - (int64_t)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec) * 1000 - t % 1000;
    if (strcmp(bucket, "day") == 0)
        return day;
    return day - (int64_t)((tm.tm_wday + 6) % 7) * 86400000;
}

static int64_t
utc_ms(int y, int mo, int d, int h, int mi, int sec, int ms)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static double
jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    if (v == NULL)
        check_failed(__FILE__, __LINE__, "no key %s", k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void
check_close(const char *what, double got, double want, int64_t t)
{
    double tol = H_TOL * (fabs(want) > 1 ? fabs(want) : 1);

    if (isnan(want) && isnan(got))
        return;
    if (isnan(want) || isnan(got) || fabs(got - want) > tol)
        check_failed(__FILE__, __LINE__, "point t=%lld %s: got %.12g, want %.12g", (long long)t,
                     what, got, want);
}

/* The run-case "at" (its first sample) of run r, case c. */
static int64_t
rollup_at(int64_t run, const char *cname)
{
    int64_t at = INT64_MAX;
    size_t i;

    for (i = 0; i < nhs; i++)
        if (hs[i].run_id == run && strcmp(hs[i].case_name, cname) == 0 && !hs[i].warmup &&
            hs[i].at < at)
            at = hs[i].at;
    return at;
}

/*
 * Check one series of a trends answer against the stored samples of
 * (model, case) for metric m: every point's bucket, n, runs, mean, min,
 * max, stddev, pass_rate, p50 and p90; since/until on the run-case time.
 */
static void
check_series(json_t *series, const char *model, const char *cname, size_t m, const char *bucket,
             int64_t since, int64_t until)
{
    json_t *points = json_object_get(series, "points"), *p;
    int64_t runs[H_SAMPLES_MAX], buckets[H_SAMPLES_MAX];
    double vals[H_SAMPLES_MAX], meds[H_SAMPLES_MAX], rv[H_SAMPLES_MAX];
    size_t nruns = 0, nb = 0, i, j, k, pi;

    CHECK_STR(json_string_value(json_object_get(series, "model")), model);
    CHECK_STR(json_string_value(json_object_get(series, "case")), cname);
    /* The runs of this series, by their run-case time. */
    for (i = 0; i < nhs; i++) {
        int64_t at;
        if (strcmp(hs[i].model, model) != 0 || strcmp(hs[i].case_name, cname) != 0 ||
            hs[i].warmup)
            continue;
        for (j = 0; j < nruns; j++)
            if (runs[j] == hs[i].run_id)
                break;
        if (j < nruns)
            continue;
        at = rollup_at(hs[i].run_id, cname);
        if (at < since || (until > 0 && at >= until))
            continue;
        runs[nruns++] = hs[i].run_id;
    }
    /* Distinct buckets in time order (a run per point for bucket run). */
    for (j = 0; j < nruns; j++) {
        int64_t b = utc_bucket(bucket, rollup_at(runs[j], cname));
        for (k = 0; k < nb; k++)
            if (buckets[k] == b && strcmp(bucket, "run") != 0)
                break;
        if (k == nb)
            buckets[nb++] = b;
    }
    for (j = 1; j < nb; j++) /* insertion sort: int64 */
        for (k = j; k > 0 && buckets[k - 1] > buckets[k]; k--) {
            int64_t t = buckets[k];
            buckets[k] = buckets[k - 1];
            buckets[k - 1] = t;
        }
    if (json_array_size(points) != nb)
        check_failed(__FILE__, __LINE__, "%s/%s %s bucket %s: %zu points, want %zu", model,
                     cname, metrics[m], bucket, json_array_size(points), nb);
    json_array_foreach(points, pi, p)
    {
        int64_t b = buckets[pi], req = 0, passed = 0, nr = 0, one_run = 0;
        size_t nv = 0, nmeds = 0;
        double sum = 0, ss = 0, mean, lo = INFINITY, hi = -INFINITY, sd = NAN, p50, p90;

        CHECK_INT(json_integer_value(json_object_get(p, "t")), ==, b);
        for (j = 0; j < nruns; j++) {
            size_t nrv = 0;
            if (utc_bucket(bucket, rollup_at(runs[j], cname)) != b)
                continue;
            if (strcmp(bucket, "run") == 0 &&
                json_integer_value(json_object_get(p, "run_id")) != runs[j])
                continue;
            nr++;
            one_run = runs[j];
            for (i = 0; i < nhs; i++) {
                if (hs[i].run_id != runs[j] || strcmp(hs[i].case_name, cname) != 0 ||
                    hs[i].warmup)
                    continue;
                req++;
                passed += hs[i].ok && hs[i].passed != 0;
                if (!hs[i].ok || isnan(hs[i].v[m]))
                    continue;
                vals[nv++] = hs[i].v[m];
                rv[nrv++] = hs[i].v[m];
            }
            if (nrv > 0)
                meds[nmeds++] = pctl(rv, nrv, 0.5);
        }
        CHECK(nr > 0);
        for (i = 0; i < nv; i++) {
            sum += vals[i];
            lo = vals[i] < lo ? vals[i] : lo;
            hi = vals[i] > hi ? vals[i] : hi;
        }
        mean = nv ? sum / (double)nv : NAN;
        for (i = 0; i < nv; i++)
            ss += (vals[i] - mean) * (vals[i] - mean);
        if (nv > 1)
            sd = sqrt(ss / (double)(nv - 1));
        if (nr == 1) {
            p50 = pctl(vals, nv, 0.5);
            p90 = pctl(vals, nv, 0.9);
        } else {
            p50 = pctl(meds, nmeds, 0.5);
            p90 = pctl(meds, nmeds, 0.9);
        }
        CHECK_INT(json_integer_value(json_object_get(p, "n")), ==, nv);
        CHECK_INT(json_integer_value(json_object_get(p, "runs")), ==, nr);
        if (strcmp(bucket, "run") == 0)
            CHECK_INT(json_integer_value(json_object_get(p, "run_id")), ==, one_run);
        check_close("mean", jnum(p, "mean"), mean, b);
        check_close("min", jnum(p, "min"), nv ? lo : NAN, b);
        check_close("max", jnum(p, "max"), nv ? hi : NAN, b);
        check_close("stddev", jnum(p, "stddev"), sd, b);
        check_close("p50", jnum(p, "p50"), p50, b);
        check_close("p90", jnum(p, "p90"), p90, b);
        check_close("pass_rate", jnum(p, "pass_rate"), req ? (double)passed / (double)req : NAN,
                    b);
    }
}

static json_t *
trends(const char *model, const char *cname, const char *suite, const char *metric,
       const char *bucket, int64_t since, int64_t until)
{
    struct history_query q;
    json_t *out = NULL;
    json_error_t je;
    char *text = NULL;
    size_t len = 0;

    memset(&q, 0, sizeof(q));
    q.model = model;
    q.case_name = cname;
    q.suite = suite;
    q.metric = metric;
    CHECK_INT(history_bucket_parse(bucket, &q.bucket), ==, 0);
    q.since = since;
    q.until = until;
    if (history_trends(db, &q, &text, &len) == -1)
        check_failed(__FILE__, __LINE__, "history_trends: %s", db->err);
    CHECK_INT(strlen(text), ==, len);
    out = json_loads(text, 0, &je);
    if (out == NULL)
        check_failed(__FILE__, __LINE__, "trends answer is not JSON (%s): %.300s", je.text,
                     text);
    free(text);
    CHECK_STR(json_string_value(json_object_get(out, "metric")), metric);
    CHECK_STR(json_string_value(json_object_get(out, "bucket")), bucket);
    return out;
}

/* Runs around the UTC hour, day and week boundaries of Sunday 2024-01-07
 * / Monday 2024-01-08, with warm-ups, failed requests, validation
 * failures, a sample stored out of time order and a missing TTFT. */
static void
boundary_history(const char *model, double scale)
{
    const int64_t starts[] = {
        utc_ms(2024, 1, 7, 22, 30, 0, 0),    /* Sunday */
        utc_ms(2024, 1, 7, 23, 59, 59, 999), /* Sunday, last ms (stored second) */
        utc_ms(2024, 1, 8, 0, 0, 0, 0),      /* Monday, first ms */
        utc_ms(2024, 1, 8, 0, 59, 59, 999),  utc_ms(2024, 1, 8, 1, 0, 0, 0),
        utc_ms(2024, 1, 14, 23, 0, 0, 0), /* Sunday: same week as Monday the 8th */
        utc_ms(2024, 1, 15, 0, 0, 0, 0),  /* next Monday */
    };
    const char *cases[] = {"short", "long"};
    size_t r, c, k;

    for (r = 0; r < sizeof(starts) / sizeof(starts[0]); r++) {
        int64_t run = h_run(model, "standard", NULL, 2000000000, 1000.0 + 100.0 * (double)r);
        for (c = 0; c < 2; c++) {
            int64_t t0 = starts[r] + (int64_t)c * 60000 * (int64_t)(r != 1 && r != 2);
            h_put(run, model, cases[c], t0 - 5000, 1, 1, 1, 1, 1, 1, 1); /* warm-up: ignored */
            for (k = 0; k < 3 + r % 3; k++) {
                double base = scale * (50.0 + 3.0 * (double)r + (double)c);
                double dec = base * (1.0 + 0.05 * (rng_uniform() - 0.5));
                int64_t at = t0 + (int64_t)k * 1000;
                int ok = !(r == 3 && k == 1),
                    passed = (r == 4 && k == 0) ? 0 : (k % 2 ? -1 : 1);
                if (r == 1 && k == 0)
                    at = t0 + 500; /* stored first, but later than the next */
                if (r == 1 && k == 1)
                    at = t0;
                h_put(run, model, cases[c], at, ok ? dec : NAN, ok ? 0.8 * dec : NAN,
                      ok && !(r == 2 && k == 0) ? 200.0 + 10.0 * rng_uniform() : NAN,
                      ok ? 900.0 + rng_uniform() : NAN, ok, ok ? passed : -1, 0);
            }
        }
        h_finish(run, "succeeded");
    }
}

TEST(parse_and_metrics)
{
    enum history_bucket b;

    CHECK_INT(history_bucket_parse("run", &b), ==, 0);
    CHECK_INT(b, ==, HISTORY_BUCKET_RUN);
    CHECK_INT(history_bucket_parse("week", &b), ==, 0);
    CHECK_INT(b, ==, HISTORY_BUCKET_WEEK);
    CHECK_INT(history_bucket_parse("month", &b), ==, -1);
    CHECK_INT(history_bucket_parse(NULL, &b), ==, -1);
    CHECK_INT(history_metric_ok("decode_tps"), ==, 1);
    CHECK_INT(history_metric_ok("load_ms"), ==, 1);
    CHECK_INT(history_metric_ok("decode_tps; DROP TABLE runs"), ==, 0);
    CHECK_INT(history_metric_ok(NULL), ==, 0);
    CHECK_INT(history_metric_higher_better("decode_tps"), ==, 1);
    CHECK_INT(history_metric_higher_better("prompt_tps"), ==, 1);
    CHECK_INT(history_metric_higher_better("ttft_ms"), ==, 0);
    CHECK_INT(history_metric_higher_better("load_ms"), ==, 0);
}

/* Every bucket and metric of the boundary history, against the samples. */
TEST(trends_buckets_match_samples)
{
    const char *buckets[] = {"run", "hour", "day", "week"};
    const char *cases[] = {"long", "short"};
    size_t b, m, c;

    h_open();
    rng_seed(1);
    boundary_history("bm", 1.0);
    for (b = 0; b < 4; b++) {
        for (m = 0; m < NMETRICS; m++) {
            json_t *t = trends("bm", NULL, NULL, metrics[m], buckets[b], 0, 0);
            json_t *series = json_object_get(t, "series");
            CHECK_INT(json_array_size(series), ==, 2);
            CHECK(json_is_false(json_object_get(t, "truncated")));
            for (c = 0; c < 2; c++) /* ordered by case */
                check_series(json_array_get(series, c), "bm", cases[c], m, buckets[b], 0, 0);
            json_decref(t);
        }
    }
    db_close(db);
}

/* The expected bucket starts, spelled out: Sunday 23:59:59.999 is in the
 * week of Monday 2024-01-01, Monday 00:00 starts a new one. */
TEST(trends_week_starts_monday_utc)
{
    const int64_t want_week[] = {utc_ms(2024, 1, 1, 0, 0, 0, 0), utc_ms(2024, 1, 8, 0, 0, 0, 0),
                                 utc_ms(2024, 1, 15, 0, 0, 0, 0)};
    const int64_t want_runs[] = {2, 4, 1};
    const int64_t want_hour[] = {
        utc_ms(2024, 1, 7, 22, 0, 0, 0),  utc_ms(2024, 1, 7, 23, 0, 0, 0),
        utc_ms(2024, 1, 8, 0, 0, 0, 0),   utc_ms(2024, 1, 8, 1, 0, 0, 0),
        utc_ms(2024, 1, 14, 23, 0, 0, 0), utc_ms(2024, 1, 15, 0, 0, 0, 0)};
    json_t *t, *pts;
    size_t i;

    h_open();
    rng_seed(2);
    boundary_history("bm", 1.0);
    t = trends("bm", "short", NULL, "decode_tps", "week", 0, 0);
    pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 3);
    for (i = 0; i < 3; i++) {
        CHECK_INT(json_integer_value(json_object_get(json_array_get(pts, i), "t")), ==,
                  want_week[i]);
        CHECK_INT(json_integer_value(json_object_get(json_array_get(pts, i), "runs")), ==,
                  want_runs[i]);
    }
    json_decref(t);
    t = trends("bm", "short", NULL, "decode_tps", "hour", 0, 0);
    pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 6);
    for (i = 0; i < 6; i++)
        CHECK_INT(json_integer_value(json_object_get(json_array_get(pts, i), "t")), ==,
                  want_hour[i]);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(pts, 2), "runs")), ==, 2);
    json_decref(t);
    db_close(db);
}

/* since is inclusive, until exclusive, both on the run-case time. */
TEST(trends_since_until_half_open)
{
    const int64_t mon = utc_ms(2024, 1, 8, 0, 0, 0, 0), mon1 = utc_ms(2024, 1, 8, 1, 0, 0, 0);
    const char *buckets[] = {"run", "hour", "day", "week"};
    json_t *t, *pts;
    size_t b;

    h_open();
    rng_seed(3);
    boundary_history("bm", 1.0);
    t = trends("bm", "short", NULL, "decode_tps", "run", mon, mon1);
    pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 2); /* 00:00:00.000 and 00:59:59.999, not 01:00 */
    CHECK_INT(json_integer_value(json_object_get(json_array_get(pts, 0), "t")), ==, mon);
    json_decref(t);
    t = trends("bm", "short", NULL, "decode_tps", "run", mon - 1, mon);
    pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 1); /* Sunday 23:59:59.999 only */
    json_decref(t);
    for (b = 0; b < 4; b++) {
        t = trends("bm", "short", NULL, "e2e_tps", buckets[b], mon - 1, mon1 + 1);
        check_series(json_array_get(json_object_get(t, "series"), 0), "bm", "short", 1,
                     buckets[b], mon - 1, mon1 + 1);
        json_decref(t);
    }
    /* Nothing in range: no series at all. */
    t = trends("bm", NULL, NULL, "decode_tps", "day", utc_ms(2030, 1, 1, 0, 0, 0, 0), 0);
    CHECK_INT(json_array_size(json_object_get(t, "series")), ==, 0);
    json_decref(t);
    db_close(db);
}

/* Day and week points merge history_daily (finished runs, whole days)
 * with the rollups of runs still running and of partial days at the edges
 * of [since, until). */
TEST(trends_daily_edges_and_running_runs)
{
    const char *buckets[] = {"day", "week", "hour", "run"};
    const int64_t ranges[][2] = {
        {0, 0},
        {utc_ms(2024, 1, 7, 23, 0, 0, 0), utc_ms(2024, 1, 14, 23, 30, 0, 0)},
        {utc_ms(2024, 1, 8, 0, 30, 0, 0), utc_ms(2024, 1, 8, 1, 0, 0, 1)}, /* within a day */
        {utc_ms(2024, 1, 8, 0, 0, 0, 0), utc_ms(2024, 1, 9, 0, 0, 0, 0)},  /* aligned */
        {1, utc_ms(2024, 1, 15, 0, 0, 0, 1)},
    };
    json_t *t;
    int64_t run;
    size_t b, r, k;

    h_open();
    rng_seed(5);
    boundary_history("bm", 1.0);
    /* A run still measuring on Monday the 8th, one on the 15th. */
    run = h_run("bm", "standard", NULL, -1, NAN);
    for (k = 0; k < 4; k++)
        h_put(run, "bm", "short", utc_ms(2024, 1, 8, 12, 0, 0, 0) + (int64_t)k * 1000,
              70 + (double)k, 60, 150, 800, 1, 1, 0);
    run = h_run("bm", "standard", NULL, -1, NAN);
    h_put(run, "bm", "short", utc_ms(2024, 1, 15, 0, 30, 0, 0), 33, 30, 250, 700, 1, 1, 0);
    for (b = 0; b < 4; b++) {
        for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
            t = trends("bm", "short", NULL, "decode_tps", buckets[b], ranges[r][0],
                       ranges[r][1]);
            CHECK_INT(json_array_size(json_object_get(t, "series")), ==, 1);
            check_series(json_array_get(json_object_get(t, "series"), 0), "bm", "short", 0,
                         buckets[b], ranges[r][0], ranges[r][1]);
            json_decref(t);
        }
    }
    /* Finishing the run moves it into history_daily: the same answers. */
    h_finish(run, "succeeded");
    for (r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        t = trends("bm", "short", NULL, "ttft_ms", "week", ranges[r][0], ranges[r][1]);
        check_series(json_array_get(json_object_get(t, "series"), 0), "bm", "short", 2, "week",
                     ranges[r][0], ranges[r][1]);
        json_decref(t);
    }
    db_close(db);
}

/* Past 2000 requests a run-case's percentiles are refreshed every 1000th
 * sample; the run's end makes them exact. */
TEST(percentiles_of_long_runs_exact_at_finish)
{
    static struct sample_rec recs[2600];
    double v[2600];
    json_t *t, *p;
    int64_t run;
    size_t i, stored = 0;

    h_open();
    rng_seed(6);
    run = h_run("long", "standard", NULL, -1, NAN);
    for (i = 0; i < 2600; i++) {
        sample_rec_init(&recs[i]);
        recs[i].run_id = run;
        recs[i].seq = (int64_t)i;
        snprintf(recs[i].case_name, sizeof(recs[i].case_name), "soak");
        recs[i].started_at = 1000000 + (int64_t)i;
        recs[i].ok = 1;
        /* a slow drift: the later samples move the percentiles */
        recs[i].decode_tps = v[i] = 40.0 + 0.01 * (double)i + rng_uniform();
    }
    CHECK_INT(samples_insert_many(db, recs, 2600, &stored), ==, 0);
    CHECK_INT(stored, ==, 2600);
    h_finish(run, "succeeded");
    t = trends("long", "soak", NULL, "decode_tps", "run", 0, 0);
    p = json_array_get(
        json_object_get(json_array_get(json_object_get(t, "series"), 0), "points"), 0);
    CHECK_INT(json_integer_value(json_object_get(p, "n")), ==, 2600);
    check_close("p50", jnum(p, "p50"), pctl(v, 2600, 0.5), 0);
    check_close("p90", jnum(p, "p90"), pctl(v, 2600, 0.9), 0);
    json_decref(t);
    db_close(db);
}

/* A database of schema step 3 (rollups with sums of squares, "none"
 * verdicts) migrates: exact M2 from the samples, history_daily from the
 * finished runs, only changes kept among the verdicts. */
TEST(migration_from_step_3)
{
    char err[DB_ERR_MAX];
    const char *buckets[] = {"run", "day", "week"};
    json_t *t;
    size_t b;

    snprintf(dbpath, sizeof(dbpath), "%s/old.db", tu_tmpdir());
    db = db_open_version(dbpath, 3, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open_version: %s", err);
    {
        int existing;
        CHECK_INT(jobs_create(db, "old", "benchmark", "{}", 0, NULL, NULL, &job_id, &existing),
                  ==, 0);
    }
    model_index = 0;
    seq = 0;
    nhs = 0;
    rng_seed(13);
    h_old_schema = 1;
    boundary_history("bm", 1.0);
    h_old_schema = 0;
    h_exec("INSERT INTO history_verdicts (run_id, series, model, case_name, metric, at, value,"
           " baseline, sigma, t, change, win, verdict, created_at)"
           " VALUES (1, 'bm', 'bm', 'short', 'decode_tps', 1, 1, 1, 1, 0, 0, 5, 'none', 1),"
           " (2, 'bm', 'bm', 'short', 'decode_tps', 1, 1, 1, 1, 9, 0.2, 5, 'improvement', 1)");
    db_close(db);
    db = db_open(dbpath, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    for (b = 0; b < 3; b++) {
        t = trends("bm", "long", NULL, "prompt_tps", buckets[b], 0, 0);
        check_series(json_array_get(json_object_get(t, "series"), 0), "bm", "long", 3,
                     buckets[b], 0, 0);
        json_decref(t);
    }
    {
        json_t *v = NULL;
        CHECK_INT(history_verdicts_list(db, NULL, 1, 0, 10, &v), ==, 0);
        CHECK_INT(json_array_size(json_object_get(v, "regressions")), ==, 1);
        json_decref(v);
    }
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
}

/* Several models in one call, ordered by model then case; filters. */
TEST(trends_several_models_and_filters)
{
    json_t *t, *s;
    int64_t run;

    h_open();
    rng_seed(4);
    boundary_history("b-model", 1.0);
    boundary_history("a-model", 2.0);
    run = h_run("c-model", "other-suite", "fp-c", -1, NAN);
    h_put(run, "c-model", "short", utc_ms(2024, 1, 9, 0, 0, 0, 0), 10, 9, 100, 1000, 1, 1, 0);
    h_finish(run, "succeeded");
    t = trends(NULL, NULL, NULL, "decode_tps", "day", 0, 0);
    s = json_object_get(t, "series");
    CHECK_INT(json_array_size(s), ==, 5);
    check_series(json_array_get(s, 0), "a-model", "long", 0, "day", 0, 0);
    check_series(json_array_get(s, 1), "a-model", "short", 0, "day", 0, 0);
    check_series(json_array_get(s, 2), "b-model", "long", 0, "day", 0, 0);
    check_series(json_array_get(s, 3), "b-model", "short", 0, "day", 0, 0);
    check_series(json_array_get(s, 4), "c-model", "short", 0, "day", 0, 0);
    json_decref(t);
    t = trends(NULL, "short", "standard", "ttft_ms", "week", 0, 0);
    s = json_object_get(t, "series");
    CHECK_INT(json_array_size(s), ==, 2);
    check_series(json_array_get(s, 0), "a-model", "short", 2, "week", 0, 0);
    check_series(json_array_get(s, 1), "b-model", "short", 2, "week", 0, 0);
    json_decref(t);
    t = trends("c-model", NULL, "other-suite", "decode_tps", "run", 0, 0);
    CHECK_INT(json_array_size(json_object_get(t, "series")), ==, 1);
    json_decref(t);
    t = trends("no-such-model", NULL, NULL, "decode_tps", "run", 0, 0);
    CHECK_INT(json_array_size(json_object_get(t, "series")), ==, 0);
    json_decref(t);
    db_close(db);
}

/* load_ms: one series per model, case null, a point per run by its start. */
TEST(trends_load_ms)
{
    const double loads[] = {1500, 2500, 2000};
    const int64_t t0 = utc_ms(2024, 3, 4, 10, 0, 0, 0);
    json_t *t, *s, *p;
    int64_t run;
    char sql[256];
    size_t i;

    h_open();
    for (i = 0; i < 3; i++) {
        run = h_run("lm", "standard", NULL, -1, loads[i]);
        snprintf(sql, sizeof(sql), "UPDATE runs SET started_at = %lld WHERE id = %lld",
                 (long long)(t0 + (int64_t)i * 3600000), (long long)run);
        h_exec(sql);
        h_put(run, "lm", "short", t0 + (int64_t)i * 3600000 + 10, 10, 9, 100, 1000, 1, 1, 0);
        h_finish(run, "succeeded");
    }
    t = trends("lm", NULL, NULL, "load_ms", "run", 0, 0);
    s = json_array_get(json_object_get(t, "series"), 0);
    CHECK(json_is_null(json_object_get(s, "case")));
    CHECK_INT(json_array_size(json_object_get(s, "points")), ==, 3);
    json_array_foreach(json_object_get(s, "points"), i, p)
    {
        CHECK_DBL(jnum(p, "mean"), ==, loads[i]);
        CHECK_INT(json_integer_value(json_object_get(p, "t")), ==, t0 + (int64_t)i * 3600000);
    }
    json_decref(t);
    t = trends("lm", NULL, NULL, "load_ms", "day", 0, 0);
    p = json_array_get(
        json_object_get(json_array_get(json_object_get(t, "series"), 0), "points"), 0);
    CHECK_INT(json_integer_value(json_object_get(p, "n")), ==, 3);
    CHECK_NEAR(jnum(p, "mean"), 2000, 1e-9);
    CHECK_NEAR(jnum(p, "p50"), 2000, 1e-9);
    CHECK_NEAR(jnum(p, "stddev"), 500, 1e-9);
    CHECK_DBL(jnum(p, "min"), ==, 1500);
    CHECK_DBL(jnum(p, "max"), ==, 2500);
    json_decref(t);
    db_close(db);
}

/* load_ms by day and week: per-day rollups of finished runs, unfinished
 * runs and partial days read from runs; against the values stored. */
TEST(trends_load_ms_buckets)
{
    struct {
        int64_t at;
        double load;
        int finish;
        const char *state;
    } rs[] = {
        {utc_ms(2024, 1, 7, 23, 59, 59, 999), 1000, 1, "succeeded"},
        {utc_ms(2024, 1, 8, 0, 0, 0, 0), 1500, 1, "failed"},
        {utc_ms(2024, 1, 8, 13, 0, 0, 0), 2500, 1, "succeeded"},
        {utc_ms(2024, 1, 8, 14, 0, 0, 0), 1800, 0, NULL}, /* still running */
        {utc_ms(2024, 1, 14, 22, 0, 0, 0), 3000, 1, "succeeded"},
        {utc_ms(2024, 1, 15, 1, 0, 0, 0), 900, 1, "succeeded"},
    };
    const int64_t ranges[][2] = {
        {0, 0},
        {utc_ms(2024, 1, 8, 0, 0, 0, 0), 0},
        {utc_ms(2024, 1, 7, 12, 0, 0, 0), utc_ms(2024, 1, 14, 23, 0, 0, 0)},
        {utc_ms(2024, 1, 8, 0, 0, 0, 1), utc_ms(2024, 1, 8, 13, 0, 0, 1)},
    };
    const char *buckets[] = {"day", "week", "hour", "run"};
    size_t nr = sizeof(rs) / sizeof(rs[0]), b, g, i, pi;
    char sql[256];
    json_t *t, *pts, *p;

    h_open();
    for (i = 0; i < nr; i++) {
        int64_t run = h_run("lm", "standard", NULL, -1, rs[i].load);
        snprintf(sql, sizeof(sql), "UPDATE runs SET started_at = %lld WHERE id = %lld",
                 (long long)rs[i].at, (long long)run);
        h_exec(sql);
        h_put(run, "lm", "short", rs[i].at + 10, 10, 9, 100, 1000, 1, 1, 0);
        if (rs[i].finish)
            CHECK_INT(runs_finish(db, run, rs[i].state, NULL, NULL), ==, 0);
    }
    for (b = 0; b < 4; b++) {
        for (g = 0; g < sizeof(ranges) / sizeof(ranges[0]); g++) {
            int64_t since = ranges[g][0], until = ranges[g][1];
            t = trends("lm", NULL, NULL, "load_ms", buckets[b], since, until);
            pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
            json_array_foreach(pts, pi, p)
            {
                int64_t bt = json_integer_value(json_object_get(p, "t"));
                double v[16], sum = 0, ss = 0, mean, lo = INFINITY, hi = -INFINITY;
                size_t n = 0, ok = 0, k;
                for (i = 0; i < nr; i++) {
                    if (rs[i].at < since || (until > 0 && rs[i].at >= until) ||
                        utc_bucket(buckets[b], rs[i].at) != bt)
                        continue;
                    v[n++] = rs[i].load;
                    ok += rs[i].state != NULL && strcmp(rs[i].state, "succeeded") == 0;
                    sum += rs[i].load;
                    lo = rs[i].load < lo ? rs[i].load : lo;
                    hi = rs[i].load > hi ? rs[i].load : hi;
                }
                CHECK(n > 0); /* run bucket: the times are distinct, a run a point */
                mean = sum / (double)n;
                for (k = 0; k < n; k++)
                    ss += (v[k] - mean) * (v[k] - mean);
                CHECK_INT(json_integer_value(json_object_get(p, "n")), ==, n);
                CHECK_INT(json_integer_value(json_object_get(p, "runs")), ==, n);
                check_close("load mean", jnum(p, "mean"), mean, bt);
                check_close("load min", jnum(p, "min"), lo, bt);
                check_close("load max", jnum(p, "max"), hi, bt);
                check_close("load stddev", jnum(p, "stddev"),
                            n > 1 ? sqrt(ss / (double)(n - 1)) : NAN, bt);
                check_close("load p50", jnum(p, "p50"), pctl(v, n, 0.5), bt);
                check_close("load p90", jnum(p, "p90"), pctl(v, n, 0.9), bt);
                check_close("load pass", jnum(p, "pass_rate"), (double)ok / (double)n, bt);
            }
            /* Every run in range is in some point. */
            {
                int64_t total = 0, want = 0;
                json_array_foreach(pts, pi, p) total +=
                    json_integer_value(json_object_get(p, "n"));
                for (i = 0; i < nr; i++)
                    want += rs[i].at >= since && (until == 0 || rs[i].at < until);
                CHECK_INT(total, ==, want);
            }
            json_decref(t);
        }
    }
    db_close(db);
}

/* A model with a case name full of SQL and JSON metacharacters. */
TEST(trends_hostile_names)
{
    const char *model = "evil\"model'; DROP TABLE runs; --", *cname = "c\"'%_";
    json_t *t, *s;
    int64_t run;

    h_open();
    run = h_run(model, "standard", NULL, -1, NAN);
    h_put(run, model, cname, 1000, 10, 9, 100, 1000, 1, 1, 0);
    /* Reals far from the usual range, written by the %.17g path. */
    h_put(run, model, cname, 2000, 1.5e-5, 3.25e12, 0, 999999999.9999, 1, 1, 0);
    h_put(run, model, cname, 3000, 7e-4, 1e9, 0.001, 1e-300, 1, 1, 0);
    h_finish(run, "succeeded");
    t = trends(model, cname, NULL, "decode_tps", "run", 0, 0);
    s = json_object_get(t, "series");
    CHECK_INT(json_array_size(s), ==, 1);
    check_series(json_array_get(s, 0), model, cname, 0, "run", 0, 0);
    json_decref(t);
    {
        size_t m;
        for (m = 1; m < NMETRICS; m++) {
            t = trends(model, cname, NULL, metrics[m], "day", 0, 0);
            check_series(json_array_get(json_object_get(t, "series"), 0), model, cname, m,
                         "day", 0, 0);
            json_decref(t);
        }
    }
    t = trends("evil%", NULL, NULL, "decode_tps", "run", 0, 0);
    CHECK_INT(json_array_size(json_object_get(t, "series")), ==, 0);
    json_decref(t);
    db_close(db);
}

/* ---- the leaderboard ---- */

/* The mean of metric m over the ok samples of (run, case). */
static double
case_mean(int64_t run, const char *cname, size_t m)
{
    double sum = 0;
    size_t i, n = 0;

    for (i = 0; i < nhs; i++)
        if (hs[i].run_id == run && strcmp(hs[i].case_name, cname) == 0 && !hs[i].warmup &&
            hs[i].ok && !isnan(hs[i].v[m])) {
            sum += hs[i].v[m];
            n++;
        }
    return n ? sum / (double)n : NAN;
}

static void
run_pass(int64_t run, const char *cname, int64_t *req, int64_t *passed)
{
    size_t i;

    for (i = 0; i < nhs; i++)
        if (hs[i].run_id == run && !hs[i].warmup &&
            (cname == NULL || strcmp(hs[i].case_name, cname) == 0)) {
            (*req)++;
            *passed += hs[i].ok && hs[i].passed != 0;
        }
}

/* A run of two cases with decode around `speed`. */
static int64_t
lb_run(const char *model, int64_t size, double load_ms, int64_t at, double speed,
       const char *state, int fail_one)
{
    int64_t run = h_run(model, "standard", NULL, size, load_ms);
    const char *cases[] = {"short", "code"};
    size_t c, k;

    for (c = 0; c < 2; c++)
        for (k = 0; k < 4; k++) {
            double d = speed * (1.0 + 0.1 * (double)c) * (1.0 + 0.01 * (double)k);
            int ok = !(fail_one && c == 1 && k == 3);
            h_put(run, model, cases[c], at + (int64_t)(c * 10 + k) * 1000, ok ? d : NAN,
                  ok ? 0.9 * d : NAN, ok ? 300 - d : NAN, ok ? 10 * d : NAN, ok,
                  ok ? (k == 0 && fail_one ? 0 : 1) : -1, 0);
        }
    if (state != NULL)
        h_finish(run, state);
    return run;
}

TEST(leaderboard_ranks_and_figures)
{
    json_t *out = NULL, *models, *m, *c;
    int64_t a1, a2, b1, c1, d1;
    double avg[3], best_avg = 0;
    const char *names[3];
    int64_t latest[3], sizes[3] = {4000000000, 2000000000, -1};
    double loads[3] = {7000, 3000, NAN};
    size_t i, j;

    h_open();
    a1 = lb_run("model-a", 4000000000, 8000, 1000000, 60, "succeeded", 0); /* best of a */
    a2 = lb_run("model-a", 4000000000, 7000, 2000000, 40, "succeeded", 1); /* latest of a */
    b1 = lb_run("model-b", 2000000000, 3000, 1500000, 50, "failed", 0);
    c1 = lb_run("model-c", -1, NAN, 1200000, 45, "succeeded", 0);
    d1 = lb_run("model-d", -1, NAN, 3000000, 99, NULL, 0); /* still running: not listed */
    (void)d1;
    if (history_models(db, &out) == -1)
        check_failed(__FILE__, __LINE__, "history_models: %s", db->err);
    models = json_object_get(out, "models");
    CHECK_INT(json_array_size(models), ==, 3);
    /* Expected: the mean of the latest run's case means of e2e TPS. */
    latest[0] = a2;
    latest[1] = b1;
    latest[2] = c1;
    names[0] = "model-a";
    names[1] = "model-b";
    names[2] = "model-c";
    for (i = 0; i < 3; i++) {
        avg[i] = (case_mean(latest[i], "short", 1) + case_mean(latest[i], "code", 1)) / 2;
        if (avg[i] > best_avg)
            best_avg = avg[i];
    }
    /* Ranks: b (50) > c (45) > a (40). */
    CHECK_STR(json_string_value(json_object_get(json_array_get(models, 0), "model")),
              "model-b");
    CHECK_STR(json_string_value(json_object_get(json_array_get(models, 1), "model")),
              "model-c");
    CHECK_STR(json_string_value(json_object_get(json_array_get(models, 2), "model")),
              "model-a");
    json_array_foreach(models, j, m)
    {
        int64_t req = 0, passed = 0;
        const char *name = json_string_value(json_object_get(m, "model"));
        for (i = 0; i < 3; i++)
            if (strcmp(names[i], name) == 0)
                break;
        CHECK(i < 3);
        CHECK_INT(json_integer_value(json_object_get(m, "rank")), ==, j + 1);
        CHECK_INT(json_integer_value(json_object_get(m, "latest_run_id")), ==, latest[i]);
        CHECK_INT(json_integer_value(json_object_get(m, "runs")), ==, i == 0 ? 2 : 1);
        CHECK_NEAR(jnum(m, "avg_e2e_tps"), avg[i], 1e-9);
        CHECK_NEAR(jnum(m, "avg_decode_tps"),
                   (case_mean(latest[i], "short", 0) + case_mean(latest[i], "code", 0)) / 2,
                   1e-9);
        CHECK_NEAR(jnum(m, "relative_speed"), avg[i] / best_avg, 1e-12);
        run_pass(latest[i], NULL, &req, &passed);
        CHECK_NEAR(jnum(m, "pass_rate"), (double)passed / (double)req, 1e-12);
        if (sizes[i] > 0) {
            CHECK_INT(json_integer_value(json_object_get(m, "model_size_bytes")), ==, sizes[i]);
            CHECK_NEAR(jnum(m, "tps_per_gb"), avg[i] / ((double)sizes[i] / 1e9), 1e-9);
            CHECK_DBL(jnum(m, "load_ms"), ==, loads[i]);
        } else {
            CHECK(json_is_null(json_object_get(m, "model_size_bytes")));
            CHECK(json_is_null(json_object_get(m, "tps_per_gb")));
            CHECK(json_is_null(json_object_get(m, "load_ms")));
        }
        CHECK_INT(json_array_size(json_object_get(m, "cases")), ==, 2);
        json_array_foreach(json_object_get(m, "cases"), i, c)
        {
            const char *cn = json_string_value(json_object_get(c, "case"));
            int64_t cr = 0, cp = 0, best_run = latest[j == 2 ? 0 : 0];
            double best;
            size_t li;
            for (li = 0; li < 3; li++)
                if (strcmp(names[li], name) == 0)
                    break;
            CHECK_NEAR(jnum(c, "latest_e2e_tps"), case_mean(latest[li], cn, 1), 1e-9);
            CHECK_NEAR(jnum(c, "latest_decode_tps"), case_mean(latest[li], cn, 0), 1e-9);
            CHECK_NEAR(jnum(c, "latest_ttft_ms"), case_mean(latest[li], cn, 2), 1e-9);
            run_pass(latest[li], cn, &cr, &cp);
            CHECK_NEAR(jnum(c, "pass_rate"), (double)cp / (double)cr, 1e-12);
            best_run = latest[li];
            best = case_mean(best_run, cn, 1);
            if (li == 0) {
                best_run = a1; /* the first run of a was faster */
                best = case_mean(a1, cn, 1);
                CHECK_DBL(best, >, case_mean(a2, cn, 1));
            }
            CHECK_NEAR(jnum(c, "best_e2e_tps"), best, 1e-9);
            CHECK_INT(json_integer_value(json_object_get(c, "best_run_id")), ==, best_run);
        }
    }
    json_decref(out);
    db_close(db);
}

/* ---- the regression statistic ---- */

#define R_WINDOW 30
#define R_SAMPLES 5  /* samples per run; the run's value is their median */
#define R_NOISE 0.02 /* relative standard deviation of one sample */

/* A run's median of R_SAMPLES samples around `level` with R_NOISE noise. */
static double
noisy_run(double level)
{
    double v[R_SAMPLES];
    size_t i;

    for (i = 0; i < R_SAMPLES; i++)
        v[i] = level * (1.0 + R_NOISE * rng_gauss());
    return pctl(v, R_SAMPLES, 0.5);
}

/* win[] = R_WINDOW runs at level 50, the generator seeded with seed first. */
static void
noisy_window(double *win, uint64_t seed)
{
    size_t i;

    rng_seed(seed);
    for (i = 0; i < R_WINDOW; i++)
        win[i] = noisy_run(50.0);
}

/* Normal 2% noise over 2000 seeds: never flagged, in either direction. */
TEST(regress_noise_not_flagged)
{
    struct regress_opts o;
    struct regress_result r;
    double win[R_WINDOW], x, tmax = 0;
    int seed, flagged = 0;

    regress_opts_default(&o);
    for (seed = 0; seed < 2000; seed++) {
        noisy_window(win, (uint64_t)seed + 1000);
        x = noisy_run(50.0);
        CHECK_INT(regress_test(&o, win, R_WINDOW, x, 1, &r), ==, 0);
        flagged += r.flagged != 0;
        if (fabs(r.t) > tmax)
            tmax = fabs(r.t);
        CHECK_INT(regress_test(&o, win, R_WINDOW, x, 0, &r), ==, 0);
        flagged += r.flagged != 0;
    }
    if (flagged != 0)
        check_failed(__FILE__, __LINE__, "noise flagged %d times (max |T| %.2f)", flagged,
                     tmax);
}

/* A 10% slowdown of decode_tps with the same noise: flagged as a
 * regression for every seed; +10% is an improvement. */
TEST(regress_slowdown_flagged)
{
    struct regress_opts o;
    struct regress_result r;
    double win[R_WINDOW];
    int seed, missed = 0, wrong = 0;

    regress_opts_default(&o);
    for (seed = 0; seed < 2000; seed++) {
        noisy_window(win, (uint64_t)seed + 5000);
        CHECK_INT(regress_test(&o, win, R_WINDOW, noisy_run(45.0), 1, &r), ==, 0);
        missed += r.flagged == 0;
        wrong += r.flagged > 0;
        CHECK_DBL(r.change, <, -0.05);
        CHECK_INT(regress_test(&o, win, R_WINDOW, noisy_run(55.0), 1, &r), ==, 0);
        missed += r.flagged == 0;
        wrong += r.flagged < 0;
    }
    /* 99.5% of seeds: T >= 5 rests on a noisy sigma from 29 differences. */
    fprintf(stderr, "10%% steps of 4000: %d missed, %d wrong direction\n", missed, wrong);
    CHECK_INT(wrong, ==, 0);
    CHECK_INT(missed, <=, 40);
}

/* Lower is better for ttft_ms: slower first tokens are a regression. */
TEST(regress_direction_ttft)
{
    struct regress_opts o;
    struct regress_result r;
    double win[R_WINDOW];
    size_t i;

    regress_opts_default(&o);
    rng_seed(42);
    for (i = 0; i < R_WINDOW; i++)
        win[i] = noisy_run(200.0);
    CHECK_INT(regress_test(&o, win, R_WINDOW, noisy_run(220.0), 0, &r), ==, 0);
    CHECK_INT(r.flagged, ==, -1);
    CHECK_DBL(r.t, >, 5);
    CHECK_INT(regress_test(&o, win, R_WINDOW, noisy_run(180.0), 0, &r), ==, 0);
    CHECK_INT(r.flagged, ==, 1);
    CHECK_DBL(r.t, <, -5);
    /* Too little history: no verdict. */
    CHECK_INT(regress_test(&o, win, 4, 100.0, 0, &r), ==, -1);
    CHECK_INT(r.flagged, ==, 0);
    CHECK_INT(regress_test(&o, win, R_WINDOW, NAN, 0, &r), ==, -1);
}

/* The statistic on a window with a hand-computed sigma and T. */
TEST(regress_statistic_by_hand)
{
    struct regress_opts o;
    struct regress_result r;
    /* diffs |x(i+1) - x(i)|: 2, 1, 3, 1 -> median 1.5 */
    const double win[] = {100, 102, 101, 104, 103};
    double mean = 102, sigma = 1.4826 * 1.5 / sqrt(2.0);

    regress_opts_default(&o);
    CHECK_INT(regress_test(&o, win, 5, 90, 1, &r), ==, 0);
    CHECK_NEAR(r.mean, mean, 1e-12);
    CHECK_NEAR(r.sigma, sigma, 1e-12);
    CHECK_NEAR(r.t, (90 - mean) / (sigma * sqrt(1.0 + 1.0 / 5)), 1e-9);
    CHECK_NEAR(r.change, (90 - mean) / mean, 1e-12);
    CHECK_INT(r.flagged, ==, -1);
    CHECK_INT(r.window, ==, 5);
    /* |T| above 5 but the change below 5%: not flagged. */
    {
        const double calm[] = {100, 100.1, 100, 100.1, 100};
        CHECK_INT(regress_test(&o, calm, 5, 97, 1, &r), ==, 0);
        CHECK_NEAR(r.sigma, 0.5 * 1.0004, 1e-12); /* the floor: 0.5% of the mean */
        CHECK_DBL(fabs(r.t), >=, 5);
        CHECK_INT(r.flagged, ==, 0);
    }
    /* A flat window: sigma floored at 0.5% of the mean. */
    {
        const double flat[] = {50, 50, 50, 50, 50, 50};
        CHECK_INT(regress_test(&o, flat, 6, 50.1, 1, &r), ==, 0);
        CHECK_NEAR(r.sigma, 0.25, 1e-12);
        CHECK_INT(r.flagged, ==, 0);
        CHECK_INT(regress_test(&o, flat, 6, 45, 1, &r), ==, 0);
        CHECK_INT(r.flagged, ==, -1);
    }
}

/* The regress_opts variables, in the order regress_env_set takes values. */
static const char *const regress_env[] = {"TPSD_REGRESS_WINDOW", "TPSD_REGRESS_WINDOW_MIN",
                                          "TPSD_REGRESS_T", "TPSD_REGRESS_CHANGE",
                                          "TPSD_REGRESS_SIGMA_FLOOR"};
#define REGRESS_ENV_N (sizeof(regress_env) / sizeof(regress_env[0]))

/* Set every variable of regress_env to its value in v (NULL: unset), then
 * read them into *o. */
static void
regress_env_set(const char *const v[REGRESS_ENV_N], struct regress_opts *o)
{
    size_t i;

    for (i = 0; i < REGRESS_ENV_N; i++) {
        if (v[i] != NULL)
            setenv(regress_env[i], v[i], 1);
        else
            unsetenv(regress_env[i]);
    }
    regress_opts_env(o);
}

TEST(regress_opts_from_env)
{
    static const char *const good[] = {"12", "3", "4.5", "0.1", "0.01"};
    static const char *const bad[] = {"abc", "1", "-1", "5%", ""};
    static const char *const fraction[] = {"7.5", NULL, NULL, NULL, NULL};
    static const char *const none[] = {NULL, NULL, NULL, NULL, NULL};
    struct regress_opts o;

    regress_env_set(good, &o);
    CHECK_INT(o.window, ==, 12);
    CHECK_INT(o.window_min, ==, 3);
    CHECK_DBL(o.t_min, ==, 4.5);
    CHECK_DBL(o.change_min, ==, 0.1);
    CHECK_DBL(o.sigma_floor, ==, 0.01);
    /* Invalid values are ignored. */
    regress_env_set(bad, &o);
    CHECK_INT(o.window, ==, REGRESS_WINDOW_DEFAULT);
    CHECK_INT(o.window_min, ==, REGRESS_WINDOW_MIN_DEFAULT);
    CHECK_DBL(o.t_min, ==, REGRESS_T_DEFAULT);
    CHECK_DBL(o.change_min, ==, REGRESS_CHANGE_DEFAULT);
    CHECK_DBL(o.sigma_floor, ==, REGRESS_SIGMA_FLOOR_DEFAULT);
    /* A fractional window is not a window. */
    regress_env_set(fraction, &o);
    CHECK_INT(o.window, ==, REGRESS_WINDOW_DEFAULT);
    regress_env_set(none, &o);
}

/* nruns finished runs of `model`, one a day from t0, case "short", with
 * R_SAMPLES noisy samples each; run `step_at` and later at decode level
 * `after` and TTFT level 200 / after * 50. Returns the first run id. */
static int64_t
regress_history(const char *model, int nruns, int step_at, double after, int64_t t0)
{
    int64_t first = 0, run;
    int i, k;

    for (i = 0; i < nruns; i++) {
        double lvl = i >= step_at ? after : 50.0;
        run = h_run(model, "standard", NULL, -1, NAN);
        if (i == 0)
            first = run;
        for (k = 0; k < R_SAMPLES; k++) {
            /* One draw a statement: the order of a call's arguments is
             * unspecified (gcc and clang differ), the data must not be. */
            double d = lvl * (1.0 + R_NOISE * rng_gauss());
            double ttft = 200.0 * 50.0 / lvl * (1.0 + R_NOISE * rng_gauss());
            double e2e = 50.0 * (1.0 + R_NOISE * rng_gauss());
            h_put(run, model, "short", t0 + (int64_t)i * 86400000 + k * 1000, d, e2e, ttft,
                  1000, 1, 1, 0);
        }
        h_finish(run, "succeeded");
    }
    return first;
}

static json_t *
verdicts(const char *model, int all)
{
    json_t *out = NULL;

    if (history_verdicts_list(db, model, all, 0, 1000, &out) == -1)
        check_failed(__FILE__, __LINE__, "history_verdicts_list: %s", db->err);
    return json_object_get(out, "regressions") ? out : NULL;
}

/* Through the database: the scan tests each finished run once, flags the
 * injected 10% slowdown of decode (and the 11% longer TTFT) and nothing of
 * the noise, stores the verdicts and lists them. */
TEST(regress_scan_flags_injected_slowdown)
{
    struct regress_opts o;
    json_t *v, *list, *x;
    int64_t first, ver0, ver1;
    int ntested = 0, nreg = 0;
    size_t i;

    h_open();
    rng_seed(7);
    regress_opts_default(&o);
    first = regress_history("slow", 36, 35, 45.0, utc_ms(2024, 2, 1, 0, 0, 0, 0));
    regress_history("steady-1", 36, 99, 50.0, utc_ms(2024, 2, 1, 1, 0, 0, 0));
    regress_history("steady-2", 36, 99, 50.0, utc_ms(2024, 2, 1, 2, 0, 0, 0));
    CHECK_INT(history_version(db, &ver0), ==, 0);
    CHECK_INT(regress_scan(db, &o, &ntested), ==, 0);
    /* Runs 6..36 of each model have a window: 31 runs x 3 metrics x 3. */
    CHECK_INT(ntested, ==, 31 * 3 * 3);
    CHECK_INT(history_version(db, &ver1), ==, 0);
    CHECK_INT(ver1, >, ver0); /* new verdicts change the ETag */
    v = verdicts(NULL, 0);
    CHECK(v != NULL);
    list = json_object_get(v, "regressions");
    json_array_foreach(list, i, x)
    {
        CHECK_STR(json_string_value(json_object_get(x, "verdict")), "regression");
        CHECK_STR(json_string_value(json_object_get(x, "model")), "slow");
        CHECK_INT(json_integer_value(json_object_get(x, "run_id")), ==, first + 35);
        CHECK_INT(json_integer_value(json_object_get(x, "window")), ==, 30);
        CHECK_DBL(fabs(jnum(x, "t")), >=, 5);
        nreg++;
    }
    CHECK_INT(nreg, ==, 2); /* decode_tps down, ttft_ms up; e2e_tps unchanged */
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "metric")), "ttft_ms");
    CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "metric")),
              "decode_tps");
    CHECK_DBL(jnum(json_array_get(list, 1), "change"), <, -0.05);
    json_decref(v);
    v = verdicts("steady-1", 1);
    CHECK_INT(json_array_size(json_object_get(v, "regressions")), ==, 0);
    json_decref(v);
    /* A second scan has nothing new to test. */
    CHECK_INT(regress_scan(db, &o, &ntested), ==, 0);
    CHECK_INT(ntested, ==, 0);
    db_close(db);
}

/* Verdicts listed newest first with a keyset cursor; improvements only
 * with all=1. */
TEST(regress_verdicts_cursor_and_improvements)
{
    struct regress_opts o;
    json_t *out = NULL, *list;
    int64_t cursor;
    int ntested;

    h_open();
    rng_seed(8);
    regress_opts_default(&o);
    regress_history("up", 20, 18, 56.0, utc_ms(2024, 5, 1, 0, 0, 0, 0));
    regress_history("down-a", 20, 19, 44.0, utc_ms(2024, 5, 1, 1, 0, 0, 0));
    regress_history("down-b", 20, 19, 44.0, utc_ms(2024, 5, 1, 2, 0, 0, 0));
    CHECK_INT(regress_scan(db, &o, &ntested), ==, 0);
    CHECK_INT(history_verdicts_list(db, NULL, 0, 0, 2, &out), ==, 0);
    list = json_object_get(out, "regressions");
    CHECK_INT(json_array_size(list), ==, 2);
    cursor = json_integer_value(json_object_get(out, "next_cursor"));
    CHECK(cursor > 0);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(list, 1), "id")), ==, cursor);
    json_decref(out);
    CHECK_INT(history_verdicts_list(db, NULL, 0, cursor, 2, &out), ==, 0);
    list = json_object_get(out, "regressions");
    CHECK_INT(json_array_size(list), ==, 2);
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "id")) < cursor);
    json_decref(out);
    /* 2 models x (decode, ttft) regressions; "up" improved decode and TTFT
     * at run 19, and run 20 may be flagged again (one run at the new level
     * is not a change yet). */
    CHECK_INT(history_verdicts_list(db, NULL, 0, 0, 100, &out), ==, 0);
    CHECK_INT(json_array_size(json_object_get(out, "regressions")), ==, 4);
    CHECK(json_is_null(json_object_get(out, "next_cursor")));
    json_decref(out);
    CHECK_INT(history_verdicts_list(db, "up", 0, 0, 100, &out), ==, 0);
    CHECK_INT(json_array_size(json_object_get(out, "regressions")), ==, 0);
    json_decref(out);
    CHECK_INT(history_verdicts_list(db, "up", 1, 0, 100, &out), ==, 0);
    list = json_object_get(out, "regressions");
    CHECK_INT(json_array_size(list), >=, 2);
    CHECK_INT(json_array_size(list), <=, 4);
    {
        json_t *x;
        size_t i;
        int at19 = 0;
        json_array_foreach(list, i, x)
        {
            CHECK_STR(json_string_value(json_object_get(x, "verdict")), "improvement");
            at19 += json_integer_value(json_object_get(x, "window")) == 18;
        }
        CHECK_INT(at19, ==, 2); /* decode and TTFT of run 19, against 18 runs */
    }
    json_decref(out);
    db_close(db);
}

/* A step raises two alerts (the run after it still sees one run at the new
 * level: not a change yet); the runs after those are compared with the
 * new level once five of them exist, and get no verdict before. */
TEST(regress_one_alert_per_step)
{
    struct regress_opts o;
    json_t *v, *x;
    int64_t first;
    int ntested, at_step = 0;
    size_t i;

    h_open();
    rng_seed(10);
    regress_opts_default(&o);
    first = regress_history("step", 24, 10, 45.0, utc_ms(2024, 4, 1, 0, 0, 0, 0));
    CHECK_INT(regress_scan(db, &o, &ntested), ==, 0);
    /* decode and TTFT: runs 6..12 and 16..24 (five at the new level before
     * them); e2e_tps, which did not change: runs 6..24. */
    CHECK_INT(ntested, ==, (7 + 9) * 2 + 19);
    v = verdicts("step", 1);
    CHECK_INT(json_array_size(json_object_get(v, "regressions")), >=, 2);
    CHECK_INT(json_array_size(json_object_get(v, "regressions")), <=, 4);
    json_array_foreach(json_object_get(v, "regressions"), i, x)
    {
        int64_t r = json_integer_value(json_object_get(x, "run_id"));
        CHECK_STR(json_string_value(json_object_get(x, "verdict")), "regression");
        CHECK(r == first + 10 || r == first + 11);
        at_step += r == first + 10;
    }
    CHECK_INT(at_step, ==, 2); /* decode_tps and ttft_ms of the step's run */
    json_decref(v);
    db_close(db);
}

/* A run left running by a cancelled job does not hold the scan back. */
TEST(regress_scan_not_blocked_by_cancelled_run)
{
    struct regress_opts o;
    int64_t job2, run, old_job;
    int existing, ntested;
    json_t *v;

    h_open();
    rng_seed(9);
    regress_opts_default(&o);
    old_job = job_id;
    CHECK_INT(jobs_create(db, "cancelled", "benchmark", "{}", 0, NULL, NULL, &job2, &existing),
              ==, 0);
    job_id = job2;
    run = h_run("x", "standard", NULL, -1, NAN); /* never finished */
    h_put(run, "x", "short", 1000, 50, 40, 200, 1000, 1, 1, 0);
    CHECK_INT(jobs_set_state(db, job2, "cancelled", NULL, NULL), ==, 0);
    job_id = old_job;
    regress_history("after", 8, 7, 40.0, utc_ms(2024, 6, 1, 0, 0, 0, 0));
    CHECK_INT(regress_scan(db, &o, &ntested), ==, 0);
    v = verdicts("after", 0);
    CHECK_INT(json_array_size(json_object_get(v, "regressions")), ==, 2);
    json_decref(v);
    db_close(db);
}

/* ---- over HTTP ---- */

static struct api *api;
static struct config cfg;
static int port;

/* GET path, with If-None-Match when inm is not NULL. */
static void
h_get(const char *path, const char *inm, struct hu_resp *r)
{
    const char *hl[] = {NULL, NULL};
    struct hu_opts o;
    char url[1024], hdr[256];

    memset(&o, 0, sizeof(o));
    if (inm != NULL) {
        snprintf(hdr, sizeof(hdr), "If-None-Match: %s", inm);
        hl[0] = hdr;
    }
    o.headers = hl;
    o.timeout_s = 20;
    o.body_max = H_RESP_MAX;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CHECK_INT(hu_request("GET", url, &o, r), ==, 0);
}

static void
api_up(void)
{
    config_defaults(&cfg);
    api = hu_api_start(&cfg, dbpath, 0, &port);
}

/* ETag on trends, models and regressions; 304 on If-None-Match; a new
 * sample (and new verdicts) change it. */
TEST(http_etag_and_304)
{
    const char *paths[] = {"/v1/trends?model=slow&metric=decode_tps&bucket=day", "/v1/models",
                           "/v1/regressions"};
    char etag[3][128];
    struct hu_resp r;
    json_t *j;
    int64_t run;
    size_t i;

    h_open();
    rng_seed(11);
    regress_history("slow", 8, 99, 50.0, utc_ms(2024, 2, 1, 0, 0, 0, 0));
    api_up();
    for (i = 0; i < 3; i++) {
        h_get(paths[i], NULL, &r);
        CHECK_INT(r.status, ==, 200);
        CHECK(hu_header(&r, "ETag") != NULL);
        snprintf(etag[i], sizeof(etag[i]), "%s", hu_header(&r, "ETag"));
        CHECK(etag[i][0] == '"');
        j = hu_body_json(&r);
        json_decref(j);
        hu_resp_free(&r);
        h_get(paths[i], etag[i], &r);
        CHECK_INT(r.status, ==, 304);
        CHECK(r.body.len == 0);
        CHECK_STR(hu_header(&r, "ETag"), etag[i]);
        hu_resp_free(&r);
        h_get(paths[i], "\"h0\", W/\"other\"", &r);
        CHECK_INT(r.status, ==, 200);
        hu_resp_free(&r);
    }
    /* Store one more run: every ETag changes. */
    run = h_run("slow", "standard", NULL, -1, NAN);
    h_put(run, "slow", "short", utc_ms(2024, 3, 1, 0, 0, 0, 0), 30, 50, 300, 1000, 1, 1, 0);
    for (i = 0; i < 3; i++) {
        h_get(paths[i], etag[i], &r);
        CHECK_INT(r.status, ==, 200);
        CHECK(strcmp(hu_header(&r, "ETag"), etag[i]) != 0);
        hu_resp_free(&r);
    }
    /* Finishing the run makes it testable: the regression appears. */
    h_finish(run, "succeeded");
    h_get(paths[2], NULL, &r);
    CHECK_INT(r.status, ==, 200);
    j = hu_body_json(&r);
    CHECK_INT(json_array_size(json_object_get(j, "regressions")), ==, 2);
    CHECK(json_is_object(json_object_get(j, "thresholds")));
    json_decref(j);
    snprintf(etag[2], sizeof(etag[2]), "%s", hu_header(&r, "ETag"));
    hu_resp_free(&r);
    h_get(paths[2], etag[2], &r);
    CHECK_INT(r.status, ==, 304);
    hu_resp_free(&r);
    api_stop(api);
    db_close(db);
}

/* Run points carry the verdict of their run. */
TEST(http_trends_mark_regressions)
{
    struct hu_resp r;
    json_t *j, *pts, *p;
    struct regress_opts o;
    size_t i;
    int marked = 0;

    h_open();
    rng_seed(12);
    regress_opts_default(&o);
    regress_history("slow", 12, 11, 45.0, utc_ms(2024, 2, 1, 0, 0, 0, 0));
    CHECK_INT(regress_scan(db, &o, NULL), ==, 0);
    api_up();
    h_get("/v1/trends?model=slow&case=short&metric=decode_tps&bucket=run", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    j = hu_body_json(&r);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 12);
    json_array_foreach(pts, i, p)
    {
        json_t *v = json_object_get(p, "regression");
        if (i == 11) {
            CHECK_STR(json_string_value(v), "regression");
            marked++;
        } else {
            CHECK(v == NULL || json_is_null(v));
        }
    }
    CHECK_INT(marked, ==, 1);
    json_decref(j);
    hu_resp_free(&r);
    /* e2e_tps did not change: no mark. */
    h_get("/v1/trends?model=slow&metric=e2e_tps&bucket=run", NULL, &r);
    j = hu_body_json(&r);
    pts = json_object_get(json_array_get(json_object_get(j, "series"), 0), "points");
    json_array_foreach(pts, i, p)
    {
        json_t *v = json_object_get(p, "regression");
        CHECK(v == NULL || json_is_null(v));
    }
    json_decref(j);
    hu_resp_free(&r);
    api_stop(api);
    db_close(db);
}

TEST(http_bad_params_400)
{
    const char *bad[] = {
        "/v1/trends?metric=tokens", "/v1/trends?metric=decode_tps%3B%20DROP%20TABLE%20runs",
        "/v1/trends?bucket=month",  "/v1/trends?bucket=",
        "/v1/trends?since=abc",     "/v1/trends?since=-1",
        "/v1/trends?until=1e9",     "/v1/trends?since=200&until=100",
        "/v1/regressions?limit=0",  "/v1/regressions?limit=100000",
        "/v1/regressions?limit=x",  "/v1/regressions?cursor=-5",
        "/v1/regressions?all=3",    "/v1/jobs/1/report?format=pdf",
    };
    struct hu_resp r;
    json_t *j;
    size_t i;

    h_open();
    api_up();
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h_get(bad[i], NULL, &r);
        if (r.status != 400)
            check_failed(__FILE__, __LINE__, "%s: status %ld, want 400: %s", bad[i], r.status,
                         r.body.p ? r.body.p : "");
        CHECK(strstr(hu_header(&r, "Content-Type"), "application/json") != NULL);
        j = hu_body_json(&r);
        CHECK_STR(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                  "bad_request");
        CHECK(json_string_value(json_object_get(json_object_get(j, "error"), "message")) !=
              NULL);
        json_decref(j);
        hu_resp_free(&r);
    }
    /* The good ones answer 200 on an empty database. */
    h_get("/v1/trends", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    j = hu_body_json(&r);
    CHECK_STR(json_string_value(json_object_get(j, "metric")), "decode_tps");
    CHECK_STR(json_string_value(json_object_get(j, "bucket")), "run");
    json_decref(j);
    hu_resp_free(&r);
    h_get("/v1/models", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    h_get("/v1/regressions?all=1&limit=5", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    h_get("/v1/jobs/999/report", NULL, &r);
    CHECK_INT(r.status, ==, 404);
    hu_resp_free(&r);
    api_stop(api);
    db_close(db);
}

/* ---- through the daemon ---- */

#define D_MODEL(tps)                                                                           \
    "{\"key\":\"m\",\"ttft_ms\":5,\"tps\":" tps ",\"text\":\"hello world \","                  \
    "\"size_bytes\":1e9}"

/* The worker tests each finished job: after six jobs at one speed and a
 * seventh at a quarter of it, the verdict is stored without a GET of
 * /v1/regressions, shows in /metrics and marks the run's trend point. The
 * sim's pacing on a busy shared machine is noisy (runs 15% apart): the
 * daemon gets TPSD_REGRESS_T=3 from the environment, which is also what is
 * tested of the thresholds' plumbing. */
TEST(daemon_scans_after_each_job)
{
    static const char *const one[] = {"m", NULL};
    struct du_env e;
    char state[32], path[256], *text = NULL;
    json_t *t, *pts, *last;
    sqlite3 *h;
    long long id = 0;
    int i;

    du_must_setup(&e, D_MODEL("2000"), NULL);
    setenv("TPSD_REGRESS_T", "3", 1);
    du_must_start(&e, NULL);
    unsetenv("TPSD_REGRESS_T");
    for (i = 0; i < 7; i++) {
        char *spec = du_spec(&e, one, 40, 5, 0, "lms", NULL);
        if (i == 6)
            CHECK_INT(tu_sim_call(&e.sim, "POST", "/sim/models", D_MODEL("500"), NULL), ==,
                      200);
        id = du_must_submit(&e, spec);
        free(spec);
        if (strcmp(du_wait_final(&e, id, 60000, state, sizeof(state)), "succeeded") != 0)
            check_failed(__FILE__, __LINE__, "job %lld: %s: %s", id, state, du_log_tail(&e));
    }
    /* The worker scans after the job's state is stored: wait for it. */
    h = du_must_db(&e);
    for (i = 0; i < 500; i++) {
        snprintf(path, sizeof(path),
                 "SELECT count(*) FROM history_verdicts v JOIN runs r ON r.id = v.run_id"
                 " WHERE r.job_id = %lld AND v.metric = 'decode_tps'"
                 " AND v.verdict = 'regression'",
                 id);
        if (du_q(h, path) >= 1)
            break;
        tu_sleep_ms(20);
    }
    if (du_q(h, path) != 2) { /* both cases of the inline suite */
        sqlite3_stmt *st;
        fprintf(stderr, "per-run medians (run, case, decode p50, ttft p50):\n");
        sqlite3_prepare_v2(h,
                           "SELECT run_id, case_name, decode_tps_p50, ttft_ms_p50"
                           " FROM history_rollup ORDER BY case_name, at",
                           -1, &st, NULL);
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(stderr, "  %lld %s %.1f %.1f\n", (long long)sqlite3_column_int64(st, 0),
                    sqlite3_column_text(st, 1), sqlite3_column_double(st, 2),
                    sqlite3_column_double(st, 3));
        sqlite3_finalize(st);
        check_failed(__FILE__, __LINE__, "%g decode regressions in the last job, want 2",
                     du_q(h, path));
    }
    sqlite3_close(h);
    CHECK_INT(du_call_raw(&e, "GET", "/metrics", NULL, NULL, &text, NULL, NULL, 0), ==, 200);
    if (strstr(text,
               "tpsd_regression_active{model=\"m\",case=\"greet\",metric=\"decode_tps\"} 1") ==
            NULL ||
        strstr(text, "tpsd_regressions{model=\"m\",case=\"greet\",metric=\"decode_tps\"}") ==
            NULL)
        check_failed(__FILE__, __LINE__, "no regression gauges in /metrics:\n%s", text);
    free(text);
    CHECK_INT(
        du_call(&e, "GET", "/v1/trends?model=m&metric=decode_tps&bucket=run", NULL, NULL, &t),
        ==, 200);
    pts = json_object_get(json_array_get(json_object_get(t, "series"), 0), "points");
    CHECK_INT(json_array_size(pts), ==, 7);
    last = json_array_get(pts, 6);
    CHECK_STR(json_string_value(json_object_get(last, "regression")), "regression");
    json_decref(t);
    du_teardown(&e);
}

/* tpsd_pct (the rollups' percentile, a selection rather than a sort)
 * equals the independent percentile for sizes 1..200, with many ties, at
 * the quantiles the rollups and trends use and at the ends. */
TEST(pct_selection_matches_sorted_percentile)
{
    static const double qs[] = {0, 0.1, 0.5, 0.9, 0.99, 1};
    sqlite3_stmt *ins, *q;
    double v[200], got, want;
    int n, i, k, trial;

    h_open();
    CHECK_INT(db_exec(db, "CREATE TEMP TABLE pv (x REAL)"), ==, 0);
    ins = db_prepare(db, "INSERT INTO pv VALUES (:x)");
    q = db_prepare(db, "SELECT tpsd_pct(x, :q) FROM pv");
    CHECK(ins != NULL && q != NULL);
    rng_seed(11);
    for (trial = 0; trial < 400; trial++) {
        n = 1 + trial % 200;
        CHECK_INT(db_exec(db, "DELETE FROM pv"), ==, 0);
        for (i = 0; i < n; i++) {
            /* Half the trials draw from 5 values: long runs of ties. */
            v[i] = trial % 2 ? floor(rng_uniform() * 5) : 50 + 10 * rng_gauss();
            sqlite3_reset(ins);
            db_bind_double(ins, ":x", v[i]);
            CHECK_INT(sqlite3_step(ins), ==, SQLITE_DONE);
        }
        for (k = 0; k < (int)(sizeof(qs) / sizeof(qs[0])); k++) {
            want = pctl(v, (size_t)n, qs[k]);
            sqlite3_reset(q);
            db_bind_double(q, ":q", qs[k]);
            CHECK_INT(sqlite3_step(q), ==, SQLITE_ROW);
            got = sqlite3_column_double(q, 0);
            if (fabs(got - want) > 1e-9 * fmax(1, fabs(want)))
                check_failed(__FILE__, __LINE__, "n=%d q=%g: %.17g, sorted %.17g", n, qs[k],
                             got, want);
        }
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(q);
    db_close(db);
}

/* history_trends' JSON text for q (the caller frees it). */
static char *
trends_text(const struct history_query *q)
{
    char *text = NULL;
    size_t len = 0;

    if (history_trends(db, q, &text, &len) == -1)
        check_failed(__FILE__, __LINE__, "history_trends: %s", db->err);
    return text;
}

/* The i-th week trends query the fixture allows (metric x model x case x
 * range) in *q. 0, or -1 past the last. */
static int
week_query(size_t i, struct history_query *q)
{
    static const char *const models[] = {NULL, "a-model"}, *const cases[] = {NULL, "short"};
    const int64_t ranges[][2] = {
        {0, 0},
        {utc_ms(2024, 1, 3, 12, 0, 0, 0), 0},
        {0, utc_ms(2024, 1, 30, 6, 0, 0, 0)},
        {utc_ms(2024, 1, 8, 0, 0, 0, 0), utc_ms(2024, 1, 29, 0, 0, 0, 0)},
    };
    size_t nr = sizeof(ranges) / sizeof(ranges[0]), r = i % nr, c = i / nr % 2,
           mo = i / nr / 2 % 2, m = i / nr / 4;

    if (m >= NMETRICS)
        return -1;
    *q = (struct history_query){.model = models[mo],
                                .case_name = cases[c],
                                .metric = metrics[m],
                                .bucket = HISTORY_BUCKET_WEEK,
                                .since = ranges[r][0],
                                .until = ranges[r][1]};
    return 0;
}

/* Every week trends query the fixture allows gives the same text read from
 * history_weekly (schema steps 13, 17) as from the days. 0 when they differ. */
static int
weekly_equals_days(void)
{
    struct history_query q;
    size_t i;
    int same = 1;

    for (i = 0; week_query(i, &q) == 0; i++) {
        char *weekly = trends_text(&q), *days;
        q.days_only = 1;
        days = trends_text(&q);
        CHECK(strstr(days, "\"points\":[{") != NULL);
        if (strcmp(weekly, days) != 0)
            same = 0;
        free(weekly);
        free(days);
    }
    return same;
}

/* Runs of a-model for four more weeks after boundary_history's (two runs a
 * day on three days, one of another suite) and of one still measuring in
 * the third week (its run id in *open_run when asked, else finished). */
static void
weekly_history(int64_t *open_run)
{
    int64_t run;
    int w, k;

    rng_seed(6);
    boundary_history("b-model", 1.0);
    boundary_history("a-model", 2.0);
    for (w = 0; w < 4; w++) {
        for (k = 0; k < 6; k++) {
            int64_t t0 = utc_ms(2024, 1, 15, 9, 0, 0, 0) + (int64_t)w * 7 * 86400000 +
                         (int64_t)(k / 2) * 86400000 + (int64_t)(k % 2) * 3600000;
            run = h_run("a-model", k == 5 ? "other-suite" : "standard", NULL, -1, 900.0 + k);
            h_put(run, "a-model", "short", t0, 40 + rng_uniform(), 30 + rng_uniform(),
                  200 + 10 * rng_uniform(), 800 + rng_uniform(), 1, k % 3 ? 1 : 0, 0);
            h_put(run, "a-model", "short", t0 + 1000, 41 + rng_uniform(), 31, 210, 810, 1, 1,
                  0);
            h_put(run, "a-model", "long", t0 + 2000, 20 + rng_uniform(), NAN, 400, 600, k != 3,
                  1, 0);
            h_finish(run, "succeeded");
        }
    }
    CHECK_DBL(du_qf(db->h, "SELECT count(*) FROM history_weekly"), >=, 10);
    if (open_run == NULL)
        return;
    run = h_run("a-model", "standard", NULL, -1, NAN);
    h_put(run, "a-model", "short", utc_ms(2024, 1, 31, 12, 0, 0, 0), 99, 90, 150, 800, 1, 1, 0);
    *open_run = run;
}

/* Week buckets read from history_weekly: the same JSON text, byte for
 * byte, as the days they fold (several models, suites folded together,
 * partial weeks at the edges, a run still measuring); and the table is
 * really what is read (altering it alters the answer). */
TEST(trends_week_from_weekly_equals_days)
{
    int64_t run;

    h_open();
    weekly_history(&run);
    /* The run still measuring in the third week: that week on is read from days. */
    CHECK(weekly_equals_days());
    h_finish(run, "succeeded");
    CHECK(weekly_equals_days());
    h_exec("UPDATE history_weekly SET n = n + 1000");
    CHECK(!weekly_equals_days());
    db_close(db);
}

/* The p50 and p90 of the per-run medians of (model, case) for metric m
 * over the runs of the fixture whose run-case time is in [t0, t1): the
 * stored spread of that week, computed from the samples. */
static void
week_spread(const char *model, const char *cname, size_t m, int64_t t0, int64_t t1, double *p50,
            double *p90)
{
    static double meds[H_SAMPLES_MAX], rv[H_SAMPLES_MAX];
    size_t i, j, nmeds = 0, nrv;

    for (i = 0; i < nhs; i++) {
        int64_t run = hs[i].run_id, at = rollup_at(run, cname);
        for (j = 0; j < i; j++) /* the run's first sample of the case only */
            if (hs[j].run_id == run && strcmp(hs[j].case_name, cname) == 0)
                break;
        if (j < i || strcmp(hs[i].model, model) != 0 || strcmp(hs[i].case_name, cname) != 0 ||
            at < t0 || at >= t1)
            continue;
        for (nrv = 0, j = 0; j < nhs; j++)
            if (hs[j].run_id == run && strcmp(hs[j].case_name, cname) == 0 && !hs[j].warmup &&
                hs[j].ok && !isnan(hs[j].v[m]))
                rv[nrv++] = hs[j].v[m];
        if (nrv > 0)
            meds[nmeds++] = pctl(rv, nrv, 0.5);
    }
    *p50 = pctl(meds, nmeds, 0.5);
    *p90 = pctl(meds, nmeds, 0.9);
}

/* The JSON text of every week_query, in order (the caller frees each). */
static size_t
week_texts(char **out, size_t max)
{
    struct history_query q;
    size_t i;

    for (i = 0; i < max && week_query(i, &q) == 0; i++)
        out[i] = trends_text(&q);
    CHECK(week_query(i, &q) == -1);
    return i;
}

#define H_WEEK_QUERIES 64 /* week_query's grid: 4 metrics x 2 x 2 x 4 */

/*
 * A database of schema step 16 holding weeks of history migrates to step
 * 17 (each week's run-to-run spread stored, computed from the week's
 * medians): its history_weekly, every column, and every week answer are
 * those of a new database (made from the image) that stored the same
 * history through step 17's trigger; the answers still equal the days';
 * the migration leaves the connection's secure_delete as it found it.
 */
TEST(trends_week_migrated_from_step_16_equals_new)
{
    char *old[H_WEEK_QUERIES], *fresh[H_WEEK_QUERIES], old_path[TU_PATH_MAX],
        sql[TU_PATH_MAX + 32];
    sqlite3 *plain;
    size_t n, i;

    h_open_at("v16.db", 16);
    weekly_history(NULL);
    CHECK_INT(db_user_version(db), ==, 16);
    db_close(db);
    snprintf(old_path, sizeof(old_path), "%s", dbpath);
    db = du_db_open(old_path);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK(sqlite3_open(":memory:", &plain) == SQLITE_OK);
    CHECK_INT(du_q(db->h, "PRAGMA secure_delete"), ==, du_q(plain, "PRAGMA secure_delete"));
    sqlite3_close(plain);
    CHECK_INT(du_q(db->h, "SELECT count(*) FROM history_weekly WHERE runs > 1 AND v_n > 0"
                          " AND (v_spread_p50 IS NULL OR v_spread_p90 IS NULL)"),
              ==, 0);
    CHECK_INT(du_q(db->h, "SELECT count(*) FROM history_weekly WHERE v_spread_p90 > v_min"), >,
              0);
    CHECK(weekly_equals_days());
    n = week_texts(old, H_WEEK_QUERIES);
    db_close(db);

    h_open_at("new.db", 0);
    CHECK(db->from_image);
    weekly_history(NULL);
    CHECK_INT(week_texts(fresh, H_WEEK_QUERIES), ==, n);
    for (i = 0; i < n; i++) {
        CHECK_STR(old[i], fresh[i]);
        free(old[i]);
        free(fresh[i]);
    }
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS old", old_path);
    h_exec(sql);
    CHECK_INT(du_q(db->h, "SELECT count(*) FROM history_weekly"), >=, 10);
    CHECK_INT(du_q(db->h, "SELECT count(*) FROM old.history_weekly"), ==,
              du_q(db->h, "SELECT count(*) FROM history_weekly"));
    CHECK_INT(du_q(db->h, "SELECT count(*) FROM (SELECT * FROM history_weekly"
                          " EXCEPT SELECT * FROM old.history_weekly)"),
              ==, 0);
    db_close(db);
}

/* The stored spread column `col` of a-model's "short" week `week`, metric m. */
static double
stored_spread(const char *col, size_t m, int64_t week)
{
    return du_qf(db->h,
                 "SELECT %s FROM history_weekly WHERE metric = '%s' AND model = 'a-model'"
                 " AND case_name = 'short' AND week = %lld",
                 col, metrics[m], (long long)week);
}

/* After the migration, runs finished into a whole week already stored
 * (and a new week) update the week's stored spread through step 17's
 * trigger: the week answers equal the days', each figure equals the
 * spread computed here from the samples, and the stored spread is what
 * the answer reads (altering it alters the answer). */
TEST(trends_week_spread_follows_runs_after_migration)
{
    static const char *const cols[] = {"v_spread_p50", "v_spread_p90"};
    const int64_t w0 = utc_ms(2024, 1, 22, 0, 0, 0, 0), w1 = w0 + 7 * INT64_C(86400000);
    double want[2], before;
    int64_t run;
    size_t m;
    int k;

    h_open_at("v16.db", 16);
    weekly_history(NULL);
    db_close(db);
    db = du_db_open(dbpath);
    before = stored_spread("v_spread_p90", 0, w0);
    for (k = 0; k < 3; k++) { /* faster runs on the week's Wednesday, and in a new week */
        int64_t t = (k < 2 ? w0 + 2 * INT64_C(86400000) : w1 + 14 * INT64_C(86400000)) +
                    (int64_t)k * 3600000;
        run = h_run("a-model", "standard", NULL, -1, 950.0);
        h_put(run, "a-model", "short", t, 60 + k, 50, 180, 850, 1, 1, 0);
        h_put(run, "a-model", "short", t + 1000, 62 + k, 52, 170, 860, 1, 1, 0);
        h_finish(run, "succeeded");
    }
    CHECK(weekly_equals_days());
    for (m = 0; m < NMETRICS; m++) {
        json_t *t = trends("a-model", "short", NULL, metrics[m], "week", 0, 0);
        check_series(json_array_get(json_object_get(t, "series"), 0), "a-model", "short", m,
                     "week", 0, 0);
        json_decref(t);
        week_spread("a-model", "short", m, w0, w1, &want[0], &want[1]);
        for (k = 0; k < 2; k++)
            CHECK_DBL(fabs(stored_spread(cols[k], m, w0) - want[k]), <=, H_TOL * fabs(want[k]));
    }
    CHECK_DBL(stored_spread("v_spread_p90", 0, w0), >, before);
    h_exec("UPDATE history_weekly SET v_spread_p50 = v_spread_p50 + 1 WHERE runs > 1");
    CHECK(!weekly_equals_days());
    db_close(db);
}

/* A week of history_weekly is a whole point: a row that would share its
 * point with another (a week not starting on a Monday, as only a damaged
 * table holds) fails the answer with a clear error, never a point
 * computed from part of its runs. */
TEST(trends_week_not_on_a_monday_refused)
{
    struct history_query q = {.metric = "decode_tps", .bucket = HISTORY_BUCKET_WEEK};
    char *text = NULL;
    size_t len = 0;

    h_open();
    weekly_history(NULL);
    CHECK_INT(history_trends(db, &q, &text, &len), ==, 0);
    free(text);
    h_exec("INSERT INTO history_weekly SELECT metric, model, case_name, week + 86400000, runs,"
           " n, n_passed, v_n, v_sum, v_m2, v_min, v_max, v_p50, v_p90, v_spread_p50,"
           " v_spread_p90 FROM history_weekly WHERE metric = 'decode_tps' AND runs > 1"
           " ORDER BY week LIMIT 1");
    text = NULL;
    CHECK_INT(history_trends(db, &q, &text, &len), ==, -1);
    CHECK(text == NULL);
    CHECK(strstr(db->err, "Monday") != NULL);
    q.days_only = 1; /* the days still answer */
    CHECK_INT(history_trends(db, &q, &text, &len), ==, 0);
    free(text);
    db_close(db);
}

/*
 * bench_history.c - history at scale: a year of hourly runs (by default 20
 * models x 8760 hours x the 5 standard cases, 57 requests a run: 9,986,400
 * samples) stored through storage/ with the ingest trigger keeping the
 * rollups, then the history queries timed cold (the first query on a
 * freshly opened connection: the page cache cannot be dropped here, so
 * "cold" is "first query after open") and warm (median and p99 of
 * BENCH_CALLS calls), in process and over HTTP on loopback.
 *
 *   bench_history            fill, then query
 *   bench_history fill       fill a new database (the old file is removed), unless
 *                            it already holds the whole history and BENCH_REFILL is unset
 *   bench_history query      time the queries on an existing database
 *   bench_history open       time opening an existing database: the migration
 *                            steps it lacks, as the daemon takes them at start
 *   bench_history finish     the CPU of storing one run and of its finish on an
 *                            existing database (it adds BENCH_CALLS runs: use a copy)
 *   bench_history same       fill a small history both ways (BENCH_FAST unset
 *                            and set) and check that runs, samples and every
 *                            rollup table hold the same rows
 *
 * Environment: BENCH_DB (default /tmp/tpsd-bench-history.db), BENCH_MODELS
 * (20), BENCH_HOURS (8760), BENCH_CALLS (50), BENCH_FAST (unset: each
 * storage write commits on its own, as in the daemon; set: the same
 * storage calls, a day of history per transaction through db_batch_begin,
 * so the triggers build the same rows without a commit per write),
 * BENCH_STRIDE (1: a run of every model every hour; k: every k-th hour,
 * the same year with k times fewer runs a day), BENCH_ONLY (time only the
 * queries whose label holds this text).
 *
 * The data: model m decodes at 20 + 5m tokens/s with 2% gaussian noise per
 * request, TTFT 300 + 20m ms with 5%; 1% of requests fail, 3% fail
 * validation. Three series change: model 3 decodes 10% slower from day
 * 200, model 7 8% faster from day 100, model 11's TTFT grows 20% from day
 * 300. Samples carry every timing column but no per-event offsets (the
 * event_us blob of a real sample adds 4 bytes per SSE event). The fill runs
 * with synchronous=OFF: it measures the queries, not fsync.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/httputil.h"
#include "tests/testutil.h"
#include "daemon/curl_dl.h"

#include "api/api.h"
#include "common/clock.h"
#include "common/rng.h"
#include "common/stats.h"
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define B_DB_DEFAULT "/tmp/tpsd-bench-history.db"
#define B_T0 INT64_C(1704067200000) /* 2024-01-01 00:00 UTC, a Monday */
#define B_HOUR INT64_C(3600000)
#define B_DAY (24 * B_HOUR)
#define B_RUN_SAMPLES 57 /* 12 + 12 + 10 + 12 + 11 */
#define B_CALLS_MAX 1000
#define B_NAME_MAX 64
#define B_URL_MAX 512
#define B_RNG_SEED 0x9E3779B97F4A7C15ULL
#define B_BATCH_HOURS 24

static const struct {
    const char *name;
    int n;        /* requests per run */
    int tokens;   /* completion tokens */
    double speed; /* decode relative to the model's */
} b_cases[] = {
    {"short", 12, 100, 1.05},    {"code", 12, 500, 1.0},         {"long", 10, 2000, 0.95},
    {"reasoning", 12, 500, 1.0}, {"instruction", 11, 400, 1.02},
};
#define B_NCASES (sizeof(b_cases) / sizeof(b_cases[0]))

static char b_path[TU_PATH_MAX];
static long b_models, b_hours, b_calls, b_stride;

static void
b_config(void)
{
    const char *p = getenv("BENCH_DB");

    snprintf(b_path, sizeof(b_path), "%s", p != NULL && *p != '\0' ? p : B_DB_DEFAULT);
    b_models = tu_env_long("BENCH_MODELS", 20);
    b_hours = tu_env_long("BENCH_HOURS", 8760);
    b_calls = tu_env_long("BENCH_CALLS", 50);
    b_stride = tu_env_long("BENCH_STRIDE", 1);
    if (b_stride < 1)
        b_stride = 1;
    if (b_calls > B_CALLS_MAX)
        b_calls = B_CALLS_MAX;
}

static double
now_s(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* This thread's CPU time: on a shared machine the wall clock also
 * measures the other processes. */
static double
cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* common/rng.h from a fixed seed: the same data on every run. */
static struct rng b_rng;
static int b_rng_ready;

static struct rng *
b_rng_get(void)
{
    if (!b_rng_ready) {
        rng_seed(&b_rng, B_RNG_SEED);
        b_rng_ready = 1;
    }
    return &b_rng;
}

static double
uni(void)
{
    return rng_unit(b_rng_get());
}

static double
gauss(void)
{
    return rng_normal(b_rng_get());
}

static void
model_name(long m, char *out, size_t len)
{
    snprintf(out, len, "bench/model-%02ld-GGUF@Q4_K_M", m);
}

static struct db *
b_open(void)
{
    return du_db_open(b_path);
}

static void
b_exec(struct db *db, const char *sql)
{
    if (db_exec(db, sql) == -1)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, db->err);
}

/* One run of model m in hour h: facts, 57 samples in one transaction.
 * fin (NULL: not asked): this thread's CPU seconds of the samples' insert
 * (fin[0]) and of the run's finish (fin[1]). */
static void
fill_run(struct db *db, int64_t job, long m, long h, struct sample_rec *recs, double *fin)
{
    struct run_facts f;
    char name[B_NAME_MAX], fp[B_NAME_MAX], state[16], sql[256];
    int64_t run, t = B_T0 + h * B_HOUR + m * (B_HOUR / b_models), seq = 0;
    double day = (double)h / 24.0, dec0 = 20.0 + 5.0 * (double)m,
           ttft0 = 300.0 + 20.0 * (double)m, c0, c1;
    size_t c, k, n = 0, stored = 0;

    model_name(m, name, sizeof(name));
    snprintf(fp, sizeof(fp), "fp-%02ld-0123456789abcdef", m);
    if (m == 3 && day >= 200)
        dec0 *= 0.9;
    if (m == 7 && day >= 100)
        dec0 *= 1.08;
    if (m == 11 && day >= 300)
        ttft0 *= 1.2;
    if (runs_open(db, job, (int)m, name, "standard", &run, state) == -1)
        check_failed(__FILE__, __LINE__, "runs_open: %s", db->err);
    run_facts_init(&f);
    f.backend = "lms";
    f.model_format = m % 2 ? "mlx" : "gguf";
    f.model_quant = m % 2 ? "4bit" : "Q4_K_M";
    f.model_size_bytes = (int64_t)(4 + m) * 1000000000;
    f.context_length = 131072;
    f.load_ms = 5000.0 + 500.0 * (double)m + 200.0 * gauss();
    f.load_ready_ms = f.load_ms + 50;
    f.fingerprint = fp;
    f.tpsd_version = TPSD_VERSION;
    if (runs_set_facts(db, run, &f) == -1)
        check_failed(__FILE__, __LINE__, "runs_set_facts: %s", db->err);
    snprintf(sql, sizeof(sql), "UPDATE runs SET started_at = %lld WHERE id = %lld",
             (long long)t, (long long)run);
    b_exec(db, sql);
    for (c = 0; c < B_NCASES; c++) {
        for (k = 0; k < (size_t)b_cases[c].n; k++) {
            struct sample_rec *s = &recs[n++];
            double dec = dec0 * b_cases[c].speed * (1.0 + 0.02 * gauss());
            double ttft = ttft0 * (1.0 + 0.05 * gauss());
            double tok = (double)b_cases[c].tokens;
            double e2e_ms = ttft + (tok - 1.0) / dec * 1000.0;
            double u = uni();

            sample_rec_init(s);
            s->run_id = run;
            s->seq = seq++;
            snprintf(s->case_name, sizeof(s->case_name), "%s", b_cases[c].name);
            s->repetition = (int)k;
            s->started_at = t;
            t += (int64_t)e2e_ms + 100;
            s->ok = u >= 0.01;
            s->passed = !s->ok ? -1 : u < 0.04 ? 0 : 1;
            if (!s->ok) {
                snprintf(s->error_code, sizeof(s->error_code), "http_500");
                snprintf(s->error_detail, sizeof(s->error_detail), "simulated");
                continue;
            }
            s->ttfb_us = (int64_t)(ttft * 800);
            s->ttfr_us = (int64_t)(ttft * 900);
            s->ttft_us = (int64_t)(ttft * 1000);
            s->t_last_us = (int64_t)(e2e_ms * 1000) - 500;
            s->t_done_us = (int64_t)(e2e_ms * 1000);
            s->prompt_tokens = 60 + (int64_t)c * 40;
            s->completion_tokens = (int64_t)tok;
            s->n_events = (int64_t)tok;
            s->ttft_ms = ttft;
            s->decode_tps = dec;
            s->e2e_tps = tok / (e2e_ms / 1000.0);
            s->prompt_tps = (double)s->prompt_tokens / (ttft / 1000.0);
            s->tpot_ms = 1000.0 / dec;
            s->itl_p50_ms = 1000.0 / dec;
            s->itl_p90_ms = 1.1 * 1000.0 / dec;
            s->itl_p99_ms = 1.5 * 1000.0 / dec;
            s->itl_max_ms = 3.0 * 1000.0 / dec;
            s->e2e_ms = e2e_ms;
            snprintf(s->finish_reason, sizeof(s->finish_reason), "%s",
                     c == 2 ? "length" : "stop");
        }
    }
    c0 = cpu_s();
    if (samples_insert_many(db, recs, n, &stored) == -1 || stored != n)
        check_failed(__FILE__, __LINE__, "samples_insert_many: %s (%zu of %zu new)", db->err,
                     stored, n);
    c1 = cpu_s();
    if (runs_finish(db, run, "succeeded", NULL, NULL) == -1)
        check_failed(__FILE__, __LINE__, "runs_finish: %s", db->err);
    if (fin != NULL) {
        fin[0] = c1 - c0;
        fin[1] = cpu_s() - c1;
    }
}

static double
file_mb(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0;
}

static int64_t
scalar(struct db *db, const char *sql)
{
    sqlite3_stmt *st = db_prepare(db, sql);
    int64_t v = -1;

    if (st == NULL)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, db->err);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Test every run not yet tested for regressions, as the daemon would have
 * done after each job (after a fill, or where a fill cut short left off). */
static void
b_scan(struct db *db)
{
    struct regress_opts o;
    double t0 = now_s();
    int ntested, total_tested = 0;

    regress_opts_default(&o);
    do {
        if (regress_scan(db, &o, &ntested) == -1)
            check_failed(__FILE__, __LINE__, "regress_scan: %s", db->err);
        total_tested += ntested;
    } while (ntested > 0);
    printf("regress_scan over the year: %d (run, case, metric) tested in %.1f s\n",
           total_tested, now_s() - t0);
}

/* Open (or, at the end, commit) the batch of hours holding hour h when
 * `fast`; no-op otherwise. */
static void
b_batch(struct db *db, int fast, long h, int end)
{
    int last = h % B_BATCH_HOURS == B_BATCH_HOURS - 1 || h == b_hours - 1;

    if (!fast || (end ? !last : h % B_BATCH_HOURS != 0))
        return;
    if ((end ? db_batch_end(db, 1) : db_batch_begin(db)) == -1)
        check_failed(__FILE__, __LINE__, "batch: %s", db->err);
}

/* Fill b_path with the history; `fast`: a day of history per transaction. */
static void
b_fill(int fast)
{
    struct sample_rec recs[B_RUN_SAMPLES];
    struct db *db;
    char wal[TU_PATH_MAX + 8];
    double t0 = now_s(), c0 = cpu_s(), t1;
    int existing;
    long h, m, nruns;
    int64_t job;

    unlink(b_path);
    snprintf(wal, sizeof(wal), "%s-wal", b_path);
    unlink(wal);
    b_rng_ready = 0; /* the same data again */
    db = b_open();
    b_exec(db, "PRAGMA synchronous = OFF");
    if (fast) /* one copy of each page (no WAL then checkpoint), kept in memory */
        b_exec(db, "PRAGMA journal_mode = MEMORY; PRAGMA cache_size = -131072");
    for (h = 0; h < b_hours; h++) {
        b_batch(db, fast, h, 0);
        if (jobs_create(db, "bench", "benchmark", "{}", 0, NULL, NULL, &job, &existing) == -1 ||
            jobs_set_state(db, job, "running", NULL, NULL) == -1)
            check_failed(__FILE__, __LINE__, "jobs: %s", db->err);
        for (m = 0; m < b_models && h % b_stride == 0; m++)
            fill_run(db, job, m, h, recs, NULL);
        if (jobs_set_state(db, job, "succeeded", NULL, NULL) == -1)
            check_failed(__FILE__, __LINE__, "jobs: %s", db->err);
        b_batch(db, fast, h, 1);
        if (h % 500 == 499) {
            double el = now_s() - t0;
            fprintf(stderr, "  %ld/%ld hours, %.0f s, %.0f samples/s\n", h + 1, b_hours, el,
                    (double)(h / b_stride + 1) * (double)b_models * B_RUN_SAMPLES / el);
        }
    }
    if (fast)
        b_exec(db, "PRAGMA journal_mode = WAL");
    t1 = now_s();
    nruns = b_models * ((b_hours + b_stride - 1) / b_stride);
    printf(
        "fill: %ld models x %ld hours (a run every %ld h): %lld samples in %.0f s, %.1f s CPU"
        " (%.0f runs/s, %s, the rollup trigger on)\n",
        b_models, b_hours, b_stride, (long long)nruns * B_RUN_SAMPLES, t1 - t0, cpu_s() - c0,
        (double)nruns / (t1 - t0),
        fast ? "a day of history per transaction" : "one transaction per storage write");
    db_close(db);
}

/* ---- the queries ---- */

enum b_kind { B_TRENDS, B_MODELS, B_REGRESSIONS };

struct b_query {
    const char *label;
    enum b_kind kind;
    int nmodels; /* trends: models in the call (1 = model 0, 0 = all) */
    const char *case_name;
    const char *metric;
    const char *bucket;
    int days;      /* trends: the last `days` days, 0 = the whole year */
    int days_only; /* week buckets from the days, not history_weekly (in process only) */
};

static const struct b_query queries[] = {
    {"trends run, 1 model x 1 case, year", B_TRENDS, 1, "code", "decode_tps", "run", 0, 0},
    {"trends run, 1 model x 5 cases, 30 days", B_TRENDS, 1, NULL, "decode_tps", "run", 30, 0},
    {"trends run, 5 models x 5 cases, 7 days", B_TRENDS, 5, NULL, "e2e_tps", "run", 7, 0},
    {"trends hour, 1 model x 1 case, 30 days", B_TRENDS, 1, "short", "ttft_ms", "hour", 30, 0},
    {"trends day, 1 model x 5 cases, year", B_TRENDS, 1, NULL, "decode_tps", "day", 0, 0},
    {"trends day, 5 models x 5 cases, year", B_TRENDS, 5, NULL, "decode_tps", "day", 0, 0},
    {"trends week, 1 model x 5 cases, year", B_TRENDS, 1, NULL, "decode_tps", "week", 0, 0},
    {"trends week, 20 models x 5 cases, year", B_TRENDS, 0, NULL, "decode_tps", "week", 0, 0},
    {"trends week, 20 models x 5 cases, year, from days", B_TRENDS, 0, NULL, "decode_tps",
     "week", 0, 1},
    {"trends day, load_ms, 20 models, year", B_TRENDS, 0, NULL, "load_ms", "day", 0, 0},
    {"leaderboard (models)", B_MODELS, 0, NULL, NULL, NULL, 0, 0},
    {"regressions (scan + list)", B_REGRESSIONS, 0, NULL, NULL, NULL, 0, 0},
    {"regressions all=1, 1 model", B_REGRESSIONS, 1, NULL, NULL, NULL, 0, 0},
};
#define B_NQUERIES (sizeof(queries) / sizeof(queries[0]))

/* since= of q: the last q->days days of the history, or 0 for all. */
static int64_t
b_since(const struct b_query *q)
{
    return q->days > 0 ? B_T0 + (int64_t)b_hours * B_HOUR - (int64_t)q->days * B_DAY : 0;
}

/* Run q once in process: the storage call and the JSON text an endpoint
 * would send. Returns the bytes of JSON. */
static size_t
b_run(struct db *db, const struct b_query *q)
{
    struct regress_opts o;
    json_t *out = NULL;
    char name[B_NAME_MAX];
    size_t bytes = 0, len = 0;
    char *text;
    int i, n = q->nmodels;

    if (q->kind == B_MODELS) {
        if (history_models(db, &out) == -1)
            check_failed(__FILE__, __LINE__, "history_models: %s", db->err);
    } else if (q->kind == B_REGRESSIONS) {
        regress_opts_default(&o);
        model_name(3, name, sizeof(name));
        if (regress_scan(db, &o, NULL) == -1 ||
            history_verdicts_list(db, n ? name : NULL, n ? 1 : 0, 0, 100, &out) == -1)
            check_failed(__FILE__, __LINE__, "regressions: %s", db->err);
    } else {
        for (i = 0; i < (n ? n : 1); i++) {
            struct history_query hq;
            memset(&hq, 0, sizeof(hq));
            model_name(i, name, sizeof(name));
            hq.model = n ? name : NULL;
            hq.case_name = q->case_name;
            hq.metric = q->metric;
            history_bucket_parse(q->bucket, &hq.bucket);
            hq.since = b_since(q);
            hq.days_only = q->days_only;
            if (history_trends(db, &hq, &text, &len) == -1)
                check_failed(__FILE__, __LINE__, "history_trends: %s", db->err);
            bytes += len;
            free(text);
        }
        return bytes;
    }
    text = json_dumps(out, JSON_COMPACT);
    bytes = text ? strlen(text) : 0;
    free(text);
    json_decref(out);
    return bytes;
}

/* The week trends of every series over the year, read from history_weekly
 * and from the days: the same text, or the bench fails. */
static void
b_weekly_same(struct db *db)
{
    struct history_query q = {.metric = "decode_tps", .bucket = HISTORY_BUCKET_WEEK};
    char *weekly = NULL, *days = NULL;
    size_t lw = 0, ld = 0;

    if (history_trends(db, &q, &weekly, &lw) == -1)
        check_failed(__FILE__, __LINE__, "history_trends: %s", db->err);
    q.days_only = 1;
    if (history_trends(db, &q, &days, &ld) == -1)
        check_failed(__FILE__, __LINE__, "history_trends: %s", db->err);
    if (lw != ld || memcmp(weekly, days, lw) != 0)
        check_failed(__FILE__, __LINE__, "weekly and daily answers differ");
    printf("week trends of every series: history_weekly and the days give the same %zu"
           " bytes\n",
           lw);
    free(weekly);
    free(days);
}

/* BENCH_ONLY (a part of a query's label) unset, or q's label holds it. */
static int
b_wanted(const struct b_query *q)
{
    const char *only = getenv("BENCH_ONLY");

    return only == NULL || strstr(q->label, only) != NULL;
}

/* ---- over HTTP ---- */

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
    size_t *total = arg;

    (void)p;
    *total += sz * n;
    return sz * n;
}

/* The GET path of q for model i (model names URL-encoded by hand: they
 * hold only '/' and '@'). */
static void
b_path_of(const struct b_query *q, int i, char *out, size_t len)
{
    char name[B_NAME_MAX], enc[3 * B_NAME_MAX];
    size_t k, j = 0;
    int n;

    model_name(q->kind == B_REGRESSIONS ? 3 : i, name, sizeof(name));
    for (k = 0; name[k] != '\0' && j + 4 < sizeof(enc); k++) {
        if (name[k] == '/' || name[k] == '@')
            j += (size_t)snprintf(enc + j, sizeof(enc) - j, "%%%02X", (unsigned char)name[k]);
        else
            enc[j++] = name[k];
    }
    enc[j] = '\0';
    if (q->kind == B_MODELS) {
        n = snprintf(out, len, "/v1/models");
    } else if (q->kind == B_REGRESSIONS) {
        n = q->nmodels ? snprintf(out, len, "/v1/regressions?all=1&model=%s", enc)
                       : snprintf(out, len, "/v1/regressions");
    } else {
        n = snprintf(out, len, "/v1/trends?metric=%s&bucket=%s&since=%lld%s%s%s%s", q->metric,
                     q->bucket, (long long)b_since(q), q->nmodels ? "&model=" : "",
                     q->nmodels ? enc : "", q->case_name ? "&case=" : "",
                     q->case_name ? q->case_name : "");
    }
    if (n < 0 || (size_t)n >= len)
        check_failed(__FILE__, __LINE__, "path too long");
}

/* One endpoint call (several GETs for several models). Returns seconds. */
static double
b_http(CURL *c, int port, const struct b_query *q)
{
    char path[B_URL_MAX], url[B_URL_MAX + 64];
    size_t bytes = 0;
    long status = 0;
    double t0 = now_s();
    int i, n = q->kind == B_TRENDS && q->nmodels > 1 ? q->nmodels : 1;

    for (i = 0; i < n; i++) {
        b_path_of(q, i, path, sizeof(path));
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &bytes);
        if (curl_easy_perform(c) != CURLE_OK)
            check_failed(__FILE__, __LINE__, "GET %s failed", url);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            check_failed(__FILE__, __LINE__, "GET %s: %ld", url, status);
    }
    return now_s() - t0;
}

static void
b_query(void)
{
    static double times[B_CALLS_MAX], cpu[B_CALLS_MAX];
    struct db *db;
    struct config cfg;
    struct api *api;
    int port;
    double t0, c0, cold, hmed[B_NQUERIES], hp99[B_NQUERIES];
    size_t qi, bytes = 0;
    long i;
    CURL *c;

    db = b_open();
    printf("\ndatabase %s: %.0f MB; %lld samples, %lld runs, %lld rollups, %lld verdicts\n",
           b_path, file_mb(b_path), (long long)scalar(db, "SELECT count(*) FROM samples"),
           (long long)scalar(db, "SELECT count(*) FROM runs"),
           (long long)scalar(db, "SELECT count(*) FROM history_rollup"),
           (long long)scalar(db, "SELECT count(*) FROM history_verdicts"));
    b_weekly_same(db);
    db_close(db);
    /* HTTP first: its numbers do not depend on this process's caches. */
    config_defaults(&cfg);
    api = hu_api_start(&cfg, b_path, 0, &port);
    c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (qi = 0; qi < B_NQUERIES; qi++) {
        for (i = 0; i < b_calls; i++)
            times[i] = queries[qi].days_only || !b_wanted(&queries[qi])
                           ? NAN
                           : b_http(c, port, &queries[qi]);
        hmed[qi] = stats_percentile_select(times, (size_t)b_calls, 0.5);
        hp99[qi] = stats_percentile_select(times, (size_t)b_calls, 0.99);
    }
    curl_easy_cleanup(c);
    api_stop(api);

    printf("\n%-42s %8s %8s %8s %8s %8s %8s %10s\n", "query (ms)", "cold", "median", "p99",
           "cpu med", "http med", "http p99", "JSON bytes");
    for (qi = 0; qi < B_NQUERIES; qi++) {
        const struct b_query *q = &queries[qi];

        if (!b_wanted(q))
            continue;
        db = b_open();
        t0 = now_s();
        bytes = b_run(db, q);
        cold = now_s() - t0;
        for (i = 0; i < b_calls; i++) {
            t0 = now_s();
            c0 = cpu_s();
            b_run(db, q);
            times[i] = now_s() - t0;
            cpu[i] = cpu_s() - c0;
        }
        db_close(db);
        printf("%-42s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %10zu\n", q->label, cold * 1e3,
               stats_percentile_select(times, (size_t)b_calls, 0.5) * 1e3,
               stats_percentile_select(times, (size_t)b_calls, 0.99) * 1e3,
               stats_percentile_select(cpu, (size_t)b_calls, 0.5) * 1e3, hmed[qi] * 1e3,
               hp99[qi] * 1e3, bytes);
    }
    printf("\n(cold = the first call on a freshly opened connection; the OS page cache stays"
           " warm. %ld calls each; several models = one call per model; cpu = this thread's"
           " CPU time; http = GET on loopback, JSON sent.)\n",
           b_calls);
}

static int
b_complete(void)
{
    struct db *db;
    int64_t n;
    struct stat sb;

    if (stat(b_path, &sb) == -1)
        return 0;
    db = b_open();
    n = scalar(db, "SELECT count(*) FROM runs WHERE state = 'succeeded'");
    db_close(db);
    return n == (int64_t)b_models * ((b_hours + b_stride - 1) / b_stride);
}

TEST(fill)
{
    struct db *db;

    b_config();
    if (getenv("BENCH_REFILL") != NULL || !b_complete())
        b_fill(getenv("BENCH_FAST") != NULL);
    else
        printf("fill: %s already holds %ld models x %ld hours (BENCH_REFILL=1 to redo)\n",
               b_path, b_models, b_hours);
    fflush(stdout);
    db = b_open();
    b_scan(db);
    b_exec(db, "PRAGMA optimize");
    db_close(db);
}

TEST(query)
{
    b_config();
    b_query();
}

/* Opening BENCH_DB: the steps from its version to this build's (the
 * daemon's start on an upgrade in place), wall and CPU time. */
TEST(open)
{
    sqlite3 *h;
    struct db *db;
    double t0, c0, t1, c1;
    int from, to;

    b_config();
    h = du_open_ro(b_path);
    from = (int)du_q(h, "PRAGMA user_version");
    sqlite3_close(h);
    t0 = now_s();
    c0 = cpu_s();
    db = b_open();
    t1 = now_s();
    c1 = cpu_s();
    to = db_user_version(db);
    db_close(db);
    printf("open: %s from schema version %d to %d in %.2f s (%.2f s CPU); the close's WAL"
           " checkpoint %.2f s (%.2f s CPU)\n",
           b_path, from, to, t1 - t0, c1 - c0, now_s() - t1, cpu_s() - c1);
}

/*
 * The cost of a run's finish on a year of history: BENCH_CALLS runs of
 * model 0 stored in the last hour of the last whole week, whose days then
 * already hold a week of runs (the heaviest week to refold: the finish
 * merges the run's rollups into history_daily, whose trigger refolds that
 * week into history_weekly). Medians of this thread's CPU time of the
 * samples' insert and of runs_finish.
 */
TEST(finish)
{
    static double ins[B_CALLS_MAX], fin[B_CALLS_MAX];
    struct sample_rec recs[B_RUN_SAMPLES];
    struct db *db;
    double f[2];
    int64_t job;
    int existing;
    long i, h;

    b_config();
    h = (b_hours / 24 / 7 * 7 - 1) * 24 + 23; /* Sunday 23:00 of the last whole week */
    CHECK_INT(h, >, 0);
    db = b_open();
    for (i = 0; i < b_calls; i++) { /* a job each: a job opens one run per model */
        if (jobs_create(db, "bench-finish", "benchmark", "{}", 0, NULL, NULL, &job,
                        &existing) == -1 ||
            jobs_set_state(db, job, "running", NULL, NULL) == -1)
            check_failed(__FILE__, __LINE__, "jobs: %s", db->err);
        fill_run(db, job, 0, h, recs, f);
        ins[i] = f[0];
        fin[i] = f[1];
        if (jobs_set_state(db, job, "succeeded", NULL, NULL) == -1)
            check_failed(__FILE__, __LINE__, "jobs: %s", db->err);
    }
    db_close(db);
    printf("finish: %ld runs of model 0 at hour %ld (the end of the last whole week): CPU"
           " median %.3f ms storing its %d samples, %.3f ms runs_finish (p90 %.3f ms)\n",
           b_calls, h, stats_percentile_select(ins, (size_t)b_calls, 0.5) * 1e3, B_RUN_SAMPLES,
           stats_percentile_select(fin, (size_t)b_calls, 0.5) * 1e3,
           stats_percentile_select(fin, (size_t)b_calls, 0.9) * 1e3);
}

/* The tables both fills must hold alike: every column but the wall-clock
 * times of the writes themselves (jobs, runs.finished_at). */
static const struct {
    const char *cols, *table;
} b_same_tables[] = {
    {"id, job_id, model_index, model, suite, state, started_at, load_ms, fingerprint", "runs"},
    {"*", "samples"},
    {"*", "history_rollup"},
    {"*", "history_daily"},
    {"*", "history_daily_load"},
    {"*", "history_weekly"},
};

/* The rows of table i in schema `a` (not in schema `b` when b is set). */
static int64_t
b_rows(struct db *db, size_t i, const char *a, const char *b)
{
    const char *c = b_same_tables[i].cols, *t = b_same_tables[i].table;
    char sql[B_URL_MAX];
    int n =
        b ? snprintf(sql, sizeof(sql),
                     "SELECT count(*) FROM (SELECT %s FROM %s.%s EXCEPT SELECT %s FROM %s.%s)",
                     c, a, t, c, b, t)
          : snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.%s", a, t);

    if (n < 0 || (size_t)n >= sizeof(sql))
        check_failed(__FILE__, __LINE__, "query too long");
    return scalar(db, sql);
}

TEST(same)
{
    char slow[TU_PATH_MAX], sql[TU_PATH_MAX + 32];
    struct db *db;
    size_t i;

    b_config();
    snprintf(slow, sizeof(slow), "%.*s.slow", TU_PATH_MAX - 8, b_path);
    snprintf(b_path, sizeof(b_path), "%s", slow);
    b_fill(0);
    snprintf(b_path, sizeof(b_path), "%.*s.fast", TU_PATH_MAX - 16, slow);
    b_fill(1);
    db = b_open();
    snprintf(sql, sizeof(sql), "ATTACH '%s' AS slow", slow);
    b_exec(db, sql);
    for (i = 0; i < sizeof(b_same_tables) / sizeof(b_same_tables[0]); i++) {
        int64_t n = b_rows(db, i, "main", NULL);
        CHECK_INT(n, >, 0);
        CHECK_INT(b_rows(db, i, "slow", NULL), ==, n);
        CHECK_INT(b_rows(db, i, "main", "slow"), ==, 0);
        CHECK_INT(b_rows(db, i, "slow", "main"), ==, 0);
        printf("same: %s, %lld rows alike\n", b_same_tables[i].table, (long long)n);
    }
    db_close(db);
}

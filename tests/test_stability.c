/*
 * test_stability.c - stability jobs in compressed time. The analysis on
 * synthetic data with known answers; system readings and the sampler; then
 * the real daemon (`tpsd serve` as a subprocess, the fake lms, tpsd-sim as
 * the server whose pid is sampled): a two-minute job against a drifting,
 * leaking sim reports the injected drift and growth within 10%; a steady
 * sim with faults gives no leak verdict and reports the errors, bursts and
 * stalls; kill -9 of the daemon mid-job loses no sample and the job still
 * ends at its planned time; a cancel stops a stability job.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "common/clock.h"
#include "daemon/jobspec.h"
#include "daemon/sampler.h"
#include "daemon/stability.h"
#include "daemon/sysinfo.h"
#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"
#include "storage/stabdata.h"
#include "storage/system.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_ARGS_MAX 48
#define T_URL_MAX 256
#define T_SPEC_MAX 1024
#define T_SERVE_START_MS 20000
#define MB (1024.0 * 1024.0)

/* The drifting, leaking model of the issue: decode rate -5 %/min of the
 * rate at load, server memory +20 MB/min. */
#define T_DRIFT_PCT_PER_MIN 5.0
#define T_RSS_MB_PER_MIN 20.0

#define T_SUITE                                                                                \
    "{\"name\":\"stab\",\"cases\":[{\"name\":\"c\",\"max_tokens\":50,\"messages\":"            \
    "[{\"role\":\"user\",\"content\":\"hello\"}]}]}"

/* The member at a dotted path ("a.b.c") of o, or NULL. */
static const json_t *
jwalk(const json_t *o, const char *path)
{
    char key[64];
    size_t n;

    for (;;) {
        n = strcspn(path, ".");
        CHECK(n < sizeof(key));
        memcpy(key, path, n);
        key[n] = '\0';
        o = json_object_get(o, key);
        if (path[n] == '\0')
            return o;
        path += n + 1;
    }
}

static double
jnum(const json_t *o, const char *path)
{
    o = jwalk(o, path);
    return json_is_number(o) ? json_number_value(o) : NAN;
}

static const char *
jstr(const json_t *o, const char *path)
{
    return json_string_value(jwalk(o, path));
}

/* ---- the analysis on synthetic data ---- */

#define SYN_DURATION_S 7200
#define SYN_SAMPLE_S 10  /* a request every 10 s: 720 */
#define SYN_READING_S 30 /* a system reading every 30 s: 240 */

/* A stability job with one run whose measuring began at t0, samples with
 * decode TPS 100 - 5/h, TTFT 50 + 10/h, a burst of 5 http_500 at 100..104,
 * one stall error at 300 (2.5 s after its last event), a 900 ms gap at 500;
 * readings with server RSS 1000 MB + rss_mb_per_hour, throttling at
 * readings 100..109 (heavy) and 150..152 (moderate), swap 512 MB from 200.
 * Returns the job id. */
static int64_t
syn_job(struct db *db, int64_t t0, double rss_mb_per_hour)
{
    char spec[256];
    struct sample_rec s;
    struct system_rec r;
    int64_t job, run, planned;
    char state[16];
    int existing = 0, i;

    snprintf(spec, sizeof(spec), "{\"kind\":\"stability\",\"duration_s\":%d,\"interval_s\":0}",
             SYN_DURATION_S);
    CHECK_INT(jobs_create(db, "syn", "stability", spec, 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "syn-model", "stab", &run, state), ==, 0);
    CHECK_INT(stabdata_plan_end(db, run, t0, SYN_DURATION_S * 1000LL, &planned), ==, 0);
    CHECK_INT(planned, ==, t0 + SYN_DURATION_S * 1000LL);
    /* a second call keeps the first plan */
    CHECK_INT(stabdata_plan_end(db, run, t0 + 5000, 1000, &planned), ==, 0);
    CHECK_INT(planned, ==, t0 + SYN_DURATION_S * 1000LL);
    for (i = 0; i < SYN_DURATION_S / SYN_SAMPLE_S; i++) {
        double th = (double)(i * SYN_SAMPLE_S) / 3600.0;

        sample_rec_init(&s);
        s.run_id = run;
        s.seq = i + 1;
        snprintf(s.case_name, sizeof(s.case_name), "c");
        s.started_at = t0 + (int64_t)i * SYN_SAMPLE_S * 1000;
        s.ok = 1;
        s.decode_tps = 100.0 - 5.0 * th;
        s.ttft_ms = 50.0 + 10.0 * th;
        s.itl_max_ms = i == 500 ? 900.0 : 20.0;
        if (i >= 100 && i <= 104) {
            s.ok = 0;
            snprintf(s.error_code, sizeof(s.error_code), "http_500");
        }
        if (i == 300) {
            s.ok = 0;
            snprintf(s.error_code, sizeof(s.error_code), "stall");
            s.itl_max_ms = NAN;
            s.ttft_us = 50000;
            s.t_last_us = 1000000;
            s.t_done_us = 3500000;
        }
        CHECK_INT(samples_insert(db, &s), ==, 0);
        sample_rec_free(&s);
    }
    /* a warm-up before t0 is not analysed */
    sample_rec_init(&s);
    s.run_id = run;
    s.seq = 0;
    s.warmup = 1;
    snprintf(s.case_name, sizeof(s.case_name), "c");
    s.started_at = t0 - 5000;
    s.ok = 1;
    s.decode_tps = 1.0;
    CHECK_INT(samples_insert(db, &s), ==, 0);
    sample_rec_free(&s);
    for (i = 0; i < SYN_DURATION_S / SYN_READING_S; i++) {
        double th = (double)(i * SYN_READING_S) / 3600.0;

        system_rec_init(&r);
        r.job_id = job;
        r.run_id = run;
        r.at = t0 + (int64_t)i * SYN_READING_S * 1000;
        r.mem_total_bytes = (int64_t)(64 * 1024 * MB);
        r.mem_avail_bytes = (int64_t)((32 * 1024 - i) * MB);
        r.swap_used_bytes = i >= 200 ? (int64_t)(512 * MB) : 0;
        r.mem_pressure = 0.25;
        r.server_rss_bytes = (int64_t)((1000.0 + rss_mb_per_hour * th) * MB);
        r.self_rss_bytes = (int64_t)(20 * MB);
        r.cpu_load1 = 2.0;
        snprintf(r.thermal, sizeof(r.thermal), "%s",
                 i >= 100 && i <= 109   ? "heavy"
                 : i >= 150 && i <= 152 ? "moderate"
                                        : "nominal");
        CHECK_INT(system_samples_insert(db, &r, 1), ==, 0);
    }
    CHECK_INT(runs_finish(db, run, "succeeded", NULL, NULL), ==, 0);
    return job;
}

static json_t *
syn_analyze(struct db *db, int64_t job, int detail)
{
    struct stability_opts o;
    json_t *a = NULL;

    stability_opts_default(&o);
    o.window_s = 600;
    o.warmup_s = 600;
    o.leak_mb_per_hour = 50;
    o.leak_min_growth_mb = 16;
    o.detail = detail;
    CHECK_INT(stability_analyze(db, job, &o, &a), ==, 0);
    CHECK(a != NULL);
    return a;
}

/*
 * What the analysis of syn_job(db, t0, 100.0) must say of its run: a
 * figure's path, its value (plus t0 when at_t0), and the tolerance.
 */
struct syn_expect {
    const char *path;
    double want, tol;
    int at_t0;
};

static const struct syn_expect syn_run_expect[] = {
    {"measure_start_at", 0, 0, 1},
    {"planned_end_at", SYN_DURATION_S * 1000.0, 0, 1},
    {"elapsed_s", SYN_DURATION_S, 1e-9, 0},
    {"remaining_s", 0, 0, 0},
    {"requests", 720, 0, 0}, /* the warm-up is not counted */
    {"errors", 6, 0, 0},
    {"error_rate", 6.0 / 720.0, 1e-12, 0},
    /* drift: exact lines, so OLS and Theil-Sen agree to rounding */
    {"drift.decode_tps.slope_per_hour", -5.0, 1e-6, 0},
    {"drift.decode_tps.intercept", 100.0, 1e-6, 0},
    {"drift.decode_tps.slope_pct_per_hour", -5.0, 1e-6, 0},
    {"drift.decode_tps.robust_slope_per_hour", -5.0, 1e-6, 0},
    {"drift.decode_tps.robust_slope_pct_per_hour", -5.0, 1e-6, 0},
    {"drift.decode_tps.r2", 1.0, 1e-9, 0},
    {"drift.ttft_ms.slope_per_hour", 10.0, 1e-6, 0},
    {"drift.ttft_ms.slope_pct_per_hour", 20.0, 1e-6, 0},
    /* first vs last quarter (up to the last request at 7190 s): means near
     * 0.25 h and 1.75 h, 98.76 -> 91.26, a change of -7.3 to -7.9 % */
    {"drift.decode_tps.first_last.span_s", 1797.5, 1e-6, 0},
    {"drift.decode_tps.first_last.change_pct", -7.6, 0.3, 0},
    /* memory: +100 MB/h after the 600 s warm-up is a leak */
    {"memory.server.growth_mb_per_hour", 100.0, 1e-6, 0},
    {"memory.server.r2", 1.0, 1e-9, 0},
    {"memory.server.fit_from_at", 600000, 0, 1},
    {"memory.server.fit_n", 240 - 20, 0, 0},
    {"memory.server.start_mb", 1000.0, 1e-6, 0},
    {"memory.tpsd.growth_mb_per_hour", 0.0, 1e-9, 0},
    /* errors, bursts, stalls */
    {"error_detail.bursts_count", 1, 0, 0},
    {"error_detail.max_consecutive", 5, 0, 0},
    {"error_detail.by_code.http_500", 5, 0, 0},
    {"error_detail.by_code.stall", 1, 0, 0},
    {"stall.longest_ms", 2500.0, 1e-9, 0},
    {"stall.seq", 301, 0, 0},
    {"stall.stall_errors", 1, 0, 0},
    /* swap, thermal, pressure, load */
    {"swap.max_mb", 512.0, 1e-9, 0},
    {"swap.start_mb", 0.0, 1e-9, 0},
    {"thermal.episodes_count", 2, 0, 0},
    {"thermal.throttled_s", 10 * 30 + 3 * 30, 1e-9, 0},
    {"memory.pressure_max", 0.25, 1e-12, 0},
    {"cpu_load1.mean", 2.0, 1e-12, 0},
};

static void
syn_check_run(const json_t *run, int64_t t0)
{
    const struct syn_expect *x;
    json_t *w;
    size_t i;

    for (i = 0; i < sizeof(syn_run_expect) / sizeof(syn_run_expect[0]); i++) {
        x = &syn_run_expect[i];
        if (!(fabs(jnum(run, x->path) - (x->want + (x->at_t0 ? (double)t0 : 0))) <= x->tol))
            check_failed(__FILE__, __LINE__, "%s: %.6f, want %.6f (tol %g)", x->path,
                         jnum(run, x->path), x->want + (x->at_t0 ? (double)t0 : 0), x->tol);
    }
    CHECK_STR(jstr(run, "memory.server.verdict"), "leak");
    CHECK(json_is_true(json_object_get(run, "leak")));
    CHECK_STR(jstr(run, "thermal.worst"), "heavy");
    w = json_array_get(json_object_get(json_object_get(run, "thermal"), "episodes"), 1);
    CHECK_STR(jstr(w, "worst"), "moderate");
    w = json_array_get(json_object_get(json_object_get(run, "error_detail"), "bursts"), 0);
    CHECK_INT(jnum(w, "start_at"), ==, t0 + 100 * SYN_SAMPLE_S * 1000LL);
    CHECK_INT(jnum(w, "end_at"), ==, t0 + 104 * SYN_SAMPLE_S * 1000LL);
    CHECK_STR(jstr(w, "error_code"), "http_500");
}

/* Windows of 10 min: 12, 60 requests each; the second holds the burst. */
static void
syn_check_windows(const json_t *run)
{
    json_t *w;

    CHECK_INT(json_array_size(json_object_get(run, "windows")), ==, 12);
    w = json_array_get(json_object_get(run, "windows"), 0);
    CHECK_INT(jnum(w, "requests"), ==, 60);
    CHECK_NEAR(jnum(w, "decode_tps.mean"), 100.0 - 5.0 * (295.0 / 3600.0), 1e-9);
    CHECK_NEAR(jnum(w, "decode_tps.median"), 100.0 - 5.0 * (295.0 / 3600.0), 1e-9);
    CHECK_NEAR(jnum(w, "server_rss_mb.mean"), 1000.0 + 100.0 * (285.0 / 3600.0), 1e-6);
    CHECK_STR(jstr(w, "thermal"), "nominal");
    w = json_array_get(json_object_get(run, "windows"), 1); /* requests 60..119: the burst */
    CHECK_INT(jnum(w, "errors"), ==, 5);
    CHECK_NEAR(jnum(w, "error_rate"), 5.0 / 60.0, 1e-12);
}

/* A reading after the planned end (the sampler runs until the job ends)
 * falls into the last window: the planned length bounds the windows. */
static void
syn_check_late_reading(struct db *db, int64_t job, int64_t t0)
{
    struct system_rec r;
    json_t *a, *run, *w;

    system_rec_init(&r);
    r.job_id = job;
    r.run_id = 1;
    r.at = t0 + SYN_DURATION_S * 1000LL + 2000;
    r.server_rss_bytes = (int64_t)(5000 * MB);
    CHECK_INT(system_samples_insert(db, &r, 1), ==, 0);
    a = syn_analyze(db, job, 1);
    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK_INT(json_array_size(json_object_get(run, "windows")), ==, 12);
    w = json_array_get(json_object_get(run, "windows"), 11);
    CHECK_NEAR(jnum(w, "server_rss_mb.max"), 5000.0, 1e-9);
    json_decref(a);
}

/* A server that grows by mb_per_hour: no leak verdict (flat, or under the
 * threshold). */
static void
syn_check_no_leak(struct db *db, int64_t t0, double mb_per_hour)
{
    int64_t job = syn_job(db, t0, mb_per_hour);
    json_t *a = syn_analyze(db, job, 0), *run;

    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK_NEAR(jnum(run, "memory.server.growth_mb_per_hour"), mb_per_hour, 1e-6);
    CHECK_STR(jstr(run, "memory.server.verdict"), "none");
    CHECK(json_is_false(json_object_get(run, "leak")));
    json_decref(a);
}

TEST(analysis_synthetic)
{
    char path[TU_PATH_MAX], err[DB_ERR_MAX];
    struct stability_opts o;
    struct db *db;
    int64_t t0 = clock_wall_ms() - SYN_DURATION_S * 1000LL - 60000, job;
    json_t *a, *run;

    snprintf(path, sizeof(path), "%s/t.db", tu_tmpdir());
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_exec(db, "PRAGMA synchronous = OFF"), ==, 0); /* thousands of commits */
    job = syn_job(db, t0, 100.0);
    a = syn_analyze(db, job, 1);
    CHECK_STR(jstr(a, "kind"), "stability");
    CHECK_DBL(jnum(a, "duration_s"), ==, SYN_DURATION_S);
    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK(run != NULL);
    syn_check_run(run, t0);
    syn_check_windows(run);
    CHECK(json_array_size(json_object_get(a, "system")) > 100); /* the system series */
    json_decref(a);
    /* no detail: no windows, no series */
    a = syn_analyze(db, job, 0);
    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK(json_object_get(run, "windows") == NULL);
    CHECK(json_object_get(a, "system") == NULL);
    json_decref(a);
    syn_check_late_reading(db, job, t0);
    syn_check_no_leak(db, t0, 0.0);
    syn_check_no_leak(db, t0, 30.0);
    stability_opts_default(&o); /* no such job */
    CHECK_INT(stability_analyze(db, 9999, &o, &a), ==, 1);
    db_close(db);
}

TEST(analysis_report_markdown)
{
    char path[TU_PATH_MAX], err[DB_ERR_MAX], *md = NULL;
    struct db *db;
    size_t len = 0;
    FILE *f;
    int64_t job;

    snprintf(path, sizeof(path), "%s/t.db", tu_tmpdir());
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_exec(db, "PRAGMA synchronous = OFF"), ==, 0);
    job = syn_job(db, clock_wall_ms() - SYN_DURATION_S * 1000LL - 1000, 100.0);
    f = open_memstream(&md, &len);
    CHECK(f != NULL);
    stability_report_md(db, job, f);
    CHECK_INT(fclose(f), ==, 0);
    CHECK(strstr(md, "## Stability") != NULL);
    CHECK(strstr(md, "### syn-model") != NULL);
    CHECK(strstr(md, "**leak**") != NULL);
    CHECK(strstr(md, "-5.00 %/h") != NULL);
    CHECK(strstr(md, "+100.0 MB/h") != NULL);
    CHECK(strstr(md, "2 throttling episodes") != NULL);
    CHECK(strstr(md, "6 of 720") != NULL);
    free(md);
    db_close(db);
}

/* ---- job specs ---- */

TEST(jobspec_stability_loads)
{
    struct jobspec s, again;
    char err[JOBSPEC_ERR_MAX];
    json_t *in, *norm;

    /* a rate load runs for the job's duration_s */
    in = json_loads("{\"models\": [\"m\"], \"kind\": \"stability\", \"duration_s\": 600,"
                    " \"load_pattern\": {\"type\": \"rate\", \"rps\": 2.5}}",
                    0, NULL);
    CHECK(in != NULL);
    CHECK_INT(jobspec_parse(in, &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.load, ==, LOAD_RATE);
    CHECK_DBL(s.rps, ==, 2.5);
    CHECK_DBL(s.duration_s, ==, 600);
    norm = jobspec_to_json(&s);
    CHECK_INT(jobspec_parse(norm, &again, err, sizeof(err)), ==, 0);
    CHECK_INT(again.load, ==, LOAD_RATE);
    CHECK_DBL(again.duration_s, ==, 600);
    CHECK_DBL(again.interval_s, ==, 0);
    jobspec_free(&again);
    jobspec_free(&s);
    json_decref(norm);
    json_decref(in);
    /* a benchmark's rate load still needs its own duration */
    in = json_loads("{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"rate\","
                    " \"rps\": 2}}",
                    0, NULL);
    CHECK_INT(jobspec_parse(in, &s, err, sizeof(err)), ==, -1);
    CHECK(strstr(err, "load_pattern.duration_s: required") != NULL);
    json_decref(in);
}

/* ---- system readings ---- */

TEST(sysinfo_reads_this_process)
{
    struct sysinfo_target t;
    struct sysinfo_snap s;
    int n = 0;
    int64_t rss;

    memset(&t, 0, sizeof(t));
    t.pid = (long)getpid();
    sysinfo_read(&t, &s);
    CHECK(s.at > 0);
    CHECK(s.mem_total_bytes > 0);
    CHECK(s.mem_avail_bytes > 0);
    CHECK(s.mem_avail_bytes <= s.mem_total_bytes);
    CHECK(s.server_rss_bytes > 1024 * 1024);
    CHECK_INT(s.server_procs, ==, 1);
    CHECK(s.self_rss_bytes > 1024 * 1024);
    CHECK(!isnan(s.cpu_load1) && s.cpu_load1 >= 0);
#ifdef __linux__
    CHECK(s.swap_used_bytes >= 0);
#endif
    /* by name: this test binary (comm keeps 15 bytes) */
    rss = sysinfo_proc_rss_by_name("test_stability", &n);
    CHECK(rss > 0);
    CHECK_INT(n, >=, 1);
    CHECK_INT(sysinfo_proc_rss_by_name("no-such-process-xyz", &n), ==, -1);
    CHECK_INT(n, ==, 0);
    CHECK_INT(sysinfo_proc_rss(999999999), ==, -1);
    /* no target: no server figure */
    sysinfo_read(NULL, &s);
    CHECK_INT(s.server_rss_bytes, ==, -1);
}

TEST(sampler_queues_and_stores)
{
    char path[TU_PATH_MAX], err[DB_ERR_MAX];
    struct sysinfo_target t;
    struct sampler *sp;
    struct db *db;
    int64_t job;
    int existing = 0, n;
    sqlite3_stmt *st;

    snprintf(path, sizeof(path), "%s/t.db", tu_tmpdir());
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(jobs_create(db, "s", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    memset(&t, 0, sizeof(t));
    t.pid = (long)getpid();
    sp = sampler_start(&t, 100, job);
    CHECK(sp != NULL);
    tu_sleep_ms(550);
    n = sampler_drain(sp, db);
    CHECK_INT(n, >=, 4);
    CHECK_INT(n, <=, 8);
    sampler_set_run(sp, 0);
    tu_sleep_ms(250);
    sampler_stop(sp, db); /* the last readings are stored too */
    CHECK_INT(system_samples_count(db, job), >=, n + 2);
    st = db_prepare(db, "SELECT count(*) FROM system_samples WHERE job_id = :j"
                        " AND server_rss_bytes > 0 AND self_rss_bytes > 0 AND at > 0");
    CHECK(st != NULL);
    db_bind_int(st, ":j", job);
    CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
    CHECK_INT(sqlite3_column_int64(st, 0), ==, system_samples_count(db, job));
    sqlite3_finalize(st);
    sampler_stop(NULL, db);
    CHECK_INT(sampler_drain(NULL, db), ==, 0);
    db_close(db);
}

/* ---- the real daemon ---- */

struct t_env {
    struct tu_sim sim;
    char dir[TU_PATH_MAX / 2];
    char home[TU_PATH_MAX];
    char db[TU_PATH_MAX];
    pid_t serve;
    int port;
    char url[T_URL_MAX];
    int starts;
};

/* The sim with one model (its JSON object), the fake lms pointed at it. The
 * sim runs without ASan's quarantine, so its RSS is its ballast and not
 * freed memory kept for use-after-free checks. */
static void
t_setup(struct t_env *t, const char *model_json)
{
    char path[TU_PATH_MAX * 2], cfg[TU_PATH_MAX * 2], simcfg[2048], asan[1024];
    const char *old = getenv("ASAN_OPTIONS");

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s", tu_tmpdir());
    snprintf(t->home, sizeof(t->home), "%s/home", t->dir);
    snprintf(t->db, sizeof(t->db), "%s/t.db", t->dir);
    snprintf(simcfg, sizeof(simcfg), "{\"models\":[%s]}", model_json);
    snprintf(asan, sizeof(asan), "%s%squarantine_size_mb=0", old ? old : "",
             old && *old ? ":" : "");
    CHECK_INT(setenv("ASAN_OPTIONS", asan, 1), ==, 0);
    CHECK_INT(tu_sim_start(simcfg, &t->sim), ==, 0);
    if (old != NULL)
        setenv("ASAN_OPTIONS", old, 1);
    else
        unsetenv("ASAN_OPTIONS");
    CHECK_INT(mkdir(t->home, 0700), ==, 0);
    snprintf(path, sizeof(path), "%s/.lmstudio", t->home);
    CHECK_INT(mkdir(path, 0700), ==, 0);
    snprintf(path, sizeof(path), "%s/.lmstudio/fake-lms.json", t->home);
    snprintf(cfg, sizeof(cfg), "{\"sim\":\"%s\"}", t->sim.base_url);
    CHECK_INT(tu_write_file(path, cfg), ==, 0);
    CHECK_INT(setenv("HOME", t->home, 1), ==, 0);
    unsetenv("FAKE_LMS_CONFIG");
    unsetenv("TPSD_CONFIG");
    unsetenv("TPSD_DB");
    t->port = tu_free_port();
    CHECK(t->port > 0);
    snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%d", t->port);
}

/* Start `tpsd serve` on t's database with compressed-time settings plus the
 * NULL-terminated extra flags; wait until /v1/healthz answers. */
static void
t_serve(struct t_env *t, const char *const *extra)
{
    char *argv[T_ARGS_MAX], port[16], pid[16], out[TU_PATH_MAX], err[TU_PATH_MAX];
    char url[T_URL_MAX + 32];
    const char *bin = getenv("TPSD_BIN");
    uint64_t deadline;
    long status = 0;
    int n = 0, i;

    CHECK(bin != NULL);
    snprintf(port, sizeof(port), "%d", t->port);
    snprintf(pid, sizeof(pid), "%ld", (long)t->sim.pid);
    n = TU_ARGV(argv, n, (char *)bin, "serve", "--db", t->db, "--listen-port", port, "--lms",
                (char *)tu_src("tests/fake-lms"), "--base-url", t->sim.base_url, "--server-pid",
                pid, "--stability-sample-interval-ms", "1000", "--stability-event-s", "10",
                "--stability-warmup-s", "10", "--stability-window-s", "20");
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        CHECK(n < T_ARGS_MAX - 1);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    t->starts++;
    snprintf(out, sizeof(out), "%s/serve%d.out", t->dir, t->starts);
    snprintf(err, sizeof(err), "%s/serve%d.err", t->dir, t->starts);
    CHECK_INT(tu_spawn(argv, out, err, 1, &t->serve), ==, 0);
    snprintf(url, sizeof(url), "%s/v1/healthz", t->url);
    deadline = tu_now_ns() + T_SERVE_START_MS * 1000000ULL;
    while (tu_now_ns() < deadline) {
        if (tu_wait_pid_exit(t->serve, 0, NULL) == 0)
            check_failed(__FILE__, __LINE__, "tpsd serve exited; see %s", err);
        if (tu_http("GET", url, NULL, NULL, &status, NULL) == 0 && status == 200)
            return;
        tu_sleep_ms(50);
    }
    check_failed(__FILE__, __LINE__, "tpsd serve did not come up; see %s", err);
}

static void
t_serve_stop(struct t_env *t)
{
    tu_stop_pid(t->serve, 15000);
    t->serve = 0;
}

static void
t_teardown(struct t_env *t)
{
    t_serve_stop(t);
    tu_sim_stop(&t->sim);
}

/* method path body -> parsed JSON (the status must be `want`). */
static json_t *
t_call(struct t_env *t, const char *method, const char *path, const char *body, long want)
{
    static const char *const hdrs[] = {"Content-Type: application/json", NULL};
    char url[T_URL_MAX + 256], *text = NULL;
    long status = 0;
    json_t *j;

    snprintf(url, sizeof(url), "%s%s", t->url, path);
    CHECK_INT(tu_http(method, url, body, body ? hdrs : NULL, &status, &text), ==, 0);
    if (status != want)
        check_failed(__FILE__, __LINE__, "%s %s: status %ld, want %ld: %.500s", method, path,
                     status, want, text ? text : "");
    j = json_loads(text, 0, NULL);
    free(text);
    return j;
}

static int64_t
t_submit(struct t_env *t, const char *spec)
{
    json_t *j = t_call(t, "POST", "/v1/jobs", spec, 201);
    int64_t id = (int64_t)jnum(j, "id");

    json_decref(j);
    return id;
}

/* Submit a stability job of model "m" with T_SUITE and the extra members
 * `members` (JSON text, e.g. "\"duration_s\":60"); its id. */
static int64_t
t_submit_stability(struct t_env *t, const char *members)
{
    char spec[T_SPEC_MAX];

    CHECK(snprintf(spec, sizeof(spec),
                   "{\"kind\":\"stability\",\"models\":[\"m\"],%s,\"suite\":%s}", members,
                   T_SUITE) < (int)sizeof(spec));
    return t_submit(t, spec);
}

/* Poll GET /v1/jobs/{id} until its state is final; returns the job. */
static json_t *
t_wait_final(struct t_env *t, int64_t id, long timeout_ms)
{
    char path[64];
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    json_t *j;
    const char *st;

    snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)id);
    while (tu_now_ns() < deadline) {
        j = t_call(t, "GET", path, NULL, 200);
        st = jstr(j, "state");
        if (st != NULL && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
                           strcmp(st, "cancelled") == 0 || strcmp(st, "interrupted") == 0))
            return j;
        json_decref(j);
        tu_sleep_ms(250);
    }
    check_failed(__FILE__, __LINE__, "job %lld did not finish in %ld ms", (long long)id,
                 timeout_ms);
}

static sqlite3 *
t_db(struct t_env *t)
{
    return du_open_ro(t->db);
}

/* The first column of the first row as a whole number (-1 when NULL). */
static int64_t
q_int(sqlite3 *db, const char *sql)
{
    double v = du_q(db, sql);

    return isnan(v) ? -1 : (int64_t)v;
}

/* Wait until the run has measured samples (measuring has begun). */
static void
t_wait_samples(struct t_env *t, int64_t n, long timeout_ms)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    sqlite3 *db;
    int64_t got = 0;

    while (tu_now_ns() < deadline) {
        db = t_db(t);
        got = q_int(db, "SELECT count(*) FROM samples WHERE warmup = 0");
        sqlite3_close(db);
        if (got >= n)
            return;
        tu_sleep_ms(200);
    }
    check_failed(__FILE__, __LINE__, "only %lld samples after %ld ms", (long long)got,
                 timeout_ms);
}

TEST(drift_and_leak_detected)
{
    struct t_env t;
    json_t *job, *a, *run, *w;
    double drift, robust, growth;
    sqlite3 *db;
    int64_t id, planned, finished;
    char model[512], *md = NULL;
    long status = 0;
    char url[T_URL_MAX + 64];

    snprintf(model, sizeof(model),
             "{\"key\":\"m\",\"ttft_ms\":30,\"tps\":100,\"text\":\"hello \","
             "\"drift_pct_per_min\":%g,\"rss_mb_per_min\":%g}",
             T_DRIFT_PCT_PER_MIN, T_RSS_MB_PER_MIN);
    t_setup(&t, model);
    t_serve(&t, NULL);
    id = t_submit_stability(&t, "\"name\":\"drift\",\"duration_s\":120");
    job = t_wait_final(&t, id, 240000);
    CHECK_STR(jstr(job, "state"), "succeeded");
    /* the job's summary carries the analysis */
    CHECK(json_is_object(json_object_get(job, "stability")));
    CHECK(jnum(job, "stability.as_of") > 0); /* from the final "stability" event */
    CHECK_INT(jnum(job, "stability.job_id"), ==, id);
    CHECK(jnum(json_array_get(json_object_get(json_object_get(job, "stability"), "runs"), 0),
               "requests") >= 100);
    json_decref(job);
    a = t_call(&t, "GET", "/v1/jobs/1/stability", NULL, 200);
    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK(run != NULL);
    /* The sim's rate falls by 5 % of its rate at load per minute; measuring
     * began a second or two after the load, so the fitted start is within
     * 0.2 % of that rate. */
    drift = jnum(run, "drift.decode_tps.slope_pct_per_hour") / 60.0;
    robust = jnum(run, "drift.decode_tps.robust_slope_pct_per_hour") / 60.0;
    growth = jnum(run, "memory.server.growth_mb_per_hour") / 60.0;
    fprintf(stderr,
            "drift_and_leak: requests=%.0f drift OLS=%.3f %%/min (r2 %.3f) robust=%.3f %%/min "
            "(injected -%.1f); server RSS growth=%.2f MB/min (r2 %.3f, injected %.1f) "
            "verdict=%s\n",
            jnum(run, "requests"), drift, jnum(run, "drift.decode_tps.r2"), robust,
            T_DRIFT_PCT_PER_MIN, growth, jnum(run, "memory.server.r2"), T_RSS_MB_PER_MIN,
            jstr(run, "memory.server.verdict"));
    CHECK(jnum(run, "requests") >= 100);
    CHECK_NEAR(robust, -T_DRIFT_PCT_PER_MIN, 0.1 * T_DRIFT_PCT_PER_MIN);
    /* OLS is sensitive to the outliers of a busy machine: a looser bound */
    CHECK_NEAR(drift, -T_DRIFT_PCT_PER_MIN, 0.3 * T_DRIFT_PCT_PER_MIN);
    CHECK_NEAR(growth, T_RSS_MB_PER_MIN, 0.1 * T_RSS_MB_PER_MIN);
    CHECK_STR(jstr(run, "memory.server.verdict"), "leak");
    CHECK(jnum(run, "errors") == 0);
    /* windows of 20 s over 120 s, the later ones slower */
    CHECK_INT(json_array_size(json_object_get(run, "windows")), ==, 6);
    w = json_array_get(json_object_get(run, "windows"), 5);
    CHECK(jnum(w, "decode_tps.median") <
          jnum(json_array_get(json_object_get(run, "windows"), 0), "decode_tps.median") * 0.95);
    CHECK(jnum(w, "server_rss_mb.mean") >
          jnum(json_array_get(json_object_get(run, "windows"), 0), "server_rss_mb.mean") + 20);
    CHECK(json_array_size(json_object_get(a, "system")) >= 100);
    planned = (int64_t)jnum(run, "planned_end_at");
    json_decref(a);
    /* ?window_s and ?bucket_s */
    a = t_call(&t, "GET", "/v1/jobs/1/stability?window_s=60&bucket_s=30", NULL, 200);
    run = json_array_get(json_object_get(a, "runs"), 0);
    CHECK_INT(json_array_size(json_object_get(run, "windows")), ==, 2);
    CHECK_DBL(jnum(a, "bucket_s"), ==, 30);
    CHECK_INT(json_array_size(json_object_get(a, "system")), <=, 6);
    json_decref(a);
    json_decref(t_call(&t, "GET", "/v1/jobs/1/stability?window_s=0", NULL, 400));
    json_decref(t_call(&t, "GET", "/v1/jobs/99/stability", NULL, 404));
    /* the Markdown report has the section */
    snprintf(url, sizeof(url), "%s/v1/jobs/1/report?format=md", t.url);
    CHECK_INT(tu_http("GET", url, NULL, NULL, &status, &md), ==, 0);
    CHECK_INT(status, ==, 200);
    CHECK(strstr(md, "## Stability") != NULL);
    CHECK(strstr(md, "**leak**") != NULL);
    free(md);
    /* stability events on the job's stream; the job ended on time */
    db = t_db(&t);
    CHECK(q_int(db, "SELECT count(*) FROM job_events WHERE type = 'stability'") >= 8);
    CHECK_INT(q_int(db, "SELECT count(*) FROM job_events WHERE type = 'stability_plan'"), ==,
              1);
    CHECK(q_int(db, "SELECT count(*) FROM system_samples WHERE job_id = 1 AND run_id = 1"
                    " AND server_rss_bytes > 0") >= 110);
    finished = q_int(db, "SELECT finished_at FROM jobs WHERE id = 1");
    CHECK_INT(planned, ==, q_int(db, "SELECT planned_end_at FROM runs WHERE id = 1"));
    CHECK_INT(finished, >=, planned);
    CHECK_INT(finished, <=, planned + 5000);
    CHECK_INT(q_int(db, "SELECT max(started_at) FROM samples"), <, planned + 250);
    sqlite3_close(db);
    t_teardown(&t);
}

TEST(steady_no_leak_faults_reported)
{
    struct t_env t;
    const char *flags[] = {"--stall-timeout-ms", "300", NULL};
    json_t *job, *a, *run;
    int64_t id;

    /* every 4th request stalls 600 ms after its 10th token: a "stall" error */
    t_setup(&t, "{\"key\":\"m\",\"ttft_ms\":30,\"tps\":100,\"text\":\"hello \","
                "\"fault\":{\"stall_ms\":600,\"stall_at\":10,\"every\":4}}");
    t_serve(&t, flags);
    id = t_submit_stability(&t, "\"duration_s\":60");
    t_wait_samples(&t, 20, 60000);
    /* an outage: every request fails with HTTP 500 for a second */
    CHECK_INT(tu_sim_call(&t.sim, "POST", "/sim/fault",
                          "{\"key\":\"m\",\"fault\":{\"http_500\":true}}", NULL),
              ==, 200);
    tu_sleep_ms(1000);
    CHECK_INT(tu_sim_call(&t.sim, "POST", "/sim/fault",
                          "{\"key\":\"m\",\"fault\":{\"stall_ms\":600,\"stall_at\":10,"
                          "\"every\":4}}",
                          NULL),
              ==, 200);
    job = t_wait_final(&t, id, 180000);
    CHECK_STR(jstr(job, "state"), "succeeded");
    json_decref(job);
    a = t_call(&t, "GET", "/v1/jobs/1/stability", NULL, 200);
    run = json_array_get(json_object_get(a, "runs"), 0);
    fprintf(stderr,
            "steady: requests=%.0f errors=%.0f http_500=%.0f stall=%.0f bursts=%.0f max "
            "in a row=%.0f longest stall=%.0f ms; RSS growth=%.2f MB/h (r2 %.3f) verdict=%s; "
            "drift robust=%.3f %%/min\n",
            jnum(run, "requests"), jnum(run, "errors"),
            jnum(run, "error_detail.by_code.http_500"), jnum(run, "error_detail.by_code.stall"),
            jnum(run, "error_detail.bursts_count"), jnum(run, "error_detail.max_consecutive"),
            jnum(run, "stall.longest_ms"), jnum(run, "memory.server.growth_mb_per_hour"),
            jnum(run, "memory.server.r2"), jstr(run, "memory.server.verdict"),
            jnum(run, "drift.decode_tps.robust_slope_pct_per_hour") / 60.0);
    CHECK_STR(jstr(run, "memory.server.verdict"), "none");
    CHECK(json_is_false(json_object_get(run, "leak")));
    CHECK(fabs(jnum(run, "drift.decode_tps.robust_slope_pct_per_hour") / 60.0) < 1.0);
    CHECK(jnum(run, "error_detail.by_code.http_500") >= 3);
    CHECK(jnum(run, "error_detail.by_code.stall") >= 5);
    CHECK(jnum(run, "error_detail.bursts_count") >= 1);
    CHECK(jnum(run, "error_detail.max_consecutive") >= 3);
    CHECK_DBL(jnum(run, "errors"), ==,
              jnum(run, "error_detail.by_code.http_500") +
                  jnum(run, "error_detail.by_code.stall"));
    CHECK(jnum(run, "stall.stall_errors") >= 5);
    /* a stalled request is aborted 300 ms after its last event */
    CHECK(jnum(run, "stall.longest_ms") >= 290);
    CHECK(jnum(run, "stall.longest_ms") < 2000);
    CHECK(jnum(run, "error_rate") > 0);
    json_decref(a);
    t_teardown(&t);
}

TEST(kill_restart_keeps_samples_and_end)
{
    struct t_env t;
    const char *conc = "{\"type\":\"concurrent\",\"concurrency\":2}";
    json_t *job, *log, *r;
    sqlite3 *db;
    char spec[1024];
    int64_t id, planned, planned2, n_before, max_seq_before, sys_before, sys_max_id, finished;
    int64_t stored, completed = 0;
    int64_t *seqs;
    size_t i, n = 0;
    sqlite3_stmt *st;

    t_setup(&t, "{\"key\":\"m\",\"ttft_ms\":30,\"tps\":100,\"text\":\"hello \","
                "\"drift_pct_per_min\":5}");
    t_serve(&t, NULL);
    snprintf(spec, sizeof(spec), "\"duration_s\":75,\"load_pattern\":%s", conc);
    id = t_submit_stability(&t, spec);
    t_wait_samples(&t, 30, 60000);
    tu_sleep_ms(5000);
    /* kill -9 the daemon (its process group: nothing may survive it) */
    CHECK_INT(kill(-t.serve, SIGKILL), ==, 0);
    CHECK_INT(waitpid(t.serve, NULL, 0), ==, t.serve);
    t.serve = 0;
    db = t_db(&t);
    planned = q_int(db, "SELECT planned_end_at FROM runs WHERE id = 1");
    CHECK(planned > 0);
    n_before = q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1");
    max_seq_before = q_int(db, "SELECT max(seq) FROM samples WHERE run_id = 1");
    sys_before = q_int(db, "SELECT count(*) FROM system_samples WHERE job_id = 1");
    sys_max_id = q_int(db, "SELECT max(id) FROM system_samples WHERE job_id = 1");
    CHECK(sys_before >= 5);
    seqs = calloc((size_t)n_before, sizeof(*seqs));
    CHECK(seqs != NULL);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT seq FROM samples WHERE run_id = 1 ORDER BY seq",
                                 -1, &st, NULL),
              ==, SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && n < (size_t)n_before)
        seqs[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    CHECK_INT(q_int(db, "SELECT count(*) FROM jobs WHERE state = 'running'"), ==, 1);
    sqlite3_close(db);
    fprintf(stderr,
            "kill: %lld samples stored (max seq %lld), %lld system samples, planned "
            "end in %.1f s\n",
            (long long)n_before, (long long)max_seq_before, (long long)sys_before,
            (double)(planned - clock_wall_ms()) / 1000.0);
    tu_sleep_ms(2000);
    t_serve(&t, NULL);
    job = t_wait_final(&t, id, 180000);
    CHECK_STR(jstr(job, "state"), "succeeded");
    CHECK_INT(jnum(job, "attempts"), ==, 2);
    json_decref(job);
    db = t_db(&t);
    /* the plan held */
    planned2 = q_int(db, "SELECT planned_end_at FROM runs WHERE id = 1");
    CHECK_INT(planned2, ==, planned);
    finished = q_int(db, "SELECT finished_at FROM jobs WHERE id = 1");
    fprintf(stderr, "restart: job finished %.2f s after its planned end; %lld samples in all\n",
            (double)(finished - planned) / 1000.0,
            (long long)q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1"));
    CHECK_INT(finished, >=, planned);
    CHECK_INT(finished, <=, planned + 5000);
    /* every sample stored before the kill is there, once; the new ones
     * continue after them */
    for (i = 0; i < n; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM samples WHERE run_id = 1 AND seq = %lld",
                 (long long)seqs[i]);
        CHECK_INT(q_int(db, sql), ==, 1);
    }
    free(seqs);
    CHECK_INT(q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1"), >, n_before + 10);
    CHECK_INT(q_int(db, "SELECT count(*) FROM (SELECT seq FROM samples WHERE run_id = 1"
                        " GROUP BY seq HAVING count(*) > 1)"),
              ==, 0);
    snprintf(spec, sizeof(spec), "SELECT count(*) FROM samples WHERE run_id = 1 AND seq > %lld",
             (long long)max_seq_before);
    CHECK_INT(q_int(db, spec), ==,
              q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1") - n_before);
    CHECK_INT(q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1 AND warmup = 1"), ==, 2);
    snprintf(spec, sizeof(spec),
             "SELECT count(*) FROM system_samples WHERE job_id = 1 AND id <= %lld",
             (long long)sys_max_id);
    CHECK_INT(q_int(db, spec), ==, sys_before);
    CHECK(q_int(db, "SELECT count(*) FROM system_samples WHERE job_id = 1") > sys_before + 10);
    /* nothing was handed to the client at or after the planned end (the
     * send itself follows within the client's loop: allow it 250 ms) */
    snprintf(spec, sizeof(spec), "SELECT count(*) FROM samples WHERE started_at >= %lld",
             (long long)planned + 250);
    CHECK_INT(q_int(db, spec), ==, 0);
    stored = q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1");
    sqlite3_close(db);
    /* Against the sim: every request it completed was stored, but those the
     * kill cut off (at most the two in flight). */
    log = tu_sim_log(&t.sim);
    CHECK(log != NULL);
    json_array_foreach(json_object_get(log, "requests"), i, r)
    {
        json_t *ev;
        size_t k;
        int done = 0;

        json_array_foreach(json_object_get(r, "events"), k, ev)
        {
            done |= strcmp(json_string_value(json_object_get(ev, "kind")), "done") == 0;
        }
        completed += jnum(r, "status") == 200 && done;
    }
    json_decref(log);
    fprintf(stderr, "sim completed %lld requests, tpsd stored %lld\n", (long long)completed,
            (long long)stored);
    CHECK_INT(stored, <=, completed);
    CHECK_INT(completed - stored, <=, 2);
    t_teardown(&t);
}

TEST(cancel_stops_stability_job)
{
    struct t_env t;
    json_t *job;
    sqlite3 *db;
    int64_t id, n;
    uint64_t t0;

    t_setup(&t, "{\"key\":\"m\",\"ttft_ms\":30,\"tps\":100,\"text\":\"hello \"}");
    t_serve(&t, NULL);
    id = t_submit_stability(&t, "\"duration_s\":3600,\"interval_s\":1");
    t_wait_samples(&t, 3, 60000);
    t0 = tu_now_ns();
    json_decref(t_call(&t, "POST", "/v1/jobs/1/cancel", NULL, 200));
    job = t_wait_final(&t, id, 10000);
    CHECK_STR(jstr(job, "state"), "cancelled");
    CHECK(tu_now_ns() - t0 < 5000000000ULL);
    json_decref(job);
    db = t_db(&t);
    n = q_int(db, "SELECT count(*) FROM samples WHERE warmup = 0");
    CHECK(n >= 3);
    /* interval pacing: one request a second (each takes about 0.5 s) */
    CHECK(
        q_int(db, "SELECT (max(started_at) - min(started_at)) FROM samples WHERE warmup = 0") >=
        (n - 1) * 900);
    sqlite3_close(db);
    t_teardown(&t);
}

TEST(rate_paced_stability_job)
{
    struct t_env t;
    json_t *job;
    sqlite3 *db;
    int64_t id, n, planned, finished;

    t_setup(&t, "{\"key\":\"m\",\"ttft_ms\":30,\"tps\":100,\"text\":\"hello \"}");
    t_serve(&t, NULL);
    /* 4 requests a second of 0.5 s each: about two in flight at once */
    id = t_submit_stability(&t,
                            "\"duration_s\":20,\"load_pattern\":{\"type\":\"rate\",\"rps\":4}");
    job = t_wait_final(&t, id, 120000);
    CHECK_STR(jstr(job, "state"), "succeeded");
    json_decref(job);
    db = t_db(&t);
    n = q_int(db, "SELECT count(*) FROM samples WHERE warmup = 0 AND ok = 1");
    fprintf(stderr,
            "rate: %lld requests in 20 s at 4/s, %lld slots used, max sched delay "
            "%lld us\n",
            (long long)n, (long long)q_int(db, "SELECT count(DISTINCT slot) FROM samples"),
            (long long)q_int(db, "SELECT max(sched_delay_us) FROM samples WHERE warmup = 0"));
    /* Poisson: 80 expected, 3 sigma is about 27 */
    CHECK_INT(n, >=, 50);
    CHECK_INT(n, <=, 115);
    CHECK_INT(q_int(db, "SELECT count(*) FROM samples WHERE warmup = 0"
                        " AND sched_delay_us IS NULL"),
              ==, 0);
    CHECK_INT(q_int(db, "SELECT count(DISTINCT slot) FROM samples WHERE warmup = 0"), >=, 2);
    planned = q_int(db, "SELECT planned_end_at FROM runs WHERE id = 1");
    finished = q_int(db, "SELECT finished_at FROM jobs WHERE id = 1");
    CHECK_INT(finished, >=, planned);
    CHECK_INT(finished, <=, planned + 5000);
    sqlite3_close(db);
    t_teardown(&t);
}

/* `lms load` calls in the fake lms's argv log (one JSON array a line),
 * leaving out the preflight's --estimate-only. */
static int64_t
real_loads(const char *logf)
{
    char *text = NULL, *line, *save = NULL;
    int64_t n = 0;

    CHECK_INT(tu_read_file(logf, &text, NULL), ==, 0);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        n += strstr(line, "\"load\"") != NULL && strstr(line, "--estimate-only") == NULL;
    free(text);
    return n;
}

/* The daemon is down past a stability job's planned end: on restart the
 * run ends with what was measured, and the model is not loaded again. */
TEST(restart_after_planned_end_no_reload)
{
    struct t_env t;
    char path[TU_PATH_MAX * 2], cfg[TU_PATH_MAX * 2], logf[TU_PATH_MAX];
    json_t *job;
    sqlite3 *db;
    int64_t id, planned, n_before, loads_before, loads_after;

    t_setup(&t, "{\"key\":\"m\",\"ttft_ms\":20,\"tps\":200,\"text\":\"hello \"}");
    snprintf(logf, sizeof(logf), "%s/lms-argv.log", t.dir);
    snprintf(path, sizeof(path), "%s/.lmstudio/fake-lms.json", t.home);
    snprintf(cfg, sizeof(cfg), "{\"sim\":\"%s\",\"log\":\"%s\"}", t.sim.base_url, logf);
    CHECK_INT(tu_write_file(path, cfg), ==, 0);
    t_serve(&t, NULL);
    id = t_submit_stability(&t, "\"duration_s\":6");
    t_wait_samples(&t, 4, 60000);
    CHECK_INT(kill(-t.serve, SIGKILL), ==, 0);
    CHECK_INT(waitpid(t.serve, NULL, 0), ==, t.serve);
    t.serve = 0;
    db = t_db(&t);
    planned = q_int(db, "SELECT planned_end_at FROM runs WHERE id = 1");
    n_before = q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1");
    sqlite3_close(db);
    CHECK(planned > 0);
    while (clock_wall_ms() < planned + 500)
        tu_sleep_ms(100);
    loads_before = real_loads(logf);
    CHECK_INT(loads_before, >=, 1);
    t_serve(&t, NULL);
    job = t_wait_final(&t, id, 60000);
    CHECK_STR(jstr(job, "state"), "succeeded");
    json_decref(job);
    db = t_db(&t);
    CHECK_INT(q_int(db, "SELECT count(*) FROM samples WHERE run_id = 1"), ==, n_before);
    CHECK_INT(q_int(db, "SELECT count(*) FROM runs WHERE id = 1 AND state = 'succeeded'"), ==,
              1);
    sqlite3_close(db);
    loads_after = real_loads(logf);
    CHECK_INT(loads_after, ==, loads_before);
    t_serve_stop(&t);
    tu_sim_stop(&t.sim);
}

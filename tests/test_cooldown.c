/*
 * test_cooldown.c - cool-down and the thermal gate (daemon/cooldown.h,
 * issue 17 item 3): the settings and their errors, the thermal source hook
 * read through sysinfo's real code path (a level file, a folder laid out
 * as /sys/class/thermal), and `tpsd serve` end to end against tpsd-sim:
 * the pause between models and between cases seen in the stored waits and
 * the samples' timestamps (order and recorded values, not timings); the
 * gate waiting while the source says "serious" and going on once this test
 * writes "nominal"; the gate timing out at its bound; the waits in the
 * run's JSON and the Markdown report; a cancel and a SIGTERM cutting a
 * ten-minute gate short.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "common/clock.h"
#include "daemon/config.h"
#include "daemon/jobspec.h"
#include "daemon/sysinfo.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define T_JOB_MS 60000   /* a test job finishes within */
#define T_EVENT_MS 30000 /* the job reaches its cool-down within */
/* A cancelled or SIGTERMed gate of ten minutes ends within these: far
 * below its bound, above what a loaded machine needs (the gate looks every
 * COOLDOWN_TICK_MS). Bounds, not timings under test. */
#define T_CANCEL_MS 10000
#define T_STOP_MS 10000
#define T_POLL "50" /* thermal_gate_poll_ms of these tests */
#define T_POLL_MS 50

/* tpsd-sim models: 5 ms to the first token, then 1,000 tokens/s. */
static const char m1_sim[] =
    "{\"key\":\"m1\",\"ttft_ms\":5,\"tps\":1000,\"text\":\"hello \",\"size_bytes\":1e9}";
static const char m1_m2_sim[] =
    "{\"key\":\"m1\",\"ttft_ms\":5,\"tps\":1000,\"text\":\"hello \",\"size_bytes\":1e9},"
    "{\"key\":\"m2\",\"ttft_ms\":5,\"tps\":1000,\"text\":\"hello \",\"size_bytes\":1e9}";

static const char *const two_models[] = {"m1", "m2", NULL};
static const char *const one_model[] = {"m1", NULL};

/* ---- helpers ---- */

/* Column 0 of the first row as text into out ("" when NULL or no row). */
static const char *
q_text(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *t;

    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && (t = sqlite3_column_text(st, 0)) != NULL)
        snprintf(out, len, "%s", (const char *)t);
    sqlite3_finalize(st);
    return out;
}

/* du_q of the query fmt formats. */
static double __attribute__((format(printf, 2, 3))) jq(sqlite3 *db, const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return du_q(db, sql);
}

/* The query of column `col` of the job's only wait of `kind`. */
static void
wait_sql(char *sql, size_t len, long long job, const char *kind, const char *col)
{
    snprintf(sql, len,
             "SELECT w.%s FROM run_waits w JOIN runs r ON r.id = w.run_id"
             " WHERE r.job_id = %lld AND w.kind = '%s'",
             col, job, kind);
}

/* How many waits the job's runs stored. */
static double
n_waits(sqlite3 *db, long long job)
{
    return jq(db,
              "SELECT count(*) FROM run_waits w JOIN runs r ON r.id = w.run_id"
              " WHERE r.job_id = %lld",
              job);
}

static char *report_md(struct du_env *e, long long job);

/* The job's Markdown report holds `a` and, when not NULL, `b`. */
static void
report_says(struct du_env *e, long long job, const char *a, const char *b)
{
    char *md = report_md(e, job);

    if (strstr(md, a) == NULL || (b != NULL && strstr(md, b) == NULL))
        check_failed(__FILE__, __LINE__, "the report lacks \"%s\" or \"%s\":\n%s", a,
                     b ? b : "", md);
    free(md);
}

/* A figure of the job's only wait of `kind` (a run_waits column). */
static double
wait_num(sqlite3 *db, long long job, const char *kind, const char *col)
{
    char sql[512];

    wait_sql(sql, sizeof(sql), job, kind, col);
    return du_q(db, sql);
}

/* The same for a text column, into out. */
static const char *
wait_text(sqlite3 *db, long long job, const char *kind, const char *col, char *out, size_t len)
{
    char sql[512];

    wait_sql(sql, sizeof(sql), job, kind, col);
    return q_text(db, sql, out, len);
}

/* Poll the database until the job has an event of `type`: 0, or -1. */
static int
wait_event(struct du_env *e, long long job, const char *type, long timeout_ms)
{
    char sql[256];
    uint64_t end = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    sqlite3 *db = du_must_db(e);
    int rc = -1;

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM job_events WHERE job_id=%lld AND type='%s'", job, type);
    while (tu_now_ns() < end) {
        if (du_q(db, sql) >= 1) {
            rc = 0;
            break;
        }
        tu_sleep_ms(20);
    }
    sqlite3_close(db);
    return rc;
}

/* Wait for the job to succeed; else fail, showing it and the daemon's log. */
static void
must_succeed(struct du_env *e, long long id)
{
    char state[32];
    json_t *j;
    char *text;

    if (strcmp(du_wait_final(e, id, T_JOB_MS, state, sizeof(state)), "succeeded") == 0)
        return;
    j = du_job(e, id);
    text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    fprintf(stderr, "job: %s\nlog: %s\n", text ? text : "?", du_log_tail(e));
    free(text);
    json_decref(j);
    check_failed(__FILE__, __LINE__, "job %lld ended \"%s\", not succeeded", id, state);
}

/* A daemon against a sim of `sim_models` runs `models` x the two cases x
 * 2 repetitions (2 per case), one warm-up, with `extra` in the spec, to
 * success. Returns the job id. */
static long long
run_job(struct du_env *e, const char *sim_models, const char *const *models, const char *extra)
{
    long long id;

    du_must_setup(e, sim_models, NULL);
    du_must_start(e, NULL);
    id = du_must_submit_job(e, models, 4, 2, 1, "lms", extra);
    must_succeed(e, id);
    return id;
}

/* The job's Markdown report (caller frees). */
static char *
report_md(struct du_env *e, long long job)
{
    char path[128], *text = NULL;

    snprintf(path, sizeof(path), "/v1/jobs/%lld/report?format=md", job);
    CHECK_INT(du_call_raw(e, "GET", path, NULL, NULL, &text, NULL, NULL, 0), ==, 200);
    CHECK(text != NULL);
    return text;
}

/* The "cooldown" of run `index` of the job, as GET /v1/jobs/{id} gives it
 * (a new reference; json null when the run waited for nothing). */
static json_t *
api_cooldown(struct du_env *e, long long job, int index)
{
    json_t *j = du_job(e, job), *run, *cd = NULL;
    size_t i;

    CHECK(j != NULL);
    json_array_foreach(json_object_get(j, "run_list"), i, run)
    {
        if (json_integer_value(json_object_get(run, "model_index")) == index)
            cd = json_incref(json_object_get(run, "cooldown"));
    }
    json_decref(j);
    CHECK(cd != NULL);
    return cd;
}

/* A daemon reading its thermal state from `source`, the gate polling every
 * T_POLL ms. */
static void
start_with_source(struct du_env *e, const char *source)
{
    const char *extra[] = {"--thermal-source", source, "--thermal-gate-poll-ms", T_POLL, NULL};

    du_must_start(e, extra);
}

/* ---- settings ---- */

/* A spec with `cooldown` (JSON text) over a one-model job, extra top-level
 * members `more` ("" for none). 0 or -1 with err. */
static int
parse_cooldown(const char *cooldown, const char *more, struct jobspec *s, char *err, size_t len)
{
    char text[1024];
    json_t *j;
    int rc;

    snprintf(text, sizeof(text), "{\"models\":[\"m\"]%s,\"cooldown\":%s}", more, cooldown);
    j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    rc = jobspec_parse(j, s, err, len);
    json_decref(j);
    return rc;
}

/* Each bad cool-down setting is refused with a message naming it. */
TEST(settings_errors)
{
    static const struct {
        const char *cooldown, *more, *err;
    } bad[] = {
        {"5", "", "cooldown: must be an object"},
        {"{\"pause_ms\":1}", "", "cooldown.pause_ms: unknown field"},
        {"{\"pause_between_models_ms\":-1}", "",
         "cooldown.pause_between_models_ms: must be an integer in 0..3600000"},
        {"{\"pause_between_cases_ms\":3600001}", "",
         "cooldown.pause_between_cases_ms: must be an integer in 0..3600000"},
        {"{\"thermal_gate_max_wait_ms\":\"10\"}", "",
         "cooldown.thermal_gate_max_wait_ms: must be an integer in 0..21600000"},
        {"{\"pause_between_cases_ms\":10}",
         ",\"load_pattern\":{\"type\":\"rate\",\"rps\":1,\"duration_s\":5}",
         "cooldown.pause_between_cases_ms: only for sequential and concurrent loads"},
        {"{\"pause_between_cases_ms\":10}", ",\"kind\":\"stability\",\"duration_s\":60",
         "cooldown.pause_between_cases_ms: only for sequential and concurrent loads"},
    };
    struct jobspec s;
    struct config c;
    char err[JOBSPEC_ERR_MAX], cerr[CONFIG_ERR_MAX];
    json_t *out;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(parse_cooldown(bad[i].cooldown, bad[i].more, &s, err, sizeof(err)), ==, -1);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            check_failed(__FILE__, __LINE__, "case %zu: \"%s\", want \"%s...\"", i, err,
                         bad[i].err);
    }
    /* A good one: what the job set, and only that, comes back. */
    CHECK_INT(parse_cooldown("{\"pause_between_models_ms\":0,\"thermal_gate_max_wait_ms\":5}",
                             "", &s, err, sizeof(err)),
              ==, 0);
    CHECK_INT(s.pause_between_models_ms, ==, 0);
    CHECK_INT(s.pause_between_cases_ms, ==, -1);
    CHECK_INT(s.thermal_gate_max_wait_ms, ==, 5);
    out = jobspec_to_json(&s);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(out, "cooldown"),
                                                 "thermal_gate_max_wait_ms")),
              ==, 5);
    CHECK(json_object_get(json_object_get(out, "cooldown"), "pause_between_cases_ms") == NULL);
    json_decref(out);
    jobspec_free(&s);
    /* The daemon's settings: out of range is refused, naming the option. */
    config_defaults(&c);
    CHECK_INT(c.thermal_gate_max_wait_ms, ==, 0);
    CHECK_INT(config_set(&c, "pause_between_models_ms", "-5", cerr, sizeof(cerr)), ==, -1);
    CHECK(strstr(cerr, "pause_between_models_ms") != NULL);
    CHECK_INT(config_set(&c, "thermal_gate_poll_ms", "5", cerr, sizeof(cerr)), ==, -1);
    CHECK(strstr(cerr, "thermal_gate_poll_ms") != NULL);
    CHECK_INT(config_set(&c, "thermal_gate_max_wait_ms", "600000", cerr, sizeof(cerr)), ==, 0);
    CHECK_INT(c.thermal_gate_max_wait_ms, ==, 600000);
}

/* The daemon answers a bad cool-down with 400 and the message. */
TEST(settings_error_http)
{
    struct du_env e;
    json_t *r = NULL;
    char *spec;

    du_must_setup(&e, m1_sim, NULL);
    du_must_start(&e, NULL);
    spec =
        du_spec(&e, one_model, 4, 1, 0, "none", "\"cooldown\":{\"pause_between_cases_ms\":-1}");
    CHECK_INT(du_call(&e, "POST", "/v1/jobs", spec, NULL, &r), ==, 400);
    CHECK(strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                 "cooldown.pause_between_cases_ms") != NULL);
    json_decref(r);
    free(spec);
    du_teardown(&e);
}

/* ---- the thermal source, through sysinfo ---- */

/* A thermal zone folder under dir: temp in millidegrees, a passive trip at
 * 90 C and a hot one at 100 C (the Linux sysfs layout). */
static void
write_zone(const char *dir, long temp)
{
    char path[TU_PATH_MAX], text[32];

    snprintf(path, sizeof(path), "%s/thermal_zone0", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/thermal_zone0/temp", dir);
    snprintf(text, sizeof(text), "%ld\n", temp);
    CHECK_INT(tu_write_file(path, text), ==, 0);
    snprintf(path, sizeof(path), "%s/thermal_zone0/trip_point_0_type", dir);
    CHECK_INT(tu_write_file(path, "passive\n"), ==, 0);
    snprintf(path, sizeof(path), "%s/thermal_zone0/trip_point_0_temp", dir);
    CHECK_INT(tu_write_file(path, "90000\n"), ==, 0);
    snprintf(path, sizeof(path), "%s/thermal_zone0/trip_point_1_type", dir);
    CHECK_INT(tu_write_file(path, "hot\n"), ==, 0);
    snprintf(path, sizeof(path), "%s/thermal_zone0/trip_point_1_temp", dir);
    CHECK_INT(tu_write_file(path, "100000\n"), ==, 0);
}

/* Write text to the level file at path: sysinfo_thermal reads want. */
static void
check_level(const char *path, const char *text, const char *want)
{
    char got[SYSINFO_THERMAL_MAX];

    CHECK_INT(tu_write_file(path, text), ==, 0);
    sysinfo_thermal(path, got, sizeof(got));
    if (strcmp(got, want) != 0)
        check_failed(__FILE__, __LINE__, "\"%s\" read as \"%s\", want \"%s\"", text, got, want);
}

/* A level file (names, a macOS level number, junk, missing) and a zone
 * folder read as sysinfo reads the OS's. */
TEST(thermal_source)
{
    char dir[TU_PATH_MAX / 2], file[TU_PATH_MAX], zones[TU_PATH_MAX];
    char got[SYSINFO_THERMAL_MAX];
    struct sysinfo_target t;
    struct sysinfo_snap snap;

    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(file, sizeof(file), "%s/level", dir);
    check_level(file, "serious\n", "serious");
    check_level(file, "  nominal ", "nominal");
    check_level(file, "2", "heavy"); /* kOSThermalPressureLevelHeavy */
    check_level(file, "0\n", "nominal");
    check_level(file, "hot", "hot");
    check_level(file, "warm", "");
    check_level(file, "", "");
    check_level(file, "99999999999999999999999", "");
    snprintf(file, sizeof(file), "%s/missing", dir);
    sysinfo_thermal(file, got, sizeof(got));
    CHECK_STR(got, "");
    snprintf(zones, sizeof(zones), "%s/zones", dir);
    CHECK_INT(mkdir(zones, 0755), ==, 0);
    write_zone(zones, 95000);
    sysinfo_thermal(zones, got, sizeof(got));
    CHECK_STR(got, "passive");
    write_zone(zones, 101000);
    sysinfo_thermal(zones, got, sizeof(got));
    CHECK_STR(got, "hot");
    write_zone(zones, 45000);
    sysinfo_thermal(zones, got, sizeof(got));
    CHECK_STR(got, "nominal");
    /* The sampler's reading takes the same source, temperature included. */
    memset(&t, 0, sizeof(t));
    snprintf(t.thermal_source, sizeof(t.thermal_source), "%s", zones);
    sysinfo_read(&t, &snap);
    CHECK_STR(snap.thermal, "nominal");
    CHECK_NEAR(snap.temp_c, 45.0, 1e-9);
}

/* ---- pauses, end to end ---- */

/* Two models with a 300 ms pause between them: one wait, before the second
 * model, of at least what was asked, after the first run ended and before
 * the second one's first request; in the job's JSON and the report. */
TEST(pause_between_models)
{
    struct du_env e;
    char *md;
    sqlite3 *db;
    json_t *cd;
    long long id;

    id = run_job(&e, m1_m2_sim, two_models, "\"cooldown\":{\"pause_between_models_ms\":300}");
    db = du_must_db(&e);
    CHECK_DBL(n_waits(db, id), ==, 1);
    CHECK_DBL(jq(db,
                 "SELECT r.model_index FROM run_waits w JOIN runs r ON r.id = w.run_id"
                 " WHERE r.job_id = %lld",
                 id),
              ==, 1);
    CHECK_DBL(wait_num(db, id, "model", "pause_ms"), ==, 300);
    CHECK_DBL(wait_num(db, id, "model", "paused_ms"), >=, 300);
    CHECK_DBL(wait_num(db, id, "model", "gate_max_ms"), ==, 0);
    CHECK_DBL(wait_num(db, id, "model", "interrupted"), ==, 0);
    /* Order: the first run ended, then the pause, then the second run's
     * requests (its warm-up included). */
    CHECK_DBL(
        jq(db, "SELECT finished_at FROM runs WHERE job_id = %lld AND model_index = 0", id), <=,
        wait_num(db, id, "model", "started_at"));
    CHECK_DBL(wait_num(db, id, "model", "started_at"), <=,
              wait_num(db, id, "model", "ended_at"));
    CHECK_DBL(wait_num(db, id, "model", "ended_at"), <=,
              jq(db,
                 "SELECT min(s.started_at) FROM samples s JOIN runs r ON r.id = s.run_id"
                 " WHERE r.job_id = %lld AND r.model_index = 1",
                 id));
    /* The API: the first run waited for nothing, the second its pause. */
    cd = api_cooldown(&e, id, 0);
    CHECK(json_is_null(cd));
    json_decref(cd);
    cd = api_cooldown(&e, id, 1);
    CHECK_DBL(json_number_value(json_object_get(cd, "pause_ms")), ==,
              wait_num(db, id, "model", "paused_ms"));
    CHECK_INT(json_array_size(json_object_get(cd, "waits")), ==, 1);
    json_decref(cd);
    sqlite3_close(db);
    md = report_md(&e, id);
    CHECK(strstr(md, "**Cool-down**") != NULL);
    CHECK(strstr(md, "- m2: paused ") != NULL);
    CHECK(strstr(md, "- m1: ") == NULL);
    free(md);
    du_teardown(&e);
}

/* The pause between the suite's two cases, for `load` (JSON members or
 * NULL): one wait per run, before "more", after every "greet" request ended
 * and before any "more" request was sent. */
static void
check_case_pause(const char *load)
{
    struct du_env e;
    char extra[256], name[32];
    sqlite3 *db;
    long long id;

    snprintf(extra, sizeof(extra), "\"cooldown\":{\"pause_between_cases_ms\":200}%s%s",
             load ? "," : "", load ? load : "");
    id = run_job(&e, m1_sim, one_model, extra);
    db = du_must_db(&e);
    CHECK_DBL(n_waits(db, id), ==, 1);
    CHECK_STR(wait_text(db, id, "case", "case_name", name, sizeof(name)), "more");
    CHECK_DBL(wait_num(db, id, "case", "pause_ms"), ==, 200);
    CHECK_DBL(wait_num(db, id, "case", "paused_ms"), >=, 200);
    /* Every greet ended before the pause began (started_at + e2e_ms, whole
     * ms: 1 ms of rounding) and every "more" was sent after it ended. */
    CHECK_DBL(
        jq(db,
           "SELECT max(s.started_at + s.e2e_ms) FROM samples s JOIN runs r ON r.id = s.run_id"
           " WHERE r.job_id = %lld AND s.case_name = 'greet'",
           id),
        <=, wait_num(db, id, "case", "started_at") + 1);
    CHECK_DBL(wait_num(db, id, "case", "ended_at"), <=,
              jq(db,
                 "SELECT min(s.started_at) FROM samples s JOIN runs r ON r.id = s.run_id"
                 " WHERE r.job_id = %lld AND s.case_name = 'more'",
                 id));
    CHECK_DBL(jq(db,
                 "SELECT count(*) FROM samples s JOIN runs r ON r.id = s.run_id"
                 " WHERE r.job_id = %lld AND s.warmup = 0 AND s.ok = 1",
                 id),
              ==, 4);
    sqlite3_close(db);
    report_says(&e, id, "1 pause between cases, ", NULL);
    du_teardown(&e);
}

TEST(pause_between_cases)
{
    check_case_pause(NULL);
}

/* Concurrent slots drain before the pause: none sends "more" early. */
TEST(pause_between_cases_concurrent)
{
    check_case_pause("\"load_pattern\":{\"type\":\"concurrent\",\"concurrency\":3}");
}

/* ---- the gate, end to end ---- */

/* The source says "serious": the gate waits; this test writes "nominal"
 * once the job announced its cool-down, and the gate goes on after that. */
TEST(gate_waits_for_nominal)
{
    struct du_env e;
    char level[TU_PATH_MAX + 16], t[32];
    sqlite3 *db;
    json_t *cd;
    int64_t flipped;
    long long id;

    du_must_setup(&e, m1_sim, NULL);
    snprintf(level, sizeof(level), "%s/level", e.dir);
    CHECK_INT(tu_write_file(level, "serious\n"), ==, 0);
    start_with_source(&e, level);
    id = du_must_submit_job(&e, one_model, 4, 1, 0, "lms",
                            "\"cooldown\":{\"thermal_gate_max_wait_ms\":600000}");
    CHECK_INT(wait_event(&e, id, "cooldown_started", T_EVENT_MS), ==, 0);
    tu_sleep_ms(300); /* a few of the gate's polls read "serious" */
    flipped = clock_wall_ms();
    CHECK_INT(tu_write_file(level, "nominal\n"), ==, 0);
    must_succeed(&e, id);
    db = du_must_db(&e);
    CHECK_STR(wait_text(db, id, "model", "thermal_start", t, sizeof(t)), "serious");
    CHECK_STR(wait_text(db, id, "model", "thermal_end", t, sizeof(t)), "nominal");
    CHECK_DBL(wait_num(db, id, "model", "timed_out"), ==, 0);
    CHECK_DBL(wait_num(db, id, "model", "interrupted"), ==, 0);
    CHECK_DBL(wait_num(db, id, "model", "gate_max_ms"), ==, 600000);
    CHECK_DBL(wait_num(db, id, "model", "gate_wait_ms"), >=, T_POLL_MS);
    /* It ended after the flip, and nothing was measured before it ended. */
    CHECK_DBL(wait_num(db, id, "model", "ended_at"), >=, (double)flipped);
    CHECK_DBL(wait_num(db, id, "model", "ended_at"), <=,
              jq(db,
                 "SELECT min(s.started_at) FROM samples s JOIN runs r ON r.id = s.run_id"
                 " WHERE r.job_id = %lld",
                 id));
    sqlite3_close(db);
    cd = api_cooldown(&e, id, 0);
    CHECK_STR(json_string_value(json_object_get(cd, "thermal_start")), "serious");
    CHECK(json_is_false(json_object_get(cd, "gate_timed_out")));
    json_decref(cd);
    report_says(&e, id, "- m1: thermal gate waited ", "(serious to nominal)");
    du_teardown(&e);
}

/* A zone past its "hot" trip that stays there: the gate gives up at its
 * 300 ms bound, the run is measured anyway, and the record, the API and
 * the report say the gate timed out. */
TEST(gate_times_out)
{
    struct du_env e;
    char zones[TU_PATH_MAX + 16], t[32];
    sqlite3 *db;
    json_t *cd;
    long long id;

    du_must_setup(&e, m1_sim, NULL);
    snprintf(zones, sizeof(zones), "%s/zones", e.dir);
    CHECK_INT(mkdir(zones, 0755), ==, 0);
    write_zone(zones, 101000);
    start_with_source(&e, zones);
    id = du_must_submit_job(&e, one_model, 4, 1, 0, "lms",
                            "\"cooldown\":{\"thermal_gate_max_wait_ms\":300}");
    must_succeed(&e, id);
    db = du_must_db(&e);
    CHECK_DBL(wait_num(db, id, "model", "timed_out"), ==, 1);
    CHECK_DBL(wait_num(db, id, "model", "gate_wait_ms"), >=, 300);
    CHECK_STR(wait_text(db, id, "model", "thermal_start", t, sizeof(t)), "hot");
    CHECK_STR(wait_text(db, id, "model", "thermal_end", t, sizeof(t)), "hot");
    sqlite3_close(db);
    cd = api_cooldown(&e, id, 0);
    CHECK(json_is_true(json_object_get(cd, "gate_timed_out")));
    CHECK_INT(json_integer_value(json_object_get(cd, "gate_max_ms")), ==, 300);
    json_decref(cd);
    report_says(&e, id, "- m1: thermal gate timed out after ", "(hot to hot, measured anyway)");
    du_teardown(&e);
}

/* A job held at a ten-minute gate ("serious" throughout), and how it is
 * stopped: by a cancel, or by SIGTERM to the daemon. */
static long long
held_at_gate(struct du_env *e)
{
    char level[TU_PATH_MAX + 16];
    long long id;

    du_must_setup(e, m1_sim, NULL);
    snprintf(level, sizeof(level), "%s/level", e->dir);
    CHECK_INT(tu_write_file(level, "serious\n"), ==, 0);
    start_with_source(e, level);
    id = du_must_submit_job(e, one_model, 4, 1, 0, "lms",
                            "\"cooldown\":{\"thermal_gate_max_wait_ms\":600000}");
    CHECK_INT(wait_event(e, id, "cooldown_started", T_EVENT_MS), ==, 0);
    tu_sleep_ms(200);
    return id;
}

/* The stored wait of a stopped gate: interrupted, not timed out, nothing
 * measured. */
static void
check_interrupted(struct du_env *e, long long id)
{
    sqlite3 *db = du_must_db(e);

    CHECK_DBL(wait_num(db, id, "model", "interrupted"), ==, 1);
    CHECK_DBL(wait_num(db, id, "model", "timed_out"), ==, 0);
    CHECK_DBL(wait_num(db, id, "model", "gate_wait_ms"), <, 600000);
    CHECK_DBL(jq(db,
                 "SELECT count(*) FROM samples s JOIN runs r ON r.id = s.run_id"
                 " WHERE r.job_id = %lld",
                 id),
              ==, 0);
    sqlite3_close(db);
}

TEST(cancel_interrupts_gate)
{
    struct du_env e;
    char path[128], state[32];
    long long id = held_at_gate(&e);
    uint64_t t0 = tu_now_ns();

    snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", id);
    CHECK_INT(du_call(&e, "POST", path, "", NULL, NULL), ==, 200);
    CHECK_STR(du_wait_final(&e, id, T_CANCEL_MS, state, sizeof(state)), "cancelled");
    fprintf(stderr, "cancel to cancelled at the gate: %.0f ms\n",
            (double)(tu_now_ns() - t0) / 1e6);
    check_interrupted(&e, id);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

TEST(sigterm_interrupts_gate)
{
    struct du_env e;
    long long id = held_at_gate(&e);
    int status = 0;
    sqlite3 *db;

    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, &status), ==, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_interrupted(&e, id);
    db = du_must_db(&e);
    /* Queued again: it resumes at the next start. */
    CHECK_DBL(jq(db, "SELECT state = 'queued' FROM jobs WHERE id = %lld", id), ==, 1);
    sqlite3_close(db);
    du_teardown(&e);
}

/* `tpsd run` in the foreground: the job's cool-down from its flags
 * (--pause-models, --pause-cases, --thermal-gate), the thermal source and
 * the gate's poll from the daemon's settings as flags. Two models, two
 * cases: a gate that times out before each model ("serious" throughout),
 * a pause before the second model and before each run's second case. */
TEST(run_flags)
{
    static const char suite[] =
        "{\"name\":\"t\",\"cases\":[{\"name\":\"greet\",\"max_tokens\":4,\"messages\":"
        "[{\"role\":\"user\",\"content\":\"say hello\"}]},{\"name\":\"more\",\"max_tokens\":4,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"again\"}]}]}";
    struct du_env e;
    char level[TU_PATH_MAX + 16], suite_path[TU_PATH_MAX + 16];
    char out[TU_PATH_MAX + 16], err[TU_PATH_MAX + 16];
    sqlite3 *db;
    int code = -1;

    du_must_setup(&e, m1_m2_sim, NULL);
    snprintf(level, sizeof(level), "%s/level", e.dir);
    snprintf(suite_path, sizeof(suite_path), "%s/suite.json", e.dir);
    snprintf(out, sizeof(out), "%s/run.out", e.dir);
    snprintf(err, sizeof(err), "%s/run.err", e.dir);
    CHECK_INT(tu_write_file(level, "serious"), ==, 0);
    CHECK_INT(tu_write_file(suite_path, suite), ==, 0);
    {
        const char *argv[] = {getenv("TPSD_BIN"),
                              "run",
                              "--lms",
                              tu_src("tests/fake-lms"),
                              "--base-url",
                              e.sim.base_url,
                              "--db",
                              e.db,
                              "--suite",
                              suite_path,
                              "--model",
                              "m1",
                              "--model",
                              "m2",
                              "--repetitions",
                              "1",
                              "--warmup",
                              "0",
                              "--pause-models",
                              "100",
                              "--pause-cases",
                              "100",
                              "--thermal-gate",
                              "200",
                              "--thermal-source",
                              level,
                              "--thermal-gate-poll-ms",
                              T_POLL,
                              NULL};
        CHECK_INT(tu_run((char **)argv, out, err, T_JOB_MS, &code), ==, 0);
    }
    CHECK_INT(code, ==, 0);
    db = du_must_db(&e);
    CHECK_DBL(n_waits(db, 1), ==, 4);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM run_waits WHERE kind = 'model' AND timed_out = 1"
                       " AND gate_wait_ms >= 200 AND thermal_end = 'serious'"),
              ==, 2);
    CHECK_DBL(du_q(db, "SELECT w.paused_ms >= 100 FROM run_waits w JOIN runs r"
                       " ON r.id = w.run_id WHERE w.kind = 'model' AND r.model_index = 1"),
              ==, 1);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM run_waits WHERE kind = 'case'"
                       " AND case_name = 'more' AND paused_ms >= 100"),
              ==, 2);
    sqlite3_close(db);
    du_teardown(&e);
}

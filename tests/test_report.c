/*
 * test_report.c - job reports (daemon/report.h, `tpsd report`, GET
 * /v1/jobs/{id}/report) for a real job: `tpsd run` of three models x the
 * five cases of the standard suite against tpsd-sim and the fake lms. One
 * model passes every validator, one fails some validators and every third
 * request (HTTP 500), one fails to load (the fake lms loads another model:
 * model_mismatch). Every number of every Markdown table, of the JSON and of
 * the CSV is checked against the samples read back from the database and
 * aggregated here; the failed model appears with its reason.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "api/api.h"
#include "daemon/config.h"
#include "daemon/report.h"
#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/samples.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define R_TIMEOUT_MS 180000
#define R_CELLS_MAX 16
#define R_CELL_MAX 256
#define R_ROWS_MAX 256
#define R_FIELDS_MAX 64

/* Passes every validator of the standard suite. */
#define TEXT_GOOD                                                                              \
    "Title: Exercise 1. Heart 2. Mood 3. Sleep Summary: ok def f( Gradient ANSWER: Ben "

static const char *const cases[] = {"short", "code", "long", "reasoning", "instruction"};
#define NCASES 5
static const char *const models[] = {"org/fast-model@Q4_K_M", "org/flaky-model@Q8_0",
                                     "org/broken-model"};
#define NMODELS 3

struct r_env {
    struct tu_sim sim;
    char dir[TU_PATH_MAX / 2];
    char home[TU_PATH_MAX];
    char db[TU_PATH_MAX];
    char out[TU_PATH_MAX];
    char err[TU_PATH_MAX];
    int64_t job_id;
};

static struct r_env env;
static int env_ready;

/* ---- the database, read back ---- */

static sqlite3 *
r_db(void)
{
    return du_open_ro(env.db);
}

/* What the report must say about one run, aggregated from its samples. */
struct r_run {
    int64_t id;
    char model[128], format[64], quant[64], error[64];
    double size, load_ms;
    double avg_e2e, avg_dec, e2e_min, e2e_max, pass_rate, tps_gb, rel;
    int64_t n, passed;
    struct {
        int64_t n, passed;
        double tokens, e2e_ms, ttft, dec, e2e;
    } c[NCASES];
};

static struct r_run runs[NMODELS];

#define OKS "warmup = 0 AND ok = 1"

static void
expected(void)
{
    sqlite3 *h = r_db();
    double best = 0;
    size_t i, k;

    for (i = 0; i < NMODELS; i++) {
        struct r_run *r = &runs[i];
        double sum_e2e = 0, sum_dec = 0;
        int ne = 0, nd = 0;

        memset(r, 0, sizeof(*r));
        r->id =
            (int64_t)du_qf(h, "SELECT id FROM runs WHERE job_id = %lld AND model_index = %zu",
                           (long long)env.job_id, i);
        CHECK(r->id > 0);
        du_qs(h, r->model, sizeof(r->model), "SELECT model FROM runs WHERE id = %lld",
              (long long)r->id);
        CHECK_STR(r->model, models[i]);
        du_qs(h, r->format, sizeof(r->format), "SELECT model_format FROM runs WHERE id = %lld",
              (long long)r->id);
        du_qs(h, r->quant, sizeof(r->quant), "SELECT model_quant FROM runs WHERE id = %lld",
              (long long)r->id);
        du_qs(h, r->error, sizeof(r->error), "SELECT error_code FROM runs WHERE id = %lld",
              (long long)r->id);
        r->size =
            du_qf(h, "SELECT model_size_bytes FROM runs WHERE id = %lld", (long long)r->id);
        r->load_ms = du_qf(h, "SELECT load_ms FROM runs WHERE id = %lld", (long long)r->id);
        for (k = 0; k < NCASES; k++) {
#define W "run_id = %lld AND case_name = '%s'"
#define A (long long)r->id, cases[k]
            r->c[k].n =
                (int64_t)du_qf(h, "SELECT count(*) FROM samples WHERE warmup = 0 AND " W, A);
            r->c[k].passed = (int64_t)du_qf(h,
                                            "SELECT count(*) FROM samples WHERE " OKS
                                            " AND coalesce(passed, 1) != 0 AND " W,
                                            A);
            r->c[k].tokens =
                du_qf(h, "SELECT avg(completion_tokens) FROM samples WHERE " OKS " AND " W, A);
            r->c[k].e2e_ms =
                du_qf(h, "SELECT avg(e2e_ms) FROM samples WHERE " OKS " AND " W, A);
            r->c[k].ttft = du_qf(h, "SELECT avg(ttft_ms) FROM samples WHERE " OKS " AND " W, A);
            r->c[k].dec =
                du_qf(h, "SELECT avg(decode_tps) FROM samples WHERE " OKS " AND " W, A);
            r->c[k].e2e = du_qf(h, "SELECT avg(e2e_tps) FROM samples WHERE " OKS " AND " W, A);
#undef W
#undef A
            r->n += r->c[k].n;
            r->passed += r->c[k].passed;
            if (!isnan(r->c[k].e2e)) {
                sum_e2e += r->c[k].e2e;
                ne++;
            }
            if (!isnan(r->c[k].dec)) {
                sum_dec += r->c[k].dec;
                nd++;
            }
        }
        r->avg_e2e = ne ? sum_e2e / ne : NAN;
        r->avg_dec = nd ? sum_dec / nd : NAN;
        r->e2e_min =
            du_qf(h, "SELECT min(e2e_tps) FROM samples WHERE " OKS " AND run_id = %lld",
                  (long long)r->id);
        r->e2e_max =
            du_qf(h, "SELECT max(e2e_tps) FROM samples WHERE " OKS " AND run_id = %lld",
                  (long long)r->id);
        r->pass_rate = r->n ? (double)r->passed / (double)r->n : NAN;
        r->tps_gb = r->size > 0 && !isnan(r->avg_e2e) ? r->avg_e2e / (r->size / 1e9) : NAN;
        if (r->avg_e2e > best)
            best = r->avg_e2e;
    }
    for (i = 0; i < NMODELS; i++)
        runs[i].rel = isnan(runs[i].avg_e2e) ? NAN : runs[i].avg_e2e / best;
    sqlite3_close(h);
}

/* ---- the job ---- */

/* Run the job once per test process: three models, the standard suite. */
static void
job(void)
{
    char path[TU_PATH_MAX * 2], cfg[TU_PATH_MAX * 2];
    const char *bin = getenv("TPSD_BIN");
    char *argv[32];
    int n = 0, code = -1;
    size_t i;
    sqlite3 *h;

    if (env_ready)
        return;
    CHECK(bin != NULL);
    memset(&env, 0, sizeof(env));
    snprintf(env.dir, sizeof(env.dir), "%s", tu_tmpdir());
    snprintf(env.home, sizeof(env.home), "%s/home", env.dir);
    snprintf(env.db, sizeof(env.db), "%s/t.db", env.dir);
    snprintf(env.out, sizeof(env.out), "%s/stdout", env.dir);
    snprintf(env.err, sizeof(env.err), "%s/stderr", env.dir);
    CHECK_INT(tu_sim_start("{\"models\":["
                           "{\"key\":\"org/fast-model@Q4_K_M\",\"ttft_ms\":15,\"tps\":4000,"
                           "\"output_tokens\":120,\"text\":\"" TEXT_GOOD
                           "\",\"size_bytes\":4e9,"
                           "\"format\":\"gguf\",\"quant\":\"Q4_K_M\",\"load_ms\":30},"
                           "{\"key\":\"org/flaky-model@Q8_0\",\"ttft_ms\":25,\"tps\":2500,"
                           "\"output_tokens\":120,\"text\":\"hello world \",\"size_bytes\":8e9,"
                           "\"format\":\"mlx\",\"quant\":\"8bit\","
                           "\"fault\":{\"http_500\":true,\"every\":3}},"
                           "{\"key\":\"org/broken-model\",\"tps\":1000,\"output_tokens\":20},"
                           "{\"key\":\"org/other-model\",\"tps\":1000,\"output_tokens\":20}]}",
                           &env.sim),
              ==, 0);
    CHECK_INT(mkdir(env.home, 0700), ==, 0);
    snprintf(path, sizeof(path), "%s/.lmstudio", env.home);
    CHECK_INT(mkdir(path, 0700), ==, 0);
    snprintf(path, sizeof(path), "%s/.lmstudio/fake-lms.json", env.home);
    snprintf(cfg, sizeof(cfg),
             "{\"sim\":\"%s\",\"mismatch\":{\"org/broken-model\":\"org/other-model\"}}",
             env.sim.base_url);
    CHECK_INT(tu_write_file(path, cfg), ==, 0);
    CHECK_INT(setenv("HOME", env.home, 1), ==, 0);
    unsetenv("FAKE_LMS_CONFIG");
    unsetenv("TPSD_CONFIG");
    unsetenv("TPSD_DB");
    n = TU_ARGV(argv, n, (char *)bin, "run", "--lms", (char *)tu_src("tests/fake-lms"),
                "--base-url", env.sim.base_url, "--db", env.db, "--suite", "standard", "--name",
                "three models", "--repetitions", "3", "--warmup", "1");
    for (i = 0; i < NMODELS; i++) {
        argv[n++] = "--model";
        argv[n++] = (char *)models[i];
    }
    argv[n] = NULL;
    CHECK_INT(tu_run(argv, env.out, env.err, R_TIMEOUT_MS, &code), ==, 0);
    if (code != 1) {
        char *e = tu_slurp(env.err);
        check_failed(__FILE__, __LINE__, "tpsd run exited %d, want 1: %s", code, e);
    }
    h = r_db();
    env.job_id = (int64_t)du_qf(h, "SELECT max(id) FROM jobs");
    CHECK_DBL(du_qf(h, "SELECT count(*) FROM runs"), ==, NMODELS);
    sqlite3_close(h);
    expected();
    /* The data the checks rely on. */
    CHECK_INT(runs[0].n, ==, 15);
    CHECK_INT(runs[0].passed, ==, 15);
    CHECK_INT(runs[1].n, ==, 15);
    CHECK(runs[1].passed > 0 && runs[1].passed < 10);
    CHECK_INT(runs[2].n, ==, 0);
    CHECK_STR(runs[2].error, "model_mismatch");
    env_ready = 1;
}

/* `tpsd report ID --format F` on stdout (its exit code must be 0). */
static char *
report(const char *fmt)
{
    const char *bin = getenv("TPSD_BIN");
    char id[32], path[TU_PATH_MAX + 16];
    char *argv[] = {(char *)bin, "report", id, "--format", (char *)fmt, "--db", env.db, NULL};
    int code = -1;

    snprintf(id, sizeof(id), "%lld", (long long)env.job_id);
    snprintf(path, sizeof(path), "%s/report.%s", env.dir, fmt);
    CHECK_INT(tu_run(argv, path, env.err, 60000, &code), ==, 0);
    if (code != 0)
        check_failed(__FILE__, __LINE__, "tpsd report exited %d: %s", code, tu_slurp(env.err));
    return tu_slurp(path);
}

/* ---- Markdown ---- */

/* The cells of a table row "| a | b |", trimmed. Returns how many. */
static int
cells(const char *line, char out[R_CELLS_MAX][R_CELL_MAX])
{
    const char *p = line, *q;
    int n = 0;

    CHECK(*p == '|');
    p++;
    while (*p != '\0' && *p != '\n' && n < R_CELLS_MAX) {
        size_t len;
        q = strchr(p, '|');
        if (q == NULL)
            break;
        while (*p == ' ')
            p++;
        len = (size_t)(q - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        snprintf(out[n], R_CELL_MAX, "%.*s", (int)len, p);
        n++;
        p = q + 1;
    }
    return n;
}

/* The table rows (not header, not separator) after heading `h` and before
 * the next heading of any level; into rows[], at most R_ROWS_MAX. */
static int
table_rows(const char *md, const char *h, char **rows)
{
    const char *p = strstr(md, h), *line;
    int n = 0, seen_sep = 0;

    if (p == NULL)
        check_failed(__FILE__, __LINE__, "no heading \"%s\" in the report", h);
    p = strchr(p, '\n');
    for (line = p ? p + 1 : NULL; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == '#')
            break;
        if (line[0] == '|') {
            if (strncmp(line, "|--", 3) == 0 || strncmp(line, "|:-", 3) == 0)
                seen_sep = 1;
            else if (seen_sep && n < R_ROWS_MAX)
                rows[n++] = strndup(line, len);
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}

static void
fmt_num(char *out, size_t len, int prec, double v)
{
    if (isnan(v))
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%.*f", prec, v);
}

static void
check_cell(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        check_failed(__FILE__, __LINE__, "%s: report says \"%s\", the samples \"%s\"", what,
                     got, want);
}

TEST(markdown_tables_match_samples)
{
    char c[R_CELLS_MAX][R_CELL_MAX], want[R_CELL_MAX], what[256], *rows[R_ROWS_MAX];
    char *md;
    int nrows, i, k;

    job();
    md = report("md");
    /* Summary: the fastest model that passes; the job's facts. */
    snprintf(want, sizeof(want), "# Benchmark report: job %lld (three models)",
             (long long)env.job_id);
    CHECK(strncmp(md, want, strlen(want)) == 0);
    CHECK(strstr(md, "**Models:** 3, **requests:** 30") != NULL);
    CHECK(strstr(md, "**org/fast-model@Q4_K_M** is the best choice of this job.") != NULL);
    snprintf(want, sizeof(want), "- Average speed: %.2f TPS (e2e; decode %.2f TPS)",
             runs[0].avg_e2e, runs[0].avg_dec);
    CHECK(strstr(md, want) != NULL);
    snprintf(want, sizeof(want), "- Pass rate: %lld/%lld", (long long)runs[0].passed,
             (long long)runs[0].n);
    CHECK(strstr(md, want) != NULL);
    /* Comparison: one row per model. */
    nrows = table_rows(md, "## Comparison", rows);
    CHECK_INT(nrows, ==, NMODELS);
    for (i = 0; i < NMODELS; i++) {
        const struct r_run *r = &runs[i];
        CHECK_INT(cells(rows[i], c), ==, 10);
        snprintf(want, sizeof(want), i == 0 ? "**%s**" : "%s", r->model);
        check_cell("model", c[0], want);
        check_cell("format", c[1], r->format[0] ? r->format : "-");
        check_cell("quant", c[2], r->quant[0] ? r->quant : "-");
        if (r->size > 0)
            snprintf(want, sizeof(want), "%.1f GB", r->size / 1e9);
        else
            snprintf(want, sizeof(want), "-");
        check_cell("size", c[3], want);
        if (r->error[0] && isnan(r->avg_e2e))
            snprintf(want, sizeof(want), "failed");
        else
            fmt_num(want, sizeof(want), 2, r->avg_e2e);
        snprintf(what, sizeof(what), "%s avg TPS", r->model);
        check_cell(what, c[4], want);
        if (isnan(r->e2e_min))
            snprintf(want, sizeof(want), "-");
        else
            snprintf(want, sizeof(want), "%.2f-%.2f", r->e2e_min, r->e2e_max);
        check_cell("range", c[5], want);
        snprintf(want, sizeof(want), "%lld/%lld", (long long)r->passed, (long long)r->n);
        check_cell("pass rate", c[6], want);
        if (isnan(r->rel))
            snprintf(want, sizeof(want), "-");
        else if (r->rel >= 1.0)
            snprintf(want, sizeof(want), "fastest");
        else
            snprintf(want, sizeof(want), "%.0f%% slower", 100.0 * (1.0 - r->rel));
        check_cell("relative speed", c[7], want);
        fmt_num(want, sizeof(want), 3, r->tps_gb);
        check_cell("TPS/GB", c[8], want);
        if (isnan(r->load_ms))
            snprintf(want, sizeof(want), "-");
        else
            snprintf(want, sizeof(want), "%.1f s", r->load_ms / 1000.0);
        check_cell("load time", c[9], want);
        free(rows[i]);
    }
    /* Per-case tables of the two models that measured. */
    for (i = 0; i < 2; i++) {
        const struct r_run *r = &runs[i];
        char h[256];
        snprintf(h, sizeof(h), "### %s (%.1f GB)", r->model, r->size / 1e9);
        nrows = table_rows(md, h, rows);
        CHECK_INT(nrows, ==, NCASES + 1);
        for (k = 0; k < NCASES; k++) {
            CHECK_INT(cells(rows[k], c), ==, 7);
            check_cell("case", c[0], cases[k]);
            snprintf(what, sizeof(what), "%s/%s tokens", r->model, cases[k]);
            fmt_num(want, sizeof(want), 0, r->c[k].tokens);
            check_cell(what, c[1], want);
            fmt_num(want, sizeof(want), 2, r->c[k].e2e_ms / 1000.0);
            check_cell("time", c[2], want);
            fmt_num(want, sizeof(want), 0, r->c[k].ttft);
            check_cell("TTFT", c[3], want);
            fmt_num(want, sizeof(want), 2, r->c[k].dec);
            check_cell("decode TPS", c[4], want);
            fmt_num(want, sizeof(want), 2, r->c[k].e2e);
            check_cell("e2e TPS", c[5], want);
            snprintf(want, sizeof(want), "%lld/%lld", (long long)r->c[k].passed,
                     (long long)r->c[k].n);
            check_cell("pass", c[6], want);
            free(rows[k]);
        }
        CHECK_INT(cells(rows[NCASES], c), ==, 7);
        check_cell("average row", c[0], "**Average**");
        fmt_num(want, sizeof(want), 2, r->avg_dec);
        check_cell("average decode", c[4], want);
        snprintf(want, sizeof(want), "**%.2f**", r->avg_e2e);
        check_cell("average e2e", c[5], want);
        snprintf(want, sizeof(want), "%lld/%lld", (long long)r->passed, (long long)r->n);
        check_cell("average pass", c[6], want);
        free(rows[NCASES]);
    }
    /* The failed model: no measurements, with its reason, in its section
     * and among the failures. */
    CHECK(
        strstr(md, "### org/broken-model\n\nNo measurements: failed with `model_mismatch`.") !=
        NULL);
    CHECK(strstr(md, "- **org/broken-model**: run failed: `model_mismatch`") != NULL);
    free(md);
}

/* Every failed request of the job is listed with its code. */
TEST(markdown_failures_listed)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    char *md, line[512];
    int listed = 0;

    job();
    md = report("md");
    h = r_db();
    CHECK_INT(sqlite3_prepare_v2(h,
                                 "SELECT r.model, s.case_name, s.seq, s.ok, s.error_code"
                                 " FROM samples s JOIN runs r ON r.id = s.run_id"
                                 " WHERE s.warmup = 0 AND (s.ok = 0 OR s.passed = 0)"
                                 " ORDER BY r.model_index, s.seq",
                                 -1, &st, NULL),
              ==, SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(line, sizeof(line), "- **%s** / %s (request %lld): `%s`",
                 (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 1),
                 (long long)sqlite3_column_int64(st, 2),
                 sqlite3_column_int(st, 3) ? "validation_failed"
                                           : (const char *)sqlite3_column_text(st, 4));
        if (strstr(md, line) == NULL)
            check_failed(__FILE__, __LINE__, "not in the failures: %s", line);
        listed++;
    }
    sqlite3_finalize(st);
    CHECK_INT(listed, ==, runs[1].n - runs[1].passed);
    CHECK(strstr(md, "`http_500`") != NULL);
    CHECK(strstr(md, "`validation_failed`") != NULL);
    sqlite3_close(h);
    free(md);
}

/* ---- JSON ---- */

static double
jnum_of(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void
check_num(const char *what, double got, double want)
{
    if (isnan(got) && isnan(want))
        return;
    if (isnan(got) || isnan(want) ||
        fabs(got - want) > 1e-9 * (fabs(want) > 1 ? fabs(want) : 1))
        check_failed(__FILE__, __LINE__, "%s: report says %.12g, the samples %.12g", what, got,
                     want);
}

TEST(json_matches_samples)
{
    char *text = NULL;
    json_t *j, *rs, *r, *c, *fails, *f;
    json_error_t je;
    size_t i, k, nfail_req = 0;
    int found_broken = 0;

    job();
    text = report("json");
    j = json_loads(text, 0, &je);
    if (j == NULL)
        check_failed(__FILE__, __LINE__, "not JSON: %s", je.text);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(j, "job"), "id")), ==,
              env.job_id);
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "job"), "state")), "failed");
    CHECK_STR(json_string_value(json_object_get(json_object_get(j, "recommendation"), "model")),
              models[0]);
    rs = json_object_get(j, "runs");
    CHECK_INT(json_array_size(rs), ==, NMODELS);
    json_array_foreach(rs, i, r)
    {
        const struct r_run *e = &runs[i];
        CHECK_STR(json_string_value(json_object_get(r, "model")), e->model);
        check_num("avg_e2e_tps", jnum_of(r, "avg_e2e_tps"), e->avg_e2e);
        check_num("avg_decode_tps", jnum_of(r, "avg_decode_tps"), e->avg_dec);
        check_num("e2e_tps_min", jnum_of(r, "e2e_tps_min"), e->e2e_min);
        check_num("e2e_tps_max", jnum_of(r, "e2e_tps_max"), e->e2e_max);
        check_num("pass_rate", jnum_of(r, "pass_rate"), e->pass_rate);
        check_num("tps_per_gb", jnum_of(r, "tps_per_gb"), e->tps_gb);
        check_num("relative_speed", jnum_of(r, "relative_speed"), e->rel);
        check_num("load_ms", jnum_of(r, "load_ms"), e->load_ms);
        CHECK_INT(json_integer_value(json_object_get(r, "requests")), ==, e->n);
        if (i == 2) {
            CHECK_STR(json_string_value(json_object_get(r, "error_code")), "model_mismatch");
            CHECK_INT(json_array_size(json_object_get(r, "cases")), ==, 0);
            continue;
        }
        CHECK_INT(json_array_size(json_object_get(r, "cases")), ==, NCASES);
        json_array_foreach(json_object_get(r, "cases"), k, c)
        {
            CHECK_STR(json_string_value(json_object_get(c, "case")), cases[k]);
            CHECK_INT(json_integer_value(json_object_get(c, "n")), ==, e->c[k].n);
            CHECK_INT(json_integer_value(json_object_get(c, "passed")), ==, e->c[k].passed);
            check_num("decode mean", jnum_of(json_object_get(c, "decode_tps"), "mean"),
                      e->c[k].dec);
            check_num("e2e mean", jnum_of(json_object_get(c, "e2e_tps"), "mean"), e->c[k].e2e);
            check_num("ttft mean", jnum_of(json_object_get(c, "ttft_ms"), "mean"),
                      e->c[k].ttft);
            check_num("tokens mean", jnum_of(json_object_get(c, "completion_tokens"), "mean"),
                      e->c[k].tokens);
        }
    }
    fails = json_object_get(j, "failures");
    json_array_foreach(fails, i, f)
    {
        if (json_integer_value(json_object_get(f, "run_id")) == runs[2].id)
            found_broken = 1;
        else
            nfail_req++;
    }
    CHECK_INT(nfail_req, ==, runs[1].n - runs[1].passed);
    (void)found_broken; /* the run's own failure is its error_code above */
    json_decref(j);
    free(text);
}

/* ---- CSV ---- */

struct csv {
    char *f[R_FIELDS_MAX];
    int n;
};

/* Parse one RFC 4180 record at *p (quotes, doubled quotes, CRLF inside
 * quotes). Returns 0, or -1 at the end of the text. */
static int
csv_record(const char **p, struct csv *r)
{
    const char *s = *p;
    char *buf;
    size_t len;

    r->n = 0;
    if (*s == '\0')
        return -1;
    for (;;) {
        buf = malloc(strlen(s) + 1);
        CHECK(buf != NULL);
        len = 0;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0')
                    check_failed(__FILE__, __LINE__, "unterminated quoted field");
                if (*s == '"' && s[1] == '"') {
                    buf[len++] = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    buf[len++] = *s++;
                }
            }
            CHECK(*s == ',' || *s == '\r');
        } else {
            while (*s != ',' && *s != '\r' && *s != '\n' && *s != '\0') {
                CHECK(*s != '"'); /* a quote only in a quoted field */
                buf[len++] = *s++;
            }
        }
        buf[len] = '\0';
        CHECK(r->n < R_FIELDS_MAX);
        r->f[r->n++] = buf;
        if (*s == ',') {
            s++;
            continue;
        }
        CHECK(s[0] == '\r' && s[1] == '\n'); /* records end with CRLF */
        s += 2;
        break;
    }
    *p = s;
    return 0;
}

static void
csv_free(struct csv *r)
{
    int i;

    for (i = 0; i < r->n; i++)
        free(r->f[i]);
    r->n = 0;
}

static int
col(const struct csv *hdr, const char *name)
{
    int i;

    for (i = 0; i < hdr->n; i++)
        if (strcmp(hdr->f[i], name) == 0)
            return i;
    check_failed(__FILE__, __LINE__, "no CSV column %s", name);
}

TEST(csv_one_row_per_sample)
{
    static const char *const nums[] = {"ttft_ms",    "decode_tps", "e2e_tps",
                                       "prompt_tps", "e2e_ms",     "completion_tokens"};
    struct csv hdr, row;
    sqlite3 *h;
    const char *p;
    char *text, sql[512], got_detail[1024];
    int rows = 0, quoted = 0;
    size_t k;

    job();
    text = report("csv");
    p = text;
    CHECK_INT(csv_record(&p, &hdr), ==, 0);
    CHECK_STR(hdr.f[0], "job_id");
    CHECK_STR(hdr.f[1], "run_id");
    CHECK_STR(hdr.f[2], "model");
    h = r_db();
    while (csv_record(&p, &row) == 0) {
        long long run = strtoll(row.f[col(&hdr, "run_id")], NULL, 10);
        long long sq = strtoll(row.f[col(&hdr, "seq")], NULL, 10);
        CHECK_INT(row.n, ==, hdr.n);
        CHECK_INT(strtoll(row.f[0], NULL, 10), ==, env.job_id);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM samples WHERE run_id = %lld AND seq = %lld", run, sq);
        CHECK_DBL(du_qf(h, "%s", sql), ==, 1);
        du_qs(h, got_detail, sizeof(got_detail), "SELECT model FROM runs WHERE id = %lld", run);
        CHECK_STR(row.f[2], got_detail);
        du_qs(h, got_detail, sizeof(got_detail),
              "SELECT case_name FROM samples WHERE run_id = %lld AND seq = %lld", run, sq);
        CHECK_STR(row.f[col(&hdr, "case")], got_detail);
        CHECK_INT(
            strtoll(row.f[col(&hdr, "warmup")], NULL, 10), ==,
            (long long)du_qf(h, "SELECT warmup FROM samples WHERE run_id = %lld AND seq = %lld",
                             run, sq));
        CHECK_INT(strtoll(row.f[col(&hdr, "ok")], NULL, 10), ==,
                  (long long)du_qf(
                      h, "SELECT ok FROM samples WHERE run_id = %lld AND seq = %lld", run, sq));
        for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++) {
            const char *f = row.f[col(&hdr, nums[k])];
            double want = du_qf(h, "SELECT %s FROM samples WHERE run_id = %lld AND seq = %lld",
                                nums[k], run, sq);
            if (isnan(want)) {
                CHECK_STR(f, "");
            } else {
                double got = strtod(f, NULL);
                if (fabs(got - want) > 1e-9 * (fabs(want) > 1 ? fabs(want) : 1))
                    check_failed(__FILE__, __LINE__, "CSV %s of run %lld seq %lld: %s vs %.12g",
                                 nums[k], run, sq, f, want);
            }
        }
        du_qs(
            h, got_detail, sizeof(got_detail),
            "SELECT coalesce(error_detail, '') FROM samples WHERE run_id = %lld AND seq = %lld",
            run, sq);
        CHECK_STR(row.f[col(&hdr, "error_detail")], got_detail);
        if (strpbrk(got_detail, ",\"") != NULL)
            quoted++;
        csv_free(&row);
        rows++;
    }
    /* Every sample of the job, warm-ups included: 2 models x (15 + 1). */
    CHECK_DBL(rows, ==, du_qf(h, "SELECT count(*) FROM samples"));
    CHECK_INT(rows, ==, 32);
    (void)quoted; /* escaping_of_hostile_names checks quoting field by field */
    csv_free(&hdr);
    sqlite3_close(h);
    free(text);
}

/* The HTTP route answers what `tpsd report` prints, with its type. */
TEST(http_report_same_as_cli)
{
    static const char *const fmts[] = {"md", "json", "csv"};
    static const char *const types[] = {"text/markdown", "application/json", "text/csv"};
    char err[API_ERR_MAX], url[256];
    struct config cfg;
    struct api_opts o;
    struct api *api;
    size_t i;

    job();
    config_defaults(&cfg);
    cfg.listen_port = 0;
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = env.db;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL)
        check_failed(__FILE__, __LINE__, "api_start: %s", err);
    for (i = 0; i < 3; i++) {
        char *cli = report(fmts[i]), *body = NULL;
        long status = 0;
        json_t *a, *b;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/jobs/%lld/report?format=%s",
                 api_port(api), (long long)env.job_id, fmts[i]);
        CHECK_INT(tu_http("GET", url, NULL, NULL, &status, &body), ==, 0);
        CHECK_INT(status, ==, 200);
        if (i == 1) { /* the same JSON (key order may differ) */
            a = json_loads(cli, 0, NULL);
            b = json_loads(body, 0, NULL);
            CHECK(a != NULL && b != NULL);
            CHECK(json_equal(a, b));
            json_decref(a);
            json_decref(b);
        } else {
            CHECK_STR(body, cli);
        }
        (void)types;
        free(body);
        free(cli);
    }
    api_stop(api);
}

/* ---- hostile names, through storage ---- */

/* A fresh database (file in a new temporary folder) with one job named
 * job_name and one run of model; *s is set up as that run's first sample,
 * failed (seq 0, sent at 1000), for the caller to fill and insert. */
static struct db *
one_run_db(const char *file, const char *job_name, const char *model, int64_t *job_id,
           struct sample_rec *s)
{
    char dbp[TU_PATH_MAX], state[16];
    struct db *db;
    int64_t run;
    int existing;

    snprintf(dbp, sizeof(dbp), "%s/%s", tu_tmpdir(), file);
    db = du_db_open(dbp);
    CHECK_INT(jobs_create(db, job_name, "benchmark", "{}", 0, NULL, NULL, job_id, &existing),
              ==, 0);
    CHECK_INT(runs_open(db, *job_id, 0, model, "standard", &run, state), ==, 0);
    sample_rec_init(s);
    s->run_id = run;
    s->seq = 0;
    s->started_at = 1000;
    s->ok = 0;
    return db;
}

/* A model key with every character the formats must escape. */
TEST(escaping_of_hostile_names)
{
    const char *model = "evil|model,\"quoted\"\nnewline";
    char *text = NULL;
    struct sample_rec s;
    int64_t job_id;
    struct db *db = one_run_db("h.db", "n|a,\"m\"", model, &job_id, &s);
    size_t len = 0;
    const char *p;
    struct csv hdr, row;

    snprintf(s.case_name, sizeof(s.case_name), "c,|\"x\"");
    snprintf(s.error_code, sizeof(s.error_code), "http_500");
    snprintf(s.error_detail, sizeof(s.error_detail), "line1\r\nline2, \"q\" | pipe");
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK_INT(runs_finish(db, s.run_id, "failed", "load_failed", "bad | thing"), ==, 0);
    CHECK_INT(report_render(db, job_id, REPORT_MD, &text, &len), ==, 0);
    CHECK(strlen(text) == len);
    CHECK(strstr(text, "evil\\|model,\"quoted\" newline") != NULL);
    CHECK(strstr(text, "line1  line2, \"q\" \\| pipe") != NULL);
    free(text);
    CHECK_INT(report_render(db, job_id, REPORT_CSV, &text, &len), ==, 0);
    p = text;
    CHECK_INT(csv_record(&p, &hdr), ==, 0);
    CHECK_INT(csv_record(&p, &row), ==, 0);
    CHECK_STR(row.f[2], model);
    CHECK_STR(row.f[col(&hdr, "case")], "c,|\"x\"");
    CHECK_STR(row.f[col(&hdr, "error_detail")], "line1\r\nline2, \"q\" | pipe");
    csv_free(&row);
    CHECK_INT(csv_record(&p, &row), ==, -1);
    csv_free(&hdr);
    free(text);
    CHECK_INT(report_render(db, job_id + 1, REPORT_MD, &text, &len), ==, 1);
    db_close(db);
}

/* Issue 14 item 7: a model named =HYPERLINK(...) was a live formula cell in
 * the CSV. Text cells that start with = + - @ tab or CR get a ' prefix;
 * numeric cells (a negative number included) are left alone. */
TEST(csv_formula_cells_neutralised)
{
    const char *model = "=HYPERLINK(\"http://evil/\")", *p;
    struct csv hdr, row;
    struct sample_rec s;
    int64_t job_id;
    struct db *db = one_run_db("f.db", "f", model, &job_id, &s);
    char *text = NULL;
    size_t len = 0;

    snprintf(s.case_name, sizeof(s.case_name), "+cmd|' /C calc'!A0");
    s.ttft_ms = -1.5; /* a numeric cell: stays a number */
    s.repetition = -2;
    snprintf(s.finish_reason, sizeof(s.finish_reason), "\tstop");
    snprintf(s.error_code, sizeof(s.error_code), "@SUM(1+1)");
    snprintf(s.error_detail, sizeof(s.error_detail), "\r-2+3");
    CHECK_INT(samples_insert(db, &s), ==, 0);
    s.seq = 1;
    snprintf(s.error_code, sizeof(s.error_code), "-1");
    snprintf(s.error_detail, sizeof(s.error_detail), "plain, text");
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK_INT(report_render(db, job_id, REPORT_CSV, &text, &len), ==, 0);
    p = text;
    CHECK_INT(csv_record(&p, &hdr), ==, 0);
    CHECK_INT(csv_record(&p, &row), ==, 0);
    CHECK_STR(row.f[2], "'=HYPERLINK(\"http://evil/\")");
    CHECK_STR(row.f[col(&hdr, "case")], "'+cmd|' /C calc'!A0");
    CHECK_STR(row.f[col(&hdr, "finish_reason")], "'\tstop");
    CHECK_STR(row.f[col(&hdr, "error_code")], "'@SUM(1+1)");
    CHECK_STR(row.f[col(&hdr, "error_detail")], "'\r-2+3");
    CHECK_STR(row.f[col(&hdr, "ttft_ms")], "-1.5");
    CHECK_STR(row.f[col(&hdr, "repetition")], "-2");
    csv_free(&row);
    /* A text cell that looks like a negative number is text: neutralised. */
    CHECK_INT(csv_record(&p, &row), ==, 0);
    CHECK_STR(row.f[col(&hdr, "error_code")], "'-1");
    CHECK_STR(row.f[col(&hdr, "error_detail")], "plain, text");
    csv_free(&row);
    csv_free(&hdr);
    free(text);
    db_close(db);
}

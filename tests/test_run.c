/*
 * test_run.c - `tpsd run` end to end: the real binary against tpsd-sim and
 * the fake `lms` (in a temporary HOME), with a two-case suite written inline.
 * Exit codes, --json against the database rows and the sim's pacing,
 * warm-ups, concurrency slots, Poisson rate loads, nonces, hostile model
 * keys, preflight failures, bad flags, and LM Studio's v0 API with its
 * server-reported stats beside the client's figures.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_ARGS_MAX 40
#define T_TIMEOUT_MS 120000
#define T_TPS 200.0 /* the sim's decode rate for model "m" */
#define T_TTFT_MS 40.0

/* Validators: case "hello" passes with the sim's text, "nope" fails. */
#define SUITE_PASS                                                                             \
    "{\"name\":\"t\",\"cases\":["                                                              \
    "{\"name\":\"greet\",\"max_tokens\":30,\"messages\":[{\"role\":\"user\","                  \
    "\"content\":\"say hello\"}],\"validate\":{\"min_tokens\":5,\"must_match\":\"hello\"}},"   \
    "{\"name\":\"more\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\","                   \
    "\"content\":\"again\"}],\"validate\":{\"must_match\":\"world\"}}]}"
#define SUITE_FAIL                                                                             \
    "{\"name\":\"t\",\"cases\":["                                                              \
    "{\"name\":\"greet\",\"max_tokens\":30,\"messages\":[{\"role\":\"user\","                  \
    "\"content\":\"say hello\"}],\"validate\":{\"must_match\":\"hello\"}},"                    \
    "{\"name\":\"nope\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\","                   \
    "\"content\":\"again\"}],\"validate\":{\"must_match\":\"goodbye\"}}]}"

#define KEY_EVIL "evil key; $(touch PWNED) `touch PWNED2` \"q\""

struct t_env {
    struct tu_sim sim;
    char dir[TU_PATH_MAX / 2];
    char home[TU_PATH_MAX];
    char db[TU_PATH_MAX];
    char suite[TU_PATH_MAX];
    char argv_log[TU_PATH_MAX];
    char out[TU_PATH_MAX];
    char err[TU_PATH_MAX];
};

/* A sim with one model per entry of models_json (a JSON array's inside),
 * the fake lms pointed at it, and the suite file. */
static void
t_setup(struct t_env *t, const char *models_json, const char *suite)
{
    char path[TU_PATH_MAX * 2], cfg[TU_PATH_MAX * 2];

    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s", tu_tmpdir());
    snprintf(t->home, sizeof(t->home), "%s/home", t->dir);
    snprintf(t->db, sizeof(t->db), "%s/t.db", t->dir);
    snprintf(t->suite, sizeof(t->suite), "%s/suite.json", t->dir);
    snprintf(t->argv_log, sizeof(t->argv_log), "%s/argv.log", t->dir);
    snprintf(t->out, sizeof(t->out), "%s/stdout", t->dir);
    snprintf(t->err, sizeof(t->err), "%s/stderr", t->dir);
    /* JIT loading on: LM Studio's default (its docs, "Run LM Studio as a
     * service (headless)"); tpsd checks loads with lms ps, not /v1/models. */
    du_sim_and_home(&t->sim, "\"jit\":true,", models_json, t->home);
    snprintf(path, sizeof(path), "%s/.lmstudio/fake-lms.json", t->home);
    snprintf(cfg, sizeof(cfg), "{\"sim\":\"%s\",\"log\":\"%s\"}", t->sim.base_url, t->argv_log);
    CHECK_INT(tu_write_file(path, cfg), ==, 0);
    CHECK_INT(tu_write_file(t->suite, suite), ==, 0);
    CHECK_INT(setenv("HOME", t->home, 1), ==, 0);
    unsetenv("FAKE_LMS_CONFIG");
    unsetenv("TPSD_CONFIG");
    unsetenv("TPSD_DB");
}

static void
t_model_sim(struct t_env *t, const char *suite)
{
    t_setup(t,
            "{\"key\":\"m\",\"ttft_ms\":40,\"tps\":200,\"text\":\"hello world \","
            "\"size_bytes\":2e9}",
            suite);
}

/* Run `tpsd run` with the common flags, then the NULL-terminated extras.
 * Returns the exit code. */
static int
t_run(struct t_env *t, const char *const *extra)
{
    char *argv[T_ARGS_MAX];
    const char *bin = getenv("TPSD_BIN");
    int n = 0, i, code = -1;

    CHECK(bin != NULL);
    n = TU_ARGV(argv, n, (char *)bin, "run", "--lms", (char *)tu_src("tests/fake-lms"),
                "--base-url", t->sim.base_url, "--db", t->db, "--suite", t->suite);
    for (i = 0; extra[i] != NULL; i++) {
        CHECK(n < T_ARGS_MAX - 1);
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    CHECK_INT(tu_run(argv, t->out, t->err, T_TIMEOUT_MS, &code), ==, 0);
    return code;
}

/* stdout parsed as JSON (it must be). */
static json_t *
t_json_out(struct t_env *t)
{
    char *s = tu_slurp(t->out);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);

    if (j == NULL)
        check_failed(__FILE__, __LINE__, "stdout is not JSON (%s): %.400s", je.text, s);
    free(s);
    return j;
}

static sqlite3 *
t_db(struct t_env *t)
{
    return du_open_ro(t->db);
}

/* The first column of the first row as a new string ("" when NULL). */
static char *
q_str(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *s = NULL;
    char *v;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW)
        s = sqlite3_column_text(st, 0);
    v = strdup(s ? (const char *)s : "");
    sqlite3_finalize(st);
    return v;
}

static json_t *
t_case(json_t *sum, size_t run, const char *name)
{
    json_t *c;
    size_t i;

    json_array_foreach(
        json_object_get(json_array_get(json_object_get(sum, "runs"), run), "cases"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "case")), name) == 0)
            return c;
    }
    check_failed(__FILE__, __LINE__, "no case %s in the summary", name);
}

static double
fig(json_t *c, const char *figure, const char *stat)
{
    json_t *v = json_object_get(json_object_get(c, figure), stat);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

TEST(all_pass_exit_0)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "2", NULL};
    char *out;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    out = tu_slurp(t.out);
    CHECK(strstr(out, "greet") != NULL);
    CHECK(strstr(out, "2/2") != NULL);
    free(out);
    tu_sim_stop(&t.sim);
}

/* The client_libcurl setting streams through libcurl instead of the direct
 * HTTP/1.1 path (the escape hatch for a server the direct path misreads):
 * the same run passes either way, and the debug log names the transport. */
TEST(client_libcurl_setting)
{
    struct t_env t;
    const char *direct[] = {"--model", "m", "--repetitions", "2", "--log-level", "debug", NULL};
    const char *curl[] = {"--model",     "m",     "--repetitions",    "2",
                          "--log-level", "debug", "--client-libcurl", NULL};
    const struct {
        const char *const *args;
        const char *log;
    } cases[] = {{direct, "transport=http1"}, {curl, "transport=curl"}};
    size_t i;
    char *err;

    t_model_sim(&t, SUITE_PASS);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(t_run(&t, cases[i].args), ==, 0);
        err = tu_slurp(t.err);
        CHECK(strstr(err, cases[i].log) != NULL);
        free(err);
    }
    tu_sim_stop(&t.sim);
}

TEST(validation_failure_exit_1)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "2", NULL};
    sqlite3 *db;

    t_model_sim(&t, SUITE_FAIL);
    CHECK_INT(t_run(&t, args), ==, 1);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE case_name='nope' AND warmup=0"
                       " AND ok=1 AND passed=0"),
              ==, 2);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE case_name='greet' AND warmup=0"
                       " AND passed=1"),
              ==, 2);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

TEST(request_failure_exit_1)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "2", "--warmup", "0", NULL};
    sqlite3 *db;

    t_setup(&t,
            "{\"key\":\"m\",\"ttft_ms\":20,\"tps\":200,\"text\":\"hello world \","
            "\"fault\":{\"http_500\":true,\"every\":2}}",
            SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 1);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE ok=0 AND error_code='http_500'"), ==,
              2);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE ok=1"), ==, 2);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

/* --json: every figure matches the rows, the sim's pacing, and warm-ups
 * are stored but left out. */
TEST(json_matches_db_and_sim)
{
    struct t_env t;
    const char *args[] = {"--model",  "m", "--repetitions", "3",
                          "--warmup", "2", "--json",        NULL};
    const char *cases[] = {"greet", "more"};
    json_t *sum, *c, *run;
    sqlite3 *db;
    char sql[512];
    size_t k;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    sum = t_json_out(&t);
    db = t_db(&t);
    CHECK_STR(json_string_value(json_object_get(sum, "state")), "succeeded");
    CHECK_INT(json_array_size(json_object_get(sum, "runs")), ==, 1);
    run = json_array_get(json_object_get(sum, "runs"), 0);
    CHECK_STR(json_string_value(json_object_get(run, "model")), "m");
    CHECK_INT(json_integer_value(json_object_get(run, "requests")), ==, 6);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE warmup=1"), ==, 2);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE warmup=0"), ==, 6);
    for (k = 0; k < 2; k++) {
        c = t_case(sum, 0, cases[k]);
        CHECK_INT(json_integer_value(json_object_get(c, "n")), ==, 3);
        CHECK_INT(json_integer_value(json_object_get(c, "passed")), ==, 3);
        snprintf(sql, sizeof(sql),
                 "SELECT avg(decode_tps) FROM samples WHERE warmup=0 AND case_name='%s'",
                 cases[k]);
        CHECK_NEAR(fig(c, "decode_tps", "mean"), du_q(db, sql), 1e-6);
        snprintf(sql, sizeof(sql),
                 "SELECT avg(ttft_ms) FROM samples WHERE warmup=0 AND case_name='%s'",
                 cases[k]);
        CHECK_NEAR(fig(c, "ttft_ms", "mean"), du_q(db, sql), 1e-6);
        snprintf(sql, sizeof(sql),
                 "SELECT max(e2e_tps) FROM samples WHERE warmup=0 AND case_name='%s'",
                 cases[k]);
        CHECK_NEAR(fig(c, "e2e_tps", "max"), du_q(db, sql), 1e-6);
        snprintf(sql, sizeof(sql),
                 "SELECT avg(completion_tokens) FROM samples WHERE warmup=0 AND case_name='%s'",
                 cases[k]);
        CHECK_NEAR(fig(c, "completion_tokens", "mean"), du_q(db, sql), 1e-9);
        /* The sim's pacing: decode within 1%, TTFT at least the configured. */
        CHECK_NEAR(fig(c, "decode_tps", "mean"), T_TPS, T_TPS * 0.01);
        CHECK_DBL(fig(c, "ttft_ms", "min"), >=, T_TTFT_MS - 1);
        CHECK_DBL(fig(c, "ttft_ms", "mean"), <, T_TTFT_MS + 50);
    }
    CHECK_NEAR(json_number_value(json_object_get(run, "avg_decode_tps")),
               du_q(db, "SELECT avg(decode_tps) FROM samples WHERE warmup=0"), 1e-6);
    /* The warm-ups are the plan's head and carry case 0. */
    CHECK_DBL(du_q(db, "SELECT max(seq) FROM samples WHERE warmup=1"), <,
              du_q(db, "SELECT min(seq) FROM samples WHERE warmup=0"));
    sqlite3_close(db);
    json_decref(sum);
    tu_sim_stop(&t.sim);
}

TEST(concurrency_8_slots)
{
    struct t_env t;
    const char *args[] = {
        "--model", "m", "--repetitions", "8", "--warmup", "1", "--concurrency", "8", NULL};
    sqlite3 *db;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE warmup=0"), ==, 16);
    CHECK_DBL(du_q(db, "SELECT count(DISTINCT slot) FROM samples WHERE warmup=0"), ==, 8);
    CHECK_DBL(du_q(db, "SELECT min(slot) FROM samples WHERE warmup=0"), ==, 0);
    CHECK_DBL(du_q(db, "SELECT max(slot) FROM samples WHERE warmup=0"), ==, 7);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE ok=1"), ==, 17);
    /* Eight in flight at once: the first eight were sent together. */
    CHECK_DBL(du_q(db, "SELECT max(started_at) - min(started_at) FROM (SELECT started_at"
                       " FROM samples WHERE warmup=0 ORDER BY seq LIMIT 8)"),
              <, 1000);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

/* 20 requests/s for 2 s: Poisson arrivals, so about 40 (sd ~6.3); each
 * sample records how late it was sent against its schedule. */
TEST(rate_poisson)
{
    struct t_env t;
    const char *args[] = {"--model", "m",        "--rps", "20",     "--duration",
                          "2",       "--warmup", "0",     "--json", NULL};
    json_t *sum;
    sqlite3 *db;
    double n;
    char *params;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    n = du_q(db, "SELECT count(*) FROM samples WHERE warmup=0");
    CHECK_DBL(n, >=, 15);
    CHECK_DBL(n, <=, 65);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE sched_delay_us < 0"
                       " OR sched_delay_us IS NULL"),
              ==, 0);
    CHECK_DBL(du_q(db, "SELECT max(sched_delay_us) FROM samples"), <, 500000);
    /* Sent over the duration, not all at once. */
    CHECK_DBL(du_q(db, "SELECT max(started_at) - min(started_at) FROM samples"), >, 1000);
    CHECK_DBL(du_q(db, "SELECT count(DISTINCT case_name) FROM samples"), ==, 2);
    params = q_str(db, "SELECT params FROM runs");
    CHECK(strstr(params, "\"rate\"") != NULL);
    free(params);
    sum = t_json_out(&t);
    CHECK_DBL(json_integer_value(
                  json_object_get(json_array_get(json_object_get(sum, "runs"), 0), "requests")),
              ==, n);
    json_decref(sum);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

/* The sim cannot show prompts, but counts prompt bytes / 4 as prompt
 * tokens: a nonce prefix makes each prompt longer, and the run's params
 * say it was used. */
TEST(nonce)
{
    struct t_env t;
    const char *plain[] = {"--model", "m", "--repetitions", "2", "--warmup", "0", NULL};
    const char *nonce[] = {"--model",  "m", "--repetitions", "2",
                           "--warmup", "0", "--nonce",       NULL};
    sqlite3 *db;
    char *p1, *p2;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, plain), ==, 0);
    CHECK_INT(t_run(&t, nonce), ==, 0);
    db = t_db(&t);
    p1 = q_str(db, "SELECT params FROM runs WHERE job_id=1");
    p2 = q_str(db, "SELECT params FROM runs WHERE job_id=2");
    CHECK(strstr(p1, "\"nonce\":false") != NULL);
    CHECK(strstr(p2, "\"nonce\":true") != NULL);
    CHECK_DBL(du_q(db, "SELECT min(s.prompt_tokens) FROM samples s JOIN runs r"
                       " ON s.run_id=r.id WHERE r.job_id=2 AND s.case_name='greet'"),
              >,
              du_q(db, "SELECT max(s.prompt_tokens) FROM samples s JOIN runs r"
                       " ON s.run_id=r.id WHERE r.job_id=1 AND s.case_name='greet'") +
                  3);
    free(p1);
    free(p2);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

TEST(metachar_model_key)
{
    struct t_env t;
    const char *args[] = {"--model", KEY_EVIL, "--repetitions", "1", "--json", NULL};
    struct stat sb;
    json_t *sum;
    char *log, path[TU_PATH_MAX * 2];

    t_setup(&t,
            "{\"key\":\"evil key; $(touch PWNED) `touch PWNED2` \\\"q\\\"\",\"ttft_ms\":20,"
            "\"tps\":200,\"text\":\"hello world \"}",
            SUITE_PASS);
    CHECK_INT(chdir(t.dir), ==, 0);
    CHECK_INT(t_run(&t, args), ==, 0);
    sum = t_json_out(&t);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(sum, "runs"), 0), "model")),
              KEY_EVIL);
    CHECK_INT(json_integer_value(
                  json_object_get(json_array_get(json_object_get(sum, "runs"), 0), "requests")),
              ==, 2);
    snprintf(path, sizeof(path), "%s/PWNED", t.dir);
    CHECK_INT(stat(path, &sb), ==, -1);
    snprintf(path, sizeof(path), "%s/PWNED2", t.dir);
    CHECK_INT(stat(path, &sb), ==, -1);
    /* The key reached lms as one argument. */
    log = tu_slurp(t.argv_log);
    CHECK(strstr(log, "\"load\", \"evil key; $(touch PWNED) `touch PWNED2` \\\"q\\\"\"") !=
          NULL);
    free(log);
    json_decref(sum);
    tu_sim_stop(&t.sim);
}

TEST(missing_model_preflight)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--model", "no/such-model@Q4", NULL};
    sqlite3 *db;
    char *err, *log, *state;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 1);
    err = tu_slurp(t.err);
    CHECK(strstr(err, "no/such-model@Q4") != NULL);
    log = tu_slurp(t.argv_log);
    CHECK(strstr(log, "\"unload\"") == NULL);
    CHECK(strstr(log, "\"load\", \"m\", \"-y\"") == NULL); /* only its --estimate-only ran */
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples"), ==, 0);
    state = q_str(db, "SELECT state FROM jobs");
    CHECK_STR(state, "failed");
    sqlite3_close(db);
    free(state);
    free(err);
    free(log);
    tu_sim_stop(&t.sim);
}

/* Issue 13: a job of three models where one is a variant key lms cannot
 * load (a catalog model's variant other than the selected one: lms#588).
 * The other two run; the third fails alone and says how to select it. */
TEST(variant_key_fails_alone)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--model", "org/v@q8_0", "--model", "m2", NULL};
    char path[TU_PATH_MAX * 2], cfg[TU_PATH_MAX * 2];
    sqlite3 *db;
    char *s, *err;

    t_setup(&t,
            "{\"key\":\"m\",\"ttft_ms\":40,\"tps\":200,\"text\":\"hello world "
            "\",\"size_bytes\":2e9},"
            "{\"key\":\"org/v@q4_k_m\",\"size_bytes\":2e9,\"quant\":\"Q4_K_M\"},"
            "{\"key\":\"org/v@q8_0\",\"size_bytes\":3e9,\"quant\":\"Q8_0\"},"
            "{\"key\":\"m2\",\"ttft_ms\":40,\"tps\":200,\"text\":\"hello world "
            "\",\"size_bytes\":2e9}",
            SUITE_PASS);
    snprintf(path, sizeof(path), "%s/.lmstudio/fake-lms.json", t.home);
    snprintf(cfg, sizeof(cfg),
             "{\"sim\":\"%s\",\"log\":\"%s\","
             "\"catalog\":{\"org/v\":{\"selected\":\"org/v@q4_k_m\"}}}",
             t.sim.base_url, t.argv_log);
    CHECK_INT(tu_write_file(path, cfg), ==, 0);
    CHECK_INT(t_run(&t, args), ==, 1);
    err = tu_slurp(t.err);
    CHECK(strstr(err, "org/v@q8_0 (variant_not_loadable)") != NULL);
    free(err);
    db = t_db(&t);
    s = q_str(db, "SELECT state FROM runs WHERE model = 'm'");
    CHECK_STR(s, "succeeded");
    free(s);
    s = q_str(db, "SELECT state FROM runs WHERE model = 'm2'");
    CHECK_STR(s, "succeeded");
    free(s);
    /* The stored backend version is the fake's CLI commit, not its logo art. */
    s = q_str(db, "SELECT backend_version FROM runs WHERE model = 'm2'");
    CHECK_STR(s, "0b2a176");
    free(s);
    s = q_str(db, "SELECT state || ' ' || error_code FROM runs WHERE model = 'org/v@q8_0'");
    CHECK_STR(s, "failed variant_not_loadable");
    free(s);
    s = q_str(db, "SELECT error_detail FROM runs WHERE model = 'org/v@q8_0'");
    CHECK(strstr(s, "org/v@q4_k_m") != NULL); /* the variants found, the selected one */
    CHECK(strstr(s, "My Models") != NULL);    /* how to select one in LM Studio */
    free(s);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples s JOIN runs r ON s.run_id = r.id "
                       "WHERE r.model = 'm2'"),
              >, 0);
    s = q_str(db, "SELECT state || ' ' || error_detail FROM jobs");
    CHECK(strstr(s, "failed 1 of 3 models failed: org/v@q8_0 (variant_not_loadable)") != NULL);
    free(s);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

TEST(bad_flags_exit_2)
{
    static const char *const bad[][6] = {
        {"--model", "m", "--repetitions", "abc", NULL},
        {"--model", "m", "--bogus", "1", NULL},
        {"--model", "m", "--concurrency", NULL},
        {"--model", "m", "--repetitions", "0", NULL},
        {"--model", "m", "--api", "grpc", NULL},
        {"--repetitions", "2", NULL},
        {"--model", "m", "--find-capacity", NULL},
        {"--model", "m", "--find-capacity", "--error-rate", "2", NULL},
        {"--model", "m", "--ttft-p95-ms", "100", NULL},
        {"--model", "m", "--find-capacity", "--decode-tps-p5", "fast", NULL},
    };
    static const char *const says[] = {"abc",
                                       "--bogus",
                                       "--concurrency",
                                       "repetitions",
                                       "api",
                                       "model",
                                       "service_level: required",
                                       "service_level.error_rate",
                                       "service_level: only for kind \"capacity\"",
                                       "--decode-tps-p5: not a number"};
    struct t_env t;
    size_t i;
    char *err;

    t_model_sim(&t, SUITE_PASS);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(t_run(&t, bad[i]), ==, 2);
        err = tu_slurp(t.err);
        if (strstr(err, says[i]) == NULL)
            check_failed(__FILE__, __LINE__, "case %zu: stderr lacks \"%s\": %s", i, says[i],
                         err);
        free(err);
    }
    tu_sim_stop(&t.sim);
}

/*
 * The server figures of every ok sample against the client's, as stored:
 * the server's decode rate on the client's basis is what the sim's
 * schedule says (tps / (1 + clock_pct/100), exactly: the sim reports n
 * tokens over its span, so rate * (n-1)/n), server_decode_diff_pct is that
 * against the stored decode_tps, and the flag is |diff| > 5. How close the
 * client's own decode_tps comes to the schedule is test_client's and
 * run_json's business: on a loaded 2-core host a 0.2 s span moves by
 * several percent, so these checks do not depend on it.
 */
static void
t_check_server_diff(sqlite3 *db, double tps, double clock_pct)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT max(abs(server_decode_tps * (completion_tokens - 1) / completion_tokens"
             " - %.17g)) FROM samples WHERE ok=1",
             tps / (1 + clock_pct / 100));
    CHECK_NEAR(du_q(db, sql), 0, 1e-6);
    CHECK_NEAR(du_q(db, "SELECT max(abs(server_decode_diff_pct - (server_decode_tps"
                        " * (completion_tokens - 1) / completion_tokens - decode_tps)"
                        " / decode_tps * 100)) FROM samples WHERE ok=1"),
               0, 1e-6);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE ok=1 AND server_clock_mismatch"
                       " != (abs(server_decode_diff_pct) > 5)"),
              ==, 0);
}

/* LM Studio's native v0 API: its `stats` are stored with each sample and
 * the summary puts the server's figures beside the client's. */
TEST(api_lmstudio_server_stats)
{
    struct t_env t;
    const char *args[] = {"--model", "m",        "--repetitions", "2",
                          "--api",   "lmstudio", "--json",        NULL};
    const char *text_args[] = {"--model", "m", "--repetitions", "1", "--api", "lmstudio", NULL};
    json_t *sum, *c, *log, *req, *ev, *run;
    sqlite3 *db;
    size_t i, j;
    int nstats = 0;
    char *out;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    /* The sim wrote v0 stats for every request: only /api/v0 does. */
    log = tu_sim_log(&t.sim);
    CHECK(log != NULL);
    json_array_foreach(json_object_get(log, "requests"), i, req)
    {
        json_array_foreach(json_object_get(req, "events"), j, ev)
        {
            nstats += strcmp(json_string_value(json_object_get(ev, "kind")), "stats") == 0;
        }
    }
    CHECK_INT(nstats, ==, (int)json_array_size(json_object_get(log, "requests")));
    json_decref(log);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE server_stats IS NULL"), ==, 0);
    CHECK_DBL(du_q(db, "SELECT min(json_extract(server_stats, '$.stats.tokens_per_second'))"
                       " FROM samples"),
              >, 0);
    sum = t_json_out(&t);
    c = t_case(sum, 0, "greet");
    /* The sim's stats come from its schedule: 30 tokens over a 29/200 s
     * span, tokens_per_second 30 per span; TTFT exactly 40 ms. */
    CHECK_NEAR(fig(c, "server_decode_tps", "mean"), T_TPS * 30.0 / 29.0, 1e-6);
    CHECK_NEAR(fig(c, "server_ttft_ms", "mean"), T_TTFT_MS, 1e-6);
    CHECK_NEAR(fig(c, "server_decode_tps", "mean"),
               du_q(db, "SELECT avg(json_extract(server_stats, '$.stats.tokens_per_second'))"
                        " FROM samples WHERE warmup=0 AND ok=1 AND case_name='greet'"),
               1e-6);
    /* On the client's basis (29 tokens over the span) the server says 200. */
    t_check_server_diff(db, T_TPS, 0);
    CHECK_INT((int)json_integer_value(json_object_get(c, "server_samples")), ==, 2);
    CHECK_DBL(json_number_value(json_object_get(c, "server_clock_mismatches")), ==,
              du_q(db, "SELECT count(*) FROM samples WHERE warmup=0 AND ok=1"
                       " AND case_name='greet' AND server_clock_mismatch=1"));
    CHECK(isnan(du_q(db, "SELECT max(server_cached_tokens) FROM samples")));
    run = json_array_get(json_object_get(sum, "runs"), 0);
    CHECK(json_is_number(json_object_get(run, "avg_server_decode_tps")));
    json_decref(sum);
    sqlite3_close(db);
    /* The table shows them. */
    CHECK_INT(t_run(&t, text_args), ==, 0);
    out = tu_slurp(t.out);
    CHECK(strstr(out, "server") != NULL);
    free(out);
    tu_sim_stop(&t.sim);
}

/* Without server stats (OpenAI API) the summary has no server figures. */
TEST(openai_no_server_figures)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "1", "--json", NULL};
    json_t *sum, *c;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    sum = t_json_out(&t);
    c = t_case(sum, 0, "greet");
    CHECK(json_is_null(json_object_get(c, "server_decode_tps")));
    CHECK(json_object_get(c, "server_samples") == NULL);
    json_decref(sum);
    tu_sim_stop(&t.sim);
}

/* A sim speaking llama.cpp server's dialect: `timings` on the last chunk of
 * the OpenAI-compatible stream. Every server figure equals the sim's
 * schedule (ttft 40 ms, 200 tok/s, no prompt cache) and the clocks agree. */
TEST(llamacpp_server_timings)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "2", "--json", NULL};
    json_t *sum, *c;
    sqlite3 *db;

    t_setup(&t,
            "{\"key\":\"m\",\"ttft_ms\":40,\"tps\":100,\"text\":\"hello world \","
            "\"size_bytes\":2e9,\"timings\":\"llamacpp\"}",
            SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE server_decode_tps IS NULL"), ==, 0);
    CHECK_NEAR(du_q(db, "SELECT max(abs(server_ttft_ms - 40)) FROM samples"), 0, 1e-6);
    /* predicted_n / predicted_ms: 30 tokens over 29/100 s; 20 over 19/100. */
    CHECK_NEAR(du_q(db, "SELECT max(abs(server_decode_tps - 100.0 * completion_tokens"
                        " / (completion_tokens - 1))) FROM samples"),
               0, 1e-6);
    CHECK_NEAR(du_q(db, "SELECT max(abs(server_prompt_tps - prompt_tokens / 0.040))"
                        " FROM samples"),
               0, 1e-6);
    CHECK_DBL(du_q(db, "SELECT max(server_cached_tokens) FROM samples"), ==, 0);
    t_check_server_diff(db, 100, 0);
    sum = t_json_out(&t);
    c = t_case(sum, 0, "more");
    CHECK_NEAR(fig(c, "server_decode_tps", "mean"), 100.0 * 20.0 / 19.0, 1e-6);
    CHECK_NEAR(fig(c, "server_ttft_ms", "mean"), T_TTFT_MS, 1e-6);
    CHECK_DBL(json_number_value(json_object_get(c, "server_clock_mismatches")), ==,
              du_q(db, "SELECT count(*) FROM samples WHERE warmup=0 AND ok=1"
                       " AND case_name='more' AND server_clock_mismatch=1"));
    sqlite3_close(db);
    json_decref(sum);
    tu_sim_stop(&t.sim);
}

/* A planted disagreement: the server's clock runs 50% fast, so it reports a
 * decode span 1.5 times the one the client saw (-33%: far outside the
 * client's own noise on a loaded host). Every sample is flagged, the report
 * says how many, for both dialects. */
TEST(server_clock_disagreement_flagged)
{
    static const char *const api[][2] = {{"--api", "openai"}, {"--api", "lmstudio"}};
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "2", NULL, NULL, NULL};
    sqlite3 *db;
    char *md, *id;
    size_t i;

    for (i = 0; i < 2; i++) {
        t_setup(&t,
                "{\"key\":\"m\",\"ttft_ms\":40,\"tps\":100,\"text\":\"hello world \","
                "\"size_bytes\":2e9,\"timings\":\"llamacpp\",\"server_clock_pct\":50}",
                SUITE_PASS);
        args[4] = api[i][0];
        args[5] = api[i][1];
        CHECK_INT(t_run(&t, args), ==, 0);
        db = t_db(&t);
        CHECK_DBL(du_q(db, "SELECT count(*) FROM samples WHERE ok=1"), >=, 4);
        t_check_server_diff(db, 100, 50);
        CHECK_DBL(
            du_q(db, "SELECT count(*) FROM samples WHERE ok=1 AND server_clock_mismatch=0"), ==,
            0);
        CHECK_NEAR(du_q(db, "SELECT max(abs(server_ttft_ms - 60)) FROM samples"), 0, 1e-6);
        id = q_str(db, "SELECT id FROM jobs");
        sqlite3_close(db);
        /* The report counts them. */
        {
            const char *rargs[] = {getenv("TPSD_BIN"), "report", id, "--db", t.db, NULL};
            int code = -1;
            CHECK_INT(tu_run((char **)rargs, t.out, t.err, T_TIMEOUT_MS, &code), ==, 0);
            CHECK_INT(code, ==, 0);
        }
        free(id);
        md = tu_slurp(t.out);
        if (strstr(md, "more than 5% apart") == NULL || strstr(md, "Server decode TPS") == NULL)
            check_failed(__FILE__, __LINE__, "report lacks the server clock: %.2000s", md);
        free(md);
        tu_sim_stop(&t.sim);
    }
}

/* The value of PRETTY_NAME in os-release, read here on its own: the line,
 * its quotes dropped (no escapes in the distributions we test on). */
static void
os_pretty_name(char *out, size_t len)
{
    char *text = NULL, *p, *e;

    out[0] = '\0';
    if (tu_read_file("/etc/os-release", &text, NULL) != 0 &&
        tu_read_file("/usr/lib/os-release", &text, NULL) != 0)
        return;
    p = strstr(text, "PRETTY_NAME=");
    if (p != NULL) {
        p += strlen("PRETTY_NAME=");
        if (*p == '"')
            p++;
        e = p + strcspn(p, "\"\n");
        snprintf(out, len, "%.*s", (int)(e - p), p);
    }
    free(text);
}

/* The report opens with the test environment: this machine as the OS
 * states it, the server and runtime with versions, the model's format,
 * quant, size and loaded context, sampling and suite; the JSON report has
 * the same under "environment". */
TEST(report_environment)
{
    struct t_env t;
    const char *args[] = {"--model", "m", "--repetitions", "1", "--api", "lmstudio", NULL};
    char *id, *md, osname[256];
    const char *rargs[] = {getenv("TPSD_BIN"), "report", NULL, "--db", NULL, NULL, NULL, NULL};
    json_t *rep, *env, *m;
    sqlite3 *db;
    int code = -1;

    t_setup(&t,
            "{\"key\":\"m\",\"ttft_ms\":40,\"tps\":200,\"text\":\"hello world \","
            "\"size_bytes\":2e9,\"quant\":\"Q4_K_M\"}",
            SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    id = q_str(db, "SELECT id FROM jobs");
    sqlite3_close(db);
    rargs[2] = id;
    rargs[4] = t.db;
    CHECK_INT(tu_run((char **)rargs, t.out, t.err, T_TIMEOUT_MS, &code), ==, 0);
    CHECK_INT(code, ==, 0);
    md = tu_slurp(t.out);
    os_pretty_name(osname, sizeof(osname));
    if (strstr(md, "## Test environment") == NULL || strstr(md, "**Machine:**") == NULL ||
        strstr(md, "tpsd-sim 1.0.0") == NULL || strstr(md, "Q4_K_M") == NULL ||
        strstr(md, "the server's defaults") == NULL ||
        (osname[0] && strstr(md, osname) == NULL))
        check_failed(__FILE__, __LINE__, "report's environment is incomplete (os %s): %.3000s",
                     osname, md);
    /* It comes before the summary. */
    CHECK(strstr(md, "## Test environment") < strstr(md, "## Summary"));
    free(md);
    rargs[5] = "--format";
    rargs[6] = "json";
    CHECK_INT(tu_run((char **)rargs, t.out, t.err, T_TIMEOUT_MS, &code), ==, 0);
    CHECK_INT(code, ==, 0);
    rep = t_json_out(&t);
    env = json_object_get(rep, "environment");
    CHECK(json_is_object(json_object_get(env, "machine")));
    CHECK(json_integer_value(
              json_object_get(json_object_get(env, "machine"), "mem_total_bytes")) > 0);
    if (osname[0])
        CHECK_STR(json_string_value(json_object_get(json_object_get(env, "machine"), "os")),
                  osname);
    m = json_array_get(json_object_get(env, "models"), 0);
    CHECK_STR(json_string_value(json_object_get(m, "model")), "m");
    CHECK_STR(json_string_value(json_object_get(m, "quant")), "Q4_K_M");
    CHECK_STR(json_string_value(json_object_get(m, "format")), "gguf");
    CHECK_STR(json_string_value(json_object_get(m, "runtime")), "tpsd-sim");
    CHECK_STR(json_string_value(json_object_get(m, "suite")), "t");
    CHECK_STR(json_string_value(json_object_get(m, "api")), "lmstudio");
    CHECK(json_is_integer(json_object_get(m, "context_length")));
    CHECK_INT((int)json_object_size(json_object_get(m, "sampling")), ==, 0); /* none set */
    json_decref(rep);
    free(id);
    tu_sim_stop(&t.sim);
}

/* --stability S --interval I: a stability job of the suite in cycles until
 * its planned end, which is stored on the run; --interval paces the cycles. */
TEST(stability_flags)
{
    struct t_env t;
    const char *args[] = {"--model", "m",          "--warmup", "0", "--stability",
                          "3",       "--interval", "1",        NULL};
    const char *bad[] = {"--model", "m", "--stability", "soon", NULL};
    sqlite3 *db;
    double n, span_ms;

    t_model_sim(&t, SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM jobs WHERE kind='stability'"), ==, 1);
    CHECK_DBL(du_q(db, "SELECT json_extract(spec, '$.duration_s') FROM jobs"), ==, 3);
    /* Each cycle sends both cases; a cycle starts every 1 s (after the
     * previous one ends) and none after the planned end: 2 or 3 cycles. */
    n = du_q(db, "SELECT count(*) FROM samples WHERE warmup=0 AND ok=1");
    CHECK(n == 4 || n == 6);
    span_ms = du_q(db, "SELECT max(started_at) - min(started_at) FROM samples");
    CHECK_DBL(span_ms, <, 3000);
    CHECK_DBL(span_ms, >=, 1000);
    CHECK_DBL(du_q(db, "SELECT count(*) FROM runs WHERE planned_end_at IS NOT NULL"), ==, 1);
    sqlite3_close(db);
    /* A bad number is a usage error naming the flag. */
    CHECK_INT(t_run(&t, bad), ==, 2);
    tu_sim_stop(&t.sim);
}

/* Every command answers --help (and -h) with its usage on stdout and exit
 * 0, without touching a database; an unknown command exits 2. */
TEST(every_command_has_help)
{
    static const char *const cmds[] = {"serve", "run", "db",    "report", "submit",
                                       "jobs",  "job", "watch", "cancel"};
    const char *bin = getenv("TPSD_BIN");
    char out[600], err[600], db[600], *text;
    char *argv[6];
    size_t i;
    int code, h;
    struct stat sb;

    CHECK(bin != NULL);
    snprintf(out, sizeof(out), "%s/help.out", tu_tmpdir());
    snprintf(err, sizeof(err), "%s/help.err", tu_tmpdir());
    snprintf(db, sizeof(db), "%s/help.db", tu_tmpdir());
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        for (h = 0; h < 2; h++) {
            (void)TU_ARGV(argv, 0, (char *)bin, (char *)cmds[i], (char *)(h ? "-h" : "--help"),
                          "--db", db);
            CHECK_INT(tu_run(argv, out, err, T_TIMEOUT_MS, &code), ==, 0);
            text = tu_slurp(out);
            if (code != 0 || strncmp(text, "usage: tpsd ", 12) != 0)
                check_failed(__FILE__, __LINE__, "tpsd %s %s: exit %d, stdout: %s", cmds[i],
                             argv[2], code, text);
            free(text);
        }
    }
    CHECK(stat(db, &sb) == -1); /* --help opened no database */
    argv[1] = "frobnicate";
    argv[2] = NULL;
    CHECK_INT(tu_run(argv, out, err, T_TIMEOUT_MS, &code), ==, 0);
    CHECK_INT(code, ==, 2);
    text = tu_slurp(err);
    CHECK(strstr(text, "frobnicate") != NULL);
    free(text);
}

/*
 * Capacity search against tpsd-sim's concurrency model (sim_batch.c). The
 * model decodes at tps 100 per stream under a shared budget of 400 tok/s,
 * so c streams get min(100, 400 / c) each; every answer is 20 tokens
 * after a 50 ms TTFT (both suite cases allow at least 20).
 */
#define CAP_TPS 100.0
#define CAP_BUDGET_LOW 200.0 /* the exact-boundary model's budget */
#define CAP_TOKENS 20
#define CAP_MODEL(extra)                                                                       \
    "{\"key\":\"m\",\"ttft_ms\":50,\"tps\":100,\"output_tokens\":20,"                          \
    "\"text\":\"hello world \"," extra "}"

/* The capacity steps of the job's only run, in the order run. */
static json_t *
cap_steps(struct t_env *t)
{
    sqlite3 *db = t_db(t);
    sqlite3_stmt *st = NULL;
    json_t *a = json_array();

    CHECK_INT(sqlite3_prepare_v2(db,
                                 "SELECT concurrency, passed, saturated, decode_p50_tps,"
                                 " goodput_rps, n, n_good, duration_s, total_tps"
                                 " FROM capacity_steps ORDER BY step",
                                 -1, &st, NULL),
              ==, SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(
            a, json_pack(
                   "{s:I,s:b,s:b,s:f,s:f,s:I,s:I,s:f,s:f}", "c",
                   (json_int_t)sqlite3_column_int64(st, 0), "passed", sqlite3_column_int(st, 1),
                   "saturated", sqlite3_column_int(st, 2), "decode_p50",
                   sqlite3_column_double(st, 3), "goodput", sqlite3_column_double(st, 4), "n",
                   (json_int_t)sqlite3_column_int64(st, 5), "n_good",
                   (json_int_t)sqlite3_column_int64(st, 6), "duration",
                   sqlite3_column_double(st, 7), "total_tps", sqlite3_column_double(st, 8)));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return a;
}

static long
cap_step_int(json_t *steps, size_t i, const char *k)
{
    return (long)json_integer_value(json_object_get(json_array_get(steps, i), k));
}

static double
cap_step_num(json_t *steps, size_t i, const char *k)
{
    return json_number_value(json_object_get(json_array_get(steps, i), k));
}

/* The text of the first row of sql must be want. */
static void
cap_q_is(sqlite3 *db, const char *sql, const char *want)
{
    char *got = q_str(db, sql);

    CHECK_STR(got, want);
    free(got);
}

/* `tpsd run --find-capacity` on model m with level decode p5 >= p5, steps of
 * 8 requests (two per user past 4) and no minimum time, up to max_conc
 * users ("" for the default), --json when json. The exit code. */
static int
cap_run(struct t_env *t, const char *p5, const char *max_conc, int json)
{
    const char *args[] = {"--model",
                          "m",
                          "--find-capacity",
                          "--decode-tps-p5",
                          p5,
                          "--capacity-step-requests",
                          "8",
                          "--capacity-step-s",
                          "0",
                          NULL,
                          NULL,
                          NULL};
    int n = 9;

    if (max_conc[0] != '\0') {
        args[n++] = "--capacity-max-concurrency";
        args[n++] = max_conc;
    }
    if (json)
        args[n++] = "--json";
    return t_run(t, args);
}

/* Budget 200 tok/s and level decode p5 >= 72 tok/s: c users get
 * min(100, 200 / c), so the highest c within it is floor(200 / 72) = 2.
 * The search doubles 1, 2, misses at 4, bisects 3 (66.7: a miss): exactly
 * 2. (A boundary at small c keeps adjacent loads 1.5 times apart; the level
 * sits low in the gap because a busy machine's late events mostly slow the
 * slowest streams down (p5 falls): a pass keeps 28% headroom, and a miss
 * only gets further below.) */
TEST(capacity_exact_boundary)
{
    struct t_env t;
    static const long want_c[] = {1, 2, 4, 3};
    static const int want_pass[] = {1, 1, 0, 0};
    long expect = (long)floor(CAP_BUDGET_LOW / 72.0);
    json_t *steps;
    sqlite3 *db;
    char *why;
    size_t i;

    t_setup(&t, CAP_MODEL("\"budget_tps\":200"), SUITE_PASS);
    CHECK_INT(cap_run(&t, "72", "", 0), ==, 0);
    db = t_db(&t);
    CHECK_DBL(du_qf(db, "SELECT capacity FROM capacity_results"), ==, (double)expect);
    cap_q_is(db, "SELECT stop_reason FROM capacity_results", "bisected");
    cap_q_is(db, "SELECT kind FROM jobs", "capacity");
    /* Its own series: the level is part of the run's fingerprinted params. */
    why = q_str(db, "SELECT params FROM runs");
    CHECK(strstr(why, "\"capacity_level\":{\"decode_tps_p5\":72") != NULL);
    free(why);
    sqlite3_close(db);
    steps = cap_steps(&t);
    CHECK_INT(json_array_size(steps), ==, 4);
    for (i = 0; i < 4; i++) {
        CHECK_INT(cap_step_int(steps, i, "c"), ==, want_c[i]);
        CHECK_INT(json_is_true(json_object_get(json_array_get(steps, i), "passed")), ==,
                  want_pass[i]);
        /* The per-user speed is the budget's share, as the sim schedules it. */
        CHECK_NEAR(cap_step_num(steps, i, "decode_p50"),
                   fmin(CAP_TPS, CAP_BUDGET_LOW / (double)want_c[i]), 0.1 * CAP_TPS);
    }
    json_decref(steps);
    tu_sim_stop(&t.sim);
}

/* Two slots and no budget: past 2 users requests queue, TTFT grows by a
 * whole answer while total tok/s stays flat. The level (decode p5 >= 50)
 * is never missed, so only saturation stops the search: at 4, after three
 * steps instead of the seven up to capacity_max_concurrency 64. */
TEST(capacity_saturation_stop)
{
    struct t_env t;
    json_t *steps, *out;
    sqlite3 *db;

    t_setup(&t, CAP_MODEL("\"slots\":2"), SUITE_PASS);
    CHECK_INT(cap_run(&t, "50", "", 1), ==, 0);
    db = t_db(&t);
    CHECK_DBL(du_qf(db, "SELECT capacity FROM capacity_results"), ==, 2);
    cap_q_is(db, "SELECT stop_reason FROM capacity_results", "saturated");
    sqlite3_close(db);
    steps = cap_steps(&t);
    CHECK_INT(json_array_size(steps), ==, 3);
    CHECK_INT(cap_step_int(steps, 2, "c"), ==, 4);
    CHECK(json_is_true(json_object_get(json_array_get(steps, 2), "saturated")));
    CHECK(json_is_false(json_object_get(json_array_get(steps, 1), "saturated")));
    json_decref(steps);
    /* --json carries the search too. */
    out = t_json_out(&t);
    CHECK_DBL(json_number_value(json_object_get(
                  json_array_get(json_object_get(out, "capacity"), 0), "capacity")),
              ==, 2);
    json_decref(out);
    tu_sim_stop(&t.sim);
}

/* Goodput against the sim's schedule: the sim logs when it received each
 * request and when it sent each event; a step's requests are the next n in
 * its log (after the warm-up), and every one meets the level here (decode
 * 100 tok/s at c <= 4, the level 30), so goodput must be n over the span from the first
 * receipt to the last event, and total tok/s that times the tokens.
 * capacity_max_concurrency 4 ends the search after 1, 2, 4. */
TEST(capacity_goodput_schedule)
{
    struct t_env t;
    json_t *steps, *log, *reqs, *req, *evs;
    double t0, t1, want;
    size_t i, k, next = 1; /* request 0 is the warm-up */
    sqlite3 *db;

    t_setup(&t, CAP_MODEL("\"budget_tps\":400"), SUITE_PASS);
    CHECK_INT(cap_run(&t, "30", "4", 0), ==, 0);
    steps = cap_steps(&t);
    log = tu_sim_log(&t.sim);
    CHECK(log != NULL);
    reqs = json_object_get(log, "requests");
    CHECK_INT(json_array_size(steps), ==, 3);
    for (i = 0; i < 3; i++) {
        t0 = INFINITY;
        t1 = 0;
        CHECK_INT(cap_step_int(steps, i, "n_good"), ==, cap_step_int(steps, i, "n"));
        for (k = 0; k < (size_t)cap_step_int(steps, i, "n"); k++, next++) {
            req = json_array_get(reqs, next);
            CHECK(req != NULL);
            evs = json_object_get(req, "events");
            t0 = fmin(t0, (double)json_integer_value(json_object_get(req, "t_recv_ns")));
            t1 = fmax(t1, (double)json_integer_value(json_object_get(
                              json_array_get(evs, json_array_size(evs) - 1), "t_ns")));
        }
        want = (double)cap_step_int(steps, i, "n") / ((t1 - t0) / 1e9);
        CHECK_NEAR(cap_step_num(steps, i, "goodput"), want, 0.05 * want);
        CHECK_NEAR(cap_step_num(steps, i, "total_tps"), want * CAP_TOKENS,
                   0.05 * want * CAP_TOKENS);
    }
    CHECK_INT(json_array_size(reqs), ==, next);
    json_decref(log);
    db = t_db(&t);
    CHECK_DBL(du_qf(db, "SELECT capacity FROM capacity_results"), ==, 4);
    cap_q_is(db, "SELECT stop_reason FROM capacity_results", "max_reached");
    CHECK_DBL(du_qf(db, "SELECT goodput_rps FROM capacity_results"), ==,
              cap_step_num(steps, 2, "goodput"));
    sqlite3_close(db);
    json_decref(steps);
    tu_sim_stop(&t.sim);
}

/* The rate variant: one slot serving each answer in 50 ms + 19 / 100 s
 * (0.24 s, so at most 1 / 0.24 = 4.2 requests/s), Poisson arrivals from 2
 * requests/s doubling, TTFT counted from the scheduled send (queueing
 * shows). At 8/s the queue grows by half an answer per arrival: 24 arrivals
 * span 3 s on average (sd 0.6 s) against 5.8 s of service, so the last ones
 * wait about 2.8 s and the step misses TTFT p95 <= 1000 ms unless the
 * arrivals spread over 4.8 s, three deviations above their mean. (With 12
 * requests the margin was one deviation: the 8/s step passed in two of three
 * attempts on a clean checkout.) The search then bisects requests/s until
 * the bracket is within capacity_rate_resolution_pct (10%). */
TEST(capacity_rate_search)
{
    struct t_env t;
    const char *args[] = {"--model",
                          "m",
                          "--find-capacity",
                          "--ttft-p95-ms",
                          "1000",
                          "--rps",
                          "2",
                          "--capacity-step-requests",
                          "24",
                          "--capacity-step-s",
                          "0",
                          NULL};
    double cap, lo_miss;
    sqlite3 *db;

    t_setup(&t, CAP_MODEL("\"slots\":1"), SUITE_PASS);
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    cap_q_is(db, "SELECT mode FROM capacity_results", "rate");
    cap_q_is(db, "SELECT stop_reason FROM capacity_results", "bisected");
    cap = du_qf(db, "SELECT capacity FROM capacity_results");
    /* The loads are requests/s: no concurrency, the first three doubled. */
    CHECK_DBL(du_qf(db, "SELECT count(*) FROM capacity_steps WHERE concurrency IS NOT NULL"),
              ==, 0);
    CHECK_DBL(du_qf(db, "SELECT rps FROM capacity_steps WHERE step = 0"), ==, 2);
    CHECK_DBL(du_qf(db, "SELECT min(n) FROM capacity_steps"), >=, 24);
    /* Doubling ends at a miss: at 4/s (load 0.96, the queue drifts) or 8/s. */
    CHECK_DBL(
        du_qf(db, "SELECT count(*) FROM capacity_steps WHERE passed = 0 AND rps IN (4, 8)"), ==,
        1);
    CHECK_DBL(du_qf(db, "SELECT count(*) FROM capacity_steps WHERE passed = 1 AND rps = 8"), ==,
              0);
    /* The answer is the highest rate that passed, the bracket within 10%,
     * and no passing rate above a missing one. */
    CHECK_DBL(cap, ==, du_qf(db, "SELECT max(rps) FROM capacity_steps WHERE passed = 1"));
    lo_miss = du_qf(db, "SELECT min(rps) FROM capacity_steps WHERE passed = 0");
    CHECK_DBL(cap, <, lo_miss);
    CHECK_DBL(lo_miss, <=, cap * 1.1);
    CHECK_DBL(cap, >=, 2);
    CHECK_DBL(du_qf(db, "SELECT goodput_rps FROM capacity_results"), ==,
              du_qf(db, "SELECT goodput_rps FROM capacity_steps WHERE passed = 1"
                        " ORDER BY rps DESC LIMIT 1"));
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}
/* ---- depth sweeps (issue 16; daemon/depth.h, tests/sim/sim_chat.c) ---- */

#define D_TTFT_MS 1000.0 /* a loaded host adds a few ms before the sim sees the body */
#define D_TPS 100.0
#define D_PTPS 20000.0
#define D_PHALF 8000.0
#define D_DHALF 4000.0
#define D_MAX_TOKENS 48
#define SUITE_DEPTH                                                                            \
    "{\"name\":\"d\",\"cases\":[{\"name\":\"ask\",\"max_tokens\":48,\"messages\":"             \
    "[{\"role\":\"user\",\"content\":\"Summarise the records above.\"}]}]}"

/* The sim's schedule (sim_chat.c's top comment), written out again: the
 * prefill of positions [c, p) and the decode span of n tokens after p, ms. */
static double
d_prefill_ms(double ptps, double half, long c, long p)
{
    double s = 0;

    for (; c < p; c++)
        s += (1.0 + (half > 0 ? (double)c / half : 0)) / ptps;
    return s * 1e3;
}

static double
d_decode_ms(long p, long n)
{
    double s = 0;
    long k;

    for (k = 0; k + 1 < n; k++)
        s += (1.0 + (double)(p + k) / D_DHALF) / D_TPS;
    return s * 1e3;
}

/* Figure `col` of the one measured, ok sample at `depth` (NAN: none). */
static double
d_col(sqlite3 *db, long depth, const char *col)
{
    return du_qf(db,
                 "SELECT %s FROM samples WHERE depth = %ld AND ok = 1 AND warmup = 0 AND "
                 "depth_warm = 0",
                 col, depth);
}

static void
d_setup(struct t_env *t, const char *extra_model)
{
    char m[512];

    snprintf(m, sizeof(m),
             "{\"key\":\"m\",\"ttft_ms\":%g,\"tps\":%g,\"prefill_tps\":%g,"
             "\"prefill_half_ctx\":%g,\"decode_half_ctx\":%g,\"timings\":\"llamacpp\","
             "\"prompt_cache\":true,"
             "\"size_bytes\":2e9%s}",
             D_TTFT_MS, D_TPS, D_PTPS, D_PHALF, D_DHALF, extra_model);
    t_setup(t, m, SUITE_DEPTH);
}

/* Issue 16's acceptance: a sweep of six depths, three requests each,
 * against a sim whose prefill and decode slow down with the context. At
 * every depth each prompt the server counted is within 2% of base + depth
 * (base: the depth-0 prompt), and the depth table's prefill and decode
 * speeds (medians: one late event on a busy host moves one request's
 * figure by a percent) are within 1% of the sim's schedule (the prefill
 * skips the tokens the server says it had cached: the first tokens every
 * prompt shares). The model was loaded with a context that fits. */
TEST(depth_sweep_six_depths)
{
    static const long depths[] = {0, 1024, 2048, 4096, 8192, 16384};
    const char *args[] = {"--model",  "m", "--depth",       "0,1024,2048,4096,8192,16384",
                          "--warmup", "0", "--repetitions", "3",
                          "--json",   NULL};
    struct t_env t;
    json_t *sum, *rows, *row;
    sqlite3 *db;
    char *argv_log, expr[128];
    long base = 0, p, cached;
    size_t i;

    d_setup(&t, ",\"max_context_length\":65536");
    CHECK_INT(t_run(&t, args), ==, 0);
    sum = t_json_out(&t);
    rows = json_object_get(json_array_get(json_object_get(sum, "runs"), 0), "depth");
    CHECK_INT(json_array_size(rows), ==, 6);
    db = t_db(&t);
    for (i = 0; i < 6; i++) {
        double ptps, dtps, want_ttft, want_dtps;

        row = json_array_get(rows, i);
        CHECK_INT(json_integer_value(json_object_get(row, "depth")), ==, depths[i]);
        CHECK_INT(json_integer_value(json_object_get(row, "ok")), ==, 3);
        CHECK_INT(json_integer_value(json_object_get(row, "mismatches")), ==, 0);
        p = (long)json_number_value(json_object_get(row, "prompt_tokens"));
        if (i == 0)
            base = p;
        /* Every sample's prompt within 2% of base + depth. */
        snprintf(expr, sizeof(expr), "max(abs(prompt_tokens - %ld))", base + depths[i]);
        CHECK_DBL(d_col(db, depths[i], expr), <=, 0.02 * (double)depths[i]);
        CHECK_DBL(d_col(db, depths[i], "count(*)"), ==, 3);
        CHECK_DBL(d_col(db, depths[i], "min(completion_tokens)"), ==, D_MAX_TOKENS);
        CHECK_DBL(d_col(db, depths[i], "max(completion_tokens)"), ==, D_MAX_TOKENS);
        cached = (long)d_col(db, depths[i], "max(server_cached_tokens)");
        CHECK(cached >= 0 && cached < 16);
        /* The table's medians against the sim's schedule. */
        ptps = json_number_value(json_object_get(row, "prefill_tps"));
        dtps = json_number_value(json_object_get(row, "decode_tps"));
        want_ttft = D_TTFT_MS + d_prefill_ms(D_PTPS, D_PHALF, cached, p);
        want_dtps = (double)(D_MAX_TOKENS - 1) * 1e3 / d_decode_ms(p, D_MAX_TOKENS);
        fprintf(stderr,
                "depth %6ld: prompt %6ld (%+.2f%%), prefill %.1f/%.1f tok/s (%+.2f%%), decode "
                "%.2f/%.2f tok/s (%+.2f%%)\n",
                depths[i], p,
                100.0 * (double)(p - base - depths[i]) / (double)(base + depths[i]), ptps,
                (double)p * 1e3 / want_ttft, 100.0 * (ptps / ((double)p * 1e3 / want_ttft) - 1),
                dtps, want_dtps, 100.0 * (dtps / want_dtps - 1));
        CHECK_DBL(fabs(ptps / ((double)p * 1e3 / want_ttft) - 1), <, 0.01);
        CHECK_DBL(fabs(dtps / want_dtps - 1), <, 0.01);
    }
    sqlite3_close(db);
    json_decref(sum);
    /* Loaded with a context that holds 16384 + max_tokens + the message. */
    argv_log = tu_slurp(t.argv_log);
    CHECK(strstr(argv_log, "--context-length") != NULL);
    free(argv_log);
    tu_sim_stop(&t.sim);
}

/* Requests the sim received (its log). */
static size_t
d_sim_requests(struct t_env *t)
{
    json_t *log = tu_sim_log(&t->sim);
    size_t n;

    CHECK(log != NULL);
    n = json_array_size(json_object_get(log, "requests"));
    json_decref(log);
    return n;
}

/* A depth beyond the model's maximum context (lms ls maxContextLength) is
 * refused in preflight, naming the model, the context needed and the
 * maximum; nothing is loaded or sent. */
TEST(depth_beyond_model_max_refused)
{
    const char *args[] = {"--model",       "m", "--depth", "0,16384", "--warmup", "0",
                          "--repetitions", "1", NULL};
    struct t_env t;
    char *err, *argv_log;

    d_setup(&t, ",\"max_context_length\":8192");
    CHECK_INT(t_run(&t, args), ==, 1);
    err = tu_slurp(t.err);
    CHECK(strstr(err, "preflight_failed") != NULL);
    CHECK(strstr(err, "context_too_small") != NULL);
    CHECK(strstr(err, "model m:") != NULL);
    CHECK(strstr(err, "the model's maximum is 8192") != NULL);
    free(err);
    CHECK_INT(d_sim_requests(&t), ==, 0);
    if (tu_read_file(t.argv_log, &argv_log, NULL) == 0) {
        CHECK(strstr(argv_log, "load m -y") == NULL); /* --estimate-only at most */
        free(argv_log);
    }
    tu_sim_stop(&t.sim);
}

/* A job that sets a context too small for its deepest request is refused
 * in preflight as well, before anything is loaded. */
TEST(depth_context_length_too_small_refused)
{
    const char *args[] = {"--model",          "m",    "--depth",  "4096",
                          "--context-length", "4096", "--warmup", "0",
                          "--repetitions",    "1",    NULL};
    struct t_env t;
    char *err;

    d_setup(&t, "");
    CHECK_INT(t_run(&t, args), ==, 1);
    err = tu_slurp(t.err);
    CHECK(strstr(err, "context_too_small") != NULL);
    CHECK(strstr(err, "backend.context_length 4096") != NULL);
    free(err);
    CHECK_INT(d_sim_requests(&t), ==, 0);
    tu_sim_stop(&t.sim);
}

/* A 128K prefill slower than the first-token timeout: with the deadline
 * grown per 1,000 prompt tokens it is measured; without (0 ms per 1k) the
 * same request is cut off as a timeout, so the growth is what saved it. */
TEST(depth_128k_prefill_not_cut_off)
{
    /* the last value: ms per 1k, 20 (grown) then 0 (flat) */
    const char *args[] = {"--model",
                          "m",
                          "--depth",
                          "131072",
                          "--warmup",
                          "0",
                          "--repetitions",
                          "1",
                          "--first-token-timeout-ms",
                          "500",
                          "--first-token-ms-per-1k",
                          "20",
                          NULL};
    struct t_env t;
    sqlite3 *db;
    char *code;

    t_setup(&t,
            "{\"key\":\"m\",\"ttft_ms\":10,\"tps\":200,\"prefill_tps\":100000,"
            "\"max_context_length\":262144,\"size_bytes\":2e9}",
            "{\"name\":\"d\",\"cases\":[{\"name\":\"ask\",\"max_tokens\":8,\"messages\":"
            "[{\"role\":\"user\",\"content\":\"Summarise.\"}]}]}");
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    CHECK_DBL(d_col(db, 131072, "ttft_ms"), >, 1300); /* 131072 / 100000 s + 10 ms */
    CHECK_DBL(d_col(db, 131072, "prompt_tokens"), >=, 131072);
    sqlite3_close(db);
    CHECK_INT(unlink(t.db), ==, 0);
    args[11] = "0";
    CHECK_INT(t_run(&t, args), ==, 1);
    db = t_db(&t);
    code = q_str(db, "SELECT error_code FROM samples WHERE depth = 131072");
    CHECK_STR(code, "timeout");
    free(code);
    sqlite3_close(db);
    tu_sim_stop(&t.sim);
}

/* --depth-warm: after each cold request, one that repeats its prompt; the
 * server reports all but one prompt token cached and the warm TTFT holds
 * only the fixed overhead and one token's prefill. */
TEST(depth_warm_uses_prompt_cache)
{
    const char *args[] = {"--model",  "m", "--depth",       "4096", "--depth-warm",
                          "--warmup", "0", "--repetitions", "1",    NULL};
    struct t_env t;
    sqlite3 *db;
    double p, cached;
    const char *rargs[] = {getenv("TPSD_BIN"), "report", "1", "--db", t.db, NULL};
    char *text;
    int code = -1;

    d_setup(&t, "");
    CHECK_INT(t_run(&t, args), ==, 0);
    db = t_db(&t);
    p = du_qf(db, "SELECT prompt_tokens FROM samples WHERE depth_warm = 1");
    cached = du_qf(db, "SELECT server_cached_tokens FROM samples WHERE depth_warm = 1");
    CHECK_DBL(cached, ==, p - 1);
    CHECK_DBL(du_qf(db, "SELECT prompt_tokens FROM samples WHERE depth_warm = 0"), ==, p);
    CHECK_DBL(du_qf(db, "SELECT ttft_ms FROM samples WHERE depth_warm = 1"), <,
              D_TTFT_MS + 0.5 * d_prefill_ms(D_PTPS, D_PHALF, 0, (long)p));
    CHECK_DBL(du_qf(db, "SELECT count(*) FROM samples WHERE case_name = 'ask.d4096.warm'"), ==,
              1);
    sqlite3_close(db);
    /* tpsd run's table and the Markdown report's have both rows. */
    text = tu_slurp(t.out);
    if (strstr(text, "(by depth)") == NULL || strstr(text, "4096 warm") == NULL)
        check_failed(__FILE__, __LINE__, "tpsd run printed no depth table: %.2000s", text);
    free(text);
    CHECK_INT(tu_run((char **)rargs, t.out, t.err, T_TIMEOUT_MS, &code), ==, 0);
    CHECK_INT(code, ==, 0);
    text = tu_slurp(t.out);
    if (strstr(text, "By depth") == NULL || strstr(text, "| ask.d4096 | ") == NULL ||
        strstr(text, "| ask.d4096.warm | ") == NULL)
        check_failed(__FILE__, __LINE__, "the report has no depth table: %.3000s", text);
    free(text);
    tu_sim_stop(&t.sim);
}

/* test_jobspec.c - defaults, strict validation naming the field, round trips. */
#include "tests/check.h"

#include "daemon/jobspec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[JOBSPEC_ERR_MAX];

/* Parse `text` (must be valid JSON): the jobspec_parse result. */
static int
parse_text(const char *text, struct jobspec *s)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    int rc;

    if (j == NULL)
        check_failed(__FILE__, __LINE__, "bad test JSON: %s: %s", text, je.text);
    err[0] = '\0';
    rc = jobspec_parse(j, s, err, sizeof(err));
    json_decref(j);
    return rc;
}

/* `text` must be rejected with an error that starts with `prefix`. */
static void
expect_error(const char *text, const char *prefix, int line)
{
    struct jobspec s;

    if (parse_text(text, &s) != -1)
        check_failed(__FILE__, line, "accepted: %s", text);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        check_failed(__FILE__, line, "error \"%s\" does not start with \"%s\"", err, prefix);
}
#define EXPECT_ERROR(text, prefix) expect_error(text, prefix, __LINE__)

/* A spec that must be refused, and the start of the error. */
struct t_bad {
    const char *text, *prefix;
};

/* expect_error on every row (line: the caller's). */
static void
expect_errors(const struct t_bad *t, size_t n, int line)
{
    size_t i;

    for (i = 0; i < n; i++)
        expect_error(t[i].text, t[i].prefix, line);
}
#define EXPECT_ERRORS(rows) expect_errors(rows, sizeof(rows) / sizeof(rows[0]), __LINE__)

TEST(defaults)
{
    struct jobspec s;

    CHECK_INT(parse_text("{\"models\": [\"m\"]}", &s), ==, 0);
    CHECK_STR(s.kind, "benchmark");
    CHECK_INT(s.nmodels, ==, 1);
    CHECK_STR(s.models[0], "m");
    CHECK(json_is_string(s.suite));
    CHECK_STR(json_string_value(s.suite), "standard");
    CHECK_INT(s.repetitions, ==, 3);
    CHECK_INT(s.warmup, ==, 1);
    CHECK_INT(s.load, ==, LOAD_SEQUENTIAL);
    CHECK(json_is_object(s.sampling));
    CHECK_INT(json_object_size(s.sampling), ==, 0);
    CHECK_STR(s.backend, "lms");
    CHECK_INT(s.context_length, ==, 0);
    CHECK_STR(s.api, "openai");
    CHECK_STR(s.base_url, "");
    CHECK_INT(s.nonce, ==, 0);
    CHECK_INT(s.resume, ==, 1);
    CHECK_INT(s.priority, ==, 0);
    jobspec_free(&s);
}

TEST(full_spec)
{
    struct jobspec s;

    CHECK_INT(
        parse_text(
            "{\"name\": \"minimax-vs-qwen\", \"kind\": \"benchmark\","
            " \"models\": [\"unsloth/MiniMax-M2.1-GGUF@Q4_K_S\", \"a key with spaces\"],"
            " \"suite\": \"standard\", \"repetitions\": 5, \"warmup\": 0,"
            " \"load_pattern\": {\"type\": \"concurrent\", \"concurrency\": 8},"
            " \"sampling\": {\"temperature\": 1, \"top_p\": 0.9, \"repeat_penalty\": 1.1,"
            "  \"max_tokens\": 100, \"seed\": -7},"
            " \"backend\": {\"type\": \"lms\", \"context_length\": 131072, \"gpu\": \"max\","
            "  \"identifier\": \"mm\", \"ttl_s\": 600, \"keep_loaded\": true},"
            " \"server\": {\"base_url\": \"http://127.0.0.1:1234\", \"api\": \"lmstudio\"},"
            " \"nonce\": true, \"resume\": false, \"priority\": -5}",
            &s),
        ==, 0);
    CHECK_STR(s.models[0], "unsloth/MiniMax-M2.1-GGUF@Q4_K_S");
    CHECK_STR(s.models[1], "a key with spaces");
    CHECK_INT(s.load, ==, LOAD_CONCURRENT);
    CHECK_INT(s.concurrency, ==, 8);
    CHECK_INT(s.context_length, ==, 131072);
    CHECK_STR(s.gpu, "max");
    CHECK_INT(s.keep_loaded, ==, 1);
    CHECK_STR(s.api, "lmstudio");
    CHECK_INT(s.priority, ==, -5);
    CHECK_INT(s.resume, ==, 0);
    CHECK(json_is_real(json_object_get(s.sampling, "temperature"))); /* integer accepted */
    CHECK_INT(json_integer_value(json_object_get(s.sampling, "seed")), ==, -7);
    jobspec_free(&s);
}

TEST(load_patterns)
{
    static const struct t_bad bad[] = {
        {"{\"models\": [\"m\"], \"load_pattern\": \"parallel\"}", "load_pattern:"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"concurrent\"}}",
         "load_pattern.concurrency: required"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"concurrent\","
         " \"concurrency\": 4097}}",
         "load_pattern.concurrency: must be"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"concurrent\","
         " \"concurrency\": 2.5}}",
         "load_pattern.concurrency: must be"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"rate\", \"rps\": 0,"
         " \"duration_s\": 1}}",
         "load_pattern.rps:"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"rate\", \"rps\": 1,"
         " \"duration_s\": 2592001}}",
         "load_pattern.duration_s:"},
        {"{\"models\": [\"m\"], \"load_pattern\": {\"type\": \"sequential\","
         " \"concurrency\": 2}}",
         "load_pattern.concurrency: unknown field"},
        {"{\"models\": [\"m\"], \"load_pattern\": {}}", "load_pattern.type: required"},
    };
    struct jobspec s;

    CHECK_INT(parse_text("{\"models\": [\"m\"], \"load_pattern\": \"sequential\"}", &s), ==, 0);
    CHECK_INT(s.load, ==, LOAD_SEQUENTIAL);
    jobspec_free(&s);
    CHECK_INT(parse_text("{\"models\": [\"m\"], \"load_pattern\":"
                         " {\"type\": \"rate\", \"rps\": 2, \"duration_s\": 60}}",
                         &s),
              ==, 0);
    CHECK_INT(s.load, ==, LOAD_RATE);
    CHECK_DBL(s.rps, ==, 2.0);
    CHECK_DBL(s.duration_s, ==, 60.0);
    jobspec_free(&s);
    EXPECT_ERRORS(bad);
}

TEST(stability)
{
    static const struct t_bad bad[] = {
        {"{\"models\": [\"m\"], \"kind\": \"stability\"}", "duration_s: required"},
        {"{\"models\": [\"m\"], \"kind\": \"stability\", \"duration_s\": 0}", "duration_s:"},
        {"{\"models\": [\"m\"], \"kind\": \"stability\", \"duration_s\": 10,"
         " \"interval_s\": -1}",
         "interval_s:"},
        {"{\"models\": [\"m\"], \"duration_s\": 10}", "duration_s: only for"},
        {"{\"models\": [\"m\"], \"kind\": \"soak\"}", "kind: must be one of"},
    };
    struct jobspec s;

    CHECK_INT(parse_text("{\"models\": [\"m\"], \"kind\": \"stability\", \"duration_s\": 86400,"
                         " \"interval_s\": 30}",
                         &s),
              ==, 0);
    CHECK_DBL(s.duration_s, ==, 86400.0);
    CHECK_DBL(s.interval_s, ==, 30.0);
    CHECK_INT(s.repetitions, ==, 1);
    jobspec_free(&s);
    EXPECT_ERRORS(bad);
}

/* A capacity job: its service level parsed, kept on a round trip, and
 * every bad level refused with the field named (errors_name_the_field). */
TEST(capacity_level)
{
    struct jobspec s;
    json_t *j;

    CHECK_INT(parse_text("{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
                         " {\"ttft_p95_ms\": 2000, \"decode_tps_p5\": 10}}",
                         &s),
              ==, 0);
    CHECK_DBL(s.level.ttft_p95_ms, ==, 2000.0);
    CHECK_DBL(s.level.decode_tps_p5, ==, 10.0);
    CHECK(isnan(s.level.error_rate));
    j = jobspec_to_json(&s);
    CHECK_DBL(json_number_value(
                  json_object_get(json_object_get(j, "service_level"), "decode_tps_p5")),
              ==, 10.0);
    CHECK(json_object_get(json_object_get(j, "service_level"), "error_rate") == NULL);
    json_decref(j);
    jobspec_free(&s);
    /* A rate search needs no duration: its steps last as the settings say. */
    CHECK_INT(parse_text("{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
                         " {\"error_rate\": 0}, \"load_pattern\": {\"type\": \"rate\","
                         " \"rps\": 0.5}}",
                         &s),
              ==, 0);
    jobspec_free(&s);
    EXPECT_ERROR("{\"models\": [\"m\"], \"kind\": \"capacity\"}",
                 "service_level: required for kind \"capacity\"");
    EXPECT_ERROR("{\"models\": [\"m\"], \"service_level\": {\"error_rate\": 0.1}}",
                 "service_level: only for kind \"capacity\"");
}

TEST(errors_name_the_field)
{
    static const struct {
        const char *text, *prefix;
    } cases[] = {
        {"[]", "(spec):"},
        {"{}", "models: required"},
        {"{\"models\": []}", "models:"},
        {"{\"models\": \"m\"}", "models:"},
        {"{\"models\": [\"a\", \"\"]}", "models[1]: must not be empty"},
        {"{\"models\": [\"a\", 3]}", "models[1]: must be a string"},
        {"{\"models\": [\"m\"], \"modles\": 1}", "modles: unknown field"},
        {"{\"models\": [\"m\"], \"backend\": {\"contxt_length\": 1}}",
         "backend.contxt_length: unknown field"},
        {"{\"models\": [\"m\"], \"backend\": {\"context_length\": 0}}",
         "backend.context_length:"},
        {"{\"models\": [\"m\"], \"backend\": {\"context_length\": \"8k\"}}",
         "backend.context_length:"},
        {"{\"models\": [\"m\"], \"backend\": {\"type\": \"ollama\"}}", "backend.type:"},
        {"{\"models\": [\"m\"], \"backend\": {\"ttl_s\": -1}}", "backend.ttl_s:"},
        {"{\"models\": [\"m\"], \"backend\": {\"keep_loaded\": 1}}", "backend.keep_loaded:"},
        {"{\"models\": [\"m\"], \"backend\": []}", "backend:"},
        {"{\"models\": [\"m\"], \"server\": {\"base_url\": \"ftp://x\"}}", "server.base_url:"},
        {"{\"models\": [\"m\"], \"server\": {\"base_url\": \"http://\"}}", "server.base_url:"},
        {"{\"models\": [\"m\"], \"server\": {\"api\": \"grpc\"}}", "server.api:"},
        {"{\"models\": [\"m\"], \"server\": {\"token\": \"x\"}}", "server.token: unknown"},
        {"{\"models\": [\"m\"], \"sampling\": {\"temperature\": 5.5}}",
         "sampling.temperature:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"top_p\": 0}}", "sampling.top_p:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"repeat_penalty\": 0}}",
         "sampling.repeat_penalty:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"max_tokens\": 0}}", "sampling.max_tokens:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"seed\": 1.5}}", "sampling.seed:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"temperature\": \"hot\"}}",
         "sampling.temperature:"},
        {"{\"models\": [\"m\"], \"sampling\": {\"min_p\": 0.1}}", "sampling.min_p: unknown"},
        {"{\"models\": [\"m\"], \"repetitions\": 0}", "repetitions:"},
        {"{\"models\": [\"m\"], \"repetitions\": 10001}", "repetitions:"},
        {"{\"models\": [\"m\"], \"repetitions\": \"3\"}", "repetitions:"},
        {"{\"models\": [\"m\"], \"warmup\": 101}", "warmup:"},
        {"{\"models\": [\"m\"], \"priority\": 101}", "priority:"},
        {"{\"models\": [\"m\"], \"nonce\": \"yes\"}", "nonce:"},
        {"{\"models\": [\"m\"], \"resume\": null}", "resume:"},
        {"{\"models\": [\"m\"], \"suite\": 3}", "suite:"},
        {"{\"models\": [\"m\"], \"suite\": \"\"}", "suite:"},
        {"{\"models\": [\"m\"], \"name\": 3}", "name:"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{}"
         "}",
         "service_level: name at least one"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "[]"
         "}",
         "service_level: must be an object"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "2000"
         "}",
         "service_level: must be an object"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"ttft_p95\": 2000}"
         "}",
         "service_level.ttft_p95: unknown field"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"ttft_p95_ms\": \"2s\"}"
         "}",
         "service_level.ttft_p95_ms: must be a number"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"ttft_p95_ms\": 0}"
         "}",
         "service_level.ttft_p95_ms: must be above 0"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"ttft_p95_ms\": -5}"
         "}",
         "service_level.ttft_p95_ms:"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"decode_tps_p5\": 0}"
         "}",
         "service_level.decode_tps_p5: must be above 0"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"error_rate\": 1.5}"
         "}",
         "service_level.error_rate: must be at least 0"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"error_rate\": -0.1}"
         "}",
         "service_level.error_rate:"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": "
         "{\"error_rate\": null}"
         "}",
         "service_level.error_rate: must be a number"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].prefix, __LINE__);
}

TEST(limits)
{
    struct jobspec s;
    char *big = malloc(2100);
    json_t *j, *models;
    int i;

    CHECK(big != NULL);
    /* name: 255 bytes fine, 256 too long */
    memset(big, 'n', 256);
    big[256] = '\0';
    j = json_pack("{s:[s],s:s}", "models", "m", "name", big);
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "name:", 5) == 0);
    json_object_set_new(j, "name", json_stringn(big, 255));
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, 0);
    jobspec_free(&s);
    json_decref(j);
    /* a model key of 1025 bytes; one with a NUL */
    memset(big, 'k', 1025);
    big[1025] = '\0';
    j = json_pack("{s:[s]}", "models", big);
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "models[0]:", 10) == 0);
    json_decref(j);
    j = json_pack("{s:[s#]}", "models", "a\0b", 3);
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "models[0]: must not contain NUL", 31) == 0);
    json_decref(j);
    /* 64 models fine, 65 not */
    models = json_array();
    for (i = 0; i < JOBSPEC_MODELS_MAX; i++)
        json_array_append_new(models, json_sprintf("model-%d", i));
    j = json_pack("{s:O}", "models", models);
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, 0);
    CHECK_INT(s.nmodels, ==, JOBSPEC_MODELS_MAX);
    jobspec_free(&s);
    json_array_append_new(models, json_string("one-too-many"));
    CHECK_INT(jobspec_parse(j, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "models:", 7) == 0);
    json_decref(j);
    json_decref(models);
    free(big);
}

TEST(inline_suite)
{
    struct jobspec s;

    CHECK_INT(parse_text("{\"models\": [\"m\"], \"suite\": {\"name\": \"mine\", \"cases\":"
                         " [{\"name\": \"c\", \"max_tokens\": 5}]}}",
                         &s),
              ==, 0);
    CHECK(json_is_object(s.suite));
    CHECK_STR(json_string_value(json_object_get(s.suite, "name")), "mine");
    jobspec_free(&s);
}

TEST(deep_nesting_rejected)
{
    struct jobspec s;
    json_t *root = json_array(), *cur = root, *next, *spec;
    int i;

    for (i = 0; i < 10000; i++) {
        next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    spec =
        json_pack("{s:[s],s:{s:s,s:o}}", "models", "m", "suite", "name", "deep", "cases", root);
    CHECK(spec != NULL);
    CHECK_INT(jobspec_parse(spec, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "suite:", 6) == 0);
    /* In a field that takes no arrays it is a type error. */
    root = json_array();
    cur = root;
    for (i = 0; i < 10000; i++) {
        next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    json_object_set_new(spec, "suite", json_string("standard"));
    json_object_set_new(spec, "sampling", root);
    CHECK_INT(jobspec_parse(spec, &s, err, sizeof(err)), ==, -1);
    CHECK(strncmp(err, "sampling:", 9) == 0);
    json_decref(spec);
}

/* jobspec_to_json -> jobspec_parse -> jobspec_to_json gives the same JSON. */
static void
round_trip(const char *text)
{
    struct jobspec a, b;
    json_t *ja, *jb;

    CHECK_INT(parse_text(text, &a), ==, 0);
    ja = jobspec_to_json(&a);
    CHECK(ja != NULL);
    if (jobspec_parse(ja, &b, err, sizeof(err)) != 0)
        check_failed(__FILE__, __LINE__, "normalised spec rejected: %s", err);
    jb = jobspec_to_json(&b);
    CHECK(json_equal(ja, jb));
    CHECK_INT(a.nmodels, ==, b.nmodels);
    CHECK_INT(a.repetitions, ==, b.repetitions);
    CHECK_INT(a.load, ==, b.load);
    CHECK_DBL(a.duration_s, ==, b.duration_s);
    json_decref(ja);
    json_decref(jb);
    jobspec_free(&a);
    jobspec_free(&b);
}

TEST(round_trip)
{
    round_trip("{\"models\": [\"m\"]}");
    round_trip(
        "{\"name\": \"x\", \"models\": [\"unsloth/MiniMax-M2.1-GGUF@Q4_K_S\", \"q w\"],"
        " \"suite\": {\"name\": \"s\", \"cases\": []}, \"repetitions\": 7,"
        " \"warmup\": 2, \"load_pattern\": {\"type\": \"rate\", \"rps\": 0.5,"
        " \"duration_s\": 30}, \"sampling\": {\"temperature\": 0, \"seed\": 1},"
        " \"backend\": {\"type\": \"command\", \"context_length\": 4096,"
        " \"gpu\": \"0.5\", \"identifier\": \"id\", \"ttl_s\": 5, \"keep_loaded\": true},"
        " \"server\": {\"base_url\": \"https://h:1/v\", \"api\": \"lmstudio\"},"
        " \"nonce\": true, \"resume\": false, \"priority\": 100}");
    round_trip("{\"kind\": \"stability\", \"models\": [\"m\"], \"duration_s\": 86400,"
               " \"load_pattern\": {\"type\": \"concurrent\", \"concurrency\": 4}}");
}

/* Issue 16: depths are distinct integers 0..16M, kept ascending and
 * carried through the normalised spec; depth_warm needs them. */
TEST(depths)
{
    struct jobspec s;
    json_t *j;
    char big[2048];
    size_t n = 0;
    int i;

    CHECK_INT(parse_text("{\"models\": [\"m\"], \"depths\": [4096, 0, 131072], "
                         "\"depth_warm\": true}",
                         &s),
              ==, 0);
    CHECK_INT(s.ndepths, ==, 3);
    CHECK_INT(s.depths[0], ==, 0);
    CHECK_INT(s.depths[1], ==, 4096);
    CHECK_INT(s.depths[2], ==, 131072);
    CHECK(s.depth_warm);
    j = jobspec_to_json(&s);
    CHECK_INT(json_integer_value(json_array_get(json_object_get(j, "depths"), 2)), ==, 131072);
    CHECK(json_is_true(json_object_get(j, "depth_warm")));
    json_decref(j);
    jobspec_free(&s);
    CHECK_INT(parse_text("{\"models\": [\"m\"]}", &s), ==, 0);
    j = jobspec_to_json(&s);
    CHECK(json_object_get(j, "depths") == NULL);
    json_decref(j);
    jobspec_free(&s);

    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": 4096}", "depths: must be an array");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": []}", "depths: must be an array");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [0, -1]}", "depths[1]: must be an integer");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [1.5]}", "depths[0]: must be an integer");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [\"4k\"]}",
                 "depths[0]: must be an integer");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [16777217]}", "depths[0]: must be");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [8, 4, 8]}", "depths[2]: repeats 8");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depth_warm\": true}", "depth_warm: needs depths");
    EXPECT_ERROR("{\"models\": [\"m\"], \"depths\": [1], \"depth_warm\": 1}", "depth_warm:");
    n += (size_t)snprintf(big + n, sizeof(big) - n, "{\"models\": [\"m\"], \"depths\": [0");
    for (i = 1; i <= SUITE_DEPTHS_MAX; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, ", %d", i);
    snprintf(big + n, sizeof(big) - n, "]}");
    EXPECT_ERROR(big, "depths: must be an array of 1..32");

    /* The sweep is checked where the job is submitted. */
    CHECK_INT(parse_text("{\"models\": [\"m\"], \"suite\": \"depth\", \"depths\": [0, 8]}", &s),
              ==, 0);
    CHECK_INT(jobspec_resolve_suite(&s, NULL, err, sizeof(err), NULL, 0), ==, 0);
    jobspec_free(&s);
    CHECK_INT(
        parse_text("{\"models\": [\"m\"], \"depths\": [131072], \"suite\": {\"name\": "
                   "\"t\", \"cases\": [{\"name\": \"c23456789012345678901234567890123456"
                   "789012345678901234567\", \"max_tokens\": 1, \"messages\": [{\"role\": "
                   "\"user\", \"content\": \"x\"}]}]}}",
                   &s),
        ==, 0);
    CHECK_INT(jobspec_resolve_suite(&s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    if (strstr(err, "depths: ") != err || strstr(err, "name too long") == NULL)
        check_failed(__FILE__, __LINE__, "error: %s", err);
    jobspec_free(&s);
}

/* test_suite.c - suites as data: the standard suite, strict validation,
 * output validators, JSON round trip, files. */
#include "daemon/suite.h"
#include "tests/check.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A one-case suite with `extra` members appended to the case object. */
#define ONE_CASE(extra)                                                                        \
    "{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":10,"                            \
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]" extra "}]}"

static struct suite *
parse_ok(const char *json)
{
    char err[SUITE_ERR_MAX];
    struct suite *s = NULL;

    if (suite_parse(json, strlen(json), &s, err, sizeof(err)) != 0)
        check_failed(__FILE__, __LINE__, "suite_parse: %s\n  in %s", err, json);
    CHECK(s != NULL);
    return s;
}

static void
parse_fails(const char *json, const char *want, int line)
{
    char err[SUITE_ERR_MAX];
    struct suite *s = (struct suite *)1;

    if (suite_parse(json, strlen(json), &s, err, sizeof(err)) != -1)
        check_failed(__FILE__, line, "parsed but should fail with \"%s\": %s", want, json);
    CHECK(s == NULL);
    if (strstr(err, want) == NULL)
        check_failed(__FILE__, line, "error \"%s\" lacks \"%s\"", err, want);
}
#define FAILS(json, want) parse_fails((json), (want), __LINE__)

TEST(standard_loads)
{
    static const struct {
        const char *name;
        int64_t max_tokens;
    } want[] = {{"short", 100},
                {"code", 500},
                {"long", 2000},
                {"reasoning", 500},
                {"instruction", 400}};
    char err[SUITE_ERR_MAX];
    struct suite *s = NULL;
    size_t i;

    CHECK(suite_is_builtin("standard"));
    CHECK(!suite_is_builtin("standard.json"));
    CHECK_INT(suite_load("standard", NULL, &s, NULL, err, sizeof(err), NULL, 0), ==, 0);
    CHECK_STR(s->name, "standard");
    CHECK(s->builtin);
    CHECK(strlen(s->description) > 0);
    CHECK_INT(s->n_cases, ==, 5);
    CHECK_NEAR(s->defaults.temperature, 0.7, 1e-12);
    CHECK_NEAR(s->defaults.top_p, 0.9, 1e-12);
    CHECK_NEAR(s->defaults.repeat_penalty, 1.1, 1e-12);
    for (i = 0; i < 5; i++) {
        const struct suite_case *c = &s->cases[i];

        CHECK_STR(c->name, want[i].name);
        CHECK_INT(c->params.max_tokens, ==, want[i].max_tokens);
        CHECK(c->params.set & SUITE_P_TEMPERATURE);
        CHECK_NEAR(c->params.temperature, 0.7, 1e-12);
        CHECK_NEAR(c->params.repeat_penalty, 1.1, 1e-12);
        CHECK(c->params.nonce);
        CHECK(c->n_messages >= 1);
        CHECK_INT(c->messages[c->n_messages - 1].role, ==, SUITE_ROLE_USER);
        CHECK(suite_case_validates(c));
        CHECK(suite_find_case(s, want[i].name) == c);
    }
    CHECK(suite_find_case(s, "nope") == NULL);
    suite_free(s);
}

/* One suite_validate_output call on a case of the standard suite and what
 * it must answer: the verdict and, unless why is NULL, the reason (all of
 * it, or its start when prefix is 1). */
struct t_out {
    const char *case_name, *text;
    int tokens;
    const char *finish;
    int want;
    const char *why;
    int prefix;
};

static const struct t_out t_outs[] = {
    {"short", "An LLM is a model.", 40, "stop", 1, "", 0},
    {"short", "A", 3, "stop", 0, "min_tokens: 3 < 5", 0},
    {"short", "x", 100, "length", 1, NULL, 0},
    {"short", "x", 100, "content_filter", 0,
     "finish_reason: \"content_filter\" not in [stop, length]", 0},
    {"short", "x", 100, NULL, 0, "finish_reason: none, want [stop, length]", 0},
    {"short", "x", -1, "stop", 0, "min_tokens: token count unknown", 0},
    {"code",
     "```python\ndef quicksort(items):\n    \"\"\"Sort.\"\"\"\n"
     "    if len(items) <= 1:\n        return list(items)\n```\n",
     120, "stop", 1, NULL, 0},
    {"code", "Sure! Quicksort is a divide and conquer algorithm.", 120, "length", 0,
     "must_match: no match for /def", 1},
    {"long", "Backpropagation computes the gradient of the loss.", 1999, "length", 1, NULL, 0},
    {"long", "", 1999, "length", 0, NULL, 0},
    {"reasoning", "Dev is first, Cleo second, Ana third.\nANSWER: Ben", 60, "stop", 1, NULL, 0},
    {"reasoning", "So the last is Ben.\n\n**ANSWER: Ben**\n", 60, "stop", 1, NULL, 0},
    {"reasoning", "ANSWER: Ana", 60, "stop", 0, NULL, 0},
    {"reasoning", "ANSWER: Benjamin", 60, "stop", 0, NULL, 0},
    {"reasoning", "ANSWER: Ben\nANSWER: Dev", 60, "stop", 0, "must_not_match: matched /", 1},
    {"reasoning", NULL, 60, "stop", 0, NULL, 0},
    {"instruction",
     "**Title:** Move More\n\n1. Better sleep.\n2. Stronger heart.\n"
     "3. Better mood.\n\nSummary: Exercise helps body and mind.",
     70, "stop", 1, NULL, 0},
    {"instruction", "Title: x\n1. a\n2. b\n3. c\n", 70, "stop", 0, NULL, 0},
};

TEST(standard_validators)
{
    char err[SUITE_ERR_MAX], why[256];
    struct suite *s = NULL;
    const struct suite_case *c;
    size_t i;

    CHECK_INT(suite_load("standard", NULL, &s, NULL, err, sizeof(err), NULL, 0), ==, 0);
    for (i = 0; i < sizeof(t_outs) / sizeof(t_outs[0]); i++) {
        const struct t_out *t = &t_outs[i];
        size_t wl = t->why != NULL ? strlen(t->why) : 0;
        int got;

        c = suite_find_case(s, t->case_name);
        CHECK(c != NULL);
        got = suite_validate_output(c, t->text, t->tokens, t->finish, why, sizeof(why));
        if (got != t->want ||
            (t->why != NULL && (strncmp(why, t->why, wl) != 0 || (!t->prefix && why[wl]))))
            check_failed(__FILE__, __LINE__, "row %zu (%s): got %d \"%s\", want %d \"%s\"", i,
                         t->case_name, got, why, t->want, t->why != NULL ? t->why : "");
    }
    /* `why` may be NULL. */
    CHECK_INT(suite_validate_output(c, "", 70, "stop", NULL, 0), ==, 0);
    suite_free(s);
}

TEST(params_and_defaults)
{
    struct suite *s;
    const struct suite_case *c;

    s = parse_ok(
        "{\"name\":\"p\",\"description\":\"d\",\"defaults\":{\"temperature\":0.2,"
        "\"max_tokens\":64,\"seed\":-1,\"top_k\":40,\"nonce\":false},"
        "\"cases\":[{\"name\":\"a\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
        "{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"content\":\"a\"},"
        "{\"role\":\"user\",\"content\":\"u2\"}]},"
        "{\"name\":\"b\",\"max_tokens\":1000000,\"temperature\":0,\"nonce\":true,"
        "\"min_p\":0.05,\"presence_penalty\":-2,\"frequency_penalty\":1.5,\"top_p\":1,"
        "\"messages\":[{\"content\":\"x\",\"role\":\"user\"}]}]}");
    CHECK_INT(s->n_cases, ==, 2);
    c = &s->cases[0];
    CHECK_INT(c->params.max_tokens, ==, 64);
    CHECK_NEAR(c->params.temperature, 0.2, 1e-12);
    CHECK_INT(c->params.seed, ==, -1);
    CHECK_INT(c->params.top_k, ==, 40);
    CHECK(c->params.set & SUITE_P_NONCE);
    CHECK(!c->params.nonce);
    CHECK(!(c->params.set & SUITE_P_TOP_P));
    CHECK(!suite_case_validates(c));
    CHECK_INT(c->n_messages, ==, 4);
    CHECK_INT(c->messages[0].role, ==, SUITE_ROLE_SYSTEM);
    CHECK_INT(c->messages[2].role, ==, SUITE_ROLE_ASSISTANT);
    CHECK_STR(c->messages[3].content, "u2");
    /* No validators: always passes. */
    CHECK_INT(suite_validate_output(c, NULL, -1, NULL, NULL, 0), ==, 1);
    c = &s->cases[1];
    CHECK_INT(c->params.max_tokens, ==, 1000000);
    CHECK_NEAR(c->params.temperature, 0.0, 1e-12);
    CHECK(c->params.nonce);
    CHECK_NEAR(c->params.min_p, 0.05, 1e-12);
    CHECK_NEAR(c->params.presence_penalty, -2.0, 1e-12);
    CHECK_INT(c->params.top_k, ==, 40);
    suite_free(s);
}

TEST(bad_fields)
{
    /* Top level. */
    FAILS("", "suite: invalid JSON");
    FAILS("[]", "suite: must be a JSON object");
    FAILS("{\"name\":\"t\",\"name\":\"u\",\"cases\":[]}", "invalid JSON");
    FAILS("{\"cases\":[]}", "name: missing");
    FAILS("{\"name\":7,\"cases\":[]}", "name: must be a string");
    FAILS("{\"name\":\"a b\",\"cases\":[]}", "name: must be 1..63 characters");
    FAILS("{\"name\":\"t\",\"extra\":1,\"cases\":[]}", "extra: unknown field");
    FAILS("{\"name\":\"t\",\"description\":[],\"cases\":[]}", "description: must be a string");
    FAILS("{\"name\":\"t\"}", "cases: missing");
    FAILS("{\"name\":\"t\",\"cases\":[]}", "cases: must be a non-empty array");
    FAILS("{\"name\":\"t\",\"cases\":{}}", "cases: must be a non-empty array");
    FAILS("{\"name\":\"t\",\"cases\":[3]}", "cases[0]: must be an object");
    FAILS("{\"name\":\"t\",\"defaults\":[],\"cases\":[]}", "defaults: must be an object");
    FAILS("{\"name\":\"t\",\"defaults\":{\"temp\":1},\"cases\":[]}",
          "defaults.temp: unknown field");
    FAILS("{\"name\":\"t\",\"defaults\":{\"temperature\":\"hot\"},\"cases\":[]}",
          "defaults.temperature: must be a number in 0..2");
    FAILS("{\"name\":\"t\",\"defaults\":{\"temperature\":2.5},\"cases\":[]}",
          "defaults.temperature: 2.5 is outside 0..2");
    FAILS("{\"name\":\"t\",\"defaults\":{\"nonce\":1},\"cases\":[]}",
          "defaults.nonce: must be true or false");
    FAILS("{\"name\":\"t\",\"defaults\":{\"max_tokens\":12.5},\"cases\":[]}",
          "defaults.max_tokens: must be an integer in 1..1000000");

    /* A case. */
    FAILS("{\"name\":\"t\",\"cases\":[{\"max_tokens\":1}]}", "case #0: name: missing");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"\"}]}", "case #0: name: must be 1..63");
    FAILS(ONE_CASE(",\"bogus\":1"), "case \"c\": bogus: unknown field");
    FAILS(ONE_CASE(",\"max_tokens\":0"), "invalid JSON"); /* duplicate key */
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":0,\"messages\":[]}]}",
          "case \"c\": max_tokens: 0 is outside 1..1000000");
    FAILS(
        "{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":1000001,\"messages\":[]}]}",
        "case \"c\": max_tokens: 1000001 is outside 1..1000000");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":\"5\",\"messages\":[]}]}",
          "case \"c\": max_tokens: must be an integer");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"x\"}]}]}",
          "case \"c\": max_tokens: missing");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5}]}",
          "case \"c\": messages: missing");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[]}]}",
          "case \"c\": messages: must not be empty");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":\"hi\"}]}",
          "case \"c\": messages: must be an array");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[1]}]}",
          "case \"c\": messages[0]: must be an object");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"a\"},{\"role\":\"tool\",\"content\":\"b\"}]}]}",
          "case \"c\": messages[1].role: must be \"system\", \"user\" or \"assistant\"");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":"
          "\"user\"}]}]}",
          "case \"c\": messages[0].content: missing");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"\"}]}]}",
          "case \"c\": messages[0].content: must be a non-empty string");
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"a\",\"name\":\"x\"}]}]}",
          "case \"c\": messages[0].name: unknown field");
    FAILS(ONE_CASE(",\"temperature\":-1"), "case \"c\": temperature: -1 is outside 0..2");
    FAILS(ONE_CASE(",\"top_p\":1.5"), "case \"c\": top_p: 1.5 is outside 0..1");
    FAILS(ONE_CASE(",\"repeat_penalty\":null"), "case \"c\": repeat_penalty: must be a number");
    FAILS(ONE_CASE(",\"nonce\":\"yes\""), "case \"c\": nonce: must be true or false");

    /* Validators. */
    FAILS(ONE_CASE(",\"validate\":[]"), "case \"c\": validate: must be an object");
    FAILS(ONE_CASE(",\"validate\":{\"min_token\":1}"),
          "case \"c\": validate.min_token: unknown field");
    FAILS(ONE_CASE(",\"validate\":{\"min_tokens\":-1}"),
          "case \"c\": validate.min_tokens: must be an integer");
    FAILS(ONE_CASE(",\"validate\":{\"min_tokens\":11}"),
          "case \"c\": validate.min_tokens: 11 exceeds max_tokens 10");
    FAILS(ONE_CASE(",\"validate\":{\"must_match\":\"(unclosed\"}"),
          "case \"c\": validate.must_match: invalid regex: ");
    FAILS(ONE_CASE(",\"validate\":{\"must_not_match\":\"a{2,1}\"}"),
          "case \"c\": validate.must_not_match: invalid regex: ");
    FAILS(ONE_CASE(",\"validate\":{\"must_match\":5}"),
          "case \"c\": validate.must_match: must be a string");
    FAILS(ONE_CASE(",\"validate\":{\"must_match\":\"\"}"),
          "case \"c\": validate.must_match: must not be empty");
    FAILS(ONE_CASE(",\"validate\":{\"finish_reasons\":\"stop\"}"),
          "case \"c\": validate.finish_reasons: must be a non-empty array");
    FAILS(ONE_CASE(",\"validate\":{\"finish_reasons\":[]}"),
          "case \"c\": validate.finish_reasons: must be a non-empty array");
    FAILS(ONE_CASE(",\"validate\":{\"finish_reasons\":[\"stop\",1]}"),
          "case \"c\": validate.finish_reasons: must be a non-empty array of strings");
    FAILS(ONE_CASE(",\"validate\":{\"finish_reasons\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\","
                   "\"g\",\"h\",\"i\"]}"),
          "case \"c\": validate.finish_reasons: more than 8");

    /* Duplicate case names. */
    FAILS("{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":"
          "\"user\",\"content\":\"a\"}]},{\"name\":\"c\",\"max_tokens\":5,\"messages\":[{"
          "\"role\":"
          "\"user\",\"content\":\"a\"}]}]}",
          "case \"c\": name: duplicate case name");
}

/* A suite with n cases, built as text. */
static char *
many_cases(size_t n, size_t content_len)
{
    size_t cap = 128 + n * (content_len + 128), off, i;
    char *buf = malloc(cap);
    char *content = malloc(content_len + 1);

    CHECK(buf != NULL && content != NULL);
    memset(content, 'x', content_len);
    content[content_len] = '\0';
    off = (size_t)snprintf(buf, cap, "{\"name\":\"big\",\"cases\":[");
    for (i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, cap - off,
                                "%s{\"name\":\"c%zu\",\"max_tokens\":5,\"messages\":[{\"role\":"
                                "\"user\",\"content\":\"%s\"}]}",
                                i ? "," : "", i, content);
    snprintf(buf + off, cap - off, "]}");
    free(content);
    return buf;
}

TEST(limits)
{
    struct suite *s;
    char *text;

    text = many_cases(SUITE_CASES_MAX, 4);
    s = parse_ok(text);
    CHECK_INT(s->n_cases, ==, SUITE_CASES_MAX);
    suite_free(s);
    free(text);

    text = many_cases(SUITE_CASES_MAX + 1, 4);
    FAILS(text, "cases: 257 cases (at most 256)");
    free(text);

    text = many_cases(2, SUITE_BYTES_MAX / 2);
    FAILS(text, "suite: too large");
    free(text);

    /* Too many messages. */
    {
        char buf[8192];
        size_t off, i;

        off = (size_t)snprintf(buf, sizeof(buf),
                               "{\"name\":\"t\",\"cases\":[{\"name\":\"c\",\"max_tokens\":5,"
                               "\"messages\":[");
        for (i = 0; i <= SUITE_MESSAGES_MAX; i++)
            off += (size_t)snprintf(buf + off, sizeof(buf) - off,
                                    "%s{\"role\":\"user\",\"content\":\"m\"}", i ? "," : "");
        snprintf(buf + off, sizeof(buf) - off, "]}]}");
        FAILS(buf, "case \"c\": messages: more than 64 messages");
    }
}

TEST(json_round_trip)
{
    char err[SUITE_ERR_MAX];
    struct suite *s = NULL, *t = NULL;
    json_t *j, *k;
    char *text;
    size_t i;

    CHECK_INT(suite_load("standard", NULL, &s, NULL, err, sizeof(err), NULL, 0), ==, 0);
    j = suite_to_json(s);
    CHECK(j != NULL);
    CHECK(json_is_true(json_object_get(j, "builtin")));
    CHECK_INT(json_array_size(json_object_get(j, "cases")), ==, 5);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(j, "cases"), 2),
                                                 "max_tokens")),
              ==, 2000);
    CHECK(json_object_del(j, "builtin") == 0);
    text = json_dumps(j, JSON_COMPACT);
    CHECK(text != NULL);
    CHECK_INT(suite_parse(text, strlen(text), &t, err, sizeof(err)), ==, 0);
    CHECK_INT(t->n_cases, ==, s->n_cases);
    for (i = 0; i < s->n_cases; i++) {
        CHECK_STR(t->cases[i].name, s->cases[i].name);
        CHECK_INT(t->cases[i].params.set, ==, s->cases[i].params.set);
        CHECK_INT(t->cases[i].params.max_tokens, ==, s->cases[i].params.max_tokens);
        CHECK_NEAR(t->cases[i].params.temperature, s->cases[i].params.temperature, 0);
        CHECK_STR(t->cases[i].messages[0].content, s->cases[i].messages[0].content);
        CHECK_INT(t->cases[i].validate.min_tokens, ==, s->cases[i].validate.min_tokens);
        CHECK_INT(t->cases[i].validate.n_finish_reasons, ==,
                  s->cases[i].validate.n_finish_reasons);
    }
    /* Same JSON again. */
    k = suite_to_json(t);
    CHECK(json_object_del(k, "builtin") == 0);
    CHECK(json_equal(j, k));
    free(text);
    json_decref(j);
    json_decref(k);
    suite_free(s);
    suite_free(t);

    j = suite_list_builtin();
    CHECK(json_is_array(j));
    CHECK_INT(json_array_size(j), ==, 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 0), "name")), "standard");
    CHECK_STR(json_string_value(json_object_get(json_array_get(j, 1), "name")), "depth");
    json_decref(j);
}

/* A suite of the owner's suites_dir, named by a job: loaded by name only;
 * a parse error reaches the owner's log (why), never the client (err). */
TEST(files)
{
    char err[SUITE_ERR_MAX], why[SUITE_ERR_MAX + SUITE_PATH_MAX], path[1024];
    struct suite *s = (struct suite *)1;
    const char *dir = tu_tmpdir();
    json_t *j = NULL;
    FILE *f;
    char *big;

    snprintf(path, sizeof(path), "%s/mine.json", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(ONE_CASE(",\"validate\":{\"must_match\":\"^h\"}"), f);
    fclose(f);
    CHECK_INT(suite_load("mine.json", dir, &s, &j, err, sizeof(err), why, sizeof(why)), ==, 0);
    CHECK_STR(s->name, "t");
    CHECK(!s->builtin);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "t");
    CHECK_INT(suite_validate_output(&s->cases[0], "hello", 2, "stop", err, sizeof(err)), ==, 1);
    suite_free(s);
    json_decref(j);

    /* A parse error: the client learns the name, the log learns why. */
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(ONE_CASE(",\"validate\":{\"must_match\":\"[\"}"), f);
    fclose(f);
    CHECK_INT(suite_load("mine.json", dir, &s, NULL, err, sizeof(err), why, sizeof(why)), ==,
              -1);
    CHECK(s == NULL);
    CHECK(strstr(err, "mine.json") != NULL);
    CHECK(strstr(err, "must_match") == NULL);
    CHECK(strstr(why, "case \"c\": validate.must_match: invalid regex") != NULL);

    /* Missing file; no suites_dir at all. */
    CHECK_INT(suite_load("none.json", dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK(strstr(err, "no suite named \"none.json\"") != NULL);
    CHECK_INT(suite_load("no-such-suite", NULL, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK(strstr(err, "suites_dir is not set") != NULL);

    /* Too large a file. */
    snprintf(path, sizeof(path), "%s/big.json", dir);
    big = calloc(1, SUITE_BYTES_MAX + 2);
    CHECK(big != NULL);
    memset(big, ' ', SUITE_BYTES_MAX + 1);
    f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK_INT(fwrite(big, 1, SUITE_BYTES_MAX + 1, f), ==, SUITE_BYTES_MAX + 1);
    fclose(f);
    CHECK_INT(suite_load("big.json", dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK(strstr(err, "larger than") != NULL);
    free(big);

    /* The user's own file (tpsd run --suite FILE): by path. */
    snprintf(path, sizeof(path), "%s/own.json", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(ONE_CASE(""), f);
    fclose(f);
    CHECK_INT(suite_read_path(path, &j, err, sizeof(err)), ==, 0);
    CHECK_STR(json_string_value(json_object_get(j, "name")), "t");
    json_decref(j);
}

/* Names that are paths, hidden files, links and special files are never
 * opened as suites, and all answer alike: nothing tells a client whether
 * /etc/passwd exists, and nothing of a file reaches the message. */
TEST(suites_dir_refuses_paths_links_fifos)
{
    static const char *const bad_names[] = {
        "/etc/passwd", "../../etc/passwd", "a/b", ".hidden", "..", "", "x\ny", NULL};
    char err[SUITE_ERR_MAX], err2[SUITE_ERR_MAX], path[1024], target[1024];
    struct suite *s = NULL;
    const char *dir = tu_tmpdir();
    int i;
    FILE *f;

    for (i = 0; bad_names[i] != NULL; i++) {
        CHECK(!suite_file_name_ok(bad_names[i]));
        CHECK_INT(suite_load(bad_names[i], dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
        CHECK(strstr(err, "not a suite name") != NULL);
        CHECK(strstr(err, "root") == NULL);
    }
    /* A link to a valid suite outside the folder is not followed. */
    snprintf(target, sizeof(target), "%s/../outside-%d.json", dir, (int)getpid());
    f = fopen(target, "w");
    CHECK(f != NULL);
    fputs(ONE_CASE(""), f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/link.json", dir);
    CHECK_INT(symlink(target, path), ==, 0);
    CHECK_INT(suite_load("link.json", dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK_INT(suite_load("absent.json", dir, &s, NULL, err2, sizeof(err2), NULL, 0), ==, -1);
    /* Same words as an absent file, but for the name. */
    CHECK(strstr(err, "no suite named") != NULL);
    CHECK(strstr(err2, "no suite named") != NULL);
    unlink(target);
    /* A FIFO with no writer: refused at once, not read (a read would block
     * this test forever). */
    snprintf(path, sizeof(path), "%s/fifo", dir);
    CHECK_INT(mkfifo(path, 0600), ==, 0);
    CHECK_INT(suite_load("fifo", dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK(strstr(err, "no suite named \"fifo\"") != NULL);
    /* A directory too. */
    snprintf(path, sizeof(path), "%s/sub", dir);
    CHECK_INT(mkdir(path, 0700), ==, 0);
    CHECK_INT(suite_load("sub", dir, &s, NULL, err, sizeof(err), NULL, 0), ==, -1);
    CHECK(s == NULL);
}

/* Issue 16: a case's depth and warm are validated parameters; the built-in
 * depth suite loads; a sweep makes one case per depth named NAME.dN (and
 * NAME.dN.warm), keeps a case with its own depth once, and refuses names
 * that would grow too long or more cases than a suite holds. */
TEST(depth_sweep)
{
    static const int64_t depths[] = {0, 4096, 131072};
    char err[SUITE_ERR_MAX], name[80];
    struct suite *s, *w = NULL, *b = NULL;
    int64_t lots[SUITE_DEPTHS_MAX];
    size_t i;

    FAILS(ONE_CASE(",\"depth\":-1"), "case \"c\": depth:");
    FAILS(ONE_CASE(",\"depth\":16777217"), "case \"c\": depth:");
    FAILS(ONE_CASE(",\"depth\":1.5"), "case \"c\": depth:");
    FAILS(ONE_CASE(",\"warm\":1"), "case \"c\": warm:");
    CHECK_INT(suite_load("depth", NULL, &b, NULL, err, sizeof(err), NULL, 0), ==, 0);
    CHECK_INT(b->n_cases, ==, 1);
    CHECK(!(b->cases[0].params.set & SUITE_P_DEPTH));
    suite_free(b);

    s = parse_ok("{\"name\":\"t\",\"cases\":["
                 "{\"name\":\"a\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hi\"}]},"
                 "{\"name\":\"own\",\"depth\":777,\"max_tokens\":10,\"messages\":[{\"role\":"
                 "\"user\",\"content\":\"hi\"}]}]}");
    CHECK_INT(suite_with_depths(s, depths, 3, 1, &w, err, sizeof(err)), ==, 0);
    CHECK_INT(w->n_cases, ==, 3 * 2 + 2);
    for (i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "a.d%lld", (long long)depths[i]);
        CHECK_STR(w->cases[2 * i].name, name);
        CHECK_INT(w->cases[2 * i].params.depth, ==, depths[i]);
        CHECK(!w->cases[2 * i].params.warm);
        CHECK_INT(w->cases[2 * i + 1].params.depth, ==, depths[i]);
        CHECK(w->cases[2 * i + 1].params.warm);
    }
    CHECK_STR(w->cases[1].name, "a.d0.warm");
    CHECK_STR(w->cases[6].name, "own");
    CHECK_INT(w->cases[6].params.depth, ==, 777);
    CHECK_STR(w->cases[7].name, "own.warm");
    suite_free(w);
    suite_free(s);

    s = parse_ok(
        "{\"name\":\"t\",\"cases\":[{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaa\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\","
        "\"content\":\"x\"}]}]}");
    w = (struct suite *)1;
    CHECK_INT(suite_with_depths(s, depths, 3, 0, &w, err, sizeof(err)), ==, -1);
    CHECK(w == NULL);
    CHECK(strstr(err, "name too long") != NULL);
    suite_free(s);
    for (i = 0; i < SUITE_DEPTHS_MAX; i++)
        lots[i] = (int64_t)i;
    s = parse_ok(ONE_CASE(""));
    CHECK_INT(suite_with_depths(s, lots, SUITE_DEPTHS_MAX, 1, &w, err, sizeof(err)), ==, 0);
    CHECK_INT(w->n_cases, ==, 2 * SUITE_DEPTHS_MAX);
    suite_free(w);
    suite_free(s);
}

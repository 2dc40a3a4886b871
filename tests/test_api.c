/*
 * test_api.c - the REST API over real HTTP on loopback: the server runs in
 * this process (api_start on a free port, a temporary database, no worker).
 */
#include "tests/check.h"
#include "tests/httputil.h"
#include "tests/testutil.h"
#include "daemon/curl_dl.h"

#include "api/api.h"
#include "common/clock.h"
#include "daemon/config.h"
#include "storage/db.h"
#include "storage/jobs.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (4 * 1024 * 1024)

static struct config cfg;
static struct api *api;
static char dbpath[1024];
static int port;

/* One request to the API under test. hdrs NULL-terminated; body NULL for
 * none; chunked_len > 0 sends that many bytes chunked instead. */
static void
req(const char *method, const char *path, const char *const *hdrs, const char *body,
    size_t chunked_len, struct hu_resp *r, size_t stop_after_events)
{
    struct hu_opts o;
    char url[256];

    memset(&o, 0, sizeof(o));
    o.headers = hdrs;
    o.body = body;
    o.chunked_len = chunked_len;
    o.stop_after_events = stop_after_events;
    o.timeout_s = 20;
    o.body_max = RESP_MAX;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    hu_request(method, url, &o, r);
}

/* One request whose answer must have status `want` (the body is dropped);
 * a failure names the caller's line. */
#define EXPECT_STATUS(method, path, hdrs, body, chunked_len, want)                             \
    expect_status(__LINE__, method, path, hdrs, body, chunked_len, want)

static void
expect_status_keep(int line, const char *method, const char *path, const char *const *hdrs,
                   const char *body, long want, struct hu_resp *r)
{
    req(method, path, hdrs, body, 0, r, 0);
    if (r->status != want)
        check_failed(__FILE__, line, "%s %s: status %ld, want %ld: %s", method, path, r->status,
                     want, r->body.p ? r->body.p : "");
}

static void
expect_status(int line, const char *method, const char *path, const char *const *hdrs,
              const char *body, size_t chunked_len, long want)
{
    struct hu_resp r;

    if (chunked_len == 0) {
        expect_status_keep(line, method, path, hdrs, body, want, &r);
    } else {
        req(method, path, hdrs, body, chunked_len, &r, 0);
        if (r.status != want)
            check_failed(__FILE__, line, "%s %s (chunked): status %ld, want %ld", method, path,
                         r.status, want);
    }
    hu_resp_free(&r);
}

/* One request whose answer must have status `want` and header `name` equal
 * to `value` (NULL: no such header); a failure names the caller's line. */
#define EXPECT_HEADER(method, path, hdrs, want, name, value)                                   \
    expect_header(__LINE__, method, path, hdrs, want, name, value)

static void
expect_header(int line, const char *method, const char *path, const char *const *hdrs,
              long want, const char *name, const char *value)
{
    struct hu_resp r;
    const char *got;

    expect_status_keep(line, method, path, hdrs, NULL, want, &r);
    got = hu_header(&r, name);
    if (value == NULL ? got != NULL : got == NULL || strcmp(got, value) != 0)
        check_failed(__FILE__, line, "%s %s: header %s is \"%s\", want \"%s\"", method, path,
                     name, got ? got : "(none)", value ? value : "(none)");
    hu_resp_free(&r);
}

/* The JSON answer (a new reference) of one request whose status must be
 * `want`; a failure names the caller's line. */
#define REQ_JSON(method, path, hdrs, body, want)                                               \
    req_json(__LINE__, method, path, hdrs, body, want)

static json_t *
req_json(int line, const char *method, const char *path, const char *const *hdrs,
         const char *body, long want)
{
    struct hu_resp r;
    json_t *j;

    expect_status_keep(line, method, path, hdrs, body, want, &r);
    j = hu_body_json(&r);
    hu_resp_free(&r);
    return j;
}

static const char *json_hdrs[] = {"Content-Type: application/json", NULL};

static void
start(const char *token_file, const char *origins)
{
    config_defaults(&cfg);
    cfg.max_body_bytes = 1024;
    snprintf(cfg.token_file, sizeof(cfg.token_file), "%s", token_file ? token_file : "");
    snprintf(cfg.cors_origins, sizeof(cfg.cors_origins), "%s", origins ? origins : "");
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    api = hu_api_start(&cfg, dbpath, 1, &port);
}

/* The server still answers; then stop it. */
static void
finish(void)
{
    EXPECT_STATUS("GET", "/v1/healthz", NULL, NULL, 0, 200);
    api_stop(api);
    api = NULL;
}

static int64_t
post_job(const char *body, const char *key, long want)
{
    const char *hdrs[3] = {"Content-Type: application/json", NULL, NULL};
    char kh[300];
    struct hu_resp r;
    json_t *j;
    int64_t id;

    if (key != NULL) {
        snprintf(kh, sizeof(kh), "Idempotency-Key: %s", key);
        hdrs[1] = kh;
    }
    req("POST", "/v1/jobs", hdrs, body, 0, &r, 0);
    if (r.status != want)
        check_failed(__FILE__, __LINE__, "POST /v1/jobs: status %ld, want %ld: %s", r.status,
                     want, r.body.p ? r.body.p : "");
    j = hu_body_json(&r);
    id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    hu_resp_free(&r);
    return id;
}

TEST(post_job)
{
    struct hu_resp r;
    char loc[64];
    json_t *j, *spec;
    int64_t id;

    start(NULL, NULL);
    req("POST", "/v1/jobs", json_hdrs, TU_JOB, 0, &r, 0);
    CHECK_INT(r.status, ==, 201);
    j = hu_body_json(&r);
    id = json_integer_value(json_object_get(j, "id"));
    CHECK(id > 0);
    snprintf(loc, sizeof(loc), "/v1/jobs/%lld", (long long)id);
    CHECK_STR(hu_header(&r, "Location"), loc);
    CHECK_STR(hu_header(&r, "X-Content-Type-Options"), "nosniff");
    CHECK_STR(json_string_value(json_object_get(j, "state")), "queued");
    json_decref(j);
    hu_resp_free(&r);
    j = REQ_JSON("GET", loc, NULL, NULL, 200);
    spec = json_object_get(j, "spec");
    CHECK(json_is_object(spec));
    CHECK_INT(json_integer_value(json_object_get(spec, "repetitions")), ==, 3); /* normalised */
    CHECK_STR(json_string_value(json_array_get(json_object_get(spec, "models"), 0)),
              "unsloth/MiniMax-M2.1-GGUF@Q4_K_S");
    CHECK(json_is_array(json_object_get(j, "run_list")));
    json_decref(j);
    finish();
}

TEST(list_and_cursor)
{
    struct hu_resp r;
    json_t *j, *jobs;
    char path[128];
    int64_t cursor = 0, prev = INT64_MAX, id;
    int i, seen = 0, pages = 0;

    start(NULL, NULL);
    for (i = 0; i < 5; i++)
        post_job(TU_JOB, NULL, 201);
    for (;;) {
        if (cursor > 0)
            snprintf(path, sizeof(path), "/v1/jobs?limit=2&cursor=%lld", (long long)cursor);
        else
            snprintf(path, sizeof(path), "/v1/jobs?limit=2");
        req("GET", path, NULL, NULL, 0, &r, 0);
        CHECK_INT(r.status, ==, 200);
        j = hu_body_json(&r);
        jobs = json_object_get(j, "jobs");
        CHECK(json_array_size(jobs) <= 2);
        for (i = 0; i < (int)json_array_size(jobs); i++) {
            id = json_integer_value(json_object_get(json_array_get(jobs, (size_t)i), "id"));
            CHECK(id < prev); /* newest first */
            prev = id;
            seen++;
        }
        pages++;
        if (json_is_null(json_object_get(j, "next_cursor"))) {
            json_decref(j);
            hu_resp_free(&r);
            break;
        }
        cursor = json_integer_value(json_object_get(j, "next_cursor"));
        json_decref(j);
        hu_resp_free(&r);
        CHECK(pages < 10);
    }
    CHECK_INT(seen, ==, 5);
    CHECK_INT(pages, ==, 3);
    j = REQ_JSON("GET", "/v1/jobs?state=queued&limit=100", NULL, NULL, 200);
    CHECK_INT(json_array_size(json_object_get(j, "jobs")), ==, 5);
    json_decref(j);
    EXPECT_STATUS("GET", "/v1/jobs?state=bogus", NULL, NULL, 0, 400);
    EXPECT_STATUS("GET", "/v1/jobs?limit=0", NULL, NULL, 0, 400);
    finish();
}

TEST(cancel)
{
    char path[64];
    json_t *j;
    int64_t id;

    start(NULL, NULL);
    id = post_job(TU_JOB, NULL, 201);
    snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", (long long)id);
    j = REQ_JSON("POST", path, NULL, NULL, 200);
    CHECK_STR(json_string_value(json_object_get(j, "state")), "cancelled");
    json_decref(j);
    EXPECT_STATUS("POST", path, NULL, NULL, 0, 409);
    EXPECT_STATUS("POST", "/v1/jobs/999/cancel", NULL, NULL, 0, 404);
    finish();
}

TEST(idempotency)
{
    const char *hdrs[] = {"Content-Type: application/json", "Idempotency-Key: k1", NULL};
    char url[128];
    struct hu_resp r;
    json_t *j;
    int64_t a, b;

    start(NULL, NULL);
    a = post_job(TU_JOB, "k1", 201);
    req("POST", "/v1/jobs", hdrs, TU_JOB, 0, &r, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK_STR(hu_header(&r, "Idempotency-Replayed"), "true");
    j = hu_body_json(&r);
    b = json_integer_value(json_object_get(j, "id"));
    CHECK_INT(a, ==, b);
    json_decref(j);
    hu_resp_free(&r);
    EXPECT_STATUS("POST", "/v1/jobs", hdrs, "{\"models\": [\"other\"]}", 0, 422);
    /* 8 threads, one key: one job. */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/jobs", port);
    tu_race_post(url, TU_JOB, "race-1", 8);
    req("GET", "/v1/jobs?limit=100", NULL, NULL, 0, &r, 0);
    j = hu_body_json(&r);
    CHECK_INT(json_array_size(json_object_get(j, "jobs")), ==, 2);
    json_decref(j);
    hu_resp_free(&r);
    /* A key over 255 bytes */
    {
        char longkey[400];
        const char *h2[] = {"Content-Type: application/json", longkey, NULL};

        memset(longkey, 'k', sizeof(longkey) - 1);
        longkey[sizeof(longkey) - 1] = '\0';
        memcpy(longkey, "Idempotency-Key: ", 17);
        EXPECT_STATUS("POST", "/v1/jobs", h2, TU_JOB, 0, 400);
    }
    finish();
}

/* POST body → want status, and the error message contains `needle`. */
static void
expect_post(const char *body, long want, const char *needle, int line)
{
    struct hu_resp r;
    json_t *j;
    const char *msg;

    req("POST", "/v1/jobs", json_hdrs, body, 0, &r, 0);
    if (r.status != want)
        check_failed(__FILE__, line, "status %ld, want %ld: %s", r.status, want,
                     r.body.p ? r.body.p : "");
    j = hu_body_json(&r);
    msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    if (needle != NULL && (msg == NULL || strstr(msg, needle) == NULL))
        check_failed(__FILE__, line, "message \"%s\" lacks \"%s\"", msg ? msg : "", needle);
    json_decref(j);
    hu_resp_free(&r);
}

TEST(bad_bodies)
{
    char *deep;
    const char *text_hdrs[] = {"Content-Type: text/plain", NULL};

    start(NULL, NULL);
    expect_post("{\"models\": [", 400, "invalid JSON", __LINE__);
    expect_post("", 400, "body", __LINE__);
    expect_post("{\"models\": \"m\"}", 400, "models", __LINE__);
    expect_post("{\"models\": [\"m\"], \"backend\": {\"contxt_length\": 1}}", 400,
                "backend.contxt_length: unknown field", __LINE__);
    expect_post("{\"models\": [\"m\"], \"repetitions\": \"3\"}", 400, "repetitions", __LINE__);
    expect_post("{\"models\": [\"m\"], \"models\": [\"n\"]}", 400, "duplicate", __LINE__);
    /* 10,000 nested arrays: under the cap? no - over it. Use the cap-sized
     * bomb and a larger server cap in the next test. */
    deep = malloc(1001);
    memset(deep, '[', 1000);
    deep[1000] = '\0';
    expect_post(deep, 400, NULL, __LINE__);
    free(deep);
    EXPECT_STATUS("POST", "/v1/jobs", text_hdrs, TU_JOB, 0, 415);
    finish();
}

/* A capacity job's service level is checked where it is submitted: each
 * bad one is a 400 naming the field, and nothing is queued. */
TEST(capacity_level_400)
{
    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"models\": [\"m\"], \"kind\": \"capacity\"}", "service_level: required"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\": {}}",
         "service_level: name at least one"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
         " {\"ttft_p95_ms\": -1}}",
         "service_level.ttft_p95_ms"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
         " {\"error_rate\": 2}}",
         "service_level.error_rate"},
        {"{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
         " {\"p95\": 1}}",
         "service_level.p95: unknown field"},
        {"{\"models\": [\"m\"], \"service_level\": {\"error_rate\": 0}}",
         "only for kind \"capacity\""},
    };
    size_t i;

    start(NULL, NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_post(bad[i].body, 400, bad[i].needle, __LINE__);
    expect_post("{\"models\": [\"m\"], \"kind\": \"capacity\", \"service_level\":"
                " {\"decode_tps_p5\": 10}}",
                201, NULL, __LINE__);
    finish();
}

TEST(nesting_bomb)
{
    char *deep;

    start(NULL, NULL);
    api_stop(api);
    cfg.max_body_bytes = 64 * 1024;
    api = hu_api_start(&cfg, dbpath, 0, &port);
    deep = malloc(10001);
    memset(deep, '[', 10000);
    deep[10000] = '\0';
    expect_post(deep, 400, NULL, __LINE__);
    memcpy(deep, "{\"models\":", 10);
    expect_post(deep, 400, NULL, __LINE__);
    free(deep);
    finish();
}

TEST(body_cap)
{
    char *big = malloc(1026);
    struct hu_resp r;

    start(NULL, NULL);
    memset(big, ' ', 1025);
    big[0] = '{';
    big[1023] = '}';
    big[1024] = ' '; /* cap + 1 bytes */
    big[1025] = '\0';
    EXPECT_STATUS("POST", "/v1/jobs", json_hdrs, big, 0, 413);
    EXPECT_STATUS("POST", "/v1/jobs", json_hdrs, NULL, 1025, 413);
    /* far past the cap, chunked: refused (413 or the connection closed) */
    req("POST", "/v1/jobs", json_hdrs, NULL, 4 * 1024 * 1024, &r, 0);
    CHECK(r.status == 413 || r.status == 0);
    hu_resp_free(&r);
    free(big);
    finish();
}

TEST(host_header)
{
    struct hu_resp r;
    char good[64], wrong_port[64];
    const char *h[2] = {NULL, NULL};

    start(NULL, NULL);
    h[0] = "Host: evil.example";
    req("GET", "/v1/healthz", h, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 421);
    CHECK(strstr(r.body.p, "host_not_allowed") != NULL);
    hu_resp_free(&r);
    h[0] = "Host;"; /* curl: send an empty Host */
    req("GET", "/v1/healthz", h, NULL, 0, &r, 0);
    CHECK(r.status == 421 || r.status == 400);
    hu_resp_free(&r);
    h[0] = "Host:"; /* curl: send no Host */
    req("GET", "/v1/healthz", h, NULL, 0, &r, 0);
    CHECK(r.status == 421 || r.status == 400);
    hu_resp_free(&r);
    snprintf(wrong_port, sizeof(wrong_port), "Host: 127.0.0.1:%d", port + 1);
    h[0] = wrong_port;
    EXPECT_STATUS("GET", "/v1/healthz", h, NULL, 0, 421);
    h[0] = "Host: localhost.evil.example:80";
    EXPECT_STATUS("GET", "/v1/healthz", h, NULL, 0, 421);
    snprintf(good, sizeof(good), "Host: localhost:%d", port);
    h[0] = good;
    EXPECT_STATUS("GET", "/v1/healthz", h, NULL, 0, 200);
    snprintf(good, sizeof(good), "Host: [::1]:%d", port);
    EXPECT_STATUS("GET", "/v1/healthz", h, NULL, 0, 200);
    finish();
}

TEST(token)
{
    char path[CONFIG_STR_MAX], err[API_ERR_MAX];
    const char *none[] = {NULL};
    const char *wrong[] = {"Authorization: Bearer nope", NULL};
    const char *right[] = {"Authorization: Bearer s3cret-token", NULL};
    struct api_opts o;
    struct hu_resp r;

    snprintf(path, sizeof(path), "%s/token", tu_tmpdir());
    CHECK_INT(tu_write_file(path, "s3cret-token\n"), ==, 0);
    chmod(path, 0600);
    start(path, NULL);
    req("GET", "/v1/jobs", none, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 401);
    CHECK(hu_header(&r, "WWW-Authenticate") != NULL);
    hu_resp_free(&r);
    EXPECT_STATUS("GET", "/v1/jobs", wrong, NULL, 0, 401);
    EXPECT_STATUS("GET", "/v1/jobs", right, NULL, 0, 200);
    EXPECT_STATUS("GET", "/v1/healthz", right, NULL, 0, 200);
    api_stop(api);
    api = NULL;
    /* A token file others can read is refused. */
    chmod(path, 0644);
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = dbpath;
    CHECK(api_start(&o, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "0600") != NULL);
    /* Without a token, a non-loopback bind is refused. */
    cfg.token_file[0] = '\0';
    snprintf(cfg.listen_addr, sizeof(cfg.listen_addr), "0.0.0.0");
    CHECK(api_start(&o, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "token") != NULL);
}

TEST(bad_ids_and_methods)
{
    static const char *const paths[] = {
        "/v1/jobs/abc", "/v1/jobs/-1", "/v1/jobs/0",         "/v1/jobs/99999999999999999999",
        "/v1/jobs/1",   "/v1/runs/1",  "/v1/runs/x/samples", "/nope",
        "/v1/jobs/1/",  "/v1//jobs"};
    struct hu_resp r;
    json_t *j;
    size_t i;

    start(NULL, NULL);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        req("GET", paths[i], NULL, NULL, 0, &r, 0);
        if (r.status != 404)
            check_failed(__FILE__, __LINE__, "%s: %ld", paths[i], r.status);
        j = hu_body_json(&r);
        CHECK(json_is_object(json_object_get(j, "error")));
        json_decref(j);
        hu_resp_free(&r);
    }
    EXPECT_HEADER("DELETE", "/v1/jobs", NULL, 405, "Allow", "POST, GET, OPTIONS");
    EXPECT_HEADER("GET", "/v1/jobs/1/cancel", NULL, 405, "Allow", "POST, OPTIONS");
    EXPECT_STATUS("HEAD", "/v1/healthz", NULL, NULL, 0, 200);
    finish();
}

TEST(read_endpoints)
{
    struct hu_resp r;
    json_t *j;

    start(NULL, NULL);
    j = REQ_JSON("GET", "/v1/healthz", NULL, NULL, 200);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "ok");
    CHECK_STR(json_string_value(json_object_get(j, "worker")), "absent");
    CHECK_STR(json_string_value(json_object_get(j, "db")), "ok");
    CHECK_INT(json_integer_value(json_object_get(j, "queue_depth")), ==, 0);
    json_decref(j);
    j = REQ_JSON("GET", "/v1/openapi.json", NULL, NULL, 200);
    CHECK(json_is_string(json_object_get(j, "openapi")));
    CHECK(json_object_get(json_object_get(j, "paths"), "/v1/jobs") != NULL);
    json_decref(j);
    req("GET", "/v1/suites", NULL, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(strstr(r.body.p, "\"standard\"") != NULL);
    hu_resp_free(&r);
    j = REQ_JSON("GET", "/v1/runs", NULL, NULL, 200);
    CHECK_INT(json_array_size(json_object_get(j, "runs")), ==, 0);
    json_decref(j);
    EXPECT_STATUS("GET", "/v1/runs/5/samples", NULL, NULL, 0, 404);
    finish();
}

TEST(cors)
{
    const char *good[] = {"Origin: http://dash.example:3000", NULL};
    const char *bad[] = {"Origin: http://evil.example", NULL};
    const char *pre[] = {"Origin: http://dash.example:3000",
                         "Access-Control-Request-Method: POST", NULL};
    struct hu_resp r;

    start(NULL, "http://dash.example:3000, http://other.example");
    EXPECT_HEADER("GET", "/v1/healthz", good, 200, "Access-Control-Allow-Origin",
                  "http://dash.example:3000");
    EXPECT_HEADER("GET", "/v1/healthz", bad, 200, "Access-Control-Allow-Origin", NULL);
    req("OPTIONS", "/v1/jobs", pre, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 204);
    CHECK_STR(hu_header(&r, "Access-Control-Allow-Origin"), "http://dash.example:3000");
    CHECK(strstr(hu_header(&r, "Access-Control-Allow-Methods"), "POST") != NULL);
    hu_resp_free(&r);
    req("OPTIONS", "/v1/jobs", bad, NULL, 0, &r, 0);
    CHECK(hu_header(&r, "Access-Control-Allow-Origin") == NULL);
    CHECK(hu_header(&r, "Access-Control-Allow-Methods") == NULL);
    hu_resp_free(&r);
    finish();
}

TEST(cors_star_refused)
{
    char err[API_ERR_MAX];
    struct api_opts o;

    config_defaults(&cfg);
    cfg.listen_port = 0;
    snprintf(cfg.cors_origins, sizeof(cfg.cors_origins), "*");
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = dbpath;
    CHECK(api_start(&o, err, sizeof(err)) == NULL);
}

TEST(metrics)
{
    struct hu_resp r;
    char *line, *save = NULL, *copy;
    int samples = 0, jobs = 0, errors = 0;

    start(NULL, NULL);
    post_job(TU_JOB, NULL, 201);
    req("GET", "/nope", NULL, NULL, 0, &r, 0);
    hu_resp_free(&r);
    req("GET", "/metrics", NULL, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(strncmp(hu_header(&r, "Content-Type"), "text/plain; version=0.0.4", 25) == 0);
    copy = strdup(r.body.p);
    for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        double v;
        const char *sp;

        if (line[0] == '#') {
            CHECK(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
            continue;
        }
        sp = strrchr(line, ' ');
        CHECK(sp != NULL);
        CHECK_INT(sscanf(sp + 1, "%lf", &v), ==, 1);
        CHECK_INT(sscanf(line, "%127[a-zA-Z0-9_:]", name), ==, 1);
        CHECK(line[strlen(name)] == '{' || line[strlen(name)] == ' ');
        samples += strcmp(name, "tpsd_samples_total") == 0;
        if (strncmp(line, "tpsd_jobs{state=\"queued\"} 1", 27) == 0)
            jobs++;
        if (strncmp(line, "tpsd_request_errors_total{code=\"404\"}", 37) == 0)
            errors++;
    }
    CHECK_INT(samples, ==, 1);
    CHECK_INT(jobs, ==, 1);
    CHECK_INT(errors, ==, 1);
    free(copy);
    hu_resp_free(&r);
    finish();
}

TEST(events)
{
    char err[DB_ERR_MAX], path[128], state[JOB_STATE_MAX];
    struct db *db;
    struct hu_resp r;
    int64_t job, ev[3];
    int i;
    const char *resume[] = {NULL, NULL};
    char hdr[64];

    start(NULL, NULL);
    job = post_job(TU_JOB, NULL, 201);
    db = db_open(dbpath, err, sizeof(err));
    CHECK(db != NULL);
    for (i = 0; i < 3; i++)
        CHECK_INT(events_append(db, job, "progress", json_pack("{s:i}", "n", i), &ev[i]), ==,
                  0);
    snprintf(path, sizeof(path), "/v1/jobs/%lld/events", (long long)job);
    /* A live stream: read the three events, then hang up. */
    req("GET", path, NULL, NULL, 0, &r, 3);
    CHECK_STR(hu_header(&r, "Content-Type"), "text/event-stream");
    CHECK(strstr(r.body.p, "event: progress\ndata: {\"n\":0}\n\n") != NULL);
    CHECK(strstr(r.body.p, "data: {\"n\":2}") != NULL);
    hu_resp_free(&r);
    /* The job ends: the stream ends by itself after the last event. */
    CHECK_INT(jobs_request_cancel(db, job, state), ==, 0);
    CHECK_INT(events_append(db, job, "state", json_pack("{s:s}", "state", "cancelled"), NULL),
              ==, 0);
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", (long long)ev[1]);
    resume[0] = hdr;
    req("GET", path, resume, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK(strstr(r.body.p, "{\"n\":1}") == NULL);
    CHECK(strstr(r.body.p, "{\"n\":2}") != NULL);
    CHECK(strstr(r.body.p, "event: state") != NULL);
    hu_resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%lld/events?after=%lld", (long long)job,
             (long long)ev[2]);
    req("GET", path, NULL, NULL, 0, &r, 0);
    CHECK(strstr(r.body.p, "{\"n\":2}") == NULL);
    CHECK(strstr(r.body.p, "event: state") != NULL);
    hu_resp_free(&r);
    EXPECT_STATUS("GET", "/v1/jobs/424242/events", NULL, NULL, 0, 404);
    db_close(db);
    finish();
}

TEST(idle_sockets)
{
    enum { NIDLE = 200 };
    int fds[NIDLE], i, closed = 0;
    struct hu_resp r;
    double t0;
    char c;

    start(NULL, NULL);
    api_stop(api);
    cfg.connection_timeout_s = 2;
    api = hu_api_start(&cfg, dbpath, 0, &port);
    for (i = 0; i < NIDLE; i++) {
        fds[i] = tu_dial(port);
        if (i % 2 == 0) /* half of them slowloris: a partial request line */
            CHECK(write(fds[i], "GET /v1/healthz HTTP/1.1\r\nHost: local", 37) == 37);
    }
    t0 = (double)clock_mono_ns() / 1e6;
    req("GET", "/v1/healthz", NULL, NULL, 0, &r, 0);
    CHECK_INT(r.status, ==, 200);
    CHECK_DBL((double)clock_mono_ns() / 1e6 - t0, <, 1000.0);
    hu_resp_free(&r);
    /* They are timed out. */
    tu_sleep_ms(3500);
    for (i = 0; i < NIDLE; i++) {
        struct timeval tv = {2, 0};

        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (read(fds[i], &c, 1) == 0)
            closed++;
        close(fds[i]);
    }
    CHECK_INT(closed, ==, NIDLE);
    finish();
}

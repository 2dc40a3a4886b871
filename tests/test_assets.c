/*
 * test_assets.c - the dashboard's files over real HTTP: GET / and
 * /assets/{name} with their content types, ETags and 304s, the page's own
 * Content-Security-Policy (the API keeps its strict one), 404 for unknown
 * names and every traversal attempt, every file of api/assets/ served byte
 * for byte, and no token needed for them when the API wants one.
 */
#include "tests/check.h"
#include "tests/httputil.h"
#include "tests/testutil.h"
#include "daemon/curl_dl.h"

#include "api/api.h"
#include "daemon/config.h"
#include "storage/db.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define T_RESP_MAX (4 * 1024 * 1024)

static struct config cfg;
static struct api *api;
static int port;

/* One request for `path` exactly as given (no normalisation by curl), with
 * one extra header line (may be NULL). */
static void
req(const char *method, const char *path, const char *hdr, struct hu_resp *r)
{
    const char *hl[] = {hdr, NULL};
    struct hu_opts o;
    char url[512];

    memset(&o, 0, sizeof(o));
    o.headers = hl;
    o.path_as_is = 1;
    o.timeout_s = 20;
    o.body_max = T_RESP_MAX;
    if (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path) >= (int)sizeof(url))
        check_failed(__FILE__, __LINE__, "path too long for the URL: %s", path);
    hu_request(method, url, &o, r);
}

/* Serve on a free port; with a bearer token file when token_file is set. */
static void
start_with(const char *token_file)
{
    char dbpath[TU_PATH_MAX];

    config_defaults(&cfg);
    snprintf(cfg.token_file, sizeof(cfg.token_file), "%s", token_file ? token_file : "");
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    api = hu_api_start(&cfg, dbpath, 1, &port);
}

static void
start(void)
{
    start_with(NULL);
}

static void
finish(void)
{
    api_stop(api);
    api = NULL;
}

/* GET path: 200 with content type ctype (prefix) and the page's CSP. */
static void
check_asset(const char *path, const char *ctype)
{
    struct hu_resp r;
    const char *v;

    req("GET", path, NULL, &r);
    if (r.status != 200)
        check_failed(__FILE__, __LINE__, "GET %s: status %ld", path, r.status);
    v = hu_header(&r, "Content-Type");
    if (v == NULL || strncmp(v, ctype, strlen(ctype)) != 0)
        check_failed(__FILE__, __LINE__, "GET %s: Content-Type %s, want %s", path,
                     v ? v : "(none)", ctype);
    v = hu_header(&r, "Content-Security-Policy");
    CHECK(v != NULL);
    CHECK(strstr(v, "script-src 'self'") != NULL);
    CHECK(strstr(v, "default-src 'none'") != NULL);
    CHECK(strstr(v, "unsafe-inline") == NULL);
    CHECK_STR(hu_header(&r, "Cache-Control"), "no-cache");
    CHECK_STR(hu_header(&r, "X-Content-Type-Options"), "nosniff");
    CHECK(hu_header(&r, "ETag") != NULL);
    CHECK(r.body.len > 0);
    hu_resp_free(&r);
}

TEST(index_and_types)
{
    struct hu_resp r;

    start();
    check_asset("/", "text/html");
    check_asset("/assets/index.html", "text/html");
    check_asset("/assets/app.js", "text/javascript");
    check_asset("/assets/style.css", "text/css");
    check_asset("/assets/favicon.svg", "image/svg+xml");
    req("GET", "/", NULL, &r);
    CHECK(strstr(r.body.p, "<script src=\"/assets/app.js\"") != NULL);
    CHECK(strstr(r.body.p, "href=\"/assets/style.css\"") != NULL);
    /* Nothing inline: no <script> without src, no style attributes. */
    CHECK(strstr(r.body.p, "<script>") == NULL);
    CHECK(strstr(r.body.p, "style=") == NULL);
    hu_resp_free(&r);
    /* HEAD answers the headers only. */
    req("HEAD", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    CHECK(r.body.len == 0);
    hu_resp_free(&r);
    /* The API keeps its own strict policy. */
    req("GET", "/v1/healthz", NULL, &r);
    CHECK_STR(hu_header(&r, "Content-Security-Policy"),
              "default-src 'none'; frame-ancestors 'none'");
    hu_resp_free(&r);
    finish();
}

TEST(etag_304)
{
    struct hu_resp r;
    char etag[128], inm[160];

    start();
    req("GET", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    CHECK(hu_header(&r, "ETag") != NULL);
    snprintf(etag, sizeof(etag), "%s", hu_header(&r, "ETag"));
    CHECK(etag[0] == '"');
    hu_resp_free(&r);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    req("GET", "/assets/app.js", inm, &r);
    CHECK_INT(r.status, ==, 304);
    CHECK(r.body.len == 0);
    CHECK_STR(hu_header(&r, "ETag"), etag);
    hu_resp_free(&r);
    /* Another file's tag does not match. */
    req("GET", "/assets/style.css", inm, &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    req("GET", "/assets/app.js", "If-None-Match: \"0000000000000000\"", &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    finish();
}

TEST(unknown_and_traversal)
{
    static const char *const bad[] = {
        "/assets/nope.js",
        "/assets/",
        "/assets",
        "/assets/app.js/",
        "/assets/app.js/x",
        "/assets/../api/server.c",
        "/assets/..%2fapi%2fserver.c",
        "/assets/%2e%2e/schema.sql",
        "/assets/.gitignore",
        "/assets/..",
        "/assets/APP.JS",
        "/assets//app.js",
        "/index.html",
        "//",
        "/assets/"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        NULL,
    };
    struct hu_resp r;
    size_t i;

    start();
    for (i = 0; bad[i] != NULL; i++) {
        req("GET", bad[i], NULL, &r);
        if (r.status != 404 && r.status != 400)
            check_failed(__FILE__, __LINE__, "GET %s: status %ld, want 404", bad[i], r.status);
        CHECK(r.body.p == NULL || strstr(r.body.p, "tpsd dashboard") == NULL);
        hu_resp_free(&r);
    }
    req("POST", "/", NULL, &r);
    CHECK_INT(r.status, ==, 405);
    hu_resp_free(&r);
    req("DELETE", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 405);
    hu_resp_free(&r);
    finish();
}

/* Every file of api/assets/ is in the table and served byte for byte. */
TEST(every_file_served)
{
    char dir[TU_PATH_MAX], path[TU_PATH_MAX * 2], url[TU_PATH_MAX];
    struct dirent *de;
    struct hu_resp r;
    char *want;
    size_t len;
    int n = 0;
    DIR *d;

    start();
    snprintf(dir, sizeof(dir), "%s", tu_src("api/assets"));
    d = opendir(dir);
    CHECK(d != NULL);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(url, sizeof(url), "/assets/%s", de->d_name);
        CHECK_INT(tu_read_file(path, &want, &len), ==, 0);
        req("GET", url, NULL, &r);
        if (r.status != 200)
            check_failed(__FILE__, __LINE__, "GET %s: status %ld (missing from api/assets.c?)",
                         url, r.status);
        CHECK_INT(r.body.len, ==, len);
        CHECK(memcmp(r.body.p, want, len) == 0);
        free(want);
        hu_resp_free(&r);
        n++;
    }
    closedir(d);
    CHECK_INT(n, >=, 4);
    finish();
}

/* With a token configured, the page and its files need none (they hold no
 * data); everything else still does, and so does any other method. */
TEST(public_with_token)
{
    char path[CONFIG_STR_MAX];
    struct hu_resp r;

    snprintf(path, sizeof(path), "%s/token", tu_tmpdir());
    CHECK_INT(tu_write_file(path, "s3cret\n"), ==, 0);
    CHECK_INT(chmod(path, 0600), ==, 0);
    start_with(path);
    req("GET", "/", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    req("HEAD", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    req("GET", "/assets/nope.js", NULL, &r);
    CHECK_INT(r.status, ==, 404);
    hu_resp_free(&r);
    req("GET", "/v1/jobs", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    hu_resp_free(&r);
    req("GET", "/metrics", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    hu_resp_free(&r);
    req("POST", "/", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    hu_resp_free(&r);
    req("GET", "/assetsx", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    hu_resp_free(&r);
    req("GET", "/v1/jobs", "Authorization: Bearer s3cret", &r);
    CHECK_INT(r.status, ==, 200);
    hu_resp_free(&r);
    finish();
}

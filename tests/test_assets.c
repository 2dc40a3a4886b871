/*
 * test_assets.c - the dashboard's files over real HTTP: GET / and
 * /assets/{name} with their content types, ETags and 304s, the page's own
 * Content-Security-Policy (the API keeps its strict one), 404 for unknown
 * names and every traversal attempt, every file of api/assets/ served byte
 * for byte, and no token needed for them when the API wants one.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "api/api.h"
#include "daemon/config.h"
#include "storage/db.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define T_RESP_MAX (4 * 1024 * 1024)

struct t_buf {
    char *p;
    size_t len;
};

struct t_resp {
    long status;
    struct t_buf body, hdrs;
};

static struct config cfg;
static struct api *api;
static int port;

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
    struct t_buf *b = arg;
    size_t k = sz * n;
    char *q;

    if (b->len + k > T_RESP_MAX)
        return 0;
    q = realloc(b->p, b->len + k + 1);
    if (q == NULL)
        return 0;
    b->p = q;
    memcpy(b->p + b->len, p, k);
    b->len += k;
    b->p[b->len] = '\0';
    return k;
}

/* One request for `path` exactly as given (no normalisation by curl). */
static void
req(const char *method, const char *path, const char *hdr, struct t_resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];

    memset(r, 0, sizeof(*r));
    CHECK(c != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->hdrs);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (hdr != NULL)
        h = curl_slist_append(h, hdr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void
resp_free(struct t_resp *r)
{
    free(r->body.p);
    free(r->hdrs.p);
}

/* The value of response header `name` (static buffer), or NULL. */
static const char *
header(const struct t_resp *r, const char *name)
{
    static char v[512];
    const char *p = r->hdrs.p;
    size_t n = strlen(name), k;

    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            k = strcspn(p, "\r\n");
            if (k >= sizeof(v))
                k = sizeof(v) - 1;
            memcpy(v, p, k);
            v[k] = '\0';
            return v;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* Serve on a free port; with a bearer token file when token_file is set. */
static void
start_with(const char *token_file)
{
    char err[API_ERR_MAX], dbpath[TU_PATH_MAX];
    struct api_opts o;
    struct db *db;

    config_defaults(&cfg);
    cfg.listen_port = 0;
    snprintf(cfg.token_file, sizeof(cfg.token_file), "%s", token_file ? token_file : "");
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    db = db_open(dbpath, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    db_close(db);
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = dbpath;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL)
        check_failed(__FILE__, __LINE__, "api_start: %s", err);
    port = api_port(api);
    CHECK(port > 0);
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
    struct t_resp r;
    const char *v;

    req("GET", path, NULL, &r);
    if (r.status != 200)
        check_failed(__FILE__, __LINE__, "GET %s: status %ld", path, r.status);
    v = header(&r, "Content-Type");
    if (v == NULL || strncmp(v, ctype, strlen(ctype)) != 0)
        check_failed(__FILE__, __LINE__, "GET %s: Content-Type %s, want %s", path,
                     v ? v : "(none)", ctype);
    v = header(&r, "Content-Security-Policy");
    CHECK(v != NULL);
    CHECK(strstr(v, "script-src 'self'") != NULL);
    CHECK(strstr(v, "default-src 'none'") != NULL);
    CHECK(strstr(v, "unsafe-inline") == NULL);
    CHECK_STR(header(&r, "Cache-Control"), "no-cache");
    CHECK_STR(header(&r, "X-Content-Type-Options"), "nosniff");
    CHECK(header(&r, "ETag") != NULL);
    CHECK(r.body.len > 0);
    resp_free(&r);
}

TEST(index_and_types)
{
    struct t_resp r;

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
    resp_free(&r);
    /* HEAD answers the headers only. */
    req("HEAD", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    CHECK(r.body.len == 0);
    resp_free(&r);
    /* The API keeps its own strict policy. */
    req("GET", "/v1/healthz", NULL, &r);
    CHECK_STR(header(&r, "Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
    resp_free(&r);
    finish();
}

TEST(etag_304)
{
    struct t_resp r;
    char etag[128], inm[160];

    start();
    req("GET", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    CHECK(header(&r, "ETag") != NULL);
    snprintf(etag, sizeof(etag), "%s", header(&r, "ETag"));
    CHECK(etag[0] == '"');
    resp_free(&r);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    req("GET", "/assets/app.js", inm, &r);
    CHECK_INT(r.status, ==, 304);
    CHECK(r.body.len == 0);
    CHECK_STR(header(&r, "ETag"), etag);
    resp_free(&r);
    /* Another file's tag does not match. */
    req("GET", "/assets/style.css", inm, &r);
    CHECK_INT(r.status, ==, 200);
    resp_free(&r);
    req("GET", "/assets/app.js", "If-None-Match: \"0000000000000000\"", &r);
    CHECK_INT(r.status, ==, 200);
    resp_free(&r);
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
        "/assets/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        NULL,
    };
    struct t_resp r;
    size_t i;

    start();
    for (i = 0; bad[i] != NULL; i++) {
        req("GET", bad[i], NULL, &r);
        if (r.status != 404 && r.status != 400)
            check_failed(__FILE__, __LINE__, "GET %s: status %ld, want 404", bad[i], r.status);
        CHECK(r.body.p == NULL || strstr(r.body.p, "tpsd dashboard") == NULL);
        resp_free(&r);
    }
    req("POST", "/", NULL, &r);
    CHECK_INT(r.status, ==, 405);
    resp_free(&r);
    req("DELETE", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 405);
    resp_free(&r);
    finish();
}

/* Every file of api/assets/ is in the table and served byte for byte. */
TEST(every_file_served)
{
    char dir[TU_PATH_MAX], path[TU_PATH_MAX * 2], url[TU_PATH_MAX];
    struct dirent *de;
    struct t_resp r;
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
        resp_free(&r);
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
    struct t_resp r;

    snprintf(path, sizeof(path), "%s/token", tu_tmpdir());
    CHECK_INT(tu_write_file(path, "s3cret\n"), ==, 0);
    CHECK_INT(chmod(path, 0600), ==, 0);
    start_with(path);
    req("GET", "/", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    resp_free(&r);
    req("HEAD", "/assets/app.js", NULL, &r);
    CHECK_INT(r.status, ==, 200);
    resp_free(&r);
    req("GET", "/assets/nope.js", NULL, &r);
    CHECK_INT(r.status, ==, 404);
    resp_free(&r);
    req("GET", "/v1/jobs", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    req("GET", "/metrics", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    req("POST", "/", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    req("GET", "/assetsx", NULL, &r);
    CHECK_INT(r.status, ==, 401);
    resp_free(&r);
    req("GET", "/v1/jobs", "Authorization: Bearer s3cret", &r);
    CHECK_INT(r.status, ==, 200);
    resp_free(&r);
    finish();
}

/*
 * assets.c - the dashboard's files: GET / (index.html) and GET
 * /assets/{name}, answered from the files of api/assets/ that the build
 * embeds (cmake/embed.cmake). Only the names in the table below are served:
 * nothing reads the file system, so no path can escape. Every answer has a
 * strong ETag (SHA-256 of the content, computed once) with Cache-Control
 * no-cache, so a reload costs a 304; the page gets its own
 * Content-Security-Policy (scripts, styles and fetches from this origin
 * only, nothing inline). They are the only thing served without the bearer
 * token when one is configured: the page asks for it and sends it.
 */
#include "api/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ASSET_ETAG_MAX 24 /* "\"" + 16 hex + "\"" + NUL, rounded up */

/* The page's policy: its own scripts, styles, images and API, nothing
 * inline, no frames, no forms posting anywhere. */
#define ASSET_CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"                 \
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

#define ASSET(file, sym, ctype)                                                                \
    {                                                                                          \
        file, tpsd_asset_##sym, &tpsd_asset_##sym##_len, ctype                                 \
    }
#define ASSET_DECL(sym)                                                                        \
    extern const char tpsd_asset_##sym[];                                                      \
    extern const unsigned long tpsd_asset_##sym##_len

ASSET_DECL(index_html);
ASSET_DECL(app_js);
ASSET_DECL(style_css);
ASSET_DECL(favicon_svg);

struct asset {
    const char *name;
    const char *data;
    const unsigned long *len;
    const char *ctype;
};

static const struct asset assets[] = {
    ASSET("index.html", index_html, "text/html; charset=utf-8"),
    ASSET("app.js", app_js, "text/javascript; charset=utf-8"),
    ASSET("style.css", style_css, "text/css; charset=utf-8"),
    ASSET("favicon.svg", favicon_svg, "image/svg+xml"),
};
#define NASSETS (sizeof(assets) / sizeof(assets[0]))

static char etags[NASSETS][ASSET_ETAG_MAX];
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void
etags_init(void)
{
    char hex[2 * API_SHA256_LEN + 1];
    size_t i;

    for (i = 0; i < NASSETS; i++) {
        api_sha256_hex(assets[i].data, (size_t)*assets[i].len, hex);
        snprintf(etags[i], sizeof(etags[i]), "\"%.16s\"", hex);
    }
}

/* 1 when the request's If-None-Match names `etag` (or is "*"). */
static int
not_modified(struct api_req *r, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");

    return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

static enum MHD_Result
reply_asset(struct api_req *r, size_t i)
{
    const struct asset *a = &assets[i];
    struct MHD_Response *resp;
    enum MHD_Result rc;
    unsigned status = 200;

    pthread_once(&etags_once, etags_init);
    if (not_modified(r, etags[i])) {
        status = 304;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer((size_t)*a->len, (void *)a->data,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (resp == NULL)
        return MHD_NO;
    if (status == 200)
        MHD_add_response_header(resp, "Content-Type", a->ctype);
    MHD_add_response_header(resp, "ETag", etags[i]);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", ASSET_CSP);
    api_add_common_headers(r, resp);
    api_count_status(r->api, status);
    rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return rc;
}

int
api_is_public(const struct api_req *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
        return 0;
    return strcmp(r->url, "/") == 0 || strncmp(r->url, "/assets/", 8) == 0;
}

enum MHD_Result
api_h_index(struct api_req *r)
{
    return reply_asset(r, 0);
}

enum MHD_Result
api_h_asset(struct api_req *r)
{
    size_t i;

    for (i = 0; i < NASSETS; i++) {
        if (strcmp(r->name, assets[i].name) == 0)
            return reply_asset(r, i);
    }
    return api_reply_error(r, 404, "not_found", "no such asset");
}

/*
 * httputil.h - the one HTTP client of the tests: a request with libcurl
 * whose answer (status, body and header block) lands in a struct hu_resp.
 * testutil's tu_http, daemonutil's du_call and the API tests' own request
 * helpers all go through hu_request; hu_api_start serves the API in the
 * test's own process.
 *
 * Functions never abort the test unless said; the tests decide what a
 * failure means.
 */
#ifndef TPSD_HTTPUTIL_H
#define TPSD_HTTPUTIL_H

#include <jansson.h>
#include <stddef.h>

#define HU_BODY_MAX_DEFAULT (256 * 1024 * 1024) /* a body kept when opts say 0 */
#define HU_HEADER_MAX 512                       /* hu_header's value */

/* What arrived so far: NUL-terminated text (NULL when nothing did). */
struct hu_buf {
    char *p;
    size_t len;
    size_t max;               /* refuse (end the transfer) past this many bytes */
    size_t stop_after_events; /* body: hang up after this many complete SSE events */
};

/* One answer. Free with hu_resp_free. */
struct hu_resp {
    long status;        /* 0 when no HTTP answer arrived */
    struct hu_buf body; /* the body received, even partial */
    struct hu_buf hdrs; /* the header block, raw */
};

/* How to send one request; zeroed fields are the defaults. */
struct hu_opts {
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *body;           /* sent as is; NULL for none */
    int json_body;              /* add Content-Type: application/json (with a body) */
    size_t chunked_len;         /* > 0: send that many bytes chunked ("[" then spaces) */
    size_t stop_after_events;   /* > 0: hang up after that many "id:" events */
    int path_as_is;             /* no normalisation of the path by curl */
    long timeout_s;             /* 0: 60 s */
    size_t body_max;            /* 0: HU_BODY_MAX_DEFAULT */
};

/*
 * Send `method` to `url` as `o` says (o may be NULL) and fill *r (free with
 * hu_resp_free, whatever the result). Returns 0 when the transfer completed,
 * -1 on a transport error or a transfer this side ended (too large, enough
 * events): r->status and the partial body still tell what arrived.
 */
int hu_request(const char *method, const char *url, const struct hu_opts *o, struct hu_resp *r);

/* Free what *r holds and empty it. */
void hu_resp_free(struct hu_resp *r);

/* The value of response header `name` (case-insensitive; the first one), in
 * a static buffer valid until the next call, or NULL. */
const char *hu_header(const struct hu_resp *r, const char *name);

/* The body as JSON (a new reference). Fails the test (check_failed) when it
 * is not JSON. */
json_t *hu_body_json(const struct hu_resp *r);

struct api;
struct config;

/*
 * Serve the API (api/api.h) with cfg on a free port (cfg->listen_port is
 * set to 0) over the database at db_path, created and migrated first when
 * create_db. Returns the server (stop with api_stop) and its port in
 * *port. Fails the test (check_failed) when the database or the server
 * does not start.
 */
struct api *hu_api_start(struct config *cfg, const char *db_path, int create_db, int *port);

#endif

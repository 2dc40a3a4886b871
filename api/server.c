/*
 * server.c - the libmicrohttpd daemon: start and stop, per-request state
 * (allocated on the first call, body accumulated under a hard cap in the
 * middle calls, answered on the last, freed in the completion callback),
 * the security checks every request passes, and the reply helpers.
 *
 * One libmicrohttpd thread (MHD_USE_AUTO_INTERNAL_THREAD, no thread pool)
 * does all the socket I/O. Once a request is in, on_request asks the route
 * table for its lane: the page, its files and error answers are answered
 * right there; a request that reads the database is handed to pool.c (the
 * connection suspended, the reply kept in the request by api_queue) and
 * queued here when libmicrohttpd calls back after the resume. A slow
 * request so holds a lane thread, never the thread other connections need.
 */
#include "api/internal.h"

#include "common/clock.h"
#include "common/fd.h"
#include "daemon/heap.h"
#include "daemon/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define API_BODY_CHUNK 4096 /* first allocation of a body buffer */
#define API_MSG_MAX 512     /* bytes of an error message */

/* ---- per-thread database connections ---- */

static void
db_key_destroy(void *p)
{
    db_close(p);
}

struct db *
api_db(struct api *a)
{
    struct db *db = pthread_getspecific(a->db_key);
    char err[DB_ERR_MAX];

    if (db != NULL)
        return db;
    db = db_open(a->db_path, err, sizeof(err));
    if (db == NULL) {
        log_warnx("api: database unavailable: %s", err);
        return NULL;
    }
    /* On a lane thread, a page cache that holds a trends query's pages
     * (SQLite's default of 2 MB does not: each request read them again,
     * one pread(2) a page). Filled only as pages are read; dropped when the
     * database changes, and with the connection when the thread ends idle
     * (pool.c). The I/O thread's connection (event streams) keeps the
     * default. */
    if (api_on_lane_thread())
        db_exec(db, "PRAGMA cache_size = -" API_DB_CACHE_KIB);
    if (pthread_setspecific(a->db_key, db) != 0) {
        db_close(db);
        return NULL;
    }
    return db;
}

/* Drop the thread's connection so that the next request reopens it. */
static void
db_drop(struct api *a)
{
    struct db *db = pthread_getspecific(a->db_key);

    pthread_setspecific(a->db_key, NULL);
    db_close(db);
}

/* ---- small helpers ---- */

int
api_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v = 0;
    int d;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

const char *
api_query(struct api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void
api_count_status(struct api *a, unsigned status)
{
    if (status >= API_STATUS_MIN && status < API_STATUS_MIN + API_STATUS_SPAN)
        atomic_fetch_add(&a->errors[status - API_STATUS_MIN], 1);
}

/* The allowed origin of this request, or NULL (no CORS headers then). */
static const char *
cors_origin(struct api_req *r)
{
    const char *o = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    int i;

    if (o == NULL)
        return NULL;
    for (i = 0; i < r->api->norigins; i++) {
        if (strcmp(o, r->api->origins[i]) == 0)
            return r->api->origins[i];
    }
    return NULL;
}

void
api_add_common_headers(struct api_req *r, struct MHD_Response *resp)
{
    const char *origin = cors_origin(r);

    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (MHD_get_response_header(resp, "Content-Security-Policy") == NULL)
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; frame-ancestors 'none'");
    if (MHD_get_response_header(resp, "Cache-Control") == NULL)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->api->norigins > 0)
        MHD_add_response_header(resp, "Vary", "Origin");
    if (origin != NULL) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "Location, Idempotency-Replayed, WWW-Authenticate");
    }
}

enum MHD_Result
api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result rc;

    if (resp == NULL)
        return MHD_NO;
    api_add_common_headers(r, resp);
    api_count_status(r->api, status);
    r->answered = 1;
    if (r->deferred) { /* on a lane thread: on_request queues it */
        if (r->resp != NULL)
            MHD_destroy_response(r->resp);
        r->resp = resp;
        r->status = status;
        return MHD_YES;
    }
    rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result
api_reply_text(struct api_req *r, unsigned status, const char *ctype, const char *text,
               size_t len)
{
    struct MHD_Response *resp;

    resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    return api_queue(r, status, resp);
}

enum MHD_Result
api_reply_text_h(struct api_req *r, unsigned status, const char *ctype, char *text, size_t len,
                 const char *const *hdrs)
{
    struct MHD_Response *resp;
    size_t i;

    resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    for (i = 0; hdrs != NULL && hdrs[i] != NULL && hdrs[i + 1] != NULL; i += 2)
        MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
    return api_queue(r, status, resp);
}

enum MHD_Result
api_reply_json_h(struct api_req *r, unsigned status, json_t *body, const char *const *hdrs)
{
    struct MHD_Response *resp;
    char *text = NULL;
    size_t i;

    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        if (text == NULL)
            return MHD_NO;
    }
    resp =
        MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (void *)"",
                                        text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    if (text != NULL)
        MHD_add_response_header(resp, "Content-Type", "application/json");
    for (i = 0; hdrs != NULL && hdrs[i] != NULL && hdrs[i + 1] != NULL; i += 2)
        MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
    return api_queue(r, status, resp);
}

enum MHD_Result
api_reply_json(struct api_req *r, unsigned status, json_t *body)
{
    return api_reply_json_h(r, status, body, NULL);
}

/* An error reply with extra headers (name, value pairs, NULL-terminated). */
static enum MHD_Result
reply_error_h(struct api_req *r, unsigned status, const char *code, const char *msg,
              const char *const *hdrs)
{
    json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);

    if (body == NULL)
        return MHD_NO;
    return api_reply_json_h(r, status, body, hdrs);
}

enum MHD_Result
api_reply_error(struct api_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[API_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_error_h(r, status, code, msg, NULL);
}

enum MHD_Result
api_reply_error_close(struct api_req *r, unsigned status, const char *code,
                      unsigned retry_after, const char *fmt, ...)
{
    char msg[API_MSG_MAX], secs[16];
    const char *hdrs[5] = {"Connection", "close", NULL, NULL, NULL};
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (retry_after > 0) {
        snprintf(secs, sizeof(secs), "%u", retry_after);
        hdrs[2] = "Retry-After";
        hdrs[3] = secs;
    }
    return reply_error_h(r, status, code, msg, hdrs);
}

enum MHD_Result
api_reply_lookup(struct api_req *r, struct db *db, int rc, const char *what)
{
    if (rc == -1)
        return api_reply_db_error(r, db);
    return api_reply_error(r, 404, "not_found", "no %s %lld", what, (long long)r->ids[0]);
}

enum MHD_Result
api_reply_db_error(struct api_req *r, struct db *db)
{
    static const char *const retry[] = {"Retry-After", "5", NULL};
    int code = db != NULL && db->h != NULL ? db_errcode(db) : SQLITE_CANTOPEN;
    char msg[DB_ERR_MAX + 32], q[LOG_QUOTE_MAX];

    snprintf(msg, sizeof(msg), "database: %s", db != NULL ? db->err : "unavailable");
    log_warnx("api: %s method=%s url=\"%s\"", msg, r->method, log_quote(q, sizeof(q), r->url));
    if (db == NULL || code == SQLITE_FULL || code == SQLITE_IOERR || code == SQLITE_BUSY ||
        code == SQLITE_LOCKED || code == SQLITE_CANTOPEN || code == SQLITE_READONLY ||
        code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
        if (code != SQLITE_BUSY && code != SQLITE_LOCKED) {
            struct timespec ts;

            clock_gettime(CLOCK_MONOTONIC, &ts);
            atomic_store(&r->api->db_failed_s, (long long)ts.tv_sec + 1);
        }
        if (db != NULL)
            db_drop(r->api);
        return reply_error_h(r, 503, "db_unavailable", msg, retry);
    }
    return reply_error_h(r, 500, "internal", msg, NULL);
}

/* ---- request life cycle ---- */

/* Content-Length headers seen so far, for content_length_conflict. */
struct cl_scan {
    const char *first;
    int conflict;
};

static enum MHD_Result
cl_seen(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct cl_scan *sc = cls;

    (void)kind;
    if (key == NULL || strcasecmp(key, "Content-Length") != 0)
        return MHD_YES;
    if (sc->first == NULL)
        sc->first = value != NULL ? value : "";
    else if (strcmp(sc->first, value != NULL ? value : "") != 0)
        sc->conflict = 1;
    return MHD_YES;
}

/* 1 when the request carries Content-Length headers that disagree
 * (libmicrohttpd frames the body by the first one; a proxy in front may use
 * another: request smuggling). Repeated equal values are accepted, as RFC
 * 9110 section 8.6 allows. */
static int
content_length_conflict(struct api_req *r)
{
    struct cl_scan sc = {NULL, 0};

    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, cl_seen, &sc);
    return sc.conflict;
}

/* The checks every request passes before its body is read: framing (an
 * encoded NUL, conflicting Content-Length headers), Host, token,
 * declared body size. Returns 1 when the request may go on, 0 when an
 * answer was queued (*rc holds libmicrohttpd's result). */
static int
admit(struct api_req *r, enum MHD_Result *rc)
{
    static const char *const www[] = {"WWW-Authenticate", "Bearer realm=\"tpsd\"", NULL};
    static const char *const www_bad[] = {
        "WWW-Authenticate", "Bearer realm=\"tpsd\", error=\"invalid_token\"", NULL};
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    const char *auth, *cl;
    int64_t n;

    if (r->nul_escape) {
        *rc = api_reply_error_close(r, 400, "bad_request", 0,
                                    "the path or query holds an encoded NUL (%%00)");
        return 0;
    }
    if (content_length_conflict(r)) {
        *rc = api_reply_error_close(r, 400, "bad_request", 0,
                                    "conflicting Content-Length headers");
        return 0;
    }
    if (!api_host_ok(r->api, host)) {
        *rc = api_reply_error(r, 421, "host_not_allowed",
                              "Host must name this server (localhost:%d)", r->api->port);
        return 0;
    }
    /* CORS preflights carry no credentials; nor does a browser opening the
     * dashboard, whose files hold no data (the page then sends the token). */
    if (r->api->have_token && strcmp(r->method, "OPTIONS") != 0 && !api_is_public(r)) {
        auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
        if (auth == NULL) {
            *rc = reply_error_h(r, 401, "unauthorized", "missing bearer token", www);
            return 0;
        }
        if (!api_token_ok(r->api, auth)) {
            *rc = reply_error_h(r, 401, "unauthorized", "invalid bearer token", www_bad);
            return 0;
        }
    }
    cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL &&
        (api_parse_i64(cl, 0, INT64_MAX, &n) == -1 || (uint64_t)n > r->api->max_body)) {
        *rc = api_reply_error(r, 413, "body_too_large", "request body over %zu bytes",
                              r->api->max_body);
        return 0;
    }
    return 1;
}

/* Append upload data to the body, under the cap. 0, or -1 to close the
 * connection (a stream that goes on far past the cap). */
static int
take_body(struct api_req *r, const char *data, size_t n)
{
    size_t want;
    char *p;

    if (r->too_large || n > r->api->max_body - r->len) {
        r->too_large = 1;
        r->discarded += n;
        return r->discarded > API_DISCARD_MAX ? -1 : 0;
    }
    if (r->len + n + 1 > r->cap) {
        want = r->cap ? r->cap : API_BODY_CHUNK;
        while (want < r->len + n + 1)
            want *= 2;
        if (want > r->api->max_body + 1)
            want = r->api->max_body + 1;
        p = realloc(r->body, want);
        if (p == NULL)
            return -1;
        r->body = p;
        r->cap = want;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return 0;
}

/* The query (decoded, "?k=v&k2=v2") after the path in buf, for the access
 * log; cut when it does not fit. */
struct query_text {
    char *buf;
    size_t cap, len;
    int args; /* appended so far */
};

static enum MHD_Result
query_append(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct query_text *qt = cls;
    int n;

    (void)kind;
    if (qt->len >= qt->cap)
        return MHD_NO;
    n = snprintf(qt->buf + qt->len, qt->cap - qt->len, "%s%s%s%s", qt->args++ > 0 ? "&" : "?",
                 key, value != NULL ? "=" : "", value != NULL ? value : "");
    qt->len = n < 0 ? qt->cap : qt->len + (size_t)n;
    return qt->len < qt->cap ? MHD_YES : MHD_NO;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
    struct api *a = cls;
    struct api_req *r = *con_cls;
    enum MHD_Result rc = MHD_YES;
    enum api_lane lane;

    if (r == NULL) /* on_uri could not allocate */
        return MHD_NO;
    if (r->deferred) {
        /* Resumed: a lane thread ran the handler (pool.c). No reply kept
         * means the handler failed: close the connection. */
        struct MHD_Response *resp = r->resp;

        r->resp = NULL;
        r->deferred = 0;
        if (resp == NULL)
            return MHD_NO;
        rc = MHD_queue_response(conn, r->status, resp);
        MHD_destroy_response(resp);
        return rc;
    }
    if (!r->started) {
        r->started = 1;
        r->deadline_ns = api_guard_deadline(a, conn);
        if (log_enabled(LOG_DEBUG)) { /* for the access log */
            char full[sizeof(r->what)], q[sizeof(r->what)];
            struct query_text qt = {full, sizeof(full), 0, 0};

            r->t0_ns = clock_mono_ns();
            qt.len = (size_t)snprintf(full, sizeof(full), "%s", url);
            if (qt.len < sizeof(full))
                MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_append, &qt);
            snprintf(r->what, sizeof(r->what), "method=%s url=\"%s\"", method,
                     log_quote(q, sizeof(q), full));
        }
        r->conn = conn;
        r->method = method;
        r->url = url;
        if (!admit(r, &rc)) {
            api_guard_answering(a, conn);
            return rc;
        }
        return MHD_YES;
    }
    /* A body trickled in cannot outlast the request's deadline (the guard's
     * sweeper covers the headers and a silent body). */
    if (*upload_data_size > 0 && r->deadline_ns > 0 && clock_mono_ns() > r->deadline_ns)
        return MHD_NO;
    if (r->answered) {
        /* An early answer was queued; drop whatever body still arrives. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (take_body(r, upload_data, *upload_data_size) == -1)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The request is in: from here on it is answered, not received. */
    api_guard_answering(a, conn);
    if (r->too_large)
        return api_reply_error(r, 413, "body_too_large", "request body over %zu bytes",
                               a->max_body);
    lane = api_route_lane(r);
    if (lane != API_LANE_INLINE && api_pool_submit(a, r, lane) == 0)
        return MHD_YES; /* resumed once a lane thread has answered */
    rc = api_dispatch(r);
    if (r->t0_ns > 0)
        r->t1_ns = clock_mono_ns();
    return rc;
}

/*
 * libmicrohttpd's URI log callback: called once the request line is in,
 * before the path and query are decoded. The request's state is allocated
 * here (libmicrohttpd hands the result to on_request as *con_cls), and the
 * raw target is checked for an encoded NUL, which decoding would turn into
 * the end of the string: /v1/jobs/1%00 would read as /v1/jobs/1.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api_req *r = calloc(1, sizeof(*r));

    (void)conn;
    if (r == NULL)
        return NULL;
    r->api = cls;
    r->nul_escape = uri != NULL && strstr(uri, "%00") != NULL;
    return r;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct api *a = cls;
    struct api_req *r = *con_cls;

    /* Kept alive: the next request runs against a deadline of its own. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        api_guard_next_request(a, conn);
    if (r == NULL)
        return;
    /* The access log, at debug level: time in the handler and until the
     * answer was sent (or the connection ended). */
    if (r->t0_ns > 0)
        log_debug("api: %s handler_ms=%.1f sent_ms=%.1f%s", r->what,
                  r->t1_ns > 0 ? (double)(r->t1_ns - r->t0_ns) / 1e6 : 0.0,
                  (double)(clock_mono_ns() - r->t0_ns) / 1e6,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " completed=no");
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void __attribute__((format(printf, 2, 0)))
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[API_MSG_MAX];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_warnx("libmicrohttpd: %s", msg);
}

/* ---- start and stop ---- */

/* Parse the comma-separated origins into a->origins. 0 or -1 with err. */
static int
parse_origins(struct api *a, const char *list, char *err, size_t errlen)
{
    const char *p = list, *end;
    size_t n;

    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        end = p;
        while (*end != '\0' && *end != ',' && *end != ' ')
            end++;
        n = (size_t)(end - p);
        if (n == 1 && *p == '*') {
            snprintf(err, errlen, "cors_origins: \"*\" is not allowed; list the origins");
            return -1;
        }
        if (a->norigins == API_CORS_MAX || n >= API_ORIGIN_MAX) {
            snprintf(err, errlen, "cors_origins: at most %d origins of %d bytes", API_CORS_MAX,
                     API_ORIGIN_MAX - 1);
            return -1;
        }
        memcpy(a->origins[a->norigins], p, n);
        a->origins[a->norigins][n] = '\0';
        a->norigins++;
        p = end;
    }
    return 0;
}

/* Resolve the listen address into ss. *loopback and *wildcard say what it
 * is. 0 or -1 with err. */
static int
listen_sockaddr(const char *addr, int port, struct sockaddr_storage *ss, int *loopback,
                int *wildcard, int *v6, char *err, size_t errlen)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    char host[256];
    size_t n = strlen(addr);

    memset(ss, 0, sizeof(*ss));
    if (n >= sizeof(host)) {
        snprintf(err, errlen, "listen_addr: too long");
        return -1;
    }
    if (addr[0] == '[' && n > 2 && addr[n - 1] == ']') {
        memcpy(host, addr + 1, n - 2);
        host[n - 2] = '\0';
    } else {
        snprintf(host, sizeof(host), "%s",
                 strcasecmp(addr, "localhost") == 0 ? "127.0.0.1" : addr);
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
#ifdef __APPLE__
        in4->sin_len = sizeof(*in4);
#endif
        *loopback = (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
        *wildcard = in4->sin_addr.s_addr == htonl(INADDR_ANY);
        *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
#ifdef __APPLE__
        in6->sin6_len = sizeof(*in6);
#endif
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
        *wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
        *v6 = 1;
        return 0;
    }
    snprintf(err, errlen, "listen_addr: \"%s\" is not a numeric IPv4 or IPv6 address", addr);
    return -1;
}

/*
 * The listening socket, bound here rather than by libmicrohttpd so that the
 * port (chosen by the kernel for port 0) is known before the first request
 * is admitted: the Host check compares against it. Close-on-exec (tpsd
 * spawns lms), non-blocking (libmicrohttpd polls it). The fd, or
 * -1 with err.
 */
static int
listen_socket(const struct sockaddr_storage *ss, int v6, int *port, char *err, size_t errlen)
{
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    struct sockaddr_storage got;
    int fd, on = 1;

    fd = socket(ss->ss_family, SOCK_STREAM, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (fd_cloexec(fd) == -1 || fd_nonblock(fd, 1) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
        (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
        snprintf(err, errlen, "socket options: %s", strerror(errno));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)ss, len) == -1 || listen(fd, SOMAXCONN) == -1) {
        snprintf(err, errlen, "%s", strerror(errno));
        goto fail;
    }
    len = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &len) == -1) {
        snprintf(err, errlen, "getsockname: %s", strerror(errno));
        goto fail;
    }
    *port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                            : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
fail:
    close(fd);
    return -1;
}

/* The connection limits of `a` from the configuration: the total, per
 * address and the timeout into the out-parameters, the stream cap into
 * a->sse_max; starts the connection guard. 0 or -1. */
static int
connection_budget(struct api *a, const struct config *c, int loopback, unsigned *conns,
                  unsigned *per_ip, unsigned *timeout_s)
{
    *conns = c->max_connections > 0 ? (unsigned)c->max_connections : 256;
    if (*conns < API_CONN_MIN)
        *conns = API_CONN_MIN;
    *timeout_s = c->connection_timeout_s > 0 ? (unsigned)c->connection_timeout_s : 30;
    /*
     * The connection budget. At most half the connections may still be
     * receiving a request (slow or silent clients: the guard pushes out the
     * oldest beyond that) and at most a quarter may hold event streams, so a
     * quarter or more is always left for short requests being answered.
     * The whole request (headers and body) must arrive within the
     * connection timeout, however it trickles in.
     */
    a->sse_max = (int)(*conns / 4 < API_SSE_MAX ? *conns / 4 : API_SSE_MAX);
    if (api_guard_init(a, *conns / 2, *timeout_s) == -1)
        return -1;
    /*
     * The per-address limit. Bound to a wildcard or a LAN address, one
     * address (loopback included) may hold at most three quarters of the
     * connections. Bound to loopback, every client has the same address, so
     * a per-address limit would only be a lower total limit: the caps above
     * (receiving, streams), which do not depend on the address, keep the
     * reserve there.
     */
    *per_ip = loopback ? *conns : (*conns * 3 + 3) / 4;
    return 0;
}

struct api *
api_start(const struct api_opts *o, char *err, size_t errlen)
{
    const struct config *c = o->cfg;
    struct sockaddr_storage ss;
    char why[256];
    struct api *a;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    unsigned conns, per_ip, timeout_s;
    int loopback, wildcard, v6, fd;

    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&a->sse_mu, NULL);
    pthread_cond_init(&a->sse_cv, NULL);
    snprintf(a->suites_dir, sizeof(a->suites_dir), "%s", c->suites_dir);
    pthread_mutex_init(&a->guard_mu, NULL);
    pthread_cond_init(&a->guard_cv, NULL);
    api_pool_init(a);
    heap_setup();
    if (o->db_path == NULL || strlen(o->db_path) >= sizeof(a->db_path)) {
        snprintf(err, errlen, "database path missing or too long");
        goto fail;
    }
    snprintf(a->db_path, sizeof(a->db_path), "%s", o->db_path);
    if (strlen(c->listen_addr) >= sizeof(a->listen_addr)) {
        snprintf(err, errlen, "listen_addr: too long");
        goto fail;
    }
    memcpy(a->listen_addr, c->listen_addr, strlen(c->listen_addr) + 1);
    a->max_body = c->max_body_bytes > 0 ? (size_t)c->max_body_bytes : 1024 * 1024;
    a->worker = o->worker;
    a->worker_notify = o->worker_notify;
    a->worker_alive = o->worker_alive;
    a->worker_cancel = o->worker_cancel;
    if (listen_sockaddr(c->listen_addr, c->listen_port, &ss, &loopback, &wildcard, &v6, err,
                        errlen) == -1)
        goto fail;
    /* Host checks compare against the address without brackets. */
    if (a->listen_addr[0] == '[') {
        size_t n = strlen(a->listen_addr);
        memmove(a->listen_addr, a->listen_addr + 1, n - 2);
        a->listen_addr[n - 2] = '\0';
    }
    a->any_host = wildcard;
    if (parse_origins(a, c->cors_origins, err, errlen) == -1)
        goto fail;
    if (c->token_file[0] != '\0' && api_token_load(a, c->token_file, err, errlen) == -1)
        goto fail;
    if (!loopback && !a->have_token) {
        snprintf(err, errlen, "listen_addr %s is not loopback: set token_file first",
                 c->listen_addr);
        goto fail;
    }
    if (pthread_key_create(&a->db_key, db_key_destroy) != 0) {
        snprintf(err, errlen, "pthread_key_create failed");
        goto fail;
    }
    a->db_key_ok = 1;
    if (api_sse_init(a) == -1) {
        snprintf(err, errlen, "cannot start the event-stream thread");
        goto fail;
    }
    if (connection_budget(a, c, loopback, &conns, &per_ip, &timeout_s) == -1) {
        snprintf(err, errlen, "cannot start the connection guard thread");
        goto fail;
    }
    if (v6)
        flags |= MHD_USE_IPv6;
    fd = listen_socket(&ss, v6, &a->port, why, sizeof(why));
    if (fd == -1) {
        snprintf(err, errlen, "cannot listen on %s port %d: %s", c->listen_addr, c->listen_port,
                 why);
        goto fail;
    }
    a->mhd = MHD_start_daemon(
        flags, (uint16_t)a->port, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)API_LANE_STACK, /* event streams query */
        MHD_OPTION_CONNECTION_LIMIT, conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)API_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
        MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, a, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a, MHD_OPTION_END);
    if (a->mhd == NULL) {
        snprintf(err, errlen, "cannot serve on %s port %d: %s", c->listen_addr, a->port,
                 errno ? strerror(errno) : "libmicrohttpd failed");
        if (fcntl(fd, F_GETFD) != -1) /* some versions close it on failure */
            close(fd);
        goto fail;
    }
    /* Start-up (migrations, the schema parsed) freed what an idle daemon
     * never uses again: hand it back now, not after the first burst. */
    heap_trim();
    return a;
fail:
    api_stop(a);
    return NULL;
}

int
api_port(const struct api *a)
{
    return a->port;
}

int
api_thread_start(pthread_t *t, int *started, size_t stack, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -1;
    *started = 1;
    return 0;
}

void
api_stop(struct api *a)
{
    if (a == NULL)
        return;
    api_sse_shutdown(a);
    /* Before libmicrohttpd: the requests on lane threads hold suspended
     * connections, which it cannot close while they are. */
    api_pool_stop(a);
    if (a->mhd != NULL)
        MHD_stop_daemon(a->mhd);
    api_guard_shutdown(a);
    api_pool_destroy(a);
    if (a->db_key_ok)
        pthread_key_delete(a->db_key);
    pthread_cond_destroy(&a->sse_cv);
    pthread_mutex_destroy(&a->sse_mu);
    pthread_cond_destroy(&a->guard_cv);
    pthread_mutex_destroy(&a->guard_mu);
    memset(a->token_sha, 0, sizeof(a->token_sha));
    free(a);
}

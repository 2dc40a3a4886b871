/*
 * internal.h - what the files of api/ share: the server state, one
 * request's state, the reply helpers and the handlers. Not for use outside
 * api/.
 */
#ifndef TPSD_API_INTERNAL_H
#define TPSD_API_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "storage/db.h"

/* The request pool (pool.c): one libmicrohttpd thread does the I/O; the
 * handlers run on lane threads, started when needed and ended when idle. */
#define API_LIGHT_THREADS 4          /* job and run reads, submission, health */
#define API_HEAVY_THREADS 2          /* history reads (one per core here) */
#define API_LANE_THREADS_MAX 4       /* the larger of the two */
#define API_LANE_STACK (512 * 1024)  /* stack of a lane or the I/O thread (SQLite, jansson) */
#define API_SMALL_STACK (256 * 1024) /* stack of the ticker and the sweeper */
#define API_CONN_MIN 8               /* smallest connection limit accepted */
#define API_DB_CACHE_KIB "16384"     /* page cache of a lane thread's connection */
#define API_CORS_MAX 16              /* configured origins */
#define API_ORIGIN_MAX 256           /* bytes of one origin */
#define API_HOST_MAX 256             /* bytes of a Host header we look at */
#define API_TOKEN_MAX 4096           /* bytes of the bearer token file */
#define API_SHA256_LEN 32
#define API_IDEM_KEY_MAX 255 /* bytes of an Idempotency-Key */
#define API_IDS_MAX 2        /* {id} segments in one route */
#define API_NAME_MAX 64      /* bytes of a {name} segment (asset names) */
#define API_SSE_MAX                                                                            \
    64                                /* concurrent event streams (at most a quarter of the    \
                                       * connection limit, see api_start) */
#define API_DISCARD_MAX (1024 * 1024) /* body bytes read past the cap before closing */
#define API_MEMORY_LIMIT (128 * 1024) /* libmicrohttpd per-connection buffer */
#define API_STATUS_MIN 400            /* error counters cover 400..599 */
#define API_STATUS_SPAN 200

struct api_sse;
struct api_conn;
struct api_req;

/* The lanes of the request pool; INLINE: answered on libmicrohttpd's thread. */
enum api_lane { API_LANE_INLINE = -1, API_LANE_LIGHT = 0, API_LANE_HEAVY = 1, API_LANES = 2 };

/* One lane: its queue and its threads (under the api's pool_mu). */
struct api_lane_q {
    pthread_cond_t cv;           /* work queued, or stopping */
    struct api_req *head, *tail; /* queued requests, oldest first */
    int queued;                  /* requests in the queue */
    int nidle;                   /* threads waiting for work */
    int nthreads;                /* threads started and not ended */
    int max;                     /* at most this many threads */
    /* Twice the threads: a thread that is ending (closing its database)
     * keeps its slot until it is gone, and a new one may start meanwhile. */
    pthread_t th[2 * API_LANE_THREADS_MAX];
    int state[2 * API_LANE_THREADS_MAX]; /* free, running, ended (not joined) */
};

struct api {
    struct MHD_Daemon *mhd;
    int port;
    char db_path[1024];
    char suites_dir[1024]; /* config suites_dir: jobs may name its files */
    char listen_addr[256];
    int any_host; /* bound to a wildcard: any Host (token required) */
    int have_token;
    unsigned char token_sha[API_SHA256_LEN];
    char origins[API_CORS_MAX][API_ORIGIN_MAX];
    int norigins;
    size_t max_body;
    struct worker *worker;
    void (*worker_notify)(struct worker *w);
    int (*worker_alive)(struct worker *w);
    void (*worker_cancel)(struct worker *w, long long job_id);
    pthread_key_t db_key; /* each pool thread's struct db * */
    int db_key_ok;
    atomic_ulong errors[API_STATUS_SPAN]; /* responses by status 400..599 */
    /* CLOCK_MONOTONIC seconds of the last request the database refused for
     * lack of space, an I/O error or a read-only file (0: none since the
     * last successful write): /v1/healthz reports it. */
    atomic_llong db_failed_s;
    /* Event streams: suspended connections, resumed by the ticker thread. */
    pthread_mutex_t sse_mu;
    pthread_cond_t sse_cv;
    pthread_t ticker;
    int ticker_started;
    int stopping;                        /* under sse_mu */
    int nstreams;                        /* under sse_mu */
    struct api_sse *parked[API_SSE_MAX]; /* under sse_mu */
    int nparked;
    int sse_max; /* streams allowed, <= API_SSE_MAX */
    /* The connection guard (guard.c): connections still receiving a
     * request, oldest first, and the sweeper that cuts them at their
     * deadline. */
    pthread_mutex_t guard_mu;
    pthread_cond_t guard_cv;
    pthread_t sweeper;
    int sweeper_started;
    int guard_stopping;                     /* under guard_mu */
    struct api_conn *recv_head, *recv_tail; /* under guard_mu */
    unsigned nreceiving;                    /* under guard_mu */
    unsigned recv_max;                      /* cap of the receiving list */
    unsigned long evicted;                  /* under guard_mu: pushed out since the last log */
    int64_t sweep_at_ns;                    /* under guard_mu: the sweeper's planned wake-up */
    int64_t request_ns;                     /* time allowed to receive one request */
    /* The request pool (pool.c). */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_done; /* a lane thread ended */
    struct api_lane_q lanes[API_LANES];
    int pool_threads;  /* under pool_mu: lane threads alive */
    int pool_stopping; /* under pool_mu */
    int pool_ok;       /* initialised */
};

/* One request: allocated on the first call, freed in the completion callback. */
struct api_req {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method; /* libmicrohttpd's, valid for the request */
    const char *url;
    char *body; /* the body, NUL-terminated; owned */
    size_t len, cap;
    size_t discarded; /* bytes dropped past the cap */
    int too_large;
    int started;              /* the handler's first call happened */
    int nul_escape;           /* the raw path or query holds %00 */
    int64_t deadline_ns;      /* the whole request by then (0: none) */
    int answered;             /* a reply was queued early (413, 401 ...) */
    int64_t t0_ns, t1_ns;     /* arrived; handler returned (0: no debug log) */
    char what[192];           /* method=M url="quoted", for the debug log */
    int64_t ids[API_IDS_MAX]; /* {id} path segments */
    char name[API_NAME_MAX];  /* the {name} path segment */
    /* Run on a lane thread (pool.c): the reply is kept here until
     * libmicrohttpd calls back on its own thread to queue it. */
    struct api_req *next;      /* in a lane's queue */
    int deferred;              /* handed to a lane: replies are kept */
    struct MHD_Response *resp; /* the kept reply, owned; NULL: none */
    unsigned status;           /* its status */
};

/* The calling thread's database connection for `a`, opened on first use.
 * NULL when it cannot be opened (the caller answers 503). */
struct db *api_db(struct api *a);

/* Answer with `body` (consumed; NULL answers an empty body) as JSON and the
 * security and CORS headers. Returns libmicrohttpd's result. */
enum MHD_Result api_reply_json(struct api_req *r, unsigned status, json_t *body);
/* Like api_reply_json, with extra headers: `hdrs` is NULL or a
 * NULL-terminated list of name, value pairs. */
enum MHD_Result api_reply_json_h(struct api_req *r, unsigned status, json_t *body,
                                 const char *const *hdrs);
/* Answer raw text with a content type. */
enum MHD_Result api_reply_text(struct api_req *r, unsigned status, const char *ctype,
                               const char *text, size_t len);
/* Like api_reply_text, consuming `text` (malloc'd; freed when sent, or
 * here on failure), with extra headers as api_reply_json_h's. */
enum MHD_Result api_reply_text_h(struct api_req *r, unsigned status, const char *ctype,
                                 char *text, size_t len, const char *const *hdrs);
/* {"error":{"code":code,"message":...}} with `status`. */
enum MHD_Result api_reply_error(struct api_req *r, unsigned status, const char *code,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Like api_reply_error, and the connection is closed once the reply is
 * sent ("Connection: close"): for requests refused for lack of room, and
 * for requests whose framing cannot be trusted. `retry_after` > 0 adds a
 * Retry-After header. */
enum MHD_Result api_reply_error_close(struct api_req *r, unsigned status, const char *code,
                                      unsigned retry_after, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 503 or 500 after a storage call failed on `db` (503 for full disk, I/O
 * errors, busy or locked; the thread's connection is then reopened). */
enum MHD_Result api_reply_db_error(struct api_req *r, struct db *db);
/* After a storage lookup of r->ids[0] answered rc (-1 failed on db, 1 not
 * found): api_reply_db_error, or 404 not_found "no WHAT ID". */
enum MHD_Result api_reply_lookup(struct api_req *r, struct db *db, int rc, const char *what);
/* Queue `resp` (consumed) with `status` and the common headers; on a
 * request handed to a lane, keep it for libmicrohttpd's thread to queue.
 * Returns libmicrohttpd's result (MHD_NO when resp is NULL). */
enum MHD_Result api_queue(struct api_req *r, unsigned status, struct MHD_Response *resp);
/* Add the security headers (and CORS when the request's Origin is allowed). */
void api_add_common_headers(struct api_req *r, struct MHD_Response *resp);
/* Count a response status for /metrics. */
void api_count_status(struct api *a, unsigned status);

/* The value of a query argument, or NULL. */
const char *api_query(struct api_req *r, const char *name);
/* Parse a decimal int64 in lo..hi from s (all of it). 0 or -1. */
int api_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Route handlers (routes.c, events.c, prometheus.c): answer the request. */
typedef enum MHD_Result (*api_handler)(struct api_req *r);
enum MHD_Result api_dispatch(struct api_req *r);
/* server.c: start fn(arg) on a thread with a stack of `stack` bytes and
 * set *started. 0, or -1 (no thread). */
int api_thread_start(pthread_t *t, int *started, size_t stack, void *(*fn)(void *), void *arg);
/* The lane that answers r (routes.c's table: history reads heavy, the
 * other reads and writes light; the page, its files, preflights and
 * errors inline). */
enum api_lane api_route_lane(struct api_req *r);
enum MHD_Result api_h_events(struct api_req *r);
enum MHD_Result api_h_metrics(struct api_req *r);
/* assets.c: the dashboard page (GET /) and its files (GET /assets/{name}). */
enum MHD_Result api_h_index(struct api_req *r);
enum MHD_Result api_h_asset(struct api_req *r);
/* 1 when the request is a GET or HEAD of the page or an asset: served
 * without the bearer token (they carry no data). */
int api_is_public(const struct api_req *r);

/* Event streams: start the ticker, resume everything and end streams. */
int api_sse_init(struct api *a);
void api_sse_shutdown(struct api *a);

/* guard.c: the connection guard (see its top comment). */
/* Start the sweeper: at most `recv_max` connections receiving a request,
 * each for at most `timeout_s`. 0 or -1. */
int api_guard_init(struct api *a, unsigned recv_max, unsigned timeout_s);
/* Stop the sweeper (records are freed by libmicrohttpd's notifications). */
void api_guard_shutdown(struct api *a);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the api). */
void api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The CLOCK_MONOTONIC deadline of the request `conn` is receiving, or 0. */
int64_t api_guard_deadline(struct api *a, struct MHD_Connection *conn);
/* A reply was queued on `conn`: its request left the receiving list. */
void api_guard_answering(struct api *a, struct MHD_Connection *conn);
/* `conn` completed a request and stays open: its next request joins the
 * receiving list with a fresh deadline. */
void api_guard_next_request(struct api *a, struct MHD_Connection *conn);

/* pool.c: the request pool (see its top comment). */
/* Set up the pool (no thread starts until a request needs one). */
void api_pool_init(struct api *a);
/* Hand r to `lane`: its connection is suspended until a lane thread has
 * run the handler. 0, or -1 when the pool cannot take it (stopping, no
 * thread): the connection is resumed and the caller answers inline. */
int api_pool_submit(struct api *a, struct api_req *r, enum api_lane lane);
/* Refuse new requests, run the queued ones, wait for every lane thread. */
void api_pool_stop(struct api *a);
/* Free what api_pool_init set up (after api_pool_stop). */
void api_pool_destroy(struct api *a);
/* 1 on a lane thread (its connection gets the large page cache). */
int api_on_lane_thread(void);

/* auth.c: SHA-256, the token, the Host check. */
void api_sha256(const void *data, size_t len, unsigned char out[API_SHA256_LEN]);
/* Lowercase hex of the SHA-256 of data into hex (65 bytes). */
void api_sha256_hex(const void *data, size_t len, char hex[2 * API_SHA256_LEN + 1]);
/* Read the token file (mode 0600/0400 only). 0 or -1 with err. */
int api_token_load(struct api *a, const char *path, char *err, size_t errlen);
/* 1 when the Authorization header carries the token (constant time). */
int api_token_ok(const struct api *a, const char *authorization);
/* 1 when `host` (the Host header) is allowed for this server. */
int api_host_ok(const struct api *a, const char *host);

#endif

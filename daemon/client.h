/*
 * client.h - the streaming chat client: one thread driving any number of
 * concurrent requests over daemon/poller (epoll, kqueue), a monotonic
 * timestamp taken on every received chunk of bytes. Each request ends as a
 * filled struct sample_rec (timings, tokens, figures, ok or an error code).
 *
 * Two transports, one behaviour: plain http:// servers are spoken to
 * directly (daemon/http1: one recv per burst of events, no libcurl call at
 * all), anything else (https, a proxy from the environment, odd URLs) goes
 * through libcurl's multi socket interface. client_opts.transport forces
 * libcurl. The same server answers give the same sample rows on both.
 *
 * Knows nothing of jobs or suites: it sends a prepared request body and
 * reports what came back. Calls sse (parser), chunk (decoder), figures,
 * poller, http1.
 */
#ifndef TPSD_CLIENT_H
#define TPSD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/samples.h"

#define CLIENT_TEXT_MAX (256 * 1024)    /* generated text kept for validators */
#define CLIENT_EVENTS_MAX (1024 * 1024) /* event timestamps kept per request */
#define CLIENT_ERRBODY_MAX (16 * 1024)  /* error body kept from a 4xx/5xx */
#define CLIENT_MODEL_MAX 256

enum client_transport {
    CLIENT_TRANSPORT_AUTO = 0, /* direct HTTP/1.1 when the URL allows, else libcurl */
    CLIENT_TRANSPORT_CURL,     /* always libcurl */
};

struct client_opts {
    const char *base_url; /* http://127.0.0.1:1234 */
    const char *api;      /* "openai" (/v1/chat/completions) or "lmstudio" (/api/v0/...) */
    const char *token;    /* bearer token for the server, or NULL */
    int connect_timeout_ms;
    int first_token_timeout_ms; /* request sent -> first generated text */
    int stall_timeout_ms;       /* longest gap between events once streaming */
    int request_timeout_ms;     /* whole request */
    enum client_transport transport;
};

struct client_req {
    /* in: set by the caller before client_add */
    const char *body; /* JSON request body; must outlive the request */
    int64_t sched_ns; /* monotonic send time; 0 = at once */
    int64_t extra_ms; /* added to the first-token and whole-request deadlines (a long
                       * prompt's prefill); 0 = none */
    void *user;
    /* out: valid in the done callback */
    struct sample_rec rec; /* rec.run_id/seq/case_name/... are the caller's */
    char *text;            /* generated text (content only), NUL-terminated */
    size_t text_len;
    char *reasoning; /* reasoning text, NUL-terminated */
    size_t reasoning_len;
    char model[CLIENT_MODEL_MAX]; /* the response's "model" field */
    int64_t t_sent_ns;            /* monotonic time the request was sent */
    /* private */
    struct client_xfer *x;
};

typedef void (*client_done_fn)(void *arg, struct client_req *req);
/* Polled about every 100 ms while requests run: non-zero cancels. */
typedef int (*client_cancel_fn)(void *arg);

struct client;

/* A new client; opts strings are copied. NULL on out of memory. */
struct client *client_new(const struct client_opts *opts);
void client_free(struct client *c);

/*
 * libcurl's global state (curl_global_init), set up once on the first call
 * from any thread (pthread_once) and kept until exit. Every libcurl user of
 * the daemon calls it before its first curl_*_init: `tpsd serve` sets
 * libcurl up only when a job or a backend first needs it, since that setup
 * (OpenSSL's) maps ~2.3 MB that an idle daemon would carry. 0, or -1 when
 * libcurl could not be set up.
 */
int client_curl_init(void);

/*
 * Queue `req` (not owned; must stay valid until its done callback). It is
 * sent at req->sched_ns (or at once). Its rec is reset except the caller's
 * identity fields (run_id, seq, case_name, repetition, slot, warmup).
 * May be called from a done callback. 0 or -1 (out of memory).
 */
int client_add(struct client *c, struct client_req *req);

/*
 * Drive all queued requests until none is left, calling done(arg, req) as
 * each completes (successfully or not: see req->rec.ok). When cancel(arg)
 * returns non-zero the requests in flight are aborted (error "cancelled")
 * and the rest are finished as cancelled without being sent. cancel may be
 * NULL. Returns 0, or -1 when libcurl itself failed.
 */
int client_run(struct client *c, client_done_fn done, client_cancel_fn cancel, void *arg);

/* Number of requests queued or in flight. */
size_t client_pending(const struct client *c);

/* "http1" when requests go over the direct HTTP/1.1 path, else "curl". */
const char *client_transport_name(const struct client *c);

/* TCP connections opened so far on the direct path (0 with libcurl): with
 * keep-alive, sequential requests share one. */
uint64_t client_connects(const struct client *c);

/* Waiting reads so far (the direct path with one transfer in flight reads
 * with a recv that waits, not the poller; 0 with libcurl). */
uint64_t client_solo_reads(const struct client *c);

#endif

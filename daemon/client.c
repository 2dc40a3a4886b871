/*
 * client.c - see client.h.
 *
 * How it works. client_run is one loop: start the requests that are due,
 * wait on the poller, hand each ready socket to its transport, finish what
 * ended, and every CLIENT_DEADLINE_MS walk the requests in flight for their
 * deadlines and cancel. A direct (http1) transfer moves through connect,
 * send and receive itself: its socket is in the poller only while it is
 * ours, and c->byfd maps a ready socket back to it; when it is the only
 * one in flight, it leaves the poller and its recv itself waits (solo). A
 * libcurl transfer is driven by curl_multi_socket_action. Both feed the
 * same body path (xfer_body: SSE parser, chunk decoder, timestamps) and end
 * in the same classification, from a transport-neutral result (enum xres).
 */
#include "daemon/client.h"

#include "daemon/chunk.h"
#include "common/clock.h"
#include "daemon/figures.h"
#include "daemon/http1.h"
#include "daemon/poller.h"
#include "daemon/sse.h"
#include "daemon/curl_dl.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_POLL_MS 100
#define CLIENT_DEADLINE_MS 10 /* deadlines are checked this often: O(streams) each */
#define CLIENT_URL_MAX 1200
/* libcurl's receive buffer per transfer, handed whole to on_write: 16 KB
 * holds ~60 events of ~250 bytes, more than a stream's burst between two
 * wake-ups even at 1,000 tok/s behind a slow loop, so a burst costs one read
 * (and one timestamp: every event of a read arrived together). */
#define CLIENT_READ_BUF (16L * 1024)
#define CLIENT_CONNECT_DEFAULT_MS 300000 /* libcurl's when none is set */
#define CLIENT_RESDETAIL_MAX 256

/* How a transfer ended, whichever transport carried it. */
enum xres {
    XR_OK = 0,
    XR_REFUSED,      /* no address accepted the connection */
    XR_CONN_TIMEOUT, /* a timeout (libcurl's), or the connect took too long */
    XR_ABORTED,      /* we stopped it: abort_code says why */
    XR_FAILED,       /* anything else: res_detail says what */
};

/* A direct transfer's phase. */
enum { H1_CONNECTING = 1, H1_SENDING, H1_RECEIVING };

struct client_xfer {
    CURL *easy;            /* libcurl transfers */
    struct http1_conn *hc; /* direct transfers: the exchange */
    int phase;             /* H1_* */
    int watched;           /* POLLER_* the poller watches hc->fd for */
    int retried;           /* a stale pooled connection was replaced once */
    int64_t t_connect;     /* the current connect attempt began */
    enum xres res;
    char res_detail[CLIENT_RESDETAIL_MAX];
    struct client_req *req;
    struct sse_parser *sse;
    struct curl_slist *hdrs;
    int64_t t_add, t_sent, t_first_byte, t_first_event, t_first_token, t_last_token;
    int64_t t_last_event, t_chunk;
    long status;
    char *errbody;
    size_t errlen;
    int got_done;
    int got_usage;
    int64_t n_text_events, n_reasoning_events;
    size_t ev_cap;
    size_t text_cap, reasoning_cap; /* allocated sizes of req->text, req->reasoning */
    json_t *stats;
    char abort_code[SAMPLE_CODE_MAX];
    char abort_detail[SAMPLE_DETAIL_MAX];
    size_t slot; /* index in client.active */
};

struct client {
    CURLM *multi;              /* libcurl transport only */
    struct http1_pool *h1;     /* direct transport only */
    struct client_xfer **byfd; /* direct transfers by socket */
    size_t cap_byfd;
    char *rbuf;                /* the direct path's read buffer: one read at a time */
    char path[CLIENT_URL_MAX]; /* the request path on the direct path */
    struct client_req **due;   /* start_due's scratch list */
    size_t cap_due;
    struct poller *poll;      /* the sockets libcurl asks us to watch */
    struct client_xfer *solo; /* the one transfer read by a waiting recv, unwatched */
    uint64_t solo_reads;      /* its recvs so far */
    int64_t timer_at;         /* libcurl's timeout, monotonic ns; -1: none */
    int sock_err;             /* a socket could not be watched */
    char url[CLIENT_URL_MAX];
    char auth[CLIENT_URL_MAX];
    struct client_opts o;
    struct client_req **pending; /* not yet sent */
    size_t npending, cap_pending;
    struct client_xfer **active; /* in flight */
    size_t nactive, cap_active;
    client_done_fn done; /* client_run's */
    void *done_arg;
};

/*
 * libcurl's socket interface: it says which sockets to watch for what, and
 * when it next needs a timeout call; we tell it which sockets are ready.
 * A wake-up then costs O(ready sockets), not O(streams) as with
 * curl_multi_perform and curl_multi_poll. socketp is non-NULL once the
 * socket is watched.
 */
static int
on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct client *c = userp;
    int want = 0;

    (void)easy;
    if (what != CURL_POLL_REMOVE)
        want =
            ((what & CURL_POLL_IN) ? POLLER_IN : 0) | ((what & CURL_POLL_OUT) ? POLLER_OUT : 0);
    if (poller_set(c->poll, (int)s, want, socketp != NULL) == -1) {
        c->sock_err = 1;
        return -1;
    }
    curl_multi_assign(c->multi, s, want ? c : NULL);
    return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct client *c = userp;

    (void)multi;
    c->timer_at = timeout_ms < 0 ? -1 : clock_mono_ns() + (int64_t)timeout_ms * 1000000;
    return 0;
}

static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void
curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
client_curl_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, curl_init_once);
    return curl_init_rc == CURLE_OK ? 0 : -1;
}

/* The libcurl transport: a multi handle driving our poller. 0 or -1. */
static int
curl_transport_init(struct client *c)
{
    c->multi = client_curl_init() == 0 ? curl_multi_init() : NULL;
    if (c->multi == NULL)
        return -1;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return 0;
}

/* The direct transport when the URL is http1's: 1 when chosen, 0 when
 * not (use libcurl), -1 out of memory. */
static int
h1_transport_init(struct client *c)
{
    struct http1_url u;

    if (c->o.transport == CLIENT_TRANSPORT_CURL || http1_mine(c->url, &u) == -1)
        return 0;
    snprintf(c->path, sizeof(c->path), "%s", u.prefix);
    c->h1 = http1_pool_new(&u);
    c->rbuf = malloc(CLIENT_READ_BUF);
    return c->h1 != NULL && c->rbuf != NULL ? 1 : -1;
}

struct client *
client_new(const struct client_opts *opts)
{
    struct client *c = calloc(1, sizeof(*c));
    size_t n;
    int h1;

    if (c == NULL)
        return NULL;
    c->o = *opts;
    n = strlen(opts->base_url);
    while (n > 0 && opts->base_url[n - 1] == '/')
        n--;
    snprintf(c->url, sizeof(c->url), "%.*s%s", (int)n, opts->base_url,
             opts->api && strcmp(opts->api, "lmstudio") == 0 ? "/api/v0/chat/completions"
                                                             : "/v1/chat/completions");
    if (opts->token != NULL && opts->token[0] != '\0')
        snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", opts->token);
    c->o.base_url = NULL;
    c->o.token = NULL;
    c->o.api = NULL;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = CLIENT_CONNECT_DEFAULT_MS;
    c->timer_at = -1;
    c->poll = poller_new();
    h1 = h1_transport_init(c);
    if (c->poll == NULL || h1 == -1 || (h1 == 0 && curl_transport_init(c) == -1)) {
        client_free(c);
        return NULL;
    }
    return c;
}

void
client_free(struct client *c)
{
    if (c == NULL)
        return;
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    http1_pool_free(c->h1);
    poller_free(c->poll);
    free(c->rbuf);
    free(c->byfd);
    free(c->due);
    free(c->pending);
    free(c->active);
    free(c);
}

const char *
client_transport_name(const struct client *c)
{
    return c->h1 != NULL ? "http1" : "curl";
}

uint64_t
client_connects(const struct client *c)
{
    return c->h1 != NULL ? http1_pool_connects(c->h1) : 0;
}

uint64_t
client_solo_reads(const struct client *c)
{
    return c->solo_reads;
}

size_t
client_pending(const struct client *c)
{
    return c->npending + c->nactive;
}

static void
req_reset(struct client_req *r)
{
    struct sample_rec keep = r->rec;

    sample_rec_init(&r->rec);
    r->rec.run_id = keep.run_id;
    r->rec.seq = keep.seq;
    memcpy(r->rec.case_name, keep.case_name, sizeof(keep.case_name));
    r->rec.repetition = keep.repetition;
    r->rec.slot = keep.slot;
    r->rec.warmup = keep.warmup;
    r->text = NULL;
    r->text_len = 0;
    r->reasoning = NULL;
    r->reasoning_len = 0;
    r->model[0] = '\0';
    r->t_sent_ns = 0;
    r->x = NULL;
}

int
client_add(struct client *c, struct client_req *req)
{
    if (c->npending == c->cap_pending) {
        size_t ncap = c->cap_pending ? c->cap_pending * 2 : 16;
        struct client_req **p = realloc(c->pending, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        c->pending = p;
        c->cap_pending = ncap;
    }
    free(req->rec.server_stats);
    free(req->rec.event_us);
    req->rec.server_stats = NULL;
    req->rec.event_us = NULL;
    req_reset(req);
    c->pending[c->npending++] = req;
    return 0;
}

static void xfer_abort(struct client_xfer *x, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Mark the transfer failed with `code`; the first reason wins. */
static void
xfer_abort(struct client_xfer *x, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (x->abort_code[0] != '\0')
        return;
    snprintf(x->abort_code, sizeof(x->abort_code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(x->abort_detail, sizeof(x->abort_detail), fmt, ap);
    va_end(ap);
}

#define CLIENT_TEXT_MIN 1024 /* first size of a text buffer */

/* Append to a NUL-terminated text buffer of capacity *cap up to
 * CLIENT_TEXT_MAX; it grows by doubling, so a token costs no allocation.
 * Out of memory: the text is cut short (validators then see less). */
static void
text_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    size_t ncap;
    char *p;

    if (*len + n > CLIENT_TEXT_MAX)
        n = CLIENT_TEXT_MAX - *len;
    if (n == 0)
        return;
    if (*len + n + 1 > *cap) {
        ncap = *cap ? *cap : CLIENT_TEXT_MIN;
        while (ncap < *len + n + 1)
            ncap *= 2;
        if (ncap > CLIENT_TEXT_MAX + 1)
            ncap = CLIENT_TEXT_MAX + 1;
        p = realloc(*buf, ncap);
        if (p == NULL)
            return;
        *buf = p;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct client_xfer *x = arg;
    struct client_req *r = x->req;
    struct chunk ch;
    json_t *stats;

    (void)event;
    if (x->t_first_event == 0)
        x->t_first_event = x->t_chunk;
    x->t_last_event = x->t_chunk;
    if (x->got_done)
        return 0; /* anything after [DONE] is ignored */
    if (chunk_decode(&ch, data, len) == -1) {
        xfer_abort(x, "malformed_sse", "undecodable event: %s", ch.reason);
        chunk_release(&ch);
        return 1;
    }
    if (ch.is_done) {
        x->got_done = 1;
        chunk_release(&ch);
        return 0;
    }
    if (ch.is_error) {
        xfer_abort(x, "server_error", "%s",
                   ch.error_message ? ch.error_message : "error event");
        chunk_release(&ch);
        return 1;
    }
    if (ch.model != NULL && r->model[0] == '\0')
        snprintf(r->model, sizeof(r->model), "%s", ch.model);
    if (chunk_has_text(&ch)) {
        uint32_t off;
        if (x->t_first_token == 0)
            x->t_first_token = x->t_chunk;
        x->t_last_token = x->t_chunk;
        if (ch.content_len > 0) {
            x->n_text_events++;
            text_append(&r->text, &r->text_len, &x->text_cap, ch.content, ch.content_len);
        }
        if (ch.reasoning_len > 0) {
            x->n_reasoning_events++;
            text_append(&r->reasoning, &r->reasoning_len, &x->reasoning_cap, ch.reasoning,
                        ch.reasoning_len);
        }
        if (r->rec.n_event_us < CLIENT_EVENTS_MAX) {
            if (r->rec.n_event_us == x->ev_cap) {
                size_t ncap = x->ev_cap ? x->ev_cap * 2 : 256;
                uint32_t *p = realloc(r->rec.event_us, ncap * sizeof(*p));
                if (p == NULL) {
                    chunk_release(&ch);
                    xfer_abort(x, "client_error", "%s", "out of memory");
                    return 1;
                }
                r->rec.event_us = p;
                x->ev_cap = ncap;
            }
            off = (uint32_t)((x->t_chunk - x->t_sent) / 1000);
            r->rec.event_us[r->rec.n_event_us++] = off;
        }
    }
    if (ch.finish_reason != NULL)
        snprintf(r->rec.finish_reason, sizeof(r->rec.finish_reason), "%s", ch.finish_reason);
    if (ch.has_usage) {
        x->got_usage = 1;
        r->rec.prompt_tokens = ch.prompt_tokens;
        r->rec.completion_tokens = ch.completion_tokens;
        r->rec.reasoning_tokens = ch.reasoning_tokens;
    }
    stats = chunk_take_stats(&ch);
    if (stats != NULL) {
        json_decref(x->stats);
        x->stats = stats;
    }
    chunk_release(&ch);
    return 0;
}

/* Body bytes of either transport, read at x->t_chunk with x->status known:
 * an error body is kept (capped), a 200 body goes to the SSE parser. 0, or
 * -1 to stop the transfer (abort_code says why). */
static int
xfer_body(struct client_xfer *x, const char *ptr, size_t n)
{
    if (x->t_first_byte == 0)
        x->t_first_byte = x->t_chunk;
    if (x->abort_code[0] != '\0')
        return -1;
    if (x->status != 200) {
        size_t room = CLIENT_ERRBODY_MAX - x->errlen;
        char *p;
        if (n < room)
            room = n;
        if (room > 0) {
            p = realloc(x->errbody, x->errlen + room + 1);
            if (p != NULL) {
                memcpy(p + x->errlen, ptr, room);
                x->errlen += room;
                p[x->errlen] = '\0';
                x->errbody = p;
            }
        }
        return 0;
    }
    if (sse_feed(x->sse, ptr, n) == -1) {
        if (sse_error(x->sse) != SSE_ERR_STOPPED)
            xfer_abort(x, "malformed_sse", "%s", sse_strerror(sse_error(x->sse)));
        return -1;
    }
    return 0;
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct client_xfer *x = arg;
    size_t n = size * nmemb;

    x->t_chunk = clock_mono_ns();
    if (x->t_first_byte == 0)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    return xfer_body(x, ptr, n) == 0 ? n : 0;
}

#if LIBCURL_VERSION_NUM >= 0x075000
static int
on_prereq(void *arg, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
          int conn_local_port)
{
    struct client_xfer *x = arg;

    (void)conn_primary_ip;
    (void)conn_local_ip;
    (void)conn_primary_port;
    (void)conn_local_port;
    x->t_sent = clock_mono_ns();
    return CURL_PREREQFUNC_OK;
}
#endif

/* A libcurl easy handle for x, added to the multi handle. 0 or -1. */
static int
curl_xfer_setup(struct client *c, struct client_xfer *x)
{
    x->easy = curl_easy_init();
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    x->hdrs = curl_slist_append(x->hdrs, "Accept: text/event-stream");
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    if (c->auth[0] != '\0')
        x->hdrs = curl_slist_append(x->hdrs, c->auth);
    if (x->easy == NULL || x->hdrs == NULL)
        return -1;
    curl_easy_setopt(x->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req->body);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, CLIENT_READ_BUF);
    curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#if LIBCURL_VERSION_NUM >= 0x075000
    curl_easy_setopt(x->easy, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(x->easy, CURLOPT_PREREQDATA, x);
#endif
    return curl_multi_add_handle(c->multi, x->easy) == CURLM_OK ? 0 : -1;
}

static void h1_begin(struct client *c, struct client_xfer *x);

/*
 * Start r now: a transfer in c->active. A direct transfer that fails to
 * connect at once is finished (done called) before this returns. 0, or -1
 * when it could not be set up (out of memory).
 * How: the transfer gets its SSE parser, then its transport (an http1
 * exchange, or an easy handle added to the multi handle), its start time
 * and slot; a direct one then connects and sends as far as it can without
 * waiting (h1_begin).
 */
static int
xfer_start(struct client *c, struct client_req *r)
{
    struct client_xfer *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return -1;
    x->req = r;
    r->x = x;
    x->sse = sse_new(on_event, x);
    if (x->sse == NULL)
        goto fail;
    if (c->h1 != NULL) {
        x->hc = malloc(sizeof(*x->hc));
        if (x->hc == NULL)
            goto fail;
        x->hc->fd = -1;
        x->hc->out = NULL;
    }
    if (c->nactive == c->cap_active) {
        size_t ncap = c->cap_active ? c->cap_active * 2 : 16;
        struct client_xfer **p = realloc(c->active, ncap * sizeof(*p));
        if (p == NULL)
            goto fail;
        c->active = p;
        c->cap_active = ncap;
    }
    if (c->h1 == NULL && curl_xfer_setup(c, x) == -1)
        goto fail;
    x->t_add = clock_mono_ns();
    x->t_sent = x->t_add; /* refined once connected (libcurl: the prereq callback) */
    r->rec.started_at = clock_wall_ms();
    if (r->sched_ns > 0)
        r->rec.sched_delay_us = (x->t_add - r->sched_ns) / 1000;
    x->slot = c->nactive;
    c->active[c->nactive++] = x;
    if (c->h1 != NULL)
        h1_begin(c, x);
    return 0;
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    sse_free(x->sse);
    curl_slist_free_all(x->hdrs);
    free(x->hc);
    free(x);
    r->x = NULL;
    return -1;
}

static int64_t
us_since(int64_t t, int64_t t0)
{
    return t == 0 ? -1 : (t - t0) / 1000;
}

/* Pick the error detail out of an error body: error.message, else the text. */
static void
error_detail_from_body(const struct client_xfer *x, char *out, size_t len)
{
    json_t *root, *e, *m = NULL;

    if (x->errbody == NULL) {
        snprintf(out, len, "HTTP %ld with no body", x->status);
        return;
    }
    root = json_loads(x->errbody, 0, NULL);
    e = json_object_get(root, "error");
    if (json_is_object(e))
        m = json_object_get(e, "message");
    else if (json_is_string(e))
        m = e;
    if (json_is_string(m))
        snprintf(out, len, "HTTP %ld: %s", x->status, json_string_value(m));
    else
        snprintf(out, len, "HTTP %ld: %.300s", x->status, x->errbody);
    json_decref(root);
}

/*
 * The sample's verdict, first match wins: our own abort, the transport's
 * failures (refused, connect timeout), an HTTP error status, a transport
 * failure after the first byte (truncated) or before it, a non-200, then
 * the stream's own shape (ended inside an event, without [DONE] or a
 * finish_reason, without text). Else ok.
 */
static void
classify(struct client_xfer *x)
{
    struct sample_rec *s = &x->req->rec;
    int has_finish = s->finish_reason[0] != '\0';

    s->ok = 0;
    if (x->abort_code[0] != '\0') {
        snprintf(s->error_code, sizeof(s->error_code), "%s", x->abort_code);
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", x->abort_detail);
    } else if (x->res == XR_REFUSED) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_refused");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", x->res_detail);
    } else if (x->res == XR_CONN_TIMEOUT && x->t_first_byte == 0) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_timeout");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", x->res_detail);
    } else if (x->status >= 400) {
        snprintf(s->error_code, sizeof(s->error_code), "http_%ld", x->status);
        error_detail_from_body(x, s->error_detail, sizeof(s->error_detail));
    } else if (x->res != XR_OK && x->t_first_byte != 0) {
        snprintf(s->error_code, sizeof(s->error_code), "truncated_stream");
        snprintf(s->error_detail, sizeof(s->error_detail), "connection ended mid-stream: %s",
                 x->res_detail);
    } else if (x->res != XR_OK) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_failed");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", x->res_detail);
    } else if (x->status != 200) {
        snprintf(s->error_code, sizeof(s->error_code), "http_%ld", x->status);
        error_detail_from_body(x, s->error_detail, sizeof(s->error_detail));
    } else if (sse_finish(x->sse) == -1 && !x->got_done) {
        snprintf(s->error_code, sizeof(s->error_code), "truncated_stream");
        snprintf(s->error_detail, sizeof(s->error_detail), "stream ended inside an event");
    } else if (!x->got_done && !has_finish) {
        snprintf(s->error_code, sizeof(s->error_code), "truncated_stream");
        snprintf(s->error_detail, sizeof(s->error_detail),
                 "stream ended without [DONE] or a finish_reason");
    } else if (x->t_first_token == 0) {
        snprintf(s->error_code, sizeof(s->error_code), "empty_output");
        snprintf(s->error_detail, sizeof(s->error_detail), "no generated text in %lld events",
                 (long long)sse_events(x->sse));
    } else {
        s->ok = 1;
    }
}

static void h1_unwatch(struct client *c, struct client_xfer *x);

/* Release x's transport: the easy handle, or the direct connection (back
 * to the pool when the exchange ended cleanly). */
static void
xfer_release(struct client *c, struct client_xfer *x)
{
    if (x->easy != NULL) {
        curl_multi_remove_handle(c->multi, x->easy);
        if (x->t_first_byte != 0 && x->status == 0)
            curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->hdrs);
    }
    if (x->hc != NULL) {
        h1_unwatch(c, x);
        http1_conn_close(c->h1, x->hc, x->res == XR_OK && x->abort_code[0] == '\0');
        free(x->hc);
    }
}

/*
 * x ended with x->res: fill its sample, free it, hand it to done.
 * How: x leaves the active list (the last one takes its slot) and its
 * transport is released; the timings become offsets from t_sent, the
 * verdict comes from classify, the token counts from usage (else counted
 * events, marked estimated), the server's stats are kept as JSON, and
 * figures_compute derives the rest.
 */
static void
xfer_finish(struct client *c, struct client_xfer *x)
{
    struct client_req *r = x->req;
    struct sample_rec *s = &r->rec;
    int64_t t_done = clock_mono_ns();

    c->nactive--;
    c->active[x->slot] = c->active[c->nactive];
    c->active[x->slot]->slot = x->slot;
    if (c->solo == x)
        c->solo = NULL;
    xfer_release(c, x);
    /* Event offsets were taken against the t_sent known at the time; it is
     * set (libcurl: the prereq callback) before any byte arrives, so they
     * agree. */
    s->ttfb_us = us_since(x->t_first_byte, x->t_sent);
    s->ttfr_us = us_since(x->t_first_event, x->t_sent);
    s->ttft_us = us_since(x->t_first_token, x->t_sent);
    s->t_last_us = us_since(x->t_last_token, x->t_sent);
    s->t_done_us = (t_done - x->t_sent) / 1000;
    r->t_sent_ns = x->t_sent;
    s->n_events = x->n_text_events + x->n_reasoning_events;
    classify(x);
    if (!x->got_usage || s->completion_tokens < 0) {
        /* No usage from the server: count content-bearing events. */
        if (x->t_first_token != 0 || s->ok) {
            s->completion_tokens = s->n_events;
            s->reasoning_tokens = x->n_reasoning_events;
            s->tokens_estimated = 1;
        }
    } else if (s->reasoning_tokens < 0 && x->n_reasoning_events > 0) {
        s->reasoning_tokens = x->n_reasoning_events; /* usage without details */
    }
    if (x->stats != NULL) {
        s->server_stats = json_dumps(x->stats, JSON_COMPACT);
        json_decref(x->stats);
    }
    figures_compute(s);
    sse_free(x->sse);
    free(x->errbody);
    free(x);
    r->x = NULL;
    c->done(c->done_arg, r);
}

/* ---- the direct transport ---- */

/* What the direct path saw, in libcurl's own words (curl_easy_strerror of
 * CURLE_COULDNT_RESOLVE_HOST, _COULDNT_CONNECT, _SEND_ERROR, _RECV_ERROR,
 * _OUT_OF_MEMORY), so a sample's error_detail reads alike on both paths. */
static const struct {
    enum xres res;
    const char *text;
} h1_fails[] = {
    [HTTP1_F_NONE] = {XR_FAILED, "Unknown error"},
    [HTTP1_F_RESOLVE] = {XR_FAILED, "Couldn't resolve host name"},
    [HTTP1_F_CONNECT] = {XR_REFUSED, "Couldn't connect to server"},
    [HTTP1_F_SEND] = {XR_FAILED, "Failed sending data to the peer"},
    [HTTP1_F_RECV] = {XR_FAILED, "Failure when receiving data from the peer"},
    [HTTP1_F_NOMEM] = {XR_FAILED, "Out of memory"},
};
#define H1_GOT_NOTHING "Server returned nothing (no headers, no data)" /* CURLE_GOT_NOTHING */
#define H1_PARTIAL "Transferred a partial file"                        /* CURLE_PARTIAL_FILE */
#define H1_TIMEOUT "Timeout was reached" /* CURLE_OPERATION_TIMEDOUT */

static void
h1_end(struct client *c, struct client_xfer *x, enum xres res, const char *detail)
{
    x->res = res;
    snprintf(x->res_detail, sizeof(x->res_detail), "%s", detail);
    if (x->status == 0 && x->hc->p.head_done)
        x->status = x->hc->p.status;
    xfer_finish(c, x);
}

/* End x with the failure its connection recorded. */
static void
h1_fail(struct client *c, struct client_xfer *x)
{
    enum http1_fail f = x->hc->fail;

    if ((size_t)f >= sizeof(h1_fails) / sizeof(h1_fails[0]))
        f = HTTP1_F_NONE;
    h1_end(c, x, h1_fails[f].res, h1_fails[f].text);
}

/* Watch x's socket for `want` (0: not at all). 0, or -1 (out of memory or
 * the poller refused). */
static int
h1_watch(struct client *c, struct client_xfer *x, int want)
{
    int fd = x->hc->fd;

    if (want == x->watched)
        return 0;
    if ((size_t)fd >= c->cap_byfd) {
        size_t ncap = c->cap_byfd ? c->cap_byfd : 64;
        struct client_xfer **p;
        while (ncap <= (size_t)fd)
            ncap *= 2;
        p = realloc(c->byfd, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        memset(p + c->cap_byfd, 0, (ncap - c->cap_byfd) * sizeof(*p));
        c->byfd = p;
        c->cap_byfd = ncap;
    }
    if (poller_set(c->poll, fd, want, x->watched != 0) == -1)
        return -1;
    x->watched = want;
    c->byfd[fd] = want != 0 ? x : NULL;
    return 0;
}

static void
h1_unwatch(struct client *c, struct client_xfer *x)
{
    if (x->hc->fd >= 0 && x->watched != 0 && h1_watch(c, x, 0) == -1) {
        c->byfd[x->hc->fd] = NULL;
        x->watched = 0;
    }
}

/* Wait for the socket to be ready for `want`, or end x. 0 or -1 (ended). */
static int
h1_wait(struct client *c, struct client_xfer *x, int want)
{
    if (h1_watch(c, x, want) == 0)
        return 0;
    h1_end(c, x, XR_FAILED, "cannot watch the socket");
    return -1;
}

/* A connection that failed before any response byte: a pooled one the
 * server closed while idle is replaced once, as libcurl does. 1 when
 * retried (or ended), 0 when not a case for it. */
static int
h1_retry(struct client *c, struct client_xfer *x)
{
    if (!x->hc->reused || x->hc->nread != 0 || x->retried)
        return 0;
    x->retried = 1;
    h1_unwatch(c, x);
    if (http1_conn_retry(c->h1, x->hc) == -1)
        h1_fail(c, x);
    else
        h1_begin(c, x);
    return 1;
}

/* Write the request (the rest of it); then wait for the response. */
static void
h1_send(struct client *c, struct client_xfer *x)
{
    int r = http1_conn_send(x->hc);

    if (r == -1) {
        if (!h1_retry(c, x))
            h1_fail(c, x);
    } else if (r == 0) {
        (void)h1_wait(c, x, POLLER_OUT);
    } else {
        x->phase = H1_RECEIVING;
        (void)h1_wait(c, x, POLLER_IN);
    }
}

/* Connected: the moment libcurl's prereq callback marks, then send. */
static void
h1_send_start(struct client *c, struct client_xfer *x)
{
    x->t_sent = clock_mono_ns();
    x->phase = H1_SENDING;
    h1_send(c, x);
}

/*
 * Open (or, after http1_conn_retry, continue) x's connection and go on as
 * far as it goes without waiting: the request is built once, on the first
 * call; a connect in progress waits for writable.
 */
static void
h1_begin(struct client *c, struct client_xfer *x)
{
    const char *tok = c->auth[0] != '\0' ? c->auth + strlen("Authorization: Bearer ") : NULL;

    x->t_connect = clock_mono_ns();
    if (x->hc->out == NULL) {
        if (http1_conn_open(c->h1, x->hc) == -1 ||
            http1_conn_request(x->hc, http1_pool_url(c->h1), "POST", c->path,
                               "application/json", "text/event-stream", tok, x->req->body,
                               strlen(x->req->body)) == -1) {
            h1_fail(c, x);
            return;
        }
    }
    if (x->hc->connecting) {
        x->phase = H1_CONNECTING;
        (void)h1_wait(c, x, POLLER_OUT);
        return;
    }
    h1_send_start(c, x);
}

static int
h1_on_body(void *arg, const char *p, size_t n)
{
    struct client_xfer *x = arg;

    if (x->status == 0)
        x->status = x->hc->p.status;
    return xfer_body(x, p, n) == 0 ? 0 : 1;
}

/* One read (one timestamp) and its parse; the read waits up to wait_ms
 * for data when wait_ms > 0 (a solo transfer). 0 when nothing was there,
 * 1 otherwise (x may have ended). */
static int
h1_read(struct client *c, struct client_xfer *x, int wait_ms)
{
    struct http1_parser *p = &x->hc->p;
    ssize_t n = wait_ms > 0 ? http1_conn_recv_wait(x->hc, c->rbuf, CLIENT_READ_BUF, wait_ms)
                            : http1_conn_recv(x->hc, c->rbuf, CLIENT_READ_BUF);

    x->t_chunk = clock_mono_ns();
    if (n == -1 && x->hc->fail == HTTP1_F_NONE)
        return 0; /* nothing there after all */
    if (n <= 0 && h1_retry(c, x))
        return 1;
    if (n == -1) {
        h1_fail(c, x);
    } else if (n == 0) {
        if (http1_parse_eof(p) == 0)
            h1_end(c, x, XR_OK, "");
        else
            h1_end(c, x, XR_FAILED, x->hc->nread == 0 ? H1_GOT_NOTHING : H1_PARTIAL);
    } else if (http1_parse(p, c->rbuf, (size_t)n, h1_on_body, x) == -1) {
        h1_end(c, x, p->err == HTTP1_E_STOPPED ? XR_ABORTED : XR_FAILED,
               http1_strerror(p->err));
    } else if (p->complete) {
        h1_end(c, x, XR_OK, "");
    }
    return 1;
}

/* x's socket is ready. */
static void
h1_io(struct client *c, struct client_xfer *x, int what)
{
    int r;

    (void)what;
    switch (x->phase) {
    case H1_CONNECTING:
        r = http1_conn_connected(x->hc);
        if (r == 0) {
            h1_send_start(c, x);
        } else if (r == -1) {
            h1_unwatch(c, x);
            if (http1_conn_next(c->h1, x->hc) == -1)
                h1_fail(c, x);
            else
                h1_begin(c, x);
        }
        break;
    case H1_SENDING:
        h1_send(c, x);
        break;
    default:
        (void)h1_read(c, x, 0);
        break;
    }
}

/*
 * Solo: with one transfer in flight (the common case: a suite runs its
 * requests one at a time) and nothing queued, that transfer's socket
 * leaves the poller and is read by a recv that waits up to CLIENT_POLL_MS:
 * one system call per wake-up instead of a poller wait and a recv (1 x
 * 1,000 tok/s: 25.3 against 26.6 s/Mtok in bench_floor). The timeout
 * wakes the loop for its cancel and deadline checks as the poller's tick
 * does; each read is stamped when it returns, as on the poller path.
 */

/* The transfer to read solo now, or NULL: the only one in flight, direct,
 * receiving, with nothing queued and no cancel under way. */
static struct client_xfer *
solo_pick(const struct client *c, int cancelling)
{
    struct client_xfer *x;

    if (c->h1 == NULL || cancelling || c->nactive != 1 || c->npending != 0)
        return NULL;
    x = c->active[0];
    return x->phase == H1_RECEIVING ? x : NULL;
}

/* One waiting read of x, out of the poller (a retry may have put a new
 * socket of x there). As h1_read. */
static int
solo_read(struct client *c, struct client_xfer *x)
{
    h1_unwatch(c, x);
    c->solo = x;
    c->solo_reads++;
    return h1_read(c, x, CLIENT_POLL_MS);
}

/* Back to the poller: the solo transfer (if still receiving on its
 * socket: a retry reconnects, watched) is made non-blocking and watched. */
static void
solo_leave(struct client *c)
{
    struct client_xfer *x = c->solo;

    c->solo = NULL;
    if (x == NULL || x->phase != H1_RECEIVING || x->watched != 0)
        return;
    if (http1_conn_nowait(x->hc) == -1)
        h1_fail(c, x);
    else
        (void)h1_wait(c, x, POLLER_IN);
}

/* ---- the loop ---- */

/* Finish a request that was never sent (cancelled before its time). */
static void
req_skip(struct client *c, struct client_req *r, const char *code)
{
    r->rec.ok = 0;
    r->rec.started_at = clock_wall_ms();
    snprintf(r->rec.error_code, sizeof(r->rec.error_code), "%s", code);
    snprintf(r->rec.error_detail, sizeof(r->rec.error_detail), "not sent");
    c->done(c->done_arg, r);
}

/* Send what is due; returns ms until the next scheduled send (or -1). The
 * due requests leave c->pending first, so a done callback (a direct
 * transfer refused at once) may add to it. */
static long
start_due(struct client *c, int64_t now)
{
    size_t i, j = 0, ndue = 0;
    int64_t next = 0;

    if (c->cap_due < c->npending) {
        struct client_req **p = realloc(c->due, c->cap_pending * sizeof(*p));
        if (p == NULL)
            return 0; /* try again on the next turn */
        c->due = p;
        c->cap_due = c->cap_pending;
    }
    for (i = 0; i < c->npending; i++) {
        struct client_req *r = c->pending[i];
        if (r->sched_ns <= now) {
            c->due[ndue++] = r;
            continue;
        }
        if (next == 0 || r->sched_ns < next)
            next = r->sched_ns;
        c->pending[j++] = r;
    }
    c->npending = j;
    for (i = 0; i < ndue; i++) {
        if (xfer_start(c, c->due[i]) == -1) {
            snprintf(c->due[i]->rec.error_detail, sizeof(c->due[i]->rec.error_detail),
                     "out of memory");
            req_skip(c, c->due[i], "client_error");
        }
    }
    return next != 0 ? (long)((next - now) / 1000000) : -1;
}

/* Apply the connect, first-token, stall and whole-request deadlines, and
 * cancel. */
static void
check_deadlines(struct client *c, int64_t now, int cancelling)
{
    size_t i = c->nactive;

    while (i-- > 0) {
        struct client_xfer *x = c->active[i];
        int64_t since_sent = (now - x->t_sent) / 1000000, extra = x->req->extra_ms;
        long long req_ms = c->o.request_timeout_ms + extra;
        long long first_ms = c->o.first_token_timeout_ms + extra;

        if (cancelling) {
            xfer_abort(x, "cancelled", "%s", "aborted by cancel");
        } else if (x->hc != NULL && x->phase == H1_CONNECTING &&
                   (now - x->t_connect) / 1000000 > c->o.connect_timeout_ms) {
            h1_end(c, x, XR_CONN_TIMEOUT, H1_TIMEOUT);
            continue;
        } else if (since_sent > req_ms) {
            xfer_abort(x, "timeout", "request took longer than %lld ms", req_ms);
        } else if (x->t_first_token == 0) {
            if (since_sent > first_ms) {
                xfer_abort(x, "timeout", "no token within %lld ms", first_ms);
            }
        } else if ((now - x->t_last_event) / 1000000 > c->o.stall_timeout_ms) {
            xfer_abort(x, "stall", "no event for %d ms mid-stream", c->o.stall_timeout_ms);
        }
        if (x->abort_code[0] != '\0') {
            x->res = XR_ABORTED;
            xfer_finish(c, x);
        }
    }
}

/* libcurl's result as ours. */
static enum xres
xres_from_curl(CURLcode res)
{
    switch (res) {
    case CURLE_OK:
        return XR_OK;
    case CURLE_COULDNT_CONNECT:
        return XR_REFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return XR_CONN_TIMEOUT;
    case CURLE_ABORTED_BY_CALLBACK:
        return XR_ABORTED;
    default:
        return XR_FAILED;
    }
}

/* Hand finished libcurl transfers to xfer_finish. */
static void
reap(struct client *c)
{
    struct CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct client_xfer *x = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        x->res = xres_from_curl(m->data.result);
        snprintf(x->res_detail, sizeof(x->res_detail), "%s",
                 curl_easy_strerror(m->data.result));
        xfer_finish(c, x);
    }
}

/* Hand ready sockets to their transport, and libcurl its timeouts. 0 or -1
 * (libcurl failed). */
static int
dispatch(struct client *c, const struct poller_ev *ev, int n)
{
    int i, flags, running;

    for (i = 0; i < n; i++) {
        struct client_xfer *x =
            (size_t)ev[i].fd < c->cap_byfd ? c->byfd[ev[i].fd] : (struct client_xfer *)NULL;
        if (x != NULL) {
            h1_io(c, x, ev[i].what);
            continue;
        }
        if (c->multi == NULL)
            continue; /* a direct socket closed earlier in this batch */
        flags = ((ev[i].what & POLLER_IN) ? CURL_CSELECT_IN : 0) |
                ((ev[i].what & POLLER_OUT) ? CURL_CSELECT_OUT : 0) |
                ((ev[i].what & POLLER_ERR) ? CURL_CSELECT_ERR : 0);
        if (curl_multi_socket_action(c->multi, ev[i].fd, flags, &running) != CURLM_OK)
            return -1;
    }
    if (c->multi == NULL)
        return 0;
    if (c->timer_at >= 0 && clock_mono_ns() >= c->timer_at) {
        c->timer_at = -1;
        if (curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
            return -1;
    }
    if (c->sock_err)
        return -1;
    reap(c);
    return 0;
}

/* How long the poller may sleep: until the next send, libcurl's timer, or
 * CLIENT_POLL_MS (cancel and deadlines are checked that often). With the
 * poller's tick set (`ticking`) the last is the tick's job: then -1 when
 * nothing else is due, and no kernel timer is armed per wait. */
static long
wait_ms(const struct client *c, int64_t now, long next_send, int ticking)
{
    long wait = ticking ? -1 : CLIENT_POLL_MS, next;

    if (next_send >= 0 && (wait < 0 || next_send < wait))
        wait = next_send;
    if (c->timer_at >= 0) {
        next = c->timer_at <= now ? 0 : (long)((c->timer_at - now + 999999) / 1000000);
        if (wait < 0 || next < wait)
            wait = next;
    }
    return wait;
}

/*
 * The loop of client_run: start what is due, wait (on the poller, or in
 * a solo transfer's recv), dispatch, and check deadlines and cancel at
 * most every CLIENT_DEADLINE_MS / CLIENT_POLL_MS.
 * One clock read per turn, plus one per read on the direct path (the
 * event timestamp); the deadline check reads it again only when it may be
 * due. 0, or -1 when the poller or libcurl failed.
 */
static int
run_loop(struct client *c, client_cancel_fn cancel, void *arg, int ticking)
{
    struct poller_ev ev[POLLER_BATCH];
    int64_t last_cancel_check = 0, last_deadline_check = 0;
    int cancelling = 0;

    while (c->npending + c->nactive > 0) {
        int64_t now = clock_mono_ns();
        struct client_xfer *solo;
        long wait;
        int n;

        if (cancel != NULL && now - last_cancel_check >= CLIENT_POLL_MS * 1000000LL) {
            last_cancel_check = now;
            if (!cancelling && cancel(arg))
                cancelling = 1;
        }
        if (cancelling) {
            while (c->npending > 0)
                req_skip(c, c->pending[--c->npending], "cancelled");
        }
        wait = wait_ms(c, now, start_due(c, now), ticking);
        if (cancelling)
            wait = 0;
        solo = solo_pick(c, cancelling);
        if (solo != NULL) {
            n = solo_read(c, solo);
        } else {
            solo_leave(c);
            n = poller_wait(c->poll, ev, POLLER_BATCH, (int)wait);
            if (n == -1 || dispatch(c, ev, n) == -1)
                return -1;
        }
        /* Walking every stream costs O(streams); deadlines are far coarser
         * than 10 ms, so they are checked that often, not on every event. */
        if (cancelling || n == 0 ||
            now - last_deadline_check >= CLIENT_DEADLINE_MS * 1000000LL) {
            now = clock_mono_ns();
            if (cancelling || now - last_deadline_check >= CLIENT_DEADLINE_MS * 1000000LL) {
                last_deadline_check = now;
                check_deadlines(c, now, cancelling);
            }
        }
    }
    return 0;
}

int
client_run(struct client *c, client_done_fn done, client_cancel_fn cancel, void *arg)
{
    int ticking, rc;

    c->done = done;
    c->done_arg = arg;
    /* The tick runs only while requests do: an idle client never wakes. */
    ticking = poller_tick(c->poll, CLIENT_POLL_MS) == 0;
    rc = run_loop(c, cancel, arg, ticking);
    if (ticking)
        (void)poller_tick(c->poll, 0);
    return rc;
}

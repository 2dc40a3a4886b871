/* client.c - see client.h. */
#include "daemon/client.h"

#include "daemon/chunk.h"
#include "common/clock.h"
#include "daemon/figures.h"
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

struct client_xfer {
    CURL *easy;
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
    CURLM *multi;
    struct poller *poll; /* the sockets libcurl asks us to watch */
    int64_t timer_at;    /* libcurl's timeout, monotonic ns; -1: none */
    int sock_err;        /* a socket could not be watched */
    char url[CLIENT_URL_MAX];
    char auth[CLIENT_URL_MAX];
    struct client_opts o;
    struct client_req **pending; /* not yet sent */
    size_t npending, cap_pending;
    struct client_xfer **active; /* in flight */
    size_t nactive, cap_active;
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

struct client *
client_new(const struct client_opts *opts)
{
    struct client *c = calloc(1, sizeof(*c));
    size_t n;

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
    c->timer_at = -1;
    c->multi = client_curl_init() == 0 ? curl_multi_init() : NULL;
    c->poll = poller_new();
    if (c->multi == NULL || c->poll == NULL) {
        if (c->multi != NULL)
            curl_multi_cleanup(c->multi);
        poller_free(c->poll);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

void
client_free(struct client *c)
{
    if (c == NULL)
        return;
    curl_multi_cleanup(c->multi);
    poller_free(c->poll);
    free(c->pending);
    free(c->active);
    free(c);
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

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct client_xfer *x = arg;
    size_t n = size * nmemb;

    x->t_chunk = clock_mono_ns();
    if (x->t_first_byte == 0) {
        x->t_first_byte = x->t_chunk;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->abort_code[0] != '\0')
        return 0;
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
        return n;
    }
    if (sse_feed(x->sse, ptr, n) == -1) {
        if (sse_error(x->sse) != SSE_ERR_STOPPED)
            xfer_abort(x, "malformed_sse", "%s", sse_strerror(sse_error(x->sse)));
        return 0;
    }
    return n;
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

static int
xfer_start(struct client *c, struct client_req *r)
{
    struct client_xfer *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return -1;
    x->req = r;
    r->x = x;
    x->easy = curl_easy_init();
    x->sse = sse_new(on_event, x);
    x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    x->hdrs = curl_slist_append(x->hdrs, "Accept: text/event-stream");
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    if (c->auth[0] != '\0')
        x->hdrs = curl_slist_append(x->hdrs, c->auth);
    if (x->easy == NULL || x->sse == NULL || x->hdrs == NULL)
        goto fail;
    curl_easy_setopt(x->easy, CURLOPT_URL, c->url);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, r->body);
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
    x->t_add = clock_mono_ns();
    x->t_sent = x->t_add; /* refined by the prereq callback */
    r->rec.started_at = clock_wall_ms();
    if (r->sched_ns > 0)
        r->rec.sched_delay_us = (x->t_add - r->sched_ns) / 1000;
    if (c->nactive == c->cap_active) {
        size_t ncap = c->cap_active ? c->cap_active * 2 : 16;
        struct client_xfer **p = realloc(c->active, ncap * sizeof(*p));
        if (p == NULL)
            goto fail;
        c->active = p;
        c->cap_active = ncap;
    }
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
        goto fail;
    x->slot = c->nactive;
    c->active[c->nactive++] = x;
    return 0;
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    sse_free(x->sse);
    curl_slist_free_all(x->hdrs);
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

static void
classify(struct client_xfer *x, CURLcode res, int64_t t_done)
{
    struct sample_rec *s = &x->req->rec;
    int has_finish = s->finish_reason[0] != '\0';

    s->ok = 0;
    if (x->abort_code[0] != '\0') {
        snprintf(s->error_code, sizeof(s->error_code), "%s", x->abort_code);
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", x->abort_detail);
    } else if (res == CURLE_COULDNT_CONNECT) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_refused");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", curl_easy_strerror(res));
    } else if (res == CURLE_OPERATION_TIMEDOUT && x->t_first_byte == 0) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_timeout");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", curl_easy_strerror(res));
    } else if (x->status >= 400) {
        snprintf(s->error_code, sizeof(s->error_code), "http_%ld", x->status);
        error_detail_from_body(x, s->error_detail, sizeof(s->error_detail));
    } else if (res != CURLE_OK && x->t_first_byte != 0) {
        snprintf(s->error_code, sizeof(s->error_code), "truncated_stream");
        snprintf(s->error_detail, sizeof(s->error_detail), "connection ended mid-stream: %s",
                 curl_easy_strerror(res));
    } else if (res != CURLE_OK) {
        snprintf(s->error_code, sizeof(s->error_code), "connect_failed");
        snprintf(s->error_detail, sizeof(s->error_detail), "%s", curl_easy_strerror(res));
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
    (void)t_done;
}

static void
xfer_finish(struct client *c, struct client_xfer *x, CURLcode res, client_done_fn done,
            void *arg)
{
    struct client_req *r = x->req;
    struct sample_rec *s = &r->rec;
    int64_t t_done = clock_mono_ns();

    curl_multi_remove_handle(c->multi, x->easy);
    c->nactive--;
    c->active[x->slot] = c->active[c->nactive];
    c->active[x->slot]->slot = x->slot;
    if (x->t_first_byte != 0 && x->status == 0)
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    /* Event offsets were taken against the t_sent known at the time; the
     * prereq callback always runs before any byte arrives, so they agree. */
    s->ttfb_us = us_since(x->t_first_byte, x->t_sent);
    s->ttfr_us = us_since(x->t_first_event, x->t_sent);
    s->ttft_us = us_since(x->t_first_token, x->t_sent);
    s->t_last_us = us_since(x->t_last_token, x->t_sent);
    s->t_done_us = (t_done - x->t_sent) / 1000;
    r->t_sent_ns = x->t_sent;
    s->n_events = x->n_text_events + x->n_reasoning_events;
    classify(x, res, t_done);
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
    curl_easy_cleanup(x->easy);
    sse_free(x->sse);
    curl_slist_free_all(x->hdrs);
    free(x->errbody);
    free(x);
    r->x = NULL;
    done(arg, r);
}

/* Finish a request that was never sent (cancelled before its time). */
static void
req_skip(struct client_req *r, const char *code, client_done_fn done, void *arg)
{
    r->rec.ok = 0;
    r->rec.started_at = clock_wall_ms();
    snprintf(r->rec.error_code, sizeof(r->rec.error_code), "%s", code);
    snprintf(r->rec.error_detail, sizeof(r->rec.error_detail), "not sent");
    done(arg, r);
}

/* Send what is due; returns ms until the next scheduled send (or -1). */
static long
start_due(struct client *c, int64_t now, client_done_fn done, void *arg)
{
    size_t i, j = 0;
    int64_t next = 0;
    long wait = -1;

    for (i = 0; i < c->npending; i++) {
        struct client_req *r = c->pending[i];
        if (r->sched_ns <= now) {
            if (xfer_start(c, r) == -1) {
                snprintf(r->rec.error_detail, sizeof(r->rec.error_detail), "out of memory");
                req_skip(r, "client_error", done, arg);
            }
            continue;
        }
        if (next == 0 || r->sched_ns < next)
            next = r->sched_ns;
        c->pending[j++] = r;
    }
    c->npending = j;
    if (next != 0)
        wait = (long)((next - now) / 1000000);
    return wait;
}

/* Apply the first-token, stall and whole-request deadlines, and cancel. */
static void
check_deadlines(struct client *c, int64_t now, int cancelling, client_done_fn done, void *arg)
{
    size_t i = c->nactive;

    while (i-- > 0) {
        struct client_xfer *x = c->active[i];
        int64_t since_sent = (now - x->t_sent) / 1000000, extra = x->req->extra_ms;
        long long req_ms = c->o.request_timeout_ms + extra;
        long long first_ms = c->o.first_token_timeout_ms + extra;

        if (cancelling) {
            xfer_abort(x, "cancelled", "%s", "aborted by cancel");
        } else if (since_sent > req_ms) {
            xfer_abort(x, "timeout", "request took longer than %lld ms", req_ms);
        } else if (x->t_first_token == 0) {
            if (since_sent > first_ms) {
                xfer_abort(x, "timeout", "no token within %lld ms", first_ms);
            }
        } else if ((now - x->t_last_event) / 1000000 > c->o.stall_timeout_ms) {
            xfer_abort(x, "stall", "no event for %d ms mid-stream", c->o.stall_timeout_ms);
        }
        if (x->abort_code[0] != '\0')
            xfer_finish(c, x, CURLE_ABORTED_BY_CALLBACK, done, arg);
    }
}

/* Hand finished transfers to xfer_finish. */
static void
reap(struct client *c, client_done_fn done, void *arg)
{
    struct CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        struct client_xfer *x = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        xfer_finish(c, x, m->data.result, done, arg);
    }
}

int
client_run(struct client *c, client_done_fn done, client_cancel_fn cancel, void *arg)
{
    struct poller_ev ev[POLLER_BATCH];
    int64_t last_cancel_check = 0, last_deadline_check = 0;
    int cancelling = 0;

    while (c->npending + c->nactive > 0) {
        int64_t now = clock_mono_ns();
        long wait = CLIENT_POLL_MS, next;
        int running, n, i, flags;

        if (cancel != NULL && now - last_cancel_check >= CLIENT_POLL_MS * 1000000LL) {
            last_cancel_check = now;
            if (!cancelling && cancel(arg))
                cancelling = 1;
        }
        if (cancelling) {
            while (c->npending > 0)
                req_skip(c->pending[--c->npending], "cancelled", done, arg);
        }
        next = start_due(c, now, done, arg);
        if (next >= 0 && next < wait)
            wait = next;
        if (c->timer_at >= 0) {
            next = c->timer_at <= now ? 0 : (long)((c->timer_at - now + 999999) / 1000000);
            if (next < wait)
                wait = next;
        }
        if (cancelling)
            wait = 0;
        n = poller_wait(c->poll, ev, POLLER_BATCH, (int)wait);
        if (n == -1)
            return -1;
        for (i = 0; i < n; i++) {
            flags = ((ev[i].what & POLLER_IN) ? CURL_CSELECT_IN : 0) |
                    ((ev[i].what & POLLER_OUT) ? CURL_CSELECT_OUT : 0) |
                    ((ev[i].what & POLLER_ERR) ? CURL_CSELECT_ERR : 0);
            if (curl_multi_socket_action(c->multi, ev[i].fd, flags, &running) != CURLM_OK)
                return -1;
        }
        if (c->timer_at >= 0 && clock_mono_ns() >= c->timer_at) {
            c->timer_at = -1;
            if (curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running) !=
                CURLM_OK)
                return -1;
        }
        if (c->sock_err)
            return -1;
        reap(c, done, arg);
        /* Walking every stream costs O(streams); deadlines are far coarser
         * than 10 ms, so they are checked that often, not on every event. */
        now = clock_mono_ns();
        if (cancelling || now - last_deadline_check >= CLIENT_DEADLINE_MS * 1000000LL) {
            last_deadline_check = now;
            check_deadlines(c, now, cancelling, done, arg);
        }
    }
    return 0;
}

/*
 * http1.h - an HTTP/1.1 client connection over a plain TCP socket: the
 * streaming client's direct read path for http:// servers, and a blocking
 * one-shot request for the /v1/models probe.
 *
 * Why it exists: libcurl 7.88 polls the socket after every read, so each
 * SSE event cost an epoll_wait, a recvfrom and a poll(2), plus libcurl's
 * own allocations and clock reads; here an event costs one recv and the
 * parse. Only what a local inference server needs is spoken: plain http,
 * no proxy, no TLS, no redirects. Anything else is "not mine" and the caller
 * uses libcurl.
 *
 * Parts: the URL split and proxy rule (http1_mine), an incremental response
 * parser that never allocates (status line, headers, then a chunked,
 * Content-Length or close-delimited body handed out in spans), a pool of
 * keep-alive connections to one server, and a connection's non-blocking
 * connect/send/recv steps. Not thread-safe: a pool and its connections
 * belong to one thread. Calls nothing of ours but common/clock.
 */
#ifndef TPSD_HTTP1_H
#define TPSD_HTTP1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_HOST_MAX 256        /* host name or IPv6 literal */
#define HTTP1_PATH_MAX 1024       /* URL path prefix */
#define HTTP1_HEAD_MAX (8 * 1024) /* a response head (status line and headers) */
#define HTTP1_LINE_MAX 1024       /* a chunk-size or trailer line */
#define HTTP1_REQ_HEAD_MAX 4096   /* request line and headers we write */
#define HTTP1_ADDRS_MAX 8         /* addresses kept from one resolution */
#define HTTP1_IDLE_MAX 1024       /* idle keep-alive connections kept */
#define HTTP1_ERR_MAX 256         /* an error message */

/* A URL this module speaks: http://host[:port][/prefix]. */
struct http1_url {
    char host[HTTP1_HOST_MAX];         /* without IPv6 brackets */
    char port[8];                      /* decimal, "80" when none was given */
    char prefix[HTTP1_PATH_MAX];       /* "" or "/a/b": the path without a trailing '/' */
    char hosthdr[HTTP1_HOST_MAX + 16]; /* Host header value, as libcurl writes it */
};

/*
 * Split `url` (http://host[:port][/prefix], a host name, IPv4 or [IPv6]
 * literal) into *u. Returns 0, or -1 for anything else ("not mine": https,
 * userinfo, a query or fragment, a zone id, odd characters, over a limit)
 * and for a URL libcurl would send through a proxy (http1_proxied).
 */
int http1_mine(const char *url, struct http1_url *u);

/*
 * 1 when libcurl would use a proxy for an http:// request to `host`: one of
 * http_proxy (lowercase only, as libcurl reads it for http), all_proxy or
 * ALL_PROXY is set and non-empty, and no_proxy/NO_PROXY does not exempt
 * the host ("*", or an entry equal to the host or a domain suffix of it).
 * 0 otherwise.
 */
int http1_proxied(const char *host);

/* ---- the response parser ---- */

enum http1_err {
    HTTP1_E_NONE = 0,
    HTTP1_E_HEAD_CAP,  /* the head is over HTTP1_HEAD_MAX */
    HTTP1_E_STATUS,    /* not an HTTP/1.x status line, or 101 */
    HTTP1_E_HEADER,    /* a header line without a name and colon */
    HTTP1_E_LENGTH,    /* a bad or conflicting Content-Length */
    HTTP1_E_CHUNK,     /* a bad chunk size line or chunk end */
    HTTP1_E_STOPPED,   /* the body callback asked to stop */
    HTTP1_E_TRUNCATED, /* the connection ended before the message did */
};

/* A span of body bytes; non-zero stops the parse (HTTP1_E_STOPPED). */
typedef int (*http1_body_fn)(void *arg, const char *p, size_t n);

/* One response being parsed. Plain data: embed it, no free needed. */
struct http1_parser {
    int state;
    enum http1_err err;
    int status;     /* final status code once the head is parsed, else 0 */
    int head_done;  /* the final (non-1xx) head has been parsed */
    int complete;   /* the whole message has been parsed */
    int keep_alive; /* the connection may carry another request after it */
    int chunked, has_length, saw_te;
    int fold_framing;   /* the last header line was a framing header */
    uint64_t remaining; /* body bytes left (Content-Length) or of this chunk */
    uint64_t body_bytes;
    size_t head_len, line_len;
    char line[HTTP1_LINE_MAX];
    char head[HTTP1_HEAD_MAX];
};

/* Ready `p` for a response. */
void http1_parser_init(struct http1_parser *p);

/*
 * Feed n bytes of the response. Body bytes go to fn(arg, ...) in spans
 * (never copied, never allocated). Bytes after the end of the message are
 * ignored and make the connection unusable for another request. Returns 0,
 * or -1 with p->err set; after an error every call returns -1.
 */
int http1_parse(struct http1_parser *p, const char *buf, size_t n, http1_body_fn fn, void *arg);

/*
 * The connection ended (read returned 0). 0 when that ends the message (a
 * body delimited by the close, or the message was already complete), else
 * -1 with p->err = HTTP1_E_TRUNCATED.
 */
int http1_parse_eof(struct http1_parser *p);

/* A short English message for e. Never NULL. */
const char *http1_strerror(enum http1_err e);

/* ---- connections to one server ---- */

struct http1_pool;

/* A pool for the server of u (copied). Nothing is resolved or connected
 * yet. NULL on out of memory. */
struct http1_pool *http1_pool_new(const struct http1_url *u);
/* Close every idle connection and free the pool. NULL is fine. */
void http1_pool_free(struct http1_pool *pool);
/* TCP connections the pool has opened so far (for tests and logs). */
uint64_t http1_pool_connects(const struct http1_pool *pool);
/* The server's URL parts. */
const struct http1_url *http1_pool_url(const struct http1_pool *pool);

/* How a connection failed (the caller maps it to its own codes). */
enum http1_fail {
    HTTP1_F_NONE = 0,
    HTTP1_F_RESOLVE, /* the host name did not resolve */
    HTTP1_F_CONNECT, /* no address accepted the connection */
    HTTP1_F_SEND,    /* writing the request failed */
    HTTP1_F_RECV,    /* reading failed (not an orderly close) */
    HTTP1_F_NOMEM,
};

/* One request/response exchange on one TCP connection. Embed it; start
 * with http1_conn_open, end with http1_conn_close. */
struct http1_conn {
    int fd;         /* -1 when none */
    int reused;     /* taken from the pool's idle connections */
    int connecting; /* the non-blocking connect is still in progress */
    int addr_i;     /* the address being tried */
    int sockerr;    /* why the last address failed (errno), for the message */
    enum http1_fail fail;
    char detail[HTTP1_ERR_MAX]; /* why, when fail is set */
    char *out;                  /* the request bytes (owned) */
    size_t out_len, out_off;
    uint64_t nread; /* response bytes received */
    int wait_ms;    /* > 0: the socket blocks in recv up to this (http1_conn_recv_wait) */
    struct http1_parser p;
};

/*
 * Start an exchange: an idle connection of the pool when one is still open
 * (c->reused = 1), else a new non-blocking TCP connect (TCP_NODELAY, close
 * on exec, no SIGPIPE) to the first address that does not refuse at once;
 * c->connecting says whether it is still in progress (wait for writable,
 * then http1_conn_connected). The host is resolved on the first call and
 * kept. 0, or -1 with c->fail/c->detail set and c->fd = -1.
 */
int http1_conn_open(struct http1_pool *pool, struct http1_conn *c);

/*
 * The socket was reported writable while connecting: 0 when connected
 * (c->connecting cleared), 1 when it is not writable after all (a stale
 * report: keep waiting), -1 when this address failed (the socket is still
 * open: stop watching it, then call http1_conn_next).
 */
int http1_conn_connected(struct http1_conn *c);

/*
 * Close c->fd (the caller stopped watching it) and connect to the next
 * address of the pool, as http1_conn_open does. 0 (watch the new c->fd),
 * or -1 when none is left: c->fail = HTTP1_F_CONNECT, c->fd = -1.
 */
int http1_conn_next(struct http1_pool *pool, struct http1_conn *c);

/*
 * The connection was a reused one and failed before any response byte
 * (the server closed it while idle): close it and connect anew, never to a
 * pooled socket, keeping the request bytes to send again from the start.
 * The caller stopped watching c->fd. 0 or -1 as http1_conn_open.
 */
int http1_conn_retry(struct http1_pool *pool, struct http1_conn *c);

/*
 * Build the request into c->out: `method` `path` HTTP/1.1, Host, then the
 * optional headers (content_type, accept, a bearer token), Content-Length
 * when body is not NULL, and the body. 0, or -1 on out of memory or
 * over HTTP1_REQ_HEAD_MAX (c->fail set).
 */
int http1_conn_request(struct http1_conn *c, const struct http1_url *u, const char *method,
                       const char *path, const char *content_type, const char *accept,
                       const char *token, const char *body, size_t body_len);

/* Write what is left of the request: 1 when all is written, 0 when the
 * socket is full (wait for writable), -1 on error (c->fail set). */
int http1_conn_send(struct http1_conn *c);

/* One recv of up to cap bytes: the count, 0 on an orderly close, -1 with
 * errno EAGAIN when nothing is there, or -1 on error (c->fail set). */
ssize_t http1_conn_recv(struct http1_conn *c, char *buf, size_t cap);

/*
 * One recv that waits up to wait_ms (> 0) for data: for a client with one
 * stream in flight, one system call per wake-up where a poller wait and a
 * recv are two. The first call makes the socket blocking with SO_RCVTIMEO
 * = wait_ms; it stays so until http1_conn_nowait or http1_conn_close, so
 * do not hand it to a poller meanwhile. Returns as http1_conn_recv: -1 with
 * errno EAGAIN when wait_ms passed (or a signal came) with nothing read.
 */
ssize_t http1_conn_recv_wait(struct http1_conn *c, char *buf, size_t cap, int wait_ms);

/* Make c's socket non-blocking again after http1_conn_recv_wait (a no-op
 * otherwise). 0, or -1 with c->fail set. */
int http1_conn_nowait(struct http1_conn *c);

/*
 * End the exchange: the socket goes back to the pool (non-blocking) when
 * the response was complete, keep-alive, and `reusable` is non-zero;
 * otherwise it is closed.
 * Frees c->out. The caller stops watching c->fd first. Safe to call twice.
 */
void http1_conn_close(struct http1_pool *pool, struct http1_conn *c, int reusable);

/*
 * A blocking one-shot GET of `url` (only when http1_mine(url)): connect
 * within connect_ms, the whole exchange within total_ms; the body goes to
 * fn(arg, ...) (non-zero stops: an error). On 0, *status is the response's.
 * -1 on any failure, with a message in err (errlen bytes).
 */
int http1_get(const char *url, const char *token, int connect_ms, int total_ms,
              http1_body_fn fn, void *arg, int *status, char *err, size_t errlen);

#endif

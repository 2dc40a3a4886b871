/*
 * http1.c - see http1.h.
 *
 * How it works. A URL is ours only when it is plain http with nothing
 * libcurl would treat specially (userinfo, a query, a proxy from the
 * environment): then a pool keeps the server's resolved addresses and its
 * idle keep-alive sockets. An exchange takes an idle socket (checked with a
 * zero-timeout poll, as libcurl checks a pooled connection before reuse) or
 * connects anew without blocking, writes one buffer (request line, headers,
 * body), and feeds what it reads to the parser.
 *
 * The parser is a byte-driven state machine over one embedded struct: the
 * head is gathered line by line into a fixed buffer (a cap, no allocation)
 * and read when its empty line arrives; 1xx interim heads are skipped; the
 * body is then handed out in spans straight from the caller's read buffer,
 * framed by chunked coding (size lines and trailers gathered in a second
 * fixed buffer), a Content-Length, or the close. Framing follows RFC 9112
 * section 6.3: Transfer-Encoding wins over Content-Length (and then the
 * connection is not reused); 204 and 304 have no body.
 */
#include "daemon/http1.h"

#include "common/clock.h"
#include "common/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP1_CL_DIGITS_MAX 18    /* Content-Length digits: below 2^63 */
#define HTTP1_CHUNK_DIGITS_MAX 15 /* hex digits of a chunk size: below 2^60 */
#define HTTP1_GET_READ (16 * 1024)

/* ---- URLs and proxies ---- */

static int
host_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.';
}

/* RFC 3986 pchar and '/', percent escapes passed through as libcurl does;
 * '?' and '#' are not ours (libcurl would split them off). */
static int
path_char(int ch)
{
    return host_char(ch) || (ch != '\0' && strchr("_~!$&'()*+,;=:@%/", ch) != NULL);
}

/*
 * Host (brackets stripped) and port out of the authority s[0..n). How: a
 * '[' starts an IPv6 literal, taken to its ']' when made of hex digits,
 * ':' and '.' only (a zone id is left to libcurl); otherwise the host runs
 * to the first ':' over name characters. A port is 1-5 digits in 1..65535,
 * 80 when absent. The Host header is then written as libcurl writes it:
 * brackets kept, the port only when it is not 80.
 */
static int
split_authority(const char *s, size_t n, struct http1_url *u)
{
    const char *port = NULL;
    size_t hlen, i, plen = 0;
    long pv = 0;

    if (n > 0 && s[0] == '[') {
        const char *end = memchr(s, ']', n);
        if (end == NULL)
            return -1;
        for (i = 1; s + i < end; i++)
            if (!(s[i] == ':' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
                  (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
                return -1; /* a zone id or junk: libcurl's business */
        hlen = (size_t)(end - s) - 1;
        if (hlen == 0 || hlen >= sizeof(u->host))
            return -1;
        memcpy(u->host, s + 1, hlen);
        u->host[hlen] = '\0';
        i = (size_t)(end - s) + 1;
        if (i < n && s[i] != ':')
            return -1;
        if (i < n)
            port = s + i + 1, plen = n - i - 1;
    } else {
        for (hlen = 0; hlen < n && s[hlen] != ':'; hlen++)
            if (!host_char((unsigned char)s[hlen]))
                return -1;
        if (hlen == 0 || hlen >= sizeof(u->host))
            return -1;
        memcpy(u->host, s, hlen);
        u->host[hlen] = '\0';
        if (hlen < n)
            port = s + hlen + 1, plen = n - hlen - 1;
    }
    if (port != NULL) {
        if (plen == 0 || plen > 5)
            return -1;
        for (i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9')
                return -1;
            pv = pv * 10 + (port[i] - '0');
        }
        if (pv < 1 || pv > 65535)
            return -1;
    } else {
        pv = 80;
    }
    snprintf(u->port, sizeof(u->port), "%ld", pv);
    /* libcurl's Host header: the port only when not the scheme's default. */
    snprintf(u->hosthdr, sizeof(u->hosthdr), "%s%s%s%s%s", s[0] == '[' ? "[" : "", u->host,
             s[0] == '[' ? "]" : "", pv == 80 ? "" : ":", pv == 80 ? "" : u->port);
    return 0;
}

static int
url_split(const char *url, struct http1_url *u)
{
    const char *auth, *path;
    size_t alen, plen, i;

    memset(u, 0, sizeof(*u));
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    auth = url + 7;
    alen = strcspn(auth, "/?#@");
    if (auth[alen] == '?' || auth[alen] == '#' || auth[alen] == '@')
        return -1;
    if (split_authority(auth, alen, u) == -1)
        return -1;
    path = auth + alen;
    plen = strlen(path);
    for (i = 0; i < plen; i++)
        if (!path_char((unsigned char)path[i]))
            return -1;
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(u->prefix))
        return -1;
    memcpy(u->prefix, path, plen);
    u->prefix[plen] = '\0';
    return 0;
}

static const char *
env_set(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Does the no_proxy list exempt host? As libcurl (lib/proxy.c,
 * proxy_check_noproxy): the whole value "*" exempts all; an IP host is
 * compared as an address (an entry that is the same address; CIDR ranges
 * are left to libcurl), a name as the host itself or a domain suffix. */
static int
noproxy_exempts(const char *list, const char *host)
{
    unsigned char ha[16], ea[16];
    char ent[64];
    size_t hlen = strlen(host);
    const char *p = list;
    int fam = inet_pton(AF_INET, host, ha) == 1    ? AF_INET
              : inet_pton(AF_INET6, host, ha) == 1 ? AF_INET6
                                                   : 0;

    if (strcmp(list, "*") == 0)
        return 1;
    while (*p != '\0') {
        size_t n;
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        n = strcspn(p, ", \t");
        if (fam != 0) {
            if (n > 0 && n < sizeof(ent)) {
                memcpy(ent, p, n);
                ent[n] = '\0';
                if (inet_pton(fam, ent, ea) == 1 &&
                    memcmp(ha, ea, fam == AF_INET ? 4 : 16) == 0)
                    return 1;
            }
        } else {
            const char *q = p;
            size_t m = n;
            if (m > 0 && q[0] == '.')
                q++, m--;
            if (m > 0 && m <= hlen && strncasecmp(host + hlen - m, q, m) == 0 &&
                (m == hlen || host[hlen - m - 1] == '.'))
                return 1;
        }
        p += n;
    }
    return 0;
}

int
http1_proxied(const char *host)
{
    const char *np;

    /* lib/url.c detect_proxy: for http only the lowercase http_proxy (the
     * uppercase one can be set by a CGI request header), then all_proxy /
     * ALL_PROXY; no_proxy before NO_PROXY. */
    if (env_set("http_proxy") == NULL && env_set("all_proxy") == NULL &&
        env_set("ALL_PROXY") == NULL)
        return 0;
    np = env_set("no_proxy");
    if (np == NULL)
        np = env_set("NO_PROXY");
    return np != NULL && noproxy_exempts(np, host) ? 0 : 1;
}

/* A host libcurl would rewrite as an IPv4 address (its last label a
 * number: "127.1", "2130706433", "0x7f.1") that is not one already. */
static int
odd_ipv4(const char *host)
{
    const char *last = strrchr(host, '.');
    unsigned char a[4];

    last = last != NULL ? last + 1 : host;
    if (strchr(host, ':') != NULL || last[0] == '\0' ||
        (strspn(last, "0123456789") != strlen(last) && strncasecmp(last, "0x", 2) != 0))
        return 0;
    return inet_pton(AF_INET, host, a) != 1;
}

int
http1_mine(const char *url, struct http1_url *u)
{
    if (url == NULL || url_split(url, u) == -1 || odd_ipv4(u->host))
        return -1;
    return http1_proxied(u->host) ? -1 : 0;
}

/* ---- the response parser ---- */

enum {
    P_HEAD = 0,
    P_BODY_LEN,
    P_BODY_CLOSE,
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_END,
    P_TRAILER,
    P_DONE,
    P_ERR,
};

void
http1_parser_init(struct http1_parser *p)
{
    p->state = P_HEAD;
    p->err = HTTP1_E_NONE;
    p->status = 0;
    p->head_done = 0;
    p->complete = 0;
    p->keep_alive = 0;
    p->chunked = 0;
    p->has_length = 0;
    p->saw_te = 0;
    p->remaining = 0;
    p->body_bytes = 0;
    p->head_len = 0;
    p->line_len = 0;
    p->fold_framing = 0;
}

static int
fail(struct http1_parser *p, enum http1_err e)
{
    p->err = e;
    p->state = P_ERR;
    p->keep_alive = 0;
    return -1;
}

/* Does the comma-separated header value v[0..n) hold the token tok? With
 * last set: is tok its last element? */
static int
has_token(const char *v, size_t n, const char *tok, int last)
{
    size_t i = 0, tl = strlen(tok);
    int found = 0;

    while (i < n) {
        size_t s, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        s = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == s)
            continue;
        found = e - s == tl && strncasecmp(v + s, tok, tl) == 0;
        if (found && !last)
            return 1;
    }
    return found;
}

static int
parse_status(struct http1_parser *p, const char *s, size_t n)
{
    int code;

    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (n > 12 && s[12] != ' '))
        return fail(p, HTTP1_E_STATUS);
    code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (code == 101)
        return fail(p, HTTP1_E_STATUS); /* never asked to switch protocols */
    p->status = code;
    p->keep_alive = s[7] != '0'; /* HTTP/1.0: closes unless told otherwise */
    return 0;
}

static int
parse_length(struct http1_parser *p, const char *v, size_t n)
{
    uint64_t len = 0;
    size_t i;

    if (n == 0 || n > HTTP1_CL_DIGITS_MAX)
        return fail(p, HTTP1_E_LENGTH);
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(p, HTTP1_E_LENGTH);
        len = len * 10 + (uint64_t)(v[i] - '0');
    }
    if (p->has_length && p->remaining != len)
        return fail(p, HTTP1_E_LENGTH);
    p->has_length = 1;
    p->remaining = len;
    return 0;
}

/* One header line s[0..n) (no CRLF): only the framing headers matter. */
static int
parse_header(struct http1_parser *p, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t nlen, i;
    const char *v;
    size_t vlen;

    if (s[0] == ' ' || s[0] == '\t')
        /* obs-fold: a continuation of the header before; refused when that
         * was a framing header, whose value would change (RFC 9112 5.2). */
        return p->fold_framing ? fail(p, HTTP1_E_HEADER) : 0;
    p->fold_framing = 0;
    if (colon == NULL || colon == s)
        return fail(p, HTTP1_E_HEADER);
    nlen = (size_t)(colon - s);
    for (i = 0; i < nlen; i++)
        if (s[i] == ' ' || s[i] == '\t')
            return fail(p, HTTP1_E_HEADER);
    v = colon + 1;
    vlen = n - nlen - 1;
    while (vlen > 0 && (v[0] == ' ' || v[0] == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (nlen == 17 && strncasecmp(s, "transfer-encoding", 17) == 0) {
        p->saw_te = 1;
        p->chunked = has_token(v, vlen, "chunked", 1);
    } else if (nlen == 14 && strncasecmp(s, "content-length", 14) == 0) {
        p->fold_framing = 1;
        return parse_length(p, v, vlen);
    } else if (nlen == 10 && strncasecmp(s, "connection", 10) == 0) {
        if (has_token(v, vlen, "close", 0))
            p->keep_alive = 0;
    } else {
        return 0;
    }
    p->fold_framing = 1;
    return 0;
}

/* The empty line ending a head: skip a 1xx, else choose the body framing. */
static int
end_of_head(struct http1_parser *p)
{
    if (p->status < 200) {
        p->status = 0; /* 100 Continue, 102, 103: the real head follows */
        p->has_length = 0;
        p->saw_te = 0;
        p->chunked = 0;
        p->head_len = 0;
        return 0;
    }
    p->head_done = 1;
    if (p->status == 204 || p->status == 304) {
        p->state = P_DONE;
    } else if (p->saw_te) {
        if (p->has_length)
            p->keep_alive = 0; /* both framings: do not trust the connection */
        if (p->chunked) {
            p->state = P_CHUNK_SIZE;
        } else {
            p->state = P_BODY_CLOSE;
            p->keep_alive = 0;
        }
    } else if (p->has_length) {
        p->state = p->remaining == 0 ? P_DONE : P_BODY_LEN;
    } else {
        p->state = P_BODY_CLOSE;
        p->keep_alive = 0;
    }
    p->complete = p->state == P_DONE;
    return 0;
}

/* Gather head bytes up to a line's end; a complete line is read at once. */
static size_t
feed_head(struct http1_parser *p, const char *buf, size_t n)
{
    const char *nl = memchr(buf, '\n', n);
    size_t take = nl != NULL ? (size_t)(nl - buf) + 1 : n, start, len;

    if (p->head_len + take > sizeof(p->head)) {
        fail(p, HTTP1_E_HEAD_CAP);
        return n;
    }
    memcpy(p->head + p->head_len, buf, take);
    p->head_len += take;
    if (nl == NULL)
        return take;
    /* The line just completed starts after the previous one's '\n'. */
    start = p->line_len;
    len = p->head_len - start - 1;
    if (len > 0 && p->head[start + len - 1] == '\r')
        len--;
    p->line_len = p->head_len;
    if (p->status == 0) {
        if (parse_status(p, p->head + start, len) == -1)
            return n;
    } else if (len == 0) {
        p->line_len = 0;
        end_of_head(p);
    } else if (parse_header(p, p->head + start, len) == -1) {
        return n;
    }
    return take;
}

/* Gather a chunk-size or trailer line into p->line. 1 when it is complete
 * (p->line[0..line_len) without CRLF), 0 when more is needed; *used set. */
static int
gather_line(struct http1_parser *p, const char *buf, size_t n, size_t *used)
{
    const char *nl = memchr(buf, '\n', n);
    size_t take = nl != NULL ? (size_t)(nl - buf) + 1 : n;

    *used = take;
    if (p->line_len + take > sizeof(p->line)) {
        fail(p, HTTP1_E_CHUNK);
        *used = n;
        return 0;
    }
    memcpy(p->line + p->line_len, buf, take);
    p->line_len += take;
    if (nl == NULL)
        return 0;
    p->line_len--; /* the '\n' */
    if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
        p->line_len--;
    return 1;
}

static int
chunk_size(struct http1_parser *p)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < p->line_len; i++) {
        char ch = p->line[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            break;
        v = v * 16 + (uint64_t)d;
    }
    if (i == 0 || i > HTTP1_CHUNK_DIGITS_MAX ||
        (i < p->line_len && p->line[i] != ';' && p->line[i] != ' ' && p->line[i] != '\t'))
        return fail(p, HTTP1_E_CHUNK);
    p->line_len = 0;
    p->remaining = v;
    p->state = v == 0 ? P_TRAILER : P_CHUNK_DATA;
    return 0;
}

/* Hand up to p->remaining bytes (all with P_BODY_CLOSE) to fn. */
static size_t
feed_body(struct http1_parser *p, const char *buf, size_t n, http1_body_fn fn, void *arg)
{
    size_t take = n;

    if (p->state != P_BODY_CLOSE && p->remaining < take)
        take = (size_t)p->remaining;
    if (p->state != P_BODY_CLOSE)
        p->remaining -= take;
    p->body_bytes += take;
    if (fn(arg, buf, take) != 0) {
        fail(p, HTTP1_E_STOPPED);
        return n;
    }
    if (p->state == P_BODY_LEN && p->remaining == 0) {
        p->state = P_DONE;
        p->complete = 1;
    } else if (p->state == P_CHUNK_DATA && p->remaining == 0) {
        p->state = P_CHUNK_END;
        p->line_len = 0;
    }
    return take;
}

/* The CRLF after a chunk's data. */
static size_t
feed_chunk_end(struct http1_parser *p, const char *buf)
{
    if (buf[0] == '\r' && p->line_len == 0) {
        p->line_len = 1;
    } else if (buf[0] == '\n') {
        p->line_len = 0;
        p->state = P_CHUNK_SIZE;
    } else {
        fail(p, HTTP1_E_CHUNK);
    }
    return 1;
}

/*
 * How: each turn hands the rest of the input to the step of the current
 * state, which consumes what it can (a head line, a body span, a chunk-size
 * or trailer line, the CRLF after a chunk) and may change state; steps
 * that need a whole line gather it in the parser's fixed buffers, so a line
 * split across reads costs a copy of its bytes and nothing else. An error
 * ends the loop and sticks.
 */
int
http1_parse(struct http1_parser *p, const char *buf, size_t n, http1_body_fn fn, void *arg)
{
    size_t off = 0, used;

    while (off < n && p->state != P_ERR) {
        const char *b = buf + off;
        size_t left = n - off;

        switch (p->state) {
        case P_HEAD:
            used = feed_head(p, b, left);
            break;
        case P_BODY_LEN:
        case P_BODY_CLOSE:
        case P_CHUNK_DATA:
            used = feed_body(p, b, left, fn, arg);
            break;
        case P_CHUNK_END:
            used = feed_chunk_end(p, b);
            break;
        case P_CHUNK_SIZE:
            if (gather_line(p, b, left, &used) == 1)
                chunk_size(p);
            break;
        case P_TRAILER:
            if (gather_line(p, b, left, &used) == 1) {
                if (p->line_len == 0) {
                    p->state = P_DONE;
                    p->complete = 1;
                }
                p->line_len = 0; /* a trailer field: skipped */
            }
            break;
        default: /* P_DONE: bytes after the message */
            p->keep_alive = 0;
            used = left;
            break;
        }
        off += used;
    }
    return p->state == P_ERR ? -1 : 0;
}

int
http1_parse_eof(struct http1_parser *p)
{
    if (p->state == P_BODY_CLOSE) {
        p->state = P_DONE;
        p->complete = 1;
    }
    if (p->complete)
        return 0;
    if (p->state != P_ERR)
        fail(p, HTTP1_E_TRUNCATED);
    return -1;
}

static const char *const http1_errs[] = {
    [HTTP1_E_NONE] = "no error",
    [HTTP1_E_HEAD_CAP] = "response head over the size limit",
    [HTTP1_E_STATUS] = "bad HTTP status line",
    [HTTP1_E_HEADER] = "bad HTTP header line",
    [HTTP1_E_LENGTH] = "bad Content-Length",
    [HTTP1_E_CHUNK] = "bad chunked encoding",
    [HTTP1_E_STOPPED] = "stopped by the receiver",
    [HTTP1_E_TRUNCATED] = "connection closed before the response ended",
};

const char *
http1_strerror(enum http1_err e)
{
    if ((unsigned)e >= sizeof(http1_errs) / sizeof(http1_errs[0]) || http1_errs[e] == NULL)
        return "unknown error";
    return http1_errs[e];
}

/* ---- connections ---- */

struct http1_pool {
    struct http1_url u;
    int resolved;
    int naddr;
    struct sockaddr_storage addr[HTTP1_ADDRS_MAX];
    socklen_t addrlen[HTTP1_ADDRS_MAX];
    int idle[HTTP1_IDLE_MAX];
    size_t nidle;
    uint64_t connects;
};

struct http1_pool *
http1_pool_new(const struct http1_url *u)
{
    struct http1_pool *pool = calloc(1, sizeof(*pool));

    if (pool != NULL)
        pool->u = *u;
    return pool;
}

void
http1_pool_free(struct http1_pool *pool)
{
    if (pool == NULL)
        return;
    while (pool->nidle > 0)
        close(pool->idle[--pool->nidle]);
    free(pool);
}

uint64_t
http1_pool_connects(const struct http1_pool *pool)
{
    return pool->connects;
}

const struct http1_url *
http1_pool_url(const struct http1_pool *pool)
{
    return &pool->u;
}

static int conn_fail(struct http1_conn *c, enum http1_fail f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Mark c failed with f and a message; returns -1. */
static int
conn_fail(struct http1_conn *c, enum http1_fail f, const char *fmt, ...)
{
    va_list ap;

    c->fail = f;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    return -1;
}

static int
pool_resolve(struct http1_pool *pool, struct http1_conn *c)
{
    struct addrinfo hints, *res = NULL, *ai;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(pool->u.host, pool->u.port, &hints, &res);
    if (rc != 0)
        return conn_fail(c, HTTP1_F_RESOLVE, "Could not resolve host: %s (%s)", pool->u.host,
                         gai_strerror(rc));
    pool->naddr = 0;
    for (ai = res; ai != NULL && pool->naddr < HTTP1_ADDRS_MAX; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(pool->addr[0]))
            continue;
        memcpy(&pool->addr[pool->naddr], ai->ai_addr, ai->ai_addrlen);
        pool->addrlen[pool->naddr++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    if (pool->naddr == 0)
        return conn_fail(c, HTTP1_F_RESOLVE, "Could not resolve host: %s", pool->u.host);
    pool->resolved = 1;
    return 0;
}

/* Non-blocking, close-on-exec, no delay, no SIGPIPE (macOS: SO_NOSIGPIPE;
 * Linux: MSG_NOSIGNAL at each send). */
static int
sock_setup(int fd)
{
    int one = 1;

    if (fd_nonblock(fd, 1) == -1 || fd_cloexec(fd) == -1)
        return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
        return -1;
#ifdef SO_NOSIGPIPE
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) == -1)
        return -1;
#endif
    return 0;
}

int
http1_conn_next(struct http1_pool *pool, struct http1_conn *c)
{
    int err = c->sockerr != 0 ? c->sockerr : ECONNREFUSED;

    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->connecting = 0;
    while (++c->addr_i < pool->naddr) {
        const struct sockaddr *sa = (const struct sockaddr *)&pool->addr[c->addr_i];
        int fd = socket(sa->sa_family, SOCK_STREAM, 0);
        if (fd == -1) {
            err = errno;
            continue;
        }
        pool->connects++;
        if (sock_setup(fd) == 0 && connect(fd, sa, pool->addrlen[c->addr_i]) == 0) {
            c->fd = fd;
            return 0;
        }
        if (errno == EINPROGRESS) {
            c->fd = fd;
            c->connecting = 1;
            return 0;
        }
        err = errno;
        close(fd);
    }
    /* libcurl's wording for CURLE_COULDNT_CONNECT, with the reason. */
    return conn_fail(c, HTTP1_F_CONNECT, "Failed to connect to %s: %s", pool->u.hosthdr,
                     strerror(err));
}

/* Whether fd is ready for `ev` now, without waiting: poll's count (1 or
 * 0), or -1. */
static int
poll_now(int fd, short ev)
{
    struct pollfd pfd;

    pfd.fd = fd;
    pfd.events = ev;
    pfd.revents = 0;
    return poll(&pfd, 1, 0);
}

int
http1_conn_connected(struct http1_conn *c)
{
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (poll_now(c->fd, POLLOUT) == 0)
        return 1;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
        soerr = errno;
    if (soerr != 0) {
        c->sockerr = errno = soerr;
        return -1;
    }
    c->connecting = 0;
    return 0;
}

/* An idle pooled socket is usable when nothing is readable on it: a
 * readable idle socket is closed by the server (or carries junk). libcurl
 * checks a pooled connection the same way before reuse (lib/connect.c,
 * Curl_conn_is_alive: SOCKET_READABLE with a zero timeout). */
static int
idle_alive(int fd)
{
    return poll_now(fd, POLLIN) == 0;
}

/* A fresh exchange state; the request bytes are kept (sent again). */
static void
conn_reset(struct http1_conn *c)
{
    c->fd = -1;
    c->reused = 0;
    c->connecting = 0;
    c->addr_i = -1;
    c->sockerr = 0;
    c->fail = HTTP1_F_NONE;
    c->detail[0] = '\0';
    c->out_off = 0;
    c->nread = 0;
    c->wait_ms = 0;
    http1_parser_init(&c->p);
}

/* A new connection for c: the host resolved on first use, then its first
 * address that does not refuse at once. As http1_conn_open. */
static int
conn_new(struct http1_pool *pool, struct http1_conn *c)
{
    if (!pool->resolved && pool_resolve(pool, c) == -1)
        return -1;
    return http1_conn_next(pool, c);
}

int
http1_conn_open(struct http1_pool *pool, struct http1_conn *c)
{
    conn_reset(c);
    c->out = NULL;
    c->out_len = 0;
    while (pool->nidle > 0) {
        int fd = pool->idle[--pool->nidle];
        if (idle_alive(fd)) {
            c->fd = fd;
            c->reused = 1;
            return 0;
        }
        close(fd);
    }
    return conn_new(pool, c);
}

int
http1_conn_retry(struct http1_pool *pool, struct http1_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    conn_reset(c);
    return conn_new(pool, c);
}

int
http1_conn_request(struct http1_conn *c, const struct http1_url *u, const char *method,
                   const char *path, const char *content_type, const char *accept,
                   const char *token, const char *body, size_t body_len)
{
    char head[HTTP1_REQ_HEAD_MAX], clen[40] = "";
    int n;

    if (body != NULL)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", body_len);
    n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s%s%s%s%s%s%s%s\r\n",
                 method, path, u->hosthdr, token != NULL ? "Authorization: Bearer " : "",
                 token != NULL ? token : "", token != NULL ? "\r\n" : "",
                 content_type != NULL ? "Content-Type: " : "",
                 content_type != NULL ? content_type : "", content_type != NULL ? "\r\n" : "",
                 accept != NULL ? "Accept: " : "", accept != NULL ? accept : "",
                 accept != NULL ? "\r\n" : "", clen);
    if (n < 0 || (size_t)n >= sizeof(head))
        return conn_fail(c, HTTP1_F_NOMEM, "%s", "request head over the size limit");
    free(c->out);
    c->out = malloc((size_t)n + body_len);
    if (c->out == NULL)
        return conn_fail(c, HTTP1_F_NOMEM, "%s", "out of memory");
    memcpy(c->out, head, (size_t)n);
    if (body_len > 0)
        memcpy(c->out + n, body, body_len);
    c->out_len = (size_t)n + body_len;
    c->out_off = 0;
    return 0;
}

#ifdef MSG_NOSIGNAL
#define HTTP1_SEND_FLAGS MSG_NOSIGNAL
#else
#define HTTP1_SEND_FLAGS 0 /* SO_NOSIGPIPE was set on the socket */
#endif

int
http1_conn_send(struct http1_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, HTTP1_SEND_FLAGS);
        if (w >= 0) {
            c->out_off += (size_t)w;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        } else if (errno != EINTR) {
            /* libcurl's wording for CURLE_SEND_ERROR */
            return conn_fail(c, HTTP1_F_SEND, "Failed sending data to the peer: %s",
                             strerror(errno));
        }
    }
    return 1;
}

/* Record a failed read (errno kept): -1. */
static int
recv_fail(struct http1_conn *c)
{
    int e = errno;

    /* libcurl's wording for CURLE_RECV_ERROR */
    conn_fail(c, HTTP1_F_RECV, "Failure when receiving data from the peer: %s", strerror(e));
    errno = e;
    return -1;
}

/* A recv's result n, counted, or its failure recorded; n back. */
static ssize_t
recv_result(struct http1_conn *c, ssize_t n)
{
    if (n > 0)
        c->nread += (uint64_t)n;
    else if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
        recv_fail(c);
    return n;
}

ssize_t
http1_conn_recv(struct http1_conn *c, char *buf, size_t cap)
{
    ssize_t n;

    do {
        n = recv(c->fd, buf, cap, 0);
    } while (n == -1 && errno == EINTR);
    return recv_result(c, n);
}

ssize_t
http1_conn_recv_wait(struct http1_conn *c, char *buf, size_t cap, int wait_ms)
{
    struct timeval tv;
    ssize_t n;

    if (c->wait_ms != wait_ms) {
        tv.tv_sec = wait_ms / 1000;
        tv.tv_usec = (wait_ms % 1000) * 1000;
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
            (c->wait_ms == 0 && fd_nonblock(c->fd, 0) == -1))
            return recv_fail(c);
        c->wait_ms = wait_ms;
    }
    /* A signal ends the wait as the timeout does (SO_RCVTIMEO makes recv
     * fail with EINTR even under SA_RESTART): the caller checks and waits
     * again. */
    n = recv(c->fd, buf, cap, 0);
    if (n == -1 && errno == EINTR)
        errno = EAGAIN;
    return recv_result(c, n);
}

int
http1_conn_nowait(struct http1_conn *c)
{
    if (c->wait_ms == 0 || c->fd < 0)
        return 0;
    if (fd_nonblock(c->fd, 1) == -1)
        return recv_fail(c);
    c->wait_ms = 0;
    return 0;
}

void
http1_conn_close(struct http1_pool *pool, struct http1_conn *c, int reusable)
{
    if (c->fd >= 0) {
        if (reusable && c->fail == HTTP1_F_NONE && c->p.complete && c->p.keep_alive &&
            pool->nidle < HTTP1_IDLE_MAX && http1_conn_nowait(c) == 0)
            pool->idle[pool->nidle++] = c->fd;
        else
            close(c->fd);
    }
    c->fd = -1;
    free(c->out);
    c->out = NULL;
}

/* ---- a blocking one-shot GET ---- */

/* Wait until fd is ready for `ev` or the deadline: 1, 0 (timed out), -1. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
    struct pollfd pfd;
    int64_t left;
    int r;

    for (;;) {
        left = deadline - clock_mono_ns();
        if (left <= 0)
            return 0;
        pfd.fd = fd;
        pfd.events = ev;
        pfd.revents = 0;
        r = poll(&pfd, 1, (int)((left + 999999) / 1000000));
        if (r > 0)
            return 1;
        if (r == -1 && errno != EINTR)
            return -1;
    }
}

/* wait_fd's r (0: the deadline passed, -1: poll failed) as libcurl's
 * timeout text ("what timed out after N ms") or poll's reason; -1. */
static int
wait_failed(int r, const char *what, int ms, char *err, size_t errlen)
{
    if (r == 0)
        snprintf(err, errlen, "%s after %d ms", what, ms);
    else
        snprintf(err, errlen, "poll: %s", strerror(errno));
    return -1;
}

/* Connect (trying each address) within the deadline. 0 or -1 (err set). */
static int
get_connect(struct http1_pool *pool, struct http1_conn *c, int64_t deadline, int connect_ms,
            char *err, size_t errlen)
{
    if (http1_conn_open(pool, c) == -1)
        goto fail;
    while (c->connecting) {
        int r = wait_fd(c->fd, POLLOUT, deadline);
        if (r != 1)
            return wait_failed(r, "Connection timed out", connect_ms, err, errlen);
        r = http1_conn_connected(c);
        if (r == 0)
            return 0;
        if (r == 1)
            continue;
        if (http1_conn_next(pool, c) == -1)
            goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s", c->detail);
    return -1;
}

/* Send the request and read the whole response by the deadline. */
static int
get_exchange(struct http1_conn *c, http1_body_fn fn, void *arg, int64_t deadline, int total_ms,
             char *err, size_t errlen)
{
    char buf[HTTP1_GET_READ];
    ssize_t n;
    int r;

    for (r = http1_conn_send(c); r == 0; r = http1_conn_send(c))
        if ((r = wait_fd(c->fd, POLLOUT, deadline)) != 1)
            return wait_failed(r, "Operation timed out", total_ms, err, errlen);
    if (r == -1)
        goto fail;
    while (!c->p.complete) {
        if ((r = wait_fd(c->fd, POLLIN, deadline)) != 1)
            return wait_failed(r, "Operation timed out", total_ms, err, errlen);
        n = http1_conn_recv(c, buf, sizeof(buf));
        if (n == -1 && c->fail == HTTP1_F_NONE)
            continue; /* EAGAIN */
        if (n == -1)
            goto fail;
        if ((n == 0 && http1_parse_eof(&c->p) == -1) ||
            (n > 0 && http1_parse(&c->p, buf, (size_t)n, fn, arg) == -1)) {
            snprintf(err, errlen, "%s", http1_strerror(c->p.err));
            return -1;
        }
        if (n == 0)
            break;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s", c->detail);
    return -1;
}

/*
 * How: a pool of one, so the connect logic (addresses in turn) is the
 * streaming client's; poll(2) waits with the connect deadline until
 * connected, then with the whole-request deadline for each write and read;
 * the connection is closed at the end, never pooled.
 */
int
http1_get(const char *url, const char *token, int connect_ms, int total_ms, http1_body_fn fn,
          void *arg, int *status, char *err, size_t errlen)
{
    struct http1_url u;
    struct http1_pool *pool = NULL;
    struct http1_conn c;
    int64_t t0 = clock_mono_ns();
    int64_t total_dl = t0 + (int64_t)total_ms * 1000000;
    int64_t conn_dl = t0 + (int64_t)connect_ms * 1000000;
    int result = -1;

    *status = 0;
    c.fd = -1;
    c.out = NULL;
    if (http1_mine(url, &u) == -1) {
        snprintf(err, errlen, "not a plain http:// URL: %s", url);
        return -1;
    }
    pool = http1_pool_new(&u);
    if (pool == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (get_connect(pool, &c, conn_dl < total_dl ? conn_dl : total_dl, connect_ms, err,
                    errlen) == -1)
        goto out;
    if (token != NULL && token[0] == '\0')
        token = NULL;
    if (http1_conn_request(&c, &u, "GET", u.prefix[0] != '\0' ? u.prefix : "/", NULL, "*/*",
                           token, NULL, 0) == -1) {
        snprintf(err, errlen, "%s", c.detail);
        goto out;
    }
    if (get_exchange(&c, fn, arg, total_dl, total_ms, err, errlen) == -1)
        goto out;
    *status = c.p.status;
    result = 0;
out:
    http1_conn_close(pool, &c, 0);
    http1_pool_free(pool);
    return result;
}

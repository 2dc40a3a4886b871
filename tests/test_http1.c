/*
 * test_http1.c - daemon/http1: the URL and proxy rules, the response
 * parser fed byte by byte and split at every boundary (no sockets), and the
 * streaming client's direct path against a scripted HTTP/1.1 server on
 * loopback (a real TCP listener in a thread, counting the connections it
 * accepts): keep-alive reuse, a server closing an idle connection (seen
 * before reuse, or only once the request is written: retried once),
 * Content-Length and close-delimited bodies, a 100 Continue first, a head
 * over the cap, a bad chunk size; and the blocking one-shot GET.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "daemon/client.h"
#include "daemon/http1.h"
#include "daemon/httpbody.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define T_BODY_MAX 4096
#define T_REQ_MAX 16384
#define T_RESP_MAX 32768

/* ---- the parser ---- */

struct sink {
    char buf[T_BODY_MAX];
    size_t len;
};

static int
sink_add(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;

    CHECK(s->len + n <= sizeof(s->buf));
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

/* Feed msg in pieces of `step` bytes (0: at `split` then the rest). */
static int
feed(struct http1_parser *p, const char *msg, size_t len, size_t split, size_t step,
     struct sink *s)
{
    size_t off = 0;

    http1_parser_init(p);
    s->len = 0;
    if (step == 0) {
        if (http1_parse(p, msg, split, sink_add, s) == -1)
            return -1;
        return http1_parse(p, msg + split, len - split, sink_add, s);
    }
    while (off < len) {
        size_t k = len - off < step ? len - off : step;
        if (http1_parse(p, msg + off, k, sink_add, s) == -1)
            return -1;
        off += k;
    }
    return 0;
}

static const char chunked_msg[] = "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: text/event-stream\r\n"
                                  "transfer-encoding: CHUNKED\r\n"
                                  "\r\n"
                                  "1b\r\ndata: {\"a\":\"hello world\"}\n\n\r\n"
                                  "5;ext=\"x\"\r\nabcde\r\n"
                                  "0\r\nX-Trailer: 1\r\n\r\n";
static const char chunked_body[] = "data: {\"a\":\"hello world\"}\n\nabcde";

TEST(parse_chunked_every_split)
{
    struct http1_parser p;
    struct sink s;
    size_t len = sizeof(chunked_msg) - 1, i;

    for (i = 0; i <= len; i++) {
        CHECK_INT(feed(&p, chunked_msg, len, i, 0, &s), ==, 0);
        CHECK_INT(p.complete, ==, 1);
        CHECK_INT(p.status, ==, 200);
        CHECK_INT(p.keep_alive, ==, 1);
        CHECK_INT(s.len, ==, sizeof(chunked_body) - 1);
        CHECK(memcmp(s.buf, chunked_body, s.len) == 0);
    }
    CHECK_INT(feed(&p, chunked_msg, len, 0, 1, &s), ==, 0); /* byte by byte */
    CHECK_INT(p.complete, ==, 1);
    CHECK_INT(s.len, ==, sizeof(chunked_body) - 1);
}

TEST(parse_content_length)
{
    static const char msg[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 7\r\n\r\n"
                              "{\"e\":1}";
    struct http1_parser p;
    struct sink s;

    CHECK_INT(feed(&p, msg, sizeof(msg) - 1, 0, 3, &s), ==, 0);
    CHECK_INT(p.status, ==, 500);
    CHECK_INT(p.complete, ==, 1);
    CHECK_INT(p.keep_alive, ==, 1);
    CHECK_INT(s.len, ==, 7);
    /* Bytes after the message: ignored, the connection is not reused. */
    CHECK_INT(http1_parse(&p, "junk", 4, sink_add, &s), ==, 0);
    CHECK_INT(s.len, ==, 7);
    CHECK_INT(p.keep_alive, ==, 0);
}

TEST(parse_close_delimited)
{
    static const char msg[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    struct http1_parser p;
    struct sink s;

    CHECK_INT(feed(&p, msg, sizeof(msg) - 1, 20, 0, &s), ==, 0);
    CHECK_INT(p.complete, ==, 0);
    CHECK_INT(http1_parse_eof(&p), ==, 0);
    CHECK_INT(p.complete, ==, 1);
    CHECK_INT(p.keep_alive, ==, 0);
    CHECK_INT(s.len, ==, 13);
}

TEST(parse_truncated)
{
    struct http1_parser p;
    struct sink s;

    /* EOF inside a chunk, inside the head, and before a Content-Length ends. */
    CHECK_INT(feed(&p, chunked_msg, 80, 40, 0, &s), ==, 0);
    CHECK_INT(http1_parse_eof(&p), ==, -1);
    CHECK_INT(p.err, ==, HTTP1_E_TRUNCATED);
    CHECK_INT(feed(&p, "HTTP/1.1 200 OK\r\nConn", 21, 5, 0, &s), ==, 0);
    CHECK_INT(http1_parse_eof(&p), ==, -1);
    {
        static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab";
        CHECK_INT(feed(&p, cl, sizeof(cl) - 1, 0, 1, &s), ==, 0);
    }
    CHECK_INT(http1_parse_eof(&p), ==, -1);
}

TEST(parse_head_over_cap)
{
    static char msg[HTTP1_HEAD_MAX + 256];
    struct http1_parser p;
    struct sink s;
    size_t n;

    n = (size_t)snprintf(msg, sizeof(msg), "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(msg + n, 'a', sizeof(msg) - n - 1);
    CHECK_INT(feed(&p, msg, sizeof(msg) - 1, 0, 100, &s), ==, -1);
    CHECK_INT(p.err, ==, HTTP1_E_HEAD_CAP);
    /* Once failed, always failed. */
    CHECK_INT(http1_parse(&p, "\r\n\r\n", 4, sink_add, &s), ==, -1);
    CHECK_INT(s.len, ==, 0);
}

TEST(parse_bad_chunk_size)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
    };
    struct http1_parser p;
    struct sink s;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(feed(&p, bad[i], strlen(bad[i]), 0, 1, &s), ==, -1);
        CHECK_INT(p.err, ==, HTTP1_E_CHUNK);
    }
}

TEST(parse_1xx_before_200)
{
    static const char msg[] =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    struct http1_parser p;
    struct sink s;
    size_t i;

    for (i = 0; i < sizeof(msg) - 1; i++) {
        CHECK_INT(feed(&p, msg, sizeof(msg) - 1, i, 0, &s), ==, 0);
        CHECK_INT(p.status, ==, 200);
        CHECK_INT(p.complete, ==, 1);
        CHECK_INT(p.keep_alive, ==, 0);
        CHECK_INT(s.len, ==, 2);
    }
}

TEST(parse_bad_heads)
{
    static const struct {
        const char *msg;
        enum http1_err err;
    } bad[] = {
        {"HTTX/1.1 200 OK\r\n\r\n", HTTP1_E_STATUS},
        {"HTTP/1.1 101 Switching Protocols\r\n\r\n", HTTP1_E_STATUS},
        {"HTTP/1.1 2000 OK\r\n\r\n", HTTP1_E_STATUS},
        {"HTTP/2 200\r\n\r\n", HTTP1_E_STATUS},
        {"\r\n", HTTP1_E_STATUS},
        {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", HTTP1_E_HEADER},
        {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", HTTP1_E_HEADER},
        {"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", HTTP1_E_LENGTH},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", HTTP1_E_LENGTH},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", HTTP1_E_LENGTH},
    };
    struct http1_parser p;
    struct sink s;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(feed(&p, bad[i].msg, strlen(bad[i].msg), 0, 1, &s), ==, -1);
        CHECK_INT(p.err, ==, bad[i].err);
        CHECK(http1_strerror(p.err)[0] != '\0');
    }
}

TEST(obs_fold_in_transfer_encoding)
{
    /* "A user agent that receives an obs-fold in a response message ...
     * MUST replace each received obs-fold with one or more SP octets prior
     * to interpreting the field value" (RFC 9112 section 5.2). The value
     * is "chunked": the body is "hello". tpsd refuses the head (a bad
     * header line) rather than join lines; it never takes the chunk
     * framing as body bytes, as it did before. A fold of a header it
     * does not read stays ignored (parse_bad_heads). */
    static const char msg[] = "HTTP/1.1 200 OK\r\n"
                              "Transfer-Encoding:\r\n"
                              " chunked\r\n"
                              "\r\n"
                              "5\r\nhello\r\n0\r\n\r\n";
    struct http1_parser p;
    struct httpbody b = {NULL, 0, 256, 0};

    http1_parser_init(&p);
    CHECK_INT(http1_parse(&p, msg, sizeof(msg) - 1, httpbody_add, &b), ==, -1);
    CHECK_INT(p.err, ==, HTTP1_E_HEADER);
    CHECK(b.data == NULL);
}

TEST(parse_body_less)
{
    static const char msg[] = "HTTP/1.0 204 No Content\r\n\r\n";
    struct http1_parser p;
    struct sink s;

    CHECK_INT(feed(&p, msg, sizeof(msg) - 1, 0, 1, &s), ==, 0);
    CHECK_INT(p.complete, ==, 1);
    CHECK_INT(p.keep_alive, ==, 0); /* HTTP/1.0 */
    CHECK_INT(s.len, ==, 0);
}

/* ---- URLs and proxies ---- */

TEST(url_mine)
{
    static const struct {
        const char *url, *host, *port, *prefix, *hosthdr;
    } ok[] = {
        {"http://127.0.0.1:1234", "127.0.0.1", "1234", "", "127.0.0.1:1234"},
        {"http://localhost/", "localhost", "80", "", "localhost"},
        {"http://[::1]:8080/v1/", "::1", "8080", "/v1", "[::1]:8080"},
        {"http://mac.local:1234/api/x/v1/models", "mac.local", "1234", "/api/x/v1/models",
         "mac.local:1234"},
    };
    static const char *const not_mine[] = {
        "https://127.0.0.1:1234",
        "http://user:pw@127.0.0.1",
        "http://127.0.0.1:0",
        "http://127.0.0.1:65536",
        "http://127.0.0.1:12a4",
        "http://[fe80::1%25eth0]:80",
        "http://h/a?b=1",
        "http://h/#x",
        "http:///x",
        "http://h/a b",
        "ftp://h",
        "HTTP://h",
        "http://[::1",
        "http://h:",
    };
    struct http1_url u;
    size_t i;

    unsetenv("http_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CHECK_INT(http1_mine(ok[i].url, &u), ==, 0);
        CHECK_STR(u.host, ok[i].host);
        CHECK_STR(u.port, ok[i].port);
        CHECK_STR(u.prefix, ok[i].prefix);
        CHECK_STR(u.hosthdr, ok[i].hosthdr);
    }
    for (i = 0; i < sizeof(not_mine) / sizeof(not_mine[0]); i++)
        if (http1_mine(not_mine[i], &u) != -1)
            check_failed(__FILE__, __LINE__, "%s taken as mine", not_mine[i]);
}

TEST(proxy_rules)
{
    struct http1_url u;

    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    setenv("HTTP_PROXY", "http://proxy:3128", 1); /* ignored by libcurl for http */
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 0);
    setenv("http_proxy", "http://proxy:3128", 1);
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 1);
    CHECK_INT(http1_mine("http://127.0.0.1:1234", &u), ==, -1);
    setenv("no_proxy", "example.com, 127.0.0.1", 1);
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 0);
    CHECK_INT(http1_proxied("a.example.com"), ==, 0);
    CHECK_INT(http1_proxied("badexample.com"), ==, 1);
    setenv("no_proxy", "*", 1);
    CHECK_INT(http1_proxied("anything"), ==, 0);
    unsetenv("no_proxy");
    unsetenv("http_proxy");
    setenv("ALL_PROXY", "socks5://p:1080", 1);
    setenv("NO_PROXY", ".local", 1);
    CHECK_INT(http1_proxied("mac.local"), ==, 0);
    CHECK_INT(http1_proxied("localhost"), ==, 1);
    unsetenv("ALL_PROXY");
    unsetenv("NO_PROXY");
    unsetenv("HTTP_PROXY");
    CHECK_INT(http1_proxied("localhost"), ==, 0);
}

/* The no_proxy cases follow libcurl's rules, read in curl's lib/proxy.c
 * (proxy_check_noproxy; lib/noproxy.c in 7.88, Curl_check_noproxy):
 * no_proxy exempts every host only when the whole value is "*"; a host
 * that is an IP address is matched against the entries as an address or
 * CIDR range (cidr4_match, cidr6_match), never as a domain suffix. */

/* The proxy environment of one case: http_proxy set, no_proxy = np. */
static void
proxy_env(const char *np)
{
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    unsetenv("NO_PROXY");
    setenv("http_proxy", "http://proxy.invalid:3128", 1);
    setenv("no_proxy", np, 1);
}

TEST(noproxy_star_only_as_whole_value)
{
    /* proxy_check_noproxy: `if(!strcmp("*", no_proxy)) return TRUE;` and
     * a "*" entry in a list is a host name, which matches no real host. */
    proxy_env("example.com,*");
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 1);
    CHECK_INT(http1_proxied("localhost"), ==, 1);
    proxy_env(" *");
    CHECK_INT(http1_proxied("localhost"), ==, 1);
}

TEST(noproxy_ip_host_not_a_domain_suffix)
{
    /* An IPv4 host: match_ip -> cidr4_match("127.0.0.1", "0.0.1", 0):
     * inet_pton of "0.0.1" fails, so no match: libcurl proxies. */
    proxy_env("0.0.1");
    CHECK_INT(http1_proxied("127.0.0.1"), ==, 1);
    proxy_env("1");
    CHECK_INT(http1_proxied("10.0.0.1"), ==, 1);
}

TEST(noproxy_ipv4_shorthand_host)
{
    struct http1_url u;

    /* libcurl's URL parser writes "127.1" as 127.0.0.1 (lib/urlapi.c,
     * ipv4_normalize), then compares that address with the entry "127.1",
     * which inet_pton refuses: proxied. http1 compares the text. */
    proxy_env("127.1");
    CHECK_INT(http1_mine("http://127.1:1234", &u), ==, -1);
}

/* ---- a scripted HTTP/1.1 server on loopback ---- */

enum srv_mode {
    SRV_SSE,        /* a chunked SSE answer per request, keep-alive */
    SRV_CLOSE_IDLE, /* the same, then the connection is closed */
    SRV_DROP_2ND,   /* the second request on a connection: closed unanswered */
    SRV_RAW,        /* `raw` as the answer, then closed */
};

struct srv {
    int lfd, port;
    enum srv_mode mode;
    const char *raw;
    size_t raw_len;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, accepts, requests, closed;
    char last_req[T_REQ_MAX];
};

static const char *const sse_events[] = {
    "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n",
    "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
    "data: {\"model\":\"m\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: [DONE]\n\n",
};

/* The SSE answer, chunked (as llama.cpp's and LM Studio's servers stream
 * it: one chunk per event), into buf; its length. */
static size_t
sse_chunked(char *buf, size_t cap)
{
    size_t n, i;

    n = (size_t)snprintf(buf, cap,
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
    for (i = 0; i < sizeof(sse_events) / sizeof(sse_events[0]); i++)
        n += (size_t)snprintf(buf + n, cap - n, "%zx\r\n%s\r\n", strlen(sse_events[i]),
                              sse_events[i]);
    n += (size_t)snprintf(buf + n, cap - n, "0\r\n\r\n");
    return n;
}

/* The SSE events back to back (a Content-Length or close-delimited body). */
static size_t
sse_plain(char *buf, size_t cap)
{
    size_t n = 0, i;

    for (i = 0; i < sizeof(sse_events) / sizeof(sse_events[0]); i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s", sse_events[i]);
    return n;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one request (head, then Content-Length bytes of body) into buf. */
static int
read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, need = 0;
    char *end;

    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL && need == 0) {
            const char *cl = strstr(buf, "Content-Length: ");
            need = (size_t)(end + 4 - buf) + (cl != NULL ? strtoul(cl + 16, NULL, 10) : 0);
        }
        if (need > 0 && len >= need)
            return 0;
        if (len + 1 >= cap)
            return -1;
    }
}

/* Answer the requests of one connection as the mode says. */
static void
srv_serve(struct srv *s, int fd)
{
    char req[T_REQ_MAX], resp[T_RESP_MAX];
    int on_conn = 0;
    struct timeval tv = {5, 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (read_request(fd, req, sizeof(req)) == 0) {
        on_conn++;
        pthread_mutex_lock(&s->mu);
        s->requests++;
        snprintf(s->last_req, sizeof(s->last_req), "%s", req);
        pthread_mutex_unlock(&s->mu);
        if (s->mode == SRV_DROP_2ND && on_conn == 2)
            break;
        if (s->mode == SRV_RAW) {
            (void)write_all(fd, s->raw, s->raw_len);
            break;
        }
        if (write_all(fd, resp, sse_chunked(resp, sizeof(resp))) == -1 ||
            s->mode == SRV_CLOSE_IDLE)
            break;
    }
    close(fd);
    pthread_mutex_lock(&s->mu);
    s->closed++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *
srv_main(void *arg)
{
    struct srv *s = arg;
    struct pollfd pfd;

    for (;;) {
        int fd, stop;
        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        pfd.fd = s->lfd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd == -1)
            continue;
        pthread_mutex_lock(&s->mu);
        s->accepts++;
        pthread_mutex_unlock(&s->mu);
        srv_serve(s, fd);
    }
    return NULL;
}

static void
srv_start(struct srv *s, enum srv_mode mode, const char *raw, size_t raw_len)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    signal(SIGPIPE, SIG_IGN);
    s->mode = mode;
    s->raw = raw;
    s->raw_len = raw_len;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s->lfd >= 0);
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    CHECK_INT(listen(s->lfd, 16), ==, 0);
    CHECK_INT(getsockname(s->lfd, (struct sockaddr *)&a, &alen), ==, 0);
    s->port = ntohs(a.sin_port);
    CHECK_INT(pthread_create(&s->th, NULL, srv_main, s), ==, 0);
}

static void
srv_stop(struct srv *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* Wait until the server has closed n connections (no clock: a condition). */
static void
srv_wait_closed(struct srv *s, int n)
{
    pthread_mutex_lock(&s->mu);
    while (s->closed < n)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static int n_done;

static void
count_done(void *arg, struct client_req *r)
{
    (void)arg;
    (void)r;
    n_done++;
}

static struct client *
direct_client(const struct srv *s, const char *token)
{
    struct client_opts o = {0};
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s->port);
    o.base_url = url;
    o.api = "openai";
    o.token = token;
    o.connect_timeout_ms = 2000;
    o.first_token_timeout_ms = 10000;
    o.stall_timeout_ms = 10000;
    o.request_timeout_ms = 20000;
    return client_new(&o);
}

static const char req_body[] = "{\"model\":\"m\",\"stream\":true,\"messages\":[]}";

/* One request on cl, run to its end; the sample in *r (caller frees). */
static void
one_request(struct client *cl, struct client_req *r)
{
    memset(r, 0, sizeof(*r));
    sample_rec_init(&r->rec);
    r->body = req_body;
    n_done = 0;
    CHECK_INT(client_add(cl, r), ==, 0);
    CHECK_INT(client_run(cl, count_done, NULL, NULL), ==, 0);
    CHECK_INT(n_done, ==, 1);
}

static void
req_free(struct client_req *r)
{
    free(r->text);
    free(r->reasoning);
    sample_rec_free(&r->rec);
}

/* n sequential requests to a server in `mode`, each ok with the whole
 * text (wait_close: after each, until the server has closed it); the server
 * must have accepted `accepts` connections and read `requests` requests,
 * and the client counted as many connections. */
static void
sequential_case(enum srv_mode mode, int n, int wait_close, int accepts, int requests)
{
    struct srv s;
    struct client *cl;
    struct client_req r;
    int i;

    srv_start(&s, mode, NULL, 0);
    cl = direct_client(&s, NULL);
    CHECK(cl != NULL);
    CHECK_STR(client_transport_name(cl), "http1");
    for (i = 0; i < n; i++) {
        one_request(cl, &r);
        if (!r.rec.ok)
            check_failed(__FILE__, __LINE__, "request %d: %s %s", i, r.rec.error_code,
                         r.rec.error_detail);
        CHECK_STR(r.text, "hello");
        CHECK_STR(r.model, "m");
        CHECK_STR(r.rec.finish_reason, "stop");
        req_free(&r);
        if (wait_close)
            srv_wait_closed(&s, i + 1);
    }
    CHECK_INT(client_connects(cl), ==, accepts);
    client_free(cl);
    srv_stop(&s);
    CHECK_INT(s.accepts, ==, accepts);
    CHECK_INT(s.requests, ==, requests);
}

/* Keep-alive: three requests, one connection. */
TEST(direct_keepalive_reuse)
{
    sequential_case(SRV_SSE, 3, 0, 1, 3);
}

/* The server closes after each answer; the client sees the close on the
 * pooled socket before reusing it and connects anew. */
TEST(direct_server_closed_idle)
{
    sequential_case(SRV_CLOSE_IDLE, 3, 1, 3, 3);
}

/* The pooled socket looks alive but the server closes it on the next
 * request, unanswered: retried once on a fresh connection. */
TEST(direct_retry_after_close_race)
{
    sequential_case(SRV_DROP_2ND, 2, 0, 2, 3);
}

TEST(direct_request_bytes)
{
    struct srv s;
    struct client *cl;
    struct client_req r;
    char want[128];

    srv_start(&s, SRV_SSE, NULL, 0);
    cl = direct_client(&s, "sekret");
    one_request(cl, &r);
    CHECK_INT(r.rec.ok, ==, 1);
    CHECK(strncmp(s.last_req, "POST /v1/chat/completions HTTP/1.1\r\n", 36) == 0);
    snprintf(want, sizeof(want), "\r\nHost: 127.0.0.1:%d\r\n", s.port);
    CHECK(strstr(s.last_req, want) != NULL);
    CHECK(strstr(s.last_req, "\r\nAuthorization: Bearer sekret\r\n") != NULL);
    CHECK(strstr(s.last_req, "\r\nContent-Type: application/json\r\n") != NULL);
    CHECK(strstr(s.last_req, "\r\nAccept: text/event-stream\r\n") != NULL);
    snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n\r\n%s", strlen(req_body),
             req_body);
    CHECK(strstr(s.last_req, want) != NULL);
    req_free(&r);
    client_free(cl);
    srv_stop(&s);
}

/* One request answered with raw; its sample in *r (caller frees). */
static void
raw_answer(const char *raw, size_t len, struct client_req *r)
{
    struct srv s;
    struct client *cl;

    srv_start(&s, SRV_RAW, raw, len);
    cl = direct_client(&s, NULL);
    one_request(cl, r);
    client_free(cl);
    srv_stop(&s);
}

TEST(direct_content_length_body)
{
    char raw[T_RESP_MAX], body[T_RESP_MAX];
    size_t blen = sse_plain(body, sizeof(body)), n;
    struct client_req r;

    n = (size_t)snprintf(raw, sizeof(raw),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Content-Length: %zu\r\n\r\n%s",
                         blen, body);
    raw_answer(raw, n, &r);
    CHECK_INT(r.rec.ok, ==, 1);
    CHECK_STR(r.text, "hello");
    req_free(&r);
}

TEST(direct_close_delimited_body)
{
    char raw[T_RESP_MAX], body[T_RESP_MAX];
    struct client_req r;
    size_t n;

    (void)sse_plain(body, sizeof(body));
    n = (size_t)snprintf(raw, sizeof(raw),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         "Connection: close\r\n\r\n%s",
                         body);
    raw_answer(raw, n, &r);
    CHECK_INT(r.rec.ok, ==, 1);
    CHECK_STR(r.text, "hello");
    req_free(&r);
}

TEST(direct_100_continue_first)
{
    char raw[T_RESP_MAX];
    struct client_req r;
    size_t n = (size_t)snprintf(raw, sizeof(raw), "HTTP/1.1 100 Continue\r\n\r\n");

    n += sse_chunked(raw + n, sizeof(raw) - n);
    raw_answer(raw, n, &r);
    CHECK_INT(r.rec.ok, ==, 1);
    CHECK_STR(r.text, "hello");
    req_free(&r);
}

TEST(direct_head_over_cap)
{
    static char raw[HTTP1_HEAD_MAX + 512];
    struct client_req r;
    size_t n = (size_t)snprintf(raw, sizeof(raw), "HTTP/1.1 200 OK\r\nX-Big: ");

    memset(raw + n, 'a', HTTP1_HEAD_MAX);
    n += HTTP1_HEAD_MAX;
    n += (size_t)snprintf(raw + n, sizeof(raw) - n, "\r\nContent-Length: 0\r\n\r\n");
    raw_answer(raw, n, &r);
    CHECK_INT(r.rec.ok, ==, 0);
    CHECK_STR(r.rec.error_code, "connect_failed"); /* no body byte arrived */
    CHECK(strstr(r.rec.error_detail, "head over the size limit") != NULL);
    req_free(&r);
}

TEST(direct_bad_chunk_size)
{
    char raw[T_RESP_MAX];
    struct client_req r;
    size_t n;

    n = (size_t)snprintf(
        raw, sizeof(raw),
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\nzz\r\n",
        strlen(sse_events[0]), sse_events[0]);
    raw_answer(raw, n, &r);
    CHECK_INT(r.rec.ok, ==, 0);
    CHECK_STR(r.rec.error_code, "truncated_stream");
    CHECK(strstr(r.rec.error_detail, "bad chunked encoding") != NULL);
    req_free(&r);
}

TEST(direct_http_error_body)
{
    static const char raw[] =
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
        "Content-Length: 37\r\n\r\n{\"error\":{\"message\":\"no such model\"}}";
    struct client_req r;

    raw_answer(raw, sizeof(raw) - 1, &r);
    CHECK_INT(r.rec.ok, ==, 0);
    CHECK_STR(r.rec.error_code, "http_404");
    CHECK_STR(r.rec.error_detail, "HTTP 404: no such model");
    req_free(&r);
}

TEST(get_oneshot)
{
    static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"data\":[]}";
    struct srv s;
    struct httpbody hb = {NULL, 0, 1024, 0}, small = {NULL, 0, 4, 0};
    char url[96], err[HTTP1_ERR_MAX];
    int status = 0;

    srv_start(&s, SRV_RAW, raw, sizeof(raw) - 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/models", s.port);
    CHECK_INT(http1_get(url, "t", 2000, 5000, httpbody_add, &hb, &status, err, sizeof(err)), ==,
              0);
    CHECK_INT(status, ==, 200);
    CHECK_INT(hb.len, ==, 11);
    CHECK_STR(hb.data, "{\"data\":[]}");
    CHECK(strncmp(s.last_req, "GET /v1/models HTTP/1.1\r\n", 25) == 0);
    CHECK(strstr(s.last_req, "\r\nAuthorization: Bearer t\r\n") != NULL);
    free(hb.data);
    /* Over the body cap: an error. */
    CHECK_INT(http1_get(url, NULL, 2000, 5000, httpbody_add, &small, &status, err, sizeof(err)),
              ==, -1);
    CHECK_INT(small.overflow, ==, 1);
    CHECK(strstr(err, "stopped") != NULL);
    free(small.data);
    srv_stop(&s);
}

TEST(get_refused_and_not_mine)
{
    struct httpbody hb = {NULL, 0, 1024, 0};
    char err[HTTP1_ERR_MAX];
    int status = 0;

    CHECK_INT(http1_get("http://127.0.0.1:1/v1/models", NULL, 2000, 5000, httpbody_add, &hb,
                        &status, err, sizeof(err)),
              ==, -1);
    CHECK(strstr(err, "Failed to connect") != NULL);
    CHECK_INT(http1_get("https://127.0.0.1:1/", NULL, 2000, 5000, httpbody_add, &hb, &status,
                        err, sizeof(err)),
              ==, -1);
    CHECK(strstr(err, "not a plain http") != NULL);
    CHECK(hb.data == NULL);
}

/* A body callback that keeps nothing. */
static int
discard_body(void *arg, const char *p, size_t n)
{
    (void)arg;
    (void)p;
    (void)n;
    return 0;
}

/* O_NONBLOCK of fd: 1 or 0. */
static int
is_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    CHECK(fl != -1);
    return (fl & O_NONBLOCK) != 0;
}

/* A connection to a listener that has not accepted yet: a waiting recv
 * comes back with EAGAIN when its time passes, the socket blocking until
 * http1_conn_nowait; once the peer writes, the same recv returns the
 * bytes. */
TEST(recv_wait_timeout_then_data)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    struct http1_url u;
    struct http1_pool *pool;
    struct http1_conn c;
    char url[64], buf[64];
    int lfd, pfd;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(bind(lfd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    CHECK_INT(listen(lfd, 1), ==, 0);
    CHECK_INT(getsockname(lfd, (struct sockaddr *)&a, &alen), ==, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(a.sin_port));
    CHECK_INT(http1_mine(url, &u), ==, 0);
    pool = http1_pool_new(&u);
    CHECK(pool != NULL);
    c.out = NULL;
    CHECK_INT(http1_conn_open(pool, &c), ==, 0);
    CHECK(is_nonblocking(c.fd));
    while (c.connecting) {
        struct pollfd w = {c.fd, POLLOUT, 0};
        CHECK_INT(poll(&w, 1, 5000), ==, 1);
        CHECK(http1_conn_connected(&c) != -1);
    }
    errno = 0;
    CHECK_INT(http1_conn_recv_wait(&c, buf, sizeof(buf), 50), ==, -1);
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    CHECK_INT(c.fail, ==, HTTP1_F_NONE);
    CHECK_INT(c.wait_ms, ==, 50);
    CHECK(!is_nonblocking(c.fd));
    pfd = accept(lfd, NULL, NULL);
    CHECK(pfd >= 0);
    CHECK_INT(write_all(pfd, "HTTP/1.1", 8), ==, 0);
    CHECK_INT(http1_conn_recv_wait(&c, buf, sizeof(buf), 50), ==, 8);
    CHECK(memcmp(buf, "HTTP/1.1", 8) == 0);
    CHECK_INT(c.nread, ==, 8);
    CHECK_INT(http1_conn_nowait(&c), ==, 0);
    CHECK_INT(c.wait_ms, ==, 0);
    CHECK(is_nonblocking(c.fd));
    /* Non-blocking again: nothing there is EAGAIN at once. */
    CHECK_INT(http1_conn_recv(&c, buf, sizeof(buf)), ==, -1);
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
    /* The peer closes: the waiting recv sees the orderly close. */
    close(pfd);
    CHECK_INT(http1_conn_recv_wait(&c, buf, sizeof(buf), 50), ==, 0);
    http1_conn_close(pool, &c, 0);
    http1_pool_free(pool);
    close(lfd);
}

/* A whole exchange read with waiting recvs: the connection goes back to
 * the pool non-blocking, and the next exchange reuses it so. */
TEST(recv_wait_pooled_nonblocking)
{
    struct srv s;
    struct http1_url u;
    struct http1_pool *pool;
    struct http1_conn c;
    char url[64], buf[4096];
    int i, fd;

    srv_start(&s, SRV_SSE, NULL, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    CHECK_INT(http1_mine(url, &u), ==, 0);
    pool = http1_pool_new(&u);
    CHECK(pool != NULL);
    c.out = NULL;
    for (i = 0; i < 2; i++) {
        CHECK_INT(http1_conn_open(pool, &c), ==, 0);
        CHECK_INT(c.reused, ==, i);
        CHECK(is_nonblocking(c.fd));
        while (c.connecting) {
            struct pollfd w = {c.fd, POLLOUT, 0};
            CHECK_INT(poll(&w, 1, 5000), ==, 1);
            CHECK(http1_conn_connected(&c) != -1);
        }
        CHECK_INT(http1_conn_request(&c, &u, "POST", "/v1/chat/completions", "application/json",
                                     NULL, NULL, req_body, strlen(req_body)),
                  ==, 0);
        CHECK_INT(http1_conn_send(&c), ==, 1);
        while (!c.p.complete) {
            ssize_t n = http1_conn_recv_wait(&c, buf, sizeof(buf), 100);
            CHECK(n != 0);
            if (n > 0)
                CHECK_INT(http1_parse(&c.p, buf, (size_t)n, discard_body, NULL), ==, 0);
        }
        CHECK_INT(c.p.status, ==, 200);
        fd = c.fd;
        http1_conn_close(pool, &c, 1);
        CHECK(is_nonblocking(fd)); /* pooled, open, non-blocking */
    }
    CHECK_INT(http1_pool_connects(pool), ==, 1);
    http1_pool_free(pool);
    srv_stop(&s);
    CHECK_INT(s.requests, ==, 2);
}

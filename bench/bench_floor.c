/*
 * bench_floor.c - the kernel's floor for a streaming client: what reading
 * the same SSE streams costs when nothing is done with them but what any
 * client must do. Per stream it opens a TCP connection, writes one
 * streamed chat request (`Connection: close`), then per wake-up does the
 * least a client timing every event needs: wait (daemon/poller: epoll or
 * kqueue, as tpsd), one recv of whatever arrived, one monotonic timestamp,
 * and a scan of the bytes for the end of the stream. No HTTP parsing, no
 * JSON, no storage. bench_vs_python.py runs it beside tpsd and the Python
 * client: its CPU per million tokens is the floor tpsd's is compared with.
 *
 *   bench_floor URL MODEL STREAMS REQUESTS MAX_TOKENS
 *
 * BENCH_FLOOR_WAIT picks the wait (default "poller", what the bench
 * compares with): "poll" is poll(2) on the one socket with a 100 ms
 * timeout then recv, "recv" a blocking recv with SO_RCVTIMEO = 100 ms (one
 * system call per wake-up; a timeout wakes it as the client's tick does).
 * Both need STREAMS = 1: they are the one-stream waits daemon/client.c may
 * use, measured against the poller's.
 *
 * URL is http://HOST:PORT (tpsd-sim). Prints one JSON line: {"requests": n,
 * "ok": n, "tokens": n, "reads": n}; a request is ok when its stream held
 * `data: [DONE]`, and counts MAX_TOKENS tokens (tpsd-sim answers exactly
 * max_tokens). The caller measures this process's CPU (wait4's rusage).
 */
#include "common/clock.h"
#include "daemon/poller.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define FLOOR_READ_BUF (16 * 1024) /* as tpsd's client: a burst costs one read */
#define FLOOR_REQ_MAX 1024
#define FLOOR_STREAMS_MAX 1024
#define FLOOR_TAIL 16      /* bytes kept across reads, so a marker split by a read is seen */
#define FLOOR_FD_MAX 65536 /* a ready fd finds its stream in one index */
#define FLOOR_TICK_MS 100  /* the one-stream waits' timeout: tpsd's tick */

enum { WAIT_POLLER, WAIT_POLL, WAIT_RECV };
static int wait_kind;

static const char done_mark[] = "data: [DONE]";

struct stream {
    int fd;                                     /* -1: idle */
    int done;                                   /* saw the marker */
    size_t tail;                                /* bytes in last[] */
    char last[FLOOR_TAIL + FLOOR_READ_BUF + 1]; /* + NUL: SSE text holds none */
};

static struct stream *byfd[FLOOR_FD_MAX];
static struct addrinfo *addr;
static char req[FLOOR_REQ_MAX];
static size_t req_len;

static int
stream_open(struct poller *p, struct stream *s)
{
    size_t off = 0;
    ssize_t n;

    s->fd = socket(addr->ai_family, SOCK_STREAM, 0);
    if (s->fd == -1 || s->fd >= FLOOR_FD_MAX ||
        connect(s->fd, addr->ai_addr, addr->ai_addrlen) == -1)
        return -1;
    byfd[s->fd] = s;
    while (off < req_len) {
        n = send(s->fd, req + off, req_len - off, 0);
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    s->done = 0;
    s->tail = 0;
    if (wait_kind == WAIT_RECV) {
        struct timeval tv = {0, FLOOR_TICK_MS * 1000};
        return setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    return wait_kind == WAIT_POLLER ? poller_set(p, s->fd, POLLER_IN, 0) : 0;
}

/* The one-stream waits: the ready socket as one event (n = 1), or 0 when
 * the tick passed with nothing (the blocking recv then reads at once in
 * stream_read; poll returned 0). */
static int
wait_one(struct stream *s, struct poller_ev *ev)
{
    struct pollfd pfd;

    ev->fd = s->fd;
    if (wait_kind == WAIT_RECV)
        return 1;
    pfd.fd = s->fd;
    pfd.events = POLLIN;
    return poll(&pfd, 1, FLOOR_TICK_MS) > 0;
}

/* One wake-up's work on a ready stream: recv, stamp, scan. 1 at the end of
 * the stream (EOF), 0 otherwise, -1 on error. */
static int
stream_read(struct stream *s, int64_t *stamp)
{
    ssize_t n = recv(s->fd, s->last + s->tail, FLOOR_READ_BUF, 0);

    *stamp = clock_mono_ns();
    if (n == 0)
        return 1;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    n += (ssize_t)s->tail;
    s->last[n] = '\0';
    if (!s->done && strstr(s->last, done_mark) != NULL)
        s->done = 1;
    s->tail = (size_t)n < FLOOR_TAIL ? (size_t)n : FLOOR_TAIL;
    memmove(s->last, s->last + n - (ssize_t)s->tail, s->tail);
    return 0;
}

int
main(int argc, char **argv)
{
    static struct stream st[FLOOR_STREAMS_MAX];
    struct poller_ev ev[POLLER_BATCH];
    struct addrinfo hints = {0};
    char host[256], port[16], body[512];
    long streams, requests, max_tokens, started = 0, ended = 0, ok = 0, reads = 0;
    int64_t stamp = 0; /* taken per read, as a client must; not otherwise used */
    struct poller *p;
    int i, n, k;

    if (argc != 6 || sscanf(argv[1], "http://%255[^:]:%15[0-9]", host, port) != 2) {
        fprintf(stderr, "usage: bench_floor http://HOST:PORT MODEL STREAMS REQUESTS "
                        "MAX_TOKENS\n");
        return 2;
    }
    if (getenv("BENCH_FLOOR_WAIT") != NULL)
        wait_kind = strcmp(getenv("BENCH_FLOOR_WAIT"), "recv") == 0   ? WAIT_RECV
                    : strcmp(getenv("BENCH_FLOOR_WAIT"), "poll") == 0 ? WAIT_POLL
                                                                      : WAIT_POLLER;
    streams = strtol(argv[3], NULL, 10);
    requests = strtol(argv[4], NULL, 10);
    max_tokens = strtol(argv[5], NULL, 10);
    if (streams < 1 || streams > FLOOR_STREAMS_MAX || requests < 1 || max_tokens < 1 ||
        (wait_kind != WAIT_POLLER && streams != 1)) {
        fprintf(stderr,
                "bench_floor: STREAMS 1..%d (1 with BENCH_FLOOR_WAIT), REQUESTS and "
                "MAX_TOKENS >= 1\n",
                FLOOR_STREAMS_MAX);
        return 2;
    }
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &addr) != 0) {
        fprintf(stderr, "bench_floor: cannot resolve %s\n", host);
        return 1;
    }
    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
             "\"max_tokens\":%ld,\"messages\":[{\"role\":\"user\",\"content\":\"go\"}]}",
             argv[2], max_tokens);
    n = snprintf(req, sizeof(req),
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: %s:%s\r\n"
                 "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 host, port, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof(req))
        return 2;
    req_len = (size_t)n;
    p = poller_new();
    if (p == NULL)
        return 1;
    for (i = 0; i < streams && started < requests; i++, started++)
        if (stream_open(p, &st[i]) == -1) {
            perror("bench_floor: connect");
            return 1;
        }
    for (; i < streams; i++)
        st[i].fd = -1;
    while (ended < requests) {
        n = wait_kind == WAIT_POLLER ? poller_wait(p, ev, POLLER_BATCH, -1)
                                     : wait_one(&st[0], ev);
        for (k = 0; k < n; k++) {
            struct stream *s = ev[k].fd < FLOOR_FD_MAX ? byfd[ev[k].fd] : NULL;
            int r;
            if (s == NULL)
                continue;
            reads++;
            r = stream_read(s, &stamp);
            if (r == 0)
                continue;
            if (wait_kind == WAIT_POLLER)
                poller_set(p, s->fd, 0, 1);
            byfd[s->fd] = NULL;
            close(s->fd);
            s->fd = -1;
            ended++;
            ok += r == 1 && s->done;
            if (started < requests) {
                started++;
                if (stream_open(p, s) == -1) {
                    perror("bench_floor: connect");
                    return 1;
                }
            }
        }
    }
    printf("{\"requests\": %ld, \"ok\": %ld, \"tokens\": %ld, \"reads\": %ld}\n", requests, ok,
           ok * max_tokens, reads);
    poller_free(p);
    freeaddrinfo(addr);
    return 0;
}

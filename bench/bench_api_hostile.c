/*
 * bench_api_hostile.c - issue 14's connection-exhaustion and framing probe,
 * re-run with timings: the API server (api_start, as `tpsd serve` runs it,
 * here in this process on a free loopback port, default limits: 256
 * connections) against
 *   - 3 connections trickling a header byte a second (connection timeout 5 s):
 *     when the server ends them;
 *   - 300 connections trickling a byte a second: healthz latency while they
 *     trickle, and when the last one is ended;
 *   - 300 silent connections: healthz latency;
 *   - 500 event-stream clients: streams granted, refused (and closed), cut,
 *     and healthz latency with the streams open;
 *   - GET /v1/jobs/1%00, GET /assets/app.js%00.html, two Content-Lengths:
 *     the status.
 * Prints one line per figure. usage: bench_api_hostile probe
 * (BH_SAMPLES=N healthz samples per figure, 5 by default).
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "api/api.h"
#include "daemon/config.h"
#include "storage/db.h"
#include "storage/jobs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BH_CONNS_MAX 600  /* sockets of the largest flood */
#define BH_SAMPLES_MAX 50 /* healthz samples per figure */
#define BH_WAIT_S 60      /* give up on any wait after this */

static struct api *api;
static int port;
static char dbpath[1024];

static void
start(int timeout_s)
{
    static struct config cfg;
    char err[API_ERR_MAX];
    struct api_opts o;
    struct db *db;

    config_defaults(&cfg);
    cfg.listen_port = 0;
    cfg.connection_timeout_s = timeout_s;
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    db = db_open(dbpath, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "db_open: %s\n", err);
        exit(1);
    }
    db_close(db);
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = dbpath;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL) {
        fprintf(stderr, "api_start: %s\n", err);
        exit(1);
    }
    port = api_port(api);
}

static int
dial(void)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static double
secs(uint64_t since)
{
    return (double)(tu_now_ns() - since) / 1e9;
}

/* One healthz through libcurl: milliseconds, or -1 when it failed. */
static double
healthz_ms(void)
{
    char url[128];
    long status = 0;
    uint64_t t0 = tu_now_ns();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/healthz", port);
    if (tu_http("GET", url, NULL, NULL, &status, NULL) != 0 || status != 200)
        return -1;
    return secs(t0) * 1e3;
}

static int
cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median and max of n healthz latencies taken `gap_ms` apart. */
static void
healthz_figure(const char *what, int n, long gap_ms)
{
    double v[BH_SAMPLES_MAX];
    int i, failed = 0;

    for (i = 0; i < n; i++) {
        v[i] = healthz_ms();
        failed += v[i] < 0;
        tu_sleep_ms(gap_ms);
    }
    qsort(v, (size_t)n, sizeof(v[0]), cmp_dbl);
    printf("%-58s healthz median %.1f ms, max %.1f ms, failed %d/%d\n", what, v[n / 2],
           v[n - 1], failed, n);
}

/* Trickle one byte a second on fds[0..n) (the main thread: healthz samples
 * are taken between rounds) until all are ended; seconds until the last. */
static double
trickle(int *fds, int n, int samples)
{
    static const char req[] = "GET /v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ";
    uint64_t t0 = tu_now_ns();
    size_t pos = 0;
    int i, open = n, round = 0;
    char c;

    while (open > 0 && secs(t0) < BH_WAIT_S) {
        open = 0;
        for (i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            c = pos < sizeof(req) - 1 ? req[pos] : 'a';
            if (send(fds[i], &c, 1, MSG_DONTWAIT) != 1 || tu_peer_closed(fds[i])) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            open++;
        }
        pos++;
        if (round++ == 1 && samples > 0) {
            char what[128];

            snprintf(what, sizeof(what), "%d connections trickling 1 byte/s:", n);
            healthz_figure(what, samples, 0);
        }
        tu_sleep_ms(1000);
    }
    return secs(t0);
}

static void
streams_500(int samples)
{
    static int fds[500], status[500], closed[500];
    char req[256], err[DB_ERR_MAX], buf[256];
    struct db *db = db_open(dbpath, err, sizeof(err));
    int64_t job;
    int i, n, existing, ok = 0, refused = 0, cut = 0, pending;
    uint64_t t0;
    ssize_t r;

    if (db == NULL ||
        jobs_create(db, "j", "benchmark", "{}", 0, NULL, NULL, &job, &existing) != 0)
        exit(1);
    db_close(db);
    n = snprintf(req, sizeof(req),
                 "GET /v1/jobs/%lld/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                 (long long)job, port);
    t0 = tu_now_ns();
    for (i = 0; i < 500; i++) {
        fds[i] = dial();
        status[i] = closed[i] = 0;
        if (write(fds[i], req, (size_t)n) != n)
            exit(1);
    }
    do {
        pending = 0;
        for (i = 0; i < 500; i++) {
            if (closed[i] || status[i] == 200)
                continue;
            pending++;
            r = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
            if (r == 0 || (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK))
                closed[i] = 1;
            else if (r > 0 && status[i] == 0) {
                buf[r] = '\0';
                sscanf(buf, "HTTP/1.%*d %d", &status[i]);
            }
        }
        if (pending > 0)
            tu_sleep_ms(5);
    } while (pending > 0 && secs(t0) < BH_WAIT_S);
    for (i = 0; i < 500; i++) {
        ok += status[i] == 200 && !closed[i];
        refused += status[i] == 503 && closed[i];
        cut += status[i] == 0 && closed[i];
    }
    printf("%-58s %d streams, %d refused and closed, %d cut, %d left open; all settled in %.2f "
           "s\n",
           "500 event-stream clients:", ok, refused, cut, 500 - ok - refused - cut, secs(t0));
    healthz_figure("  with the 64 streams open:", samples, 200);
    for (i = 0; i < 500; i++)
        close(fds[i]);
}

static int
raw_status(const char *text)
{
    char resp[1024];
    int fd = dial(), status = 0;
    ssize_t r;
    struct pollfd p = {fd, POLLIN, 0};

    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        exit(1);
    if (poll(&p, 1, BH_WAIT_S * 1000) == 1 && (r = read(fd, resp, sizeof(resp) - 1)) > 0) {
        resp[r] = '\0';
        sscanf(resp, "HTTP/1.%*d %d", &status);
    }
    close(fd);
    return status;
}

static void
framing(void)
{
    static const char *const paths[] = {"/v1/jobs/1", "/v1/jobs/1%00",
                                        "/assets/app.js%00.html"};
    char req[512];
    size_t i;
    long st = 0;
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/jobs", port);
    tu_http("POST", url, "{\"models\": [\"m\"], \"suite\": \"standard\"}", NULL, &st, NULL);
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", paths[i],
                 port);
        printf("GET %-54s %d\n", paths[i], raw_status(req));
    }
    snprintf(
        req, sizeof(req),
        "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
        port);
    printf("%-58s %d\n", "POST with Content-Length 2 and 40:", raw_status(req));
}

TEST(probe)
{
    static int fds[BH_CONNS_MAX];
    const char *env = getenv("BH_SAMPLES");
    int samples = env != NULL ? (int)strtol(env, NULL, 10) : 5;
    struct rlimit rl;
    int i;

    signal(SIGPIPE, SIG_IGN);
    if (samples < 1 || samples > BH_SAMPLES_MAX)
        samples = 5;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    start(5);
    healthz_figure("idle server:", samples, 100);
    for (i = 0; i < 3; i++)
        fds[i] = dial();
    printf("%-58s ended after %.1f s\n",
           "3 connections trickling 1 byte/s, timeout 5 s:", trickle(fds, 3, 0));
    for (i = 0; i < 300; i++)
        fds[i] = dial();
    printf("%-58s last ended after %.1f s\n", "  and the 300:", trickle(fds, 300, samples));
    for (i = 0; i < 300; i++)
        fds[i] = dial();
    healthz_figure("300 silent connections:", samples, 0);
    for (i = 0; i < 300; i++)
        close(fds[i]);
    streams_500(samples);
    framing();
    api_stop(api);
}

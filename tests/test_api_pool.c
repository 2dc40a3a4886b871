/*
 * test_api_pool.c - the API's request pool (api/pool.c) on a real server on
 * loopback and a real SQLite file: history reads stuck on the database do
 * not hold up other requests, lane threads end when idle, and shutdown
 * waits for the requests in flight.
 *
 * A read is held up without timing: the test's own connection takes the
 * database's file lock in EXCLUSIVE locking mode, so that every API read
 * waits in SQLite's busy handler (up to DB_BUSY_TIMEOUT_MS, then 503) until
 * the test lets go.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "api/api.h"
#include "daemon/config.h"
#include "storage/db.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define POOL_WAIT_S 60     /* cap of any wait: a broken build fails, not hangs */
#define POOL_SLOW 10       /* history reads sent at once (more than any lane) */
#define POOL_RESP_MAX 4096 /* bytes of a response kept */

static struct config cfg;
static struct api *api;
static char dbpath[1024];
static int port;

static void
start(void)
{
    char err[API_ERR_MAX];
    struct api_opts o;
    struct db *db;

    config_defaults(&cfg);
    cfg.listen_port = 0;
    snprintf(dbpath, sizeof(dbpath), "%s/tpsd.db", tu_tmpdir());
    db = db_open(dbpath, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    db_close(db);
    memset(&o, 0, sizeof(o));
    o.cfg = &cfg;
    o.db_path = dbpath;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL)
        check_failed(__FILE__, __LINE__, "api_start: %s", err);
    port = api_port(api);
    CHECK(port > 0);
    signal(SIGPIPE, SIG_IGN);
}

/* A connection to the server with "GET path" sent on it. */
static int
send_get(const char *path)
{
    struct sockaddr_in sa;
    char req[512];
    int fd = socket(AF_INET, SOCK_STREAM, 0), n;

    CHECK(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", path, port);
    CHECK_INT(send(fd, req, (size_t)n, 0), ==, n);
    return fd;
}

/* 1 when fd has something to read within ms milliseconds. */
static int
readable(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, ms) == 1;
}

/* The status of the response on fd, read within POOL_WAIT_S (0: none). */
static int
status_of(int fd)
{
    char buf[POOL_RESP_MAX];
    ssize_t n;
    int st = 0;

    if (!readable(fd, POOL_WAIT_S * 1000))
        return 0;
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.1 %d", &st) != 1)
        return 0;
    return st;
}

/* The test's connection holding the database's lock: readers wait. */
static struct db *
lock_database(void)
{
    struct db *db = du_db_open(dbpath);

    CHECK_INT(db_exec(db, "PRAGMA locking_mode = EXCLUSIVE"), ==, 0);
    CHECK_INT(db_exec(db, "BEGIN EXCLUSIVE"), ==, 0);
    CHECK_INT(db_exec(db, "UPDATE jobs SET state = state WHERE 0"), ==, 0);
    CHECK_INT(db_exec(db, "COMMIT"), ==, 0);
    return db;
}

/*
 * POOL_SLOW history reads (/v1/models) wait on the database's lock; a
 * request that needs no database (/v1/suites) and the dashboard's page are
 * answered while every one of them still waits. Before the pool, each
 * connection waited behind whatever its libmicrohttpd thread held.
 */
TEST(slow_reads_do_not_hold_up_others)
{
    int slow[POOL_SLOW], fast, i;
    struct db *lock;

    start();
    lock = lock_database();
    for (i = 0; i < POOL_SLOW; i++)
        slow[i] = send_get("/v1/models");
    tu_sleep_ms(200); /* let them reach the lanes */
    fast = send_get("/v1/suites");
    CHECK_INT(status_of(fast), ==, 200);
    close(fast);
    fast = send_get("/");
    CHECK_INT(status_of(fast), ==, 200);
    close(fast);
    for (i = 0; i < POOL_SLOW; i++)
        CHECK(!readable(slow[i], 0)); /* all still waiting for the lock */
    db_close(lock);
    for (i = 0; i < POOL_SLOW; i++) {
        int st = status_of(slow[i]);

        CHECK(st == 200 || st == 304 || st == 503); /* answered, lock or no lock */
        close(slow[i]);
    }
    api_stop(api);
}

/* Lane threads start for a request and end once idle; the next request
 * starts them again. */
TEST(lane_threads_end_when_idle)
{
    int fd, waited;

    start();
    CHECK_INT(api_request_threads(api), ==, 0); /* none before the first request */
    fd = send_get("/v1/models");
    CHECK_INT(status_of(fd), ==, 200);
    close(fd);
    CHECK(api_request_threads(api) >= 1);
    for (waited = 0; api_request_threads(api) > 0 && waited < POOL_WAIT_S * 10; waited++)
        tu_sleep_ms(100);
    CHECK_INT(api_request_threads(api), ==, 0);
    fd = send_get("/v1/runs");
    CHECK_INT(status_of(fd), ==, 200);
    close(fd);
    api_stop(api);
}

/* api_stop with requests queued and running on the lanes: it waits for
 * them (their connections are suspended), frees everything (ASan), and
 * every client gets an answer or a closed connection, never a hang. */
TEST(stop_with_requests_in_flight)
{
    int slow[3], i;
    struct db *lock;

    start();
    lock = lock_database();
    for (i = 0; i < 3; i++)
        slow[i] = send_get("/v1/models");
    tu_sleep_ms(200);
    api_stop(api); /* the reads end with 503 after the busy timeout */
    db_close(lock);
    for (i = 0; i < 3; i++) {
        CHECK(readable(slow[i], POOL_WAIT_S * 1000));
        close(slow[i]);
    }
}

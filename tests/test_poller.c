/*
 * test_poller.c - the socket readiness backend (epoll, kqueue or poll):
 * readable and writable sockets are reported, changed interest takes
 * effect, removed and closed sockets are not reported, timeouts time out.
 */
#include "tests/check.h"

#include "daemon/poller.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
find(const struct poller_ev *ev, int n, int fd)
{
    int i;

    for (i = 0; i < n; i++)
        if (ev[i].fd == fd)
            return ev[i].what;
    return 0;
}

TEST(readable_writable)
{
    struct poller *p = poller_new();
    struct poller_ev ev[POLLER_BATCH];
    int sv[2], n;

    CHECK(p != NULL);
    fprintf(stderr, "poller: %s\n", poller_kind());
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    CHECK_INT(poller_set(p, sv[0], POLLER_IN, 0), ==, 0);
    CHECK_INT(poller_wait(p, ev, POLLER_BATCH, 0), ==, 0); /* nothing to read */
    CHECK_INT(write(sv[1], "x", 1), ==, 1);
    n = poller_wait(p, ev, POLLER_BATCH, 1000);
    CHECK_INT(n, ==, 1);
    CHECK(find(ev, n, sv[0]) & POLLER_IN);
    /* Now only writability: an empty send buffer is writable at once. */
    CHECK_INT(poller_set(p, sv[0], POLLER_OUT, 1), ==, 0);
    n = poller_wait(p, ev, POLLER_BATCH, 1000);
    CHECK_INT(n, ==, 1);
    CHECK(find(ev, n, sv[0]) & POLLER_OUT);
    CHECK(!(find(ev, n, sv[0]) & POLLER_IN));
    /* Removed: not reported although readable. */
    CHECK_INT(poller_set(p, sv[0], 0, 1), ==, 0);
    CHECK_INT(poller_wait(p, ev, POLLER_BATCH, 50), ==, 0);
    /* Removing twice, or what was never added, is harmless. */
    CHECK_INT(poller_set(p, sv[0], 0, 1), ==, 0);
    close(sv[0]);
    close(sv[1]);
    poller_free(p);
}

TEST(many_and_batches)
{
    struct poller *p = poller_new();
    struct poller_ev ev[POLLER_BATCH];
    int sv[300][2], i, n, total = 0, seen[300];

    CHECK(p != NULL);
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < 300; i++) {
        CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), ==, 0);
        CHECK_INT(poller_set(p, sv[i][0], POLLER_IN, 0), ==, 0);
        CHECK_INT(write(sv[i][1], "x", 1), ==, 1);
    }
    /* 300 ready, at most 100 per wait: every one is reported in turn as
     * each is drained. */
    while (total < 300) {
        n = poller_wait(p, ev, 100, 1000);
        CHECK(n > 0 && n <= 100);
        for (i = 0; i < n; i++) {
            char c;
            int k;
            for (k = 0; k < 300 && sv[k][0] != ev[i].fd; k++)
                ;
            CHECK(k < 300);
            CHECK_INT(seen[k], ==, 0);
            seen[k] = 1;
            CHECK_INT(read(ev[i].fd, &c, 1), ==, 1);
            total++;
        }
    }
    CHECK_INT(poller_wait(p, ev, POLLER_BATCH, 0), ==, 0);
    for (i = 0; i < 300; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
    poller_free(p);
}

TEST(hangup_and_timeout)
{
    struct poller *p = poller_new();
    struct poller_ev ev[POLLER_BATCH];
    int sv[2], n;

    CHECK(p != NULL);
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    CHECK_INT(poller_set(p, sv[0], POLLER_IN, 0), ==, 0);
    CHECK_INT(poller_wait(p, ev, POLLER_BATCH, 30), ==, 0);
    close(sv[1]); /* the peer hangs up: readable (EOF) */
    n = poller_wait(p, ev, POLLER_BATCH, 1000);
    CHECK_INT(n, >=, 1);
    CHECK(find(ev, n, sv[0]) & (POLLER_IN | POLLER_ERR));
    close(sv[0]);
    poller_free(p);
}

/* The tick wakes a wait with no timeout and is not reported as a socket;
 * a ready socket still is; after the tick stops, nothing wakes. (A tick
 * that never fired would hang this case until ctest's timeout.) */
TEST(tick_wakes_untimed_wait)
{
    struct poller *p = poller_new();
    struct poller_ev ev[4];
    int sv[2], i;

    CHECK(p != NULL);
    if (strcmp(poller_kind(), "poll") == 0) {
        CHECK_INT(poller_tick(p, 10), ==, -1); /* no tick: timeouts instead */
        poller_free(p);
        return;
    }
    CHECK_INT(poller_tick(p, 10), ==, 0);
    for (i = 0; i < 3; i++)
        CHECK_INT(poller_wait(p, ev, 4, -1), ==, 0);
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    CHECK_INT(poller_set(p, sv[0], POLLER_IN, 0), ==, 0);
    CHECK_INT(write(sv[1], "x", 1), ==, 1);
    for (i = 0; i < 100; i++) {
        int n = poller_wait(p, ev, 4, -1);
        CHECK(n == 0 || n == 1);
        if (n == 1) {
            CHECK_INT(ev[0].fd, ==, sv[0]);
            break;
        }
    }
    CHECK(i < 100);
    CHECK_INT(poller_set(p, sv[0], 0, 1), ==, 0);
    CHECK_INT(poller_tick(p, 0), ==, 0);
    CHECK_INT(poller_wait(p, ev, 4, 30), ==, 0);
    close(sv[0]);
    close(sv[1]);
    poller_free(p);
}

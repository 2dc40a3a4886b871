/*
 * poller.h - readiness of many sockets at O(ready) cost per wait: epoll on
 * Linux, kqueue on macOS and the BSDs, poll(2) elsewhere (or when built
 * with -DTPSD_POLLER_POLL, so that path is tested too). The streaming
 * client drives libcurl's socket interface with it, so a wake-up costs
 * the same with 1 or 1,000 streams open.
 *
 * Not thread-safe: one poller belongs to one thread. Calls nothing of ours.
 */
#ifndef TPSD_POLLER_H
#define TPSD_POLLER_H

#define POLLER_IN 1
#define POLLER_OUT 2
#define POLLER_ERR 4     /* in events only: error or hang-up */
#define POLLER_BATCH 256 /* events returned by one wait, at most */

struct poller_ev {
    int fd;
    int what; /* POLLER_IN | POLLER_OUT | POLLER_ERR */
};

struct poller;

/* A new poller; NULL on error (errno set). */
struct poller *poller_new(void);
void poller_free(struct poller *p);
/* The backend's name: "epoll", "kqueue" or "poll". */
const char *poller_kind(void);

/*
 * Watch fd for `want` (POLLER_IN | POLLER_OUT); want 0 stops watching it.
 * `known` says whether fd is watched already (the caller tracks it).
 * 0, or -1 with errno set.
 */
int poller_set(struct poller *p, int fd, int want, int known);

/*
 * Wake every `ms` milliseconds (0: stop) even when no socket is ready, so
 * the caller can wait with timeout -1 and still run its periodic checks,
 * instead of arming a kernel timer on every wait (a per-event cost when
 * events arrive every millisecond): a timerfd in the epoll set on Linux, an
 * EVFILT_TIMER on kqueue. poller_wait consumes the tick itself: it returns
 * 0 sockets for it. 0, or -1 when the backend has no tick (poll(2)) or it
 * could not be set: pass a timeout instead.
 */
int poller_tick(struct poller *p, int ms);

/*
 * Wait up to timeout_ms (-1: forever, 0: not at all) for readiness; fills
 * ev[0..n) with n <= max (max <= POLLER_BATCH) and returns n, 0 on timeout,
 * or -1 with errno set (EINTR is returned as 0).
 */
int poller_wait(struct poller *p, struct poller_ev *ev, int max, int timeout_ms);

#endif

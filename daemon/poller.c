/* poller.c - see poller.h. */
#if defined(__linux__) && !defined(TPSD_POLLER_POLL)
#define POLLER_EPOLL 1
#elif (defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) ||                   \
       defined(__NetBSD__)) &&                                                                 \
    !defined(TPSD_POLLER_POLL)
#define POLLER_KQUEUE 1
#endif

#include "daemon/poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(POLLER_EPOLL)
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#elif defined(POLLER_KQUEUE)
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#else
#include <poll.h>
#endif

#if defined(POLLER_EPOLL) || defined(POLLER_KQUEUE)

/* epoll and kqueue: the kernel keeps the interest set behind one descriptor;
 * only how it is opened, told and asked differs. */
struct poller {
    int fd;
    int tick_fd; /* epoll: the timerfd of poller_tick, -1 before */
    int ticking; /* kqueue: the tick timer is set */
};
#define POLLER_FD 1
#define POLLER_TICK_ID 1 /* kqueue: the tick's ident (timers have their own space) */

#if defined(POLLER_EPOLL)
#define POLLER_KIND "epoll"
#define POLLER_OPEN() epoll_create1(EPOLL_CLOEXEC)
#else
#define POLLER_KIND "kqueue"
#define POLLER_OPEN() kqueue()
#endif

#else /* poll(2): the interest set is ours, passed in whole to each wait. */

struct poller {
    struct pollfd *fds;
    size_t n, cap;
    size_t next; /* where the next wait starts reporting */
};
#define POLLER_FD 0
#define POLLER_KIND "poll"

#endif

const char *
poller_kind(void)
{
    return POLLER_KIND;
}

struct poller *
poller_new(void)
{
    struct poller *p = calloc(1, sizeof(*p));

#if POLLER_FD
    if (p != NULL && (p->fd = POLLER_OPEN()) == -1) {
        free(p);
        return NULL;
    }
    if (p != NULL)
        p->tick_fd = -1;
#endif
    return p;
}

void
poller_free(struct poller *p)
{
    if (p == NULL)
        return;
#if POLLER_FD
    close(p->fd);
    if (p->tick_fd >= 0)
        close(p->tick_fd);
#else
    free(p->fds);
#endif
    free(p);
}

#if defined(POLLER_EPOLL)

int
poller_set(struct poller *p, int fd, int want, int known)
{
    struct epoll_event ev;

    if (want == 0) {
        /* The socket may be closed already, which removed it. */
        if (known && epoll_ctl(p->fd, EPOLL_CTL_DEL, fd, NULL) == -1 && errno != EBADF &&
            errno != ENOENT)
            return -1;
        return 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = ((want & POLLER_IN) ? EPOLLIN : 0) | ((want & POLLER_OUT) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    if (epoll_ctl(p->fd, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    if (errno == ENOENT)
        return epoll_ctl(p->fd, EPOLL_CTL_ADD, fd, &ev);
    if (errno == EEXIST)
        return epoll_ctl(p->fd, EPOLL_CTL_MOD, fd, &ev);
    return -1;
}

int
poller_tick(struct poller *p, int ms)
{
    struct itimerspec its;
    struct epoll_event ev;

    if (p->tick_fd == -1) {
        if (ms == 0)
            return 0;
        p->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (p->tick_fd == -1)
            return -1;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.fd = p->tick_fd;
        if (epoll_ctl(p->fd, EPOLL_CTL_ADD, p->tick_fd, &ev) == -1) {
            close(p->tick_fd);
            p->tick_fd = -1;
            return -1;
        }
    }
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_sec = ms / 1000;
    its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000L;
    its.it_value = its.it_interval;
    return timerfd_settime(p->tick_fd, 0, &its, NULL);
}

int
poller_wait(struct poller *p, struct poller_ev *ev, int max, int timeout_ms)
{
    struct epoll_event got[POLLER_BATCH];
    uint64_t expirations;
    int n, i, k = 0;

    if (max > POLLER_BATCH)
        max = POLLER_BATCH;
    n = epoll_wait(p->fd, got, max, timeout_ms);
    if (n == -1)
        return errno == EINTR ? 0 : -1;
    for (i = 0; i < n; i++) {
        if (got[i].data.fd == p->tick_fd) {
            (void)!read(p->tick_fd, &expirations, sizeof(expirations));
            continue;
        }
        ev[k].fd = got[i].data.fd;
        ev[k].what = ((got[i].events & EPOLLIN) ? POLLER_IN : 0) |
                     ((got[i].events & EPOLLOUT) ? POLLER_OUT : 0) |
                     ((got[i].events & (EPOLLERR | EPOLLHUP)) ? POLLER_ERR : 0);
        k++;
    }
    return k;
}

#elif defined(POLLER_KQUEUE)

/* Add or delete one filter; deleting what is not there is not an error. */
static int
kq_filter(struct poller *p, int fd, short filter, int on)
{
    struct kevent ch;

    EV_SET(&ch, (uintptr_t)fd, filter, on ? EV_ADD | EV_ENABLE : EV_DELETE, 0, 0, NULL);
    if (kevent(p->fd, &ch, 1, NULL, 0, NULL) == 0)
        return 0;
    return !on && (errno == ENOENT || errno == EBADF) ? 0 : -1;
}

int
poller_set(struct poller *p, int fd, int want, int known)
{
    if ((want & POLLER_IN) || known) {
        if (kq_filter(p, fd, EVFILT_READ, want & POLLER_IN) == -1)
            return -1;
    }
    if ((want & POLLER_OUT) || known) {
        if (kq_filter(p, fd, EVFILT_WRITE, want & POLLER_OUT) == -1)
            return -1;
    }
    return 0;
}

int
poller_tick(struct poller *p, int ms)
{
    struct kevent ch;

    if (ms == 0 && !p->ticking)
        return 0;
    /* EVFILT_TIMER: data is the period in milliseconds (no NOTE_* unit). */
    EV_SET(&ch, POLLER_TICK_ID, EVFILT_TIMER, ms != 0 ? EV_ADD | EV_ENABLE : EV_DELETE, 0, ms,
           NULL);
    if (kevent(p->fd, &ch, 1, NULL, 0, NULL) == -1)
        return -1;
    p->ticking = ms != 0;
    return 0;
}

int
poller_wait(struct poller *p, struct poller_ev *ev, int max, int timeout_ms)
{
    struct kevent got[POLLER_BATCH];
    struct timespec ts, *tp = NULL;
    int n, i, k = 0;

    if (max > POLLER_BATCH)
        max = POLLER_BATCH;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tp = &ts;
    }
    n = kevent(p->fd, NULL, 0, got, max, tp);
    if (n == -1)
        return errno == EINTR ? 0 : -1;
    for (i = 0; i < n; i++) {
        if (got[i].filter == EVFILT_TIMER)
            continue; /* the tick */
        ev[k].fd = (int)got[i].ident;
        ev[k].what = got[i].filter == EVFILT_WRITE ? POLLER_OUT : POLLER_IN;
        if (got[i].flags & EV_ERROR)
            ev[k].what |= POLLER_ERR;
        k++;
    }
    return k;
}

#else /* poll(2) */

int
poller_tick(struct poller *p, int ms)
{
    (void)p;
    return ms == 0 ? 0 : -1; /* no tick: the caller passes timeouts */
}

int
poller_set(struct poller *p, int fd, int want, int known)
{
    struct pollfd *nf;
    size_t i;

    (void)known;
    for (i = 0; i < p->n && p->fds[i].fd != fd; i++)
        ;
    if (want == 0) {
        if (i < p->n)
            p->fds[i] = p->fds[--p->n];
        return 0;
    }
    if (i == p->n) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            nf = realloc(p->fds, cap * sizeof(*nf));
            if (nf == NULL)
                return -1;
            p->fds = nf;
            p->cap = cap;
        }
        p->n++;
    }
    p->fds[i].fd = fd;
    p->fds[i].events =
        (short)(((want & POLLER_IN) ? POLLIN : 0) | ((want & POLLER_OUT) ? POLLOUT : 0));
    p->fds[i].revents = 0;
    return 0;
}

int
poller_wait(struct poller *p, struct poller_ev *ev, int max, int timeout_ms)
{
    size_t i, k;
    int n, got = 0;

    if (max > POLLER_BATCH)
        max = POLLER_BATCH;
    n = poll(p->fds, (nfds_t)p->n, timeout_ms);
    if (n == -1)
        return errno == EINTR ? 0 : -1;
    /* Start where the last wait stopped so no socket starves. */
    for (k = 0; k < p->n && got < max && n > 0; k++) {
        i = (p->next + k) % p->n;
        if (p->fds[i].revents == 0)
            continue;
        ev[got].fd = p->fds[i].fd;
        ev[got].what = ((p->fds[i].revents & POLLIN) ? POLLER_IN : 0) |
                       ((p->fds[i].revents & POLLOUT) ? POLLER_OUT : 0) |
                       ((p->fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) ? POLLER_ERR : 0);
        got++;
    }
    if (p->n > 0)
        p->next = (p->next + k) % p->n;
    return got;
}

#endif

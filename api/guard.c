/*
 * guard.c - the connection guard: a deadline for receiving each request
 * that a trickling client cannot extend, and a cap on the connections that
 * are still receiving one, so that slow or silent clients cannot take the
 * connections that short requests (healthz, /metrics, job reads) need.
 *
 * How it works. libmicrohttpd's connection timeout is an idle timeout: every
 * byte received restarts it, so a client sending a header byte a second
 * holds its connection for as long as it likes. The guard keeps its own
 * record of every connection (libmicrohttpd's connection notifications; the
 * record is the connection's socket context) and a list of the ones that are
 * "receiving": opened, or done with their previous request, and not yet
 * answered. The list is in arrival order, which is also deadline order: a
 * connection joins it with deadline = now + the request timeout, at accept
 * or when its previous request completed (keep-alive), and leaves it when a
 * reply is queued.
 *
 * - A sweeper thread sleeps until the oldest deadline (plus GUARD_SLACK_MS)
 *   and cuts the connections past it: shutdown(2) of the socket, so that
 *   libmicrohttpd sees the end of the stream on its own thread and closes
 *   the connection there (no libmicrohttpd call from a foreign thread).
 * - While the list is over its cap, its oldest members are cut once they
 *   have been receiving for GUARD_GRACE_MS: a flood of silent or trickling
 *   connections pushes out its own oldest members, while a short request,
 *   which sends its headers at once and leaves the list within
 *   microseconds, goes through. The grace spares a burst of fast clients
 *   that libmicrohttpd accepted faster than it read them (500 event-stream
 *   clients at once): they are over the cap only for the moment it takes
 *   to read them.
 *
 * Cutting is safe from the fd's reuse: libmicrohttpd calls the "closed"
 * notification, which removes the record under the guard's lock, before it
 * closes the socket (MHD_cleanup_connections in daemon.c, 0.9.75 and
 * 1.0.x), and the guard shuts a socket down only under that lock.
 */
#include "api/internal.h"

#include "common/clock.h"
#include "daemon/log.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#define GUARD_IDLE_WAIT_S 3600 /* sweeper sleep with nothing listed */
#define GUARD_GRACE_MS 1000    /* receiving this long: may be pushed out */
#define GUARD_LOG_S 1          /* at most one warning this often */
/* The sweeper cuts this long after the deadline: a connection that sent
 * nothing since its previous answer is libmicrohttpd's to close (its idle
 * timeout, the same length, ends it quietly); what is left to cut at the
 * deadline is a request that trickled in. */
#define GUARD_SLACK_MS 1000

struct api_conn {
    struct api_conn *prev, *next; /* in the receiving list when listed */
    int fd;
    int listed;
    int64_t since_ns;    /* CLOCK_MONOTONIC: joined the list */
    int64_t deadline_ns; /* since_ns + the request timeout */
};

/* Remove c from the receiving list. Call with guard_mu held. */
static void
unlist(struct api *a, struct api_conn *c)
{
    if (!c->listed)
        return;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        a->recv_head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    else
        a->recv_tail = c->prev;
    c->prev = c->next = NULL;
    c->listed = 0;
    a->nreceiving--;
}

/* End c's connection: libmicrohttpd reads the end of the stream and closes
 * it. Call with guard_mu held (the fd is still libmicrohttpd's then). */
static void
cut(struct api *a, struct api_conn *c)
{
    unlist(a, c);
    shutdown(c->fd, SHUT_RDWR);
}

/* 1 when the oldest receiving connection may be pushed out at `now`: the
 * list is over its cap and that connection is past its grace. */
static int
over_cap(const struct api *a, int64_t now)
{
    return a->nreceiving > a->recv_max && a->recv_head != NULL &&
           a->recv_head->since_ns + (int64_t)GUARD_GRACE_MS * 1000000 <= now;
}

/* Append c to the receiving list with a fresh deadline; push out the
 * oldest member when the list is over its cap. Call with guard_mu held. */
static void
list_fresh(struct api *a, struct api_conn *c)
{
    int64_t now = clock_mono_ns();
    int was_empty = a->recv_head == NULL;

    unlist(a, c);
    c->since_ns = now;
    c->deadline_ns = now + a->request_ns;
    c->prev = a->recv_tail;
    if (a->recv_tail != NULL)
        a->recv_tail->next = c;
    else
        a->recv_head = c;
    a->recv_tail = c;
    c->listed = 1;
    a->nreceiving++;
    if (over_cap(a, now)) {
        cut(a, a->recv_head);
        a->evicted++;
    }
    /* Wake the sweeper only when it must plan an earlier wake-up: the list
     * was empty (it sleeps until its own deadline, or idle) or has just
     * gone over its cap. Not on every join: under load that would be a
     * wake-up per request. */
    if ((was_empty && c->deadline_ns < a->sweep_at_ns) || a->nreceiving == a->recv_max + 1)
        pthread_cond_signal(&a->guard_cv);
}

/* The guard's record of a connection, or NULL. */
static struct api_conn *
record_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci != NULL ? ci->socket_context : NULL;
}

void
api_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode code)
{
    struct api *a = cls;
    struct api_conn *c = *socket_context;
    const union MHD_ConnectionInfo *ci;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = ci != NULL ? calloc(1, sizeof(*c)) : NULL;
        if (c == NULL)
            return; /* untracked: the idle timeout still applies */
        c->fd = ci->connect_fd;
        *socket_context = c;
        pthread_mutex_lock(&a->guard_mu);
        list_fresh(a, c);
        pthread_mutex_unlock(&a->guard_mu);
        return;
    }
    if (c == NULL)
        return;
    pthread_mutex_lock(&a->guard_mu);
    unlist(a, c);
    pthread_mutex_unlock(&a->guard_mu);
    free(c);
    *socket_context = NULL;
}

int64_t
api_guard_deadline(struct api *a, struct MHD_Connection *conn)
{
    struct api_conn *c = record_of(conn);
    int64_t d = 0;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&a->guard_mu);
    if (c->listed)
        d = c->deadline_ns;
    pthread_mutex_unlock(&a->guard_mu);
    return d;
}

/* The connection's record, if it has one, off the guard's lists, or back
 * on them as fresh: under guard_mu. */
static void
relist(struct api *a, struct MHD_Connection *conn, int fresh)
{
    struct api_conn *c = record_of(conn);

    if (c == NULL)
        return;
    pthread_mutex_lock(&a->guard_mu);
    if (fresh)
        list_fresh(a, c);
    else
        unlist(a, c);
    pthread_mutex_unlock(&a->guard_mu);
}

void
api_guard_answering(struct api *a, struct MHD_Connection *conn)
{
    relist(a, conn, 0);
}

void
api_guard_next_request(struct api *a, struct MHD_Connection *conn)
{
    relist(a, conn, 1);
}

/* Wait on guard_cv until `deadline_ns` (CLOCK_MONOTONIC) or a signal. */
static void
wait_until(struct api *a, int64_t deadline_ns)
{
    int64_t rel = deadline_ns - clock_mono_ns();
    struct timespec until;

    if (rel <= 0)
        return;
    clock_realtime_in(rel, &until);
    pthread_cond_timedwait(&a->guard_cv, &a->guard_mu, &until);
}

static void *
sweeper(void *arg)
{
    struct api *a = arg;
    unsigned long timed_out = 0, evicted = 0;
    int64_t now, wake, logged = 0, log_gap = (int64_t)GUARD_LOG_S * 1000000000;
    int64_t slack = (int64_t)GUARD_SLACK_MS * 1000000;

    pthread_mutex_lock(&a->guard_mu);
    while (!a->guard_stopping) {
        now = clock_mono_ns();
        while (a->recv_head != NULL && a->recv_head->deadline_ns + slack <= now) {
            cut(a, a->recv_head);
            timed_out++;
        }
        while (over_cap(a, now)) {
            cut(a, a->recv_head);
            a->evicted++;
        }
        if ((timed_out > 0 || a->evicted > 0) && now - logged >= log_gap) {
            evicted = a->evicted;
            a->evicted = 0;
            logged = now;
            pthread_mutex_unlock(&a->guard_mu);
            log_warnx("api: closed connections that sent no complete request "
                      "past_deadline=%lu pushed_out=%lu deadline_s=%lld receiving_max=%u",
                      timed_out, evicted, (long long)(a->request_ns / 1000000000), a->recv_max);
            timed_out = evicted = 0;
            pthread_mutex_lock(&a->guard_mu);
            continue;
        }
        if (a->recv_head == NULL)
            wake = now + (int64_t)GUARD_IDLE_WAIT_S * 1000000000;
        else if (a->nreceiving > a->recv_max)
            wake = a->recv_head->since_ns + (int64_t)GUARD_GRACE_MS * 1000000;
        else
            wake = a->recv_head->deadline_ns + slack;
        if ((timed_out > 0 || a->evicted > 0) && wake > logged + log_gap)
            wake = logged + log_gap; /* the warning still owed */
        a->sweep_at_ns = wake;
        wait_until(a, wake);
    }
    pthread_mutex_unlock(&a->guard_mu);
    return NULL;
}

int
api_guard_init(struct api *a, unsigned recv_max, unsigned timeout_s)
{
    a->recv_max = recv_max > 0 ? recv_max : 1;
    a->request_ns = (int64_t)timeout_s * 1000000000;
    a->sweep_at_ns = INT64_MAX; /* not asleep yet: any join wakes it */
    return api_thread_start(&a->sweeper, &a->sweeper_started, API_SMALL_STACK, sweeper, a);
}

void
api_guard_shutdown(struct api *a)
{
    pthread_mutex_lock(&a->guard_mu);
    a->guard_stopping = 1;
    pthread_cond_broadcast(&a->guard_cv);
    pthread_mutex_unlock(&a->guard_mu);
    if (a->sweeper_started) {
        pthread_join(a->sweeper, NULL);
        a->sweeper_started = 0;
    }
}

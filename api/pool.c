/*
 * pool.c - the request pool: the threads that run the API's handlers, in
 * two lanes, so that a slow request never delays a fast one.
 *
 * How it works. libmicrohttpd runs one internal thread that does all the
 * socket I/O (epoll, poll or select). When a request is in, server.c asks
 * the route table for its lane (api_route_lane): the page's files and the
 * error answers are answered there and then on that thread; a request that
 * reads the database is handed to a lane here. The connection is suspended
 * (MHD_suspend_connection) and the request queued; a lane thread runs the
 * handler, whose reply helpers keep the response in the request instead of
 * queueing it (api_queue), and resumes the connection; libmicrohttpd then
 * calls the access handler again on its own thread, which queues the kept
 * response. No libmicrohttpd call but resume is made from a lane thread
 * (the handlers read the suspended connection's headers and arguments,
 * which nothing changes while it is suspended).
 *
 * The lanes: "heavy" for the routes that read history (trends, models,
 * regressions, reports, samples, /metrics), at most API_HEAVY_THREADS of
 * them at once; "light" for everything else (job and run reads, job
 * submission, health), at most API_LIGHT_THREADS. A year of trends queued
 * ten deep holds the heavy lane only: /v1/runs goes on the light one.
 *
 * Threads start when a request finds no idle thread in its lane, and end
 * after API_LANE_IDLE_MS without work: the thread's database connection
 * (with its page cache, up to API_DB_CACHE_KIB) is closed then, and the
 * last thread to end hands the freed heap back to the kernel (heap_trim), so
 * an idle daemon holds no page cache and no lane thread. Their stacks are
 * API_LANE_STACK bytes, not the system's 8 MB default.
 *
 * Threads are joinable: a slot's thread is joined when the slot is reused
 * and at shutdown (api_pool_stop waits for the requests in flight, whose
 * connections libmicrohttpd cannot close while they are suspended).
 */
#include "api/internal.h"

#include "common/clock.h"
#include "daemon/heap.h"
#include "daemon/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__APPLE__)
#include <pthread/qos.h>
#endif

#define API_LANE_IDLE_MS 10000 /* an idle lane thread ends after this */
#define API_HEAVY_NICE 10      /* Linux: the heavy lane's threads' nice value */

_Static_assert(API_LIGHT_THREADS <= API_LANE_THREADS_MAX &&
                   API_HEAVY_THREADS <= API_LANE_THREADS_MAX,
               "a lane has room for its threads");

static _Thread_local int lane_thread; /* 1 on a lane thread */

#define API_LANE_SLOTS (2 * API_LANE_THREADS_MAX) /* see struct api_lane_q */

/* The slot states of a lane's threads. */
enum { SLOT_FREE, SLOT_RUNNING, SLOT_ENDED };

struct lane_arg {
    struct api *api;
    enum api_lane lane;
    int slot;
};

int
api_on_lane_thread(void)
{
    return lane_thread;
}

/*
 * Lower the calling thread's CPU priority: a heavy lane thread, so that on
 * a busy machine the scheduler runs the light lane and the I/O thread
 * first (two slow trends requests on two cores would otherwise take as
 * much CPU as the fast requests' threads). Linux: the thread's nice value
 * (threads are tasks; raising it needs no privilege). macOS: the utility
 * QoS class. Elsewhere: nothing.
 */
static void
lower_priority(void)
{
#if defined(__linux__)
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), API_HEAVY_NICE);
#elif defined(__APPLE__)
    pthread_set_qos_class_self_np(QOS_CLASS_UTILITY, 0);
#endif
}

/* Close this thread's database connection (its page cache with it). */
static void
drop_db(struct api *a)
{
    struct db *db = pthread_getspecific(a->db_key);

    if (db == NULL)
        return;
    pthread_setspecific(a->db_key, NULL);
    db_close(db);
}

/* Run one request: the handler keeps its reply in r (r->deferred), and
 * libmicrohttpd queues it once the connection is resumed. */
static void
run(struct api_req *r)
{
    enum MHD_Result rc = api_dispatch(r);

    if (r->t0_ns > 0)
        r->t1_ns = clock_mono_ns();
    if (rc == MHD_NO && r->resp != NULL) {
        MHD_destroy_response(r->resp);
        r->resp = NULL;
    }
    MHD_resume_connection(r->conn);
}

/* Wait on cv until the CLOCK_MONOTONIC deadline or a signal; ETIMEDOUT
 * once the deadline has passed. Call with pool_mu held. */
static int
wait_until(struct api *a, pthread_cond_t *cv, int64_t deadline_ns)
{
    int64_t rel = deadline_ns - clock_mono_ns();
    struct timespec until;

    if (rel <= 0)
        return ETIMEDOUT;
    clock_realtime_in(rel, &until);
    return pthread_cond_timedwait(cv, &a->pool_mu, &until);
}

/* Wait for work until the lane stops or the idle period ends. The next
 * request (removed from the queue), or NULL: end the thread. Call with
 * pool_mu held. */
static struct api_req *
next_request(struct api *a, struct api_lane_q *ln)
{
    int64_t until = clock_mono_ns() + (int64_t)API_LANE_IDLE_MS * 1000000;
    struct api_req *r;

    while (ln->head == NULL && !a->pool_stopping) {
        ln->nidle++;
        if (wait_until(a, &ln->cv, until) == ETIMEDOUT && ln->head == NULL) {
            ln->nidle--;
            return NULL;
        }
        ln->nidle--;
    }
    r = ln->head;
    if (r != NULL) {
        ln->head = r->next;
        ln->queued--;
        if (ln->head == NULL)
            ln->tail = NULL;
        r->next = NULL;
    }
    return r;
}

static void *
lane_main(void *arg)
{
    struct lane_arg la = *(struct lane_arg *)arg;
    struct api *a = la.api;
    struct api_lane_q *ln = &a->lanes[la.lane];
    struct api_req *r;
    int last;

    free(arg);
    lane_thread = 1;
    if (la.lane == API_LANE_HEAVY)
        lower_priority();
    pthread_mutex_lock(&a->pool_mu);
    for (;;) {
        r = next_request(a, ln);
        if (r == NULL)
            break;
        pthread_mutex_unlock(&a->pool_mu);
        run(r);
        pthread_mutex_lock(&a->pool_mu);
    }
    /* Leaving: from here a request that arrives starts another thread
     * (this one takes no more work). */
    ln->nthreads--;
    pthread_mutex_unlock(&a->pool_mu);
    drop_db(a);
    /* The last thread out hands the freed memory back, before it is
     * marked ended (a join of an ended thread must not wait for this). */
    pthread_mutex_lock(&a->pool_mu);
    last = a->pool_threads == 1;
    pthread_mutex_unlock(&a->pool_mu);
    if (last)
        heap_trim();
    pthread_mutex_lock(&a->pool_mu);
    ln->state[la.slot] = SLOT_ENDED;
    a->pool_threads--;
    pthread_cond_broadcast(&a->pool_done);
    pthread_mutex_unlock(&a->pool_mu);
    return NULL;
}

/* Start a thread in lane `lane`. Call with pool_mu held. 0 or -1. */
static int
start_thread(struct api *a, enum api_lane lane)
{
    struct api_lane_q *ln = &a->lanes[lane];
    struct lane_arg *la;
    pthread_attr_t attr;
    int i, slot = -1, rc;

    for (i = 0; i < API_LANE_SLOTS && slot == -1; i++) {
        if (ln->state[i] == SLOT_ENDED) {
            pthread_join(ln->th[i], NULL); /* it ended: returns at once */
            ln->state[i] = SLOT_FREE;
        }
        if (ln->state[i] == SLOT_FREE)
            slot = i;
    }
    if (slot == -1)
        return -1;
    la = malloc(sizeof(*la));
    if (la == NULL)
        return -1;
    la->api = a;
    la->lane = lane;
    la->slot = slot;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, API_LANE_STACK);
    rc = pthread_create(&ln->th[slot], &attr, lane_main, la);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(la);
        return -1;
    }
    ln->state[slot] = SLOT_RUNNING;
    ln->nthreads++;
    a->pool_threads++;
    return 0;
}

void
api_pool_init(struct api *a)
{
    pthread_mutex_init(&a->pool_mu, NULL);
    pthread_cond_init(&a->pool_done, NULL);
    pthread_cond_init(&a->lanes[API_LANE_LIGHT].cv, NULL);
    pthread_cond_init(&a->lanes[API_LANE_HEAVY].cv, NULL);
    a->lanes[API_LANE_LIGHT].max = API_LIGHT_THREADS;
    a->lanes[API_LANE_HEAVY].max = API_HEAVY_THREADS;
    a->pool_ok = 1;
}

int
api_pool_submit(struct api *a, struct api_req *r, enum api_lane lane)
{
    struct api_lane_q *ln = &a->lanes[lane];
    int rc = -1;

    if (!a->pool_ok)
        return -1;
    r->deferred = 1;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&a->pool_mu);
    if (a->pool_stopping)
        goto out;
    /* A thread more when the idle ones are all spoken for (an idle thread
     * that was signalled counts as idle until it wakes). */
    if (ln->nidle <= ln->queued && ln->nthreads < ln->max && start_thread(a, lane) == -1 &&
        ln->nthreads == 0) {
        log_warnx("api: cannot start a request thread; answering on the server thread");
        goto out;
    }
    if (ln->tail != NULL)
        ln->tail->next = r;
    else
        ln->head = r;
    ln->tail = r;
    ln->queued++;
    pthread_cond_signal(&ln->cv);
    rc = 0;
out:
    pthread_mutex_unlock(&a->pool_mu);
    if (rc == -1) {
        r->deferred = 0;
        MHD_resume_connection(r->conn);
    }
    return rc;
}

int
api_request_threads(struct api *a)
{
    int n;

    if (!a->pool_ok)
        return 0;
    pthread_mutex_lock(&a->pool_mu);
    n = a->pool_threads;
    pthread_mutex_unlock(&a->pool_mu);
    return n;
}

void
api_pool_stop(struct api *a)
{
    struct api_lane_q *ln;
    int l, i;

    if (!a->pool_ok)
        return;
    pthread_mutex_lock(&a->pool_mu);
    a->pool_stopping = 1;
    for (l = 0; l < API_LANES; l++)
        pthread_cond_broadcast(&a->lanes[l].cv);
    /* The queued requests are run first: a lane thread ends only when its
     * queue is empty. */
    while (a->pool_threads > 0)
        pthread_cond_wait(&a->pool_done, &a->pool_mu);
    for (l = 0; l < API_LANES; l++) {
        ln = &a->lanes[l];
        for (i = 0; i < API_LANE_SLOTS; i++) {
            if (ln->state[i] == SLOT_ENDED)
                pthread_join(ln->th[i], NULL);
            ln->state[i] = SLOT_FREE;
        }
    }
    pthread_mutex_unlock(&a->pool_mu);
}

void
api_pool_destroy(struct api *a)
{
    if (!a->pool_ok)
        return;
    pthread_cond_destroy(&a->lanes[API_LANE_LIGHT].cv);
    pthread_cond_destroy(&a->lanes[API_LANE_HEAVY].cv);
    pthread_cond_destroy(&a->pool_done);
    pthread_mutex_destroy(&a->pool_mu);
    a->pool_ok = 0;
}

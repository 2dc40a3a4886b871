/* sampler.c - see sampler.h. */
#include "daemon/sampler.h"

#include "daemon/log.h"
#include "daemon/thread.h"
#include "storage/system.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SAMPLER_DRAIN_MAX 512 /* readings stored per transaction */

struct sampler {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stopping; /* set under mu */
    struct sysinfo_target target;
    int interval_ms;
    int64_t job_id;
    int64_t run_id; /* under mu */
    /* a ring of readings, under mu */
    struct system_rec *q;
    size_t head, n;
    uint64_t first;           /* readings ever popped or dropped: the head's number */
    _Atomic uint64_t dropped; /* added to under mu; read without it */
};

static void
push(struct sampler *s, const struct sysinfo_snap *snap, int64_t run_id)
{
    struct system_rec *r;

    if (s->n == SAMPLER_QUEUE_MAX) { /* drop the oldest */
        s->head = (s->head + 1) % SAMPLER_QUEUE_MAX;
        s->n--;
        s->first++;
        s->dropped++;
    }
    r = &s->q[(s->head + s->n) % SAMPLER_QUEUE_MAX];
    system_rec_init(r);
    r->job_id = s->job_id;
    r->run_id = run_id;
    r->at = snap->at;
    r->mem_total_bytes = snap->mem_total_bytes;
    r->mem_avail_bytes = snap->mem_avail_bytes;
    r->swap_used_bytes = snap->swap_used_bytes;
    r->mem_pressure = snap->mem_pressure;
    r->server_rss_bytes = snap->server_rss_bytes;
    r->self_rss_bytes = snap->self_rss_bytes;
    r->cpu_load1 = snap->cpu_load1;
    r->temp_c = snap->temp_c;
    snprintf(r->thermal, sizeof(r->thermal), "%s", snap->thermal);
    s->n++;
}

static void *
sampler_main(void *arg)
{
    struct sampler *s = arg;
    struct sysinfo_snap snap;
    struct timespec next;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        sysinfo_read(&s->target, &snap); /* unlocked: may scan processes */
        pthread_mutex_lock(&s->mu);
        push(s, &snap, s->run_id);
        /* The next reading one interval from now (a reading takes
         * milliseconds; the drift does not matter). */
        clock_gettime(CLOCK_REALTIME, &next);
        next.tv_sec += s->interval_ms / 1000;
        next.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        while (!s->stopping) {
            if (pthread_cond_timedwait(&s->cv, &s->mu, &next) != 0)
                break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct sampler *
sampler_start(const struct sysinfo_target *target, int interval_ms, int64_t job_id)
{
    struct sampler *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->q = calloc(SAMPLER_QUEUE_MAX, sizeof(*s->q));
    if (s->q == NULL) {
        free(s);
        return NULL;
    }
    if (target != NULL)
        s->target = *target;
    s->interval_ms =
        interval_ms < SAMPLER_INTERVAL_MIN_MS ? SAMPLER_INTERVAL_MIN_MS : interval_ms;
    s->job_id = job_id;
    if (thread_start(&s->th, &s->mu, &s->cv, sampler_main, s) == -1) {
        log_warnx("sampler: cannot start the thread job=%lld", (long long)job_id);
        free(s->q);
        free(s);
        return NULL;
    }
    return s;
}

void
sampler_set_run(struct sampler *s, int64_t run_id)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->run_id = run_id;
    pthread_mutex_unlock(&s->mu);
}

int
sampler_drain(struct sampler *s, struct db *db)
{
    struct system_rec batch[SAMPLER_DRAIN_MAX];
    size_t n, i, total = 0;
    uint64_t first, end;

    if (s == NULL)
        return 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        n = s->n < SAMPLER_DRAIN_MAX ? s->n : SAMPLER_DRAIN_MAX;
        for (i = 0; i < n; i++)
            batch[i] = s->q[(s->head + i) % SAMPLER_QUEUE_MAX];
        first = s->first;
        pthread_mutex_unlock(&s->mu);
        if (n == 0)
            break;
        if (system_samples_insert(db, batch, n) == -1)
            return -1;
        /* Pop what was stored; a full queue may have dropped some of it
         * meanwhile (only the thread adds, at the tail). */
        end = first + n;
        pthread_mutex_lock(&s->mu);
        if (end > s->first) {
            size_t k = (size_t)(end - s->first);
            s->head = (s->head + k) % SAMPLER_QUEUE_MAX;
            s->n -= k;
            s->first = end;
        }
        pthread_mutex_unlock(&s->mu);
        total += n;
        if (n < SAMPLER_DRAIN_MAX)
            break;
    }
    return (int)total;
}

uint64_t
sampler_dropped(struct sampler *s)
{
    return s != NULL ? atomic_load(&s->dropped) : 0;
}

void
sampler_stop(struct sampler *s, struct db *db)
{
    if (s == NULL)
        return;
    thread_stop(s->th, &s->mu, &s->cv, &s->stopping);
    if (db != NULL && sampler_drain(s, db) == -1)
        log_warnx("sampler: readings not stored job=%lld: %s", (long long)s->job_id, db->err);
    if (s->dropped > 0)
        log_warnx("sampler: %llu readings dropped job=%lld (queue full)",
                  (unsigned long long)atomic_load(&s->dropped), (long long)s->job_id);
    thread_sync_destroy(&s->mu, &s->cv);
    free(s->q);
    free(s);
}

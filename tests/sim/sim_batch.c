/* sim_batch.c - concurrency on one model: slots with a FIFO queue in front
 * of them, and a decode budget shared by the streams in the slots.
 *
 * How it works. A model with `slots` > 0 serves at most that many requests
 * at once; a request past that waits, first come first served, until a slot
 * frees, and the time it waits counts toward its TTFT (its schedule starts
 * when it gets the slot). That is llama.cpp server's `--parallel N`
 * (tools/server/server-context.cpp, process_single_task: when
 * get_available_slot finds no idle slot the task is deferred with
 * queue_tasks.defer, "no slot available, defer task", and retried when a
 * slot is released) and LM Studio's per-model parallel setting (`lms ps
 * --json` reports it as `parallel`, since 0.3.27; DESIGN.md).
 *
 * A model with `budget_tps` > 0 decodes at most that many tokens per second
 * in all: each of the n streams holding a slot (every admitted stream when
 * slots is 0) advances at min(tps, budget_tps / n). That is llama.cpp's
 * continuous batching (update_slots builds one llama_batch with the next
 * token of every generating slot and runs one llama_decode for all of
 * them), with the simplification that a step costs the same whatever the
 * batch size: the budget is the step rate times the batch. The share is
 * read when each token event is scheduled, so the schedule stays exact:
 * with c streams in the slots the rate is min(tps, budget_tps / c).
 *
 * A model with neither is never entered: its streams keep the schedule of
 * sim_chat.c unchanged. One mutex and one condition guard the table.
 */
#include "sim.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SIM_BATCH_POLL_NS 50000000LL /* a waiter looks at sim_stopping this often */

struct batch {
    char key[SIM_KEY_MAX];
    long in;        /* streams holding a slot (or admitted, without slots) */
    uint64_t next;  /* next ticket handed out */
    uint64_t admit; /* the ticket admitted next: FIFO order */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct batch b[SIM_MODELS_MAX];
    int n;
} bt = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The entry of key, made when absent (NULL when the table is full). Locked. */
static struct batch *
batch_get(const char *key)
{
    int i;

    for (i = 0; i < bt.n; i++)
        if (strcmp(bt.b[i].key, key) == 0)
            return &bt.b[i];
    if (bt.n == SIM_MODELS_MAX)
        return NULL;
    memset(&bt.b[bt.n], 0, sizeof(bt.b[bt.n]));
    snprintf(bt.b[bt.n].key, sizeof(bt.b[bt.n].key), "%s", key);
    return &bt.b[bt.n++];
}

int
sim_batch_uses(const struct sim_model *m)
{
    return m->slots > 0 || m->budget_tps > 0;
}

int
sim_batch_enter(const struct sim_model *m)
{
    struct batch *b;
    struct timespec ts;
    uint64_t ticket;
    int rc = -1;

    pthread_mutex_lock(&bt.mu);
    b = batch_get(m->key);
    if (b == NULL)
        goto out;
    ticket = b->next++;
    while (b->admit != ticket || (m->slots > 0 && b->in >= m->slots)) {
        if (sim_stopping) {
            b->admit++; /* let the next in line through */
            pthread_cond_broadcast(&bt.cv);
            goto out;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SIM_BATCH_POLL_NS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&bt.cv, &bt.mu, &ts);
    }
    b->admit++;
    b->in++;
    pthread_cond_broadcast(&bt.cv);
    rc = 0;
out:
    pthread_mutex_unlock(&bt.mu);
    return rc;
}

void
sim_batch_leave(const struct sim_model *m)
{
    struct batch *b;

    pthread_mutex_lock(&bt.mu);
    b = batch_get(m->key);
    if (b != NULL && b->in > 0)
        b->in--;
    pthread_cond_broadcast(&bt.cv);
    pthread_mutex_unlock(&bt.mu);
}

double
sim_batch_rate(const struct sim_model *m, double tps)
{
    struct batch *b;
    double share;
    long n;

    if (m->budget_tps <= 0)
        return tps;
    pthread_mutex_lock(&bt.mu);
    b = batch_get(m->key);
    n = b != NULL && b->in > 0 ? b->in : 1;
    pthread_mutex_unlock(&bt.mu);
    share = m->budget_tps / (double)n;
    return share < tps ? share : tps;
}

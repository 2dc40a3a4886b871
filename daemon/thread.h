/*
 * thread.h - the start and stop handshakes of tpsd's helper threads (the
 * worker, the sampler, the background stability analyses). Each has a
 * mutex, a condition variable it sleeps on, and a stop flag it reads under
 * that mutex; stopping sets the flag under the mutex and signals, so a
 * thread about to sleep cannot miss it, then joins.
 */
#ifndef TPSD_THREAD_H
#define TPSD_THREAD_H

#include <pthread.h>
#include <stdatomic.h>

/* Initialise mu and cv (default attributes) and start fn(arg) in *th.
 * 0, or -1 with mu and cv destroyed again. */
int thread_start(pthread_t *th, pthread_mutex_t *mu, pthread_cond_t *cv, void *(*fn)(void *),
                 void *arg);

/* Set *flag to 1 under mu, wake the thread sleeping on cv, and join th.
 * mu and cv stay usable (thread_sync_destroy ends them). */
void thread_stop(pthread_t th, pthread_mutex_t *mu, pthread_cond_t *cv, atomic_int *flag);

/* Set *flag (read under mu) to 1 under mu and wake the thread sleeping
 * on cv. */
void thread_wake(pthread_mutex_t *mu, pthread_cond_t *cv, int *flag);

/* Destroy mu and cv. */
void thread_sync_destroy(pthread_mutex_t *mu, pthread_cond_t *cv);

#endif

/* thread.c - see thread.h. */
#include "daemon/thread.h"

int
thread_start(pthread_t *th, pthread_mutex_t *mu, pthread_cond_t *cv, void *(*fn)(void *),
             void *arg)
{
    pthread_mutex_init(mu, NULL);
    pthread_cond_init(cv, NULL);
    if (pthread_create(th, NULL, fn, arg) != 0) {
        thread_sync_destroy(mu, cv);
        return -1;
    }
    return 0;
}

void
thread_stop(pthread_t th, pthread_mutex_t *mu, pthread_cond_t *cv, atomic_int *flag)
{
    pthread_mutex_lock(mu);
    *flag = 1;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
    pthread_join(th, NULL);
}

void
thread_wake(pthread_mutex_t *mu, pthread_cond_t *cv, int *flag)
{
    pthread_mutex_lock(mu);
    *flag = 1;
    pthread_cond_signal(cv);
    pthread_mutex_unlock(mu);
}

void
thread_sync_destroy(pthread_mutex_t *mu, pthread_cond_t *cv)
{
    pthread_mutex_destroy(mu);
    pthread_cond_destroy(cv);
}

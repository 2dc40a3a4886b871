/* sim_log.c - the request log: a ring of the last SIM_LOG_MAX requests, each
 * with the events written for it. Request id n lives in slot (n-1) % max. */
#include "sim.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SIM_LOG_EVENTS_MAX (2 * SIM_TOKENS_MAX + 16) /* per request */

struct sim_event {
    uint64_t t_ns;
    long tokens;
    enum sim_ev kind;
};

struct sim_req_log {
    uint64_t id;
    char *model; /* NULL: unknown */
    uint64_t t_recv_ns;
    int status;
    char *fault; /* NULL: none */
    struct sim_event *ev;
    size_t n, cap;
};

static const char *const ev_names[] = {
    "role", "reasoning", "content", "usage", "done", "malformed", "stats", "body",
};

static struct {
    pthread_mutex_t mu;
    struct sim_req_log **slot;
    uint64_t next_id;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
req_free(struct sim_req_log *r)
{
    if (r == NULL)
        return;
    free(r->model);
    free(r->fault);
    free(r->ev);
    free(r);
}

/* The live record of id, or NULL. Caller holds lg.mu. */
static struct sim_req_log *
req_find(uint64_t id)
{
    struct sim_req_log *r;

    if (id == 0 || lg.slot == NULL)
        return NULL;
    r = lg.slot[(id - 1) % SIM_LOG_MAX];
    return r != NULL && r->id == id ? r : NULL;
}

void
sim_log_init(void)
{
    lg.slot = calloc(SIM_LOG_MAX, sizeof(*lg.slot));
    lg.next_id = 1;
}

void
sim_log_shutdown(void)
{
    sim_log_clear();
    free(lg.slot);
    lg.slot = NULL;
}

uint64_t
sim_log_begin(const char *model, uint64_t t_recv_ns)
{
    struct sim_req_log *r = calloc(1, sizeof(*r));
    uint64_t id;
    size_t i;

    pthread_mutex_lock(&lg.mu);
    id = lg.next_id++;
    if (r != NULL && lg.slot != NULL) {
        r->id = id;
        r->model = model ? strdup(model) : NULL;
        r->t_recv_ns = t_recv_ns;
        r->status = 200;
        i = (id - 1) % SIM_LOG_MAX;
        req_free(lg.slot[i]); /* drop the oldest */
        lg.slot[i] = r;
        r = NULL;
    }
    pthread_mutex_unlock(&lg.mu);
    free(r);
    return id;
}

void
sim_log_status(uint64_t id, int status, const char *fault)
{
    struct sim_req_log *r;

    pthread_mutex_lock(&lg.mu);
    r = req_find(id);
    if (r != NULL) {
        r->status = status;
        free(r->fault);
        r->fault = fault ? strdup(fault) : NULL;
    }
    pthread_mutex_unlock(&lg.mu);
}

void
sim_log_event(uint64_t id, uint64_t t_ns, enum sim_ev kind, long tokens)
{
    struct sim_req_log *r;
    struct sim_event *ne;
    size_t cap;

    pthread_mutex_lock(&lg.mu);
    r = req_find(id);
    if (r == NULL || r->n == SIM_LOG_EVENTS_MAX)
        goto out;
    if (r->n == r->cap) {
        cap = r->cap ? r->cap * 2 : 64;
        ne = realloc(r->ev, cap * sizeof(*ne));
        if (ne == NULL)
            goto out;
        r->ev = ne;
        r->cap = cap;
    }
    r->ev[r->n].t_ns = t_ns;
    r->ev[r->n].kind = kind;
    r->ev[r->n].tokens = tokens;
    r->n++;
out:
    pthread_mutex_unlock(&lg.mu);
}

static json_t *
req_json(const struct sim_req_log *r)
{
    json_t *o, *evs = json_array();
    size_t i;

    for (i = 0; i < r->n; i++)
        json_array_append_new(evs, json_pack("{s:I,s:s,s:I}", "t_ns", (json_int_t)r->ev[i].t_ns,
                                             "kind", ev_names[r->ev[i].kind], "tokens",
                                             (json_int_t)r->ev[i].tokens));
    o = json_pack("{s:I,s:I,s:i}", "id", (json_int_t)r->id, "t_recv_ns",
                  (json_int_t)r->t_recv_ns, "status", r->status);
    json_object_set_new(o, "model", r->model ? json_string(r->model) : json_null());
    json_object_set_new(o, "fault", r->fault ? json_string(r->fault) : json_null());
    json_object_set_new(o, "events", evs);
    return o;
}

json_t *
sim_log_json(uint64_t id)
{
    json_t *arr = json_array();
    struct sim_req_log *r;
    uint64_t first, i;

    pthread_mutex_lock(&lg.mu);
    if (id != 0) {
        r = req_find(id);
        if (r != NULL)
            json_array_append_new(arr, req_json(r));
    } else if (lg.slot != NULL) {
        first = lg.next_id > SIM_LOG_MAX ? lg.next_id - SIM_LOG_MAX : 1;
        for (i = first; i < lg.next_id; i++) {
            r = req_find(i);
            if (r != NULL)
                json_array_append_new(arr, req_json(r));
        }
    }
    pthread_mutex_unlock(&lg.mu);
    return json_pack("{s:o}", "requests", arr);
}

void
sim_log_clear(void)
{
    size_t i;

    pthread_mutex_lock(&lg.mu);
    for (i = 0; lg.slot != NULL && i < SIM_LOG_MAX; i++) {
        req_free(lg.slot[i]);
        lg.slot[i] = NULL;
    }
    pthread_mutex_unlock(&lg.mu);
}

/* runner.c - see runner.h. */
#include "daemon/runner.h"

#include "daemon/backend.h"
#include "daemon/client.h"
#include "common/clock.h"
#include "daemon/log.h"
#include "daemon/stability.h"
#include "daemon/suite.h"
#include "daemon/sysinfo.h"
#include "daemon/sysmem.h"
#include "storage/runs.h"
#include "storage/samples.h"
#include "storage/stabdata.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

struct plan_item {
    int64_t seq;
    int case_idx;
    int repetition;
    int warmup;
    int64_t sched_ns;       /* rate loads: when to send; 0 = as soon as a slot frees */
};

struct runner {
    struct db *db;
    int64_t job_id;
    const struct jobspec *spec;
    const struct config *cfg;
    const struct runner_hooks *h;
    struct suite *suite;
    /* the run in progress */
    int64_t run_id;
    const char *model;
    char served_id[BACKEND_KEY_MAX];
    char **bodies;          /* one request body per case (no nonce) */
    struct plan_item *plan;
    size_t nplan, next;
    size_t nplan_all; /* the plan's requests, warm-ups included (progress "total") */
    struct client *client;
    struct client_req *slots;
    char **slot_body;       /* per-slot body when the case asks for a nonce */
    int nslots;
    int mismatch;           /* the server answered as another model */
    int scheduled;          /* requests were queued up front with send times (rate) */
    int storage_failed;
    int64_t n_requests, n_failed;
    uint64_t nonce_state;
    /* stability runs: cycles through the suite until the planned end */
    int stability;
    int stab_measuring;     /* warm-ups done: slots send through stab_send */
    int64_t stab_next_seq;  /* next seq to hand out (continues after a restart) */
    int64_t stab_end_ns;    /* monotonic: no request starts at or after it */
    int64_t stab_sent;      /* measured requests sent by this process */
    int64_t stab_cycle;     /* interval pacing: cycles started */
    int64_t stab_cycle_left; /* requests of the current cycle not yet sent */
    int64_t stab_cycle_start_ns;
    int64_t stab_next_arrival_ns; /* rate pacing: the next Poisson arrival */
    int64_t stab_event_ns;  /* next periodic "stability" event */
    int *slot_busy;
    int stab_busy;          /* slots with a measured request in flight */
    struct stability_bg *stab_bg; /* periodic analyses, off this thread */
};

static void
emit(struct runner *r, const char *type, json_t *data)
{
    if (r->h != NULL && r->h->event != NULL)
        r->h->event(r->h->arg, type, data);
    else
        json_decref(data);
}

static int
should_stop(void *arg)
{
    struct runner *r = arg;

    if (r->h == NULL)
        return 0;
    if (r->h->abort != NULL && *r->h->abort)
        return 1;
    return r->h->should_stop != NULL && r->h->should_stop(r->h->arg);
}

/* The chat request for a case: suite parameters, then the job's sampling
 * overrides, model id and streaming with usage. New reference. */
static json_t *
request_json(struct runner *r, const struct suite_case *sc, const char *nonce)
{
    const struct suite_params *p = &sc->params;
    static const char *roles[] = { "system", "user", "assistant" };
    json_t *req = json_object(), *msgs = json_array(), *ov = r->spec->sampling;
    const char *key;
    json_t *v;
    size_t i;

    for (i = 0; i < sc->n_messages; i++) {
        const char *content = sc->messages[i].content;
        json_t *m = json_object();
        json_object_set_new(m, "role", json_string(roles[sc->messages[i].role]));
        if (nonce != NULL && i == 0) {
            size_t n = strlen(nonce) + strlen(content) + 2;
            char *buf = malloc(n);
            if (buf != NULL) {
                snprintf(buf, n, "%s %s", nonce, content);
                json_object_set_new(m, "content", json_string(buf));
                free(buf);
            }
        } else {
            json_object_set_new(m, "content", json_string(content));
        }
        json_array_append_new(msgs, m);
    }
    json_object_set_new(req, "model", json_string(r->served_id));
    json_object_set_new(req, "messages", msgs);
    json_object_set_new(req, "stream", json_true());
    json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
    if (p->set & SUITE_P_MAX_TOKENS)
        json_object_set_new(req, "max_tokens", json_integer(p->max_tokens));
    if (p->set & SUITE_P_TEMPERATURE)
        json_object_set_new(req, "temperature", json_real(p->temperature));
    if (p->set & SUITE_P_TOP_P)
        json_object_set_new(req, "top_p", json_real(p->top_p));
    if (p->set & SUITE_P_TOP_K)
        json_object_set_new(req, "top_k", json_integer(p->top_k));
    if (p->set & SUITE_P_MIN_P)
        json_object_set_new(req, "min_p", json_real(p->min_p));
    if (p->set & SUITE_P_REPEAT_PENALTY)
        json_object_set_new(req, "repeat_penalty", json_real(p->repeat_penalty));
    if (p->set & SUITE_P_PRESENCE_PENALTY)
        json_object_set_new(req, "presence_penalty", json_real(p->presence_penalty));
    if (p->set & SUITE_P_FREQUENCY_PENALTY)
        json_object_set_new(req, "frequency_penalty", json_real(p->frequency_penalty));
    if (p->set & SUITE_P_SEED)
        json_object_set_new(req, "seed", json_integer(p->seed));
    if (json_is_object(ov)) {
        json_object_foreach(ov, key, v) json_object_set(req, key, v);
    }
    return req;
}

static char *
request_body(struct runner *r, const struct suite_case *sc, const char *nonce)
{
    json_t *req = request_json(r, sc, nonce);
    char *s = json_dumps(req, JSON_COMPACT);

    json_decref(req);
    return s;
}

static int
case_wants_nonce(const struct runner *r, const struct suite_case *sc)
{
    return r->spec->nonce || ((sc->params.set & SUITE_P_NONCE) && sc->params.nonce);
}

/* xorshift64*: deterministic per job, good enough for nonces and arrivals. */
static uint64_t
rnd(struct runner *r)
{
    uint64_t x = r->nonce_state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->nonce_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Build the run's request plan: warm-ups, then each case x repetitions
 * (sequential, concurrent) or Poisson arrivals for the duration (rate). */
static int
plan_build(struct runner *r)
{
    const struct jobspec *s = r->spec;
    size_t n = 0, cap, c, k;
    int w, rep;

    if (r->stability)
        cap = (size_t)s->warmup + 1; /* the warm-ups; measured requests come from stab_send */
    else if (s->load == LOAD_RATE)
        cap = (size_t)s->warmup + (size_t)(s->rps * s->duration_s * 1.5) + 16;
    else
        cap = (size_t)s->warmup + r->suite->n_cases * (size_t)s->repetitions;
    if (cap > RUNNER_PLAN_MAX)
        cap = RUNNER_PLAN_MAX;
    r->plan = calloc(cap, sizeof(*r->plan));
    if (r->plan == NULL)
        return -1;
    for (w = 0; w < s->warmup && n < cap; w++, n++) {
        r->plan[n].seq = (int64_t)n + r->stab_next_seq;
        r->plan[n].case_idx = 0;
        r->plan[n].repetition = w;
        r->plan[n].warmup = 1;
    }
    if (r->stability) {
        r->stab_next_seq += (int64_t)n;
    } else if (s->load == LOAD_RATE) {
        double t = 0;
        for (k = 0; n < cap; k++, n++) {
            double u = ((double)(rnd(r) >> 11) + 0.5) / 9007199254740992.0;
            t += -log(u) / s->rps;
            if (t >= s->duration_s)
                break;
            r->plan[n].seq = (int64_t)n;
            r->plan[n].case_idx = (int)(k % r->suite->n_cases);
            r->plan[n].repetition = (int)(k / r->suite->n_cases);
            r->plan[n].sched_ns = (int64_t)(t * 1e9); /* relative; made absolute at start */
        }
    } else {
        for (c = 0; c < r->suite->n_cases; c++) {
            for (rep = 0; rep < s->repetitions && n < cap; rep++, n++) {
                r->plan[n].seq = (int64_t)n;
                r->plan[n].case_idx = (int)c;
                r->plan[n].repetition = rep;
            }
        }
    }
    r->nplan = r->nplan_all = n;
    return 0;
}

/* A figure of a "sample" event, left out when unknown. */
static void
event_figure_REAL(json_t *d, const char *name, double v)
{
    if (!isnan(v))
        json_object_set_new(d, name, json_real(v));
}

static void
event_figure_I64(json_t *d, const char *name, int64_t v)
{
    if (v >= 0)
        json_object_set_new(d, name, json_integer((json_int_t)v));
}

static void
event_figure_I64S(json_t *d, const char *name, int64_t v)
{
    if (v != -1)
        json_object_set_new(d, name, json_integer((json_int_t)v));
}

static void
event_figure_BOOL(json_t *d, const char *name, int v)
{
    json_object_set_new(d, name, json_boolean(v));
}

static void
progress_event(struct runner *r, const struct client_req *q, const char *case_name)
{
    const struct sample_rec *s = &q->rec;
    json_t *d = json_pack("{s:I, s:s, s:s, s:I, s:i, s:b, s:b, s:I, s:I}", "run_id",
                          (json_int_t)r->run_id, "model", r->model, "case", case_name, "seq",
                          (json_int_t)s->seq, "repetition", s->repetition, "warmup", s->warmup,
                          "ok", s->ok, "done", (json_int_t)r->next, "total",
                          (json_int_t)r->nplan_all);

    if (d == NULL)
        return;
    if (r->stab_measuring) {
        json_object_set_new(d, "done", json_integer((json_int_t)r->stab_sent));
        json_object_set_new(d, "total", json_null());
    }
#define SAMPLE_EVENT(name, type, flags)                                                      \
    if ((flags) & SF_EVENT)                                                                  \
        event_figure_##type(d, #name, s->name);
    SAMPLE_FIGURES(SAMPLE_EVENT) /* storage/sample_fields.h */
#undef SAMPLE_EVENT
    if (s->passed >= 0)
        json_object_set_new(d, "passed", json_boolean(s->passed));
    if (!s->ok) {
        json_object_set_new(d, "error_code", json_string(s->error_code));
        json_object_set_new(d, "error_detail", json_string(s->error_detail));
    }
    emit(r, "sample", d);
}

static int slot_send(struct runner *r, int slot);
static void stab_refill(struct runner *r);
static void stab_event(struct runner *r, int force);

static void
on_done(void *arg, struct client_req *q)
{
    struct runner *r = arg;
    const struct suite_case *sc = &r->suite->cases[0];
    int slot = (int)(q - r->slots);
    size_t c;
    char why[SAMPLE_DETAIL_MAX];

    for (c = 0; c < r->suite->n_cases; c++) {
        if (strcmp(r->suite->cases[c].name, q->rec.case_name) == 0) {
            sc = &r->suite->cases[c];
            break;
        }
    }
    if (strcmp(q->rec.error_code, "cancelled") == 0) {
        /* Not a measurement: a resumed job sends it again. */
        goto next;
    }
    if (q->rec.ok && q->model[0] != '\0' && strcmp(q->model, r->served_id) != 0) {
        q->rec.ok = 0;
        snprintf(q->rec.error_code, sizeof(q->rec.error_code), "model_mismatch");
        snprintf(q->rec.error_detail, sizeof(q->rec.error_detail),
                 "asked for \"%.200s\", the server answered as \"%.200s\"", r->served_id,
                 q->model);
        r->mismatch = 1;
    }
    if (q->rec.ok && suite_case_validates(sc)) {
        why[0] = '\0';
        q->rec.passed = suite_validate_output(sc, q->text ? q->text : "",
                                              q->rec.completion_tokens, q->rec.finish_reason,
                                              why, sizeof(why));
        if (!q->rec.passed)
            snprintf(q->rec.error_detail, sizeof(q->rec.error_detail), "validation: %.400s", why);
    }
    if (!q->rec.warmup) {
        r->n_requests++;
        if (!q->rec.ok || q->rec.passed == 0)
            r->n_failed++;
    }
    if (samples_insert(r->db, &q->rec) == -1) {
        log_warnx("sample not stored run=%lld seq=%lld: %s", (long long)r->run_id,
                  (long long)q->rec.seq, r->db->err);
        r->storage_failed = 1;
    }
    progress_event(r, q, sc->name);
next:
    free(q->text);
    free(q->reasoning);
    q->text = q->reasoning = NULL;
    sample_rec_free(&q->rec);
    free(r->slot_body[slot]);
    r->slot_body[slot] = NULL;
    if (r->stab_measuring) {
        if (r->slot_busy[slot]) {
            r->slot_busy[slot] = 0;
            r->stab_busy--;
        }
        if (!r->mismatch && !r->storage_failed)
            stab_refill(r);
        stab_event(r, 0);
        return;
    }
    if (!r->mismatch && !r->storage_failed && !r->scheduled)
        slot_send(r, slot);
}

/* Send the next unmeasured plan item on `slot`. 1 sent, 0 nothing left. */
static int
slot_send(struct runner *r, int slot)
{
    struct client_req *q = &r->slots[slot];

    while (r->next < r->nplan) {
        const struct plan_item *it = &r->plan[r->next++];
        const struct suite_case *sc = &r->suite->cases[it->case_idx];
        char nonce[48];

        if (samples_have_seq(r->db, r->run_id, it->seq) == 1)
            continue; /* measured before a restart */
        sample_rec_init(&q->rec);
        q->rec.run_id = r->run_id;
        q->rec.seq = it->seq;
        snprintf(q->rec.case_name, sizeof(q->rec.case_name), "%s", sc->name);
        q->rec.repetition = it->repetition;
        q->rec.slot = slot;
        q->rec.warmup = it->warmup;
        q->sched_ns = it->sched_ns;
        if (case_wants_nonce(r, sc)) {
            snprintf(nonce, sizeof(nonce), "[run %llx]", (unsigned long long)rnd(r));
            r->slot_body[slot] = request_body(r, sc, nonce);
            q->body = r->slot_body[slot];
        } else {
            q->body = r->bodies[it->case_idx];
        }
        if (q->body == NULL || client_add(r->client, q) == -1)
            return 0;
        return 1;
    }
    return 0;
}

/* Stability runs: the next measured request on `slot`. Back to back, each
 * slot sends its next request when its last one ends; with interval_s, a
 * cycle (the suite's cases once) starts every interval_s, start to start,
 * or when the previous cycle's last request ends if that is later; with a
 * rate load, requests arrive as a Poisson process of rps, each scheduled
 * on a free slot (RUNNER_STAB_RATE_SLOTS: when all are busy, arrivals wait
 * and sched_delay_us shows it). Nothing starts at or after the planned
 * end. 1 sent, 0 not. */
static int
stab_send(struct runner *r, int slot)
{
    struct client_req *q = &r->slots[slot];
    const struct suite_case *sc;
    int64_t now = clock_mono_ns(), sched = 0, n_cases = (int64_t)r->suite->n_cases;
    int case_idx, rep;
    char nonce[48];

    if (now >= r->stab_end_ns || r->slot_busy[slot] || should_stop(r))
        return 0;
    if (r->spec->load == LOAD_RATE) {
        double u = ((double)(rnd(r) >> 11) + 0.5) / 9007199254740992.0;

        if (r->stab_next_arrival_ns == 0)
            r->stab_next_arrival_ns = now;
        if (r->stab_next_arrival_ns >= r->stab_end_ns)
            return 0;
        sched = r->stab_next_arrival_ns;
        r->stab_next_arrival_ns += (int64_t)(-log(u) / r->spec->rps * 1e9);
        case_idx = (int)(r->stab_sent % n_cases);
        rep = (int)(r->stab_sent / n_cases);
    } else if (r->spec->interval_s > 0) {
        if (r->stab_cycle_left == 0) {
            int64_t start;

            if (r->stab_busy > 0)
                return 0; /* the next cycle waits for this one's last request */
            start = r->stab_cycle == 0
                        ? now
                        : r->stab_cycle_start_ns + (int64_t)(r->spec->interval_s * 1e9);
            if (start < now)
                start = now;
            if (start >= r->stab_end_ns)
                return 0;
            r->stab_cycle_start_ns = start;
            r->stab_cycle_left = n_cases;
            r->stab_cycle++;
        }
        case_idx = (int)(n_cases - r->stab_cycle_left);
        rep = (int)(r->stab_cycle - 1);
        r->stab_cycle_left--;
        if (r->stab_cycle_start_ns > now)
            sched = r->stab_cycle_start_ns;
    } else {
        case_idx = (int)(r->stab_sent % n_cases);
        rep = (int)(r->stab_sent / n_cases);
    }
    sc = &r->suite->cases[case_idx];
    sample_rec_init(&q->rec);
    q->rec.run_id = r->run_id;
    q->rec.seq = r->stab_next_seq++;
    snprintf(q->rec.case_name, sizeof(q->rec.case_name), "%s", sc->name);
    q->rec.repetition = rep;
    q->rec.slot = slot;
    q->rec.warmup = 0;
    q->sched_ns = sched;
    if (case_wants_nonce(r, sc)) {
        snprintf(nonce, sizeof(nonce), "[run %llx]", (unsigned long long)rnd(r));
        r->slot_body[slot] = request_body(r, sc, nonce);
        q->body = r->slot_body[slot];
    } else {
        q->body = r->bodies[case_idx];
    }
    if (q->body == NULL || client_add(r->client, q) == -1)
        return 0;
    r->stab_sent++;
    r->slot_busy[slot] = 1;
    r->stab_busy++;
    return 1;
}

static void
stab_refill(struct runner *r)
{
    int i;

    for (i = 0; i < r->nslots; i++)
        if (!r->slot_busy[i] && !stab_send(r, i))
            break;
}

/* The job's stability analysis as a "stability" event. While measuring,
 * every stability_event_s the background analyst is asked for one, and a
 * finished one is emitted here (the analysis never runs on this thread
 * while requests are in flight). With force (nothing in flight: the run's
 * end) it is computed here and now. */
static void
stab_event(struct runner *r, int force)
{
    struct stability_opts o;
    json_t *a = stability_bg_take(r->stab_bg);
    int64_t now = clock_mono_ns();

    if (force) {
        json_decref(a);
        stability_opts_from_config(&o, r->cfg);
        a = NULL;
        if (stability_analyze(r->db, r->job_id, &o, &a) != 0) {
            log_warnx("job=%lld stability analysis failed: %s", (long long)r->job_id,
                      r->db->err);
            return;
        }
    }
    if (a != NULL) {
        json_object_set_new(a, "run_id", json_integer((json_int_t)r->run_id));
        emit(r, "stability", a);
    }
    if (force || now < r->stab_event_ns)
        return;
    r->stab_event_ns = now + (int64_t)r->cfg->stability_event_s * 1000000000LL;
    stability_bg_request(r->stab_bg);
}

/* Start measuring a stability run: its planned end is fixed the first time
 * (now + duration_s) and kept across restarts. 0, or -1 (storage). */
static int
stab_begin(struct runner *r)
{
    struct stability_opts o;
    int64_t now_ms = clock_wall_ms(), planned;

    if (stabdata_plan_end(r->db, r->run_id, now_ms, (int64_t)(r->spec->duration_s * 1000.0),
                          &planned) == -1) {
        r->storage_failed = 1;
        return -1;
    }
    r->stab_end_ns = clock_mono_ns() + (planned - now_ms) * 1000000LL;
    r->stab_measuring = 1;
    stability_opts_from_config(&o, r->cfg);
    r->stab_bg = stability_bg_start(r->db->path, r->job_id, &o);
    if (r->stab_bg == NULL)
        log_warnx("job=%lld no background analyst: no periodic stability events",
                  (long long)r->job_id);
    r->stab_event_ns = clock_mono_ns() + (int64_t)r->cfg->stability_event_s * 1000000000LL;
    emit(r, "stability_plan",
         json_pack("{s:I, s:I, s:f, s:f, s:I}", "run_id", (json_int_t)r->run_id,
                   "planned_end_at", (json_int_t)planned, "remaining_s",
                   (double)(planned - now_ms) / 1000.0, "duration_s", r->spec->duration_s,
                   "next_seq", (json_int_t)r->stab_next_seq));
    return 0;
}

static void
host_json(char *buf, size_t len)
{
    struct utsname u;
    struct sysmem m;
    json_t *h;
    char *s;

    if (uname(&u) == -1)
        memset(&u, 0, sizeof(u));
    if (sysmem_read(&m) == -1)
        memset(&m, 0, sizeof(m));
    h = json_pack("{s:s, s:s, s:s, s:s, s:I}", "os", u.sysname, "release", u.release,
                  "machine", u.machine, "hostname", u.nodename, "mem_total_bytes",
                  (json_int_t)m.total_bytes);
    s = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    snprintf(buf, len, "%s", s ? s : "{}");
    free(s);
    json_decref(h);
}

/* FNV-1a 64 over the parts that make results comparable. */
static void
fingerprint(const char *const *parts, size_t n, char out[17])
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;
    const unsigned char *p;

    for (i = 0; i < n; i++) {
        for (p = (const unsigned char *)(parts[i] ? parts[i] : ""); *p; p++) {
            h ^= *p;
            h *= 1099511628211ULL;
        }
        h ^= 0xff;
        h *= 1099511628211ULL;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void
free_bodies(struct runner *r)
{
    size_t c;

    if (r->bodies != NULL)
        for (c = 0; c < r->suite->n_cases; c++)
            free(r->bodies[c]);
    free(r->bodies);
    r->bodies = NULL;
}

/* Run the plan for the current run. 0, or -1 when stopped or failed. */
static int
run_plan(struct runner *r, const char *base_url)
{
    struct client_opts co = { 0 };
    int i, nslots;
    size_t c;
    int64_t t0;

    if (r->stability) {
        int64_t planned;

        if (stabdata_next_seq(r->db, r->run_id, &r->stab_next_seq) == -1 ||
            stabdata_planned_end(r->db, r->run_id, &planned) == -1) {
            r->storage_failed = 1;
            return -1;
        }
        if (planned >= 0 && clock_wall_ms() >= planned)
            return 0; /* it ended while the daemon was down */
    }
    r->bodies = calloc(r->suite->n_cases, sizeof(char *));
    if (r->bodies == NULL)
        return -1;
    for (c = 0; c < r->suite->n_cases; c++)
        r->bodies[c] = request_body(r, &r->suite->cases[c], NULL);
    if (plan_build(r) == -1)
        return -1;
    co.base_url = base_url;
    co.api = r->spec->api;
    co.token = r->cfg->server_token;
    co.connect_timeout_ms = r->cfg->connect_timeout_ms;
    co.first_token_timeout_ms = r->cfg->first_token_timeout_ms;
    co.stall_timeout_ms = r->cfg->stall_timeout_ms;
    co.request_timeout_ms = r->cfg->request_timeout_ms;
    r->client = client_new(&co);
    if (r->client == NULL)
        return -1;
    /* Warm-ups go one at a time before anything is measured. */
    nslots = r->spec->load == LOAD_CONCURRENT ? r->spec->concurrency : 1;
    if (r->spec->load == LOAD_RATE)
        nslots = (int)(r->nplan > 0 ? r->nplan : 1);
    if (r->stability && r->spec->load == LOAD_RATE)
        nslots = RUNNER_STAB_RATE_SLOTS;
    r->slots = calloc((size_t)nslots, sizeof(*r->slots));
    r->slot_body = calloc((size_t)nslots, sizeof(char *));
    r->slot_busy = calloc((size_t)nslots, sizeof(int));
    if (r->slots == NULL || r->slot_body == NULL || r->slot_busy == NULL)
        return -1;
    r->nslots = nslots;
    r->next = 0;
    if (r->spec->warmup > 0) {
        size_t nplan = r->nplan;
        r->nplan = (size_t)r->spec->warmup; /* warm-ups are the plan's head */
        slot_send(r, 0);
        client_run(r->client, on_done, should_stop, r);
        r->nplan = nplan;
    }
    if (should_stop(r) || r->mismatch || r->storage_failed)
        return -1;
    t0 = clock_mono_ns();
    if (r->stability) {
        if (stab_begin(r) == -1)
            return -1;
        stab_refill(r);
        client_run(r->client, on_done, should_stop, r);
        if (should_stop(r) || r->mismatch || r->storage_failed)
            return -1;
        return 0;
    }
    if (r->spec->load == LOAD_RATE) {
        size_t k;
        r->scheduled = 1;
        for (k = r->next; k < r->nplan; k++)
            r->plan[k].sched_ns += t0;
        for (i = 0; i < nslots; i++)
            if (!slot_send(r, i))
                break;
    } else {
        for (i = 0; i < nslots; i++)
            if (!slot_send(r, i))
                break;
    }
    client_run(r->client, on_done, should_stop, r);
    if (should_stop(r) || r->mismatch || r->storage_failed)
        return -1;
    return 0;
}

static void
run_cleanup(struct runner *r)
{
    int i;

    client_free(r->client);
    r->client = NULL;
    free_bodies(r);
    free(r->plan);
    r->plan = NULL;
    if (r->slot_body != NULL)
        for (i = 0; i < r->nslots; i++)
            free(r->slot_body[i]);
    free(r->slot_body);
    free(r->slots);
    free(r->slot_busy);
    r->slot_body = NULL;
    r->slots = NULL;
    r->slot_busy = NULL;
    stability_bg_stop(r->stab_bg);
    r->stab_bg = NULL;
    r->stab_measuring = 0;
    r->stab_busy = 0;
    r->stab_sent = r->stab_cycle = r->stab_cycle_left = 0;
    r->stab_cycle_start_ns = 0;
    r->stab_next_arrival_ns = 0;
    r->nslots = 0;
    r->nplan = r->nplan_all = r->next = 0;
    r->mismatch = 0;
    r->scheduled = 0;
}

/* Add "model (code)" to the job's list of failed models, truncating. */
static void
failed_note(char *buf, size_t len, const char *model, const char *code)
{
    size_t l = strlen(buf);

    snprintf(buf + l, len - l, "%s%s (%s)", l ? ", " : "", model, code);
}

static void
backend_cfg_from(struct backend_cfg *bc, const struct jobspec *s, const struct config *cfg,
                 const char *base_url, atomic_int *cancel)
{
    memset(bc, 0, sizeof(*bc));
    snprintf(bc->lms, sizeof(bc->lms), "%s", cfg->lms);
    snprintf(bc->base_url, sizeof(bc->base_url), "%s", base_url);
    snprintf(bc->server_token, sizeof(bc->server_token), "%s", cfg->server_token);
    bc->load_timeout_ms = cfg->load_timeout_ms;
    bc->busy_wait_ms = cfg->busy_wait_s > 0 ? cfg->busy_wait_s * 1000 : -1;
    bc->context_length = s->context_length;
    snprintf(bc->gpu, sizeof(bc->gpu), "%s", s->gpu);
    snprintf(bc->identifier, sizeof(bc->identifier), "%s", s->identifier);
    bc->ttl_s = s->ttl_s;
    bc->allow_server_start = cfg->allow_server_start;
    bc->memory_headroom_pct = cfg->memory_headroom_pct;
    bc->cancel = cancel;
}

enum runner_outcome
runner_run(struct db *db, int64_t job_id, const struct jobspec *spec, const struct config *cfg,
           const struct runner_hooks *hooks, char code[32], char *detail, size_t detail_len,
           int64_t *n_requests, int64_t *n_failed)
{
    struct runner r;
    struct backend *be = NULL;
    struct backend_err be_err;
    struct backend_cfg bc;
    struct backend_preflight pf;
    char err[SUITE_ERR_MAX], why[SUITE_ERR_MAX + SUITE_PATH_MAX], host[1024], state[16];
    char fp[17], failed[RUNNER_FAILED_MAX] = "";
    const char *base_url = spec->base_url[0] ? spec->base_url : cfg->base_url;
    const char *suite_name;
    char *suite_text = NULL;
    enum runner_outcome out = RUNNER_FAILED;
    int i, nfailed_runs = 0, stopped = 0;
    size_t dl = 0;

    memset(&r, 0, sizeof(r));
    memset(&pf, 0, sizeof(pf));
    r.db = db;
    r.job_id = job_id;
    r.spec = spec;
    r.cfg = cfg;
    r.h = hooks;
    r.nonce_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)job_id ^ (uint64_t)clock_mono_ns();
    r.stability = strcmp(spec->kind, "stability") == 0;
    code[0] = '\0';
    detail[0] = '\0';

    if (json_is_string(spec->suite)) {
        suite_name = json_string_value(spec->suite);
        if (suite_load(suite_name, cfg->suites_dir, &r.suite, NULL, err, sizeof(err), why,
                       sizeof(why)) == -1) {
            if (why[0] != '\0')
                log_warnx("job=%lld %s", (long long)job_id, why);
            snprintf(code, 32, "bad_suite");
            snprintf(detail, detail_len, "%s", err);
            goto out;
        }
    } else {
        suite_text = json_dumps(spec->suite, JSON_COMPACT);
        if (suite_text == NULL ||
            suite_parse(suite_text, strlen(suite_text), &r.suite, err, sizeof(err)) == -1) {
            snprintf(code, 32, "bad_suite");
            snprintf(detail, detail_len, "suite: %s", suite_text ? err : "out of memory");
            goto out;
        }
    }

    backend_cfg_from(&bc, spec, cfg, base_url, hooks ? hooks->abort : NULL);
    be = backend_new(spec->backend, &bc, &be_err);
    if (be == NULL) {
        snprintf(code, 32, "%s", backend_code_name(be_err.code));
        snprintf(detail, detail_len, "%s", be_err.detail);
        goto out;
    }
    if (backend_preflight(be, (const char *const *)spec->models, spec->nmodels, &pf) == -1) {
        json_t *reasons;

        if (should_stop(&r)) {
            /* Cancelled or shutting down while lms ran: not a failure (a
             * stopping daemon's job must stay resumable). */
            out = RUNNER_STOPPED;
            goto out;
        }
        reasons = json_array();
        snprintf(code, 32, "preflight_failed");
        for (i = 0; i < pf.nreasons; i++) {
            int n = snprintf(detail + dl, detail_len - dl, "%s%s: %s", i ? "; " : "",
                             backend_code_name(pf.reasons[i].code), pf.reasons[i].detail);
            if (n > 0 && (size_t)n < detail_len - dl)
                dl += (size_t)n;
            json_array_append_new(reasons,
                                  json_pack("{s:s, s:s}", "code",
                                            backend_code_name(pf.reasons[i].code), "detail",
                                            pf.reasons[i].detail));
        }
        emit(&r, "preflight", json_pack("{s:b, s:o, s:s}", "ok", 0, "reasons", reasons,
                                        "notes", pf.notes));
        goto out;
    }
    emit(&r, "preflight", json_pack("{s:b, s:s, s:s}", "ok", 1, "notes", pf.notes,
                                    "lms_version", pf.version));
    host_json(host, sizeof(host));
    emit(&r, "environment", sysinfo_env_new()); /* the report's test environment */

    for (i = 0; i < spec->nmodels && !stopped; i++) {
        struct backend_load ld;
        struct run_facts f;
        const struct backend_model_info *mi = i < pf.nmodels ? &pf.models[i] : NULL;
        char params[2048], ctx[32];
        json_t *pj;
        char *pjs;
        const char *parts[9];

        r.model = spec->models[i];
        if (runs_open(db, job_id, i, r.model, r.suite->name, &r.run_id, state) == -1) {
            snprintf(code, 32, "storage_error");
            snprintf(detail, detail_len, "%s", db->err);
            goto out;
        }
        if (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0) {
            if (strcmp(state, "failed") == 0) {
                nfailed_runs++;
                failed_note(failed, sizeof(failed), r.model, "before a restart");
            }
            continue; /* finished before a restart */
        }
        if (r.stability) {
            int64_t planned = -1;

            /* Its planned end passed while the daemon was down: what was
             * measured stands, and the model need not be loaded again. */
            if (stabdata_planned_end(db, r.run_id, &planned) == 0 && planned >= 0 &&
                clock_wall_ms() >= planned) {
                runs_finish(db, r.run_id, "succeeded", NULL, NULL);
                emit(&r, "run_finished",
                     json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)r.run_id, "model",
                               r.model, "state", "succeeded"));
                continue;
            }
        }
        emit(&r, "run_started", json_pack("{s:I, s:s, s:i, s:i}", "run_id",
                                          (json_int_t)r.run_id, "model", r.model, "index", i,
                                          "models", spec->nmodels));
        memset(&ld, 0, sizeof(ld));
        if (backend_load(be, r.model, &ld, &be_err) == -1) {
            if (be_err.code == BACKEND_CANCELLED || should_stop(&r)) {
                stopped = 1;
                break;
            }
            runs_finish(db, r.run_id, "failed", backend_code_name(be_err.code), be_err.detail);
            emit(&r, "run_finished", json_pack("{s:I, s:s, s:s, s:s, s:s}", "run_id",
                                               (json_int_t)r.run_id, "model", r.model, "state",
                                               "failed", "error_code",
                                               backend_code_name(be_err.code), "error_detail",
                                               be_err.detail));
            nfailed_runs++;
            failed_note(failed, sizeof(failed), r.model, backend_code_name(be_err.code));
            if (be_err.code == BACKEND_SERVER_BUSY) {
                /* Another client holds the server: the next models would
                 * wait as long again; the job fails with that reason. */
                snprintf(code, 32, "server_busy");
                snprintf(detail, detail_len, "%s", be_err.detail);
                goto out;
            }
            continue;
        }
        snprintf(r.served_id, sizeof(r.served_id), "%s", ld.served_id[0] ? ld.served_id : r.model);
        pj = json_pack("{s:s, s:O?, s:i, s:i, s:s, s:b}", "api", spec->api, "sampling",
                       spec->sampling, "repetitions", spec->repetitions, "warmup", spec->warmup,
                       "load_pattern",
                       spec->load == LOAD_RATE         ? "rate"
                       : spec->load == LOAD_CONCURRENT ? "concurrent"
                                                       : "sequential",
                       "nonce", spec->nonce);
        if (spec->load == LOAD_CONCURRENT)
            json_object_set_new(pj, "concurrency", json_integer(spec->concurrency));
        if (spec->load == LOAD_RATE) {
            json_object_set_new(pj, "rps", json_real(spec->rps));
            json_object_set_new(pj, "duration_s", json_real(spec->duration_s));
        }
        pjs = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(params, sizeof(params), "%s", pjs ? pjs : "{}");
        free(pjs);
        json_decref(pj);
        snprintf(ctx, sizeof(ctx), "%ld", spec->context_length);
        parts[0] = r.model;
        parts[1] = mi ? mi->quant : "";
        parts[2] = mi ? mi->format : "";
        parts[3] = spec->backend;
        parts[4] = pf.version;
        parts[5] = ctx;
        parts[6] = params;
        parts[7] = host;
        parts[8] = r.suite->name;
        fingerprint(parts, 9, fp);
        run_facts_init(&f);
        f.model_served = r.served_id;
        f.backend = spec->backend;
        f.backend_version = pf.version[0] ? pf.version : NULL;
        if (mi != NULL && mi->found) {
            f.model_format = mi->format[0] ? mi->format : NULL;
            f.model_quant = mi->quant[0] ? mi->quant : NULL;
            if (mi->size_bytes > 0)
                f.model_size_bytes = (int64_t)mi->size_bytes;
        }
        if (spec->context_length > 0)
            f.context_length = spec->context_length;
        f.load_ms = (double)ld.load_ms;
        f.load_ready_ms = (double)ld.load_ready_ms;
        f.host = host;
        f.tpsd_version = TPSD_VERSION;
        f.fingerprint = fp;
        f.params = params;
        if (runs_set_facts(db, r.run_id, &f) == -1) {
            snprintf(code, 32, "storage_error");
            snprintf(detail, detail_len, "%s", db->err);
            goto out;
        }
        emit(&r, "model_loaded", json_pack("{s:I, s:s, s:s, s:I, s:I}", "run_id",
                                           (json_int_t)r.run_id, "model", r.model, "served_id",
                                           r.served_id, "load_ms", (json_int_t)ld.load_ms,
                                           "load_ready_ms", (json_int_t)ld.load_ready_ms));
        if (run_plan(&r, base_url) == -1) {
            if (r.mismatch) {
                runs_finish(db, r.run_id, "failed", "model_mismatch",
                            "the server answered as another model");
                nfailed_runs++;
                failed_note(failed, sizeof(failed), r.model, "model_mismatch");
            } else if (r.storage_failed && !should_stop(&r)) {
                /* (A lock wait given up for a cancel or a shutdown is a stop.) */
                snprintf(code, 32, "storage_error");
                snprintf(detail, detail_len, "samples could not be stored: %s", db->err);
                run_cleanup(&r);
                goto out;
            } else {
                stopped = 1;
            }
        } else {
            runs_finish(db, r.run_id, "succeeded", NULL, NULL);
        }
        if (!stopped)
            emit(&r, "run_finished", json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)r.run_id,
                                               "model", r.model, "state",
                                               r.mismatch ? "failed" : "succeeded"));
        if (r.stability && !stopped)
            stab_event(&r, 1); /* the run's final analysis */
        run_cleanup(&r);
        if (!spec->keep_loaded || stopped) {
            char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];

            if (strcmp(spec->backend, "none") != 0 &&
                backend_unload(be, r.served_id, &be_err) == -1)
                log_warnx("unload failed model=\"%s\" code=%s detail=\"%s\"",
                          log_quote(q1, sizeof(q1), r.served_id),
                          backend_code_name(be_err.code),
                          log_quote(q2, sizeof(q2), be_err.detail));
        }
    }
    if (stopped) {
        out = RUNNER_STOPPED;
    } else if (nfailed_runs > 0) {
        snprintf(code, 32, "run_failed");
        snprintf(detail, detail_len, "%d of %d models failed%s%s", nfailed_runs, spec->nmodels,
                 failed[0] ? ": " : "", failed);
        out = RUNNER_FAILED;
    } else {
        out = RUNNER_SUCCEEDED;
    }
out:
    *n_requests = r.n_requests;
    *n_failed = r.n_failed;
    run_cleanup(&r);
    backend_preflight_free(&pf);
    backend_free(be);
    suite_free(r.suite);
    free(suite_text);
    return out;
}

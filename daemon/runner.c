/*
 * runner.c - runs one job (the contract is in runner.h).
 *
 * How it works. runner_run makes a plan (struct job): the suite resolved
 * (by name or inline), the backend made and its preflight passed, the host
 * facts read. Then each model is one model_step, in named steps: open its
 * run (skipped when finished before a restart), cool down (cooldown.h), load it through the
 * backend, record the run's facts and fingerprint, measure (run_plan:
 * prepare the bodies, plan and client slots; warm up one at a time; send
 * the measured requests), finish (events, a stability run's last
 * analysis), clean up (free the run's state, unload unless kept loaded).
 * The step returns a struct model_result: done, failed (the job goes on,
 * the model is listed in its detail), stopped or job failed (the loop
 * ends). Requests go through the client's event loop; on_done stores each
 * sample as it completes and sends the slot's next request; stability
 * runs cycle the suite until a stored planned end (stab_*).
 */
#include "daemon/runner.h"

#include "daemon/backend.h"
#include "daemon/capacity.h"
#include "daemon/client.h"
#include "daemon/cooldown.h"
#include "common/clock.h"
#include "daemon/depth.h"
#include "daemon/log.h"
#include "daemon/stability.h"
#include "daemon/suite.h"
#include "daemon/sysinfo.h"
#include "daemon/sysmem.h"
#include "storage/capdata.h"
#include "storage/runs.h"
#include "storage/samples.h"
#include "storage/stabdata.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

struct plan_item {
    int64_t seq;
    int case_idx;
    int repetition;
    int warmup;
    int64_t sched_ns; /* rate loads: when to send; 0 = as soon as a slot frees */
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
    char **bodies; /* one request body per case (no nonce) */
    struct plan_item *plan;
    size_t nplan, next;
    size_t nplan_all; /* the plan's requests, warm-ups included (progress "total") */
    struct client *client;
    struct client_req *slots;
    char **slot_body; /* per-slot body when the case asks for a nonce */
    int nslots;
    int mismatch;  /* the server answered as another model */
    int scheduled; /* requests were queued up front with send times (rate) */
    int storage_failed;
    int64_t n_requests, n_failed;
    uint64_t nonce_state;
    /* stability runs: cycles through the suite until the planned end */
    int stability;
    int stab_measuring;      /* warm-ups done: slots send through stab_send */
    int64_t stab_next_seq;   /* next seq to hand out (continues after a restart) */
    int64_t stab_end_ns;     /* monotonic: no request starts at or after it */
    int64_t stab_sent;       /* measured requests sent by this process */
    int64_t stab_cycle;      /* interval pacing: cycles started */
    int64_t stab_cycle_left; /* requests of the current cycle not yet sent */
    int64_t stab_cycle_start_ns;
    int64_t stab_next_arrival_ns; /* rate pacing: the next Poisson arrival */
    int64_t stab_event_ns;        /* next periodic "stability" event */
    int *slot_busy;
    int stab_busy;                /* slots with a measured request in flight */
    struct stability_bg *stab_bg; /* periodic analyses, off this thread */
    struct cooldown cool;         /* pauses and the thermal gate (cooldown.h) */
    /* capacity runs (daemon/capacity.h): each step cycles the suite like a
     * stability run, on `concurrency` slots or at step_rps, until it has
     * sent stab_min_sent requests and its end passed */
    int capacity;
    int64_t stab_min_sent;
    double step_rps;
    struct capacity_acc *cap_acc; /* the step being measured */
    /* depth sweeps (daemon/depth.h) */
    struct depth_cal cal;
    char *warm_prefix;    /* the last cold depth request's prefix, for warm ones */
    int64_t warm_depth;   /* its depth */
    int64_t probe_tokens; /* the last probe's usage.prompt_tokens; -1 failed */
    int depth_failed;     /* calibration failed: the run fails */
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
 * overrides, model id and streaming with usage. New reference.
 * How it works: the case's messages are copied (the nonce, when asked,
 * prefixed to the first one so no two requests share a prompt cache
 * entry); each suite parameter the case sets is added by its flag; the
 * job's sampling object is applied last, so it overrides the suite. */
static json_t *
request_json(struct runner *r, const struct suite_case *sc, const char *nonce)
{
    const struct suite_params *p = &sc->params;
    static const char *roles[] = {"system", "user", "assistant"};
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

/* The body of a depth request of case sc on q: a fresh nonce and the
 * calibrated filler before the case's messages, or, for a warm case, the
 * prefix of the last cold request at its depth (the server's prompt cache
 * holds it). Sets q's deadline extension from the expected prompt size.
 * New string (caller frees), NULL on out of memory. */
static char *
depth_body(struct runner *r, struct client_req *q, const struct suite_case *sc)
{
    size_t idx = (size_t)(sc - r->suite->cases);
    int64_t expect = sc->params.depth + (r->cal.base[idx] > 0 ? r->cal.base[idx] : 0);
    char nonce[DEPTH_NONCE_MAX], *prefix;

    q->extra_ms = depth_extra_ms(expect, r->cfg->first_token_ms_per_1k);
    if (sc->params.warm && r->warm_prefix != NULL && r->warm_depth == sc->params.depth)
        return request_body(r, sc, r->warm_prefix);
    snprintf(nonce, sizeof(nonce), "[depth %016llx]", (unsigned long long)rnd(r));
    prefix = depth_prefix(nonce, depth_units(&r->cal, sc->params.depth));
    if (prefix == NULL)
        return NULL;
    free(r->warm_prefix);
    r->warm_prefix = prefix;
    r->warm_depth = sc->params.depth;
    return request_body(r, sc, prefix);
}

/* A calibration probe has ended: keep its server-counted prompt. */
static void
probe_done(void *arg, struct client_req *q)
{
    struct runner *r = arg;

    r->probe_tokens = q->rec.ok ? q->rec.prompt_tokens : -1;
    if (!q->rec.ok)
        log_warnx("job=%lld depth probe failed: %s %s", (long long)r->job_id, q->rec.error_code,
                  q->rec.error_detail);
    sample_rec_free(&q->rec);
    free(q->text);
    free(q->reasoning);
    q->text = q->reasoning = NULL;
}

/* One probe: case sc with `units` filler units and max_tokens 1, on slot
 * 0. The server's usage.prompt_tokens, or -1. */
static int64_t
depth_probe(struct runner *r, const struct suite_case *sc, int64_t units)
{
    struct client_req *q = &r->slots[0];
    char nonce[DEPTH_NONCE_MAX], *prefix, *body = NULL;
    json_t *req;

    snprintf(nonce, sizeof(nonce), "[depth %016llx]", (unsigned long long)rnd(r));
    prefix = depth_prefix(nonce, units);
    req = prefix ? request_json(r, sc, prefix) : NULL;
    if (req != NULL && json_object_set_new(req, "max_tokens", json_integer(1)) == 0)
        body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    free(prefix);
    r->probe_tokens = -1;
    sample_rec_init(&q->rec);
    q->body = body;
    q->sched_ns = 0;
    q->extra_ms = depth_extra_ms(units * DEPTH_UNIT_BYTES, r->cfg->first_token_ms_per_1k);
    if (body != NULL && client_add(r->client, q) == 0)
        client_run(r->client, probe_done, should_stop, r);
    free(body);
    return r->probe_tokens;
}

/* Calibrate the run's depth requests on the server (depth.h): each depth
 * case's base, then tokens per filler unit from one probe with
 * DEPTH_PROBE_UNITS units. Announced as a "depth_calibration" event. 0, or
 * -1 when a probe failed (the run fails: its sizes would be guesses). */
static int
depth_calibrate(struct runner *r)
{
    const struct suite_case *first = NULL;
    int64_t with;
    size_t i;

    memset(&r->cal, 0, sizeof(r->cal));
    for (i = 0; i < SUITE_CASES_MAX; i++)
        r->cal.base[i] = -1;
    for (i = 0; i < r->suite->n_cases; i++) {
        const struct suite_case *sc = &r->suite->cases[i];

        if (!(sc->params.set & SUITE_P_DEPTH))
            continue;
        if (first == NULL)
            first = sc;
        r->cal.base[i] = depth_probe(r, sc, 0);
        if (r->cal.base[i] < 0)
            return -1;
    }
    with = depth_probe(r, first, DEPTH_PROBE_UNITS);
    if (with < 0 || with <= r->cal.base[first - r->suite->cases])
        return -1;
    r->cal.tokens_per_unit =
        (double)(with - r->cal.base[first - r->suite->cases]) / DEPTH_PROBE_UNITS;
    r->cal.ok = 1;
    emit(r, "depth_calibration",
         json_pack("{s:I, s:f, s:I, s:i}", "run_id", (json_int_t)r->run_id, "tokens_per_unit",
                   r->cal.tokens_per_unit, "base_tokens",
                   (json_int_t)r->cal.base[first - r->suite->cases], "probe_units",
                   DEPTH_PROBE_UNITS));
    return 0;
}

/* Build the run's request plan: warm-ups, then each case x repetitions
 * (sequential, concurrent) or Poisson arrivals for the duration (rate).
 * How it works: the plan is sized first (a rate load gets 1.5 times the
 * expected arrivals, all capped at RUNNER_PLAN_MAX); warm-ups take its
 * head. A stability run's plan holds only the warm-ups (stab_send makes
 * the rest); a rate load draws exponential gaps of mean 1/rps until
 * duration_s, with send times relative to the start (run_measure makes
 * them absolute); the others list each case's repetitions in order. */
static int
plan_build(struct runner *r)
{
    const struct jobspec *s = r->spec;
    size_t n = 0, cap, c, k;
    int w, rep;

    if (r->stability || r->capacity)
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
    if (r->stability || r->capacity) {
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
    json_t *d =
        json_pack("{s:I, s:s, s:s, s:I, s:i, s:b, s:b, s:I, s:I}", "run_id",
                  (json_int_t)r->run_id, "model", r->model, "case", case_name, "seq",
                  (json_int_t)s->seq, "repetition", s->repetition, "warmup", s->warmup, "ok",
                  s->ok, "done", (json_int_t)r->next, "total", (json_int_t)r->nplan_all);

    if (d == NULL)
        return;
    if (r->stab_measuring) {
        json_object_set_new(d, "done", json_integer((json_int_t)r->stab_sent));
        json_object_set_new(d, "total", json_null());
    }
#define SAMPLE_EVENT(name, type, flags)                                                        \
    if ((flags)&SF_EVENT)                                                                      \
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

/*
 * The client's callback when a request ends. How it works: the request's
 * case is found by name; a cancelled request is not a measurement (a
 * resumed job sends it again) and is only freed; an answer from another
 * model than the one loaded marks the sample failed and the run
 * mismatched; a case with checks validates the text. The sample is
 * counted (warm-ups are not), stored, and announced; then the slot is
 * freed and, unless the run halted, refilled: by stab_refill on a
 * measuring stability run, by slot_send otherwise (a rate load queued
 * everything up front, so it sends nothing here).
 */
static void
on_done(void *arg, struct client_req *q)
{
    struct runner *r = arg;
    const struct suite_case *sc = &r->suite->cases[0];
    int slot = (int)(q - r->slots), batch;
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
    if (sc->params.set & SUITE_P_DEPTH) {
        q->rec.depth = sc->params.depth;
        q->rec.depth_warm = sc->params.warm;
        depth_judge(&r->cal, (size_t)(sc - r->suite->cases), sc->params.depth,
                    q->rec.prompt_tokens, &q->rec.depth_off_pct, &q->rec.depth_mismatch);
    }
    if (q->rec.ok && suite_case_validates(sc)) {
        why[0] = '\0';
        q->rec.passed =
            suite_validate_output(sc, q->text ? q->text : "", q->rec.completion_tokens,
                                  q->rec.finish_reason, why, sizeof(why));
        if (!q->rec.passed)
            snprintf(q->rec.error_detail, sizeof(q->rec.error_detail), "validation: %.400s",
                     why);
    }
    if (!q->rec.warmup) {
        r->n_requests++;
        if (!q->rec.ok || q->rec.passed == 0)
            r->n_failed++;
    }
    if (r->cap_acc != NULL)
        capacity_acc_add(r->cap_acc, &q->rec, q->t_sent_ns);
    batch = db_batch_begin(r->db) == 0; /* the sample and its event: one commit */
    if (samples_insert(r->db, &q->rec) == -1) {
        log_warnx("sample not stored run=%lld seq=%lld: %s", (long long)r->run_id,
                  (long long)q->rec.seq, r->db->err);
        r->storage_failed = 1;
    }
    progress_event(r, q, sc->name);
    if (batch && db_batch_end(r->db, 1) == -1)
        r->storage_failed = 1;
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
        if (r->stability)
            stab_event(r, 0);
        return;
    }
    if (!r->mismatch && !r->storage_failed && !r->scheduled)
        slot_send(r, slot);
}

/* The body of case sc's next request on `slot` (q->body; NULL on out of
 * memory): a depth request (depth_body), one with a fresh nonce (kept in
 * slot_body, freed when it ends), or the case's shared body. */
static void
slot_body(struct runner *r, int slot, const struct suite_case *sc)
{
    struct client_req *q = &r->slots[slot];
    char nonce[48];

    q->extra_ms = 0;
    if (sc->params.set & SUITE_P_DEPTH) {
        r->slot_body[slot] = depth_body(r, q, sc);
        q->body = r->slot_body[slot];
    } else if (case_wants_nonce(r, sc)) {
        snprintf(nonce, sizeof(nonce), "[run %llx]", (unsigned long long)rnd(r));
        r->slot_body[slot] = request_body(r, sc, nonce);
        q->body = r->slot_body[slot];
    } else {
        q->body = r->bodies[sc - r->suite->cases];
    }
}

/* Send the next unmeasured plan item on `slot`. 1 sent, 0 nothing left. */
static int
slot_send(struct runner *r, int slot)
{
    struct client_req *q = &r->slots[slot];

    while (r->next < r->nplan) {
        const struct plan_item *it = &r->plan[r->next++];
        const struct suite_case *sc = &r->suite->cases[it->case_idx];

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
        slot_body(r, slot, sc);
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

    if ((now >= r->stab_end_ns && r->stab_sent >= r->stab_min_sent) || r->slot_busy[slot] ||
        should_stop(r))
        return 0;
    if (r->spec->load == LOAD_RATE) {
        double u = ((double)(rnd(r) >> 11) + 0.5) / 9007199254740992.0;

        if (r->stab_next_arrival_ns == 0)
            r->stab_next_arrival_ns = now;
        if (r->stab_next_arrival_ns >= r->stab_end_ns && r->stab_sent >= r->stab_min_sent)
            return 0;
        sched = r->stab_next_arrival_ns;
        r->stab_next_arrival_ns +=
            (int64_t)(-log(u) / (r->capacity ? r->step_rps : r->spec->rps) * 1e9);
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
    slot_body(r, slot, sc);
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
    h = json_pack("{s:s, s:s, s:s, s:s, s:I}", "os", u.sysname, "release", u.release, "machine",
                  u.machine, "hostname", u.nodename, "mem_total_bytes",
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

/* The run cannot go on: stopped, answered as another model, or a sample
 * could not be stored. */
static int
run_halted(struct runner *r)
{
    return should_stop(r) || r->mismatch || r->storage_failed;
}

/* Everything a run sends with: one body per case, the plan, the client and
 * its slots (one for sequential, N for concurrent, one per planned request
 * for a rate load, RUNNER_STAB_RATE_SLOTS for a stability rate load).
 * 0, or -1 (out of memory; run_cleanup frees what was made). */
static int
run_prepare(struct runner *r, const char *base_url)
{
    struct client_opts co = {0};
    int nslots;
    size_t c;

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
    co.transport = r->cfg->client_libcurl ? CLIENT_TRANSPORT_CURL : CLIENT_TRANSPORT_AUTO;
    r->client = client_new(&co);
    if (r->client == NULL)
        return -1;
    log_debug("client: transport=%s base_url=%s", client_transport_name(r->client), base_url);
    nslots = r->spec->load == LOAD_CONCURRENT ? r->spec->concurrency : 1;
    if (r->spec->load == LOAD_RATE)
        nslots = (int)(r->nplan > 0 ? r->nplan : 1);
    if (r->stability && r->spec->load == LOAD_RATE)
        nslots = RUNNER_STAB_RATE_SLOTS;
    if (r->capacity)
        nslots = r->cfg->capacity_max_concurrency > RUNNER_STAB_RATE_SLOTS
                     ? r->cfg->capacity_max_concurrency
                     : RUNNER_STAB_RATE_SLOTS;
    r->slots = calloc((size_t)nslots, sizeof(*r->slots));
    r->slot_body = calloc((size_t)nslots, sizeof(char *));
    r->slot_busy = calloc((size_t)nslots, sizeof(int));
    if (r->slots == NULL || r->slot_body == NULL || r->slot_busy == NULL)
        return -1;
    r->nslots = nslots;
    r->next = 0;
    return 0;
}

/* Warm-ups go one at a time, on slot 0, before anything is measured: they
 * are the plan's head, so the plan is cut to them while they run. 0, or -1
 * when the run halted. */
static int
run_warmup(struct runner *r)
{
    if (r->spec->warmup > 0) {
        size_t nplan = r->nplan;

        r->nplan = (size_t)r->spec->warmup;
        slot_send(r, 0);
        client_run(r->client, on_done, should_stop, r);
        r->nplan = nplan;
    }
    return run_halted(r) ? -1 : 0;
}

/* Sequential and concurrent loads with a pause between cases: the plan
 * lists the cases in order, and each case's requests are sent and drained
 * before the pause that comes ahead of the next case (cooldown_case; none
 * after a case that sent nothing, measured before a restart). 0, or -1
 * when the run halted or the pause was cut short. */
static int
run_measure_by_case(struct runner *r)
{
    size_t end = r->nplan, seg;
    int64_t before;
    int i, sent = 0;

    while (r->next < end && !run_halted(r)) {
        int c = r->plan[r->next].case_idx;

        for (seg = r->next; seg < end && r->plan[seg].case_idx == c; seg++)
            ;
        if (sent && cooldown_case(&r->cool, r->run_id, r->suite->cases[c].name) == -1)
            break;
        r->nplan = seg;
        before = r->n_requests;
        for (i = 0; i < r->nslots; i++)
            if (!slot_send(r, i))
                break;
        client_run(r->client, on_done, should_stop, r);
        r->nplan = end;
        sent = r->n_requests > before;
    }
    return run_halted(r) ? -1 : 0;
}

/* capacity_search's measure (capacity.h): a step stored before a restart
 * is handed back as it is; else the suite's cases are cycled on `conc`
 * slots (or at `rps` on the rate slots) until capacity_step_requests (and
 * two per slot) were sent and capacity_step_s passed, each answer fed to the step's
 * accumulator, and the step's figures taken over first send to last
 * answer. 0 measured, 1 stored, -1 halted. */
static int
cap_measure(void *arg, int64_t conc, double rps, struct capdata_step *out)
{
    struct runner *r = arg;
    struct capacity_acc acc;
    int nslots = r->nslots, nsteps, rc;
    int64_t t0;

    rc = capdata_step_find(r->db, r->run_id, conc, rps, out, &nsteps);
    if (rc != 1) {
        r->storage_failed = rc == -1;
        return rc == 0 ? 1 : -1;
    }
    if (capacity_acc_init(&acc, &r->spec->level, r->spec->load == LOAD_RATE) == -1)
        return -1;
    memset(out, 0, sizeof(*out));
    out->run_id = r->run_id;
    out->step = nsteps;
    out->concurrency = conc;
    out->rps = rps;
    r->cap_acc = &acc;
    r->step_rps = rps;
    r->nslots = conc > 0 && conc < nslots ? (int)conc : nslots;
    r->stab_sent = 0;
    r->stab_next_arrival_ns = 0;
    /* Every user sends at least twice: the step sees the load it names. */
    r->stab_min_sent =
        conc * 2 > r->cfg->capacity_step_requests ? conc * 2 : r->cfg->capacity_step_requests;
    t0 = clock_mono_ns();
    r->stab_end_ns = t0 + (int64_t)r->cfg->capacity_step_s * 1000000000LL;
    r->stab_measuring = 1;
    stab_refill(r);
    client_run(r->client, on_done, should_stop, r);
    r->stab_measuring = 0;
    r->nslots = nslots;
    r->cap_acc = NULL;
    capacity_acc_figures(&acc, (double)(clock_mono_ns() - t0) / 1e9, out);
    capacity_acc_free(&acc);
    return run_halted(r) ? -1 : 0;
}

/* capacity_search's store: the judged step, durably, then announced. */
static int
cap_store(void *arg, const struct capdata_step *s)
{
    struct runner *r = arg;

    if (capdata_step_put(r->db, s) == -1) {
        r->storage_failed = 1;
        return -1;
    }
    emit(r, "capacity_step",
         json_pack("{s:I, s:i, s:f, s:f, s:I, s:I, s:f, s:f, s:f, s:b, s:b}", "run_id",
                   (json_int_t)r->run_id, "step", s->step, "load",
                   r->capacity && s->concurrency > 0 ? (double)s->concurrency : s->rps,
                   "duration_s", s->duration_s, "n", (json_int_t)s->n, "n_good",
                   (json_int_t)s->n_good, "goodput_rps", s->goodput_rps, "total_tps",
                   s->total_tps, "error_rate", s->error_rate, "passed", (int)s->passed,
                   "saturated", (int)s->saturated));
    return 0;
}

/* A capacity run: the search (capacity.h), then its answer stored and
 * announced. 0, or -1 when the run halted. */
static int
run_capacity(struct runner *r)
{
    struct capacity_opts o;
    struct capacity_answer ans;
    struct capdata_result res;
    json_t *lv = caplevel_to_json(&r->spec->level);
    char *level = lv ? json_dumps(lv, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int rc = -1;

    o.level = r->spec->level;
    o.rate = r->spec->load == LOAD_RATE;
    o.start_rps = r->spec->rps;
    o.max_concurrency = r->cfg->capacity_max_concurrency;
    o.resolution_pct = r->cfg->capacity_rate_resolution_pct;
    if (level == NULL || capacity_search(&o, cap_measure, cap_store, r, &ans) == -1)
        goto out;
    res.run_id = r->run_id;
    res.job_id = r->job_id;
    res.model = r->model;
    res.mode = o.rate ? "rate" : "concurrency";
    res.level = level;
    res.capacity = ans.capacity;
    res.goodput_rps = ans.goodput_rps;
    res.stop_reason = ans.stop_reason;
    if (capdata_result_put(r->db, &res) == -1) {
        r->storage_failed = 1;
        goto out;
    }
    emit(r, "capacity_result",
         json_pack("{s:I, s:s, s:s, s:o, s:o, s:i, s:s}", "run_id", (json_int_t)r->run_id,
                   "model", r->model, "mode", res.mode, "capacity",
                   isnan(ans.capacity) ? json_null() : json_real(ans.capacity), "goodput_rps",
                   isnan(ans.goodput_rps) ? json_null() : json_real(ans.goodput_rps), "steps",
                   ans.nsteps, "stop_reason", ans.stop_reason));
    rc = 0;
out:
    json_decref(lv);
    free(level);
    return rc;
}

/* The measured requests. A stability run cycles until its planned end
 * (stab_begin fixes it); a rate load gets every send time shifted to now
 * and queues them all up front; sequential and concurrent loads fill their
 * slots and refill them from on_done. 0, or -1 when the run halted. */
static int
run_measure(struct runner *r)
{
    int64_t t0 = clock_mono_ns();
    int i;

    if (r->capacity)
        return run_capacity(r);
    if (r->stability) {
        if (stab_begin(r) == -1)
            return -1;
        stab_refill(r);
    } else {
        if (r->spec->load == LOAD_RATE) {
            size_t k;

            r->scheduled = 1;
            for (k = r->next; k < r->nplan; k++)
                r->plan[k].sched_ns += t0;
        } else if (r->cool.cases_ms > 0) {
            return run_measure_by_case(r);
        }
        for (i = 0; i < r->nslots; i++)
            if (!slot_send(r, i))
                break;
    }
    client_run(r->client, on_done, should_stop, r);
    return run_halted(r) ? -1 : 0;
}

/* Run the plan for the current run: prepare, warm up, measure. A stability
 * run whose planned end passed while the daemon was down is done at once.
 * 0, or -1 when stopped or failed. */
static int
run_plan(struct runner *r, const char *base_url)
{
    if (r->capacity && stabdata_next_seq(r->db, r->run_id, &r->stab_next_seq) == -1) {
        r->storage_failed = 1;
        return -1;
    }
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
    if (run_prepare(r, base_url) == -1)
        return -1;
    if (depth_suite_has(r->suite) && depth_calibrate(r) == -1) {
        r->depth_failed = !should_stop(r);
        return -1;
    }
    if (run_warmup(r) == -1)
        return -1;
    return run_measure(r);
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
    free(r->warm_prefix);
    r->warm_prefix = NULL;
    r->depth_failed = 0;
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
    snprintf(bc->lms.path, sizeof(bc->lms.path), "%s", cfg->lms);
    snprintf(bc->base_url, sizeof(bc->base_url), "%s", base_url);
    snprintf(bc->server_token, sizeof(bc->server_token), "%s", cfg->server_token);
    bc->load_timeout_ms = cfg->load_timeout_ms;
    bc->lms.busy_wait_ms = cfg->busy_wait_s > 0 ? cfg->busy_wait_s * 1000 : -1;
    bc->context_length = s->context_length;
    snprintf(bc->lms.gpu, sizeof(bc->lms.gpu), "%s", s->gpu);
    snprintf(bc->identifier, sizeof(bc->identifier), "%s", s->identifier);
    bc->lms.ttl_s = s->ttl_s;
    bc->lms.allow_server_start = cfg->allow_server_start;
    bc->memory_headroom_pct = cfg->memory_headroom_pct;
    bc->cancel = cancel;
}

/* ---- the job: a plan, then one step per model ---- */

#define RUNNER_HOST_MAX 1024   /* the host facts, as compact JSON */
#define RUNNER_PARAMS_MAX 2048 /* the run's parameters, as compact JSON */

/* The job's plan: what runner_run resolves before the first model, the
 * per-run state reused model after model, and the job's verdict so far. */
struct job {
    struct runner r;
    struct backend *be;
    struct backend_preflight pf;
    const char *base_url;
    char host[RUNNER_HOST_MAX];
    char *suite_text;   /* an inline suite, as parsed */
    int64_t ctx_needed; /* context the depth cases need (0: none) */
    int nfailed_runs;
    char failed[RUNNER_FAILED_MAX];
    char *code;   /* the caller's code[RUNNER_CODE_MAX] */
    char *detail; /* the caller's detail[detail_len] */
    size_t detail_len;
};

/* How one model's step ended. */
enum model_end {
    MODEL_DONE,       /* measured, or finished before a restart: the job goes on */
    MODEL_FAILED,     /* this run failed (code says why); the job goes on */
    MODEL_STOPPED,    /* should_stop or a cancel: the job stops, resumable */
    MODEL_JOB_FAILED, /* the job fails now: job->code / detail say why */
};

struct model_result {
    enum model_end end;
    char code[RUNNER_CODE_MAX]; /* MODEL_FAILED: the entry in the job's failed list */
};

/* The job fails with `code`: detail formatted into the caller's buffer. */
static void job_fail(struct job *j, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
job_fail(struct job *j, const char *code, const char *fmt, ...)
{
    va_list ap;

    snprintf(j->code, RUNNER_CODE_MAX, "%s", code);
    va_start(ap, fmt);
    vsnprintf(j->detail, j->detail_len, fmt, ap);
    va_end(ap);
}

static void
model_failed(struct model_result *res, const char *code)
{
    res->end = MODEL_FAILED;
    snprintf(res->code, sizeof(res->code), "%s", code);
}

/* The suite: a name looked up in suites_dir, or inline JSON. 0, or -1 with
 * the job failed as bad_suite. */
static int
job_resolve_suite(struct job *j)
{
    const struct jobspec *spec = j->r.spec;
    char err[SUITE_ERR_MAX], why[SUITE_ERR_MAX + SUITE_PATH_MAX];

    if (json_is_string(spec->suite)) {
        if (suite_load(json_string_value(spec->suite), j->r.cfg->suites_dir, &j->r.suite, NULL,
                       err, sizeof(err), why, sizeof(why)) == -1) {
            if (why[0] != '\0')
                log_warnx("job=%lld %s", (long long)j->r.job_id, why);
            job_fail(j, "bad_suite", "%s", err);
            return -1;
        }
        return 0;
    }
    j->suite_text = json_dumps(spec->suite, JSON_COMPACT);
    if (j->suite_text == NULL) {
        job_fail(j, "bad_suite", "suite: out of memory");
        return -1;
    }
    if (suite_parse(j->suite_text, strlen(j->suite_text), &j->r.suite, err, sizeof(err)) ==
        -1) {
        job_fail(j, "bad_suite", "suite: %s", err);
        return -1;
    }
    return 0;
}

/* A depth sweep: the job's depths applied to its suite (suite_with_depths),
 * and the context every depth case needs. 0, or -1 with the job failed as
 * bad_suite. */
static int
job_depths(struct job *j)
{
    const struct jobspec *spec = j->r.spec;
    const json_t *mt = json_object_get(spec->sampling, "max_tokens");
    struct suite *swept;
    char err[SUITE_ERR_MAX];

    if (spec->ndepths > 0) {
        if (suite_with_depths(j->r.suite, spec->depths, (size_t)spec->ndepths, spec->depth_warm,
                              &swept, err, sizeof(err)) == -1) {
            job_fail(j, "bad_suite", "%s", err);
            return -1;
        }
        suite_free(j->r.suite);
        j->r.suite = swept;
    }
    j->ctx_needed =
        depth_context_needed(j->r.suite, json_is_integer(mt) ? json_integer_value(mt) : 0);
    return 0;
}

/* The depth checks of preflight, added to pf's reasons: a context the job
 * set that cannot hold the deepest request, or a model whose maximum
 * context (lms ls maxContextLength) cannot; nothing is sent then. */
static void
job_depth_preflight(struct job *j)
{
    const struct jobspec *spec = j->r.spec;
    int i;

    if (j->ctx_needed <= 0)
        return;
    if (spec->context_length > 0 && spec->context_length < j->ctx_needed)
        backend_reason(&j->pf, BACKEND_CONTEXT_TOO_SMALL,
                       "backend.context_length %ld cannot hold the deepest request: depth + "
                       "max_tokens + its messages need %lld tokens",
                       spec->context_length, (long long)j->ctx_needed);
    for (i = 0; i < j->pf.nmodels; i++) {
        const struct backend_model_info *mi = &j->pf.models[i];

        if (mi->found && mi->max_context_length > 0 && mi->max_context_length < j->ctx_needed)
            backend_reason(&j->pf, BACKEND_CONTEXT_TOO_SMALL,
                           "model %s: the deepest request needs a context of %lld tokens "
                           "(depth + max_tokens + its messages); the model's maximum is %ld",
                           mi->key, (long long)j->ctx_needed, mi->max_context_length);
    }
}

/* A failed preflight: every reason joined into the job's detail and listed
 * in the "preflight" event. */
static void
job_preflight_failed(struct job *j)
{
    const struct backend_preflight *pf = &j->pf;
    json_t *reasons = json_array();
    size_t dl = 0;
    int i;

    snprintf(j->code, RUNNER_CODE_MAX, "preflight_failed");
    for (i = 0; i < pf->nreasons; i++) {
        const char *name = backend_code_name(pf->reasons[i].code);
        int n = snprintf(j->detail + dl, j->detail_len - dl, "%s%s: %s", i ? "; " : "", name,
                         pf->reasons[i].detail);

        if (n > 0 && (size_t)n < j->detail_len - dl)
            dl += (size_t)n;
        json_array_append_new(
            reasons, json_pack("{s:s, s:s}", "code", name, "detail", pf->reasons[i].detail));
    }
    emit(&j->r, "preflight",
         json_pack("{s:b, s:o, s:s}", "ok", 0, "reasons", reasons, "notes", pf->notes));
}

/* The backend, made and asked whether the whole job can run. Returns
 * RUNNER_SUCCEEDED to go on, RUNNER_STOPPED when it was stopped while the
 * backend checked, RUNNER_FAILED with the job failed. */
static enum runner_outcome
job_preflight(struct job *j)
{
    const struct jobspec *spec = j->r.spec;
    struct backend_err be_err;
    struct backend_cfg bc;

    backend_cfg_from(&bc, spec, j->r.cfg, j->base_url, j->r.h ? j->r.h->abort : NULL);
    if (bc.context_length == 0 && j->ctx_needed > 0)
        bc.context_length = (long)j->ctx_needed; /* lms load --context-length */
    j->be = backend_new(spec->backend, &bc, &be_err);
    if (j->be == NULL) {
        job_fail(j, backend_code_name(be_err.code), "%s", be_err.detail);
        return RUNNER_FAILED;
    }
    if (backend_preflight(j->be, (const char *const *)spec->models, spec->nmodels, &j->pf) ==
        -1) {
        /* Cancelled or shutting down while the backend ran: not a failure
         * (a stopping daemon's job must stay resumable). */
        if (should_stop(&j->r))
            return RUNNER_STOPPED;
        job_depth_preflight(j);
        job_preflight_failed(j);
        return RUNNER_FAILED;
    }
    job_depth_preflight(j);
    if (j->pf.nreasons > 0) {
        job_preflight_failed(j);
        return RUNNER_FAILED;
    }
    emit(&j->r, "preflight",
         json_pack("{s:b, s:s, s:s}", "ok", 1, "notes", j->pf.notes, "backend_version",
                   j->pf.version));
    host_json(j->host, sizeof(j->host));
    emit(&j->r, "environment", sysinfo_env_new()); /* the report's test environment */
    return RUNNER_SUCCEEDED;
}

/* Open model i's run. Returns 1 when the step is over already (finished
 * before a restart, or a stability run whose planned end passed while the
 * daemon was down: what was measured stands, nothing is loaded), 0 to go
 * on, -1 with the job failed. */
static int
model_open(struct job *j, int i, struct model_result *res)
{
    struct runner *r = &j->r;
    char state[16];
    int64_t planned = -1;

    r->model = r->spec->models[i];
    if (runs_open(r->db, r->job_id, i, r->model, r->suite->name, &r->run_id, state) == -1) {
        job_fail(j, "storage_error", "%s", r->db->err);
        return -1;
    }
    if (strcmp(state, "failed") == 0) {
        model_failed(res, "before a restart");
        return 1;
    }
    if (strcmp(state, "succeeded") == 0)
        return 1;
    if (r->stability && stabdata_planned_end(r->db, r->run_id, &planned) == 0 && planned >= 0 &&
        clock_wall_ms() >= planned) {
        runs_finish(r->db, r->run_id, "succeeded", NULL, NULL);
        emit(r, "run_finished",
             json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)r->run_id, "model", r->model,
                       "state", "succeeded"));
        return 1;
    }
    emit(r, "run_started",
         json_pack("{s:I, s:s, s:i, s:i}", "run_id", (json_int_t)r->run_id, "model", r->model,
                   "index", i, "models", r->spec->nmodels));
    return 0;
}

/* Load the model through the backend. 0, or -1 with res said: stopped, the
 * run failed (stored and announced), or the job failed (a busy server: the
 * next models would wait as long again). */
static int
model_load(struct job *j, struct backend_load *ld, struct model_result *res)
{
    struct runner *r = &j->r;
    struct backend_err e;
    const char *name;

    memset(ld, 0, sizeof(*ld));
    if (backend_load(j->be, r->model, ld, &e) == 0) {
        snprintf(r->served_id, sizeof(r->served_id), "%s",
                 ld->served_id[0] ? ld->served_id : r->model);
        return 0;
    }
    if (e.code == BACKEND_CANCELLED || should_stop(r)) {
        res->end = MODEL_STOPPED;
        return -1;
    }
    name = backend_code_name(e.code);
    runs_finish(r->db, r->run_id, "failed", name, e.detail);
    emit(r, "run_finished",
         json_pack("{s:I, s:s, s:s, s:s, s:s}", "run_id", (json_int_t)r->run_id, "model",
                   r->model, "state", "failed", "error_code", name, "error_detail", e.detail));
    model_failed(res, name);
    if (e.code == BACKEND_SERVER_BUSY) {
        job_fail(j, "server_busy", "%s", e.detail);
        res->end = MODEL_JOB_FAILED;
    }
    return -1;
}

/* The run's parameters as sorted compact JSON (part of the fingerprint). */
static void
run_params(const struct jobspec *spec, char *buf, size_t len)
{
    json_t *pj;
    char *pjs;

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
    /* A capacity run's samples span many loads: its own fingerprint keeps
     * them out of the series of runs at one load. */
    if (strcmp(spec->kind, "capacity") == 0)
        json_object_set_new(pj, "capacity_level", caplevel_to_json(&spec->level));
    pjs = json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS);
    snprintf(buf, len, "%s", pjs ? pjs : "{}");
    free(pjs);
    json_decref(pj);
}

/* Store what makes the run's results comparable (model facts from the
 * preflight, backend and version, context, parameters, host, suite, and
 * their fingerprint), then announce "model_loaded". 0, or -1 with the job
 * failed (storage). */
static int
model_record(struct job *j, int i, const struct backend_load *ld)
{
    struct runner *r = &j->r;
    const struct jobspec *spec = r->spec;
    const struct backend_model_info *mi = i < j->pf.nmodels ? &j->pf.models[i] : NULL;
    char params[RUNNER_PARAMS_MAX], ctx[32], fp[17];
    const char *parts[9];
    struct run_facts f;

    run_params(spec, params, sizeof(params));
    snprintf(ctx, sizeof(ctx), "%ld", spec->context_length);
    parts[0] = r->model;
    parts[1] = mi ? mi->quant : "";
    parts[2] = mi ? mi->format : "";
    parts[3] = spec->backend;
    parts[4] = j->pf.version;
    parts[5] = ctx;
    parts[6] = params;
    parts[7] = j->host;
    parts[8] = r->suite->name;
    fingerprint(parts, 9, fp);
    run_facts_init(&f);
    f.model_served = r->served_id;
    f.backend = spec->backend;
    f.backend_version = j->pf.version[0] ? j->pf.version : NULL;
    if (mi != NULL && mi->found) {
        f.model_format = mi->format[0] ? mi->format : NULL;
        f.model_quant = mi->quant[0] ? mi->quant : NULL;
        if (mi->size_bytes > 0)
            f.model_size_bytes = (int64_t)mi->size_bytes;
    }
    if (spec->context_length > 0)
        f.context_length = spec->context_length;
    else if (j->ctx_needed > 0 && strcmp(spec->backend, "lms") == 0)
        f.context_length = j->ctx_needed; /* job_preflight passed it to lms load */
    f.load_ms = (double)ld->load_ms;
    f.load_ready_ms = (double)ld->load_ready_ms;
    f.host = j->host;
    f.tpsd_version = TPSD_VERSION;
    f.fingerprint = fp;
    f.params = params;
    if (runs_set_facts(r->db, r->run_id, &f) == -1) {
        job_fail(j, "storage_error", "%s", r->db->err);
        return -1;
    }
    emit(r, "model_loaded",
         json_pack("{s:I, s:s, s:s, s:I, s:I}", "run_id", (json_int_t)r->run_id, "model",
                   r->model, "served_id", r->served_id, "load_ms", (json_int_t)ld->load_ms,
                   "load_ready_ms", (json_int_t)ld->load_ready_ms));
    return 0;
}

/* Warm up and measure (run_plan), then store how the run ended: succeeded,
 * failed as model_mismatch, stopped, or the job failed because samples
 * could not be stored (a lock wait given up for a cancel or a shutdown is a
 * stop, not that). */
static void
model_measure(struct job *j, struct model_result *res)
{
    struct runner *r = &j->r;

    if (run_plan(r, j->base_url) == 0) {
        runs_finish(r->db, r->run_id, "succeeded", NULL, NULL);
        return;
    }
    if (r->mismatch) {
        runs_finish(r->db, r->run_id, "failed", "model_mismatch",
                    "the server answered as another model");
        model_failed(res, "model_mismatch");
    } else if (r->depth_failed) {
        runs_finish(r->db, r->run_id, "failed", "depth_calibration",
                    "a probe (max_tokens 1) failed or reported no usage.prompt_tokens: "
                    "the prompt sizes cannot be set");
        model_failed(res, "depth_calibration");
    } else if (r->storage_failed && !should_stop(r)) {
        job_fail(j, "storage_error", "samples could not be stored: %s", r->db->err);
        res->end = MODEL_JOB_FAILED;
    } else {
        res->end = MODEL_STOPPED;
    }
}

/* Announce the run's end and, for a stability run, its final analysis.
 * Nothing is announced for a stopped run: it resumes later. */
static void
model_finish(struct job *j, const struct model_result *res)
{
    struct runner *r = &j->r;

    if (res->end == MODEL_STOPPED)
        return;
    emit(r, "run_finished",
         json_pack("{s:I, s:s, s:s}", "run_id", (json_int_t)r->run_id, "model", r->model,
                   "state", r->mismatch || r->depth_failed ? "failed" : "succeeded"));
    if (r->stability)
        stab_event(r, 1);
}

/* Free the run's state and unload the model unless the job keeps it
 * loaded (a stopped job never does); a backend that cannot unload (the
 * server is someone else's) is not asked. */
static void
model_cleanup(struct job *j, const struct model_result *res)
{
    struct runner *r = &j->r;
    struct backend_err e;
    char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];

    run_cleanup(r);
    if (r->spec->keep_loaded && res->end != MODEL_STOPPED)
        return;
    if (backend_can(j->be, BACKEND_CAN_UNLOAD) && backend_unload(j->be, r->served_id, &e) == -1)
        log_warnx("unload failed model=\"%s\" code=%s detail=\"%s\"",
                  log_quote(q1, sizeof(q1), r->served_id), backend_code_name(e.code),
                  log_quote(q2, sizeof(q2), e.detail));
}

/* One model's run: open, load, record, warm up and measure, finish, clean
 * up. A step that ends early skips the rest: a model that never loaded is
 * not unloaded; a job that fails on storage leaves its model as it is. */
static struct model_result
model_step(struct job *j, int i)
{
    struct model_result res = {MODEL_DONE, ""};
    struct backend_load ld;
    int rc = model_open(j, i, &res);

    if (rc != 0) {
        if (rc == -1)
            res.end = MODEL_JOB_FAILED;
        return res;
    }
    if (cooldown_model(&j->r.cool, j->r.run_id, j->r.model, i) == -1) {
        res.end = MODEL_STOPPED; /* cancelled or shutting down during the wait */
        return res;
    }
    if (model_load(j, &ld, &res) == -1)
        return res;
    if (model_record(j, i, &ld) == -1) {
        res.end = MODEL_JOB_FAILED;
        return res;
    }
    model_measure(j, &res);
    if (res.end == MODEL_JOB_FAILED) {
        run_cleanup(&j->r);
        return res;
    }
    model_finish(j, &res);
    model_cleanup(j, &res);
    return res;
}

/* The cool-down settings and the runner's hooks for it. */
static void
cool_init(struct runner *r)
{
    cooldown_init(&r->cool, r->spec, r->cfg);
    r->cool.db = r->db;
    r->cool.stop = should_stop;
    r->cool.stop_arg = r;
    if (r->h != NULL) {
        r->cool.abort = r->h->abort;
        r->cool.event = r->h->event;
        r->cool.event_arg = r->h->arg;
    }
}

/*
 * How it works: the plan is made first (the suite resolved, the backend
 * made and its preflight passed, the host facts read); then each model is
 * one model_step, which says how its run ended. A failed run is noted in
 * the job's list and the job goes on; a stop or a job failure ends the
 * loop. The verdict: stopped, run_failed when any run failed, else
 * succeeded.
 */
enum runner_outcome
runner_run(struct db *db, int64_t job_id, const struct jobspec *spec, const struct config *cfg,
           const struct runner_hooks *hooks, struct runner_result *rr)
{
    struct job j;
    struct model_result res = {MODEL_DONE, ""};
    enum runner_outcome out;
    int i;

    memset(&j, 0, sizeof(j));
    j.r.db = db;
    j.r.job_id = job_id;
    j.r.spec = spec;
    j.r.cfg = cfg;
    j.r.h = hooks;
    j.r.nonce_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)job_id ^ (uint64_t)clock_mono_ns();
    j.r.stability = strcmp(spec->kind, "stability") == 0;
    cool_init(&j.r);
    j.r.capacity = strcmp(spec->kind, "capacity") == 0;
    j.base_url = spec->base_url[0] ? spec->base_url : cfg->base_url;
    j.code = rr->code;
    j.detail = rr->detail;
    j.detail_len = sizeof(rr->detail);
    rr->code[0] = '\0';
    rr->detail[0] = '\0';

    out =
        job_resolve_suite(&j) == -1 || job_depths(&j) == -1 ? RUNNER_FAILED : job_preflight(&j);
    for (i = 0; out == RUNNER_SUCCEEDED && i < spec->nmodels; i++) {
        res = model_step(&j, i);
        if (res.end == MODEL_FAILED) {
            j.nfailed_runs++;
            failed_note(j.failed, sizeof(j.failed), j.r.model, res.code);
        } else if (res.end == MODEL_STOPPED) {
            out = RUNNER_STOPPED;
        } else if (res.end == MODEL_JOB_FAILED) {
            out = RUNNER_FAILED;
        }
    }
    if (out == RUNNER_SUCCEEDED && j.nfailed_runs > 0) {
        job_fail(&j, "run_failed", "%d of %d models failed%s%s", j.nfailed_runs, spec->nmodels,
                 j.failed[0] ? ": " : "", j.failed);
        out = RUNNER_FAILED;
    }
    rr->n_requests = j.r.n_requests;
    rr->n_failed = j.r.n_failed;
    run_cleanup(&j.r);
    backend_preflight_free(&j.pf);
    backend_free(j.be);
    suite_free(j.r.suite);
    free(j.suite_text);
    return out;
}

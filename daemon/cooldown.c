/*
 * cooldown.c - see cooldown.h.
 *
 * How it works. A wait is one struct run_wait filled as it goes: the
 * thermal state read and the wall clock taken when it begins, then the
 * pause (slept in COOLDOWN_TICK_MS steps, asking the runner's abort flag
 * and stop function at each), then for a model the gate: read the state,
 * and while it is neither nominal nor unknown, sleep thermal_gate_poll_ms
 * (never past the bound) and read again; at the bound it gives up. The
 * durations are measured on the monotonic clock, the start and end are
 * stored as wall-clock ms (comparable with the samples' started_at). The
 * row is stored and "cooldown_finished" announced whether the wait ran its
 * course or was cut short.
 */
#include "daemon/cooldown.h"

#include "common/clock.h"
#include "daemon/log.h"
#include "storage/waits.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void
cooldown_init(struct cooldown *c, const struct jobspec *spec, const struct config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->models_ms = spec->pause_between_models_ms >= 0 ? spec->pause_between_models_ms
                                                      : cfg->pause_between_models_ms;
    c->cases_ms = spec->pause_between_cases_ms >= 0 ? spec->pause_between_cases_ms
                                                    : cfg->pause_between_cases_ms;
    /* Cases interleave in a rate load and a stability run (jobspec.h). */
    if (spec->load == LOAD_RATE || strcmp(spec->kind, "stability") == 0)
        c->cases_ms = 0;
    c->gate_max_ms = spec->thermal_gate_max_wait_ms >= 0 ? spec->thermal_gate_max_wait_ms
                                                         : cfg->thermal_gate_max_wait_ms;
    c->poll_ms = cfg->thermal_gate_poll_ms > 0 ? cfg->thermal_gate_poll_ms : 1000;
    snprintf(c->source, sizeof(c->source), "%s", cfg->thermal_source);
}

static int
stopped(const struct cooldown *c)
{
    if (c->abort != NULL && atomic_load(c->abort))
        return 1;
    return c->stop != NULL && c->stop(c->stop_arg);
}

/* Sleep ms (monotonic), looking for a stop every COOLDOWN_TICK_MS. 0 when
 * slept through, -1 when stopped. */
static int
sleep_ms(const struct cooldown *c, int64_t ms)
{
    int64_t end = clock_mono_ns() + ms * 1000000, left;
    struct timespec ts;

    for (;;) {
        if (stopped(c))
            return -1;
        left = end - clock_mono_ns();
        if (left <= 0)
            return 0;
        if (left > (int64_t)COOLDOWN_TICK_MS * 1000000)
            left = (int64_t)COOLDOWN_TICK_MS * 1000000;
        ts.tv_sec = (time_t)(left / 1000000000);
        ts.tv_nsec = (long)(left % 1000000000);
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
    }
}

static int64_t
since_ms(int64_t t0_ns)
{
    return (clock_mono_ns() - t0_ns) / 1000000;
}

/* The gate passes a nominal state, and an unknown one (nothing to wait for). */
static int
gate_passes(const char *state)
{
    return state[0] == '\0' || strcmp(state, "nominal") == 0;
}

/* The thermal gate: wait until the state passes, up to c->gate_max_ms.
 * Fills the gate's part of w; `end` gets the last state read. 0, or -1
 * when stopped. */
static int
gate(const struct cooldown *c, struct run_wait *w, char *end, size_t endlen)
{
    int64_t t0 = clock_mono_ns(), left;
    int rc = 0;

    sysinfo_thermal(c->source, end, endlen);
    while (!gate_passes(end)) {
        left = c->gate_max_ms - since_ms(t0);
        if (left <= 0) {
            w->timed_out = 1;
            break;
        }
        if (sleep_ms(c, left < c->poll_ms ? left : c->poll_ms) == -1) {
            rc = -1;
            break;
        }
        sysinfo_thermal(c->source, end, endlen);
    }
    w->gate_wait_ms = since_ms(t0);
    return rc;
}

/* Announce "cooldown_started": what the wait is about to do. */
static void
announce_start(const struct cooldown *c, const struct run_wait *w, const char *model)
{
    if (c->event == NULL)
        return;
    c->event(c->event_arg, "cooldown_started",
             json_pack("{s:I, s:s, s:s?, s:s?, s:I, s:I, s:s?}", "run_id",
                       (json_int_t)w->run_id, "kind", w->kind, "model", model, "case",
                       w->case_name, "pause_ms", (json_int_t)w->pause_ms, "gate_max_ms",
                       (json_int_t)w->gate_max_ms, "thermal",
                       w->thermal_start[0] ? w->thermal_start : NULL));
}

/* Store the wait and announce "cooldown_finished". */
static void
record(const struct cooldown *c, const struct run_wait *w)
{
    if (c->db != NULL && waits_insert(c->db, w) == -1)
        log_warnx("cool-down not stored run=%lld: %s", (long long)w->run_id, c->db->err);
    log_info("cool-down run=%lld kind=%s paused_ms=%lld gate_wait_ms=%lld thermal=%s..%s "
             "timed_out=%d interrupted=%d",
             (long long)w->run_id, w->kind, (long long)w->paused_ms, (long long)w->gate_wait_ms,
             w->thermal_start[0] ? w->thermal_start : "unknown",
             w->thermal_end[0] ? w->thermal_end : "unknown", w->timed_out, w->interrupted);
    if (c->event == NULL)
        return;
    c->event(c->event_arg, "cooldown_finished",
             json_pack("{s:I, s:s, s:s?, s:I, s:I, s:I, s:I, s:s?, s:s?, s:b, s:b}", "run_id",
                       (json_int_t)w->run_id, "kind", w->kind, "case", w->case_name, "pause_ms",
                       (json_int_t)w->pause_ms, "paused_ms", (json_int_t)w->paused_ms,
                       "gate_max_ms", (json_int_t)w->gate_max_ms, "gate_wait_ms",
                       (json_int_t)w->gate_wait_ms, "thermal_start",
                       w->thermal_start[0] ? w->thermal_start : NULL, "thermal_end",
                       w->thermal_end[0] ? w->thermal_end : NULL, "timed_out", w->timed_out,
                       "interrupted", w->interrupted));
}

/* One wait of w->pause_ms, then the gate when `gated`: run, store,
 * announce. 0, or -1 when stopped. */
static int
wait_one(const struct cooldown *c, struct run_wait *w, const char *model, int gated)
{
    char start[SYSINFO_THERMAL_MAX], end[SYSINFO_THERMAL_MAX];
    int64_t t0;
    int rc = 0;

    sysinfo_thermal(c->source, start, sizeof(start));
    w->thermal_start = start;
    w->thermal_end = end;
    w->started_at = clock_wall_ms();
    announce_start(c, w, model);
    if (w->pause_ms > 0) {
        t0 = clock_mono_ns();
        rc = sleep_ms(c, w->pause_ms);
        w->paused_ms = since_ms(t0);
    }
    if (rc == 0 && gated)
        rc = gate(c, w, end, sizeof(end));
    else
        sysinfo_thermal(c->source, end, sizeof(end));
    w->ended_at = clock_wall_ms();
    w->interrupted = rc == -1;
    record(c, w);
    return rc;
}

int
cooldown_model(struct cooldown *c, int64_t run_id, const char *model, int index)
{
    struct run_wait w;

    memset(&w, 0, sizeof(w));
    w.run_id = run_id;
    w.kind = "model";
    w.pause_ms = index > 0 ? c->models_ms : 0;
    w.gate_max_ms = c->gate_max_ms;
    if (w.pause_ms == 0 && w.gate_max_ms == 0)
        return 0;
    return wait_one(c, &w, model, w.gate_max_ms > 0);
}

int
cooldown_case(struct cooldown *c, int64_t run_id, const char *case_name)
{
    struct run_wait w;

    if (c->cases_ms <= 0)
        return 0;
    memset(&w, 0, sizeof(w));
    w.run_id = run_id;
    w.kind = "case";
    w.case_name = case_name;
    w.pause_ms = c->cases_ms;
    return wait_one(c, &w, NULL, 0);
}

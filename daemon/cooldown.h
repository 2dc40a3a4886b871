/*
 * cooldown.h - the waits that keep one model's heat out of the next one's
 * figures (issue 17, item 3): a pause before each model but the job's
 * first, then a thermal gate (wait, up to a bound, until the thermal state
 * is nominal), both before the model is loaded; and a pause before each
 * case of a run but its first. The settings are the job's "cooldown"
 * (jobspec.h), else the daemon's (config.h: pause_between_models_ms,
 * pause_between_cases_ms, thermal_gate_max_wait_ms, thermal_gate_poll_ms,
 * thermal_source); 0 turns each off, and all are off by default.
 *
 * The wait comes before the load, not after it: a model loaded with an
 * idle TTL (backend.ttl_s) could be unloaded by the server during a long
 * wait, and the first measured request would then load it again.
 *
 * The thermal state is sysinfo_thermal's: the OS (macOS thermal pressure,
 * Linux thermal zones), or the thermal_source hook (a file or a folder of
 * zones, sysinfo.h) that tests and operators use. The gate passes when the
 * state is "nominal" or unknown ("": a machine that does not tell cannot be
 * waited for); at its bound it gives up, the run is measured anyway and
 * the record says the gate timed out.
 *
 * Every wait is stored with its run (storage/waits.h: what was asked and
 * waited, the thermal state at its start and end, timed out, interrupted)
 * and announced as job events "cooldown_started" and "cooldown_finished".
 * A cancel or a shutdown (the runner's abort flag and stop function, both
 * looked at every COOLDOWN_TICK_MS) cuts a wait short: it is stored as
 * interrupted and the call returns -1.
 *
 * Calls sysinfo, storage (waits), log.
 */
#ifndef TPSD_COOLDOWN_H
#define TPSD_COOLDOWN_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/jobspec.h"
#include "daemon/sysinfo.h"
#include "storage/db.h"

#define COOLDOWN_TICK_MS 100 /* a cancel or a shutdown is seen within this */

struct cooldown {
    /* the settings, resolved (the job's over the daemon's), in ms; 0 = off */
    int64_t models_ms, cases_ms, gate_max_ms, poll_ms;
    char source[SYSINFO_SOURCE_MAX];
    /* the runner's: where waits are stored and how a stop is asked for */
    struct db *db;
    atomic_int *abort;                                        /* may be NULL */
    int (*stop)(void *arg);                                   /* may be NULL */
    void (*event)(void *arg, const char *type, json_t *data); /* may be NULL; consumes data */
    void *stop_arg, *event_arg;
};

/* Resolve the settings of job `spec` over the daemon's `cfg` into c, and
 * clear the rest (the caller sets db and the hooks). Can't fail. */
void cooldown_init(struct cooldown *c, const struct jobspec *spec, const struct config *cfg);

/*
 * Before model `index` of the job (run run_id, `model` its key): the pause
 * (not before index 0), then the thermal gate. Stored and announced when
 * either is on. 0 to go on (the gate may have timed out), -1 when a cancel
 * or a shutdown cut it short.
 */
int cooldown_model(struct cooldown *c, int64_t run_id, const char *model, int index);

/* Before case `case_name` of run run_id (a later case than its first): the
 * pause between cases, when on. 0 to go on, -1 when cut short. */
int cooldown_case(struct cooldown *c, int64_t run_id, const char *case_name);

#endif

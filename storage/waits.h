/*
 * waits.h - what a run waited before it was measured (table run_waits,
 * schema step 14): the pause between models and the thermal gate before a
 * model, the pause between cases (daemon/cooldown.h makes them).
 */
#ifndef TPSD_WAITS_H
#define TPSD_WAITS_H

#include <jansson.h>
#include <stdint.h>

#include "storage/db.h"

/* One wait. Text fields may be NULL (or "": stored as NULL). */
struct run_wait {
    int64_t run_id;
    const char *kind;      /* "model" or "case" */
    const char *case_name; /* kind "case": the case it preceded */
    int64_t started_at;    /* Unix ms */
    int64_t ended_at;
    int64_t pause_ms;     /* asked */
    int64_t paused_ms;    /* waited */
    int64_t gate_max_ms;  /* the thermal gate's bound; 0 = no gate */
    int64_t gate_wait_ms; /* waited at the gate */
    const char *thermal_start;
    const char *thermal_end;
    int timed_out;   /* the gate gave up at its bound */
    int interrupted; /* cut short by a cancel or a shutdown */
};

/* Store one wait in its own transaction. 0 or -1 (db->err). */
int waits_insert(struct db *db, const struct run_wait *w);

/*
 * Add "cooldown" to each run object of `runs` (an array of objects with an
 * "id", or one such object): null when the run waited for nothing, else
 * {"pause_ms", "gate_wait_ms", "gate_max_ms", "gate_timed_out",
 * "thermal_start", "thermal_end", "case_pauses", "case_pause_ms",
 * "interrupted", "waits": [rows in order]}, the model figures summed over
 * its 'model' rows (a resumed run has one per start), thermal_start the
 * first row's and thermal_end the last 'model' row's. One query over the
 * runs' id range. 0 or -1 (db->err).
 */
int waits_attach(struct db *db, json_t *runs);

#endif

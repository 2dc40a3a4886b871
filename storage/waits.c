/*
 * waits.c - see waits.h. A run's waits are few (one before the model, one
 * per case at most), so they are read for a page of runs in one query over
 * the page's id range and summed here, not in SQL: the runs' own SELECT
 * (runs.c) stays as it was.
 */
#include "storage/waits.h"

#include <string.h>

static const char WAITS_INSERT[] =
    "INSERT INTO run_waits (run_id, kind, case_name, started_at, ended_at, pause_ms, paused_ms,"
    " gate_max_ms, gate_wait_ms, thermal_start, thermal_end, timed_out, interrupted)"
    " VALUES (:run, :kind, :case, :start, :end, :pause, :paused, :gmax, :gwait, :tstart, :tend,"
    " :timed_out, :interrupted)";

int
waits_insert(struct db *db, const struct run_wait *w)
{
    sqlite3_stmt *st = db_begin_prepare(db, WAITS_INSERT);

    if (st == NULL)
        return -1;
    db_bind_int(st, ":run", w->run_id);
    db_bind_text(st, ":kind", w->kind);
    db_bind_text(st, ":case", w->case_name && *w->case_name ? w->case_name : NULL);
    db_bind_int(st, ":start", w->started_at);
    db_bind_int(st, ":end", w->ended_at);
    db_bind_int(st, ":pause", w->pause_ms);
    db_bind_int(st, ":paused", w->paused_ms);
    db_bind_int(st, ":gmax", w->gate_max_ms);
    db_bind_int(st, ":gwait", w->gate_wait_ms);
    db_bind_text(st, ":tstart",
                 w->thermal_start && *w->thermal_start ? w->thermal_start : NULL);
    db_bind_text(st, ":tend", w->thermal_end && *w->thermal_end ? w->thermal_end : NULL);
    db_bind_int(st, ":timed_out", w->timed_out != 0);
    db_bind_int(st, ":interrupted", w->interrupted != 0);
    return db_end_stmt(db, st, db_step_done(db, st));
}

static int64_t
num(const json_t *o, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(o, k));
}

/* Add integer field k of row to summary field sk. */
static void
add_to(json_t *sum, const char *sk, const json_t *row, const char *k)
{
    json_object_set_new(sum, sk, json_integer(num(sum, sk) + num(row, k)));
}

/* The summary of one run's rows rows[from..to). New reference. */
static json_t *
summarise(json_t *rows, size_t from, size_t to)
{
    json_t *sum =
        json_pack("{s:I, s:I, s:I, s:b, s:n, s:n, s:I, s:I, s:b, s:[]}", "pause_ms",
                  (json_int_t)0, "gate_wait_ms", (json_int_t)0, "gate_max_ms", (json_int_t)0,
                  "gate_timed_out", 0, "thermal_start", "thermal_end", "case_pauses",
                  (json_int_t)0, "case_pause_ms", (json_int_t)0, "interrupted", 0, "waits");
    json_t *waits = json_object_get(sum, "waits"), *row;
    size_t i;

    for (i = from; sum != NULL && i < to; i++) {
        row = json_array_get(rows, i);
        json_array_append(waits, row);
        if (json_is_true(json_object_get(row, "interrupted")))
            json_object_set_new(sum, "interrupted", json_true());
        if (i == from)
            json_object_set(sum, "thermal_start", json_object_get(row, "thermal_start"));
        if (strcmp(json_string_value(json_object_get(row, "kind")), "case") == 0) {
            json_object_set_new(sum, "case_pauses", json_integer(num(sum, "case_pauses") + 1));
            add_to(sum, "case_pause_ms", row, "paused_ms");
            continue;
        }
        add_to(sum, "pause_ms", row, "paused_ms");
        add_to(sum, "gate_wait_ms", row, "gate_wait_ms");
        if (num(row, "gate_max_ms") > num(sum, "gate_max_ms"))
            json_object_set(sum, "gate_max_ms", json_object_get(row, "gate_max_ms"));
        if (json_is_true(json_object_get(row, "timed_out")))
            json_object_set_new(sum, "gate_timed_out", json_true());
        json_object_set(sum, "thermal_end", json_object_get(row, "thermal_end"));
    }
    return sum;
}

/* The first row of rows (sorted by run_id) whose run_id is >= id. */
static size_t
lower_bound(json_t *rows, int64_t id)
{
    size_t lo = 0, hi = json_array_size(rows), mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (num(json_array_get(rows, mid), "run_id") < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Set "cooldown" on run from its rows (null when it has none). */
static void
attach_one(json_t *run, json_t *rows)
{
    int64_t id = num(run, "id");
    size_t from = lower_bound(rows, id), to = from;

    while (to < json_array_size(rows) && num(json_array_get(rows, to), "run_id") == id)
        to++;
    json_object_set_new(run, "cooldown", from < to ? summarise(rows, from, to) : json_null());
}

/* The waits of the runs whose ids are in [:lo, :hi], by run then in order. */
static const char WAITS_SELECT[] =
    "SELECT id, run_id, kind, case_name AS \"case\", started_at, ended_at, pause_ms, paused_ms,"
    " gate_max_ms, gate_wait_ms, thermal_start, thermal_end,"
    " CASE timed_out WHEN 1 THEN 'true' ELSE 'false' END AS timed_out_json,"
    " CASE interrupted WHEN 1 THEN 'true' ELSE 'false' END AS interrupted_json"
    " FROM run_waits WHERE run_id BETWEEN :lo AND :hi ORDER BY run_id, id";

int
waits_attach(struct db *db, json_t *runs)
{
    json_t *rows = NULL, *run;
    int64_t lo = INT64_MAX, hi = 0, id;
    sqlite3_stmt *st;
    size_t i, n = json_is_array(runs) ? json_array_size(runs) : 1;

    for (i = 0; i < n; i++) {
        id = num(json_is_array(runs) ? json_array_get(runs, i) : runs, "id");
        lo = id < lo ? id : lo;
        hi = id > hi ? id : hi;
    }
    if (n == 0)
        return 0;
    st = db_prepare(db, WAITS_SELECT);
    if (st == NULL)
        return -1;
    db_bind_int(st, ":lo", lo);
    db_bind_int(st, ":hi", hi);
    if (db_rows_json(db, st, &rows) == -1)
        return -1;
    for (i = 0; i < n; i++) {
        run = json_is_array(runs) ? json_array_get(runs, i) : runs;
        attach_one(run, rows);
    }
    json_decref(rows);
    return 0;
}

/*
 * capdata.c - see capdata.h. The step's columns, named parameters, binds
 * and row reads all come from CAPDATA_STEP_FIELDS.
 */
#include "storage/capdata.h"
#include "common/clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CAP_COL(name, type) ", " #name
#define CAP_PARAM(name, type) ", :" #name
#define CAP_STEP_COLS "step" CAPDATA_STEP_FIELDS(CAP_COL)
#define CAP_STR_(x) #x
#define CAP_STR(x) CAP_STR_(x)

static void
bind_I64(sqlite3_stmt *st, const char *name, int64_t v)
{
    db_bind_int_or_null(st, name, v, v != -1);
}

static void
bind_REAL(sqlite3_stmt *st, const char *name, double v)
{
    db_bind_real_or_null(st, name, v);
}

static void
read_I64(sqlite3_stmt *st, int col, int64_t *v)
{
    *v = db_col_int_or(st, col, -1);
}

static void
read_REAL(sqlite3_stmt *st, int col, double *v)
{
    *v = db_col_real_or_nan(st, col);
}

int
capdata_step_put(struct db *db, const struct capdata_step *s)
{
    sqlite3_stmt *st = db_begin_prepare(
        db, "INSERT INTO capacity_steps (run_id, created_at, " CAP_STEP_COLS ")"
            " VALUES (:run, :t, :step" CAPDATA_STEP_FIELDS(CAP_PARAM) ")");

    if (st == NULL)
        return -1;
    db_bind_int(st, ":run", s->run_id);
    db_bind_int(st, ":t", clock_wall_ms());
    db_bind_int(st, ":step", s->step);
#define CAP_BIND(name, type) bind_##type(st, ":" #name, s->name);
    CAPDATA_STEP_FIELDS(CAP_BIND)
#undef CAP_BIND
    return db_end_stmt(db, st, db_step_done(db, st));
}

/* The step on the current row: column 0 the run's step count, then the
 * step's columns (CAP_STEP_COLS) from column 1, NULL when none matched. */
static void
step_from_row(sqlite3_stmt *st, int64_t run_id, struct capdata_step *out)
{
    int col = 2;

    memset(out, 0, sizeof(*out));
    out->run_id = run_id;
    out->step = sqlite3_column_int(st, 1);
#define CAP_READ(name, type) read_##type(st, col++, &out->name);
    CAPDATA_STEP_FIELDS(CAP_READ)
#undef CAP_READ
}

/* One row always: the run's step count, and its step at a load (or NULLs). */
static const char step_find_sql[] =
    "SELECT (SELECT count(*) FROM capacity_steps WHERE run_id = :r), s.*"
    " FROM (SELECT 1) LEFT JOIN (SELECT " CAP_STEP_COLS " FROM capacity_steps"
    " WHERE run_id = :r AND (concurrency = :c OR (:c < 0 AND rps = :rps))"
    " ORDER BY step LIMIT 1) s";

int
capdata_step_find(struct db *db, int64_t run_id, int64_t concurrency, double rps,
                  struct capdata_step *out, int *nsteps)
{
    sqlite3_stmt *st = db_prepare(db, step_find_sql);
    int rc;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    db_bind_int(st, ":c", concurrency);
    db_bind_double(st, ":rps", isnan(rps) ? -1.0 : rps);
    rc = db_step_row(db, st);
    if (rc == 0) {
        *nsteps = sqlite3_column_int(st, 0);
        rc = sqlite3_column_type(st, 1) == SQLITE_NULL ? 1 : 0;
        if (rc == 0)
            step_from_row(st, run_id, out);
    } else if (rc == 1) {
        rc = -1; /* an aggregate always has its row */
    }
    sqlite3_finalize(st);
    return rc;
}

int
capdata_result_put(struct db *db, const struct capdata_result *r)
{
    const struct {
        const char *name, *text;
    } texts[] = {{":model", r->model},
                 {":mode", r->mode},
                 {":level", r->level},
                 {":why", r->stop_reason}};
    sqlite3_stmt *st = db_begin_prepare(
        db, "INSERT OR REPLACE INTO capacity_results (run_id, job_id, model, mode, level,"
            " capacity, goodput_rps, stop_reason, finished_at)"
            " VALUES (:run, :job, :model, :mode, :level, :cap, :good, :why, :t)");
    size_t i;

    if (st == NULL)
        return -1;
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        db_bind_text(st, texts[i].name, texts[i].text);
    db_bind_int(st, ":run", r->run_id);
    db_bind_int(st, ":job", r->job_id);
    db_bind_real_or_null(st, ":cap", r->capacity);
    db_bind_real_or_null(st, ":good", r->goodput_rps);
    db_bind_int(st, ":t", clock_wall_ms());
    return db_end_stmt(db, st, db_step_done(db, st));
}

/* A job's runs with their answers, in model order. */
static const char job_runs_sql[] =
    "SELECT r.id AS run_id, r.model, c.mode, c.level AS level_json, c.capacity,"
    " c.goodput_rps, c.stop_reason, c.finished_at FROM runs r"
    " LEFT JOIN capacity_results c ON c.run_id = r.id WHERE r.job_id = :j"
    " ORDER BY r.model_index, r.id";

int
capdata_job_json(struct db *db, int64_t job_id, json_t **out)
{
    sqlite3_stmt *st;
    json_t *runs = NULL, *run, *steps;
    size_t i;

    st = db_prepare(db, job_runs_sql);
    if (st == NULL)
        return -1;
    db_bind_int(st, ":j", job_id);
    if (db_rows_json(db, st, &runs) == -1)
        return -1;
    json_array_foreach(runs, i, run)
    {
        st = db_prepare(db, "SELECT " CAP_STEP_COLS " FROM capacity_steps"
                            " WHERE run_id = :r ORDER BY step");
        if (st == NULL)
            goto fail;
        db_bind_int(st, ":r", json_integer_value(json_object_get(run, "run_id")));
        if (db_rows_json(db, st, &steps) == -1)
            goto fail;
        json_object_set_new(run, "steps", steps);
    }
    *out = runs;
    return 0;
fail:
    json_decref(runs);
    return -1;
}

int
capdata_trend_json(struct db *db, const char *model, json_t **out)
{
    sqlite3_stmt *st = db_prepare(
        db, "SELECT * FROM (SELECT job_id, run_id, mode, level AS level_json, capacity,"
            " goodput_rps, stop_reason, finished_at FROM capacity_results"
            " WHERE model = :m ORDER BY finished_at DESC, run_id DESC"
            " LIMIT " CAP_STR(CAPDATA_TREND_MAX) ") ORDER BY finished_at, run_id");

    if (st == NULL)
        return -1;
    db_bind_text(st, ":m", model);
    return db_rows_json(db, st, out);
}

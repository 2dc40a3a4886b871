/* stabdata.c - see stabdata.h. */
#include "storage/stabdata.h"

#include <stdio.h>
#include <string.h>

int
stabdata_plan_end(struct db *db, int64_t run_id, int64_t now_ms, int64_t duration_ms,
                  int64_t *planned_end_ms)
{
    sqlite3_stmt *st;
    int rc;

    st = db_begin_prepare(db, "UPDATE runs SET planned_end_at = coalesce(planned_end_at, :end)"
                              " WHERE id = :id RETURNING planned_end_at");
    if (st == NULL)
        return -1;
    db_bind_int(st, ":end", now_ms + duration_ms);
    db_bind_int(st, ":id", run_id);
    rc = db_step_row(db, st);
    if (rc == 1) {
        snprintf(db->err, sizeof(db->err), "no run %lld", (long long)run_id);
        rc = -1;
    } else if (rc == 0) {
        *planned_end_ms = sqlite3_column_int64(st, 0);
        sqlite3_step(st);
    }
    return db_end_stmt(db, st, rc);
}

int
stabdata_planned_end(struct db *db, int64_t run_id, int64_t *planned_end_ms)
{
    int rc;
    sqlite3_stmt *st = db_query_id(db,
                                   "SELECT coalesce(planned_end_at, -1) FROM runs"
                                   " WHERE id = :id",
                                   run_id, &rc);

    if (st == NULL) {
        if (rc == 1)
            snprintf(db->err, sizeof(db->err), "no run %lld", (long long)run_id);
        return -1;
    }
    *planned_end_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

int
stabdata_next_seq(struct db *db, int64_t run_id, int64_t *next)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(max(seq) + 1, 0) FROM samples"
                                      " WHERE run_id = :r");

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    return db_one_int(db, st, next) == 0 ? 0 : -1; /* an aggregate: always one row */
}

/* Copy one row of stabdata_runs' SELECT into the next slot of the array. */
struct runs_fill {
    struct stabdata_run *out;
    size_t cap, *n;
};

static int
run_from_row(void *arg, sqlite3_stmt *st)
{
    struct runs_fill *f = arg;
    struct stabdata_run *r;
    const unsigned char *m = sqlite3_column_text(st, 2), *s = sqlite3_column_text(st, 3);

    if (*f->n >= f->cap)
        return 1;
    r = &f->out[(*f->n)++];
    r->id = sqlite3_column_int64(st, 0);
    r->model_index = sqlite3_column_int(st, 1);
    snprintf(r->model, sizeof(r->model), "%s", m ? (const char *)m : "");
    snprintf(r->state, sizeof(r->state), "%s", s ? (const char *)s : "");
    r->started_at = db_col_int_or(st, 4, -1);
    r->finished_at = db_col_int_or(st, 5, -1);
    r->planned_end_at = db_col_int_or(st, 6, -1);
    return 0;
}

int
stabdata_runs(struct db *db, int64_t job_id, struct stabdata_run *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, model_index, model, state, started_at,"
                                      " finished_at, planned_end_at FROM runs"
                                      " WHERE job_id = :j ORDER BY model_index LIMIT :cap");
    struct runs_fill f = {out, cap, n};

    *n = 0;
    if (st == NULL)
        return -1;
    db_bind_int(st, ":j", job_id);
    db_bind_int(st, ":cap", (int64_t)cap);
    return db_each_row(db, st, run_from_row, &f);
}

/* The caller's scan function, called with each row as a stabdata_sample. */
struct sample_scan {
    stabdata_scan_fn fn;
    void *arg;
};

static int
sample_from_row(void *arg, sqlite3_stmt *st)
{
    struct sample_scan *sc = arg;
    struct stabdata_sample s;
    const unsigned char *code = sqlite3_column_text(st, 3);

    memset(&s, 0, sizeof(s));
    s.seq = sqlite3_column_int64(st, 0);
    s.started_at = sqlite3_column_int64(st, 1);
    s.ok = sqlite3_column_int(st, 2);
    snprintf(s.error_code, sizeof(s.error_code), "%s", code ? (const char *)code : "");
    s.decode_tps = db_col_real_or_nan(st, 4);
    s.ttft_ms = db_col_real_or_nan(st, 5);
    s.e2e_ms = db_col_real_or_nan(st, 6);
    s.itl_max_ms = db_col_real_or_nan(st, 7);
    s.ttft_us = db_col_int_or(st, 8, -1);
    s.t_last_us = db_col_int_or(st, 9, -1);
    s.t_done_us = db_col_int_or(st, 10, -1);
    return sc->fn(sc->arg, &s);
}

int
stabdata_samples_scan(struct db *db, int64_t run_id, stabdata_scan_fn fn, void *arg)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT seq, started_at, ok, error_code, decode_tps,"
                                      " ttft_ms, e2e_ms, itl_max_ms, ttft_us, t_last_us,"
                                      " t_done_us FROM samples"
                                      " WHERE run_id = :r AND warmup = 0"
                                      " ORDER BY started_at, seq");
    struct sample_scan sc = {fn, arg};

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    return db_each_row(db, st, sample_from_row, &sc);
}

int
stabdata_last_event(struct db *db, int64_t job_id, const char *type, char **data, int64_t *at)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT data, at FROM job_events"
                                      " WHERE job_id = :j AND type = :t"
                                      " ORDER BY id DESC LIMIT 1");
    int rc;

    *data = NULL;
    if (st == NULL)
        return -1;
    db_bind_int(st, ":j", job_id);
    db_bind_text(st, ":t", type);
    rc = db_step_row(db, st);
    if (rc == 0) {
        *data = db_col_strdup(st, 0);
        *at = sqlite3_column_int64(st, 1);
        if (*data == NULL) {
            snprintf(db->err, sizeof(db->err), "out of memory");
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

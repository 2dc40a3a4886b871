/* stabdata.c - see stabdata.h. */
#include "storage/stabdata.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void
seterr(struct db *db)
{
    snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
}

int
stabdata_plan_end(struct db *db, int64_t run_id, int64_t now_ms, int64_t duration_ms,
                  int64_t *planned_end_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (db_begin(db) == -1)
        return -1;
    st = db_prepare(db, "UPDATE runs SET planned_end_at = coalesce(planned_end_at, :end)"
                        " WHERE id = :id RETURNING planned_end_at");
    if (st == NULL)
        goto out;
    db_bind_int(st, ":end", now_ms + duration_ms);
    db_bind_int(st, ":id", run_id);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            snprintf(db->err, sizeof(db->err), "no run %lld", (long long)run_id);
        else
            seterr(db);
        rc = -1;
        goto out;
    }
    *planned_end_ms = sqlite3_column_int64(st, 0);
    sqlite3_step(st);
    rc = 0;
out:
    sqlite3_finalize(st);
    if (db_end(db, rc == 0) == -1)
        rc = -1;
    return rc;
}

int
stabdata_planned_end(struct db *db, int64_t run_id, int64_t *planned_end_ms)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(planned_end_at, -1) FROM runs"
                                      " WHERE id = :id");
    int rc = -1, step;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":id", run_id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *planned_end_ms = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step == SQLITE_DONE) {
        snprintf(db->err, sizeof(db->err), "no run %lld", (long long)run_id);
    } else {
        seterr(db);
    }
    sqlite3_finalize(st);
    return rc;
}

int
stabdata_next_seq(struct db *db, int64_t run_id, int64_t *next)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT coalesce(max(seq) + 1, 0) FROM samples"
                                      " WHERE run_id = :r");
    int rc = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *next = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        seterr(db);
    }
    sqlite3_finalize(st);
    return rc;
}

static int64_t
col_i64(sqlite3_stmt *st, int c)
{
    return sqlite3_column_type(st, c) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, c);
}

static double
col_dbl(sqlite3_stmt *st, int c)
{
    return sqlite3_column_type(st, c) == SQLITE_NULL ? NAN : sqlite3_column_double(st, c);
}

int
stabdata_runs(struct db *db, int64_t job_id, struct stabdata_run *out, size_t cap, size_t *n)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, model_index, model, state, started_at,"
                                      " finished_at, planned_end_at FROM runs"
                                      " WHERE job_id = :j ORDER BY model_index LIMIT :cap");
    int rc;

    *n = 0;
    if (st == NULL)
        return -1;
    db_bind_int(st, ":j", job_id);
    db_bind_int(st, ":cap", (int64_t)cap);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap) {
        struct stabdata_run *r = &out[*n];
        const unsigned char *m = sqlite3_column_text(st, 2), *s = sqlite3_column_text(st, 3);

        r->id = sqlite3_column_int64(st, 0);
        r->model_index = sqlite3_column_int(st, 1);
        snprintf(r->model, sizeof(r->model), "%s", m ? (const char *)m : "");
        snprintf(r->state, sizeof(r->state), "%s", s ? (const char *)s : "");
        r->started_at = col_i64(st, 4);
        r->finished_at = col_i64(st, 5);
        r->planned_end_at = col_i64(st, 6);
        (*n)++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        seterr(db);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

int
stabdata_samples_scan(struct db *db, int64_t run_id, stabdata_scan_fn fn, void *arg)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT seq, started_at, ok, error_code, decode_tps,"
                                      " ttft_ms, e2e_ms, itl_max_ms, ttft_us, t_last_us,"
                                      " t_done_us FROM samples"
                                      " WHERE run_id = :r AND warmup = 0"
                                      " ORDER BY started_at, seq");
    struct stabdata_sample s;
    int rc, ret = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *code = sqlite3_column_text(st, 3);

        memset(&s, 0, sizeof(s));
        s.seq = sqlite3_column_int64(st, 0);
        s.started_at = sqlite3_column_int64(st, 1);
        s.ok = sqlite3_column_int(st, 2);
        snprintf(s.error_code, sizeof(s.error_code), "%s", code ? (const char *)code : "");
        s.decode_tps = col_dbl(st, 4);
        s.ttft_ms = col_dbl(st, 5);
        s.e2e_ms = col_dbl(st, 6);
        s.itl_max_ms = col_dbl(st, 7);
        s.ttft_us = col_i64(st, 8);
        s.t_last_us = col_i64(st, 9);
        s.t_done_us = col_i64(st, 10);
        if (fn(arg, &s) != 0) {
            ret = 0;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        seterr(db);
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int
stabdata_last_event(struct db *db, int64_t job_id, const char *type, char **data, int64_t *at)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT data, at FROM job_events"
                                      " WHERE job_id = :j AND type = :t"
                                      " ORDER BY id DESC LIMIT 1");
    int rc = -1, step;

    *data = NULL;
    if (st == NULL)
        return -1;
    db_bind_int(st, ":j", job_id);
    db_bind_text(st, ":t", type);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *data = db_col_strdup(st, 0);
        *at = sqlite3_column_int64(st, 1);
        rc = *data != NULL ? 0 : -1;
        if (rc == -1)
            snprintf(db->err, sizeof(db->err), "out of memory");
    } else if (step == SQLITE_DONE) {
        rc = 1;
    } else {
        seterr(db);
    }
    sqlite3_finalize(st);
    return rc;
}

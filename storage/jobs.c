/* jobs.c - see jobs.h. */
#include "storage/jobs.h"

#include "common/clock.h"
#include "storage/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
job_rec_free(struct job_rec *j)
{
    free(j->spec);
    j->spec = NULL;
}

int
jobs_state_is_final(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0 || strcmp(state, "interrupted") == 0;
}

#define JOB_COLUMNS                                                                            \
    "id, name, kind, spec, state, priority, attempts, cancel_requested, created_at,"           \
    " coalesce(started_at, -1), coalesce(finished_at, -1), updated_at"

static void
job_from_row(sqlite3_stmt *st, struct job_rec *j)
{
    const char *s;

    memset(j, 0, sizeof(*j));
    j->id = sqlite3_column_int64(st, 0);
    s = (const char *)sqlite3_column_text(st, 1);
    snprintf(j->name, sizeof(j->name), "%s", s ? s : "");
    s = (const char *)sqlite3_column_text(st, 2);
    snprintf(j->kind, sizeof(j->kind), "%s", s ? s : "");
    j->spec = db_col_strdup(st, 3);
    s = (const char *)sqlite3_column_text(st, 4);
    snprintf(j->state, sizeof(j->state), "%s", s ? s : "");
    j->priority = sqlite3_column_int(st, 5);
    j->attempts = sqlite3_column_int(st, 6);
    j->cancel_requested = sqlite3_column_int(st, 7);
    j->created_at = sqlite3_column_int64(st, 8);
    j->started_at = sqlite3_column_int64(st, 9);
    j->finished_at = sqlite3_column_int64(st, 10);
    j->updated_at = sqlite3_column_int64(st, 11);
}

int
jobs_create(struct db *db, const char *name, const char *kind, const char *spec_json,
            int priority, const char *idem_key, const char *idem_hash, int64_t *id,
            int *existing)
{
    sqlite3_stmt *st = NULL;
    int64_t t = clock_wall_ms();
    int rc = -1, step;

    *existing = 0;
    if (db_begin(db) == -1)
        return -1;
    if (idem_key != NULL) {
        st = db_prepare(db, "SELECT id, idem_hash FROM jobs WHERE idem_key = :k");
        if (st == NULL)
            goto out;
        db_bind_text(st, ":k", idem_key);
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            const char *h = (const char *)sqlite3_column_text(st, 1);
            if (h == NULL || idem_hash == NULL || strcmp(h, idem_hash) != 0) {
                rc = -2;
                goto out;
            }
            *id = sqlite3_column_int64(st, 0);
            *existing = 1;
            rc = 0;
            goto out;
        }
        if (step != SQLITE_DONE)
            goto out;
        sqlite3_finalize(st);
    }
    st = db_prepare(db, "INSERT INTO jobs (name, kind, spec, priority, created_at, updated_at,"
                        " idem_key, idem_hash) VALUES (:name, :kind, :spec, :prio, :t, :t,"
                        " :key, :hash)");
    if (st == NULL)
        goto out;
    db_bind_text(st, ":name", name ? name : "");
    db_bind_text(st, ":kind", kind);
    db_bind_text(st, ":spec", spec_json);
    db_bind_int(st, ":prio", priority);
    db_bind_int(st, ":t", t);
    db_bind_text(st, ":key", idem_key);
    db_bind_text(st, ":hash", idem_key ? idem_hash : NULL);
    if (db_step_done(db, st) == -1)
        goto out;
    *id = sqlite3_last_insert_rowid(db->h);
    rc = 0;
out:
    sqlite3_finalize(st);
    if (db_end(db, rc == 0 && !*existing) == -1)
        rc = -1;
    return rc;
}

int
jobs_get(struct db *db, int64_t id, struct job_rec *out)
{
    int rc;
    sqlite3_stmt *st =
        db_query_id(db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = :id", id, &rc);

    if (st == NULL)
        return rc;
    job_from_row(st, out);
    sqlite3_finalize(st);
    return 0;
}

/* The request counts come from the history rollups (one row per run and
 * case, kept by the ingest trigger for every request that is not a
 * warm-up), not from counting samples: a list of 50 jobs of 20 runs read
 * 114,000 sample index entries. The sums read only the covering index
 * history_rollup_run_n (run_id, n, n_ok), not the wide rollup rows. */
#define JOB_JSON_SELECT                                                                        \
    "SELECT j.id, j.name, j.kind, j.state, j.priority, j.attempts,"                            \
    " j.cancel_requested, j.created_at, j.started_at, j.finished_at, j.updated_at,"            \
    " j.error_code, j.error_detail, j.spec AS spec_json,"                                      \
    " (SELECT count(*) FROM runs r WHERE r.job_id = j.id) AS runs,"                            \
    " (SELECT coalesce(sum(h.n), 0) FROM runs r JOIN history_rollup h"                         \
    "   ON h.run_id = r.id WHERE r.job_id = j.id) AS samples,"                                 \
    " (SELECT coalesce(sum(h.n - h.n_ok), 0) FROM runs r JOIN history_rollup h"                \
    "   ON h.run_id = r.id WHERE r.job_id = j.id) AS errors"                                   \
    " FROM jobs j"

int
jobs_get_json(struct db *db, int64_t id, json_t **out)
{
    int rc;
    sqlite3_stmt *st = db_query_id(db, JOB_JSON_SELECT " WHERE j.id = :id", id, &rc);

    if (st == NULL)
        return rc;
    *out = db_row_json(st);
    sqlite3_finalize(st);
    return *out ? 0 : -1;
}

int
jobs_claim_next(struct db *db, struct job_rec *out)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, step;

    if (db_begin(db) == -1)
        return -1;
    st = db_prepare(db, "UPDATE jobs SET state = 'running', attempts = attempts + 1,"
                        " started_at = coalesce(started_at, :t), updated_at = :t"
                        " WHERE id = (SELECT id FROM jobs WHERE state = 'queued'"
                        "             ORDER BY priority DESC, id LIMIT 1)"
                        " RETURNING " JOB_COLUMNS);
    if (st == NULL)
        goto out;
    db_bind_int(st, ":t", clock_wall_ms());
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        job_from_row(st, out);
        rc = 0;
        step = sqlite3_step(st);
    } else if (step == SQLITE_DONE) {
        rc = 1;
    }
    if (step != SQLITE_DONE) {
        db->err[0] = '\0';
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        if (rc == 0)
            job_rec_free(out);
        rc = -1;
    }
out:
    sqlite3_finalize(st);
    /* No queued job (1) commits too: a COMMIT is what tells db_write_state
     * that the database takes writes again. */
    if (db_end(db, rc >= 0) == -1) {
        if (rc == 0)
            job_rec_free(out);
        rc = -1;
    }
    return rc;
}

int
jobs_set_state(struct db *db, int64_t id, const char *state, const char *error_code,
               const char *error_detail)
{
    sqlite3_stmt *st;
    int64_t t = clock_wall_ms();
    int rc;

    st = db_begin_prepare(db, "UPDATE jobs SET state = :s, updated_at = :t,"
                              " finished_at = CASE WHEN :final THEN :t ELSE NULL END,"
                              " error_code = :code, error_detail = :detail WHERE id = :id");
    if (st == NULL)
        return -1;
    db_bind_text(st, ":s", state);
    db_bind_int(st, ":t", t);
    db_bind_int(st, ":final", jobs_state_is_final(state));
    db_bind_text(st, ":code", error_code);
    db_bind_text(st, ":detail", error_detail);
    db_bind_int(st, ":id", id);
    rc = db_step_done(db, st);
    /* A job that ends closes its runs, whichever path ended it. */
    if (rc == 0 && jobs_state_is_final(state) && runs_close_open(db, id, NULL) == -1)
        rc = -1;
    return db_end_stmt(db, st, rc);
}

int
jobs_request_cancel(struct db *db, int64_t id, char state_out[JOB_STATE_MAX])
{
    sqlite3_stmt *st;
    int64_t t = clock_wall_ms();
    int rc;
    const char *s;

    st = db_begin_prepare(db, "SELECT state FROM jobs WHERE id = :id");
    if (st == NULL)
        return -1;
    db_bind_int(st, ":id", id);
    rc = db_step_row(db, st); /* 1: no such job */
    if (rc != 0)
        goto out;
    s = (const char *)sqlite3_column_text(st, 0);
    snprintf(state_out, JOB_STATE_MAX, "%s", s ? s : "");
    sqlite3_finalize(st);
    st = NULL;
    if (jobs_state_is_final(state_out)) {
        rc = 2;
        goto out;
    }
    if (strcmp(state_out, "queued") == 0) {
        st = db_prepare(db, "UPDATE jobs SET state = 'cancelled', cancel_requested = 1,"
                            " updated_at = :t, finished_at = :t WHERE id = :id");
        snprintf(state_out, JOB_STATE_MAX, "cancelled");
    } else {
        st = db_prepare(db, "UPDATE jobs SET cancel_requested = 1, updated_at = :t"
                            " WHERE id = :id");
    }
    rc = -1;
    if (st == NULL)
        goto out;
    db_bind_int(st, ":t", t);
    db_bind_int(st, ":id", id);
    rc = db_step_done(db, st);
    /* A queued job may have open runs: it was running when the daemon stopped. */
    if (rc == 0 && strcmp(state_out, "cancelled") == 0 && runs_close_open(db, id, NULL) == -1)
        rc = -1;
out:
    return db_end_stmt(db, st, rc);
}

int
jobs_cancel_requested(struct db *db, int64_t id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT cancel_requested FROM jobs WHERE id = :id");
    int64_t v = 0;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":id", id);
    return db_one_int(db, st, &v) == 0 ? v != 0 : -1;
}

int
jobs_recover(struct db *db, int resume, int *n)
{
    sqlite3_stmt *st;
    int rc;

    *n = 0;
    /* A cancel asked for before the crash is honoured now. */
    st = db_begin_prepare(db, "UPDATE jobs SET updated_at = :t,"
                              " state = CASE WHEN cancel_requested THEN 'cancelled'"
                              "              WHEN :resume THEN 'queued' ELSE 'interrupted' END,"
                              " finished_at = CASE WHEN cancel_requested OR NOT :resume"
                              "              THEN :t ELSE NULL END"
                              " WHERE state = 'running'");
    if (st == NULL)
        return -1;
    db_bind_int(st, ":t", clock_wall_ms());
    db_bind_int(st, ":resume", resume != 0);
    rc = db_step_done(db, st);
    if (rc == 0)
        *n = sqlite3_changes(db->h);
    if (rc == 0 && runs_close_open(db, 0, NULL) == -1)
        rc = -1;
    return db_end_stmt(db, st, rc);
}

int
jobs_list(struct db *db, const char *state, int64_t before, int limit, json_t **out)
{
    char sql[sizeof(JOB_JSON_SELECT) + 96];
    sqlite3_stmt *st;

    /* A filter only when given (as in runs_list: an OR hides the index). */
    snprintf(sql, sizeof(sql), JOB_JSON_SELECT " WHERE 1%s%s ORDER BY j.id DESC LIMIT :limit",
             state != NULL ? " AND j.state = :state" : "",
             before > 0 ? " AND j.id < :before" : "");
    st = db_prepare(db, sql);
    if (st == NULL)
        return -1;
    if (state != NULL)
        db_bind_text(st, ":state", state);
    if (before > 0)
        db_bind_int(st, ":before", before);
    db_bind_int(st, ":limit", limit);
    return db_rows_json(db, st, out);
}

int
jobs_count_by_state(struct db *db, json_t **out)
{
    static const char *states[] = {"queued", "running",   "succeeded",
                                   "failed", "cancelled", "interrupted"};
    sqlite3_stmt *st = db_prepare(db, "SELECT state, count(*) FROM jobs GROUP BY state");
    json_t *o = json_object();
    size_t i;

    if (st == NULL) {
        json_decref(o);
        return -1;
    }
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        json_object_set_new(o, states[i], json_integer(0));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        if (s != NULL)
            json_object_set_new(o, s, json_integer(sqlite3_column_int64(st, 1)));
    }
    sqlite3_finalize(st);
    *out = o;
    return 0;
}

int
events_append(struct db *db, int64_t job_id, const char *type, json_t *data, int64_t *id)
{
    static const char insert_sql[] = "INSERT INTO job_events (job_id, at, type, data)"
                                     " VALUES (:job, :at, :type, :data)";
    sqlite3_stmt *st = NULL;
    char *text = json_dumps(data, JSON_COMPACT);
    int rc = -1;

    json_decref(data);
    if (text == NULL)
        return -1;
    if (db_begin(db) == -1)
        goto out;
    st = db_prepare_cached(db, insert_sql); /* one event per sample */
    if (st != NULL) {
        db_bind_int(st, ":job", job_id);
        db_bind_int(st, ":at", clock_wall_ms());
        db_bind_text(st, ":type", type);
        db_bind_text(st, ":data", text);
        rc = db_step_done(db, st);
        if (rc == 0 && id != NULL)
            *id = sqlite3_last_insert_rowid(db->h);
        db_cached_release(st);
    }
    if (db_end(db, rc == 0) == -1)
        rc = -1;
out:
    free(text);
    return rc;
}

int
events_since(struct db *db, int64_t job_id, int64_t after, int limit, json_t **out)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT id, at, type, data AS data_json FROM job_events"
                                      " WHERE job_id = :job AND id > :after"
                                      " ORDER BY id LIMIT :limit");

    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    db_bind_int(st, ":after", after);
    db_bind_int(st, ":limit", limit);
    return db_rows_json(db, st, out);
}

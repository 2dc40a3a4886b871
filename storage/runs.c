/* runs.c - see runs.h. */
#include "storage/runs.h"

#include "common/clock.h"
#include "storage/sample_fields.h"
#include "storage/waits.h"

#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

void
run_facts_init(struct run_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->model_size_bytes = -1;
    f->context_length = -1;
    f->load_ms = NAN;
    f->load_ready_ms = NAN;
}

int
runs_open(struct db *db, int64_t job_id, int model_index, const char *model, const char *suite,
          int64_t *id, char state_out[16])
{
    sqlite3_stmt *st;
    int rc;
    const char *s;

    st = db_begin_prepare(db, "INSERT INTO runs (job_id, model_index, model, suite)"
                              " VALUES (:job, :idx, :model, :suite)"
                              " ON CONFLICT (job_id, model_index) DO UPDATE SET model = model"
                              " RETURNING id, state");
    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    db_bind_int(st, ":idx", model_index);
    db_bind_text(st, ":model", model);
    db_bind_text(st, ":suite", suite);
    rc = db_step_row(db, st) == 0 ? 0 : -1; /* the upsert returns its row */
    if (rc == 0) {
        *id = sqlite3_column_int64(st, 0);
        s = (const char *)sqlite3_column_text(st, 1);
        snprintf(state_out, 16, "%s", s ? s : "");
        sqlite3_step(st);
    }
    return db_end_stmt(db, st, rc);
}

/* A text fact of a run: the statement's parameter and where the string
 * that fills it sits in struct run_facts (NULL: keep what the run has). */
struct fact_text {
    const char *param;
    size_t off;
};

static const struct fact_text fact_texts[] = {
    {":model_served", offsetof(struct run_facts, model_served)},
    {":backend", offsetof(struct run_facts, backend)},
    {":backend_version", offsetof(struct run_facts, backend_version)},
    {":server_version", offsetof(struct run_facts, server_version)},
    {":model_format", offsetof(struct run_facts, model_format)},
    {":model_quant", offsetof(struct run_facts, model_quant)},
    {":host", offsetof(struct run_facts, host)},
    {":tpsd_version", offsetof(struct run_facts, tpsd_version)},
    {":fingerprint", offsetof(struct run_facts, fingerprint)},
    {":params", offsetof(struct run_facts, params)},
};

int
runs_set_facts(struct db *db, int64_t run_id, const struct run_facts *f)
{
    static const char sql[] =
        "UPDATE runs SET state = 'running', started_at = coalesce(started_at, :t),"
        " model_served = coalesce(:model_served, model_served),"
        " backend = coalesce(:backend, backend),"
        " backend_version = coalesce(:backend_version, backend_version),"
        " server_version = coalesce(:server_version, server_version),"
        " model_format = coalesce(:model_format, model_format),"
        " model_quant = coalesce(:model_quant, model_quant),"
        " model_size_bytes = coalesce(:model_size_bytes, model_size_bytes),"
        " context_length = coalesce(:context_length, context_length),"
        " load_ms = coalesce(:load_ms, load_ms),"
        " load_ready_ms = coalesce(:load_ready_ms, load_ready_ms),"
        " host = coalesce(:host, host), tpsd_version = coalesce(:tpsd_version, tpsd_version),"
        " fingerprint = coalesce(:fingerprint, fingerprint),"
        " params = coalesce(:params, params)"
        " WHERE id = :id";
    sqlite3_stmt *st = db_begin_prepare(db, sql);
    size_t i;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":t", clock_wall_ms());
    for (i = 0; i < sizeof(fact_texts) / sizeof(fact_texts[0]); i++)
        db_bind_text(st, fact_texts[i].param,
                     *(const char *const *)((const char *)f + fact_texts[i].off));
    db_bind_int_or_null(st, ":model_size_bytes", f->model_size_bytes, f->model_size_bytes >= 0);
    db_bind_int_or_null(st, ":context_length", f->context_length, f->context_length >= 0);
    db_bind_real_or_null(st, ":load_ms", f->load_ms);
    db_bind_real_or_null(st, ":load_ready_ms", f->load_ready_ms);
    db_bind_int(st, ":id", run_id);
    return db_end_stmt(db, st, db_step_done(db, st));
}

int
runs_finish(struct db *db, int64_t run_id, const char *state, const char *error_code,
            const char *error_detail)
{
    sqlite3_stmt *st = db_begin_prepare(db, "UPDATE runs SET state = :s, finished_at = :t,"
                                            " started_at = coalesce(started_at, :t),"
                                            " error_code = :code, error_detail = :detail"
                                            " WHERE id = :id");

    if (st == NULL)
        return -1;
    db_bind_text(st, ":s", state);
    db_bind_int(st, ":t", clock_wall_ms());
    db_bind_text(st, ":code", error_code);
    db_bind_text(st, ":detail", error_detail);
    db_bind_int(st, ":id", run_id);
    return db_end_stmt(db, st, db_step_done(db, st));
}

int
runs_close_open(struct db *db, int64_t job_id, int *n)
{
    static const char sql[] =
        "UPDATE runs SET"
        " state = CASE WHEN j.state = 'cancelled' THEN 'cancelled' ELSE 'interrupted' END,"
        " finished_at = coalesce(j.finished_at, :t),"
        " started_at = coalesce(runs.started_at, j.finished_at, :t),"
        " error_code = CASE WHEN j.state = 'cancelled' THEN NULL ELSE 'interrupted' END,"
        " error_detail = 'its job ended ' || j.state || ' while the run was open'"
        " FROM jobs j WHERE j.id = runs.job_id AND runs.state IN ('pending', 'running')"
        " AND j.state IN ('succeeded', 'failed', 'cancelled', 'interrupted')"
        " AND (:job = 0 OR runs.job_id = :job)";
    /* Whether there is an open run at all (the runs_unfinished index):
     * preparing the UPDATE compiles every trigger on runs' state, which
     * costs more than the rest of a short job's storage. */
    static const char any_sql[] = "SELECT EXISTS (SELECT 1 FROM runs"
                                  " WHERE state IN ('pending', 'running')"
                                  " AND (:job = 0 OR job_id = :job))";
    sqlite3_stmt *st;
    int64_t any = 0;
    int rc = -1, own = sqlite3_get_autocommit(db->h) != 0;

    if (n != NULL)
        *n = 0;
    /* Inside a caller's transaction (jobs_set_state, jobs_recover) it adds
     * to that one; alone it makes its own. */
    if (own && db_begin(db) == -1)
        return -1;
    st = db_prepare(db, any_sql);
    if (st == NULL)
        goto out;
    db_bind_int(st, ":job", job_id);
    if (db_one_int(db, st, &any) == -1)
        goto out;
    rc = 0;
    if (!any)
        goto out; /* the UPDATE would change no row */
    rc = -1;
    st = db_prepare(db, sql);
    if (st == NULL)
        goto out;
    db_bind_int(st, ":t", clock_wall_ms());
    db_bind_int(st, ":job", job_id);
    rc = db_step_done(db, st);
    if (rc == 0 && n != NULL)
        *n = sqlite3_changes(db->h);
    sqlite3_finalize(st);
out:
    if (own && db_end(db, rc == 0) == -1)
        rc = -1;
    return rc;
}

/* Request counts from the history rollups, as in storage/jobs.c. */
#define RUN_SELECT                                                                             \
    "SELECT id, job_id, model_index, model, model_served, suite, state, backend,"              \
    " backend_version, server_version, model_format, model_quant, model_size_bytes,"           \
    " context_length, load_ms, load_ready_ms, host AS host_json, tpsd_version,"                \
    " fingerprint, params AS params_json, started_at, finished_at, error_code,"                \
    " error_detail,"                                                                           \
    " (SELECT coalesce(sum(h.n), 0) FROM history_rollup h"                                     \
    "   WHERE h.run_id = runs.id) AS samples,"                                                 \
    " (SELECT coalesce(sum(h.n - h.n_ok), 0) FROM history_rollup h"                            \
    "   WHERE h.run_id = runs.id) AS errors"                                                   \
    " FROM runs"

int
runs_get_json(struct db *db, int64_t run_id, int with_cases, json_t **out)
{
    int rc;
    sqlite3_stmt *st = db_query_id(db, RUN_SELECT " WHERE id = :id", run_id, &rc);
    json_t *run, *cases = NULL;

    if (st == NULL)
        return rc;
    run = db_row_json(st);
    sqlite3_finalize(st);
    if (run == NULL)
        return -1;
    if (waits_attach(db, run) == -1) {
        json_decref(run);
        return -1;
    }
    if (with_cases) {
        st = db_prepare(db, "SELECT case_name AS \"case\", count(*) AS n, sum(ok) AS ok,"
                            " sum(coalesce(passed, ok)) AS passed,"
                            " avg(completion_tokens) AS completion_tokens,"
                            " avg(decode_tps) AS decode_tps_mean,"
                            " min(decode_tps) AS decode_tps_min,"
                            " max(decode_tps) AS decode_tps_max,"
                            " avg(e2e_tps) AS e2e_tps_mean, avg(ttft_ms) AS ttft_ms_mean,"
                            " avg(e2e_ms) AS e2e_ms_mean"
                            " FROM samples WHERE run_id = :id AND warmup = 0"
                            " GROUP BY case_name ORDER BY min(seq)");
        if (st != NULL)
            db_bind_int(st, ":id", run_id);
        if (st == NULL || db_rows_json(db, st, &cases) == -1) {
            json_decref(run);
            return -1;
        }
        json_object_set_new(run, "cases", cases);
    }
    *out = run;
    return 0;
}

int
runs_list(struct db *db, int64_t job_id, int64_t before, int limit, json_t **out)
{
    char sql[sizeof(RUN_SELECT) + 96];
    sqlite3_stmt *st;

    /* A filter only when given: "(:job <= 0 OR job_id = :job)" hid the
     * index from SQLite, and a job's runs were found by scanning them all. */
    snprintf(sql, sizeof(sql), RUN_SELECT " WHERE 1%s%s ORDER BY id DESC LIMIT :limit",
             job_id > 0 ? " AND job_id = :job" : "", before > 0 ? " AND id < :before" : "");
    st = db_prepare(db, sql);
    if (st == NULL)
        return -1;
    if (job_id > 0)
        db_bind_int(st, ":job", job_id);
    if (before > 0)
        db_bind_int(st, ":before", before);
    db_bind_int(st, ":limit", limit);
    if (db_rows_json(db, st, out) == -1)
        return -1;
    if (waits_attach(db, *out) == -1) {
        json_decref(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* The figures' columns (sample_fields.h); a flag as a JSON boolean. */
#define SF_SELECT_I64(name) " " #name ","
#define SF_SELECT_I64S(name) " " #name ","
#define SF_SELECT_REAL(name) " " #name ","
#define SF_SELECT_BOOL(name)                                                                   \
    " CASE " #name " WHEN 1 THEN 'true' ELSE 'false' END AS " #name "_json,"
#define SAMPLE_SELECT_COLUMN(name, type, flags) SF_SELECT_##type(name)
#define SAMPLE_SELECT                                                                          \
    "SELECT id, run_id, seq, case_name AS \"case\", repetition, slot,"                         \
    " CASE warmup WHEN 1 THEN 'true' ELSE 'false' END AS warmup_json, "                        \
    "started_at," SAMPLE_FIGURES(                                                              \
        SAMPLE_SELECT_COLUMN) " finish_reason,"                                                \
                              " CASE ok WHEN 1 THEN 'true' ELSE 'false' END AS ok_json,"       \
                              " CASE passed WHEN 1 THEN 'true' WHEN 0 THEN 'false' END AS "    \
                              "passed_json,"                                                   \
                              " error_code, error_detail, server_stats AS server_stats_json"   \
                              " FROM samples WHERE run_id = :run AND seq > :after ORDER BY "   \
                              "seq LIMIT :limit"

static sqlite3_stmt *
samples_stmt(struct db *db, int64_t run_id, int64_t after_seq, int limit)
{
    sqlite3_stmt *st = db_prepare(db, SAMPLE_SELECT);

    if (st == NULL)
        return NULL;
    db_bind_int(st, ":run", run_id);
    db_bind_int(st, ":after", after_seq);
    db_bind_int(st, ":limit", limit);
    return st;
}

int
samples_list(struct db *db, int64_t run_id, int64_t after_seq, int limit, json_t **out)
{
    sqlite3_stmt *st = samples_stmt(db, run_id, after_seq, limit);

    if (st == NULL)
        return -1;
    return db_rows_json(db, st, out);
}

int
samples_page_text(struct db *db, int64_t run_id, int64_t after_seq, int limit, char **text,
                  size_t *len)
{
    sqlite3_stmt *st = samples_stmt(db, run_id, after_seq, limit);
    struct jtext b = JTEXT_INIT(SAMPLES_TEXT_MAX);
    int64_t last = -1;
    int n = 0, step;

    *text = NULL;
    *len = 0;
    if (st == NULL)
        return -1;
    jt_lit(&b, "{\"samples\":[");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ > 0)
            jt_put(&b, ",", 1);
        db_row_text(st, &b);
        last = sqlite3_column_int64(st, 2);
    }
    if (step != SQLITE_DONE)
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
    sqlite3_finalize(st);
    jt_lit(&b, "],\"next_after\":");
    if (n == limit && n > 0)
        jt_int(&b, last);
    else
        jt_lit(&b, "null");
    jt_put(&b, "}", 1);
    if (step == SQLITE_DONE && b.full)
        snprintf(db->err, sizeof(db->err),
                 "samples answer larger than %d bytes or out of memory", SAMPLES_TEXT_MAX);
    if (step != SQLITE_DONE || b.full) {
        free(b.p);
        return -1;
    }
    *text = b.p;
    *len = b.len;
    return 0;
}

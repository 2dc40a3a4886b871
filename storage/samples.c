/* samples.c - see samples.h. */
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
sample_rec_init(struct sample_rec *s)
{
    memset(s, 0, sizeof(*s));
    s->id = s->run_id = s->seq = -1;
    s->sched_delay_us = s->ttfb_us = s->ttfr_us = s->ttft_us = -1;
    s->t_last_us = s->t_done_us = -1;
    s->prompt_tokens = s->completion_tokens = s->reasoning_tokens = -1;
    s->n_events = -1;
    s->ttft_ms = s->decode_tps = s->e2e_tps = s->prompt_tps = s->tpot_ms = NAN;
    s->itl_p50_ms = s->itl_p90_ms = s->itl_p99_ms = s->itl_max_ms = s->e2e_ms = NAN;
    s->passed = -1;
}

void
sample_rec_free(struct sample_rec *s)
{
    free(s->server_stats);
    free(s->event_us);
    sample_rec_init(s);
}

static void
bind_opt_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    if (v < 0)
        db_bind_null(st, name);
    else
        db_bind_int(st, name, v);
}

static const char insert_sql[] =
    "INSERT INTO samples (run_id, seq, case_name, repetition, slot, warmup, started_at,"
    " sched_delay_us, ttfb_us, ttfr_us, ttft_us, t_last_us, t_done_us, prompt_tokens,"
    " completion_tokens, reasoning_tokens, tokens_estimated, n_events, ttft_ms,"
    " decode_tps, e2e_tps, prompt_tps, tpot_ms, itl_p50_ms, itl_p90_ms, itl_p99_ms,"
    " itl_max_ms, e2e_ms, finish_reason, ok, passed, error_code, error_detail,"
    " server_stats, event_us)"
    " VALUES (:run_id, :seq, :case_name, :repetition, :slot, :warmup, :started_at,"
    " :sched_delay_us, :ttfb_us, :ttfr_us, :ttft_us, :t_last_us, :t_done_us,"
    " :prompt_tokens, :completion_tokens, :reasoning_tokens, :tokens_estimated,"
    " :n_events, :ttft_ms, :decode_tps, :e2e_tps, :prompt_tps, :tpot_ms, :itl_p50_ms,"
    " :itl_p90_ms, :itl_p99_ms, :itl_max_ms, :e2e_ms, :finish_reason, :ok, :passed,"
    " :error_code, :error_detail, :server_stats, :event_us)"
    " ON CONFLICT (run_id, seq) DO NOTHING";

/* Bind s to the prepared insert_sql (reset first) and step it: 0 stored
 * (s->id set), 1 already stored, -1 on error (db->err). */
static int
insert_one(struct db *db, sqlite3_stmt *st, struct sample_rec *s)
{
    unsigned char *blob = NULL;
    size_t i;
    int rc = -1;

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    db_bind_int(st, ":run_id", s->run_id);
    db_bind_int(st, ":seq", s->seq);
    db_bind_text(st, ":case_name", s->case_name);
    db_bind_int(st, ":repetition", s->repetition);
    db_bind_int(st, ":slot", s->slot);
    db_bind_int(st, ":warmup", s->warmup);
    db_bind_int(st, ":started_at", s->started_at);
    if (s->sched_delay_us == -1)
        db_bind_null(st, ":sched_delay_us");
    else
        db_bind_int(st, ":sched_delay_us", s->sched_delay_us);
    bind_opt_int(st, ":ttfb_us", s->ttfb_us);
    bind_opt_int(st, ":ttfr_us", s->ttfr_us);
    bind_opt_int(st, ":ttft_us", s->ttft_us);
    bind_opt_int(st, ":t_last_us", s->t_last_us);
    bind_opt_int(st, ":t_done_us", s->t_done_us);
    bind_opt_int(st, ":prompt_tokens", s->prompt_tokens);
    bind_opt_int(st, ":completion_tokens", s->completion_tokens);
    bind_opt_int(st, ":reasoning_tokens", s->reasoning_tokens);
    db_bind_int(st, ":tokens_estimated", s->tokens_estimated);
    bind_opt_int(st, ":n_events", s->n_events);
    db_bind_real_or_null(st, ":ttft_ms", s->ttft_ms);
    db_bind_real_or_null(st, ":decode_tps", s->decode_tps);
    db_bind_real_or_null(st, ":e2e_tps", s->e2e_tps);
    db_bind_real_or_null(st, ":prompt_tps", s->prompt_tps);
    db_bind_real_or_null(st, ":tpot_ms", s->tpot_ms);
    db_bind_real_or_null(st, ":itl_p50_ms", s->itl_p50_ms);
    db_bind_real_or_null(st, ":itl_p90_ms", s->itl_p90_ms);
    db_bind_real_or_null(st, ":itl_p99_ms", s->itl_p99_ms);
    db_bind_real_or_null(st, ":itl_max_ms", s->itl_max_ms);
    db_bind_real_or_null(st, ":e2e_ms", s->e2e_ms);
    db_bind_text(st, ":finish_reason", s->finish_reason[0] ? s->finish_reason : NULL);
    db_bind_int(st, ":ok", s->ok);
    if (s->passed < 0)
        db_bind_null(st, ":passed");
    else
        db_bind_int(st, ":passed", s->passed);
    db_bind_text(st, ":error_code", s->error_code[0] ? s->error_code : NULL);
    db_bind_text(st, ":error_detail", s->error_detail[0] ? s->error_detail : NULL);
    db_bind_text(st, ":server_stats", s->server_stats);
    if (s->n_event_us > 0) {
        blob = malloc(s->n_event_us * 4);
        if (blob == NULL) {
            snprintf(db->err, sizeof(db->err), "out of memory");
            return -1;
        }
        for (i = 0; i < s->n_event_us; i++) { /* little-endian on every host */
            blob[4 * i] = (unsigned char)(s->event_us[i]);
            blob[4 * i + 1] = (unsigned char)(s->event_us[i] >> 8);
            blob[4 * i + 2] = (unsigned char)(s->event_us[i] >> 16);
            blob[4 * i + 3] = (unsigned char)(s->event_us[i] >> 24);
        }
    }
    db_bind_blob(st, ":event_us", blob, s->n_event_us * 4);
    if (db_step_done(db, st) == -1)
        goto out;
    if (sqlite3_changes(db->h) == 0) {
        rc = 1;
    } else {
        s->id = sqlite3_last_insert_rowid(db->h);
        rc = 0;
    }
out:
    free(blob);
    return rc;
}

int
samples_insert(struct db *db, struct sample_rec *s)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (db_begin(db) == -1)
        return -1;
    st = db_prepare(db, insert_sql);
    if (st == NULL)
        goto out;
    rc = insert_one(db, st, s);
out:
    sqlite3_finalize(st);
    if (db_end(db, rc != -1) == -1)
        rc = -1;
    return rc;
}

int
samples_insert_many(struct db *db, struct sample_rec *s, size_t n, size_t *stored)
{
    sqlite3_stmt *st = NULL;
    size_t i, k = 0;
    int rc = -1, got;

    if (stored != NULL)
        *stored = 0;
    if (db_begin(db) == -1)
        return -1;
    st = db_prepare(db, insert_sql);
    if (st == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        got = insert_one(db, st, &s[i]);
        if (got == -1)
            goto out;
        k += got == 0;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (db_end(db, rc == 0) == -1)
        rc = -1;
    if (rc == 0 && stored != NULL)
        *stored = k;
    return rc;
}

int64_t
samples_count(struct db *db, int64_t run_id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM samples WHERE run_id = :r");
    int64_t n = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int
samples_have_seq(struct db *db, int64_t run_id, int64_t seq)
{
    sqlite3_stmt *st =
        db_prepare(db, "SELECT 1 FROM samples WHERE run_id = :r AND seq = :s");
    int rc = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    db_bind_int(st, ":s", seq);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : -1;
}

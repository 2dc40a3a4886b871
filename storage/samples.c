/*
 * samples.c - storing measured requests. The INSERT, its named parameters
 * and the binds of the figures are generated from SAMPLE_FIGURES
 * (sample_fields.h), so a new figure needs no edit here; the identity and
 * outcome columns (run, seq, case, error, server stats, event offsets) are
 * written out. The event offsets go in as one little-endian blob of 32-bit
 * microseconds, the same on every host.
 */
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The figures as a table at run time (storage/sample_fields.h). */
#define SAMPLE_FIELD(name, type, flags) {#name, SF_##type, flags},
const struct sample_field sample_fields[] = {SAMPLE_FIGURES(SAMPLE_FIELD)};
#undef SAMPLE_FIELD
const size_t sample_fields_n = sizeof(sample_fields) / sizeof(sample_fields[0]);

/* "Unknown" of each kind: -1 for integers, NAN for reals, 0 for flags. */
#define SF_UNKNOWN_I64 -1
#define SF_UNKNOWN_I64S -1
#define SF_UNKNOWN_REAL NAN
#define SF_UNKNOWN_BOOL 0

void
sample_rec_init(struct sample_rec *s)
{
    memset(s, 0, sizeof(*s));
    s->id = s->run_id = s->seq = -1;
#define SAMPLE_INIT(name, type, flags) s->name = SF_UNKNOWN_##type;
    SAMPLE_FIGURES(SAMPLE_INIT)
#undef SAMPLE_INIT
    s->passed = -1;
}

void
sample_rec_free(struct sample_rec *s)
{
    free(s->server_stats);
    free(s->event_us);
    sample_rec_init(s);
}

/* Bind one figure as its kind stores it (sample_fields.h). */
static void
bind_i64(sqlite3_stmt *st, const char *name, int64_t v)
{
    db_bind_int_or_null(st, name, v, v >= 0);
}

static void
bind_i64s(sqlite3_stmt *st, const char *name, int64_t v)
{
    db_bind_int_or_null(st, name, v, v != -1);
}

#define bind_real db_bind_real_or_null
#define bind_bool db_bind_int
#define SF_BIND_I64 bind_i64
#define SF_BIND_I64S bind_i64s
#define SF_BIND_REAL bind_real
#define SF_BIND_BOOL bind_bool

#define SAMPLE_COLUMN(name, type, flags) " " #name ","
#define SAMPLE_PARAM(name, type, flags) " :" #name ","
static const char insert_sql[] =
    "INSERT INTO samples (run_id, seq, case_name, repetition, slot, warmup, "
    "started_at," SAMPLE_FIGURES(
        SAMPLE_COLUMN) " finish_reason, ok, passed, error_code, error_detail, server_stats, "
                       "event_us)"
                       " VALUES (:run_id, :seq, :case_name, :repetition, :slot, :warmup, "
                       ":started_at," SAMPLE_FIGURES(
                           SAMPLE_PARAM) " :finish_reason, :ok, :passed, :error_code, "
                                         ":error_detail, :server_stats, :event_us)"
                                         " ON CONFLICT (run_id, seq) DO NOTHING";
#undef SAMPLE_COLUMN
#undef SAMPLE_PARAM

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
#define SAMPLE_BIND(name, type, flags) SF_BIND_##type(st, ":" #name, s->name);
    SAMPLE_FIGURES(SAMPLE_BIND)
#undef SAMPLE_BIND
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

/* The insert is prepared once per connection (db_prepare_cached): preparing
 * it compiled the history trigger each time, ~4x the cost of the insert. */
int
samples_insert(struct db *db, struct sample_rec *s)
{
    sqlite3_stmt *st;
    int rc;

    if (db_begin(db) == -1)
        return -1;
    st = db_prepare_cached(db, insert_sql);
    rc = st == NULL ? -1 : insert_one(db, st, s);
    db_cached_release(st);
    /* 1 (already stored) commits too: a COMMIT is what tells db_write_state
     * that the database takes writes again. */
    if (db_end(db, rc != -1) == -1)
        rc = -1;
    return rc;
}

int
samples_insert_many(struct db *db, struct sample_rec *s, size_t n, size_t *stored)
{
    sqlite3_stmt *st;
    size_t i, k = 0;
    int rc = 0, got;

    if (stored != NULL)
        *stored = 0;
    if (db_begin(db) == -1)
        return -1;
    st = db_prepare_cached(db, insert_sql);
    if (st == NULL)
        rc = -1;
    for (i = 0; i < n && rc == 0; i++) {
        got = insert_one(db, st, &s[i]);
        if (got == -1)
            rc = -1;
        k += got == 0;
    }
    db_cached_release(st);
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
    return db_one_int(db, st, &n) == 0 ? n : -1;
}

int
samples_have_seq(struct db *db, int64_t run_id, int64_t seq)
{
    static const char sql[] = "SELECT 1 FROM samples WHERE run_id = :r AND seq = :s";
    sqlite3_stmt *st = db_prepare_cached(db, sql); /* asked before every request */
    int rc;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    db_bind_int(st, ":s", seq);
    rc = db_step_row(db, st);
    db_cached_release(st);
    return rc == -1 ? -1 : rc == 0;
}

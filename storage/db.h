/*
 * db.h - the SQLite database: open, migrate, and a thin statement wrapper.
 *
 * One `struct db` is one connection and belongs to one thread at a time. The
 * writer (the worker) and each reader (API threads) open their own. Every
 * write transaction starts with BEGIN IMMEDIATE. storage/ includes nothing of
 * ours but its own headers; all SQL of tpsd lives in storage/.
 */
#ifndef TPSD_DB_H
#define TPSD_DB_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/jsontext.h"

#define DB_ERR_MAX 512

struct db {
    sqlite3 *h;
    char path[1024];
    char err[DB_ERR_MAX]; /* last error, for the caller's message */
};

/*
 * Open (creating if needed) the database at `path`, in WAL mode with foreign
 * keys on, synchronous=FULL and a busy timeout, and migrate it to the newest
 * schema. A database newer than this binary is refused and left untouched;
 * a failed migration step leaves the database at its old version.
 * Returns the handle, or NULL with a message in `err` (errlen bytes).
 */
struct db *db_open(const char *path, char *err, size_t errlen);
/* Like db_open but migrate no further than `version` (tests, tools). */
struct db *db_open_version(const char *path, int version, char *err, size_t errlen);
/* Checkpoint the WAL (TRUNCATE) and close. NULL is fine. */
void db_close(struct db *db);

/* The schema version this binary writes. */
int db_schema_version(void);
/* The database's PRAGMA user_version, or -1. */
int db_user_version(struct db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. 0 or -1 (message in db->err). */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Prepare `sql`; NULL on error (message in db->err). Finalize with sqlite3_finalize. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);
/* Execute SQL with no results. 0 or -1. */
int db_exec(struct db *db, const char *sql);

/* Bind by name (":name"); a name the statement lacks is a programming error
 * (fatal). Text and blobs are copied. NULL text binds NULL. */
void db_bind_int(sqlite3_stmt *st, const char *name, int64_t v);
void db_bind_double(sqlite3_stmt *st, const char *name, double v);
void db_bind_text(sqlite3_stmt *st, const char *name, const char *v);
void db_bind_blob(sqlite3_stmt *st, const char *name, const void *p, size_t n);
void db_bind_null(sqlite3_stmt *st, const char *name);
/* Bind v, or NULL when v is NaN. */
void db_bind_real_or_null(sqlite3_stmt *st, const char *name, double v);

/* Step a statement expected to finish (INSERT/UPDATE/DELETE): 0 or -1. */
int db_step_done(struct db *db, sqlite3_stmt *st);
/* Copy of column text, or NULL. Caller frees. */
char *db_col_strdup(sqlite3_stmt *st, int col);

/* The current row as a JSON object keyed by column name (integers, reals,
 * text; NULL as null; blobs omitted). Columns whose name ends in "_json"
 * are parsed and embedded under the name without the suffix. New ref. */
json_t *db_row_json(sqlite3_stmt *st);
/*
 * Every remaining row of st as db_row_json objects, in a new array in
 * *out; st is finalized either way. Returns 0, or -1 with db->err set when
 * a step fails (*out untouched).
 */
int db_rows_json(struct db *db, sqlite3_stmt *st, json_t **out);
/* The same object as db_row_json, written as JSON text into b (reals as
 * jt_num writes them; a "_json" column that does not parse becomes a
 * string). */
void db_row_text(sqlite3_stmt *st, struct jtext *b);

/* PRAGMA integrity_check == "ok": 0, else -1 with the report in db->err. */
int db_integrity_check(struct db *db);
/* A number that changes whenever any connection commits (ETag source). */
int64_t db_data_version(struct db *db);

/* Default database path: macOS ~/Library/Application Support/tpsd/tpsd.db,
 * elsewhere $XDG_DATA_HOME/tpsd/tpsd.db (~/.local/share). Creates the
 * folder. 0, or -1 when no home is known. */
int db_default_path(char *buf, size_t len);

#endif

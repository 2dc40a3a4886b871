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

/*
 * A write that finds the database locked by another connection: SQLite's
 * busy handler waits up to DB_BUSY_TIMEOUT_MS for the lock (one attempt);
 * a connection with a retry budget (db_set_retry) then tries again, with a
 * backoff from DB_RETRY_FIRST_MS doubling to DB_RETRY_MAX_MS, until the
 * budget is spent or its stop function says stop.
 */
#define DB_BUSY_TIMEOUT_MS 5000
#define DB_RETRY_FIRST_MS 100
#define DB_RETRY_MAX_MS 2000
#define DB_STOP_POLL_MS 100 /* waits check the stop function this often */

/* Statements a connection keeps prepared (db_prepare_cached): the writes
 * made once per sample or request, whose preparing (parsing the SQL and
 * compiling the triggers it fires) cost more than running them, and the
 * transaction statements (BEGIN IMMEDIATE, SAVEPOINT, RELEASE, COMMIT). */
#define DB_STMT_CACHE_MAX 16

struct db {
    sqlite3 *h;
    char path[1024];
    char err[DB_ERR_MAX]; /* last error, for the caller's message */
    int errcode;          /* SQLite primary code of the last failed write, 0: none */
    int64_t retry_ms;     /* how long a write may wait for a lock in all (0: one attempt) */
    int (*stop)(void *);  /* NULL, or 1 when a wait should give up now */
    void *stop_arg;
    int64_t busy_since_ms; /* the busy handler's current wait began (monotonic) */
    struct {
        const char *sql; /* the key: the address of a static string */
        sqlite3_stmt *st;
    } cache[DB_STMT_CACHE_MAX];
    size_t n_cache;
    int batch;      /* inside db_batch_begin: db_begin/db_end are savepoints */
    int from_image; /* db_open created the file from the schema's image (dbimage.h) */
};

/* What the process last learnt of the database's writability (every
 * connection reports here): for /v1/healthz. */
enum db_write_state {
    DB_WRITE_OK,
    DB_WRITE_LOCKED,    /* a write is waiting for a lock another connection holds */
    DB_WRITE_READ_ONLY, /* refused: the file or its folder cannot be written */
    DB_WRITE_FAILED,    /* refused: disk full, I/O error */
};

/*
 * Open (creating if needed) the database at `path`, in WAL mode with foreign
 * keys on, synchronous=FULL and a busy timeout, and migrate it to the newest
 * schema. A path that does not exist yet is created in one step from the
 * newest schema's image (storage/dbimage.h; db->from_image says so); an
 * existing database migrates step by step. A database newer than this
 * binary is refused and left untouched; a failed migration step leaves the
 * database at its old version.
 * Returns the handle, or NULL with a message in `err` (errlen bytes).
 */
struct db *db_open(const char *path, char *err, size_t errlen);
/* Like db_open but migrate no further than `version`, always step by step,
 * never from the image (tests, tools, the image's own generator). */
struct db *db_open_version(const char *path, int version, char *err, size_t errlen);
/* Checkpoint the WAL (TRUNCATE) and close. NULL is fine. */
void db_close(struct db *db);
/* Free the connection's page cache and lookaside memory that no statement
 * holds (sqlite3_db_release_memory): for a connection kept open through
 * an idle period. Call from the thread that uses it. NULL is fine. */
void db_release_memory(struct db *db);

/* The schema version this binary writes. */
int db_schema_version(void);
/* The database's PRAGMA user_version, or -1. */
int db_user_version(struct db *db);

/*
 * BEGIN IMMEDIATE. When another connection holds the write lock past the
 * busy timeout, tries again with backoff for as long as db->retry_ms
 * allows (db_set_retry) and db->stop does not ask to stop. 0, or -1 with
 * the message in db->err and the SQLite code in db->errcode.
 */
int db_begin(struct db *db);
/*
 * End the transaction db_begin started: COMMIT when `commit` is true (a
 * COMMIT refused as busy is tried again within the same budget as
 * db_begin's), else ROLLBACK. Returns -1 only when a COMMIT was asked for
 * and failed (the transaction is then rolled back, db->err says why);
 * else 0. The one tail of every write in storage/:
 *     if (db_end(db, rc == 0) == -1) rc = -1;
 */
int db_end(struct db *db, int commit);
/*
 * One outer transaction around many storage writes: between
 * db_batch_begin (BEGIN IMMEDIATE) and db_batch_end (COMMIT when `commit`
 * is true, else ROLLBACK), every db_begin/db_end pair is a SAVEPOINT and
 * its RELEASE (ROLLBACK TO on failure), so each write keeps its own
 * all-or-nothing while the whole batch commits once. 0, or -1 (db->err).
 */
int db_batch_begin(struct db *db);
int db_batch_end(struct db *db, int commit);
/* COMMIT (db_end(db, 1)); ROLLBACK when a transaction is open. */
int db_commit(struct db *db);
void db_rollback(struct db *db);
/*
 * Let writes on this connection wait for a lock held by another connection
 * up to `retry_ms` in all (0: one busy timeout), giving up early when
 * stop(arg) returns 1 (checked every DB_STOP_POLL_MS; stop may be NULL).
 * The worker gives its connection a budget; API connections keep one
 * attempt so that a request answers 503 within its deadline.
 */
void db_set_retry(struct db *db, int64_t retry_ms, int (*stop)(void *), void *arg);
/* The SQLite primary result code of the last failure on this connection
 * (SQLITE_BUSY, SQLITE_READONLY, SQLITE_FULL ...): the code of the last
 * failed call when SQLite still has it, else that of the last failed
 * write (a ROLLBACK clears SQLite's own). 0 when none. */
int db_errcode(struct db *db);
/* 1 when SQLite opened this connection read-only (the file cannot be
 * written by this user), else 0. */
int db_readonly(struct db *db);
/* The process's writability as last seen by any connection. */
enum db_write_state db_write_state(void);
/*
 * Whether this connection can write: 0, or -1 with the cause in db->err
 * ("... is read-only for this user", "... is on a read-only filesystem",
 * "... is locked by another process") and db->errcode set. A real probe:
 * BEGIN IMMEDIATE then ROLLBACK (one busy timeout at most); nothing is
 * written.
 */
int db_check_writable(struct db *db);

/* Prepare `sql`; NULL on error (message in db->err). Finalize with sqlite3_finalize. */
sqlite3_stmt *db_prepare(struct db *db, const char *sql);
/*
 * The statement for `sql`, prepared once on this connection
 * (SQLITE_PREPARE_PERSISTENT) and kept until db_close: `sql` must be a
 * string of static storage, its address is the key. It comes reset with no
 * bindings; the caller binds and steps it, then hands it back with
 * db_cached_release and never finalizes it. A schema change re-prepares it
 * inside sqlite3_step, as for any statement. NULL on error (db->err); more
 * than DB_STMT_CACHE_MAX distinct statements is a programming error (fatal).
 */
sqlite3_stmt *db_prepare_cached(struct db *db, const char *sql);
/* Reset a db_prepare_cached statement and clear its bindings (their
 * copies of text are freed, its read of the database ends). NULL is fine. */
void db_cached_release(sqlite3_stmt *st);
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

/*
 * The shapes every storage file repeated, as helpers.
 *
 * A one-statement write: db_begin_prepare BEGINs and prepares `sql` (NULL
 * when either fails, nothing left open, db->err says why); the caller binds
 * and steps; db_end_stmt finalizes st (NULL is fine) and ends the
 * transaction, committing only when rc == 0 (a call that wants its
 * no-change outcome committed too, so that db_write_state hears of a
 * working COMMIT, ends with db_end itself). It returns rc, or -1 when the
 * COMMIT failed:
 *     st = db_begin_prepare(db, sql);  ...binds...
 *     return db_end_stmt(db, st, db_step_done(db, st));
 */
sqlite3_stmt *db_begin_prepare(struct db *db, const char *sql);
int db_end_stmt(struct db *db, sqlite3_stmt *st, int rc);
/* Step st once: 0 on a row, 1 when done, -1 on error with db->err set. */
int db_step_row(struct db *db, sqlite3_stmt *st);
/* One integer from st (prepared and bound): column 0 of its first row in
 * *v. Finalizes st. 0, 1 when there is no row (*v untouched), or -1 with
 * db->err set. */
int db_one_int(struct db *db, sqlite3_stmt *st, int64_t *v);
/* Column col as an integer, or null_value when it is NULL. */
int64_t db_col_int_or(sqlite3_stmt *st, int col, int64_t null_value);
/* Column col as a real, or NaN when it is NULL. */
double db_col_real_or_nan(sqlite3_stmt *st, int col);
/* Bind v when `have`, else NULL. */
void db_bind_int_or_null(sqlite3_stmt *st, const char *name, int64_t v, int have);

/*
 * Prepare sql, bind id to ":id" and step once. Returns the statement on
 * its first row with *rc = 0 (the caller finalizes it); else NULL with *rc
 * 1 (no row) or -1 (db->err says why).
 */
sqlite3_stmt *db_query_id(struct db *db, const char *sql, int64_t id, int *rc);
/* Call fn(arg, st) on every row of st (prepared and bound) until it
 * returns non-zero; finalizes st. 0, or -1 when a step failed (db->err). */
int db_each_row(struct db *db, sqlite3_stmt *st, int (*fn)(void *arg, sqlite3_stmt *st),
                void *arg);

#endif

/* db.c - see db.h. */
#include "storage/db.h"

#include "storage/dbimage.h"
#include "storage/history.h"

#include <jansson.h>

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

extern const char tpsd_schema_sql[];

#define DB_MIGRATE_TAG "-- migrate: "
#define DB_DIAG_MAX 1024 /* a path and a reason */

/* All file-static state: the writability every connection reports. */
static struct {
    atomic_int write_state; /* enum db_write_state */
} db_g;

static void db_seterr(struct db *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
db_seterr(struct db *db, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(db->err, sizeof(db->err), fmt, ap);
    va_end(ap);
}

/* Find migration step n in the embedded schema (its text and length). 0 or -1. */
static int
schema_step(int n, const char **start, size_t *len)
{
    char tag[32];
    const char *p, *end;

    snprintf(tag, sizeof(tag), "\n" DB_MIGRATE_TAG "%d\n", n);
    p = strstr(tpsd_schema_sql, tag);
    if (p == NULL)
        return -1;
    p += strlen(tag);
    end = strstr(p, "\n" DB_MIGRATE_TAG);
    if (end == NULL)
        end = p + strlen(p);
    *start = p;
    *len = (size_t)(end - p);
    return 0;
}

int
db_schema_version(void)
{
    static atomic_int cached; /* 0: not counted yet (the schema has step 1) */
    const char *s;
    size_t len;
    int n = atomic_load(&cached);

    if (n > 0)
        return n;
    while (schema_step(n + 1, &s, &len) == 0)
        n++;
    atomic_store(&cached, n);
    return n;
}

int
db_user_version(struct db *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

int
db_exec(struct db *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        db_seterr(db, "%s", msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep `ms`, in slices of DB_STOP_POLL_MS; 1 when db->stop said stop. */
static int
nap(struct db *db, int64_t ms)
{
    struct timespec ts;
    int64_t slice;

    while (ms > 0) {
        if (db->stop != NULL && db->stop(db->stop_arg))
            return 1;
        slice = ms < DB_STOP_POLL_MS ? ms : DB_STOP_POLL_MS;
        ts.tv_sec = (time_t)(slice / 1000);
        ts.tv_nsec = (long)(slice % 1000) * 1000000;
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return db->stop != NULL && db->stop(db->stop_arg);
}

/* What a failed write's code says of the database (tables over ifs). */
static void
note_code(int code)
{
    static const struct {
        int code;
        enum db_write_state state;
    } map[] = {
        {SQLITE_BUSY, DB_WRITE_LOCKED},        {SQLITE_LOCKED, DB_WRITE_LOCKED},
        {SQLITE_READONLY, DB_WRITE_READ_ONLY}, {SQLITE_CANTOPEN, DB_WRITE_READ_ONLY},
        {SQLITE_PERM, DB_WRITE_READ_ONLY},     {SQLITE_FULL, DB_WRITE_FAILED},
        {SQLITE_IOERR, DB_WRITE_FAILED},
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].code == code)
            atomic_store(&db_g.write_state, (int)map[i].state);
}

int
db_readonly(struct db *db)
{
    return sqlite3_db_readonly(db->h, "main") == 1;
}

enum db_write_state
db_write_state(void)
{
    return (enum db_write_state)atomic_load(&db_g.write_state);
}

/*
 * SQLite's busy handler for every connection: wait for a lock in growing
 * naps (1, 2, 4 ... 100 ms) up to DB_BUSY_TIMEOUT_MS, as
 * sqlite3_busy_timeout would, but give up as soon as db->stop says so
 * (cancel and SIGTERM must not wait for another process's lock).
 */
static int
busy_handler(void *arg, int count)
{
    struct db *db = arg;
    int64_t now = mono_ms(), step = (int64_t)1 << (count < 7 ? count : 7);

    if (count == 0)
        db->busy_since_ms = now;
    if (now - db->busy_since_ms >= DB_BUSY_TIMEOUT_MS)
        return 0;
    if (now - db->busy_since_ms >= 1000)
        atomic_store(&db_g.write_state, DB_WRITE_LOCKED);
    if (step > DB_STOP_POLL_MS)
        step = DB_STOP_POLL_MS;
    return nap(db, step) ? 0 : 1;
}

void
db_set_retry(struct db *db, int64_t retry_ms, int (*stop)(void *), void *arg)
{
    db->retry_ms = retry_ms > 0 ? retry_ms : 0;
    db->stop = stop;
    db->stop_arg = arg;
}

int
db_errcode(struct db *db)
{
    int c = db->h != NULL ? sqlite3_errcode(db->h) & 0xff : SQLITE_CANTOPEN;

    if (c != SQLITE_OK && c != SQLITE_ROW && c != SQLITE_DONE)
        return c;
    return db->errcode;
}

/* The transaction statements exec_retry runs, by enum db_tx: prepared once
 * per connection (db_prepare_cached) rather than parsed again by
 * sqlite3_exec for every sample's BEGIN, SAVEPOINT, RELEASE and COMMIT. */
enum db_tx { DB_TX_BEGIN, DB_TX_SAVEPOINT, DB_TX_RELEASE, DB_TX_COMMIT };
static const char *const db_tx_sql[] = {
    "BEGIN IMMEDIATE",
    "SAVEPOINT tpsd_batch",
    "RELEASE tpsd_batch",
    "COMMIT",
};

/* Run transaction statement `which` once: SQLITE_OK, or SQLite's code with
 * its message in db->err. The statement is reset whatever happened. */
static int
tx_step(struct db *db, enum db_tx which)
{
    sqlite3_stmt *st = db_prepare_cached(db, db_tx_sql[which]);
    int rc;

    if (st == NULL) {
        rc = sqlite3_errcode(db->h);
        return rc != SQLITE_OK ? rc : SQLITE_ERROR;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    else
        db_seterr(db, "%s", sqlite3_errmsg(db->h));
    db_cached_release(st);
    return rc;
}

/*
 * Run `which` (BEGIN IMMEDIATE or COMMIT, or a batch's SAVEPOINT or
 * RELEASE); while it fails as busy, try again after a backoff, for as long
 * as the connection's budget and its stop function allow. A COMMIT refused
 * as busy leaves the transaction open (sqlite.org/lang_transaction.html),
 * so it may be retried as it is.
 */
static int
exec_retry(struct db *db, enum db_tx which)
{
    int64_t t0 = mono_ms(), backoff = DB_RETRY_FIRST_MS;
    int rc, code, tries = 0;

    for (;;) {
        rc = tx_step(db, which);
        if (rc == SQLITE_OK)
            return 0;
        code = rc & 0xff;
        db->errcode = code;
        note_code(code);
        if (code != SQLITE_BUSY && code != SQLITE_LOCKED)
            return -1;
        tries++;
        if (mono_ms() - t0 + backoff > db->retry_ms || nap(db, backoff))
            break;
        backoff = backoff * 2 < DB_RETRY_MAX_MS ? backoff * 2 : DB_RETRY_MAX_MS;
    }
    db_seterr(db, "database is locked by another connection (%d attempt%s over %lld ms)", tries,
              tries == 1 ? "" : "s", (long long)(mono_ms() - t0));
    return -1;
}

int
db_begin(struct db *db)
{
    db->errcode = 0;
    return exec_retry(db, db->batch ? DB_TX_SAVEPOINT : DB_TX_BEGIN);
}

/* End a db_begin inside a batch: RELEASE, or ROLLBACK TO and RELEASE. */
static int
savepoint_end(struct db *db, int commit)
{
    if (commit && exec_retry(db, DB_TX_RELEASE) == 0)
        return 0;
    sqlite3_exec(db->h, "ROLLBACK TO tpsd_batch; RELEASE tpsd_batch", NULL, NULL, NULL);
    return commit ? -1 : 0;
}

int
db_end(struct db *db, int commit)
{
    int code;

    if (sqlite3_get_autocommit(db->h))
        return commit ? -1 : 0; /* nothing open: a failed BEGIN, or SQLite rolled back */
    if (db->batch)
        return savepoint_end(db, commit);
    if (!commit) {
        /* Keep why the transaction failed: the ROLLBACK clears SQLite's code. */
        code = sqlite3_errcode(db->h) & 0xff;
        if (code != SQLITE_OK && code != SQLITE_ROW && code != SQLITE_DONE) {
            db->errcode = code;
            note_code(code);
        }
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        return 0;
    }
    if (exec_retry(db, DB_TX_COMMIT) == 0) {
        atomic_store(&db_g.write_state, DB_WRITE_OK);
        return 0;
    }
    if (!sqlite3_get_autocommit(db->h))
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int
db_batch_begin(struct db *db)
{
    if (db_begin(db) == -1)
        return -1;
    db->batch = 1;
    return 0;
}

int
db_batch_end(struct db *db, int commit)
{
    db->batch = 0;
    return db_end(db, commit);
}

int
db_commit(struct db *db)
{
    return db_end(db, 1);
}

void
db_rollback(struct db *db)
{
    db_end(db, 0);
}

/*
 * The connection's secure_delete (0, 1, or 2 for FAST; -1 unknown) in
 * *saved, then FAST for the migration steps: a step rebuilds what the
 * database holds anyway (a table copied, its old pages freed), and
 * zeroing every freed page (secure_delete = 1, Debian's SQLite default)
 * only multiplies the writes: step 17 on a year of hourly history frees
 * 97 MB, 6.5 s with it, 0.4 s with FAST (which zeroes only what is
 * written anyway). migrate_restore puts the setting back. Can't fail.
 */
static void
migrate_secure_fast(struct db *db, int *saved)
{
    sqlite3_stmt *st = db_prepare(db, "PRAGMA secure_delete");

    *saved = st != NULL && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (*saved == 1)
        sqlite3_exec(db->h, "PRAGMA secure_delete = FAST", NULL, NULL, NULL);
}

static void
migrate_restore(struct db *db, int saved)
{
    if (saved == 1)
        sqlite3_exec(db->h, "PRAGMA secure_delete = 1", NULL, NULL, NULL);
}

/* Run step `n` and set user_version = n in one IMMEDIATE transaction. */
static int
migrate_step(struct db *db, int n)
{
    const char *s;
    size_t len;
    char *sql = NULL, *msg = NULL;
    int rc = -1;

    if (schema_step(n, &s, &len) == -1) {
        db_seterr(db, "schema has no step %d", n);
        return -1;
    }
    sql = malloc(len + 64);
    if (sql == NULL) {
        db_seterr(db, "out of memory");
        return -1;
    }
    memcpy(sql, s, len);
    snprintf(sql + len, 64, ";\nPRAGMA user_version = %d;", n);
    if (db_begin(db) == -1)
        goto out;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        db_seterr(db, "migration to version %d failed: %s", n,
                  msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        db_end(db, 0);
        goto out;
    }
    if (db_end(db, 1) == -1)
        goto out;
    rc = 0;
out:
    free(sql);
    return rc;
}

/*
 * The real cause of a database that cannot be opened, read or written, for
 * a start-up message: another process's lock, a read-only filesystem, a
 * folder or file this user cannot write, a file that is not SQLite. `code`
 * is SQLite's primary result code, `msg` its message.
 */
static void
diagnose(const char *path, int code, const char *msg, char *out, size_t len)
{
    char dirbuf[DB_DIAG_MAX], *dir;
    struct statvfs vfs;
    int exists = access(path, F_OK) == 0;

    snprintf(dirbuf, sizeof(dirbuf), "%s", path);
    dir = dirname(dirbuf);
    switch (code) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        snprintf(out, len,
                 "%s is locked by another process (it holds the database exclusively, e.g. "
                 "with locking_mode=EXCLUSIVE): %s",
                 path, msg);
        return;
    case SQLITE_NOTADB:
        snprintf(out, len, "%s is not a tpsd database (not an SQLite file): %s", path, msg);
        return;
    case SQLITE_CORRUPT:
        snprintf(out, len, "%s is damaged: %s", path, msg);
        return;
    default:
        break;
    }
    if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
        snprintf(out, len,
                 "%s is on a read-only filesystem (tpsd writes it, and %s-wal and %s-shm "
                 "beside it): %s",
                 path, path, path, msg);
    else if (exists && access(path, R_OK) == -1)
        snprintf(out, len, "%s cannot be read by this user (%s): %s", path, strerror(errno),
                 msg);
    else if (access(dir, W_OK) == -1)
        snprintf(out, len,
                 "the folder %s cannot be written by this user (%s; SQLite creates %s-wal and "
                 "%s-shm there): %s",
                 dir, strerror(errno), path, path, msg);
    else if (exists && access(path, W_OK) == -1)
        snprintf(out, len, "%s is read-only for this user (%s): %s", path, strerror(errno),
                 msg);
    else
        snprintf(out, len, "cannot open %s: %s", path, msg);
}

int
db_check_writable(struct db *db)
{
    char msg[DB_ERR_MAX];
    int64_t keep = db->retry_ms;
    int code;

    if (sqlite3_db_readonly(db->h, "main") == 1) {
        code = SQLITE_READONLY;
        snprintf(msg, sizeof(msg), "SQLite opened it read-only");
    } else {
        db->retry_ms = 0; /* a probe: one busy timeout at most */
        code = db_begin(db) == 0 ? SQLITE_OK : db->errcode;
        db->retry_ms = keep;
        if (code == SQLITE_OK) {
            db_end(db, 0);
            return 0;
        }
        snprintf(msg, sizeof(msg), "%s", db->err);
    }
    diagnose(db->path, code, msg, db->err, sizeof(db->err));
    db->errcode = code;
    note_code(code);
    return -1;
}

/* Finalize the statements the connection keeps (db_prepare_cached's),
 * so that it can close. */
static void
db_finalize_all(struct db *db)
{
    while (db->n_cache > 0)
        sqlite3_finalize(db->cache[--db->n_cache].st);
}

/*
 * Open path and migrate it to `version`. With `image`, a path that does
 * not exist yet is first created from the newest schema's image
 * (dbimage_create); the open then finds it at that version and has no step
 * to take. Without, every step runs (db_open_version).
 */
static struct db *
db_open_at(const char *path, int version, int image, char *err, size_t errlen)
{
    struct db *db;
    int have, n, secure = -1;

    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(db->path, sizeof(db->path), "%s", path);
    db->from_image = image && dbimage_create(path) == 1;
    if (sqlite3_open_v2(path, &db->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        if (db->h == NULL)
            snprintf(err, errlen, "cannot open database %s: out of memory", path);
        else
            diagnose(path, sqlite3_errcode(db->h) & 0xff, sqlite3_errmsg(db->h), err, errlen);
        goto fail;
    }
    sqlite3_busy_handler(db->h, busy_handler, db);
    sqlite3_extended_result_codes(db->h, 1);
    /* The SQL functions the schema's triggers call. */
    if (history_sql_functions(db->h) == -1) {
        snprintf(err, errlen, "cannot set up %s: %s", path, sqlite3_errmsg(db->h));
        goto fail;
    }
    /* Check the version before anything writes to the file. */
    have = db_user_version(db);
    if (have < 0) {
        diagnose(path, sqlite3_errcode(db->h) & 0xff, sqlite3_errmsg(db->h), err, errlen);
        goto fail;
    }
    if (have > db_schema_version()) {
        snprintf(err, errlen,
                 "%s has schema version %d, newer than this tpsd (%d): upgrade tpsd; "
                 "the database was not changed",
                 path, have, db_schema_version());
        goto fail;
    }
    if (db_exec(db, "PRAGMA journal_mode = WAL") == -1 ||
        db_exec(db, "PRAGMA synchronous = FULL") == -1 ||
        db_exec(db, "PRAGMA fullfsync = 1") == -1 ||
        db_exec(db, "PRAGMA foreign_keys = ON") == -1) {
        char msg[DB_ERR_MAX + 16];

        snprintf(msg, sizeof(msg), "cannot set up: %s", db->err);
        diagnose(path, sqlite3_errcode(db->h) & 0xff, msg, err, errlen);
        goto fail;
    }
    if (have < version)
        migrate_secure_fast(db, &secure);
    for (n = have + 1; n <= version; n++) {
        if (migrate_step(db, n) == -1) {
            char msg[DB_ERR_MAX + 64];
            int code = db_errcode(db);

            snprintf(msg, sizeof(msg), "%s (database left at version %d)", db->err, n - 1);
            if (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_READONLY ||
                code == SQLITE_CANTOPEN || code == SQLITE_PERM)
                diagnose(path, code, msg, err, errlen);
            else
                snprintf(err, errlen, "%s: %s", path, msg);
            goto fail;
        }
    }
    migrate_restore(db, secure);
    return db;
fail:
    db_finalize_all(db);
    if (db->h)
        sqlite3_close(db->h);
    free(db);
    return NULL;
}

struct db *
db_open_version(const char *path, int version, char *err, size_t errlen)
{
    return db_open_at(path, version, 0, err, errlen);
}

struct db *
db_open(const char *path, char *err, size_t errlen)
{
    return db_open_at(path, db_schema_version(), 1, err, errlen);
}

void
db_close(struct db *db)
{
    if (db == NULL)
        return;
    db_finalize_all(db);
    sqlite3_exec(db->h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close_v2(db->h);
    free(db);
}

void
db_release_memory(struct db *db)
{
    if (db != NULL)
        sqlite3_db_release_memory(db->h);
}

sqlite3_stmt *
db_prepare(struct db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
        db_seterr(db, "%s", sqlite3_errmsg(db->h));
        return NULL;
    }
    return st;
}

sqlite3_stmt *
db_prepare_cached(struct db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    size_t i;

    for (i = 0; i < db->n_cache; i++) {
        if (db->cache[i].sql == sql)
            return db->cache[i].st;
    }
    if (db->n_cache == DB_STMT_CACHE_MAX) {
        fprintf(stderr, "tpsd: bug: more than DB_STMT_CACHE_MAX cached statements\n");
        abort();
    }
    if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        db_seterr(db, "%s", sqlite3_errmsg(db->h));
        sqlite3_finalize(st);
        return NULL;
    }
    db->cache[db->n_cache].sql = sql;
    db->cache[db->n_cache].st = st;
    db->n_cache++;
    return st;
}

void
db_cached_release(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int
bind_index(sqlite3_stmt *st, const char *name)
{
    int i = sqlite3_bind_parameter_index(st, name);

    if (i == 0) {
        fprintf(stderr, "tpsd: bug: statement has no parameter %s: %s\n", name,
                sqlite3_sql(st));
        abort();
    }
    return i;
}

void
db_bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
    sqlite3_bind_int64(st, bind_index(st, name), v);
}

void
db_bind_double(sqlite3_stmt *st, const char *name, double v)
{
    sqlite3_bind_double(st, bind_index(st, name), v);
}

void
db_bind_real_or_null(sqlite3_stmt *st, const char *name, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, bind_index(st, name));
    else
        sqlite3_bind_double(st, bind_index(st, name), v);
}

void
db_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, bind_index(st, name));
    else
        sqlite3_bind_text(st, bind_index(st, name), v, -1, SQLITE_TRANSIENT);
}

void
db_bind_blob(sqlite3_stmt *st, const char *name, const void *p, size_t n)
{
    if (p == NULL)
        sqlite3_bind_null(st, bind_index(st, name));
    else
        sqlite3_bind_blob64(st, bind_index(st, name), p, n, SQLITE_TRANSIENT);
}

void
db_bind_null(sqlite3_stmt *st, const char *name)
{
    sqlite3_bind_null(st, bind_index(st, name));
}

int
db_step_done(struct db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_seterr(db, "%s", sqlite3_errmsg(db->h));
        return -1;
    }
    return 0;
}

char *
db_col_strdup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);

    return s ? strdup((const char *)s) : NULL;
}

void
db_row_text(sqlite3_stmt *st, struct jtext *b)
{
    int i, n = sqlite3_column_count(st), first = 1;

    jt_put(b, "{", 1);
    for (i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i), *text;
        size_t len = strlen(name);
        int is_json = len > 5 && strcmp(name + len - 5, "_json") == 0;
        int type = sqlite3_column_type(st, i);
        json_t *v;
        char *dump;

        if (type == SQLITE_BLOB)
            continue;
        if (!first)
            jt_put(b, ",", 1);
        first = 0;
        jt_put(b, "\"", 1);
        jt_put(b, name, is_json ? len - 5 : len); /* our own names: nothing to escape */
        jt_put(b, "\":", 2);
        switch (type) {
        case SQLITE_INTEGER:
            jt_int(b, sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            jt_num(b, sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            text = (const char *)sqlite3_column_text(st, i);
            if (!is_json) {
                jt_str(b, text);
                break;
            }
            if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
                jt_lit(b, text);
                break;
            }
            /* Parsed and printed again: a stored value that is not JSON
             * must not break the answer. */
            v = json_loads(text, JSON_DECODE_ANY, NULL);
            dump = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            if (dump != NULL)
                jt_lit(b, dump);
            else
                jt_str(b, text);
            free(dump);
            json_decref(v);
            break;
        default:
            jt_put(b, "null", 4);
            break;
        }
    }
    jt_put(b, "}", 1);
}

int
db_integrity_check(struct db *db)
{
    sqlite3_stmt *st = db_prepare(db, "PRAGMA integrity_check");
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (r && strcmp(r, "ok") == 0)
            rc = 0;
        else
            db_seterr(db, "integrity_check: %s", r ? r : "(null)");
    }
    sqlite3_finalize(st);
    return rc;
}

int64_t
db_data_version(struct db *db)
{
    /* total_changes counts this connection's writes; data_version counts
     * other connections' commits. Their sum changes on any commit. */
    sqlite3_stmt *st = db_prepare(db, "PRAGMA data_version");
    int64_t v = 0;

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v + sqlite3_total_changes64(db->h);
}

static int
mkdir_p(char *path)
{
    char *p;

    for (p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) == -1 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) == -1 && errno != EEXIST)
        return -1;
    return 0;
}

int
db_default_path(char *buf, size_t len)
{
    const char *home = getenv("HOME");
    char dir[1024];
    int n;
#ifdef __APPLE__
    if (home == NULL || *home == '\0')
        return -1;
    n = snprintf(dir, sizeof(dir), "%s/Library/Application Support/tpsd", home);
#else
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(dir, sizeof(dir), "%s/tpsd", xdg);
    else if (home != NULL && *home != '\0')
        n = snprintf(dir, sizeof(dir), "%s/.local/share/tpsd", home);
    else
        return -1;
#endif
    if (n < 0 || (size_t)n >= sizeof(dir))
        return -1;
    if (mkdir_p(dir) == -1)
        return -1;
    n = snprintf(buf, len, "%s/tpsd.db", dir);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

json_t *
db_row_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int i, n = sqlite3_column_count(st);

    if (o == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t len = strlen(name);
        int is_json = len > 5 && strcmp(name + len - 5, "_json") == 0;
        char key[128];
        json_t *v = NULL;

        snprintf(key, sizeof(key), "%.*s", (int)(is_json ? len - 5 : len), name);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            if (is_json)
                v = json_loads((const char *)sqlite3_column_text(st, i), JSON_DECODE_ANY, NULL);
            if (v == NULL)
                v = json_string((const char *)sqlite3_column_text(st, i));
            break;
        case SQLITE_NULL:
            v = json_null();
            break;
        default:
            continue; /* blobs */
        }
        if (v != NULL)
            json_object_set_new(o, key, v);
    }
    return o;
}

int
db_rows_json(struct db *db, sqlite3_stmt *st, json_t **out)
{
    json_t *arr = json_array();
    int step;

    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        json_array_append_new(arr, db_row_json(st));
    }
    if (step != SQLITE_DONE || arr == NULL) {
        db_seterr(db, "%s", step != SQLITE_DONE ? sqlite3_errmsg(db->h) : "out of memory");
        sqlite3_finalize(st);
        json_decref(arr);
        return -1;
    }
    sqlite3_finalize(st);
    *out = arr;
    return 0;
}

sqlite3_stmt *
db_begin_prepare(struct db *db, const char *sql)
{
    sqlite3_stmt *st;

    if (db_begin(db) == -1)
        return NULL;
    st = db_prepare(db, sql);
    if (st == NULL)
        db_end(db, 0);
    return st;
}

int
db_end_stmt(struct db *db, sqlite3_stmt *st, int rc)
{
    sqlite3_finalize(st);
    if (db_end(db, rc == 0) == -1)
        return -1;
    return rc;
}

int
db_step_row(struct db *db, sqlite3_stmt *st)
{
    int step = sqlite3_step(st);

    if (step == SQLITE_ROW)
        return 0;
    if (step == SQLITE_DONE)
        return 1;
    db_seterr(db, "%s", sqlite3_errmsg(db->h));
    return -1;
}

int
db_one_int(struct db *db, sqlite3_stmt *st, int64_t *v)
{
    int rc = db_step_row(db, st);

    if (rc == 0)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

int64_t
db_col_int_or(sqlite3_stmt *st, int col, int64_t null_value)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? null_value
                                                       : sqlite3_column_int64(st, col);
}

double
db_col_real_or_nan(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

void
db_bind_int_or_null(sqlite3_stmt *st, const char *name, int64_t v, int have)
{
    if (have)
        db_bind_int(st, name, v);
    else
        db_bind_null(st, name);
}

sqlite3_stmt *
db_query_id(struct db *db, const char *sql, int64_t id, int *rc)
{
    sqlite3_stmt *st = db_prepare(db, sql);

    *rc = -1;
    if (st == NULL)
        return NULL;
    db_bind_int(st, ":id", id);
    *rc = db_step_row(db, st);
    if (*rc != 0) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

int
db_each_row(struct db *db, sqlite3_stmt *st, int (*fn)(void *arg, sqlite3_stmt *st), void *arg)
{
    int rc;

    while ((rc = db_step_row(db, st)) == 0) {
        if (fn(arg, st) != 0) {
            rc = 1;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == -1 ? -1 : 0;
}

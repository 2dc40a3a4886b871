/*
 * test_dbimage.c - a new database made in one step from the schema's image
 * (storage/dbimage.h) is the database the migration steps make: the same
 * sqlite_schema, user_version, rows and settings; an existing file is
 * never replaced; concurrent openers of one new path agree.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/jsontext.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DUMP_MAX (16 << 20) /* a fresh database's dump is well under 1 MB */
#define OPENERS 8           /* threads opening one new path at once */

static char err[DB_ERR_MAX];

/* Every row of `sql` on db as text: columns joined by '|', rows by '\n'
 * (NULL as \N). The caller frees. */
static char *
dump_query(struct db *db, const char *sql)
{
    struct jtext b = JTEXT_INIT(DUMP_MAX);
    sqlite3_stmt *st = db_prepare(db, sql);
    int i, n;

    CHECK(st != NULL);
    jt_put(&b, "", 0);
    while (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_count(st);
        for (i = 0; i < n; i++) {
            const char *v = (const char *)sqlite3_column_text(st, i);

            jt_lit(&b, i > 0 ? "|" : "");
            jt_lit(&b, v != NULL ? v : "\\N");
        }
        jt_put(&b, "\n", 1);
    }
    sqlite3_finalize(st);
    CHECK(!b.full);
    return b.p;
}

/* The whole database as text: its settings, its schema (type, name,
 * tbl_name, sql) and every table's rows. The caller frees. */
static char *
dump_db(struct db *db)
{
    static const char *const settings[] = {
        "PRAGMA user_version", "PRAGMA journal_mode", "PRAGMA page_size",
        "PRAGMA auto_vacuum",  "PRAGMA encoding",     "PRAGMA foreign_keys",
    };
    struct jtext b = JTEXT_INIT(DUMP_MAX);
    sqlite3_stmt *st;
    char sql[256], *part;
    size_t i;

    for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        part = dump_query(db, settings[i]);
        jt_lit(&b, settings[i]);
        jt_lit(&b, " = ");
        jt_lit(&b, part);
        free(part);
    }
    part = dump_query(db, "SELECT type, name, tbl_name, sql FROM sqlite_schema "
                          "ORDER BY type, name");
    jt_lit(&b, part);
    free(part);
    st = db_prepare(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    CHECK(st != NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY 1",
                 (const char *)sqlite3_column_text(st, 0));
        part = dump_query(db, sql);
        jt_lit(&b, sql);
        jt_lit(&b, ":\n");
        jt_lit(&b, part);
        free(part);
    }
    sqlite3_finalize(st);
    CHECK(!b.full);
    return b.p;
}

/* Names in dir that contain `part`. */
static int
count_names(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

TEST(image_equals_the_steps)
{
    char dir[TU_PATH_MAX], fast[TU_PATH_MAX + 16], slow[TU_PATH_MAX + 16];
    char *a, *b;
    struct db *db;
    int64_t id;
    int existing;

    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(fast, sizeof(fast), "%s/fast.db", dir);
    snprintf(slow, sizeof(slow), "%s/slow.db", dir);
    db = db_open(fast, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 1);
    a = dump_db(db);
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
    db = db_open_version(slow, db_schema_version(), err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 0);
    b = dump_db(db);
    db_close(db);
    if (strcmp(a, b) != 0)
        check_failed(__FILE__, __LINE__, "image:\n%s\nsteps:\n%s", a, b);
    /* Not an empty comparison: the newest version, WAL, dozens of objects. */
    CHECK(strstr(a, "PRAGMA journal_mode = wal\n") != NULL);
    CHECK(strstr(a, "CREATE TRIGGER history_weekly_upd") != NULL);
    CHECK(strstr(a, "history_version") != NULL);
    free(a);
    free(b);
    CHECK_INT(count_names(dir, ".tpsd-new."), ==, 0);

    /* The image-made database is an ordinary one from then on. */
    db = db_open(fast, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 0);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK_INT(jobs_create(db, "j", "benchmark", "{}", 0, NULL, NULL, &id, &existing), ==, 0);
    db_close(db);
}

TEST(empty_file_takes_the_steps)
{
    char path[TU_PATH_MAX + 16];
    struct db *db;

    snprintf(path, sizeof(path), "%s/empty.db", tu_tmpdir());
    CHECK_INT(tu_write_file(path, ""), ==, 0);
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 0);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
}

TEST(leftover_wal_takes_the_steps)
{
    char path[TU_PATH_MAX + 16], wal[TU_PATH_MAX + 32];
    struct db *db;

    /* A -wal without its database (deleted by hand): SQLite would replay
     * it into an image; the steps meet it as before the image. */
    snprintf(path, sizeof(path), "%s/orphan.db", tu_tmpdir());
    snprintf(wal, sizeof(wal), "%s-wal", path);
    CHECK_INT(tu_write_file(wal, ""), ==, 0);
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 0);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    db_close(db);
}

/* Copy the file at from to to, byte for byte (binary: a journal). */
static void
copy_file(const char *from, const char *to)
{
    char *buf;
    size_t len;
    FILE *f;

    CHECK_INT(tu_read_file(from, &buf, &len), ==, 0);
    CHECK(len > 0);
    f = fopen(to, "wb");
    CHECK(f != NULL);
    CHECK_INT(fwrite(buf, 1, len, f), ==, len);
    CHECK_INT(fclose(f), ==, 0);
    free(buf);
}

TEST(leftover_journal_takes_the_steps)
{
    char dir[TU_PATH_MAX], other[TU_PATH_MAX + 16], path[TU_PATH_MAX + 16];
    char ojrnl[TU_PATH_MAX + 32], jrnl[TU_PATH_MAX + 32];
    struct db *db;
    sqlite3 *h;
    char *foreign;

    /* A hot rollback journal beside a path whose database was deleted by
     * hand (here: another database's, copied while its transaction was
     * open). SQLite rolls a hot journal back into a database that has
     * pages (pager.c, hasHotJournal), so it would write the other
     * database's pages into an image; an empty file's journal it deletes
     * instead, which is what the steps meet. */
    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(other, sizeof(other), "%s/other.db", dir);
    snprintf(ojrnl, sizeof(ojrnl), "%s-journal", other);
    snprintf(path, sizeof(path), "%s/new.db", dir);
    snprintf(jrnl, sizeof(jrnl), "%s-journal", path);
    CHECK_INT(sqlite3_open(other, &h), ==, SQLITE_OK);
    CHECK_INT(sqlite3_exec(h,
                           "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF;"
                           "CREATE TABLE t (x); INSERT INTO t VALUES (zeroblob(20000));"
                           "BEGIN; UPDATE t SET x = zeroblob(30000);",
                           NULL, NULL, NULL),
              ==, SQLITE_OK);
    copy_file(ojrnl, jrnl);
    sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(h);

    db = db_open(path, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    /* Rolled back into an image, the journal turns the file into the
     * other database (its table t, the image's pages cut off), which the
     * steps then migrate as if it were ours. */
    foreign = dump_query(db, "SELECT count(*) FROM sqlite_schema WHERE name = 't'");
    CHECK_STR(foreign, "0\n");
    free(foreign);
    CHECK_INT(db->from_image, ==, 0);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    CHECK_INT(db_integrity_check(db), ==, 0);
    db_close(db);
    CHECK_INT(access(jrnl, F_OK), ==, -1);
}

TEST(stale_temporary_image_removed)
{
    char dir[TU_PATH_MAX], path[TU_PATH_MAX + 16];
    char dead_tmp[TU_PATH_MAX + 64], live_tmp[TU_PATH_MAX + 64];
    struct db *db;
    pid_t dead;
    int status;

    /* A process killed between writing its temporary image and linking it
     * (the write and its F_FULLFSYNC take the most time) leaves
     * PATH.tpsd-new.PID.N behind, and the database is still missing: the
     * next creation removes it. A live process's temporary file (here our
     * own: another thread may be writing it) is left alone. */
    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(path, sizeof(path), "%s/new.db", dir);
    dead = fork();
    CHECK(dead != -1);
    if (dead == 0)
        _exit(0);
    CHECK_INT(waitpid(dead, &status, 0), ==, dead);
    snprintf(dead_tmp, sizeof(dead_tmp), "%s.tpsd-new.%ld.0", path, (long)dead);
    snprintf(live_tmp, sizeof(live_tmp), "%s.tpsd-new.%ld.999999", path, (long)getpid());
    CHECK_INT(tu_write_file(dead_tmp, "a killed writer's image"), ==, 0);
    CHECK_INT(tu_write_file(live_tmp, "a live writer's image"), ==, 0);

    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 1);
    db_close(db);
    CHECK_INT(access(dead_tmp, F_OK), ==, -1);
    CHECK_INT(access(live_tmp, F_OK), ==, 0);
    CHECK_INT(count_names(dir, ".tpsd-new."), ==, 1);
}

TEST(existing_database_is_never_replaced)
{
    char path[TU_PATH_MAX + 16];
    struct db *db;
    sqlite3 *h;
    char *keep;

    /* Another program's database at user_version 0: migrated in place as
     * before (its table kept), never overwritten by the image. */
    snprintf(path, sizeof(path), "%s/other.db", tu_tmpdir());
    CHECK_INT(sqlite3_open(path, &h), ==, SQLITE_OK);
    CHECK_INT(sqlite3_exec(h, "CREATE TABLE keep (x); INSERT INTO keep VALUES ('mine');", NULL,
                           NULL, NULL),
              ==, SQLITE_OK);
    sqlite3_close(h);
    db = db_open(path, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db->from_image, ==, 0);
    keep = dump_query(db, "SELECT x FROM keep");
    CHECK(strcmp(keep, "mine\n") == 0);
    free(keep);
    CHECK_INT(db_user_version(db), ==, db_schema_version());
    db_close(db);
}

struct opener {
    const char *path;
    struct db *db;
};

static void *
open_thread(void *arg)
{
    struct opener *o = arg;
    char e[DB_ERR_MAX];

    o->db = db_open(o->path, e, sizeof(e));
    return NULL;
}

TEST(concurrent_openers_of_one_new_path)
{
    char dir[TU_PATH_MAX], path[TU_PATH_MAX + 16];
    struct opener o[OPENERS];
    pthread_t th[OPENERS];
    int i, made = 0;

    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(path, sizeof(path), "%s/race.db", dir);
    for (i = 0; i < OPENERS; i++) {
        o[i].path = path;
        o[i].db = NULL;
        CHECK_INT(pthread_create(&th[i], NULL, open_thread, &o[i]), ==, 0);
    }
    for (i = 0; i < OPENERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(o[i].db != NULL);
        CHECK_INT(db_user_version(o[i].db), ==, db_schema_version());
        made += o[i].db->from_image;
    }
    /* Exactly one thread's image became the database; none replaced it. */
    CHECK_INT(made, ==, 1);
    CHECK_INT(db_integrity_check(o[0].db), ==, 0);
    for (i = 0; i < OPENERS; i++)
        db_close(o[i].db);
    CHECK_INT(count_names(dir, ".tpsd-new."), ==, 0);
}

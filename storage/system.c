/* system.c - see system.h. */
#include "storage/system.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
system_rec_init(struct system_rec *r)
{
    memset(r, 0, sizeof(*r));
    r->mem_total_bytes = r->mem_avail_bytes = r->swap_used_bytes = -1;
    r->server_rss_bytes = r->self_rss_bytes = -1;
    r->mem_pressure = r->cpu_load1 = r->temp_c = NAN;
}

static void
bind_opt(sqlite3_stmt *st, const char *name, int64_t v)
{
    if (v < 0)
        db_bind_null(st, name);
    else
        db_bind_int(st, name, v);
}

int
system_samples_insert(struct db *db, const struct system_rec *recs, size_t n)
{
    static const char sql[] =
        "INSERT INTO system_samples (job_id, run_id, at, mem_total_bytes, mem_avail_bytes,"
        " swap_used_bytes, mem_pressure, server_rss_bytes, self_rss_bytes, cpu_load1, temp_c,"
        " thermal)"
        " VALUES (:job_id, :run_id, :at, :mem_total_bytes, :mem_avail_bytes, :swap_used_bytes,"
        " :mem_pressure, :server_rss_bytes, :self_rss_bytes, :cpu_load1, :temp_c, :thermal)";
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc = -1;

    if (n == 0)
        return 0;
    if (db_begin(db) == -1)
        return -1;
    st = db_prepare(db, sql);
    if (st == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        const struct system_rec *r = &recs[i];

        sqlite3_reset(st);
        if (r->job_id > 0)
            db_bind_int(st, ":job_id", r->job_id);
        else
            db_bind_null(st, ":job_id");
        if (r->run_id > 0)
            db_bind_int(st, ":run_id", r->run_id);
        else
            db_bind_null(st, ":run_id");
        db_bind_int(st, ":at", r->at);
        bind_opt(st, ":mem_total_bytes", r->mem_total_bytes);
        bind_opt(st, ":mem_avail_bytes", r->mem_avail_bytes);
        bind_opt(st, ":swap_used_bytes", r->swap_used_bytes);
        db_bind_real_or_null(st, ":mem_pressure", r->mem_pressure);
        bind_opt(st, ":server_rss_bytes", r->server_rss_bytes);
        bind_opt(st, ":self_rss_bytes", r->self_rss_bytes);
        db_bind_real_or_null(st, ":cpu_load1", r->cpu_load1);
        db_bind_real_or_null(st, ":temp_c", r->temp_c);
        db_bind_text(st, ":thermal", r->thermal[0] ? r->thermal : NULL);
        if (db_step_done(db, st) == -1)
            goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (db_end(db, rc == 0) == -1)
        rc = -1;
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
system_samples_scan(struct db *db, int64_t job_id, int64_t run_id, system_scan_fn fn, void *arg)
{
    static const char sql_job[] =
        "SELECT id, coalesce(job_id, 0), coalesce(run_id, 0), at, mem_total_bytes,"
        " mem_avail_bytes, swap_used_bytes, mem_pressure, server_rss_bytes, self_rss_bytes,"
        " cpu_load1, temp_c, thermal FROM system_samples WHERE job_id = :job"
        " ORDER BY at, id";
    static const char sql_run[] =
        "SELECT id, coalesce(job_id, 0), coalesce(run_id, 0), at, mem_total_bytes,"
        " mem_avail_bytes, swap_used_bytes, mem_pressure, server_rss_bytes, self_rss_bytes,"
        " cpu_load1, temp_c, thermal FROM system_samples WHERE run_id = :run AND job_id = :job"
        " ORDER BY at, id";
    sqlite3_stmt *st = db_prepare(db, run_id > 0 ? sql_run : sql_job);
    struct system_rec r;
    int rc, ret = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    if (run_id > 0)
        db_bind_int(st, ":run", run_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *th = sqlite3_column_text(st, 12);

        system_rec_init(&r);
        r.id = sqlite3_column_int64(st, 0);
        r.job_id = sqlite3_column_int64(st, 1);
        r.run_id = sqlite3_column_int64(st, 2);
        r.at = sqlite3_column_int64(st, 3);
        r.mem_total_bytes = col_i64(st, 4);
        r.mem_avail_bytes = col_i64(st, 5);
        r.swap_used_bytes = col_i64(st, 6);
        r.mem_pressure = col_dbl(st, 7);
        r.server_rss_bytes = col_i64(st, 8);
        r.self_rss_bytes = col_i64(st, 9);
        r.cpu_load1 = col_dbl(st, 10);
        r.temp_c = col_dbl(st, 11);
        snprintf(r.thermal, sizeof(r.thermal), "%s", th ? (const char *)th : "");
        if (fn(arg, &r) != 0) {
            ret = 0;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int64_t
system_samples_count(struct db *db, int64_t job_id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM system_samples WHERE job_id = :job");
    int64_t n = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
    sqlite3_finalize(st);
    return n;
}

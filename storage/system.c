/* system.c - see system.h. */
#include "storage/system.h"

#include <math.h>
#include <stddef.h>
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

/* The figures of a reading, in the column order of the INSERT and the
 * SELECTs after id, job_id, run_id and at: the statement's parameter, where
 * the value sits in struct system_rec, and whether it is a double (unknown:
 * NAN) or an int64_t (unknown: -1). Unknown is stored as NULL. */
struct sys_figure {
    const char *param;
    size_t off;
    int real;
};

static const struct sys_figure sys_figures[] = {
    {":mem_total_bytes", offsetof(struct system_rec, mem_total_bytes), 0},
    {":mem_avail_bytes", offsetof(struct system_rec, mem_avail_bytes), 0},
    {":swap_used_bytes", offsetof(struct system_rec, swap_used_bytes), 0},
    {":mem_pressure", offsetof(struct system_rec, mem_pressure), 1},
    {":server_rss_bytes", offsetof(struct system_rec, server_rss_bytes), 0},
    {":self_rss_bytes", offsetof(struct system_rec, self_rss_bytes), 0},
    {":cpu_load1", offsetof(struct system_rec, cpu_load1), 1},
    {":temp_c", offsetof(struct system_rec, temp_c), 1},
};
#define SYS_NFIGURES (sizeof(sys_figures) / sizeof(sys_figures[0]))
#define SYS_FIRST_COL 4 /* the first figure's column in the SELECTs */

/* Bind every figure of r. */
static void
bind_figures(sqlite3_stmt *st, const struct system_rec *r)
{
    const char *base = (const char *)r;
    size_t i;
    int64_t v;

    for (i = 0; i < SYS_NFIGURES; i++) {
        if (sys_figures[i].real) {
            db_bind_real_or_null(st, sys_figures[i].param,
                                 *(const double *)(base + sys_figures[i].off));
        } else {
            v = *(const int64_t *)(base + sys_figures[i].off);
            db_bind_int_or_null(st, sys_figures[i].param, v, v >= 0);
        }
    }
}

/* Read every figure of the row into r. */
static void
read_figures(sqlite3_stmt *st, struct system_rec *r)
{
    char *base = (char *)r;
    size_t i;
    int col;

    for (i = 0; i < SYS_NFIGURES; i++) {
        col = SYS_FIRST_COL + (int)i;
        if (sys_figures[i].real)
            *(double *)(base + sys_figures[i].off) = db_col_real_or_nan(st, col);
        else
            *(int64_t *)(base + sys_figures[i].off) = db_col_int_or(st, col, -1);
    }
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
    sqlite3_stmt *st;
    size_t i;
    int rc = 0;

    if (n == 0)
        return 0;
    st = db_begin_prepare(db, sql);
    if (st == NULL)
        return -1;
    for (i = 0; i < n && rc == 0; i++) {
        const struct system_rec *r = &recs[i];

        sqlite3_reset(st);
        db_bind_int_or_null(st, ":job_id", r->job_id, r->job_id > 0);
        db_bind_int_or_null(st, ":run_id", r->run_id, r->run_id > 0);
        db_bind_int(st, ":at", r->at);
        bind_figures(st, r);
        db_bind_text(st, ":thermal", r->thermal[0] ? r->thermal : NULL);
        rc = db_step_done(db, st);
    }
    return db_end_stmt(db, st, rc);
}

/* The caller's scan function, called with each row as a system_rec. */
struct system_scan {
    system_scan_fn fn;
    void *arg;
};

static int
system_from_row(void *arg, sqlite3_stmt *st)
{
    struct system_scan *sc = arg;
    struct system_rec r;
    const unsigned char *th = sqlite3_column_text(st, 12);

    system_rec_init(&r);
    r.id = sqlite3_column_int64(st, 0);
    r.job_id = sqlite3_column_int64(st, 1);
    r.run_id = sqlite3_column_int64(st, 2);
    r.at = sqlite3_column_int64(st, 3);
    read_figures(st, &r);
    snprintf(r.thermal, sizeof(r.thermal), "%s", th ? (const char *)th : "");
    return sc->fn(sc->arg, &r);
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
    struct system_scan sc = {fn, arg};

    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    if (run_id > 0)
        db_bind_int(st, ":run", run_id);
    return db_each_row(db, st, system_from_row, &sc);
}

int64_t
system_samples_count(struct db *db, int64_t job_id)
{
    sqlite3_stmt *st =
        db_prepare(db, "SELECT count(*) FROM system_samples WHERE job_id = :job");
    int64_t n = -1;

    if (st == NULL)
        return -1;
    db_bind_int(st, ":job", job_id);
    return db_one_int(db, st, &n) == 0 ? n : -1;
}

/*
 * test_fields.c - the table of sample figures (storage/sample_fields.h) and
 * what is generated from it: every figure is a column of the schema, goes
 * in and comes back out of the database with its value or as null when
 * unknown, is a CSV column exactly when flagged SF_CSV (in table order), and
 * is summarised per case exactly when flagged SF_SUM.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "daemon/report.h"
#include "daemon/summary.h"
#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/sample_fields.h"
#include "storage/samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS_HEADER_MAX 4096

static struct db *
fresh(const char *name)
{
    char p[TU_PATH_MAX], err[DB_ERR_MAX];
    struct db *db;

    snprintf(p, sizeof(p), "%s/%s", tu_tmpdir(), name);
    db = db_open(p, err, sizeof(err));
    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open: %s", err);
    return db;
}

/* A job with one run; its id in *job, the run's in *run. */
static void
job_and_run(struct db *db, int64_t *job, int64_t *run)
{
    char state[16];
    int existing;

    CHECK_INT(jobs_create(db, "fields", "benchmark", "{}", 0, NULL, NULL, job, &existing), ==,
              0);
    CHECK_INT(runs_open(db, *job, 0, "m/fields", "t", run, state), ==, 0);
}

/* A distinct known value for figure i: integers 1000 + i, reals i + 0.25,
 * flags 1. */
#define KNOWN_I64(i) (1000 + (int64_t)(i))
#define KNOWN_I64S(i) (1000 + (int64_t)(i))
#define KNOWN_REAL(i) ((double)(i) + 0.25)
#define KNOWN_BOOL(i) 1

static void
fill_known(struct sample_rec *s)
{
    size_t i = 0;

#define SET_KNOWN(name, type, flags) s->name = KNOWN_##type(i), i++;
    SAMPLE_FIGURES(SET_KNOWN)
#undef SET_KNOWN
}

TEST(every_figure_is_a_schema_column)
{
    struct db *db = fresh("cols.db");
    sqlite3_stmt *st;
    size_t f;
    int n;

    CHECK(sample_fields_n > 0);
    for (f = 0; f < sample_fields_n; f++) {
        st =
            db_prepare(db, "SELECT count(*) FROM pragma_table_info('samples') WHERE name = :n");
        CHECK(st != NULL);
        db_bind_text(st, ":n", sample_fields[f].name);
        CHECK_INT(sqlite3_step(st), ==, SQLITE_ROW);
        n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (n != 1)
            check_failed(__FILE__, __LINE__, "figure %s is not a column of samples",
                         sample_fields[f].name);
    }
    db_close(db);
}

TEST(figures_round_trip_known_and_unknown)
{
    struct db *db = fresh("trip.db");
    struct sample_rec s;
    json_t *rows, *row, *v;
    int64_t job, run;
    size_t f;

    job_and_run(db, &job, &run);
    sample_rec_init(&s);
    s.run_id = run;
    s.seq = 0;
    s.ok = 1;
    fill_known(&s);
    CHECK_INT(samples_insert(db, &s), ==, 0);
    sample_rec_init(&s); /* every figure unknown */
    s.run_id = run;
    s.seq = 1;
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK_INT(samples_list(db, run, -1, 10, &rows), ==, 0);
    CHECK_INT(json_array_size(rows), ==, 2);
    row = json_array_get(rows, 0);
    for (f = 0; f < sample_fields_n; f++) {
        v = json_object_get(row, sample_fields[f].name);
        switch (sample_fields[f].type) {
        case SF_I64:
        case SF_I64S:
            CHECK(json_is_integer(v));
            CHECK_INT(json_integer_value(v), ==, 1000 + (int64_t)f);
            break;
        case SF_REAL:
            CHECK(json_is_number(v));
            CHECK_DBL(json_number_value(v), ==, (double)f + 0.25);
            break;
        case SF_BOOL:
            CHECK(json_is_true(v));
            break;
        }
    }
    row = json_array_get(rows, 1);
    for (f = 0; f < sample_fields_n; f++) {
        v = json_object_get(row, sample_fields[f].name);
        if (sample_fields[f].type == SF_BOOL)
            CHECK(json_is_false(v));
        else if (!json_is_null(v))
            check_failed(__FILE__, __LINE__, "unknown %s came back as a value",
                         sample_fields[f].name);
    }
    json_decref(rows);
    db_close(db);
}

TEST(csv_columns_and_case_summary_follow_the_table)
{
    struct db *db = fresh("csv.db");
    char want[FIELDS_HEADER_MAX], *text = NULL, *eol;
    struct sample_rec s;
    json_t *sum = NULL, *c;
    int64_t job, run;
    size_t f, len = 0, n;

    job_and_run(db, &job, &run);
    sample_rec_init(&s);
    s.run_id = run;
    s.seq = 0;
    s.ok = 1;
    snprintf(s.case_name, sizeof(s.case_name), "only");
    fill_known(&s);
    CHECK_INT(samples_insert(db, &s), ==, 0);
    CHECK_INT(runs_finish(db, run, "succeeded", NULL, NULL), ==, 0);

    n = (size_t)snprintf(want, sizeof(want),
                         "job_id,run_id,model,seq,case,repetition,slot,warmup,started_at");
    for (f = 0; f < sample_fields_n; f++)
        if (sample_fields[f].flags & SF_CSV)
            n += (size_t)snprintf(want + n, sizeof(want) - n, ",%s", sample_fields[f].name);
    snprintf(want + n, sizeof(want) - n, ",finish_reason,ok,passed,error_code,error_detail");
    CHECK_INT(report_render(db, job, REPORT_CSV, &text, &len), ==, 0);
    eol = strstr(text, "\r\n");
    CHECK(eol != NULL);
    *eol = '\0';
    CHECK_STR(text, want);
    free(text);

    CHECK_INT(summary_job(db, job, &sum), ==, 0);
    c = json_array_get(
        json_object_get(json_array_get(json_object_get(sum, "runs"), 0), "cases"), 0);
    CHECK(json_is_object(c));
    for (f = 0; f < sample_fields_n; f++) {
        json_t *v = json_object_get(c, sample_fields[f].name);

        if (sample_fields[f].flags & SF_SUM) {
            if (!json_is_object(v))
                check_failed(__FILE__, __LINE__, "case summary has no %s",
                             sample_fields[f].name);
            CHECK_INT(json_integer_value(json_object_get(v, "n")), ==, 1);
        } else if (v != NULL) {
            check_failed(__FILE__, __LINE__, "case summary has %s, not flagged SF_SUM",
                         sample_fields[f].name);
        }
    }
    json_decref(sum);
    db_close(db);
}

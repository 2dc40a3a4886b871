/* history.c - see history.h. */
#include "storage/history.h"

#include "common/clock.h"
#include "common/stats.h"

#include "storage/jsontext.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_SQL_MAX 2048
#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)
#define WEEK_MS (7 * DAY_MS)
#define MONDAY_MS (4 * DAY_MS) /* 1970-01-05, the first Monday */

static const char *const rollup_metrics[] = {"decode_tps", "e2e_tps", "ttft_ms", "prompt_tps"};
#define NROLLUP (sizeof(rollup_metrics) / sizeof(rollup_metrics[0]))

static void
seterr(struct db *db)
{
    snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
}

static json_t *
jnum(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

static double
col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static const char *
col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);

    return s ? s : "";
}

int
history_metric_ok(const char *metric)
{
    size_t i;

    if (metric == NULL)
        return 0;
    if (strcmp(metric, "load_ms") == 0)
        return 1;
    for (i = 0; i < NROLLUP; i++)
        if (strcmp(metric, rollup_metrics[i]) == 0)
            return 1;
    return 0;
}

int
history_metric_higher_better(const char *metric)
{
    return metric != NULL && strstr(metric, "_tps") != NULL;
}

int
history_bucket_parse(const char *s, enum history_bucket *out)
{
    static const char *const names[] = {"run", "hour", "day", "week"};
    size_t i;

    for (i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum history_bucket)i;
            return 0;
        }
    }
    return -1;
}

int
history_version(struct db *db, int64_t *out)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT v FROM history_version WHERE id = 1");
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        seterr(db);
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- trends ---- */

static int64_t
bucket_start(enum history_bucket b, int64_t t)
{
    int64_t w;

    switch (b) {
    case HISTORY_BUCKET_HOUR:
        return t - (t % HOUR_MS + HOUR_MS) % HOUR_MS;
    case HISTORY_BUCKET_DAY:
        return t - (t % DAY_MS + DAY_MS) % DAY_MS;
    case HISTORY_BUCKET_WEEK:
        w = t - MONDAY_MS;
        return t - (w % WEEK_MS + WEEK_MS) % WEEK_MS;
    case HISTORY_BUCKET_RUN:
    default:
        return t;
    }
}

/* ---- tpsd_pct(v, q) ---- */

struct pct_ctx {
    double *v;
    size_t n, cap;
    double q;
    int oom;
};

static void
pct_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct pct_ctx *p = sqlite3_aggregate_context(ctx, sizeof(*p));

    if (p == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (p->n == 0 && p->cap == 0)
        p->q = argc > 1 ? sqlite3_value_double(argv[1]) : 0.5;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || p->oom)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        double *v = cap <= HISTORY_PCT_MAX ? realloc(p->v, cap * sizeof(*v)) : NULL;
        if (v == NULL) {
            p->oom = 1;
            return;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = sqlite3_value_double(argv[0]);
}

static void
pct_final(sqlite3_context *ctx)
{
    struct pct_ctx *p = sqlite3_aggregate_context(ctx, 0);

    if (p == NULL || p->n == 0) {
        sqlite3_result_null(ctx);
    } else if (p->oom) {
        sqlite3_result_error(ctx, "tpsd_pct: too many values", -1);
    } else {
        sqlite3_result_double(ctx, stats_percentile_select(p->v, p->n,
                                                           p->q < 0   ? 0
                                                           : p->q > 1 ? 1
                                                                      : p->q));
    }
    if (p != NULL)
        free(p->v);
}

/* ---- per-run medians as float64 little-endian blobs ---- */

static void
f64_put(unsigned char *p, double v)
{
    uint64_t u;
    int i;

    memcpy(&u, &v, sizeof(u));
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static double
f64_get(const unsigned char *p)
{
    uint64_t u = 0;
    double v;
    int i;

    for (i = 0; i < 8; i++)
        u |= (uint64_t)p[i] << (8 * i);
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* tpsd_f64(x): x as an 8-byte blob; NULL for NULL. */
static void
f64_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unsigned char b[8];

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    f64_put(b, sqlite3_value_double(argv[0]));
    sqlite3_result_blob(ctx, b, 8, SQLITE_TRANSIENT);
}

/* tpsd_cat(a, b): the blobs a and b end to end (a NULL one is empty); a
 * alone once the result would pass HISTORY_MEDS_MAX bytes. */
static void
cat_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int na, nb;
    unsigned char *p;

    (void)argc;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_value(ctx, argv[1]);
        return;
    }
    na = sqlite3_value_bytes(argv[0]);
    nb = sqlite3_value_bytes(argv[1]);
    if ((int64_t)na + nb > HISTORY_MEDS_MAX) {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    p = sqlite3_malloc(na + nb + 1);
    if (p == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (na > 0)
        memcpy(p, sqlite3_value_blob(argv[0]), (size_t)na);
    if (nb > 0)
        memcpy(p + na, sqlite3_value_blob(argv[1]), (size_t)nb);
    sqlite3_result_blob(ctx, p, na + nb, sqlite3_free);
}

/* One point being accumulated. */
struct acc {
    int64_t t, run_id;
    int64_t n, runs, req, passed;
    double sum, m2, min, max, p50, p90; /* m2: sum of squared deviations */
    double *meds;                       /* per-run medians */
    size_t nmeds, cap;
    int stored;          /* 1: its one part is a week of history_weekly whose */
    double s_p50, s_p90; /* run-to-run spread (acc_spread) is stored there */
    char verdict[16];    /* bucket run: the run's stored verdict, or "" */
};

static void
acc_reset(struct acc *a, int64_t t)
{
    a->t = t;
    a->run_id = 0;
    a->n = a->runs = a->req = a->passed = 0;
    a->sum = a->m2 = 0;
    a->min = a->max = a->p50 = a->p90 = NAN;
    a->nmeds = 0;
    a->stored = 0;
    a->s_p50 = a->s_p90 = NAN;
    a->verdict[0] = '\0';
}

static int
acc_med(struct acc *a, double med)
{
    if (a->nmeds == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        double *p = realloc(a->meds, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        a->meds = p;
        a->cap = cap;
    }
    a->meds[a->nmeds++] = med;
    return 0;
}

/* The figures of one part of a point (a run's rollup, a day of
 * history_daily, a week of history_weekly) for acc_merge. */
struct acc_part {
    int64_t mn;                       /* values of the metric */
    double sum, m2, lo, hi, p50, p90; /* p50/p90: of the part's one run */
    const unsigned char *meds;        /* per-run medians, float64 LE, or NULL */
    int meds_bytes, has_meds;         /* has_meds: a blob (else p50 is the one median) */
};

/* Merge a part's figures into a: Chan et al.'s (n, mean, M2), min, max,
 * the part's p50/p90, its per-run medians. 0, or -1 out of memory. */
static int
acc_merge(struct acc *a, const struct acc_part *p)
{
    int i;

    if (p->mn > 0) {
        double m2 = isnan(p->m2) ? 0 : p->m2;
        if (a->n > 0)
            a->m2 = stats_chan_m2((double)a->n, a->sum / (double)a->n, a->m2, (double)p->mn,
                                  p->sum / (double)p->mn, m2);
        else
            a->m2 = m2;
        a->n += p->mn;
        a->sum += p->sum;
        if (isnan(a->min) || p->lo < a->min)
            a->min = p->lo;
        if (isnan(a->max) || p->hi > a->max)
            a->max = p->hi;
        a->p50 = p->p50;
        a->p90 = p->p90;
    }
    if (p->has_meds) {
        for (i = 0; i < p->meds_bytes / 8; i++) {
            if (acc_med(a, f64_get(p->meds + 8 * i)) == -1)
                return -1;
        }
    } else if (!isnan(p->p50) && acc_med(a, p->p50) == -1) {
        return -1;
    }
    return 0;
}

/*
 * Add one part of a point: a run's rollup, a day of history_daily or a
 * week of history_weekly. Columns: 0 model, 1 case, 2 run_id, 3 at, 4 n,
 * 5 n_passed, 6 m_n, 7 sum, 8 m2, 9 min, 10 max, 11 p50, 12 p90 (of the
 * part's one run), 13 runs, 14 per-run medians (float64 LE blob; NULL:
 * column 11 when runs is 1), 15 1 when the part is a week of
 * history_weekly, which carries instead of its medians their spread
 * (acc_spread) in 16 p50 and 17 p90 (COLS_UNSTORED: 0, NULL, NULL), 18
 * verdict (bucket run of a tested metric only). A stored week is a whole
 * point (trends_weeks): the caller never merges it with another part.
 */
static int
acc_add(struct acc *a, sqlite3_stmt *st)
{
    struct acc_part p = {
        .mn = sqlite3_column_int64(st, 6),
        .sum = col_num(st, 7),
        .m2 = col_num(st, 8),
        .lo = col_num(st, 9),
        .hi = col_num(st, 10),
        .p50 = col_num(st, 11),
        .p90 = col_num(st, 12),
        .has_meds = sqlite3_column_type(st, 14) == SQLITE_BLOB,
    };

    a->run_id = sqlite3_column_int64(st, 2);
    if (sqlite3_column_count(st) > 18 && sqlite3_column_type(st, 18) != SQLITE_NULL)
        snprintf(a->verdict, sizeof(a->verdict), "%s", col_text(st, 18));
    if (sqlite3_column_int(st, 15) != 0) {
        a->stored = 1;
        a->s_p50 = col_num(st, 16);
        a->s_p90 = col_num(st, 17);
    }
    a->runs += sqlite3_column_int64(st, 13);
    a->req += sqlite3_column_int64(st, 4);
    a->passed += sqlite3_column_int64(st, 5);
    if (p.has_meds) {
        p.meds = sqlite3_column_blob(st, 14);
        p.meds_bytes = sqlite3_column_bytes(st, 14);
    }
    return acc_merge(a, &p);
}

/* ---- tpsd_fold(n, sum, m2, min, max, p50, p90, meds), tpsd_st(s, i) ---- */

#define FOLD_HEAD 7 /* n, sum, m2, min, max, p50, p90 */

/* A value of a fold's state as SQL: NULL for NaN, as col_num reads it. */
static void
result_num(sqlite3_context *ctx, double v)
{
    if (isnan(v))
        sqlite3_result_null(ctx);
    else
        sqlite3_result_double(ctx, v);
}

/* Step: acc_merge of one day's figures of a metric, rows in day order. */
static void
fold_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct acc *a = sqlite3_aggregate_context(ctx, sizeof(*a));
    struct acc_part p;
    int i;
    double v[FOLD_HEAD];

    (void)argc;
    if (a == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (a->t == 0) {
        acc_reset(a, 1);
    }
    for (i = 1; i < FOLD_HEAD; i++)
        v[i] = sqlite3_value_type(argv[i]) == SQLITE_NULL ? NAN : sqlite3_value_double(argv[i]);
    p = (struct acc_part){.mn = sqlite3_value_int64(argv[0]),
                          .sum = v[1],
                          .m2 = v[2],
                          .lo = v[3],
                          .hi = v[4],
                          .p50 = v[5],
                          .p90 = v[6],
                          .has_meds = sqlite3_value_type(argv[7]) == SQLITE_BLOB};
    if (p.has_meds) {
        p.meds = sqlite3_value_blob(argv[7]);
        p.meds_bytes = sqlite3_value_bytes(argv[7]);
    }
    if (acc_merge(a, &p) == -1)
        a->verdict[0] = 'x'; /* out of memory: reported at the end */
}

/* Final: the state as a blob: FOLD_HEAD float64 LE, then the medians. */
static void
fold_final(sqlite3_context *ctx)
{
    struct acc *a = sqlite3_aggregate_context(ctx, 0);
    double head[FOLD_HEAD];
    unsigned char *b;
    size_t i, len;

    if (a == NULL || a->t == 0) {
        sqlite3_result_null(ctx);
        return;
    }
    head[0] = (double)a->n;
    head[1] = a->sum;
    head[2] = a->m2;
    head[3] = a->min;
    head[4] = a->max;
    head[5] = a->p50;
    head[6] = a->p90;
    len = 8 * (FOLD_HEAD + a->nmeds);
    b = a->verdict[0] == '\0' ? sqlite3_malloc64(len) : NULL;
    if (b == NULL) {
        free(a->meds);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (i = 0; i < FOLD_HEAD; i++)
        f64_put(b + 8 * i, head[i]);
    for (i = 0; i < a->nmeds; i++)
        f64_put(b + 8 * (FOLD_HEAD + i), a->meds[i]);
    free(a->meds);
    sqlite3_result_blob64(ctx, b, len, sqlite3_free);
}

/* tpsd_st(s, i): field i of a fold state s (0 n, 1 sum, 2 m2, 3 min,
 * 4 max, 5 p50, 6 p90; 7 the medians as a blob, NULL when none). */
static void
st_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const unsigned char *b = sqlite3_value_blob(argv[0]);
    int len = sqlite3_value_bytes(argv[0]), i = sqlite3_value_int(argv[1]);

    (void)argc;
    if (b == NULL || len < 8 * FOLD_HEAD || i < 0 || i > FOLD_HEAD)
        sqlite3_result_null(ctx);
    else if (i == 0)
        sqlite3_result_int64(ctx, (sqlite3_int64)f64_get(b));
    else if (i < FOLD_HEAD)
        result_num(ctx, f64_get(b + 8 * i));
    else if (len > 8 * FOLD_HEAD)
        sqlite3_result_blob(ctx, b + 8 * FOLD_HEAD, len - 8 * FOLD_HEAD, SQLITE_TRANSIENT);
    else
        sqlite3_result_null(ctx);
}

/* The run-to-run spread of a point holding several runs: the p50 and p90
 * of its per-run medians (reordered in place). Written once: the trends
 * answer and the spread history_weekly stores (tpsd_spread) are these
 * very calls on the same medians in the same order, so a week read from
 * its stored spread is bit for bit the week read from its medians. */
static void
acc_spread(struct acc *a, double *p50, double *p90)
{
    *p50 = stats_percentile_select(a->meds, a->nmeds, 0.5);
    *p90 = stats_percentile_select(a->meds, a->nmeds, 0.9);
}

/* tpsd_spread(meds, p50, i): the p50 (i = 0) or p90 (i = 1) of acc_spread
 * of a point whose one part has the per-run medians `meds` (a blob, or
 * NULL: the one median p50), as acc_merge takes them. NULL when there
 * are none. */
static void
spread_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct acc a;
    struct acc_part p;
    double v[2];
    int i = sqlite3_value_int(argv[2]);

    (void)argc;
    memset(&a, 0, sizeof(a));
    acc_reset(&a, 0);
    p = (struct acc_part){
        .p50 = sqlite3_value_type(argv[1]) == SQLITE_NULL ? NAN : sqlite3_value_double(argv[1]),
        .has_meds = sqlite3_value_type(argv[0]) == SQLITE_BLOB};
    if (p.has_meds) {
        p.meds = sqlite3_value_blob(argv[0]);
        p.meds_bytes = sqlite3_value_bytes(argv[0]);
    }
    if (acc_merge(&a, &p) == -1) {
        sqlite3_result_error_nomem(ctx);
    } else {
        acc_spread(&a, &v[0], &v[1]);
        result_num(ctx, i == 0 ? v[0] : v[1]);
    }
    free(a.meds);
}

static void
acc_point(struct acc *a, int per_run, struct jtext *b)
{
    double mean = a->n ? a->sum / (double)a->n : NAN, var = NAN, p50 = a->p50, p90 = a->p90;

    if (a->n > 1) {
        var = a->m2 / (double)(a->n - 1);
        if (var < 0)
            var = 0;
    }
    if (a->runs > 1 && a->stored) {
        p50 = a->s_p50;
        p90 = a->s_p90;
    } else if (a->runs > 1) {
        acc_spread(a, &p50, &p90);
    }
    jt_lit(b, "{\"t\":");
    jt_int(b, a->t);
    jt_lit(b, ",\"n\":");
    jt_int(b, a->n);
    jt_lit(b, ",\"runs\":");
    jt_int(b, a->runs);
    jt_lit(b, ",\"mean\":");
    jt_num(b, mean);
    jt_lit(b, ",\"p50\":");
    jt_num(b, p50);
    jt_lit(b, ",\"p90\":");
    jt_num(b, p90);
    jt_lit(b, ",\"min\":");
    jt_num(b, a->min);
    jt_lit(b, ",\"max\":");
    jt_num(b, a->max);
    jt_lit(b, ",\"stddev\":");
    jt_num(b, isnan(var) ? NAN : sqrt(var));
    jt_lit(b, ",\"pass_rate\":");
    jt_num(b, a->req ? (double)a->passed / (double)a->req : NAN);
    if (per_run) {
        jt_lit(b, ",\"run_id\":");
        jt_int(b, a->run_id);
    }
    if (per_run && a->verdict[0] != '\0') {
        jt_lit(b, ",\"regression\":");
        jt_str(b, a->verdict);
    }
    jt_lit(b, "}");
}

int
history_sql_functions(sqlite3 *h)
{
    const int fl = SQLITE_UTF8 | SQLITE_DETERMINISTIC;

    if (sqlite3_create_function(h, "tpsd_pct", 2, fl, NULL, NULL, pct_step, pct_final) !=
            SQLITE_OK ||
        sqlite3_create_function(h, "tpsd_f64", 1, fl, NULL, f64_func, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(h, "tpsd_cat", 2, fl, NULL, cat_func, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(h, "tpsd_fold", 8, fl, NULL, NULL, fold_step, fold_final) !=
            SQLITE_OK ||
        sqlite3_create_function(h, "tpsd_st", 2, fl, NULL, st_func, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(h, "tpsd_spread", 3, fl, NULL, spread_func, NULL, NULL) !=
            SQLITE_OK)
        return -1;
    return 0;
}

/* Columns 15-17 acc_add reads of every part but a week of history_weekly:
 * no stored spread. */
#define COLS_UNSTORED " 0, NULL, NULL"

/* The columns acc_add reads, of a run's load time. */
#define LOAD_COLS                                                                              \
    "SELECT model, NULL, id, started_at, 1, state = 'succeeded', 1, load_ms, 0.0, load_ms,"    \
    " load_ms, load_ms, load_ms, 1, NULL," COLS_UNSTORED " FROM runs"

/* The columns acc_add reads, of rollups of metric m (verdict: bucket run). */
#define ROLLUP_COLS                                                                            \
    "SELECT model, case_name, run_id, at, n, n_passed, %s_n, %s_sum, %s_m2, %s_min, %s_max,"   \
    " %s_p50, %s_p90, 1, NULL," COLS_UNSTORED "%s FROM history_rollup h"
#define ROLLUP_ARGS(m, verdict) m, m, m, m, m, m, m, verdict

/* The columns acc_add reads, of days of history_daily (ROLLUP_ARGS(m, m)). */
#define DAILY_COLS                                                                             \
    "SELECT model, case_name, 0, day, n, n_passed, %s_n, %s_sum, %s_m2, %s_min, %s_max,"       \
    " %s_p50, %s_p90, runs, %s_meds," COLS_UNSTORED " FROM history_daily"

/* The columns acc_add reads, of weeks of history_weekly: their stored
 * spread in place of their medians (not kept since schema step 17). */
#define WEEKLY_COLS                                                                            \
    "SELECT model, case_name, 0, week, n, n_passed, v_n, v_sum, v_m2, v_min, v_max, v_p50,"    \
    " v_p90, runs, NULL, 1, v_spread_p50, v_spread_p90 FROM history_weekly"

/*
 * The trends query is a UNION ALL of parts, each a SELECT of the columns
 * acc_add reads, ordered at the end by model, case and time:
 *
 *   run and hour buckets   the rollups in [since, until)
 *   day and week buckets   history_daily for the whole days [d0, d1), the
 *                          rollups not merged into history_daily yet, and
 *                          the rollups of the partial days [since, d0)
 *                          ("edge1") and [d1, until) ("edge2"), each only
 *                          when its range can hold rows
 *   load_ms                runs (index runs_load) in place of the rollups,
 *                          history_daily_load in place of history_daily
 *
 * Every part carries the same filter (model, case, suite: only those
 * given, as an OR would hide the index). A part is appended to a bounded
 * buffer; one that does not fit makes the query fail, never truncate.
 */
struct sqlbuf {
    char s[HISTORY_SQL_MAX * 4];
    size_t len;
    int full;
};

static void __attribute__((format(printf, 2, 3)))
sql_add(struct sqlbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->s + b->len, sizeof(b->s) - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(b->s) - b->len)
        b->full = 1;
    else
        b->len += (size_t)n;
}

/* The filter every part carries. load_ms has a series per model: a case
 * is accepted and ignored (bound, so the parameter exists). */
static void
trends_filter(const struct history_query *q, int load, char *filt, size_t n)
{
    if (load)
        snprintf(filt, n, "%s%s%s", q->model ? " AND model = :model" : "",
                 q->suite ? " AND suite = :suite" : "",
                 q->case_name ? " AND :case IS NOT NULL" : "");
    else
        snprintf(filt, n, "%s%s%s", q->model ? " AND model = :model" : "",
                 q->case_name ? " AND case_name = :case" : "",
                 q->suite ? " AND suite = :suite" : "");
}

/* The range of a trends query: until (INT64_MAX when open), the whole days
 * [d0, d1) inside [since, until), and which edges hold partial days. */
struct trends_range {
    int daily, per_run, weekly;
    int64_t until, d0, d1;
    int64_t w0, w1; /* weekly: the whole weeks read from history_weekly */
    int edge1, edge2;
};

/* load_ms: the runs of [since, until), or history_daily_load's whole days,
 * the unfinished runs and the edges. */
static void
trends_sql_load(struct sqlbuf *b, const char *filt, int daily, int edge1, int edge2)
{
    if (!daily) {
        sql_add(b,
                LOAD_COLS " INDEXED BY runs_load WHERE load_ms IS NOT NULL"
                          " AND started_at >= :since AND started_at < :until%s"
                          " ORDER BY model, started_at",
                filt);
        return;
    }
    sql_add(b,
            "SELECT model, NULL, 0, day, load_n, load_passed, load_n, load_sum,"
            " load_m2, load_min, load_max, load_first, load_first, load_n,"
            " load_vals," COLS_UNSTORED " FROM history_daily_load"
            " WHERE day >= :d0 AND day < :d1%s",
            filt);
    sql_add(b,
            " UNION ALL " LOAD_COLS " INDEXED BY runs_unfinished"
            " WHERE state IN ('pending', 'running') AND load_ms IS NOT NULL"
            " AND started_at >= :d0 AND started_at < :d1%s",
            filt);
    if (edge1)
        sql_add(b,
                " UNION ALL " LOAD_COLS " INDEXED BY runs_started WHERE load_ms IS NOT NULL"
                " AND started_at >= :since AND started_at < :d0%s",
                filt);
    if (edge2)
        sql_add(b,
                " UNION ALL " LOAD_COLS " INDEXED BY runs_started WHERE load_ms IS NOT NULL"
                " AND started_at >= :d1 AND started_at < :until%s",
                filt);
    sql_add(b, " ORDER BY 1, 4");
}

/* A rollup metric m: the rollups of [since, until) with the run's verdict
 * when per run, or history_daily's whole days, the rollups not merged yet
 * and the edges. */
static void
trends_sql_rollup(struct sqlbuf *b, const char *m, const char *filt,
                  const struct trends_range *r)
{
    if (!r->daily) {
        sql_add(b,
                ROLLUP_COLS " WHERE at >= :since AND at < :until%s"
                            " ORDER BY model, case_name, at",
                ROLLUP_ARGS(m, r->per_run ? ", (SELECT verdict FROM history_verdicts v"
                                            " WHERE v.run_id = h.run_id AND v.case_name ="
                                            " h.case_name AND v.metric = :metric)"
                                          : ""),
                filt);
        return;
    }
    if (r->weekly) {
        sql_add(b,
                WEEKLY_COLS " WHERE metric = :metric AND week >= :w0 AND week < :w1%s"
                            " UNION ALL ",
                filt);
        sql_add(b,
                DAILY_COLS
                " INDEXED BY history_daily_day WHERE day + 0 >= :d0"
                " AND day + 0 < :w0%s UNION ALL " DAILY_COLS
                " INDEXED BY history_daily_day WHERE day + 0 >= :w1 AND day + 0 < :d1%s",
                ROLLUP_ARGS(m, m), filt, ROLLUP_ARGS(m, m), filt);
    } else {
        sql_add(b, DAILY_COLS " WHERE day >= :d0 AND day < :d1%s", ROLLUP_ARGS(m, m), filt);
    }
    sql_add(b,
            " UNION ALL " ROLLUP_COLS " INDEXED BY history_rollup_undaily"
            " WHERE in_daily = 0 AND at >= :d0 AND at < :d1%s",
            ROLLUP_ARGS(m, ""), filt);
    if (r->edge1)
        sql_add(b,
                " UNION ALL " ROLLUP_COLS " INDEXED BY history_rollup_at"
                " WHERE at >= :since AND at < :d0%s",
                ROLLUP_ARGS(m, ""), filt);
    if (r->edge2)
        sql_add(b,
                " UNION ALL " ROLLUP_COLS " INDEXED BY history_rollup_at"
                " WHERE at >= :d1 AND at < :until%s",
                ROLLUP_ARGS(m, ""), filt);
    sql_add(b, " ORDER BY 1, 2, 4");
}

static void
trends_range(const struct history_query *q, struct trends_range *r)
{
    r->daily = q->bucket == HISTORY_BUCKET_DAY || q->bucket == HISTORY_BUCKET_WEEK;
    r->per_run = q->bucket == HISTORY_BUCKET_RUN;
    r->until = q->until > 0 ? q->until : INT64_MAX;
    r->d0 = q->since > 0 ? bucket_start(HISTORY_BUCKET_DAY, q->since + DAY_MS - 1) : 0;
    r->d1 = r->until == INT64_MAX ? INT64_MAX : bucket_start(HISTORY_BUCKET_DAY, r->until);
    if (r->d0 >= r->d1)
        r->d0 = r->d1 = r->until; /* no whole day: the rollups of [since, until) */
    r->edge1 = q->since < r->d0;
    r->edge2 = r->d1 < r->until;
}

/* Week buckets of a rollup metric with no suite named: the whole weeks of
 * [d0, d1) before the first rollup not merged into history_daily yet are
 * read whole from history_weekly (schema step 13). 0, or -1 (db->err). */
static int
trends_weeks(struct db *db, const struct history_query *q, struct trends_range *r)
{
    sqlite3_stmt *st;
    int64_t first = INT64_MAX;

    r->weekly = 0;
    if (q->bucket != HISTORY_BUCKET_WEEK || q->suite != NULL || q->days_only ||
        strcmp(q->metric, "load_ms") == 0 || r->d0 > INT64_MAX - WEEK_MS)
        return 0;
    st = db_prepare(db, "SELECT min(at) FROM history_rollup INDEXED BY history_rollup_undaily"
                        " WHERE in_daily = 0");
    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        first = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    r->w0 = bucket_start(HISTORY_BUCKET_WEEK, r->d0 + WEEK_MS - 1);
    r->w1 = bucket_start(HISTORY_BUCKET_WEEK, r->d1 < first ? r->d1 : first);
    r->weekly = r->w0 < r->w1;
    return 0;
}

/* The prepared trends query with its parameters bound, or NULL (db->err). */
static sqlite3_stmt *
trends_stmt(struct db *db, const struct history_query *q, const struct trends_range *r)
{
    struct sqlbuf b = {.len = 0, .full = 0};
    int load = strcmp(q->metric, "load_ms") == 0;
    char filt[256];
    sqlite3_stmt *st;

    trends_filter(q, load, filt, sizeof(filt));
    if (load)
        trends_sql_load(&b, filt, r->daily, r->edge1, r->edge2);
    else
        trends_sql_rollup(&b, q->metric, filt, r);
    if (b.full) {
        snprintf(db->err, sizeof(db->err), "trends query too long");
        return NULL;
    }
    st = db_prepare(db, b.s);
    if (st == NULL)
        return NULL;
    if (!r->daily || r->edge1)
        db_bind_int(st, ":since", q->since);
    if (!r->daily || r->edge2)
        db_bind_int(st, ":until", r->until);
    if (r->daily) {
        db_bind_int(st, ":d0", r->d0);
        db_bind_int(st, ":d1", r->d1);
    }
    if (r->weekly) {
        db_bind_int(st, ":w0", r->w0);
        db_bind_int(st, ":w1", r->w1);
        db_bind_text(st, ":metric", q->metric);
    }
    if (q->model)
        db_bind_text(st, ":model", q->model);
    if (q->case_name)
        db_bind_text(st, ":case", q->case_name);
    if (q->suite)
        db_bind_text(st, ":suite", q->suite);
    if (r->per_run && !load)
        db_bind_text(st, ":metric", q->metric);
    return st;
}

/*
 * The writer of a trends answer: rows arrive ordered by series (model,
 * case) and time; rows of one bucket accumulate in `a`, and a bucket is
 * written as a point when the next row belongs elsewhere (another series,
 * another bucket, or any next row when per run). A series opens with its
 * header when its first row arrives.
 */
struct trends_out {
    struct jtext b;
    struct acc a;
    char model[HISTORY_KEY_MAX], cname[HISTORY_KEY_MAX];
    int have, cur, first_point, per_run, truncated;
    size_t npoints;
};

/* Write the bucket in progress as a point. 0, or -1 when the answer holds
 * HISTORY_POINTS_MAX points already (truncated is set). */
static int
trends_flush(struct trends_out *o)
{
    if (!o->have)
        return 0;
    if (o->npoints >= HISTORY_POINTS_MAX) {
        o->truncated = 1;
        o->have = 0;
        return -1;
    }
    if (!o->first_point)
        jt_lit(&o->b, ",");
    acc_point(&o->a, o->per_run, &o->b);
    o->first_point = 0;
    o->npoints++;
    o->have = 0;
    return 0;
}

/* Open the series (mo, ca): close the one before, write the header. */
static void
trends_series(struct trends_out *o, const char *mo, const char *ca)
{
    snprintf(o->model, sizeof(o->model), "%s", mo);
    snprintf(o->cname, sizeof(o->cname), "%s", ca ? ca : "");
    jt_lit(&o->b, o->cur ? "]},{\"model\":" : "{\"model\":");
    jt_str(&o->b, mo);
    jt_lit(&o->b, ",\"case\":");
    if (ca != NULL)
        jt_str(&o->b, ca);
    else
        jt_lit(&o->b, "null");
    jt_lit(&o->b, ",\"points\":[");
    o->cur = 1;
    o->first_point = 1;
}

/* One row of the query. 0, 1 when the answer is full (stop reading), -1
 * when out of memory, -2 when a week of history_weekly would share its
 * point with another part (a week not starting on a Monday: its stored
 * spread is no longer the point's). */
static int
trends_row(struct trends_out *o, sqlite3_stmt *st, enum history_bucket bucket)
{
    const char *mo = col_text(st, 0);
    const char *ca = sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : col_text(st, 1);
    int64_t t = bucket_start(bucket, sqlite3_column_int64(st, 3));
    int same_series =
        o->cur && strcmp(mo, o->model) == 0 && strcmp(ca ? ca : "", o->cname) == 0;

    if (o->have && (!same_series || o->per_run || t != o->a.t) && trends_flush(o) == -1)
        return 1;
    if (!same_series)
        trends_series(o, mo, ca);
    if (!o->have) {
        acc_reset(&o->a, t);
        o->have = 1;
    } else if (o->a.stored || sqlite3_column_int(st, 15) != 0) {
        return -2;
    }
    return acc_add(&o->a, st);
}

int
history_trends(struct db *db, const struct history_query *q, char **text, size_t *len)
{
    static const char *const bnames[] = {"run", "hour", "day", "week"};
    struct trends_out o;
    struct trends_range r;
    sqlite3_stmt *st = NULL;
    int rc = -1, step = SQLITE_DONE, got = 0;

    *text = NULL;
    *len = 0;
    memset(&o, 0, sizeof(o));
    o.b = (struct jtext)JTEXT_INIT(HISTORY_TEXT_MAX);
    if (!history_metric_ok(q->metric)) {
        snprintf(db->err, sizeof(db->err), "unknown metric");
        return -1;
    }
    trends_range(q, &r);
    o.per_run = r.per_run;
    if (trends_weeks(db, q, &r) == -1)
        goto out;
    st = trends_stmt(db, q, &r);
    if (st == NULL)
        goto out;
    jt_lit(&o.b, "{\"metric\":");
    jt_str(&o.b, q->metric);
    jt_lit(&o.b, ",\"bucket\":");
    jt_str(&o.b, bnames[q->bucket]);
    jt_lit(&o.b, ",\"series\":[");
    while (got == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        got = trends_row(&o, st, q->bucket);
    if (got < 0) {
        snprintf(db->err, sizeof(db->err), "%s",
                 got == -1 ? "out of memory"
                           : "history_weekly holds a week that does not start on a Monday");
        goto out;
    }
    if (got == 0 && step != SQLITE_DONE) {
        seterr(db);
        goto out;
    }
    trends_flush(&o);
    jt_lit(&o.b, o.cur ? "]}]" : "]");
    jt_lit(&o.b, o.truncated ? ",\"truncated\":true}" : ",\"truncated\":false}");
    if (o.b.full) {
        snprintf(db->err, sizeof(db->err),
                 "trends answer larger than %d bytes or out of memory", HISTORY_TEXT_MAX);
        goto out;
    }
    *text = o.b.p;
    *len = o.b.len;
    o.b.p = NULL;
    rc = 0;
out:
    sqlite3_finalize(st);
    free(o.b.p);
    free(o.a.meds);
    return rc;
}

/* ---- the leaderboard ---- */

static int
model_cases(struct db *db, json_t *m, int64_t run_id, double *avg_e2e, double *avg_dec,
            double *pass)
{
    static const char sql[] =
        "SELECT h.case_name, h.e2e_tps_sum / h.e2e_tps_n, h.decode_tps_sum / h.decode_tps_n,"
        " h.ttft_ms_sum / h.ttft_ms_n, b.e2e_tps, b.run_id, h.n, h.n_passed"
        " FROM history_rollup h LEFT JOIN history_best b"
        " ON b.model = h.model AND b.case_name = h.case_name"
        " WHERE h.run_id = :run ORDER BY h.case_name";
    sqlite3_stmt *st = db_prepare(db, sql);
    json_t *cases = json_array();
    double se = 0, sd = 0;
    int ne = 0, nd = 0, step;
    int64_t req = 0, passed = 0;

    if (st == NULL) {
        json_decref(cases);
        return -1;
    }
    db_bind_int(st, ":run", run_id);
    for (;;) {
        double e, d;
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        e = col_num(st, 1);
        d = col_num(st, 2);
        if (!isnan(e)) {
            se += e;
            ne++;
        }
        if (!isnan(d)) {
            sd += d;
            nd++;
        }
        req += sqlite3_column_int64(st, 6);
        passed += sqlite3_column_int64(st, 7);
        json_array_append_new(
            cases,
            json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "case", col_text(st, 0),
                      "latest_e2e_tps", jnum(e), "latest_decode_tps", jnum(d), "latest_ttft_ms",
                      jnum(col_num(st, 3)), "best_e2e_tps", jnum(col_num(st, 4)), "best_run_id",
                      sqlite3_column_type(st, 5) == SQLITE_NULL
                          ? json_null()
                          : json_integer(sqlite3_column_int64(st, 5)),
                      "pass_rate",
                      jnum(sqlite3_column_int64(st, 6)
                               ? sqlite3_column_double(st, 7) / sqlite3_column_double(st, 6)
                               : NAN)));
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        seterr(db);
        json_decref(cases);
        return -1;
    }
    json_object_set_new(m, "cases", cases);
    *avg_e2e = ne ? se / ne : NAN;
    *avg_dec = nd ? sd / nd : NAN;
    *pass = req ? (double)passed / (double)req : NAN;
    return 0;
}

static int
cmp_rank(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double u = json_number_value(json_object_get(x, "avg_e2e_tps"));
    double v = json_number_value(json_object_get(y, "avg_e2e_tps"));

    if (json_is_null(json_object_get(x, "avg_e2e_tps")))
        u = -1;
    if (json_is_null(json_object_get(y, "avg_e2e_tps")))
        v = -1;
    if (u != v)
        return (u < v) - (u > v);
    return strcmp(json_string_value(json_object_get(x, "model")),
                  json_string_value(json_object_get(y, "model")));
}

int
history_models(struct db *db, json_t **out)
{
    static const char sql[] =
        "SELECT m.model, m.latest_run_id, m.latest_at, m.runs, r.model_format, r.model_quant,"
        " r.model_size_bytes, r.load_ms, coalesce(r.fingerprint, r.model)"
        " FROM history_models m JOIN runs r ON r.id = m.latest_run_id"
        " ORDER BY m.model LIMIT :max";
    sqlite3_stmt *st = db_prepare(db, sql);
    json_t *list = json_array(), **arr = NULL;
    double best = 0;
    size_t i, n;
    int rc = -1, step;

    if (st == NULL)
        goto out;
    db_bind_int(st, ":max", HISTORY_MODELS_MAX);
    for (;;) {
        json_t *m;
        double size, e2e = NAN, dec = NAN, pass = NAN;

        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        size = col_num(st, 6);
        m = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "model", col_text(st, 0),
                      "series", col_text(st, 8), "model_format",
                      sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null()
                                                                : json_string(col_text(st, 4)),
                      "model_quant",
                      sqlite3_column_type(st, 5) == SQLITE_NULL ? json_null()
                                                                : json_string(col_text(st, 5)),
                      "model_size_bytes",
                      isnan(size) ? json_null() : json_integer((json_int_t)size), "load_ms",
                      jnum(col_num(st, 7)), "runs", (json_int_t)sqlite3_column_int64(st, 3),
                      "latest_run_id", (json_int_t)sqlite3_column_int64(st, 1), "latest_at",
                      (json_int_t)sqlite3_column_int64(st, 2));
        if (m == NULL ||
            model_cases(db, m, sqlite3_column_int64(st, 1), &e2e, &dec, &pass) == -1) {
            json_decref(m);
            goto out;
        }
        json_object_set_new(m, "avg_e2e_tps", jnum(e2e));
        json_object_set_new(m, "avg_decode_tps", jnum(dec));
        json_object_set_new(m, "pass_rate", jnum(pass));
        json_object_set_new(m, "tps_per_gb", jnum(size > 0 ? e2e / (size / 1e9) : NAN));
        if (!isnan(e2e) && e2e > best)
            best = e2e;
        json_array_append_new(list, m);
    }
    if (step != SQLITE_DONE) {
        seterr(db);
        goto out;
    }
    n = json_array_size(list);
    arr = calloc(n + 1, sizeof(*arr));
    if (arr == NULL)
        goto out;
    for (i = 0; i < n; i++)
        arr[i] = json_array_get(list, i);
    qsort(arr, n, sizeof(*arr), cmp_rank);
    *out = json_array();
    for (i = 0; i < n; i++) {
        double e = json_number_value(json_object_get(arr[i], "avg_e2e_tps"));
        json_object_set_new(arr[i], "rank", json_integer((json_int_t)(i + 1)));
        json_object_set_new(arr[i], "relative_speed", jnum(best > 0 ? e / best : NAN));
        json_array_append(*out, arr[i]);
    }
    *out = json_pack("{s:o}", "models", *out);
    rc = *out ? 0 : -1;
out:
    sqlite3_finalize(st);
    json_decref(list);
    free(arr);
    return rc;
}

/* ---- regressions ---- */

int
history_untested(struct db *db, int max, struct history_point **pts, int *n, int64_t *scan_to)
{
    /* A run is finished when its state is final, or when its job is (a
     * cancelled or interrupted job leaves its last run "running"). */
    static const char sql[] =
        "SELECT h.run_id, h.at, h.series, h.model, h.case_name FROM runs r"
        " JOIN history_rollup h ON h.run_id = r.id"
        " WHERE r.id > (SELECT run_id FROM history_scan WHERE id = 1)"
        " AND r.id < :hold ORDER BY r.id, h.case_name";
    static const char hold_sql[] =
        "SELECT coalesce((SELECT min(r.id) FROM runs r JOIN jobs j ON j.id = r.job_id"
        " WHERE r.state IN ('pending', 'running') AND j.state IN ('queued', 'running')"
        " AND r.id > (SELECT run_id FROM history_scan WHERE id = 1)),"
        " (SELECT coalesce(max(id), 0) + 1 FROM runs))";
    sqlite3_stmt *st = NULL;
    struct history_point *p = NULL;
    int64_t hold = 0, last = -1;
    int k = 0, cap = 0, rc = -1, step;

    *pts = NULL;
    *n = 0;
    st = db_prepare(db, hold_sql);
    if (st == NULL)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        hold = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    *scan_to = hold - 1;
    st = db_prepare(db, sql);
    if (st == NULL)
        goto out;
    db_bind_int(st, ":hold", hold);
    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        if (k == max) {
            /* Stop at a run boundary: the rest of this run waits. */
            while (k > 0 && p[k - 1].run_id == sqlite3_column_int64(st, 0))
                k--;
            *scan_to = k > 0 ? p[k - 1].run_id : last;
            step = SQLITE_DONE;
            break;
        }
        if (k == cap) {
            /* Grown as needed: most scans find one job's runs, or none. */
            size_t ncap = cap ? 2 * (size_t)cap : 64;
            struct history_point *np;
            if (ncap > (size_t)max)
                ncap = (size_t)max;
            np = realloc(p, ncap * sizeof(*np));
            if (np == NULL) {
                snprintf(db->err, sizeof(db->err), "out of memory");
                goto out;
            }
            p = np;
            cap = (int)ncap;
        }
        p[k].run_id = sqlite3_column_int64(st, 0);
        p[k].at = sqlite3_column_int64(st, 1);
        snprintf(p[k].series, sizeof(p[k].series), "%s", col_text(st, 2));
        snprintf(p[k].model, sizeof(p[k].model), "%s", col_text(st, 3));
        snprintf(p[k].case_name, sizeof(p[k].case_name), "%s", col_text(st, 4));
        k++;
    }
    if (step != SQLITE_DONE) {
        seterr(db);
        goto out;
    }
    if (*scan_to < 0)
        *scan_to = 0;
    *pts = p;
    p = NULL;
    *n = k;
    rc = 0;
out:
    sqlite3_finalize(st);
    free(p);
    return rc;
}

int
history_scan_mark(struct db *db, int64_t run_id)
{
    sqlite3_stmt *st = db_prepare(db, "SELECT run_id FROM history_scan WHERE id = 1");
    int rc;

    /* Read first: a scan that found nothing new writes nothing (no fsync). */
    if (st == NULL)
        return -1;
    rc = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) >= run_id;
    sqlite3_finalize(st);
    if (rc)
        return 0;
    st = db_prepare(db, "UPDATE history_scan SET run_id = max(run_id, :r) WHERE id = 1");
    if (st == NULL)
        return -1;
    db_bind_int(st, ":r", run_id);
    rc = db_step_done(db, st);
    sqlite3_finalize(st);
    return rc;
}

int
history_window(struct db *db, const struct history_point *p, const char *metric, int w,
               double *value, double *vals, int *n)
{
    char sql[HISTORY_SQL_MAX];
    sqlite3_stmt *st;
    int k = 0, step, i;

    *value = NAN;
    *n = 0;
    if (!history_metric_ok(metric) || strcmp(metric, "load_ms") == 0 ||
        w > HISTORY_WINDOW_MAX) {
        snprintf(db->err, sizeof(db->err), "no window for metric");
        return -1;
    }
    /* The run itself and up to w earlier runs, newest first. "at <= :at"
     * bounds the index range: without it, testing an old run walked every
     * later run of its series (a backlog scan was quadratic). */
    snprintf(sql, sizeof(sql),
             "SELECT run_id, %s_p50 FROM history_rollup"
             " WHERE series = :series AND case_name = :case AND at <= :at AND %s_n > 0"
             " AND (at < :at OR run_id = :run) ORDER BY at DESC LIMIT :lim",
             metric, metric);
    st = db_prepare(db, sql);
    if (st == NULL)
        return -1;
    db_bind_text(st, ":series", p->series);
    db_bind_text(st, ":case", p->case_name);
    db_bind_int(st, ":at", p->at);
    db_bind_int(st, ":run", p->run_id);
    db_bind_int(st, ":lim", w + 1);
    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        if (sqlite3_column_int64(st, 0) == p->run_id)
            *value = col_num(st, 1);
        else if (k < w && sqlite3_column_type(st, 1) != SQLITE_NULL)
            vals[k++] = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        seterr(db);
        return -1;
    }
    /* Oldest first. */
    for (i = 0; i < k / 2; i++) {
        double t = vals[i];
        vals[i] = vals[k - 1 - i];
        vals[k - 1 - i] = t;
    }
    *n = k;
    return 0;
}

int
history_verdicts_store(struct db *db, const struct history_verdict *v, int n)
{
    static const char sql[] =
        "INSERT INTO history_verdicts (run_id, series, model, case_name, metric, at, value,"
        " baseline, sigma, t, change, win, verdict, created_at)"
        " VALUES (:run, :series, :model, :case, :metric, :at, :value, :baseline, :sigma, :t,"
        " :change, :win, :verdict, :now)"
        " ON CONFLICT (run_id, case_name, metric) DO UPDATE SET value = excluded.value,"
        " baseline = excluded.baseline, sigma = excluded.sigma, t = excluded.t,"
        " change = excluded.change, win = excluded.win, verdict = excluded.verdict,"
        " created_at = excluded.created_at";
    sqlite3_stmt *st = NULL;
    int i, rc = -1;

    if (n <= 0)
        return 0;
    if (db_begin(db) == -1)
        return -1;
    /* New verdicts change what the history endpoints answer: a new ETag. */
    if (db_exec(db, "UPDATE history_version SET v = v + 1 WHERE id = 1") == -1)
        goto out;
    st = db_prepare(db, sql);
    if (st == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        sqlite3_reset(st);
        db_bind_int(st, ":run", v[i].p->run_id);
        db_bind_text(st, ":series", v[i].p->series);
        db_bind_text(st, ":model", v[i].p->model);
        db_bind_text(st, ":case", v[i].p->case_name);
        db_bind_text(st, ":metric", v[i].metric);
        db_bind_int(st, ":at", v[i].p->at);
        db_bind_double(st, ":value", v[i].value);
        db_bind_double(st, ":baseline", v[i].baseline);
        db_bind_double(st, ":sigma", v[i].sigma);
        db_bind_double(st, ":t", v[i].t);
        db_bind_double(st, ":change", v[i].change);
        db_bind_int(st, ":win", v[i].win);
        db_bind_text(st, ":verdict", v[i].verdict);
        db_bind_int(st, ":now", clock_wall_ms());
        if (sqlite3_step(st) != SQLITE_DONE) {
            seterr(db);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    if (db_end(db, rc == 0) == -1)
        rc = -1;
    return rc;
}

int
history_verdicts_list(struct db *db, const char *model, int all, int64_t cursor, int limit,
                      json_t **out)
{
    char sql[HISTORY_SQL_MAX];
    sqlite3_stmt *st;
    json_t *list = NULL, *last;

    snprintf(sql, sizeof(sql),
             "SELECT id, run_id, series, model, case_name AS \"case\", metric, at, value,"
             " baseline, sigma, t, change, win AS window, verdict FROM history_verdicts"
             " WHERE id < :cursor%s%s ORDER BY id DESC LIMIT :lim",
             all ? "" : " AND verdict = 'regression'", model ? " AND model = :model" : "");
    st = db_prepare(db, sql);
    if (st == NULL)
        return -1;
    db_bind_int(st, ":cursor", cursor > 0 ? cursor : INT64_MAX);
    db_bind_int(st, ":lim",
                limit > 0 && limit <= HISTORY_VERDICTS_MAX ? limit : HISTORY_VERDICTS_MAX);
    if (model)
        db_bind_text(st, ":model", model);
    if (db_rows_json(db, st, &list) == -1)
        return -1;
    last = json_array_get(list, json_array_size(list) - 1);
    *out = json_pack("{s:o, s:o}", "regressions", list, "next_cursor",
                     last != NULL && (int)json_array_size(list) == limit
                         ? json_incref(json_object_get(last, "id"))
                         : json_null());
    return *out ? 0 : -1;
}

int
history_verdict_summary(struct db *db, int max, json_t **out)
{
    static const char sql[] =
        "WITH k AS (SELECT model, case_name, metric, sum(verdict = 'regression') AS reg,"
        " sum(verdict = 'improvement') AS imp, max(id) AS last_id FROM history_verdicts"
        " GROUP BY model, case_name, metric ORDER BY last_id DESC LIMIT :max)"
        " SELECT k.model, k.case_name, k.metric, k.reg, k.imp, CASE WHEN v.run_id ="
        " (SELECT h.run_id FROM history_rollup h WHERE h.model = k.model"
        " AND h.case_name = k.case_name ORDER BY h.at DESC LIMIT 1) THEN v.verdict END"
        " FROM k JOIN history_verdicts v ON v.id = k.last_id"
        " ORDER BY k.model, k.case_name, k.metric";
    sqlite3_stmt *st = db_prepare(db, sql);
    json_t *list = json_array();
    int step;

    if (st == NULL) {
        json_decref(list);
        return -1;
    }
    db_bind_int(st, ":max", max);
    for (;;) {
        step = sqlite3_step(st);
        if (step != SQLITE_ROW)
            break;
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "model", col_text(st, 0), "case",
                            col_text(st, 1), "metric", col_text(st, 2), "regressions",
                            (json_int_t)sqlite3_column_int64(st, 3), "improvements",
                            (json_int_t)sqlite3_column_int64(st, 4), "active",
                            sqlite3_column_type(st, 5) == SQLITE_NULL
                                ? json_null()
                                : json_string(col_text(st, 5))));
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        seterr(db);
        json_decref(list);
        return -1;
    }
    *out = list;
    return 0;
}

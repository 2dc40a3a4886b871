/*
 * history.h - every run ever stored, read through the per-(run, case)
 * rollups that a trigger keeps current as samples arrive (schema.sql step
 * 3): trends, the leaderboard, the values a regression test needs, and the
 * verdicts it stores. Nothing here rescans raw samples.
 *
 * Figures ("metrics"): decode_tps, e2e_tps, ttft_ms, prompt_tps (per
 * sample, from the rollups) and load_ms (per run, from `runs`).
 * Times are Unix milliseconds. Includes only storage/.
 */
#ifndef TPSD_HISTORY_H
#define TPSD_HISTORY_H

#include <jansson.h>
#include <stdint.h>

#include "storage/db.h"

#define HISTORY_POINTS_MAX 100000      /* points in one trends answer, all series */
#define HISTORY_MODELS_MAX 1000        /* models on the leaderboard */
#define HISTORY_WINDOW_MAX 1000        /* values of one regression window */
#define HISTORY_VERDICTS_MAX 1000      /* verdicts in one answer */
#define HISTORY_KEY_MAX 512            /* bytes of a series key, model or case */
#define HISTORY_PCT_MAX 10000000       /* values one tpsd_pct() call sorts */
#define HISTORY_MEDS_MAX (1024 * 1024) /* bytes of one day's per-run medians (131072 runs) */
#define HISTORY_TEXT_MAX (64 * 1024 * 1024) /* bytes of one trends answer */

enum history_bucket {
    HISTORY_BUCKET_RUN, /* one point per run */
    HISTORY_BUCKET_HOUR,
    HISTORY_BUCKET_DAY,
    HISTORY_BUCKET_WEEK, /* weeks start Monday 00:00 UTC */
};

struct history_query {
    const char *model;     /* NULL: every model */
    const char *case_name; /* NULL: every case */
    const char *suite;     /* NULL: every suite */
    const char *metric;    /* one of the figures above */
    enum history_bucket bucket;
    int64_t since, until; /* [since, until) in ms; 0: open */
    int days_only;        /* 1: week buckets from the days, never history_weekly
                             (the same answer, slower: for the comparisons in
                             tests/ and bench/) */
};

/*
 * Register the SQL functions the schema's triggers call on connection h:
 * the aggregate tpsd_pct(v, q), the type-7 q-quantile (stats.h's
 * definition) of the non-NULL v, NULL when there are none (q is that of
 * the first row); tpsd_f64(x), x as an 8-byte little-endian blob; and
 * tpsd_cat(a, b), two blobs end to end (at most HISTORY_MEDS_MAX bytes:
 * past it, a); tpsd_fold, tpsd_st and tpsd_spread, a week's fold and its
 * run-to-run spread for history_weekly (schema steps 13 and 17). db_open
 * calls it on every connection. 0 or -1.
 */
int history_sql_functions(sqlite3 *h);

/* 1 when `metric` is a figure history knows, else 0. Can't fail. */
int history_metric_ok(const char *metric);
/* 1 when higher values of `metric` are better (throughputs), else 0. */
int history_metric_higher_better(const char *metric);
/* Parse "run", "hour", "day", "week". 0 or -1. */
int history_bucket_parse(const char *s, enum history_bucket *out);

/* A counter that changes whenever a sample is stored or a run changes,
 * the same on every connection (the ETag of history answers). 0 or -1. */
int history_version(struct db *db, int64_t *out);

/*
 * Trends: {"metric", "bucket", "truncated", "series": [{"model", "case",
 * "points": [{"t", "n", "runs", "mean", "p50", "p90", "min", "max",
 * "stddev", "pass_rate", "run_id" and "regression" (bucket run only)}]}]},
 * series ordered by model then case, points by time. A run-case belongs to
 * the bucket of its first sample (`at`), and since/until select on it.
 * "regression" is the run's stored verdict for the metric ("regression" or
 * "improvement"), absent when none. n counts successful samples; mean,
 * stddev, min and max are exact over them (merged sums); p50/p90 of a
 * point holding one run are that run's sample percentiles, of a point
 * holding several runs the percentiles of their per-run medians
 * (run-to-run spread). pass_rate is passed / requests. load_ms has one
 * series per model with case null. The answer is JSON text written
 * directly (reals within 5e-10 of their value, relative; null when
 * unknown): *text, NUL-terminated, caller frees, *len bytes. 0 or -1
 * (db->err; also past HISTORY_TEXT_MAX).
 */
int history_trends(struct db *db, const struct history_query *q, char **text, size_t *len);

/*
 * The leaderboard: {"models": [{"rank", "model", "series", "model_format",
 * "model_quant", "model_size_bytes", "load_ms", "runs", "latest_run_id",
 * "latest_at", "avg_e2e_tps", "avg_decode_tps", "pass_rate", "tps_per_gb",
 * "relative_speed", "cases": [{"case", "latest_e2e_tps",
 * "latest_decode_tps", "latest_ttft_ms", "best_e2e_tps", "best_run_id",
 * "pass_rate"}]}]}, ranked by the latest run's average e2e TPS (mean of
 * its case means). *out is new; 0 or -1.
 */
int history_models(struct db *db, json_t **out);

/* A (run, case) to test: its series and the run's median of the metric. */
struct history_point {
    int64_t run_id;
    int64_t at;
    char series[HISTORY_KEY_MAX];
    char model[HISTORY_KEY_MAX];
    char case_name[HISTORY_KEY_MAX];
};

/*
 * Finished runs not yet tested, oldest first (a run is finished when its
 * state or its job's state is final): their (run, case) rollups in
 * *pts (at most `max`, caller frees with free()), *n of them. Sets
 * *scan_to to the id the scan mark may advance to once they are tested
 * (runs still pending or running hold it back). 0 or -1.
 */
int history_untested(struct db *db, int max, struct history_point **pts, int *n,
                     int64_t *scan_to);
/* Advance the scan mark to run_id (never backwards). 0 or -1. */
int history_scan_mark(struct db *db, int64_t run_id);

/*
 * The run's median of `metric` for (run, case) in *value (NAN when none),
 * and up to `w` earlier per-run medians of the same series and case,
 * oldest first, in vals[0..*n). 0 or -1.
 */
int history_window(struct db *db, const struct history_point *p, const char *metric, int w,
                   double *value, double *vals, int *n);

struct history_verdict {
    const struct history_point *p;
    const char *metric;
    double value, baseline, sigma, t, change;
    int win;
    const char *verdict; /* "regression", "improvement", "none" */
};

/* Store verdicts (replacing those of the same run, case and metric) in one
 * transaction that also bumps history_version (the ETag). n <= 0 stores
 * nothing. 0 or -1. */
int history_verdicts_store(struct db *db, const struct history_verdict *v, int n);

/*
 * Stored verdicts, newest first: {"regressions": [{"id", "run_id",
 * "series", "model", "case", "metric", "at", "value", "baseline", "sigma",
 * "t", "change", "window", "verdict"}], "next_cursor"}: regressions, and
 * improvements too when `all`; model NULL for every model;
 * cursor: ids below it (0: from the newest). *out is new; 0 or -1.
 */
int history_verdicts_list(struct db *db, const char *model, int all, int64_t cursor, int limit,
                          json_t **out);

/*
 * Stored verdicts per (model, case, metric), the keys of the newest
 * verdicts first, at most `max` keys: [{"model", "case", "metric",
 * "regressions", "improvements", "active"}], "active" being the newest
 * verdict ("regression" or "improvement") when it is about the newest run
 * of (model, case), else null. For /metrics. *out is new; 0 or -1.
 */
int history_verdict_summary(struct db *db, int max, json_t **out);

#endif

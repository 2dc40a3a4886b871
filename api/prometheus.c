/*
 * prometheus.c - GET /metrics in the Prometheus text format 0.0.4.
 *
 * Label values are bounded: job states are a fixed set, status codes are
 * 400..599, (model, case) pairs come from the newest API_METRICS_RUNS
 * runs only, and the regression gauges name at most
 * API_METRICS_VERDICT_KEYS (model, case, metric) keys.
 */
#include "api/internal.h"

#include "storage/history.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/stabdata.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_METRICS_MAX (256 * 1024) /* bytes of the whole exposition */
#define API_METRICS_RUNS 50          /* newest runs looked at for last_decode */
#define API_METRICS_PAGE 500         /* runs per page when counting samples */
#define API_METRICS_PAGES 200        /* pages at most (100,000 runs) */
#define API_LABEL_MAX 512            /* bytes of one escaped label value */
#define API_METRICS_VERDICT_KEYS 100 /* (model, case, metric) keys of regression gauges */
#define API_METRICS_JOBS 50          /* newest jobs looked at for stability verdicts */

struct out {
    char *buf;
    size_t len;
    int full;
};

static void __attribute__((format(printf, 2, 3))) emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, API_METRICS_MAX - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= API_METRICS_MAX - o->len) {
        o->full = 1;
        o->buf[o->len] = '\0';
        return;
    }
    o->len += (size_t)n;
}

/* Escape a label value: backslash, double quote and newline. */
static void
escape(const char *in, char *out, size_t outlen)
{
    size_t j = 0;

    for (; in != NULL && *in != '\0' && j + 3 < outlen; in++) {
        if (*in == '\\' || *in == '"') {
            out[j++] = '\\';
            out[j++] = *in;
        } else if (*in == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *in;
        }
    }
    out[j] = '\0';
}

/* Sum of the measured samples of every run. 0 or -1. */
static int
samples_total(struct db *db, long long *total)
{
    json_t *runs, *run;
    int64_t before = 0;
    size_t i, n;
    int p;

    *total = 0;
    for (p = 0; p < API_METRICS_PAGES; p++) {
        if (runs_list(db, 0, before, API_METRICS_PAGE, &runs) == -1)
            return -1;
        n = json_array_size(runs);
        json_array_foreach(runs, i, run)
        {
            *total += json_integer_value(json_object_get(run, "samples"));
            before = json_integer_value(json_object_get(run, "id"));
        }
        json_decref(runs);
        if (n < API_METRICS_PAGE)
            break;
    }
    return 0;
}

/* The newest run with samples of each model among the newest
 * API_METRICS_RUNS runs, as runs_get_json bodies with cases: a new array,
 * or NULL on a database error. */
static json_t *
last_runs(struct db *db)
{
    json_t *runs, *run, *full, *out, *seen;
    const char *m;
    size_t i;

    if (runs_list(db, 0, 0, API_METRICS_RUNS, &runs) == -1)
        return NULL;
    out = json_array();
    seen = json_object();
    json_array_foreach(runs, i, run)
    {
        m = json_string_value(json_object_get(run, "model"));
        if (m == NULL || json_object_get(seen, m) != NULL ||
            json_integer_value(json_object_get(run, "samples")) <= 0)
            continue;
        if (runs_get_json(db, json_integer_value(json_object_get(run, "id")), 1, &full) != 0)
            continue;
        json_object_set_new(seen, m, json_true());
        json_array_append_new(out, full);
    }
    json_decref(runs);
    json_decref(seen);
    return out;
}

/*
 * The per-case figures of each model's newest run: one family per entry of
 * the table below, each a gauge {model, case} of the case's mean, scaled
 * (TTFT in seconds, Prometheus's base unit). A family is written whole
 * before the next, as the text format requires.
 */
static void
last_figures(const json_t *last, struct out *o)
{
    static const struct {
        const char *name, *field, *help;
        double scale;
    } fam[] = {
        {"tpsd_last_decode_tokens_per_second", "decode_tps_mean",
         "Mean decode speed of each case in the newest run of each model.", 1.0},
        {"tpsd_last_e2e_tokens_per_second", "e2e_tps_mean",
         "Mean end-to-end speed of each case in the newest run of each model.", 1.0},
        {"tpsd_last_ttft_seconds", "ttft_ms_mean",
         "Mean time to first token of each case in the newest run of each model.", 0.001},
    };
    char model[API_LABEL_MAX], cname[API_LABEL_MAX];
    const json_t *run, *c, *v;
    size_t f, i, j;

    for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
        emit(o, "# HELP %s %s\n# TYPE %s gauge\n", fam[f].name, fam[f].help, fam[f].name);
        json_array_foreach(last, i, run)
        {
            escape(json_string_value(json_object_get(run, "model")), model, sizeof(model));
            json_array_foreach(json_object_get(run, "cases"), j, c)
            {
                v = json_object_get(c, fam[f].field);
                if (!json_is_number(v))
                    continue;
                escape(json_string_value(json_object_get(c, "case")), cname, sizeof(cname));
                emit(o, "%s{model=\"%s\",case=\"%s\"} %.6g\n", fam[f].name, model, cname,
                     json_number_value(v) * fam[f].scale);
            }
        }
    }
}

/*
 * The verdicts of each model's newest stability analysis (the newest
 * "stability" event of the newest API_METRICS_JOBS jobs of kind
 * "stability"): tpsd_stability_leak 0/1, the decode speed's drift in % per
 * hour and the error ratio. 0, or -1 on a database error.
 */
static int
stability(struct db *db, struct out *o)
{
    json_t *jobs, *job, *a, *run, *seen = json_object(), *rows = json_array();
    char model[API_LABEL_MAX], *text;
    const char *kind, *m;
    size_t i, j;
    int64_t at;
    int rc = -1;

    if (jobs_list(db, NULL, 0, API_METRICS_JOBS, &jobs) == -1)
        goto out;
    json_array_foreach(jobs, i, job)
    {
        kind = json_string_value(json_object_get(job, "kind"));
        if (kind == NULL || strcmp(kind, "stability") != 0)
            continue;
        text = NULL;
        if (stabdata_last_event(db, json_integer_value(json_object_get(job, "id")), "stability",
                                &text, &at) == -1) {
            json_decref(jobs);
            goto out;
        }
        a = text != NULL ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_array_foreach(json_object_get(a, "runs"), j, run)
        {
            m = json_string_value(json_object_get(run, "model"));
            if (m == NULL || json_object_get(seen, m) != NULL)
                continue;
            json_object_set_new(seen, m, json_true());
            json_array_append(rows, run);
        }
        json_decref(a);
    }
    json_decref(jobs);
    emit(o, "# HELP tpsd_stability_leak 1 when the newest stability run of a model found a"
            " server memory leak.\n# TYPE tpsd_stability_leak gauge\n");
    json_array_foreach(rows, i, run)
    {
        escape(json_string_value(json_object_get(run, "model")), model, sizeof(model));
        emit(o, "tpsd_stability_leak{model=\"%s\"} %d\n", model,
             json_is_true(json_object_get(run, "leak")));
    }
    emit(o, "# HELP tpsd_stability_decode_drift_percent_per_hour Decode speed drift (OLS slope)"
            " of the newest stability run of a model.\n"
            "# TYPE tpsd_stability_decode_drift_percent_per_hour gauge\n");
    json_array_foreach(rows, i, run)
    {
        json_t *v = json_object_get(
            json_object_get(json_object_get(run, "drift"), "decode_tps"), "slope_pct_per_hour");

        if (!json_is_number(v))
            continue;
        escape(json_string_value(json_object_get(run, "model")), model, sizeof(model));
        emit(o, "tpsd_stability_decode_drift_percent_per_hour{model=\"%s\"} %.6g\n", model,
             json_number_value(v));
    }
    emit(o, "# HELP tpsd_stability_error_ratio Failed requests over all requests of the newest"
            " stability run of a model.\n# TYPE tpsd_stability_error_ratio gauge\n");
    json_array_foreach(rows, i, run)
    {
        double n = json_number_value(json_object_get(run, "requests"));
        json_t *e = json_object_get(json_object_get(run, "errors"), "count");

        if (n <= 0 || !json_is_integer(e))
            continue;
        escape(json_string_value(json_object_get(run, "model")), model, sizeof(model));
        emit(o, "tpsd_stability_error_ratio{model=\"%s\"} %.6g\n", model,
             (double)json_integer_value(e) / n);
    }
    rc = 0;
out:
    json_decref(rows);
    json_decref(seen);
    return rc;
}

/* tpsd_regressions and tpsd_improvements: stored verdicts (storage/
 * history.h) per (model, case, metric); tpsd_regression_active: 1 when the
 * newest run of (model, case) is a regression of the metric. The
 * API_METRICS_VERDICT_KEYS keys with the newest verdicts only. */
static int
regressions(struct db *db, struct out *o)
{
    json_t *list = NULL, *k;
    char model[API_LABEL_MAX], cname[API_LABEL_MAX], metric[API_LABEL_MAX];
    size_t i;
    int pass;

    if (history_verdict_summary(db, API_METRICS_VERDICT_KEYS, &list) == -1)
        return -1;
    for (pass = 0; pass < 3; pass++) {
        static const char *const head[] = {
            "# HELP tpsd_regressions Runs flagged slower than their history (GET "
            "/v1/regressions), by model, case and metric.\n# TYPE tpsd_regressions gauge\n",
            "# HELP tpsd_improvements Runs flagged faster than their history, by model, case"
            " and metric.\n# TYPE tpsd_improvements gauge\n",
            "# HELP tpsd_regression_active 1 when the newest run of a model and case is a"
            " regression of the metric.\n# TYPE tpsd_regression_active gauge\n",
        };
        emit(o, "%s", head[pass]);
        json_array_foreach(list, i, k)
        {
            long long n = pass == 0 ? json_integer_value(json_object_get(k, "regressions"))
                          : pass == 1
                              ? json_integer_value(json_object_get(k, "improvements"))
                              : json_is_string(json_object_get(k, "active")) &&
                                    strcmp(json_string_value(json_object_get(k, "active")),
                                           "regression") == 0;
            if (n == 0)
                continue;
            escape(json_string_value(json_object_get(k, "model")), model, sizeof(model));
            escape(json_string_value(json_object_get(k, "case")), cname, sizeof(cname));
            escape(json_string_value(json_object_get(k, "metric")), metric, sizeof(metric));
            emit(o, "%s{model=\"%s\",case=\"%s\",metric=\"%s\"} %lld\n",
                 pass == 0   ? "tpsd_regressions"
                 : pass == 1 ? "tpsd_improvements"
                             : "tpsd_regression_active",
                 model, cname, metric, n);
        }
    }
    json_decref(list);
    return 0;
}

enum MHD_Result
api_h_metrics(struct api_req *r)
{
    static const char *const states[] = {"queued", "running",   "succeeded",
                                         "failed", "cancelled", "interrupted"};
    struct db *db = api_db(r->api);
    struct out o = {NULL, 0, 0};
    json_t *counts = NULL, *last;
    long long total;
    unsigned long n;
    enum MHD_Result rc;
    size_t i;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    o.buf = malloc(API_METRICS_MAX);
    if (o.buf == NULL)
        return MHD_NO;
    o.buf[0] = '\0';
    if (jobs_count_by_state(db, &counts) == -1 || samples_total(db, &total) == -1) {
        json_decref(counts);
        free(o.buf);
        return api_reply_db_error(r, db);
    }
    emit(&o,
         "# HELP tpsd_build_info tpsd version.\n# TYPE tpsd_build_info gauge\n"
         "tpsd_build_info{version=\"%s\"} 1\n",
         TPSD_VERSION);
    emit(&o, "# HELP tpsd_jobs Jobs by state.\n# TYPE tpsd_jobs gauge\n");
    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        emit(&o, "tpsd_jobs{state=\"%s\"} %lld\n", states[i],
             (long long)json_integer_value(json_object_get(counts, states[i])));
    json_decref(counts);
    emit(&o,
         "# HELP tpsd_samples_total Measured requests stored (warm-ups excluded).\n"
         "# TYPE tpsd_samples_total counter\ntpsd_samples_total %lld\n",
         total);
    emit(&o, "# HELP tpsd_request_errors_total API responses with a 4xx or 5xx status.\n"
             "# TYPE tpsd_request_errors_total counter\n");
    for (i = 0; i < API_STATUS_SPAN; i++) {
        n = atomic_load(&r->api->errors[i]);
        if (n > 0)
            emit(&o, "tpsd_request_errors_total{code=\"%zu\"} %lu\n", i + API_STATUS_MIN, n);
    }
    last = last_runs(db);
    if (last == NULL || regressions(db, &o) == -1 || stability(db, &o) == -1) {
        json_decref(last);
        free(o.buf);
        return api_reply_db_error(r, db);
    }
    last_figures(last, &o);
    json_decref(last);
    rc = api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", o.buf, o.len);
    free(o.buf);
    return rc;
}

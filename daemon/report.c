/* report.c - see report.h. */
#include "daemon/report.h"
#include "daemon/capacity_report.h"
#include "daemon/depth_table.h"

#include "daemon/report_env.h"
#include "storage/capdata.h"
#include "daemon/stability.h"
#include "daemon/summary.h"
#include "storage/jobs.h"
#include "storage/runs.h"
#include "storage/sample_fields.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPORT_GOOD_PASS 0.8 /* a recommended model passes at least this share */
#define REPORT_DATE_MAX 32

/* The CSV's columns: a sample's identity, its figures flagged SF_CSV in
 * storage/sample_fields.h's order, then its outcome. */
static const char *const csv_head[] = {
    "seq", "case", "repetition", "slot", "warmup", "started_at",
};
static const char *const csv_tail[] = {
    "finish_reason", "ok", "passed", "error_code", "error_detail",
};
#define NCSV_HEAD (sizeof(csv_head) / sizeof(csv_head[0]))
#define NCSV_TAIL (sizeof(csv_tail) / sizeof(csv_tail[0]))

/* The k-th CSV column's name, or NULL past the last. */
static const char *
csv_col(size_t k)
{
    size_t f;

    if (k < NCSV_HEAD)
        return csv_head[k];
    k -= NCSV_HEAD;
    for (f = 0; f < sample_fields_n; f++) {
        if (!(sample_fields[f].flags & SF_CSV))
            continue;
        if (k == 0)
            return sample_fields[f].name;
        k--;
    }
    return k < NCSV_TAIL ? csv_tail[k] : NULL;
}

int
report_format_parse(const char *s, enum report_format *out)
{
    if (s == NULL || strcmp(s, "md") == 0 || strcmp(s, "markdown") == 0)
        *out = REPORT_MD;
    else if (strcmp(s, "json") == 0)
        *out = REPORT_JSON;
    else if (strcmp(s, "csv") == 0)
        *out = REPORT_CSV;
    else
        return -1;
    return 0;
}

const char *
report_content_type(enum report_format f)
{
    switch (f) {
    case REPORT_JSON:
        return "application/json";
    case REPORT_CSV:
        return "text/csv; charset=utf-8";
    case REPORT_MD:
    default:
        return "text/markdown; charset=utf-8";
    }
}

static double
num(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void
md_num(FILE *f, int prec, double v)
{
    if (isnan(v))
        fputs("-", f);
    else
        fprintf(f, "%.*f", prec, v);
}

static void
md_date(FILE *f, double ms)
{
    char buf[REPORT_DATE_MAX];
    time_t t;
    struct tm tm;

    if (isnan(ms)) {
        fputs("-", f);
        return;
    }
    t = (time_t)(ms / 1000);
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm) == 0)
        fputs("-", f);
    else
        fputs(buf, f);
}

static void
md_size(FILE *f, double bytes)
{
    if (isnan(bytes) || bytes <= 0)
        fputs("-", f);
    else
        fprintf(f, "%.1f GB", bytes / 1e9);
}

/* Requests and passed requests of a run, from its cases. */
static void
run_counts(const json_t *run, long long *n, long long *passed)
{
    json_t *c;
    size_t i;

    *n = *passed = 0;
    json_array_foreach(json_object_get(run, "cases"), i, c)
    {
        *n += (long long)json_integer_value(json_object_get(c, "n"));
        *passed += (long long)json_integer_value(json_object_get(c, "passed"));
    }
}

/* The run to recommend: the fastest without a run error among those
 * passing at least REPORT_GOOD_PASS, else the fastest. NULL when none. */
static json_t *
recommend(json_t *runs)
{
    json_t *run, *best = NULL, *best_any = NULL;
    size_t i;

    json_array_foreach(runs, i, run)
    {
        double v = num(run, "avg_e2e_tps");
        if (str(run, "error_code") != NULL || isnan(v))
            continue;
        if (best_any == NULL || v > num(best_any, "avg_e2e_tps"))
            best_any = run;
        if (num(run, "pass_rate") >= REPORT_GOOD_PASS &&
            (best == NULL || v > num(best, "avg_e2e_tps")))
            best = run;
    }
    return best ? best : best_any;
}

/* Failed requests of every run: [{run_id, model, case, seq, error_code,
 * error_detail}] (validation failures have error_code "validation_failed"). */
static int
failures(struct db *db, json_t *runs, json_t **out)
{
    json_t *list = json_array(), *run, *samples, *s;
    size_t i, j;

    json_array_foreach(runs, i, run)
    {
        if (samples_list(db, json_integer_value(json_object_get(run, "id")), -1,
                         SUMMARY_SAMPLES_MAX, &samples) == -1) {
            json_decref(list);
            return -1;
        }
        json_array_foreach(samples, j, s)
        {
            int ok = json_is_true(json_object_get(s, "ok"));
            if (json_is_true(json_object_get(s, "warmup")))
                continue;
            if (ok && !json_is_false(json_object_get(s, "passed")))
                continue;
            json_array_append_new(
                list, json_pack("{s:O, s:s, s:O, s:O, s:s, s:O}", "run_id",
                                json_object_get(run, "id"), "model", str(run, "model"), "case",
                                json_object_get(s, "case"), "seq", json_object_get(s, "seq"),
                                "error_code",
                                ok ? "validation_failed"
                                   : (str(s, "error_code") ? str(s, "error_code") : "error"),
                                "error_detail",
                                json_object_get(s, "error_detail")
                                    ? json_object_get(s, "error_detail")
                                    : json_null()));
        }
        json_decref(samples);
    }
    *out = list;
    return 0;
}

static void
md_comparison(FILE *f, json_t *runs, const json_t *rec)
{
    json_t *run;
    size_t i;

    fputs("## Comparison\n\n", f);
    fputs("| Model | Format | Quant | Size | Avg TPS | Range | Pass rate | Relative speed"
          " | TPS/GB | Load time |\n",
          f);
    fputs("|-------|--------|-------|------|--------:|-------|-----------|---------------"
          "|-------:|----------:|\n",
          f);
    json_array_foreach(runs, i, run)
    {
        long long n, passed;
        double rel = num(run, "relative_speed");
        int failed = str(run, "error_code") != NULL;

        run_counts(run, &n, &passed);
        fputs(run == rec ? "| **" : "| ", f);
        report_md_cell(f, str(run, "model"));
        fputs(run == rec ? "** | " : " | ", f);
        report_md_cell(f, str(run, "model_format"));
        fputs(" | ", f);
        report_md_cell(f, str(run, "model_quant"));
        fputs(" | ", f);
        md_size(f, num(run, "model_size_bytes"));
        fputs(" | ", f);
        if (failed && isnan(num(run, "avg_e2e_tps")))
            fputs("failed", f);
        else
            md_num(f, 2, num(run, "avg_e2e_tps"));
        fputs(" | ", f);
        if (isnan(num(run, "e2e_tps_min")))
            fputs("-", f);
        else
            fprintf(f, "%.2f-%.2f", num(run, "e2e_tps_min"), num(run, "e2e_tps_max"));
        fprintf(f, " | %lld/%lld | ", passed, n);
        if (isnan(rel))
            fputs("-", f);
        else if (rel >= 1.0)
            fputs("fastest", f);
        else
            fprintf(f, "%.0f%% slower", 100.0 * (1.0 - rel));
        fputs(" | ", f);
        md_num(f, 3, num(run, "tps_per_gb"));
        fputs(" | ", f);
        if (isnan(num(run, "load_ms")))
            fputs("-", f);
        else
            fprintf(f, "%.1f s", num(run, "load_ms") / 1000.0);
        fputs(" |\n", f);
    }
    fputs("\n", f);
}

/*
 * The server's own clock beside ours for one run, when its samples carry
 * server timings (figures.h): the server's decode speed and how far it is
 * from the client's on the same basis, its TTFT and prefill speed, and how
 * many samples disagree by more than 5%.
 */
static void
md_server(FILE *f, const json_t *run)
{
    json_t *c;
    size_t j;
    int header = 0;

    json_array_foreach(json_object_get(run, "cases"), j, c)
    {
        if (json_object_get(c, "server_samples") == NULL)
            continue;
        if (!header) {
            fputs(
                "\nAs the server's own clock reports it:\n\n"
                "| Case | Server decode TPS | vs client | Client decode TPS | Server TTFT (ms) "
                "| Client TTFT (ms) | Server prefill TPS | Cached prompt tokens "
                "| Disagree >5% |\n"
                "|------|------------------:|----------:|------------------:|-----------------:"
                "|-----------------:|-------------------:|---------------------:"
                "|-------------:|\n",
                f);
            header = 1;
        }
        fputs("| ", f);
        report_md_cell(f, str(c, "case"));
        fputs(" | ", f);
        md_num(f, 2, num(json_object_get(c, "server_decode_tps"), "mean"));
        fputs(" | ", f);
        if (isnan(num(json_object_get(c, "server_decode_diff_pct"), "mean")))
            fputs("-", f);
        else
            fprintf(f, "%+.1f%%", num(json_object_get(c, "server_decode_diff_pct"), "mean"));
        fputs(" | ", f);
        md_num(f, 2, num(json_object_get(c, "decode_tps"), "mean"));
        fputs(" | ", f);
        md_num(f, 0, num(json_object_get(c, "server_ttft_ms"), "mean"));
        fputs(" | ", f);
        md_num(f, 0, num(json_object_get(c, "ttft_ms"), "mean"));
        fputs(" | ", f);
        md_num(f, 1, num(json_object_get(c, "server_prompt_tps"), "mean"));
        fputs(" | ", f);
        md_num(f, 0, num(json_object_get(c, "server_cached_tokens"), "mean"));
        fprintf(f, " | %lld/%lld |\n",
                (long long)json_integer_value(json_object_get(c, "server_clock_mismatches")),
                (long long)json_integer_value(json_object_get(c, "server_samples")));
    }
    if (header && json_integer_value(json_object_get(run, "server_clock_mismatches")) > 0)
        fprintf(f,
                "\n**%lld of %lld samples** have server and client decode speeds more than 5%% "
                "apart.\n",
                (long long)json_integer_value(json_object_get(run, "server_clock_mismatches")),
                (long long)json_integer_value(json_object_get(run, "server_samples")));
}

static void
md_cases(FILE *f, json_t *runs)
{
    json_t *run, *c;
    size_t i, j;

    fputs("## Per-case results\n", f);
    json_array_foreach(runs, i, run)
    {
        long long n, passed;

        fputs("\n### ", f);
        report_md_cell(f, str(run, "model"));
        if (num(run, "model_size_bytes") > 0) {
            fputs(" (", f);
            md_size(f, num(run, "model_size_bytes"));
            fputs(")", f);
        }
        fputs("\n\n", f);
        if (json_array_size(json_object_get(run, "cases")) == 0) {
            fputs("No measurements", f);
            if (str(run, "error_code") != NULL) {
                fputs(": failed with `", f);
                report_md_cell(f, str(run, "error_code"));
                fputs("`", f);
            }
            fputs(".\n", f);
            continue;
        }
        fputs("| Case | Tokens | Time (s) | TTFT (ms) | Decode TPS | E2E TPS | Pass |\n", f);
        fputs("|------|-------:|---------:|----------:|-----------:|--------:|-----:|\n", f);
        json_array_foreach(json_object_get(run, "cases"), j, c)
        {
            fputs("| ", f);
            report_md_cell(f, str(c, "case"));
            fputs(" | ", f);
            md_num(f, 0, num(json_object_get(c, "completion_tokens"), "mean"));
            fputs(" | ", f);
            md_num(f, 2, num(json_object_get(c, "e2e_ms"), "mean") / 1000.0);
            fputs(" | ", f);
            md_num(f, 0, num(json_object_get(c, "ttft_ms"), "mean"));
            fputs(" | ", f);
            md_num(f, 2, num(json_object_get(c, "decode_tps"), "mean"));
            fputs(" | ", f);
            md_num(f, 2, num(json_object_get(c, "e2e_tps"), "mean"));
            fprintf(f, " | %lld/%lld |\n",
                    (long long)json_integer_value(json_object_get(c, "passed")),
                    (long long)json_integer_value(json_object_get(c, "n")));
        }
        run_counts(run, &n, &passed);
        fputs("| **Average** | | | | ", f);
        md_num(f, 2, num(run, "avg_decode_tps"));
        fputs(" | **", f);
        md_num(f, 2, num(run, "avg_e2e_tps"));
        fprintf(f, "** | %lld/%lld |\n", passed, n);
        md_server(f, run);
        depth_table_write(run, f, 1);
        if (!isnan(num(run, "load_ms")))
            fprintf(f, "\nLoad time: %.1f s.\n", num(run, "load_ms") / 1000.0);
    }
    fputs("\n", f);
}

static void
md_recommendation(FILE *f, json_t *runs, const json_t *rec)
{
    json_t *run, *next = NULL;
    long long n, passed;
    size_t i;

    fputs("## Summary\n\n### Recommendation\n\n", f);
    if (rec == NULL) {
        fputs("No model completed a measurement; see the failures below.\n\n", f);
        return;
    }
    json_array_foreach(runs, i, run)
    {
        if (run != rec && !isnan(num(run, "avg_e2e_tps")) &&
            (next == NULL || num(run, "avg_e2e_tps") > num(next, "avg_e2e_tps")))
            next = run;
    }
    run_counts(rec, &n, &passed);
    fputs("**", f);
    report_md_cell(f, str(rec, "model"));
    fputs("** is the best choice of this job.\n\n", f);
    fprintf(f, "- Average speed: %.2f TPS (e2e; decode %.2f TPS)\n", num(rec, "avg_e2e_tps"),
            num(rec, "avg_decode_tps"));
    fprintf(f, "- Pass rate: %lld/%lld\n", passed, n);
    if (next != NULL && num(next, "avg_e2e_tps") > 0) {
        double d = num(rec, "avg_e2e_tps") / num(next, "avg_e2e_tps") - 1.0;
        fprintf(f, "- %.0f%% %s than ", 100.0 * fabs(d), d >= 0 ? "faster" : "slower");
        report_md_cell(f, str(next, "model"));
        fputs("\n", f);
    }
    if (num(rec, "model_size_bytes") > 0) {
        fputs("- Size: ", f);
        md_size(f, num(rec, "model_size_bytes"));
        if (!isnan(num(rec, "tps_per_gb")))
            fprintf(f, " (%.3f TPS/GB)", num(rec, "tps_per_gb"));
        fputs("\n", f);
    }
    if (!isnan(num(rec, "load_ms")))
        fprintf(f, "- Load time: %.1f s\n", num(rec, "load_ms") / 1000.0);
    fputs("\n", f);
}

static void
md_failures(FILE *f, json_t *runs, json_t *fails)
{
    json_t *run, *x;
    size_t i, shown = 0;

    fputs("## Failures\n\n", f);
    json_array_foreach(runs, i, run)
    {
        if (str(run, "error_code") == NULL)
            continue;
        fputs("- **", f);
        report_md_cell(f, str(run, "model"));
        fputs("**: run failed: `", f);
        report_md_cell(f, str(run, "error_code"));
        fputs("`", f);
        if (str(run, "error_detail") != NULL) {
            fputs(": ", f);
            report_md_cell(f, str(run, "error_detail"));
        }
        fputs("\n", f);
        shown++;
    }
    json_array_foreach(fails, i, x)
    {
        if (i >= REPORT_FAILURES_MAX) {
            fprintf(f, "- ... and %zu more failed requests (see the CSV)\n",
                    json_array_size(fails) - i);
            break;
        }
        fputs("- **", f);
        report_md_cell(f, str(x, "model"));
        fputs("** / ", f);
        report_md_cell(f, str(x, "case"));
        fprintf(f, " (request %lld): `",
                (long long)json_integer_value(json_object_get(x, "seq")));
        report_md_cell(f, str(x, "error_code"));
        fputs("`", f);
        if (str(x, "error_detail") != NULL) {
            fputs(": ", f);
            report_md_cell(f, str(x, "error_detail"));
        }
        fputs("\n", f);
        shown++;
    }
    if (shown == 0)
        fputs("None.\n", f);
}

static void
render_md(FILE *f, json_t *job, json_t *runs, json_t *fails, const json_t *env)
{
    json_t *rec = recommend(runs), *run;
    double start = num(job, "started_at"), end = num(job, "finished_at");
    long long total = 0;
    size_t i;

    json_array_foreach(runs, i, run)
    {
        long long n, passed;
        run_counts(run, &n, &passed);
        total += n;
    }
    fprintf(f, "# Benchmark report: job %lld",
            (long long)json_integer_value(json_object_get(job, "id")));
    if (str(job, "name") != NULL && *str(job, "name") != '\0') {
        fputs(" (", f);
        report_md_cell(f, str(job, "name"));
        fputs(")", f);
    }
    fputs("\n\n**Date:** ", f);
    md_date(f, isnan(start) ? num(job, "created_at") : start);
    fputs("  \n", f);
    if (!isnan(start) && !isnan(end))
        fprintf(f, "**Duration:** %.1f min  \n", (end - start) / 60000.0);
    fprintf(f, "**State:** %s  \n**Models:** %zu, **requests:** %lld\n\n---\n\n",
            str(job, "state") ? str(job, "state") : "-", json_array_size(runs), total);
    report_env_md(f, env);
    fputs("---\n\n", f);
    md_recommendation(f, runs, rec);
    fputs("---\n\n", f);
    md_comparison(f, runs, rec);
    md_cases(f, runs);
    md_failures(f, runs, fails);
}

/* The first characters that make a spreadsheet read a cell as a formula
 * (OWASP "CSV injection"): a text cell starting with one gets a ' prefix. */
#define CSV_FORMULA_START "=+-@\t\r"

/*
 * A text cell. RFC 4180: quoted when needed, quotes doubled. A text cell
 * that starts like a formula (a model named =HYPERLINK(...)) is neutralised
 * with a leading ' that spreadsheets show as text. Numeric cells never pass
 * here (csv_value prints them), so a negative number stays a number.
 */
static void
csv_text(FILE *f, const char *s)
{
    const char *prefix;

    if (s == NULL)
        return;
    prefix = *s != '\0' && strchr(CSV_FORMULA_START, *s) != NULL ? "'" : "";
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(prefix, f);
        fputs(s, f);
        return;
    }
    fputc('"', f);
    fputs(prefix, f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
csv_value(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.10g", json_real_value(v));
    else if (json_is_true(v))
        fputs("1", f);
    else if (json_is_false(v))
        fputs("0", f);
    else if (json_is_string(v))
        csv_text(f, json_string_value(v));
}

static int
render_csv(struct db *db, FILE *f, json_t *runs)
{
    json_t *run, *samples, *s;
    const char *col;
    size_t i, j, k;

    fputs("job_id,run_id,model", f);
    for (k = 0; (col = csv_col(k)) != NULL; k++)
        fprintf(f, ",%s", col);
    fputs("\r\n", f);
    json_array_foreach(runs, i, run)
    {
        if (samples_list(db, json_integer_value(json_object_get(run, "id")), -1,
                         SUMMARY_SAMPLES_MAX, &samples) == -1)
            return -1;
        json_array_foreach(samples, j, s)
        {
            fprintf(f, "%lld,%lld,",
                    (long long)json_integer_value(json_object_get(run, "job_id")),
                    (long long)json_integer_value(json_object_get(run, "id")));
            csv_text(f, str(run, "model"));
            for (k = 0; (col = csv_col(k)) != NULL; k++) {
                fputc(',', f);
                csv_value(f, json_object_get(s, col));
            }
            fputs("\r\n", f);
        }
        json_decref(samples);
    }
    return 0;
}

int
report_render(struct db *db, int64_t job_id, enum report_format fmt, char **out, size_t *len)
{
    json_t *job = NULL, *sum = NULL, *fails = NULL, *env = NULL, *runs, *rec;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = NULL;
    int rc, got;

    *out = NULL;
    *len = 0;
    got = jobs_get_json(db, job_id, &job);
    if (got != 0)
        return got == 1 ? 1 : -1;
    rc = -1;
    got = summary_job(db, job_id, &sum);
    if (got == -1)
        goto out;
    if (got == 1)
        sum = json_pack("{s:I, s:[]}", "job_id", (json_int_t)job_id, "runs");
    runs = json_object_get(sum, "runs");
    if (fmt != REPORT_CSV && failures(db, runs, &fails) == -1)
        goto out;
    if (fmt != REPORT_CSV && report_env_json(db, job_id, runs, &env) == -1)
        goto out;
    f = open_memstream(&buf, &n);
    if (f == NULL) {
        snprintf(db->err, sizeof(db->err), "out of memory");
        goto out;
    }
    if (fmt == REPORT_MD) {
        render_md(f, job, runs, fails, env);
        stability_report_md(db, job_id, f);          /* stability jobs only */
        if (capacity_report_md(db, job_id, f) == -1) /* capacity jobs only */
            goto out;
    } else if (fmt == REPORT_CSV) {
        if (render_csv(db, f, runs) == -1)
            goto out;
    } else {
        rec = recommend(runs);
        json_object_set(sum, "job", job);
        json_object_set_new(sum, "recommendation",
                            rec ? json_pack("{s:O, s:O}", "run_id", json_object_get(rec, "id"),
                                            "model", json_object_get(rec, "model"))
                                : json_null());
        json_object_set(sum, "failures", fails);
        json_object_set(sum, "environment", env);
        if (str(job, "kind") != NULL && strcmp(str(job, "kind"), "capacity") == 0) {
            json_t *caps;

            if (capdata_job_json(db, job_id, &caps) == -1)
                goto out;
            json_object_set_new(sum, "capacity", caps);
        }
        if (json_dumpf(sum, f, JSON_INDENT(2) | JSON_SORT_KEYS) == -1)
            goto out;
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    if (n > REPORT_MAX) {
        snprintf(db->err, sizeof(db->err), "report larger than %d bytes", REPORT_MAX);
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    json_decref(job);
    json_decref(sum);
    json_decref(fails);
    json_decref(env);
    return rc;
}

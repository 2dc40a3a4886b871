/* summary.c - see summary.h.
 *
 * Shape: {"job_id", "runs": [{"run_id", "model", "state", "error_code",
 * "error_detail", "model_size_bytes", "load_ms", "cases": [{"case", "n",
 * "ok", "passed", "pass_rate", "<figure>": {n, mean, median, stddev, min,
 * max, p90, p99}, ...}], "avg_e2e_tps", "avg_decode_tps", "e2e_tps_min",
 * "e2e_tps_max", "pass_rate", "tps_per_gb", "relative_speed"}]}
 *
 * The server's own figures (server_prompt_tps, server_decode_tps,
 * server_ttft_ms, server_decode_diff_pct: figures.h) are summarised like
 * the client's. When samples carry them, each case also has
 * "server_samples" (ok samples with the server's decode speed) and
 * "server_clock_mismatches" (of those, the ones whose server and client
 * decode speeds differ by more than 5%); each run has
 * "avg_server_decode_tps", "server_samples" and "server_clock_mismatches".
 * Absent when no sample carries server timings. "server_runtime" and
 * "server_model_info": LM Studio's engine and loaded model as its v0 API
 * reported them on a sample, when it did. A depth sweep's cases carry
 * "at_depth", "warm" and "depth_mismatches", and its run "depth", the
 * table of depth_table.h.
 */
#include "daemon/summary.h"

#include "common/stats.h"
#include "daemon/depth_table.h"
#include "storage/runs.h"
#include "storage/sample_fields.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double
num(const json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *
jnum(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *
summary_json(const double *v, size_t n)
{
    struct stats_summary s;

    if (stats_summarize(v, n, &s) == -1 || s.n == 0)
        return json_null();
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "n", (json_int_t)s.n, "mean",
                     jnum(s.mean), "median", jnum(s.median), "stddev", jnum(s.stddev), "min",
                     jnum(s.min), "max", jnum(s.max), "p90", jnum(s.p90), "p99", jnum(s.p99));
}

/* Count the ok samples idx[0..n) that carry the server's decode speed,
 * and those whose server clock disagrees with the client's
 * (server_clock_mismatch, figures.h); set on case c when there are any. */
static void
case_server_json(json_t *c, json_t *samples, const size_t *idx, size_t n)
{
    size_t i, with = 0, flagged = 0;

    for (i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, idx[i]);
        if (!json_is_true(json_object_get(s, "ok")) ||
            !json_is_number(json_object_get(s, "server_decode_tps")))
            continue;
        with++;
        flagged += json_is_true(json_object_get(s, "server_clock_mismatch"));
    }
    if (with == 0)
        return;
    json_object_set_new(c, "server_samples", json_integer((json_int_t)with));
    json_object_set_new(c, "server_clock_mismatches", json_integer((json_int_t)flagged));
}

/* Aggregate the samples of one case (indexes idx[0..n)) into a case object. */
static json_t *
case_json(const char *name, json_t *samples, const size_t *idx, size_t n, double *vals)
{
    json_t *c = json_object();
    size_t i, f, nok = 0, npassed = 0;

    for (i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, idx[i]);
        int ok = json_is_true(json_object_get(s, "ok"));
        json_t *p = json_object_get(s, "passed");
        nok += ok;
        npassed += ok && !json_is_false(p);
    }
    json_object_set_new(c, "case", json_string(name));
    json_object_set_new(c, "n", json_integer((json_int_t)n));
    json_object_set_new(c, "ok", json_integer((json_int_t)nok));
    json_object_set_new(c, "passed", json_integer((json_int_t)npassed));
    json_object_set_new(c, "pass_rate", json_real(n ? (double)npassed / (double)n : 0));
    for (f = 0; f < sample_fields_n; f++) {
        const char *fig = sample_fields[f].name;
        size_t k = 0;

        if (!(sample_fields[f].flags & SF_SUM))
            continue;
        for (i = 0; i < n; i++) {
            json_t *s = json_array_get(samples, idx[i]);
            if (json_is_true(json_object_get(s, "ok")))
                vals[k++] = num(s, fig);
        }
        json_object_set_new(c, fig, summary_json(vals, k));
    }
    case_server_json(c, samples, idx, n);
    depth_table_case(c, samples, idx, n);
    return c;
}

/* What the server said about itself on the first sample that carries it
 * (LM Studio v0's `runtime` and `model_info`, daemon/chunk.h): set on the
 * run as "server_runtime" and "server_model_info". */
static void
run_server_info(json_t *run, json_t *samples)
{
    static const char *const keys[][2] = {{"runtime", "server_runtime"},
                                          {"model_info", "server_model_info"}};
    json_t *s, *v;
    size_t i, k;

    for (k = 0; k < 2; k++) {
        json_array_foreach(samples, i, s)
        {
            v = json_object_get(json_object_get(s, "server_stats"), keys[k][0]);
            if (json_is_object(v)) {
                json_object_set(run, keys[k][1], v);
                break;
            }
        }
    }
}

static int
run_json(struct db *db, json_t *run)
{
    json_t *samples = NULL, *cases = json_array(), *depth;
    size_t i, j, n, nc = 0, *idx = NULL, total = 0, passed = 0;
    double *vals = NULL, *e2e = NULL, sum_e2e = 0, sum_dec = 0, sum_srv = 0;
    int n_e2e = 0, n_dec = 0, n_srv = 0, n_srvd = 0, n_flag = 0, rc = -1;
    const char **names = NULL;
    struct stats_summary range;
    double size;

    if (samples_list(db, json_integer_value(json_object_get(run, "id")), -1,
                     SUMMARY_SAMPLES_MAX, &samples) == -1)
        goto out;
    n = json_array_size(samples);
    idx = calloc(n + 1, sizeof(*idx));
    vals = calloc(n + 1, sizeof(*vals));
    e2e = calloc(n + 1, sizeof(*e2e));
    names = calloc(n + 1, sizeof(*names));
    if (idx == NULL || vals == NULL || e2e == NULL || names == NULL)
        goto out;
    /* Case names in plan order (samples come sorted by seq). */
    for (i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        const char *cn = json_string_value(json_object_get(s, "case"));
        if (json_is_true(json_object_get(s, "warmup")) || cn == NULL)
            continue;
        for (j = 0; j < nc; j++)
            if (strcmp(names[j], cn) == 0)
                break;
        if (j == nc)
            names[nc++] = cn;
    }
    for (j = 0; j < nc; j++) {
        size_t k = 0;
        json_t *c;
        double m;
        for (i = 0; i < n; i++) {
            json_t *s = json_array_get(samples, i);
            if (json_is_true(json_object_get(s, "warmup")))
                continue;
            if (strcmp(json_string_value(json_object_get(s, "case")), names[j]) == 0)
                idx[k++] = i;
        }
        c = case_json(names[j], samples, idx, k, vals);
        total += k;
        passed += (size_t)json_integer_value(json_object_get(c, "passed"));
        m = num(json_object_get(c, "e2e_tps"), "mean");
        if (!isnan(m)) {
            sum_e2e += m;
            n_e2e++;
        }
        m = num(json_object_get(c, "decode_tps"), "mean");
        if (!isnan(m)) {
            sum_dec += m;
            n_dec++;
        }
        m = num(json_object_get(c, "server_decode_tps"), "mean");
        if (!isnan(m)) {
            sum_srv += m;
            n_srv++;
        }
        n_srvd += (int)json_integer_value(json_object_get(c, "server_samples"));
        n_flag += (int)json_integer_value(json_object_get(c, "server_clock_mismatches"));
        json_array_append_new(cases, c);
    }
    j = 0;
    for (i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        if (!json_is_true(json_object_get(s, "warmup")) &&
            json_is_true(json_object_get(s, "ok")))
            e2e[j++] = num(s, "e2e_tps");
    }
    stats_summarize(e2e, j, &range);
    run_server_info(run, samples);
    depth = depth_table_rows(cases);
    if (depth != NULL)
        json_object_set_new(run, "depth", depth);
    json_object_set_new(run, "cases", cases);
    cases = NULL;
    json_object_set_new(run, "requests", json_integer((json_int_t)total));
    json_object_set_new(run, "avg_e2e_tps", jnum(n_e2e ? sum_e2e / n_e2e : NAN));
    json_object_set_new(run, "avg_decode_tps", jnum(n_dec ? sum_dec / n_dec : NAN));
    json_object_set_new(run, "e2e_tps_min", jnum(range.n ? range.min : NAN));
    json_object_set_new(run, "e2e_tps_max", jnum(range.n ? range.max : NAN));
    json_object_set_new(run, "pass_rate", jnum(total ? (double)passed / (double)total : NAN));
    if (n_srv > 0)
        json_object_set_new(run, "avg_server_decode_tps", jnum(sum_srv / n_srv));
    if (n_srvd > 0) {
        json_object_set_new(run, "server_samples", json_integer(n_srvd));
        json_object_set_new(run, "server_clock_mismatches", json_integer(n_flag));
    }
    size = num(run, "model_size_bytes");
    json_object_set_new(run, "tps_per_gb",
                        jnum(n_e2e && size > 0 ? (sum_e2e / n_e2e) / (size / 1e9) : NAN));
    rc = 0;
out:
    json_decref(samples);
    json_decref(cases);
    free(idx);
    free(vals);
    free(e2e);
    free(names);
    return rc;
}

int
summary_job(struct db *db, int64_t job_id, json_t **out)
{
    json_t *runs = NULL, *run, *sum;
    size_t i;
    double best = 0;

    if (runs_list(db, job_id, 0, 1000, &runs) == -1)
        return -1;
    if (json_array_size(runs) == 0) {
        json_decref(runs);
        return 1;
    }
    /* runs_list is newest first; a job's runs read best in model order. */
    sum = json_array();
    for (i = json_array_size(runs); i-- > 0;)
        json_array_append(sum, json_array_get(runs, i));
    json_decref(runs);
    runs = sum;
    json_array_foreach(runs, i, run)
    {
        if (run_json(db, run) == -1) {
            json_decref(runs);
            return -1;
        }
        if (num(run, "avg_e2e_tps") > best)
            best = num(run, "avg_e2e_tps");
    }
    json_array_foreach(runs, i, run)
    {
        double v = num(run, "avg_e2e_tps");
        json_object_set_new(run, "relative_speed",
                            jnum(best > 0 && !isnan(v) ? v / best : NAN));
    }
    *out = json_pack("{s:I, s:o}", "job_id", (json_int_t)job_id, "runs", runs);
    return *out ? 0 : -1;
}

#define SUMMARY_NUM_MAX 64 /* one figure as text */

/* v with prec decimals, or "-" when it is missing (NaN); returns buf. */
static const char *
num_text(double v, int prec, char *buf, size_t len)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.*f", prec, v);
    return buf;
}

static void
print_num(FILE *f, int width, int prec, double v)
{
    char buf[SUMMARY_NUM_MAX];

    fprintf(f, " %*s", width, num_text(v, prec, buf, sizeof(buf)));
}

static void
print_pct(FILE *f, double v)
{
    if (isnan(v))
        fprintf(f, " %7s", "-");
    else
        fprintf(f, " %+6.1f%%", v);
}

/* The server-reported figures beside the client's, when there are any. */
static void
print_server(const json_t *run, FILE *f)
{
    json_t *c;
    size_t j;
    int header = 0;

    json_array_foreach(json_object_get(run, "cases"), j, c)
    {
        if (json_object_get(c, "server_samples") == NULL)
            continue;
        if (!header) {
            fprintf(f, "  %-14s %10s %7s %9s %10s %10s   (the server's clock)\n", "server",
                    "decode/s", "vs ours", "TTFT(ms)", "prefill/s", "disagree");
            header = 1;
        }
        fprintf(f, "  %-14.14s", json_string_value(json_object_get(c, "case")));
        print_num(f, 10, 2, num(json_object_get(c, "server_decode_tps"), "mean"));
        print_pct(f, num(json_object_get(c, "server_decode_diff_pct"), "mean"));
        print_num(f, 9, 0, num(json_object_get(c, "server_ttft_ms"), "mean"));
        print_num(f, 10, 1, num(json_object_get(c, "server_prompt_tps"), "mean"));
        fprintf(f, " %4lld/%-4lld\n",
                (long long)json_integer_value(json_object_get(c, "server_clock_mismatches")),
                (long long)json_integer_value(json_object_get(c, "server_samples")));
    }
}

void
summary_print_text(const json_t *summary, FILE *f)
{
    json_t *runs = json_object_get(summary, "runs"), *run, *c;
    char t1[SUMMARY_NUM_MAX], t2[SUMMARY_NUM_MAX], t3[SUMMARY_NUM_MAX], t4[SUMMARY_NUM_MAX];
    size_t i, j;

    json_array_foreach(runs, i, run)
    {
        const char *err = json_string_value(json_object_get(run, "error_code"));
        double size = num(run, "model_size_bytes");

        fprintf(f, "\n%s", json_string_value(json_object_get(run, "model")));
        if (size > 0)
            fprintf(f, " (%.1f GB)", size / 1e9);
        if (!isnan(num(run, "load_ms")))
            fprintf(f, ", load %.1f s", num(run, "load_ms") / 1000.0);
        fprintf(f, "\n");
        if (err != NULL) {
            fprintf(f, "  FAILED %s: %s\n", err,
                    json_string_value(json_object_get(run, "error_detail")));
            continue;
        }
        fprintf(f, "  %-14s %5s %8s %8s %9s %10s %9s %6s\n", "case", "n", "tokens", "time(s)",
                "TTFT(ms)", "decode/s", "e2e/s", "pass");
        json_array_foreach(json_object_get(run, "cases"), j, c)
        {
            fprintf(f, "  %-14.14s %5lld", json_string_value(json_object_get(c, "case")),
                    (long long)json_integer_value(json_object_get(c, "n")));
            print_num(f, 8, 0, num(json_object_get(c, "completion_tokens"), "mean"));
            print_num(f, 8, 2, num(json_object_get(c, "e2e_ms"), "mean") / 1000.0);
            print_num(f, 9, 0, num(json_object_get(c, "ttft_ms"), "mean"));
            print_num(f, 10, 2, num(json_object_get(c, "decode_tps"), "mean"));
            print_num(f, 9, 2, num(json_object_get(c, "e2e_tps"), "mean"));
            fprintf(f, " %3lld/%-3lld\n",
                    (long long)json_integer_value(json_object_get(c, "passed")),
                    (long long)json_integer_value(json_object_get(c, "n")));
        }
        print_server(run, f);
        depth_table_write(run, f, 0);
        fprintf(f, "  average e2e %s tok/s (range %s-%s), decode %s tok/s, pass rate %.0f%%",
                num_text(num(run, "avg_e2e_tps"), 2, t1, sizeof(t1)),
                num_text(num(run, "e2e_tps_min"), 2, t2, sizeof(t2)),
                num_text(num(run, "e2e_tps_max"), 2, t3, sizeof(t3)),
                num_text(num(run, "avg_decode_tps"), 2, t4, sizeof(t4)),
                100.0 * num(run, "pass_rate"));
        if (!isnan(num(run, "tps_per_gb")))
            fprintf(f, ", %.3f TPS/GB", num(run, "tps_per_gb"));
        if (json_array_size(runs) > 1 && !isnan(num(run, "relative_speed")))
            fprintf(f, ", %.0f%% of the fastest", 100.0 * num(run, "relative_speed"));
        fprintf(f, "\n");
    }
}

/*
 * cmd_compare.c - `tpsd compare A B`: GET /v1/compare from the daemon
 * (rest.h), printed as a table (default), the daemon's JSON (--json or
 * --format json) or Markdown to paste into a report (--format md).
 *
 * Exit status: 0 compared (whatever the verdicts); 1 the daemon found no
 * such job, run or model, or no samples (404); 2 bad usage or a request
 * the daemon rejected (400); 3 the daemon is unreachable or unavailable.
 */
#include "daemon/cli/cmd.h"

#include "daemon/cli/rest.h"
#include "daemon/compare.h"

#include <stdio.h>
#include <string.h>

#define CMP_QUERY_MAX (REST_URL_MAX + REST_PATH_MAX) /* bytes of the request path */
#define CMP_CELL_MAX 64

static const char usage_text[] =
    "usage: tpsd compare A B [--case C] [--figure F[,F...]] [--resamples N] [--seed S]\n"
    "                        [--level L] [--format table|md|json]\n"
    "  A, B: job:ID, run:ID or model:KEY[@SINCE..UNTIL] (SINCE, UNTIL: Unix ms,\n"
    "  YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC; either may be empty)\n"
    "  per case and figure (decode_tps, e2e_tps, ttft_ms, prompt_tps): the medians of\n"
    "  A and B, B's change in percent with a bootstrap confidence interval (level\n"
    "  0.95, 2000 resamples, seed 1 unless given: the same seed gives the same\n"
    "  interval) and a verdict: faster, slower or no significant difference\n";

/* The query's options: name and flag value (NULL: not given). */
struct opt {
    const char *name;
    const char *value;
};

/* "/v1/compare?a=..&b=..&..." into path; -1 when it does not fit. */
static int
build_path(CURL *c, const char *a, const char *b, const struct opt *opts, size_t nopts,
           char *path, size_t len)
{
    const char *names[2] = {"a", "b"}, *vals[2] = {a, b};
    size_t used = (size_t)snprintf(path, len, "/v1/compare");
    size_t i;
    char *es;
    int n;

    for (i = 0; i < 2 + nopts; i++) {
        const char *name = i < 2 ? names[i] : opts[i - 2].name;
        const char *val = i < 2 ? vals[i] : opts[i - 2].value;

        if (val == NULL)
            continue;
        es = curl_easy_escape(c, val, 0);
        if (es == NULL)
            return -1;
        n = snprintf(path + used, len - used, "%s%s=%s", i ? "&" : "?", name, es);
        curl_free(es);
        if (n < 0 || (size_t)n >= len - used)
            return -1;
        used += (size_t)n;
    }
    return 0;
}

/* A median as text, or with pct a change as "+4.9%"; "-" when null. */
static const char *
num_text(const json_t *v, int pct, char *buf, size_t len)
{
    if (!json_is_number(v))
        return "-";
    if (pct)
        snprintf(buf, len, "%+.1f%%", json_number_value(v));
    else
        snprintf(buf, len, "%.2f", json_number_value(v));
    return buf;
}

/* "[+3.1%, +6.8%]" ("-" when null), with `sep` between the ends. */
static const char *
ci_text(const json_t *row, const char *open, const char *sep, const char *close, char *buf,
        size_t len)
{
    const json_t *lo = json_object_get(row, "ci_low_pct"),
                 *hi = json_object_get(row, "ci_high_pct");

    if (!json_is_number(lo) || !json_is_number(hi))
        return "-";
    snprintf(buf, len, "%s%+.1f%%%s%+.1f%%%s", open, json_number_value(lo), sep,
             json_number_value(hi), close);
    return buf;
}

static const char *
verdict_text(const json_t *row)
{
    const char *v = cmd_str(json_object_get(row, "verdict"), "?");

    if (strcmp(v, "no_significant_difference") == 0)
        return "no significant difference";
    if (strcmp(v, "insufficient_data") == 0)
        return "insufficient data";
    return v;
}

static const char *
side_models(const json_t *side, char *buf, size_t len)
{
    const json_t *m;
    size_t i, used = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(side, "models"), i, m)
    {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", cmd_str(m, "?"));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* "95% percentile bootstrap, 2000 resamples, seed 1". */
static void
method_line(FILE *f, const json_t *j)
{
    const json_t *m = json_object_get(j, "method");

    fprintf(f,
            "%g%% percentile bootstrap of the difference of medians, %lld resamples,"
            " seed %lld",
            100.0 * json_number_value(json_object_get(m, "level")),
            (long long)json_integer_value(json_object_get(m, "resamples")),
            (long long)json_integer_value(json_object_get(m, "seed")));
}

static void
print_table(const json_t *j)
{
    char models[512], c1[CMP_CELL_MAX], c2[CMP_CELL_MAX], c3[CMP_CELL_MAX], c4[CMP_CELL_MAX];
    const json_t *row, *u;
    size_t i;

    printf("A  %s  (%s; %lld samples)\n",
           cmd_str(json_object_get(json_object_get(j, "a"), "selector"), "?"),
           side_models(json_object_get(j, "a"), models, sizeof(models)),
           (long long)json_integer_value(json_object_get(json_object_get(j, "a"), "samples")));
    printf("B  %s  (%s; %lld samples)\n",
           cmd_str(json_object_get(json_object_get(j, "b"), "selector"), "?"),
           side_models(json_object_get(j, "b"), models, sizeof(models)),
           (long long)json_integer_value(json_object_get(json_object_get(j, "b"), "samples")));
    printf("change = B vs A, medians of the per-request values; ");
    method_line(stdout, j);
    printf("\n\n%-24s %-16s %-11s %10s %10s %8s  %-18s %s\n", "CASE", "FIGURE", "N A/B",
           "MEDIAN A", "MEDIAN B", "CHANGE", "INTERVAL", "VERDICT");
    json_array_foreach(json_object_get(j, "rows"), i, row)
    {
        char n[CMP_CELL_MAX], cs[CMP_CELL_MAX * 2];
        const char *ma = cmd_str(json_object_get(row, "model_a"), "?");

        snprintf(n, sizeof(n), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(row, "n_a")),
                 (long long)json_integer_value(json_object_get(row, "n_b")));
        if (strcmp(cmd_str(json_object_get(j, "match"), ""), "model_case") == 0)
            snprintf(cs, sizeof(cs), "%s/%s", ma, cmd_str(json_object_get(row, "case"), "?"));
        else
            snprintf(cs, sizeof(cs), "%s", cmd_str(json_object_get(row, "case"), "?"));
        printf("%-24s %-16s %-11s %10s %10s %8s  %-18s %s\n", cs,
               cmd_str(json_object_get(row, "figure"), "?"), n,
               num_text(json_object_get(row, "median_a"), 0, c1, sizeof(c1)),
               num_text(json_object_get(row, "median_b"), 0, c2, sizeof(c2)),
               num_text(json_object_get(row, "diff_pct"), 1, c3, sizeof(c3)),
               ci_text(row, "[", ", ", "]", c4, sizeof(c4)), verdict_text(row));
    }
    json_array_foreach(json_object_get(j, "unmatched"), i, u) printf(
        "only in %s: %s / %s\n",
        strcmp(cmd_str(json_object_get(u, "side"), ""), "a") == 0 ? "A" : "B",
        cmd_str(json_object_get(u, "model"), "?"), cmd_str(json_object_get(u, "case"), "?"));
}

static void
print_md(const json_t *j)
{
    const json_t *a = json_object_get(j, "a"), *b = json_object_get(j, "b"), *row, *u;
    char models[512], c1[CMP_CELL_MAX], c2[CMP_CELL_MAX], c3[CMP_CELL_MAX], c4[CMP_CELL_MAX];
    int by_model = strcmp(cmd_str(json_object_get(j, "match"), ""), "model_case") == 0;
    size_t i;

    printf("### A/B: %s vs %s\n\n", cmd_str(json_object_get(a, "selector"), "?"),
           cmd_str(json_object_get(b, "selector"), "?"));
    printf("- **A:** `%s`: %s (%lld samples)\n", cmd_str(json_object_get(a, "selector"), "?"),
           side_models(a, models, sizeof(models)),
           (long long)json_integer_value(json_object_get(a, "samples")));
    printf("- **B:** `%s`: %s (%lld samples)\n", cmd_str(json_object_get(b, "selector"), "?"),
           side_models(b, models, sizeof(models)),
           (long long)json_integer_value(json_object_get(b, "samples")));
    printf("- Change = (median B - median A) / median A over the per-request values; ");
    method_line(stdout, j);
    printf(". For TTFT lower is faster.\n\n");
    printf("| %sCase | Figure | n (A/B) | A | B | Change | Interval | Verdict |\n",
           by_model ? "Model | " : "");
    printf("|%s------|--------|--------:|--:|--:|-------:|----------|---------|\n",
           by_model ? "-------|" : "");
    json_array_foreach(json_object_get(j, "rows"), i, row)
    {
        const char *v = verdict_text(row);
        int sig = strcmp(v, "faster") == 0 || strcmp(v, "slower") == 0;
        int f = compare_figure_index(cmd_str(json_object_get(row, "figure"), ""));

        if (by_model)
            printf("| %s ", cmd_str(json_object_get(row, "model_a"), "?"));
        printf("| %s | %s | %lld/%lld | %s | %s | %s%s%s | %s | %s%s%s |\n",
               cmd_str(json_object_get(row, "case"), "?"),
               f >= 0 ? compare_figures[f].label : cmd_str(json_object_get(row, "figure"), "?"),
               (long long)json_integer_value(json_object_get(row, "n_a")),
               (long long)json_integer_value(json_object_get(row, "n_b")),
               num_text(json_object_get(row, "median_a"), 0, c1, sizeof(c1)),
               num_text(json_object_get(row, "median_b"), 0, c2, sizeof(c2)), sig ? "**" : "",
               num_text(json_object_get(row, "diff_pct"), 1, c3, sizeof(c3)), sig ? "**" : "",
               ci_text(row, "", " to ", "", c4, sizeof(c4)), sig ? "**" : "", v,
               sig ? "**" : "");
    }
    if (json_array_size(json_object_get(j, "unmatched")) > 0) {
        printf("\nNot compared (only on one side):");
        json_array_foreach(json_object_get(j, "unmatched"), i, u)
            printf("%s %s %s/%s", i ? "," : "",
                   strcmp(cmd_str(json_object_get(u, "side"), ""), "a") == 0 ? "A" : "B",
                   cmd_str(json_object_get(u, "model"), "?"),
                   cmd_str(json_object_get(u, "case"), "?"));
        printf("\n");
    }
}

int
cmd_compare(int argc, char **argv)
{
    const char *case_ = NULL, *figure = NULL, *resamples = NULL, *seed = NULL, *level = NULL;
    const char *format = NULL;
    const struct cmd_flag own[] = {
        {"--case", &case_, NULL},
        {"--figure", &figure, NULL},
        {"--resamples", &resamples, NULL},
        {"--seed", &seed, NULL},
        {"--level", &level, NULL},
        {"--format", &format, NULL},
        {NULL, NULL, NULL},
    };
    struct opt opts[] = {
        {"case", NULL}, {"figure", NULL}, {"resamples", NULL}, {"seed", NULL}, {"level", NULL},
    };
    struct rest_args a;
    struct rest cl;
    struct rest_reply r;
    CURL *c = NULL;
    char path[CMP_QUERY_MAX];
    int rc = EXIT_USAGE;

    memset(&r, 0, sizeof(r));
    if (rest_args_parse("compare", argc, argv, own, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout, "%s%s", usage_text, rest_usage);
        rc = 0;
        goto out;
    }
    if (a.npos != 2) {
        fprintf(stderr, "tpsd compare: expected two selectors, A and B\n%s", usage_text);
        goto out;
    }
    if (format != NULL && strcmp(format, "table") != 0 && strcmp(format, "md") != 0 &&
        strcmp(format, "json") != 0) {
        fprintf(stderr, "tpsd compare: --format: table, md or json\n");
        goto out;
    }
    if (format != NULL && strcmp(format, "json") == 0)
        a.json = 1;
    if (rest_init(&cl, "compare", &a.cfg, a.url, a.token) == -1)
        goto out;
    opts[0].value = case_, opts[1].value = figure, opts[2].value = resamples;
    opts[3].value = seed, opts[4].value = level;
    c = curl_easy_init();
    if (c == NULL || build_path(c, a.pos[0], a.pos[1], opts, sizeof(opts) / sizeof(opts[0]),
                                path, sizeof(path) - strlen(cl.base)) == -1) {
        fprintf(stderr, "tpsd compare: the selectors are too long\n");
        goto out;
    }
    rc = rest_get_json(&cl, path, &r);
    if (rc != 0)
        goto out;
    if (a.json)
        cmd_print_json(r.json);
    else if (format != NULL && strcmp(format, "md") == 0)
        print_md(r.json);
    else
        print_table(r.json);
    rc = 0;
out:
    rest_reply_free(&r);
    if (c != NULL)
        curl_easy_cleanup(c);
    rest_args_free(&a);
    return rc;
}

/*
 * capacity_report.c - see capacity_report.h. The curve's columns are one
 * table (heading, step field, decimals); the rows are the steps sorted by
 * load, so bisection steps fall into place between the doubling ones.
 */
#include "daemon/capacity_report.h"

#include "daemon/report_env.h"
#include "storage/capdata.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cap_col {
    const char *head;
    const char *field;
    int prec;
};

static const struct cap_col cols[] = {
    {"requests", "n", 0},
    {"TTFT p50 ms", "ttft_p50_ms", 0},
    {"TTFT p95 ms", "ttft_p95_ms", 0},
    {"decode p5 tok/s (per user)", "decode_p5_tps", 1},
    {"decode p50 tok/s (per user)", "decode_p50_tps", 1},
    {"total tok/s", "total_tps", 1},
    {"goodput req/s", "goodput_rps", 2},
    {"errors %", "error_rate", -100}, /* a share shown in percent */
};
#define NCOLS (sizeof(cols) / sizeof(cols[0]))

static double
num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The load of a step: its concurrency, or its rate. */
static double
step_load(const json_t *s)
{
    double c = num(s, "concurrency");

    return isnan(c) ? num(s, "rps") : c;
}

static int
by_load(const void *a, const void *b)
{
    double x = step_load(*(json_t *const *)a), y = step_load(*(json_t *const *)b);

    return (x > y) - (x < y);
}

static void
cell(FILE *f, double v, int prec)
{
    if (isnan(v))
        fputs(" - |", f);
    else if (prec < 0)
        fprintf(f, " %.1f |", v * -prec);
    else
        fprintf(f, " %.*f |", prec, v);
}

/* One model's answer and curve. How it works: the heading names the model
 * and the level; the answer line reads the stored result (or says the
 * search has not finished); the table has one column per entry of cols,
 * its rows the steps sorted by load (a copy of the array's pointers, so the
 * bisection steps sit between the doubling ones), the last cell the
 * verdict of the step. */
static void
model_md(FILE *f, const json_t *run)
{
    const json_t *steps = json_object_get(run, "steps"), *s;
    const char *mode = json_string_value(json_object_get(run, "mode"));
    int rate = mode != NULL && strcmp(mode, "rate") == 0;
    size_t i, k, n = json_array_size(steps);
    json_t **rows = calloc(n ? n : 1, sizeof(*rows));
    char *level = json_dumps(json_object_get(run, "level"), JSON_COMPACT | JSON_SORT_KEYS);

    fputs("### ", f);
    report_md_cell(f, json_string_value(json_object_get(run, "model")));
    fprintf(f, "\n\nService level: `%s`. ", level ? level : "-");
    if (isnan(num(run, "capacity")))
        fputs("**No load met it**", f);
    else
        fprintf(f,
                rate ? "**Capacity: %.3g requests/s**" : "**Capacity: %.0f concurrent users**",
                num(run, "capacity"));
    fprintf(f, ", goodput %.2f requests/s within the level (search: %s).\n\n",
            num(run, "goodput_rps"),
            json_string_value(json_object_get(run, "stop_reason"))
                ? json_string_value(json_object_get(run, "stop_reason"))
                : "not finished");
    fputs(rate ? "| requests/s |" : "| concurrency |", f);
    for (k = 0; k < NCOLS; k++)
        fprintf(f, " %s |", cols[k].head);
    fputs(" within level |\n|---|", f);
    for (k = 0; k <= NCOLS; k++)
        fputs("---|", f);
    fputc('\n', f);
    for (i = 0; rows != NULL && i < n; i++)
        rows[i] = json_array_get(steps, i);
    if (rows != NULL)
        qsort(rows, n, sizeof(*rows), by_load);
    for (i = 0; rows != NULL && i < n; i++) {
        s = rows[i];
        fputc('|', f);
        cell(f, step_load(s), rate ? 2 : 0);
        for (k = 0; k < NCOLS; k++)
            cell(f, num(s, cols[k].field), cols[k].prec);
        fprintf(f, " %s |\n",
                num(s, "saturated") > 0 ? "saturated"
                : num(s, "passed") > 0  ? "yes"
                                        : "no");
    }
    fputc('\n', f);
    free(rows);
    free(level);
}

int
capacity_report_md(struct db *db, int64_t job_id, FILE *f)
{
    json_t *runs = NULL, *run;
    size_t i;
    int any = 0;

    if (capdata_job_json(db, job_id, &runs) == -1)
        return -1;
    json_array_foreach(runs, i, run)
    {
        if (json_array_size(json_object_get(run, "steps")) == 0 &&
            json_is_null(json_object_get(run, "mode")))
            continue;
        if (!any)
            fputs("## Capacity under the service level\n\n", f);
        any = 1;
        model_md(f, run);
    }
    json_decref(runs);
    return 0;
}

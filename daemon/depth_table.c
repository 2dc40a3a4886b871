/*
 * depth_table.c - a depth sweep's table (the contract is in
 * depth_table.h). The medians come from the summary's per-case statistics,
 * so the table and the cases above it never disagree.
 */
#include "daemon/depth_table.h"

#include <math.h>

void
depth_table_case(json_t *c, const json_t *samples, const size_t *idx, size_t n)
{
    const json_t *s = n > 0 ? json_array_get(samples, idx[0]) : NULL;
    json_int_t off = 0;
    size_t i;

    if (!json_is_integer(json_object_get(s, "depth")))
        return;
    for (i = 0; i < n; i++) {
        const json_t *x = json_array_get(samples, idx[i]);

        off += json_is_true(json_object_get(x, "ok")) &&
               json_is_true(json_object_get(x, "depth_mismatch"));
    }
    json_object_set(c, "at_depth", json_object_get(s, "depth"));
    json_object_set_new(c, "warm",
                        json_boolean(json_is_true(json_object_get(s, "depth_warm"))));
    json_object_set_new(c, "depth_mismatches", json_integer(off));
}

/* The median of figure `fig` of summary case c, or JSON null. */
static json_t *
median(const json_t *c, const char *fig)
{
    const json_t *v = json_object_get(json_object_get(c, fig), "median");

    return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

json_t *
depth_table_rows(const json_t *cases)
{
    json_t *rows = NULL, *c;
    size_t i;

    json_array_foreach(cases, i, c)
    {
        if (!json_is_integer(json_object_get(c, "at_depth")))
            continue;
        if (rows == NULL && (rows = json_array()) == NULL)
            return NULL;
        json_array_append_new(
            rows,
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:o, s:o, s:O}", "case",
                      json_object_get(c, "case"), "depth", json_object_get(c, "at_depth"),
                      "warm", json_object_get(c, "warm"), "n", json_object_get(c, "n"), "ok",
                      json_object_get(c, "ok"), "prompt_tokens", median(c, "prompt_tokens"),
                      "prefill_tps", median(c, "prompt_tps"), "decode_tps",
                      median(c, "decode_tps"), "ttft_ms", median(c, "ttft_ms"), "mismatches",
                      json_object_get(c, "depth_mismatches")));
    }
    return rows;
}

/* One number of a row: "-" when unknown. */
static void
cell(FILE *f, const char *sep, int width, int prec, const json_t *v)
{
    if (json_is_number(v))
        fprintf(f, "%s%*.*f", sep, width, prec, json_number_value(v));
    else
        fprintf(f, "%s%*s", sep, width, "-");
}

void
depth_table_write(const json_t *run, FILE *f, int md)
{
    const json_t *rows = json_object_get(run, "depth"), *r;
    const char *sep = md ? " | " : " ";
    size_t i;

    if (json_array_size(rows) == 0)
        return;
    if (md)
        fprintf(f, "\nBy depth (tokens of context before the instruction, as `llama-bench "
                   "-d`; medians):\n\n| case | depth | prompt tokens | prefill tok/s | "
                   "decode tok/s | TTFT (ms) | off size |\n| --- | ---: | ---: | ---: | ---: "
                   "| ---: | ---: |\n");
    else
        fprintf(f, "  %-22s %8s %8s %10s %10s %10s %6s   (by depth)\n", "case", "depth",
                "prompt", "prefill/s", "decode/s", "TTFT(ms)", "off");
    json_array_foreach(rows, i, r)
    {
        fprintf(f, md ? "| %s" : "  %-22.22s", json_string_value(json_object_get(r, "case")));
        fprintf(f, "%s%*lld%s", sep, md ? 0 : 8,
                (long long)json_integer_value(json_object_get(r, "depth")),
                json_is_true(json_object_get(r, "warm")) ? " warm" : "");
        cell(f, sep, md ? 0 : 8, 0, json_object_get(r, "prompt_tokens"));
        cell(f, sep, md ? 0 : 10, 1, json_object_get(r, "prefill_tps"));
        cell(f, sep, md ? 0 : 10, 2, json_object_get(r, "decode_tps"));
        cell(f, sep, md ? 0 : 10, 0, json_object_get(r, "ttft_ms"));
        fprintf(f, md ? "%s%lld/%lld |\n" : "%s%2lld/%-3lld\n", sep,
                (long long)json_integer_value(json_object_get(r, "mismatches")),
                (long long)json_integer_value(json_object_get(r, "ok")));
    }
}

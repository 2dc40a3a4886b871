/*
 * depth_table.h - a depth sweep's results as llama-bench prints them: per
 * model, one row per depth (and warm) with the median prompt size the
 * server counted, prefill tok/s (prompt_tps), decode tok/s and TTFT. Built
 * from a run's summary (summary.c) and written into `tpsd run`'s output,
 * the Markdown report and the report's JSON ("depth" of each run).
 *
 * Reads only jansson objects; calls nothing of ours.
 */
#ifndef TPSD_DEPTH_TABLE_H
#define TPSD_DEPTH_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Mark summary case c with the depth of its samples (indexes idx[0..n) of
 * samples): "at_depth", "warm" and "depth_mismatches" (ok samples more
 * than 2% off their size; not the figures' own names, which a case
 * summary keeps for SF_SUM statistics). Nothing when the samples carry no
 * depth. */
void depth_table_case(json_t *c, const json_t *samples, const size_t *idx, size_t n);

/*
 * The run's depth table from its summary cases: a new array of {"case",
 * "depth", "warm", "n", "ok", "prompt_tokens", "prefill_tps", "decode_tps",
 * "ttft_ms", "mismatches"} (medians; null when unknown), in the cases'
 * order, or NULL when no case has a depth.
 */
json_t *depth_table_rows(const json_t *cases);

/* Write run's "depth" rows as a plain table (md 0: `tpsd run`) or a
 * Markdown one (md 1: reports), with a heading. Nothing without rows. */
void depth_table_write(const json_t *run, FILE *f, int md);

#endif

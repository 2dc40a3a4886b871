/*
 * summary.h - the figures users compare, aggregated from stored samples:
 * per (run, case) n, mean, median, stddev, min, max, p90, p99 of every
 * figure and the pass rate; per run the seed reports' averages, range,
 * pass rate, TPS per GB and load time; per job each model's speed relative
 * to the fastest. Warm-ups are left out.
 *
 * Reads storage; renders the results table of `tpsd run` and reports.
 */
#ifndef TPSD_SUMMARY_H
#define TPSD_SUMMARY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/db.h"

#define SUMMARY_SAMPLES_MAX 2000000 /* samples of one run read for a summary */

/* The job's summary as JSON (see summary.c for its shape). 0, 1 when the
 * job has no runs, -1 on a database error. *out is a new reference. */
int summary_job(struct db *db, int64_t job_id, json_t **out);

/* Print the summary as the seed reports' plain tables. */
void summary_print_text(const json_t *summary, FILE *f);

#endif

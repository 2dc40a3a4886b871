/*
 * report.h - a job's report, generated from the data in the style of the
 * reports users wrote by hand: Markdown (the test environment, report_env.h;
 * summary and recommendation, a comparison table of the models, per-case
 * tables per model with the server's clock beside ours, load times,
 * failures with reasons), JSON (summary_job plus the recommendation,
 * failures and "environment") or CSV (every sample, warm-ups included, one
 * row each).
 *
 * Reads storage (jobs, runs, samples) through summary.h and report_env.h.
 */
#ifndef TPSD_REPORT_H
#define TPSD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

#define REPORT_MAX (256 * 1024 * 1024) /* bytes of one rendered report */
#define REPORT_FAILURES_MAX 100        /* failed requests listed in Markdown */

enum report_format {
    REPORT_MD,
    REPORT_JSON,
    REPORT_CSV,
};

/* Parse "md" (or "markdown"), "json", "csv". 0 or -1. */
int report_format_parse(const char *s, enum report_format *out);
/* The Content-Type of a format ("text/markdown; charset=utf-8" ...). */
const char *report_content_type(enum report_format f);

/*
 * Render the report of job `job_id`. On 0, *out (NUL-terminated, caller
 * frees) holds *len bytes. 1 when there is no such job, -1 on a database
 * error (db->err) or when out of memory or past REPORT_MAX.
 */
int report_render(struct db *db, int64_t job_id, enum report_format f, char **out, size_t *len);

#endif

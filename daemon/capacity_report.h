/*
 * capacity_report.h - a capacity job's results as Markdown: per model the
 * answer (highest load within the service level, goodput, why the search
 * stopped) and the throughput-latency curve, one row per load measured,
 * lowest first. `tpsd run --find-capacity` prints it; the job's Markdown
 * report carries it. Reads storage/capdata.h.
 */
#ifndef TPSD_CAPACITY_REPORT_H
#define TPSD_CAPACITY_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "storage/db.h"

/* Write job `job_id`'s capacity section to f; nothing when the job has no
 * capacity search. 0, or -1 (db->err). */
int capacity_report_md(struct db *db, int64_t job_id, FILE *f);

#endif

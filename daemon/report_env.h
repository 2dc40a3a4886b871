/*
 * report_env.h - the test environment at the top of a job's report, as the
 * seed reports state it: the machine (model, chip, memory), the OS, the
 * inference server and its runtime with their versions, each model's
 * format, quantisation, size and loaded context length, the sampling
 * settings and the suite.
 *
 * Where each comes from: the machine and OS from the job's "environment"
 * event (sysinfo.h sysinfo_env, recorded by the runner at the start of the
 * job); the server from the run's backend and backend_version (lms
 * version); the runtime and, when the job set none, the loaded context
 * from what LM Studio's v0 API said on a sample (summary.h
 * server_runtime, server_model_info); format, quant and size from the run
 * (lms ls); sampling and API from the run's params; the suite from the run.
 *
 * Reads storage (job events) and a summary (summary.h); calls nothing else.
 */
#ifndef TPSD_REPORT_ENV_H
#define TPSD_REPORT_ENV_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "storage/db.h"

#define REPORT_ENV_EVENTS_MAX 64 /* first events of a job searched for "environment" */

/*
 * The environment of job_id as a new object {"machine": {machine, chip,
 * mem_total_bytes, os, kernel, arch} or null, "models": [{model, server,
 * server_version, runtime, runtime_version, format, quant, size_bytes,
 * context_length, api, sampling, suite, cooldown}]} from its events and
 * `runs` (the summary's runs; cooldown is the run's, storage/waits.h). 0, or -1 on a storage
 * error (db->err) or out of memory.
 */
int report_env_json(struct db *db, int64_t job_id, const json_t *runs, json_t **out);

/* The environment as the report's Markdown section "Test environment",
 * with a "Cool-down" line per model that waited before it was measured. */
void report_env_md(FILE *f, const json_t *env);

/* Text for a Markdown table cell: '|' escaped, newlines as spaces, "-"
 * when NULL or empty. Both report.c and the environment section use it. */
void report_md_cell(FILE *f, const char *s);

#endif

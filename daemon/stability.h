/*
 * stability.h - the analysis of a stability job (or any job) from what is
 * stored: per run (one per model), measured from the moment measuring first
 * began (planned_end_at - duration_s; else the first request):
 *
 *   windows    per window (window_s, default 10 min): requests, errors,
 *              decode TPS and TTFT mean and median, and the system readings
 *              of the window (server RSS, tpsd RSS, swap, available memory,
 *              load, thermal state).
 *   drift      of decode TPS and TTFT: the ordinary least-squares slope over
 *              every successful request (per hour, and as % per hour of the
 *              fitted value at the start), r²; the Theil-Sen slope (median
 *              of pairwise slopes, robust to the one-sided outliers of a busy
 *              machine) beside it as robust_*; and the mean of the first
 *              span against the last (span = min(1 h, a quarter of the run)).
 *   memory     the server's RSS growth in MB/hour: OLS over the readings
 *              after a warm-up (warmup_s, at most 25% of the run). Verdict
 *              "leak" when the slope >= leak_mb_per_hour AND the fitted
 *              growth over the fit span >= leak_min_growth_mb AND r² >= 0.5;
 *              "none" otherwise; "insufficient_data" with fewer than 10
 *              readings or 30 s to fit; "unknown" without server readings.
 *              tpsd's own RSS slope beside it.
 *   errors     count, rate, by code, bursts (STABILITY_BURST_MIN or more
 *              failed requests in a row, in send order), the longest streak.
 *   stall      the longest silence inside a stream: the largest inter-event
 *              gap of any request, or for a request that failed with
 *              "stall", the time from its last event to the abort.
 *   swap       max, first and last swap use.
 *   thermal    throttling episodes: consecutive readings whose state is not
 *              "nominal" (or unknown), with their worst state and length.
 *
 * Reads storage (jobs, stabdata, system); calls clock, stats and log.
 */
#ifndef TPSD_STABILITY_H
#define TPSD_STABILITY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/config.h"
#include "storage/db.h"

#define STABILITY_BURST_MIN 3         /* failed requests in a row that make a burst */
#define STABILITY_BURSTS_MAX 100      /* bursts listed */
#define STABILITY_EPISODES_MAX 100    /* throttling episodes listed */
#define STABILITY_WINDOWS_MAX 2000    /* windows per run; wider windows beyond */
#define STABILITY_SERIES_MAX 2000     /* buckets of the system series */
#define STABILITY_SERIES_AUTO 500     /* buckets when bucket_s is 0 */
#define STABILITY_SAMPLES_MAX 4000000 /* requests analysed per run */
#define STABILITY_LEAK_R2_MIN 0.5
#define STABILITY_FIT_MIN_N 10
#define STABILITY_FIT_MIN_S 30
#define STABILITY_MD_WINDOWS_MAX 200 /* window rows in the Markdown report */
#define STABILITY_TS_POINTS 1000     /* points of the Theil-Sen fit (thinned evenly) */

struct stability_opts {
    int window_s;              /* window length (default 600) */
    int warmup_s;              /* the memory fit skips this start (default 600) */
    double leak_mb_per_hour;   /* default 50 */
    double leak_min_growth_mb; /* default 16 */
    int bucket_s;   /* system series bucket; 0 = about STABILITY_SERIES_AUTO points */
    int detail;     /* include windows and the system series */
    int64_t now_ms; /* "now" for elapsed and remaining; 0 = the clock */
};

/* Options from a configuration (window, warm-up, leak thresholds; detail
 * off, bucket auto, now = the clock). Can't fail. */
void stability_opts_from_config(struct stability_opts *o, const struct config *cfg);

/*
 * Set the process-wide defaults from the configuration (window, warm-up,
 * leak thresholds). Call once at start-up before threads start; until then
 * the built-in defaults apply. Can't fail.
 */
void stability_configure(const struct config *cfg);

/* Fill o with the defaults (detail off, bucket auto, now = the clock). */
void stability_opts_default(struct stability_opts *o);

/*
 * The analysis of job `job_id` as JSON (DESIGN: GET /v1/jobs/{id}/stability):
 * {"job_id", "kind", "state", "duration_s", "interval_s", "window_s",
 *  "thresholds", "runs": [...], "system": [...] (detail only)}.
 * 0 with *out (new reference), 1 when there is no such job, -1 on a
 * database error (db->err) or out of memory.
 */
int stability_analyze(struct db *db, int64_t job_id, const struct stability_opts *o,
                      json_t **out);

/*
 * A background analyst: a thread with its own database connection that runs
 * stability_analyze when asked, so that the thread measuring requests never
 * stops to analyse (a pause there would show up as late tokens of the
 * requests in flight). The runner's periodic "stability" events use it.
 */
struct stability_bg;

/* Start the thread for job `job_id` on the database at db_path (opened by
 * the thread). `o` is copied. NULL when the thread cannot start. */
struct stability_bg *stability_bg_start(const char *db_path, int64_t job_id,
                                        const struct stability_opts *o);
/* Ask for an analysis unless one is under way. NULL is fine. Can't fail. */
void stability_bg_request(struct stability_bg *bg);
/* The newest finished analysis (new reference; an older unread one is
 * dropped), or NULL when none is ready. NULL bg is fine. */
json_t *stability_bg_take(struct stability_bg *bg);
/* Stop (waiting for an analysis under way), close and free. NULL is fine. */
void stability_bg_stop(struct stability_bg *bg);

/*
 * Write the report's "Stability" section for job `job_id` to f when it is a
 * stability job (nothing otherwise, or on error). Can't fail.
 */
void stability_report_md(struct db *db, int64_t job_id, FILE *f);

#endif

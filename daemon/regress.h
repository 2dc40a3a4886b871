/*
 * regress.h - is the newest run of a series slower than its history?
 *
 * The statistic (DESIGN.md "History, trends and regressions"): for the
 * per-run medians x1..xW of the trailing window (the W earlier runs of the
 * same series and case, oldest first) and the new run's median x, noise
 * sigma = 1.4826 * median|x(i+1) - x(i)| / sqrt(2) (robust to a step
 * inside the window), floored at sigma_floor * |mean| so a perfectly flat
 * history does not flag 0.1% noise. The window is first cut at its change
 * points: while a split tau (at least 5 runs before it, 2 after, every
 * run after it at least change_min / 2 away from the mean before it, the
 * same way: one odd run is not a change) maximising |T(tau)| =
 * |mean(right) - mean(left)| / (sigma * sqrt(1/nl + 1/nr)) passes the two
 * thresholds below, only the runs after it are kept, so a run is compared
 * with the level of its series since its last change (a step raises two
 * alerts, not one per run until the window forgets it). Then,
 * for the W' runs kept,
 *     T = (x - mean) / (sigma * sqrt(1 + 1/W')).
 * A change is flagged when |T| >= t_min and |x - mean| / mean >= change_min;
 * its sign and the metric's direction (higher TPS is better, lower TTFT is
 * better) make it a regression or an improvement. With fewer than
 * window_min runs (of history, or since the last change) there is no
 * verdict.
 *
 * Power (tests/test_history.c): 2% gaussian noise per request, the run's
 * median of 5 requests, W = 30: a 10% step is flagged for 99.5% of seeds
 * and no-change noise for none of 4000.
 *
 * Defaults: window 30, window_min 5, t_min 5, change_min 0.05, sigma_floor
 * 0.005; see regress_opts_env. Calls storage/history.
 */
#ifndef TPSD_REGRESS_H
#define TPSD_REGRESS_H

#include <stddef.h>

#include "storage/db.h"

#define REGRESS_WINDOW_DEFAULT 30
#define REGRESS_WINDOW_MIN_DEFAULT 5
#define REGRESS_T_DEFAULT 5.0
#define REGRESS_CHANGE_DEFAULT 0.05
#define REGRESS_SIGMA_FLOOR_DEFAULT 0.005
#define REGRESS_BATCH_MAX 20000 /* (run, case) rollups tested per scan */

struct regress_opts {
    int window;         /* W: earlier runs compared against, 1..HISTORY_WINDOW_MAX */
    int window_min;     /* fewer earlier runs: no verdict */
    double t_min;       /* |T| threshold */
    double change_min;  /* relative change threshold */
    double sigma_floor; /* sigma >= sigma_floor * |mean| */
};

struct regress_result {
    int window;  /* runs compared against (since the last change) */
    double mean; /* of those runs */
    double sigma;
    double t;
    double change; /* (x - mean) / mean */
    int flagged;   /* 0 none, -1 regression, +1 improvement */
};

/* The defaults above. Can't fail. */
void regress_opts_default(struct regress_opts *o);
/* The defaults, overridden by TPSD_REGRESS_WINDOW, TPSD_REGRESS_WINDOW_MIN,
 * TPSD_REGRESS_T, TPSD_REGRESS_CHANGE and TPSD_REGRESS_SIGMA_FLOOR when set
 * to a valid number (invalid values are ignored). Can't fail. */
void regress_opts_env(struct regress_opts *o);

/*
 * Test x against window[0..n) (oldest first) for a metric where higher is
 * better when `higher_better`. Returns 0 with *r filled, or -1 when n is
 * below o->window_min or x is NAN (*r then has flagged 0). Can't fail
 * otherwise.
 */
int regress_test(const struct regress_opts *o, const double *window, size_t n, double x,
                 int higher_better, struct regress_result *r);

/*
 * Test every finished run not yet tested (at most REGRESS_BATCH_MAX
 * rollups per call), for decode_tps, e2e_tps and ttft_ms, store the
 * changes found (regressions and improvements; an unchanged figure stores
 * nothing) and advance the scan mark. *ntested (may be NULL) gets the
 * number of (run, case, metric) tested. 0 or -1 (db->err).
 */
int regress_scan(struct db *db, const struct regress_opts *o, int *ntested);

#endif

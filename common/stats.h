/*
 * stats.h - the statistics of tpsd, in one place for storage/ and daemon/:
 * a summary of an array (per run and case), a streaming accumulator for
 * rollups (Welford) and its merge (Chan et al.), the one percentile
 * definition every tpsd figure uses (by sort or by selection), and the two
 * line fits of the stability analysis (least squares and Theil-Sen).
 *
 * Percentiles: linear interpolation between closest ranks (numpy's default,
 * Hyndman & Fan type 7). For n sorted values x[0..n-1] and q in [0, 1]:
 * h = (n - 1) * q, p = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
 * So the median of {1, 2, 3, 4} is 2.5 and p90 of {1..10} is 9.1.
 *
 * NAN means "unknown" throughout: inputs that are NAN are skipped, results
 * that cannot be computed are NAN. Calls nothing of ours; lives in common/
 * so that storage/ (the trends SQL functions) may use it too.
 */
#ifndef TPSD_STATS_H
#define TPSD_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats_summary {
    size_t n; /* values that were not NAN */
    double mean;
    double median;
    double stddev; /* sample standard deviation (n - 1); NAN when n < 2 */
    double min, max;
    double p90, p95, p99;
};

/* Welford's running mean and M2: constant memory, mergeable. */
struct stats_acc {
    uint64_t n;
    double mean;
    double m2;       /* sum of squared deviations from the mean */
    double min, max; /* NAN while n == 0 */
};

/*
 * The q-quantile (q in [0, 1], clamped) of `n` values sorted ascending, none
 * NAN, by the definition above. NAN when n == 0. Can't fail.
 */
double stats_percentile(const double *sorted, size_t n, double q);

/*
 * The same q-quantile (q in [0, 1], clamped) of `n` unsorted values, none
 * NAN, found by selection instead of a sort (linear on average: the trends
 * of a year take hundreds of thousands of them). Reorders v. NAN when
 * n == 0. Can't fail.
 */
double stats_percentile_select(double *v, size_t n, double q);

/*
 * Chan et al.'s merge of two disjoint sets' sums of squared deviations:
 * set a has na values of mean ma and M2 m2a, set b likewise. Returns the
 * M2 of their union (m2a when nb == 0). Can't fail.
 */
double stats_chan_m2(double na, double ma, double m2a, double nb, double mb, double m2b);

/* Sort `n` doubles ascending in place (NANs must be gone). Can't fail. */
void stats_sort(double *v, size_t n);

/*
 * Summarise `n` values (NANs skipped; `v` is not modified). With no value
 * left, out->n is 0 and every figure NAN. Returns 0, or -1 when out of memory
 * (for the sorted copy; *out then all NAN).
 */
int stats_summarize(const double *v, size_t n, struct stats_summary *out);

/* An empty accumulator. Can't fail. */
void stats_acc_init(struct stats_acc *a);
/* Add one value; NAN is skipped. Can't fail. */
void stats_acc_add(struct stats_acc *a, double x);
/* Add everything in `from` to `into` (Chan et al.). Can't fail. */
void stats_acc_merge(struct stats_acc *into, const struct stats_acc *from);
/* Sample variance and standard deviation (n - 1); NAN when n < 2. */
double stats_acc_variance(const struct stats_acc *a);
double stats_acc_stddev(const struct stats_acc *a);
/* The mean; NAN when n == 0. */
double stats_acc_mean(const struct stats_acc *a);

/* A straight line fitted to points (x, y). */
struct stats_fit {
    size_t n; /* points used (neither x nor y NAN) */
    double slope, intercept, r2;
    double x0, x1; /* range of x used */
};

/*
 * Ordinary least squares of y on x over n points, NANs skipped, into *f
 * (slope, intercept and r2 NAN when it fails). Returns 0, or -1 with
 * fewer than 2 usable points or no spread in x.
 */
int stats_ols(const double *x, const double *y, size_t n, struct stats_fit *f);

/*
 * Theil-Sen: the median of the slopes between every pair of points (NANs
 * skipped) into *slope, and the median of y - slope * x into *intercept.
 * Robust to one-sided outliers. Uses at most `max_points` points, thinned
 * evenly. Returns 0, or -1 with fewer than 2 points, no spread in x or
 * out of memory (both results NAN).
 */
int stats_theil_sen(const double *x, const double *y, size_t n, size_t max_points,
                    double *slope, double *intercept);

#endif

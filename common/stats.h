/*
 * stats.h - descriptive statistics of measured figures: a summary of an
 * array (per run and case), a streaming accumulator for rollups, and the one
 * percentile definition every tpsd figure uses.
 *
 * Percentiles: linear interpolation between closest ranks (numpy's default,
 * Hyndman & Fan type 7). For n sorted values x[0..n-1] and q in [0, 1]:
 * h = (n - 1) * q, p = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]).
 * So the median of {1, 2, 3, 4} is 2.5 and p90 of {1..10} is 9.1.
 *
 * NAN means "unknown" throughout: inputs that are NAN are skipped, results
 * that cannot be computed are NAN. Calls nothing of ours.
 */
#ifndef TPSD_STATS_H
#define TPSD_STATS_H

#include <stddef.h>
#include <stdint.h>

struct stats_summary {
    size_t n;          /* values that were not NAN */
    double mean;
    double median;
    double stddev;     /* sample standard deviation (n - 1); NAN when n < 2 */
    double min, max;
    double p90, p95, p99;
};

/* Welford's running mean and M2: constant memory, mergeable. */
struct stats_acc {
    uint64_t n;
    double mean;
    double m2;         /* sum of squared deviations from the mean */
    double min, max;   /* NAN while n == 0 */
};

/*
 * The q-quantile (q in [0, 1], clamped) of `n` values sorted ascending, none
 * NAN, by the definition above. NAN when n == 0. Can't fail.
 */
double stats_percentile(const double *sorted, size_t n, double q);

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

#endif

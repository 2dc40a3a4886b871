/*
 * stats.c - the statistics of tpsd (see stats.h for the definitions).
 *
 * How it works: percentiles interpolate between closest ranks either on a
 * sorted copy (stats_summarize, a few thousand values) or by quickselect
 * (stats_percentile_select, where storage/ computes hundreds of thousands
 * of them). The accumulator is Welford's online mean and M2; merging two
 * accumulators is Chan et al.'s formula, written once in stats_chan_m2 and
 * used by stats_acc_merge and by storage/history.c's rollups. The line
 * fits are a two-pass least squares (means first, then the sums of
 * products) and Theil-Sen over an evenly thinned subset.
 */
#include "common/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double
stats_percentile(const double *sorted, size_t n, double q)
{
    double h, frac;
    size_t lo;

    if (n == 0 || isnan(q))
        return NAN;
    if (q <= 0)
        return sorted[0];
    if (q >= 1)
        return sorted[n - 1];
    h = (double)(n - 1) * q;
    lo = (size_t)floor(h);
    if (lo >= n - 1)
        return sorted[n - 1];
    frac = h - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

/*
 * Reorder v[0..n) so that v[k] holds what a sort would put there, nothing
 * greater before it and nothing smaller after: quickselect with a
 * three-way partition, linear on average and with runs of equal values
 * (where a two-way one goes quadratic). A NaN compares equal to every
 * pivot, so the loops end whatever v holds.
 */
static void
select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* k is in [lo, hi) */

    while (hi - lo > 1) {
        double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1], p, t;
        size_t lt = lo, i = lo, gt = hi;

        p = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
        while (i < gt) {
            if (v[i] < p) {
                t = v[i], v[i] = v[lt], v[lt] = t;
                lt++, i++;
            } else if (v[i] > p) {
                gt--;
                t = v[i], v[i] = v[gt], v[gt] = t;
            } else {
                i++;
            }
        }
        /* [lo, lt) < p, [lt, gt) == p, [gt, hi) > p */
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return;
    }
}

double
stats_percentile_select(double *v, size_t n, double q)
{
    double h, f, next;
    size_t i, j;

    if (n == 0 || isnan(q))
        return NAN;
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    h = (double)(n - 1) * q;
    f = floor(h);
    i = (size_t)f;
    if (i + 1 >= n) {
        select_kth(v, n, n - 1);
        return v[n - 1];
    }
    select_kth(v, n, i);
    if (h == f)
        return v[i];
    next = v[i + 1]; /* the (i + 1)th: the least after v[i] */
    for (j = i + 2; j < n; j++)
        if (v[j] < next)
            next = v[j];
    return v[i] + (h - f) * (next - v[i]);
}

double
stats_chan_m2(double na, double ma, double m2a, double nb, double mb, double m2b)
{
    double d = mb - ma;

    if (nb <= 0)
        return m2a;
    return m2a + (m2b + d * d * na * nb / (na + nb));
}

static int
stats_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

void
stats_sort(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), stats_cmp);
}

static void
stats_summary_unknown(struct stats_summary *out)
{
    out->n = 0;
    out->mean = out->median = out->stddev = NAN;
    out->min = out->max = NAN;
    out->p90 = out->p95 = out->p99 = NAN;
}

int
stats_summarize(const double *v, size_t n, struct stats_summary *out)
{
    struct stats_acc acc;
    double *s = NULL;
    size_t i, k = 0;

    stats_summary_unknown(out);
    if (n == 0)
        return 0;
    s = malloc(n * sizeof(*s));
    if (s == NULL)
        return -1;
    stats_acc_init(&acc);
    for (i = 0; i < n; i++) {
        if (isnan(v[i]))
            continue;
        s[k++] = v[i];
        stats_acc_add(&acc, v[i]);
    }
    if (k > 0) {
        stats_sort(s, k);
        out->n = k;
        out->mean = acc.mean;
        out->stddev = stats_acc_stddev(&acc);
        out->min = s[0];
        out->max = s[k - 1];
        out->median = stats_percentile(s, k, 0.5);
        out->p90 = stats_percentile(s, k, 0.9);
        out->p95 = stats_percentile(s, k, 0.95);
        out->p99 = stats_percentile(s, k, 0.99);
    }
    free(s);
    return 0;
}

void
stats_acc_init(struct stats_acc *a)
{
    a->n = 0;
    a->mean = 0;
    a->m2 = 0;
    a->min = NAN;
    a->max = NAN;
}

void
stats_acc_add(struct stats_acc *a, double x)
{
    double d;

    if (isnan(x))
        return;
    a->n++;
    d = x - a->mean;
    a->mean += d / (double)a->n;
    a->m2 += d * (x - a->mean);
    if (a->n == 1 || x < a->min)
        a->min = x;
    if (a->n == 1 || x > a->max)
        a->max = x;
}

void
stats_acc_merge(struct stats_acc *into, const struct stats_acc *from)
{
    double d, n, na, nb;

    if (from->n == 0)
        return;
    if (into->n == 0) {
        *into = *from;
        return;
    }
    na = (double)into->n;
    nb = (double)from->n;
    n = na + nb;
    d = from->mean - into->mean;
    into->m2 = stats_chan_m2(na, into->mean, into->m2, nb, from->mean, from->m2);
    into->mean += d * nb / n;
    into->n += from->n;
    if (from->min < into->min)
        into->min = from->min;
    if (from->max > into->max)
        into->max = from->max;
}

double
stats_acc_variance(const struct stats_acc *a)
{
    if (a->n < 2)
        return NAN;
    return a->m2 / (double)(a->n - 1);
}

double
stats_acc_stddev(const struct stats_acc *a)
{
    return a->n < 2 ? NAN : sqrt(stats_acc_variance(a));
}

double
stats_acc_mean(const struct stats_acc *a)
{
    return a->n == 0 ? NAN : a->mean;
}

int
stats_ols(const double *x, const double *y, size_t n, struct stats_fit *f)
{
    double mx = 0, my = 0, sxx = 0, sxy = 0, syy = 0;
    size_t i, k = 0;

    memset(f, 0, sizeof(*f));
    f->slope = f->intercept = f->r2 = NAN;
    for (i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i]))
            continue;
        if (k == 0 || x[i] < f->x0)
            f->x0 = x[i];
        if (k == 0 || x[i] > f->x1)
            f->x1 = x[i];
        k++;
        mx += (x[i] - mx) / (double)k;
        my += (y[i] - my) / (double)k;
    }
    f->n = k;
    if (k < 2)
        return -1;
    for (i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i]))
            continue;
        sxx += (x[i] - mx) * (x[i] - mx);
        sxy += (x[i] - mx) * (y[i] - my);
        syy += (y[i] - my) * (y[i] - my);
    }
    if (sxx <= 0)
        return -1;
    f->slope = sxy / sxx;
    f->intercept = my - f->slope * mx;
    f->r2 = syy > 0 ? (sxy * sxy) / (sxx * syy) : 1.0;
    return 0;
}

int
stats_theil_sen(const double *x, const double *y, size_t n, size_t max_points, double *slope,
                double *intercept)
{
    size_t m = 0, i, j, k = 0, step_num, np;
    double *px = NULL, *py = NULL, *sl = NULL;
    int rc = -1;

    *slope = *intercept = NAN;
    for (i = 0; i < n; i++)
        m += !isnan(x[i]) && !isnan(y[i]);
    if (m < 2)
        return -1;
    np = m < max_points ? m : max_points;
    if (np < 2)
        return -1;
    px = malloc(np * sizeof(double));
    py = malloc(np * sizeof(double));
    sl = malloc((np * (np - 1) / 2 + 1) * sizeof(double));
    if (px == NULL || py == NULL || sl == NULL)
        goto out;
    /* the j-th usable point is kept when it starts a new step of m/np */
    step_num = 0;
    for (i = 0, j = 0; i < n && k < np; i++) {
        if (isnan(x[i]) || isnan(y[i]))
            continue;
        if (j * np >= step_num) {
            px[k] = x[i];
            py[k] = y[i];
            k++;
            step_num += m;
        }
        j++;
    }
    np = k;
    m = 0;
    for (i = 0; i < np; i++)
        for (j = i + 1; j < np; j++)
            if (px[j] != px[i])
                sl[m++] = (py[j] - py[i]) / (px[j] - px[i]);
    if (m == 0)
        goto out;
    stats_sort(sl, m);
    *slope = stats_percentile(sl, m, 0.5);
    for (i = 0; i < np; i++)
        sl[i] = py[i] - *slope * px[i];
    stats_sort(sl, np);
    *intercept = stats_percentile(sl, np, 0.5);
    rc = 0;
out:
    free(px);
    free(py);
    free(sl);
    return rc;
}

/* stats.c - see stats.h. */
#include "common/stats.h"

#include <math.h>
#include <stdlib.h>

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
    into->mean += d * nb / n;
    into->m2 += from->m2 + d * d * na * nb / n;
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

/* regress.c - see regress.h. */
#include "daemon/regress.h"

#include "daemon/stats.h"
#include "storage/history.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define REGRESS_MAD_SCALE 1.4826   /* MAD to sigma for normal noise */

static const char *const tested_metrics[] = { "decode_tps", "e2e_tps", "ttft_ms" };
#define NTESTED (sizeof(tested_metrics) / sizeof(tested_metrics[0]))

void
regress_opts_default(struct regress_opts *o)
{
    o->window = REGRESS_WINDOW_DEFAULT;
    o->window_min = REGRESS_WINDOW_MIN_DEFAULT;
    o->t_min = REGRESS_T_DEFAULT;
    o->change_min = REGRESS_CHANGE_DEFAULT;
    o->sigma_floor = REGRESS_SIGMA_FLOOR_DEFAULT;
}

static void
env_double(const char *name, double lo, double hi, double *v)
{
    const char *s = getenv(name);
    char *end = NULL;
    double x;

    if (s == NULL || *s == '\0')
        return;
    x = strtod(s, &end);
    if (end != NULL && *end == '\0' && x >= lo && x <= hi)
        *v = x;
}

void
regress_opts_env(struct regress_opts *o)
{
    double w, wm;

    regress_opts_default(o);
    w = o->window;
    wm = o->window_min;
    env_double("TPSD_REGRESS_WINDOW", 2, HISTORY_WINDOW_MAX, &w);
    env_double("TPSD_REGRESS_WINDOW_MIN", 2, HISTORY_WINDOW_MAX, &wm);
    env_double("TPSD_REGRESS_T", 0, 1e6, &o->t_min);
    env_double("TPSD_REGRESS_CHANGE", 0, 100, &o->change_min);
    env_double("TPSD_REGRESS_SIGMA_FLOOR", 0, 1, &o->sigma_floor);
    o->window = (int)w;
    o->window_min = (int)wm;
}

int
regress_test(const struct regress_opts *o, const double *window, size_t n, double x,
             int higher_better, struct regress_result *r)
{
    double d[HISTORY_WINDOW_MAX], sum = 0, mean, sigma, diff;
    size_t i;

    r->mean = r->sigma = r->t = r->change = NAN;
    r->flagged = 0;
    if (isnan(x) || n < (size_t)(o->window_min > 2 ? o->window_min : 2) ||
        n > HISTORY_WINDOW_MAX)
        return -1;
    for (i = 0; i < n; i++)
        sum += window[i];
    mean = sum / (double)n;
    for (i = 0; i + 1 < n; i++)
        d[i] = fabs(window[i + 1] - window[i]);
    stats_sort(d, n - 1);
    sigma = REGRESS_MAD_SCALE * stats_percentile(d, n - 1, 0.5) / sqrt(2.0);
    if (sigma < o->sigma_floor * fabs(mean))
        sigma = o->sigma_floor * fabs(mean);
    diff = x - mean;
    r->mean = mean;
    r->sigma = sigma;
    r->t = sigma > 0 ? diff / (sigma * sqrt(1.0 + 1.0 / (double)n)) : (diff == 0 ? 0 : INFINITY);
    r->change = mean != 0 ? diff / mean : NAN;
    if (fabs(r->t) >= o->t_min && !isnan(r->change) && fabs(r->change) >= o->change_min)
        r->flagged = (diff > 0) == (higher_better != 0) ? 1 : -1;
    return 0;
}

int
regress_scan(struct db *db, const struct regress_opts *o, int *ntested)
{
    struct history_point *pts = NULL;
    struct history_verdict *v = NULL;
    double win[HISTORY_WINDOW_MAX], x;
    int n = 0, nv = 0, i, k, w, rc = -1;
    int64_t scan_to = 0;
    size_t m;

    if (ntested != NULL)
        *ntested = 0;
    w = o->window < 1 ? 1 : o->window > HISTORY_WINDOW_MAX ? HISTORY_WINDOW_MAX : o->window;
    if (history_untested(db, REGRESS_BATCH_MAX, &pts, &n, &scan_to) == -1)
        return -1;
    v = calloc((size_t)n * NTESTED + 1, sizeof(*v));
    if (v == NULL) {
        snprintf(db->err, sizeof(db->err), "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        for (m = 0; m < NTESTED; m++) {
            struct regress_result r;
            if (history_window(db, &pts[i], tested_metrics[m], w, &x, win, &k) == -1)
                goto out;
            if (regress_test(o, win, (size_t)k, x, history_metric_higher_better(tested_metrics[m]),
                             &r) == -1)
                continue;
            v[nv].p = &pts[i];
            v[nv].metric = tested_metrics[m];
            v[nv].value = x;
            v[nv].baseline = r.mean;
            v[nv].sigma = r.sigma;
            v[nv].t = isinf(r.t) ? (r.t > 0 ? 1e300 : -1e300) : r.t;
            v[nv].change = isnan(r.change) ? 0 : r.change;
            v[nv].win = k;
            v[nv].verdict = r.flagged < 0 ? "regression" : r.flagged > 0 ? "improvement" : "none";
            nv++;
        }
    }
    if (nv > 0 && history_verdicts_store(db, v, nv) == -1)
        goto out;
    if (history_scan_mark(db, scan_to) == -1)
        goto out;
    if (ntested != NULL)
        *ntested = nv;
    rc = 0;
out:
    free(pts);
    free(v);
    return rc;
}

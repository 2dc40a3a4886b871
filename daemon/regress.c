/* regress.c - see regress.h. */
#include "daemon/regress.h"

#include "common/stats.h"
#include "storage/history.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define REGRESS_MAD_SCALE 1.4826  /* MAD to sigma for normal noise */
#define REGRESS_SPLIT_MIN 5       /* runs before a change point in the window */
#define REGRESS_SPLIT_MIN_RIGHT 2 /* ... and after it: one odd run is not a change */

static const char *const tested_metrics[] = {"decode_tps", "e2e_tps", "ttft_ms"};
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

/* *v = the number in env var `name` when it is one in lo..hi (a whole
 * number when `whole`); otherwise *v is left as it was. */
static void
env_number(const char *name, double lo, double hi, int whole, double *v)
{
    const char *s = getenv(name);
    char *end = NULL;
    double x;

    if (s == NULL || *s == '\0')
        return;
    x = strtod(s, &end);
    if (end == NULL || *end != '\0' || !(x >= lo && x <= hi))
        return;
    if (whole && x != floor(x))
        return;
    *v = x;
}

void
regress_opts_env(struct regress_opts *o)
{
    double w, wm;

    regress_opts_default(o);
    w = o->window;
    wm = o->window_min;
    env_number("TPSD_REGRESS_WINDOW", 2, HISTORY_WINDOW_MAX, 1, &w);
    env_number("TPSD_REGRESS_WINDOW_MIN", 2, HISTORY_WINDOW_MAX, 1, &wm);
    env_number("TPSD_REGRESS_T", 0, 1e6, 0, &o->t_min);
    env_number("TPSD_REGRESS_CHANGE", 0, 100, 0, &o->change_min);
    env_number("TPSD_REGRESS_SIGMA_FLOOR", 0, 1, 0, &o->sigma_floor);
    o->window = (int)w;
    o->window_min = (int)wm;
}

/*
 * The first index of the window's current level. While window[start..n)
 * has splits tau (at least REGRESS_SPLIT_MIN values before, at least
 * REGRESS_SPLIT_MIN_RIGHT after) whose right part moved as a whole (every
 * value at least change_min / 2 from the left mean, the same way) and the
 * one maximising |T(tau)| = |mean(right) - mean(left)| / (sigma *
 * sqrt(1/nl + 1/nr)) reaches t_min with a relative change of change_min,
 * the window restarts there: a run is compared with the level its series
 * has been at since its last change, not with a mix of old and new, and
 * one odd run is not a change. Can't fail.
 */
static size_t
regress_level_start(const struct regress_opts *o, const double *w, size_t n, double sigma)
{
    size_t start = 0, len, tau, best, i;
    double total, left, t, bt, ml, mr, bml, bmr, dir;
    int whole;

    while (sigma > 0) {
        len = n - start;
        if (len < REGRESS_SPLIT_MIN + REGRESS_SPLIT_MIN_RIGHT)
            break;
        total = 0;
        for (i = start; i < n; i++)
            total += w[i];
        left = bt = bml = bmr = 0;
        best = 0;
        for (tau = 1; tau + REGRESS_SPLIT_MIN_RIGHT <= len; tau++) {
            left += w[start + tau - 1];
            if (tau < REGRESS_SPLIT_MIN)
                continue;
            ml = left / (double)tau;
            mr = (total - left) / (double)(len - tau);
            t = (mr - ml) / (sigma * sqrt(1.0 / (double)tau + 1.0 / (double)(len - tau)));
            if (fabs(t) <= fabs(bt))
                continue;
            dir = mr >= ml ? 1.0 : -1.0;
            whole = 1;
            for (i = start + tau; i < n && whole; i++)
                whole = dir * (w[i] - ml) >= 0.5 * o->change_min * fabs(ml);
            if (!whole)
                continue;
            bt = t;
            best = tau;
            bml = ml;
            bmr = mr;
        }
        if (best == 0 || fabs(bt) < o->t_min || bml == 0 ||
            fabs((bmr - bml) / bml) < o->change_min)
            break;
        start += best;
    }
    return start;
}

int
regress_test(const struct regress_opts *o, const double *window, size_t n, double x,
             int higher_better, struct regress_result *r)
{
    double d[HISTORY_WINDOW_MAX], sum = 0, mean, sigma, diff;
    size_t i, start, w;

    r->mean = r->sigma = r->t = r->change = NAN;
    r->flagged = 0;
    r->window = 0;
    if (isnan(x) || n < (size_t)(o->window_min > 2 ? o->window_min : 2) ||
        n > HISTORY_WINDOW_MAX)
        return -1;
    /* Noise from successive differences: a step inside the window is one
     * large difference, which the median ignores. */
    for (i = 0; i < n; i++)
        sum += window[i];
    for (i = 0; i + 1 < n; i++)
        d[i] = fabs(window[i + 1] - window[i]);
    stats_sort(d, n - 1);
    sigma = REGRESS_MAD_SCALE * stats_percentile(d, n - 1, 0.5) / sqrt(2.0);
    if (sigma < o->sigma_floor * fabs(sum / (double)n))
        sigma = o->sigma_floor * fabs(sum / (double)n);
    start = regress_level_start(o, window, n, sigma);
    w = n - start;
    sum = 0;
    for (i = start; i < n; i++)
        sum += window[i];
    mean = sum / (double)w;
    diff = x - mean;
    r->mean = mean;
    r->sigma = sigma;
    r->window = (int)w;
    r->t =
        sigma > 0 ? diff / (sigma * sqrt(1.0 + 1.0 / (double)w)) : (diff == 0 ? 0 : INFINITY);
    r->change = mean != 0 ? diff / mean : NAN;
    if (w < (size_t)(o->window_min > 2 ? o->window_min : 2))
        return -1; /* too few runs since the last change */
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
    int n = 0, nv = 0, ntest = 0, i, k, w, rc = -1;
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
            if (regress_test(o, win, (size_t)k, x,
                             history_metric_higher_better(tested_metrics[m]), &r) == -1)
                continue;
            v[nv].p = &pts[i];
            v[nv].metric = tested_metrics[m];
            v[nv].value = x;
            v[nv].baseline = r.mean;
            v[nv].sigma = r.sigma;
            v[nv].t = isinf(r.t) ? (r.t > 0 ? 1e300 : -1e300) : r.t;
            v[nv].change = isnan(r.change) ? 0 : r.change;
            v[nv].win = r.window;
            v[nv].verdict = r.flagged < 0   ? "regression"
                            : r.flagged > 0 ? "improvement"
                                            : "none";
            ntest++;
            /* Only changes are stored: "none" for every tested (run, case,
             * metric) would outgrow the samples they summarise. */
            if (r.flagged != 0)
                nv++;
        }
    }
    if (nv > 0 && history_verdicts_store(db, v, nv) == -1)
        goto out;
    if (history_scan_mark(db, scan_to) == -1)
        goto out;
    if (ntested != NULL)
        *ntested = ntest;
    rc = 0;
out:
    free(pts);
    free(v);
    return rc;
}

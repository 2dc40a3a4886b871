/* stability.c - see stability.h. */
#include "daemon/stability.h"

#include "common/clock.h"
#include "daemon/log.h"
#include "daemon/thread.h"
#include "common/stats.h"
#include "storage/jobs.h"
#include "storage/stabdata.h"
#include "storage/system.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MB (1024.0 * 1024.0)
#define HOUR_MS 3600000.0

static struct stability_opts defaults = {
    600, 600, 50.0, 16.0, 0, 0, 0,
};

void
stability_opts_from_config(struct stability_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof(*o));
    o->window_s = cfg->stability_window_s > 0 ? cfg->stability_window_s : 600;
    o->warmup_s = cfg->stability_warmup_s >= 0 ? cfg->stability_warmup_s : 600;
    o->leak_mb_per_hour = cfg->leak_mb_per_hour > 0 ? cfg->leak_mb_per_hour : 50;
    o->leak_min_growth_mb = cfg->leak_min_growth_mb >= 0 ? cfg->leak_min_growth_mb : 16;
}

void
stability_configure(const struct config *cfg)
{
    stability_opts_from_config(&defaults, cfg);
}

void
stability_opts_default(struct stability_opts *o)
{
    *o = defaults;
    o->bucket_s = 0;
    o->detail = 0;
    o->now_ms = 0;
}

/* ---- small helpers ---- */

static json_t *
jnum(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

/* A growable array; every push is checked against its hard maximum. */
struct req {
    int64_t at;
    int64_t seq;
    double tps, ttft;
    int ok;
};

struct reqs {
    struct req *v;
    size_t n, cap;
    int truncated;
    /* errors and stalls, gathered while scanning */
    json_t *by_code;
    json_t *bursts;
    size_t nbursts, streak, max_streak;
    int64_t streak_start, streak_end;
    char streak_code[STABDATA_CODE_MAX];
    int streak_mixed;
    double longest_gap_ms;
    int64_t longest_at, longest_seq;
    int64_t stall_errors;
    int64_t errors;
    int oom;
};

/* Room for one more element in an array of n of `elem` bytes with *cap
 * slots (first: the first capacity; it doubles, up to
 * STABILITY_SAMPLES_MAX). *nv gets the array (moved or not). 0, 1 when it
 * holds STABILITY_SAMPLES_MAX already, -1 out of memory (*nv the old one). */
static int
grow(void *v, size_t n, size_t *cap, size_t first, size_t elem, void **nv)
{
    size_t c = *cap ? *cap * 2 : first;
    void *p;

    *nv = v;
    if (n < *cap)
        return 0;
    if (n >= STABILITY_SAMPLES_MAX)
        return 1;
    if (c > STABILITY_SAMPLES_MAX)
        c = STABILITY_SAMPLES_MAX;
    p = realloc(v, c * elem);
    if (p == NULL)
        return -1; /* *nv is still v */
    *nv = p;
    *cap = c;
    return 0;
}

static void
burst_close(struct reqs *q)
{
    if (q->streak >= STABILITY_BURST_MIN) {
        if (q->nbursts < STABILITY_BURSTS_MAX)
            json_array_append_new(
                q->bursts,
                json_pack("{s:I, s:I, s:I, s:s}", "start_at", (json_int_t)q->streak_start,
                          "end_at", (json_int_t)q->streak_end, "count", (json_int_t)q->streak,
                          "error_code", q->streak_mixed ? "mixed" : q->streak_code));
        q->nbursts++;
    }
    q->streak = 0;
}

static int
on_sample(void *arg, const struct stabdata_sample *s)
{
    struct reqs *q = arg;
    struct req *r;
    double gap = s->itl_max_ms;
    void *nv;
    int room = grow(q->v, q->n, &q->cap, 1024, sizeof(*q->v), &nv);

    q->v = nv;
    q->truncated |= room == 1;
    q->oom |= room == -1;
    if (room != 0)
        return 1;
    r = &q->v[q->n++];
    r->at = s->started_at;
    r->seq = s->seq;
    r->ok = s->ok;
    r->tps = s->ok ? s->decode_tps : NAN;
    r->ttft = s->ok ? s->ttft_ms : NAN;
    if (!s->ok) {
        const char *code = s->error_code[0] ? s->error_code : "unknown";
        json_t *c = json_object_get(q->by_code, code);

        q->errors++;
        json_object_set_new(q->by_code, code, json_integer(c ? json_integer_value(c) + 1 : 1));
        if (q->streak == 0) {
            q->streak_start = s->started_at;
            snprintf(q->streak_code, sizeof(q->streak_code), "%s", code);
            q->streak_mixed = 0;
        } else if (strcmp(q->streak_code, code) != 0) {
            q->streak_mixed = 1;
        }
        q->streak++;
        q->streak_end = s->started_at;
        if (q->streak > q->max_streak)
            q->max_streak = q->streak;
        if (strcmp(code, "stall") == 0) {
            int64_t from = s->t_last_us >= 0 ? s->t_last_us : s->ttft_us >= 0 ? s->ttft_us : 0;
            q->stall_errors++;
            if (s->t_done_us > from) {
                double g = (double)(s->t_done_us - from) / 1000.0;
                if (isnan(gap) || g > gap)
                    gap = g;
            }
        }
    } else {
        burst_close(q);
    }
    if (!isnan(gap) && (isnan(q->longest_gap_ms) || gap > q->longest_gap_ms)) {
        q->longest_gap_ms = gap;
        q->longest_at = s->started_at;
        q->longest_seq = s->seq;
    }
    return 0;
}

struct sys {
    struct system_rec *v;
    size_t n, cap;
    int oom;
};

static int
on_system(void *arg, const struct system_rec *r)
{
    struct sys *s = arg;
    void *nv;
    int g = grow(s->v, s->n, &s->cap, 256, sizeof(*s->v), &nv);

    s->v = nv;
    s->oom |= g == -1;
    if (g != 0)
        return 1;
    s->v[s->n++] = *r;
    return 0;
}

/* Mean and median of values[0..n) (NANs skipped); scratch has n slots. */
static void
mean_median(const double *values, size_t n, double *scratch, double *mean, double *median,
            size_t *count)
{
    size_t i, k = 0;
    double sum = 0;

    for (i = 0; i < n; i++) {
        if (isnan(values[i]))
            continue;
        scratch[k++] = values[i];
        sum += values[i];
    }
    *count = k;
    *mean = k ? sum / (double)k : NAN;
    if (k == 0) {
        *median = NAN;
        return;
    }
    stats_sort(scratch, k);
    *median = stats_percentile(scratch, k, 0.5);
}

/* The order of thermal states from calm to worst; unknown names rank 1. */
static int
thermal_rank(const char *s)
{
    static const char *const order[] = {"nominal", "moderate", "passive",  "heavy",
                                        "hot",     "trapping", "critical", "sleeping"};
    size_t i;

    if (s == NULL || *s == '\0')
        return -1;
    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (strcmp(s, order[i]) == 0)
            return (int)i;
    return 1;
}

/* Figures over a span of system readings, as a window and a series point
 * report them: sums and counts for the means, NAN-started extremes, the
 * worst thermal state. Megabytes for memory. */
struct sys_acc {
    double rss_sum, rss_max, self_sum, self_max, avail_min, swap_max, press_max, load_sum;
    double temp_max;
    size_t nrss, nself, nload;
    int worst;
    const char *worst_name;
};

static void
sys_acc_init(struct sys_acc *a)
{
    memset(a, 0, sizeof(*a));
    a->rss_max = a->self_max = a->avail_min = a->swap_max = a->press_max = a->temp_max = NAN;
    a->worst = -1;
}

/* *m becomes v when v is larger (smaller with `lower`), or *m is NAN. */
static void
acc_extreme(double *m, double v, int lower)
{
    if (isnan(*m) || (lower ? v < *m : v > *m))
        *m = v;
}

static double
acc_mean(double sum, size_t n)
{
    return n ? sum / (double)n : NAN;
}

/* Add one reading (its unknowns, -1 or NAN, left out). */
static void
sys_acc_add(struct sys_acc *a, const struct system_rec *r)
{
    int rk = thermal_rank(r->thermal);

    if (r->server_rss_bytes >= 0) {
        a->rss_sum += (double)r->server_rss_bytes / MB;
        a->nrss++;
        acc_extreme(&a->rss_max, (double)r->server_rss_bytes / MB, 0);
    }
    if (r->self_rss_bytes >= 0) {
        a->self_sum += (double)r->self_rss_bytes / MB;
        a->nself++;
        acc_extreme(&a->self_max, (double)r->self_rss_bytes / MB, 0);
    }
    if (r->mem_avail_bytes >= 0)
        acc_extreme(&a->avail_min, (double)r->mem_avail_bytes / MB, 1);
    if (r->swap_used_bytes >= 0)
        acc_extreme(&a->swap_max, (double)r->swap_used_bytes / MB, 0);
    if (!isnan(r->mem_pressure))
        acc_extreme(&a->press_max, r->mem_pressure, 0);
    if (!isnan(r->cpu_load1)) {
        a->load_sum += r->cpu_load1;
        a->nload++;
    }
    if (!isnan(r->temp_c))
        acc_extreme(&a->temp_max, r->temp_c, 0);
    if (rk > a->worst) {
        a->worst = rk;
        a->worst_name = r->thermal;
    }
}

/* ---- the pieces of one run's analysis ---- */

/*
 * The working arrays of one run's analysis, each of `cap` doubles (the
 * larger of the run's requests and readings), lent to one writer at a time;
 * none keeps anything in them between calls:
 *   t     a fit's abscissa: hours since measuring began
 *   v     a fit's ordinate, or the values a mean and median are taken of
 *   sel   selection space of a median (reordered)
 */
struct work {
    double *t, *v, *sel;
};

/* Drift of one figure: OLS per hour from t0, and first span vs last span. */
static json_t *
drift_json(const struct reqs *q, int fig, int64_t t0, int64_t t_last, struct work *w)
{
    struct stats_fit f;
    double span_ms, first_mean, last_mean, m, med, ts_slope, ts_icept;
    size_t i, k = 0, nf, nl;
    json_t *o;

    for (i = 0; i < q->n; i++) {
        w->t[i] = (double)(q->v[i].at - t0) / HOUR_MS;
        w->v[i] = fig == 0 ? q->v[i].tps : q->v[i].ttft;
    }
    stats_ols(w->t, w->v, q->n, &f);
    o = json_pack("{s:I}", "n", (json_int_t)f.n);
    json_object_set_new(o, "slope_per_hour", jnum(f.slope));
    json_object_set_new(o, "intercept", jnum(f.intercept));
    json_object_set_new(o, "slope_pct_per_hour",
                        jnum(f.intercept > 0 ? 100.0 * f.slope / f.intercept : NAN));
    json_object_set_new(o, "r2", jnum(f.r2));
    stats_theil_sen(w->t, w->v, q->n, STABILITY_TS_POINTS, &ts_slope, &ts_icept);
    json_object_set_new(o, "robust_slope_per_hour", jnum(ts_slope));
    json_object_set_new(o, "robust_intercept", jnum(ts_icept));
    json_object_set_new(o, "robust_slope_pct_per_hour",
                        jnum(ts_icept > 0 ? 100.0 * ts_slope / ts_icept : NAN));
    /* first span vs last span */
    span_ms = (double)(t_last - t0) / 4.0;
    if (span_ms > HOUR_MS)
        span_ms = HOUR_MS;
    for (i = 0; i < q->n; i++) /* in place: k <= i */
        if (q->v[i].at < t0 + (int64_t)span_ms)
            w->v[k++] = w->v[i];
    mean_median(w->v, k, w->sel, &first_mean, &med, &nf);
    k = 0;
    for (i = 0; i < q->n; i++)
        if (q->v[i].at > t_last - (int64_t)span_ms)
            w->v[k++] = fig == 0 ? q->v[i].tps : q->v[i].ttft;
    mean_median(w->v, k, w->sel, &last_mean, &m, &nl);
    json_object_set_new(
        o, "first_last",
        json_pack("{s:f, s:o, s:o, s:I, s:I, s:o}", "span_s", span_ms / 1000.0, "first_mean",
                  jnum(first_mean), "last_mean", jnum(last_mean), "first_n", (json_int_t)nf,
                  "last_n", (json_int_t)nl, "change_pct",
                  jnum(first_mean > 0 ? 100.0 * (last_mean - first_mean) / first_mean : NAN)));
    return o;
}

/* Server and tpsd memory, swap, pressure, load and thermal from readings
 * s->v[from..to) (the run's), fit after warm-up. */
static json_t *
memory_json(const struct sys *s, int64_t t0, int64_t t_end, const struct stability_opts *o,
            struct work *w, int *leak)
{
    struct stats_fit f, fs;
    double warm_ms = (double)o->warmup_s * 1000.0, span, growth = NAN;
    double first = NAN, last = NAN, maxv = NAN, sfirst = NAN, slast = NAN;
    int64_t fit_from;
    size_t i, k = 0, nserver = 0;
    const char *verdict;
    json_t *out, *srv, *self;

    *leak = 0;
    if (warm_ms > 0.25 * (double)(t_end - t0))
        warm_ms = 0.25 * (double)(t_end - t0);
    if (warm_ms < 0)
        warm_ms = 0;
    fit_from = t0 + (int64_t)warm_ms;
    for (i = 0; i < s->n; i++) {
        const struct system_rec *r = &s->v[i];
        double mb = r->server_rss_bytes >= 0 ? (double)r->server_rss_bytes / MB : NAN;

        if (!isnan(mb)) {
            nserver++;
            if (r->at >= t0) {
                if (isnan(first))
                    first = mb;
                last = mb;
            }
            if (isnan(maxv) || mb > maxv)
                maxv = mb;
        }
        if (r->self_rss_bytes >= 0 && r->at >= t0) {
            if (isnan(sfirst))
                sfirst = (double)r->self_rss_bytes / MB;
            slast = (double)r->self_rss_bytes / MB;
        }
        if (r->at < fit_from || r->at > t_end) {
            w->t[k] = w->v[k] = NAN;
        } else {
            w->t[k] = (double)(r->at - t0) / HOUR_MS;
            w->v[k] = mb;
        }
        k++;
    }
    stats_ols(w->t, w->v, k, &f);
    span = (f.x1 - f.x0) * 3600.0; /* seconds */
    if (nserver == 0) {
        verdict = "unknown";
    } else if (f.n < STABILITY_FIT_MIN_N || span < STABILITY_FIT_MIN_S || isnan(f.slope)) {
        verdict = "insufficient_data";
    } else {
        growth = f.slope * (f.x1 - f.x0);
        if (f.slope >= o->leak_mb_per_hour && growth >= o->leak_min_growth_mb &&
            f.r2 >= STABILITY_LEAK_R2_MIN) {
            verdict = "leak";
            *leak = 1;
        } else {
            verdict = "none";
        }
    }
    srv = json_pack("{s:I, s:I, s:I, s:f, s:s}", "readings", (json_int_t)nserver, "fit_n",
                    (json_int_t)f.n, "fit_from_at", (json_int_t)fit_from, "fit_span_s",
                    isnan(span) ? 0.0 : span, "verdict", verdict);
    json_object_set_new(srv, "start_mb", jnum(first));
    json_object_set_new(srv, "end_mb", jnum(last));
    json_object_set_new(srv, "max_mb", jnum(maxv));
    json_object_set_new(srv, "growth_mb_per_hour", jnum(f.slope));
    json_object_set_new(srv, "growth_mb", jnum(growth));
    json_object_set_new(srv, "r2", jnum(f.r2));
    /* tpsd's own memory over the same span */
    k = 0;
    for (i = 0; i < s->n; i++) {
        const struct system_rec *r = &s->v[i];
        if (r->at < fit_from || r->self_rss_bytes < 0) {
            w->t[k] = w->v[k] = NAN;
        } else {
            w->t[k] = (double)(r->at - t0) / HOUR_MS;
            w->v[k] = (double)r->self_rss_bytes / MB;
        }
        k++;
    }
    stats_ols(w->t, w->v, k, &fs);
    self = json_pack("{}");
    json_object_set_new(self, "start_mb", jnum(sfirst));
    json_object_set_new(self, "end_mb", jnum(slast));
    json_object_set_new(self, "growth_mb_per_hour", jnum(fs.slope));
    out = json_pack("{s:o, s:o}", "server", srv, "tpsd", self);
    return out;
}

/* Swap, available memory, pressure, load, thermal episodes over readings at >= t0. */
static void
system_facts(const struct sys *s, int64_t t0, json_t *run)
{
    double swap_max = NAN, swap_first = NAN, swap_last = NAN, avail_min = NAN, press_max = NAN;
    double load_sum = 0, load_max = NAN, temp_max = NAN, throttled_ms = 0;
    size_t i, nload = 0, nep = 0;
    int in_ep = 0, worst = -1, ep_worst = -1;
    int64_t ep_start = 0, ep_last = 0;
    json_t *eps = json_array(), *th;
    const char *worst_name = NULL, *ep_worst_name = NULL;

    for (i = 0; i < s->n; i++) {
        const struct system_rec *r = &s->v[i];
        int rk;

        if (r->at < t0)
            continue;
        if (r->swap_used_bytes >= 0) {
            double mb = (double)r->swap_used_bytes / MB;
            if (isnan(swap_first))
                swap_first = mb;
            swap_last = mb;
            if (isnan(swap_max) || mb > swap_max)
                swap_max = mb;
        }
        if (r->mem_avail_bytes >= 0) {
            double mb = (double)r->mem_avail_bytes / MB;
            if (isnan(avail_min) || mb < avail_min)
                avail_min = mb;
        }
        if (!isnan(r->mem_pressure) && (isnan(press_max) || r->mem_pressure > press_max))
            press_max = r->mem_pressure;
        if (!isnan(r->cpu_load1)) {
            load_sum += r->cpu_load1;
            nload++;
            if (isnan(load_max) || r->cpu_load1 > load_max)
                load_max = r->cpu_load1;
        }
        if (!isnan(r->temp_c) && (isnan(temp_max) || r->temp_c > temp_max))
            temp_max = r->temp_c;
        rk = thermal_rank(r->thermal);
        if (rk > worst) {
            worst = rk;
            worst_name = s->v[i].thermal;
        }
        if (rk > 0) {
            if (!in_ep) {
                in_ep = 1;
                ep_start = r->at;
                ep_worst = -1;
            }
            if (rk > ep_worst) {
                ep_worst = rk;
                ep_worst_name = s->v[i].thermal;
            }
            ep_last = r->at;
        } else if (in_ep) {
            in_ep = 0;
            throttled_ms += (double)(r->at - ep_start);
            if (nep++ < STABILITY_EPISODES_MAX)
                json_array_append_new(eps, json_pack("{s:I, s:I, s:f, s:s}", "start_at",
                                                     (json_int_t)ep_start, "end_at",
                                                     (json_int_t)r->at, "duration_s",
                                                     (double)(r->at - ep_start) / 1000.0,
                                                     "worst", ep_worst_name));
        }
    }
    if (in_ep) { /* still throttled at the last reading */
        throttled_ms += (double)(ep_last - ep_start);
        if (nep++ < STABILITY_EPISODES_MAX)
            json_array_append_new(eps,
                                  json_pack("{s:I, s:I, s:f, s:s, s:b}", "start_at",
                                            (json_int_t)ep_start, "end_at", (json_int_t)ep_last,
                                            "duration_s", (double)(ep_last - ep_start) / 1000.0,
                                            "worst", ep_worst_name, "ongoing", 1));
    }
    json_object_set_new(run, "swap",
                        json_pack("{s:o, s:o, s:o}", "max_mb", jnum(swap_max), "start_mb",
                                  jnum(swap_first), "end_mb", jnum(swap_last)));
    json_object_set_new(json_object_get(run, "memory"), "avail_min_mb", jnum(avail_min));
    json_object_set_new(json_object_get(run, "memory"), "pressure_max", jnum(press_max));
    json_object_set_new(run, "cpu_load1",
                        json_pack("{s:o, s:o}", "mean",
                                  jnum(nload ? load_sum / (double)nload : NAN), "max",
                                  jnum(load_max)));
    th = json_pack("{s:I, s:f, s:o, s:o}", "episodes_count", (json_int_t)nep, "throttled_s",
                   throttled_ms / 1000.0, "episodes", eps, "temp_max_c", jnum(temp_max));
    json_object_set_new(th, "worst", worst_name ? json_string(worst_name) : json_null());
    json_object_set_new(run, "thermal", th);
}

/* Per-window figures of requests and readings over [t0, t_end); what comes
 * after t_end (a request handed over just before a planned end, the last
 * readings) belongs to the last window. */
static json_t *
windows_json(const struct reqs *q, const struct sys *s, int64_t t0, int64_t t_end, int64_t w_ms,
             struct work *w)
{
    json_t *arr = json_array();
    size_t i = 0, j = 0, k, nw;
    int64_t start, lim;

    if (t_end <= t0 || w_ms <= 0)
        return arr;
    nw = (size_t)((t_end - t0 + w_ms - 1) / w_ms);
    while (j < s->n && s->v[j].at < t0)
        j++;
    while (i < q->n && q->v[i].at < t0)
        i++;
    for (k = 0; k < nw; k++) {
        double tm, tmed, fm, fmed;
        size_t n = 0, nok = 0, nerr = 0, ntps, nttft, c;
        struct sys_acc a;
        json_t *o;

        start = t0 + (int64_t)k * w_ms;
        lim = k + 1 == nw ? INT64_MAX : start + w_ms;
        for (c = 0; i + c < q->n && q->v[i + c].at < lim; c++) {
            w->v[c] = q->v[i + c].tps;
            n++;
            nok += q->v[i + c].ok != 0;
            nerr += q->v[i + c].ok == 0;
        }
        mean_median(w->v, n, w->sel, &tm, &tmed, &ntps);
        for (c = 0; c < n; c++)
            w->v[c] = q->v[i + c].ttft;
        mean_median(w->v, n, w->sel, &fm, &fmed, &nttft);
        i += n;
        sys_acc_init(&a);
        for (; j < s->n && s->v[j].at < lim; j++)
            sys_acc_add(&a, &s->v[j]);
        o = json_pack("{s:I, s:I, s:I, s:I, s:I}", "index", (json_int_t)k, "start_at",
                      (json_int_t)start, "requests", (json_int_t)n, "ok", (json_int_t)nok,
                      "errors", (json_int_t)nerr);
        json_object_set_new(o, "error_rate", jnum(n ? (double)nerr / (double)n : NAN));
        json_object_set_new(o, "decode_tps",
                            json_pack("{s:I, s:o, s:o}", "n", (json_int_t)ntps, "mean",
                                      jnum(tm), "median", jnum(tmed)));
        json_object_set_new(o, "ttft_ms",
                            json_pack("{s:I, s:o, s:o}", "n", (json_int_t)nttft, "mean",
                                      jnum(fm), "median", jnum(fmed)));
        json_object_set_new(o, "server_rss_mb",
                            json_pack("{s:o, s:o}", "mean", jnum(acc_mean(a.rss_sum, a.nrss)),
                                      "max", jnum(a.rss_max)));
        json_object_set_new(o, "tpsd_rss_max_mb", jnum(a.self_max));
        json_object_set_new(o, "swap_max_mb", jnum(a.swap_max));
        json_object_set_new(o, "mem_avail_min_mb", jnum(a.avail_min));
        json_object_set_new(o, "cpu_load1_mean", jnum(acc_mean(a.load_sum, a.nload)));
        json_object_set_new(o, "thermal",
                            a.worst_name ? json_string(a.worst_name) : json_null());
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The system series of the whole job in buckets of bucket_ms. */
static json_t *
series_json(const struct sys *s, int64_t bucket_ms)
{
    json_t *arr = json_array();
    size_t i = 0;

    while (i < s->n) {
        int64_t start = s->v[i].at - (s->v[i].at - s->v[0].at) % bucket_ms;
        size_t n = 0;
        struct sys_acc a;
        json_t *o;

        sys_acc_init(&a);
        for (; i < s->n && s->v[i].at < start + bucket_ms; i++, n++)
            sys_acc_add(&a, &s->v[i]);
        o = json_pack("{s:I, s:I}", "at", (json_int_t)start, "n", (json_int_t)n);
        json_object_set_new(o, "server_rss_mb", jnum(acc_mean(a.rss_sum, a.nrss)));
        json_object_set_new(o, "server_rss_max_mb", jnum(a.rss_max));
        json_object_set_new(o, "tpsd_rss_mb", jnum(acc_mean(a.self_sum, a.nself)));
        json_object_set_new(o, "mem_avail_min_mb", jnum(a.avail_min));
        json_object_set_new(o, "swap_max_mb", jnum(a.swap_max));
        json_object_set_new(o, "mem_pressure_max", jnum(a.press_max));
        json_object_set_new(o, "cpu_load1", jnum(acc_mean(a.load_sum, a.nload)));
        json_object_set_new(o, "temp_max_c", jnum(a.temp_max));
        json_object_set_new(o, "thermal",
                            a.worst_name ? json_string(a.worst_name) : json_null());
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The time line of a run: measuring began at t0 (the planned end less the
 * duration, else the first request, the run's start, or now); t_last is
 * the newest request or reading; t_end the run's end (finished, now, or
 * the planned end when nothing came after it). */
struct timeline {
    int64_t t0, t_last, t_end;
};

static void
run_timeline(const struct stabdata_run *run, double duration_s, const struct reqs *q,
             const struct sys *s, int64_t now, struct timeline *tl)
{
    int64_t planned = run->planned_end_at;

    if (planned > 0 && duration_s > 0)
        tl->t0 = planned - (int64_t)(duration_s * 1000.0);
    else if (q->n > 0)
        tl->t0 = q->v[0].at;
    else if (run->started_at > 0)
        tl->t0 = run->started_at;
    else
        tl->t0 = now;
    tl->t_last = q->n > 0 ? q->v[q->n - 1].at : tl->t0;
    if (s->n > 0 && s->v[s->n - 1].at > tl->t_last)
        tl->t_last = s->v[s->n - 1].at;
    tl->t_end = run->finished_at > 0 ? run->finished_at : now;
    if (planned > 0 && tl->t_end > planned && tl->t_last <= planned)
        tl->t_end = planned;
    if (tl->t_last > tl->t_end)
        tl->t_end = tl->t_last;
}

/* {"n", "mean", "median"} of one figure (0: decode TPS, 1: TTFT) over
 * every request; NANs (failed requests) skipped. */
static json_t *
figure_json(const struct reqs *q, int fig, struct work *w)
{
    double mean, median;
    size_t i, n;

    for (i = 0; i < q->n; i++)
        w->v[i] = fig == 0 ? q->v[i].tps : q->v[i].ttft;
    mean_median(w->v, q->n, w->sel, &mean, &median, &n);
    return json_pack("{s:I, s:o, s:o}", "n", (json_int_t)n, "mean", jnum(mean), "median",
                     jnum(median));
}

/* Requests, errors and their rate, decode TPS and TTFT, into out. */
static void
requests_json(const struct reqs *q, struct work *w, json_t *out)
{
    size_t i, nok = 0;

    for (i = 0; i < q->n; i++)
        nok += q->v[i].ok != 0;
    json_object_set_new(out, "requests", json_integer((json_int_t)q->n));
    json_object_set_new(out, "ok", json_integer((json_int_t)nok));
    json_object_set_new(out, "errors", json_integer((json_int_t)q->errors));
    json_object_set_new(out, "error_rate", jnum(q->n ? (double)q->errors / (double)q->n : NAN));
    if (q->truncated)
        json_object_set_new(out, "truncated", json_true());
    json_object_set_new(out, "decode_tps", figure_json(q, 0, w));
    json_object_set_new(out, "ttft_ms", figure_json(q, 1, w));
}

/* Errors by code and their bursts; the longest silence inside a stream. */
static void
errors_json(const struct reqs *q, json_t *out)
{
    json_t *stall;

    json_object_set_new(out, "error_detail",
                        json_pack("{s:I, s:I, s:I, s:O, s:O}", "count", (json_int_t)q->errors,
                                  "bursts_count", (json_int_t)q->nbursts, "max_consecutive",
                                  (json_int_t)q->max_streak, "by_code", q->by_code, "bursts",
                                  q->bursts));
    stall = json_pack("{s:o, s:I}", "longest_ms", jnum(q->longest_gap_ms), "stall_errors",
                      (json_int_t)q->stall_errors);
    if (!isnan(q->longest_gap_ms)) {
        json_object_set_new(stall, "at", json_integer((json_int_t)q->longest_at));
        json_object_set_new(stall, "seq", json_integer((json_int_t)q->longest_seq));
    }
    json_object_set_new(out, "stall", stall);
}

/* The windows (detail only): a planned end bounds them, a live run's end
 * at now; at most STABILITY_WINDOWS_MAX, wider windows beyond. */
static void
windows_section(const struct reqs *q, const struct sys *s, const struct timeline *tl,
                int64_t planned, const struct stability_opts *o, struct work *w, json_t *out)
{
    int64_t w_end = planned > tl->t0 && planned < tl->t_end ? planned : tl->t_end;
    int64_t w_ms = (int64_t)(o->window_s > 0 ? o->window_s : 600) * 1000;

    if ((w_end - tl->t0) / w_ms >= STABILITY_WINDOWS_MAX)
        w_ms = (w_end - tl->t0) / (STABILITY_WINDOWS_MAX - 1) + 1;
    json_object_set_new(out, "window_s", json_real((double)w_ms / 1000.0));
    json_object_set_new(out, "windows", windows_json(q, s, tl->t0, w_end, w_ms, w));
}

/* The head of a run's analysis: identity, measure start, elapsed and
 * remaining time. */
static json_t *
run_head_json(const struct stabdata_run *run, const struct timeline *tl, int64_t now)
{
    int64_t planned = run->planned_end_at;
    json_t *out;

    out = json_pack("{s:I, s:s, s:i, s:s, s:I, s:f}", "run_id", (json_int_t)run->id, "model",
                    run->model, "model_index", run->model_index, "state", run->state,
                    "measure_start_at", (json_int_t)tl->t0, "elapsed_s",
                    (double)(tl->t_end - tl->t0) / 1000.0);
    if (out == NULL)
        return NULL;
    json_object_set_new(out, "planned_end_at",
                        planned > 0 ? json_integer(planned) : json_null());
    json_object_set_new(out, "remaining_s",
                        planned > 0 && run->finished_at <= 0 && planned > now
                            ? json_real((double)(planned - now) / 1000.0)
                            : json_real(0));
    return out;
}

/*
 * One run's analysis: read its requests and readings, fix its time line,
 * then let each writer add its section (requests, drift, memory, errors
 * and stalls, system facts, windows), lending them the working arrays.
 * NULL with *failed = 1 on a database error or out of memory.
 */
static json_t *
run_json(struct db *db, int64_t job_id, const struct stabdata_run *run, double duration_s,
         const struct stability_opts *o, int64_t now, int *failed)
{
    struct reqs q;
    struct sys s;
    struct timeline tl;
    struct work w = {NULL, NULL, NULL};
    size_t cap;
    json_t *out = NULL;
    int leak = 0;

    memset(&q, 0, sizeof(q));
    memset(&s, 0, sizeof(s));
    q.longest_gap_ms = NAN;
    q.by_code = json_object();
    q.bursts = json_array();
    *failed = 1;
    if (stabdata_samples_scan(db, run->id, on_sample, &q) == -1 || q.oom)
        goto out;
    burst_close(&q);
    if (system_samples_scan(db, job_id, run->id, on_system, &s) == -1 || s.oom)
        goto out;
    run_timeline(run, duration_s, &q, &s, now, &tl);
    cap = (q.n > s.n ? q.n : s.n) + 1;
    w.t = malloc(cap * sizeof(double));
    w.v = malloc(cap * sizeof(double));
    w.sel = malloc(cap * sizeof(double));
    if (w.t == NULL || w.v == NULL || w.sel == NULL)
        goto out;
    out = run_head_json(run, &tl, now);
    if (out == NULL)
        goto out;
    requests_json(&q, &w, out);
    json_object_set_new(out, "drift",
                        json_pack("{s:o, s:o}", "decode_tps",
                                  drift_json(&q, 0, tl.t0, tl.t_last, &w), "ttft_ms",
                                  drift_json(&q, 1, tl.t0, tl.t_last, &w)));
    json_object_set_new(out, "memory", memory_json(&s, tl.t0, tl.t_end, o, &w, &leak));
    json_object_set_new(out, "leak", json_boolean(leak));
    errors_json(&q, out);
    system_facts(&s, tl.t0, out);
    if (o->detail)
        windows_section(&q, &s, &tl, run->planned_end_at, o, &w, out);
    *failed = 0;
out:
    if (*failed) {
        json_decref(out);
        out = NULL;
    }
    free(w.t);
    free(w.v);
    free(w.sel);
    free(q.v);
    free(s.v);
    json_decref(q.by_code);
    json_decref(q.bursts);
    return out;
}

int
stability_analyze(struct db *db, int64_t job_id, const struct stability_opts *o, json_t **out)
{
    struct stabdata_run runs[STABDATA_RUNS_MAX];
    struct job_rec job;
    struct sys s;
    json_t *spec = NULL, *res = NULL, *arr, *r;
    double duration_s = 0, interval_s = 0;
    int64_t now = o->now_ms > 0 ? o->now_ms : clock_wall_ms();
    size_t n = 0, i;
    int got, failed, rc = -1;

    *out = NULL;
    memset(&s, 0, sizeof(s));
    got = jobs_get(db, job_id, &job);
    if (got != 0)
        return got == 1 ? 1 : -1;
    spec = json_loads(job.spec ? job.spec : "{}", 0, NULL);
    if (json_is_number(json_object_get(spec, "duration_s")) &&
        strcmp(job.kind, "stability") == 0)
        duration_s = json_number_value(json_object_get(spec, "duration_s"));
    if (json_is_number(json_object_get(spec, "interval_s")))
        interval_s = json_number_value(json_object_get(spec, "interval_s"));
    if (stabdata_runs(db, job_id, runs, STABDATA_RUNS_MAX, &n) == -1)
        goto out;
    res = json_pack("{s:I, s:s, s:s, s:f, s:f, s:i}", "job_id", (json_int_t)job_id, "kind",
                    job.kind, "state", job.state, "duration_s", duration_s, "interval_s",
                    interval_s, "window_s", o->window_s);
    json_object_set_new(res, "thresholds",
                        json_pack("{s:f, s:f, s:f, s:i, s:i}", "leak_mb_per_hour",
                                  o->leak_mb_per_hour, "leak_min_growth_mb",
                                  o->leak_min_growth_mb, "leak_r2_min", STABILITY_LEAK_R2_MIN,
                                  "warmup_s", o->warmup_s, "burst_min", STABILITY_BURST_MIN));
    arr = json_array();
    json_object_set_new(res, "runs", arr);
    for (i = 0; i < n; i++) {
        r = run_json(db, job_id, &runs[i], duration_s, o, now, &failed);
        if (failed)
            goto out;
        json_array_append_new(arr, r);
    }
    if (o->detail) {
        int64_t bucket_ms, span;

        if (system_samples_scan(db, job_id, 0, on_system, &s) == -1 || s.oom)
            goto out;
        span = s.n > 1 ? s.v[s.n - 1].at - s.v[0].at : 0;
        bucket_ms = (int64_t)o->bucket_s * 1000;
        if (bucket_ms <= 0)
            bucket_ms = span / STABILITY_SERIES_AUTO + 1;
        if (span / bucket_ms >= STABILITY_SERIES_MAX)
            bucket_ms = span / (STABILITY_SERIES_MAX - 1) + 1;
        json_object_set_new(res, "bucket_s", json_real((double)bucket_ms / 1000.0));
        json_object_set_new(res, "system", series_json(&s, bucket_ms));
    }
    *out = res;
    res = NULL;
    rc = 0;
out:
    free(s.v);
    json_decref(res);
    json_decref(spec);
    job_rec_free(&job);
    return rc;
}

/* ---- the background analyst ---- */

struct stability_bg {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char path[1024];
    int64_t job_id;
    struct stability_opts o;
    int wanted, busy;    /* under mu */
    atomic_int stopping; /* set under mu */
    json_t *result;      /* under mu */
};

static void *
bg_main(void *arg)
{
    struct stability_bg *bg = arg;
    char err[DB_ERR_MAX];
    struct db *db = NULL;
    json_t *a;
    int rc;

    pthread_mutex_lock(&bg->mu);
    for (;;) {
        while (!bg->wanted && !bg->stopping)
            pthread_cond_wait(&bg->cv, &bg->mu);
        if (bg->stopping)
            break;
        bg->wanted = 0;
        bg->busy = 1;
        pthread_mutex_unlock(&bg->mu);
        a = NULL;
        if (db == NULL) {
            db = db_open(bg->path, err, sizeof(err));
            if (db == NULL)
                log_warnx("stability: cannot open %s: %s", bg->path, err);
        }
        if (db != NULL) {
            rc = stability_analyze(db, bg->job_id, &bg->o, &a);
            if (rc == -1)
                log_warnx("job=%lld stability analysis failed: %s", (long long)bg->job_id,
                          db->err);
        }
        pthread_mutex_lock(&bg->mu);
        bg->busy = 0;
        if (a != NULL) {
            json_decref(bg->result);
            bg->result = a;
        }
    }
    pthread_mutex_unlock(&bg->mu);
    db_close(db);
    return NULL;
}

struct stability_bg *
stability_bg_start(const char *db_path, int64_t job_id, const struct stability_opts *o)
{
    struct stability_bg *bg;

    if (db_path == NULL || strlen(db_path) >= sizeof(bg->path))
        return NULL;
    bg = calloc(1, sizeof(*bg));
    if (bg == NULL)
        return NULL;
    memcpy(bg->path, db_path, strlen(db_path) + 1);
    bg->job_id = job_id;
    bg->o = *o;
    if (thread_start(&bg->th, &bg->mu, &bg->cv, bg_main, bg) == -1) {
        free(bg);
        return NULL;
    }
    return bg;
}

void
stability_bg_request(struct stability_bg *bg)
{
    if (bg == NULL)
        return;
    pthread_mutex_lock(&bg->mu);
    if (!bg->busy) {
        bg->wanted = 1;
        pthread_cond_signal(&bg->cv);
    }
    pthread_mutex_unlock(&bg->mu);
}

json_t *
stability_bg_take(struct stability_bg *bg)
{
    json_t *a;

    if (bg == NULL)
        return NULL;
    pthread_mutex_lock(&bg->mu);
    a = bg->result;
    bg->result = NULL;
    pthread_mutex_unlock(&bg->mu);
    return a;
}

void
stability_bg_stop(struct stability_bg *bg)
{
    if (bg == NULL)
        return;
    thread_stop(bg->th, &bg->mu, &bg->cv, &bg->stopping);
    json_decref(bg->result);
    thread_sync_destroy(&bg->mu, &bg->cv);
    free(bg);
}

/* ---- Markdown ---- */

static double
getnum(const json_t *o, const char *path)
{
    char key[64];
    const char *dot;
    size_t n;

    while ((dot = strchr(path, '.')) != NULL) {
        n = (size_t)(dot - path);
        if (n >= sizeof(key))
            return NAN;
        memcpy(key, path, n);
        key[n] = '\0';
        o = json_object_get(o, key);
        path = dot + 1;
    }
    o = json_object_get(o, path);
    return json_is_number(o) ? json_number_value(o) : NAN;
}

/* v with prec decimals (a sign when sign), then unit; "-" when unknown. */
static void
md_val(FILE *f, int prec, int sign, double v, const char *unit)
{
    if (isnan(v))
        fputs("-", f);
    else
        fprintf(f, sign ? "%+.*f%s" : "%.*f%s", prec, v, unit);
}

static void
md_time(FILE *f, double ms)
{
    char buf[32];
    struct tm tm;
    time_t t = (time_t)(ms / 1000.0);

    if (isnan(ms) || gmtime_r(&t, &tm) == NULL ||
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        fputs("-", f);
        return;
    }
    fprintf(f, "%s UTC", buf);
}

/* Model names may hold Markdown: escape the table's and emphasis' characters. */
static void
md_text(FILE *f, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '|' || *s == '*' || *s == '_' || *s == '`' || *s == '\\' || *s == '[' ||
            *s == ']' || *s == '<' || *s == '>')
            fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

static void
md_run(FILE *f, const json_t *run)
{
    const json_t *srv = json_object_get(json_object_get(run, "memory"), "server");
    const json_t *th = json_object_get(run, "thermal"), *w;
    const char *verdict = json_string_value(json_object_get(srv, "verdict"));
    double n = getnum(run, "requests");
    size_t i, nw = json_array_size(json_object_get(run, "windows"));

    fputs("### ", f);
    md_text(f, json_string_value(json_object_get(run, "model")));
    fputs("\n\n", f);
    fputs("| figure | value |\n| --- | --- |\n", f);
    fputs("| measured | ", f);
    md_time(f, getnum(run, "measure_start_at"));
    fputs(" for ", f);
    md_val(f, 1, 0, getnum(run, "elapsed_s") / 60.0, " min");
    fputs(" (planned end ", f);
    md_time(f, getnum(run, "planned_end_at"));
    fputs(") |\n| decode TPS mean / median | ", f);
    md_val(f, 2, 0, getnum(run, "decode_tps.mean"), "");
    fputs(" / ", f);
    md_val(f, 2, 0, getnum(run, "decode_tps.median"), "");
    fputs(" |\n| decode TPS drift (OLS) | ", f);
    md_val(f, 3, 1, getnum(run, "drift.decode_tps.slope_per_hour"), " tok/s per hour");
    fputs(" (", f);
    md_val(f, 2, 1, getnum(run, "drift.decode_tps.slope_pct_per_hour"), " %/h");
    fputs(", r² ", f);
    md_val(f, 2, 0, getnum(run, "drift.decode_tps.r2"), "");
    fputs("); robust (Theil-Sen) ", f);
    md_val(f, 2, 1, getnum(run, "drift.decode_tps.robust_slope_pct_per_hour"), " %/h");
    fputs(" |\n| decode TPS first vs last ", f);
    md_val(f, 0, 0, getnum(run, "drift.decode_tps.first_last.span_s"), " s");
    fputs(" | ", f);
    md_val(f, 2, 0, getnum(run, "drift.decode_tps.first_last.first_mean"), "");
    fputs(" → ", f);
    md_val(f, 2, 0, getnum(run, "drift.decode_tps.first_last.last_mean"), "");
    fputs(" (", f);
    md_val(f, 1, 1, getnum(run, "drift.decode_tps.first_last.change_pct"), " %");
    fputs(") |\n| TTFT mean / median | ", f);
    md_val(f, 0, 0, getnum(run, "ttft_ms.mean"), " ms");
    fputs(" / ", f);
    md_val(f, 0, 0, getnum(run, "ttft_ms.median"), " ms");
    fputs(" |\n| TTFT drift (OLS) | ", f);
    md_val(f, 1, 1, getnum(run, "drift.ttft_ms.slope_per_hour"), " ms per hour");
    fputs(" (", f);
    md_val(f, 2, 1, getnum(run, "drift.ttft_ms.slope_pct_per_hour"), " %/h");
    fputs(") |\n| server memory | ", f);
    md_val(f, 0, 0, getnum(srv, "start_mb"), " MB");
    fputs(" → ", f);
    md_val(f, 0, 0, getnum(srv, "end_mb"), " MB");
    fputs(", ", f);
    md_val(f, 1, 1, getnum(srv, "growth_mb_per_hour"), " MB/h");
    fputs(" (r² ", f);
    md_val(f, 2, 0, getnum(srv, "r2"), "");
    fprintf(f, "): **%s** |\n", verdict ? verdict : "-");
    fputs("| tpsd memory | ", f);
    md_val(f, 1, 0, getnum(run, "memory.tpsd.start_mb"), " MB");
    fputs(" → ", f);
    md_val(f, 1, 0, getnum(run, "memory.tpsd.end_mb"), " MB");
    fputs(" |\n| errors | ", f);
    fprintf(f, "%.0f of %.0f (", getnum(run, "errors"), isnan(n) ? 0.0 : n);
    md_val(f, 2, 0, 100.0 * getnum(run, "error_rate"), " %");
    fprintf(f, "), %.0f bursts of %d or more, at most %.0f in a row |\n",
            getnum(run, "error_detail.bursts_count"), STABILITY_BURST_MIN,
            getnum(run, "error_detail.max_consecutive"));
    fputs("| longest stall | ", f);
    md_val(f, 0, 0, getnum(run, "stall.longest_ms"), " ms");
    fprintf(f, " (%.0f stall errors) |\n", getnum(run, "stall.stall_errors"));
    fputs("| swap used max | ", f);
    md_val(f, 0, 0, getnum(run, "swap.max_mb"), " MB");
    fputs(" |\n| thermal | ", f);
    if (getnum(th, "episodes_count") > 0) {
        fprintf(f, "%.0f throttling episodes, %.1f min in all, worst ",
                getnum(th, "episodes_count"), getnum(th, "throttled_s") / 60.0);
        md_text(f, json_string_value(json_object_get(th, "worst")));
    } else {
        fputs(json_is_string(json_object_get(th, "worst")) ? "no throttling" : "unknown", f);
    }
    fputs(" |\n\n", f);
    if (nw == 0)
        return;
    fputs("| window start | requests | errors | decode TPS mean | median | TTFT mean | "
          "median | server RSS MB | thermal |\n",
          f);
    fputs("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n", f);
    json_array_foreach(json_object_get(run, "windows"), i, w)
    {
        const char *t = json_string_value(json_object_get(w, "thermal"));

        if (i >= STABILITY_MD_WINDOWS_MAX) {
            fprintf(f, "| ... %zu more windows | | | | | | | | |\n", nw - i);
            break;
        }
        fputs("| ", f);
        md_time(f, getnum(w, "start_at"));
        fprintf(f, " | %.0f | %.0f | ", getnum(w, "requests"), getnum(w, "errors"));
        md_val(f, 2, 0, getnum(w, "decode_tps.mean"), "");
        fputs(" | ", f);
        md_val(f, 2, 0, getnum(w, "decode_tps.median"), "");
        fputs(" | ", f);
        md_val(f, 0, 0, getnum(w, "ttft_ms.mean"), "");
        fputs(" | ", f);
        md_val(f, 0, 0, getnum(w, "ttft_ms.median"), "");
        fputs(" | ", f);
        md_val(f, 0, 0, getnum(w, "server_rss_mb.mean"), "");
        fputs(" | ", f);
        md_text(f, t ? t : "-");
        fputs(" |\n", f);
    }
    fputs("\n", f);
}

void
stability_report_md(struct db *db, int64_t job_id, FILE *f)
{
    struct stability_opts o;
    json_t *a = NULL, *run;
    size_t i;

    stability_opts_default(&o);
    o.detail = 1;
    if (stability_analyze(db, job_id, &o, &a) != 0)
        return;
    if (strcmp(json_string_value(json_object_get(a, "kind")), "stability") != 0) {
        json_decref(a);
        return;
    }
    fputs("\n---\n\n## Stability\n\n", f);
    fprintf(f,
            "Planned length %.1f min per model, windows of %d s. Server memory verdict: "
            "\"leak\" when it grows at least %.0f MB/hour and %.0f MB in all with r² >= "
            "%.1f, after a warm-up of %d s (at most a quarter of the run). An error burst "
            "is %d or more failed requests in a row.\n\n",
            getnum(a, "duration_s") / 60.0, o.window_s, o.leak_mb_per_hour,
            o.leak_min_growth_mb, STABILITY_LEAK_R2_MIN, o.warmup_s, STABILITY_BURST_MIN);
    json_array_foreach(json_object_get(a, "runs"), i, run) md_run(f, run);
    json_decref(a);
}

/*
 * compare.c - the bootstrap interval of one A/B row (see compare.h).
 *
 * How it works: the point estimate is the relative difference of the two
 * medians. Each of the o->resamples rounds draws na indices into a and nb
 * into b (uniform, with replacement, rng.h), copies the values into
 * scratch buffers and finds their medians by selection (stats.h), giving
 * one difference; the differences are sorted and the interval read at the
 * two tail quantiles. Work is resamples * (na + nb) draws and as many
 * values selected; the caller bounds it (compare_table.h).
 */
#include "daemon/compare.h"

#include "common/rng.h"
#include "common/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const struct compare_figure compare_figures[COMPARE_NFIG] = {
    {"decode_tps", "Decode tok/s", 1},
    {"e2e_tps", "E2E tok/s", 1},
    {"ttft_ms", "TTFT ms", 0},
    {"prompt_tps", "Prefill tok/s", 1},
};

static const char *const verdict_names[] = {
    [COMPARE_FASTER] = "faster",
    [COMPARE_SLOWER] = "slower",
    [COMPARE_SAME] = "no_significant_difference",
    [COMPARE_INSUFFICIENT] = "insufficient_data",
};

int
compare_figure_index(const char *name)
{
    int i;

    for (i = 0; name != NULL && i < COMPARE_NFIG; i++) {
        if (strcmp(name, compare_figures[i].name) == 0)
            return i;
    }
    return -1;
}

const char *
compare_verdict_name(enum compare_verdict v)
{
    return verdict_names[v];
}

void
compare_opts_default(struct compare_opts *o)
{
    o->seed = COMPARE_SEED_DEFAULT;
    o->resamples = COMPARE_RESAMPLES_DEFAULT;
    o->level = COMPARE_LEVEL_DEFAULT;
}

/* FNV-1a over s and its terminating NUL (NULL hashes as ""), from h. */
static uint64_t
fnv1a(uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");

    do {
        h ^= *p;
        h *= 0x100000001b3ULL;
    } while (*p++ != '\0');
    return h;
}

uint64_t
compare_row_seed(uint64_t seed, const char *model_a, const char *model_b, const char *case_name,
                 const char *figure)
{
    uint64_t h = 0xcbf29ce484222325ULL, x;

    h = fnv1a(h, model_a);
    h = fnv1a(h, model_b);
    h = fnv1a(h, case_name);
    h = fnv1a(h, figure);
    x = seed ^ h;
    return rng_splitmix64(&x);
}

/* The median of n values drawn with replacement from v, using tmp[0..n). */
static double
draw_median(struct rng *r, const double *v, size_t n, double *tmp)
{
    size_t i;

    for (i = 0; i < n; i++)
        tmp[i] = v[rng_below(r, n)];
    return stats_percentile_select(tmp, n, 0.5);
}

static void
insufficient(struct compare_row *out)
{
    out->diff_pct = out->lo_pct = out->hi_pct = NAN;
    out->verdict = COMPARE_INSUFFICIENT;
}

/* The median of v[0..n) (copied into tmp). */
static double
median_of(const double *v, size_t n, double *tmp)
{
    memcpy(tmp, v, n * sizeof(*v));
    return stats_percentile_select(tmp, n, 0.5);
}

int
compare_row(const double *a, size_t na, const double *b, size_t nb, int higher_better,
            const struct compare_opts *o, uint64_t row_seed, struct compare_row *out)
{
    double *ta = NULL, *tb = NULL, *d = NULL, ma, mb, tail = (1.0 - o->level) / 2.0;
    struct rng r;
    int i, rc = -1;

    memset(out, 0, sizeof(*out));
    out->na = na;
    out->nb = nb;
    out->median_a = out->median_b = NAN;
    insufficient(out);
    ta = malloc((na ? na : 1) * sizeof(double));
    tb = malloc((nb ? nb : 1) * sizeof(double));
    d = malloc((size_t)o->resamples * sizeof(double));
    if (ta == NULL || tb == NULL || d == NULL)
        goto out;
    rc = 0;
    if (na > 0)
        out->median_a = median_of(a, na, ta);
    if (nb > 0)
        out->median_b = median_of(b, nb, tb);
    if (na < COMPARE_N_MIN || nb < COMPARE_N_MIN || !(out->median_a > 0))
        goto out;
    out->diff_pct = 100.0 * (out->median_b - out->median_a) / out->median_a;
    rng_seed(&r, row_seed);
    for (i = 0; i < o->resamples; i++) {
        ma = draw_median(&r, a, na, ta);
        mb = draw_median(&r, b, nb, tb);
        if (!(ma > 0)) { /* a resample with a median of 0: no ratio */
            insufficient(out);
            goto out;
        }
        d[i] = 100.0 * (mb - ma) / ma;
    }
    stats_sort(d, (size_t)o->resamples);
    out->lo_pct = stats_percentile(d, (size_t)o->resamples, tail);
    out->hi_pct = stats_percentile(d, (size_t)o->resamples, 1.0 - tail);
    if (out->lo_pct > 0)
        out->verdict = higher_better ? COMPARE_FASTER : COMPARE_SLOWER;
    else if (out->hi_pct < 0)
        out->verdict = higher_better ? COMPARE_SLOWER : COMPARE_FASTER;
    else
        out->verdict = COMPARE_SAME;
out:
    free(ta);
    free(tb);
    free(d);
    return rc;
}

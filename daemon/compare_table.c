/*
 * compare_table.c - an A/B comparison from the database (see
 * compare_table.h).
 *
 * How it works: each side's selector is parsed and its samples read,
 * grouped by (model, case) in model then case order; a case filter drops
 * the other groups. The match mode follows from how many models each side
 * holds; each group of A finds its partner in B by a linear scan (groups
 * number cases times models: small). The total number of values the
 * bootstrap would draw is checked against COMPARE_DRAWS_MAX before any is
 * drawn; then every (pair, figure) becomes one row.
 */
#include "daemon/compare_table.h"

#include "storage/cmpdata.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COMPARE_LIST_MAX 512 /* bytes of one figure list */

struct side {
    const char *label; /* "A" or "B" */
    const char *text;  /* the selector */
    struct cmpdata_set set;
    size_t nmodels;
};

int
compare_figures_parse(const char *list, unsigned *mask, char *err, size_t errlen)
{
    char buf[COMPARE_LIST_MAX], *tok, *save = NULL;
    int i;

    *mask = 0;
    if (strlen(list) >= sizeof(buf)) {
        snprintf(err, errlen, "figure: list too long");
        return -1;
    }
    memcpy(buf, list, strlen(list) + 1);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        i = compare_figure_index(tok);
        if (i < 0) {
            snprintf(err, errlen,
                     "figure: unknown \"%.64s\" (decode_tps, e2e_tps, ttft_ms, prompt_tps)",
                     tok);
            return -1;
        }
        *mask |= 1u << i;
    }
    if (*mask == 0) {
        snprintf(err, errlen, "figure: empty list");
        return -1;
    }
    return 0;
}

/* Keep only the groups of case_name (NULL: keep all). */
static void
filter_case(struct cmpdata_set *s, const char *case_name)
{
    struct cmpdata_set keep = *s;
    size_t i, n = 0;
    int f;

    if (case_name == NULL)
        return;
    for (i = 0; i < s->n; i++) {
        if (strcmp(s->g[i].case_name, case_name) == 0) {
            keep.g[n++] = s->g[i];
            continue;
        }
        free(s->g[i].model);
        free(s->g[i].case_name);
        for (f = 0; f < CMPDATA_NFIG; f++)
            free(s->g[i].v[f]);
    }
    keep.n = n;
    keep.nsamples = 0;
    for (i = 0; i < n; i++)
        keep.nsamples += keep.g[i].rows;
    *s = keep;
}

static size_t
count_models(const struct cmpdata_set *s)
{
    size_t i, n = 0;

    for (i = 0; i < s->n; i++) {
        if (i == 0 || strcmp(s->g[i].model, s->g[i - 1].model) != 0)
            n++;
    }
    return n;
}

/* Parse and read one side. */
static enum compare_status
load_side(struct db *db, struct side *sd, const char *case_name, char *err, size_t errlen)
{
    struct compare_sel sel;
    struct cmpdata_sel cs;
    char why[COMPARE_ERR_MAX];
    int rc;

    if (compare_sel_parse(sd->text, &sel, why, sizeof(why)) == -1) {
        snprintf(err, errlen, "%s: %s", sd->label, why);
        return COMPARE_BAD_REQUEST;
    }
    memset(&cs, 0, sizeof(cs));
    cs.kind = sel.kind == COMPARE_SEL_JOB   ? CMPDATA_JOB
              : sel.kind == COMPARE_SEL_RUN ? CMPDATA_RUN
                                            : CMPDATA_MODEL;
    cs.id = sel.id;
    cs.model = sel.model;
    cs.since = sel.since;
    cs.until = sel.until;
    rc = cmpdata_load(db, &cs, &sd->set);
    if (rc == -1)
        return COMPARE_DB_ERROR;
    if (rc == 1) {
        snprintf(err, errlen, "%s: no %s %s", sd->label,
                 sel.kind == COMPARE_SEL_MODEL ? "run of model"
                 : sel.kind == COMPARE_SEL_JOB ? "job"
                                               : "run",
                 sel.kind == COMPARE_SEL_MODEL ? sel.model : sd->text + 4);
        return COMPARE_NOT_FOUND;
    }
    if (rc == 2) {
        snprintf(err, errlen, "%s (%s): %s: narrow the time range", sd->label, sd->text,
                 db->err);
        return COMPARE_BAD_REQUEST;
    }
    filter_case(&sd->set, case_name);
    if (sd->set.n == 0) {
        snprintf(err, errlen, "%s (%s) holds no successful measured sample%s%s", sd->label,
                 sd->text, case_name ? " of case " : "", case_name ? case_name : "");
        return COMPARE_NO_SAMPLES;
    }
    sd->nmodels = count_models(&sd->set);
    return COMPARE_OK;
}

/* The group of b matching a (by case, and by model when by_model), or NULL. */
static const struct cmpdata_group *
partner(const struct cmpdata_set *b, const struct cmpdata_group *a, int by_model)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        if (strcmp(b->g[i].case_name, a->case_name) == 0 &&
            (!by_model || strcmp(b->g[i].model, a->model) == 0))
            return &b->g[i];
    }
    return NULL;
}

static json_t *
real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* One row: (ga, gb) on figure f. NULL when out of memory. */
static json_t *
row_json(const struct cmpdata_group *ga, const struct cmpdata_group *gb, int f,
         const struct compare_opts *o)
{
    const struct compare_figure *fig = &compare_figures[f];
    int sf;
    struct compare_row r;
    uint64_t seed;

    for (sf = 0; sf < CMPDATA_NFIG && strcmp(cmpdata_figures[sf], fig->name) != 0; sf++)
        ;
    if (sf == CMPDATA_NFIG)
        return NULL;
    seed = compare_row_seed(o->seed, ga->model, gb->model, ga->case_name, fig->name);
    if (compare_row(ga->v[sf], ga->n[sf], gb->v[sf], gb->n[sf], fig->higher_better, o, seed,
                    &r) == -1)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:s}",
                     "model_a", ga->model, "model_b", gb->model, "case", ga->case_name,
                     "figure", fig->name, "higher_is_better", fig->higher_better, "n_a",
                     (json_int_t)r.na, "n_b", (json_int_t)r.nb, "median_a",
                     real_or_null(r.median_a), "median_b", real_or_null(r.median_b), "diff_pct",
                     real_or_null(r.diff_pct), "ci_low_pct", real_or_null(r.lo_pct),
                     "ci_high_pct", real_or_null(r.hi_pct), "verdict",
                     compare_verdict_name(r.verdict));
}

/* The groups of `s` without a partner in `other`, into arr. */
static void
unmatched(json_t *arr, const char *side, const struct cmpdata_set *s,
          const struct cmpdata_set *other, int by_model)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        if (partner(other, &s->g[i], by_model) == NULL)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "side", side, "model",
                                                 s->g[i].model, "case", s->g[i].case_name));
    }
}

/* Values the bootstrap would draw over every matched pair and figure. */
static long long
draws(const struct side *a, const struct side *b, unsigned mask, int by_model, int resamples)
{
    const struct cmpdata_group *gb;
    long long total = 0;
    size_t i;
    int f;

    for (i = 0; i < a->set.n; i++) {
        gb = partner(&b->set, &a->set.g[i], by_model);
        for (f = 0; gb != NULL && f < CMPDATA_NFIG; f++) {
            if (mask & (1u << compare_figure_index(cmpdata_figures[f])))
                total += (long long)(a->set.g[i].n[f] + gb->n[f]);
        }
    }
    return total * resamples;
}

static json_t *
side_json(const struct side *sd)
{
    json_t *models = json_array();
    size_t i;

    for (i = 0; i < sd->set.n; i++) {
        if (i == 0 || strcmp(sd->set.g[i].model, sd->set.g[i - 1].model) != 0)
            json_array_append_new(models, json_string(sd->set.g[i].model));
    }
    return json_pack("{s:s, s:o, s:I}", "selector", sd->text, "models", models, "samples",
                     (json_int_t)sd->set.nsamples);
}

/* The answer's rows over the matched pairs; -1 when out of memory. */
static int
add_rows(json_t *rows, const struct side *a, const struct side *b, unsigned mask, int by_model,
         const struct compare_opts *o)
{
    const struct cmpdata_group *gb;
    json_t *row;
    size_t i;
    int f;

    for (i = 0; i < a->set.n; i++) {
        gb = partner(&b->set, &a->set.g[i], by_model);
        for (f = 0; gb != NULL && f < COMPARE_NFIG; f++) {
            if (!(mask & (1u << f)))
                continue;
            row = row_json(&a->set.g[i], gb, f, o);
            if (row == NULL || json_array_append_new(rows, row) == -1)
                return -1;
        }
    }
    return 0;
}

enum compare_status
compare_table_build(struct db *db, const struct compare_req *q, json_t **out, char *err,
                    size_t errlen)
{
    struct side a = {"A", q->a, {0}, 0}, b = {"B", q->b, {0}, 0};
    unsigned mask = q->figures ? q->figures : (1u << COMPARE_NFIG) - 1;
    enum compare_status rc;
    json_t *o = NULL, *rows, *um;
    int by_model;
    long long n;

    *out = NULL;
    rc = load_side(db, &a, q->case_name, err, errlen);
    if (rc == COMPARE_OK)
        rc = load_side(db, &b, q->case_name, err, errlen);
    if (rc != COMPARE_OK)
        goto out;
    by_model = !(a.nmodels == 1 && b.nmodels == 1);
    n = draws(&a, &b, mask, by_model, q->opts.resamples);
    if (n == 0) {
        snprintf(err, errlen, "A (%s) and B (%s) have no %s in common", q->a, q->b,
                 by_model ? "(model, case)" : "case");
        rc = COMPARE_BAD_REQUEST;
        goto out;
    }
    if (n > COMPARE_DRAWS_MAX) {
        snprintf(err, errlen,
                 "the comparison would draw %lld values (at most %lld): fewer resamples, a"
                 " case, a figure or a narrower range",
                 n, COMPARE_DRAWS_MAX);
        rc = COMPARE_BAD_REQUEST;
        goto out;
    }
    rows = json_array();
    um = json_array();
    o = json_pack("{s:o, s:o, s:{s:s, s:s, s:s, s:f, s:i, s:I}, s:s, s:o, s:o}", "a",
                  side_json(&a), "b", side_json(&b), "method", "statistic", "median",
                  "difference", "100 * (median_b - median_a) / median_a", "interval",
                  "percentile bootstrap, A and B resampled independently", "level",
                  q->opts.level, "resamples", q->opts.resamples, "seed",
                  (json_int_t)q->opts.seed, "match", by_model ? "model_case" : "case", "rows",
                  rows, "unmatched", um);
    if (o == NULL || add_rows(rows, &a, &b, mask, by_model, &q->opts) == -1) {
        snprintf(db->err, sizeof(db->err), "out of memory");
        rc = COMPARE_DB_ERROR;
        goto out;
    }
    unmatched(um, "a", &a.set, &b.set, by_model);
    unmatched(um, "b", &b.set, &a.set, by_model);
    *out = o;
    o = NULL;
out:
    json_decref(o);
    cmpdata_free(&a.set);
    cmpdata_free(&b.set);
    return rc;
}

/*
 * compare_table.h - an A/B comparison from the database: the samples of A
 * and B (storage/cmpdata.h), matched by case, and per (case, figure) the
 * bootstrap row of compare.h, as the JSON answer of GET /v1/compare that
 * `tpsd compare` and the dashboard print.
 *
 * Matching: when A and B each hold one model, rows are matched by case
 * (the models may differ: that is the comparison); otherwise by (model,
 * case) over the models both hold. What only one side holds is listed in
 * "unmatched".
 *
 * Calls compare.h and storage/.
 */
#ifndef TPSD_COMPARE_TABLE_H
#define TPSD_COMPARE_TABLE_H

#include <jansson.h>
#include <stddef.h>

#include "daemon/compare.h"
#include "storage/db.h"

/* At most this many values drawn in one comparison (resamples times the
 * values of every row): a few seconds of one core; past it, 400. */
#define COMPARE_DRAWS_MAX 100000000LL

struct compare_req {
    const char *a, *b;     /* selectors (compare_sel_parse) */
    const char *case_name; /* NULL: every case */
    unsigned figures;      /* bit i: compare_figures[i]; 0: all */
    struct compare_opts opts;
};

enum compare_status {
    COMPARE_OK,
    COMPARE_BAD_REQUEST, /* 400: a malformed selector, nothing in common, too large */
    COMPARE_NOT_FOUND,   /* 404: no such job, run or model */
    COMPARE_NO_SAMPLES,  /* 404: A or B holds no successful sample (of that case) */
    COMPARE_DB_ERROR,    /* db->err says why */
};

/*
 * Parse a comma-separated list of figure names into a mask for
 * compare_req.figures. 0, or -1 with the reason in err.
 */
int compare_figures_parse(const char *list, unsigned *mask, char *err, size_t errlen);

/*
 * Compare q->a with q->b on db: on COMPARE_OK *out is the answer (new
 * reference): {"a": {"selector", "models", "samples"}, "b": {...},
 * "method": {"statistic", "difference", "interval", "level", "resamples",
 * "seed"}, "match": "case"|"model_case", "rows": [{"model_a", "model_b",
 * "case", "figure", "higher_is_better", "n_a", "n_b", "median_a",
 * "median_b", "diff_pct", "ci_low_pct", "ci_high_pct", "verdict"}],
 * "unmatched": [{"side", "model", "case"}]}; numbers that are unknown are
 * null. Otherwise the reason is in err (400/404) or db->err.
 */
enum compare_status compare_table_build(struct db *db, const struct compare_req *q,
                                        json_t **out, char *err, size_t errlen);

#endif

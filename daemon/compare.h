/*
 * compare.h - A/B comparison with confidence, the pure part: which figures
 * are compared and in which direction, the selectors that name A and B,
 * and the bootstrap interval of one (case, figure) row. No I/O: the
 * samples come from storage/cmpdata.h and the table is assembled by
 * daemon/compare_table.h.
 *
 * One row compares the per-request values a[0..na) of A with b[0..nb) of
 * B (independent samples, not paired):
 *
 *   diff_pct = 100 * (median(b) - median(a)) / median(a)
 *
 * (B relative to A; medians are stats.h's type 7). Its interval is the
 * percentile bootstrap: `resamples` times, draw na values of a and nb of b
 * with replacement and take the same difference of their medians; the
 * interval is the (1-level)/2 and (1+level)/2 quantiles (type 7) of those
 * differences. Not BCa: its acceleration comes from the jackknife, which is
 * not consistent for a median (Efron & Tibshirani 1993, 11.6), and the
 * median is what we compare. The draws come from rng.h seeded with the
 * request's seed mixed with the row's names, so one row's interval does not
 * depend on which other rows were asked for, and the same seed and samples
 * give the same interval everywhere.
 *
 * Verdict: the interval excludes 0 → B is "faster" or "slower" than A
 * (for ttft_ms lower is faster); it contains 0 →
 * "no_significant_difference"; fewer than COMPARE_N_MIN values on a side,
 * or a median that is not positive → "insufficient_data" (no interval).
 *
 * Includes common/ only.
 */
#ifndef TPSD_COMPARE_H
#define TPSD_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#define COMPARE_RESAMPLES_DEFAULT 2000
#define COMPARE_RESAMPLES_MIN 100
#define COMPARE_RESAMPLES_MAX 100000
#define COMPARE_SEED_DEFAULT 1
#define COMPARE_LEVEL_DEFAULT 0.95
#define COMPARE_N_MIN 5      /* values per side for an interval */
#define COMPARE_NFIG 4       /* figures compared */
#define COMPARE_KEY_MAX 512  /* bytes of a model key in a selector */
#define COMPARE_SEL_MAX 1200 /* bytes of a selector */
#define COMPARE_ERR_MAX 256

/* A figure that can be compared. */
struct compare_figure {
    const char *name;  /* sample column: decode_tps ... */
    const char *label; /* for tables: "Decode tok/s" */
    int higher_better; /* 1: throughput; 0: latency */
};

/* The figures, in table order: decode_tps, e2e_tps, ttft_ms, prompt_tps. */
extern const struct compare_figure compare_figures[COMPARE_NFIG];

/* The index of figure `name` in compare_figures, or -1. Can't fail. */
int compare_figure_index(const char *name);

enum compare_verdict {
    COMPARE_FASTER, /* B is faster than A */
    COMPARE_SLOWER,
    COMPARE_SAME, /* no significant difference */
    COMPARE_INSUFFICIENT,
};

/* "faster", "slower", "no_significant_difference", "insufficient_data". */
const char *compare_verdict_name(enum compare_verdict v);

struct compare_opts {
    uint64_t seed;
    int resamples; /* COMPARE_RESAMPLES_MIN..MAX */
    double level;  /* e.g. 0.95 */
};

/* Defaults: COMPARE_SEED_DEFAULT, COMPARE_RESAMPLES_DEFAULT, 0.95. */
void compare_opts_default(struct compare_opts *o);

struct compare_row {
    size_t na, nb;
    double median_a, median_b;
    double diff_pct;       /* NAN when insufficient */
    double lo_pct, hi_pct; /* the interval; NAN when insufficient */
    enum compare_verdict verdict;
};

/*
 * The row's RNG stream: a 64-bit seed from o->seed and the row's key
 * (the model keys of A and B, the case and the figure, any of them NULL).
 * Can't fail.
 */
uint64_t compare_row_seed(uint64_t seed, const char *model_a, const char *model_b,
                          const char *case_name, const char *figure);

/*
 * Compare a[0..na) with b[0..nb) (finite values; neither is modified) for
 * a figure whose better direction is higher_better, drawing from the
 * stream `row_seed` (compare_row_seed), into *out. Returns 0, or -1 when
 * out of memory (*out then insufficient).
 */
int compare_row(const double *a, size_t na, const double *b, size_t nb, int higher_better,
                const struct compare_opts *o, uint64_t row_seed, struct compare_row *out);

/* ---- selectors (compare_sel.c) ---- */

enum compare_sel_kind { COMPARE_SEL_JOB, COMPARE_SEL_RUN, COMPARE_SEL_MODEL };

/*
 * What A or B names: "job:ID", "run:ID", or "model:KEY" optionally
 * followed by "@SINCE..UNTIL", a time range on the samples' start (SINCE
 * inclusive, UNTIL exclusive, either may be empty for open). The range is
 * the part after the last '@' when that part contains ".." (model keys may
 * hold '@': "model:org/m@q4_k_m@..": the whole history of "org/m@q4_k_m").
 * A time is Unix milliseconds, "YYYY-MM-DD" (UTC midnight) or
 * "YYYY-MM-DDTHH:MM:SSZ".
 */
struct compare_sel {
    enum compare_sel_kind kind;
    int64_t id; /* job or run */
    char model[COMPARE_KEY_MAX];
    int64_t since, until; /* Unix ms; 0: open */
};

/* Parse `text` into *out. 0, or -1 with the reason in err (errlen bytes). */
int compare_sel_parse(const char *text, struct compare_sel *out, char *err, size_t errlen);

#endif

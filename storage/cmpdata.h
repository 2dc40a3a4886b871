/*
 * cmpdata.h - the samples an A/B comparison reads (daemon/compare_table.h):
 * the figures of the successful, non-warm-up requests of a job, a run, or
 * a model over a time range, grouped by (model, case). Includes only
 * storage/.
 */
#ifndef TPSD_CMPDATA_H
#define TPSD_CMPDATA_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

#define CMPDATA_NFIG 4
#define CMPDATA_SAMPLES_MAX 1000000 /* samples of one side */

/* The figures read, in this order: decode_tps, e2e_tps, ttft_ms, prompt_tps. */
extern const char *const cmpdata_figures[CMPDATA_NFIG];

enum cmpdata_kind { CMPDATA_JOB, CMPDATA_RUN, CMPDATA_MODEL };

struct cmpdata_sel {
    enum cmpdata_kind kind;
    int64_t id;           /* job or run */
    const char *model;    /* CMPDATA_MODEL: runs.model, exactly */
    int64_t since, until; /* CMPDATA_MODEL: samples' started_at in [since, until);
                           * 0: open */
};

/* One (model, case): the non-NULL values of each figure, in (run, seq) order. */
struct cmpdata_group {
    char *model;
    char *case_name;
    double *v[CMPDATA_NFIG];
    size_t n[CMPDATA_NFIG];
    size_t cap[CMPDATA_NFIG];
    size_t rows; /* samples of this group */
};

struct cmpdata_set {
    struct cmpdata_group *g; /* ordered by model, then case */
    size_t n;
    size_t nsamples; /* samples read (rows) */
};

/*
 * Read the selection's samples (ok = 1, warmup = 0) into *out (free with
 * cmpdata_free, whatever the result). Returns 0 (out->n may be 0: the
 * selection exists and holds no such sample), 1 when it names nothing
 * (no such job or run; no run of that model ever), 2 past
 * CMPDATA_SAMPLES_MAX samples (db->err says so), -1 on error (db->err).
 */
int cmpdata_load(struct db *db, const struct cmpdata_sel *sel, struct cmpdata_set *out);
/* Free what *s holds and empty it. */
void cmpdata_free(struct cmpdata_set *s);

#endif

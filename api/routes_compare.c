/*
 * routes_compare.c - GET /v1/compare?a=SEL&b=SEL[&case=C][&figure=F,...]
 * [&resamples=N][&seed=S][&level=L]: A against B with a bootstrap
 * confidence interval per (case, figure) (daemon/compare_table.h). The
 * work is bounded (COMPARE_DRAWS_MAX) so that a handler never computes
 * for long.
 */
#include "api/internal.h"

#include "daemon/compare_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define API_SEED_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */
#define API_LEVEL_MIN 0.5
#define API_LEVEL_MAX 0.999

enum MHD_Result api_h_compare(struct api_req *r);

/* ?level= in [API_LEVEL_MIN, API_LEVEL_MAX]. 0 or -1. */
static int
parse_level(const char *s, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= API_LEVEL_MIN && v <= API_LEVEL_MAX))
        return -1;
    *out = v;
    return 0;
}

/* The options of the query into q; 0, or -1 after answering 400 in *res. */
static int
parse_query(struct api_req *r, struct compare_req *q, enum MHD_Result *res)
{
    const char *fig = api_query(r, "figure"), *rs = api_query(r, "resamples");
    const char *seed = api_query(r, "seed"), *level = api_query(r, "level");
    char err[COMPARE_ERR_MAX];
    int64_t v;

    memset(q, 0, sizeof(*q));
    compare_opts_default(&q->opts);
    q->a = api_query(r, "a");
    q->b = api_query(r, "b");
    q->case_name = api_query(r, "case");
    if (q->a == NULL || q->b == NULL) {
        *res = api_reply_error(r, 400, "bad_request",
                               "a, b: both required (job:ID, run:ID or"
                               " model:KEY[@SINCE..UNTIL])");
        return -1;
    }
    if (fig != NULL && compare_figures_parse(fig, &q->figures, err, sizeof(err)) == -1) {
        *res = api_reply_error(r, 400, "bad_request", "%s", err);
        return -1;
    }
    if (rs != NULL) {
        if (api_parse_i64(rs, COMPARE_RESAMPLES_MIN, COMPARE_RESAMPLES_MAX, &v) == -1) {
            *res = api_reply_error(r, 400, "bad_request", "resamples: an integer in %d..%d",
                                   COMPARE_RESAMPLES_MIN, COMPARE_RESAMPLES_MAX);
            return -1;
        }
        q->opts.resamples = (int)v;
    }
    if (seed != NULL) {
        if (api_parse_i64(seed, 0, API_SEED_MAX, &v) == -1) {
            *res = api_reply_error(r, 400, "bad_request", "seed: an integer in 0..%lld",
                                   API_SEED_MAX);
            return -1;
        }
        q->opts.seed = (uint64_t)v;
    }
    if (level != NULL && parse_level(level, &q->opts.level) == -1) {
        *res = api_reply_error(r, 400, "bad_request", "level: a number in %g..%g",
                               API_LEVEL_MIN, API_LEVEL_MAX);
        return -1;
    }
    return 0;
}

enum MHD_Result
api_h_compare(struct api_req *r)
{
    struct compare_req q;
    char err[2 * COMPARE_ERR_MAX + 2 * COMPARE_SEL_MAX] = "";
    enum MHD_Result res;
    struct db *db;
    json_t *out = NULL;

    if (parse_query(r, &q, &res) == -1)
        return res;
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    switch (compare_table_build(db, &q, &out, err, sizeof(err))) {
    case COMPARE_OK:
        return api_reply_json(r, 200, out);
    case COMPARE_BAD_REQUEST:
        return api_reply_error(r, 400, "bad_request", "%s", err);
    case COMPARE_NOT_FOUND:
        return api_reply_error(r, 404, "not_found", "%s", err);
    case COMPARE_NO_SAMPLES:
        return api_reply_error(r, 404, "no_samples", "%s", err);
    case COMPARE_DB_ERROR:
        break;
    }
    return api_reply_db_error(r, db);
}

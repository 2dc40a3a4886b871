/*
 * routes_history.c - history handlers: a job's report, trends, the
 * leaderboard and regression verdicts. Trends, models and regressions carry
 * an ETag from history_version() (bumped by every stored sample and run
 * change, the same on every connection) and answer 304 to a matching
 * If-None-Match.
 */
#include "api/internal.h"

#include "daemon/regress.h"
#include "daemon/report.h"
#include "storage/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_ETAG_MAX 48
#define API_VERDICTS_LIMIT_DEFAULT 100

enum MHD_Result api_h_job_report(struct api_req *r);
enum MHD_Result api_h_trends(struct api_req *r);
enum MHD_Result api_h_models(struct api_req *r);
enum MHD_Result api_h_regressions(struct api_req *r);

enum MHD_Result
api_h_job_report(struct api_req *r)
{
    enum report_format fmt;
    struct db *db;
    char *text = NULL;
    size_t len = 0;
    enum MHD_Result res;
    int got;

    if (report_format_parse(api_query(r, "format"), &fmt) == -1)
        return api_reply_error(r, 400, "bad_request", "format: must be md, json or csv");
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    got = report_render(db, r->ids[0], fmt, &text, &len);
    if (got == 1)
        return api_reply_error(r, 404, "not_found", "no job %lld", (long long)r->ids[0]);
    if (got == -1)
        return api_reply_db_error(r, db);
    res = api_reply_text(r, 200, report_content_type(fmt), text, len);
    free(text);
    return res;
}

/* The ETag of the history's current version into etag; 1 when the request's
 * If-None-Match already names it (answer 304), 0 otherwise, -1 on error. */
static int
etag_check(struct api_req *r, struct db *db, char etag[API_ETAG_MAX])
{
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    int64_t v;

    if (history_version(db, &v) == -1)
        return -1;
    snprintf(etag, API_ETAG_MAX, "\"h%lld\"", (long long)v);
    if (inm == NULL)
        return 0;
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static enum MHD_Result
reply_etag(struct api_req *r, int not_modified, json_t *body, const char *etag)
{
    const char *hdrs[] = {"ETag", etag, "Cache-Control", "no-cache", NULL};

    if (not_modified) {
        json_decref(body);
        return api_reply_json_h(r, 304, NULL, hdrs);
    }
    return api_reply_json_h(r, 200, body, hdrs);
}

static int
arg_time(struct api_req *r, const char *name, int64_t *out)
{
    const char *s = api_query(r, name);

    *out = 0;
    return s == NULL ? 0 : api_parse_i64(s, 0, INT64_MAX, out);
}

enum MHD_Result
api_h_trends(struct api_req *r)
{
    struct history_query q;
    char etag[API_ETAG_MAX], *text = NULL;
    struct db *db;
    size_t len = 0;
    int nm;

    memset(&q, 0, sizeof(q));
    q.model = api_query(r, "model");
    q.case_name = api_query(r, "case");
    q.suite = api_query(r, "suite");
    q.metric = api_query(r, "metric");
    if (q.metric == NULL)
        q.metric = "decode_tps";
    if (!history_metric_ok(q.metric))
        return api_reply_error(r, 400, "bad_request",
                               "metric: must be decode_tps, e2e_tps, ttft_ms, prompt_tps or"
                               " load_ms");
    if (api_query(r, "bucket") != NULL &&
        history_bucket_parse(api_query(r, "bucket"), &q.bucket) == -1)
        return api_reply_error(r, 400, "bad_request", "bucket: must be run, hour, day or week");
    if (arg_time(r, "since", &q.since) == -1 || arg_time(r, "until", &q.until) == -1)
        return api_reply_error(r, 400, "bad_request",
                               "since, until: must be Unix milliseconds");
    if (q.until > 0 && q.until < q.since)
        return api_reply_error(r, 400, "bad_request", "until: must not be before since");
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    nm = etag_check(r, db, etag);
    if (nm == -1)
        return api_reply_db_error(r, db);
    if (nm)
        return reply_etag(r, nm, NULL, etag);
    /* Written as JSON text by storage: a year of points is megabytes. */
    if (history_trends(db, &q, &text, &len) == -1)
        return api_reply_db_error(r, db);
    {
        const char *hdrs[] = {"ETag", etag, "Cache-Control", "no-cache", NULL};
        return api_reply_text_h(r, 200, "application/json", text, len, hdrs);
    }
}

enum MHD_Result
api_h_models(struct api_req *r)
{
    char etag[API_ETAG_MAX];
    struct db *db = api_db(r->api);
    json_t *body = NULL;
    int nm;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    nm = etag_check(r, db, etag);
    if (nm == -1)
        return api_reply_db_error(r, db);
    if (!nm && history_models(db, &body) == -1)
        return api_reply_db_error(r, db);
    return reply_etag(r, nm, body, etag);
}

enum MHD_Result
api_h_regressions(struct api_req *r)
{
    struct regress_opts o;
    char etag[API_ETAG_MAX];
    const char *all = api_query(r, "all");
    struct db *db;
    json_t *body = NULL;
    int64_t limit = API_VERDICTS_LIMIT_DEFAULT, cursor = 0;
    int nm;

    if (api_query(r, "limit") != NULL &&
        api_parse_i64(api_query(r, "limit"), 1, HISTORY_VERDICTS_MAX, &limit) == -1)
        return api_reply_error(r, 400, "bad_request", "limit: must be an integer in 1..%d",
                               HISTORY_VERDICTS_MAX);
    if (api_query(r, "cursor") != NULL &&
        api_parse_i64(api_query(r, "cursor"), 0, INT64_MAX, &cursor) == -1)
        return api_reply_error(r, 400, "bad_request", "cursor: must be a non-negative integer");
    if (all != NULL && strcmp(all, "0") != 0 && strcmp(all, "1") != 0)
        return api_reply_error(r, 400, "bad_request",
                               "all: 0 regressions only, 1 improvements too");
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    /* Test what finished since the last call (cheap when nothing did). */
    regress_opts_env(&o);
    if (regress_scan(db, &o, NULL) == -1)
        return api_reply_db_error(r, db);
    nm = etag_check(r, db, etag);
    if (nm == -1)
        return api_reply_db_error(r, db);
    if (!nm && history_verdicts_list(db, api_query(r, "model"), all ? all[0] - '0' : 0, cursor,
                                     (int)limit, &body) == -1)
        return api_reply_db_error(r, db);
    if (body != NULL)
        json_object_set_new(body, "thresholds",
                            json_pack("{s:i, s:i, s:f, s:f, s:f}", "window", o.window,
                                      "window_min", o.window_min, "t", o.t_min, "change",
                                      o.change_min, "sigma_floor", o.sigma_floor));
    return reply_etag(r, nm, body, etag);
}

/*
 * routes_stability.c - GET /v1/jobs/{id}/stability: the stability analysis
 * of a job (daemon/stability.h) with its windows and the system series in
 * time buckets; and the summary embedded in GET /v1/jobs/{id} for
 * stability jobs.
 */
#include "api/internal.h"

#include "daemon/stability.h"

#include <string.h>

#define API_WINDOW_S_MAX 86400          /* ?window_s= */
#define API_BUCKET_S_MAX (30 * 86400)   /* ?bucket_s= */

enum MHD_Result api_h_job_stability(struct api_req *r);
int api_job_stability_section(struct db *db, json_t *job);

enum MHD_Result
api_h_job_stability(struct api_req *r)
{
    struct stability_opts o;
    const char *w = api_query(r, "window_s"), *b = api_query(r, "bucket_s");
    struct db *db;
    json_t *out = NULL;
    int64_t v;
    int got;

    stability_opts_default(&o);
    o.detail = 1;
    if (w != NULL) {
        if (api_parse_i64(w, 1, API_WINDOW_S_MAX, &v) == -1)
            return api_reply_error(r, 400, "bad_request", "window_s: must be an integer in 1..%d",
                                   API_WINDOW_S_MAX);
        o.window_s = (int)v;
    }
    if (b != NULL) {
        if (api_parse_i64(b, 1, API_BUCKET_S_MAX, &v) == -1)
            return api_reply_error(r, 400, "bad_request", "bucket_s: must be an integer in 1..%d",
                                   API_BUCKET_S_MAX);
        o.bucket_s = (int)v;
    }
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    got = stability_analyze(db, r->ids[0], &o, &out);
    if (got == 1)
        return api_reply_error(r, 404, "not_found", "no job %lld", (long long)r->ids[0]);
    if (got == -1)
        return api_reply_db_error(r, db);
    return api_reply_json(r, 200, out);
}

/*
 * Add "stability" (the analysis without windows and series) to `job` (a
 * GET /v1/jobs/{id} body) when it is a stability job. 0, or -1 on a
 * database error (db->err).
 */
int
api_job_stability_section(struct db *db, json_t *job)
{
    struct stability_opts o;
    const char *kind = json_string_value(json_object_get(job, "kind"));
    json_t *a = NULL;

    if (kind == NULL || strcmp(kind, "stability") != 0)
        return 0;
    stability_opts_default(&o);
    if (stability_analyze(db, json_integer_value(json_object_get(job, "id")), &o, &a) == -1)
        return -1;
    json_object_set_new(job, "stability", a ? a : json_null());
    return 0;
}

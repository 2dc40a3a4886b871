/*
 * routes_stability.c - GET /v1/jobs/{id}/stability: the stability analysis
 * of a job (daemon/stability.h) with its windows and the system series in
 * time buckets; and the summary embedded in GET /v1/jobs/{id} for
 * stability jobs.
 */
#include "api/internal.h"

#include "common/clock.h"
#include "daemon/stability.h"
#include "storage/stabdata.h"

#include <stdlib.h>
#include <string.h>

#define API_WINDOW_S_MAX 86400        /* ?window_s= */
#define API_BUCKET_S_MAX (30 * 86400) /* ?bucket_s= */

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
            return api_reply_error(r, 400, "bad_request",
                                   "window_s: must be an integer in 1..%d", API_WINDOW_S_MAX);
        o.window_s = (int)v;
    }
    if (b != NULL) {
        if (api_parse_i64(b, 1, API_BUCKET_S_MAX, &v) == -1)
            return api_reply_error(r, 400, "bad_request",
                                   "bucket_s: must be an integer in 1..%d", API_BUCKET_S_MAX);
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
 * Add "stability" to `job` (a GET /v1/jobs/{id} body) when it is a
 * stability job: the analysis of its newest "stability" event (the runner
 * emits one every stability_event_s and at the end of each run) with
 * "as_of" (its time), or computed now (without windows and series) when
 * there is none yet. Dashboards poll this: it must stay cheap. 0, or -1 on
 * a database error (db->err).
 */
int
api_job_stability_section(struct db *db, json_t *job)
{
    struct stability_opts o;
    const char *kind = json_string_value(json_object_get(job, "kind"));
    int64_t id = json_integer_value(json_object_get(job, "id")), at = 0;
    json_t *a = NULL;
    char *text = NULL;
    int rc;

    if (kind == NULL || strcmp(kind, "stability") != 0)
        return 0;
    rc = stabdata_last_event(db, id, "stability", &text, &at);
    if (rc == -1)
        return -1;
    if (rc == 0)
        a = json_loads(text, 0, NULL);
    free(text);
    if (json_is_object(a)) {
        json_object_del(a, "run_id");
        json_object_set_new(a, "as_of", json_integer((json_int_t)at));
    } else {
        json_decref(a);
        a = NULL;
        stability_opts_default(&o);
        o.now_ms = clock_wall_ms();
        if (stability_analyze(db, id, &o, &a) == -1)
            return -1;
        if (a != NULL)
            json_object_set_new(a, "as_of", json_integer((json_int_t)o.now_ms));
    }
    json_object_set_new(job, "stability", a ? a : json_null());
    return 0;
}

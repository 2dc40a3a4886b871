/*
 * routes_capacity.c - capacity searches (daemon/capacity.h) over HTTP:
 * GET /v1/jobs/{id}/capacity, a capacity job's answer and curve per model
 * (storage/capdata.h's capdata_job_json), and GET /v1/capacity?model=KEY,
 * a model's capacity results over time (its trend series).
 */
#include "api/internal.h"

#include "storage/capdata.h"
#include "storage/jobs.h"

#include <string.h>

#define API_MODEL_KEY_MAX 1024 /* ?model= */

enum MHD_Result api_h_job_capacity(struct api_req *r);
enum MHD_Result api_h_capacity_trend(struct api_req *r);

enum MHD_Result
api_h_job_capacity(struct api_req *r)
{
    struct db *db = api_db(r->api);
    json_t *job = NULL, *runs = NULL;
    const char *kind;
    int got;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    got = jobs_get_json(db, r->ids[0], &job);
    if (got == 1)
        return api_reply_error(r, 404, "not_found", "no job %lld", (long long)r->ids[0]);
    if (got == -1)
        return api_reply_db_error(r, db);
    kind = json_string_value(json_object_get(job, "kind"));
    if (kind == NULL || strcmp(kind, "capacity") != 0) {
        json_decref(job);
        return api_reply_error(r, 404, "not_found", "job %lld is not a capacity job",
                               (long long)r->ids[0]);
    }
    json_decref(job);
    if (capdata_job_json(db, r->ids[0], &runs) == -1)
        return api_reply_db_error(r, db);
    return api_reply_json(
        r, 200, json_pack("{s:I, s:o}", "job_id", (json_int_t)r->ids[0], "models", runs));
}

enum MHD_Result
api_h_capacity_trend(struct api_req *r)
{
    const char *model = api_query(r, "model");
    struct db *db;
    json_t *points = NULL;

    if (model == NULL || *model == '\0' || strlen(model) > API_MODEL_KEY_MAX)
        return api_reply_error(r, 400, "bad_request",
                               "model: required, a model key of 1..%d bytes",
                               API_MODEL_KEY_MAX);
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    if (capdata_trend_json(db, model, &points) == -1)
        return api_reply_db_error(r, db);
    return api_reply_json(r, 200, json_pack("{s:s, s:o}", "model", model, "points", points));
}

/*
 * routes.c - the route table and the handlers of jobs, runs, samples,
 * suites, health and the OpenAPI document. Each handler validates, calls
 * storage/ on its thread's connection, and answers; none blocks.
 */
#include "api/internal.h"

#include "daemon/jobspec.h"
#include "daemon/log.h"
#include "daemon/suite.h"
#include "storage/jobs.h"
#include "storage/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <time.h>

#define API_LIMIT_DEFAULT 50 /* page size of list endpoints */
#define API_LIMIT_MAX 500
#define API_SAMPLES_LIMIT_MAX 5000
#define API_JOB_RUNS_MAX 1000 /* runs embedded in GET /v1/jobs/{id} */
#define API_ALLOW_MAX 64      /* bytes of an Allow header */
#define API_LOCATION_MAX 64
#define API_DB_FAILED_RECENT_S 60      /* healthz: a refused write this recent degrades */
#define API_DB_SPACE_MIN (1024 * 1024) /* healthz: free bytes below which the disk is full */

extern const char tpsd_openapi_json[];
extern const unsigned long tpsd_openapi_json_len;

/* ?limit= in 1..max (default API_LIMIT_DEFAULT). 0, or -1 after answering 400. */
static int
arg_limit(struct api_req *r, int64_t max, int64_t *out, enum MHD_Result *rc)
{
    const char *s = api_query(r, "limit");

    *out = API_LIMIT_DEFAULT;
    if (s != NULL && api_parse_i64(s, 1, max, out) == -1) {
        *rc = api_reply_error(r, 400, "bad_request", "limit: must be an integer in 1..%lld",
                              (long long)max);
        return -1;
    }
    return 0;
}

/* An optional id-like query argument (>= 0, 0 when absent). 0 or -1 after 400. */
static int
arg_id(struct api_req *r, const char *name, int64_t *out, enum MHD_Result *rc)
{
    const char *s = api_query(r, name);

    *out = 0;
    if (s != NULL && api_parse_i64(s, 0, INT64_MAX, out) == -1) {
        *rc =
            api_reply_error(r, 400, "bad_request", "%s: must be a non-negative integer", name);
        return -1;
    }
    return 0;
}

/* {"<key>": items, "<next>": last item's id (or `field`) when the page is full}. */
static json_t *
page(const char *key, json_t *items, int64_t limit, const char *next, const char *field)
{
    size_t n = json_array_size(items);
    json_t *last = n > 0 ? json_array_get(items, n - 1) : NULL;
    json_t *o = json_object();

    json_object_set_new(o, key, items);
    if (last != NULL && (int64_t)n == limit)
        json_object_set(o, next, json_object_get(last, field));
    else
        json_object_set_new(o, next, json_null());
    return o;
}

/* routes_stability.c: the summary embedded in GET /v1/jobs/{id}. */
int api_job_stability_section(struct db *db, json_t *job);

/* ---- jobs ---- */

static int
is_json_type(const char *ctype)
{
    size_t n = strlen("application/json");

    if (ctype == NULL || strncasecmp(ctype, "application/json", n) != 0)
        return 0;
    return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ';
}

static enum MHD_Result
h_jobs_create(struct api_req *r)
{
    const char *ctype = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    char err[JOBSPEC_ERR_MAX], hash[2 * API_SHA256_LEN + 1], loc[API_LOCATION_MAX];
    char why[SUITE_ERR_MAX + SUITE_PATH_MAX];
    const char *hdrs[5] = {NULL};
    struct jobspec spec;
    json_error_t je;
    json_t *in, *norm, *job = NULL;
    struct db *db;
    char *text = NULL;
    int64_t id = 0;
    int existing = 0, rc, parsed = 0;
    enum MHD_Result res;
    size_t i;

    if (!is_json_type(ctype))
        return api_reply_error(r, 415, "unsupported_media_type",
                               "Content-Type must be application/json");
    if (key != NULL) {
        if (*key == '\0' || strlen(key) > API_IDEM_KEY_MAX)
            return api_reply_error(r, 400, "bad_request",
                                   "Idempotency-Key: must be 1..%d bytes", API_IDEM_KEY_MAX);
        for (i = 0; key[i] != '\0'; i++) {
            if ((unsigned char)key[i] < 0x20 || (unsigned char)key[i] > 0x7e)
                return api_reply_error(r, 400, "bad_request",
                                       "Idempotency-Key: printable ASCII only");
        }
    }
    if (r->len == 0)
        return api_reply_error(r, 400, "bad_request", "body: expected a job spec object");
    /* jansson refuses nesting deeper than its limit (2048) with an error. */
    in = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES, &je);
    if (in == NULL)
        return api_reply_error(r, 400, "bad_json",
                               "body: invalid JSON at line %d column %d: %s", je.line,
                               je.column, je.text);
    rc = jobspec_parse(in, &spec, err, sizeof(err));
    json_decref(in);
    if (rc == -1)
        return api_reply_error(r, 400, "invalid_spec", "%s", err);
    parsed = 1;
    /* The suite is checked here (400), not by the worker. */
    if (jobspec_resolve_suite(&spec, r->api->suites_dir, err, sizeof(err), why, sizeof(why)) ==
        -1) {
        if (why[0] != '\0')
            log_warnx("api: %s", why);
        res = api_reply_error(r, 400, "invalid_spec", "%s", err);
        goto out;
    }
    norm = jobspec_to_json(&spec);
    text = norm != NULL ? json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(norm);
    if (text == NULL) {
        res = api_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    db = api_db(r->api);
    if (db == NULL) {
        res = api_reply_db_error(r, NULL);
        goto out;
    }
    api_sha256_hex(r->body, r->len, hash);
    rc = jobs_create(db, spec.name, spec.kind, text, spec.priority, key, key ? hash : NULL, &id,
                     &existing);
    if (rc == -2) {
        res = api_reply_error(r, 422, "idempotency_key_reused",
                              "Idempotency-Key was used with a different body");
        goto out;
    }
    if (rc == -1) {
        res = api_reply_db_error(r, db);
        goto out;
    }
    rc = jobs_get_json(db, id, &job);
    if (rc != 0) {
        res = api_reply_db_error(r, db);
        goto out;
    }
    snprintf(loc, sizeof(loc), "/v1/jobs/%lld", (long long)id);
    hdrs[0] = "Location";
    hdrs[1] = loc;
    if (existing) {
        hdrs[2] = "Idempotency-Replayed";
        hdrs[3] = "true";
    }
    atomic_store(&r->api->db_failed_s, 0); /* the database takes writes again */
    res = api_reply_json_h(r, existing ? 200 : 201, job, hdrs);
    if (!existing && r->api->worker != NULL && r->api->worker_notify != NULL)
        r->api->worker_notify(r->api->worker);
out:
    free(text);
    if (parsed)
        jobspec_free(&spec);
    return res;
}

static enum MHD_Result
h_jobs_list(struct api_req *r)
{
    static const char *const states[] = {"queued",    "running",     "succeeded", "failed",
                                         "cancelled", "interrupted", NULL};
    const char *state = api_query(r, "state");
    struct db *db;
    json_t *jobs;
    int64_t limit, cursor;
    enum MHD_Result rc;
    size_t i;

    if (arg_limit(r, API_LIMIT_MAX, &limit, &rc) == -1 ||
        arg_id(r, "cursor", &cursor, &rc) == -1)
        return rc;
    if (state != NULL) {
        for (i = 0; states[i] != NULL && strcmp(state, states[i]) != 0; i++)
            ;
        if (states[i] == NULL)
            return api_reply_error(r, 400, "bad_request",
                                   "state: must be one of queued, running, succeeded, failed,"
                                   " cancelled, interrupted");
    }
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    if (jobs_list(db, state, cursor, (int)limit, &jobs) == -1)
        return api_reply_db_error(r, db);
    return api_reply_json(r, 200, page("jobs", jobs, limit, "next_cursor", "id"));
}

static enum MHD_Result
h_job_get(struct api_req *r)
{
    struct db *db = api_db(r->api);
    json_t *job, *runs;
    int rc;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    rc = jobs_get_json(db, r->ids[0], &job);
    if (rc != 0)
        return api_reply_lookup(r, db, rc, "job");
    if (runs_list(db, r->ids[0], 0, API_JOB_RUNS_MAX, &runs) == -1) {
        json_decref(job);
        return api_reply_db_error(r, db);
    }
    json_object_set_new(job, "run_list", runs);
    if (api_job_stability_section(db, job) == -1) {
        json_decref(job);
        return api_reply_db_error(r, db);
    }
    return api_reply_json(r, 200, job);
}

static enum MHD_Result
h_job_cancel(struct api_req *r)
{
    char state[JOB_STATE_MAX];
    struct db *db = api_db(r->api);
    int rc;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    rc = jobs_request_cancel(db, r->ids[0], state);
    if (rc == -1 || rc == 1)
        return api_reply_lookup(r, db, rc, "job");
    if (rc == 2)
        return api_reply_error(r, 409, "already_final", "job %lld already %s",
                               (long long)r->ids[0], state);
    if (r->api->worker != NULL && r->api->worker_cancel != NULL &&
        strcmp(state, "running") == 0)
        r->api->worker_cancel(r->api->worker, (long long)r->ids[0]);
    if (r->api->worker != NULL && r->api->worker_notify != NULL)
        r->api->worker_notify(r->api->worker);
    return api_reply_json(r, 200,
                          json_pack("{s:I,s:s}", "id", (json_int_t)r->ids[0], "state", state));
}

/* ---- runs and samples ---- */

static enum MHD_Result
h_runs_list(struct api_req *r)
{
    struct db *db;
    json_t *runs;
    int64_t limit, cursor, job;
    enum MHD_Result rc;

    if (arg_limit(r, API_LIMIT_MAX, &limit, &rc) == -1 ||
        arg_id(r, "cursor", &cursor, &rc) == -1 || arg_id(r, "job", &job, &rc) == -1)
        return rc;
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    if (runs_list(db, job, cursor, (int)limit, &runs) == -1)
        return api_reply_db_error(r, db);
    return api_reply_json(r, 200, page("runs", runs, limit, "next_cursor", "id"));
}

static enum MHD_Result
h_run_get(struct api_req *r)
{
    struct db *db = api_db(r->api);
    json_t *run;
    int rc;

    if (db == NULL)
        return api_reply_db_error(r, NULL);
    rc = runs_get_json(db, r->ids[0], 1, &run);
    if (rc != 0)
        return api_reply_lookup(r, db, rc, "run");
    return api_reply_json(r, 200, run);
}

static enum MHD_Result
h_run_samples(struct api_req *r)
{
    struct db *db;
    json_t *run;
    int64_t limit, after;
    enum MHD_Result rc;
    char *text;
    size_t len;
    int got;

    if (arg_limit(r, API_SAMPLES_LIMIT_MAX, &limit, &rc) == -1 ||
        arg_id(r, "after", &after, &rc) == -1)
        return rc;
    if (api_query(r, "after") == NULL)
        after = -1; /* seqs start at 0: the first page includes it */
    db = api_db(r->api);
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    got = runs_get_json(db, r->ids[0], 0, &run);
    if (got != 0)
        return api_reply_lookup(r, db, got, "run");
    json_decref(run);
    if (samples_page_text(db, r->ids[0], after, (int)limit, &text, &len) == -1)
        return api_reply_db_error(r, db);
    return api_reply_text_h(r, 200, "application/json", text, len, NULL);
}

/* ---- suites, health, OpenAPI ---- */

static enum MHD_Result
h_suites(struct api_req *r)
{
    json_t *list = suite_list_builtin();

    if (list == NULL)
        return api_reply_error(r, 500, "internal", "built-in suites unavailable");
    return api_reply_json(r, 200, json_pack("{s:o}", "suites", list));
}

/* Why the database cannot take writes ("disk_full", "read_only": the
 * filesystem, or the file for this user, as SQLite opened it; "locked": a
 * write is waiting for another process's lock; "write_failed": a request
 * was refused for it lately), or NULL. */
static const char *
db_unwritable(struct api *a, struct db *db)
{
    long long failed = atomic_load(&a->db_failed_s);
    struct statvfs vfs;
    struct timespec ts;

    if (statvfs(a->db_path, &vfs) == 0) {
        if (vfs.f_flag & ST_RDONLY)
            return "read_only";
        if ((unsigned long long)vfs.f_bavail * vfs.f_frsize < API_DB_SPACE_MIN)
            return "disk_full";
    }
    if (db_readonly(db) || db_write_state() == DB_WRITE_READ_ONLY)
        return "read_only";
    if (db_write_state() == DB_WRITE_LOCKED)
        return "locked";
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (failed != 0 && (long long)ts.tv_sec + 1 - failed < API_DB_FAILED_RECENT_S)
        return "write_failed";
    return NULL;
}

static enum MHD_Result
h_healthz(struct api_req *r)
{
    struct api *a = r->api;
    struct db *db = api_db(a);
    const char *worker = "absent", *dbs = "ok", *unwritable;
    json_t *counts = NULL, *body;
    json_int_t depth = 0;
    int ok = 1;

    if (db == NULL) {
        dbs = "unavailable";
        ok = 0;
    } else if (jobs_count_by_state(db, &counts) == -1) {
        dbs = db->err[0] ? db->err : "error";
        ok = 0;
    } else {
        depth = json_integer_value(json_object_get(counts, "queued"));
        unwritable = db_unwritable(a, db);
        if (unwritable != NULL) {
            dbs = unwritable;
            ok = 0;
        }
    }
    if (a->worker != NULL && a->worker_alive != NULL) {
        worker = a->worker_alive(a->worker) ? "alive" : "dead";
        if (strcmp(worker, "dead") == 0)
            ok = 0;
    }
    body = json_pack("{s:s,s:s,s:s,s:I}", "status", ok ? "ok" : "degraded", "db", dbs, "worker",
                     worker, "queue_depth", depth);
    if (counts != NULL)
        json_object_set_new(body, "jobs", counts);
    return api_reply_json(r, ok ? 200 : 503, body);
}

static enum MHD_Result
h_openapi(struct api_req *r)
{
    return api_reply_text(r, 200, "application/json", tpsd_openapi_json,
                          (size_t)tpsd_openapi_json_len);
}

/* ---- the route table ---- */

struct route {
    const char *method; /* "GET" also answers HEAD */
    const char *path;   /* "{id}" matches a positive integer id */
    api_handler fn;
    enum api_lane lane; /* where it runs (pool.c) */
};

#define L API_LANE_LIGHT
#define H API_LANE_HEAVY  /* reads history: may take tens of ms */
#define I API_LANE_INLINE /* no database: on libmicrohttpd's thread */

static enum MHD_Result h_not_found(struct api_req *r);

/* routes_history.c */
enum MHD_Result api_h_job_report(struct api_req *r);
enum MHD_Result api_h_trends(struct api_req *r);
enum MHD_Result api_h_models(struct api_req *r);
enum MHD_Result api_h_regressions(struct api_req *r);
/* routes_stability.c */
enum MHD_Result api_h_job_stability(struct api_req *r);
/* routes_compare.c */
enum MHD_Result api_h_compare(struct api_req *r);
/* routes_capacity.c */
enum MHD_Result api_h_job_capacity(struct api_req *r);
enum MHD_Result api_h_capacity_trend(struct api_req *r);

static const struct route routes[] = {
    {"POST", "/v1/jobs", h_jobs_create, L},
    {"GET", "/v1/jobs", h_jobs_list, L},
    {"GET", "/v1/jobs/{id}", h_job_get, L},
    {"POST", "/v1/jobs/{id}/cancel", h_job_cancel, L},
    {"GET", "/v1/jobs/{id}/events", api_h_events, L},
    {"GET", "/v1/jobs/{id}/report", api_h_job_report, H},
    {"GET", "/v1/jobs/{id}/stability", api_h_job_stability, H},
    {"GET", "/v1/jobs/{id}/capacity", api_h_job_capacity, L},
    {"GET", "/v1/capacity", api_h_capacity_trend, L},
    {"GET", "/v1/runs", h_runs_list, L},
    {"GET", "/v1/runs/{id}", h_run_get, L},
    {"GET", "/v1/runs/{id}/samples", h_run_samples, H},
    {"GET", "/v1/trends", api_h_trends, H},
    {"GET", "/v1/models", api_h_models, H},
    {"GET", "/v1/regressions", api_h_regressions, H},
    {"GET", "/v1/compare", api_h_compare, H},
    {"GET", "/v1/suites", h_suites, L},
    {"GET", "/v1/healthz", h_healthz, L},
    {"GET", "/v1/openapi.json", h_openapi, I},
    {"GET", "/metrics", api_h_metrics, H},
    {"GET", "/", api_h_index, I},
    {"GET", "/assets/{name}", api_h_asset, I},
    {NULL, NULL, h_not_found, I}, /* the last entry answers everything else */
};

#undef L
#undef H
#undef I

static enum MHD_Result
h_not_found(struct api_req *r)
{
    return api_reply_error(r, 404, "not_found", "no such resource");
}

/* 1 when `url` matches `pattern`, with {id} segments parsed into r->ids and
 * a {name} segment (1..API_NAME_MAX-1 bytes, not starting with '.') copied
 * into r->name. */
static int
match(const char *pattern, const char *url, struct api_req *r)
{
    char seg[32];
    const char *pe, *ue;
    size_t n;
    int nids = 0;
    int64_t id;

    while (*pattern != '\0' && *url != '\0') {
        if (*pattern != '/' || *url != '/')
            return 0;
        pattern++, url++;
        pe = strchr(pattern, '/');
        ue = strchr(url, '/');
        if (pe == NULL)
            pe = pattern + strlen(pattern);
        if (ue == NULL)
            ue = url + strlen(url);
        n = (size_t)(ue - url);
        if ((size_t)(pe - pattern) == 4 && strncmp(pattern, "{id}", 4) == 0) {
            if (n == 0 || n >= sizeof(seg) || nids == API_IDS_MAX)
                return 0;
            memcpy(seg, url, n);
            seg[n] = '\0';
            if (api_parse_i64(seg, 1, INT64_MAX, &id) == -1)
                return 0;
            r->ids[nids++] = id;
        } else if ((size_t)(pe - pattern) == 6 && strncmp(pattern, "{name}", 6) == 0) {
            if (n == 0 || n >= sizeof(r->name) || *url == '.')
                return 0;
            memcpy(r->name, url, n);
            r->name[n] = '\0';
        } else if ((size_t)(pe - pattern) != n || strncmp(pattern, url, n) != 0) {
            return 0;
        }
        pattern = pe, url = ue;
    }
    return *pattern == '\0' && *url == '\0';
}

/* CORS preflight (or a plain OPTIONS): 204 with Allow; CORS headers are
 * added by the reply helper only for allowed origins. */
static enum MHD_Result
preflight(struct api_req *r, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    enum MHD_Result rc;
    int i, ok = 0;

    if (resp == NULL)
        return MHD_NO;
    for (i = 0; origin != NULL && i < r->api->norigins; i++)
        ok |= strcmp(origin, r->api->origins[i]) == 0;
    MHD_add_response_header(resp, "Allow", allow);
    if (ok) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, Idempotency-Key, Last-Event-ID");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    api_add_common_headers(r, resp);
    rc = MHD_queue_response(r->conn, 204, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return rc;
}

enum api_lane
api_route_lane(struct api_req *r)
{
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    const struct route *rt;

    for (rt = routes; rt->path != NULL; rt++) {
        if (match(rt->path, r->url, r) && strcmp(rt->method, method) == 0)
            return rt->lane;
    }
    return API_LANE_INLINE; /* 404, 405, preflights */
}

enum MHD_Result
api_dispatch(struct api_req *r)
{
    char allow[API_ALLOW_MAX] = "";
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    const struct route *rt;
    size_t used = 0;

    for (rt = routes; rt->path != NULL; rt++) {
        if (!match(rt->path, r->url, r))
            continue;
        if (strcmp(rt->method, method) == 0)
            return rt->fn(r);
        if (strstr(allow, rt->method) == NULL && used < sizeof(allow))
            used += (size_t)snprintf(allow + used, sizeof(allow) - used, "%s%s",
                                     used ? ", " : "", rt->method);
    }
    if (used == 0)
        return rt->fn(r); /* the 404 entry */
    if (used < sizeof(allow))
        snprintf(allow + used, sizeof(allow) - used, ", OPTIONS");
    if (strcmp(method, "OPTIONS") == 0)
        return preflight(r, allow);
    {
        const char *hdrs[] = {"Allow", allow, NULL};
        json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", "method_not_allowed",
                                 "message", "method not allowed; see the Allow header");

        return api_reply_json_h(r, 405, body, hdrs);
    }
}

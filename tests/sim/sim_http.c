/* sim_http.c - the HTTP side: body collection with a cap, the route table,
 * the OpenAI model list and the /sim admin API. One thread per connection,
 * so handlers may sleep (load_ms, slow_accept, token pacing). */
#include "sim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SIM_CONN_LIMIT 4096
#define SIM_STACK_SIZE (256 * 1024)
#define SIM_CONN_MEMORY (128 * 1024)

/* Per-request state: the body so far (capped at SIM_BODY_MAX). */
struct req {
    char *body;
    size_t len, cap;
    int too_large;
};

typedef enum MHD_Result (*route_fn)(struct MHD_Connection *, struct req *, uint64_t t_recv);

struct route {
    const char *method;
    const char *path;
    route_fn fn;
};

enum MHD_Result
sim_reply_json(struct MHD_Connection *con, unsigned status, json_t *obj)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *s =
        obj ? json_dumps(obj, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12)) : NULL;

    json_decref(obj);
    if (s == NULL)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(con, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result
sim_reply_error(struct MHD_Connection *con, unsigned status, const char *type, const char *fmt,
                ...)
{
    char msg[SIM_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sim_reply_json(con, status,
                          json_pack("{s:{s:s,s:s}}", "error", "message", msg, "type", type));
}

/* Parse the body as a JSON object; on failure queue a 400 and return NULL
 * with *ret set. */
static json_t *
body_object(struct MHD_Connection *con, const struct req *r, enum MHD_Result *ret)
{
    json_error_t jerr;
    json_t *o = json_loadb(r->body ? r->body : "", r->len, 0, &jerr);

    if (o == NULL) {
        *ret =
            sim_reply_error(con, 400, "invalid_request_error", "invalid JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *ret =
            sim_reply_error(con, 400, "invalid_request_error", "body: must be a JSON object");
        return NULL;
    }
    return o;
}

/* Reject fields of o not in the NULL-terminated list allowed. */
static int
only_fields(const json_t *o, const char *const *allowed, char *err, size_t errlen)
{
    const char *name;
    json_t *v;
    size_t i;

    json_object_foreach((json_t *)o, name, v)
    {
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], name) == 0)
                break;
        if (allowed[i] == NULL) {
            snprintf(err, errlen, "%.200s: unknown field", name);
            return -1;
        }
    }
    return 0;
}

static enum MHD_Result
h_models(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    return sim_reply_json(con, 200,
                          json_pack("{s:s,s:o}", "object", "list", "data", sim_model_list(1)));
}

static enum MHD_Result
h_v0_models(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    json_t *all = sim_model_list(0), *data = json_array(), *m;
    size_t i;

    json_array_foreach(all, i, m)
    {
        json_t *id = json_object_get(m, "identifier");

        json_array_append_new(
            data,
            json_pack("{s:O,s:s,s:s,s:O,s:O,s:O,s:s,"
                      "s:O}",
                      "id", json_is_string(id) ? id : json_object_get(m, "key"), "object",
                      "model", "type", "llm", "arch", json_object_get(m, "arch"),
                      "compatibility_type", json_object_get(m, "format"), "quantization",
                      json_object_get(m, "quant"), "state",
                      json_is_true(json_object_get(m, "loaded")) ? "loaded" : "not-loaded",
                      "max_context_length", json_object_get(m, "max_context_length")));
    }
    json_decref(all);
    return sim_reply_json(con, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

/* LM Studio's greeting: lms and the SDK check a port with GET
 * /lmstudio-greeting and want {"lmstudio": true} (lmstudio-ai/lms
 * src/createClient.ts checkHttpServer; lmstudio-js LMStudioClient.ts). */
static enum MHD_Result
h_greeting(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    return sim_reply_json(con, 200, json_pack("{s:b}", "lmstudio", 1));
}

static enum MHD_Result
h_chat(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    return sim_chat(con, r->body ? r->body : "", r->len, t, 0);
}

static enum MHD_Result
h_chat_v0(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    return sim_chat(con, r->body ? r->body : "", r->len, t, 1);
}

static enum MHD_Result
h_log_get(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    const char *q = MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, "id");
    unsigned long long id = 0;
    char *end = NULL;

    if (q != NULL) {
        id = strtoull(q, &end, 10);
        if (end == q || *end != '\0')
            return sim_reply_error(con, 400, "invalid_request_error", "id: must be an integer");
    }
    return sim_reply_json(con, 200, sim_log_json(id));
}

static enum MHD_Result
h_log_delete(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    sim_log_clear();
    return sim_reply_json(con, 200, json_pack("{s:b}", "ok", 1));
}

static enum MHD_Result
h_state(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    return sim_reply_json(
        con, 200,
        json_pack("{s:f,s:o}", "uptime_s", sim_model_uptime(), "models", sim_model_list(0)));
}

static enum MHD_Result
h_put_model(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    char err[SIM_ERR_MAX];
    enum MHD_Result ret;
    json_t *o = body_object(con, r, &ret);

    if (o == NULL)
        return ret;
    if (sim_model_put(o, err, sizeof(err)) == -1)
        ret = sim_reply_error(con, 400, "invalid_request_error", "%s", err);
    else
        ret = sim_reply_json(con, 200,
                             json_pack("{s:b,s:O}", "ok", 1, "key", json_object_get(o, "key")));
    json_decref(o);
    return ret;
}

static enum MHD_Result
h_load(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    static const char *const allowed[] = {"key", "identifier", "context_length", NULL};
    const json_t *key, *ident, *ctx;
    char err[SIM_ERR_MAX];
    enum MHD_Result ret;
    json_t *o = body_object(con, r, &ret);
    int rc;

    if (o == NULL)
        return ret;
    key = json_object_get(o, "key");
    ident = json_object_get(o, "identifier");
    ctx = json_object_get(o, "context_length");
    if (only_fields(o, allowed, err, sizeof(err)) == -1) {
        ret = sim_reply_error(con, 400, "invalid_request_error", "%s", err);
    } else if (!json_is_string(key)) {
        ret =
            sim_reply_error(con, 400, "invalid_request_error", "key: missing or not a string");
    } else if (ident != NULL && !json_is_null(ident) &&
               (!json_is_string(ident) || json_string_length(ident) == 0 ||
                json_string_length(ident) >= SIM_KEY_MAX)) {
        ret = sim_reply_error(con, 400, "invalid_request_error",
                              "identifier: must be a non-empty string");
    } else if (ctx != NULL && !json_is_null(ctx) &&
               (!json_is_integer(ctx) || json_integer_value(ctx) < 1 ||
                json_integer_value(ctx) > 100000000)) {
        ret = sim_reply_error(con, 400, "invalid_request_error",
                              "context_length: must be an integer in "
                              "1..100000000");
    } else {
        rc = sim_model_load(json_string_value(key), json_string_value(ident),
                            json_is_integer(ctx) ? (long)json_integer_value(ctx) : 0);
        if (rc == -1)
            ret = sim_reply_error(con, 404, "invalid_request_error", "key: no model %.300s",
                                  json_string_value(key));
        else if (rc == -2)
            ret = sim_reply_error(con, 409, "invalid_request_error",
                                  "identifier: already used by another "
                                  "model");
        else if (rc == -3)
            ret = sim_reply_error(con, 503, "server_error", "stopping");
        else
            ret = sim_reply_json(con, 200,
                                 json_pack("{s:b,s:s}", "ok", 1, "identifier",
                                           json_is_string(ident) ? json_string_value(ident)
                                                                 : json_string_value(key)));
    }
    json_decref(o);
    return ret;
}

static enum MHD_Result
h_unload(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    static const char *const allowed[] = {"identifier", "all", NULL};
    const json_t *ident, *all;
    char err[SIM_ERR_MAX];
    enum MHD_Result ret;
    json_t *o = body_object(con, r, &ret);

    if (o == NULL)
        return ret;
    ident = json_object_get(o, "identifier");
    all = json_object_get(o, "all");
    if (only_fields(o, allowed, err, sizeof(err)) == -1)
        ret = sim_reply_error(con, 400, "invalid_request_error", "%s", err);
    else if (all != NULL && !json_is_boolean(all))
        ret = sim_reply_error(con, 400, "invalid_request_error", "all: must be a boolean");
    else if (!json_is_true(all) && !json_is_string(ident))
        ret = sim_reply_error(con, 400, "invalid_request_error",
                              "identifier: missing or not a string");
    else if (sim_model_unload(json_is_true(all) ? NULL : json_string_value(ident)) == -1)
        ret = sim_reply_error(con, 404, "invalid_request_error",
                              "identifier: no loaded model %.300s", json_string_value(ident));
    else
        ret = sim_reply_json(con, 200, json_pack("{s:b}", "ok", 1));
    json_decref(o);
    return ret;
}

static enum MHD_Result
h_fault(struct MHD_Connection *con, struct req *r, uint64_t t)
{
    static const char *const allowed[] = {"key", "fault", NULL};
    char err[SIM_ERR_MAX];
    enum MHD_Result ret;
    json_t *o = body_object(con, r, &ret);

    if (o == NULL)
        return ret;
    if (only_fields(o, allowed, err, sizeof(err)) == -1)
        ret = sim_reply_error(con, 400, "invalid_request_error", "%s", err);
    else if (!json_is_string(json_object_get(o, "key")))
        ret =
            sim_reply_error(con, 400, "invalid_request_error", "key: missing or not a string");
    else if (sim_model_set_fault(json_string_value(json_object_get(o, "key")),
                                 json_object_get(o, "fault"), err, sizeof(err)) == -1)
        ret = sim_reply_error(con, strncmp(err, "key:", 4) == 0 ? 404 : 400,
                              "invalid_request_error", "%s", err);
    else
        ret = sim_reply_json(con, 200, json_pack("{s:b}", "ok", 1));
    json_decref(o);
    return ret;
}

static const struct route routes[] = {
    {"GET", "/v1/models", h_models},
    {"GET", "/lmstudio-greeting", h_greeting},
    {"GET", "/api/v0/models", h_v0_models},
    {"POST", "/v1/chat/completions", h_chat},
    {"POST", "/api/v0/chat/completions", h_chat_v0},
    {"GET", "/sim/log", h_log_get},
    {"DELETE", "/sim/log", h_log_delete},
    {"GET", "/sim/state", h_state},
    {"POST", "/sim/models", h_put_model},
    {"POST", "/sim/load", h_load},
    {"POST", "/sim/unload", h_unload},
    {"POST", "/sim/fault", h_fault},
    {NULL, NULL, NULL},
};

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct req *r = *con_cls;
    const struct route *rt;
    size_t ncap;
    char *nb;
    int path_known = 0;

    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (r->too_large || r->len + *upload_size > SIM_BODY_MAX) {
            r->too_large = 1;
        } else {
            if (r->len + *upload_size + 1 > r->cap) {
                ncap = (r->len + *upload_size + 1) * 2;
                ncap = ncap > SIM_BODY_MAX + 1 ? SIM_BODY_MAX + 1 : ncap;
                nb = realloc(r->body, ncap);
                if (nb == NULL)
                    return MHD_NO;
                r->body = nb;
                r->cap = ncap;
            }
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
            r->body[r->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return sim_reply_error(con, 413, "invalid_request_error", "body: larger than %d bytes",
                               SIM_BODY_MAX);
    for (rt = routes; rt->path != NULL; rt++) {
        if (strcmp(rt->path, url) != 0)
            continue;
        path_known = 1;
        if (strcmp(rt->method, method) == 0)
            return rt->fn(con, r, sim_now_ns());
    }
    if (path_known)
        return sim_reply_error(con, 405, "invalid_request_error",
                               "method %.16s not allowed on %.200s", method, url);
    return sim_reply_error(con, 404, "invalid_request_error", "no route %.16s %.200s", method,
                           url);
}

static void
on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;

    if (r != NULL) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

struct MHD_Daemon *
sim_http_start(const char *bind_addr, int port, int *port_out)
{
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "tpsd-sim: bad --bind address %s\n", bind_addr);
        return NULL;
    }
    d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)SIM_CONN_LIMIT,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)SIM_STACK_SIZE,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SIM_CONN_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_END);
    if (d == NULL)
        return NULL;
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? info->port : port;
    return d;
}

/* backend.c - see backend.h: the dispatch and what all backends share. */
#include "daemon/backend.h"

#include "common/clock.h"
#include "daemon/client.h"
#include "daemon/http1.h"
#include "daemon/httpbody.h"
#include "daemon/log.h"
#include "daemon/spawn.h"
#include "daemon/sysmem.h"
#include "daemon/curl_dl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKEND_HTTP_CONNECT_MS 2000 /* /v1/models: connect */
#define BACKEND_HTTP_TOTAL_MS 5000   /* /v1/models: whole request */
#define BACKEND_POLL_MS 20           /* /v1/models poll period while loading */
#define BACKEND_AUTH_MAX (BACKEND_STR_MAX + 32)

static const struct {
    enum backend_code code;
    const char *name;
} backend_codes[] = {
    {BACKEND_OK, "ok"},
    {BACKEND_LMS_NOT_FOUND, "lms_not_found"},
    {BACKEND_LMS_FAILED, "lms_failed"},
    {BACKEND_LOAD_TIMEOUT, "load_timeout"},
    {BACKEND_LMS_BAD_JSON, "lms_bad_json"},
    {BACKEND_SERVER_UNREACHABLE, "server_unreachable"},
    {BACKEND_MODEL_NOT_FOUND, "model_not_found"},
    {BACKEND_INSUFFICIENT_MEMORY, "insufficient_memory"},
    {BACKEND_MODEL_MISMATCH, "model_mismatch"},
    {BACKEND_UNLOAD_FAILED, "unload_failed"},
    {BACKEND_COMMAND_FAILED, "command_failed"},
    {BACKEND_CANCELLED, "cancelled"},
    {BACKEND_BAD_CONFIG, "bad_config"},
    {BACKEND_INTERNAL, "internal"},
    {BACKEND_SERVER_BUSY, "server_busy"},
    {BACKEND_VARIANT_NOT_LOADABLE, "variant_not_loadable"},
    {BACKEND_CONTEXT_TOO_SMALL, "context_too_small"},
};

static const struct {
    const char *name;
    const struct backend_ops *ops;
} backend_types[] = {
#define BACKEND_TYPE_ENTRY(name, ops) {#name, &ops},
    BACKEND_TYPES(BACKEND_TYPE_ENTRY)
#undef BACKEND_TYPE_ENTRY
};

const char *
backend_code_name(enum backend_code code)
{
    size_t i;

    for (i = 0; i < sizeof(backend_codes) / sizeof(backend_codes[0]); i++) {
        if (backend_codes[i].code == code)
            return backend_codes[i].name;
    }
    return "internal";
}

int
backend_fail(struct backend_err *err, enum backend_code code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
    return -1;
}

void
backend_reason(struct backend_preflight *pf, enum backend_code code, const char *fmt, ...)
{
    struct backend_err *e;
    va_list ap;

    if (pf->nreasons == BACKEND_REASONS_MAX) {
        pf->nomitted++;
        return;
    }
    e = &pf->reasons[pf->nreasons++];
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
}

/* A NULL-terminated deep copy of a NULL-terminated array, or NULL for NULL.
 * Sets *oom on allocation failure or more than BACKEND_ARGV_MAX entries. */
static char **
backend_strv_dup(const char *const *v, int *oom)
{
    char **c;
    int n = 0, i;

    if (v == NULL)
        return NULL;
    while (v[n] != NULL)
        n++;
    if (n > BACKEND_ARGV_MAX) {
        *oom = 1;
        return NULL;
    }
    c = calloc((size_t)n + 1, sizeof(*c));
    if (c == NULL) {
        *oom = 1;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        c[i] = strdup(v[i]);
        if (c[i] == NULL) {
            *oom = 1;
            break;
        }
    }
    return c;
}

static void
backend_strv_free(char **v)
{
    int i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

struct backend *
backend_new(const char *type, const struct backend_cfg *cfg, struct backend_err *err)
{
    const struct backend_ops *ops = NULL;
    struct backend *b = NULL;
    size_t i;
    int bad = 0;

    for (i = 0; i < sizeof(backend_types) / sizeof(backend_types[0]); i++) {
        if (type != NULL && strcmp(type, backend_types[i].name) == 0)
            ops = backend_types[i].ops;
    }
    if (ops == NULL) {
        backend_fail(err, BACKEND_BAD_CONFIG, "unknown backend type \"%s\" (%s)",
                     type ? type : "(null)", BACKEND_TYPES_COMMA);
        return NULL;
    }
    if ((ops->caps & BACKEND_NEEDS_LOAD_CMD) &&
        (cfg->load_cmd == NULL || cfg->load_cmd[0] == NULL)) {
        backend_fail(err, BACKEND_BAD_CONFIG, "command backend without a load command");
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        backend_fail(err, BACKEND_INTERNAL, "out of memory");
        return NULL;
    }
    b->ops = ops;
    b->cfg = *cfg;
    b->load_cmd = backend_strv_dup(cfg->load_cmd, &bad);
    b->unload_cmd = backend_strv_dup(cfg->unload_cmd, &bad);
    b->env = backend_strv_dup(cfg->env, &bad);
    b->cfg.load_cmd = (const char *const *)b->load_cmd;
    b->cfg.unload_cmd = (const char *const *)b->unload_cmd;
    b->cfg.env = (const char *const *)b->env;
    if (bad) {
        backend_free(b);
        backend_fail(err, BACKEND_BAD_CONFIG,
                     "command or environment too long (max %d entries) or out of memory",
                     BACKEND_ARGV_MAX);
        return NULL;
    }
    return b;
}

void
backend_free(struct backend *b)
{
    if (b == NULL)
        return;
    if (b->ops != NULL && b->ops->free != NULL)
        b->ops->free(b);
    backend_strv_free(b->load_cmd);
    backend_strv_free(b->unload_cmd);
    backend_strv_free(b->env);
    free(b);
}

int
backend_prepare(struct backend *b, struct backend_err *err)
{
    return b->ops->prepare(b, err);
}

int
backend_preflight(struct backend *b, const char *const *models, int nmodels,
                  struct backend_preflight *pf)
{
    char q[LOG_QUOTE_MAX];
    int i;

    memset(pf, 0, sizeof(*pf));
    if (nmodels > 0) {
        pf->models = calloc((size_t)nmodels, sizeof(*pf->models));
        if (pf->models == NULL) {
            backend_reason(pf, BACKEND_INTERNAL, "out of memory");
            return -1;
        }
        pf->nmodels = nmodels;
        for (i = 0; i < nmodels; i++)
            snprintf(pf->models[i].key, sizeof(pf->models[i].key), "%s", models[i]);
    }
    b->ops->preflight(b, models, nmodels, pf);
    for (i = 0; i < pf->nreasons; i++)
        log_warnx("preflight: failed backend=%s code=%s detail=\"%s\"", b->ops->name,
                  backend_code_name(pf->reasons[i].code),
                  log_quote(q, sizeof(q), pf->reasons[i].detail));
    return pf->nreasons == 0 ? 0 : -1;
}

void
backend_preflight_free(struct backend_preflight *pf)
{
    if (pf == NULL)
        return;
    free(pf->models);
    pf->models = NULL;
    pf->nmodels = 0;
}

int
backend_load(struct backend *b, const char *model, struct backend_load *res,
             struct backend_err *err)
{
    char q1[LOG_QUOTE_MAX], q2[LOG_QUOTE_MAX];
    int rc;

    memset(res, 0, sizeof(*res));
    memset(err, 0, sizeof(*err));
    rc = b->ops->load(b, model, res, err);
    if (rc == 0)
        log_info("backend: loaded backend=%s model=\"%s\" id=\"%s\" load_ms=%lld ready_ms=%lld",
                 b->ops->name, log_quote(q1, sizeof(q1), model),
                 log_quote(q2, sizeof(q2), res->served_id), (long long)res->load_ms,
                 (long long)res->load_ready_ms);
    else
        log_warnx("backend: load failed backend=%s model=\"%s\" code=%s detail=\"%s\"",
                  b->ops->name, log_quote(q1, sizeof(q1), model), backend_code_name(err->code),
                  log_quote(q2, sizeof(q2), err->detail));
    return rc;
}

int
backend_unload(struct backend *b, const char *id, struct backend_err *err)
{
    memset(err, 0, sizeof(*err));
    return b->ops->unload(b, id, err);
}

int
backend_list_loaded(struct backend *b, struct backend_loaded *out, struct backend_err *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    return b->ops->list_loaded(b, out, err);
}

int
backend_can(const struct backend *b, unsigned cap)
{
    return (b->ops->caps & cap) != 0;
}

json_t *
backend_describe(struct backend *b)
{
    return b->ops->describe(b);
}

int
backend_load_timeout_ms(const struct backend *b)
{
    return b->cfg.load_timeout_ms > 0 ? b->cfg.load_timeout_ms : BACKEND_LOAD_TIMEOUT_MS;
}

int
backend_cmd_timeout_ms(const struct backend *b)
{
    return b->cfg.cmd_timeout_ms > 0 ? b->cfg.cmd_timeout_ms : BACKEND_CMD_TIMEOUT_MS;
}

/* ---- subprocesses ---- */

int
backend_run(struct backend *b, const char *path, char *const *argv, int timeout_ms,
            int first_signal, size_t out_max, struct spawn_result *r)
{
    struct spawn_env env;
    struct spawn_opts o;
    int rc, i;

    if (spawn_env_minimal(&env) == -1) {
        memset(r, 0, sizeof(*r));
        r->errnum = ENOMEM;
        snprintf(r->error, sizeof(r->error), "out of memory");
        return -1;
    }
    for (i = 0; b->env != NULL && b->env[i] != NULL; i++) {
        char name[256];
        const char *eq = strchr(b->env[i], '=');

        if (eq == NULL || (size_t)(eq - b->env[i]) >= sizeof(name))
            continue;
        memcpy(name, b->env[i], (size_t)(eq - b->env[i]));
        name[eq - b->env[i]] = '\0';
        if (spawn_env_set(&env, name, eq + 1) == -1)
            log_warnx("backend: environment entry dropped name=%s", name);
    }
    memset(&o, 0, sizeof(o));
    o.path = path;
    o.argv = argv;
    o.envp = env.vars;
    o.timeout_ms = timeout_ms;
    o.first_signal = first_signal;
    o.out_max = out_max;
    o.cancel = b->cfg.cancel;
    rc = spawn_run(&o, r);
    spawn_env_free(&env);
    return rc;
}

/* ---- the server's /v1/models ---- */

/*
 * GET url with libcurl (https, a proxy, URLs the direct path leaves
 * alone): *status and *body (caller frees) on 0, else -1 with err set.
 * How: one easy handle with the bearer token header, connect and total
 * timeouts, no redirects, the body gathered by httpbody up to
 * BACKEND_HTTP_MAX; the handle is set up (client_curl_init) only here.
 */
static int
models_get_curl(struct backend *b, const char *url, long *status, char **body, size_t *body_len,
                struct backend_err *err)
{
    char auth[BACKEND_AUTH_MAX];
    struct httpbody hb = {NULL, 0, BACKEND_HTTP_MAX, 0};
    struct curl_slist *hdrs = NULL;
    CURLcode cc;
    CURL *c = client_curl_init() == 0 ? curl_easy_init() : NULL;
    int result = -1;

    if (c == NULL) {
        /* libcurl's reason: not loadable (curl_dl.h), or out of memory */
        backend_fail(err, BACKEND_INTERNAL, "%s", curl_easy_strerror(CURLE_FAILED_INIT));
        goto out;
    }
    if (b->cfg.server_token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", b->cfg.server_token);
        hdrs = curl_slist_append(NULL, auth);
        if (hdrs == NULL) {
            backend_fail(err, BACKEND_INTERNAL, "out of memory");
            goto out;
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)BACKEND_HTTP_CONNECT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)BACKEND_HTTP_TOTAL_MS);
    httpbody_collect(c, &hb);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        backend_fail(err, BACKEND_SERVER_UNREACHABLE, "GET %s: %s%s", url,
                     curl_easy_strerror(cc), hb.overflow ? " (body over the cap)" : "");
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    *body = hb.data;
    *body_len = hb.len;
    hb.data = NULL;
    result = 0;
out:
    curl_slist_free_all(hdrs);
    if (c != NULL)
        curl_easy_cleanup(c);
    free(hb.data);
    return result;
}

/* GET url: over daemon/http1 when the URL is a plain http one (no libcurl
 * call at all), else libcurl. As models_get_curl. */
static int
models_get(struct backend *b, const char *url, long *status, char **body, size_t *body_len,
           struct backend_err *err)
{
    struct httpbody hb = {NULL, 0, BACKEND_HTTP_MAX, 0};
    struct http1_url u;
    char msg[HTTP1_ERR_MAX];
    int st = 0;

    if (http1_mine(url, &u) == -1)
        return models_get_curl(b, url, status, body, body_len, err);
    if (http1_get(url, b->cfg.server_token, BACKEND_HTTP_CONNECT_MS, BACKEND_HTTP_TOTAL_MS,
                  httpbody_add, &hb, &st, msg, sizeof(msg)) == -1) {
        backend_fail(err, BACKEND_SERVER_UNREACHABLE, "GET %s: %s%s", url, msg,
                     hb.overflow ? " (body over the cap)" : "");
        free(hb.data);
        return -1;
    }
    *status = st;
    *body = hb.data;
    *body_len = hb.len;
    return 0;
}

/*
 * How: base_url without its trailing '/' plus /v1/models, fetched by
 * models_get (direct or libcurl); anything but a 200 whose body has a
 * "data" array is the server unreachable; the ids are the string "id"s of
 * that array, others skipped.
 */
int
backend_server_models(struct backend *b, json_t **ids, struct backend_err *err)
{
    char url[BACKEND_STR_MAX + 32];
    char *body = NULL;
    json_t *root = NULL, *data, *out = NULL, *item;
    json_error_t jerr;
    size_t base_len, body_len = 0, i;
    long status = 0;
    int result = -1;

    *ids = NULL;
    base_len = strlen(b->cfg.base_url);
    while (base_len > 0 && b->cfg.base_url[base_len - 1] == '/')
        base_len--;
    if (base_len == 0) {
        backend_fail(err, BACKEND_SERVER_UNREACHABLE, "no server base_url configured");
        goto out;
    }
    snprintf(url, sizeof(url), "%.*s/v1/models", (int)base_len, b->cfg.base_url);
    if (models_get(b, url, &status, &body, &body_len, err) == -1)
        goto out;
    if (status != 200) {
        backend_fail(err, BACKEND_SERVER_UNREACHABLE, "GET %s: HTTP %ld%s", url, status,
                     status == 401 ? " (server token missing or wrong)" : "");
        goto out;
    }
    root = json_loadb(body != NULL ? body : "", body_len, 0, &jerr);
    data = root != NULL ? json_object_get(root, "data") : NULL;
    if (!json_is_array(data)) {
        backend_fail(err, BACKEND_SERVER_UNREACHABLE, "GET %s: no \"data\" array in the answer",
                     url);
        goto out;
    }
    out = json_array();
    if (out == NULL) {
        backend_fail(err, BACKEND_INTERNAL, "out of memory");
        goto out;
    }
    json_array_foreach(data, i, item)
    {
        json_t *id = json_object_get(item, "id");

        if (json_is_string(id))
            json_array_append(out, id);
    }
    *ids = out;
    out = NULL;
    result = 0;
out:
    json_decref(out);
    json_decref(root);
    free(body);
    return result;
}

int
backend_prepare_nothing(struct backend *b, struct backend_err *err)
{
    b->prepared = 1;
    return 0;
}

int
backend_ids_have(const json_t *ids, const char *id)
{
    size_t i;
    json_t *v;

    json_array_foreach(ids, i, v)
    {
        if (strcmp(json_string_value(v), id) == 0)
            return 1;
    }
    return 0;
}

int
backend_wait_listed(struct backend *b, const char *id, int64_t deadline_ns, int64_t *ready_ns,
                    struct backend_err *err)
{
    struct backend_err last;
    json_t *ids = NULL;
    int answered = 0, nlisted = 0;
    char listed[BACKEND_DETAIL_MAX / 2] = "";

    memset(&last, 0, sizeof(last));
    for (;;) {
        if (b->cfg.cancel != NULL && *b->cfg.cancel != 0)
            return backend_fail(err, BACKEND_CANCELLED, "cancelled while waiting for %s", id);
        if (backend_server_models(b, &ids, &last) == 0) {
            size_t i;
            json_t *v;

            answered = 1;
            if (backend_ids_have(ids, id)) {
                *ready_ns = clock_mono_ns();
                json_decref(ids);
                return 0;
            }
            listed[0] = '\0';
            nlisted = (int)json_array_size(ids);
            json_array_foreach(ids, i, v)
            {
                size_t l = strlen(listed);

                snprintf(listed + l, sizeof(listed) - l, "%s\"%s\"", l ? ", " : "",
                         json_string_value(v));
            }
            json_decref(ids);
            ids = NULL;
        }
        if (clock_mono_ns() >= deadline_ns)
            break;
        clock_sleep_until(clock_mono_ns() + (int64_t)BACKEND_POLL_MS * 1000000);
    }
    if (!answered)
        return backend_fail(err, BACKEND_SERVER_UNREACHABLE, "%s", last.detail);
    if (nlisted > 0)
        return backend_fail(err, BACKEND_MODEL_MISMATCH,
                            "server does not serve \"%s\"; it serves %s", id, listed);
    return backend_fail(err, BACKEND_LOAD_TIMEOUT, "\"%s\" never appeared in /v1/models", id);
}

void
backend_check_memory(struct backend *b, struct backend_preflight *pf, uint64_t freed_bytes)
{
    struct sysmem m = {0, 0};
    uint64_t headroom, usable;
    int i, pct;

    if (b->cfg.mem_total_bytes == 0 || b->cfg.mem_available_bytes == 0) {
        if (sysmem_read(&m) == -1) {
            log_warn("preflight: cannot read memory figures; memory not checked");
            return;
        }
    }
    if (b->cfg.mem_total_bytes != 0)
        m.total_bytes = b->cfg.mem_total_bytes;
    if (b->cfg.mem_available_bytes != 0)
        m.available_bytes = b->cfg.mem_available_bytes;
    pf->mem_total_bytes = m.total_bytes;
    pf->mem_available_bytes = m.available_bytes;
    pct = b->cfg.memory_headroom_pct;
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    headroom = m.total_bytes / 100 * (uint64_t)pct;
    usable = m.available_bytes + freed_bytes;
    usable = usable > headroom ? usable - headroom : 0;
    for (i = 0; i < pf->nmodels; i++) {
        const struct backend_model_info *mi = &pf->models[i];
        uint64_t need = mi->estimate_bytes > 0 ? mi->estimate_bytes : mi->size_bytes;

        if (!mi->found || mi->not_loadable || need == 0)
            continue;
        if (need > usable)
            backend_reason(pf, BACKEND_INSUFFICIENT_MEMORY,
                           "\"%s\" needs %.1f GB (%s); %.1f GB available (%.1f GB free + "
                           "%.1f GB loaded models, minus %d%% headroom of %.1f GB)",
                           mi->key, need / 1e9,
                           mi->estimate_bytes > 0 ? "lms estimate" : "model size", usable / 1e9,
                           m.available_bytes / 1e9, freed_bytes / 1e9, pct,
                           m.total_bytes / 1e9);
    }
}

int
backend_server_list_loaded(struct backend *b, struct backend_loaded *out,
                           struct backend_err *err)
{
    json_t *ids = NULL, *v;
    size_t i;

    if (backend_server_models(b, &ids, err) == -1)
        return -1;
    json_array_foreach(ids, i, v)
    {
        struct backend_loaded_model *m;

        if (out->n == BACKEND_LOADED_MAX)
            break;
        m = &out->m[out->n++];
        snprintf(m->identifier, sizeof(m->identifier), "%s", json_string_value(v));
        m->queued = -1;
    }
    json_decref(ids);
    return 0;
}

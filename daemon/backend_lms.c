/* backend_lms.c - the "lms" backend: LM Studio's CLI. See backend.h. */
#include "daemon/backend.h"

#include "daemon/clock.h"
#include "daemon/log.h"
#include "daemon/spawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LMS_NUM_MAX 32 /* a number formatted for argv */
#define LMS_SETTLE_MS 2000 /* lms load returned: the model is listed by then */

/* Resolve lms: the configured path (absolute, or a name on PATH), else lms on
 * our PATH, else ~/.lmstudio/bin/lms (launchd's PATH will not have it). */
static int
lms_prepare(struct backend *b, struct backend_err *err)
{
    char pathvar[BACKEND_STR_MAX + 8], home_lms[BACKEND_STR_MAX];
    char *envp[2] = {pathvar, NULL};
    const char *path = getenv("PATH"), *home = getenv("HOME");

    if (b->prepared)
        return 0;
    snprintf(pathvar, sizeof(pathvar), "PATH=%s", path ? path : "/usr/bin:/bin");
    if (b->cfg.lms[0] != '\0') {
        if (spawn_which(b->cfg.lms, envp, b->lms_path, sizeof(b->lms_path)) == -1)
            return backend_fail(err, BACKEND_LMS_NOT_FOUND, "configured lms \"%s\": %s",
                                b->cfg.lms, strerror(errno));
    } else if (spawn_which("lms", envp, b->lms_path, sizeof(b->lms_path)) == -1) {
        snprintf(home_lms, sizeof(home_lms), "%s/.lmstudio/bin/lms", home ? home : "");
        if (home == NULL || spawn_which(home_lms, envp, b->lms_path, sizeof(b->lms_path)) == -1)
            return backend_fail(err, BACKEND_LMS_NOT_FOUND,
                                "lms is neither on PATH nor at %s (set the lms option)",
                                home_lms);
    }
    b->prepared = 1;
    return 0;
}

/*
 * Run lms with args (NULL-terminated) under `timeout_ms`. Returns 0 when it
 * exited 0 (*r filled; caller frees), else -1 with err: lms_not_found,
 * `timeout_code` when killed at the deadline, cancelled, or `fail_code` for a
 * non-zero exit or a signal (with the stderr tail); r is freed then.
 */
static int
lms_exec(struct backend *b, const char *const *args, int timeout_ms, enum backend_code fail_code,
         enum backend_code timeout_code, struct spawn_result *r, struct backend_err *err)
{
    char *argv[BACKEND_ARGV_MAX + 2];
    char tail[BACKEND_TAIL_MAX + 1], cmd[128];
    int n = 0;

    memset(r, 0, sizeof(*r));
    if (lms_prepare(b, err) == -1)
        return -1;
    argv[n++] = "lms";
    for (; args[n - 1] != NULL && n <= BACKEND_ARGV_MAX; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    /* "lms load", "lms ls --json": the verb and its first flag, for details. */
    snprintf(cmd, sizeof(cmd), "lms %s%s%s", args[0] ? args[0] : "",
             args[0] && args[1] && args[1][0] == '-' ? " " : "",
             args[0] && args[1] && args[1][0] == '-' ? args[1] : "");
    if (backend_run(b, b->lms_path, argv, timeout_ms, r) == -1) {
        int e = r->errnum;

        spawn_result_free(r);
        return backend_fail(err, e == ENOENT || e == EACCES ? BACKEND_LMS_NOT_FOUND
                                                             : BACKEND_INTERNAL,
                            "%s: %s", cmd, r->error);
    }
    if (r->cancelled) {
        spawn_result_free(r);
        return backend_fail(err, BACKEND_CANCELLED, "%s: cancelled", cmd);
    }
    spawn_capture_tail(r->err.len > 0 ? &r->err : &r->out, BACKEND_TAIL_MAX, tail, sizeof(tail));
    if (r->timed_out) {
        backend_fail(err, timeout_code, "%s: killed after %d ms (deadline): %s", cmd, timeout_ms,
                     tail);
        spawn_result_free(r);
        return -1;
    }
    if (r->how == SPAWN_SIGNALED) {
        backend_fail(err, fail_code, "%s: killed by signal %d: %s", cmd, r->signo, tail);
        spawn_result_free(r);
        return -1;
    }
    if (r->exit_code != 0) {
        backend_fail(err, fail_code, "%s: exit status %d: %s", cmd, r->exit_code, tail);
        spawn_result_free(r);
        return -1;
    }
    return 0;
}

/* ---- lms ls --json / lms ps --json ---- */

/*
 * Parse lms JSON output: an array of objects (or an object holding one under
 * "models" or "data"). Returns the array (new reference), or NULL with
 * err lms_bad_json.
 */
static json_t *
lms_parse_list(const char *cmd, const struct spawn_result *r, struct backend_err *err)
{
    json_error_t jerr;
    json_t *root, *arr;
    json_t *v;
    size_t i;

    if (r->out.dropped > 0) {
        backend_fail(err, BACKEND_LMS_BAD_JSON, "%s: output over %d bytes", cmd,
                     SPAWN_CAPTURE_MAX);
        return NULL;
    }
    root = json_loadb(r->out.data, r->out.len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        backend_fail(err, BACKEND_LMS_BAD_JSON, "%s: not JSON (line %d: %s)", cmd, jerr.line,
                     jerr.text);
        return NULL;
    }
    arr = root;
    if (json_is_object(root)) {
        arr = json_object_get(root, "models");
        if (arr == NULL)
            arr = json_object_get(root, "data");
    }
    if (!json_is_array(arr)) {
        backend_fail(err, BACKEND_LMS_BAD_JSON, "%s: expected a JSON array of models", cmd);
        json_decref(root);
        return NULL;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_object(v)) {
            backend_fail(err, BACKEND_LMS_BAD_JSON, "%s: entry %zu is not an object", cmd, i);
            json_decref(root);
            return NULL;
        }
    }
    json_incref(arr);
    json_decref(root);
    return arr;
}

/* Field `name` of o as a string: 0 and *out (borrowed, NULL when absent or
 * null), or -1 with err when it has another type. */
static int
lms_get_str(const json_t *o, const char *name, const char **out, struct backend_err *err)
{
    json_t *v = json_object_get(o, name);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return backend_fail(err, BACKEND_LMS_BAD_JSON, "field \"%s\" is not a string", name);
    *out = json_string_value(v);
    return 0;
}

/* Field `name` as a non-negative number (integer or real): 0 and *out (0
 * when absent), or -1 with err. */
static int
lms_get_num(const json_t *o, const char *name, uint64_t *out, struct backend_err *err)
{
    json_t *v = json_object_get(o, name);

    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1.8e19) {
        *out = (uint64_t)json_real_value(v);
        return 0;
    }
    return backend_fail(err, BACKEND_LMS_BAD_JSON, "field \"%s\" is not a non-negative number",
                        name);
}

/* The model key of one lms entry: modelKey, else path. */
static int
lms_entry_key(const json_t *o, const char **key, const char **path, struct backend_err *err)
{
    if (lms_get_str(o, "modelKey", key, err) == -1 || lms_get_str(o, "path", path, err) == -1)
        return -1;
    return 0;
}

/* Fill mi from an `lms ls --json` entry. 0, or -1 with err (wrong types). */
static int
lms_fill_info(const json_t *o, struct backend_model_info *mi, struct backend_err *err)
{
    const char *format, *arch, *params, *quant = NULL;
    json_t *q = json_object_get(o, "quantization");
    uint64_t ctx;

    if (lms_get_num(o, "sizeBytes", &mi->size_bytes, err) == -1 ||
        lms_get_str(o, "format", &format, err) == -1 ||
        lms_get_str(o, "architecture", &arch, err) == -1 ||
        lms_get_str(o, "paramsString", &params, err) == -1 ||
        lms_get_num(o, "maxContextLength", &ctx, err) == -1)
        return -1;
    /* quantization: a string, or {"name": "Q4_K_S", "bits": 4}. */
    if (json_is_string(q))
        quant = json_string_value(q);
    else if (json_is_object(q) && lms_get_str(q, "name", &quant, err) == -1)
        return -1;
    else if (q != NULL && !json_is_null(q) && !json_is_object(q))
        return backend_fail(err, BACKEND_LMS_BAD_JSON, "field \"quantization\" has a bad type");
    snprintf(mi->format, sizeof(mi->format), "%s", format ? format : "");
    snprintf(mi->arch, sizeof(mi->arch), "%s", arch ? arch : "");
    snprintf(mi->params, sizeof(mi->params), "%s", params ? params : "");
    snprintf(mi->quant, sizeof(mi->quant), "%s", quant ? quant : "");
    mi->max_context_length = (long)ctx;
    mi->found = 1;
    return 0;
}

/* Run `lms <what> --json` and parse it. Array (new ref) or NULL with err. */
static json_t *
lms_list(struct backend *b, const char *what, struct backend_err *err)
{
    const char *args[] = {what, "--json", NULL};
    struct spawn_result r;
    char cmd[32];
    json_t *arr;

    snprintf(cmd, sizeof(cmd), "lms %s --json", what);
    if (lms_exec(b, args, backend_cmd_timeout_ms(b), BACKEND_LMS_FAILED, BACKEND_LMS_FAILED, &r,
                 err) == -1)
        return NULL;
    arr = lms_parse_list(cmd, &r, err);
    spawn_result_free(&r);
    return arr;
}

static int
lms_ps(struct backend *b, struct backend_loaded *out, uint64_t *bytes, struct backend_err *err)
{
    struct backend_err fe;
    json_t *arr = lms_list(b, "ps", err), *o;
    size_t i;
    int result = -1;

    if (bytes != NULL)
        *bytes = 0;
    if (arr == NULL)
        return -1;
    json_array_foreach(arr, i, o) {
        struct backend_loaded_model *m;
        const char *ident, *key, *path, *status;
        uint64_t size;
        json_t *q;

        if (lms_get_str(o, "identifier", &ident, &fe) == -1 ||
            lms_entry_key(o, &key, &path, &fe) == -1 ||
            lms_get_str(o, "status", &status, &fe) == -1 ||
            lms_get_num(o, "sizeBytes", &size, &fe) == -1) {
            backend_fail(err, BACKEND_LMS_BAD_JSON, "lms ps --json: entry %zu: %s", i,
                         fe.detail);
            goto out;
        }
        if (bytes != NULL)
            *bytes += size;
        if (out == NULL || out->n == BACKEND_LOADED_MAX)
            continue;
        m = &out->m[out->n++];
        snprintf(m->identifier, sizeof(m->identifier), "%s", ident ? ident : "");
        snprintf(m->model_key, sizeof(m->model_key), "%s", key ? key : path ? path : "");
        snprintf(m->status, sizeof(m->status), "%s", status ? status : "");
        m->queued = -1;
        q = json_object_get(o, "queued");
        if (q == NULL)
            q = json_object_get(o, "queuedRequests");
        if (json_is_integer(q))
            m->queued = (long)json_integer_value(q);
        else if (json_is_array(q))
            m->queued = (long)json_array_size(q);
    }
    result = 0;
out:
    json_decref(arr);
    return result;
}

static int
lms_list_loaded(struct backend *b, struct backend_loaded *out, struct backend_err *err)
{
    return lms_ps(b, out, NULL, err);
}

/* `lms version`: first non-empty line into b->version. 0 or -1 with err. */
static int
lms_version(struct backend *b, struct backend_err *err)
{
    const char *args[] = {"version", NULL};
    struct spawn_result r;
    const char *p, *end;

    if (lms_exec(b, args, backend_cmd_timeout_ms(b), BACKEND_LMS_FAILED, BACKEND_LMS_FAILED, &r,
                 err) == -1)
        return -1;
    p = r.out.data;
    while (*p == '\n' || *p == '\r' || *p == ' ')
        p++;
    end = strchr(p, '\n');
    snprintf(b->version, sizeof(b->version), "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
    spawn_result_free(&r);
    return 0;
}

static int
lms_unload(struct backend *b, const char *id, struct backend_err *err)
{
    const char *all[] = {"unload", "--all", NULL};
    const char *one[] = {"unload", id, NULL};
    struct spawn_result r;

    if (lms_exec(b, id ? one : all, backend_cmd_timeout_ms(b), BACKEND_UNLOAD_FAILED,
                 BACKEND_UNLOAD_FAILED, &r, err) == -1)
        return -1;
    spawn_result_free(&r);
    return 0;
}

/* After a load: lms ps must show `id` as `key`. 0 or -1 with err. */
static int
lms_verify(struct backend *b, const char *key, const char *id, struct backend_err *err)
{
    struct backend_loaded *ld = calloc(1, sizeof(*ld));
    int i, result = -1, found = 0;

    if (ld == NULL)
        return backend_fail(err, BACKEND_INTERNAL, "out of memory");
    if (lms_ps(b, ld, NULL, err) == -1)
        goto out;
    for (i = 0; i < ld->n; i++) {
        if (strcmp(ld->m[i].identifier, id) != 0)
            continue;
        found = 1;
        if (ld->m[i].model_key[0] != '\0' && strcmp(ld->m[i].model_key, key) != 0) {
            backend_fail(err, BACKEND_MODEL_MISMATCH,
                         "\"%s\" is loaded as \"%s\", not the requested \"%s\"", id,
                         ld->m[i].model_key, key);
            goto out;
        }
    }
    if (!found && ld->n > 0) {
        backend_fail(err, BACKEND_MODEL_MISMATCH,
                     "lms ps does not list \"%s\"; it lists \"%s\" (%s)", id, ld->m[0].identifier,
                     ld->m[0].model_key);
        goto out;
    }
    result = 0;
out:
    free(ld);
    return result;
}

static int
lms_load(struct backend *b, const char *model, struct backend_load *res, struct backend_err *err)
{
    const char *args[BACKEND_ARGV_MAX];
    char ctx[LMS_NUM_MAX], ttl[LMS_NUM_MAX];
    const char *id = b->cfg.identifier[0] != '\0' ? b->cfg.identifier : model;
    int timeout = backend_load_timeout_ms(b), n = 0;
    struct spawn_result r;
    int64_t t0, ready, deadline;

    if (lms_unload(b, NULL, err) == -1)
        return -1;
    args[n++] = "load";
    args[n++] = model; /* one element, whatever it holds */
    args[n++] = "-y";
    if (b->cfg.context_length > 0) {
        snprintf(ctx, sizeof(ctx), "%ld", b->cfg.context_length);
        args[n++] = "--context-length";
        args[n++] = ctx;
    }
    if (b->cfg.gpu[0] != '\0') {
        args[n++] = "--gpu";
        args[n++] = b->cfg.gpu;
    }
    if (b->cfg.identifier[0] != '\0') {
        args[n++] = "--identifier";
        args[n++] = b->cfg.identifier;
    }
    if (b->cfg.ttl_s > 0) {
        snprintf(ttl, sizeof(ttl), "%ld", b->cfg.ttl_s);
        args[n++] = "--ttl";
        args[n++] = ttl;
    }
    args[n] = NULL;
    t0 = clock_mono_ns();
    if (lms_exec(b, args, timeout, BACKEND_LMS_FAILED, BACKEND_LOAD_TIMEOUT, &r, err) == -1)
        return -1;
    res->load_ms = r.elapsed_ms;
    spawn_result_free(&r);
    /* lms load returns once the model is loaded: it is listed at once, or
     * something else is served (model_mismatch) without waiting for long. */
    deadline = clock_mono_ns() + (int64_t)LMS_SETTLE_MS * 1000000;
    if (deadline > t0 + (int64_t)timeout * 1000000)
        deadline = t0 + (int64_t)timeout * 1000000;
    if (backend_wait_listed(b, id, deadline, &ready, err) == -1)
        return -1;
    res->load_ready_ms = (ready - t0) / 1000000;
    if (lms_verify(b, model, id, err) == -1)
        return -1;
    snprintf(res->served_id, sizeof(res->served_id), "%s", id);
    return 0;
}

/*
 * `lms load --estimate-only KEY [--context-length N] [--gpu X]`: the
 * "Estimated Total Memory: 12.34 GB" line into *bytes. 0, or -1 when lms
 * cannot estimate (older lms, unknown output): the caller then uses the size.
 */
static int
lms_estimate(struct backend *b, const char *key, uint64_t *bytes)
{
    const char *args[BACKEND_ARGV_MAX];
    char ctx[LMS_NUM_MAX];
    struct spawn_result r;
    struct backend_err e;
    const char *p;
    double v;
    char *end;
    int n = 0, result = -1;

    *bytes = 0;
    args[n++] = "load";
    args[n++] = "--estimate-only";
    args[n++] = key;
    if (b->cfg.context_length > 0) {
        snprintf(ctx, sizeof(ctx), "%ld", b->cfg.context_length);
        args[n++] = "--context-length";
        args[n++] = ctx;
    }
    if (b->cfg.gpu[0] != '\0') {
        args[n++] = "--gpu";
        args[n++] = b->cfg.gpu;
    }
    args[n] = NULL;
    if (lms_exec(b, args, backend_cmd_timeout_ms(b), BACKEND_LMS_FAILED, BACKEND_LMS_FAILED, &r,
                 &e) == -1) {
        log_debug("preflight: no memory estimate for \"%s\": %s", key, e.detail);
        return -1;
    }
    p = strstr(r.out.data, "Estimated Total Memory:");
    if (p != NULL) {
        p += strlen("Estimated Total Memory:");
        errno = 0;
        v = strtod(p, &end);
        while (*end == ' ')
            end++;
        if (errno == 0 && end != p && v > 0) {
            if (strncmp(end, "GB", 2) == 0)
                v *= 1e9;
            else if (strncmp(end, "GiB", 3) == 0)
                v *= 1073741824.0;
            else if (strncmp(end, "MB", 2) == 0)
                v *= 1e6;
            else if (strncmp(end, "MiB", 3) == 0)
                v *= 1048576.0;
            else
                v = 0;
            if (v > 0 && v < 1.8e19) {
                *bytes = (uint64_t)v;
                result = 0;
            }
        }
    }
    spawn_result_free(&r);
    return result;
}

static int
lms_preflight(struct backend *b, const char *const *models, int nmodels,
              struct backend_preflight *pf)
{
    struct backend_err e;
    struct backend_loaded *ld = NULL;
    json_t *ids = NULL, *ls = NULL, *o;
    uint64_t loaded_bytes = 0;
    int lms_ok = 1, i;
    size_t j;

    memset(&e, 0, sizeof(e));
    if (lms_prepare(b, &e) == -1 || lms_version(b, &e) == -1) {
        backend_reason(pf, e.code, "%s", e.detail);
        lms_ok = 0;
    }
    snprintf(pf->version, sizeof(pf->version), "%s", b->version);

    if (backend_server_models(b, &ids, &e) == -1) {
        if (b->cfg.allow_server_start && lms_ok) {
            const char *args[] = {"server", "start", NULL};
            struct spawn_result r;
            struct backend_err se;

            log_info("preflight: server unreachable, running lms server start");
            if (lms_exec(b, args, backend_cmd_timeout_ms(b), BACKEND_LMS_FAILED,
                         BACKEND_LMS_FAILED, &r, &se) == 0) {
                spawn_result_free(&r);
                snprintf(pf->notes, sizeof(pf->notes),
                         "server was unreachable; started it with lms server start. ");
                if (backend_server_models(b, &ids, &e) == -1)
                    backend_reason(pf, BACKEND_SERVER_UNREACHABLE,
                                   "still unreachable after lms server start: %s", e.detail);
            } else {
                backend_reason(pf, BACKEND_SERVER_UNREACHABLE, "%s; lms server start: %s",
                               e.detail, se.detail);
            }
        } else {
            backend_reason(pf, BACKEND_SERVER_UNREACHABLE, "%s%s", e.detail,
                           b->cfg.allow_server_start ? "" : " (allow_server_start is off)");
        }
    }
    json_decref(ids);

    if (lms_ok) {
        ls = lms_list(b, "ls", &e);
        if (ls == NULL)
            backend_reason(pf, e.code, "%s", e.detail);
    }
    for (i = 0; ls != NULL && i < nmodels; i++) {
        struct backend_model_info *mi = &pf->models[i];

        json_array_foreach(ls, j, o) {
            const char *key, *path;

            if (lms_entry_key(o, &key, &path, &e) == -1) {
                backend_reason(pf, BACKEND_LMS_BAD_JSON, "lms ls --json: entry %zu: %s", j,
                               e.detail);
                break;
            }
            if ((key != NULL && strcmp(key, models[i]) == 0) ||
                (path != NULL && strcmp(path, models[i]) == 0)) {
                if (lms_fill_info(o, mi, &e) == -1)
                    backend_reason(pf, BACKEND_LMS_BAD_JSON, "lms ls --json: \"%s\": %s",
                                   models[i], e.detail);
                break;
            }
        }
        if (mi->found)
            lms_estimate(b, models[i], &mi->estimate_bytes);
        if (!mi->found)
            backend_reason(pf, BACKEND_MODEL_NOT_FOUND,
                           "\"%s\" is not among the %zu models lms ls lists", models[i],
                           json_array_size(ls));
    }
    json_decref(ls);

    /* What is loaded now will be unloaded first: its memory counts as free.
     * A busy server means someone else is using it: say so. */
    if (lms_ok) {
        ld = calloc(1, sizeof(*ld));
        if (ld != NULL && lms_ps(b, ld, &loaded_bytes, &e) == 0) {
            for (i = 0; i < ld->n; i++) {
                size_t l = strlen(pf->notes);

                if ((ld->m[i].status[0] != '\0' && strcmp(ld->m[i].status, "idle") != 0) ||
                    ld->m[i].queued > 0)
                    snprintf(pf->notes + l, sizeof(pf->notes) - l,
                             "loaded model \"%s\" is busy (status %s, %ld queued): someone "
                             "else is using the server. ",
                             ld->m[i].identifier, ld->m[i].status, ld->m[i].queued);
            }
        } else if (ld != NULL) {
            log_warnx("preflight: lms ps failed: %s", e.detail);
            loaded_bytes = 0;
        }
        free(ld);
    }
    backend_check_memory(b, pf, loaded_bytes);
    return pf->nreasons == 0 ? 0 : -1;
}

static json_t *
lms_describe(struct backend *b)
{
    struct backend_err e;

    if (b->version[0] == '\0' && lms_version(b, &e) == -1)
        log_warnx("backend: lms version failed: %s", e.detail);
    return json_pack("{s:s, s:s, s:s, s:s}", "type", "lms", "lms_path", b->lms_path,
                     "lms_version", b->version, "base_url", b->cfg.base_url);
}

static void
lms_free(struct backend *b)
{
    (void)b;
}

const struct backend_ops backend_lms_ops = {
    "lms", lms_prepare, lms_preflight, lms_load, lms_unload, lms_list_loaded, lms_describe,
    lms_free,
};

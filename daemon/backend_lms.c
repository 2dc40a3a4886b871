/*
 * backend_lms.c - the "lms" backend: LM Studio's CLI. See backend.h.
 *
 * How it follows the real lms (lmstudio-ai/lms, the .ts files of src/subcommands):
 *   - only --json results are read from stdout; logs, errors and the
 *     --estimate-only figure are on stderr (src/logLevel.ts);
 *   - a model is resolved against `lms ls --json` before anything is
 *     unloaded: an exact key, an exact path (loaded with --exact, the only
 *     way lms matches a path since 2026-01), or a variant key "base@quant"
 *     that is the base model's selectedVariant (loading the base key loads
 *     the selected variant: ModelInfoBase.selectedVariant in lmstudio-js).
 *     Another variant cannot be loaded through lms at all (load.ts matches
 *     only base keys; lms#588, lmstudio-bug-tracker#1462): that model fails
 *     with variant_not_loadable and the job goes on;
 *   - every load and estimate passes -y (several matching keys would open an
 *     interactive picker) and stdin is /dev/null (spawn.c);
 *   - a load is verified with `lms ps --json` (identifier, modelKey, status),
 *     never with /v1/models, which lists every downloaded model when LM
 *     Studio's just-in-time loading is on (its default);
 *   - `lms unload <id>` of an unknown id prints an error and exits 0
 *     (unload.ts): every unload is verified with lms ps;
 *   - another client's work (ps status processingPrompt/generating, or
 *     queued > 0) is waited for, bounded, before anything is unloaded;
 *   - a load stopped at its deadline gets SIGINT first: lms cancels the load
 *     on SIGINT (load.ts, sigintListener), then SIGTERM, then SIGKILL;
 *   - --host/--port come from base_url (createClient.ts): --port alone for a
 *     loopback host (lms stays the local privileged client), both for a
 *     remote one; `lms server start` takes --port only (server.ts).
 */
#include "daemon/backend.h"

#include "common/clock.h"
#include "daemon/lms_parse.h"
#include "daemon/log.h"
#include "daemon/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LMS_NUM_MAX 32                  /* a number formatted for argv */
#define LMS_JSON_MAX (16 * 1024 * 1024) /* lms ls/ps --json kept: thousands of models */
#define LMS_BUSY_POLL_MS 500            /* lms ps period while the server is busy */
#define LMS_LIST_MAX 400                /* variant keys quoted in a detail */

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
    if (b->cfg.lms.path[0] != '\0') {
        if (spawn_which(b->cfg.lms.path, envp, b->lms_path, sizeof(b->lms_path)) == -1)
            return backend_fail(err, BACKEND_LMS_NOT_FOUND, "configured lms \"%s\": %s",
                                b->cfg.lms.path, strerror(errno));
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

/* Where lms should connect, from base_url: "--port P" for a loopback host,
 * "--host H --port P" for another (createClient.ts); nothing when base_url
 * cannot be read (lms then finds the local LM Studio itself). */
struct lms_target {
    char host[LMS_PARSE_HOST_MAX];
    char port[LMS_NUM_MAX];
    int ok, loopback;
};

static void
lms_target_get(const struct backend *b, struct lms_target *t)
{
    int port = 0;

    memset(t, 0, sizeof(*t));
    if (lms_parse_target(b->cfg.base_url, t->host, sizeof(t->host), &port, &t->loopback) == 0 &&
        strchr(t->host, ':') == NULL) {
        snprintf(t->port, sizeof(t->port), "%d", port);
        t->ok = 1;
    } else if (t->loopback) {
        /* ::1: lms refuses a host holding ':'; --port alone means 127.0.0.1. */
        snprintf(t->port, sizeof(t->port), "%d", port);
        t->ok = 1;
    }
}

/* Append the target's --host/--port to args[*n] (room for 4 more). */
static void
lms_target_args(const struct lms_target *t, const char **args, int *n)
{
    if (!t->ok)
        return;
    if (!t->loopback) {
        args[(*n)++] = "--host";
        args[(*n)++] = t->host;
    }
    args[(*n)++] = "--port";
    args[(*n)++] = t->port;
}

/* How lms_exec runs one command. */
struct lms_call {
    int timeout_ms;
    int first_signal;            /* 0 = SIGTERM */
    size_t out_max;              /* 0 = SPAWN_CAPTURE_MAX */
    enum backend_code fail_code; /* non-zero exit or a signal */
    enum backend_code timeout_code;
};

/*
 * Run lms with args (NULL-terminated) as `c` says. Returns 0 when it exited
 * 0 (*r filled; caller frees), else -1 with err: lms_not_found,
 * c->timeout_code when stopped at the deadline, cancelled, or c->fail_code
 * for a non-zero exit or a signal (with the stderr tail); r is freed then.
 */
static int
lms_exec(struct backend *b, const char *const *args, const struct lms_call *c,
         struct spawn_result *r, struct backend_err *err)
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
    if (backend_run(b, b->lms_path, argv, c->timeout_ms, c->first_signal, c->out_max, r) ==
        -1) {
        int e = r->errnum;

        backend_fail(err, e == ENOENT || e == EACCES ? BACKEND_LMS_NOT_FOUND : BACKEND_INTERNAL,
                     "%s: %s", cmd, r->error);
        spawn_result_free(r);
        return -1;
    }
    if (r->cancelled) {
        spawn_result_free(r);
        return backend_fail(err, BACKEND_CANCELLED, "%s: cancelled", cmd);
    }
    spawn_capture_tail(r->err.len > 0 ? &r->err : &r->out, BACKEND_TAIL_MAX, tail,
                       sizeof(tail));
    if (r->timed_out)
        backend_fail(err, c->timeout_code,
                     "%s: stopped after %d ms (deadline; SIGINT first): %s", cmd, c->timeout_ms,
                     tail);
    else if (r->how == SPAWN_SIGNALED)
        backend_fail(err, c->fail_code, "%s: killed by signal %d: %s", cmd, r->signo, tail);
    else if (r->exit_code != 0)
        backend_fail(err, c->fail_code, "%s: exit status %d: %s", cmd, r->exit_code, tail);
    else
        return 0;
    spawn_result_free(r);
    return -1;
}

/* lms_exec of a short command (ls, ps, version, unload) failing with `code`. */
static int
lms_exec_cmd(struct backend *b, const char *const *args, size_t out_max, enum backend_code code,
             struct spawn_result *r, struct backend_err *err)
{
    struct lms_call c = {backend_cmd_timeout_ms(b), 0, out_max, code, code};

    return lms_exec(b, args, &c, r, err);
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
        backend_fail(err, BACKEND_LMS_BAD_JSON, "%s: output over %d bytes (LMS_JSON_MAX)", cmd,
                     LMS_JSON_MAX);
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
    json_array_foreach(arr, i, v)
    {
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

/* Run `lms <what> [arg] --json [--host H] --port P` and parse it. Array
 * (new ref) or NULL with err. */
static json_t *
lms_list(struct backend *b, const char *what, const char *arg, struct backend_err *err)
{
    const char *args[12];
    struct lms_target t;
    struct spawn_result r;
    char cmd[BACKEND_KEY_MAX + 32];
    json_t *arr;
    int n = 0;

    lms_target_get(b, &t);
    args[n++] = what;
    if (arg != NULL)
        args[n++] = arg;
    args[n++] = "--json";
    lms_target_args(&t, args, &n);
    args[n] = NULL;
    snprintf(cmd, sizeof(cmd), "lms %s%s%s --json", what, arg ? " " : "", arg ? arg : "");
    if (lms_exec_cmd(b, args, LMS_JSON_MAX, BACKEND_LMS_FAILED, &r, err) == -1)
        return NULL;
    arr = lms_parse_list(cmd, &r, err);
    spawn_result_free(&r);
    return arr;
}

/* The `queued` of a ps entry (ModelProcessingState.queued in lmstudio-js:
 * requests in the queue, the running one included); -1 when absent. */
static long
lms_queued(const json_t *o)
{
    json_t *q = json_object_get(o, "queued");

    if (json_is_integer(q))
        return (long)json_integer_value(q);
    if (json_is_real(q))
        return (long)json_real_value(q);
    if (json_is_array(q))
        return (long)json_array_size(q);
    return -1;
}

/* `lms ps --json` into out (may be NULL) and the loaded bytes into *bytes
 * (may be NULL). 0, or -1 with err. */
static int
lms_ps(struct backend *b, struct backend_loaded *out, uint64_t *bytes, struct backend_err *err)
{
    struct backend_err fe;
    json_t *arr = lms_list(b, "ps", NULL, err), *o;
    size_t i;
    int result = -1;

    if (bytes != NULL)
        *bytes = 0;
    if (arr == NULL)
        return -1;
    json_array_foreach(arr, i, o)
    {
        struct backend_loaded_model *m;
        const char *ident, *key, *path, *status;
        uint64_t size;

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
        m->queued = lms_queued(o);
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

/* `lms version`: the CLI commit (lms_parse_version) into b->version; never
 * the logo art it prints first. 0 or -1 with err. */
static int
lms_version(struct backend *b, struct backend_err *err)
{
    const char *args[] = {"version", NULL};
    struct spawn_result r;

    if (lms_exec_cmd(b, args, 0, BACKEND_LMS_FAILED, &r, err) == -1)
        return -1;
    if (lms_parse_version(r.out.data, b->version, sizeof(b->version)) == -1 &&
        lms_parse_version(r.err.data, b->version, sizeof(b->version)) == -1)
        log_warnx("backend: lms version printed no \"CLI commit:\" line; version unknown");
    spawn_result_free(&r);
    return 0;
}

/* Index of the instance in ld with identifier id, or -1. */
static int
lms_find_ident(const struct backend_loaded *ld, const char *id)
{
    int i;

    for (i = 0; i < ld->n; i++) {
        if (strcmp(ld->m[i].identifier, id) == 0)
            return i;
    }
    return -1;
}

/*
 * `lms unload <id>` or `lms unload --all`, then lms ps: exit 0 is no proof
 * (an unknown identifier prints an error and exits 0, unload.ts), so the
 * identifier (or everything) must be gone from ps. 0, or -1 with err
 * (unload_failed, lms_*, cancelled).
 */
static int
lms_unload(struct backend *b, const char *id, struct backend_err *err)
{
    const char *args[8];
    char tail[BACKEND_TAIL_MAX + 1], q[LOG_QUOTE_MAX];
    struct backend_loaded *ld = NULL;
    struct lms_target t;
    struct spawn_result r;
    int n = 0, result = -1;

    lms_target_get(b, &t);
    args[n++] = "unload";
    args[n++] = id != NULL ? id : "--all";
    lms_target_args(&t, args, &n);
    args[n] = NULL;
    if (lms_exec_cmd(b, args, 0, BACKEND_UNLOAD_FAILED, &r, err) == -1)
        return -1;
    spawn_capture_tail(&r.err, BACKEND_TAIL_MAX, tail, sizeof(tail));
    spawn_result_free(&r);
    ld = calloc(1, sizeof(*ld));
    if (ld == NULL)
        return backend_fail(err, BACKEND_INTERNAL, "out of memory");
    if (lms_ps(b, ld, NULL, err) == -1)
        goto out;
    if (id != NULL && lms_find_ident(ld, id) >= 0) {
        backend_fail(err, BACKEND_UNLOAD_FAILED,
                     "lms unload exited 0 but lms ps still lists \"%s\": %s", id, tail);
        goto out;
    }
    if (id == NULL && ld->n > 0) {
        backend_fail(err, BACKEND_UNLOAD_FAILED,
                     "lms unload --all exited 0 but lms ps still lists %d model(s), "
                     "e.g. \"%s\": %s",
                     ld->n, ld->m[0].identifier, tail);
        goto out;
    }
    if (id != NULL && strstr(tail, "Cannot find") != NULL)
        log_warnx("backend: lms unload: \"%s\" was not loaded: %s", id,
                  log_quote(q, sizeof(q), tail));
    result = 0;
out:
    free(ld);
    return result;
}

/* 1 when an instance in ld is busy (status other than idle, or requests
 * queued), with a description in desc. */
static int
lms_busy(const struct backend_loaded *ld, char *desc, size_t len)
{
    int i;

    for (i = 0; i < ld->n; i++) {
        const struct backend_loaded_model *m = &ld->m[i];

        if ((m->status[0] != '\0' && strcmp(m->status, "idle") != 0) || m->queued > 0) {
            snprintf(desc, len, "\"%s\" is %s with %ld request(s) queued", m->identifier,
                     m->status[0] ? m->status : "busy", m->queued > 0 ? m->queued : 0);
            return 1;
        }
    }
    return 0;
}

/* How long to wait for a busy server (ms; 0 = not at all). */
static int
lms_busy_wait_ms(const struct backend *b)
{
    if (b->cfg.lms.busy_wait_ms < 0)
        return 0;
    return b->cfg.lms.busy_wait_ms > 0 ? b->cfg.lms.busy_wait_ms : BACKEND_BUSY_WAIT_MS;
}

/*
 * Wait until no loaded model is busy (lms ps --json: status and queued), at
 * most lms_busy_wait_ms. Nothing is unloaded under another client.
 * 0, or -1 with err: server_busy (still busy at the end), cancelled, lms_*.
 */
static int
lms_wait_idle(struct backend *b, struct backend_err *err)
{
    struct backend_loaded *ld = calloc(1, sizeof(*ld));
    char desc[BACKEND_DETAIL_MAX / 2];
    int64_t t0 = clock_mono_ns(), limit = (int64_t)lms_busy_wait_ms(b) * 1000000;
    int result = -1, logged = 0;

    if (ld == NULL)
        return backend_fail(err, BACKEND_INTERNAL, "out of memory");
    for (;;) {
        memset(ld, 0, sizeof(*ld));
        if (lms_ps(b, ld, NULL, err) == -1)
            goto out;
        if (!lms_busy(ld, desc, sizeof(desc))) {
            result = 0;
            goto out;
        }
        if (clock_mono_ns() - t0 >= limit) {
            backend_fail(err, BACKEND_SERVER_BUSY,
                         "another client is using the server: %s; waited %lld s (busy_wait_s); "
                         "nothing was unloaded",
                         desc, (long long)((clock_mono_ns() - t0) / 1000000000));
            goto out;
        }
        if (!logged++)
            log_info("backend: server busy, waiting up to %d s: %s", lms_busy_wait_ms(b) / 1000,
                     desc);
        if (b->cfg.cancel != NULL && *b->cfg.cancel != 0) {
            backend_fail(err, BACKEND_CANCELLED, "cancelled while the server was busy");
            goto out;
        }
        clock_sleep_until(clock_mono_ns() + (int64_t)LMS_BUSY_POLL_MS * 1000000);
    }
out:
    free(ld);
    return result;
}
/* ---- what to load for a requested model ---- */

/* How a requested model is loaded: `lms load [--exact] <load_key>`, after
 * which lms ps shows an instance of expect_key. */
struct lms_resolved {
    char load_key[BACKEND_KEY_MAX];
    int exact;                        /* load_key is a path: pass --exact */
    char expect_key[BACKEND_KEY_MAX]; /* modelKey of the loaded instance */
    const json_t *entry;              /* the lms ls entry (borrowed) */
};

/* A string of the JSON array `a` equal (case aside) to s, or NULL. */
static const char *
lms_array_find(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && strcasecmp(json_string_value(v), s) == 0)
            return json_string_value(v);
    }
    return NULL;
}

/* Fill res for entry o loaded by load_key: the instance will be the
 * selected variant when the model has variants (list.ts counts a loaded
 * instance on the variant row whose modelKey it carries). */
static void
lms_resolved_set(struct lms_resolved *res, const json_t *o, const char *load_key, int exact)
{
    json_t *sel = json_object_get(o, "selectedVariant");
    json_t *key = json_object_get(o, "modelKey");

    snprintf(res->load_key, sizeof(res->load_key), "%s", load_key);
    res->exact = exact;
    snprintf(res->expect_key, sizeof(res->expect_key), "%s",
             json_is_string(sel)   ? json_string_value(sel)
             : json_is_string(key) ? json_string_value(key)
                                   : load_key);
    res->entry = o;
}

/* `model` names a variant ("base@quant") of entry o: load it when it is the
 * selected one, else variant_not_loadable naming the variants. */
static int
lms_resolve_variant(const json_t *o, const char *model, struct lms_resolved *res,
                    struct backend_err *err)
{
    json_t *vars = json_object_get(o, "variants"), *sel = json_object_get(o, "selectedVariant"),
           *v;
    const char *base = json_string_value(json_object_get(o, "modelKey"));
    char list[LMS_LIST_MAX] = "";
    size_t i;

    res->entry = o;
    if (json_is_string(sel) && strcasecmp(json_string_value(sel), model) == 0) {
        lms_resolved_set(res, o, base, 0);
        return 0;
    }
    json_array_foreach(vars, i, v)
    {
        size_t l = strlen(list);

        snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", json_string_value(v));
    }
    if (lms_array_find(vars, model) == NULL)
        return backend_fail(err, BACKEND_MODEL_NOT_FOUND,
                            "\"%s\" is not a variant of \"%s\" (its variants: %s)", model, base,
                            list);
    return backend_fail(
        err, BACKEND_VARIANT_NOT_LOADABLE,
        "\"%s\" is a variant of \"%s\" (variants: %s; selected: %s), and lms can "
        "load only the selected variant (lms load takes base keys: lms#588). "
        "In LM Studio, open My Models, pick %s as the selected variant of %s, "
        "and run again; the job's other models ran",
        model, base, list, json_is_string(sel) ? json_string_value(sel) : "none", model, base);
}

/*
 * Resolve `model` against the lms ls --json array: its modelKey (exact, then
 * case aside: lms's fuzzy matcher ranks an exact key first, case aside), its
 * path (loaded with --exact), or a variant key of a listed model. 0 with
 * res, or -1 with err: model_not_found, variant_not_loadable (res->entry is
 * the base model then).
 */
static int
lms_resolve(const json_t *ls, const char *model, struct lms_resolved *res,
            struct backend_err *err)
{
    const char *key, *path, *at = strrchr(model, '@');
    struct backend_err fe;
    size_t i, baselen = at != NULL ? (size_t)(at - model) : 0;
    int pass;
    json_t *o;

    memset(res, 0, sizeof(*res));
    for (pass = 0; pass < 3; pass++) {
        json_array_foreach(ls, i, o)
        {
            if (lms_entry_key(o, &key, &path, &fe) == -1)
                return backend_fail(err, BACKEND_LMS_BAD_JSON, "lms ls --json: entry %zu: %s",
                                    i, fe.detail);
            if (pass == 0 && key != NULL && strcmp(key, model) == 0) {
                lms_resolved_set(res, o, model, 0);
                return 0;
            }
            if (pass == 1 && key != NULL && strcasecmp(key, model) == 0) {
                lms_resolved_set(res, o, key, 0);
                return 0;
            }
            if (pass == 1 && path != NULL && strcmp(path, model) == 0) {
                lms_resolved_set(res, o, path, 1);
                return 0;
            }
            if (pass == 2 && at != NULL && key != NULL && strlen(key) == baselen &&
                strncasecmp(key, model, baselen) == 0)
                return lms_resolve_variant(o, model, res, err);
        }
    }
    return backend_fail(
        err, BACKEND_MODEL_NOT_FOUND,
        "\"%s\" is not among the %zu models lms ls lists (keys, paths, variants)", model,
        json_array_size(ls));
}

/* `lms ls --json` and lms_resolve. 0, or -1 with err. */
static int
lms_resolve_now(struct backend *b, const char *model, struct lms_resolved *res,
                struct backend_err *err)
{
    json_t *ls = lms_list(b, "ls", NULL, err);
    int rc;

    if (ls == NULL)
        return -1;
    rc = lms_resolve(ls, model, res, err);
    res->entry = NULL; /* ls is freed here */
    json_decref(ls);
    return rc;
}

/* ---- load ---- */

/*
 * After a load: lms ps must list an instance of the expected model (under
 * our --identifier when one was given). An empty list is refused. Its
 * identifier goes to served (BACKEND_KEY_MAX). 0 or -1 with err.
 */
static int
lms_verify(struct backend *b, const struct lms_resolved *res, char *served,
           struct backend_err *err)
{
    struct backend_loaded *ld = calloc(1, sizeof(*ld));
    const char *want_id = b->cfg.identifier;
    int i, result = -1, hit = -1;

    if (ld == NULL)
        return backend_fail(err, BACKEND_INTERNAL, "out of memory");
    if (lms_ps(b, ld, NULL, err) == -1)
        goto out;
    if (ld->n == 0) {
        backend_fail(err, BACKEND_LMS_FAILED,
                     "lms load exited 0 but lms ps --json lists no loaded model");
        goto out;
    }
    for (i = 0; i < ld->n && hit < 0; i++) {
        if (want_id[0] != '\0' ? strcmp(ld->m[i].identifier, want_id) == 0
                               : strcasecmp(ld->m[i].model_key, res->expect_key) == 0)
            hit = i;
    }
    if (hit < 0) {
        backend_fail(
            err, BACKEND_MODEL_MISMATCH, "lms ps does not list \"%s\"; it lists \"%s\" (%s)",
            want_id[0] ? want_id : res->expect_key, ld->m[0].identifier, ld->m[0].model_key);
        goto out;
    }
    if (strcasecmp(ld->m[hit].model_key, res->expect_key) != 0) {
        backend_fail(err, BACKEND_MODEL_MISMATCH,
                     "\"%s\" is loaded as \"%s\", not the requested \"%s\"",
                     ld->m[hit].identifier, ld->m[hit].model_key, res->expect_key);
        goto out;
    }
    snprintf(served, BACKEND_KEY_MAX, "%s", ld->m[hit].identifier);
    result = 0;
out:
    free(ld);
    return result;
}

/* The argv of `lms load` for res (and --estimate-only when estimate) into
 * args (BACKEND_ARGV_MAX entries); ctx and ttl hold the numbers. */
static void
lms_load_args(const struct backend *b, const struct lms_resolved *res, int estimate,
              const struct lms_target *t, const char **args, char ctx[LMS_NUM_MAX],
              char ttl[LMS_NUM_MAX])
{
    int n = 0;

    args[n++] = "load";
    if (res->exact)
        args[n++] = "--exact";
    args[n++] = res->load_key; /* one element, whatever it holds */
    if (estimate)
        args[n++] = "--estimate-only";
    args[n++] = "-y"; /* several matches would open an interactive picker */
    if (b->cfg.context_length > 0) {
        snprintf(ctx, LMS_NUM_MAX, "%ld", b->cfg.context_length);
        args[n++] = "--context-length";
        args[n++] = ctx;
    }
    if (b->cfg.lms.gpu[0] != '\0') {
        args[n++] = "--gpu";
        args[n++] = b->cfg.lms.gpu;
    }
    if (!estimate && b->cfg.identifier[0] != '\0') {
        args[n++] = "--identifier";
        args[n++] = b->cfg.identifier;
    }
    if (!estimate && b->cfg.lms.ttl_s > 0) {
        snprintf(ttl, LMS_NUM_MAX, "%ld", b->cfg.lms.ttl_s);
        args[n++] = "--ttl";
        args[n++] = ttl;
    }
    lms_target_args(t, args, &n);
    args[n] = NULL;
}

static int
lms_load(struct backend *b, const char *model, struct backend_load *res,
         struct backend_err *err)
{
    const char *args[BACKEND_ARGV_MAX];
    char ctx[LMS_NUM_MAX], ttl[LMS_NUM_MAX];
    struct lms_resolved rv;
    struct lms_target t;
    struct lms_call c = {backend_load_timeout_ms(b), SIGINT, 0, BACKEND_LMS_FAILED,
                         BACKEND_LOAD_TIMEOUT};
    struct spawn_result r;
    int64_t t0;

    /* Nothing is unloaded before the model is known to be loadable and the
     * server is free. */
    if (lms_resolve_now(b, model, &rv, err) == -1 || lms_wait_idle(b, err) == -1 ||
        lms_unload(b, NULL, err) == -1)
        return -1;
    lms_target_get(b, &t);
    lms_load_args(b, &rv, 0, &t, args, ctx, ttl);
    t0 = clock_mono_ns();
    if (lms_exec(b, args, &c, &r, err) == -1)
        return -1;
    res->load_ms = r.elapsed_ms;
    spawn_result_free(&r);
    if (lms_verify(b, &rv, res->served_id, err) == -1)
        return -1;
    res->load_ready_ms = (clock_mono_ns() - t0) / 1000000;
    return 0;
}

/*
 * `lms load <key> --estimate-only -y [--context-length N] [--gpu X]`: the
 * "Estimated Total Memory" (model plus context) that lms prints on stderr,
 * into *bytes. 0, or -1 when lms cannot estimate (older lms, unknown
 * output): the caller then uses the size.
 */
static int
lms_estimate(struct backend *b, const struct lms_resolved *rv, uint64_t *bytes)
{
    const char *args[BACKEND_ARGV_MAX];
    char ctx[LMS_NUM_MAX], ttl[LMS_NUM_MAX];
    struct lms_target t;
    struct spawn_result r;
    struct backend_err e;
    int result;

    *bytes = 0;
    lms_target_get(b, &t);
    lms_load_args(b, rv, 1, &t, args, ctx, ttl);
    if (lms_exec_cmd(b, args, 0, BACKEND_LMS_FAILED, &r, &e) == -1) {
        log_debug("preflight: no memory estimate for \"%s\": %s", rv->load_key, e.detail);
        return -1;
    }
    result = lms_parse_estimate(r.err.data, bytes);
    if (result == -1)
        result = lms_parse_estimate(r.out.data, bytes);
    spawn_result_free(&r);
    return result;
}
/* ---- preflight ---- */

/* Append a note to pf->notes, truncating. */
static void lms_note(struct backend_preflight *pf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lms_note(struct backend_preflight *pf, const char *fmt, ...)
{
    size_t l = strlen(pf->notes);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(pf->notes + l, sizeof(pf->notes) - l, fmt, ap);
    va_end(ap);
}

/* Check 1: lms is found and runs (`lms version`, whose commit becomes the
 * preflight's version). 0, or -1 with the reason added. */
static int
lms_preflight_cli(struct backend *b, struct backend_preflight *pf)
{
    struct backend_err e;

    memset(&e, 0, sizeof(e));
    if (lms_prepare(b, &e) == -1 || lms_version(b, &e) == -1) {
        backend_reason(pf, e.code, "%s", e.detail);
        return -1;
    }
    return 0;
}

/* Check 2: the server answers (GET /v1/models: with just-in-time loading it
 * lists every downloaded model, so only reachability is read), else `lms
 * server start --port P` when allowed and the server is local. */
static void
lms_preflight_server(struct backend *b, int lms_ok, struct backend_preflight *pf)
{
    struct backend_err e, se;
    struct spawn_result r;
    struct lms_target t;
    json_t *ids = NULL;
    const char *args[6];
    int n = 0;

    if (backend_server_models(b, &ids, &e) == 0) {
        json_decref(ids);
        return;
    }
    lms_target_get(b, &t);
    if (!b->cfg.lms.allow_server_start || !lms_ok || !t.ok || !t.loopback) {
        backend_reason(pf, BACKEND_SERVER_UNREACHABLE, "%s%s", e.detail,
                       !b->cfg.lms.allow_server_start ? " (allow_server_start is off)"
                       : !lms_ok                      ? ""
                                 : " (not a local server: lms cannot start it)");
        return;
    }
    args[n++] = "server";
    args[n++] = "start";
    args[n++] = "--port"; /* server.ts: start takes --port, not --host */
    args[n++] = t.port;
    args[n] = NULL;
    log_info("preflight: server unreachable, running lms server start --port %s", t.port);
    if (lms_exec_cmd(b, args, 0, BACKEND_LMS_FAILED, &r, &se) == -1) {
        backend_reason(pf, BACKEND_SERVER_UNREACHABLE, "%s; lms server start: %s", e.detail,
                       se.detail);
        return;
    }
    spawn_result_free(&r);
    lms_note(pf, "server was unreachable; started it with lms server start --port %s. ",
             t.port);
    if (backend_server_models(b, &ids, &e) == -1)
        backend_reason(pf, BACKEND_SERVER_UNREACHABLE,
                       "still unreachable after lms server start: %s", e.detail);
    json_decref(ids);
}

/* Check 3: every model against lms ls --json: facts, estimate; unknown ones
 * are reasons, unloadable variants only notes (their run fails alone). */
static void
lms_preflight_models(struct backend *b, const char *const *models, int nmodels,
                     struct backend_preflight *pf)
{
    struct backend_err e;
    struct lms_resolved rv;
    json_t *ls = lms_list(b, "ls", NULL, &e);
    int i;

    if (ls == NULL) {
        backend_reason(pf, e.code, "%s", e.detail);
        return;
    }
    for (i = 0; i < nmodels; i++) {
        struct backend_model_info *mi = &pf->models[i];

        if (lms_resolve(ls, models[i], &rv, &e) == -1) {
            if (e.code != BACKEND_VARIANT_NOT_LOADABLE) {
                backend_reason(pf, e.code, "%s", e.detail);
                continue;
            }
            mi->found = 1;
            mi->not_loadable = 1;
            lms_note(pf, "\"%s\" will fail alone: %s. ", models[i], e.detail);
            continue;
        }
        if (lms_fill_info(rv.entry, mi, &e) == -1) {
            backend_reason(pf, BACKEND_LMS_BAD_JSON, "lms ls --json: \"%s\": %s", models[i],
                           e.detail);
            continue;
        }
        if (lms_estimate(b, &rv, &mi->estimate_bytes) == -1 && b->cfg.context_length > 0)
            lms_note(pf, "no lms estimate for \"%s\": its size is checked, %s. ", models[i],
                     "without the context's memory");
    }
    json_decref(ls);
}

/* Check 4: memory enough. When everything else checked out, another
 * client's work is waited for (bounded); what is loaded then will be
 * unloaded first, so its memory counts as free. */
static void
lms_preflight_memory(struct backend *b, int lms_ok, struct backend_preflight *pf)
{
    struct backend_err e;
    uint64_t loaded_bytes = 0;

    if (lms_ok && pf->nreasons == 0) {
        if (lms_wait_idle(b, &e) == -1)
            backend_reason(pf, e.code, "%s", e.detail);
        else if (lms_ps(b, NULL, &loaded_bytes, &e) == -1)
            log_warnx("preflight: lms ps failed: %s", e.detail);
    }
    backend_check_memory(b, pf, loaded_bytes);
}

/* The four checks in order; all run (but those that need lms only when it
 * runs), so every failure is reported at once. */
static int
lms_preflight(struct backend *b, const char *const *models, int nmodels,
              struct backend_preflight *pf)
{
    int lms_ok = lms_preflight_cli(b, pf) == 0;

    snprintf(pf->version, sizeof(pf->version), "%s", b->version);
    lms_preflight_server(b, lms_ok, pf);
    if (lms_ok)
        lms_preflight_models(b, models, nmodels, pf);
    lms_preflight_memory(b, lms_ok, pf);
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
    "lms",      BACKEND_CAN_UNLOAD, lms_prepare,  lms_preflight, lms_load,
    lms_unload, lms_list_loaded,    lms_describe, lms_free,
};

/* backend_command.c - the "command" backend: user-configured argv templates
 * for load and unload; {model}, {identifier} and {context_length} are
 * substituted inside an element, which stays ONE element (no shell, no
 * splitting). See backend.h. */
#include "daemon/backend.h"

#include "common/clock.h"
#include "daemon/log.h"
#include "daemon/spawn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMMAND_ARG_MAX 4096 /* one substituted argv element */

static const char *command_vars[] = {"{model}", "{identifier}", "{context_length}"};

/* Substitute the variables in template `t` into out. 0, or -1 if too long. */
static int
command_subst(const char *t, const char *const vals[3], char *out, size_t outlen)
{
    size_t o = 0, i;

    while (*t != '\0') {
        const char *val = NULL;
        size_t skip = 1, vlen;

        for (i = 0; i < 3; i++) {
            size_t l = strlen(command_vars[i]);

            if (strncmp(t, command_vars[i], l) == 0) {
                val = vals[i];
                skip = l;
                break;
            }
        }
        if (val == NULL) {
            val = t;
            vlen = 1;
        } else {
            vlen = strlen(val);
        }
        if (o + vlen >= outlen)
            return -1;
        memcpy(out + o, val, vlen);
        o += vlen;
        t += skip;
    }
    out[o] = '\0';
    return 0;
}

/* Run template `tmpl` for `model`. 0 on exit 0, else -1 with err
 * (command_failed; load_timeout for a killed load; cancelled). */
static int
command_exec(struct backend *b, char **tmpl, const char *model, int timeout_ms,
             enum backend_code timeout_code, enum backend_code fail_code, int64_t *elapsed_ms,
             struct backend_err *err)
{
    char *argv[BACKEND_ARGV_MAX + 1];
    char ctx[32], tail[BACKEND_TAIL_MAX + 1];
    const char *vals[3];
    struct spawn_result r;
    int n, result = -1;

    memset(argv, 0, sizeof(argv));
    snprintf(ctx, sizeof(ctx), "%ld", b->cfg.context_length);
    vals[0] = model ? model : "";
    vals[1] = b->cfg.identifier[0] != '\0' ? b->cfg.identifier : (model ? model : "");
    vals[2] = ctx;
    for (n = 0; tmpl[n] != NULL && n < BACKEND_ARGV_MAX; n++) {
        argv[n] = malloc(COMMAND_ARG_MAX);
        if (argv[n] == NULL) {
            backend_fail(err, BACKEND_INTERNAL, "out of memory");
            goto out;
        }
        if (command_subst(tmpl[n], vals, argv[n], COMMAND_ARG_MAX) == -1) {
            backend_fail(err, BACKEND_BAD_CONFIG, "command element %d over %d bytes", n,
                         COMMAND_ARG_MAX);
            goto out;
        }
    }
    if (backend_run(b, argv[0], argv, timeout_ms, 0, 0, &r) == -1) {
        backend_fail(err, fail_code, "%s: %s", argv[0], r.error);
        spawn_result_free(&r);
        goto out;
    }
    spawn_capture_tail(r.err.len > 0 ? &r.err : &r.out, BACKEND_TAIL_MAX, tail, sizeof(tail));
    if (elapsed_ms != NULL)
        *elapsed_ms = r.elapsed_ms;
    if (r.cancelled)
        backend_fail(err, BACKEND_CANCELLED, "%s: cancelled", argv[0]);
    else if (r.timed_out)
        backend_fail(err, timeout_code, "%s: killed after %d ms (deadline): %s", argv[0],
                     timeout_ms, tail);
    else if (r.how == SPAWN_SIGNALED)
        backend_fail(err, fail_code, "%s: killed by signal %d: %s", argv[0], r.signo, tail);
    else if (r.exit_code != 0)
        backend_fail(err, fail_code, "%s: exit status %d: %s", argv[0], r.exit_code, tail);
    else
        result = 0;
    spawn_result_free(&r);
out:
    for (n = 0; n < BACKEND_ARGV_MAX && argv[n] != NULL; n++)
        free(argv[n]);
    return result;
}

/* The templates' programs exist and the server answers. */
static int
command_preflight(struct backend *b, const char *const *models, int nmodels,
                  struct backend_preflight *pf)
{
    char path[SPAWN_PATH_MAX], pathvar[BACKEND_STR_MAX + 8];
    char *envp[2] = {pathvar, NULL};
    const char *p = getenv("PATH");
    struct backend_err e;
    json_t *ids = NULL;
    char **cmds[2] = {b->load_cmd, b->unload_cmd};
    int i;

    snprintf(pathvar, sizeof(pathvar), "PATH=%s", p ? p : "/usr/bin:/bin");
    for (i = 0; i < 2; i++) {
        if (cmds[i] == NULL || cmds[i][0] == NULL)
            continue;
        if (spawn_which(cmds[i][0], envp, path, sizeof(path)) == -1)
            backend_reason(pf, BACKEND_BAD_CONFIG, "%s command \"%s\": %s",
                           i == 0 ? "load" : "unload", cmds[i][0], strerror(errno));
    }
    if (backend_server_models(b, &ids, &e) == -1)
        backend_reason(pf, e.code, "%s", e.detail);
    json_decref(ids);
    return pf->nreasons == 0 ? 0 : -1;
}

static int
command_unload(struct backend *b, const char *id, struct backend_err *err)
{
    if (b->unload_cmd == NULL || b->unload_cmd[0] == NULL)
        return 0;
    return command_exec(b, b->unload_cmd, id, backend_cmd_timeout_ms(b), BACKEND_UNLOAD_FAILED,
                        BACKEND_UNLOAD_FAILED, NULL, err);
}

static int
command_load(struct backend *b, const char *model, struct backend_load *res,
             struct backend_err *err)
{
    const char *id = b->cfg.identifier[0] != '\0' ? b->cfg.identifier : model;
    int timeout = backend_load_timeout_ms(b);
    int64_t t0 = clock_mono_ns(), ready;

    if (command_exec(b, b->load_cmd, model, timeout, BACKEND_LOAD_TIMEOUT,
                     BACKEND_COMMAND_FAILED, &res->load_ms, err) == -1)
        return -1;
    if (backend_wait_listed(b, id, t0 + (int64_t)timeout * 1000000, &ready, err) == -1)
        return -1;
    res->load_ready_ms = (ready - t0) / 1000000;
    snprintf(res->served_id, sizeof(res->served_id), "%s", id);
    return 0;
}

static json_t *
command_describe(struct backend *b)
{
    return json_pack("{s:s, s:s, s:s}", "type", "command", "load_cmd", b->load_cmd[0],
                     "base_url", b->cfg.base_url);
}

static void
command_free(struct backend *b)
{
}

const struct backend_ops backend_command_ops = {
    "command",
    BACKEND_CAN_UNLOAD | BACKEND_NEEDS_LOAD_CMD,
    backend_prepare_nothing,
    command_preflight,
    command_load,
    command_unload,
    backend_server_list_loaded,
    command_describe,
    command_free,
};

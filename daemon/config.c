/* config.c - see config.h. */
#include "daemon/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    size_t size;   /* OPT_STR: buffer size */
    long min, max; /* OPT_INT bounds */
    const char *help;
};

#define S(f, h)                                                                                \
    {                                                                                          \
#f, OPT_STR, offsetof(struct config, f), sizeof(((struct config *)0)->f), 0, 0, h      \
    }
#define I(f, lo, hi, h)                                                                        \
    {                                                                                          \
#f, OPT_INT, offsetof(struct config, f), 0, lo, hi, h                                  \
    }
#define B(f, h)                                                                                \
    {                                                                                          \
#f, OPT_BOOL, offsetof(struct config, f), 0, 0, 1, h                                   \
    }

static const struct opt opts[] = {
    S(db, "database path (default: per-user data folder)"),
    S(listen_addr, "address the REST API binds"),
    I(listen_port, 1, 65535, "port the REST API binds"),
    S(token_file, "file holding the API bearer token (mode 0600)"),
    S(cors_origins, "comma-separated origins allowed by CORS (default: none)"),
    S(log_level, "error, warn, info or debug"),
    S(log_file, "log to this file instead of stderr"),
    S(lms, "path of LM Studio's lms CLI"),
    S(base_url, "inference server base URL"),
    S(server_token, "bearer token sent to the inference server (LM_API_TOKEN)"),
    B(allow_server_start, "preflight may start the LM Studio server"),
    B(client_libcurl, "stream through libcurl even for plain http:// servers (default: the "
                      "direct HTTP/1.1 path)"),
    I(memory_headroom_pct, 0, 90, "preflight keeps this % of memory free"),
    I(connect_timeout_ms, 1, 3600000, "connect timeout"),
    I(first_token_timeout_ms, 1, 86400000, "time allowed until the first token"),
    I(first_token_ms_per_1k, 0, 3600000,
      "added to first_token_timeout_ms (and the request's) per 1,000 prompt tokens of context"),
    I(stall_timeout_ms, 1, 86400000, "longest silence allowed inside a stream"),
    I(request_timeout_ms, 1, 86400000, "whole-request deadline"),
    I(load_timeout_ms, 1, 86400000, "deadline of one model load"),
    I(busy_wait_s, 0, 86400,
      "lms: wait this long while another client uses the server (0: fail)"),
    I(max_body_bytes, 1024, 64 * 1024 * 1024, "largest REST request body"),
    I(max_connections, 1, 10000, "REST connection limit"),
    I(connection_timeout_s, 1, 3600,
      "REST connection idle timeout, and the deadline of a whole request (+1 s)"),
    I(server_pid, 0, 2147483647, "inference server pid for its memory (0: by server_process)"),
    S(server_process, "inference server process name, a prefix (macOS: LM Studio)"),
    I(sample_interval_ms, 0, 3600000, "system sampling period of benchmark jobs (0: off)"),
    I(stability_sample_interval_ms, 100, 3600000, "system sampling period of stability jobs"),
    I(stability_window_s, 1, 86400, "stability analysis window"),
    I(stability_event_s, 1, 86400, "period of stability events on a job's stream"),
    I(stability_warmup_s, 0, 86400, "server memory fit skips this start (at most 25%)"),
    I(leak_mb_per_hour, 1, 1000000, "leak verdict: server memory growth in MB/hour"),
    I(leak_min_growth_mb, 0, 1000000, "leak verdict: and at least this growth in MB"),
    S(suites_dir, "folder of the owner's suite files, named by jobs (default: none)"),
    I(storage_retry_s, 0, 86400, "a job's write waits this long for a database lock"),
    I(pause_between_models_ms, 0, 3600000, "cool-down pause before each model but the first"),
    I(pause_between_cases_ms, 0, 3600000,
      "cool-down pause before each case but the first (sequential, concurrent loads)"),
    I(thermal_gate_max_wait_ms, 0, 21600000,
      "before each model, wait up to this long for a nominal thermal state (0: no gate)"),
    I(thermal_gate_poll_ms, 10, 60000, "the thermal gate reads the state this often"),
    S(thermal_source,
      "read the thermal state from this file or thermal-zone folder, not the OS (tests, ops)"),
    I(capacity_step_requests, 1, 1000000, "capacity search: requests of each step at least"),
    I(capacity_step_s, 0, 86400, "capacity search: seconds of each step at least"),
    I(capacity_max_concurrency, 1, 4096,
      "capacity search: highest concurrency (rate: times the first rate)"),
    I(capacity_rate_resolution_pct, 1, 100,
      "capacity rate search: ends when the bracket is this % wide"),
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

void
config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
    c->listen_port = 8765;
    snprintf(c->log_level, sizeof(c->log_level), "info");
    snprintf(c->base_url, sizeof(c->base_url), "http://127.0.0.1:1234");
    c->allow_server_start = 0;
    c->memory_headroom_pct = 10;
    c->connect_timeout_ms = 5000;
    c->first_token_timeout_ms = 600000;
    c->first_token_ms_per_1k = 5000; /* a prefill as slow as 200 tok/s is not a stall */
    c->stall_timeout_ms = 60000;
    c->request_timeout_ms = 1800000;
    c->load_timeout_ms = 900000;
    c->busy_wait_s = 300;
    c->max_body_bytes = 1024 * 1024;
    c->max_connections = 256;
    c->connection_timeout_s = 30;
#ifdef __APPLE__
    snprintf(c->server_process, sizeof(c->server_process), "LM Studio");
#endif
    c->sample_interval_ms = 10000;
    c->stability_sample_interval_ms = 2000;
    c->stability_window_s = 600;
    c->stability_event_s = 60;
    c->stability_warmup_s = 600;
    c->leak_mb_per_hour = 50;
    c->leak_min_growth_mb = 16;
    c->storage_retry_s = 120;
    c->thermal_gate_poll_ms = 1000;
    c->capacity_step_requests = 30;
    c->capacity_step_s = 20;
    c->capacity_max_concurrency = 64;
    c->capacity_rate_resolution_pct = 10;
}

static const struct opt *
opt_find(const char *name)
{
    size_t i;

    for (i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static int
set_opt(struct config *c, const struct opt *o, const char *value, char *err, size_t errlen)
{
    char *p = (char *)c + o->off;
    const unsigned char *s;
    char *end;
    long v;

    switch (o->type) {
    case OPT_STR:
        if (strlen(value) >= o->size) {
            snprintf(err, errlen, "%s: value longer than %zu bytes", o->name, o->size - 1);
            return -1;
        }
        /* No control characters: a CR or LF in server_token would end the
         * Authorization header the client writes and start another. */
        for (s = (const unsigned char *)value; *s != '\0'; s++) {
            if (*s < 0x20 || *s == 0x7f) {
                snprintf(err, errlen, "%s: value holds a control character (byte 0x%02x)",
                         o->name, *s);
                return -1;
            }
        }
        memcpy(p, value, strlen(value) + 1);
        return 0;
    case OPT_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0 || strcmp(value, "yes") == 0)
            *(int *)p = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0 ||
                 strcmp(value, "no") == 0)
            *(int *)p = 0;
        else {
            snprintf(err, errlen, "%s: expected true or false, got \"%s\"", o->name, value);
            return -1;
        }
        return 0;
    case OPT_INT:
        errno = 0;
        v = strtol(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: expected an integer in %ld..%ld, got \"%s\"", o->name,
                     o->min, o->max, value);
            return -1;
        }
        *(int *)p = (int)v;
        return 0;
    }
    return -1;
}

int
config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen)
{
    const struct opt *o = opt_find(name);

    if (o == NULL) {
        snprintf(err, errlen, "unknown option \"%s\"", name);
        return -1;
    }
    return set_opt(c, o, value, err, errlen);
}

int
config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root, *v;
    const char *key;
    char num[32];
    int rc = -1;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object", path);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        const struct opt *o = opt_find(key);
        const char *s;

        if (o == NULL) {
            snprintf(err, errlen, "%s: unknown option \"%s\"", path, key);
            goto out;
        }
        if (o->type == OPT_STR && json_is_string(v))
            s = json_string_value(v);
        else if (o->type == OPT_INT && json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            s = num;
        } else if (o->type == OPT_BOOL && json_is_boolean(v))
            s = json_is_true(v) ? "true" : "false";
        else {
            snprintf(err, errlen, "%s: \"%s\" must be %s", path, key,
                     o->type == OPT_STR   ? "a string"
                     : o->type == OPT_INT ? "an integer"
                                          : "true or false");
            goto out;
        }
        if (set_opt(c, o, s, err, errlen) == -1) {
            char tmp[CONFIG_ERR_MAX];
            snprintf(tmp, sizeof(tmp), "%s", err);
            snprintf(err, errlen, "%s: %s", path, tmp);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int
config_load_env(struct config *c, char *err, size_t errlen)
{
    char name[96];
    size_t i, j;

    for (i = 0; i < NOPTS; i++) {
        const char *v;
        int n = snprintf(name, sizeof(name), "TPSD_%s", opts[i].name);

        for (j = 5; j < (size_t)n; j++)
            name[j] = (char)toupper((unsigned char)name[j]);
        v = getenv(name);
        if (v == NULL)
            continue;
        if (set_opt(c, &opts[i], v, err, errlen) == -1) {
            char tmp[CONFIG_ERR_MAX];
            snprintf(tmp, sizeof(tmp), "%s", err);
            snprintf(err, errlen, "environment %s: %s", name, tmp);
            return -1;
        }
    }
    return 0;
}

int
config_apply_flag(struct config *c, int argc, char **argv, int *i, char *err, size_t errlen)
{
    char name[96];
    const char *arg = argv[*i], *eq, *value;
    const struct opt *o;
    size_t n, k;

    if (strncmp(arg, "--", 2) != 0)
        return 0;
    arg += 2;
    eq = strchr(arg, '=');
    n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n == 0 || n >= sizeof(name))
        return 0;
    for (k = 0; k < n; k++)
        name[k] = arg[k] == '-' ? '_' : arg[k];
    name[n] = '\0';
    o = opt_find(name);
    if (o == NULL)
        return 0;
    if (eq != NULL)
        value = eq + 1;
    else if (o->type == OPT_BOOL)
        value = "true";
    else if (*i + 1 < argc)
        value = argv[++*i];
    else {
        snprintf(err, errlen, "--%s needs a value", arg);
        return -1;
    }
    return set_opt(c, o, value, err, errlen) == -1 ? -1 : 1;
}

void
config_usage(void)
{
    size_t i, k;
    char flag[96];

    for (i = 0; i < NOPTS; i++) {
        snprintf(flag, sizeof(flag), "--%s", opts[i].name);
        for (k = 2; flag[k]; k++)
            if (flag[k] == '_')
                flag[k] = '-';
        fprintf(stderr, "  %-26s %s\n", flag, opts[i].help);
    }
}

/* chunk.c - see chunk.h. */
#include "daemon/chunk.h"

#include "daemon/chunk_scan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Ollama-style counters kept as server statistics when at the top level. */
static const char *const chunk_ollama_keys[] = {
    "eval_count",           "eval_duration",  "prompt_eval_count",
    "prompt_eval_duration", "total_duration", "load_duration",
};
#define CHUNK_NOLLAMA (sizeof(chunk_ollama_keys) / sizeof(chunk_ollama_keys[0]))

/* Objects of server statistics kept whole: LM Studio v0's `stats` with the
 * `model_info` (loaded context, quant) and `runtime` (engine and version)
 * beside them (docs 1_developer/2_rest/endpoints.mdx), llama.cpp's
 * `timings` (tools/server/server-task.cpp). */
static const char *const chunk_stats_keys[] = {"stats", "timings", "model_info", "runtime"};
#define CHUNK_NSTATS (sizeof(chunk_stats_keys) / sizeof(chunk_stats_keys[0]))

/* A string member: its value and length, NULL when absent or null. */
static const char *
chunk_str(struct chunk *c, json_t *obj, const char *key, size_t *len)
{
    json_t *v = json_object_get(obj, key);

    if (len != NULL)
        *len = 0;
    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        c->type_errors++;
        return NULL;
    }
    if (len != NULL)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* A count member: a non-negative integer (or integral real), else -1. */
static int64_t
chunk_count(struct chunk *c, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    double d;

    if (v == NULL || json_is_null(v))
        return -1;
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        d = json_real_value(v);
        if (d >= 0 && d < 9007199254740992.0 && floor(d) == d)
            return (int64_t)d;
    }
    c->type_errors++;
    return -1;
}

static int
chunk_is_done(const char *data, size_t len)
{
    while (len > 0 &&
           (data[0] == ' ' || data[0] == '\t' || data[0] == '\r' || data[0] == '\n')) {
        data++;
        len--;
    }
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\t' || data[len - 1] == '\r' ||
                       data[len - 1] == '\n'))
        len--;
    return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}

static void
chunk_choice(struct chunk *c, json_t *choices)
{
    json_t *ch, *delta;
    const char *s;
    size_t n;

    if (choices == NULL || json_is_null(choices))
        return;
    if (!json_is_array(choices)) {
        c->type_errors++;
        return;
    }
    ch = json_array_get(choices, 0);
    if (ch == NULL)
        return;
    if (!json_is_object(ch)) {
        c->type_errors++;
        return;
    }
    c->has_choice = 1;
    c->finish_reason = chunk_str(c, ch, "finish_reason", NULL);

    delta = json_object_get(ch, "delta");
    if (delta == NULL || json_is_null(delta))
        delta = json_object_get(ch, "message");
    if (delta == NULL || json_is_null(delta)) {
        /* Legacy completions stream `text`. */
        c->content = chunk_str(c, ch, "text", &c->content_len);
        return;
    }
    if (!json_is_object(delta)) {
        c->type_errors++;
        return;
    }
    c->role = chunk_str(c, delta, "role", NULL);
    c->content = chunk_str(c, delta, "content", &c->content_len);
    s = chunk_str(c, delta, "reasoning_content", &n);
    if (s == NULL || n == 0) {
        const char *r;
        size_t rn;

        r = chunk_str(c, delta, "reasoning", &rn);
        if (r != NULL) {
            s = r;
            n = rn;
        }
    }
    c->reasoning = s;
    c->reasoning_len = s != NULL ? n : 0;
}

static void
chunk_usage(struct chunk *c, json_t *usage)
{
    json_t *details;

    if (usage == NULL || json_is_null(usage))
        return;
    if (!json_is_object(usage)) {
        c->type_errors++;
        return;
    }
    c->has_usage = 1;
    c->prompt_tokens = chunk_count(c, usage, "prompt_tokens");
    c->completion_tokens = chunk_count(c, usage, "completion_tokens");
    details = json_object_get(usage, "completion_tokens_details");
    if (details == NULL || json_is_null(details))
        return;
    if (!json_is_object(details)) {
        c->type_errors++;
        return;
    }
    c->reasoning_tokens = chunk_count(c, details, "reasoning_tokens");
}

static void
chunk_error(struct chunk *c, json_t *err)
{
    if (err == NULL || json_is_null(err))
        return;
    c->is_error = 1;
    c->error = err;
    if (json_is_string(err)) {
        c->error_message = json_string_value(err);
        return;
    }
    if (!json_is_object(err)) {
        c->type_errors++;
        return;
    }
    c->error_message = chunk_str(c, err, "message", NULL);
    c->error_type = chunk_str(c, err, "type", NULL);
    /* A numeric code (llama.cpp) is left to the caller in c->error. */
    if (json_is_string(json_object_get(err, "code")))
        c->error_code = json_string_value(json_object_get(err, "code"));
}

/* Gather server statistics into a new object; 0, or -1 out of memory. */
static int
chunk_stats(struct chunk *c)
{
    json_t *v, *out = NULL;
    size_t i;
    int rc = -1;

    for (i = 0; i < CHUNK_NSTATS + CHUNK_NOLLAMA; i++) {
        const char *key =
            i < CHUNK_NSTATS ? chunk_stats_keys[i] : chunk_ollama_keys[i - CHUNK_NSTATS];

        v = json_object_get(c->root, key);
        if (v == NULL || json_is_null(v))
            continue;
        if (i < CHUNK_NSTATS ? !json_is_object(v) : !json_is_number(v)) {
            c->type_errors++;
            continue;
        }
        if (out == NULL) {
            out = json_object();
            if (out == NULL)
                goto out;
        }
        if (json_object_set(out, key, v) == -1)
            goto out;
    }
    c->server_stats = out;
    out = NULL;
    rc = 0;
out:
    json_decref(out);
    return rc;
}

int
chunk_decode(struct chunk *c, const char *data, size_t len)
{
    if (chunk_scan(c, data, len) == 0)
        return 0; /* the common shape: no tree, no allocation */
    return chunk_decode_tree(c, data, len);
}

int
chunk_decode_tree(struct chunk *c, const char *data, size_t len)
{
    json_error_t jerr;
    int rc = -1;

    memset(c, 0, sizeof(*c));
    c->prompt_tokens = -1;
    c->completion_tokens = -1;
    c->reasoning_tokens = -1;
    if (chunk_is_done(data, len)) {
        c->is_done = 1;
        return 0;
    }
    c->root = json_loadb(data, len, JSON_ALLOW_NUL, &jerr);
    if (c->root == NULL) {
        snprintf(c->reason, sizeof(c->reason), "invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(c->root)) {
        snprintf(c->reason, sizeof(c->reason), "not a JSON object");
        goto out;
    }
    c->model = chunk_str(c, c->root, "model", NULL);
    chunk_choice(c, json_object_get(c->root, "choices"));
    chunk_usage(c, json_object_get(c->root, "usage"));
    chunk_error(c, json_object_get(c->root, "error"));
    if (chunk_stats(c) == -1) {
        snprintf(c->reason, sizeof(c->reason), "out of memory");
        goto out;
    }
    c->role_only = c->role != NULL && c->content_len == 0 && c->reasoning_len == 0;
    rc = 0;
out:
    if (rc == -1)
        chunk_release(c);
    return rc;
}

int
chunk_has_text(const struct chunk *c)
{
    return c->content_len > 0 || c->reasoning_len > 0;
}

json_t *
chunk_take_stats(struct chunk *c)
{
    json_t *s = c->server_stats;

    c->server_stats = NULL;
    return s;
}

void
chunk_release(struct chunk *c)
{
    json_decref(c->server_stats);
    json_decref(c->root);
    c->server_stats = NULL;
    c->root = NULL;
    c->content = NULL;
    c->reasoning = NULL;
    c->role = NULL;
    c->finish_reason = NULL;
    c->model = NULL;
    c->error = NULL;
    c->error_message = NULL;
    c->error_type = NULL;
    c->error_code = NULL;
    c->content_len = 0;
    c->reasoning_len = 0;
}

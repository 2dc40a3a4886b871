/*
 * jobspec.c - see jobspec.h. Strict validation: every object is checked
 * against a table of the keys it may hold, and every error names its path
 * ("backend.context_length: ...", "models[2]: ...").
 */
#include "daemon/jobspec.h"
#include "daemon/backend_names.h"

#include "daemon/suite.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBSPEC_NAME_MAX 255       /* bytes of "name" */
#define JOBSPEC_MODEL_MAX 1024     /* bytes of one model key */
#define JOBSPEC_SUITE_NAME_MAX 256 /* bytes of a suite name */
#define JOBSPEC_DEPTH_MAX 64       /* nesting of any value (inline suites) */
#define JOBSPEC_REPS_MAX 10000
#define JOBSPEC_WARMUP_MAX 100
#define JOBSPEC_CONCURRENCY_MAX 4096
#define JOBSPEC_RPS_MAX 10000.0
#define JOBSPEC_DURATION_MAX (30.0 * 24 * 3600)
#define JOBSPEC_CONTEXT_MAX 10000000L
#define JOBSPEC_MAX_TOKENS_MAX 1000000
#define JOBSPEC_PRIORITY_MAX 100
#define JOBSPEC_PAUSE_MAX 3600000 /* ms of one cool-down pause (an hour) */
#define JOBSPEC_GATE_MAX 21600000 /* ms the thermal gate may wait (six hours) */

/* Format an error "path: message" into err. Always returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    char msg[JOBSPEC_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
    return -1;
}

/* 0 when every key of object `o` is in the NULL-terminated `allowed`,
 * else -1 naming the first unknown key under `prefix` ("" at top level). */
static int
check_keys(const json_t *o, const char *prefix, const char *const *allowed, char *err,
           size_t errlen)
{
    const char *key;
    json_t *v;
    char path[JOBSPEC_ERR_MAX / 2];
    size_t i;

    json_object_foreach((json_t *)o, key, v)
    {
        for (i = 0; allowed[i] != NULL; i++) {
            if (strcmp(key, allowed[i]) == 0)
                break;
        }
        if (allowed[i] == NULL) {
            snprintf(path, sizeof(path), "%s%s%.100s", prefix, *prefix ? "." : "", key);
            return fail(err, errlen, path, "unknown field");
        }
    }
    return 0;
}

/* 0 when `v` nests no deeper than `left` levels, else -1. Stops early. */
static int
check_depth(const json_t *v, int left)
{
    const char *key;
    json_t *c;
    size_t i;

    if (left <= 0)
        return -1;
    if (json_is_array(v)) {
        json_array_foreach((json_t *)v, i, c)
        {
            if (check_depth(c, left - 1) == -1)
                return -1;
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, c)
        {
            if (check_depth(c, left - 1) == -1)
                return -1;
        }
    }
    return 0;
}

/* A string of 1..max bytes without NUL; *absent_ok lets a missing field pass
 * (returns 1). Copies into out (outlen) when out is not NULL. */
static int
get_string(const json_t *o, const char *key, const char *path, size_t max, int empty_ok,
           char *out, size_t outlen, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    size_t n;

    if (v == NULL)
        return 1;
    if (!json_is_string(v))
        return fail(err, errlen, path, "must be a string");
    n = json_string_length(v);
    if (n != strlen(json_string_value(v)))
        return fail(err, errlen, path, "must not contain NUL");
    if (n == 0 && !empty_ok)
        return fail(err, errlen, path, "must not be empty");
    if (n > max)
        return fail(err, errlen, path, "must be at most %zu bytes", max);
    if (out != NULL)
        snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

/* An integer in lo..hi. 1 when absent, 0 with *out set, -1 on error. */
static int
get_int(const json_t *o, const char *key, const char *path, long long lo, long long hi,
        long long *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    long long x;

    if (v == NULL)
        return 1;
    if (!json_is_integer(v))
        return fail(err, errlen, path, "must be an integer in %lld..%lld", lo, hi);
    x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(err, errlen, path, "must be an integer in %lld..%lld", lo, hi);
    *out = x;
    return 0;
}

/* A number (integer or real) in the range (lo|[lo .. hi]. `lo_open` excludes
 * lo. 1 when absent, 0 with *out set, -1 on error. */
static int
get_real(const json_t *o, const char *key, const char *path, double lo, int lo_open, double hi,
         double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    double x;

    if (v == NULL)
        return 1;
    if (!json_is_number(v))
        return fail(err, errlen, path, "must be a number in %s%g..%g]", lo_open ? "(" : "[", lo,
                    hi);
    x = json_number_value(v);
    if (!isfinite(x) || x < lo || (lo_open && x == lo) || x > hi)
        return fail(err, errlen, path, "must be a number in %s%g..%g]", lo_open ? "(" : "[", lo,
                    hi);
    *out = x;
    return 0;
}

/* A boolean. 1 when absent, 0 with *out set, -1 on error. */
static int
get_bool(const json_t *o, const char *key, const char *path, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 1;
    if (!json_is_boolean(v))
        return fail(err, errlen, path, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* A string that must be one of the NULL-terminated `choices`. */
static int
get_enum(const json_t *o, const char *key, const char *path, const char *const *choices,
         char *out, size_t outlen, char *err, size_t errlen)
{
    char buf[64];
    size_t i;
    int r;

    r = get_string(o, key, path, sizeof(buf) - 1, 0, buf, sizeof(buf), err, errlen);
    if (r == 1)
        return 1;
    for (i = 0; r == 0 && choices[i] != NULL; i++) {
        if (strcmp(buf, choices[i]) == 0) {
            snprintf(out, outlen, "%s", choices[i]); /* choices are short */
            return 0;
        }
    }
    {
        char list[JOBSPEC_ERR_MAX / 2] = "";
        size_t used = 0;

        for (i = 0; choices[i] != NULL && used < sizeof(list); i++)
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
                                     i ? ", " : "", choices[i]);
        return fail(err, errlen, path, "must be one of %s", list);
    }
}

static int
parse_models(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    json_t *m = json_object_get(spec, "models"), *v;
    char path[32];
    size_t i, n;

    if (m == NULL)
        return fail(err, errlen, "models", "required");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return fail(err, errlen, "models", "must be a non-empty array of model keys");
    if (json_array_size(m) > JOBSPEC_MODELS_MAX)
        return fail(err, errlen, "models", "at most %d models", JOBSPEC_MODELS_MAX);
    json_array_foreach(m, i, v)
    {
        snprintf(path, sizeof(path), "models[%zu]", i);
        if (!json_is_string(v))
            return fail(err, errlen, path, "must be a string");
        n = json_string_length(v);
        if (n == 0)
            return fail(err, errlen, path, "must not be empty");
        if (n != strlen(json_string_value(v)))
            return fail(err, errlen, path, "must not contain NUL");
        if (n > JOBSPEC_MODEL_MAX)
            return fail(err, errlen, path, "must be at most %d bytes", JOBSPEC_MODEL_MAX);
        s->models[i] = strdup(json_string_value(v));
        if (s->models[i] == NULL)
            return fail(err, errlen, path, "out of memory");
        s->nmodels = (int)i + 1;
    }
    return 0;
}

static int
parse_suite(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    json_t *v = json_object_get(spec, "suite");

    if (v == NULL) {
        s->suite = json_string("standard");
        return 0;
    }
    if (json_is_string(v)) {
        if (get_string(spec, "suite", "suite", JOBSPEC_SUITE_NAME_MAX, 0, NULL, 0, err,
                       errlen) == -1)
            return -1;
        /* A name, never a path: the daemon reads no file a client names. */
        if (!suite_is_builtin(json_string_value(v)) &&
            !suite_file_name_ok(json_string_value(v)))
            return fail(err, errlen, "suite",
                        "not a suite name: name a built-in suite (standard) or a file of the "
                        "daemon's suites_dir (letters, digits, '.', '_', '-'; no '/'), or "
                        "send the suite inline (tpsd submit --suite FILE does)");
    } else if (!json_is_object(v)) {
        return fail(err, errlen, "suite", "must be a suite name or an inline suite object");
    } else if (check_depth(v, JOBSPEC_DEPTH_MAX) == -1) {
        return fail(err, errlen, "suite", "nested deeper than %d levels", JOBSPEC_DEPTH_MAX);
    }
    s->suite = json_deep_copy(v);
    if (s->suite == NULL)
        return fail(err, errlen, "suite", "out of memory");
    return 0;
}

static int
parse_load(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const seq_keys[] = {"type", NULL};
    static const char *const conc_keys[] = {"type", "concurrency", NULL};
    static const char *const rate_keys[] = {"type", "rps", "duration_s", NULL};
    static const char *const types[] = {"sequential", "concurrent", "rate", NULL};
    json_t *lp = json_object_get(spec, "load_pattern");
    char type[16];
    long long n = 0;
    int r;

    s->load = LOAD_SEQUENTIAL;
    s->concurrency = 1;
    if (lp == NULL)
        return 0;
    if (json_is_string(lp)) {
        if (strcmp(json_string_value(lp), "sequential") != 0 ||
            json_string_length(lp) != strlen("sequential"))
            return fail(err, errlen, "load_pattern",
                        "must be \"sequential\" or an object with a \"type\"");
        return 0;
    }
    if (!json_is_object(lp))
        return fail(err, errlen, "load_pattern",
                    "must be \"sequential\" or an object with a \"type\"");
    r = get_enum(lp, "type", "load_pattern.type", types, type, sizeof(type), err, errlen);
    if (r == 1)
        return fail(err, errlen, "load_pattern.type", "required");
    if (r == -1)
        return -1;
    if (strcmp(type, "sequential") == 0)
        return check_keys(lp, "load_pattern", seq_keys, err, errlen);
    if (strcmp(type, "concurrent") == 0) {
        if (check_keys(lp, "load_pattern", conc_keys, err, errlen) == -1)
            return -1;
        r = get_int(lp, "concurrency", "load_pattern.concurrency", 1, JOBSPEC_CONCURRENCY_MAX,
                    &n, err, errlen);
        if (r == 1)
            return fail(err, errlen, "load_pattern.concurrency", "required");
        if (r == -1)
            return -1;
        s->load = LOAD_CONCURRENT;
        s->concurrency = (int)n;
        return 0;
    }
    if (check_keys(lp, "load_pattern", rate_keys, err, errlen) == -1)
        return -1;
    r = get_real(lp, "rps", "load_pattern.rps", 0, 1, JOBSPEC_RPS_MAX, &s->rps, err, errlen);
    if (r == 1)
        return fail(err, errlen, "load_pattern.rps", "required");
    if (r == -1)
        return -1;
    r = get_real(lp, "duration_s", "load_pattern.duration_s", 0, 1, JOBSPEC_DURATION_MAX,
                 &s->duration_s, err, errlen);
    /* A stability job's length is its top-level duration_s (which wins);
     * a capacity job's steps last as its settings say. */
    if (r == 1 && strcmp(s->kind, "stability") != 0 && strcmp(s->kind, "capacity") != 0)
        return fail(err, errlen, "load_pattern.duration_s", "required");
    if (r == -1)
        return -1;
    s->load = LOAD_RATE;
    return 0;
}

static int
parse_sampling(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"temperature", "top_p", "repeat_penalty",
                                       "max_tokens",  "seed",  NULL};
    json_t *sp = json_object_get(spec, "sampling");
    double x;
    long long n = 0;
    int r;

    s->sampling = json_object();
    if (s->sampling == NULL)
        return fail(err, errlen, "sampling", "out of memory");
    if (sp == NULL)
        return 0;
    if (!json_is_object(sp))
        return fail(err, errlen, "sampling", "must be an object");
    if (check_keys(sp, "sampling", keys, err, errlen) == -1)
        return -1;
    /* Reals are stored as reals so that a round trip gives the same JSON. */
    r = get_real(sp, "temperature", "sampling.temperature", 0, 0, 5, &x, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        json_object_set_new(s->sampling, "temperature", json_real(x));
    r = get_real(sp, "top_p", "sampling.top_p", 0, 1, 1, &x, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        json_object_set_new(s->sampling, "top_p", json_real(x));
    r = get_real(sp, "repeat_penalty", "sampling.repeat_penalty", 0, 1, 5, &x, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        json_object_set_new(s->sampling, "repeat_penalty", json_real(x));
    r = get_int(sp, "max_tokens", "sampling.max_tokens", 1, JOBSPEC_MAX_TOKENS_MAX, &n, err,
                errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        json_object_set_new(s->sampling, "max_tokens", json_integer(n));
    r = get_int(sp, "seed", "sampling.seed", INT64_MIN, INT64_MAX, &n, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        json_object_set_new(s->sampling, "seed", json_integer(n));
    return 0;
}

static int
parse_backend(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"type",  "context_length", "gpu", "identifier",
                                       "ttl_s", "keep_loaded",    NULL};
    static const char *const types[] = {BACKEND_TYPES(BACKEND_NAME_STR) NULL};
    json_t *b = json_object_get(spec, "backend");
    long long n = 0;
    int r;

    snprintf(s->backend, sizeof(s->backend), "%s", BACKEND_TYPE_DEFAULT);
    if (b == NULL)
        return 0;
    if (!json_is_object(b))
        return fail(err, errlen, "backend", "must be an object");
    if (check_keys(b, "backend", keys, err, errlen) == -1)
        return -1;
    if (get_enum(b, "type", "backend.type", types, s->backend, sizeof(s->backend), err,
                 errlen) == -1)
        return -1;
    r = get_int(b, "context_length", "backend.context_length", 1, JOBSPEC_CONTEXT_MAX, &n, err,
                errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        s->context_length = (long)n;
    if (get_string(b, "gpu", "backend.gpu", sizeof(s->gpu) - 1, 1, s->gpu, sizeof(s->gpu), err,
                   errlen) == -1)
        return -1;
    if (get_string(b, "identifier", "backend.identifier", sizeof(s->identifier) - 1, 1,
                   s->identifier, sizeof(s->identifier), err, errlen) == -1)
        return -1;
    r = get_int(b, "ttl_s", "backend.ttl_s", 0, LONG_MAX, &n, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        s->ttl_s = (long)n;
    if (get_bool(b, "keep_loaded", "backend.keep_loaded", &s->keep_loaded, err, errlen) == -1)
        return -1;
    return 0;
}

/* An http:// or https:// URL with a host and no spaces or control bytes. */
static int
url_ok(const char *u)
{
    const char *p;

    if (strncmp(u, "http://", 7) == 0)
        p = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        p = u + 8;
    else
        return 0;
    if (*p == '\0' || *p == '/' || *p == ':')
        return 0;
    for (; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    }
    return 1;
}

static int
parse_server(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"base_url", "api", NULL};
    static const char *const apis[] = {"openai", "lmstudio", NULL};
    json_t *sv = json_object_get(spec, "server");

    snprintf(s->api, sizeof(s->api), "openai");
    if (sv == NULL)
        return 0;
    if (!json_is_object(sv))
        return fail(err, errlen, "server", "must be an object");
    if (check_keys(sv, "server", keys, err, errlen) == -1)
        return -1;
    if (get_string(sv, "base_url", "server.base_url", sizeof(s->base_url) - 1, 0, s->base_url,
                   sizeof(s->base_url), err, errlen) == -1)
        return -1;
    if (s->base_url[0] != '\0' && !url_ok(s->base_url))
        return fail(err, errlen, "server.base_url", "must be an http:// or https:// URL");
    if (get_enum(sv, "api", "server.api", apis, s->api, sizeof(s->api), err, errlen) == -1)
        return -1;
    return 0;
}

/* The fields of "cooldown", each an int of struct jobspec (-1: not set). */
static const struct cooldown_field {
    const char *key, *path;
    size_t off;
    long long max;
} cooldown_fields[] = {
    {"pause_between_models_ms", "cooldown.pause_between_models_ms",
     offsetof(struct jobspec, pause_between_models_ms), JOBSPEC_PAUSE_MAX},
    {"pause_between_cases_ms", "cooldown.pause_between_cases_ms",
     offsetof(struct jobspec, pause_between_cases_ms), JOBSPEC_PAUSE_MAX},
    {"thermal_gate_max_wait_ms", "cooldown.thermal_gate_max_wait_ms",
     offsetof(struct jobspec, thermal_gate_max_wait_ms), JOBSPEC_GATE_MAX},
};
#define NCOOLDOWN_FIELDS (sizeof(cooldown_fields) / sizeof(cooldown_fields[0]))

/* "cooldown": {"pause_between_models_ms", "pause_between_cases_ms",
 * "thermal_gate_max_wait_ms"}, each optional (absent: the daemon's
 * setting). A pause between cases needs cases sent in order: not for rate
 * loads nor stability runs. Parsed after the kind and the load. */
static int
parse_cooldown(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"pause_between_models_ms", "pause_between_cases_ms",
                                       "thermal_gate_max_wait_ms", NULL};
    const struct cooldown_field *f;
    json_t *cd = json_object_get(spec, "cooldown");
    long long n = 0;
    size_t i;
    int r = cd == NULL            ? 1
            : !json_is_object(cd) ? fail(err, errlen, "cooldown", "must be an object")
                                  : check_keys(cd, "cooldown", keys, err, errlen);

    if (r != 0)
        return r == 1 ? 0 : -1;
    for (i = 0; i < NCOOLDOWN_FIELDS; i++) {
        f = &cooldown_fields[i];
        r = get_int(cd, f->key, f->path, 0, f->max, &n, err, errlen);
        if (r == -1)
            return -1;
        if (r == 0)
            *(int *)((char *)s + f->off) = (int)n;
    }
    if (s->pause_between_cases_ms > 0 &&
        (s->load == LOAD_RATE || strcmp(s->kind, "benchmark") != 0))
        return fail(err, errlen, "cooldown.pause_between_cases_ms",
                    "only for sequential and concurrent loads of kind \"benchmark\" (a rate "
                    "load, a stability run and a capacity search interleave their cases)");
    return 0;
}

/* A capacity job's service_level (required there, refused elsewhere). */
static int
parse_level(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    const json_t *v = json_object_get(spec, "service_level");

    if (strcmp(s->kind, "capacity") != 0)
        return v == NULL ? 0 : fail(err, errlen, "service_level", "only for kind \"capacity\"");
    if (v == NULL)
        return fail(err, errlen, "service_level", "required for kind \"capacity\"");
    return caplevel_parse(v, "service_level", &s->level, err, errlen);
}

/* "depths": distinct integers 0..SUITE_DEPTH_MAX, at most SUITE_DEPTHS_MAX,
 * kept ascending; "depth_warm": a bool, only with depths. */
static int
parse_depths(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    const json_t *a = json_object_get(spec, "depths"), *v;
    char path[32];
    size_t i, k;

    if (get_bool(spec, "depth_warm", "depth_warm", &s->depth_warm, err, errlen) == -1)
        return -1;
    if (a == NULL)
        return s->depth_warm ? fail(err, errlen, "depth_warm", "needs depths") : 0;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > SUITE_DEPTHS_MAX)
        return fail(err, errlen, "depths", "must be an array of 1..%d integers",
                    SUITE_DEPTHS_MAX);
    json_array_foreach(a, i, v)
    {
        snprintf(path, sizeof(path), "depths[%zu]", i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > SUITE_DEPTH_MAX)
            return fail(err, errlen, path, "must be an integer in 0..%d", SUITE_DEPTH_MAX);
        for (k = s->ndepths; k > 0 && s->depths[k - 1] > json_integer_value(v); k--)
            s->depths[k] = s->depths[k - 1];
        if (k > 0 && s->depths[k - 1] == json_integer_value(v))
            return fail(err, errlen, path, "repeats %lld", (long long)json_integer_value(v));
        s->depths[k] = json_integer_value(v);
        s->ndepths++;
    }
    return 0;
}

static int
parse_top(const json_t *spec, struct jobspec *s, char *err, size_t errlen)
{
    static const char *const keys[] = {"name",        "kind",   "models",       "suite",
                                       "repetitions", "warmup", "load_pattern", "sampling",
                                       "backend",     "server", "duration_s",   "interval_s",
                                       "nonce",       "resume", "priority",     "service_level",
                                       "cooldown",    "depths", "depth_warm",   NULL};
    static const char *const kinds[] = {"benchmark", "stability", "capacity", NULL};
    int stability, r;
    long long n = 0;

    if (!json_is_object(spec))
        return fail(err, errlen, "(spec)", "must be a JSON object");
    if (check_keys(spec, "", keys, err, errlen) == -1)
        return -1;
    if (get_string(spec, "name", "name", JOBSPEC_NAME_MAX, 1, s->name, sizeof(s->name), err,
                   errlen) == -1)
        return -1;
    if (get_enum(spec, "kind", "kind", kinds, s->kind, sizeof(s->kind), err, errlen) == -1)
        return -1;
    stability = strcmp(s->kind, "stability") == 0;
    if (parse_models(spec, s, err, errlen) == -1 || parse_suite(spec, s, err, errlen) == -1)
        return -1;
    s->repetitions = stability ? 1 : 3;
    r = get_int(spec, "repetitions", "repetitions", 1, JOBSPEC_REPS_MAX, &n, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        s->repetitions = (int)n;
    r = get_int(spec, "warmup", "warmup", 0, JOBSPEC_WARMUP_MAX, &n, err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        s->warmup = (int)n;
    if (parse_load(spec, s, err, errlen) == -1 || parse_sampling(spec, s, err, errlen) == -1 ||
        parse_backend(spec, s, err, errlen) == -1 || parse_server(spec, s, err, errlen) == -1 ||
        parse_cooldown(spec, s, err, errlen) == -1)
        return -1;
    if (stability) {
        /* duration_s is the run length; a rate load runs for it too. */
        r = get_real(spec, "duration_s", "duration_s", 0, 1, JOBSPEC_DURATION_MAX,
                     &s->duration_s, err, errlen);
        if (r == 1)
            return fail(err, errlen, "duration_s", "required for kind \"stability\"");
        if (r == -1)
            return -1;
        if (get_real(spec, "interval_s", "interval_s", 0, 0, JOBSPEC_DURATION_MAX,
                     &s->interval_s, err, errlen) == -1)
            return -1;
    } else {
        if (json_object_get(spec, "duration_s") != NULL)
            return fail(err, errlen, "duration_s", "only for kind \"stability\"");
        if (json_object_get(spec, "interval_s") != NULL)
            return fail(err, errlen, "interval_s", "only for kind \"stability\"");
    }
    if (get_bool(spec, "nonce", "nonce", &s->nonce, err, errlen) == -1 ||
        get_bool(spec, "resume", "resume", &s->resume, err, errlen) == -1 ||
        parse_level(spec, s, err, errlen) == -1 || parse_depths(spec, s, err, errlen) == -1)
        return -1;
    r = get_int(spec, "priority", "priority", -JOBSPEC_PRIORITY_MAX, JOBSPEC_PRIORITY_MAX, &n,
                err, errlen);
    if (r == -1)
        return -1;
    if (r == 0)
        s->priority = (int)n;
    return 0;
}

int
jobspec_parse(const json_t *spec, struct jobspec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    caplevel_init(&out->level);
    snprintf(out->kind, sizeof(out->kind), "benchmark");
    out->warmup = 1;
    out->resume = 1;
    out->pause_between_models_ms = out->pause_between_cases_ms = -1;
    out->thermal_gate_max_wait_ms = -1;
    if (spec == NULL) {
        snprintf(err, errlen, "(spec): missing");
        return -1;
    }
    if (parse_top(spec, out, err, errlen) == -1) {
        jobspec_free(out);
        return -1;
    }
    return 0;
}

/* "cooldown" with the fields the job set (none set: left out). */
static void
jobspec_cooldown_json(json_t *o, const struct jobspec *s)
{
    json_t *cd = json_object();
    size_t i;
    int v;

    for (i = 0; i < NCOOLDOWN_FIELDS; i++) {
        v = *(const int *)((const char *)s + cooldown_fields[i].off);
        if (v >= 0)
            json_object_set_new(cd, cooldown_fields[i].key, json_integer(v));
    }
    if (json_object_size(cd) > 0)
        json_object_set_new(o, "cooldown", cd);
    else
        json_decref(cd);
}

json_t *
jobspec_to_json(const struct jobspec *s)
{
    json_t *o = json_object(), *models = json_array(), *lp = json_object();
    json_t *backend = json_object(), *server = json_object();
    int i;

    if (o == NULL || models == NULL || lp == NULL || backend == NULL || server == NULL) {
        json_decref(o);
        json_decref(models);
        json_decref(lp);
        json_decref(backend);
        json_decref(server);
        return NULL;
    }
    json_object_set_new(o, "name", json_string(s->name));
    json_object_set_new(o, "kind", json_string(s->kind));
    for (i = 0; i < s->nmodels; i++)
        json_array_append_new(models, json_string(s->models[i]));
    json_object_set_new(o, "models", models);
    json_object_set_new(o, "suite",
                        s->suite ? json_deep_copy(s->suite) : json_string("standard"));
    json_object_set_new(o, "repetitions", json_integer(s->repetitions));
    json_object_set_new(o, "warmup", json_integer(s->warmup));
    switch (s->load) {
    case LOAD_CONCURRENT:
        json_object_set_new(lp, "type", json_string("concurrent"));
        json_object_set_new(lp, "concurrency", json_integer(s->concurrency));
        break;
    case LOAD_RATE:
        json_object_set_new(lp, "type", json_string("rate"));
        json_object_set_new(lp, "rps", json_real(s->rps));
        if (s->duration_s > 0) /* a capacity job's rate load has none */
            json_object_set_new(lp, "duration_s", json_real(s->duration_s));
        break;
    default:
        json_object_set_new(lp, "type", json_string("sequential"));
        break;
    }
    json_object_set_new(o, "load_pattern", lp);
    json_object_set_new(o, "sampling",
                        s->sampling ? json_deep_copy(s->sampling) : json_object());
    json_object_set_new(backend, "type", json_string(s->backend));
    if (s->context_length > 0)
        json_object_set_new(backend, "context_length", json_integer(s->context_length));
    json_object_set_new(backend, "gpu", json_string(s->gpu));
    json_object_set_new(backend, "identifier", json_string(s->identifier));
    json_object_set_new(backend, "ttl_s", json_integer(s->ttl_s));
    json_object_set_new(backend, "keep_loaded", json_boolean(s->keep_loaded));
    json_object_set_new(o, "backend", backend);
    if (s->base_url[0] != '\0')
        json_object_set_new(server, "base_url", json_string(s->base_url));
    json_object_set_new(server, "api", json_string(s->api));
    json_object_set_new(o, "server", server);
    if (strcmp(s->kind, "stability") == 0) {
        json_object_set_new(o, "duration_s", json_real(s->duration_s));
        json_object_set_new(o, "interval_s", json_real(s->interval_s));
    }
    if (strcmp(s->kind, "capacity") == 0)
        json_object_set_new(o, "service_level", caplevel_to_json(&s->level));
    json_object_set_new(o, "nonce", json_boolean(s->nonce));
    json_object_set_new(o, "resume", json_boolean(s->resume));
    json_object_set_new(o, "priority", json_integer(s->priority));
    jobspec_cooldown_json(o, s);
    if (s->ndepths > 0) {
        json_t *d = json_array();
        for (i = 0; i < s->ndepths; i++)
            json_array_append_new(d, json_integer((json_int_t)s->depths[i]));
        json_object_set_new(o, "depths", d);
        json_object_set_new(o, "depth_warm", json_boolean(s->depth_warm));
    }
    return o;
}

void
jobspec_free(struct jobspec *s)
{
    int i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nmodels && i < JOBSPEC_MODELS_MAX; i++) {
        free(s->models[i]);
        s->models[i] = NULL;
    }
    s->nmodels = 0;
    json_decref(s->suite);
    s->suite = NULL;
    json_decref(s->sampling);
    s->sampling = NULL;
}

/* With depths, the suite swept over them must be a valid suite (names not
 * too long, not too many cases): checked at submission, not by the worker.
 * Frees st. 0, or -1 with err. */
static int
check_sweep(const struct jobspec *s, struct suite *st, char *err, size_t errlen)
{
    char inner[SUITE_ERR_MAX];
    struct suite *swept = NULL;
    int rc = 0;

    if (s->ndepths > 0 && st != NULL &&
        suite_with_depths(st, s->depths, (size_t)s->ndepths, s->depth_warm, &swept, inner,
                          sizeof(inner)) == -1)
        rc = fail(err, errlen, "depths", "%s", inner);
    suite_free(swept);
    suite_free(st);
    return rc;
}

int
jobspec_resolve_suite(struct jobspec *s, const char *suites_dir, char *err, size_t errlen,
                      char *why, size_t whylen)
{
    char inner[SUITE_ERR_MAX];
    struct suite *st = NULL;
    json_t *inline_suite = NULL, *v;
    const char *name;
    char *text;
    int rc;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (json_is_string(s->suite)) {
        name = json_string_value(s->suite);
        if (suite_is_builtin(name)) {
            if (s->ndepths > 0 &&
                suite_load(name, NULL, &st, NULL, inner, sizeof(inner), NULL, 0) == -1)
                return fail(err, errlen, "suite", "%s", inner);
            return check_sweep(s, st, err, errlen);
        }
        if (suite_load(name, suites_dir, &st, &inline_suite, inner, sizeof(inner), why,
                       whylen) == -1)
            return fail(err, errlen, "suite", "%s", inner);
        json_decref(s->suite);
        s->suite = inline_suite; /* the job carries it: the worker opens no file */
        return check_sweep(s, st, err, errlen);
    }
    /* An inline suite: the whole format checked now, not by the worker. */
    v = s->suite;
    text = json_dumps(v, JSON_COMPACT);
    if (text == NULL)
        return fail(err, errlen, "suite", "out of memory");
    rc = suite_parse(text, strlen(text), &st, inner, sizeof(inner));
    free(text);
    if (rc == -1)
        return fail(err, errlen, "suite", "%s", inner);
    return check_sweep(s, st, err, errlen);
}

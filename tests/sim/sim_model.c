/* sim_model.c - the model registry: validated configs, load state, drift and
 * RSS ballast. One mutex guards everything here. */
#include "sim.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SIM_RSS_CHUNK (1024 * 1024)
#define SIM_RSS_MAX_MB 8192  /* never grow the ballast beyond this */
#define SIM_DRIFT_FLOOR 0.01 /* decode rate never drifts below 1% */

enum ftype { F_STR, F_NUM, F_INT, F_BOOL };

/* One config field: its JSON name, type, range and place in the struct. */
struct field {
    const char *name;
    enum ftype type;
    size_t off;
    size_t size; /* F_STR: buffer size */
    double min, max;
    int nullable; /* F_INT: null stores -1 */
};

#define M(f) offsetof(struct sim_model, f)
#define FL(f) offsetof(struct sim_fault, f)

static const struct field model_fields[] = {
    {"key", F_STR, M(key), SIM_KEY_MAX, 1, 0, 0},
    {"ttft_ms", F_NUM, M(ttft_ms), 0, 0, 3600e3, 0},
    {"tps", F_NUM, M(tps), 0, 1e-3, 1e6, 0},
    {"jitter_ms", F_NUM, M(jitter_ms), 0, 0, 60e3, 0},
    {"tokens_per_event", F_INT, M(tokens_per_event), 0, 1, 4096, 0},
    {"reasoning_tokens", F_INT, M(reasoning_tokens), 0, 0, SIM_TOKENS_MAX, 0},
    {"output_tokens", F_INT, M(output_tokens), 0, 0, SIM_TOKENS_MAX, 1},
    {"usage", F_BOOL, M(usage), 0, 0, 0, 0},
    {"text", F_STR, M(text), SIM_TEXT_MAX, 1, 0, 0},
    {"size_bytes", F_NUM, M(size_bytes), 0, 0, 1e15, 0},
    {"format", F_STR, M(format), SIM_SHORT_MAX, 1, 0, 0},
    {"quant", F_STR, M(quant), SIM_SHORT_MAX, 0, 0, 0},
    {"arch", F_STR, M(arch), SIM_SHORT_MAX, 0, 0, 0},
    {"max_context_length", F_INT, M(max_context_length), 0, 1, 1e8, 0},
    {"load_ms", F_INT, M(load_ms), 0, 0, 600e3, 0},
    {"drift_pct_per_min", F_NUM, M(drift_pct_per_min), 0, 0, 100, 0},
    {"rss_mb_per_min", F_NUM, M(rss_mb_per_min), 0, 0, 1024, 0},
    {"timings", F_STR, M(timings), SIM_SHORT_MAX, 0, 0, 0},
    {"server_clock_pct", F_NUM, M(server_clock_pct), 0, -90, 1000, 0},
    {"slots", F_INT, M(slots), 0, 0, 4096, 0},
    {"budget_tps", F_NUM, M(budget_tps), 0, 0, 1e7, 0},
    {"prefill_tps", F_NUM, M(prefill_tps), 0, 0, 1e9, 0},
    {"prefill_half_ctx", F_NUM, M(prefill_half_ctx), 0, 0, 1e9, 0},
    {"decode_half_ctx", F_NUM, M(decode_half_ctx), 0, 0, 1e9, 0},
    {"chars_per_token", F_NUM, M(chars_per_token), 0, 0.5, 64, 0},
    {"prompt_cache", F_BOOL, M(prompt_cache), 0, 0, 0, 0},
};

static const struct field fault_fields[] = {
    {"http_500", F_BOOL, FL(http_500), 0, 0, 0, 0},
    {"stall_ms", F_INT, FL(stall_ms), 0, 0, 3600e3, 0},
    {"stall_at", F_INT, FL(stall_at), 0, 0, SIM_TOKENS_MAX, 1},
    {"drop_at", F_INT, FL(drop_at), 0, 0, SIM_TOKENS_MAX, 1},
    {"malformed_at", F_INT, FL(malformed_at), 0, 0, SIM_TOKENS_MAX, 1},
    {"no_done", F_BOOL, FL(no_done), 0, 0, 0, 0},
    {"slow_accept_ms", F_INT, FL(slow_accept_ms), 0, 0, 600e3, 0},
    {"every", F_INT, FL(every), 0, 1, SIM_TOKENS_MAX, 0},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* The ballast: chunks mapped and touched page by page outside ASan's
 * instrumentation. An instrumented write (or memset) also touches the shadow,
 * 1/8 of the chunk, and the server RSS the daemon measures would grow 12.5 %
 * faster than the model's rss_mb_per_min under ASan. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define SIM_NO_ASAN __attribute__((no_sanitize("address")))
#endif
#endif
#ifndef SIM_NO_ASAN
#define SIM_NO_ASAN
#endif

struct ballast {
    char **chunk;
    size_t n, cap;
};

/* A model's prompt cache: the last prompt's text. */
struct pcache {
    char *text;
    size_t len;
};

static struct {
    pthread_mutex_t mu;
    struct sim_model m[SIM_MODELS_MAX];
    struct ballast rss[SIM_MODELS_MAX];
    struct pcache cache[SIM_MODELS_MAX];
    int n;
    uint64_t start_ns;
} reg = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void
model_defaults(struct sim_model *m)
{
    memset(m, 0, sizeof(*m));
    m->ttft_ms = 200;
    m->tps = 50;
    m->tokens_per_event = 1;
    m->output_tokens = -1;
    m->usage = 1;
    snprintf(m->text, sizeof(m->text), "word ");
    m->size_bytes = 4e9;
    snprintf(m->format, sizeof(m->format), "gguf");
    snprintf(m->arch, sizeof(m->arch), "llama");
    m->max_context_length = 131072;
    m->chars_per_token = 4;
    m->fault.stall_at = -1;
    m->fault.drop_at = -1;
    m->fault.malformed_at = -1;
    m->fault.every = 1;
}

static const struct field *
field_find(const struct field *t, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* Store one JSON value into base per f; -1 with err naming the field. */
static int
field_set(const struct field *f, const char *where, void *base, const json_t *v, char *err,
          size_t errlen)
{
    char *p = (char *)base + f->off;
    double d = 0;

    switch (f->type) {
    case F_BOOL:
        if (!json_is_boolean(v))
            goto bad_type;
        *(int *)(void *)p = json_is_true(v);
        return 0;
    case F_STR:
        if (!json_is_string(v))
            goto bad_type;
        if (json_string_length(v) >= f->size || json_string_length(v) < (size_t)f->min) {
            snprintf(err, errlen, "%s%s: length must be %.0f..%zu bytes", where, f->name,
                     f->min, f->size - 1);
            return -1;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, errlen, "%s%s: contains NUL", where, f->name);
            return -1;
        }
        snprintf(p, f->size, "%s", json_string_value(v));
        return 0;
    case F_INT:
        if (json_is_null(v) && f->nullable) {
            *(long *)(void *)p = -1;
            return 0;
        }
        if (!json_is_integer(v))
            goto bad_type;
        d = (double)json_integer_value(v);
        break;
    case F_NUM:
        if (!json_is_number(v))
            goto bad_type;
        d = json_number_value(v);
        break;
    }
    if (!(d >= f->min && d <= f->max)) {
        snprintf(err, errlen, "%s%s: must be in [%g, %g]", where, f->name, f->min, f->max);
        return -1;
    }
    if (f->type == F_INT)
        *(long *)(void *)p = (long)d;
    else
        *(double *)(void *)p = d;
    return 0;

bad_type:
    snprintf(err, errlen, "%s%s: wrong type (want %s)", where, f->name,
             f->type == F_BOOL  ? "boolean"
             : f->type == F_STR ? "string"
             : f->type == F_INT ? (f->nullable ? "integer or null" : "integer")
                                : "number");
    return -1;
}

static int
fields_parse(const struct field *t, size_t n, const char *where, void *base, const json_t *obj,
             char *err, size_t errlen)
{
    const char *name;
    const json_t *v;
    const struct field *f;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "%s: must be an object", *where ? where : "model");
        return -1;
    }
    json_object_foreach((json_t *)obj, name, v)
    {
        if (strcmp(name, "fault") == 0 && t == model_fields)
            continue;
        f = field_find(t, n, name);
        if (f == NULL) {
            snprintf(err, errlen, "%s%.200s: unknown field", where, name);
            return -1;
        }
        if (field_set(f, where, base, v, err, errlen) == -1)
            return -1;
    }
    return 0;
}

static void
fields_dump(const struct field *t, size_t n, const void *base, json_t *out)
{
    const char *p;
    size_t i;

    for (i = 0; i < n; i++) {
        p = (const char *)base + t[i].off;
        switch (t[i].type) {
        case F_BOOL:
            json_object_set_new(out, t[i].name, json_boolean(*(const int *)(const void *)p));
            break;
        case F_STR:
            json_object_set_new(out, t[i].name, json_string(p));
            break;
        case F_INT:
            if (t[i].nullable && *(const long *)(const void *)p < 0)
                json_object_set_new(out, t[i].name, json_null());
            else
                json_object_set_new(out, t[i].name,
                                    json_integer(*(const long *)(const void *)p));
            break;
        case F_NUM:
            json_object_set_new(out, t[i].name, json_real(*(const double *)(const void *)p));
            break;
        }
    }
}

static int
fault_parse(struct sim_fault *fl, const json_t *obj, char *err, size_t errlen)
{
    struct sim_fault tmp = {0, 0, -1, -1, -1, 0, 0, 1};

    if (fields_parse(fault_fields, NFIELDS(fault_fields), "fault.", &tmp, obj, err, errlen) ==
        -1)
        return -1;
    if (tmp.stall_ms > 0 && tmp.stall_at < 0)
        tmp.stall_at = 0;
    *fl = tmp;
    return 0;
}

/* Index of key, or -1. Caller holds reg.mu. */
static int
model_index(const char *key)
{
    int i;

    for (i = 0; i < reg.n; i++)
        if (strcmp(reg.m[i].key, key) == 0)
            return i;
    return -1;
}

static void
ballast_free(struct ballast *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        munmap(b->chunk[i], SIM_RSS_CHUNK);
    free(b->chunk);
    memset(b, 0, sizeof(*b));
}

void
sim_model_init(void)
{
    reg.start_ns = sim_now_ns();
}

void
sim_model_shutdown(void)
{
    int i;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        ballast_free(&reg.rss[i]);
        free(reg.cache[i].text);
        reg.cache[i].text = NULL;
    }
    reg.n = 0;
    pthread_mutex_unlock(&reg.mu);
}

double
sim_model_uptime(void)
{
    return (double)(sim_now_ns() - reg.start_ns) / 1e9;
}

int
sim_model_put(const json_t *obj, char *err, size_t errlen)
{
    struct sim_model m;
    const json_t *fault;
    int i, rc = -1;

    model_defaults(&m);
    if (fields_parse(model_fields, NFIELDS(model_fields), "", &m, obj, err, errlen) == -1)
        return -1;
    if (json_object_get(obj, "key") == NULL) {
        snprintf(err, errlen, "key: missing");
        return -1;
    }
    if (strcmp(m.format, "gguf") != 0 && strcmp(m.format, "mlx") != 0) {
        snprintf(err, errlen, "format: must be \"gguf\" or \"mlx\"");
        return -1;
    }
    if (m.timings[0] != '\0' && strcmp(m.timings, "llamacpp") != 0) {
        snprintf(err, errlen, "timings: must be \"\" or \"llamacpp\"");
        return -1;
    }
    if ((size_t)m.tokens_per_event * strlen(m.text) > SIM_EVENT_TEXT_MAX) {
        snprintf(err, errlen, "tokens_per_event: times text length exceeds %d",
                 SIM_EVENT_TEXT_MAX);
        return -1;
    }
    fault = json_object_get(obj, "fault");
    if (fault != NULL && !json_is_null(fault) &&
        fault_parse(&m.fault, fault, err, errlen) == -1)
        return -1;

    pthread_mutex_lock(&reg.mu);
    i = model_index(m.key);
    if (i >= 0) {
        m.loaded = reg.m[i].loaded;
        m.active = reg.m[i].active;
        m.loaded_ns = reg.m[i].loaded_ns;
        m.context_length = reg.m[i].context_length;
        m.nrequests = reg.m[i].nrequests;
        memcpy(m.identifier, reg.m[i].identifier, sizeof(m.identifier));
    } else if (reg.n == SIM_MODELS_MAX) {
        snprintf(err, errlen, "models: registry full (%d)", SIM_MODELS_MAX);
        goto out;
    } else {
        i = reg.n++;
    }
    reg.m[i] = m;
    rc = 0;
out:
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

int
sim_model_set_fault(const char *key, const json_t *fault, char *err, size_t errlen)
{
    struct sim_fault fl;
    int i, rc = -1;

    if (fault_parse(&fl, fault, err, errlen) == -1)
        return -1;
    pthread_mutex_lock(&reg.mu);
    i = model_index(key);
    if (i < 0) {
        snprintf(err, errlen, "key: unknown model");
        goto out;
    }
    reg.m[i].fault = fl;
    reg.m[i].nrequests = 0;
    rc = 0;
out:
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

int
sim_model_load(const char *key, const char *identifier, long ctx_len)
{
    long load_ms;
    int i, rc = -1;

    if (identifier == NULL)
        identifier = key;
    pthread_mutex_lock(&reg.mu);
    i = model_index(key);
    load_ms = i >= 0 ? reg.m[i].load_ms : 0;
    pthread_mutex_unlock(&reg.mu);
    if (i < 0)
        return -1;
    if (sim_sleep_until(sim_now_ns() + (uint64_t)load_ms * 1000000) == -1)
        return -3;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        if (reg.m[i].loaded && strcmp(reg.m[i].identifier, identifier) == 0 &&
            strcmp(reg.m[i].key, key) != 0) {
            rc = -2;
            goto out;
        }
    }
    i = model_index(key);
    if (i < 0)
        goto out;
    if (!reg.m[i].loaded) {
        reg.m[i].loaded_ns = sim_now_ns();
        reg.m[i].nrequests = 0;
    }
    reg.m[i].loaded = 1;
    snprintf(reg.m[i].identifier, SIM_KEY_MAX, "%s", identifier);
    reg.m[i].context_length = ctx_len > 0 ? ctx_len : reg.m[i].max_context_length;
    rc = 0;
out:
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

int
sim_model_unload(const char *ident)
{
    int i, rc = -1;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        if (!reg.m[i].loaded || (ident != NULL && strcmp(reg.m[i].identifier, ident) != 0))
            continue;
        reg.m[i].loaded = 0;
        reg.m[i].identifier[0] = '\0';
        ballast_free(&reg.rss[i]);
        free(reg.cache[i].text); /* an unloaded model's KV cache is gone */
        reg.cache[i].text = NULL;
        reg.cache[i].len = 0;
        rc = 0;
    }
    pthread_mutex_unlock(&reg.mu);
    return ident == NULL ? 0 : rc;
}

int
sim_model_acquire(const char *name, struct sim_model *out)
{
    int i, rc = -1;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        if (reg.m[i].loaded && strcmp(reg.m[i].identifier, name) == 0)
            break;
    }
    if (i == reg.n) {
        for (i = 0; i < reg.n; i++)
            if (reg.m[i].loaded && strcmp(reg.m[i].key, name) == 0)
                break;
    }
    if (i < reg.n) {
        reg.m[i].nrequests++;
        reg.m[i].active++;
        *out = reg.m[i];
        rc = 0;
    }
    pthread_mutex_unlock(&reg.mu);
    return rc;
}

void
sim_model_release(const char *key)
{
    int i;

    pthread_mutex_lock(&reg.mu);
    i = model_index(key);
    if (i >= 0 && reg.m[i].active > 0)
        reg.m[i].active--;
    pthread_mutex_unlock(&reg.mu);
}

size_t
sim_model_cache_swap(const char *key, const char *prompt, size_t len)
{
    struct pcache *c;
    char *copy = malloc(len + 1);
    size_t n = 0;
    int i;

    if (copy == NULL)
        return 0;
    memcpy(copy, prompt, len);
    copy[len] = '\0';
    pthread_mutex_lock(&reg.mu);
    i = model_index(key);
    if (i >= 0) {
        c = &reg.cache[i];
        while (c->text != NULL && n < c->len && n < len && c->text[n] == prompt[n])
            n++;
        free(c->text);
        c->text = copy;
        c->len = len;
        copy = NULL;
    }
    pthread_mutex_unlock(&reg.mu);
    free(copy);
    return n;
}

double
sim_model_tps_at(const struct sim_model *m, uint64_t now_ns)
{
    double minutes, f;

    if (m->drift_pct_per_min <= 0 || now_ns <= m->loaded_ns)
        return m->tps;
    minutes = (double)(now_ns - m->loaded_ns) / 60e9;
    f = 1.0 - m->drift_pct_per_min / 100.0 * minutes;
    return m->tps * (f < SIM_DRIFT_FLOOR ? SIM_DRIFT_FLOOR : f);
}

json_t *
sim_model_list(int openai)
{
    json_t *arr = json_array(), *o;
    int i;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        const struct sim_model *m = &reg.m[i];

        if (openai) {
            if (!m->loaded && !sim_jit)
                continue;
            json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "id",
                                                 m->loaded ? m->identifier : m->key, "object",
                                                 "model", "owned_by", "tpsd-sim"));
            continue;
        }
        o = json_object();
        fields_dump(model_fields, NFIELDS(model_fields), m, o);
        json_object_set_new(o, "fault", json_object());
        fields_dump(fault_fields, NFIELDS(fault_fields), &m->fault,
                    json_object_get(o, "fault"));
        json_object_set_new(o, "loaded", json_boolean(m->loaded));
        json_object_set_new(o, "identifier",
                            m->loaded ? json_string(m->identifier) : json_null());
        json_object_set_new(o, "context_length",
                            m->loaded ? json_integer(m->context_length) : json_null());
        json_object_set_new(o, "requests", json_integer(m->nrequests));
        json_object_set_new(o, "active", json_integer(m->active));
        json_object_set_new(o, "rss_ballast_bytes",
                            json_integer((json_int_t)(reg.rss[i].n * SIM_RSS_CHUNK)));
        json_array_append_new(arr, o);
    }
    pthread_mutex_unlock(&reg.mu);
    return arr;
}

SIM_NO_ASAN static void
ballast_touch(char *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t i, page = pg > 0 ? (size_t)pg : 4096;

    for (i = 0; i < n; i += page)
        ((volatile char *)p)[i] = (char)0xa5;
}

void
sim_model_tick(void)
{
    struct ballast *b;
    uint64_t now = sim_now_ns();
    double want;
    char **nc;
    int i;

    pthread_mutex_lock(&reg.mu);
    for (i = 0; i < reg.n; i++) {
        if (!reg.m[i].loaded || reg.m[i].rss_mb_per_min <= 0)
            continue;
        b = &reg.rss[i];
        want = reg.m[i].rss_mb_per_min * (double)(now - reg.m[i].loaded_ns) / 60e9;
        if (want > SIM_RSS_MAX_MB)
            want = SIM_RSS_MAX_MB;
        while ((double)b->n + 1 <= want) {
            if (b->n == b->cap) {
                nc = realloc(b->chunk, (b->cap ? b->cap * 2 : 16) * sizeof(*nc));
                if (nc == NULL)
                    break;
                b->chunk = nc;
                b->cap = b->cap ? b->cap * 2 : 16;
            }
            b->chunk[b->n] = mmap(NULL, SIM_RSS_CHUNK, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANON, -1, 0);
            if (b->chunk[b->n] == MAP_FAILED)
                break;
            ballast_touch(b->chunk[b->n], SIM_RSS_CHUNK);
            b->n++;
        }
    }
    pthread_mutex_unlock(&reg.mu);
}

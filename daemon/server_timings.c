/*
 * server_timings.c - see server_timings.h.
 *
 * Every field is read by one helper that says whether it is absent (no
 * harm), usable (a finite number >= 0) or bad (present with another type,
 * negative, not finite: counted). A rate is taken as the server states it
 * when it does, else derived from the count and duration it gives; a
 * division by a zero duration leaves the rate unknown.
 */
#include "daemon/server_timings.h"

#include <math.h>
#include <stddef.h>

#define ST_MS_PER_S 1000.0
#define ST_NS_PER_MS 1e6
#define ST_NS_PER_S 1e9

void
server_timings_init(struct server_timings *t)
{
    t->dialect = SERVER_DIALECT_NONE;
    t->prompt_tps = t->decode_tps = t->ttft_ms = t->decode_ms = NAN;
    t->cached_tokens = t->decode_n = -1;
    t->bad = 0;
}

/* Member key of obj as a number >= 0; NAN when absent, null or unusable
 * (the latter counted in t->bad). */
static double
st_num(const json_t *obj, const char *key, struct server_timings *t)
{
    json_t *v = json_object_get(obj, key);
    double d;

    if (v == NULL || json_is_null(v))
        return NAN;
    if (!json_is_number(v)) {
        t->bad++;
        return NAN;
    }
    d = json_number_value(v);
    if (!isfinite(d) || d < 0) {
        t->bad++;
        return NAN;
    }
    return d;
}

/* As st_num, for a count: also an integer. -1 when unknown. */
static int64_t
st_count(const json_t *obj, const char *key, struct server_timings *t)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        t->bad++;
        return -1;
    }
    return (int64_t)json_integer_value(v);
}

/* n per `ms` milliseconds, in per second; NAN unless both known, ms > 0. */
static double
st_rate(int64_t n, double ms)
{
    if (n < 0 || isnan(ms) || ms <= 0)
        return NAN;
    return (double)n * ST_MS_PER_S / ms;
}

int
server_timings_llamacpp(const json_t *timings, struct server_timings *t)
{
    int64_t prompt_n;

    server_timings_init(t);
    if (!json_is_object(timings)) {
        t->bad = 1;
        return -1;
    }
    t->dialect = SERVER_DIALECT_LLAMACPP;
    t->cached_tokens = st_count(timings, "cache_n", t);
    prompt_n = st_count(timings, "prompt_n", t);
    t->ttft_ms = st_num(timings, "prompt_ms", t);
    t->prompt_tps = st_num(timings, "prompt_per_second", t);
    if (isnan(t->prompt_tps))
        t->prompt_tps = st_rate(prompt_n, t->ttft_ms);
    t->decode_n = st_count(timings, "predicted_n", t);
    t->decode_ms = st_num(timings, "predicted_ms", t);
    t->decode_tps = st_num(timings, "predicted_per_second", t);
    if (isnan(t->decode_tps))
        t->decode_tps = st_rate(t->decode_n, t->decode_ms);
    return 0;
}

int
server_timings_ollama(const json_t *obj, struct server_timings *t)
{
    int64_t prompt_n;
    double prompt_ns, eval_ns;
    int before;

    server_timings_init(t);
    if (!json_is_object(obj)) {
        t->bad = 1;
        return -1;
    }
    prompt_n = st_count(obj, "prompt_eval_count", t);
    prompt_ns = st_num(obj, "prompt_eval_duration", t);
    t->decode_n = st_count(obj, "eval_count", t);
    eval_ns = st_num(obj, "eval_duration", t);
    before = t->bad;
    if (prompt_n < 0 && isnan(prompt_ns) && t->decode_n < 0 && isnan(eval_ns) && before == 0)
        return 1;
    t->dialect = SERVER_DIALECT_OLLAMA;
    t->ttft_ms = prompt_ns / ST_NS_PER_MS;
    t->prompt_tps = st_rate(prompt_n, t->ttft_ms);
    t->decode_ms = eval_ns / ST_NS_PER_MS;
    t->decode_tps = st_rate(t->decode_n, t->decode_ms);
    return 0;
}

int
server_timings_lmstudio(const json_t *stats, int64_t prompt_tokens, int64_t completion_tokens,
                        struct server_timings *t)
{
    double ttft_s, gen_s;
    int64_t n;

    server_timings_init(t);
    if (!json_is_object(stats)) {
        t->bad = 1;
        return -1;
    }
    t->dialect = SERVER_DIALECT_LMSTUDIO;
    t->decode_tps = st_num(stats, "tokens_per_second", t);
    ttft_s = st_num(stats, "time_to_first_token", t); /* v0 */
    if (isnan(ttft_s))
        ttft_s = st_num(stats, "time_to_first_token_seconds", t); /* v1 */
    t->ttft_ms = ttft_s * ST_MS_PER_S;
    n = st_count(stats, "input_tokens", t); /* v1 */
    t->prompt_tps = st_rate(n >= 0 ? n : prompt_tokens, t->ttft_ms);
    gen_s = st_num(stats, "generation_time", t);   /* v0 */
    n = st_count(stats, "total_output_tokens", t); /* v1 */
    if (!isnan(gen_s)) {
        t->decode_ms = gen_s * ST_MS_PER_S;
        t->decode_n = n >= 0 ? n : completion_tokens;
    }
    return 0;
}

int
server_timings_parse(const char *text, int64_t prompt_tokens, int64_t completion_tokens,
                     struct server_timings *t)
{
    json_t *root, *v;
    int rc;

    server_timings_init(t);
    if (text == NULL)
        return 1;
    root = json_loads(text, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        t->bad = 1;
        return -1;
    }
    if ((v = json_object_get(root, "timings")) != NULL)
        rc = server_timings_llamacpp(v, t);
    else if ((v = json_object_get(root, "stats")) != NULL)
        rc = server_timings_lmstudio(v, prompt_tokens, completion_tokens, t);
    else
        rc = server_timings_ollama(root, t);
    json_decref(root);
    return rc;
}

/* sim_chat.c - chat completions: validate the request, then either stream
 * SSE events at their scheduled times or answer once after the same time.
 *
 * Token event j (0-based) is due at t_recv + slow_accept + ttft + (tokens
 * before j) / tps, plus the stall when j >= stall_at, plus jitter; with
 * tokens_per_event tokens per event that is j * tokens_per_event / tps.
 * Reasoning events come first and never share an event with content.
 * A model with slots or a decode budget (sim_batch.c) adds the time the
 * request waited for a slot to every due time, and decodes each token at
 * min(tps, budget_tps / streams in the slots) as read when it is scheduled.
 *
 * The server's own timings (LM Studio v0 `stats`, llama.cpp `timings`) are
 * reported from that schedule: the unjittered due times of the first and
 * last token events (sched_first, sched_last), scaled by the model's
 * server_clock_pct to plant a clock that disagrees with the client's.
 *
 * Depth. A prompt is counted as a server counts it: llama.cpp server
 * applies the model's chat template and tokenizes the result
 * (tools/server/server-common.cpp tokenize_input_prompts; usage.prompt_tokens
 * is the templated prompt's n_prompt_tokens, server-task.cpp). The sim's
 * template is ChatML ("<|im_start|>ROLE\n" CONTENT "<|im_end|>\n" per
 * message, then "<|im_start|>assistant\n"): each special token and role
 * line counts SIM_TPL_MSG_TOKENS per message and SIM_TPL_GEN_TOKENS for the
 * generation prompt; message text counts floor(bytes / chars_per_token).
 * tpsd never sees this rule: it calibrates on usage.prompt_tokens.
 *
 * The cost grows with the context as llama.cpp's attention does (every
 * token attends to all before it; llama-bench -d N measures pp and tg "@ dN"
 * and its tables fall with depth): the prompt token at position i takes
 * (1 + i / prefill_half_ctx) / prefill_tps seconds, so a prompt of P tokens
 * with c of them cached costs sum over i in [c, P) on top of ttft_ms; the
 * generated token at context n (prompt plus tokens so far) takes
 * (1 + n / decode_half_ctx) / tps. The prompt cache (with "prompt_cache":
 * true in the model's config, sim.h) is one slot per model,
 * as llama.cpp server's cache_prompt: the common prefix with the last
 * prompt is reused (server-context.cpp, get_common_prefix), but at least
 * one token is evaluated, and timings report it (cache_n; prompt_n counts
 * the evaluated rest). A prompt of n_ctx tokens or more is refused with
 * HTTP 400 exceed_context_size_error before anything streams
 * (server-context.cpp: "request (%d tokens) exceeds the available context
 * size (%d tokens), try increasing it", server-common.cpp
 * format_error_response), and generation stops ("length") when the
 * context is full. */
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_DEFAULT_MAX_TOKENS 256 /* when the request sets none */
#define SIM_BLOCK 16384            /* MHD read block */
#define SIM_CID_MAX 64
#define SIM_TPL_MSG_TOKENS 5 /* <|im_start|> role \n ... <|im_end|> \n */
#define SIM_TPL_GEN_TOKENS 3 /* <|im_start|> assistant \n */

enum phase { PH_ROLE, PH_TOKENS, PH_USAGE, PH_STATS, PH_DONE, PH_END };

struct stream {
    struct sim_model m;
    int acquired; /* m counts this request as active */
    int batched;  /* holds one of m's slots (sim_batch.c) */
    uint64_t id;
    int v0, include_usage, faulty;
    long n_total, n_reason, prompt_tokens;
    long cached_tokens; /* of prompt_tokens, reused from the prompt cache */
    long n_gen;         /* tokens scheduled so far (the context grows) */
    char *prompt;       /* the templated prompt */
    size_t prompt_len;
    long n_revents, n_events; /* reasoning events, all token events */
    const char *finish;       /* "stop" or "length" */
    enum phase ph;
    long j;                         /* next token event */
    double sched;                   /* its unjittered due time, ns */
    double sched_first, sched_last; /* due times of the first, last token event */
    int stalled, malformed_sent;
    uint64_t t_recv, t_first, t_last, rng;
    long long created;
    char cid[SIM_CID_MAX];
    char *buf; /* the event being written */
    size_t len, off;
};

static double
rng_unit(uint64_t *s) /* xorshift64*, uniform in [-1, 1) */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Does the request's fault field apply (fault set and every-th request)? */
static int
fault_has(const struct stream *s, long v)
{
    return s->faulty && v >= 0;
}

/* Tokens and kind of token event j. */
static long
event_tokens(const struct stream *s, long j, enum sim_ev *kind)
{
    long tpe = s->m.tokens_per_event, k, left;

    if (j < s->n_revents) {
        *kind = SIM_EV_REASONING;
        left = s->n_reason - j * tpe;
    } else {
        *kind = SIM_EV_CONTENT;
        k = j - s->n_revents;
        left = s->n_total - s->n_reason - k * tpe;
    }
    return left < tpe ? left : tpe;
}

static char *
repeat_text(const char *text, long n)
{
    size_t tl = strlen(text), i;
    char *p = malloc(tl * (size_t)n + 1);

    if (p == NULL)
        return NULL;
    for (i = 0; i < (size_t)n; i++)
        memcpy(p + i * tl, text, tl);
    p[tl * (size_t)n] = '\0';
    return p;
}

static json_t *
chunk_new(const struct stream *s, json_t *choices)
{
    return json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", s->cid, "object", "chat.completion.chunk",
                     "created", (json_int_t)s->created, "model", s->m.identifier, "choices",
                     choices);
}

static json_t *
choice_new(json_t *delta, const char *finish)
{
    return json_pack("{s:i,s:o,s:o}", "index", 0, "delta", delta, "finish_reason",
                     finish ? json_string(finish) : json_null());
}

/* Serialise obj (consumed) as one SSE event into s->buf. */
static int
stream_set(struct stream *s, json_t *obj)
{
    char *js = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    size_t n;
    int rc = -1;

    json_decref(obj);
    if (js == NULL)
        goto out;
    free(s->buf);
    n = strlen(js) + sizeof("data: \n\n");
    s->buf = malloc(n);
    if (s->buf == NULL)
        goto out;
    snprintf(s->buf, n, "data: %s\n\n", js);
    s->len = strlen(s->buf);
    s->off = 0;
    rc = 0;
out:
    free(js);
    return rc;
}

static int
stream_set_raw(struct stream *s, const char *text)
{
    free(s->buf);
    s->buf = strdup(text);
    s->len = s->buf ? strlen(s->buf) : 0;
    s->off = 0;
    return s->buf ? 0 : -1;
}

static json_t *
usage_new(const struct stream *s, long completion)
{
    return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)s->prompt_tokens,
                     "completion_tokens", (json_int_t)completion, "total_tokens",
                     (json_int_t)(s->prompt_tokens + completion), "completion_tokens_details",
                     "reasoning_tokens", (json_int_t)s->n_reason);
}

/* A duration of the schedule (ns) in seconds as the server's clock,
 * server_clock_pct fast, reports it. */
static double
server_seconds(const struct stream *s, double ns)
{
    return ns / 1e9 * (1.0 + s->m.server_clock_pct / 100.0);
}

/* LM Studio v0's stats, model_info and runtime, added to obj
 * (lmstudio-ai/docs 1_developer/2_rest/endpoints.mdx, the response of
 * POST /api/v0/chat/completions). How LM Studio computes tokens_per_second
 * is not public; the sim counts every token over the span from the first
 * to the last, as the llama.cpp engine under it does (below). */
static void
stats_add(const struct stream *s, json_t *obj)
{
    double gen = server_seconds(s, s->sched_last - s->sched_first);
    double tps = gen > 0 ? (double)s->n_total / gen : s->m.tps;

    json_object_set_new(
        obj, "stats",
        json_pack("{s:f,s:f,s:f,s:s}", "tokens_per_second", tps, "time_to_first_token",
                  server_seconds(s, s->sched_first - (double)s->t_recv), "generation_time", gen,
                  "stop_reason",
                  strcmp(s->finish, "stop") == 0 ? "eosFound" : "maxPredictedTokensReached"));
    json_object_set_new(obj, "model_info",
                        json_pack("{s:s,s:s,s:s,s:I}", "arch", s->m.arch, "quant", s->m.quant,
                                  "format", s->m.format, "context_length",
                                  (json_int_t)s->m.context_length));
    json_object_set_new(obj, "runtime",
                        json_pack("{s:s,s:s,s:[s]}", "name", "tpsd-sim", "version", "1.0.0",
                                  "supported_formats", s->m.format));
}

/*
 * llama.cpp server's `timings` (tools/server/server-task.cpp,
 * result_timings::to_json), added to obj, the last chunk of the stream
 * (to_json_oaicompat_chat_stream: deltas.back()) or the whole answer.
 * In server-context.cpp prompt_ms ends and the decode span starts when the
 * first token is sampled; predicted_ms runs to the last token and
 * predicted_n counts every token, the first included. cache_n counts the
 * prompt tokens reused from the cache, prompt_n the ones evaluated.
 */
static void
timings_add(const struct stream *s, json_t *obj)
{
    double prompt_ms = server_seconds(s, s->sched_first - (double)s->t_recv) * 1e3;
    double pred_ms = server_seconds(s, s->sched_last - s->sched_first) * 1e3;
    long evaluated = s->prompt_tokens - s->cached_tokens;

    json_object_set_new(
        obj, "timings",
        json_pack("{s:I,s:I,s:f,s:f,s:f,s:I,s:f,s:f,s:f}", "cache_n",
                  (json_int_t)s->cached_tokens, "prompt_n", (json_int_t)evaluated, "prompt_ms",
                  prompt_ms, "prompt_per_token_ms",
                  evaluated > 0 ? prompt_ms / (double)evaluated : 0.0, "prompt_per_second",
                  prompt_ms > 0 ? (double)evaluated * 1e3 / prompt_ms : 0.0, "predicted_n",
                  (json_int_t)s->n_total, "predicted_ms", pred_ms, "predicted_per_token_ms",
                  s->n_total > 0 ? pred_ms / (double)s->n_total : 0.0, "predicted_per_second",
                  pred_ms > 0 ? (double)s->n_total * 1e3 / pred_ms : 0.0));
}

/* Does this stream carry llama.cpp's timings (not on LM Studio's v0)? */
static int
llamacpp_timings(const struct stream *s)
{
    return !s->v0 && strcmp(s->m.timings, "llamacpp") == 0;
}

/* Is a usage chunk sent after the token events? */
static int
usage_follows(const struct stream *s)
{
    return s->include_usage && s->m.usage && !(s->faulty && s->m.fault.no_done);
}

/* Advance s->sched past the next `tokens` generated tokens, each at its
 * context (prompt + tokens before it); see the top comment. */
static void
sched_advance(struct stream *s, long tokens)
{
    double tps = sim_model_tps_at(&s->m, (uint64_t)s->sched), k = 0;
    double ctx = (double)(s->prompt_tokens + s->n_gen), n = (double)tokens;

    if (s->m.decode_half_ctx > 0) /* sum of ctx + i over i in [0, tokens) */
        k = (n * ctx + n * (n - 1) / 2) / s->m.decode_half_ctx;
    s->sched += (n + k) * 1e9 / sim_batch_rate(&s->m, tps);
    s->n_gen += tokens;
}

/* Take a slot of a model with slots or a budget (sim_batch.c): the time
 * spent waiting in the queue moves the whole schedule, so it counts toward
 * TTFT. 0, or -1 when the sim is stopping. */
static int
stream_admit(struct stream *s)
{
    uint64_t t0 = sim_now_ns();

    if (s->batched || !sim_batch_uses(&s->m))
        return 0;
    if (sim_batch_enter(&s->m) == -1)
        return -1;
    s->batched = 1;
    s->sched += (double)(sim_now_ns() - t0);
    return 0;
}

/* Give the slot back once the last token is out. */
static void
stream_unadmit(struct stream *s)
{
    if (s->batched)
        sim_batch_leave(&s->m);
    s->batched = 0;
}

/* The prefill of positions [cached, prompt) in ns; see the top comment. */
static double
prefill_ns(const struct sim_model *m, long cached, long prompt)
{
    double c = (double)cached, p = (double)prompt, k = 0;

    if (m->prefill_tps <= 0 || prompt <= cached)
        return 0;
    if (m->prefill_half_ctx > 0) /* sum of i over [c, p) */
        k = (p * (p - 1) / 2 - c * (c - 1) / 2) / m->prefill_half_ctx;
    return (p - c + k) * 1e9 / m->prefill_tps;
}

/* Build the next token event; its due time in *when. */
static int
stream_token_event(struct stream *s, uint64_t *when, enum sim_ev *kind, long *tokens)
{
    const struct sim_fault *f = &s->m.fault;
    json_t *delta, *o;
    char *text;
    double t;
    int last;

    if (fault_has(s, f->stall_at) && f->stall_ms > 0 && s->j == f->stall_at && !s->stalled) {
        s->sched += (double)f->stall_ms * 1e6;
        s->stalled = 1;
    }
    if (fault_has(s, f->drop_at) && s->j == f->drop_at)
        return -1;
    t = s->sched;
    if (s->j == 0)
        s->sched_first = t;
    s->sched_last = t;
    if (s->m.jitter_ms > 0)
        t += rng_unit(&s->rng) * s->m.jitter_ms * 1e6;
    *when = t > 0 ? (uint64_t)t : 0;
    if (fault_has(s, f->malformed_at) && s->j == f->malformed_at && !s->malformed_sent) {
        s->malformed_sent = 1;
        *kind = SIM_EV_MALFORMED;
        *tokens = 0;
        return stream_set_raw(s, "data: {not json\n\n");
    }
    *tokens = event_tokens(s, s->j, kind);
    last = s->j == s->n_events - 1;
    text = repeat_text(s->m.text, *tokens);
    if (text == NULL)
        return -1;
    delta =
        json_pack("{s:s}", *kind == SIM_EV_REASONING ? "reasoning_content" : "content", text);
    free(text);
    sched_advance(s, *tokens);
    s->j++;
    o = chunk_new(
        s, json_pack("[o]",
                     choice_new(delta, last && !(s->faulty && f->no_done) ? s->finish : NULL)));
    if (last && llamacpp_timings(s) && !usage_follows(s))
        timings_add(s, o);
    return stream_set(s, o);
}

/* Build the next event of s into s->buf. Returns 0 (due at *when), 1 at the
 * end of the stream, -1 to drop the connection. */
static int
stream_next(struct stream *s, uint64_t *when, enum sim_ev *kind, long *tokens)
{
    int no_done = s->faulty && s->m.fault.no_done;
    json_t *o;

    *when = 0;
    *tokens = 0;
    for (;;) {
        switch (s->ph) {
        case PH_ROLE:
            if (stream_admit(s) == -1)
                return -1;
            s->ph = PH_TOKENS;
            *kind = SIM_EV_ROLE;
            return stream_set(
                s, chunk_new(
                       s, json_pack("[o]", choice_new(json_pack("{s:s}", "role", "assistant"),
                                                      NULL))));
        case PH_TOKENS:
            if (s->j < s->n_events ||
                (s->faulty && s->m.fault.malformed_at == s->j && !s->malformed_sent))
                return stream_token_event(s, when, kind, tokens);
            s->ph = PH_USAGE;
            break;
        case PH_USAGE:
            s->ph = PH_STATS;
            if (!usage_follows(s))
                break;
            *kind = SIM_EV_USAGE;
            o = chunk_new(s, json_array());
            json_object_set_new(o, "usage", usage_new(s, s->n_total));
            if (llamacpp_timings(s))
                timings_add(s, o);
            return stream_set(s, o);
        case PH_STATS:
            /* NOT VERIFIED against LM Studio: its docs show v0 `stats` on
             * non-streamed answers only, and users report streamed v0
             * answers without them (lmstudio-ai/lmstudio-bug-tracker#676,
             * lmstudio-js#320). The stream that does carry them is
             * /api/v1/chat's `chat.end` event (docs 1_developer/2_rest/
             * streaming-events.md), which tpsd's client does not speak. */
            s->ph = PH_DONE;
            if (!s->v0 || no_done)
                break;
            *kind = SIM_EV_STATS;
            o = chunk_new(s, json_array());
            stats_add(s, o);
            return stream_set(s, o);
        case PH_DONE:
            s->ph = PH_END;
            if (no_done)
                break;
            *kind = SIM_EV_DONE;
            return stream_set_raw(s, "data: [DONE]\n\n");
        case PH_END:
            return 1;
        }
    }
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream *s = cls;
    enum sim_ev kind;
    uint64_t when, now;
    long tokens;
    size_t n;
    int r;

    if (s->off == s->len) {
        r = stream_next(s, &when, &kind, &tokens);
        if (r == 1)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (r == -1 || sim_sleep_until(when) == -1)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        now = sim_now_ns();
        if (kind == SIM_EV_REASONING || kind == SIM_EV_CONTENT) {
            if (s->t_first == 0)
                s->t_first = now;
            s->t_last = now;
            if (s->j == s->n_events)
                stream_unadmit(s);
        }
        sim_log_event(s->id, now, kind, tokens);
    }
    n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(out, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void
stream_free(void *cls)
{
    struct stream *s = cls;

    stream_unadmit(s);
    if (s->acquired)
        sim_model_release(s->m.key);
    free(s->buf);
    free(s->prompt);
    free(s);
}

/* Append n bytes to the templated prompt (out NULL: only count). */
static void
tpl_put(char *out, size_t *len, const char *p, size_t n)
{
    if (out != NULL)
        memcpy(out + *len, p, n);
    *len += n;
}

/* One message's text: a string content, or the text of its parts. */
static void
tpl_text(const json_t *c, char *out, size_t *len)
{
    const json_t *part, *t;
    size_t k;

    if (json_is_string(c))
        tpl_put(out, len, json_string_value(c), json_string_length(c));
    json_array_foreach(c, k, part)
    {
        t = json_object_get(part, "text");
        if (json_is_string(t))
            tpl_put(out, len, json_string_value(t), json_string_length(t));
    }
}

/* The ChatML prompt of `messages` into out (NULL: only measure); returns
 * its length. Tokens in the first `upto` bytes in *tokens (see the top
 * comment: special tokens count whole, text floor(bytes / cpt)). */
static size_t
tpl_build(const json_t *messages, double cpt, char *out, size_t upto, long *tokens)
{
    const json_t *msg;
    const char *role;
    size_t i, len = 0, head, text;

    *tokens = 0;
    json_array_foreach(messages, i, msg)
    {
        role = json_string_value(json_object_get(msg, "role"));
        tpl_put(out, &len, "<|im_start|>", 12);
        tpl_put(out, &len, role ? role : "user", strlen(role ? role : "user"));
        tpl_put(out, &len, "\n", 1);
        head = len;
        tpl_text(json_object_get(msg, "content"), out, &len);
        text = upto < head ? 0 : (upto < len ? upto : len) - head;
        *tokens += (long)((double)text / cpt);
        tpl_put(out, &len, "<|im_end|>\n", 11);
        if (len <= upto)
            *tokens += SIM_TPL_MSG_TOKENS;
    }
    tpl_put(out, &len, "<|im_start|>assistant\n", 22);
    if (len <= upto)
        *tokens += SIM_TPL_GEN_TOKENS;
    return len;
}

/* Count the prompt as the server does, keep its text for the prompt cache
 * (stream_cache). 0, or -1 out of memory. */
static int
prompt_count(struct stream *s, const json_t *messages)
{
    long tokens;
    size_t len = tpl_build(messages, s->m.chars_per_token, NULL, SIZE_MAX, &tokens);

    s->prompt = malloc(len + 1);
    if (s->prompt == NULL)
        return -1;
    s->prompt_len = tpl_build(messages, s->m.chars_per_token, s->prompt, SIZE_MAX, &tokens);
    s->prompt[len] = '\0';
    s->prompt_tokens = tokens > 0 ? tokens : 1;
    return 0;
}

/* Look the prompt up in the model's cache (and leave it there): the tokens
 * of the common prefix, at most all but one (the last prompt token is
 * always evaluated, server-context.cpp). */
static void
stream_cache(struct stream *s, const json_t *messages)
{
    size_t common;
    long tokens = 0;

    if (!s->m.prompt_cache)
        return; /* cached_tokens stays 0 */
    common = sim_model_cache_swap(s->m.key, s->prompt, s->prompt_len);
    if (common > 0)
        tpl_build(messages, s->m.chars_per_token, NULL, common, &tokens);
    s->cached_tokens = tokens < s->prompt_tokens ? tokens : s->prompt_tokens - 1;
}

static void
fault_describe(const struct stream *s, char *buf, size_t len)
{
    const struct sim_fault *f = &s->m.fault;
    size_t n = 0;

    buf[0] = '\0';
    if (!s->faulty)
        return;
#define ADD(cond, name)                                                                        \
    if ((cond) && n < len)                                                                     \
    n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", name)
    ADD(f->http_500, "http_500");
    ADD(f->slow_accept_ms > 0, "slow_accept");
    ADD(f->stall_ms > 0 && f->stall_at >= 0, "stall");
    ADD(f->drop_at >= 0, "drop");
    ADD(f->malformed_at >= 0, "malformed");
    ADD(f->no_done, "no_done");
#undef ADD
}

/* Parse the request into s; 0, or -1 with a message in err. */
static int
request_parse(const json_t *req, struct stream *s, int *streaming, const char **model,
              char *err, size_t errlen)
{
    const json_t *v, *so;
    json_int_t max = -1;

    if (!json_is_object(req)) {
        snprintf(err, errlen, "request body must be a JSON object");
        return -1;
    }
    *model = json_string_value(json_object_get(req, "model"));
    if (*model == NULL) {
        snprintf(err, errlen, "model: missing or not a string");
        return -1;
    }
    v = json_object_get(req, "messages");
    if (!json_is_array(v)) {
        snprintf(err, errlen, "messages: missing or not an array");
        return -1;
    }
    v = json_object_get(req, "stream");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(err, errlen, "stream: must be a boolean");
        return -1;
    }
    *streaming = json_is_true(v);
    v = json_object_get(req, "max_tokens");
    if (v == NULL)
        v = json_object_get(req, "max_completion_tokens");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) == 0 || json_integer_value(v) < -1 ||
            json_integer_value(v) > SIM_TOKENS_MAX) {
            snprintf(err, errlen, "max_tokens: must be -1 or 1..%d", SIM_TOKENS_MAX);
            return -1;
        }
        max = json_integer_value(v);
    }
    s->n_total = max; /* resolved once the model is known */
    so = json_object_get(req, "stream_options");
    s->include_usage = json_is_true(json_object_get(so, "include_usage"));
    return 0;
}

/* Token counts and schedule once the model is known. */
static void
stream_plan(struct stream *s, uint64_t t_recv)
{
    long max = s->n_total, tpe = s->m.tokens_per_event;

    if (s->m.output_tokens >= 0) {
        s->finish = max < 0 || s->m.output_tokens <= max ? "stop" : "length";
        s->n_total = max < 0 || s->m.output_tokens <= max ? s->m.output_tokens : max;
    } else {
        s->finish = "length";
        s->n_total = max < 0 ? SIM_DEFAULT_MAX_TOKENS : max;
    }
    if (s->m.context_length > 0 && s->prompt_tokens + s->n_total > s->m.context_length) {
        s->n_total = s->m.context_length - s->prompt_tokens; /* the context is full */
        s->finish = "length";
    }
    s->n_reason = s->m.reasoning_tokens < s->n_total ? s->m.reasoning_tokens : s->n_total;
    s->n_revents = (s->n_reason + tpe - 1) / tpe;
    s->n_events = s->n_revents + (s->n_total - s->n_reason + tpe - 1) / tpe;
    s->t_recv = t_recv;
    s->sched = (double)t_recv + s->m.ttft_ms * 1e6 +
               prefill_ns(&s->m, s->cached_tokens, s->prompt_tokens);
    if (s->faulty)
        s->sched += (double)s->m.fault.slow_accept_ms * 1e6;
    s->rng = s->id * 0x9E3779B97F4A7C15ULL + 1;
    s->created = (long long)time(NULL);
    snprintf(s->cid, sizeof(s->cid), "chatcmpl-sim-%llu", (unsigned long long)s->id);
}

/* Non-streaming: wait for the whole generation, then one JSON answer. */
static enum MHD_Result
chat_once(struct MHD_Connection *con, struct stream *s)
{
    const struct sim_fault *f = &s->m.fault;
    json_t *msg, *o;
    enum sim_ev kind;
    char *text;
    long j;

    s->t_first = 0;
    if (stream_admit(s) == -1)
        return MHD_NO;
    for (j = 0; j < s->n_events; j++) {
        if (fault_has(s, f->stall_at) && j == f->stall_at)
            s->sched += (double)f->stall_ms * 1e6;
        if (fault_has(s, f->drop_at) && j == f->drop_at) {
            sim_sleep_until((uint64_t)s->sched);
            return MHD_NO; /* closes the connection */
        }
        if (j == 0) {
            s->t_first = (uint64_t)s->sched;
            s->sched_first = s->sched;
        }
        s->t_last = (uint64_t)s->sched;
        s->sched_last = s->sched;
        sched_advance(s, event_tokens(s, j, &kind));
    }
    if (sim_sleep_until(s->t_last) == -1)
        return MHD_NO;
    stream_unadmit(s); /* stream_free gives it back on the other paths */
    sim_log_event(s->id, sim_now_ns(), SIM_EV_BODY, s->n_total);
    if (fault_has(s, f->malformed_at))
        return sim_reply_json(con, 200, json_string("{not json"));
    text = repeat_text(s->m.text, s->n_total - s->n_reason);
    msg = json_pack("{s:s,s:s}", "role", "assistant", "content", text ? text : "");
    free(text);
    if (s->n_reason > 0) {
        text = repeat_text(s->m.text, s->n_reason);
        json_object_set_new(msg, "reasoning_content", json_string(text ? text : ""));
        free(text);
    }
    o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s}]}", "id", s->cid, "object",
                  "chat.completion", "created", (json_int_t)s->created, "model",
                  s->m.identifier, "choices", "index", 0, "message", msg, "finish_reason",
                  s->finish);
    json_object_set_new(o, "usage", usage_new(s, s->n_total));
    if (s->v0)
        stats_add(s, o);
    if (llamacpp_timings(s))
        timings_add(s, o); /* to_json_oaicompat_chat: the answer's `timings` */
    return sim_reply_json(con, 200, o);
}

/* llama.cpp server's answer to a prompt that does not fit the loaded
 * context (see the top comment): HTTP 400, its error object with the
 * counts. */
static enum MHD_Result
context_exceeded(struct MHD_Connection *con, const struct stream *s)
{
    char msg[SIM_ERR_MAX];

    snprintf(msg, sizeof(msg),
             "request (%ld tokens) exceeds the available context size (%ld tokens), try "
             "increasing it",
             s->prompt_tokens, s->m.context_length);
    return sim_reply_json(con, 400,
                          json_pack("{s:{s:i,s:s,s:s,s:I,s:I}}", "error", "code", 400,
                                    "message", msg, "type", "exceed_context_size_error",
                                    "n_prompt_tokens", (json_int_t)s->prompt_tokens, "n_ctx",
                                    (json_int_t)s->m.context_length));
}

enum MHD_Result
sim_chat(struct MHD_Connection *con, const char *body, size_t len, uint64_t t_recv, int v0)
{
    struct MHD_Response *resp;
    struct stream *s = calloc(1, sizeof(*s));
    char err[SIM_ERR_MAX], faults[SIM_ERR_MAX];
    const char *model = NULL;
    json_error_t jerr;
    json_t *req = json_loadb(body, len, 0, &jerr);
    enum MHD_Result ret;
    int streaming = 0, rc;

    if (s == NULL) {
        ret = MHD_NO;
        goto out;
    }
    s->v0 = v0;
    if (req == NULL) {
        s->id = sim_log_begin(NULL, t_recv);
        sim_log_status(s->id, 400, NULL);
        ret = sim_reply_error(con, 400, "invalid_request_error", "invalid JSON: %s", jerr.text);
        goto out;
    }
    if (request_parse(req, s, &streaming, &model, err, sizeof(err)) == -1) {
        s->id = sim_log_begin(model, t_recv);
        sim_log_status(s->id, 400, NULL);
        ret = sim_reply_error(con, 400, "invalid_request_error", "%s", err);
        goto out;
    }
    /* JIT: a request naming an unloaded model loads it first (LM Studio
     * docs, "Run LM Studio as a service (headless)"). */
    rc = sim_model_acquire(model, &s->m);
    if (rc == -1 && sim_jit && sim_model_load(model, NULL, 0) == 0)
        rc = sim_model_acquire(model, &s->m);
    s->acquired = rc == 0;
    if (!s->acquired) {
        s->id = sim_log_begin(model, t_recv);
        sim_log_status(s->id, 404, NULL);
        ret = sim_reply_error(con, 404, "invalid_request_error", "model %.300s not loaded",
                              model);
        goto out;
    }
    s->id = sim_log_begin(s->m.identifier, t_recv);
    if (prompt_count(s, json_object_get(req, "messages")) == -1) {
        ret = MHD_NO;
        goto out;
    }
    if (s->m.context_length > 0 && s->prompt_tokens >= s->m.context_length) {
        sim_log_status(s->id, 400, NULL);
        ret = context_exceeded(con, s);
        goto out;
    }
    stream_cache(s, json_object_get(req, "messages"));
    s->faulty = s->m.nrequests % s->m.fault.every == 0;
    stream_plan(s, t_recv);
    fault_describe(s, faults, sizeof(faults));
    if (s->faulty && s->m.fault.http_500) {
        sim_log_status(s->id, 500, faults);
        ret = sim_reply_error(con, 500, "server_error", "simulated internal error");
        goto out;
    }
    sim_log_status(s->id, 200, faults[0] ? faults : NULL);
    if (s->faulty && s->m.fault.slow_accept_ms > 0 &&
        sim_sleep_until(t_recv + (uint64_t)s->m.fault.slow_accept_ms * 1000000) == -1) {
        ret = MHD_NO;
        goto out;
    }
    if (!streaming) {
        ret = chat_once(con, s);
        goto out;
    }
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SIM_BLOCK, stream_read, s,
                                             stream_free);
    if (resp == NULL) {
        ret = MHD_NO;
        goto out;
    }
    s = NULL; /* owned by the response now */
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    ret = MHD_queue_response(con, 200, resp);
    MHD_destroy_response(resp);
out:
    json_decref(req);
    if (s != NULL)
        stream_free(s);
    return ret;
}

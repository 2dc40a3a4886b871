/*
 * server_timings.h - the server's own clock: the timings an inference server
 * reports about one request, read into typed figures so they can stand
 * beside the client's (figures.h) and be cross-checked.
 *
 * One parse function per dialect; each field's source:
 *
 *   llama.cpp server, OpenAI-compatible stream: a `timings` object on the
 *   last chunk (the finish_reason chunk, or the `choices: []` usage chunk
 *   when stream_options.include_usage is set), written by
 *   result_timings::to_json in tools/server/server-task.cpp and attached by
 *   to_json_oaicompat_chat_stream ("if (timings.prompt_n >= 0)
 *   deltas.back().push_back({"timings", ...})"):
 *     cache_n               prompt tokens reused from the KV cache
 *     prompt_n, prompt_ms   prompt tokens evaluated (cache excluded), time
 *     prompt_per_second     prompt_n / prompt_ms * 1000
 *     predicted_n           tokens generated, the first included
 *     predicted_ms          from the first generated token to the last
 *     predicted_per_second  predicted_n / predicted_ms * 1000
 *   (server-context.cpp: t_start_generation is taken when the first token
 *   is sampled, t_token_generation = now - t_start_generation.)
 *
 *   Ollama, native /api/chat and /api/generate (the last NDJSON object,
 *   "done": true), api/types.go `Metrics`, durations in nanoseconds
 *   (time.Duration): total_duration, load_duration, prompt_eval_count,
 *   prompt_eval_duration, eval_count, eval_duration. Ollama's
 *   OpenAI-compatible /v1 endpoints do not carry them (openai/openai.go
 *   maps only usage), so tpsd sees them only when a server sends them.
 *   Ollama reports no cached prompt token count.
 *
 *   LM Studio REST v0 /api/v0/chat/completions `stats` (docs:
 *   1_developer/2_rest/endpoints.mdx): tokens_per_second,
 *   time_to_first_token (s), generation_time (s), stop_reason; and the
 *   v1 /api/v1/chat `stats` (1_developer/2_rest/chat.md,
 *   streaming-events.md `chat.end`): tokens_per_second,
 *   time_to_first_token_seconds, input_tokens, total_output_tokens,
 *   model_load_time_seconds. The v0 docs show stats on non-streamed
 *   answers only; streamed v0 answers are reported without them
 *   (lmstudio-ai/lmstudio-bug-tracker#676, lmstudio-js#320). LM Studio
 *   reports no cached prompt token count.
 *
 * The figures, each NAN (or -1) when the server did not say:
 *   prompt_tps     llama.cpp prompt_per_second (else prompt_n/prompt_ms);
 *                  Ollama prompt_eval_count / prompt_eval_duration;
 *                  LM Studio prompt tokens (v1 input_tokens, else the
 *                  usage's) / time_to_first_token - derived, LM Studio
 *                  reports no prompt rate
 *   decode_tps     the server's decode rate as it states it: llama.cpp
 *                  predicted_per_second (else predicted_n/predicted_ms),
 *                  Ollama eval_count / eval_duration, LM Studio
 *                  tokens_per_second
 *   ttft_ms        the server's time to first token: llama.cpp prompt_ms,
 *                  Ollama prompt_eval_duration (load_duration apart), LM
 *                  Studio time_to_first_token
 *   cached_tokens  llama.cpp cache_n
 *   decode_n, decode_ms   the tokens and span behind decode_tps when the
 *                  server gives them (llama.cpp predicted_n/_ms, Ollama
 *                  eval_count/_duration, LM Studio generation_time with
 *                  the usage's completion tokens)
 *
 * A field of the wrong type, negative or not finite is unknown and counted
 * in `bad`. Uses jansson; calls nothing of ours.
 */
#ifndef TPSD_SERVER_TIMINGS_H
#define TPSD_SERVER_TIMINGS_H

#include <jansson.h>
#include <stdint.h>

enum server_dialect {
    SERVER_DIALECT_NONE,
    SERVER_DIALECT_LLAMACPP,
    SERVER_DIALECT_OLLAMA,
    SERVER_DIALECT_LMSTUDIO,
};

struct server_timings {
    enum server_dialect dialect;
    double prompt_tps;
    double decode_tps;
    double ttft_ms;
    int64_t cached_tokens;
    int64_t decode_n;
    double decode_ms;
    int bad; /* fields present with an unusable value */
};

/* Set *t to "nothing known". Can't fail. */
void server_timings_init(struct server_timings *t);

/* llama.cpp's `timings` object into *t (initialised first). Returns 0, or
 * -1 when `timings` is not an object (*t stays unknown, bad = 1). */
int server_timings_llamacpp(const json_t *timings, struct server_timings *t);

/* Ollama's metrics, the members of `obj` (the final NDJSON object, or
 * tpsd's server_stats holding them at the top level), into *t. Returns 0,
 * 1 when obj holds none of them, -1 when obj is not an object. */
int server_timings_ollama(const json_t *obj, struct server_timings *t);

/* LM Studio's `stats` (v0 or v1 names) into *t. prompt_tokens and
 * completion_tokens are the usage's (-1 unknown), used where stats lack
 * them. Returns 0, or -1 when stats is not an object. */
int server_timings_lmstudio(const json_t *stats, int64_t prompt_tokens,
                            int64_t completion_tokens, struct server_timings *t);

/*
 * tpsd's stored server_stats text (daemon/chunk.h: {"stats": ...},
 * {"timings": ...} and Ollama's counters at the top level) into *t,
 * choosing the dialect by what is present (timings, then stats, then
 * Ollama's counters). text may be NULL. Returns 0 when a dialect was read,
 * 1 when text is NULL or holds none, -1 when it is not a JSON object or
 * the dialect's member has the wrong type (*t unknown).
 */
int server_timings_parse(const char *text, int64_t prompt_tokens, int64_t completion_tokens,
                         struct server_timings *t);

#endif

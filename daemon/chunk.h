/*
 * chunk.h - decoding one streamed OpenAI-style `chat.completion.chunk` (the
 * data of one SSE event) as LM Studio, llama.cpp, Ollama, vLLM and OpenAI send
 * it: generated text, reasoning text, finish reason, usage, model, in-stream
 * errors and the server's own statistics.
 *
 * Only choices[0] is read (tpsd asks for n = 1); its `delta`, or `message`
 * when a server sends a whole message. Fields of the wrong type are treated
 * as absent and counted in `type_errors`; only text that is not a JSON
 * object fails. Uses jansson; calls nothing of ours.
 */
#ifndef TPSD_CHUNK_H
#define TPSD_CHUNK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CHUNK_REASON_MAX 256   /* chunk.reason: why decoding failed */
#define CHUNK_SCRATCH_MAX 4096 /* chunk_scan's unescaped strings of one event */

/*
 * Pointers point into the parsed JSON (`root`), or into `scratch` when the
 * in-place scanner decoded the event (daemon/chunk_scan.h), and stay valid
 * until chunk_release() (a copy of the struct does not carry them). Strings are NUL-terminated;
 * text fields also carry their length because generated text may hold NULs. Integers are -1
 * when absent.
 */
struct chunk {
    int is_done;         /* the data was "[DONE]" */
    int has_choice;      /* choices[0] was an object */
    const char *content; /* delta.content; NULL when absent/null */
    size_t content_len;
    const char *reasoning; /* delta.reasoning_content, else delta.reasoning */
    size_t reasoning_len;
    const char *role;          /* delta.role, NULL when absent */
    int role_only;             /* a role and no text: not content-bearing */
    const char *finish_reason; /* NULL when absent or null */
    const char *model;         /* NULL when absent */
    int has_usage;             /* a `usage` object was present */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t reasoning_tokens;  /* usage.completion_tokens_details.reasoning_tokens */
    int is_error;              /* the chunk was {"error": ...} */
    const char *error_message; /* error.message, or error itself when a string */
    const char *error_type;    /* error.type, NULL when absent */
    const char *error_code;    /* error.code when a string, NULL otherwise */
    json_t *error;             /* borrowed: the `error` member */
    json_t *server_stats;      /* owned: {"stats"|"timings"|...: ...}, or NULL */
    int type_errors;           /* known fields that had the wrong type */
    json_t *root;              /* owned: the parsed chunk */
    char reason[CHUNK_REASON_MAX];
    char scratch[CHUNK_SCRATCH_MAX]; /* chunk_scan's strings; keep it last */
};

/*
 * Decode one event's data (`len` bytes, need not be NUL-terminated) into *c,
 * which is overwritten (it must not hold an unreleased chunk). "[DONE]"
 * (blanks around it allowed) sets is_done. Server statistics, when present,
 * are gathered into a new object in c->server_stats: LM Studio v0 `stats`,
 * `model_info` and `runtime`, llama.cpp `timings`, Ollama-style eval_count, eval_duration,
 * prompt_eval_count, prompt_eval_duration, total_duration, load_duration
 * (top level), each under its own name.
 *
 * Returns 0, or -1 when the data is not JSON or not an object (c->reason
 * says why; nothing to release, though chunk_release() is harmless).
 * The common shape is scanned in place without allocating (chunk_scan.h);
 * anything else goes through jansson, with the same result.
 */
int chunk_decode(struct chunk *c, const char *data, size_t len);

/* chunk_decode() through jansson alone, never the in-place scanner: the
 * reference the scanner is tested against. Same contract. */
int chunk_decode_tree(struct chunk *c, const char *data, size_t len);

/* 1 when the chunk carries generated text (content or reasoning), the kind
 * of event that ttft, itl and token estimates count. */
int chunk_has_text(const struct chunk *c);

/* Take ownership of c->server_stats (NULL when none); the caller then
 * json_decref()s it. chunk_release() no longer frees it. */
json_t *chunk_take_stats(struct chunk *c);

/* Free what *c owns; its pointers become invalid. Safe twice. */
void chunk_release(struct chunk *c);

#endif

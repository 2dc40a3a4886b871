/*
 * chunk_scan.h - the client's hot path: decoding the common
 * `chat.completion.chunk` event in place, without a JSON tree and without
 * allocating. chunk_decode() tries it first and falls back to jansson
 * (chunk_decode_tree) whenever the scanner declines.
 *
 * The shape it takes (keys in any order, whitespace anywhere JSON allows):
 *   {"id": str, "object": str, "created": int, "model": str|null,
 *    "system_fingerprint": str|null, "service_tier": str|null,
 *    "usage": null, "choices": [] | null | [{"index": int,
 *      "delta": {"role", "content", "reasoning_content", "reasoning",
 *                "refusal": str|null},
 *      "logprobs": null, "finish_reason": str|null}]}
 * Anything else declines: another key (usage or stats objects, timings,
 * error, tool_calls, message, text ...), a key seen twice, a second choice,
 * a missing or null delta, a value of another type, a number that is not a
 * plain integer of at most 18 digits, a key with an escape or a non-ASCII
 * byte, \u0000, a string or key longer than the scratch room, any syntax
 * error. Strings are checked as jansson checks them (strict UTF-8, escapes,
 * surrogate pairs, no raw control bytes), so what the scanner accepts,
 * jansson accepts too, with the same result field by field: fuzz/fuzz_chunk.c
 * checks that on every input.
 *
 * Strings are unescaped into c->scratch and NUL-terminated there; they stay
 * valid as long as *c is neither released, reused nor moved (copying a
 * struct chunk by value does not carry the pointers along). Calls nothing.
 */
#ifndef TPSD_CHUNK_SCAN_H
#define TPSD_CHUNK_SCAN_H

#include "daemon/chunk.h"

#include <stddef.h>

/*
 * Decode `len` bytes of event data into *c (overwritten; it must not hold an
 * unreleased chunk) when they have the common shape above. Returns 0 when
 * decoded (c->root and c->server_stats stay NULL: chunk_release() has
 * nothing to free), -1 when it declined: then *c is partly written, and the
 * caller decodes the data another way (chunk_decode_tree() resets *c).
 * Never allocates.
 */
int chunk_scan(struct chunk *c, const char *data, size_t len);

/*
 * Whether two decoded chunks say the same, field by field (texts by length
 * and bytes, other strings by value, NULL only equal to NULL, counts,
 * flags, whether an error or server statistics are present). Returns 1, or
 * 0 with the first differing field's name in `why` (of `whylen` bytes).
 * For the fuzz target and the tests that hold chunk_scan to jansson's result.
 */
int chunk_scan_same(const struct chunk *a, const struct chunk *b, char *why, size_t whylen);

#endif

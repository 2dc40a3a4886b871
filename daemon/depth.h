/*
 * depth.h - long-context requests (issue 16): a prompt that holds N tokens
 * of context before a case's messages, sized on the server itself.
 *
 * The context is deterministic filler: numbered records of eight words,
 * each record (a "unit") the same number of bytes. The model's tokenizer is
 * never needed: a run calibrates on the server (two probes with max_tokens
 * 1, reading usage.prompt_tokens: the case with no filler gives its base,
 * DEPTH_PROBE_UNITS units more give tokens per unit), then a request at
 * depth N carries round(N / tokens_per_unit) units. Every depth request
 * starts with a fresh nonce, so no prompt cache serves it; a warm request
 * repeats the previous cold one's prompt, so the cache does. A sample whose
 * server-counted prompt is more than DEPTH_OFF_PCT off base + N is flagged.
 *
 * Pure: calls nothing of ours but suite.h's types.
 */
#ifndef TPSD_DEPTH_H
#define TPSD_DEPTH_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/suite.h"

#define DEPTH_PROBE_UNITS 128 /* filler units of the calibration probe */
#define DEPTH_NONCE_MAX 32    /* "[depth 0123456789abcdef]" + NUL */
#define DEPTH_OFF_PCT 2.0     /* a prompt further off its size is flagged */
#define DEPTH_CTX_MARGIN 256  /* context kept beyond depth + max_tokens + messages */
#define DEPTH_UNIT_BYTES 65   /* bytes of one filler unit (depth.c): at most its tokens */

/* What a run learnt from its probes. */
struct depth_cal {
    int ok;                        /* the probes succeeded */
    double tokens_per_unit;        /* server tokens per filler unit */
    int64_t base[SUITE_CASES_MAX]; /* per case: prompt tokens with no filler; -1 unknown */
};

/* 1 when any case of s has a depth (the run must calibrate), else 0. */
int depth_suite_has(const struct suite *s);

/*
 * The context a model needs for every depth case of s: the largest of
 * depth + max_tokens (max_tokens_override when > 0, a job's sampling) +
 * the case's message bytes (a token is at least a byte) + DEPTH_CTX_MARGIN.
 * 0 when no case has a depth.
 */
int64_t depth_context_needed(const struct suite *s, int64_t max_tokens_override);

/*
 * The prefix of a depth request: nonce, then `units` filler units (0..
 * SUITE_DEPTH_MAX), as a new NUL-terminated string (caller frees), or
 * NULL on out of memory.
 */
char *depth_prefix(const char *nonce, int64_t units);

/* Filler units for `depth` tokens (calibrated), at least 0. */
int64_t depth_units(const struct depth_cal *cal, int64_t depth);

/*
 * Judge a sample of case `idx` at `depth` whose server counted
 * `prompt_tokens` (-1: unknown): *off_pct = 100 (prompt - (base + depth)) /
 * (base + depth), NAN when unknown; *flag = 1 when |off_pct| > DEPTH_OFF_PCT.
 */
void depth_judge(const struct depth_cal *cal, size_t idx, int64_t depth, int64_t prompt_tokens,
                 double *off_pct, int *flag);

/* Milliseconds added to the first-token deadline of a prompt of `tokens`
 * tokens at `ms_per_1k` per thousand. */
int64_t depth_extra_ms(int64_t tokens, int ms_per_1k);

#endif

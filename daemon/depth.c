/*
 * depth.c - long-context prompts (the contract is in depth.h).
 *
 * How it works: filler unit k is "Record %07lld: " and eight words picked
 * from a table of five-letter words by a hash of k and the word's place,
 * ending ".\n": DEPTH_UNIT_BYTES bytes, always, so tokens grow linearly
 * with units on any tokenizer up to the noise of word choice (averaged over
 * thousands of units). The text is the same on every run (no clock, no
 * seed); only the nonce before it differs.
 */
#include "daemon/depth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_WORDS 8 /* words in one unit */

static const char *const depth_words[] = {
    "amber", "basin", "cedar", "delta", "ember", "fjord", "grove", "haven",
    "inlet", "jetty", "knoll", "latch", "marsh", "north", "orbit", "prism",
    "quill", "ridge", "shore", "thorn", "umber", "vault", "wharf", "yield",
};
#define DEPTH_NWORDS (sizeof(depth_words) / sizeof(depth_words[0]))
/* DEPTH_UNIT_BYTES: "Record 0000000:" (15) + 8 x " word" (48) + ".\n" (2) */

int
depth_suite_has(const struct suite *s)
{
    size_t i;

    for (i = 0; i < s->n_cases; i++)
        if (s->cases[i].params.set & SUITE_P_DEPTH)
            return 1;
    return 0;
}

int64_t
depth_context_needed(const struct suite *s, int64_t max_tokens_override)
{
    int64_t need = 0, n;
    size_t i, k;

    for (i = 0; i < s->n_cases; i++) {
        const struct suite_case *c = &s->cases[i];

        if (!(c->params.set & SUITE_P_DEPTH))
            continue;
        n = c->params.depth + DEPTH_CTX_MARGIN +
            (max_tokens_override > 0 ? max_tokens_override : c->params.max_tokens);
        for (k = 0; k < c->n_messages; k++)
            n += (int64_t)strlen(c->messages[k].content);
        if (n > need)
            need = n;
    }
    return need;
}

/* splitmix64: the word of place w in unit k. */
static const char *
depth_word(int64_t k, int w)
{
    uint64_t z = (uint64_t)k * DEPTH_WORDS + (uint64_t)w + 0x9E3779B97F4A7C15ULL;

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return depth_words[z % DEPTH_NWORDS];
}

char *
depth_prefix(const char *nonce, int64_t units)
{
    size_t nl = strlen(nonce), len, off;
    char *p;
    int64_t k;
    int w;

    if (units < 0)
        units = 0;
    if (units > SUITE_DEPTH_MAX)
        units = SUITE_DEPTH_MAX;
    len = nl + 2 + (size_t)units * DEPTH_UNIT_BYTES + 1;
    p = malloc(len);
    if (p == NULL)
        return NULL;
    off = (size_t)snprintf(p, len, "%s\n\n", nonce);
    for (k = 0; k < units; k++) {
        off +=
            (size_t)snprintf(p + off, len - off, "Record %07lld:", (long long)(k % 10000000));
        for (w = 0; w < DEPTH_WORDS; w++)
            off += (size_t)snprintf(p + off, len - off, " %s", depth_word(k, w));
        off += (size_t)snprintf(p + off, len - off, ".\n");
    }
    return p;
}

int64_t
depth_units(const struct depth_cal *cal, int64_t depth)
{
    double u;

    if (depth <= 0 || !(cal->tokens_per_unit > 0))
        return 0;
    u = floor((double)depth / cal->tokens_per_unit + 0.5);
    return u > SUITE_DEPTH_MAX ? SUITE_DEPTH_MAX : (int64_t)u;
}

void
depth_judge(const struct depth_cal *cal, size_t idx, int64_t depth, int64_t prompt_tokens,
            double *off_pct, int *flag)
{
    double want;

    *off_pct = NAN;
    *flag = 0;
    if (idx >= SUITE_CASES_MAX || cal->base[idx] < 0 || prompt_tokens < 0)
        return;
    want = (double)(cal->base[idx] + depth);
    if (want <= 0)
        return;
    *off_pct = 100.0 * ((double)prompt_tokens - want) / want;
    *flag = fabs(*off_pct) > DEPTH_OFF_PCT;
}

int64_t
depth_extra_ms(int64_t tokens, int ms_per_1k)
{
    if (tokens <= 0 || ms_per_1k <= 0)
        return 0;
    return tokens * (int64_t)ms_per_1k / 1000;
}

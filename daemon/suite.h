/*
 * suite.h - benchmark suites as data: parsing and strict validation of the
 * suite JSON format (DESIGN.md, "Formats"), the built-in suites embedded from
 * suites/NAME.json, the validators that decide whether one output passed, and
 * the JSON the API shows.
 *
 * {"name": "...", "description": "...",
 *  "defaults": {<params>},
 *  "cases": [{"name": "...", "messages": [{"role": "...", "content": "..."}],
 *             <params>,
 *             "validate": {"min_tokens": N, "must_match": "ERE",
 *                          "must_not_match": "ERE", "finish_reasons": ["stop"]}}]}
 *
 * <params> are any of: max_tokens (1..1,000,000), temperature (0..2), top_p
 * (0..1), top_k (0..1,000,000), min_p (0..1), repeat_penalty (0..10),
 * presence_penalty and frequency_penalty (-2..2), seed (integer), nonce
 * (bool: prefix a per-request nonce to the prompt to defeat prompt caches),
 * depth (0..SUITE_DEPTH_MAX: the case's prompt holds that many tokens of
 * filler context before its messages, daemon/depth.h), warm (bool, with
 * depth: the request repeats the previous cold request's prefix, so the
 * server's prompt cache holds it).
 * A case's value wins over the default; every case needs a max_tokens from
 * one or the other. Unknown fields are errors. Regexes are POSIX extended
 * (regcomp REG_EXTENDED), matched anywhere in the text; '.' matches newlines.
 *
 * Uses jansson and <regex.h>; calls nothing of ours.
 */
#ifndef TPSD_SUITE_H
#define TPSD_SUITE_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#define SUITE_BYTES_MAX (1024 * 1024) /* largest suite JSON text */
#define SUITE_CASES_MAX 256           /* cases in one suite */
#define SUITE_MESSAGES_MAX 64         /* messages in one case */
#define SUITE_NAME_MAX 64             /* suite and case names + NUL */
#define SUITE_DESC_MAX 1024           /* description + NUL */
#define SUITE_REGEX_MAX 1024          /* one regex source + NUL */
#define SUITE_FINISH_MAX 8            /* allowed finish reasons of one case */
#define SUITE_REASON_MAX 32           /* one finish reason + NUL */
#define SUITE_MAX_TOKENS_MAX 1000000
#define SUITE_ERR_MAX 512        /* a good size for parse errors */
#define SUITE_FILE_NAME_MAX 128  /* a suite file name in suites_dir + NUL */
#define SUITE_PATH_MAX 2048      /* suites_dir/name + NUL */
#define SUITE_DEPTH_MAX 16777216 /* a case's depth in tokens (16M) */
#define SUITE_DEPTHS_MAX 32      /* depths of one sweep */

/* Bits of suite_params.set: which fields were given. */
enum {
    SUITE_P_MAX_TOKENS = 1 << 0,
    SUITE_P_TEMPERATURE = 1 << 1,
    SUITE_P_TOP_P = 1 << 2,
    SUITE_P_TOP_K = 1 << 3,
    SUITE_P_MIN_P = 1 << 4,
    SUITE_P_REPEAT_PENALTY = 1 << 5,
    SUITE_P_PRESENCE_PENALTY = 1 << 6,
    SUITE_P_FREQUENCY_PENALTY = 1 << 7,
    SUITE_P_SEED = 1 << 8,
    SUITE_P_NONCE = 1 << 9,
    SUITE_P_DEPTH = 1 << 10,
    SUITE_P_WARM = 1 << 11,
};

/* Request parameters; a field means something only when its bit is set. */
struct suite_params {
    unsigned set;
    int64_t max_tokens;
    double temperature;
    double top_p;
    int64_t top_k;
    double min_p;
    double repeat_penalty;
    double presence_penalty;
    double frequency_penalty;
    int64_t seed;
    int nonce;
    int64_t depth;
    int warm;
};

enum suite_role { SUITE_ROLE_SYSTEM, SUITE_ROLE_USER, SUITE_ROLE_ASSISTANT };

struct suite_message {
    enum suite_role role;
    char *content; /* owned, NUL-terminated */
};

struct suite_validate {
    int64_t min_tokens; /* -1: none */
    char *must_match;   /* owned source, NULL: none */
    char *must_not_match;
    regex_t must_match_re; /* compiled when the source is set */
    regex_t must_not_match_re;
    char finish_reasons[SUITE_FINISH_MAX][SUITE_REASON_MAX];
    size_t n_finish_reasons; /* 0: any */
};

struct suite_case {
    char name[SUITE_NAME_MAX];
    struct suite_message *messages; /* owned */
    size_t n_messages;
    struct suite_params params; /* resolved: the suite's defaults + the case's own */
    struct suite_validate validate;
};

struct suite {
    char name[SUITE_NAME_MAX];
    char description[SUITE_DESC_MAX];
    int builtin; /* loaded from an embedded suite */
    struct suite_params defaults;
    struct suite_case *cases; /* owned */
    size_t n_cases;
};

/*
 * Parse and validate a suite from `len` bytes of JSON (need not be
 * NUL-terminated). On success *out is a new suite the caller frees with
 * suite_free(). On failure returns -1, *out is NULL and `err` (errlen bytes)
 * names the place and the fault, e.g.
 *   case "code": validate.must_match: invalid regex: ...
 *   case #3: name: missing
 *   defaults.temperature: must be a number in 0..2
 */
int suite_parse(const char *json, size_t len, struct suite **out, char *err, size_t errlen);

/*
 * Load the suite `name`: a built-in ("standard", see suite_list_builtin()),
 * else the file `name` in `suites_dir` (the owner's own suites; NULL or ""
 * when none). Nothing a client sends names a path: a name is letters,
 * digits, '.', '_', '-', not starting with '.' (suite_file_name_ok); the file is
 * opened with O_NONBLOCK|O_NOFOLLOW and read only when it is a regular file
 * of at most SUITE_BYTES_MAX bytes, so a FIFO or a device cannot block.
 * An absent file, a link and a non-regular file get the same answer. On
 * success *out (suite_free) and, when json != NULL, *json (the suite as
 * JSON, a new reference). On failure -1 with a message in err that holds
 * nothing of any file's content (fit for an API client); what is wrong
 * inside an owner's file goes to why (whylen bytes; may be NULL), for the
 * daemon's log.
 */
int suite_load(const char *name, const char *suites_dir, struct suite **out, json_t **json,
               char *err, size_t errlen, char *why, size_t whylen);

/* 1 when `name` may name a suite of suites_dir (see suite_load), else 0. */
int suite_file_name_ok(const char *name);

/*
 * The suite file at `path`, for the user's own process (`tpsd run --suite
 * FILE`; the daemon never calls it): read as suite_load reads (a regular
 * file, O_NONBLOCK, size-capped), validated, and returned as JSON in *json
 * (a new reference) to be carried inline. 0, or -1 with a message naming
 * the file in err.
 */
int suite_read_path(const char *path, json_t **json, char *err, size_t errlen);

/* 1 when `name` is a built-in suite's name, else 0. */
int suite_is_builtin(const char *name);

/*
 * The built-in suites for GET /v1/suites: a new JSON array of
 * suite_to_json() objects the caller owns. NULL when out of memory (or when
 * an embedded suite is broken, which the tests rule out).
 */
json_t *suite_list_builtin(void);

/*
 * The suite as JSON in the input format (a new reference the caller owns):
 * defaults as given, each case with its resolved parameters, plus
 * "builtin": true|false. suite_parse() accepts it back, once "builtin" is
 * removed. NULL when out of memory.
 */
json_t *suite_to_json(const struct suite *s);

/* 1 when the case has any validator, else 0 (the sample's `passed` stays -1). */
int suite_case_validates(const struct suite_case *c);

/*
 * Judge one output of case `c`: `text` the generated content (NULL is ""),
 * `completion_tokens` (-1: unknown), `finish_reason` (NULL: none). Checks, in
 * order, finish_reasons, min_tokens, must_match, must_not_match. Returns 1
 * when every validator passes (or there are none), 0 on the first failure
 * with the reason in `why` (whylen bytes; may be NULL), e.g.
 * "min_tokens: 3 < 10", "finish_reason: \"length\" not in [stop]",
 * "must_match: no match for /def /". Can't fail otherwise.
 */
int suite_validate_output(const struct suite_case *c, const char *text,
                          int64_t completion_tokens, const char *finish_reason, char *why,
                          size_t whylen);

/*
 * The suite swept over `depths` (n of them, each 0..SUITE_DEPTH_MAX), as a
 * new suite in *out (suite_free): each case that carries no depth of its
 * own becomes one case per depth, named "NAME.dN" with depth N, followed
 * by "NAME.dN.warm" (warm) when `warm`; a case with its own depth stays
 * as it is (and gets its warm twin when `warm`). The names keep the depth
 * in every series' identity (trends, regressions, compare). 0, or -1 with
 * err: a name longer than SUITE_NAME_MAX allows, or more than
 * SUITE_CASES_MAX cases.
 */
int suite_with_depths(const struct suite *s, const int64_t *depths, size_t n, int warm,
                      struct suite **out, char *err, size_t errlen);

/* The case named `name`, or NULL. */
const struct suite_case *suite_find_case(const struct suite *s, const char *name);

/* Free the suite, its cases and compiled regexes. NULL is fine. */
void suite_free(struct suite *s);

#endif

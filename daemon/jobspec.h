/*
 * jobspec.h - a job spec (DESIGN.md "Formats"): parse, validate strictly,
 * normalise (every default filled in), and turn back into JSON.
 *
 * The same parser serves POST /v1/jobs, `tpsd submit --file` and `tpsd run`
 * (whose flags are turned into a spec). Errors name the field, e.g.
 * `load_pattern.concurrency: must be an integer in 1..4096`.
 */
#ifndef TPSD_JOBSPEC_H
#define TPSD_JOBSPEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/suite.h"

#include "daemon/caplevel.h"

#define JOBSPEC_MODELS_MAX 64
#define JOBSPEC_ERR_MAX 512

enum load_type { LOAD_SEQUENTIAL, LOAD_CONCURRENT, LOAD_RATE };

struct jobspec {
    char name[256];
    char kind[16];                    /* "benchmark" | "stability" | "capacity" */
    char *models[JOBSPEC_MODELS_MAX]; /* opaque keys, owned */
    int nmodels;
    json_t *suite;       /* a suite name (string) or an inline suite (object) */
    int repetitions;     /* default 3 (stability: 1 per cycle) */
    int warmup;          /* default 1 */
    enum load_type load; /* default sequential */
    int concurrency;     /* LOAD_CONCURRENT: 1..4096 */
    double rps;          /* LOAD_RATE: > 0 */
    double duration_s;   /* LOAD_RATE duration; stability: run length (any load) */
    double interval_s;   /* stability: cycle start to start (0: back to back) */
    json_t *sampling;    /* object of overrides: temperature, top_p, repeat_penalty, max_tokens,
                            seed */
    char backend[16];    /* backend_names.h's BACKEND_TYPES; default the first */
    long context_length; /* 0 = backend default */
    char gpu[32];        /* "" = default, else e.g. "max", "0.5" */
    char identifier[256];  /* "" = the model key */
    long ttl_s;            /* 0 = none */
    int keep_loaded;       /* do not unload at the end */
    char base_url[1024];   /* "" = the daemon's configured base_url */
    char api[16];          /* "openai" (default) | "lmstudio" (native /api/v0 with stats) */
    int nonce;             /* prefix a per-request nonce (prompt-cache busting) */
    int resume;            /* default 1: a job interrupted by a crash resumes */
    int priority;          /* default 0 */
    struct caplevel level; /* capacity: the service level (required) */
    /* "cooldown" (cooldown.h): each -1 when the job leaves it to the daemon's setting */
    int pause_between_models_ms;
    int pause_between_cases_ms; /* sequential and concurrent benchmarks only */
    int thermal_gate_max_wait_ms;
    /* A depth sweep (suite.h, suite_with_depths): ascending, distinct. */
    int64_t depths[SUITE_DEPTHS_MAX];
    int ndepths;    /* 0: no sweep */
    int depth_warm; /* each depth also measured warm (the prefix cached) */
};

/*
 * Parse and validate `spec` (not consumed). Unknown fields are rejected.
 * On success fills *out (free with jobspec_free) and returns 0; on failure
 * returns -1 with a message naming the field in err.
 */
int jobspec_parse(const json_t *spec, struct jobspec *out, char *err, size_t errlen);

/*
 * Check the spec's suite now, where the spec is submitted (POST /v1/jobs,
 * `tpsd run`), not when the worker runs it: a built-in name stays a name; a
 * name of the owner's `suites_dir` (NULL or "": none) is loaded there and
 * replaced by its contents, so that the job carries its suite and the
 * worker opens no file; an inline suite is validated. 0, or -1 with a
 * message for the client in err (nothing of a file's content) and, for an
 * invalid file of suites_dir, the reason in why for the daemon's log (why
 * may be NULL).
 */
int jobspec_resolve_suite(struct jobspec *s, const char *suites_dir, char *err, size_t errlen,
                          char *why, size_t whylen);

/* The normalised spec as JSON (every default explicit). New reference. */
json_t *jobspec_to_json(const struct jobspec *s);

void jobspec_free(struct jobspec *s);

#endif

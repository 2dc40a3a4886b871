/*
 * backend.h - model control: make the inference server serve exactly one
 * requested model, measure how long that took, and check before a job that
 * it can be done at all. Three backends behind one small vtable:
 *
 *   "lms"     LM Studio's CLI: lms unload --all, lms load KEY -y [...],
 *             lms ls/ps --json, lms version, lms server start. Every load
 *             is checked with lms ps --json (never /v1/models: with LM
 *             Studio's just-in-time loading it lists every downloaded model);
 *             a busy server (another client generating) is waited for.
 *   "none"    the server is managed by someone else; load only waits until
 *             the model is listed in GET /v1/models.
 *   "command" user-configured argv templates for load and unload.
 *
 * Every subprocess goes through spawn_run (argv, never a shell; own process
 * group; deadline; nothing left behind). Model keys are opaque strings: they
 * are passed as one argv element and compared whole, never split.
 *
 * Errors are a machine-readable code plus detail (with the tail of the
 * command's stderr). Calls spawn, sysmem, clock, log; libcurl and jansson.
 * Not thread-safe per instance: one backend belongs to one worker.
 */
#ifndef TPSD_BACKEND_H
#define TPSD_BACKEND_H

#include "daemon/backend_names.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

#define BACKEND_STR_MAX 1024           /* paths, URLs, tokens */
#define BACKEND_KEY_MAX 512            /* a model key or identifier */
#define BACKEND_DETAIL_MAX 768         /* error detail, stderr tail included */
#define BACKEND_TAIL_MAX 400           /* bytes of stderr quoted in a detail */
#define BACKEND_NOTES_MAX 1024         /* preflight notes */
#define BACKEND_REASONS_MAX 32         /* preflight failure reasons kept */
#define BACKEND_ARGV_MAX 32            /* elements of a command template / lms argv */
#define BACKEND_LOADED_MAX 32          /* loaded models reported */
#define BACKEND_HTTP_MAX (1024 * 1024) /* GET /v1/models body cap */
#define BACKEND_CMD_TIMEOUT_MS 60000   /* lms ls/ps/version/unload deadline */
#define BACKEND_LOAD_TIMEOUT_MS 600000 /* load deadline when the config says 0 */
#define BACKEND_BUSY_WAIT_MS 300000    /* busy server: wait this long when the config says 0 */

enum backend_code {
    BACKEND_OK = 0,
    BACKEND_LMS_NOT_FOUND,        /* lms_not_found */
    BACKEND_LMS_FAILED,           /* lms_failed: non-zero exit or killed by a signal */
    BACKEND_LOAD_TIMEOUT,         /* load_timeout: killed at the deadline / never listed */
    BACKEND_LMS_BAD_JSON,         /* lms_bad_json */
    BACKEND_SERVER_UNREACHABLE,   /* server_unreachable */
    BACKEND_MODEL_NOT_FOUND,      /* model_not_found */
    BACKEND_INSUFFICIENT_MEMORY,  /* insufficient_memory */
    BACKEND_MODEL_MISMATCH,       /* model_mismatch: another model is served */
    BACKEND_UNLOAD_FAILED,        /* unload_failed */
    BACKEND_COMMAND_FAILED,       /* command_failed: a "command" template failed */
    BACKEND_CANCELLED,            /* cancelled */
    BACKEND_BAD_CONFIG,           /* bad_config */
    BACKEND_INTERNAL,             /* internal: out of memory, pipes ... */
    BACKEND_SERVER_BUSY,          /* server_busy: another client kept the server busy */
    BACKEND_VARIANT_NOT_LOADABLE, /* variant_not_loadable: lms cannot load that variant */
    BACKEND_CONTEXT_TOO_SMALL,    /* context_too_small: a depth does not fit the context */
};

struct backend_err {
    enum backend_code code;
    char detail[BACKEND_DETAIL_MAX];
};

/* The settings only the "lms" backend reads. */
struct backend_lms_cfg {
    char path[BACKEND_STR_MAX]; /* "" = lms on PATH, then ~/.lmstudio/bin/lms */
    char gpu[32];               /* --gpu; "" = not passed */
    long ttl_s;                 /* --ttl; 0 = not passed */
    int busy_wait_ms;           /* wait for a busy server; 0 = BACKEND_BUSY_WAIT_MS,
                                 * < 0 = do not wait */
    int allow_server_start;     /* preflight may run `lms server start` */
};

/* The settings of one backend. backend_new() copies everything (the string
 * arrays too): the caller keeps ownership of what it passed. */
struct backend_cfg {
    char base_url[BACKEND_STR_MAX];     /* inference server, e.g. http://127.0.0.1:1234 */
    char server_token[BACKEND_STR_MAX]; /* sent as Authorization: Bearer; "" = none */
    int load_timeout_ms;                /* load command + until listed; 0 = default */
    int cmd_timeout_ms;                 /* other commands; 0 = BACKEND_CMD_TIMEOUT_MS */
    long context_length;                /* --context-length; 0 = not passed */
    char identifier[BACKEND_KEY_MAX];   /* --identifier; "" = served under the key */
    int memory_headroom_pct;            /* keep this % of total memory free */
    uint64_t mem_total_bytes;           /* 0 = measure (sysmem); tests override */
    uint64_t mem_available_bytes;       /* 0 = measure (sysmem); tests override */
    const char *const *load_cmd;        /* "command": NULL-terminated argv template */
    const char *const *unload_cmd;      /* "command": template; NULL = nothing to do */
    const char *const *env;             /* extra NAME=value for children; NULL-terminated */
    atomic_int *cancel;                 /* optional: nonzero aborts commands and waits */
    struct backend_lms_cfg lms;         /* "lms" only */
};

/* What preflight learnt about one model (zero / "" when unknown). */
struct backend_model_info {
    char key[BACKEND_KEY_MAX];
    int found;
    uint64_t size_bytes;
    char format[32]; /* as lms reports it: "gguf", "safetensors" (MLX) ... */
    char quant[64];  /* e.g. "Q4_K_S", "8bit" */
    char arch[64];
    char params[32]; /* e.g. "230B" */
    long max_context_length;
    uint64_t estimate_bytes; /* lms load --estimate-only "Estimated Total Memory" */
    int not_loadable;        /* lms cannot load it (a variant that is not selected): its
                              * load will fail with variant_not_loadable; not counted
                              * in the memory check, not a preflight failure */
};

/* A preflight's verdict. Fill with backend_preflight(); release with
 * backend_preflight_free(). */
struct backend_preflight {
    int nreasons; /* 0 = everything checked out */
    int nomitted; /* reasons beyond BACKEND_REASONS_MAX, not kept */
    struct backend_err reasons[BACKEND_REASONS_MAX];
    int nmodels;
    struct backend_model_info *models; /* nmodels entries, in the order asked */
    char notes[BACKEND_NOTES_MAX];     /* e.g. "started the server (lms server start)" */
    char version[128];                 /* the backend's version (lms: the CLI commit,
                                        * `lms version`); "" unknown */
    uint64_t mem_total_bytes, mem_available_bytes; /* as used for the check */
};

/* The measured load of one model. */
struct backend_load {
    int64_t load_ms;                 /* wall time of the load command (monotonic) */
    int64_t load_ready_ms;           /* load start -> the identifier listed in /v1/models */
    char served_id[BACKEND_KEY_MAX]; /* the id to put in requests' "model" */
};

struct backend_loaded_model {
    char identifier[BACKEND_KEY_MAX];
    char model_key[BACKEND_KEY_MAX]; /* "" when the backend cannot tell */
    char status[32];                 /* e.g. "idle", "generating"; "" unknown */
    long queued;                     /* pending requests; -1 unknown */
};

struct backend_loaded {
    int n;
    struct backend_loaded_model m[BACKEND_LOADED_MAX];
};

struct backend;

/* What a backend can do (backend_ops.caps), asked with backend_can(). */
#define BACKEND_CAN_UNLOAD 0x1     /* it unloads models (else the server is someone else's) */
#define BACKEND_NEEDS_LOAD_CMD 0x2 /* backend_new needs cfg->load_cmd */

struct backend_ops {
    const char *name;
    unsigned caps; /* BACKEND_CAN_* / BACKEND_NEEDS_* */
    int (*prepare)(struct backend *b, struct backend_err *err);
    int (*preflight)(struct backend *b, const char *const *models, int nmodels,
                     struct backend_preflight *pf);
    int (*load)(struct backend *b, const char *model, struct backend_load *res,
                struct backend_err *err);
    int (*unload)(struct backend *b, const char *id, struct backend_err *err);
    int (*list_loaded)(struct backend *b, struct backend_loaded *out, struct backend_err *err);
    json_t *(*describe)(struct backend *b);
    void (*free)(struct backend *b);
};

/*
 * Create a backend of `type` (backend_names.h's BACKEND_TYPES) with a deep copy of
 * *cfg. Resolves nothing yet (see backend_prepare). Returns the backend
 * (free with backend_free), or NULL with err filled: bad_config for an
 * unknown type or a "command" backend without load_cmd, internal on out of
 * memory.
 */
struct backend *backend_new(const char *type, const struct backend_cfg *cfg,
                            struct backend_err *err);

/* Find what the backend needs (lms: its absolute path). Idempotent; the
 * other calls run it themselves. 0, or -1 with err (lms_not_found). */
int backend_prepare(struct backend *b, struct backend_err *err);

/*
 * Check, before anything is unloaded, that the whole job can run: lms
 * found and runnable, server reachable (started when allowed, said so in
 * notes), every model known (with its size, format, quantisation), enough
 * memory (lms load --estimate-only's total when lms has it, else the model
 * size, <= available - headroom% of total). Collects ALL
 * failures in pf->reasons, and per-model facts in pf->models (owned by pf:
 * call backend_preflight_free even on failure). Changes nothing loaded.
 * Returns 0 when pf->nreasons == 0, else -1.
 */
int backend_preflight(struct backend *b, const char *const *models, int nmodels,
                      struct backend_preflight *pf);

/* Free what pf owns. NULL-safe, idempotent. */
void backend_preflight_free(struct backend_preflight *pf);

/*
 * Make the server serve `model`. lms: resolve the key against lms ls --json
 * (a key, an exact path loaded with --exact, or a variant key that is the
 * selected variant of its model), wait while the server is busy, unload
 * everything, load, then check with lms ps --json that the requested model
 * is loaded (and take its identifier). none/command: wait until the
 * identifier is listed in GET /v1/models. Fills *res. Returns 0, or -1 with
 * err: lms_not_found, lms_failed, command_failed, load_timeout (the command
 * was stopped at its deadline with its process group, or the model never
 * appeared), unload_failed, server_unreachable, model_mismatch, lms_bad_json,
 * model_not_found, variant_not_loadable (nothing was unloaded then),
 * server_busy, cancelled.
 */
int backend_load(struct backend *b, const char *model, struct backend_load *res,
                 struct backend_err *err);

/* Unload `id` (an identifier), or everything when id is NULL. 0, or -1 with
 * err (unload_failed, lms_not_found, cancelled). */
int backend_unload(struct backend *b, const char *id, struct backend_err *err);

/* What is loaded now (lms ps --json; /v1/models for the others). 0, or -1
 * with err (lms_bad_json, lms_failed, server_unreachable ...). */
int backend_list_loaded(struct backend *b, struct backend_loaded *out, struct backend_err *err);

/* Non-zero when the backend has capability `cap` (a BACKEND_CAN_* flag). */
int backend_can(const struct backend *b, unsigned cap);

/* The backend's part of the environment fingerprint: {"type", "lms_path",
 * "lms_version" (the CLI commit), ...}. New reference (caller owns), NULL on
 * out of memory. */
json_t *backend_describe(struct backend *b);

/* Free the backend. NULL-safe. */
void backend_free(struct backend *b);

/* "lms_not_found", ... for a code ("ok" for BACKEND_OK). Static string. */
const char *backend_code_name(enum backend_code code);

/* ---- shared by backend_*.c only ---- */

struct backend {
    const struct backend_ops *ops;
    struct backend_cfg cfg; /* deep copy: the arrays below own its strings */
    char **load_cmd, **unload_cmd, **env;
    char lms_path[BACKEND_STR_MAX]; /* resolved by prepare; "" before */
    char version[128];
    int prepared;
};

/* Each backend's vtable, one per BACKEND_TYPES entry. */
#define BACKEND_OPS_DECL(name, ops) extern const struct backend_ops ops;
BACKEND_TYPES(BACKEND_OPS_DECL)
#undef BACKEND_OPS_DECL

/* Set err (code + printf detail). Returns -1, for `return backend_fail(...)`. */
int backend_fail(struct backend_err *err, enum backend_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Add a preflight reason (code + detail); counts omitted ones past the cap. */
void backend_reason(struct backend_preflight *pf, enum backend_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Run argv[0] = path with argv, the minimal environment plus cfg.env and the
 * backend's deadline `timeout_ms`; at the deadline the group gets
 * `first_signal` (0 = SIGTERM), then SIGTERM, then SIGKILL; stdout is kept
 * up to out_max bytes (0 = SPAWN_CAPTURE_MAX). Returns 0 when it ran (see
 * spawn_run; r owns captures: spawn_result_free), -1 when it could not start. */
struct spawn_result;
int backend_run(struct backend *b, const char *path, char *const *argv, int timeout_ms,
                int first_signal, size_t out_max, struct spawn_result *r);

/* GET {base_url}/v1/models: the ids in `data`, as a new JSON array of
 * strings in *ids (caller owns). 0, or -1 with err server_unreachable (no
 * answer, HTTP error, unparsable body). */
int backend_server_models(struct backend *b, json_t **ids, struct backend_err *err);

/* list_loaded for backends that only know the server: the ids GET /v1/models
 * lists, with no key, status or queue. 0, or -1 with err. */
int backend_server_list_loaded(struct backend *b, struct backend_loaded *out,
                               struct backend_err *err);

/* prepare for backends with nothing to resolve (none, command): marks b
 * prepared. Returns 0. */
int backend_prepare_nothing(struct backend *b, struct backend_err *err);

/* 1 when the JSON array of strings `ids` holds `id`, else 0. */
int backend_ids_have(const json_t *ids, const char *id);

/* Poll /v1/models until `id` is listed or the monotonic deadline (ns)
 * passes; *ready_ns is when it was seen. 0, or -1 with err: model_mismatch
 * (the server answers but lists other models), server_unreachable,
 * load_timeout (nothing listed), cancelled. */
int backend_wait_listed(struct backend *b, const char *id, int64_t deadline_ns,
                        int64_t *ready_ns, struct backend_err *err);

/* The memory check of preflight for pf->models (found ones with a size). */
void backend_check_memory(struct backend *b, struct backend_preflight *pf,
                          uint64_t freed_bytes);

/* The load deadline in ms (cfg or BACKEND_LOAD_TIMEOUT_MS), and the other
 * commands' deadline. */
int backend_load_timeout_ms(const struct backend *b);
int backend_cmd_timeout_ms(const struct backend *b);

#endif

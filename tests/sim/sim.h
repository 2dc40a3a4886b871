/*
 * sim.h - tpsd-sim, the simulated OpenAI-compatible inference server used as
 * ground truth by the measuring tests.
 *
 * Modules: sim_model (model registry, config validation, load/unload, RSS
 * growth), sim_log (the per-request event log), sim_chat (the chat
 * completion streams), sim_http (routes and admin API), sim_main (CLI).
 * Every clock is CLOCK_MONOTONIC in nanoseconds.
 */
#ifndef TPSD_SIM_H
#define TPSD_SIM_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_KEY_MAX 512            /* model key, identifier */
#define SIM_TEXT_MAX 256           /* one token's text */
#define SIM_SHORT_MAX 64           /* format, quant, arch */
#define SIM_MODELS_MAX 512         /* registry size: a library of hundreds of models */
#define SIM_EVENT_TEXT_MAX 65536   /* tokens_per_event * strlen(text) */
#define SIM_TOKENS_MAX 1000000     /* max_tokens, output_tokens ... */
#define SIM_BODY_MAX (1024 * 1024) /* request body cap: 413 above */
#define SIM_LOG_MAX 100000         /* requests kept in the log */
#define SIM_ERR_MAX 256            /* validation error messages */

struct sim_fault {
    int http_500;
    long stall_ms;
    long stall_at;     /* -1: none */
    long drop_at;      /* -1: none */
    long malformed_at; /* -1: none */
    int no_done;
    long slow_accept_ms;
    long every; /* apply to every M-th request of the model */
};

/* A model's configuration plus its loaded state (a snapshot when copied). */
struct sim_model {
    char key[SIM_KEY_MAX];
    double ttft_ms;
    double tps;
    double jitter_ms;
    long tokens_per_event;
    long reasoning_tokens;
    long output_tokens; /* -1: null (generate max_tokens, "length") */
    int usage;
    char text[SIM_TEXT_MAX];
    double size_bytes;
    char format[SIM_SHORT_MAX];
    char quant[SIM_SHORT_MAX];
    char arch[SIM_SHORT_MAX];
    long max_context_length;
    long load_ms;
    double drift_pct_per_min;
    double rss_mb_per_min;
    /* The server's own timings on the OpenAI-compatible stream: "" (none,
     * as LM Studio's /v1 and Ollama's /v1 send) or "llamacpp" (llama.cpp
     * server's `timings`, sim_chat.c). LM Studio's v0 `stats` come with
     * the /api/v0 endpoint whatever this says. */
    char timings[SIM_SHORT_MAX];
    /* The server's clock runs this many percent fast: every duration it
     * reports (timings, stats) is (1 + pct/100) times the schedule's. */
    double server_clock_pct;
    /* Concurrency (sim_batch.c): at most `slots` requests at once, the rest
     * queued FIFO (0: no limit); `budget_tps` tokens/s shared by the
     * streams in the slots (0: none, each stream runs at tps). */
    long slots;
    double budget_tps;
    /* Depth (sim_chat.c has the formulas and their sources). prefill_tps:
     * prompt tokens per second at position 0 (0: no prefill term, the
     * TTFT is ttft_ms whatever the prompt); prefill_half_ctx: the position
     * where a prompt token costs twice as much (0: flat); decode_half_ctx:
     * the context where decoding runs at half of tps (0: flat). */
    double prefill_tps;
    double prefill_half_ctx;
    double decode_half_ctx;
    /* Prompt counting: templated characters per token (sim_chat.c). */
    double chars_per_token;
    /* The prompt cache (sim_chat.c). llama.cpp server's cache_prompt is on
     * by default (tools/server/README.md) and LM Studio reuses a prefix
     * too; off here unless the config says "prompt_cache": true, so the
     * tests of other figures, which repeat one prompt, keep their meaning
     * (every prompt token evaluated), as with "jit". */
    int prompt_cache;
    struct sim_fault fault;

    int loaded;
    char identifier[SIM_KEY_MAX];
    long context_length;
    uint64_t loaded_ns;
    long nrequests;
    long active; /* requests being answered now (lms ps: status, queued) */
};

/* sim_main.c */
extern atomic_int sim_stopping;
/* Just-in-time loading (LM Studio's default, docs "Run LM Studio as a
 * service (headless)": with JIT on, /v1/models lists every downloaded model
 * and a request naming an unloaded one loads it). Off unless the config says
 * "jit": true, so the tests of other backends keep their meaning. */
extern atomic_int sim_jit;
/* Monotonic clock in ns. Can't fail. */
uint64_t sim_now_ns(void);
/* Sleep until the monotonic time t_ns; wakes early (returning -1) when the
 * sim is stopping, else 0. */
int sim_sleep_until(uint64_t t_ns);

/* sim_model.c */
/* Initialise the registry (uptime starts now). Can't fail. */
void sim_model_init(void);
/* Free every model and its RSS ballast. */
void sim_model_shutdown(void);
/* Validate a model object and add it, or replace the model with that key
 * (keeping its loaded state). Returns 0, or -1 with a message naming the bad
 * field in err. Does not steal obj. */
int sim_model_put(const json_t *obj, char *err, size_t errlen);
/* Replace the fault object of model key. 0, or -1 with err. */
int sim_model_set_fault(const char *key, const json_t *fault, char *err, size_t errlen);
/* Load key under identifier (NULL: the key) after its load_ms. Returns 0,
 * -1 unknown key (404), -2 identifier taken by another model (409),
 * -3 stopping. */
int sim_model_load(const char *key, const char *identifier, long ctx_len);
/* Unload by identifier (or every model when ident is NULL). 0, -1 unknown. */
int sim_model_unload(const char *ident);
/* Find a loaded model by identifier or key, count the request (also as
 * active until sim_model_release), copy it to out. 0, or -1 when no such
 * model is loaded. */
int sim_model_acquire(const char *name, struct sim_model *out);
/* The request on the model with key `key` acquired earlier has ended. */
void sim_model_release(const char *key);
/* The prompt cache of model `key` (one slot, as llama.cpp server's
 * cache_prompt keeps per slot): the length in bytes of the prefix that
 * `prompt` (len bytes) shares with the prompt cached before; `prompt`
 * replaces it. 0 when the model is unknown or on out of memory. */
size_t sim_model_cache_swap(const char *key, const char *prompt, size_t len);
/* The decode rate of m at time now_ns, after drift. */
double sim_model_tps_at(const struct sim_model *m, uint64_t now_ns);
/* New JSON arrays: /v1/models entries (openai != 0: the loaded models, and
 * with sim_jit every other model under its key too) or the full state of
 * every model. Caller owns the result. */
json_t *sim_model_list(int openai);
/* Seconds since sim_model_init. */
double sim_model_uptime(void);
/* Grow the RSS ballast of loaded models to their rss_mb_per_min target;
 * called periodically by the main loop. */
void sim_model_tick(void);

/* sim_batch.c */
/* Does m queue past slots or share a decode budget? */
int sim_batch_uses(const struct sim_model *m);
/* Take a slot of model m, waiting FIFO while all are held. 0, or -1 when
 * the sim is stopping. Every 0 must be paired with sim_batch_leave. */
int sim_batch_enter(const struct sim_model *m);
/* Give back the slot taken by sim_batch_enter. */
void sim_batch_leave(const struct sim_model *m);
/* The decode rate of one stream of m now: min(tps, budget_tps / streams in
 * the slots), or tps when m has no budget. */
double sim_batch_rate(const struct sim_model *m, double tps);

/* sim_log.c */
enum sim_ev {
    SIM_EV_ROLE,
    SIM_EV_REASONING,
    SIM_EV_CONTENT,
    SIM_EV_USAGE,
    SIM_EV_DONE,
    SIM_EV_MALFORMED,
    SIM_EV_STATS,
    SIM_EV_BODY
};
/* Initialise the log. Can't fail. */
void sim_log_init(void);
/* Free the whole log. */
void sim_log_shutdown(void);
/* Start a request record; returns its id (1, 2, ...). model may be NULL. */
uint64_t sim_log_begin(const char *model, uint64_t t_recv_ns);
/* Set the status and fault (NULL: none) of request id. */
void sim_log_status(uint64_t id, int status, const char *fault);
/* Append an event to request id (ignored when it has been dropped). */
void sim_log_event(uint64_t id, uint64_t t_ns, enum sim_ev kind, long tokens);
/* The log as {"requests":[...]}; only request id when id != 0. Caller owns. */
json_t *sim_log_json(uint64_t id);
/* Drop every record (ids keep counting). */
void sim_log_clear(void);

/* sim_chat.c */
/* Answer a chat completion request (body complete at t_recv); v0 selects LM
 * Studio's native /api/v0 stream with stats. Returns MHD's queue result. */
enum MHD_Result sim_chat(struct MHD_Connection *con, const char *body, size_t len,
                         uint64_t t_recv, int v0);

/* sim_http.c */
/* Queue a JSON response with status; consumes obj. */
enum MHD_Result sim_reply_json(struct MHD_Connection *con, unsigned status, json_t *obj);
/* Queue {"error":{"message":msg,"type":type}} with status. */
enum MHD_Result sim_reply_error(struct MHD_Connection *con, unsigned status, const char *type,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Start the HTTP server on bind_addr:port; *port_out gets the bound port.
 * Returns the daemon or NULL. */
struct MHD_Daemon *sim_http_start(const char *bind_addr, int port, int *port_out);

#endif

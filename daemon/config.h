/*
 * config.h - tpsd's settings: one table of options, loaded in order of
 * precedence: built-in defaults < JSON config file < TPSD_* environment
 * variables < command-line flags (--name or --name=value).
 *
 * Every option has one name: "listen_port" is the JSON key, TPSD_LISTEN_PORT
 * the environment variable and --listen-port the flag. Calls only log.
 */
#ifndef TPSD_CONFIG_H
#define TPSD_CONFIG_H

#include <stddef.h>

#define CONFIG_STR_MAX 1024
#define CONFIG_ERR_MAX 512

struct config {
    char db[CONFIG_STR_MAX];           /* database path; "" = default */
    char listen_addr[CONFIG_STR_MAX];  /* 127.0.0.1 */
    int listen_port;                   /* 8765 */
    char token_file[CONFIG_STR_MAX];   /* bearer token for our API; "" = none */
    char cors_origins[CONFIG_STR_MAX]; /* comma-separated; "" = CORS off */
    char log_level[32];                /* info */
    char log_file[CONFIG_STR_MAX];     /* "" = stderr */
    char lms[CONFIG_STR_MAX];          /* lms path; "" = PATH, then ~/.lmstudio/bin/lms */
    char base_url[CONFIG_STR_MAX];     /* inference server, http://127.0.0.1:1234 */
    char server_token[CONFIG_STR_MAX]; /* bearer token for the inference server */
    int allow_server_start;            /* preflight may run `lms server start` */
    int client_libcurl;      /* stream through libcurl even for plain http:// servers */
    int memory_headroom_pct; /* preflight: keep this % of RAM free */
    int connect_timeout_ms;
    int first_token_timeout_ms;
    int first_token_ms_per_1k; /* added to it per 1,000 prompt tokens of a depth request */
    int stall_timeout_ms;
    int request_timeout_ms;
    int load_timeout_ms;
    int busy_wait_s;    /* lms: wait this long for another client's work */
    int max_body_bytes; /* REST request body cap */
    int max_connections;
    int connection_timeout_s;
    /* System sampling and stability analysis (sysinfo.h, stability.h). */
    int server_pid;                      /* inference server pid for its RSS; 0 = by name */
    char server_process[CONFIG_STR_MAX]; /* its process name (prefix); macOS "LM Studio" */
    int sample_interval_ms;              /* system samples during benchmarks; 0 = none */
    int stability_sample_interval_ms;    /* ... during stability jobs */
    int stability_window_s;              /* analysis window */
    int stability_event_s;               /* "stability" events on a job's stream */
    int stability_warmup_s;              /* the memory fit skips this start */
    int leak_mb_per_hour;                /* leak verdict: server RSS growth at least */
    int leak_min_growth_mb;              /* ... and at least this much in all */
    /* Storage and suites (storage/db.h, daemon/suite.h). */
    char suites_dir[CONFIG_STR_MAX]; /* the owner's suite files, by name; "" = none */
    int storage_retry_s;             /* a write waits this long for a lock before failing */
    /* Cool-down and thermal gating (cooldown.h); a job's "cooldown" overrides the first three.
     */
    int pause_between_models_ms;         /* before each model but the job's first */
    int pause_between_cases_ms;          /* before each case but a run's first */
    int thermal_gate_max_wait_ms;        /* before each model: wait for nominal; 0 = no gate */
    int thermal_gate_poll_ms;            /* the gate reads the thermal state this often */
    char thermal_source[CONFIG_STR_MAX]; /* "" = the OS; else a test/ops hook (sysinfo.h) */
    /* Capacity search (daemon/capacity.h). */
    int capacity_step_requests;       /* each step: at least this many requests */
    int capacity_step_s;              /* ... and at least this many seconds */
    int capacity_max_concurrency;     /* highest concurrency tried (rate: x first rate) */
    int capacity_rate_resolution_pct; /* a rate search's bracket at the end */
};

/* Fill `c` with the built-in defaults. Can't fail. */
void config_defaults(struct config *c);

/* Apply a JSON config file. Unknown keys and wrong types are errors naming
 * the key. Returns 0, or -1 with a message in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* Apply TPSD_* variables from the environment. 0 or -1 (message in err). */
int config_load_env(struct config *c, char *err, size_t errlen);

/*
 * Try to apply argv[*i] as a config flag (--name value or --name=value),
 * advancing *i past a consumed value. Returns 1 if it was a config flag,
 * 0 if not ours, -1 on a bad value (message in err).
 */
int config_apply_flag(struct config *c, int argc, char **argv, int *i, char *err,
                      size_t errlen);

/* Set option `name` (JSON spelling) from a string. 0 or -1 (message in err). */
int config_set(struct config *c, const char *name, const char *value, char *err, size_t errlen);

/* Print the options table (for --help). */
void config_usage(void);

#endif

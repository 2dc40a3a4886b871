/*
 * testutil.h - helpers shared by the tests: temporary folders, files, child
 * processes (tpsd-sim, the fake lms, tpsd serve), and a small HTTP client.
 *
 * Unless said otherwise, functions return 0 / -1 and never abort the test;
 * the tests decide what a failure means.
 */
#ifndef TPSD_TESTUTIL_H
#define TPSD_TESTUTIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TU_PATH_MAX 1024
#define TU_URL_MAX 128
/* A job spec the API accepts: one model, the standard suite. */
#define TU_JOB "{\"models\": [\"unsloth/MiniMax-M2.1-GGUF@Q4_K_S\"], \"suite\": \"standard\"}"
#define TU_FILE_MAX (64 * 1024 * 1024) /* tu_read_file refuses bigger */

/* A fresh empty folder under $TMPDIR (or /tmp); static buffer, valid until
 * the next call. Aborts the test on failure. */
const char *tu_tmpdir(void);
/* Path of a file under the source tree ($TPSD_SRC/rel); static buffer. */
const char *tu_src(const char *rel);
/* The positive whole number in environment variable `name`, or dflt when it
 * is unset, empty, not a number or not positive (the benchmarks' knobs). */
long tu_env_long(const char *name, long dflt);

/* CLOCK_MONOTONIC in nanoseconds (the clock tpsd-sim logs with). */
uint64_t tu_now_ns(void);
/* Sleep for ms milliseconds. */
void tu_sleep_ms(long ms);

/* Write text to path (create or truncate). */
int tu_write_file(const char *path, const char *text);
/* The whole file at path, NUL-terminated (caller frees); a file that
 * cannot be read fails the test. */
char *tu_slurp(const char *path);
/* Read a whole file into *out (NUL-terminated, caller frees); *len may be
 * NULL. -1 when missing, unreadable or larger than TU_FILE_MAX. */
int tu_read_file(const char *path, char **out, size_t *len);

/* argv (room for max pointers) with the arguments after max, up to a NULL,
 * put in from index n on and a NULL after them; returns the index of that
 * NULL. More than fits fails the test. TU_ARGV(argv, n, ...) on an array. */
int tu_argv(char **argv, int n, int max, ...);
#define TU_ARGV(argv, n, ...)                                                                  \
    tu_argv((argv), (n), (int)(sizeof(argv) / sizeof((argv)[0])), __VA_ARGS__, (char *)NULL)

/* Start argv[0] (a path) with argv via posix_spawn, in its own process group
 * when new_pgrp. stdout/stderr go to the given files (NULL: inherited).
 * The child inherits this process's environment. */
int tu_spawn(char *const argv[], const char *stdout_path, const char *stderr_path, int new_pgrp,
             pid_t *pid);
/* Wait up to timeout_ms for pid to exit; *status gets the waitpid status
 * (may be NULL). 0 when it exited, -1 on timeout (the child is left
 * running). */
int tu_wait_pid_exit(pid_t pid, long timeout_ms, int *status);
/* Stop pid: SIGTERM, and SIGKILL when it has not exited after grace_ms;
 * reaped either way. pid <= 0 does nothing. */
void tu_stop_pid(pid_t pid, long grace_ms);
/* Run argv to completion (tu_spawn + wait up to timeout_ms, killing its
 * process group on timeout). *exit_code gets the exit status, or 128+signal.
 * Returns -1 on spawn failure or timeout. */
int tu_run(char *const argv[], const char *stdout_path, const char *stderr_path,
           long timeout_ms, int *exit_code);

/* HTTP request with libcurl (60 s timeout). headers: NULL-terminated list
 * of "Name: value" or NULL; body NULL for none. *status gets the HTTP status
 * (0 when none arrived); *resp_body (may be NULL) gets the body received,
 * even partial, NUL-terminated; caller frees. -1 on a transport error. */
int tu_http(const char *method, const char *url, const char *body, const char *const *headers,
            long *status, char **resp_body);

/* A running tpsd-sim. */
struct tu_sim {
    pid_t pid;
    int port;
    char base_url[TU_URL_MAX]; /* "http://127.0.0.1:PORT" */
    char dir[512];             /* config, port file, stdout, stderr */
};

/* Start $TPSD_SIM on a free port with config_json (NULL: no models) and wait
 * until it answers GET /v1/models. Its stdout and stderr go to files in
 * out->dir; it exits by itself when this process dies (--exit-with-parent),
 * so a failed CHECK leaves no sim behind. 0, or -1 (message on stderr). */
int tu_sim_start(const char *config_json, struct tu_sim *out);
/* SIGTERM, wait up to 5 s, then SIGKILL. Safe on a stopped sim. */
void tu_sim_stop(struct tu_sim *sim);
/* method + sim base URL + path; *resp gets the parsed JSON body (NULL when
 * not JSON; may be NULL). Returns the HTTP status, or -1. */
long tu_sim_call(const struct tu_sim *sim, const char *method, const char *path,
                 const char *body, json_t **resp);
/* GET /sim/log parsed; NULL on failure. Caller decrefs. */
json_t *tu_sim_log(const struct tu_sim *sim);

/*
 * n threads (at most TU_RACE_MAX) POST `body` to `url` at once with one
 * Idempotency-Key `key`: fails the test unless every answer is 201 or 200,
 * exactly one is 201 and all name the same job. Returns that job's id.
 */
#define TU_RACE_MAX 64
int64_t tu_race_post(const char *url, const char *body, const char *key, int n);

/* A socket connected to 127.0.0.1:port; fails the test when it cannot. */
int tu_dial(int port);
/* 1 when the peer ended the socket fd (a read, without waiting, gives the
 * end of the stream or an error), 0 while it is open or has sent data. */
int tu_peer_closed(int fd);
/* A free loopback port (bound, read, released), or -1. */
int tu_free_port(void);

/* Poll the file at path (every 20 ms, up to timeout_ms) until it holds
 * `needle`: 0, or -1 on timeout. */
int tu_wait_file_has(const char *path, const char *needle, long timeout_ms);

#endif

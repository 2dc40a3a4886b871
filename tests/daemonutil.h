/*
 * daemonutil.h - helpers for the tests that drive a real `tpsd serve`
 * process ($TPSD_BIN) against tpsd-sim and the fake `lms`: a temporary
 * HOME, database and port, start/stop/kill of the daemon, JSON calls to its
 * API, an SSE reader, SQL on the database file, and (Linux) a scan for the
 * processes the daemon left behind.
 *
 * Functions return 0 / -1 (or a status) and never abort the test unless
 * said so; the CHECK-ing ones are named du_must_*.
 */
#ifndef TPSD_DAEMONUTIL_H
#define TPSD_DAEMONUTIL_H

#include <jansson.h>
#include <sqlite3.h>
#include <sys/types.h>

#include "tests/testutil.h"

struct db;

/* A tpsd-sim model entry (JSON object text): key, 20 ms to the first token,
 * then tps (a literal number) tokens/s of "hello world ", 1 GB on disk. */
#define DU_MODEL(key, tps)                                                                     \
    "{\"key\":\"" key "\",\"ttft_ms\":20,\"tps\":" #tps                                        \
    ",\"text\":\"hello world \",\"size_bytes\":1e9}"

#define DU_ARGS_MAX 32
#define DU_PIDS_MAX 64
#define DU_START_MS 20000 /* tpsd serve up and answering healthz */

struct du_env {
    struct tu_sim sim;
    char dir[TU_PATH_MAX / 2];
    char home[TU_PATH_MAX];
    char db[TU_PATH_MAX];
    char lms_cfg[TU_PATH_MAX + 64]; /* the fake lms's config file */
    char argv_log[TU_PATH_MAX];     /* the fake lms's argv log */
    char log[TU_PATH_MAX];          /* the daemon's stderr (appended across restarts) */
    char url[TU_URL_MAX];           /* http://127.0.0.1:PORT */
    int port;
    pid_t pid; /* the daemon; -1 when not running */
    int starts;
    char token[128]; /* sent as a bearer token by du_call when set */
};

/*
 * A temporary folder with HOME (exported), the fake lms config pointing at
 * a fresh tpsd-sim serving `models_json` (the inside of a JSON array), a
 * database path and a free port. `lms_extra` is added to the fake lms
 * config object (e.g. "\"load_delay_ms\":200") or NULL. CHECKs on failure.
 */
void du_must_setup(struct du_env *e, const char *models_json, const char *lms_extra);
/* Rewrite the fake lms config with `lms_extra` (NULL: none). CHECKs. */
void du_must_lms_config(struct du_env *e, const char *lms_extra);

/* Start `tpsd serve` (--db, --listen-port, --lms, the extras: a
 * NULL-terminated list or NULL) and wait until /v1/healthz answers 200.
 * 0, or -1 when it exited or did not come up (it is killed then). */
int du_start(struct du_env *e, const char *const *extra);
/* du_start or fail the test, showing the daemon's log. */
void du_must_start(struct du_env *e, const char *const *extra);
/* Send sig and wait up to timeout_ms for the exit; *status gets the wait
 * status. 0, or -1 on timeout (the daemon is SIGKILLed then). */
int du_signal_wait(struct du_env *e, int sig, long timeout_ms, int *status);
/* SIGKILL and reap. Safe when not running. */
void du_kill(struct du_env *e);
/* Stop everything (daemon: SIGTERM then SIGKILL; the sim). */
void du_teardown(struct du_env *e);

/* method path (under e->url) with a JSON body (or NULL) and extra headers
 * (NULL-terminated "Name: value" list or NULL). Returns the HTTP status (0
 * when none, -1 on transport error); *resp gets the parsed body (NULL when
 * not JSON; resp may be NULL). */
long du_call(struct du_env *e, const char *method, const char *path, const char *body,
             const char *const *headers, json_t **resp);
/* Like du_call, the raw body into *text (caller frees) and the value of
 * the response header `hdr` (when not NULL) into hval (hlen bytes). */
long du_call_raw(struct du_env *e, const char *method, const char *path, const char *body,
                 const char *const *headers, char **text, const char *hdr, char *hval,
                 size_t hlen);

/*
 * A job spec for the sim: models (NULL-terminated), the two-case inline
 * suite with max_tokens `tokens`, repetitions, warmup, backend type
 * `backend` ("lms", "none") and the sim's base URL; `extra` (NULL or JSON
 * members like "\"resume\":false") is added to the object. Caller frees.
 */
char *du_spec(struct du_env *e, const char *const *models, int tokens, int repetitions,
              int warmup, const char *backend, const char *extra);
/* POST /v1/jobs with spec; CHECKs 201 and returns the job id. */
long long du_must_submit(struct du_env *e, const char *spec);
/* du_must_submit of the spec du_spec makes of the same arguments. */
long long du_must_submit_job(struct du_env *e, const char *const *models, int tokens,
                             int repetitions, int warmup, const char *backend,
                             const char *extra);
/* GET /v1/jobs/{id} (NULL when not 200). Caller decrefs. */
json_t *du_job(struct du_env *e, long long id);
/* Poll the job (every 20 ms) until its state is final, up to timeout_ms.
 * Returns the state in buf, or "" on timeout. */
const char *du_wait_final(struct du_env *e, long long id, long timeout_ms, char *buf,
                          size_t len);
/* Poll until the job has at least n stored samples (warm-ups included) in
 * the database, up to timeout_ms. 0 or -1. */
int du_wait_samples(struct du_env *e, long long id, int n, long timeout_ms);

/*
 * Read GET path as Server-Sent Events: at most max_events events (0: until
 * the server ends the stream), starting after last_id (Last-Event-ID; 0 =
 * none), for up to timeout_ms. *out gets an array of {"id": n, "event":
 * type, "data": parsed}. 0, or -1 on a transport error other than the
 * deliberate stop (partial events are still returned).
 */
int du_sse(struct du_env *e, const char *path, long long last_id, int max_events,
           long timeout_ms, json_t **out);

/* storage's db_open of path (created and migrated when new); a failure
 * fails the test. */
struct db *du_db_open(const char *path);
/* The database at path, read-only, waiting up to 5 s on a lock (a new
 * connection each call). CHECKs. */
sqlite3 *du_open_ro(const char *path);
/* tpsd-sim started with {sim_extra "models":[models_json]} (sim_extra: ""
 * or members, each followed by a comma), and the folders home and
 * home/.lmstudio made. CHECKs. */
void du_sim_and_home(struct tu_sim *sim, const char *sim_extra, const char *models_json,
                     const char *home);
/* Open the database read-only (a new connection each call). CHECKs. */
sqlite3 *du_must_db(struct du_env *e);
/* First column of the first row as a number (NAN when NULL or no row).
 * A bad statement fails the test. */
double du_q(sqlite3 *db, const char *sql);
/* du_q on a connection of its own to e's database, closed after. */
double du_env_q(struct du_env *e, const char *sql);
/* du_q on the statement printf-style fmt makes (at most DU_SQL_MAX - 1
 * bytes). */
#define DU_SQL_MAX 2048
double du_qf(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first column of the first row of the statement fmt makes, as text
 * into out ("" when NULL or no row). A bad statement fails the test. */
void du_qs(sqlite3 *db, char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Linux: pids of the processes (other than the daemon, the sim and this
 * process) whose environment holds HOME=e->home: the fake lms and what it
 * started. Returns how many (0 elsewhere), at most max.
 */
int du_home_pids(struct du_env *e, pid_t *pids, int max);
/* 1 when pid is alive (and not a zombie), else 0. */
int du_pid_alive(pid_t pid);
/* The daemon's log, for failure messages (static buffer, tail). */
const char *du_log_tail(struct du_env *e);

#endif

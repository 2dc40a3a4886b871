/*
 * rest.h - the REST client of the CLI verbs (`tpsd submit`, `jobs`, `job`,
 * `watch`, `cancel`): it finds the daemon, carries the bearer token, sends
 * one request with libcurl and turns the daemon's error answers into exit
 * statuses. Not the streaming client of the measurements (daemon/client.h).
 *
 * The URL is --url, else TPSD_URL, else http://<listen_addr>:<listen_port>
 * from the configuration (127.0.0.1:8765); the bearer token is --token,
 * else TPSD_TOKEN, else the configured token_file.
 *
 * Calls cmd.h (config flags) and libcurl; nothing else of ours.
 */
#ifndef TPSD_REST_H
#define TPSD_REST_H

#include <jansson.h>

#include "daemon/cli/cmd.h"
#include "daemon/curl_dl.h"

#define REST_URL_MAX 2048
#define REST_TOKEN_MAX 4096              /* bytes of a token (the server's cap) */
#define REST_BODY_MAX (64 * 1024 * 1024) /* a response body we keep */
#define REST_TIMEOUT_S 30                /* one request (not the event stream) */
#define REST_CONNECT_TIMEOUT_S 5
#define REST_PATH_MAX 256 /* a request path under the base URL */

/* Where the daemon is and how to speak to it. */
struct rest {
    char base[REST_URL_MAX];        /* no trailing slash */
    char auth[REST_TOKEN_MAX + 32]; /* "Authorization: Bearer ..." or "" */
    const char *verb;               /* "submit", "watch" ...: for messages */
    int json;                       /* --json: print the daemon's JSON */
    int quiet;                      /* do not print "cannot reach" (watch retries) */
};

/* One answer of the daemon. */
struct rest_reply {
    long status;
    char *body; /* NUL-terminated; owned */
    size_t len;
    json_t *json; /* body parsed, or NULL */
    int too_big;
};

/* A verb's arguments: config flags, the flags every verb takes and
 * positional arguments. */
struct rest_args {
    struct config cfg;
    const char *url, *token;
    int json, help;
    char **pos; /* positional arguments */
    int npos;
    char **rest; /* argv minus config flags (owned) */
    int nrest;
};

/* The usage lines of --url, --token and --json, for a verb's --help. */
extern const char rest_usage[];

/*
 * Fill cl for `verb` from url and token (the flags; NULL when not given),
 * the environment and cfg. Returns 0, or -1 after printing why (a bad
 * --url, an unreadable token_file, a token with a line break).
 */
int rest_init(struct rest *cl, const char *verb, const struct config *cfg, const char *url,
              const char *token);

/*
 * The request headers: Accept JSON, the bearer token, Content-Type when
 * json_body, and `extra` (one header line, may be NULL). A new list the
 * caller frees with curl_slist_free_all; NULL when out of memory.
 */
struct curl_slist *rest_headers(const struct rest *cl, const char *extra, int json_body);

/* Print "cannot reach the daemon at BASE: why" unless cl->quiet. */
void rest_unreachable(const struct rest *cl, const char *why);

/*
 * One request: method, path (under the base URL), optional JSON body and
 * one extra header line (may be NULL). Returns 0 when an HTTP answer
 * arrived, whatever its status (*r filled; free with rest_reply_free), -1
 * when the daemon could not be reached (printed; *r empty).
 */
int rest_call(const struct rest *cl, const char *method, const char *path, const char *body,
              const char *extra, struct rest_reply *r);

/* Free what *r holds and empty it; an empty reply is fine. */
void rest_reply_free(struct rest_reply *r);
/* GET path. 0 when the daemon answered 200 with a JSON body (in *r), else
 * the verb's exit code, printed: EXIT_UNAVAILABLE when the daemon cannot be
 * reached, rest_reply_error's for an error answer. Free *r either way. */
int rest_get_json(const struct rest *cl, const char *path, struct rest_reply *r);

/*
 * Print the daemon's error answer and return the exit status it maps to:
 * EXIT_UNAVAILABLE for 5xx, EXIT_USAGE for 400, 413, 415, 422 (a spec the
 * daemon rejected), EXIT_WORK_FAILED for the rest (404, 409 ...).
 */
int rest_reply_error(const struct rest *cl, const struct rest_reply *r);

/*
 * Split argv[0..argc) into config flags, --url/--token/--json/--help, the
 * verb's `own` flags (may be NULL) and positional arguments, into *a.
 * Returns 0, or -1 after printing the error; free *a with rest_args_free
 * either way.
 */
int rest_args_parse(const char *verb, int argc, char **argv, const struct cmd_flag *own,
                    struct rest_args *a);
void rest_args_free(struct rest_args *a);

/*
 * The start every `tpsd VERB ID` shares: parse argv[0..argc) (no flags of
 * the verb's own) into *a; on --help print `usage` and rest_usage to
 * stdout and return 1; else read the one job id into *id, fill *cl (with
 * --json) and return 0. -1 after printing a usage error. Free *a with
 * rest_args_free whatever it returns.
 */
int rest_job_verb(const char *verb, const char *usage, int argc, char **argv,
                  struct rest_args *a, struct rest *cl, long long *id);

#endif

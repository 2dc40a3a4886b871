/*
 * cmd_client.c - the client verbs of the daemon: `tpsd submit`, `tpsd jobs`,
 * `tpsd job ID`, `tpsd watch ID` and `tpsd cancel ID`. They talk to
 * `tpsd serve` over its REST API with libcurl: the URL is --url, else
 * TPSD_URL, else http://<listen_addr>:<listen_port> from the configuration
 * (127.0.0.1:8765); the bearer token is --token, else TPSD_TOKEN, else the
 * configured token_file. Human tables by default, the server's JSON with
 * --json.
 *
 * Exit status: 0 done; 1 the daemon refused (404, 409 ...) or the job
 * failed; 2 bad usage or a spec the daemon rejected (400, 413, 415, 422);
 * 3 the daemon is unreachable or unavailable (5xx); `tpsd watch` ends with
 * the job's state: 0 succeeded, 1 failed, 4 cancelled, 5 interrupted.
 */
#include "daemon/cli/cmd.h"

#include "daemon/sse.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_URL_MAX 2048
#define CLIENT_TOKEN_MAX 4096              /* bytes of a token (the server's cap) */
#define CLIENT_BODY_MAX (64 * 1024 * 1024) /* a response body we keep */
#define CLIENT_FILE_MAX (8 * 1024 * 1024)  /* a spec or suite file we send */
#define CLIENT_TIMEOUT_S 30                /* one request (not the event stream) */
#define CLIENT_CONNECT_TIMEOUT_S 5
#define CLIENT_STREAM_IDLE_S 60    /* the stream sends a keep-alive every 15 s */
#define CLIENT_WATCH_RETRY_MS 1000 /* watch: reconnect after */
#define CLIENT_WATCH_RETRIES 120   /* watch: reconnects in a row (a daemon restart) */
#define CLIENT_PATH_MAX 256

struct client {
    char base[CLIENT_URL_MAX];        /* no trailing slash */
    char auth[CLIENT_TOKEN_MAX + 32]; /* "Authorization: Bearer ..." or "" */
    const char *verb;
    int json;
    int quiet; /* do not print "cannot reach" (watch retries) */
};

struct reply {
    long status;
    char *body; /* NUL-terminated; owned */
    size_t len;
    json_t *json; /* body parsed, or NULL */
    int too_big;
};

static void
reply_free(struct reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* ---- set-up ---- */

/* Read a token file: one non-empty line. 0 or -1 (printed). */
static int
read_token(const char *verb, const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "tpsd %s: token_file %s: %s\n", verb, path, strerror(errno));
        return -1;
    }
    n = fread(out, 1, outlen - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (n == 0 || strchr(out, '\n') != NULL) {
        fprintf(stderr, "tpsd %s: token_file %s: must hold one non-empty line\n", verb, path);
        return -1;
    }
    return 0;
}

/* Fill cl from the flags, the environment and the configuration. 0 or -1
 * (printed). */
static int
client_init(struct client *cl, const char *verb, const struct config *cfg, const char *url,
            const char *token)
{
    char tok[CLIENT_TOKEN_MAX + 1];
    const char *host = cfg->listen_addr;
    size_t n;

    memset(cl, 0, sizeof(cl[0]));
    cl->verb = verb;
    if (url == NULL)
        url = getenv("TPSD_URL");
    if (url != NULL && *url != '\0') {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            fprintf(stderr, "tpsd %s: --url must start with http:// or https://: %s\n", verb,
                    url);
            return -1;
        }
        n = (size_t)snprintf(cl->base, sizeof(cl->base), "%s", url);
        if (n >= sizeof(cl->base)) {
            fprintf(stderr, "tpsd %s: --url is too long\n", verb);
            return -1;
        }
    } else {
        /* A wildcard bind is reached on loopback. */
        if (strcmp(host, "0.0.0.0") == 0 || *host == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        n = (size_t)snprintf(cl->base, sizeof(cl->base), "http://%s%s%s:%d",
                             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                             cfg->listen_port);
        if (n >= sizeof(cl->base)) {
            fprintf(stderr, "tpsd %s: listen_addr is too long\n", verb);
            return -1;
        }
    }
    while (n > 0 && cl->base[n - 1] == '/')
        cl->base[--n] = '\0';
    if (token == NULL)
        token = getenv("TPSD_TOKEN");
    if (token == NULL && cfg->token_file[0] != '\0') {
        if (read_token(verb, cfg->token_file, tok, sizeof(tok)) == -1)
            return -1;
        token = tok;
    }
    if (token != NULL && *token != '\0') {
        if (strlen(token) > CLIENT_TOKEN_MAX || strpbrk(token, "\r\n") != NULL) {
            fprintf(stderr, "tpsd %s: the token is too long or holds a line break\n", verb);
            return -1;
        }
        snprintf(cl->auth, sizeof(cl->auth), "Authorization: Bearer %s", token);
    }
    return 0;
}

/* ---- HTTP ---- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct reply *r = arg;
    size_t n = size * nmemb;
    char *p;

    if (r->len + n > CLIENT_BODY_MAX) {
        r->too_big = 1;
        return 0;
    }
    p = realloc(r->body, r->len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + r->len, data, n);
    r->body = p;
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static struct curl_slist *
client_headers(const struct client *cl, const char *extra, int json_body)
{
    struct curl_slist *h = NULL;

    h = curl_slist_append(h, "Accept: application/json");
    if (json_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (cl->auth[0] != '\0')
        h = curl_slist_append(h, cl->auth);
    if (extra != NULL)
        h = curl_slist_append(h, extra);
    h = curl_slist_append(h, "Expect:");
    return h;
}

static void
unreachable(const struct client *cl, const char *why)
{
    if (cl->quiet)
        return;
    fprintf(stderr,
            "tpsd %s: cannot reach the daemon at %s: %s (is `tpsd serve` running?"
            " see --url or TPSD_URL)\n",
            cl->verb, cl->base, why);
}

/*
 * One request: method, path (under the base URL), optional JSON body and
 * one extra header line. 0 when an HTTP answer arrived (whatever its
 * status; *r filled, free with reply_free), -1 when the daemon could not be
 * reached (printed).
 */
static int
client_call(const struct client *cl, const char *method, const char *path, const char *body,
            const char *extra, struct reply *r)
{
    char url[CLIENT_URL_MAX + CLIENT_PATH_MAX], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h;
    CURLcode res;
    CURL *c;

    memset(r, 0, sizeof(*r));
    c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "tpsd %s: out of memory\n", cl->verb);
        return -1;
    }
    snprintf(url, sizeof(url), "%s%s", cl->base, path);
    h = client_headers(cl, extra, body != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)CLIENT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CLIENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (res != CURLE_OK || r->status == 0) {
        unreachable(cl, r->too_big  ? "the answer is too large"
                        : errbuf[0] ? errbuf
                                    : curl_easy_strerror(res));
        reply_free(r);
        return -1;
    }
    if (r->body == NULL)
        r->body = calloc(1, 1);
    r->json = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    return 0;
}

/* Print the server's error and map its status to an exit status. */
static int
reply_error(const struct client *cl, const struct reply *r)
{
    json_t *e = json_object_get(r->json, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (msg != NULL)
        fprintf(stderr, "tpsd %s: %s (HTTP %ld %s)\n", cl->verb, msg, r->status,
                code ? code : "");
    else
        fprintf(stderr, "tpsd %s: the daemon answered HTTP %ld\n", cl->verb, r->status);
    if (r->status == 401)
        fprintf(stderr, "tpsd %s: give the API token with --token, TPSD_TOKEN or token_file\n",
                cl->verb);
    if (r->status >= 500)
        return EXIT_UNAVAILABLE;
    if (r->status == 400 || r->status == 413 || r->status == 415 || r->status == 422)
        return EXIT_USAGE;
    return EXIT_WORK_FAILED;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void
print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
}

/* Unix milliseconds as local "YYYY-MM-DD HH:MM:SS", or "-". */
static const char *
fmt_ms(const json_t *v, char *buf, size_t len)
{
    time_t t;
    struct tm tm;

    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    t = (time_t)(json_integer_value(v) / 1000);
    localtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

static const char *
str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);

    return s != NULL ? s : dflt;
}

/* ---- argument handling ---- */

/* A verb's arguments: config flags, the client flags every verb takes and
 * positional arguments. */
struct client_args {
    struct config cfg;
    const char *url, *token;
    int json, help;
    char **pos; /* positional arguments */
    int npos;
    char **rest; /* argv minus config flags (owned) */
    int nrest;
};

/* Split argv into config flags, client flags, the verb's `own` flags and
 * positional arguments. 0, or -1 (printed: usage). */
static int
client_args(const char *verb, int argc, char **argv, const struct cmd_flag *own,
            struct client_args *a)
{
    int i, k;

    memset(a, 0, sizeof(*a));
    a->rest = calloc((size_t)argc + 1, sizeof(char *));
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    if (a->rest == NULL || a->pos == NULL ||
        cmd_config(&a->cfg, argc, argv, a->rest, &a->nrest) == -1)
        return -1;
    for (i = 0; i < a->nrest; i++) {
        const char *s = a->rest[i];
        const char **val = NULL;
        int *set = NULL;

        if (strcmp(s, "--url") == 0) {
            val = &a->url;
        } else if (strcmp(s, "--token") == 0) {
            val = &a->token;
        } else if (strcmp(s, "--json") == 0) {
            set = &a->json;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            set = &a->help;
        } else {
            for (k = 0; own != NULL && own[k].name != NULL; k++) {
                if (strcmp(s, own[k].name) == 0) {
                    val = own[k].value;
                    set = own[k].set;
                    break;
                }
            }
            if (own == NULL || own[k].name == NULL) {
                if (s[0] == '-' && s[1] != '\0') {
                    fprintf(stderr, "tpsd %s: unknown option %s\n", verb, s);
                    return -1;
                }
                a->pos[a->npos++] = a->rest[i];
                continue;
            }
        }
        if (set != NULL)
            *set = 1;
        if (val != NULL) {
            if (i + 1 >= a->nrest) {
                fprintf(stderr, "tpsd %s: %s needs a value\n", verb, s);
                return -1;
            }
            *val = a->rest[++i];
        }
    }
    return 0;
}

static void
client_args_free(struct client_args *a)
{
    free(a->rest);
    free(a->pos);
}

/* The job id of the only positional argument. 0 or -1 (printed). */
static int
job_id_arg(const char *verb, const struct client_args *a, long long *id)
{
    char *end;

    if (a->npos != 1) {
        fprintf(stderr, "tpsd %s: expected one job id\n", verb);
        return -1;
    }
    errno = 0;
    *id = strtoll(a->pos[0], &end, 10);
    if (errno != 0 || end == a->pos[0] || *end != '\0' || *id <= 0) {
        fprintf(stderr, "tpsd %s: not a job id: \"%s\"\n", verb, a->pos[0]);
        return -1;
    }
    return 0;
}

static const char CLIENT_COMMON_USAGE[] =
    "  --url URL      the daemon (default TPSD_URL, else http://listen_addr:listen_port)\n"
    "  --token T      API bearer token (default TPSD_TOKEN, else the token_file setting)\n"
    "  --json         print the daemon's JSON\n";

/* ---- watch ---- */

struct watch {
    const struct client *cl;
    struct sse_parser *p;
    long long job;
    long long last_id;
    char final[16]; /* the state a finishing event named */
    int bar;        /* stdout is a terminal: measured samples redraw one status line */
    int bar_shown;  /* the status line is on screen (no newline after it) */
};

#define WATCH_BAR_WIDTH 20
#define WATCH_LINE_MAX 512

/* Whether to draw the status line: stdout is a terminal that can. */
static int
watch_wants_bar(const struct client *cl)
{
    const char *term = getenv("TERM");

    return !cl->json && isatty(STDOUT_FILENO) && term != NULL && *term != '\0' &&
           strcmp(term, "dumb") != 0;
}

/* Columns of the terminal on stdout (80 when it cannot tell). */
static int
watch_columns(void)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* End the status line with a newline (it stays on screen) before any
 * other line, on stdout or stderr. */
static void
watch_bar_end(struct watch *w)
{
    if (w->bar_shown) {
        printf("\n");
        fflush(stdout);
    }
    w->bar_shown = 0;
}

/* The status line for a measured sample, drawn over the last one:
 * "[#####...............]  12/57  21% [model] case #3: decode 20.1 tok/s,
 * TTFT 300 ms", cut to the terminal's width. */
static void
watch_bar_draw(struct watch *w, json_t *d)
{
    long long done = (long long)json_integer_value(json_object_get(d, "done"));
    long long total = (long long)json_integer_value(json_object_get(d, "total"));
    char line[WATCH_LINE_MAX], bar[WATCH_BAR_WIDTH + 1];
    int i, fill = 0, cols = watch_columns();

    if (total > 0 && done > 0)
        fill = (int)(done >= total ? WATCH_BAR_WIDTH : done * WATCH_BAR_WIDTH / total);
    for (i = 0; i < WATCH_BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WATCH_BAR_WIDTH] = '\0';
    snprintf(line, sizeof(line), "[%s] %lld/%lld %3.0f%% [%s] %s%s #%lld: decode %.2f tok/s, TTFT %.0f ms",
             bar, done, total, total > 0 ? 100.0 * (double)done / (double)total : 0.0,
             str_or(json_object_get(d, "model"), ""), str_or(json_object_get(d, "case"), "?"),
             json_is_true(json_object_get(d, "warmup")) ? " (warm-up)" : "",
             (long long)json_integer_value(json_object_get(d, "repetition")) + 1,
             json_number_value(json_object_get(d, "decode_tps")),
             json_number_value(json_object_get(d, "ttft_ms")));
    if (cols > 1 && (size_t)cols - 1 < sizeof(line))
        line[cols - 1] = '\0'; /* no wrap: \r must return to the line's start */
    printf("\r\033[K%s", line);
    w->bar_shown = 1;
}

/* One progress line per event; on a terminal, measured samples that
 * succeeded redraw one status line instead (failures stay as lines). */
static void
watch_print(struct watch *w, const char *type, json_t *d)
{
    const char *model = str_or(json_object_get(d, "model"), "");

    if (w->bar && strcmp(type, "sample") == 0 && json_is_true(json_object_get(d, "ok")) &&
        !json_is_false(json_object_get(d, "passed"))) {
        watch_bar_draw(w, d);
        return;
    }
    watch_bar_end(w);
    if (strcmp(type, "sample") == 0) {
        printf("[%s] %lld/%lld %s%s #%lld: ", model,
               (long long)json_integer_value(json_object_get(d, "done")),
               (long long)json_integer_value(json_object_get(d, "total")),
               str_or(json_object_get(d, "case"), "?"),
               json_is_true(json_object_get(d, "warmup")) ? " (warm-up)" : "",
               (long long)json_integer_value(json_object_get(d, "repetition")) + 1);
        if (json_is_true(json_object_get(d, "ok")))
            printf("%lld tok, TTFT %.0f ms, decode %.2f tok/s, e2e %.2f tok/s%s\n",
                   (long long)json_integer_value(json_object_get(d, "completion_tokens")),
                   json_number_value(json_object_get(d, "ttft_ms")),
                   json_number_value(json_object_get(d, "decode_tps")),
                   json_number_value(json_object_get(d, "e2e_tps")),
                   json_is_false(json_object_get(d, "passed")) ? " (validation failed)" : "");
        else
            printf("%s: %s\n", str_or(json_object_get(d, "error_code"), "error"),
                   str_or(json_object_get(d, "error_detail"), ""));
    } else if (strcmp(type, "job_started") == 0) {
        printf("job started (attempt %lld, %lld model(s))\n",
               (long long)json_integer_value(json_object_get(d, "attempt")),
               (long long)json_integer_value(json_object_get(d, "models")));
    } else if (strcmp(type, "preflight") == 0) {
        if (json_is_true(json_object_get(d, "ok"))) {
            printf("preflight ok\n");
        } else {
            json_t *reason;
            size_t i;

            printf("preflight failed:\n");
            json_array_foreach(json_object_get(d, "reasons"), i, reason)
            {
                printf("  %s: %s\n", str_or(json_object_get(reason, "code"), "?"),
                       str_or(json_object_get(reason, "detail"), ""));
            }
        }
    } else if (strcmp(type, "run_started") == 0) {
        printf("[%s] run %lld started (model %lld of %lld)\n", model,
               (long long)json_integer_value(json_object_get(d, "run_id")),
               (long long)json_integer_value(json_object_get(d, "index")) + 1,
               (long long)json_integer_value(json_object_get(d, "models")));
    } else if (strcmp(type, "model_loaded") == 0) {
        printf("[%s] loaded as %s in %lld ms\n", model,
               str_or(json_object_get(d, "served_id"), model),
               (long long)json_integer_value(json_object_get(d, "load_ms")));
    } else if (strcmp(type, "run_finished") == 0) {
        printf("[%s] run %s%s%s%s%s\n", model, str_or(json_object_get(d, "state"), "?"),
               json_is_string(json_object_get(d, "error_code")) ? ": " : "",
               str_or(json_object_get(d, "error_code"), ""),
               json_is_string(json_object_get(d, "error_detail")) ? ": " : "",
               str_or(json_object_get(d, "error_detail"), ""));
    } else if (strcmp(type, "job_recovered") == 0) {
        printf("the daemon restarted: job %s\n", str_or(json_object_get(d, "state"), "?"));
    } else if (strcmp(type, "job_finished") == 0) {
        printf("job %s: %lld request(s), %lld failed%s%s%s%s\n",
               str_or(json_object_get(d, "state"), "?"),
               (long long)json_integer_value(json_object_get(d, "requests")),
               (long long)json_integer_value(json_object_get(d, "failed")),
               json_is_string(json_object_get(d, "error_code")) ? "; " : "",
               str_or(json_object_get(d, "error_code"), ""),
               json_is_string(json_object_get(d, "error_detail")) ? ": " : "",
               str_or(json_object_get(d, "error_detail"), ""));
    } else {
        char *s = json_dumps(d, JSON_COMPACT);

        printf("%s %s\n", type, s ? s : "");
        free(s);
    }
}

static int
watch_event(void *arg, const char *event, const char *data, size_t len)
{
    struct watch *w = arg;
    json_t *d = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    const char *state, *id = sse_last_id(w->p);

    if (id[0] != '\0')
        w->last_id = strtoll(id, NULL, 10);
    if (w->cl->json) {
        json_t *line = json_pack("{s:I, s:s, s:O?}", "id", (json_int_t)w->last_id, "event",
                                 event, "data", d);
        char *s = line ? json_dumps(line, JSON_COMPACT) : NULL;

        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(line);
    } else {
        watch_print(w, event, d);
    }
    fflush(stdout);
    state = json_string_value(json_object_get(d, "state"));
    if (state != NULL &&
        (strcmp(event, "job_finished") == 0 ||
         (strcmp(event, "job_recovered") == 0 && strcmp(state, "queued") != 0)))
        snprintf(w->final, sizeof(w->final), "%s", state);
    json_decref(d);
    return 0;
}

static size_t
on_stream(char *data, size_t size, size_t nmemb, void *arg)
{
    struct watch *w = arg;
    size_t n = size * nmemb;

    sse_feed(w->p, data, n);
    return n;
}

/* Read the job's event stream after w->last_id (through cl) until the
 * server ends it. 0 when it ended or answered an error (*status), -1 when
 * the daemon could not be reached (printed unless cl->quiet). */
static int
watch_stream(struct watch *w, const struct client *cl, long *status)
{
    char url[CLIENT_URL_MAX + CLIENT_PATH_MAX], hdr[64], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    CURLcode res;
    CURL *c = curl_easy_init();
    int rc = -1;

    *status = 0;
    w->cl = cl;
    w->p = sse_new(watch_event, w);
    if (c == NULL || w->p == NULL) {
        fprintf(stderr, "tpsd watch: out of memory\n");
        goto out;
    }
    snprintf(url, sizeof(url), "%s/v1/jobs/%lld/events", cl->base, w->job);
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", w->last_id);
    h = client_headers(cl, w->last_id > 0 ? hdr : NULL, 0);
    h = curl_slist_append(h, "Accept: text/event-stream");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CLIENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)CLIENT_STREAM_IDLE_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    sse_finish(w->p);
    if (res != CURLE_OK && *status == 0)
        unreachable(cl, errbuf[0] ? errbuf : curl_easy_strerror(res));
    else
        rc = 0; /* ended, broke off (reconnect) or an error status */
out:
    curl_slist_free_all(h);
    if (c != NULL)
        curl_easy_cleanup(c);
    sse_free(w->p);
    w->p = NULL;
    return rc;
}

static int
state_exit(const char *state)
{
    if (strcmp(state, "succeeded") == 0)
        return 0;
    if (strcmp(state, "cancelled") == 0)
        return EXIT_CANCELLED;
    if (strcmp(state, "interrupted") == 0)
        return EXIT_INTERRUPTED;
    return EXIT_WORK_FAILED;
}

/* Follow job `id` to its end: reconnect (with Last-Event-ID) when the
 * stream breaks or the daemon restarts. Returns the exit status of the
 * job's state (see the top of this file). */
static int
watch_follow(struct watch *w, const struct client *cl, long long id)
{
    struct client quiet = *cl;
    struct reply r;
    char path[CLIENT_PATH_MAX];
    const char *state;
    long long seen;
    long status;
    int fails = 0, rc, sr;

    quiet.quiet = 1;
    snprintf(path, sizeof(path), "/v1/jobs/%lld", id);
    for (;;) {
        seen = w->last_id;
        sr = watch_stream(w, fails > 0 ? &quiet : cl, &status);
        if (sr == -1 && fails == 0 && w->last_id == 0)
            return EXIT_UNAVAILABLE; /* down from the start (printed) */
        if (w->last_id > seen)
            fails = 0; /* it made progress */
        if (sr == 0 && status >= 400 && status != 503) {
            /* The stream's error body is not kept: ask again for the message. */
            watch_bar_end(w);
            if (client_call(cl, "GET", path, NULL, NULL, &r) == -1)
                return EXIT_UNAVAILABLE;
            if (r.status != 200) {
                rc = reply_error(cl, &r);
            } else {
                fprintf(stderr, "tpsd watch: the event stream answered HTTP %ld\n", status);
                rc = EXIT_WORK_FAILED;
            }
            reply_free(&r);
            return rc;
        }
        if (sr == 0 && status < 400 && client_call(&quiet, "GET", path, NULL, NULL, &r) == 0) {
            /* The stream ended: a final state, or the daemon is going away. */
            if (r.status != 200 && r.status < 500) {
                watch_bar_end(w);
                rc = reply_error(cl, &r);
                reply_free(&r);
                return rc;
            }
            state = json_string_value(json_object_get(r.json, "state"));
            if (r.status == 200 && state != NULL && strcmp(state, "queued") != 0 &&
                strcmp(state, "running") != 0) {
                rc = state_exit(state);
                watch_bar_end(w);
                if (!cl->json && w->final[0] == '\0')
                    printf("job %lld %s\n", id, state);
                reply_free(&r);
                return rc;
            }
            reply_free(&r);
        }
        watch_bar_end(w);
        if (fails++ == 0 && !cl->json)
            fprintf(stderr, "tpsd watch: lost the event stream; reconnecting to %s\n",
                    cl->base);
        if (fails > CLIENT_WATCH_RETRIES) {
            fprintf(stderr, "tpsd watch: gave up after %d attempts to reconnect\n",
                    CLIENT_WATCH_RETRIES);
            return EXIT_UNAVAILABLE;
        }
        sleep_ms(CLIENT_WATCH_RETRY_MS);
    }
}

/* Follow job `id` to its end (see watch_follow); the status line, if
 * any, is left as a line of its own. */
static int
watch_job(const struct client *cl, long long id)
{
    struct watch w;
    int rc;

    memset(&w, 0, sizeof(w));
    w.job = id;
    w.bar = watch_wants_bar(cl);
    rc = watch_follow(&w, cl, id);
    watch_bar_end(&w);
    return rc;
}

int
cmd_watch(int argc, char **argv)
{
    struct client_args a;
    struct client cl;
    long long id;
    int rc = EXIT_USAGE;

    if (client_args("watch", argc, argv, NULL, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout,
                "usage: tpsd watch ID [--json] [--url URL] [--token T]\n"
                "  follows the job's events; exits 0 succeeded, 1 failed,\n"
                "  4 cancelled, 5 interrupted, 3 daemon unreachable\n%s",
                CLIENT_COMMON_USAGE);
        rc = 0;
        goto out;
    }
    if (job_id_arg("watch", &a, &id) == -1 ||
        client_init(&cl, "watch", &a.cfg, a.url, a.token) == -1)
        goto out;
    cl.json = a.json;
    rc = watch_job(&cl, id);
out:
    client_args_free(&a);
    return rc;
}

/* ---- submit ---- */

/* Read a whole file (or stdin for "-") into a new string. NULL (printed)
 * on failure. */
static char *
read_text(const char *verb, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL, *p;
    size_t n = 0, cap = 0, got;

    if (f == NULL) {
        fprintf(stderr, "tpsd %s: %s: %s\n", verb, path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > CLIENT_FILE_MAX + 1) {
                fprintf(stderr, "tpsd %s: %s: larger than %d bytes\n", verb, path,
                        CLIENT_FILE_MAX);
                goto fail;
            }
            p = realloc(buf, cap);
            if (p == NULL)
                goto fail;
            buf = p;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "tpsd %s: %s: read error\n", verb, path);
        goto fail;
    }
    buf[n] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
fail:
    free(buf);
    if (f != stdin)
        fclose(f);
    return NULL;
}

/* --suite FILE: the daemon may not see the file (other folder, other user):
 * send the suite inline. 0, or -1 (printed). */
static int
inline_suite(json_t *spec)
{
    const char *s = json_string_value(json_object_get(spec, "suite"));
    struct stat st;
    json_error_t je;
    json_t *suite;
    char *text;

    if (s == NULL || (strchr(s, '/') == NULL && strstr(s, ".json") == NULL) ||
        stat(s, &st) == -1 || !S_ISREG(st.st_mode))
        return 0;
    text = read_text("submit", s);
    if (text == NULL)
        return -1;
    suite = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (suite == NULL) {
        fprintf(stderr, "tpsd submit: %s: line %d: %s\n", s, je.line, je.text);
        return -1;
    }
    json_object_set_new(spec, "suite", suite);
    return 0;
}

/* --base-url given on the command line (not from the environment or a
 * config file: the daemon has its own). */
static int
has_base_url_flag(int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--base-url") == 0 || strncmp(argv[i], "--base-url=", 11) == 0)
            return 1;
    }
    return 0;
}

static void
submit_usage(FILE *f)
{
    fprintf(
        f,
        "usage: tpsd submit --model KEY [--model KEY ...] [job spec flags] [--base-url URL]\n"
        "       tpsd submit --file SPEC.json|-\n"
        "         [--idempotency-key K] [--watch] [--json] [--url URL] [--token T]\n"
        "  queues a job on the daemon and prints its id; --watch then follows it\n"
        "  (exit status as tpsd watch)\n");
    cmd_spec_usage(f);
    fputs(CLIENT_COMMON_USAGE, f);
}

int
cmd_submit(int argc, char **argv)
{
    struct config cfg;
    struct client cl;
    struct reply r;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    char hdr[300], *body = NULL;
    const char *file = NULL, *key = NULL, *url = NULL, *token = NULL;
    int nrest, as_json = 0, help = 0, watch = 0, rc = EXIT_USAGE, got = 0;
    const struct cmd_flag own[] = {
        {"--file", &file, NULL},    {"--idempotency-key", &key, NULL},
        {"--url", &url, NULL},      {"--token", &token, NULL},
        {"--json", NULL, &as_json}, {"--watch", NULL, &watch},
        {"--help", NULL, &help},    {"-h", NULL, &help},
        {NULL, NULL, NULL},
    };
    json_t *spec = NULL, *server;
    long long id;

    memset(&r, 0, sizeof(r));
    if (rest == NULL || cmd_config(&cfg, argc, argv, rest, &nrest) == -1)
        goto out;
    if (cmd_spec_flags("submit", nrest, rest, own, &spec) == -1) {
        submit_usage(stderr);
        goto out;
    }
    if (help) {
        submit_usage(stdout);
        rc = 0;
        goto out;
    }
    if (key != NULL && (strlen(key) == 0 || strlen(key) > 255 || strpbrk(key, "\r\n"))) {
        fprintf(stderr, "tpsd submit: --idempotency-key must be 1..255 bytes on one line\n");
        goto out;
    }
    if (file != NULL) {
        if (json_object_size(spec) > 0 || has_base_url_flag(argc, argv)) {
            fprintf(stderr, "tpsd submit: give --file or job spec flags, not both\n");
            goto out;
        }
        body = read_text("submit", file);
        if (body == NULL)
            goto out;
    } else {
        if (json_object_get(spec, "models") == NULL) {
            fprintf(stderr, "tpsd submit: give --model KEY (or --file SPEC.json)\n");
            submit_usage(stderr);
            goto out;
        }
        if (inline_suite(spec) == -1)
            goto out;
        if (has_base_url_flag(argc, argv)) {
            server = json_object_get(spec, "server");
            if (server == NULL) {
                server = json_object();
                json_object_set_new(spec, "server", server);
            }
            json_object_set_new(server, "base_url", json_string(cfg.base_url));
        }
        body = json_dumps(spec, JSON_COMPACT);
        if (body == NULL)
            goto out;
    }
    if (client_init(&cl, "submit", &cfg, url, token) == -1)
        goto out;
    cl.json = as_json;
    if (key != NULL)
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
    if (client_call(&cl, "POST", "/v1/jobs", body, key ? hdr : NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    got = 1;
    if (r.status != 201 && r.status != 200) {
        rc = reply_error(&cl, &r);
        goto out;
    }
    id = (long long)json_integer_value(json_object_get(r.json, "id"));
    if (as_json)
        print_json(r.json);
    else if (r.status == 200)
        printf("job %lld (already submitted with this idempotency key): %s\n", id,
               str_or(json_object_get(r.json, "state"), "?"));
    else
        printf("job %lld queued\n", id);
    fflush(stdout);
    rc = watch ? watch_job(&cl, id) : 0;
out:
    if (got)
        reply_free(&r);
    json_decref(spec);
    free(body);
    free(rest);
    return rc;
}

/* ---- jobs, job, cancel ---- */

/* "m1, m2" from a job's spec.models into buf. */
static const char *
models_text(const json_t *job, char *buf, size_t len)
{
    json_t *m;
    size_t i, used = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(job, "spec"), "models"), i, m)
    {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", str_or(m, "?"));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

int
cmd_jobs(int argc, char **argv)
{
    struct client_args a;
    struct client cl;
    struct reply r;
    const char *state = NULL, *limit = NULL;
    const struct cmd_flag own[] = {
        {"--state", &state, NULL},
        {"--limit", &limit, NULL},
        {NULL, NULL, NULL},
    };
    char path[CLIENT_PATH_MAX], when[32], models[256];
    char *es = NULL;
    json_t *job;
    size_t i, used;
    int rc = EXIT_USAGE, got = 0;
    CURL *c = NULL;

    if (client_args("jobs", argc, argv, own, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout,
                "usage: tpsd jobs [--state queued|running|succeeded|failed|cancelled|"
                "interrupted] [--limit N]\n%s",
                CLIENT_COMMON_USAGE);
        rc = 0;
        goto out;
    }
    if (a.npos > 0) {
        fprintf(stderr, "tpsd jobs: unexpected argument %s\n", a.pos[0]);
        goto out;
    }
    if (client_init(&cl, "jobs", &a.cfg, a.url, a.token) == -1)
        goto out;
    cl.json = a.json;
    c = curl_easy_init();
    if (c == NULL)
        goto out;
    es = curl_easy_escape(c, limit != NULL ? limit : "50", 0);
    used = (size_t)snprintf(path, sizeof(path), "/v1/jobs?limit=%s", es ? es : "");
    curl_free(es);
    if (state != NULL && used < sizeof(path)) {
        es = curl_easy_escape(c, state, 0);
        snprintf(path + used, sizeof(path) - used, "&state=%s", es ? es : "");
        curl_free(es);
    }
    if (client_call(&cl, "GET", path, NULL, NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    got = 1;
    if (r.status != 200) {
        rc = reply_error(&cl, &r);
        goto out;
    }
    if (a.json) {
        print_json(r.json);
    } else {
        printf("%-6s %-11s %-19s %7s %6s  %-24s %s\n", "ID", "STATE", "CREATED", "SAMPLES",
               "ERRORS", "NAME", "MODELS");
        json_array_foreach(json_object_get(r.json, "jobs"), i, job)
        {
            printf("%-6lld %-11s %-19s %7lld %6lld  %-24s %s\n",
                   (long long)json_integer_value(json_object_get(job, "id")),
                   str_or(json_object_get(job, "state"), "?"),
                   fmt_ms(json_object_get(job, "created_at"), when, sizeof(when)),
                   (long long)json_integer_value(json_object_get(job, "samples")),
                   (long long)json_integer_value(json_object_get(job, "errors")),
                   str_or(json_object_get(job, "name"), ""),
                   models_text(job, models, sizeof(models)));
        }
        if (json_array_size(json_object_get(r.json, "jobs")) == 0)
            printf("(no jobs%s%s)\n", state ? " in state " : "", state ? state : "");
    }
    rc = 0;
out:
    if (c != NULL)
        curl_easy_cleanup(c);
    if (got)
        reply_free(&r);
    client_args_free(&a);
    return rc;
}

/* A run's per-case table (GET /v1/runs/{id}). */
static void
print_run_cases(const struct client *cl, long long run_id)
{
    struct reply r;
    char path[CLIENT_PATH_MAX];
    json_t *c;
    size_t i;

    snprintf(path, sizeof(path), "/v1/runs/%lld", run_id);
    if (client_call(cl, "GET", path, NULL, NULL, &r) == -1)
        return;
    if (r.status == 200 && json_array_size(json_object_get(r.json, "cases")) > 0) {
        printf("    %-16s %4s %4s %13s %10s %9s %8s\n", "CASE", "N", "OK", "DECODE tok/s",
               "E2E tok/s", "TTFT ms", "TOKENS");
        json_array_foreach(json_object_get(r.json, "cases"), i, c)
        {
            printf("    %-16s %4lld %4lld %13.2f %10.2f %9.1f %8.1f\n",
                   str_or(json_object_get(c, "case"), "?"),
                   (long long)json_integer_value(json_object_get(c, "n")),
                   (long long)json_integer_value(json_object_get(c, "ok")),
                   json_number_value(json_object_get(c, "decode_tps_mean")),
                   json_number_value(json_object_get(c, "e2e_tps_mean")),
                   json_number_value(json_object_get(c, "ttft_ms_mean")),
                   json_number_value(json_object_get(c, "completion_tokens")));
        }
    }
    reply_free(&r);
}

int
cmd_job(int argc, char **argv)
{
    struct client_args a;
    struct client cl;
    struct reply r;
    char path[CLIENT_PATH_MAX], t1[32], t2[32], t3[32], models[1024];
    json_t *run;
    long long id;
    size_t i;
    int rc = EXIT_USAGE, got = 0;

    if (client_args("job", argc, argv, NULL, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout,
                "usage: tpsd job ID\n  the job, its progress and per-model"
                " runs\n%s",
                CLIENT_COMMON_USAGE);
        rc = 0;
        goto out;
    }
    if (job_id_arg("job", &a, &id) == -1 ||
        client_init(&cl, "job", &a.cfg, a.url, a.token) == -1)
        goto out;
    cl.json = a.json;
    snprintf(path, sizeof(path), "/v1/jobs/%lld", id);
    if (client_call(&cl, "GET", path, NULL, NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    got = 1;
    if (r.status != 200) {
        rc = reply_error(&cl, &r);
        goto out;
    }
    rc = 0;
    if (a.json) {
        print_json(r.json);
        goto out;
    }
    printf("job %lld \"%s\" (%s): %s, attempt %lld%s\n", id,
           str_or(json_object_get(r.json, "name"), ""),
           str_or(json_object_get(r.json, "kind"), "benchmark"),
           str_or(json_object_get(r.json, "state"), "?"),
           (long long)json_integer_value(json_object_get(r.json, "attempts")),
           json_integer_value(json_object_get(r.json, "cancel_requested"))
               ? ", cancel requested"
               : "");
    printf("  models:   %s\n", models_text(r.json, models, sizeof(models)));
    printf("  created:  %s  started: %s  finished: %s\n",
           fmt_ms(json_object_get(r.json, "created_at"), t1, sizeof(t1)),
           fmt_ms(json_object_get(r.json, "started_at"), t2, sizeof(t2)),
           fmt_ms(json_object_get(r.json, "finished_at"), t3, sizeof(t3)));
    printf("  progress: %lld run(s), %lld sample(s), %lld error(s)\n",
           (long long)json_integer_value(json_object_get(r.json, "runs")),
           (long long)json_integer_value(json_object_get(r.json, "samples")),
           (long long)json_integer_value(json_object_get(r.json, "errors")));
    if (json_is_string(json_object_get(r.json, "error_code")))
        printf("  error:    %s: %s\n", str_or(json_object_get(r.json, "error_code"), ""),
               str_or(json_object_get(r.json, "error_detail"), ""));
    /* run_list is newest first: show them in model order. */
    for (i = json_array_size(json_object_get(r.json, "run_list")); i > 0; i--) {
        run = json_array_get(json_object_get(r.json, "run_list"), i - 1);
        printf("  run %lld %s: %s, %lld sample(s), %lld error(s)",
               (long long)json_integer_value(json_object_get(run, "id")),
               str_or(json_object_get(run, "model"), "?"),
               str_or(json_object_get(run, "state"), "?"),
               (long long)json_integer_value(json_object_get(run, "samples")),
               (long long)json_integer_value(json_object_get(run, "errors")));
        if (json_is_number(json_object_get(run, "load_ms")))
            printf(", load %.0f ms", json_number_value(json_object_get(run, "load_ms")));
        if (json_is_string(json_object_get(run, "error_code")))
            printf(", %s: %s", str_or(json_object_get(run, "error_code"), ""),
                   str_or(json_object_get(run, "error_detail"), ""));
        printf("\n");
        print_run_cases(&cl, (long long)json_integer_value(json_object_get(run, "id")));
    }
out:
    if (got)
        reply_free(&r);
    client_args_free(&a);
    return rc;
}

int
cmd_cancel(int argc, char **argv)
{
    struct client_args a;
    struct client cl;
    struct reply r;
    char path[CLIENT_PATH_MAX];
    const char *state;
    long long id;
    int rc = EXIT_USAGE, got = 0;

    if (client_args("cancel", argc, argv, NULL, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout,
                "usage: tpsd cancel ID\n  a queued job is cancelled at once, a running"
                " one stops within a second\n%s",
                CLIENT_COMMON_USAGE);
        rc = 0;
        goto out;
    }
    if (job_id_arg("cancel", &a, &id) == -1 ||
        client_init(&cl, "cancel", &a.cfg, a.url, a.token) == -1)
        goto out;
    cl.json = a.json;
    snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", id);
    if (client_call(&cl, "POST", path, NULL, NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    got = 1;
    if (r.status != 200) {
        rc = reply_error(&cl, &r);
        goto out;
    }
    state = str_or(json_object_get(r.json, "state"), "?");
    if (a.json)
        print_json(r.json);
    else if (strcmp(state, "running") == 0)
        printf("job %lld: cancel requested; it stops within a second (tpsd watch %lld)\n", id,
               id);
    else
        printf("job %lld: %s\n", id, state);
    rc = 0;
out:
    if (got)
        reply_free(&r);
    client_args_free(&a);
    return rc;
}

/*
 * watch.c - following a job's events to its end: the display of `tpsd
 * watch` and `tpsd submit --watch`.
 *
 * How it works: watch_stream opens GET /v1/jobs/{id}/events (with
 * Last-Event-ID after the first connection) and feeds the bytes to the SSE
 * parser (daemon/sse.h); each event is printed as a line, or as JSON with
 * --json, and on a terminal measured samples redraw one status line
 * instead. When the stream ends, watch_follow asks GET /v1/jobs/{id}
 * whether the job reached a final state; if not (the stream broke or the
 * daemon restarted) it reconnects every WATCH_RETRY_MS, up to
 * WATCH_RETRIES times in a row without progress. The exit status is the
 * job's final state (watch.h).
 */
#include "daemon/cli/watch.h"

#include "common/clock.h"
#include "daemon/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define WATCH_STREAM_IDLE_S 60 /* the stream sends a keep-alive every 15 s */
#define WATCH_RETRY_MS 1000    /* reconnect after */
#define WATCH_RETRIES 120      /* reconnects in a row (a daemon restart) */

struct watch {
    const struct rest *cl;
    struct sse_parser *p;
    long long job;
    long long last_id;
    char final[16]; /* the state a finishing event named */
    int bar;        /* stdout is a terminal: measured samples redraw one status line */
    int bar_shown;  /* the status line is on screen (no newline after it) */
};

#define WATCH_BAR_WIDTH 20
#define WATCH_LINE_MAX 512
#define WATCH_FIG_MAX 32 /* one figure as text */

/* Whether to draw the status line: stdout is a terminal that can. */
static int
watch_wants_bar(const struct rest *cl)
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

/* A sample's figure as text: a number with `decimals` places, "n/a" for a missing one
 * (null: e.g. decode speed when every token arrived in one read), never a
 * made-up 0.00. Returns buf. */
static const char *
watch_fig(const json_t *v, int decimals, char *buf, size_t len)
{
    if (json_is_number(v))
        snprintf(buf, len, "%.*f", decimals, json_number_value(v));
    else
        snprintf(buf, len, "n/a");
    return buf;
}

/* The status line for a measured sample, drawn over the last one:
 * "[#####...............]  12/57  21% [model] case #3: decode 20.1 tok/s,
 * TTFT 300 ms", cut to the terminal's width. */
static void
watch_bar_draw(struct watch *w, json_t *d)
{
    long long done = (long long)json_integer_value(json_object_get(d, "done"));
    long long total = (long long)json_integer_value(json_object_get(d, "total"));
    char line[WATCH_LINE_MAX], bar[WATCH_BAR_WIDTH + 1], f1[WATCH_FIG_MAX], f2[WATCH_FIG_MAX];
    int i, fill = 0, cols = watch_columns();

    if (total > 0 && done > 0)
        fill = (int)(done >= total ? WATCH_BAR_WIDTH : done * WATCH_BAR_WIDTH / total);
    for (i = 0; i < WATCH_BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WATCH_BAR_WIDTH] = '\0';
    snprintf(line, sizeof(line),
             "[%s] %lld/%lld %3.0f%% [%s] %s%s #%lld: decode %s tok/s, TTFT %s ms", bar, done,
             total, total > 0 ? 100.0 * (double)done / (double)total : 0.0,
             cmd_str(json_object_get(d, "model"), ""), cmd_str(json_object_get(d, "case"), "?"),
             json_is_true(json_object_get(d, "warmup")) ? " (warm-up)" : "",
             (long long)json_integer_value(json_object_get(d, "repetition")) + 1,
             watch_fig(json_object_get(d, "decode_tps"), 2, f1, sizeof(f1)),
             watch_fig(json_object_get(d, "ttft_ms"), 0, f2, sizeof(f2)));
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
    const char *model = cmd_str(json_object_get(d, "model"), "");
    char f1[WATCH_FIG_MAX], f2[WATCH_FIG_MAX], f3[WATCH_FIG_MAX];

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
               cmd_str(json_object_get(d, "case"), "?"),
               json_is_true(json_object_get(d, "warmup")) ? " (warm-up)" : "",
               (long long)json_integer_value(json_object_get(d, "repetition")) + 1);
        if (json_is_true(json_object_get(d, "ok")))
            printf("%lld tok, TTFT %s ms, decode %s tok/s, e2e %s tok/s%s\n",
                   (long long)json_integer_value(json_object_get(d, "completion_tokens")),
                   watch_fig(json_object_get(d, "ttft_ms"), 0, f1, sizeof(f1)),
                   watch_fig(json_object_get(d, "decode_tps"), 2, f2, sizeof(f2)),
                   watch_fig(json_object_get(d, "e2e_tps"), 2, f3, sizeof(f3)),
                   json_is_false(json_object_get(d, "passed")) ? " (validation failed)" : "");
        else
            printf("%s: %s\n", cmd_str(json_object_get(d, "error_code"), "error"),
                   cmd_str(json_object_get(d, "error_detail"), ""));
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
                printf("  %s: %s\n", cmd_str(json_object_get(reason, "code"), "?"),
                       cmd_str(json_object_get(reason, "detail"), ""));
            }
        }
    } else if (strcmp(type, "run_started") == 0) {
        printf("[%s] run %lld started (model %lld of %lld)\n", model,
               (long long)json_integer_value(json_object_get(d, "run_id")),
               (long long)json_integer_value(json_object_get(d, "index")) + 1,
               (long long)json_integer_value(json_object_get(d, "models")));
    } else if (strcmp(type, "model_loaded") == 0) {
        printf("[%s] loaded as %s in %lld ms\n", model,
               cmd_str(json_object_get(d, "served_id"), model),
               (long long)json_integer_value(json_object_get(d, "load_ms")));
    } else if (strcmp(type, "run_finished") == 0) {
        printf("[%s] run %s%s%s%s%s\n", model, cmd_str(json_object_get(d, "state"), "?"),
               json_is_string(json_object_get(d, "error_code")) ? ": " : "",
               cmd_str(json_object_get(d, "error_code"), ""),
               json_is_string(json_object_get(d, "error_detail")) ? ": " : "",
               cmd_str(json_object_get(d, "error_detail"), ""));
    } else if (strcmp(type, "job_recovered") == 0) {
        printf("the daemon restarted: job %s\n", cmd_str(json_object_get(d, "state"), "?"));
    } else if (strcmp(type, "job_finished") == 0) {
        printf("job %s: %lld request(s), %lld failed%s%s%s%s\n",
               cmd_str(json_object_get(d, "state"), "?"),
               (long long)json_integer_value(json_object_get(d, "requests")),
               (long long)json_integer_value(json_object_get(d, "failed")),
               json_is_string(json_object_get(d, "error_code")) ? "; " : "",
               cmd_str(json_object_get(d, "error_code"), ""),
               json_is_string(json_object_get(d, "error_detail")) ? ": " : "",
               cmd_str(json_object_get(d, "error_detail"), ""));
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
watch_stream(struct watch *w, const struct rest *cl, long *status)
{
    char url[REST_URL_MAX + REST_PATH_MAX], hdr[64], errbuf[CURL_ERROR_SIZE] = "";
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
    h = rest_headers(cl, w->last_id > 0 ? hdr : NULL, 0);
    h = curl_slist_append(h, "Accept: text/event-stream");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)REST_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)WATCH_STREAM_IDLE_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    sse_finish(w->p);
    if (res != CURLE_OK && *status == 0)
        rest_unreachable(cl, errbuf[0] ? errbuf : curl_easy_strerror(res));
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
watch_follow(struct watch *w, const struct rest *cl, long long id)
{
    struct rest quiet = *cl;
    struct rest_reply r;
    char path[REST_PATH_MAX];
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
            if (rest_call(cl, "GET", path, NULL, NULL, &r) == -1)
                return EXIT_UNAVAILABLE;
            if (r.status != 200) {
                rc = rest_reply_error(cl, &r);
            } else {
                fprintf(stderr, "tpsd watch: the event stream answered HTTP %ld\n", status);
                rc = EXIT_WORK_FAILED;
            }
            rest_reply_free(&r);
            return rc;
        }
        if (sr == 0 && status < 400 && rest_call(&quiet, "GET", path, NULL, NULL, &r) == 0) {
            /* The stream ended: a final state, or the daemon is going away. */
            if (r.status != 200 && r.status < 500) {
                watch_bar_end(w);
                rc = rest_reply_error(cl, &r);
                rest_reply_free(&r);
                return rc;
            }
            state = json_string_value(json_object_get(r.json, "state"));
            if (r.status == 200 && state != NULL && strcmp(state, "queued") != 0 &&
                strcmp(state, "running") != 0) {
                rc = state_exit(state);
                watch_bar_end(w);
                if (!cl->json && w->final[0] == '\0')
                    printf("job %lld %s\n", id, state);
                rest_reply_free(&r);
                return rc;
            }
            rest_reply_free(&r);
        }
        watch_bar_end(w);
        if (fails++ == 0 && !cl->json)
            fprintf(stderr, "tpsd watch: lost the event stream; reconnecting to %s\n",
                    cl->base);
        if (fails > WATCH_RETRIES) {
            fprintf(stderr, "tpsd watch: gave up after %d attempts to reconnect\n",
                    WATCH_RETRIES);
            return EXIT_UNAVAILABLE;
        }
        clock_sleep_until(clock_mono_ns() + (int64_t)WATCH_RETRY_MS * 1000000);
    }
}

int
watch_job(const struct rest *cl, long long id)
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

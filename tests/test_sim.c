/*
 * test_sim.c - tpsd-sim and the fake lms: the ground truth must itself be
 * true. The acceptance test reads the stream from a raw socket and compares
 * its own arrival times with the sim's log.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000.0 /* ns per ms */
#define RAW_EVENTS_MAX 4096
#define RAW_BODY_MAX (4 * 1024 * 1024)
#define REQ_MAX 4096

/* ---- a raw HTTP/1.1 client that timestamps each SSE event ---- */

struct raw_event {
    uint64_t t_ns; /* arrival of the read() completing it */
    char *data;    /* text after "data: " */
};

struct raw {
    int status;
    int chunked;
    struct raw_event ev[RAW_EVENTS_MAX];
    int nev;
    char *body; /* de-chunked body */
    size_t blen;
    /* parser state */
    char head[8192];
    size_t hlen;
    int in_body;
    enum { CH_SIZE, CH_DATA, CH_CRLF, CH_END } ch;
    size_t ch_left;
    char szline[32];
    size_t szlen;
    size_t ev_start; /* body offset where the next event starts */
};

static void
raw_send(int fd, const char *path, const char *body)
{
    char req[REQ_MAX];
    size_t off = 0, n;
    ssize_t w;

    n = (size_t)snprintf(req, sizeof(req),
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         path, strlen(body), body);
    CHECK(n < sizeof(req));
    while (off < n) {
        w = write(fd, req + off, n - off);
        CHECK(w > 0);
        off += (size_t)w;
    }
}

static void
raw_body_byte(struct raw *r, char c, uint64_t t)
{
    CHECK(r->blen + 2 < RAW_BODY_MAX);
    r->body[r->blen++] = c;
    r->body[r->blen] = '\0';
    if (r->blen - r->ev_start >= 2 && r->body[r->blen - 1] == '\n' &&
        r->body[r->blen - 2] == '\n') {
        CHECK(r->nev < RAW_EVENTS_MAX);
        CHECK(strncmp(r->body + r->ev_start, "data: ", 6) == 0);
        r->ev[r->nev].t_ns = t;
        r->ev[r->nev].data = strndup(r->body + r->ev_start + 6, r->blen - r->ev_start - 8);
        r->nev++;
        r->ev_start = r->blen;
    }
}

/* Feed received bytes: headers, then (de-chunked) body, then events. */
static void
raw_feed(struct raw *r, const char *p, size_t n, uint64_t t)
{
    char *end;
    size_t i = 0;

    while (i < n && !r->in_body) {
        CHECK(r->hlen + 1 < sizeof(r->head));
        r->head[r->hlen++] = p[i++];
        r->head[r->hlen] = '\0';
        if (r->hlen >= 4 && strcmp(r->head + r->hlen - 4, "\r\n\r\n") == 0) {
            r->in_body = 1;
            CHECK(sscanf(r->head, "HTTP/1.%*d %d", &r->status) == 1);
            r->chunked = strstr(r->head, "chunked") != NULL;
        }
    }
    for (; i < n; i++) {
        if (!r->chunked) {
            raw_body_byte(r, p[i], t);
            continue;
        }
        switch (r->ch) {
        case CH_SIZE:
            if (p[i] != '\n') {
                CHECK(r->szlen + 1 < sizeof(r->szline));
                r->szline[r->szlen++] = p[i];
                break;
            }
            r->szline[r->szlen] = '\0';
            r->szlen = 0;
            r->ch_left = strtoul(r->szline, &end, 16);
            r->ch = r->ch_left ? CH_DATA : CH_END;
            break;
        case CH_DATA:
            raw_body_byte(r, p[i], t);
            if (--r->ch_left == 0)
                r->ch = CH_CRLF;
            break;
        case CH_CRLF:
            if (p[i] == '\n')
                r->ch = CH_SIZE;
            break;
        case CH_END:
            break;
        }
    }
}

/* POST body to path on a fresh connection; read until the server closes. */
static struct raw *
raw_stream(int port, const char *path, const char *body, uint64_t *t_sent)
{
    struct raw *r = calloc(1, sizeof(*r));
    char buf[65536];
    ssize_t n;
    int fd;

    CHECK(r != NULL);
    r->body = malloc(RAW_BODY_MAX);
    CHECK(r->body != NULL);
    fd = tu_dial(port);
    *t_sent = tu_now_ns();
    raw_send(fd, path, body);
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        raw_feed(r, buf, (size_t)n, tu_now_ns());
    }
    close(fd);
    return r;
}

static void
raw_free(struct raw *r)
{
    int i;

    for (i = 0; i < r->nev; i++)
        free(r->ev[i].data);
    free(r->body);
    free(r);
}

/* ---- small helpers ---- */

static struct tu_sim sim;

static void
sim_up(const char *config)
{
    CHECK_INT(tu_sim_start(config, &sim), ==, 0);
}

/* The log record of the last request. */
static json_t *
last_request(void)
{
    json_t *log = tu_sim_log(&sim), *reqs, *r;

    CHECK(log != NULL);
    reqs = json_object_get(log, "requests");
    CHECK(json_array_size(reqs) > 0);
    r = json_incref(json_array_get(reqs, json_array_size(reqs) - 1));
    json_decref(log);
    return r;
}

static uint64_t
ev_t(const json_t *ev)
{
    return (uint64_t)json_integer_value(json_object_get(ev, "t_ns"));
}

static const char *
ev_kind(const json_t *ev)
{
    return json_string_value(json_object_get(ev, "kind"));
}

/* Split an SSE body into an array: parsed JSON per event, or the raw text
 * (a string) when it is not JSON ("[DONE]", garbage). */
static json_t *
sse_split(const char *body)
{
    json_t *arr = json_array(), *j;
    const char *p = body, *e;
    char *data;

    while (*p != '\0') {
        e = strstr(p, "\n\n");
        if (e == NULL)
            break;
        CHECK(strncmp(p, "data: ", 6) == 0);
        data = strndup(p + 6, (size_t)(e - p - 6));
        j = json_loads(data, 0, NULL);
        json_array_append_new(arr, j ? j : json_string(data));
        free(data);
        p = e + 2;
    }
    return arr;
}

static json_t *
delta_of(const json_t *chunk)
{
    return json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "delta");
}

static const char *
finish_of(const json_t *chunk)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "finish_reason"));
}

static long
stream_post(const char *path, const char *body, char **out)
{
    char url[256];
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", sim.base_url, path);
    tu_http("POST", url, body, NULL, &status, out);
    return status;
}

/* ---- (a) the acceptance test ---- */

TEST(acceptance_500_tokens_at_50_tps)
{
    const char *body = "{\"model\":\"acc\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"count to five hundred\"}],"
                       "\"max_tokens\":500,\"stream\":true,"
                       "\"stream_options\":{\"include_usage\":true}}";
    json_t *req, *evs, *ev;
    struct raw *r;
    uint64_t t_sent, t_recv, t_first = 0, t_last = 0, c_first = 0, c_last = 0;
    double d, worst = 0, late, worst_late = 0;
    int i, j = 0, slow = 0, slow_late = 0;

    sim_up("{\"models\":[{\"key\":\"acc\",\"ttft_ms\":200,\"tps\":50}],"
           "\"loaded\":[\"acc\"]}");
    r = raw_stream(sim.port, "/v1/chat/completions", body, &t_sent);
    CHECK_INT(r->status, ==, 200);
    req = last_request();
    evs = json_object_get(req, "events");
    t_recv = (uint64_t)json_integer_value(json_object_get(req, "t_recv_ns"));
    CHECK(t_recv >= t_sent);
    CHECK_INT(json_array_size(evs), ==, 503); /* role, 500, usage, done */
    CHECK_INT(r->nev, ==, 503);
    CHECK_STR(r->ev[502].data, "[DONE]");

    for (i = 0; i < r->nev; i++) {
        ev = json_array_get(evs, (size_t)i);
        d = (double)r->ev[i].t_ns - (double)ev_t(ev);
        CHECK_DBL(d, >=, 0);      /* arrives after it was written */
        CHECK_DBL(d / MS, <, 50); /* ... and never far behind, */
        if (d > 2 * MS)           /* ... within 2 ms but for a few */
            slow++;               /* scheduling hiccups */
        if (d > worst)
            worst = d;
        if (strcmp(ev_kind(ev), "content") != 0)
            continue;
        CHECK(strstr(r->ev[i].data, "\"content\":\"word \"") != NULL);
        /* the sim's own pacing: event j due at t_recv + 200 + 20 j ms */
        late = (double)ev_t(ev) - ((double)t_recv + 200 * MS + j * 20 * MS);
        CHECK_DBL(late, >=, 0);      /* never early ... */
        CHECK_DBL(late / MS, <, 50); /* ... nor far behind on a busy box */
        if (late > 2 * MS)
            slow_late++;
        if (late > worst_late)
            worst_late = late;
        if (j == 0) {
            t_first = ev_t(ev);
            c_first = r->ev[i].t_ns;
        }
        t_last = ev_t(ev);
        c_last = r->ev[i].t_ns;
        j++;
    }
    CHECK_INT(j, ==, 500);
    fprintf(stderr,
            "client-sim delta: worst %.3f ms, %d over 2 ms; "
            "sim lateness: worst %.3f ms, %d over 2 ms\n",
            worst / MS, slow, worst_late / MS, slow_late);
    CHECK_INT(slow, <=, 25); /* 5% of 503: a shared 2-core box */
    CHECK_INT(slow_late, <=, 25);
    CHECK_NEAR((double)(t_first - t_recv) / MS, 200, 5);
    CHECK_NEAR((double)(c_first - t_sent) / MS, 200, 10);
    CHECK_NEAR(499.0 / ((double)(t_last - t_first) / 1e9), 50, 0.1);
    CHECK_NEAR(499.0 / ((double)(c_last - c_first) / 1e9), 50, 0.25);
    CHECK(strstr(r->ev[501].data, "\"completion_tokens\":500") != NULL);
    json_decref(req);
    raw_free(r);
    tu_sim_stop(&sim);
}

/* ---- (b) chunking, reasoning, usage, v0 stats, non-streaming ---- */

TEST(chunks_reasoning_usage)
{
    char *out = NULL;
    json_t *ev, *u, *last, *o;
    const char *req = "{\"model\":\"think\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"abcdefghijklmnop\"}],\"max_tokens\":15,"
                      "\"stream\":true,\"stream_options\":"
                      "{\"include_usage\":true}}";
    static const long want_tok[] = {4, 2, 4, 4, 1};
    static const char *const want_field[] = {"reasoning_content", "reasoning_content",
                                             "content", "content", "content"};
    size_t i;

    sim_up("{\"models\":[{\"key\":\"think\",\"ttft_ms\":20,\"tps\":200,"
           "\"tokens_per_event\":4,\"reasoning_tokens\":6,\"text\":\"ab \"},"
           "{\"key\":\"stop\",\"ttft_ms\":10,\"tps\":500,\"output_tokens\":5,"
           "\"quant\":\"Q8_0\",\"format\":\"mlx\"}],"
           "\"loaded\":[\"think\",\"stop\"]}");
    CHECK_INT(stream_post("/v1/chat/completions", req, &out), ==, 200);
    ev = sse_split(out);
    CHECK_INT(json_array_size(ev), ==, 8); /* role, 5 tokens, usage, done */
    CHECK_STR(json_string_value(json_object_get(delta_of(json_array_get(ev, 0)), "role")),
              "assistant");
    for (i = 0; i < 5; i++) {
        const char *t = json_string_value(
            json_object_get(delta_of(json_array_get(ev, i + 1)), want_field[i]));

        CHECK(t != NULL);
        CHECK_INT(strlen(t), ==, 3 * want_tok[i]);
        CHECK(finish_of(json_array_get(ev, i + 1)) == NULL || i == 4);
    }
    CHECK_STR(finish_of(json_array_get(ev, 5)), "length");
    u = json_object_get(json_array_get(ev, 6), "usage");
    CHECK_INT(json_array_size(json_object_get(json_array_get(ev, 6), "choices")), ==, 0);
    /* 4 tokens of text plus the ChatML template's 5 + 3 (sim_chat.c) */
    CHECK_INT(json_integer_value(json_object_get(u, "prompt_tokens")), ==, 4 + 5 + 3);
    CHECK_INT(json_integer_value(json_object_get(u, "completion_tokens")), ==, 15);
    CHECK_INT(json_integer_value(json_object_get(u, "total_tokens")), ==, 12 + 15);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(u, "completion_tokens_details"), "reasoning_tokens")),
              ==, 6);
    CHECK_STR(json_string_value(json_array_get(ev, 7)), "[DONE]");
    json_decref(ev);
    free(out);
    o = last_request();
    ev = json_object_get(o, "events");
    CHECK_STR(ev_kind(json_array_get(ev, 1)), "reasoning");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(ev, 2), "tokens")), ==, 2);
    CHECK_STR(ev_kind(json_array_get(ev, 3)), "content");
    json_decref(o);

    /* output_tokens below max_tokens: "stop"; no usage unless asked. */
    CHECK_INT(stream_post("/v1/chat/completions",
                          "{\"model\":\"stop\","
                          "\"messages\":[],\"max_tokens\":100,\"stream\":true}",
                          &out),
              ==, 200);
    ev = sse_split(out);
    CHECK_INT(json_array_size(ev), ==, 7);
    CHECK_STR(finish_of(json_array_get(ev, 5)), "stop");
    json_decref(ev);
    free(out);

    /* LM Studio v0: a stats chunk before [DONE]. */
    CHECK_INT(stream_post("/api/v0/chat/completions",
                          "{\"model\":\"stop\","
                          "\"messages\":[],\"stream\":true}",
                          &out),
              ==, 200);
    ev = sse_split(out);
    last = json_array_get(ev, json_array_size(ev) - 2);
    o = json_object_get(last, "stats");
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "stop_reason")), "eosFound");
    CHECK_NEAR(json_real_value(json_object_get(o, "time_to_first_token")), 0.010, 0.003);
    CHECK_NEAR(json_real_value(json_object_get(o, "tokens_per_second")), 5.0 / 0.008, 60);
    CHECK_STR(json_string_value(json_object_get(json_object_get(last, "model_info"), "quant")),
              "Q8_0");
    CHECK(json_object_get(last, "runtime") != NULL);
    json_decref(ev);
    free(out);

    /* Non-streaming: one chat.completion after the whole generation. */
    CHECK_INT(stream_post("/v1/chat/completions",
                          "{\"model\":\"think\","
                          "\"messages\":[],\"max_tokens\":7}",
                          &out),
              ==, 200);
    o = json_loads(out, 0, NULL);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "object")), "chat.completion");
    last = json_object_get(json_array_get(json_object_get(o, "choices"), 0), "message");
    CHECK_STR(json_string_value(json_object_get(last, "content")), "ab ");
    CHECK_STR(json_string_value(json_object_get(last, "reasoning_content")),
              "ab ab ab ab ab ab ");
    CHECK_INT(
        json_integer_value(json_object_get(json_object_get(o, "usage"), "completion_tokens")),
        ==, 7);
    json_decref(o);
    free(out);
    tu_sim_stop(&sim);
}

/* ---- (c) faults ---- */

TEST(faults)
{
    json_t *ev, *req, *evs, *o;
    char *out = NULL;
    uint64_t t0, g;
    size_t i, ncontent = 0;
    int done = 0, finish = 0;
    char url[256];
    long st;

#define BASE "\"ttft_ms\":20,\"tps\":100"
    sim_up("{\"models\":["
           "{\"key\":\"f500\"," BASE ",\"fault\":{\"http_500\":true}},"
           "{\"key\":\"stall\"," BASE ",\"fault\":{\"stall_ms\":300,"
           "\"stall_at\":5}},"
           "{\"key\":\"drop\"," BASE ",\"fault\":{\"drop_at\":3}},"
           "{\"key\":\"mal\"," BASE ",\"fault\":{\"malformed_at\":2}},"
           "{\"key\":\"nodone\"," BASE ",\"fault\":{\"no_done\":true}},"
           "{\"key\":\"every\"," BASE ",\"fault\":{\"http_500\":true,"
           "\"every\":2}},"
           "{\"key\":\"slow\"," BASE ",\"fault\":{\"slow_accept_ms\":300}}],"
           "\"loaded\":[\"f500\",\"stall\",\"drop\",\"mal\",\"nodone\","
           "\"every\",\"slow\"]}");
#define REQ(m)                                                                                 \
    "{\"model\":\"" m "\",\"messages\":[],\"max_tokens\":10,"                                  \
    "\"stream\":true}"

    CHECK_INT(stream_post("/v1/chat/completions", REQ("f500"), &out), ==, 500);
    o = json_loads(out, 0, NULL);
    CHECK(json_is_string(json_object_get(json_object_get(o, "error"), "message")));
    json_decref(o);
    free(out);
    req = last_request();
    CHECK_INT(json_integer_value(json_object_get(req, "status")), ==, 500);
    CHECK_STR(json_string_value(json_object_get(req, "fault")), "http_500");
    json_decref(req);

    /* stall: the gap before token event 5 is 300 ms longer. */
    CHECK_INT(stream_post("/v1/chat/completions", REQ("stall"), &out), ==, 200);
    free(out);
    req = last_request();
    evs = json_object_get(req, "events");
    g = ev_t(json_array_get(evs, 6)) - ev_t(json_array_get(evs, 5));
    CHECK_NEAR((double)g / MS, 310, 10);
    g = ev_t(json_array_get(evs, 5)) - ev_t(json_array_get(evs, 4));
    CHECK_NEAR((double)g / MS, 10, 8);
    json_decref(req);

    /* drop: the connection closes after 3 token events, no [DONE]. */
    snprintf(url, sizeof(url), "%s/v1/chat/completions", sim.base_url);
    CHECK_INT(tu_http("POST", url, REQ("drop"), NULL, &st, &out), ==, -1);
    ev = sse_split(out);
    CHECK_INT(json_array_size(ev), ==, 4);
    CHECK(strstr(out, "[DONE]") == NULL);
    json_decref(ev);
    free(out);
    req = last_request();
    CHECK_INT(json_array_size(json_object_get(req, "events")), ==, 4);
    json_decref(req);

    /* malformed: a garbage line as event 2, the stream otherwise whole. */
    CHECK_INT(stream_post("/v1/chat/completions", REQ("mal"), &out), ==, 200);
    CHECK(strstr(out, "\n\ndata: {not json\n\n") != NULL);
    ev = sse_split(out);
    CHECK_STR(json_string_value(json_array_get(ev, 3)), "{not json");
    CHECK_STR(json_string_value(json_array_get(ev, json_array_size(ev) - 1)), "[DONE]");
    json_decref(ev);
    free(out);
    req = last_request();
    CHECK_STR(ev_kind(json_array_get(json_object_get(req, "events"), 3)), "malformed");
    json_decref(req);

    /* no_done: neither [DONE] nor a finish_reason. */
    CHECK_INT(stream_post("/v1/chat/completions", REQ("nodone"), &out), ==, 200);
    ev = sse_split(out);
    for (i = 0; i < json_array_size(ev); i++) {
        o = json_array_get(ev, i);
        done += json_is_string(o);
        finish += finish_of(o) != NULL;
        ncontent += json_object_get(delta_of(o), "content") != NULL;
    }
    CHECK_INT(done, ==, 0);
    CHECK_INT(finish, ==, 0);
    CHECK_INT(ncontent, ==, 10);
    json_decref(ev);
    free(out);

    /* every: only every 2nd request fails. */
    CHECK_INT(stream_post("/v1/chat/completions", REQ("every"), &out), ==, 200);
    free(out);
    CHECK_INT(stream_post("/v1/chat/completions", REQ("every"), &out), ==, 500);
    free(out);
    CHECK_INT(stream_post("/v1/chat/completions", REQ("every"), &out), ==, 200);
    free(out);

    /* slow_accept: headers and everything after come 300 ms late. */
    t0 = tu_now_ns();
    CHECK_INT(stream_post("/v1/chat/completions", REQ("slow"), &out), ==, 200);
    CHECK_DBL((double)(tu_now_ns() - t0) / MS, >=, 300 + 20 + 90);
    free(out);
    req = last_request();
    evs = json_object_get(req, "events");
    CHECK_DBL((double)(ev_t(json_array_get(evs, 0)) -
                       (uint64_t)json_integer_value(json_object_get(req, "t_recv_ns"))) /
                  MS,
              >=, 300);
    json_decref(req);
    tu_sim_stop(&sim);
#undef REQ
#undef BASE
}

/* ---- (d) 200 concurrent streams ---- */

static int
cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

TEST(concurrent_200_streams)
{
    enum { NS = 200, NT = 40 };
    const char *body = "{\"model\":\"c\",\"messages\":[],\"max_tokens\":40,"
                       "\"stream\":true}";
    struct pollfd pf[NS];
    static char got[NS][16384];
    size_t glen[NS];
    char buf[8192];
    json_t *log, *reqs, *r, *evs, *ev;
    double *late;
    size_t i, k, nl = 0;
    int open_n = NS, j;
    ssize_t n;
    uint64_t t_recv;

    sim_up("{\"models\":[{\"key\":\"c\",\"ttft_ms\":100,\"tps\":20}],"
           "\"loaded\":[\"c\"]}");
    for (i = 0; i < NS; i++) {
        pf[i].fd = tu_dial(sim.port);
        pf[i].events = POLLIN;
        glen[i] = 0;
        raw_send(pf[i].fd, "/v1/chat/completions", body);
    }
    while (open_n > 0) {
        CHECK(poll(pf, NS, 10000) > 0);
        for (i = 0; i < NS; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP)))
                continue;
            n = read(pf[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_n--;
                continue;
            }
            CHECK(glen[i] + (size_t)n < sizeof(got[i]));
            memcpy(got[i] + glen[i], buf, (size_t)n);
            glen[i] += (size_t)n;
            got[i][glen[i]] = '\0';
        }
    }
    for (i = 0; i < NS; i++)
        CHECK(strstr(got[i], "data: [DONE]") != NULL);

    log = tu_sim_log(&sim);
    reqs = json_object_get(log, "requests");
    CHECK_INT(json_array_size(reqs), ==, NS);
    late = calloc(NS * NT, sizeof(*late));
    CHECK(late != NULL);
    json_array_foreach(reqs, i, r)
    {
        CHECK_INT(json_integer_value(json_object_get(r, "status")), ==, 200);
        t_recv = (uint64_t)json_integer_value(json_object_get(r, "t_recv_ns"));
        evs = json_object_get(r, "events");
        j = 0;
        json_array_foreach(evs, k, ev)
        {
            if (strcmp(ev_kind(ev), "content") != 0)
                continue;
            late[nl] = ((double)ev_t(ev) - (double)t_recv - 100 * MS - j * 50 * MS) / MS;
            CHECK_DBL(late[nl], >=, 0);  /* never early */
            CHECK_DBL(late[nl], <, 100); /* never badly late */
            nl++;
            j++;
        }
        CHECK_INT(j, ==, NT);
    }
    qsort(late, nl, sizeof(*late), cmp_dbl);
    fprintf(stderr, "lateness ms: p50 %.3f p99 %.3f max %.3f\n", late[nl / 2],
            late[nl * 99 / 100], late[nl - 1]);
    CHECK_DBL(late[nl / 2], <, 2.0);
    CHECK_DBL(late[nl * 99 / 100], <, 10.0);
    free(late);
    json_decref(log);
    tu_sim_stop(&sim);
}

/* ---- (d2) slots and a shared decode budget (sim_batch.c) ---- */

/* The median gap (ms) between the content events of log record r, and
 * its first content event's time after receipt (ms) in *first. */
static double
content_gaps(const json_t *r, double *first)
{
    const json_t *evs = json_object_get(r, "events"), *ev;
    double gaps[REQ_MAX], prev = -1,
                          t_recv = (double)json_integer_value(json_object_get(r, "t_recv_ns"));
    size_t k, n = 0;

    *first = -1;
    json_array_foreach(evs, k, ev)
    {
        if (strcmp(ev_kind(ev), "content") != 0)
            continue;
        if (prev < 0)
            *first = ((double)ev_t(ev) - t_recv) / MS;
        else if (n < REQ_MAX)
            gaps[n++] = ((double)ev_t(ev) - prev) / MS;
        prev = (double)ev_t(ev);
    }
    CHECK(n > 0);
    qsort(gaps, n, sizeof(gaps[0]), cmp_dbl);
    return gaps[n / 2];
}

/* Two slots and 100 tok/s shared, three requests at once: two get the
 * slots and decode at 100 / 2 = 50 tok/s (20 ms a token); the third waits
 * until one ends (50 ms + 19 * 20 ms = 430 ms), that wait in its TTFT, and
 * then decodes alone at 100 tok/s (10 ms a token). */
TEST(slots_queue_and_shared_budget)
{
    enum { NS = 3 };
    const char *body = "{\"model\":\"q\",\"messages\":[],\"max_tokens\":20,"
                       "\"stream\":true}";
    json_t *log, *reqs, *r;
    double gap[NS], first[NS];
    char buf[8192];
    int fd[NS], i, late = 0;

    sim_up("{\"models\":[{\"key\":\"q\",\"ttft_ms\":50,\"tps\":100,\"slots\":2,"
           "\"budget_tps\":100}],\"loaded\":[\"q\"]}");
    for (i = 0; i < NS; i++) {
        fd[i] = tu_dial(sim.port);
        raw_send(fd[i], "/v1/chat/completions", body);
    }
    for (i = 0; i < NS; i++) {
        while (read(fd[i], buf, sizeof(buf)) > 0)
            ;
        close(fd[i]);
    }
    log = tu_sim_log(&sim);
    reqs = json_object_get(log, "requests");
    CHECK_INT(json_array_size(reqs), ==, NS);
    for (i = 0; i < NS; i++) {
        r = json_array_get(reqs, (size_t)i);
        gap[i] = content_gaps(r, &first[i]);
        if (first[i] > first[late])
            late = i;
    }
    for (i = 0; i < NS; i++) {
        if (i == late) {
            CHECK_DBL(first[i], >=, 50 + 19 * 20 - 5);
            CHECK_NEAR(gap[i], 10, 3);
        } else {
            CHECK_NEAR(first[i], 50, 10);
            CHECK_NEAR(gap[i], 20, 3);
        }
    }
    json_decref(log);
    tu_sim_stop(&sim);
}

/* ---- (e) bad input ---- */

struct bad_case {
    const char *method, *path, *body;
    long status;
    const char *needle; /* must appear in error.message */
};

static const struct bad_case bad_cases[] = {
    {"POST", "/sim/models", "{not json", 400, "invalid JSON"},
    {"POST", "/sim/models", "[1,2]", 400, "body"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"tps\":0}", 400, "tps"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"tps\":-5}", 400, "tps"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"ttft_ms\":\"fast\"}", 400, "ttft_ms"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"ttft_ms\":-1}", 400, "ttft_ms"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"tokens_per_event\":1e300}", 400,
     "tokens_per_event"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"output_tokens\":99999999999}", 400,
     "output_tokens"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"colour\":1}", 400, "colour"},
    {"POST", "/sim/models", "{\"tps\":5}", 400, "key"},
    {"POST", "/sim/models", "{\"key\":\"\"}", 400, "key"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"usage\":1}", 400, "usage"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"format\":\"onnx\"}", 400, "format"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"fault\":{\"drop_at\":-2}}", 400, "fault.drop_at"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"fault\":{\"boom\":true}}", 400, "fault.boom"},
    {"POST", "/sim/models", "{\"key\":\"x\",\"fault\":[]}", 400, "fault"},
    {"POST", "/sim/load", "{\"key\":\"nope\"}", 404, "key"},
    {"POST", "/sim/load", "{\"key\":5}", 400, "key"},
    {"POST", "/sim/load", "{\"key\":\"m\",\"context_length\":-1}", 400, "context_length"},
    {"POST", "/sim/load", "{\"key\":\"m\",\"gpu\":1}", 400, "gpu"},
    {"POST", "/sim/unload", "{\"identifier\":\"nope\"}", 404, "identifier"},
    {"POST", "/sim/unload", "{\"all\":\"yes\"}", 400, "all"},
    {"POST", "/sim/fault", "{\"key\":\"m\",\"fault\":{\"every\":0}}", 400, "fault.every"},
    {"POST", "/sim/fault", "{\"key\":\"zz\",\"fault\":{}}", 404, "key"},
    {"POST", "/v1/chat/completions", "{", 400, "invalid JSON"},
    {"POST", "/v1/chat/completions", "{\"model\":\"ghost\",\"messages\":[]}", 404, "ghost"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\"}", 400, "messages"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[],"
     "\"max_tokens\":\"lots\"}",
     400, "max_tokens"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[],"
     "\"max_tokens\":0}",
     400, "max_tokens"},
    {"GET", "/nope", NULL, 404, "no route"},
    {"PUT", "/sim/log", NULL, 405, "method"},
    {"GET", "/sim/log?id=abc", NULL, 400, "id"},
};

TEST(bad_input_gets_4xx_json)
{
    const char *msg;
    json_t *o = NULL;
    char *big;
    size_t i;
    long st;

    sim_up("{\"models\":[{\"key\":\"m\",\"ttft_ms\":5,\"tps\":1000}],"
           "\"loaded\":[\"m\"]}");
    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];

        st = tu_sim_call(&sim, c->method, c->path, c->body, &o);
        fprintf(stderr, "%s %s %s -> %ld\n", c->method, c->path, c->body ? c->body : "", st);
        CHECK_INT(st, ==, c->status);
        msg = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
        CHECK(msg != NULL);
        if (strstr(msg, c->needle) == NULL)
            CHECK_STR(msg, c->needle);
        json_decref(o);
    }
    big = malloc(2 * 1024 * 1024 + 1);
    CHECK(big != NULL);
    memset(big, ' ', 2 * 1024 * 1024);
    big[0] = '{';
    big[2 * 1024 * 1024] = '\0';
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/models", big, &o), ==, 413);
    CHECK(json_object_get(o, "error") != NULL);
    json_decref(o);
    free(big);

    /* Still serving, and state reflects only the valid configuration. */
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "data"), 0), "id")),
        "m");
    json_decref(o);
    CHECK_INT(tu_sim_call(&sim, "GET", "/sim/state", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "models")), ==, 1);
    json_decref(o);
    CHECK_INT(stream_post("/v1/chat/completions",
                          "{\"model\":\"m\","
                          "\"messages\":[],\"max_tokens\":3,\"stream\":true}",
                          &big),
              ==, 200);
    CHECK(strstr(big, "[DONE]") != NULL);
    free(big);

    /* Admin happy path: add, load under an identifier, unload. */
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/models",
                          "{\"key\":\"n@Q4\","
                          "\"load_ms\":100}",
                          NULL),
              ==, 200);
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/load",
                          "{\"key\":\"n@Q4\","
                          "\"identifier\":\"n1\",\"context_length\":4096}",
                          NULL),
              ==, 200);
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/load",
                          "{\"key\":\"m\","
                          "\"identifier\":\"n1\"}",
                          NULL),
              ==, 409);
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "data")), ==, 2);
    json_decref(o);
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/unload", "{\"all\":true}", NULL), ==, 200);
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "data")), ==, 0);
    json_decref(o);
    tu_sim_stop(&sim);
}

/* ---- (f) the fake lms ---- */

static char lms_cfg[TU_PATH_MAX], lms_log[TU_PATH_MAX], lms_dir[512];

static void
lms_setup(const char *extra)
{
    char text[2048];

    snprintf(lms_dir, sizeof(lms_dir), "%s", tu_tmpdir());
    snprintf(lms_cfg, sizeof(lms_cfg), "%s/fake-lms.json", lms_dir);
    snprintf(lms_log, sizeof(lms_log), "%s/argv.log", lms_dir);
    snprintf(text, sizeof(text), "{\"sim\":\"%s\",\"log\":\"%s\"%s}", sim.base_url, lms_log,
             extra);
    CHECK_INT(tu_write_file(lms_cfg, text), ==, 0);
    CHECK_INT(setenv("FAKE_LMS_CONFIG", lms_cfg, 1), ==, 0);
}

/* Run the fake lms with args (NULL-terminated); stdout text in *out. */
static int
lms(char **out, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5)
{
    char outp[TU_PATH_MAX], errp[TU_PATH_MAX];
    char *argv[7] = {(char *)tu_src("tests/fake-lms"),
                     (char *)a1,
                     (char *)a2,
                     (char *)a3,
                     (char *)a4,
                     (char *)a5,
                     NULL};
    int code = -1;

    snprintf(outp, sizeof(outp), "%s/out", lms_dir);
    snprintf(errp, sizeof(errp), "%s/err", lms_dir);
    CHECK_INT(tu_run(argv, outp, errp, 20000, &code), ==, 0);
    if (out != NULL)
        CHECK_INT(tu_read_file(outp, out, NULL), ==, 0);
    return code;
}

/* The last argv line of the fake's log, parsed. */
static json_t *
lms_last_argv(void)
{
    char *text = NULL, *p;
    json_t *a;
    size_t n;

    CHECK_INT(tu_read_file(lms_log, &text, &n), ==, 0);
    CHECK(n > 1);
    text[n - 1] = '\0';
    p = strrchr(text, '\n');
    a = json_loads(p ? p + 1 : text, 0, NULL);
    CHECK(json_is_array(a));
    free(text);
    return a;
}

#define WEIRD "org/we ird\"'; $(touch pwned) `id`@Q4_K_S"

TEST(fake_lms_drives_sim)
{
    char *out = NULL, *err = NULL, errp[TU_PATH_MAX];
    json_t *o, *a;

    sim_up("{\"models\":[{\"key\":\"org/a-GGUF@Q4_K_S\",\"size_bytes\":"
           "4200000000,\"quant\":\"Q4_K_S\"},{\"key\":\"mlx/b\",\"format\":"
           "\"mlx\"},{\"key\":\""
           "org/we ird\\\"'; $(touch pwned) `id`@Q4_K_S"
           "\"}]}");
    lms_setup("");

    /* version.ts: logo art in ANSI colours first, then "CLI commit:". */
    CHECK_INT(lms(&out, "version", NULL, NULL, NULL, NULL), ==, 0);
    CHECK(out[0] == '\033');
    CHECK(strstr(out, "\nCLI commit: ") != NULL);
    free(out);
    CHECK_INT(lms(&out, "ls", "--json", NULL, NULL, NULL), ==, 0);
    o = json_loads(out, 0, NULL);
    CHECK_INT(json_array_size(o), ==, 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(o, 0), "modelKey")),
              "org/a-GGUF@Q4_K_S");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(o, 0), "sizeBytes")), ==,
              4200000000LL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(o, 1), "format")), "mlx");
    json_decref(o);
    free(out);

    CHECK_INT(lms(NULL, "load", "org/a-GGUF@Q4_K_S", "-y", "--identifier", "bench-a"), ==, 0);
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "data"), 0), "id")),
        "bench-a");
    json_decref(o);
    CHECK_INT(lms(&out, "ps", "--json", NULL, NULL, NULL), ==, 0);
    o = json_loads(out, 0, NULL);
    CHECK_INT(json_array_size(o), ==, 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(o, 0), "identifier")),
              "bench-a");
    CHECK_STR(json_string_value(json_object_get(json_array_get(o, 0), "modelKey")),
              "org/a-GGUF@Q4_K_S");
    CHECK_STR(json_string_value(json_object_get(json_array_get(o, 0), "status")), "idle");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(o, 0), "queued")), ==, 0);
    json_decref(o);
    free(out);
    /* The estimate goes through lms's logger: stderr, nothing on stdout
     * (lms src/logLevel.ts, load.ts printEstimatedResourceUsage). */
    CHECK_INT(lms(&out, "load", "--estimate-only", "org/a-GGUF@Q4_K_S", "-y", NULL), ==, 0);
    CHECK_STR(out, "");
    free(out);
    snprintf(errp, sizeof(errp), "%s/err", lms_dir);
    CHECK_INT(tu_read_file(errp, &err, NULL), ==, 0);
    CHECK(strstr(err, "Estimated Total Memory:") != NULL);
    CHECK(strstr(err, "GiB") != NULL);
    free(err);
    CHECK_INT(lms(NULL, "unload", "bench-a", NULL, NULL, NULL), ==, 0);
    /* An unknown identifier: an error on stderr, exit 0 (unload.ts). */
    CHECK_INT(lms(NULL, "unload", "bench-a", NULL, NULL, NULL), ==, 0);
    CHECK_INT(tu_read_file(errp, &err, NULL), ==, 0);
    CHECK(strstr(err, "Cannot find a model with the identifier") != NULL);
    free(err);
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "data")), ==, 0);
    json_decref(o);

    /* Unknown key: exit 1, a message on stderr. */
    CHECK_INT(lms(NULL, "load", "no/such", "-y", NULL, NULL), ==, 1);
    snprintf(errp, sizeof(errp), "%s/err", lms_dir);
    CHECK_INT(tu_read_file(errp, &err, NULL), ==, 0);
    CHECK(strstr(err, "no/such") != NULL);
    free(err);

    /* A hostile key arrives as one argv element and loads as itself. */
    CHECK_INT(lms(NULL, "load", WEIRD, "--yes", "--context-length", "8192"), ==, 0);
    a = lms_last_argv();
    CHECK_INT(json_array_size(a), ==, 6);
    CHECK_STR(json_string_value(json_array_get(a, 1)), "load");
    CHECK_STR(json_string_value(json_array_get(a, 2)), WEIRD);
    json_decref(a);
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_STR(
        json_string_value(json_object_get(json_array_get(json_object_get(o, "data"), 0), "id")),
        WEIRD);
    json_decref(o);
    CHECK(access("pwned", F_OK) != 0);
    CHECK_INT(lms(NULL, "unload", "--all", NULL, NULL, NULL), ==, 0);
    CHECK_INT(lms(&out, "server", "status", NULL, NULL, NULL), ==, 0);
    free(out);
    tu_sim_stop(&sim);
}

TEST(fake_lms_fail_hang_mismatch)
{
    char *argv[5], errp[TU_PATH_MAX], *err = NULL;
    json_t *o;
    pid_t pid;
    int i, gone = 0;

    sim_up("{\"models\":[{\"key\":\"a\"},{\"key\":\"b\"}]}");
    lms_setup(",\"fail\":[\"load\"]");
    CHECK_INT(lms(NULL, "load", "a", "-y", NULL, NULL), ==, 1);
    snprintf(errp, sizeof(errp), "%s/err", lms_dir);
    CHECK_INT(tu_read_file(errp, &err, NULL), ==, 0);
    CHECK(strlen(err) > 0);
    free(err);
    CHECK_INT(lms(NULL, "unload", "--all", NULL, NULL, NULL), ==, 0);

    lms_setup(",\"mismatch\":{\"a\":\"b\"}");
    CHECK_INT(lms(NULL, "load", "a", "-y", NULL, NULL), ==, 0);
    CHECK_INT(tu_sim_call(&sim, "GET", "/sim/state", NULL, &o), ==, 200);
    CHECK(json_is_false(
        json_object_get(json_array_get(json_object_get(o, "models"), 0), "loaded")));
    CHECK(json_is_true(
        json_object_get(json_array_get(json_object_get(o, "models"), 1), "loaded")));
    json_decref(o);

    /* hang: never exits; killing its process group ends it and its child. */
    lms_setup(",\"hang\":[\"load\"]");
    (void)TU_ARGV(argv, 0, (char *)tu_src("tests/fake-lms"), "load", "a", "-y");
    CHECK_INT(tu_spawn(argv, NULL, NULL, 1, &pid), ==, 0);
    CHECK_INT(tu_wait_pid_exit(pid, 1500, NULL), ==, -1);
    CHECK_INT(kill(-pid, 0), ==, 0);
    CHECK_INT(kill(-pid, SIGKILL), ==, 0);
    CHECK_INT(tu_wait_pid_exit(pid, 5000, NULL), ==, 0);
    for (i = 0; i < 200 && !gone; i++) {
        gone = kill(-pid, 0) == -1 && errno == ESRCH;
        tu_sleep_ms(10);
    }
    CHECK(gone);
    tu_sim_stop(&sim);
}

/* JIT loading (LM Studio's default; docs "Run LM Studio as a service
 * (headless)"): /v1/models lists every downloaded model, and a request to
 * an unloaded one loads it first. Off, only loaded models are listed and
 * such a request gets 404. /lmstudio-greeting answers as LM Studio does
 * (lms src/createClient.ts checkHttpServer). */
TEST(jit_lists_all_and_loads_on_request)
{
    char *out = NULL;
    json_t *o = NULL, *m;
    size_t i;
    int loaded = 0;

    sim_up("{\"jit\":true,\"models\":[{\"key\":\"a\",\"load_ms\":0},"
           "{\"key\":\"b\",\"load_ms\":50}],\"loaded\":[\"a\"]}");
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "data")), ==, 2);
    json_decref(o);
    CHECK_INT(tu_sim_call(&sim, "GET", "/lmstudio-greeting", NULL, &o), ==, 200);
    CHECK(json_is_true(json_object_get(o, "lmstudio")));
    json_decref(o);
    CHECK_INT(stream_post("/v1/chat/completions",
                          "{\"model\":\"b\",\"messages\":[],"
                          "\"max_tokens\":3,\"stream\":true}",
                          &out),
              ==, 200);
    CHECK(strstr(out, "[DONE]") != NULL);
    free(out);
    CHECK_INT(tu_sim_call(&sim, "GET", "/sim/state", NULL, &o), ==, 200);
    json_array_foreach(json_object_get(o, "models"), i, m)
    {
        loaded += json_is_true(json_object_get(m, "loaded"));
        CHECK_INT(json_integer_value(json_object_get(m, "active")), ==, 0);
    }
    json_decref(o);
    CHECK_INT(loaded, ==, 2); /* b was loaded by the request */
    tu_sim_stop(&sim);

    sim_up("{\"models\":[{\"key\":\"a\"},{\"key\":\"b\"}],\"loaded\":[\"a\"]}");
    CHECK_INT(tu_sim_call(&sim, "GET", "/v1/models", NULL, &o), ==, 200);
    CHECK_INT(json_array_size(json_object_get(o, "data")), ==, 1);
    json_decref(o);
    CHECK_INT(stream_post("/v1/chat/completions",
                          "{\"model\":\"b\",\"messages\":[],"
                          "\"max_tokens\":3,\"stream\":true}",
                          &out),
              ==, 404);
    free(out);
    tu_sim_stop(&sim);
}

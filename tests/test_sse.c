/* test_sse.c - the incremental SSE parser. */
#include "common/rng.h"
#include "daemon/sse.h"
#include "tests/check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX (64 * 1024)
#define LOG_DATA_MAX 1024 /* longer data is logged as "<N bytes>" */
#define FEED(p, s) sse_feed((p), (s), strlen(s))

/* Every event as "name|data" lines (data NULs shown as '0'). */
struct log {
    char buf[LOG_MAX];
    size_t len;
    int n;
    int stop_after; /* stop when n reaches it; 0: never */
};

static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct log *l = arg;
    size_t i, el = strlen(event);

    CHECK(data[len] == '\0');
    CHECK(l->len + el + LOG_DATA_MAX + 2 < LOG_MAX);
    memcpy(l->buf + l->len, event, el);
    l->len += el;
    l->buf[l->len++] = '|';
    if (len > LOG_DATA_MAX) {
        l->len += (size_t)snprintf(l->buf + l->len, LOG_MAX - l->len, "<%zu bytes>", len);
    } else {
        for (i = 0; i < len; i++)
            l->buf[l->len++] = data[i] == '\0' ? '0' : data[i];
    }
    l->buf[l->len++] = '\n';
    l->buf[l->len] = '\0';
    l->n++;
    return l->stop_after != 0 && l->n >= l->stop_after;
}

static struct log *
log_new(void)
{
    struct log *l = calloc(1, sizeof(*l));

    CHECK(l != NULL);
    return l;
}

/* Parse `s` in one feed and return the log (caller frees). */
static struct log *
parse_all(const char *s, size_t n)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);

    CHECK(p != NULL);
    CHECK_INT(sse_feed(p, s, n), ==, 0);
    sse_free(p);
    return l;
}

static void
expect(const char *stream, const char *want)
{
    struct log *l = parse_all(stream, strlen(stream));

    CHECK_STR(l->buf, want);
    free(l);
}

TEST(line_endings)
{
    expect("data: a\n\n", "message|a\n");
    expect("data: a\r\n\r\n", "message|a\n");
    expect("data: a\r\r", "message|a\n");
    expect("data: a\r\n\n", "message|a\n");
    expect("data: a\n\r\n", "message|a\n");
    expect("data: a\r\ndata: b\rdata: c\n\r", "message|a\nb\nc\n");
    /* "\r\r" is two line ends, "\r\n" one. */
    expect("data: a\r\rdata: b\r\n\r\n", "message|a\nmessage|b\n");
    /* No blank line: nothing dispatched. */
    expect("data: a\n", "");
}

TEST(cr_split_across_feeds)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);

    CHECK_INT(FEED(p, "data: a\r"), ==, 0);
    CHECK_INT(l->n, ==, 0);
    CHECK_INT(FEED(p, "\n"), ==, 0); /* the LF of the CRLF, not a blank line */
    CHECK_INT(l->n, ==, 0);
    CHECK_INT(FEED(p, "data: b\r"), ==, 0);
    CHECK_INT(FEED(p, "\n\r"), ==, 0);
    CHECK_INT(l->n, ==, 1);
    CHECK_STR(l->buf, "message|a\nb\n");
    CHECK_INT(sse_finish(p), ==, 0);
    sse_free(p);
    free(l);
}

TEST(fields)
{
    /* One optional space stripped, only one. */
    expect("data:a\n\n", "message|a\n");
    expect("data:  a\n\n", "message| a\n");
    /* A field with no colon has an empty value. */
    expect("data\n\n", "message|\n");
    expect("data\ndata\n\n", "message|\n\n");
    /* Event names; an event with no data is not dispatched. */
    expect("event: ping\n\n", "");
    expect("event: delta\ndata: {}\n\ndata: x\n\n", "delta|{}\nmessage|x\n");
    /* Unknown fields and retry are ignored; case matters. */
    expect("retry: 10\nfoo: bar\nDATA: x\ndata: y\n\n", "message|y\n");
    /* Colons in the value stay. */
    expect("data: {\"a\": \"b:c\"}\n\n", "message|{\"a\": \"b:c\"}\n");
    /* NUL bytes in data survive. */
    {
        static const char s[] = "data: a\0b\n\n";
        struct log *l = parse_all(s, sizeof(s) - 1);

        CHECK_STR(l->buf, "message|a0b\n");
        free(l);
    }
}

TEST(comments)
{
    expect(": keep-alive\n\n", "");
    expect(":\n:comment\r\ndata: x\n: inside\ndata: y\n\n", "message|x\ny\n");
    expect(": OPENROUTER PROCESSING\n\ndata: [DONE]\n\n", "message|[DONE]\n");
}

TEST(multiline_data)
{
    expect("data: line1\ndata: line2\ndata:\ndata: line4\n\n",
           "message|line1\nline2\n\nline4\n");
    expect("data: YHOO\ndata: +2\ndata: 10\n\n", "message|YHOO\n+2\n10\n");
}

TEST(bom)
{
    struct log *l;
    struct sse_parser *p;

    expect("\xEF\xBB\xBF"
           "data: a\n\n",
           "message|a\n");
    /* Only at the start: a second BOM is part of the field name. */
    expect("\xEF\xBB\xBF\xEF\xBB\xBF"
           "data: a\n\ndata: b\n\n",
           "message|b\n");
    /* A partial BOM is ordinary text. */
    expect("\xEF\xBB"
           "data: a\n\ndata: b\n\n",
           "message|b\n");

    /* Split byte by byte. */
    l = log_new();
    p = sse_new(on_event, l);
    CHECK_INT(FEED(p, "\xEF"), ==, 0);
    CHECK_INT(FEED(p, "\xBB"), ==, 0);
    CHECK_INT(FEED(p, "\xBF"), ==, 0);
    CHECK_INT(FEED(p, "data: a\n\n"), ==, 0);
    CHECK_STR(l->buf, "message|a\n");
    /* After sse_finish a new stream may start with a BOM again. */
    CHECK_INT(sse_finish(p), ==, 0);
    CHECK_INT(FEED(p, "\xEF\xBB\xBF"
                      "data: b\n\n"),
              ==, 0);
    CHECK_STR(l->buf, "message|a\nmessage|b\n");
    sse_free(p);
    free(l);
}

TEST(last_id)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);
    static const char s[] = "id: 7\ndata: a\n\nid: 8\0x\ndata: b\n\n";

    CHECK_STR(sse_last_id(p), "");
    CHECK_INT(sse_feed(p, s, sizeof(s) - 1), ==, 0);
    CHECK_STR(sse_last_id(p), "7"); /* an id with NUL is ignored */
    CHECK_INT(sse_events(p), ==, 2);
    sse_free(p);
    free(l);
}

/* A recorded stream: LM Studio-like, with every kind of line end. */
static const char recorded[] =
    ": ping\r\n"
    "data: "
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"Let me\"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\r\r"
    "event: stats\n"
    "data: {\"tokens_per_second\":41.2,\n"
    "data:  \"stop_reason\":\"eosFound\"}\n"
    "\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}]}\r\n"
    "\r\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\r"
    ":\n"
    "data: [DONE]\r\n\n";

TEST(split_every_position)
{
    size_t n = sizeof(recorded) - 1, cut, cut2;
    struct log *whole = parse_all(recorded, n);

    CHECK_INT(whole->n, ==, 7);
    for (cut = 0; cut <= n; cut++) {
        struct log *l = log_new();
        struct sse_parser *p = sse_new(on_event, l);

        CHECK_INT(sse_feed(p, recorded, cut), ==, 0);
        CHECK_INT(sse_feed(p, recorded + cut, n - cut), ==, 0);
        CHECK_INT(sse_finish(p), ==, 0);
        if (strcmp(l->buf, whole->buf) != 0)
            CHECK_INT(cut, ==, -1);
        sse_free(p);
        free(l);
    }
    /* Three pieces, every pair of cuts. */
    for (cut = 0; cut <= n; cut += 3) {
        for (cut2 = cut; cut2 <= n; cut2++) {
            struct log *l = log_new();
            struct sse_parser *p = sse_new(on_event, l);

            CHECK_INT(sse_feed(p, recorded, cut), ==, 0);
            CHECK_INT(sse_feed(p, recorded + cut, cut2 - cut), ==, 0);
            CHECK_INT(sse_feed(p, recorded + cut2, n - cut2), ==, 0);
            if (strcmp(l->buf, whole->buf) != 0)
                CHECK_INT(cut * 100000 + cut2, ==, -1);
            sse_free(p);
            free(l);
        }
    }
    /* Byte by byte. */
    {
        struct log *l = log_new();
        struct sse_parser *p = sse_new(on_event, l);

        for (cut = 0; cut < n; cut++)
            CHECK_INT(sse_feed(p, recorded + cut, 1), ==, 0);
        CHECK_STR(l->buf, whole->buf);
        sse_free(p);
        free(l);
    }
    free(whole);
}

TEST(finish)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);

    /* Clean ends. */
    CHECK_INT(sse_finish(p), ==, 0);
    CHECK_INT(FEED(p, "data: a\n\n: bye\n"), ==, 0);
    CHECK_INT(sse_finish(p), ==, 0);
    /* An unterminated last line. */
    CHECK_INT(FEED(p, "data: [DONE]"), ==, 0);
    CHECK_INT(sse_finish(p), ==, -1);
    CHECK_INT(sse_error(p), ==, SSE_ERR_TRUNCATED);
    /* Fields with no blank line after them: discarded. */
    CHECK_INT(FEED(p, "data: b\n"), ==, 0);
    CHECK_INT(sse_finish(p), ==, -1);
    CHECK_INT(l->n, ==, 1);
    /* The parser was reset: the old "data: b" is gone. */
    CHECK_INT(FEED(p, "data: c\n\n"), ==, 0);
    CHECK_STR(l->buf, "message|a\nmessage|c\n");
    CHECK(strcmp(sse_strerror(SSE_ERR_TRUNCATED), "unknown error") != 0);
    sse_free(p);
    free(l);
}

TEST(callback_stops)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);
    const char *s = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

    l->stop_after = 2;
    CHECK_INT(sse_feed(p, s, strlen(s)), ==, -1);
    CHECK_INT(sse_error(p), ==, SSE_ERR_STOPPED);
    CHECK_INT(l->n, ==, 2);
    CHECK_INT(sse_feed(p, s, strlen(s)), ==, -1);
    CHECK_INT(l->n, ==, 2);
    sse_free(p);
    free(l);
}

/* A 10 MB line: an error, then the next event arrives intact. */
TEST(long_line_recovers)
{
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);
    size_t total = 10 * 1024 * 1024, piece = 64 * 1024, sent = 0;
    char *junk = malloc(piece);
    int rc, failed = 0;

    CHECK(junk != NULL);
    memset(junk, 'x', piece);
    CHECK_INT(FEED(p, "data: 1\n\ndata: partial\ndata: "), ==, 0);
    while (sent < total) {
        rc = sse_feed(p, junk, piece);
        if (rc == -1) {
            CHECK_INT(sse_error(p), ==, SSE_ERR_LINE_TOO_LONG);
            failed++;
        }
        sent += piece;
    }
    CHECK_INT(failed, ==, 1); /* reported once */
    /* The rest of the poisoned event is dropped up to the blank line. */
    CHECK_INT(FEED(p, "\ndata: more of it\n\ndata: 2\n\n"), ==, 0);
    CHECK_STR(l->buf, "message|1\nmessage|2\n");

    /* The same in one feed, with the line end in the same buffer. */
    {
        char *big = malloc(total + 32);
        size_t n;

        CHECK(big != NULL);
        memcpy(big, "data: ", 6);
        memset(big + 6, 'y', total);
        memcpy(big + 6 + total, "\r\n\r\ndata: 3\r\n\r\n", 15);
        n = 6 + total + 15;
        CHECK_INT(sse_feed(p, big, n), ==, -1);
        CHECK_INT(sse_error(p), ==, SSE_ERR_LINE_TOO_LONG);
        CHECK_STR(l->buf, "message|1\nmessage|2\nmessage|3\n");
        free(big);
    }
    /* A line of exactly SSE_LINE_MAX bytes is fine. */
    {
        char *big = malloc(SSE_LINE_MAX + 2);

        CHECK(big != NULL);
        memcpy(big, "data: ", 6);
        memset(big + 6, 'z', SSE_LINE_MAX - 6);
        memcpy(big + SSE_LINE_MAX, "\n\n", 2);
        CHECK_INT(sse_feed(p, big, 6), ==, 0);
        CHECK_INT(sse_feed(p, big + 6, SSE_LINE_MAX - 6 + 2), ==, 0);
        CHECK_INT(l->n, ==, 4);
        CHECK(strstr(l->buf, "message|<1048570 bytes>\n") != NULL);
        free(big);
    }
    sse_free(p);
    free(junk);
    free(l);
}

TEST(data_cap)
{
    size_t line = 512 * 1024, i;
    struct log *l = log_new();
    struct sse_parser *p = sse_new(on_event, l);
    char *buf = malloc(line + 8);
    int failed = 0;

    CHECK(buf != NULL);
    memcpy(buf, "data: ", 6);
    memset(buf + 6, 'd', line);
    buf[6 + line] = '\n';
    /* 9 lines of 512 KiB exceed SSE_DATA_MAX (4 MiB). */
    for (i = 0; i < 9; i++)
        if (sse_feed(p, buf, line + 7) == -1)
            failed++;
    CHECK_INT(failed, ==, 1);
    CHECK_INT(sse_error(p), ==, SSE_ERR_EVENT_TOO_LONG);
    CHECK_INT(FEED(p, "\ndata: ok\n\n"), ==, 0);
    CHECK_STR(l->buf, "message|ok\n");
    /* Event names have a cap too. */
    memset(buf, 'e', SSE_EVENT_NAME_MAX + 8);
    memcpy(buf, "event: ", 7);
    buf[SSE_EVENT_NAME_MAX + 8] = '\n';
    CHECK_INT(sse_feed(p, buf, SSE_EVENT_NAME_MAX + 9), ==, -1);
    CHECK_INT(sse_error(p), ==, SSE_ERR_EVENT_TOO_LONG);
    CHECK_INT(FEED(p, "data: no\n\ndata: yes\n\n"), ==, 0);
    CHECK_STR(l->buf, "message|ok\nmessage|yes\n");
    sse_free(p);
    free(buf);
    free(l);
}

/* common/rng.h: a fixed seed (set by the test) makes every run the same. */
static struct rng fuzz_rng;

#define FUZZ_ITER 3000
#define GARBAGE_MAX 4096

/* Feed `s` in random pieces; returns how many feeds failed. */
static int
feed_randomly(struct sse_parser *p, const char *s, size_t n)
{
    size_t off = 0, k;
    int failed = 0;

    while (off < n) {
        k = 1 + (size_t)(rng_next(&fuzz_rng) % 64);
        if (k > n - off)
            k = n - off;
        if (sse_feed(p, s + off, k) == -1)
            failed++;
        off += k;
    }
    return failed;
}

TEST(fuzz_random_splits_and_garbage)
{
    static const char alphabet[] = "data:event: id\r\n\n\r:xyz{}\"\xEF\xBB\xBF";
    char *garbage = malloc(GARBAGE_MAX);
    size_t n = sizeof(recorded) - 1;
    struct log *whole = parse_all(recorded, n);
    int it;

    rng_seed(&fuzz_rng, 0x9E3779B97F4A7C15ULL);
    CHECK(garbage != NULL);
    for (it = 0; it < FUZZ_ITER; it++) {
        struct log *l = log_new();
        struct sse_parser *p = sse_new(on_event, l);
        size_t glen = (size_t)(rng_next(&fuzz_rng) % GARBAGE_MAX), i, mark;

        for (i = 0; i < glen; i++) {
            if (rng_next(&fuzz_rng) % 2)
                garbage[i] = alphabet[rng_next(&fuzz_rng) % (sizeof(alphabet) - 1)];
            else
                garbage[i] = (char)(rng_next(&fuzz_rng) & 0xFF);
        }
        /* The recorded stream, then garbage, then a boundary, then the stream. */
        CHECK_INT(feed_randomly(p, recorded, n), ==, 0);
        CHECK_STR(l->buf, whole->buf);
        feed_randomly(p, garbage, glen);
        CHECK_INT(feed_randomly(p, "\n\n", 2), ==, 0);
        mark = l->len;
        CHECK_INT(feed_randomly(p, recorded, n), ==, 0);
        CHECK_STR(l->buf + mark, whole->buf);
        (void)sse_finish(p);
        sse_free(p);
        free(l);
    }
    free(whole);
    free(garbage);
}

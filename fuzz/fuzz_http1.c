/*
 * fuzz_http1.c - libFuzzer target: the HTTP/1.1 response parser.
 *
 * Two checks per input:
 *  1. The input as a response, fed to one parser whole and to another in
 *     pieces whose sizes come from the input: both end in the same state
 *     (error, status, completeness, a digest of the body), and the EOF
 *     verdicts agree. Never a crash, a hang or a read out of bounds.
 *  2. A round trip: the input's first byte picks a framing (chunked,
 *     Content-Length, close-delimited), the rest is the body; it is framed
 *     (chunk sizes, extensions and a trailer drawn from the body's own
 *     bytes), then fed in pieces of sizes drawn from it: the parser must
 *     hand back exactly the body and call the message complete.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_WIRE_MAX (1 << 20)

struct digest {
    uint64_t h;
    size_t n;
};

static int
digest_add(void *arg, const char *p, size_t n)
{
    struct digest *d = arg;
    size_t i;

    for (i = 0; i < n; i++) {
        d->h ^= (unsigned char)p[i];
        d->h *= 0x100000001b3ULL;
    }
    d->n += n;
    return 0;
}

struct collect {
    char *buf;
    size_t len, cap;
};

static int
collect_add(void *arg, const char *p, size_t n)
{
    struct collect *c = arg;

    if (c->len + n > c->cap)
        abort(); /* more body than was framed */
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    return 0;
}

/* Piece k of a split: 1..64 bytes, drawn from seed[]. */
static size_t
piece(const uint8_t *seed, size_t nseed, size_t k)
{
    return nseed == 0 ? 7 : 1 + (size_t)(seed[k % nseed] & 0x3f);
}

static void
check_split(const uint8_t *data, size_t size)
{
    struct http1_parser *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    struct digest da = {0xcbf29ce484222325ULL, 0}, db = {0xcbf29ce484222325ULL, 0};
    size_t off = 0, k = 0;
    int ra, rb = 0, ea, eb;

    if (a == NULL || b == NULL)
        abort();
    http1_parser_init(a);
    http1_parser_init(b);
    ra = http1_parse(a, (const char *)data, size, digest_add, &da);
    while (off < size) {
        size_t n = piece(data, size, k++);
        if (n > size - off)
            n = size - off;
        if (http1_parse(b, (const char *)data + off, n, digest_add, &db) == -1)
            rb = -1;
        off += n;
    }
    if (ra != rb || a->err != b->err || a->status != b->status || a->complete != b->complete ||
        da.h != db.h || da.n != db.n)
        abort();
    ea = http1_parse_eof(a);
    eb = http1_parse_eof(b);
    if (ea != eb || a->complete != b->complete)
        abort();
    free(a);
    free(b);
}

/* Frame body[0..n) as `mode` says into wire; its length. */
static size_t
frame(int mode, const uint8_t *body, size_t n, char *wire)
{
    size_t w = 0, off = 0, k = 0;

    if (mode == 0) {
        w += (size_t)snprintf(wire, 128,
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        while (off < n) {
            size_t c = 1 + (size_t)(body[k++ % n] % 97);
            if (c > n - off)
                c = n - off;
            w += (size_t)snprintf(wire + w, 64, "%zx%s\r\n", c, (c & 3) == 0 ? ";e=1" : "");
            memcpy(wire + w, body + off, c);
            w += c;
            memcpy(wire + w, "\r\n", 2);
            w += 2;
            off += c;
        }
        w += (size_t)snprintf(wire + w, 64, "0\r\n%s\r\n", n & 1 ? "X-T: 1\r\n" : "");
    } else if (mode == 1) {
        w += (size_t)snprintf(wire, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        memcpy(wire + w, body, n);
        w += n;
    } else {
        w +=
            (size_t)snprintf(wire, 128, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");
        memcpy(wire + w, body, n);
        w += n;
    }
    return w;
}

static void
check_round_trip(const uint8_t *data, size_t size)
{
    struct http1_parser *p;
    struct collect got;
    const uint8_t *body = data + 1;
    size_t n = size - 1, len, off = 0, k = 0;
    char *wire;
    int mode = data[0] % 3;

    /* Chunked framing adds at most ~12 bytes per byte of body (1-byte
     * chunks with an extension); the head and trailer are short. */
    if (n > FUZZ_WIRE_MAX / 16)
        return;
    wire = malloc(n * 16 + 256);
    p = malloc(sizeof(*p));
    got.buf = malloc(n + 1);
    got.len = 0;
    got.cap = n;
    if (wire == NULL || p == NULL || got.buf == NULL)
        abort();
    len = frame(mode, body, n, wire);
    http1_parser_init(p);
    while (off < len) {
        size_t c = piece(body, n, k++);
        if (c > len - off)
            c = len - off;
        if (http1_parse(p, wire + off, c, collect_add, &got) == -1)
            abort();
        off += c;
    }
    if (mode == 2 && http1_parse_eof(p) == -1)
        abort();
    if (!p->complete || p->status != 200 || got.len != n || memcmp(got.buf, body, n) != 0)
        abort();
    free(wire);
    free(p);
    free(got.buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_split(data, size);
    if (size > 0)
        check_round_trip(data, size);
    return 0;
}

/*
 * fuzz_sse.c - libFuzzer target: the SSE parser and the chunk decoder.
 *
 * The input is fed to one parser whole and to another in pieces whose sizes
 * come from the input itself; both must yield the same events (a digest of
 * names and data), and every event's data goes through chunk_decode().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/chunk.h"
#include "daemon/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
    uint64_t h;
    size_t n;
    size_t text;
};

static void
digest_add(struct digest *d, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        d->h ^= (unsigned char)s[i];
        d->h *= 0x100000001b3ULL;
    }
    d->h ^= 0xff;
    d->h *= 0x100000001b3ULL;
}

static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct digest *d = arg;
    struct chunk c;
    json_t *st;

    if (data[len] != '\0')
        abort();
    d->n++;
    digest_add(d, event, strlen(event));
    digest_add(d, data, len);
    if (chunk_decode(&c, data, len) == 0) {
        if (chunk_has_text(&c))
            d->text += c.content_len + c.reasoning_len;
        if (c.content != NULL && c.content[c.content_len] != '\0')
            abort();
        if (c.finish_reason != NULL)
            d->text += strlen(c.finish_reason);
        st = chunk_take_stats(&c);
        json_decref(st);
    }
    chunk_release(&c);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole = {0xcbf29ce484222325ULL, 0, 0};
    struct digest split = {0xcbf29ce484222325ULL, 0, 0};
    struct sse_parser *a, *b;
    size_t off = 0, k, i = 0;
    int fa, fb;

    a = sse_new(on_event, &whole);
    b = sse_new(on_event, &split);
    if (a == NULL || b == NULL)
        abort();
    (void)sse_feed(a, (const char *)data, size);
    while (off < size) {
        /* Piece sizes 1..16 taken from the data itself, with empty feeds. */
        k = 1 + (size_t)(data[i % size] & 0x0f);
        if (data[i % size] & 0x10)
            (void)sse_feed(b, (const char *)data + off, 0);
        i++;
        if (k > size - off)
            k = size - off;
        (void)sse_feed(b, (const char *)data + off, k);
        off += k;
    }
    fa = sse_finish(a);
    fb = sse_finish(b);
    if (whole.n != split.n || whole.h != split.h || whole.text != split.text || fa != fb)
        abort();
    sse_free(a);
    sse_free(b);
    return 0;
}

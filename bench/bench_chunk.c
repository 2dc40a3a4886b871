/*
 * bench_chunk.c - the client's per-event hot path alone, in process: SSE
 * framing (daemon/sse) and chunk decoding (daemon/chunk) of LM Studio-shaped
 * `chat.completion.chunk` events, fed in bursts of BENCH_BURST events per
 * sse_feed() as a read would hand them over. Prints user CPU per event
 * (getrusage) and, when build/bench/libmalloc_count.so is preloaded,
 * allocations per event, for the in-place scanner (chunk_decode) and for
 * jansson's tree (chunk_decode_tree):
 *
 *   LD_PRELOAD=build/bench/libmalloc_count.so build/bench/bench_chunk
 *   build/bench/bench_chunk scan        one of scan, tree
 *
 * BENCH_EVENTS (default 2,000,000) events per path.
 */
#include "tests/check.h"
#include "tests/testutil.h"

#include "daemon/chunk.h"
#include "daemon/sse.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_BURST 8      /* events per sse_feed */
#define BENCH_BUF_MAX 8192 /* one burst of events */

/* The preloaded counter (bench/malloc_count.c), looked up at run time so
 * that the program links without it (and on macOS, where it is not built). */
typedef unsigned long long (*bench_count_fn)(void);
static bench_count_fn malloc_count_allocs;

/* Tokens as a model streams them: words, spaces, an escaped newline and
 * quote, accented and CJK text. */
static const char *const bench_tokens[] = {
    " the",
    " model",
    " streams",
    "\\n",
    " \\\"quoted\\\"",
    " caf\xc3\xa9",
    " \xe4\xbd\xa0\xe5\xa5\xbd",
    ",",
    " and",
    " tokens",
    ".",
    " def",
    " quicksort",
    "(items",
    "):",
};
#define BENCH_NTOK (sizeof(bench_tokens) / sizeof(bench_tokens[0]))

struct bench_ctx {
    int tree;
    size_t events, text;
};

static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
    struct bench_ctx *b = arg;
    struct chunk c;
    int rc;

    (void)event;
    rc = b->tree ? chunk_decode_tree(&c, data, len) : chunk_decode(&c, data, len);
    if (rc == -1 || !chunk_has_text(&c))
        abort();
    b->text += c.content_len;
    b->events++;
    chunk_release(&c);
    return 0;
}

static double
user_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

/* The input: BENCH_NTOK bursts of BENCH_BURST events, made once. */
static char bench_in[BENCH_NTOK][BENCH_BUF_MAX];
static size_t bench_in_len[BENCH_NTOK];

static void
bench_make_input(void)
{
    size_t b, i, k = 0, len;

    for (b = 0; b < BENCH_NTOK; b++) {
        len = 0;
        for (i = 0; i < BENCH_BURST; i++, k++)
            len += (size_t)snprintf(bench_in[b] + len, BENCH_BUF_MAX - len,
                                    "data: {\"id\":\"chatcmpl-7f3a9c\",\"object\":"
                                    "\"chat.completion.chunk\",\"created\":1733000000,"
                                    "\"model\":\"qwen/qwen3-8b\",\"system_fingerprint\":"
                                    "\"qwen/qwen3-8b\",\"choices\":[{\"index\":0,\"delta\":"
                                    "{\"content\":\"%s\"},\"logprobs\":null,"
                                    "\"finish_reason\":null}]}\n\n",
                                    bench_tokens[(k * 7) % BENCH_NTOK]);
        CHECK(len < BENCH_BUF_MAX);
        bench_in_len[b] = len;
    }
}

static void
bench_path(int tree)
{
    long n = tu_env_long("BENCH_EVENTS", 2000000);
    struct bench_ctx b = {tree, 0, 0};
    struct sse_parser *p = sse_new(on_event, &b);
    unsigned long long a0 = 0, a1 = 0;
    char allocs[32] = "n/a (not preloaded)";
    void *self;
    double u0, u1;
    size_t k = 0;

    CHECK(p != NULL);
    self = dlopen(NULL, RTLD_LAZY); /* the program and what was preloaded */
    if (self != NULL)
        *(void **)&malloc_count_allocs = dlsym(self, "malloc_count_allocs");
    bench_make_input();
    u0 = user_seconds();
    if (malloc_count_allocs)
        a0 = malloc_count_allocs();
    while ((long)b.events < n) {
        CHECK_INT(sse_feed(p, bench_in[k], bench_in_len[k]), ==, 0);
        k = (k + 1) % BENCH_NTOK;
    }
    if (malloc_count_allocs)
        a1 = malloc_count_allocs();
    u1 = user_seconds();
    if (self != NULL)
        dlclose(self);
    sse_free(p);
    if (malloc_count_allocs)
        snprintf(allocs, sizeof(allocs), "%.3f", (double)(a1 - a0) / (double)b.events);
    printf("path=%s events=%zu user_us_per_event=%.3f allocs_per_event=%s\n",
           tree ? "tree (jansson)" : "scan (in place)", b.events,
           (u1 - u0) / (double)b.events * 1e6, allocs);
    fflush(stdout);
}

TEST(scan)
{
    bench_path(0);
}

TEST(tree)
{
    bench_path(1);
}

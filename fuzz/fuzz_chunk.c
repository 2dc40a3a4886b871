/*
 * fuzz_chunk.c - libFuzzer target: the in-place chunk scanner
 * (daemon/chunk_scan.h) against jansson's path (chunk_decode_tree).
 *
 * For every input, either the scanner declines, or jansson decodes the same
 * bytes too and the two struct chunk agree field by field
 * (chunk_scan_same). A scanned chunk's strings must be NUL-terminated
 * inside the scratch. chunk_decode (scanner, else jansson) must give the
 * tree path's result on every input. Seeds: fuzz/corpus/chunk.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/chunk.h"
#include "daemon/chunk_scan.h"

#define FUZZ_WHY_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct chunk scanned, tree, decoded; /* 4 KB of scratch each: not on the stack */

static void
in_scratch(const struct chunk *c, const char *s, size_t len)
{
    if (s == NULL)
        return;
    if (s < c->scratch || s + len >= c->scratch + sizeof(c->scratch) || s[len] != '\0')
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    char why[FUZZ_WHY_MAX];
    int rs, rt, rd;

    rs = chunk_scan(&scanned, d, size);
    rt = chunk_decode_tree(&tree, d, size);
    if (rs == 0) {
        if (rt != 0) {
            fprintf(stderr, "scanner took what jansson rejects: %s\n", tree.reason);
            abort();
        }
        if (!chunk_scan_same(&scanned, &tree, why, sizeof(why))) {
            fprintf(stderr, "scanner and jansson differ in %s\n", why);
            abort();
        }
        in_scratch(&scanned, scanned.content, scanned.content_len);
        in_scratch(&scanned, scanned.reasoning, scanned.reasoning_len);
        in_scratch(&scanned, scanned.model, scanned.model ? strlen(scanned.model) : 0);
        in_scratch(&scanned, scanned.role, scanned.role ? strlen(scanned.role) : 0);
        in_scratch(&scanned, scanned.finish_reason,
                   scanned.finish_reason ? strlen(scanned.finish_reason) : 0);
        chunk_release(&scanned);
    }
    rd = chunk_decode(&decoded, d, size);
    if (rd != rt || (rd == 0 && !chunk_scan_same(&decoded, &tree, why, sizeof(why))))
        abort();
    chunk_release(&decoded);
    chunk_release(&tree);
    return 0;
}

/*
 * slurp.c - see slurp.h. The buffer doubles from 8 KiB whenever less than
 * 4 KiB is free, and one byte is always kept for the NUL; a buffer that
 * would pass max + 1 bytes means the stream is too big.
 */
#include "common/slurp.h"

#include <stdlib.h>

#define SLURP_FIRST 8192 /* bytes of the first buffer */
#define SLURP_SPARE 4096 /* grow when less than this is free */

int
slurp_stream(FILE *f, size_t max, char **out, size_t *len)
{
    char *buf = NULL, *nb;
    size_t n = 0, cap = 0, got;
    int rc = SLURP_ERROR;

    *out = NULL;
    for (;;) {
        if (cap - n < SLURP_SPARE) {
            cap = cap ? cap * 2 : SLURP_FIRST;
            if (cap > max + 1) {
                rc = SLURP_TOO_BIG;
                goto out;
            }
            nb = realloc(buf, cap);
            if (nb == NULL)
                goto out;
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        goto out;
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    if (len != NULL)
        *len = n;
    rc = 0;
out:
    free(buf);
    return rc;
}

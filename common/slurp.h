/*
 * slurp.h - a whole stream read into one NUL-terminated buffer, up to a
 * cap: the verbs' spec and suite files (cli/cmd_submit.c) and the tests'
 * files (tests/testutil.c). Calls nothing of ours.
 */
#ifndef TPSD_SLURP_H
#define TPSD_SLURP_H

#include <stddef.h>
#include <stdio.h>

/* What slurp_stream may answer besides 0. */
#define SLURP_ERROR (-1)   /* a read error, or out of memory */
#define SLURP_TOO_BIG (-2) /* the stream holds more than max bytes */

/* Read f to its end into *out (NUL-terminated, caller frees; NULL on
 * failure), its length into *len unless len is NULL. f stays open. 0, or
 * SLURP_ERROR or SLURP_TOO_BIG. */
int slurp_stream(FILE *f, size_t max, char **out, size_t *len);

#endif

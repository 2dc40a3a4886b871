/*
 * testutil.h - helpers shared by the tests: temporary folders, free ports,
 * child processes (tpsd-sim, tpsd serve), and a small HTTP client.
 */
#ifndef TPSD_TESTUTIL_H
#define TPSD_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh empty folder under $TMPDIR (or /tmp); static buffer, valid until
 * the next call. Aborts the test on failure. */
const char *tu_tmpdir(void);
/* Path of a file under the source tree ($TPSD_SRC/rel); static buffer. */
const char *tu_src(const char *rel);

#endif

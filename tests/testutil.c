/* testutil.c - see testutil.h. */
#include "tests/testutil.h"

#include "tests/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
tu_tmpdir(void)
{
    static char buf[512];
    const char *t = getenv("TMPDIR");

    snprintf(buf, sizeof(buf), "%s/tpsd-test-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(buf) == NULL)
        check_failed(__FILE__, __LINE__, "mkdtemp failed");
    return buf;
}

const char *
tu_src(const char *rel)
{
    static char buf[1024];
    const char *s = getenv("TPSD_SRC");

    snprintf(buf, sizeof(buf), "%s/%s", s && *s ? s : ".", rel);
    return buf;
}

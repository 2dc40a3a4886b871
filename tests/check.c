/* check.c - runs the TEST cases registered by check.h. */
#include "tests/check.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHECK_MAX_CASES 256

static struct {
    const char *name[CHECK_MAX_CASES];
    check_fn fn[CHECK_MAX_CASES];
    int n;
} cases;

void
check_register(const char *name, check_fn fn)
{
    if (cases.n == CHECK_MAX_CASES) {
        fprintf(stderr, "check: too many cases\n");
        abort();
    }
    cases.name[cases.n] = name;
    cases.fn[cases.n] = fn;
    cases.n++;
}

void
check_failed(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: FAILED: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

int
main(int argc, char **argv)
{
    int i, ran = 0;

    signal(SIGPIPE, SIG_IGN);
    for (i = 0; i < cases.n; i++) {
        if (argc > 1 && strcmp(argv[1], cases.name[i]) != 0)
            continue;
        fprintf(stderr, "-- %s\n", cases.name[i]);
        cases.fn[i]();
        ran++;
    }
    if (ran == 0) {
        fprintf(stderr, "check: no case named %s\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    return 0;
}

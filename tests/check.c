/* check.c - runs the TEST cases registered by check.h. */
#include "tests/check.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK_MAX_CASES 256
#define CHECK_MAX_CHILDREN 64
#define CHECK_GRACE_MS 3000

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

/* A ring: past CHECK_MAX_CHILDREN the oldest (long reaped, as a rule)
 * are forgotten. */
static struct {
    pid_t pid[CHECK_MAX_CHILDREN];
    int group[CHECK_MAX_CHILDREN];
    unsigned n;
} children;

void
check_child(pid_t pid, int group)
{
    unsigned i = children.n++ % CHECK_MAX_CHILDREN;

    children.pid[i] = pid;
    children.group[i] = group;
}

/* 1 while pid is our child and has not exited; a child that has exited is
 * reaped here (only our children can be: a recycled pid is never ours). */
static int
child_running(pid_t pid)
{
    int st;
    pid_t r;

    do
        r = waitpid(pid, &st, WNOHANG);
    while (r == -1 && errno == EINTR);
    return r == 0;
}

static void
stop_children(void)
{
    struct timespec ts = {0, 10 * 1000000L};
    unsigned i, n = children.n < CHECK_MAX_CHILDREN ? children.n : CHECK_MAX_CHILDREN;
    int sig, waited, left;

    for (sig = SIGTERM; sig != 0; sig = sig == SIGTERM ? SIGKILL : 0) {
        left = 0;
        for (i = 0; i < n; i++) {
            if (children.pid[i] <= 0 || !child_running(children.pid[i]))
                continue;
            fprintf(stderr, "check: stopping child %ld (signal %d)\n", (long)children.pid[i],
                    sig);
            kill(children.group[i] ? -children.pid[i] : children.pid[i], sig);
            left++;
        }
        for (waited = 0; left > 0 && waited < CHECK_GRACE_MS; waited += 10) {
            nanosleep(&ts, NULL);
            for (left = 0, i = 0; i < n; i++)
                left += children.pid[i] > 0 && child_running(children.pid[i]);
        }
        if (left == 0)
            break;
    }
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
    stop_children();
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

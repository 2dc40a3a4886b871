/*
 * cmd_watch.c - `tpsd watch ID`: follow a job's events to its end
 * (watch.h); the exit status is the job's final state: 0 succeeded,
 * 1 failed, 4 cancelled, 5 interrupted, 3 the daemon is unreachable.
 */
#include "daemon/cli/cmd.h"

#include "daemon/cli/rest.h"
#include "daemon/cli/watch.h"

static const char WATCH_USAGE[] = "usage: tpsd watch ID [--json] [--url URL] [--token T]\n"
                                  "  follows the job's events; exits 0 succeeded, 1 failed,\n"
                                  "  4 cancelled, 5 interrupted, 3 daemon unreachable\n";

int
cmd_watch(int argc, char **argv)
{
    struct rest_args a;
    struct rest cl;
    long long id;
    int rc;

    rc = rest_job_verb("watch", WATCH_USAGE, argc, argv, &a, &cl, &id);
    if (rc == 0)
        rc = watch_job(&cl, id);
    else
        rc = rc == 1 ? 0 : EXIT_USAGE;
    rest_args_free(&a);
    return rc;
}

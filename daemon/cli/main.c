/*
 * main.c - the tpsd executable: dispatches to a subcommand. The one place
 * that ties daemon/, api/ and storage/ together.
 */
#include "daemon/cli/cmd.h"
#include "daemon/client.h"
#include "daemon/curl_dl.h"

#include <signal.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
    int http; /* 1: the verb talks to the daemon's REST API (libcurl, set up first);
               * 0: it reads the database, or reaches an http:// inference
               * server through daemon/http1 and loads libcurl only if needed */
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the daemon: REST API and job worker", 0},
    {"run", cmd_run, "benchmark models now, in the foreground (no daemon needed)", 0},
    {"db", cmd_db, "check the database and print its path and schema version", 0},
    {"report", cmd_report, "a job's report: tpsd report ID [--format md|json|csv]", 0},
    {"submit", cmd_submit, "queue a job on the daemon (flags as tpsd run, or --file SPEC)", 1},
    {"jobs", cmd_jobs, "list the daemon's jobs [--state S]", 1},
    {"job", cmd_job, "one job: state, progress, per-model runs", 1},
    {"watch", cmd_watch, "follow a job's progress; exit status = its final state", 1},
    {"cancel", cmd_cancel, "cancel a queued or running job", 1},
    {"compare", cmd_compare, "A/B: tpsd compare job:12 job:13 [--format md|json]", 1},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/*
 * Raise the open-file limit toward the hard limit: hundreds of concurrent
 * streams need a socket each (macOS starts processes at 256).
 */
static void
raise_nofile(void)
{
    struct rlimit rl;
    rlim_t want = 65536;

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return;
    if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
        want = rl.rlim_max;
#ifdef __APPLE__
    if (want > OPEN_MAX)
        want = OPEN_MAX;
#endif
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void
usage(void)
{
    size_t i;

    fprintf(stderr, "usage: tpsd <command> [options]\n\ncommands:\n");
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(stderr, "  %-10s %s\n", commands[i].name, commands[i].usage);
    fprintf(stderr,
            "\noptions (also TPSD_<NAME> in the environment, or keys of --config FILE):\n");
    config_usage();
    fprintf(stderr, "\n  tpsd --version    print the version\n");
}

int
main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        usage();
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("tpsd %s\n", TPSD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage();
        return 0;
    }
    /* Before any thread exists: no SIGPIPE (libcurl is set up below). */
    signal(SIGPIPE, SIG_IGN);
    /* A file size limit (RLIMIT_FSIZE) fails the write with EFBIG, which
     * SQLite reports and the API answers 503, instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);
    raise_nofile();
#ifdef __linux__
    /* Reap the grandchildren a killed `lms` leaves, as launchd does on macOS. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
    /* The verbs that talk to the daemon load and set libcurl up now, before
     * any thread (curl_dl.h), and stop when it cannot be loaded; `serve` and
     * `run` when a job first needs it (client_curl_init: an https:// server
     * or a proxy), so that neither carries libcurl nor OpenSSL for a plain
     * http:// server (loading them was ~20 ms of a run's start-up); `db` and
     * `report` never. */
    for (i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc;

            if (commands[i].http && client_curl_init() == -1) {
                fprintf(stderr, "tpsd %s: %s\n", argv[1],
                        curl_easy_strerror(CURLE_FAILED_INIT));
                return EXIT_UNAVAILABLE;
            }
            rc = commands[i].fn(argc - 2, argv + 2);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "tpsd: unknown command \"%s\" (tpsd --help lists them)\n", argv[1]);
    return EXIT_USAGE;
}

/*
 * cmd_serve.c - `tpsd serve`: the daemon. Opens and migrates the database,
 * starts the job worker and the REST API, and waits for signals in the main
 * thread (sigwait): SIGHUP reopens the log file, SIGTERM/SIGINT stop
 * accepting requests, let the worker leave its job resumable, and exit 0.
 * Never daemonises: launchd/systemd supervise it in the foreground.
 */
#include "daemon/cmd.h"

#include "api/api.h"
#include "daemon/log.h"
#include "daemon/worker.h"
#include "storage/db.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVE_STOP_GRACE_MS 5000    /* worker_stop: abort the in-flight request within */

int
cmd_serve(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    char err[API_ERR_MAX], dbpath[CONFIG_STR_MAX];
    struct config c;
    struct api_opts o;
    struct worker *w = NULL;
    struct api *api = NULL;
    struct db *db;
    sigset_t sigs;
    int nrest, i, sig, check_only = 0, rc = EXIT_UNAVAILABLE;

    if (rest == NULL)
        return EXIT_UNAVAILABLE;
    if (cmd_config(&c, argc, argv, rest, &nrest) == -1) {
        rc = EXIT_USAGE;
        goto out;
    }
    for (i = 0; i < nrest; i++) {
        if (strcmp(rest[i], "-n") == 0) {
            check_only = 1;
            continue;
        }
        fprintf(stderr, "tpsd serve: unexpected argument %s\n", rest[i]);
        rc = EXIT_USAGE;
        goto out;
    }
    /* Open and migrate once, here, before any thread exists. */
    db = cmd_open_db(&c);
    if (db == NULL)
        goto out;
    snprintf(dbpath, sizeof(dbpath), "%s", db->path);
    db_close(db);
    if (check_only) {
        printf("configuration OK\n");
        rc = 0;
        goto out;
    }
    if (c.log_file[0] != '\0' && log_open(c.log_file) == -1) {
        fprintf(stderr, "tpsd: cannot open log file %s\n", c.log_file);
        goto out;
    }
    /* Every thread started from here inherits the mask: only sigwait below
     * sees these signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        log_warnx("serve: pthread_sigmask failed");
        goto out;
    }
    w = worker_start(&c, dbpath, err, sizeof(err));
    if (w == NULL) {
        log_warnx("serve: worker: %s", err);
        goto out;
    }
    memset(&o, 0, sizeof(o));
    o.cfg = &c;
    o.db_path = dbpath;
    o.worker = w;
    o.worker_notify = worker_notify;
    o.worker_alive = worker_alive;
    o.worker_cancel = worker_cancel;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL) {
        log_warnx("serve: api: %s", err);
        goto out;
    }
    log_info("tpsd listening addr=%s port=%d db=%s version=%s", c.listen_addr, api_port(api),
             dbpath, TPSD_VERSION);
    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (c.log_file[0] != '\0' && log_open(c.log_file) == -1)
                log_warnx("serve: cannot reopen log file %s", c.log_file);
            log_info("serve: SIGHUP: log reopened");
            continue;
        }
        log_info("serve: signal=%d: stopping", sig);
        break;
    }
    rc = 0;
out:
    /* Stop accepting first, then let the worker leave its job resumable. */
    api_stop(api);
    if (w != NULL)
        worker_stop(w, SERVE_STOP_GRACE_MS);
    if (api != NULL || w != NULL)
        log_info("tpsd stopped rc=%d", rc);
    free(rest);
    return rc;
}

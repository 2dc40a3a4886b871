/*
 * cmd_serve.c - `tpsd serve`: the daemon. Opens and migrates the database,
 * starts the job worker and the REST API, and waits for signals in the main
 * thread (sigwait): SIGHUP reopens the log file, SIGTERM/SIGINT stop
 * accepting requests, let the worker leave its job resumable, and exit 0.
 * Never daemonises: launchd/systemd supervise it in the foreground.
 */
#include "daemon/cli/cmd.h"

#include "api/api.h"
#include "daemon/log.h"
#include "daemon/orphans.h"
#include "daemon/worker.h"
#include "storage/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define SERVE_STOP_GRACE_MS 5000 /* worker_stop: abort the in-flight request within */
#define SERVE_SIDE_MAX (CONFIG_STR_MAX + 16) /* "<db>.lock", "<db>.children" */

/*
 * One daemon per database: an exclusive flock on "<db>.lock", held until
 * exit (the kernel drops it when the process dies, even by SIGKILL). A
 * second `tpsd serve` would otherwise "recover" the first one's running job
 * and run it twice. Returns the locked fd, or -1 after logging.
 */
static int
serve_lock(const char *dbpath)
{
    char path[SERVE_SIDE_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s.lock", dbpath);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        log_warn("serve: cannot open %s", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        if (errno == EWOULDBLOCK)
            log_warnx("serve: another tpsd serve is using %s (lock %s)", dbpath, path);
        else
            log_warn("serve: cannot lock %s", path);
        close(fd);
        return -1;
    }
    return fd;
}

int
cmd_serve(int argc, char **argv)
{
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    char err[API_ERR_MAX], dbpath[CONFIG_STR_MAX], children[SERVE_SIDE_MAX];
    struct config c;
    struct api_opts o;
    struct worker *w = NULL;
    struct api *api = NULL;
    struct db *db;
    sigset_t sigs;
    int nrest, i, sig, check_only = 0, lockfd = -1, norphans, rc = EXIT_UNAVAILABLE;

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
        if (cmd_is_help(rest[i])) {
            printf("usage: tpsd serve [-n] [options]\n"
                   "  runs the daemon: the REST API on listen_addr:listen_port and the job\n"
                   "  worker; -n checks the configuration and the database, then exits.\n"
                   "  Options: tpsd --help.\n");
            rc = 0;
            goto out;
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
    lockfd = serve_lock(dbpath);
    if (lockfd == -1)
        goto out;
    /* Before any spawn: kill what a crashed predecessor's lms left. */
    snprintf(children, sizeof(children), "%s.children", dbpath);
    if (orphans_reap(children, ORPHANS_GRACE_MS, &norphans) == 0 && norphans > 0)
        log_info("serve: killed %d process group(s) left by an earlier process", norphans);
    orphans_open(children);
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
    if (lockfd != -1) {
        orphans_close();
        close(lockfd);
    }
    if (api != NULL || w != NULL)
        log_info("tpsd stopped rc=%d", rc);
    free(rest);
    return rc;
}

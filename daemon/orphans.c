/* orphans.c - see orphans.h. */
#include "daemon/orphans.h"

#include "daemon/darwin.h"
#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

#define ORPHANS_PATH_MAX 1100
#define ORPHANS_LINE_MAX 64
#define ORPHANS_STAT_MAX 4096 /* bytes of /proc/PID/stat we read */
#define ORPHANS_POLL_MS 20

struct orphan {
    pid_t pgid;
    unsigned long long start; /* 0: unknown */
};

/* All file-static state. */
static struct {
    pthread_mutex_t mu;
    int open;
    char path[ORPHANS_PATH_MAX];
    char tmp[ORPHANS_PATH_MAX + 8];
    struct orphan list[ORPHANS_MAX];
    int n;
} O = {PTHREAD_MUTEX_INITIALIZER, 0, "", "", {{0, 0}}, 0};

/* The start time of process pid (a number that only compares for
 * equality), or 0 when unknown or the process is gone. */
static unsigned long long
start_time(pid_t pid)
{
#if defined(__linux__)
    char path[64], buf[ORPHANS_STAT_MAX], *p, *end;
    unsigned long long v;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) state ..." where comm may hold spaces and ')'. */
    p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p++;
    for (field = 3; field < 22; field++) {
        while (*p == ' ')
            p++;
        p = strchr(p, ' ');
        if (p == NULL)
            return 0;
    }
    errno = 0;
    v = strtoull(p, &end, 10);
    if (errno != 0 || end == p)
        return 0;
    return v;
#elif defined(__APPLE__)
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    struct kinfo_proc kp;
    size_t len = sizeof(kp);

    memset(&kp, 0, sizeof(kp));
    if (sysctl(mib, 4, &kp, &len, NULL, 0) == -1 || len == 0)
        return 0;
    return darwin_start_us((int64_t)kp.kp_proc.p_starttime.tv_sec,
                           (int64_t)kp.kp_proc.p_starttime.tv_usec);
#else
    (void)pid;
    return 0;
#endif
}

/* Rewrite the file from the list. Call with O.mu held. */
static void
save_locked(void)
{
    char line[ORPHANS_LINE_MAX];
    int fd, i, n, ok = 1;

    fd = open(O.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        log_warn("orphans: cannot write %s", O.tmp);
        return;
    }
    for (i = 0; i < O.n && ok; i++) {
        n = snprintf(line, sizeof(line), "%ld %llu\n", (long)O.list[i].pgid, O.list[i].start);
        ok = n > 0 && write(fd, line, (size_t)n) == (ssize_t)n;
    }
    if (close(fd) == -1)
        ok = 0;
    if (!ok || rename(O.tmp, O.path) == -1)
        log_warn("orphans: cannot update %s", O.path);
}

/* 1 when group pgid still holds a process we started (see orphans.h). */
static int
is_ours(const struct orphan *o)
{
    unsigned long long st;

    if (o->pgid <= 1 || kill(-o->pgid, 0) == -1)
        return 0; /* gone (or not ours to signal) */
    st = start_time(o->pgid);
    if (st != 0)
        return o->start != 0 && st == o->start;
    /* The leader is gone but its group lives on: a pid that leads a live
     * group is never handed out again, so the group is the one we made. */
    return kill(o->pgid, 0) == -1;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int
orphans_reap(const char *path, int grace_ms, int *n)
{
    struct orphan list[ORPHANS_MAX];
    char line[ORPHANS_LINE_MAX];
    int i, nl = 0, nkill = 0, waited = 0, left;
    FILE *f;

    if (n != NULL)
        *n = 0;
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        log_warn("orphans: cannot read %s", path);
        return -1;
    }
    while (nl < ORPHANS_MAX && fgets(line, sizeof(line), f) != NULL) {
        long pg;
        unsigned long long st;

        if (sscanf(line, "%ld %llu", &pg, &st) != 2 || pg <= 1)
            continue;
        list[nl].pgid = (pid_t)pg;
        list[nl].start = st;
        if (is_ours(&list[nl])) {
            log_info("orphans: killing process group pgid=%ld left by an earlier tpsd", pg);
            kill(-list[nl].pgid, SIGTERM);
            nl++;
        }
    }
    fclose(f);
    nkill = nl;
    /* Wait for them to go, then SIGKILL what is left. */
    for (;;) {
        left = 0;
        for (i = 0; i < nl; i++)
            left += kill(-list[i].pgid, 0) == 0;
        if (left == 0 || waited >= grace_ms)
            break;
        sleep_ms(ORPHANS_POLL_MS);
        waited += ORPHANS_POLL_MS;
    }
    for (i = 0; i < nl && left > 0; i++) {
        if (kill(-list[i].pgid, SIGKILL) == 0)
            log_info("orphans: process group pgid=%ld ignored SIGTERM: killed",
                     (long)list[i].pgid);
    }
    if (unlink(path) == -1 && errno != ENOENT)
        log_warn("orphans: cannot remove %s", path);
    if (n != NULL)
        *n = nkill;
    return 0;
}

int
orphans_open(const char *path)
{
    int rc = 0;

    pthread_mutex_lock(&O.mu);
    if (snprintf(O.path, sizeof(O.path), "%s", path) >= (int)sizeof(O.path) ||
        snprintf(O.tmp, sizeof(O.tmp), "%s.tmp", path) >= (int)sizeof(O.tmp)) {
        log_warnx("orphans: path too long: %s", path);
        rc = -1;
    } else {
        O.n = 0;
        O.open = 1;
        save_locked();
    }
    pthread_mutex_unlock(&O.mu);
    return rc;
}

void
orphans_close(void)
{
    pthread_mutex_lock(&O.mu);
    if (O.open) {
        O.open = 0;
        O.n = 0;
        if (unlink(O.path) == -1 && errno != ENOENT)
            log_warn("orphans: cannot remove %s", O.path);
    }
    pthread_mutex_unlock(&O.mu);
}

void
orphans_add(pid_t pgid)
{
    unsigned long long st = start_time(pgid);

    pthread_mutex_lock(&O.mu);
    if (O.open) {
        if (O.n == ORPHANS_MAX) {
            log_warnx("orphans: more than %d groups at once: pgid=%ld not listed", ORPHANS_MAX,
                      (long)pgid);
        } else {
            O.list[O.n].pgid = pgid;
            O.list[O.n].start = st;
            O.n++;
            save_locked();
        }
    }
    pthread_mutex_unlock(&O.mu);
}

void
orphans_remove(pid_t pgid)
{
    int i;

    pthread_mutex_lock(&O.mu);
    for (i = 0; O.open && i < O.n; i++) {
        if (O.list[i].pgid == pgid) {
            O.list[i] = O.list[--O.n];
            save_locked();
            break;
        }
    }
    pthread_mutex_unlock(&O.mu);
}

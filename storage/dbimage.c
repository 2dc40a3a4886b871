/*
 * dbimage.c - see dbimage.h.
 *
 * How it works: the image's runs of non-zero bytes are written with
 * pwrite into a new file `PATH.tpsd-new.PID.N` (O_EXCL, mode 0644 less the
 * umask, as SQLite creates a database), which is then extended to the
 * image's size (the gaps read as zeros, as in the original) and synced
 * (F_FULLFSYNC on macOS, as PRAGMA fullfsync asks of SQLite). link(2) then
 * gives it the database's name only if that name is still free, so two
 * processes (or threads) creating the same database never overwrite each
 * other, and a database that anyone made first is left alone. The
 * temporary name is removed in every case and the folder synced, so that
 * the new name survives a power loss like the file's contents; one that a
 * killed process left behind is removed by the next creation.
 */
#include "storage/dbimage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DBIMAGE_PATH_MAX 1100        /* the database path (struct db keeps 1024) and a suffix */
#define DBIMAGE_TMP_TAG ".tpsd-new." /* PATH.tpsd-new.PID.N: a temporary image */

/* Sync fd's data to the disk: F_FULLFSYNC where there is one (macOS's
 * fsync leaves data in the drive's cache), else fsync. 0 or -1. */
static int
dbimage_sync(int fd)
{
#ifdef F_FULLFSYNC
    if (fcntl(fd, F_FULLFSYNC) == 0)
        return 0;
#endif
    return fsync(fd);
}

/* Write the image into fd, extend it to the image's size, sync. 0 or -1. */
static int
dbimage_write(int fd)
{
    const unsigned char *p = dbimage_bytes;
    unsigned long i, done;
    ssize_t n;

    for (i = 0; i < dbimage_nsegs; i++) {
        for (done = 0; done < dbimage_segs[i].len; done += (unsigned long)n) {
            n = pwrite(fd, p + done, dbimage_segs[i].len - done,
                       (off_t)(dbimage_segs[i].offset + done));
            if (n == -1 && errno == EINTR)
                n = 0;
            else if (n <= 0)
                return -1;
        }
        p += dbimage_segs[i].len;
    }
    if (ftruncate(fd, (off_t)dbimage_size) == -1)
        return -1;
    return dbimage_sync(fd);
}

/* The folder that holds path into dir (len bytes); its last name. */
static const char *
dbimage_dir(const char *path, char *dir, size_t len)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(dir, len, ".");
    else if (slash == path)
        snprintf(dir, len, "/");
    else
        snprintf(dir, len, "%.*s", (int)(slash - path), path);
    return slash != NULL ? slash + 1 : path;
}

/* Sync the folder that holds path (its new entry). */
static void
dbimage_sync_dir(const char *path)
{
    char dir[DBIMAGE_PATH_MAX];
    int fd;

    dbimage_dir(path, dir, sizeof(dir));
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return;
    fsync(fd); /* best effort, as SQLite's own directory sync */
    close(fd);
}

/* The process id in `name` when it is a temporary image of the database
 * named base (base DBIMAGE_TMP_TAG PID.N), else 0. */
static long
dbimage_tmp_pid(const char *name, const char *base)
{
    size_t blen = strlen(base), tlen = strlen(DBIMAGE_TMP_TAG);
    const char *p = name + blen + tlen;
    char *end;
    long pid;

    if (strncmp(name, base, blen) != 0 || strncmp(name + blen, DBIMAGE_TMP_TAG, tlen) != 0 ||
        *p < '1' || *p > '9')
        return 0;
    pid = strtol(p, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9' || end[strspn(end + 1, "0123456789") + 1])
        return 0;
    return pid;
}

/* Remove the temporary images of path that a process no longer alive left
 * (killed between writing one and linking it: the database is still
 * missing, so the next creation comes here). A live process's (ours
 * included: another thread may be writing it) is left, and so is one whose
 * process kill(2) cannot tell about. Best effort. */
static void
dbimage_sweep(const char *path)
{
    char dir[DBIMAGE_PATH_MAX], name[DBIMAGE_PATH_MAX];
    const char *base = dbimage_dir(path, dir, sizeof(dir));
    struct dirent *e;
    DIR *d = opendir(dir);
    long pid;
    int n;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        pid = dbimage_tmp_pid(e->d_name, base);
        if (pid <= 0 || pid != (pid_t)pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        n = snprintf(name, sizeof(name), "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof(name))
            unlink(name);
    }
    closedir(d);
}

/* A journal a deleted database left beside path: SQLite would replay a
 * WAL, and roll a hot rollback journal back, into a file that has pages
 * (an image), making it another database; into an empty file (the steps)
 * it replays the WAL as it always did and deletes the journal (pager.c,
 * hasHotJournal: a database of no pages has no hot journal). */
static const char *const dbimage_sidecars[] = {"-wal", "-journal"};

/* 1 when a sidecar of path exists (or cannot be checked), else 0. */
static int
dbimage_sidecar_left(const char *path)
{
    char name[DBIMAGE_PATH_MAX];
    struct stat st;
    size_t i;
    int n;

    for (i = 0; i < sizeof(dbimage_sidecars) / sizeof(dbimage_sidecars[0]); i++) {
        n = snprintf(name, sizeof(name), "%s%s", path, dbimage_sidecars[i]);
        if (n < 0 || (size_t)n >= sizeof(name) || lstat(name, &st) == 0 || errno != ENOENT)
            return 1;
    }
    return 0;
}

int
dbimage_create(const char *path)
{
    static atomic_uint counter;
    char tmp[DBIMAGE_PATH_MAX];
    struct stat st;
    int fd, n, created = 0;

    if (dbimage_size == 0 || path[0] == '\0' || strcmp(path, ":memory:") == 0 ||
        strncmp(path, "file:", 5) == 0)
        return 0;
    if (lstat(path, &st) == 0 || errno != ENOENT || dbimage_sidecar_left(path))
        return 0;
    n = snprintf(tmp, sizeof(tmp), "%s" DBIMAGE_TMP_TAG "%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return 0;
    dbimage_sweep(path); /* path fits: so does its folder */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd == -1)
        return 0;
    if (dbimage_write(fd) == 0 && link(tmp, path) == 0)
        created = 1;
    close(fd);
    unlink(tmp);
    if (created)
        dbimage_sync_dir(path);
    return created;
}

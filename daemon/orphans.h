/*
 * orphans.h - the process groups the daemon has started (lms and backend
 * commands), listed in a file beside the database so that the next start
 * can kill what a crashed (SIGKILLed) process left running.
 *
 * spawn.c adds a group right after posix_spawn and removes it once the
 * group is gone; `tpsd serve` calls orphans_reap() at start-up, before it
 * spawns anything, then orphans_open(). Each line of the file is
 * "PGID STARTTIME": the leader's start time (Linux /proc/PID/stat field 22;
 * macOS kinfo_proc) tells a group of ours from a reused pid.
 *
 * The window between posix_spawn returning and the file being rewritten
 * (microseconds) is not covered. Calls only log.
 */
#ifndef TPSD_ORPHANS_H
#define TPSD_ORPHANS_H

#include <sys/types.h>

#define ORPHANS_MAX 64        /* groups tracked at once */
#define ORPHANS_GRACE_MS 2000 /* orphans_reap: SIGTERM -> SIGKILL */

/*
 * Kill every group listed in `path` by an earlier process that is still
 * there (SIGTERM, up to grace_ms, then SIGKILL) and empty the file. A
 * missing file is fine. *n (may be NULL) gets the number of groups killed.
 * Returns 0, or -1 when the file exists but cannot be read (logged).
 */
int orphans_reap(const char *path, int grace_ms, int *n);

/* Start listing groups in `path` (rewritten, mode 0600, on every change).
 * Call before spawning anything. 0 or -1 (logged). */
int orphans_open(const char *path);

/* Stop listing and remove the file (no group of ours is left running). */
void orphans_close(void);

/* spawn.c: group `pgid` (its leader's pid) started / is gone. No-ops unless
 * orphans_open() succeeded. Thread-safe; errors are logged. */
void orphans_add(pid_t pgid);
void orphans_remove(pid_t pgid);

#endif

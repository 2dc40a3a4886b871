/*
 * spawn.h - run one subprocess safely: posix_spawn of an absolute path with an
 * argv array (never a shell), an explicit environment, its own process group,
 * default signal dispositions, no inherited descriptors, stdin on /dev/null,
 * stdout and stderr captured (head and tail up to a cap) from non-blocking
 * pipes with poll(), a deadline after which the whole group gets a first
 * signal (SIGTERM, or e.g. SIGINT for a program that cancels cleanly on it:
 * `lms load`), then after a grace period SIGTERM, then SIGKILL. Nothing of
 * the group is left when spawn_run() returns (see spawn_run for the one
 * exception).
 *
 * Descriptors: on macOS the child gets POSIX_SPAWN_CLOEXEC_DEFAULT; on glibc
 * (>= 2.34) every fd >= 3 is closed in the child with addclosefrom_np.
 * Elsewhere the child relies on close-on-exec: every fd tpsd opens must be
 * O_CLOEXEC / FD_CLOEXEC (the pipes made here are).
 *
 * Thread-safe: call it from any thread. It installs no signal handler; it
 * needs only that SIGCHLD is not SIG_IGN (children must stay waitable).
 * Calls only clock, log and orphans (which lists the live groups for a restart).
 */
#ifndef TPSD_SPAWN_H
#define TPSD_SPAWN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_CAPTURE_MAX (64 * 1024)             /* bytes kept per stream: head + tail */
#define SPAWN_CAPTURE_HARD_MAX (64 * 1024 * 1024) /* largest out_max accepted */
#define SPAWN_GRACE_MS 2000                       /* SIGTERM -> SIGKILL */
#define SPAWN_ENV_MAX 32                          /* variables in a spawn_env */
#define SPAWN_ENV_VAR_MAX 8192                    /* bytes of one NAME=value */
#define SPAWN_PATH_MAX 1024                       /* a resolved executable path */
#define SPAWN_ERR_MAX 256                         /* spawn_result.error */
#define SPAWN_POLL_MS 100                         /* cancel flag / deadline check period */

/* An environment being built: vars is NULL-terminated, each entry malloc'd. */
struct spawn_env {
    char *vars[SPAWN_ENV_MAX + 1];
    int n;
};

/* One captured stream. data holds the first cap/2 bytes the child wrote
 * followed directly by the last bytes it wrote (len bytes in all,
 * NUL-terminated); `dropped` bytes in between were discarded. When nothing
 * was dropped, data is exactly what the child wrote. The buffer grows as
 * output arrives, up to cap. */
struct spawn_capture {
    char *data;
    size_t len;
    size_t cap;   /* the most bytes kept (SPAWN_CAPTURE_MAX or out_max) */
    size_t alloc; /* bytes allocated for data, NUL included */
    uint64_t dropped;
    uint64_t total; /* bytes the child wrote */
};

struct spawn_opts {
    const char *path;   /* absolute path, or a bare name looked up in envp's PATH */
    char *const *argv;  /* NULL-terminated; argv[0] is passed as is */
    char *const *envp;  /* the child's whole environment; NULL = empty */
    int timeout_ms;     /* deadline from start; <= 0: none */
    int grace_ms;       /* between the stop signals; <= 0: SPAWN_GRACE_MS */
    int first_signal;   /* sent first at the deadline or on cancel; 0 = SIGTERM.
                         * When it is not SIGTERM, SIGTERM follows after
                         * grace_ms, then SIGKILL after another grace_ms. */
    size_t out_max;     /* bytes of stdout kept; 0 = SPAWN_CAPTURE_MAX; at most
                         * SPAWN_CAPTURE_HARD_MAX (stderr keeps the default) */
    atomic_int *cancel; /* optional: nonzero aborts like a deadline */
    int (*cancel_fn)(void *cancel_arg); /* optional: returns nonzero to abort */
    void *cancel_arg;
};

enum spawn_how { SPAWN_EXITED = 1, SPAWN_SIGNALED = 2 };

struct spawn_result {
    enum spawn_how how;  /* how the leader ended */
    int exit_code;       /* when SPAWN_EXITED */
    int signo;           /* when SPAWN_SIGNALED */
    int timed_out;       /* killed at the deadline */
    int stop_signals[3]; /* the signals sent to the group to stop it, in order; 0 = none */
    int cancelled;       /* killed because of cancel / cancel_fn */
    int64_t elapsed_ms;  /* start -> leader reaped, monotonic */
    pid_t pid;           /* the leader; also the process group id */
    struct spawn_capture out, err;
    int errnum;                /* on -1: the errno of the failure */
    char error[SPAWN_ERR_MAX]; /* on -1: what could not be done */
};

/*
 * Fill `e` with the minimal environment for a child: PATH, HOME, USER, LANG,
 * TMPDIR and LM_API_TOKEN copied from ours when set (PATH defaults to
 * /usr/bin:/bin:/usr/sbin:/sbin). Free with spawn_env_free(). Returns 0, or
 * -1 on out of memory (e is then empty but still valid to free).
 */
int spawn_env_minimal(struct spawn_env *e);

/* Set (add or replace) NAME=value in `e`. Copies both. Returns 0, or -1 when
 * the name is empty or holds '=', the entry exceeds SPAWN_ENV_VAR_MAX, the
 * table is full (SPAWN_ENV_MAX) or memory runs out; e is unchanged then. */
int spawn_env_set(struct spawn_env *e, const char *name, const char *value);

/* The value of `name` in a NULL-terminated envp, or NULL. Borrowed. */
const char *spawn_env_get(char *const *envp, const char *name);

/* Free every entry of `e` and empty it. NULL-safe. */
void spawn_env_free(struct spawn_env *e);

/*
 * Resolve `name` to an executable regular file: a name holding '/' must be
 * absolute and is checked as is; a bare name is searched in the PATH of
 * `envp` (not ours). Writes the path to out (outlen bytes). Returns 0, or -1
 * with errno ENOENT (not found), EACCES (not executable), EINVAL (relative
 * path with '/', empty name) or ENAMETOOLONG.
 */
int spawn_which(const char *name, char *const *envp, char *out, size_t outlen);

/*
 * Run o->path with o->argv and o->envp and wait for it (see the top of this
 * file). Returns 0 when the child ran, whatever its end (exit status,
 * signal, timed_out, cancelled in *r), or -1 when it could not be started
 * (r->errnum, r->error: "executable not found: lms", ...). Either way *r
 * owns its captures: release them with spawn_result_free().
 *
 * When the leader ends, any process left in its group is sent SIGKILL; the
 * call then waits (at most SPAWN_GRACE_MS) for the group to vanish, reaping
 * those that are its own children. A process that left the group (setsid,
 * setpgid) is not followed.
 */
int spawn_run(const struct spawn_opts *o, struct spawn_result *r);

/* Free the captures of r (r itself is the caller's). NULL-safe, idempotent. */
void spawn_result_free(struct spawn_result *r);

/*
 * Copy the last at most `max` bytes of c into out (outlen bytes, always
 * NUL-terminated), replacing control characters other than newline and tab
 * by '?' and trimming trailing whitespace: for error details. Returns the
 * number of bytes written. Can't fail.
 */
size_t spawn_capture_tail(const struct spawn_capture *c, size_t max, char *out, size_t outlen);

#endif

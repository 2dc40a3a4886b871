/*
 * spawn.c - run one subprocess safely (the contract is in spawn.h).
 *
 * How it works. spawn_run prepares (spawn_prepare: the executable resolved
 * against the child's PATH, capture buffers, non-blocking pipes, file
 * actions that leave the child only stdin /dev/null and the two pipes, a
 * new process group with default signals), spawns, then waits (spawn_wait):
 * a poll loop reads both pipes into bounded captures (head plus a ring
 * tail), looks for the leader's exit, and on a cancel or at the deadline
 * signals the whole group, escalating to SIGKILL after a grace
 * (struct spawn_stop). When the leader has exited the rest of its group is
 * killed, the pipes are drained (bounded), and the group is reaped.
 */
#ifdef __linux__
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np, pipe2 */
#endif
#include "daemon/spawn.h"

#include "common/clock.h"
#include "common/fd.h"
#include "daemon/log.h"
#include "daemon/orphans.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h> /* kill, sigemptyset: glibc has them via <sys/wait.h>, Apple not */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_READ_CHUNK 16384  /* one read(2) from a pipe */
#define SPAWN_REAP_WAIT_MS 1000 /* wait for a killed group to vanish */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define SPAWN_HAVE_CLOSEFROM 1
#endif

static const char *spawn_env_keep[] = {"PATH", "HOME",   "USER",
                                       "LANG", "TMPDIR", "LM_API_TOKEN"};

/* ---- environment ---- */

int
spawn_env_set(struct spawn_env *e, const char *name, const char *value)
{
    size_t nlen, vlen;
    char *var;
    int i;

    if (name == NULL || value == NULL || *name == '\0' || strchr(name, '=') != NULL)
        return -1;
    nlen = strlen(name);
    vlen = strlen(value);
    if (nlen + 1 + vlen + 1 > SPAWN_ENV_VAR_MAX)
        return -1;
    var = malloc(nlen + 1 + vlen + 1);
    if (var == NULL)
        return -1;
    memcpy(var, name, nlen);
    var[nlen] = '=';
    memcpy(var + nlen + 1, value, vlen + 1);

    for (i = 0; i < e->n; i++) {
        if (strncmp(e->vars[i], name, nlen) == 0 && e->vars[i][nlen] == '=') {
            free(e->vars[i]);
            e->vars[i] = var;
            return 0;
        }
    }
    if (e->n == SPAWN_ENV_MAX) {
        free(var);
        return -1;
    }
    e->vars[e->n++] = var;
    e->vars[e->n] = NULL;
    return 0;
}

int
spawn_env_minimal(struct spawn_env *e)
{
    size_t i;

    memset(e, 0, sizeof(*e));
    for (i = 0; i < sizeof(spawn_env_keep) / sizeof(spawn_env_keep[0]); i++) {
        const char *v = getenv(spawn_env_keep[i]);

        if (v == NULL && strcmp(spawn_env_keep[i], "PATH") == 0)
            v = "/usr/bin:/bin:/usr/sbin:/sbin";
        if (v == NULL)
            continue;
        if (spawn_env_set(e, spawn_env_keep[i], v) == -1) {
            spawn_env_free(e);
            return -1;
        }
    }
    return 0;
}

const char *
spawn_env_get(char *const *envp, const char *name)
{
    size_t nlen = strlen(name);

    if (envp == NULL)
        return NULL;
    for (; *envp != NULL; envp++) {
        if (strncmp(*envp, name, nlen) == 0 && (*envp)[nlen] == '=')
            return *envp + nlen + 1;
    }
    return NULL;
}

void
spawn_env_free(struct spawn_env *e)
{
    int i;

    if (e == NULL)
        return;
    for (i = 0; i < e->n; i++)
        free(e->vars[i]);
    memset(e, 0, sizeof(*e));
}

/* ---- path resolution ---- */

/* 0 when path is an executable regular file, else -1 with errno. */
static int
spawn_check_exec(const char *path)
{
    struct stat st;

    if (stat(path, &st) == -1)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EACCES;
        return -1;
    }
    if (access(path, X_OK) == -1)
        return -1;
    return 0;
}

/* How it works: a path is taken as is (absolute only); a bare name is
 * tried in each absolute directory of the child's PATH in order, the first
 * executable regular file winning. EACCES is reported only when some
 * candidate existed but could not be run, ENOENT otherwise. */
int
spawn_which(const char *name, char *const *envp, char *out, size_t outlen)
{
    const char *p, *end;
    int saw_eacces = 0;

    if (name == NULL || *name == '\0') {
        errno = EINVAL;
        return -1;
    }
    if (strchr(name, '/') != NULL) {
        if (name[0] != '/') {
            errno = EINVAL;
            return -1;
        }
        if (strlen(name) >= outlen) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (spawn_check_exec(name) == -1)
            return -1;
        memcpy(out, name, strlen(name) + 1);
        return 0;
    }

    p = spawn_env_get(envp, "PATH");
    if (p == NULL) {
        errno = ENOENT;
        return -1;
    }
    while (*p != '\0') {
        size_t dlen;
        int n;

        end = strchr(p, ':');
        dlen = end != NULL ? (size_t)(end - p) : strlen(p);
        /* Only absolute directories: "" or "." in PATH would search the cwd. */
        if (dlen > 0 && p[0] == '/') {
            n = snprintf(out, outlen, "%.*s/%s", (int)dlen, p, name);
            if (n > 0 && (size_t)n < outlen) {
                if (spawn_check_exec(out) == 0)
                    return 0;
                if (errno == EACCES)
                    saw_eacces = 1;
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    if (outlen > 0)
        out[0] = '\0';
    errno = saw_eacces ? EACCES : ENOENT;
    return -1;
}

/* ---- capture: head + ring tail ---- */

static void
spawn_reverse(char *a, size_t n)
{
    size_t i;

    for (i = 0; i < n / 2; i++) {
        char t = a[i];
        a[i] = a[n - 1 - i];
        a[n - 1 - i] = t;
    }
}

#define SPAWN_CAPTURE_FIRST 16384 /* first allocation of a capture buffer */

/* Make room for `want` bytes of data (plus the NUL), growing geometrically
 * up to c->cap. 0, or -1 when memory runs out (the capture then keeps what
 * it has and counts the rest as dropped). */
static int
spawn_capture_reserve(struct spawn_capture *c, size_t want)
{
    size_t n = c->alloc > 0 ? c->alloc : SPAWN_CAPTURE_FIRST;
    char *d;

    if (want + 1 <= c->alloc)
        return 0;
    while (n < want + 1)
        n *= 2;
    if (n > c->cap + 1)
        n = c->cap + 1;
    d = realloc(c->data, n);
    if (d == NULL)
        return -1;
    c->data = d;
    c->alloc = n;
    return 0;
}

/* Append n bytes; `pos` is the ring's write position once the buffer is
 * full. The first cap/2 bytes stay; the last cap - cap/2 are a ring. */
static void
spawn_capture_feed(struct spawn_capture *c, size_t *pos, const char *p, size_t n)
{
    size_t head = c->cap / 2, tail = c->cap - head;

    c->total += n;
    if (c->len < c->cap) {
        size_t take = c->cap - c->len;

        if (take > n)
            take = n;
        if (spawn_capture_reserve(c, c->len + take) == -1) {
            c->dropped += n;
            return;
        }
        memcpy(c->data + c->len, p, take);
        c->len += take;
        p += take;
        n -= take;
    }
    /* Full: the last `tail` bytes are a ring over data[head..]. */
    if (n > tail) {
        c->dropped += n - tail;
        *pos = (*pos + (n - tail)) % tail;
        p += n - tail;
        n = tail;
    }
    while (n > 0) {
        size_t take = tail - *pos;

        if (take > n)
            take = n;
        memcpy(c->data + head + *pos, p, take);
        c->dropped += take;
        *pos = (*pos + take) % tail;
        p += take;
        n -= take;
    }
}

/* Put the ring in order (oldest first) and NUL-terminate. */
static void
spawn_capture_finish(struct spawn_capture *c, size_t pos)
{
    size_t head = c->cap / 2, tail = c->cap - head;
    char *r;

    if (c->data == NULL)
        return;
    r = c->data + head;
    if (c->dropped > 0 && c->len == c->cap && pos > 0) {
        spawn_reverse(r, pos);
        spawn_reverse(r + pos, tail - pos);
        spawn_reverse(r, tail);
    }
    c->data[c->len] = '\0';
}

size_t
spawn_capture_tail(const struct spawn_capture *c, size_t max, char *out, size_t outlen)
{
    size_t n, i, start;

    if (outlen == 0)
        return 0;
    out[0] = '\0';
    if (c == NULL || c->data == NULL)
        return 0;
    n = c->len;
    while (n > 0 && (c->data[n - 1] == '\n' || c->data[n - 1] == '\r' ||
                     c->data[n - 1] == ' ' || c->data[n - 1] == '\t'))
        n--;
    if (max > outlen - 1)
        max = outlen - 1;
    start = n > max ? n - max : 0;
    for (i = start; i < n; i++) {
        unsigned char ch = (unsigned char)c->data[i];

        out[i - start] = (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
    }
    out[n - start] = '\0';
    return n - start;
}

void
spawn_result_free(struct spawn_result *r)
{
    if (r == NULL)
        return;
    free(r->out.data);
    free(r->err.data);
    r->out.data = NULL;
    r->err.data = NULL;
    r->out.len = r->err.len = 0;
    r->out.alloc = r->err.alloc = 0;
}

/* ---- running ---- */

/* A pipe whose both ends are close-on-exec and whose read end is non-blocking. */
static int
spawn_pipe(int fds[2])
{
#ifdef __linux__
    if (pipe2(fds, O_CLOEXEC) == -1)
        return -1;
#else
    if (pipe(fds) == -1)
        return -1;
    if (fd_cloexec(fds[0]) == -1 || fd_cloexec(fds[1]) == -1)
        goto fail;
#endif
    if (fd_nonblock(fds[0], 1) == -1)
        goto fail;
    return 0;
fail:
    close(fds[0]);
    close(fds[1]);
    fds[0] = fds[1] = -1;
    return -1;
}

/* r->error = "what: arg: strerror(errnum)". */
static void
spawn_fail(struct spawn_result *r, int errnum, const char *what, const char *arg)
{
    int n;

    r->errnum = errnum;
    /* Truncation is fine: the result is checked only to say so. */
    n = snprintf(r->error, sizeof(r->error), "%s: %s: %s", what, arg, strerror(errnum));
    if (n < 0)
        r->error[0] = '\0';
}

/* Read what `fd` has now into c. Returns 1 at EOF or on error (fd is then
 * done), else 0. */
static int
spawn_drain(int fd, struct spawn_capture *c, size_t *pos)
{
    char buf[SPAWN_READ_CHUNK];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n > 0) {
            spawn_capture_feed(c, pos, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return 1;
    }
}

static void
spawn_record(struct spawn_result *r, int st)
{
    if (WIFSIGNALED(st)) {
        r->how = SPAWN_SIGNALED;
        r->signo = WTERMSIG(st);
    } else {
        r->how = SPAWN_EXITED;
        r->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
}

/* After the leader: SIGKILL what is left of group pgid and wait (bounded)
 * until it is gone, reaping any that are our children. */
static void
spawn_reap_group(pid_t pgid)
{
    int64_t until = clock_mono_ns() + (int64_t)SPAWN_REAP_WAIT_MS * 1000000;
    struct timespec ts = {0, 5 * 1000000};

    if (kill(-pgid, SIGKILL) == -1)
        return; /* ESRCH: nobody left; EPERM: not ours to kill */
    for (;;) {
        while (waitpid(-pgid, NULL, WNOHANG) > 0)
            ;
        if (kill(-pgid, 0) == -1)
            return;
        if (clock_mono_ns() >= until) {
            log_debug("spawn: process group still present pgid=%ld (zombies?)", (long)pgid);
            return;
        }
        nanosleep(&ts, NULL);
    }
}

/* How a running child is stopped: the signals in order (first_signal,
 * default SIGTERM; then SIGTERM unless that was it; then SIGKILL), how many
 * were sent, when the next one is due, the gap between them. */
struct spawn_stop {
    pid_t pgid;
    int plan[3];
    int n, sent;
    int64_t deadline, next_at, grace_ns;
};

static void
spawn_stop_init(struct spawn_stop *s, const struct spawn_opts *o, pid_t pgid, int64_t deadline)
{
    int first = o->first_signal > 0 ? o->first_signal : SIGTERM;

    memset(s, 0, sizeof(*s));
    s->pgid = pgid;
    s->deadline = deadline;
    s->grace_ns = (int64_t)(o->grace_ms > 0 ? o->grace_ms : SPAWN_GRACE_MS) * 1000000;
    s->plan[s->n++] = first;
    if (first != SIGTERM && first != SIGKILL)
        s->plan[s->n++] = SIGTERM;
    if (first != SIGKILL)
        s->plan[s->n++] = SIGKILL;
}

/* The next moment the loop must wake for the stop sequence (ns; 0 = none). */
static int64_t
spawn_stop_due(const struct spawn_stop *s)
{
    if (s->sent == 0)
        return s->deadline;
    return s->sent < s->n ? s->next_at : 0;
}

/* While the leader runs: on cancel or at the deadline send the first stop
 * signal to the group, then each next one when its grace has passed; the
 * signals sent go to r->stop_signals. */
static void
spawn_stop_step(const struct spawn_opts *o, struct spawn_result *r, struct spawn_stop *s,
                int64_t now)
{
    if (s->sent == 0) {
        if ((o->cancel != NULL && *o->cancel != 0) ||
            (o->cancel_fn != NULL && o->cancel_fn(o->cancel_arg) != 0))
            r->cancelled = 1;
        else if (s->deadline > 0 && now >= s->deadline)
            r->timed_out = 1;
        else
            return;
        log_info("spawn: stopping pid=%ld reason=%s signal=%d", (long)s->pgid,
                 r->timed_out ? "deadline" : "cancel", s->plan[0]);
    } else if (s->sent < s->n && now >= s->next_at) {
        log_info("spawn: escalating pid=%ld signal=%d", (long)s->pgid, s->plan[s->sent]);
    } else {
        return;
    }
    r->stop_signals[s->sent] = s->plan[s->sent];
    kill(-s->pgid, s->plan[s->sent]);
    s->sent++;
    s->next_at = now + s->grace_ns;
}

/* ---- prepare ---- */

/* What spawn_prepare makes for one child and spawn_prep_release frees:
 * the resolved path, the pipes (read ends, write ends), the file actions
 * (stdin /dev/null, stdout and stderr to the pipes, nothing else inherited)
 * and the attributes (own process group, signals unblocked and default). */
struct spawn_prep {
    char path[SPAWN_PATH_MAX];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int fa_ok, attr_ok;
    int outp[2], errp[2];
};

static int
spawn_file_actions(struct spawn_prep *p, struct spawn_result *r)
{
    int rc = posix_spawn_file_actions_init(&p->fa);

    if (rc != 0) {
        spawn_fail(r, rc, "file actions", p->path);
        return -1;
    }
    p->fa_ok = 1;
    rc = posix_spawn_file_actions_addopen(&p->fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&p->fa, p->outp[1], 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&p->fa, p->errp[1], 2);
#ifdef SPAWN_HAVE_CLOSEFROM
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&p->fa, 3);
#endif
    if (rc != 0) {
        spawn_fail(r, rc, "file actions", p->path);
        return -1;
    }
    return 0;
}

static int
spawn_attrs(struct spawn_prep *p, struct spawn_result *r)
{
    sigset_t mask, def;
    short flags;
    int rc = posix_spawnattr_init(&p->attr);

    if (rc != 0) {
        spawn_fail(r, rc, "spawn attributes", p->path);
        return -1;
    }
    p->attr_ok = 1;
    flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
    sigemptyset(&mask);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGQUIT);
    sigaddset(&def, SIGCHLD);
    sigaddset(&def, SIGUSR1);
    sigaddset(&def, SIGUSR2);
    sigaddset(&def, SIGXFSZ); /* tpsd ignores it; the child should not */
    rc = posix_spawnattr_setflags(&p->attr, flags);
    if (rc == 0)
        rc = posix_spawnattr_setpgroup(&p->attr, 0);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&p->attr, &mask);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&p->attr, &def);
    if (rc != 0) {
        spawn_fail(r, rc, "spawn attributes", p->path);
        return -1;
    }
    return 0;
}

/* Everything before posix_spawn: argv checked, the executable resolved
 * against the child's PATH, capture buffers, pipes, file actions and
 * attributes. 0, or -1 with r's error filled (p is released by the
 * caller either way). */
static int
spawn_prepare(const struct spawn_opts *o, char *const *envp, struct spawn_prep *p,
              struct spawn_result *r)
{
    if (o->argv == NULL || o->argv[0] == NULL) {
        spawn_fail(r, EINVAL, "no argv", o->path ? o->path : "(null)");
        return -1;
    }
    if (spawn_which(o->path, envp, p->path, sizeof(p->path)) == -1) {
        spawn_fail(r, errno, "executable not found or not runnable",
                   o->path ? o->path : "(null)");
        return -1;
    }
    r->out.cap = o->out_max > 0 ? o->out_max : SPAWN_CAPTURE_MAX;
    if (r->out.cap > SPAWN_CAPTURE_HARD_MAX)
        r->out.cap = SPAWN_CAPTURE_HARD_MAX;
    r->err.cap = SPAWN_CAPTURE_MAX;
    if (spawn_capture_reserve(&r->out, 0) == -1 || spawn_capture_reserve(&r->err, 0) == -1) {
        spawn_fail(r, ENOMEM, "capture buffers", p->path);
        return -1;
    }
    if (spawn_pipe(p->outp) == -1 || spawn_pipe(p->errp) == -1) {
        spawn_fail(r, errno, "pipe", p->path);
        return -1;
    }
    if (spawn_file_actions(p, r) == -1 || spawn_attrs(p, r) == -1)
        return -1;
    return 0;
}

static void
spawn_close(int *fd)
{
    if (*fd != -1)
        close(*fd);
    *fd = -1;
}

static void
spawn_prep_release(struct spawn_prep *p)
{
    if (p->fa_ok)
        posix_spawn_file_actions_destroy(&p->fa);
    if (p->attr_ok)
        posix_spawnattr_destroy(&p->attr);
    p->fa_ok = p->attr_ok = 0;
    spawn_close(&p->outp[0]);
    spawn_close(&p->outp[1]);
    spawn_close(&p->errp[0]);
    spawn_close(&p->errp[1]);
}

/* ---- wait ---- */

/*
 * The wait loop's state and its transitions:
 *   a pipe reaches EOF      spawn_wait_read: its fd becomes -1;
 *   both pipes at EOF       poll wakes every idle_ms (1 ms, doubling up to
 *                           SPAWN_POLL_MS) to look for the leader's exit;
 *   the leader exits        spawn_wait_leader: running -> draining, the rest
 *                           of the group killed, the pipes read until EOF
 *                           or drain_until;
 *   cancel / deadline       spawn_stop_step (struct spawn_stop), only while
 *                           the leader runs.
 */
struct spawn_wait {
    pid_t pid;
    int64_t t0;
    int fd[2];           /* read ends of stdout, stderr; -1 at EOF */
    size_t pos[2];       /* bytes fed into r->out, r->err */
    int leader_done;     /* running (0) or draining (1) */
    int64_t drain_until; /* draining: stop reading at this moment */
    int idle_ms;         /* both pipes at EOF: the next poll's wait */
    struct spawn_stop stop;
};

/* Sleep in poll(2) until a pipe is readable, the stop sequence is due, or
 * SPAWN_POLL_MS (idle_ms once both pipes are at EOF) has passed. */
static void
spawn_wait_poll(struct spawn_wait *w)
{
    struct pollfd pfd[2];
    int i, nfd = 0, wait_ms = SPAWN_POLL_MS;
    int64_t now, due;

    for (i = 0; i < 2; i++) {
        if (w->fd[i] != -1) {
            pfd[nfd].fd = w->fd[i];
            pfd[nfd].events = POLLIN;
            nfd++;
        }
    }
    if (nfd == 0) {
        /* Both pipes at EOF: the leader is about to exit (or closed them
         * on purpose); look often at first, then back off. */
        wait_ms = w->idle_ms;
        if (w->idle_ms < SPAWN_POLL_MS)
            w->idle_ms *= 2;
    }
    now = clock_mono_ns();
    due = spawn_stop_due(&w->stop);
    if (!w->leader_done && due > 0 && (due - now) / 1000000 < wait_ms)
        wait_ms = (int)((due - now) / 1000000) + 1;
    if (wait_ms < 0)
        wait_ms = 0;
    if (poll(nfd > 0 ? pfd : NULL, (nfds_t)nfd, wait_ms) == -1 && errno != EINTR)
        log_warn("spawn: poll pid=%ld", (long)w->pid);
}

/* Read what the pipes hold; a pipe at EOF is closed. */
static void
spawn_wait_read(struct spawn_wait *w, struct spawn_result *r)
{
    struct spawn_capture *cap[2] = {&r->out, &r->err};
    int i;

    for (i = 0; i < 2; i++)
        if (w->fd[i] != -1 && spawn_drain(w->fd[i], cap[i], &w->pos[i]))
            spawn_close(&w->fd[i]);
}

/* Running -> draining when the leader has exited (or was reaped by someone
 * else): its status recorded, the rest of its group killed so the pipes'
 * other ends close, and reading bounded by SPAWN_GRACE_MS. */
static void
spawn_wait_leader(struct spawn_wait *w, struct spawn_result *r)
{
    pid_t got;
    int st;
    int64_t now;

    got = waitpid(w->pid, &st, WNOHANG);
    if (got == w->pid) {
        spawn_record(r, st);
    } else if (got == -1 && errno != EINTR) {
        /* ECHILD: someone else reaped it (SIGCHLD ignored?). */
        log_warn("spawn: waitpid pid=%ld", (long)w->pid);
        r->how = SPAWN_EXITED;
        r->exit_code = -1;
    } else {
        return;
    }
    w->leader_done = 1;
    now = clock_mono_ns();
    r->elapsed_ms = (now - w->t0) / 1000000;
    if (kill(-w->pid, SIGKILL) == 0)
        log_debug("spawn: killed leftover group members pgid=%ld", (long)w->pid);
    w->drain_until = now + (int64_t)SPAWN_GRACE_MS * 1000000;
}

/* Wait for the spawned leader: read its output, stop it on cancel or at
 * the deadline, then drain, reap the group and finish the captures. Takes
 * over the pipes' read ends in p. */
static void
spawn_wait(const struct spawn_opts *o, struct spawn_prep *p, pid_t pid, int64_t t0,
           struct spawn_result *r)
{
    struct spawn_wait w;

    memset(&w, 0, sizeof(w));
    w.pid = pid;
    w.t0 = t0;
    w.fd[0] = p->outp[0];
    w.fd[1] = p->errp[0];
    p->outp[0] = p->errp[0] = -1;
    w.idle_ms = 1;
    spawn_stop_init(&w.stop, o, pid,
                    o->timeout_ms > 0 ? t0 + (int64_t)o->timeout_ms * 1000000 : 0);
    for (;;) {
        spawn_wait_poll(&w);
        spawn_wait_read(&w, r);
        if (!w.leader_done)
            spawn_wait_leader(&w, r);
        if (w.leader_done) {
            if ((w.fd[0] == -1 && w.fd[1] == -1) || clock_mono_ns() >= w.drain_until)
                break;
            continue;
        }
        spawn_stop_step(o, r, &w.stop, clock_mono_ns());
    }
    spawn_close(&w.fd[0]);
    spawn_close(&w.fd[1]);
    spawn_reap_group(pid);
    orphans_remove(pid);
    spawn_capture_finish(&r->out, w.pos[0]);
    spawn_capture_finish(&r->err, w.pos[1]);
}

/* How it works: prepare (path, buffers, pipes, spawn settings), spawn the
 * leader in its own process group (registered with orphans so a restart
 * after a crash kills it), close our copies of the write ends, then wait.
 * Any failure before the child runs leaves empty captures. */
int
spawn_run(const struct spawn_opts *o, struct spawn_result *r)
{
    char *empty_env[] = {NULL};
    char *const *envp = o->envp != NULL ? o->envp : empty_env;
    struct spawn_prep p;
    pid_t pid = -1;
    int64_t t0;
    int rc, result = -1;

    memset(r, 0, sizeof(*r));
    memset(&p, 0, sizeof(p));
    p.outp[0] = p.outp[1] = p.errp[0] = p.errp[1] = -1;
    if (spawn_prepare(o, envp, &p, r) == -1)
        goto out;
    t0 = clock_mono_ns();
    rc = posix_spawn(&pid, p.path, &p.fa, &p.attr, o->argv, envp);
    if (rc != 0) {
        spawn_fail(r, rc, "cannot run", p.path);
        goto out;
    }
    r->pid = pid;
    orphans_add(pid); /* a restart after a crash kills the group (orphans.h) */
    spawn_close(&p.outp[1]);
    spawn_close(&p.errp[1]);
    spawn_wait(o, &p, pid, t0, r);
    result = 0;

out:
    spawn_prep_release(&p);
    if (result == -1) {
        spawn_result_free(r);
        r->out.data = calloc(1, 1);
        r->err.data = calloc(1, 1);
    }
    return result;
}

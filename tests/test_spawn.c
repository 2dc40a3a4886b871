/* test_spawn.c - daemon/spawn: real child processes (/bin/sh scripts are the
 * children; spawn_run itself never uses a shell). */
#ifdef __linux__
#define _GNU_SOURCE
#include <sys/prctl.h>
#endif
#include "daemon/spawn.h"

#include "common/clock.h"
#include "tests/check.h"
#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_PATH_MAX 1024

/* Orphaned grandchildren come back to us (so spawn_run can reap them) instead
 * of to a pid 1 that may not reap: containers. launchd and systemd reap. */
static void
t_subreaper(void)
{
#ifdef __linux__
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
}

static int
t_sh(const char *script, int timeout_ms, int grace_ms, struct spawn_result *r)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_opts o;

    memset(&o, 0, sizeof(o));
    o.path = "/bin/sh";
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = timeout_ms;
    o.grace_ms = grace_ms;
    return spawn_run(&o, r);
}

/* r: the command timed out and ended on signal signo after min_ms to
 * max_ms. */
static void
t_check_timed_out(const struct spawn_result *r, int signo, long min_ms, long max_ms)
{
    CHECK_INT(r->timed_out, ==, 1);
    CHECK_INT(r->how, ==, SPAWN_SIGNALED);
    CHECK_INT(r->signo, ==, signo);
    CHECK_INT(r->elapsed_ms, >=, min_ms);
    CHECK_INT(r->elapsed_ms, <, max_ms);
}

static void
t_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    CHECK(f != NULL);
    CHECK_INT(fwrite(data, 1, len, f), ==, len);
    CHECK_INT(fclose(f), ==, 0);
}

static long
t_read_pid(const char *path)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "r");

    CHECK(f != NULL);
    CHECK(fgets(buf, sizeof(buf), f) != NULL);
    fclose(f);
    return strtol(buf, NULL, 10);
}

TEST(exit_code)
{
    struct spawn_result r;

    CHECK_INT(t_sh("exit 3", 5000, 0, &r), ==, 0);
    CHECK_INT(r.how, ==, SPAWN_EXITED);
    CHECK_INT(r.exit_code, ==, 3);
    CHECK_INT(r.timed_out, ==, 0);
    CHECK(r.pid > 0);
    CHECK_INT(r.elapsed_ms, <, 2000);
    spawn_result_free(&r);

    CHECK_INT(t_sh("true", 5000, 0, &r), ==, 0);
    CHECK_INT(r.how, ==, SPAWN_EXITED);
    CHECK_INT(r.exit_code, ==, 0);
    spawn_result_free(&r);
}

TEST(signal_reported)
{
    struct spawn_result r;

    CHECK_INT(t_sh("kill -KILL $$", 5000, 0, &r), ==, 0);
    CHECK_INT(r.how, ==, SPAWN_SIGNALED);
    CHECK_INT(r.signo, ==, SIGKILL);
    spawn_result_free(&r);

    /* SIGTERM is back to default in the child even though we ignore it. */
    signal(SIGTERM, SIG_IGN);
    CHECK_INT(t_sh("kill -TERM $$; sleep 5", 5000, 0, &r), ==, 0);
    signal(SIGTERM, SIG_DFL);
    CHECK_INT(r.how, ==, SPAWN_SIGNALED);
    CHECK_INT(r.signo, ==, SIGTERM);
    spawn_result_free(&r);
}

TEST(capture_exact)
{
    struct spawn_result r;
    char path[T_PATH_MAX], script[T_PATH_MAX * 3];
    size_t n = 40000, i;
    char *data = malloc(n);

    CHECK(data != NULL);
    CHECK_INT(t_sh("printf 'hello\\nworld'; printf 'oops' >&2; exit 1", 5000, 0, &r), ==, 0);
    CHECK_INT(r.exit_code, ==, 1);
    CHECK_STR(r.out.data, "hello\nworld");
    CHECK_INT(r.out.len, ==, 11);
    CHECK_STR(r.err.data, "oops");
    CHECK_INT(r.out.dropped, ==, 0);
    CHECK_INT(r.err.dropped, ==, 0);
    spawn_result_free(&r);

    /* Below the cap, byte for byte (binary data, NULs included). */
    for (i = 0; i < n; i++)
        data[i] = (char)(i * 7 + i / 256);
    snprintf(path, sizeof(path), "%s/blob", tu_tmpdir());
    t_write_file(path, data, n);
    snprintf(script, sizeof(script), "cat '%s'; cat '%s' >&2", path, path);
    CHECK_INT(t_sh(script, 5000, 0, &r), ==, 0);
    CHECK_INT(r.out.len, ==, n);
    CHECK_INT(r.err.len, ==, n);
    CHECK_INT(r.out.total, ==, n);
    CHECK(memcmp(r.out.data, data, n) == 0);
    CHECK(memcmp(r.err.data, data, n) == 0);
    CHECK_INT(r.out.dropped, ==, 0);
    spawn_result_free(&r);
    free(data);
}

static void
t_check_head_tail(const struct spawn_capture *c, const char *data, size_t n)
{
    size_t head = SPAWN_CAPTURE_MAX / 2, tail = SPAWN_CAPTURE_MAX - head;

    CHECK_INT(c->len, ==, SPAWN_CAPTURE_MAX);
    CHECK_INT(c->total, ==, n);
    CHECK_INT(c->dropped, ==, n - SPAWN_CAPTURE_MAX);
    CHECK(memcmp(c->data, data, head) == 0);
    CHECK(memcmp(c->data + head, data + n - tail, tail) == 0);
    CHECK_INT(c->data[c->len], ==, 0);
}

TEST(capture_flood)
{
    struct spawn_result r;
    char path[T_PATH_MAX], script[T_PATH_MAX * 3], tail[64];
    size_t n = 10 * 1024 * 1024 + 12345, i;
    char *data = malloc(n);

    CHECK(data != NULL);
    /* Every position distinguishable: a counter in decimal, newline-separated. */
    for (i = 0; i < n; i++)
        data[i] = (char)('a' + (i * 31 + i / 4099) % 26);
    memcpy(data, "HEAD", 4);
    memcpy(data + n - 4, "TAIL", 4);
    snprintf(path, sizeof(path), "%s/flood", tu_tmpdir());
    t_write_file(path, data, n);
    /* Both streams at once, as fast as cat goes. */
    snprintf(script, sizeof(script), "cat '%s' & cat '%s' >&2; wait", path, path);
    CHECK_INT(t_sh(script, 30000, 0, &r), ==, 0);
    CHECK_INT(r.exit_code, ==, 0);
    CHECK_INT(r.timed_out, ==, 0);
    t_check_head_tail(&r.out, data, n);
    t_check_head_tail(&r.err, data, n);
    CHECK_INT(spawn_capture_tail(&r.out, 4, tail, sizeof(tail)), ==, 4);
    CHECK_STR(tail, "TAIL");
    spawn_result_free(&r);
    free(data);
}

TEST(hang_killed_with_group)
{
    struct spawn_result r;
    char pidfile[T_PATH_MAX], script[T_PATH_MAX * 3];
    long gpid;
    int64_t t0;

    t_subreaper();
    snprintf(pidfile, sizeof(pidfile), "%s/gpid", tu_tmpdir());
    snprintf(script, sizeof(script), "sleep 1000 & echo $! > '%s'; echo started; wait",
             pidfile);
    t0 = clock_mono_ns();
    CHECK_INT(t_sh(script, 300, 0, &r), ==, 0);
    t_check_timed_out(&r, SIGTERM, 300, 1500);
    CHECK_INT((clock_mono_ns() - t0) / 1000000, <, 2500);
    CHECK_STR(r.out.data, "started\n");
    gpid = t_read_pid(pidfile);
    CHECK(gpid > 0);
    errno = 0;
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    CHECK_INT(errno, ==, ESRCH);
    CHECK_INT(kill((pid_t)gpid, 0), ==, -1);
    spawn_result_free(&r);
}

TEST(term_ignored_then_killed)
{
    struct spawn_result r;
    char pidfile[T_PATH_MAX], script[T_PATH_MAX * 3];

    t_subreaper();
    snprintf(pidfile, sizeof(pidfile), "%s/gpid", tu_tmpdir());
    /* The ignored SIGTERM is inherited by sleep: only SIGKILL ends them. */
    snprintf(script, sizeof(script), "trap '' TERM; sleep 1000 & echo $! > '%s'; wait; wait",
             pidfile);
    CHECK_INT(t_sh(script, 200, 300, &r), ==, 0);
    t_check_timed_out(&r, SIGKILL, 500, 2000);
    errno = 0;
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    CHECK_INT(errno, ==, ESRCH);
    CHECK_INT(kill((pid_t)t_read_pid(pidfile), 0), ==, -1);
    spawn_result_free(&r);
}

TEST(leftover_group_killed)
{
    struct spawn_result r;

    t_subreaper();
    /* The leader exits at once; its child keeps the pipes open. */
    CHECK_INT(t_sh("sleep 1000 & echo bye", 0, 0, &r), ==, 0);
    CHECK_INT(r.how, ==, SPAWN_EXITED);
    CHECK_INT(r.exit_code, ==, 0);
    CHECK_INT(r.timed_out, ==, 0);
    CHECK_INT(r.elapsed_ms, <, 1000);
    CHECK_STR(r.out.data, "bye\n");
    errno = 0;
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    CHECK_INT(errno, ==, ESRCH);
    spawn_result_free(&r);
}

static int
t_cancel_after(void *arg)
{
    return clock_mono_ns() >= *(int64_t *)arg;
}

TEST(cancel)
{
    struct spawn_result r;
    char *argv[] = {"sh", "-c", "sleep 1000 & wait", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    atomic_int flag = 1;
    struct spawn_opts o;
    int64_t when;

    t_subreaper();
    memset(&o, 0, sizeof(o));
    o.path = "/bin/sh";
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = 60000;
    o.cancel = &flag;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.cancelled, ==, 1);
    CHECK_INT(r.timed_out, ==, 0);
    CHECK_INT(r.elapsed_ms, <, 1000);
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    spawn_result_free(&r);

    o.cancel = NULL;
    when = clock_mono_ns() + 250 * 1000000LL;
    o.cancel_fn = t_cancel_after;
    o.cancel_arg = &when;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.cancelled, ==, 1);
    CHECK_INT(r.elapsed_ms, >=, 250);
    CHECK_INT(r.elapsed_ms, <, 1000);
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    spawn_result_free(&r);
}

TEST(metachars_literal)
{
    const char *dir = tu_tmpdir();
    char a1[T_PATH_MAX], a2[T_PATH_MAX], a3[T_PATH_MAX], pf[SPAWN_PATH_MAX];
    char probe[T_PATH_MAX], expect[T_PATH_MAX * 8];
    char *argv[10];
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_opts o;
    struct spawn_result r;
    size_t off = 0;
    int i;

    snprintf(a1, sizeof(a1), "$(touch %s/pwned1)", dir);
    snprintf(a2, sizeof(a2), "x; touch %s/pwned2; `touch %s/pwned3`", dir, dir);
    snprintf(a3, sizeof(a3), "unsloth/MiniMax-M2.1-GGUF@Q4_K_S | touch %s/pwned4 &", dir);
    CHECK_INT(spawn_which("printf", envp, pf, sizeof(pf)), ==, 0);
    (void)TU_ARGV(argv, 0, "printf", "[%s]\\n", "with spaces  and\ttabs",
                  "quotes \"double\" 'single' \\back", a1, a2, "line1\nline2", a3, "*");
    memset(&o, 0, sizeof(o));
    o.path = pf;
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = 5000;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.exit_code, ==, 0);
    for (i = 2; i < 9; i++)
        off += (size_t)snprintf(expect + off, sizeof(expect) - off, "[%s]\n", argv[i]);
    CHECK_STR(r.out.data, expect);
    spawn_result_free(&r);
    for (i = 1; i <= 4; i++) {
        struct stat st;

        snprintf(probe, sizeof(probe), "%s/pwned%d", dir, i);
        CHECK_INT(stat(probe, &st), ==, -1);
    }
}

TEST(no_inherited_fds)
{
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    char perl[SPAWN_PATH_MAX];
    int leak = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    int p[2];
    struct spawn_opts o;
    struct spawn_result r;
    char *argv[] = {"perl", "-MPOSIX", "-e",
                    "for (0..4095) { my $d = POSIX::dup($_); "
                    "if (defined $d) { print \"$_\\n\"; POSIX::close($d) } }",
                    NULL};
    char *argv_sh[] = {"sh", "-c", "ls /proc/$$/fd", NULL};

    CHECK(leak >= 0);
    CHECK_INT(pipe(p), ==, 0);
    memset(&o, 0, sizeof(o));
    o.envp = envp;
    o.timeout_ms = 10000;
    if (spawn_which("perl", envp, perl, sizeof(perl)) == 0) {
        o.path = perl;
        o.argv = argv;
    } else {
        struct stat st;

        if (stat("/proc/self/fd", &st) == -1) {
            fprintf(stderr, "no perl and no /proc: skipped\n");
            return;
        }
        o.path = "/bin/sh";
        o.argv = argv_sh;
    }
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.exit_code, ==, 0);
    CHECK_STR(r.out.data, "0\n1\n2\n");
    spawn_result_free(&r);
    close(leak);
    close(p[0]);
    close(p[1]);
}

TEST(stdin_devnull)
{
    struct spawn_result r;

    CHECK_INT(t_sh("cat; echo rc=$?", 5000, 0, &r), ==, 0);
    CHECK_STR(r.out.data, "rc=0\n");
    spawn_result_free(&r);
}

TEST(env_exact)
{
    char *envp[] = {"PATH=/usr/bin:/bin", "HOME=/nonexistent home", "X=a=b;$(c)",
                    "EMPTY=", NULL};
    char *argv[] = {"env", NULL};
    struct spawn_opts o;
    struct spawn_result r;

    memset(&o, 0, sizeof(o));
    o.path = "env"; /* a bare name, found in envp's PATH */
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = 5000;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.exit_code, ==, 0);
    CHECK_STR(r.out.data, "PATH=/usr/bin:/bin\nHOME=/nonexistent home\nX=a=b;$(c)\nEMPTY=\n");
    spawn_result_free(&r);

    /* No environment at all. */
    o.path = "/usr/bin/env";
    o.envp = NULL;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_STR(r.out.data, "");
    spawn_result_free(&r);
}

TEST(env_helpers)
{
    struct spawn_env e;
    const char *home = getenv("HOME");
    int i, n;
    char name[32];

    setenv("LM_API_TOKEN", "sk-test", 1);
    setenv("TPSD_SECRET_NOT_PASSED", "x", 1);
    CHECK_INT(spawn_env_minimal(&e), ==, 0);
    CHECK(spawn_env_get(e.vars, "PATH") != NULL);
    CHECK_STR(spawn_env_get(e.vars, "LM_API_TOKEN"), "sk-test");
    CHECK(spawn_env_get(e.vars, "TPSD_SECRET_NOT_PASSED") == NULL);
    if (home != NULL)
        CHECK_STR(spawn_env_get(e.vars, "HOME"), home);
    CHECK_INT(spawn_env_set(&e, "HOME", "/tmp/other"), ==, 0);
    CHECK_STR(spawn_env_get(e.vars, "HOME"), "/tmp/other");
    CHECK_INT(spawn_env_set(&e, "A=B", "x"), ==, -1);
    CHECK_INT(spawn_env_set(&e, "", "x"), ==, -1);
    n = e.n;
    for (i = n; i < SPAWN_ENV_MAX; i++) {
        snprintf(name, sizeof(name), "V%d", i);
        CHECK_INT(spawn_env_set(&e, name, "1"), ==, 0);
    }
    CHECK_INT(spawn_env_set(&e, "ONE_TOO_MANY", "1"), ==, -1);
    CHECK(e.vars[SPAWN_ENV_MAX] == NULL);
    spawn_env_free(&e);
    CHECK_INT(e.n, ==, 0);
    unsetenv("LM_API_TOKEN");
}

TEST(missing_executable)
{
    char *argv[] = {"x", NULL};
    char *envp[] = {"PATH=/nonexistent-dir", NULL};
    char buf[SPAWN_PATH_MAX];
    struct spawn_opts o;
    struct spawn_result r;

    memset(&o, 0, sizeof(o));
    o.argv = argv;
    o.envp = envp;
    o.path = "/nonexistent/tpsd-no-such-tool";
    CHECK_INT(spawn_run(&o, &r), ==, -1);
    CHECK_INT(r.errnum, ==, ENOENT);
    CHECK(strstr(r.error, "not found") != NULL);
    CHECK(strstr(r.error, "tpsd-no-such-tool") != NULL);
    CHECK_STR(r.out.data, "");
    spawn_result_free(&r);

    o.path = "tpsd-no-such-tool";
    CHECK_INT(spawn_run(&o, &r), ==, -1);
    CHECK_INT(r.errnum, ==, ENOENT);
    spawn_result_free(&r);

    o.path = "bin/sh"; /* relative paths are refused */
    CHECK_INT(spawn_run(&o, &r), ==, -1);
    CHECK_INT(r.errnum, ==, EINVAL);
    spawn_result_free(&r);

    o.path = "/etc"; /* not a regular file */
    CHECK_INT(spawn_run(&o, &r), ==, -1);
    spawn_result_free(&r);

    /* The caller's PATH does not matter: only envp's. */
    CHECK_INT(spawn_which("sh", envp, buf, sizeof(buf)), ==, -1);
}

#define T_THREADS 6

static void *
t_worker(void *arg)
{
    struct spawn_result *r = arg;

    if (t_sh("i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done; "
             "sleep 0.2; echo done >&2",
             10000, 0, r) == -1)
        r->exit_code = -100;
    return NULL;
}

/* Children spawned at the same time from several threads: each sees only its
 * own pipes (none holds another's open: all end promptly) and output. */
TEST(concurrent_threads)
{
    pthread_t th[T_THREADS];
    struct spawn_result r[T_THREADS];
    int i;

    memset(r, 0, sizeof(r));
    for (i = 0; i < T_THREADS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, t_worker, &r[i]), ==, 0);
    for (i = 0; i < T_THREADS; i++)
        CHECK_INT(pthread_join(th[i], NULL), ==, 0);
    for (i = 0; i < T_THREADS; i++) {
        CHECK_INT(r[i].how, ==, SPAWN_EXITED);
        CHECK_INT(r[i].exit_code, ==, 0);
        CHECK_INT(r[i].timed_out, ==, 0);
        CHECK_INT(r[i].elapsed_ms, <, 3000);
        CHECK(strncmp(r[i].out.data, "line0\nline1\n", 12) == 0);
        CHECK(strstr(r[i].out.data, "line199\n") != NULL);
        CHECK_STR(r[i].err.data, "done\n");
        spawn_result_free(&r[i]);
    }
}

/* At the deadline the group gets first_signal (SIGINT: what `lms load`
 * cancels on), then SIGTERM, then SIGKILL, a grace period apart. */
TEST(first_signal_then_term_then_kill)
{
    struct spawn_result r;
    char path[T_PATH_MAX], script[T_PATH_MAX * 3], *text = NULL;
    char *argv[] = {"sh", "-c", script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_opts o;

    t_subreaper();
    snprintf(path, sizeof(path), "%s/signals", tu_tmpdir());
    snprintf(script, sizeof(script),
             "trap 'echo INT >> \"%s\"' INT; trap 'echo TERM >> \"%s\"' TERM; "
             "while :; do sleep 0.05; done",
             path, path);
    memset(&o, 0, sizeof(o));
    o.path = "/bin/sh";
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = 200;
    o.grace_ms = 400;
    o.first_signal = SIGINT;
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.timed_out, ==, 1);
    CHECK_INT(r.how, ==, SPAWN_SIGNALED);
    CHECK_INT(r.signo, ==, SIGKILL);
    CHECK_INT(r.stop_signals[0], ==, SIGINT);
    CHECK_INT(r.stop_signals[1], ==, SIGTERM);
    CHECK_INT(r.stop_signals[2], ==, SIGKILL);
    CHECK_INT(tu_read_file(path, &text, NULL), ==, 0);
    CHECK_STR(text, "INT\nTERM\n");
    free(text);
    errno = 0;
    CHECK_INT(kill(-r.pid, 0), ==, -1);
    CHECK_INT(errno, ==, ESRCH);
    spawn_result_free(&r);

    /* A child that stops on SIGINT gets nothing more. */
    snprintf(script, sizeof(script), "trap 'exit 7' INT; while :; do sleep 0.05; done");
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.timed_out, ==, 1);
    CHECK_INT(r.how, ==, SPAWN_EXITED);
    CHECK_INT(r.exit_code, ==, 7);
    CHECK_INT(r.stop_signals[0], ==, SIGINT);
    CHECK_INT(r.stop_signals[1], ==, 0);
    spawn_result_free(&r);
}

/* out_max: stdout kept up to a larger cap (head + tail beyond it), the
 * buffer grown as output arrives; stderr keeps the default cap. */
TEST(capture_out_max)
{
    struct spawn_result r;
    char path[T_PATH_MAX], script[T_PATH_MAX * 3];
    char *argv[] = {"sh", "-c", script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    size_t cap = 1024 * 1024, n = 3 * 1024 * 1024 + 77, small = 300 * 1024, i;
    char *data = malloc(n);
    struct spawn_opts o;

    CHECK(data != NULL);
    for (i = 0; i < n; i++)
        data[i] = (char)('a' + (i * 31 + i / 4099) % 26);
    snprintf(path, sizeof(path), "%s/flood", tu_tmpdir());
    t_write_file(path, data, n);
    memset(&o, 0, sizeof(o));
    o.path = "/bin/sh";
    o.argv = argv;
    o.envp = envp;
    o.timeout_ms = 30000;
    o.out_max = cap;
    /* Under the cap: all of it, exactly. */
    snprintf(script, sizeof(script), "head -c %zu '%s'; head -c %zu '%s' >&2", small, path,
             small, path);
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.out.len, ==, small);
    CHECK_INT(r.out.dropped, ==, 0);
    CHECK(memcmp(r.out.data, data, small) == 0);
    CHECK_INT(r.err.len, ==, SPAWN_CAPTURE_MAX); /* stderr: the default cap */
    spawn_result_free(&r);
    /* Over it: head and tail of cap bytes in all. */
    snprintf(script, sizeof(script), "cat '%s'", path);
    CHECK_INT(spawn_run(&o, &r), ==, 0);
    CHECK_INT(r.out.len, ==, cap);
    CHECK_INT(r.out.total, ==, n);
    CHECK_INT(r.out.dropped, ==, n - cap);
    CHECK(memcmp(r.out.data, data, cap / 2) == 0);
    CHECK(memcmp(r.out.data + cap / 2, data + n - (cap - cap / 2), cap - cap / 2) == 0);
    CHECK_INT(r.out.data[r.out.len], ==, 0);
    spawn_result_free(&r);
    free(data);
}

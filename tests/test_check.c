/* test_check.c - the harness itself: a failing check stops the children the
 * test started (tu_spawn, du_start register them), so a failed test leaves
 * no daemon running. */
#include "tests/check.h"
#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* 1 while pid exists (a zombie counts: the failing process reaps its own). */
static int
t_exists(pid_t pid)
{
    return kill(pid, 0) == 0 || errno != ESRCH;
}

TEST(failed_check_stops_children)
{
    char *plain[] = {"/bin/sleep", "60", NULL};
    /* ignores SIGTERM: needs the SIGKILL after the grace period */
    char *stubborn[] = {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done", NULL};
    pid_t kids[2], child;
    int fd[2], st;

    CHECK_INT(pipe(fd), ==, 0);
    child = fork();
    CHECK(child != -1);
    if (child == 0) {
        close(fd[0]);
        if (tu_spawn(plain, NULL, NULL, 0, &kids[0]) == -1 ||
            tu_spawn(stubborn, NULL, NULL, 1, &kids[1]) == -1)
            _exit(2);
        if (write(fd[1], kids, sizeof(kids)) != (ssize_t)sizeof(kids))
            _exit(2);
        tu_sleep_ms(200);    /* the shell sets its trap */
        CHECK_INT(1, ==, 2); /* fails on purpose: stops both */
        _exit(3);
    }
    close(fd[1]);
    CHECK_INT(read(fd[0], kids, sizeof(kids)), ==, sizeof(kids));
    close(fd[0]);
    CHECK_INT(tu_wait_pid_exit(child, 20000, &st), ==, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), ==, 1);
    CHECK(!t_exists(kids[0]));
    CHECK(!t_exists(kids[1]));
}

/* A child the test reaped itself is not signalled (its pid may be reused). */
TEST(reaped_children_are_left_alone)
{
    char *quick[] = {"/bin/true", NULL};
    char log[1024], *text;
    size_t len;
    pid_t kid, child;
    int st, fd;

    snprintf(log, sizeof(log), "%s/check-stderr.txt", tu_tmpdir());
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd != -1);
    child = fork();
    CHECK(child != -1);
    if (child == 0) {
        if (dup2(fd, 2) == -1)
            _exit(2);
        if (tu_spawn(quick, NULL, NULL, 0, &kid) == -1 ||
            tu_wait_pid_exit(kid, 10000, NULL) == -1)
            _exit(2);
        CHECK_INT(1, ==, 2);
        _exit(3);
    }
    close(fd);
    CHECK_INT(tu_wait_pid_exit(child, 10000, &st), ==, 0);
    CHECK(WIFEXITED(st));
    CHECK_INT(WEXITSTATUS(st), ==, 1);
    CHECK_INT(tu_read_file(log, &text, &len), ==, 0);
    CHECK(strstr(text, "FAILED: 1 == 2") != NULL);
    CHECK(strstr(text, "stopping child") == NULL);
    free(text);
}

/* testutil.c - see testutil.h. */
#include "tests/testutil.h"

#include "tests/check.h"
#include "tests/httputil.h"

#include "common/clock.h"
#include "common/slurp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TU_SIM_START_MS 15000

extern char **environ;

const char *
tu_tmpdir(void)
{
    static char buf[512];
    const char *t = getenv("TMPDIR");

    snprintf(buf, sizeof(buf), "%s/tpsd-test-XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(buf) == NULL)
        check_failed(__FILE__, __LINE__, "mkdtemp failed");
    return buf;
}

const char *
tu_src(const char *rel)
{
    static char buf[1024];
    const char *s = getenv("TPSD_SRC");

    snprintf(buf, sizeof(buf), "%s/%s", s && *s ? s : ".", rel);
    return buf;
}

long
tu_env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    char *end;
    long n;

    if (v == NULL || *v == '\0')
        return dflt;
    n = strtol(v, &end, 10);
    return end != v && *end == '\0' && n > 0 ? n : dflt;
}

uint64_t
tu_now_ns(void)
{
    return (uint64_t)clock_mono_ns();
}

void
tu_sleep_ms(long ms)
{
    clock_sleep_until(clock_mono_ns() + (int64_t)ms * 1000000);
}

int
tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    size_t n = strlen(text);
    int rc = 0;

    if (f == NULL)
        return -1;
    if (fwrite(text, 1, n, f) != n)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int
tu_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    int rc;

    *out = NULL;
    if (f == NULL)
        return -1;
    rc = slurp_stream(f, TU_FILE_MAX, out, len);
    fclose(f);
    return rc == 0 ? 0 : -1;
}

char *
tu_slurp(const char *path)
{
    char *s = NULL;

    CHECK_INT(tu_read_file(path, &s, NULL), ==, 0);
    return s;
}

int
tu_argv(char **argv, int n, int max, ...)
{
    va_list ap;
    char *a;

    va_start(ap, max);
    while ((a = va_arg(ap, char *)) != NULL) {
        if (n >= max - 1)
            check_failed(__FILE__, __LINE__, "tu_argv: more than %d arguments", max - 1);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    return n;
}

int
tu_spawn(char *const argv[], const char *stdout_path, const char *stderr_path, int new_pgrp,
         pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = -1, err;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (stdout_path != NULL)
        posix_spawn_file_actions_addopen(&fa, 1, stdout_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
    if (stderr_path != NULL)
        posix_spawn_file_actions_addopen(&fa, 2, stderr_path, O_WRONLY | O_CREAT | O_TRUNC,
                                         0644);
    if (new_pgrp) {
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&at, 0);
    }
    err = posix_spawn(pid, argv[0], &fa, &at, argv, environ);
    if (err != 0)
        fprintf(stderr, "tu_spawn %s: %s\n", argv[0], strerror(err));
    else {
        check_child(*pid, new_pgrp);
        rc = 0;
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

int
tu_wait_pid_exit(pid_t pid, long timeout_ms, int *status)
{
    uint64_t end = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    int st = 0;
    pid_t r;

    for (;;) {
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status != NULL)
                *status = st;
            return 0;
        }
        if (r == -1 && errno != EINTR)
            return -1;
        if (tu_now_ns() >= end)
            return -1;
        tu_sleep_ms(5);
    }
}

int
tu_run(char *const argv[], const char *stdout_path, const char *stderr_path, long timeout_ms,
       int *exit_code)
{
    pid_t pid;
    int st;

    if (tu_spawn(argv, stdout_path, stderr_path, 1, &pid) == -1)
        return -1;
    if (tu_wait_pid_exit(pid, timeout_ms, &st) == -1) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

int
tu_http(const char *method, const char *url, const char *body, const char *const *headers,
        long *status, char **resp_body)
{
    struct hu_opts o;
    struct hu_resp r;
    int rc;

    memset(&o, 0, sizeof(o));
    o.headers = headers;
    o.body = body;
    o.json_body = 1;
    rc = hu_request(method, url, &o, &r);
    *status = r.status;
    if (resp_body != NULL) {
        *resp_body = r.body.p != NULL ? r.body.p : strdup("");
        r.body.p = NULL;
    }
    hu_resp_free(&r);
    return rc;
}

int
tu_sim_start(const char *config_json, struct tu_sim *out)
{
    char cfg[TU_PATH_MAX], portf[TU_PATH_MAX], outf[TU_PATH_MAX];
    const char *bin = getenv("TPSD_SIM");
    char errf[TU_PATH_MAX], *argv[9], *text = NULL, *end;
    uint64_t deadline;
    long port, st;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->pid = -1;
    if (bin == NULL || *bin == '\0') {
        fprintf(stderr, "tu_sim_start: TPSD_SIM is not set\n");
        return -1;
    }
    snprintf(out->dir, sizeof(out->dir), "%s", tu_tmpdir());
    snprintf(cfg, sizeof(cfg), "%s/sim.json", out->dir);
    snprintf(portf, sizeof(portf), "%s/port", out->dir);
    snprintf(outf, sizeof(outf), "%s/stdout", out->dir);
    snprintf(errf, sizeof(errf), "%s/stderr", out->dir);
    if (tu_write_file(cfg, config_json ? config_json : "{}") == -1)
        return -1;
    (void)TU_ARGV(argv, 0, (char *)bin, "--port", "0", "--port-file", portf, "--config", cfg,
                  "--exit-with-parent");
    if (tu_spawn(argv, outf, errf, 0, &out->pid) == -1)
        return -1;
    deadline = tu_now_ns() + TU_SIM_START_MS * 1000000ULL;
    while (tu_now_ns() < deadline) {
        if (tu_wait_pid_exit(out->pid, 0, NULL) == 0) {
            fprintf(stderr, "tu_sim_start: tpsd-sim exited early\n");
            out->pid = -1;
            return -1;
        }
        if (out->port == 0 && tu_read_file(portf, &text, NULL) == 0) {
            port = strtol(text, &end, 10);
            if (end != text && port > 0 && port < 65536) {
                out->port = (int)port;
                snprintf(out->base_url, sizeof(out->base_url), "http://127.0.0.1:%d",
                         out->port);
            }
            free(text);
            text = NULL;
        }
        if (out->port != 0) {
            st = tu_sim_call(out, "GET", "/v1/models", NULL, NULL);
            if (st == 200) {
                rc = 0;
                break;
            }
        }
        tu_sleep_ms(20);
    }
    if (rc == -1) {
        fprintf(stderr, "tu_sim_start: tpsd-sim did not come up\n");
        tu_sim_stop(out);
    }
    return rc;
}

void
tu_sim_stop(struct tu_sim *sim)
{
    tu_stop_pid(sim->pid, 5000);
    sim->pid = -1;
}

long
tu_sim_call(const struct tu_sim *sim, const char *method, const char *path, const char *body,
            json_t **resp)
{
    char url[TU_URL_MAX + TU_PATH_MAX];
    char *text = NULL;
    long status = 0;
    int rc;

    if (resp != NULL)
        *resp = NULL;
    snprintf(url, sizeof(url), "%s%s", sim->base_url, path);
    rc = tu_http(method, url, body, NULL, &status, &text);
    if (resp != NULL && text != NULL)
        *resp = json_loads(text, 0, NULL);
    free(text);
    return rc == 0 ? status : -1;
}

json_t *
tu_sim_log(const struct tu_sim *sim)
{
    json_t *log = NULL;

    if (tu_sim_call(sim, "GET", "/sim/log", NULL, &log) != 200) {
        json_decref(log);
        return NULL;
    }
    return log;
}

/* One racer of tu_race_post: its request and what it got. */
struct tu_racer {
    const char *url, *body;
    const char *const *hdrs;
    long status;
    int64_t id;
};

static void *
tu_race_one(void *arg)
{
    struct tu_racer *x = arg;
    char *resp = NULL;
    json_t *j;

    tu_http("POST", x->url, x->body, x->hdrs, &x->status, &resp);
    j = json_loads(resp != NULL ? resp : "", 0, NULL);
    x->id = j != NULL ? json_integer_value(json_object_get(j, "id")) : -1;
    json_decref(j);
    free(resp);
    return NULL;
}

int64_t
tu_race_post(const char *url, const char *body, const char *key, int n)
{
    struct tu_racer x[TU_RACE_MAX];
    pthread_t t[TU_RACE_MAX];
    char kh[256];
    const char *hdrs[] = {kh, NULL}; /* tu_http adds the type */
    int i, created = 0;

    CHECK(n > 0 && n <= TU_RACE_MAX);
    snprintf(kh, sizeof(kh), "Idempotency-Key: %s", key);
    for (i = 0; i < n; i++) {
        memset(&x[i], 0, sizeof(x[i]));
        x[i].url = url;
        x[i].body = body;
        x[i].hdrs = hdrs;
        CHECK_INT(pthread_create(&t[i], NULL, tu_race_one, &x[i]), ==, 0);
    }
    for (i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (i = 0; i < n; i++) {
        if (x[i].status != 201 && x[i].status != 200)
            check_failed(__FILE__, __LINE__, "racer %d: status %ld", i, x[i].status);
        created += x[i].status == 201;
        CHECK_INT(x[i].id, ==, x[0].id);
    }
    CHECK_INT(created, ==, 1);
    return x[0].id;
}

/* 127.0.0.1:port as a socket address. */
static void
tu_loopback(struct sockaddr_in *sa, int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int
tu_dial(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    tu_loopback(&sa, port);
    CHECK_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

int
tu_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd == -1)
        return -1;
    tu_loopback(&sa, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int
tu_wait_file_has(const char *path, const char *needle, long timeout_ms)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    char *text = NULL;
    int found = 0;

    for (;;) {
        if (tu_read_file(path, &text, NULL) == 0)
            found = strstr(text, needle) != NULL;
        free(text);
        text = NULL;
        if (found || tu_now_ns() >= deadline)
            break;
        tu_sleep_ms(20);
    }
    return found ? 0 : -1;
}

void
tu_stop_pid(pid_t pid, long grace_ms)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    if (tu_wait_pid_exit(pid, grace_ms, NULL) == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

int
tu_peer_closed(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[512];
    ssize_t n;

    if (poll(&p, 1, 0) <= 0)
        return 0;
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    return n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK);
}

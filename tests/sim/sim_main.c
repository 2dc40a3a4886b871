/*
 * sim_main.c - tpsd-sim's command line: load the config, start the server,
 * publish the port, tick the RSS ballast until SIGTERM/SIGINT.
 *
 * usage: tpsd-sim [--port N] [--port-file PATH] [--config FILE.json]
 *                 [--bind 127.0.0.1] [--exit-with-parent]
 */
#include "sim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SIM_PATH_MAX 1024
#define SIM_TICK_NS 100000000ULL       /* main loop period */
#define SIM_SLEEP_SLICE_NS 50000000ULL /* sleeps notice a stop this fast */

atomic_int sim_stopping;
atomic_int sim_jit;
static atomic_int got_signal; /* lock-free: safe in a handler, read by threads */

uint64_t
sim_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int
sim_sleep_until(uint64_t t_ns)
{
    struct timespec ts;
    uint64_t now, d;

    for (;;) {
        if (sim_stopping || got_signal)
            return -1;
        now = sim_now_ns();
        if (now >= t_ns)
            return 0;
        d = t_ns - now;
        if (d > SIM_SLEEP_SLICE_NS)
            d = SIM_SLEEP_SLICE_NS;
        ts.tv_sec = (time_t)(d / 1000000000ULL);
        ts.tv_nsec = (long)(d % 1000000000ULL);
        nanosleep(&ts, NULL);
    }
}

static void
on_signal(int sig)
{
    got_signal = 1;
}

static void
usage(void)
{
    fprintf(stderr, "usage: tpsd-sim [--port N] [--port-file PATH] "
                    "[--config FILE.json] [--bind ADDR] "
                    "[--exit-with-parent]\n");
    exit(2);
}

/* Apply {"models":[...], "loaded":[...], "jit": bool}; -1 with a message on
 * stderr. */
static int
config_load(const char *path)
{
    char err[SIM_ERR_MAX];
    json_error_t jerr;
    json_t *cfg = json_load_file(path, 0, &jerr), *v;
    const char *name;
    size_t i;
    int rc = -1;

    if (cfg == NULL) {
        fprintf(stderr, "tpsd-sim: %s:%d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    json_object_foreach(cfg, name, v)
    {
        if (strcmp(name, "jit") == 0 && json_is_boolean(v)) {
            sim_jit = json_is_true(v);
            continue;
        }
        if (strcmp(name, "models") != 0 && strcmp(name, "loaded") != 0) {
            fprintf(stderr, "tpsd-sim: %s: %s: unknown field\n", path, name);
            goto out;
        }
    }
    json_array_foreach(json_object_get(cfg, "models"), i, v)
    {
        if (sim_model_put(v, err, sizeof(err)) == -1) {
            fprintf(stderr, "tpsd-sim: %s: models[%zu].%s\n", path, i, err);
            goto out;
        }
    }
    json_array_foreach(json_object_get(cfg, "loaded"), i, v)
    {
        if (!json_is_string(v) || sim_model_load(json_string_value(v), NULL, 0) != 0) {
            fprintf(stderr, "tpsd-sim: %s: loaded[%zu]: unknown model\n", path, i);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(cfg);
    return rc;
}

/* Write the port to path atomically (tmp file, then rename). */
static int
port_file_write(const char *path, int port)
{
    char tmp[SIM_PATH_MAX];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void
nofile_raise(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
main(int argc, char **argv)
{
    const char *port_file = NULL, *config = NULL, *bind_addr = "127.0.0.1";
    struct MHD_Daemon *d;
    struct sigaction sa;
    struct timespec ts = {0, (long)SIM_TICK_NS};
    long port = 0;
    char *end;
    pid_t parent = 0;
    int i, bound = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exit-with-parent") != 0 && i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--port") == 0) {
            errno = 0;
            port = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || port < 0 || port > 65535)
                usage();
        } else if (strcmp(argv[i], "--port-file") == 0) {
            port_file = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--bind") == 0) {
            bind_addr = argv[++i];
        } else if (strcmp(argv[i], "--exit-with-parent") == 0) {
            parent = getppid();
        } else {
            usage();
        }
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    nofile_raise();

    sim_model_init();
    sim_log_init();
    if (config != NULL && config_load(config) == -1)
        return 1;
    d = sim_http_start(bind_addr, (int)port, &bound);
    if (d == NULL) {
        fprintf(stderr, "tpsd-sim: cannot listen on %s:%ld\n", bind_addr, port);
        return 1;
    }
    if (port_file != NULL && port_file_write(port_file, bound) == -1) {
        fprintf(stderr, "tpsd-sim: cannot write %s: %s\n", port_file, strerror(errno));
        MHD_stop_daemon(d);
        return 1;
    }
    printf("tpsd-sim listening port=%d\n", bound);
    fflush(stdout);

    while (!got_signal) {
        nanosleep(&ts, NULL);
        sim_model_tick();
        if (parent != 0 && getppid() != parent)
            break; /* the test that started us is gone */
    }
    sim_stopping = 1;
    MHD_stop_daemon(d);
    sim_log_shutdown();
    sim_model_shutdown();
    return 0;
}

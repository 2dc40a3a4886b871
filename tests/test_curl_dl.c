/*
 * test_curl_dl.c - libcurl loaded when first used (daemon/curl_dl.h): an
 * idle `tpsd serve` has no libcurl mapped, a job still runs, and a libcurl
 * that cannot be loaded gives a clear error (a failed job with the reason,
 * exit 3 from a CLI verb, CURLE_FAILED_INIT in-process), never a crash.
 * $TPSD_LIBCURL names the file to load instead of the configured one.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"
#include "daemon/curl_dl.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T_JOB_MS 60000  /* a test job finishes within */
#define T_STOP_MS 20000 /* SIGTERM to exit */
#define T_LINE_MAX 4096 /* a line of /proc/PID/maps or status */
#define T_MISSING "/nonexistent/libcurl.so.4"

static const char *const one_model[] = {"m1", NULL};

#define CHECK_HAS(text, needle)                                                                \
    do {                                                                                       \
        if (strstr((text), (needle)) == NULL)                                                  \
            check_failed(__FILE__, __LINE__, "\"%s\" not in: %.2000s", (needle), (text));      \
    } while (0)

#if defined(__linux__)
/* 1 when a line of /proc/PID/<file> holds needle (copied into line), 0 when
 * none does; -1 when the file cannot be read. */
static int
proc_line(pid_t pid, const char *file, const char *needle, char *line, size_t len)
{
    char path[64];
    FILE *f;
    int found = 0;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (!found && fgets(line, (int)len, f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}
#endif

/* Linux: no libcurl mapped into the daemon (an exact check, from its
 * /proc/PID/maps), and its VmRSS and thread count printed for the log (a
 * figure, not a threshold: bench/bench_idle.sh measures it). Elsewhere:
 * nothing (the check needs /proc). */
static void
check_no_libcurl(struct du_env *e, const char *when)
{
#if defined(__linux__)
    char line[T_LINE_MAX], rss[T_LINE_MAX] = "", th[T_LINE_MAX] = "";

    line[0] = '\0';
    if (proc_line(e->pid, "maps", "libcurl", line, sizeof(line)) != 0)
        check_failed(__FILE__, __LINE__, "%s: libcurl mapped: %s", when, line);
    CHECK_INT(proc_line(e->pid, "status", "VmRSS:", rss, sizeof(rss)), ==, 1);
    CHECK_INT(proc_line(e->pid, "status", "Threads:", th, sizeof(th)), ==, 1);
    rss[strcspn(rss, "\n")] = '\0';
    th[strcspn(th, "\n")] = '\0';
    printf("%s: no libcurl mapped; %s, %s\n", when, rss, th);
#else
    (void)e;
    printf("%s: the libcurl mapping check needs /proc (Linux)\n", when);
#endif
}

/* The daemon answers its API (reads and a job submission's validation)
 * without loading libcurl; a job then runs (loading it when the client
 * needs it) and succeeds. */
TEST(idle_serve_has_no_libcurl)
{
    struct du_env e;
    char state[32];
    long long id;

    du_must_setup(&e, DU_MODEL("m1", 400), NULL);
    du_must_start(&e, NULL);
    check_no_libcurl(&e, "fresh");
    CHECK_INT(du_call(&e, "GET", "/v1/jobs", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_call(&e, "GET", "/v1/runs", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_call(&e, "GET", "/metrics", NULL, NULL, NULL), ==, 200);
    CHECK_INT(du_call(&e, "POST", "/v1/jobs", "{\"models\":[]}", NULL, NULL), ==, 400);
    check_no_libcurl(&e, "after API requests");
    id = du_must_submit_job(&e, one_model, 20, 1, 0, "lms", NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    CHECK_INT(du_env_q(&e, "SELECT count(*) FROM samples WHERE ok=1"), ==, 2);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* A daemon whose libcurl cannot be loaded starts and answers; a job that
 * needs libcurl (an https:// server) fails with the loader's reason; the
 * daemon survives and still answers. */
TEST(missing_libcurl_fails_the_job)
{
    struct du_env e;
    char state[32], *log;
    const char *msg;
    json_t *j;
    long long id;

    CHECK_INT(curl_dl_load(), ==, 0); /* this process's own libcurl first */
    du_must_setup(&e, DU_MODEL("m1", 400), NULL);
    CHECK_INT(setenv("TPSD_LIBCURL", T_MISSING, 1), ==, 0);
    du_must_start(&e, NULL);
    CHECK_INT(unsetenv("TPSD_LIBCURL"), ==, 0);
    memmove(e.sim.base_url + 5, e.sim.base_url + 4, strlen(e.sim.base_url + 4) + 1);
    memcpy(e.sim.base_url, "https", 5);
    id = du_must_submit_job(&e, one_model, 20, 1, 0, "none", NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "failed");
    j = du_job(&e, id);
    CHECK(j != NULL);
    log = json_dumps(j, 0);
    CHECK(log != NULL);
    CHECK_HAS(log, "libcurl could not be loaded: " T_MISSING);
    free(log);
    json_decref(j);
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 200);
    log = tu_slurp(e.log);
    CHECK(log != NULL);
    CHECK_HAS(log, "libcurl could not be loaded");
    free(log);
    msg = du_log_tail(&e);
    CHECK(strstr(msg, "AddressSanitizer") == NULL);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* A CLI verb that talks HTTP, without a loadable libcurl: the reason on
 * stderr and exit 3 (EXIT_UNAVAILABLE); `tpsd db`, which needs none, runs. */
TEST(missing_libcurl_cli_exits_3)
{
    char dir[TU_PATH_MAX], errf[TU_PATH_MAX + 16], dbf[TU_PATH_MAX + 16], *err = NULL;
    char *argv[8];
    int code = -1;

    snprintf(dir, sizeof(dir), "%s", tu_tmpdir());
    snprintf(errf, sizeof(errf), "%s/err", dir);
    snprintf(dbf, sizeof(dbf), "%s/t.db", dir);
    CHECK_INT(setenv("TPSD_LIBCURL", T_MISSING, 1), ==, 0);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "jobs", "--url", "http://127.0.0.1:9");
    CHECK_INT(tu_run(argv, NULL, errf, 30000, &code), ==, 0);
    CHECK_INT(code, ==, 3);
    CHECK_INT(tu_read_file(errf, &err, NULL), ==, 0);
    CHECK_HAS(err, "tpsd jobs: libcurl could not be loaded: " T_MISSING);
    free(err);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "db", "--db", dbf);
    CHECK_INT(tu_run(argv, NULL, errf, 30000, &code), ==, 0);
    CHECK_INT(code, ==, 0);
}

/* In-process: every loading call fails as libcurl does when it cannot
 * start, strerror gives the reason, and the cleanup calls of an error path
 * (NULL handles) are safe. */
TEST(missing_libcurl_in_process)
{
    CHECK_INT(setenv("TPSD_LIBCURL", T_MISSING, 1), ==, 0);
    CHECK_INT(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_FAILED_INIT);
    CHECK(curl_easy_init() == NULL);
    CHECK(curl_multi_init() == NULL);
    CHECK(curl_slist_append(NULL, "X: y") == NULL);
    CHECK_HAS(curl_easy_strerror(CURLE_FAILED_INIT), "libcurl could not be loaded: " T_MISSING);
    CHECK_HAS(curl_dl_error(), T_MISSING);
    CHECK_STR(curl_dl_path(), "");
    curl_easy_cleanup(NULL);
    curl_slist_free_all(NULL);
    curl_free(NULL);
    CHECK_INT(curl_multi_cleanup(NULL), ==, CURLM_BAD_HANDLE);
    curl_global_cleanup();
}

/* A library that is not libcurl: refused, naming the first missing
 * function. (The C library: present everywhere, has no curl_*.) */
TEST(not_libcurl_refused)
{
#if defined(__APPLE__)
    const char *lib = "/usr/lib/libSystem.B.dylib";
#else
    const char *lib = "libc.so.6";
#endif
    CHECK_INT(setenv("TPSD_LIBCURL", lib, 1), ==, 0);
    CHECK_INT(curl_dl_load(), ==, -1);
    CHECK_HAS(curl_dl_error(), "has no curl_global_init");
    CHECK(curl_easy_init() == NULL);
}

/* The configured library loads: the functions work through the table. */
TEST(loads_and_works)
{
    char *esc;
    CURL *h;

    CHECK_INT(unsetenv("TPSD_LIBCURL"), ==, 0);
    CHECK_INT(curl_global_init(CURL_GLOBAL_DEFAULT), ==, CURLE_OK);
    CHECK(curl_dl_path()[0] != '\0');
    CHECK_STR(curl_dl_error(), "");
    h = curl_easy_init();
    CHECK(h != NULL);
    esc = curl_easy_escape(h, "a b/c", 0);
    CHECK(esc != NULL);
    CHECK_STR(esc, "a%20b%2Fc");
    curl_free(esc);
    CHECK_INT(curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:9/"), ==, CURLE_OK);
    curl_easy_cleanup(h);
    printf("loaded %s\n", curl_dl_path());
    curl_global_cleanup();
}

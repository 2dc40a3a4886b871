/*
 * bench_client.c - how much the streaming client (daemon/client.h) can
 * measure, and how well: N concurrent streams against tpsd-sim with a fast
 * model, then total tokens/s handled, the client's CPU seconds per million
 * tokens (getrusage of this process: the sim is another process), and the
 * error of every TTFT and decode_tps against the sim's log of when it wrote
 * each event.
 *
 *   bench_client            N = 1, 64, 1000 in turn
 *   bench_client n64        one of n1, n64, n1000
 *
 * Each stream decodes at a per-stream rate a real server reaches at that
 * concurrency: 500 tokens/s for N = 1, 100 for N = 64, 20 for N = 1000
 * (20,000 tokens/s in all). Request i asks for BENCH_TOKENS + i tokens,
 * which pairs it with its record in the sim's log.
 * Environment: BENCH_TPS (one per-stream rate for every N),
 * BENCH_TOKENS (tokens of request 0; default 200 for N <= 64, else 20),
 * TPSD_SIM (default: tests/tpsd-sim next to this program's folder).
 * The sim shares the machine's cores: under load, its writes are late
 * (logged as such) and the client's wake-ups too.
 */
#include "tests/check.h"
#include "tests/testutil.h"
#include "daemon/curl_dl.h"

#include "daemon/client.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_BODY_MAX 512
#define BENCH_N_MAX 4096

static struct tu_sim sim;
static int sim_up;

/* TPSD_SIM defaults to tests/tpsd-sim under the build folder, run from
 * the build folder or from bench/ inside it. */
static void
bench_find_sim(void)
{
    static const char *const tries[] = {"tests/tpsd-sim", "../tests/tpsd-sim"};
    size_t i;

    if (getenv("TPSD_SIM") != NULL)
        return;
    for (i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        if (access(tries[i], X_OK) == 0) {
            setenv("TPSD_SIM", tries[i], 1);
            return;
        }
    }
}

static void
bench_setup(void)
{
    long tps = tu_env_long("BENCH_TPS", 0);
    char cfg[512];
    struct rlimit rl;

    if (sim_up)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    bench_find_sim();
    snprintf(cfg, sizeof(cfg),
             "{\"models\":["
             "{\"key\":\"s1\",\"ttft_ms\":50,\"tps\":%ld,\"tokens_per_event\":1},"
             "{\"key\":\"s64\",\"ttft_ms\":50,\"tps\":%ld,\"tokens_per_event\":1},"
             "{\"key\":\"s1000\",\"ttft_ms\":50,\"tps\":%ld,\"tokens_per_event\":1}],"
             "\"loaded\":[\"s1\",\"s64\",\"s1000\"]}",
             tps ? tps : 500, tps ? tps : 100, tps ? tps : 20);
    CHECK_INT(tu_sim_start(cfg, &sim), ==, 0);
    sim_up = 1;
}

static void
on_done(void *arg, struct client_req *r)
{
    (void)r;
    (*(int *)arg)++;
}

static int
by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double
pct(const double *sorted, int n, int p)
{
    return sorted[(size_t)((n - 1) * p / 100)];
}

static void
bench_streams(int n, const char *model)
{
    long base = tu_env_long("BENCH_TOKENS", n <= 64 ? 200 : 20);
    struct client_opts o = {0};
    struct client_req *reqs;
    struct client *cl;
    char(*bodies)[BENCH_BODY_MAX];
    json_t *log, **by, *rq, *e;
    double *ttft_err, *dec_err, cpu0, cpu1, wall, tokens = 0;
    uint64_t t0, t1;
    int i, done = 0, nfail = 0;
    size_t k, j;

    CHECK(n > 0 && n <= BENCH_N_MAX);
    bench_setup();
    CHECK_INT(tu_sim_call(&sim, "DELETE", "/sim/log", NULL, NULL), ==, 200);
    o.base_url = sim.base_url;
    o.api = "openai";
    o.connect_timeout_ms = 30000;
    o.first_token_timeout_ms = 120000;
    o.stall_timeout_ms = 60000;
    o.request_timeout_ms = 600000;
    cl = client_new(&o);
    reqs = calloc((size_t)n, sizeof(*reqs));
    bodies = calloc((size_t)n, sizeof(*bodies));
    ttft_err = calloc((size_t)n, sizeof(double));
    dec_err = calloc((size_t)n, sizeof(double));
    by = calloc((size_t)n, sizeof(*by));
    CHECK(cl != NULL && reqs != NULL && bodies != NULL && ttft_err && dec_err && by);
    for (i = 0; i < n; i++) {
        snprintf(bodies[i], sizeof(bodies[i]),
                 "{\"model\":\"%s\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                 "true},\"max_tokens\":%ld,\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"go\"}]}",
                 model, base + i);
        sample_rec_init(&reqs[i].rec);
        reqs[i].body = bodies[i];
        reqs[i].rec.seq = i;
        CHECK_INT(client_add(cl, &reqs[i]), ==, 0);
    }
    cpu0 = cpu_seconds();
    t0 = tu_now_ns();
    CHECK_INT(client_run(cl, on_done, NULL, &done), ==, 0);
    t1 = tu_now_ns();
    cpu1 = cpu_seconds();
    CHECK_INT(done, ==, n);
    client_free(cl);
    for (i = 0; i < n; i++) {
        if (!reqs[i].rec.ok) {
            if (nfail++ < 5)
                fprintf(stderr, "request %d failed: %s %s\n", i, reqs[i].rec.error_code,
                        reqs[i].rec.error_detail);
            continue;
        }
        tokens += (double)reqs[i].rec.completion_tokens;
    }
    wall = (double)(t1 - t0) / 1e9;

    /* Pair each request with the sim's record by its token count. */
    log = tu_sim_log(&sim);
    CHECK(log != NULL);
    json_array_foreach(json_object_get(log, "requests"), k, rq)
    {
        long ntok = 0;
        json_array_foreach(json_object_get(rq, "events"), j, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "kind")), "content") == 0)
                ntok += (long)json_integer_value(json_object_get(e, "tokens"));
        }
        if (ntok - base >= 0 && ntok - base < n)
            by[ntok - base] = rq;
    }
    j = 0;
    for (i = 0; i < n; i++) {
        const struct sample_rec *s = &reqs[i].rec;
        int64_t first = 0, last = 0, t;
        double true_dec;
        size_t m;
        if (!s->ok || by[i] == NULL)
            continue;
        json_array_foreach(json_object_get(by[i], "events"), m, e)
        {
            if (strcmp(json_string_value(json_object_get(e, "kind")), "content") != 0)
                continue;
            t = json_integer_value(json_object_get(e, "t_ns"));
            if (first == 0)
                first = t;
            last = t;
        }
        true_dec = (double)(s->completion_tokens - 1) / ((double)(last - first) / 1e9);
        ttft_err[j] = fabs(s->ttft_ms - (double)(first - reqs[i].t_sent_ns) / 1e6);
        dec_err[j] = 100.0 * fabs(s->decode_tps - true_dec) / true_dec;
        j++;
    }
    qsort(ttft_err, j, sizeof(double), by_double);
    qsort(dec_err, j, sizeof(double), by_double);
    printf("streams=%d model=%s ok=%d failed=%d tokens=%.0f wall=%.2fs tokens/s=%.0f "
           "client_cpu=%.3fs cpu_s_per_Mtok=%.3f\n",
           n, model, n - nfail, nfail, tokens, wall, tokens / wall, cpu1 - cpu0,
           tokens > 0 ? (cpu1 - cpu0) / tokens * 1e6 : NAN);
    if (j > 0)
        printf("  |TTFT error| ms: median %.3f p99 %.3f max %.3f; |decode_tps error| %%: "
               "median %.4f p99 %.4f max %.4f (%zu paired)\n",
               pct(ttft_err, (int)j, 50), pct(ttft_err, (int)j, 99), ttft_err[j - 1],
               pct(dec_err, (int)j, 50), pct(dec_err, (int)j, 99), dec_err[j - 1], j);
    fflush(stdout);
    for (i = 0; i < n; i++) {
        free(reqs[i].text);
        free(reqs[i].reasoning);
        sample_rec_free(&reqs[i].rec);
    }
    json_decref(log);
    free(reqs);
    free(bodies);
    free(ttft_err);
    free(dec_err);
    free(by);
}

TEST(n1)
{
    bench_streams(1, "s1");
}

TEST(n64)
{
    bench_streams(64, "s64");
}

TEST(n1000)
{
    bench_streams(1000, "s1000");
    tu_sim_stop(&sim);
    sim_up = 0;
}

/*
 * cmd_jobs.c - `tpsd jobs` (the list), `tpsd job ID` (one job and its
 * runs) and `tpsd cancel ID`, over the daemon's REST API (rest.h): human
 * tables by default, the daemon's JSON with --json.
 *
 * Exit status: 0 done; 1 the daemon refused (404, 409 ...); 2 bad usage;
 * 3 the daemon is unreachable or unavailable (5xx).
 */
#include "daemon/cli/cmd.h"

#include "daemon/cli/rest.h"

#include <stdio.h>
#include <string.h>

/* "m1, m2" from a job's spec.models into buf. */
static const char *
models_text(const json_t *job, char *buf, size_t len)
{
    json_t *m;
    size_t i, used = 0;

    buf[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(job, "spec"), "models"), i, m)
    {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", cmd_str(m, "?"));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

int
cmd_jobs(int argc, char **argv)
{
    struct rest_args a;
    struct rest cl;
    struct rest_reply r;
    const char *state = NULL, *limit = NULL;
    const struct cmd_flag own[] = {
        {"--state", &state, NULL},
        {"--limit", &limit, NULL},
        {NULL, NULL, NULL},
    };
    char path[REST_PATH_MAX], when[32], models[256];
    char *es = NULL;
    json_t *job;
    size_t i, used;
    int rc = EXIT_USAGE;
    CURL *c = NULL;

    memset(&r, 0, sizeof(r));
    if (rest_args_parse("jobs", argc, argv, own, &a) == -1)
        goto out;
    if (a.help) {
        fprintf(stdout,
                "usage: tpsd jobs [--state queued|running|succeeded|failed|cancelled|"
                "interrupted] [--limit N]\n%s",
                rest_usage);
        rc = 0;
        goto out;
    }
    if (a.npos > 0) {
        fprintf(stderr, "tpsd jobs: unexpected argument %s\n", a.pos[0]);
        goto out;
    }
    if (rest_init(&cl, "jobs", &a.cfg, a.url, a.token) == -1)
        goto out;
    cl.json = a.json;
    c = curl_easy_init();
    if (c == NULL)
        goto out;
    es = curl_easy_escape(c, limit != NULL ? limit : "50", 0);
    used = (size_t)snprintf(path, sizeof(path), "/v1/jobs?limit=%s", es ? es : "");
    curl_free(es);
    if (state != NULL && used < sizeof(path)) {
        es = curl_easy_escape(c, state, 0);
        snprintf(path + used, sizeof(path) - used, "&state=%s", es ? es : "");
        curl_free(es);
    }
    rc = rest_get_json(&cl, path, &r);
    if (rc != 0)
        goto out;
    if (a.json) {
        cmd_print_json(r.json);
    } else {
        printf("%-6s %-11s %-19s %7s %6s  %-24s %s\n", "ID", "STATE", "CREATED", "SAMPLES",
               "ERRORS", "NAME", "MODELS");
        json_array_foreach(json_object_get(r.json, "jobs"), i, job)
        {
            printf("%-6lld %-11s %-19s %7lld %6lld  %-24s %s\n",
                   (long long)json_integer_value(json_object_get(job, "id")),
                   cmd_str(json_object_get(job, "state"), "?"),
                   cmd_fmt_ms(json_object_get(job, "created_at"), when, sizeof(when)),
                   (long long)json_integer_value(json_object_get(job, "samples")),
                   (long long)json_integer_value(json_object_get(job, "errors")),
                   cmd_str(json_object_get(job, "name"), ""),
                   models_text(job, models, sizeof(models)));
        }
        if (json_array_size(json_object_get(r.json, "jobs")) == 0)
            printf("(no jobs%s%s)\n", state ? " in state " : "", state ? state : "");
    }
    rc = 0;
out:
    if (c != NULL)
        curl_easy_cleanup(c);
    rest_reply_free(&r);
    rest_args_free(&a);
    return rc;
}

/* A run's per-case table (GET /v1/runs/{id}). */
static void
print_run_cases(const struct rest *cl, long long run_id)
{
    struct rest_reply r;
    char path[REST_PATH_MAX];
    json_t *c;
    size_t i;

    snprintf(path, sizeof(path), "/v1/runs/%lld", run_id);
    if (rest_call(cl, "GET", path, NULL, NULL, &r) == -1)
        return;
    if (r.status == 200 && json_array_size(json_object_get(r.json, "cases")) > 0) {
        printf("    %-16s %4s %4s %13s %10s %9s %8s\n", "CASE", "N", "OK", "DECODE tok/s",
               "E2E tok/s", "TTFT ms", "TOKENS");
        json_array_foreach(json_object_get(r.json, "cases"), i, c)
        {
            printf("    %-16s %4lld %4lld %13.2f %10.2f %9.1f %8.1f\n",
                   cmd_str(json_object_get(c, "case"), "?"),
                   (long long)json_integer_value(json_object_get(c, "n")),
                   (long long)json_integer_value(json_object_get(c, "ok")),
                   json_number_value(json_object_get(c, "decode_tps_mean")),
                   json_number_value(json_object_get(c, "e2e_tps_mean")),
                   json_number_value(json_object_get(c, "ttft_ms_mean")),
                   json_number_value(json_object_get(c, "completion_tokens")));
        }
    }
    rest_reply_free(&r);
}

/* `tpsd job ID`: the job, its progress and each run with its per-case
 * table (GET /v1/runs/{id} per run). */
static void
job_show(const struct rest *cl, long long id, const json_t *job)
{
    char t1[32], t2[32], t3[32], models[1024];
    json_t *run;
    size_t i;

    printf("job %lld \"%s\" (%s): %s, attempt %lld%s\n", id,
           cmd_str(json_object_get(job, "name"), ""),
           cmd_str(json_object_get(job, "kind"), "benchmark"),
           cmd_str(json_object_get(job, "state"), "?"),
           (long long)json_integer_value(json_object_get(job, "attempts")),
           json_integer_value(json_object_get(job, "cancel_requested")) ? ", cancel requested"
                                                                        : "");
    printf("  models:   %s\n", models_text(job, models, sizeof(models)));
    printf("  created:  %s  started: %s  finished: %s\n",
           cmd_fmt_ms(json_object_get(job, "created_at"), t1, sizeof(t1)),
           cmd_fmt_ms(json_object_get(job, "started_at"), t2, sizeof(t2)),
           cmd_fmt_ms(json_object_get(job, "finished_at"), t3, sizeof(t3)));
    printf("  progress: %lld run(s), %lld sample(s), %lld error(s)\n",
           (long long)json_integer_value(json_object_get(job, "runs")),
           (long long)json_integer_value(json_object_get(job, "samples")),
           (long long)json_integer_value(json_object_get(job, "errors")));
    if (json_is_string(json_object_get(job, "error_code")))
        printf("  error:    %s: %s\n", cmd_str(json_object_get(job, "error_code"), ""),
               cmd_str(json_object_get(job, "error_detail"), ""));
    /* run_list is newest first: show them in model order. */
    for (i = json_array_size(json_object_get(job, "run_list")); i > 0; i--) {
        run = json_array_get(json_object_get(job, "run_list"), i - 1);
        printf("  run %lld %s: %s, %lld sample(s), %lld error(s)",
               (long long)json_integer_value(json_object_get(run, "id")),
               cmd_str(json_object_get(run, "model"), "?"),
               cmd_str(json_object_get(run, "state"), "?"),
               (long long)json_integer_value(json_object_get(run, "samples")),
               (long long)json_integer_value(json_object_get(run, "errors")));
        if (json_is_number(json_object_get(run, "load_ms")))
            printf(", load %.0f ms", json_number_value(json_object_get(run, "load_ms")));
        if (json_is_string(json_object_get(run, "error_code")))
            printf(", %s: %s", cmd_str(json_object_get(run, "error_code"), ""),
                   cmd_str(json_object_get(run, "error_detail"), ""));
        printf("\n");
        print_run_cases(cl, (long long)json_integer_value(json_object_get(run, "id")));
    }
}

/* `tpsd cancel ID`: what the cancel did. */
static void
cancel_show(const struct rest *cl, long long id, const json_t *job)
{
    const char *state = cmd_str(json_object_get(job, "state"), "?");

    if (strcmp(state, "running") == 0)
        printf("job %lld: cancel requested; it stops within a second (tpsd watch %lld)\n", id,
               id);
    else
        printf("job %lld: %s\n", id, state);
}

/*
 * `tpsd job ID` and `tpsd cancel ID`: one request on /v1/jobs/ID<suffix>,
 * its answer printed by show(), or as the daemon's JSON with --json.
 * Returns the verb's exit status.
 */
static int
job_verb(const char *verb, const char *usage, const char *method, const char *suffix,
         void (*show)(const struct rest *, long long, const json_t *), int argc, char **argv)
{
    struct rest_args a;
    struct rest cl;
    struct rest_reply r;
    char path[REST_PATH_MAX];
    long long id;
    int rc;

    memset(&r, 0, sizeof(r));
    rc = rest_job_verb(verb, usage, argc, argv, &a, &cl, &id);
    if (rc != 0) {
        rc = rc == 1 ? 0 : EXIT_USAGE;
        goto out;
    }
    snprintf(path, sizeof(path), "/v1/jobs/%lld%s", id, suffix);
    if (rest_call(&cl, method, path, NULL, NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    if (r.status != 200) {
        rc = rest_reply_error(&cl, &r);
        goto out;
    }
    if (cl.json)
        cmd_print_json(r.json);
    else
        show(&cl, id, r.json);
    rc = 0;
out:
    rest_reply_free(&r);
    rest_args_free(&a);
    return rc;
}

int
cmd_job(int argc, char **argv)
{
    return job_verb("job", "usage: tpsd job ID\n  the job, its progress and per-model runs\n",
                    "GET", "", job_show, argc, argv);
}

int
cmd_cancel(int argc, char **argv)
{
    return job_verb("cancel",
                    "usage: tpsd cancel ID\n  a queued job is cancelled at once, a running"
                    " one stops within a second\n",
                    "POST", "/cancel", cancel_show, argc, argv);
}

/*
 * cmd_run.c - `tpsd run`: benchmark now, in the foreground, without the
 * daemon. The flags become a job spec, stored like any job, run by the same
 * runner, with a progress line per request on a terminal and the results
 * table (or --json) at the end. Exit 1 when any request failed.
 */
#include "daemon/cli/cmd.h"

#include "daemon/capacity_report.h"
#include "daemon/jobspec.h"
#include "daemon/log.h"
#include "daemon/runner.h"
#include "daemon/suite.h"
#include "daemon/summary.h"
#include "storage/capdata.h"
#include "storage/db.h"
#include "storage/jobs.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int run_interrupted;

static void
on_signal(int sig)
{
    (void)sig;
    run_interrupted = 1;
}

struct run_ctx {
    struct db *db;
    int64_t job_id;
    int tty;
};

static void
run_event(void *arg, const char *type, json_t *d)
{
    struct run_ctx *c = arg;

    if (c->tty && strcmp(type, "sample") == 0) {
        double dec = json_number_value(json_object_get(d, "decode_tps"));
        fprintf(stderr, "[%lld/%lld] %s %s%s #%lld: ",
                (long long)json_integer_value(json_object_get(d, "done")),
                (long long)json_integer_value(json_object_get(d, "total")),
                json_string_value(json_object_get(d, "model")),
                json_string_value(json_object_get(d, "case")),
                json_is_true(json_object_get(d, "warmup")) ? " (warm-up)" : "",
                (long long)json_integer_value(json_object_get(d, "repetition")) + 1);
        if (json_is_true(json_object_get(d, "ok")))
            fprintf(stderr, "%lld tok, TTFT %.0f ms, decode %.2f tok/s, e2e %.2f tok/s%s\n",
                    (long long)json_integer_value(json_object_get(d, "completion_tokens")),
                    json_number_value(json_object_get(d, "ttft_ms")), dec,
                    json_number_value(json_object_get(d, "e2e_tps")),
                    json_is_false(json_object_get(d, "passed")) ? " (validation failed)" : "");
        else
            fprintf(stderr, "%s: %s\n", json_string_value(json_object_get(d, "error_code")),
                    json_string_value(json_object_get(d, "error_detail")));
    } else if (c->tty && strcmp(type, "model_loaded") == 0) {
        fprintf(stderr, "loaded %s in %lld ms\n",
                json_string_value(json_object_get(d, "model")),
                (long long)json_integer_value(json_object_get(d, "load_ms")));
    } else if (c->tty && strcmp(type, "capacity_step") == 0) {
        fprintf(stderr,
                "capacity step %lld at %g: %lld requests, goodput %.2f req/s, %.1f tok/s"
                " total, errors %.0f%%: %s\n",
                (long long)json_integer_value(json_object_get(d, "step")),
                json_number_value(json_object_get(d, "load")),
                (long long)json_integer_value(json_object_get(d, "n")),
                json_number_value(json_object_get(d, "goodput_rps")),
                json_number_value(json_object_get(d, "total_tps")),
                json_number_value(json_object_get(d, "error_rate")) * 100.0,
                json_is_true(json_object_get(d, "saturated")) ? "saturated"
                : json_is_true(json_object_get(d, "passed"))  ? "within the level"
                                                              : "outside the level");
    } else if (strcmp(type, "run_finished") == 0 && json_object_get(d, "error_code")) {
        fprintf(stderr, "tpsd: %s failed: %s: %s\n",
                json_string_value(json_object_get(d, "model")),
                json_string_value(json_object_get(d, "error_code")),
                json_string_value(json_object_get(d, "error_detail")));
    }
    events_append(c->db, c->job_id, type, d, NULL);
}

static int
run_should_stop(void *arg)
{
    (void)arg;
    return run_interrupted;
}

/* --suite FILE (a path, not a name): this is the user's own process, so
 * the file is read here, with the user's rights, and carried inline like
 * `tpsd submit` sends it. 0, or -1 (printed). */
static int
inline_suite_file(json_t *js)
{
    const char *s = json_string_value(json_object_get(js, "suite"));
    char err[SUITE_ERR_MAX + SUITE_PATH_MAX];
    json_t *suite;

    if (s == NULL || suite_is_builtin(s))
        return 0;
    if (strchr(s, '/') == NULL && access(s, F_OK) == -1)
        return 0; /* a name of suites_dir */
    if (suite_read_path(s, &suite, err, sizeof(err)) == -1) {
        fprintf(stderr, "tpsd run: --suite %s\n", err);
        return -1;
    }
    json_object_set_new(js, "suite", suite);
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: tpsd run --model KEY [--model KEY ...] [job spec flags] [--json]\n"
               "                [--base-url URL] [--db PATH] [--lms PATH]\n");
    cmd_spec_usage(f);
}

int
cmd_run(int argc, char **argv)
{
    struct config cfg;
    struct jobspec spec;
    struct runner_hooks hooks;
    struct run_ctx ctx;
    struct sigaction sa;
    char err[JOBSPEC_ERR_MAX], *text = NULL;
    struct runner_result rr;
    char why[SUITE_ERR_MAX + SUITE_PATH_MAX] = "";
    json_t *js = NULL, *server, *sum = NULL, *caps;
    int as_json = 0, help = 0, rc = EXIT_USAGE, existing, args, is_capacity;
    const struct cmd_flag own[] = {
        {"--json", NULL, &as_json},
        {"--help", NULL, &help},
        {"-h", NULL, &help},
        {NULL, NULL, NULL},
    };
    enum runner_outcome oc;
    struct db *db = NULL;

    memset(&spec, 0, sizeof(spec));
    memset(&ctx, 0, sizeof(ctx));
    args = cmd_spec_args("run", argc, argv, own, &help, usage, &cfg, &js);
    if (args != 0) {
        rc = args == 1 ? 0 : EXIT_USAGE;
        goto out;
    }
    if (json_object_get(js, "models") == NULL)
        json_object_set_new(js, "models", json_array());
    server = json_object_get(js, "server");
    if (server == NULL) {
        server = json_object();
        json_object_set_new(js, "server", server);
    }
    json_object_set_new(server, "base_url", json_string(cfg.base_url));
    if (inline_suite_file(js) == -1)
        goto out;
    if (jobspec_parse(js, &spec, err, sizeof(err)) == -1 ||
        jobspec_resolve_suite(&spec, cfg.suites_dir, err, sizeof(err), why, sizeof(why)) ==
            -1) {
        fprintf(stderr, "tpsd run: %s%s%s\n", err, why[0] ? ": " : "", why);
        goto out;
    }
    db = cmd_open_db(&cfg);
    if (db == NULL) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    json_decref(js);
    js = jobspec_to_json(&spec);
    text = json_dumps(js, JSON_COMPACT);
    if (text == NULL ||
        jobs_create(db, spec.name, spec.kind, text, spec.priority, NULL, NULL, &ctx.job_id,
                    &existing) == -1 ||
        jobs_set_state(db, ctx.job_id, "running", NULL, NULL) == -1) {
        fprintf(stderr, "tpsd run: cannot store the job: %s\n", db->err);
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    ctx.db = db;
    ctx.tty = isatty(STDERR_FILENO);
    is_capacity = strcmp(spec.kind, "capacity") == 0;
    /* A lock held by another process is waited for; a signal ends the wait. */
    db_set_retry(db, (int64_t)cfg.storage_retry_s * 1000, run_should_stop, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    hooks.arg = &ctx;
    hooks.abort = &run_interrupted;
    hooks.should_stop = run_should_stop;
    hooks.event = run_event;
    oc = runner_run(db, ctx.job_id, &spec, &cfg, &hooks, &rr);
    jobs_set_state(db, ctx.job_id,
                   oc == RUNNER_SUCCEEDED ? "succeeded"
                   : oc == RUNNER_STOPPED ? "cancelled"
                                          : "failed",
                   rr.code[0] ? rr.code : NULL, rr.code[0] ? rr.detail : NULL);
    if (summary_job(db, ctx.job_id, &sum) == 0) {
        if (as_json) {
            json_object_set_new(sum, "state",
                                json_string(oc == RUNNER_SUCCEEDED ? "succeeded"
                                            : oc == RUNNER_STOPPED ? "cancelled"
                                                                   : "failed"));
            json_object_set_new(sum, "spec", json_incref(js));
            if (is_capacity && capdata_job_json(db, ctx.job_id, &caps) == 0)
                json_object_set_new(sum, "capacity", caps);
            json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
            fputc('\n', stdout);
        } else {
            printf("job %lld", (long long)ctx.job_id);
            summary_print_text(sum, stdout);
            if (is_capacity) {
                fputc('\n', stdout);
                capacity_report_md(db, ctx.job_id, stdout);
            }
        }
    }
    if (rr.code[0] != '\0')
        fprintf(stderr, "tpsd run: %s: %s\n", rr.code, rr.detail);
    rc = oc == RUNNER_SUCCEEDED && rr.n_failed == 0 ? 0 : EXIT_WORK_FAILED;
out:
    json_decref(sum);
    json_decref(js);
    jobspec_free(&spec);
    db_close(db);
    free(text);
    return rc;
}

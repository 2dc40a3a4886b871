/*
 * cmd_run.c - `tpsd run`: benchmark now, in the foreground, without the
 * daemon. The flags become a job spec, stored like any job, run by the same
 * runner, with a progress line per request on a terminal and the results
 * table (or --json) at the end. Exit 1 when any request failed.
 */
#include "daemon/cmd.h"

#include "daemon/jobspec.h"
#include "daemon/log.h"
#include "daemon/runner.h"
#include "daemon/summary.h"
#include "storage/db.h"
#include "storage/jobs.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t run_interrupted;

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
        fprintf(stderr, "loaded %s in %lld ms\n", json_string_value(json_object_get(d, "model")),
                (long long)json_integer_value(json_object_get(d, "load_ms")));
    } else if (strcmp(type, "run_finished") == 0 && json_object_get(d, "error_code")) {
        fprintf(stderr, "tpsd: %s failed: %s: %s\n", json_string_value(json_object_get(d, "model")),
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

static void
usage(void)
{
    fprintf(stderr,
            "usage: tpsd run --model KEY [--model KEY ...] [--suite standard|FILE]\n"
            "                [--repetitions N] [--warmup N] [--concurrency N | --rps R --duration S]\n"
            "                [--backend lms|none|command] [--context-length N] [--api openai|lmstudio]\n"
            "                [--nonce] [--keep-loaded] [--name NAME] [--json]\n"
            "                [--base-url URL] [--db PATH] [--lms PATH]\n");
}

/* Numbers from flags become JSON numbers; a bad one is a usage error. */
static int
flag_number(const char *flag, const char *v, json_t **out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d)) {
        fprintf(stderr, "tpsd run: %s: not a number: \"%s\"\n", flag, v);
        return -1;
    }
    *out = d == floor(d) && fabs(d) < 1e15 ? json_integer((json_int_t)d) : json_real(d);
    return 0;
}

int
cmd_run(int argc, char **argv)
{
    struct config cfg;
    struct jobspec spec;
    struct runner_hooks hooks;
    struct run_ctx ctx;
    struct sigaction sa;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    char err[JOBSPEC_ERR_MAX], code[32], detail[2048], *text = NULL;
    json_t *js = json_object(), *models = json_array(), *backend = json_object(), *lp = NULL;
    json_t *server = json_object(), *v, *sum = NULL;
    int nrest, i, as_json = 0, rc = EXIT_USAGE, existing;
    int64_t nreq = 0, nfail = 0;
    enum runner_outcome oc;
    struct db *db = NULL;

    memset(&spec, 0, sizeof(spec));
    memset(&ctx, 0, sizeof(ctx));
    if (rest == NULL || cmd_config(&cfg, argc, argv, rest, &nrest) == -1)
        goto out;
    json_object_set(js, "models", models);
    for (i = 0; i < nrest; i++) {
        const char *a = rest[i];
        const char *val = i + 1 < nrest ? rest[i + 1] : NULL;
        int takes = 1;

        if (strcmp(a, "--json") == 0) {
            as_json = 1;
            takes = 0;
        } else if (strcmp(a, "--nonce") == 0) {
            json_object_set_new(js, "nonce", json_true());
            takes = 0;
        } else if (strcmp(a, "--keep-loaded") == 0) {
            json_object_set_new(backend, "keep_loaded", json_true());
            takes = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            rc = 0;
            goto out;
        } else if (val == NULL) {
            fprintf(stderr, "tpsd run: %s needs a value (or is unknown)\n", a);
            usage();
            goto out;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "-m") == 0) {
            json_array_append_new(models, json_string(val));
        } else if (strcmp(a, "--suite") == 0) {
            json_object_set_new(js, "suite", json_string(val));
        } else if (strcmp(a, "--name") == 0) {
            json_object_set_new(js, "name", json_string(val));
        } else if (strcmp(a, "--backend") == 0) {
            json_object_set_new(backend, "type", json_string(val));
        } else if (strcmp(a, "--api") == 0) {
            json_object_set_new(server, "api", json_string(val));
        } else if (strcmp(a, "--identifier") == 0) {
            json_object_set_new(backend, "identifier", json_string(val));
        } else if (strcmp(a, "--gpu") == 0) {
            json_object_set_new(backend, "gpu", json_string(val));
        } else {
            static const char *const numeric[][2] = {
                { "--repetitions", "repetitions" }, { "--warmup", "warmup" },
                { "--context-length", "context_length" }, { "--concurrency", "concurrency" },
                { "--rps", "rps" }, { "--duration", "duration_s" },
            };
            size_t k;
            for (k = 0; k < sizeof(numeric) / sizeof(numeric[0]); k++)
                if (strcmp(a, numeric[k][0]) == 0)
                    break;
            if (k == sizeof(numeric) / sizeof(numeric[0])) {
                fprintf(stderr, "tpsd run: unknown option %s\n", a);
                usage();
                goto out;
            }
            if (flag_number(a, val, &v) == -1)
                goto out;
            if (k == 2) {
                json_object_set_new(backend, "context_length", v);
            } else if (k >= 3) {
                if (lp == NULL)
                    lp = json_object();
                json_object_set_new(lp, numeric[k][1], v);
            } else {
                json_object_set_new(js, numeric[k][1], v);
            }
        }
        i += takes;
    }
    if (lp != NULL) {
        json_object_set_new(lp, "type", json_string(json_object_get(lp, "rps") ? "rate"
                                                                               : "concurrent"));
        json_object_set(js, "load_pattern", lp);
    }
    if (json_object_size(backend) > 0)
        json_object_set(js, "backend", backend);
    json_object_set_new(server, "base_url", json_string(cfg.base_url));
    json_object_set(js, "server", server);
    if (jobspec_parse(js, &spec, err, sizeof(err)) == -1) {
        fprintf(stderr, "tpsd run: %s\n", err);
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
    if (text == NULL || jobs_create(db, spec.name, spec.kind, text, spec.priority, NULL, NULL,
                                    &ctx.job_id, &existing) == -1 ||
        jobs_set_state(db, ctx.job_id, "running", NULL, NULL) == -1) {
        fprintf(stderr, "tpsd run: cannot store the job: %s\n", db->err);
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    ctx.db = db;
    ctx.tty = isatty(STDERR_FILENO);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    hooks.arg = &ctx;
    hooks.abort = &run_interrupted;
    hooks.should_stop = run_should_stop;
    hooks.event = run_event;
    oc = runner_run(db, ctx.job_id, &spec, &cfg, &hooks, code, detail, sizeof(detail), &nreq,
                    &nfail);
    jobs_set_state(db, ctx.job_id,
                   oc == RUNNER_SUCCEEDED ? "succeeded"
                   : oc == RUNNER_STOPPED ? "cancelled"
                                          : "failed",
                   code[0] ? code : NULL, code[0] ? detail : NULL);
    if (summary_job(db, ctx.job_id, &sum) == 0) {
        if (as_json) {
            json_object_set_new(sum, "state", json_string(oc == RUNNER_SUCCEEDED ? "succeeded"
                                                          : oc == RUNNER_STOPPED ? "cancelled"
                                                                                 : "failed"));
            json_object_set_new(sum, "spec", json_incref(js));
            json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
            fputc('\n', stdout);
        } else {
            printf("job %lld", (long long)ctx.job_id);
            summary_print_text(sum, stdout);
        }
    }
    if (code[0] != '\0')
        fprintf(stderr, "tpsd run: %s: %s\n", code, detail);
    rc = oc == RUNNER_SUCCEEDED && nfail == 0 ? 0 : EXIT_WORK_FAILED;
out:
    json_decref(sum);
    json_decref(js);
    json_decref(models);
    json_decref(backend);
    json_decref(lp);
    json_decref(server);
    jobspec_free(&spec);
    db_close(db);
    free(text);
    free(rest);
    return rc;
}

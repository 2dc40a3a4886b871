/*
 * report_env.c - see report_env.h. The machine is read back from the job's
 * first events (the runner emits "environment" right after its preflight);
 * the per-model facts are picked from the summary's runs, the server's own
 * word (runtime, loaded context) preferred over nothing, the job's asked
 * context preferred over the server's word.
 */
#include "daemon/report_env.h"

#include "storage/jobs.h"

#include <stdlib.h>
#include <string.h>

/* The data of the first "environment" event of the job; borrowed from evs. */
static json_t *
env_event(json_t *evs)
{
    json_t *e;
    size_t i;

    json_array_foreach(evs, i, e)
    {
        const char *type = json_string_value(json_object_get(e, "type"));
        if (type != NULL && strcmp(type, "environment") == 0 &&
            json_is_object(json_object_get(e, "data")))
            return json_object_get(e, "data");
    }
    return NULL;
}

/* v when it is set (not NULL, not null), else json_null(); new reference. */
static json_t *
or_null(json_t *v)
{
    return v != NULL && !json_is_null(v) ? json_incref(v) : json_null();
}

/* One model's facts from its run. New reference, NULL out of memory. */
static json_t *
env_model(const json_t *run)
{
    json_t *rt = json_object_get(run, "server_runtime");
    json_t *mi = json_object_get(run, "server_model_info");
    json_t *params = json_object_get(run, "params");
    json_t *ctx = json_object_get(run, "context_length");

    if (!json_is_integer(ctx))
        ctx = json_object_get(mi, "context_length");
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "cooldown", or_null(json_object_get(run, "cooldown")), "model",
                     or_null(json_object_get(run, "model")), "server",
                     or_null(json_object_get(run, "backend")), "server_version",
                     or_null(json_object_get(run, "backend_version")), "runtime",
                     or_null(json_object_get(rt, "name")), "runtime_version",
                     or_null(json_object_get(rt, "version")), "format",
                     or_null(json_object_get(run, "model_format")), "quant",
                     or_null(json_object_get(run, "model_quant")), "size_bytes",
                     or_null(json_object_get(run, "model_size_bytes")), "context_length",
                     or_null(ctx), "api", or_null(json_object_get(params, "api")), "sampling",
                     or_null(json_object_get(params, "sampling")), "suite",
                     or_null(json_object_get(run, "suite")));
}

int
report_env_json(struct db *db, int64_t job_id, const json_t *runs, json_t **out)
{
    json_t *evs = NULL, *models = json_array(), *m, *run;
    size_t i;
    int rc = -1;

    *out = NULL;
    if (models == NULL)
        goto out;
    if (events_since(db, job_id, 0, REPORT_ENV_EVENTS_MAX, &evs) == -1)
        goto out;
    json_array_foreach(runs, i, run)
    {
        m = env_model(run);
        if (m == NULL || json_array_append_new(models, m) == -1)
            goto out;
    }
    *out = json_pack("{s:o, s:O}", "machine", or_null(env_event(evs)), "models", models);
    rc = *out != NULL ? 0 : -1;
    if (rc == -1)
        snprintf(db->err, sizeof(db->err), "out of memory");
out:
    json_decref(evs);
    json_decref(models);
    return rc;
}

void
report_md_cell(FILE *f, const char *s)
{
    if (s == NULL || *s == '\0') {
        fputs("-", f);
        return;
    }
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static const char *
str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One stretch of a Markdown line: literal text, then the cell of the
 * object's string field key (none when key is NULL). A list of them ends
 * with text NULL. */
struct md_piece {
    const char *text, *key;
};

static const struct md_piece md_machine[] = {
    {"**Machine:** ", "machine"}, {", ", "chip"}, {NULL, NULL}};
static const struct md_piece md_os[] = {
    {"  \n**OS:** ", "os"}, {" (", "kernel"}, {", ", "arch"}, {")  \n", NULL}, {NULL, NULL}};
static const struct md_piece md_server[] = {
    {"**Server:** ", "server"},   {" ", "server_version"},      {", API ", "api"},
    {"  \n**Suite:** ", "suite"}, {"  \n**Sampling:** ", NULL}, {NULL, NULL}};
static const struct md_piece md_model[] = {
    {"| ", "model"}, {" | ", "format"}, {" | ", "quant"}, {" | ", NULL}, {NULL, NULL}};

/* The pieces in order, their cells from o. */
static void
md_pieces(FILE *f, const json_t *o, const struct md_piece *p)
{
    for (; p->text != NULL; p++) {
        fputs(p->text, f);
        if (p->key != NULL)
            report_md_cell(f, str(o, p->key));
    }
}

/* "temperature 0.7, top_p 0.9", or what stands when the job set none. */
static void
env_sampling(FILE *f, const json_t *sampling)
{
    const char *k;
    json_t *v;
    int first = 1;

    if (!json_is_object(sampling) || json_object_size(sampling) == 0) {
        fputs("the suite's, else the server's defaults", f);
        return;
    }
    json_object_foreach((json_t *)sampling, k, v)
    {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fputs(first ? "" : ", ", f);
        report_md_cell(f, k);
        fputc(' ', f);
        report_md_cell(f, s);
        free(s);
        first = 0;
    }
}

static void
env_machine(FILE *f, const json_t *mach)
{
    double mem = json_number_value(json_object_get(mach, "mem_total_bytes"));

    md_pieces(f, mach, md_machine);
    if (mem > 0)
        fprintf(f, ", %.0f GB memory", mem / (1024.0 * 1024.0 * 1024.0));
    md_pieces(f, mach, md_os);
}

/* A thermal state for the report ("unknown" when the OS did not tell). */
static const char *
thermal_or_unknown(const json_t *o, const char *k)
{
    const char *v = str(o, k);

    return v != NULL ? v : "unknown";
}

/* One model's line of the cool-down list: the pause before it, the gate
 * (what it waited, the state at the start and the end, timed out), the
 * pauses between its cases, a wait cut short. */
static void
env_cooldown_line(FILE *f, const json_t *m, const json_t *cd)
{
    double gate_max = json_number_value(json_object_get(cd, "gate_max_ms"));
    json_int_t ncase = json_integer_value(json_object_get(cd, "case_pauses"));

    double pause = json_number_value(json_object_get(cd, "pause_ms"));

    fputs("- ", f);
    report_md_cell(f, str(m, "model"));
    fputs(": ", f);
    if (pause > 0)
        fprintf(f, "paused %.1f s; ", pause / 1000.0);
    if (gate_max > 0)
        fprintf(f, "thermal gate %s %.1f s (%s to %s%s)",
                json_is_true(json_object_get(cd, "gate_timed_out")) ? "timed out after"
                                                                    : "waited",
                json_number_value(json_object_get(cd, "gate_wait_ms")) / 1000.0,
                thermal_or_unknown(cd, "thermal_start"), thermal_or_unknown(cd, "thermal_end"),
                json_is_true(json_object_get(cd, "gate_timed_out")) ? ", measured anyway" : "");
    else
        fprintf(f, "thermal %s to %s", thermal_or_unknown(cd, "thermal_start"),
                thermal_or_unknown(cd, "thermal_end"));
    if (ncase > 0)
        fprintf(f, "; %lld pause%s between cases, %.1f s in all", (long long)ncase,
                ncase == 1 ? "" : "s",
                json_number_value(json_object_get(cd, "case_pause_ms")) / 1000.0);
    if (json_is_true(json_object_get(cd, "interrupted")))
        fputs("; cut short by a cancel or a shutdown", f);
    fputs("\n", f);
}

/* "Cool-down": a line per model that waited (nothing when none did). */
static void
env_cooldown(FILE *f, const json_t *env)
{
    json_t *m, *cd;
    size_t i;
    int head = 0;

    json_array_foreach(json_object_get(env, "models"), i, m)
    {
        cd = json_object_get(m, "cooldown");
        if (!json_is_object(cd))
            continue;
        if (!head)
            fputs("**Cool-down** (before each model's load, and between its cases):\n\n", f);
        head = 1;
        env_cooldown_line(f, m, cd);
    }
    if (head)
        fputs("\n", f);
}

void
report_env_md(FILE *f, const json_t *env)
{
    json_t *mach = json_object_get(env, "machine"), *m, *first;
    size_t i;

    fputs("## Test environment\n\n", f);
    if (json_is_object(mach))
        env_machine(f, mach);
    else
        fputs("**Machine:** not recorded (a job from before tpsd recorded it)  \n", f);
    first = json_array_get(json_object_get(env, "models"), 0);
    if (first != NULL) {
        md_pieces(f, first, md_server);
        env_sampling(f, json_object_get(first, "sampling"));
        fputs("\n\n| Model | Format | Quant | Size | Loaded context | Runtime |\n"
              "|-------|--------|-------|-----:|---------------:|---------|\n",
              f);
    }
    json_array_foreach(json_object_get(env, "models"), i, m)
    {
        double size = json_number_value(json_object_get(m, "size_bytes"));
        json_t *ctx = json_object_get(m, "context_length");

        md_pieces(f, m, md_model);
        if (size > 0)
            fprintf(f, "%.1f GB", size / 1e9);
        else
            fputs("-", f);
        if (json_is_integer(ctx))
            fprintf(f, " | %lld | ", (long long)json_integer_value(ctx));
        else
            fputs(" | server default | ", f);
        report_md_cell(f, str(m, "runtime"));
        if (str(m, "runtime_version") != NULL) {
            fputc(' ', f);
            report_md_cell(f, str(m, "runtime_version"));
        }
        fputs(" |\n", f);
    }
    fputs("\n", f);
    env_cooldown(f, env);
}

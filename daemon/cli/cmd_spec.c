/*
 * cmd_spec.c - the job-spec flags shared by `tpsd run` and `tpsd submit`
 * (--model, --suite, --repetitions ...): one table, turned into a job spec
 * object that jobspec_parse() then validates like any POSTed spec.
 */
#include "daemon/cli/cmd.h"
#include "daemon/backend_names.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum spec_where { AT_TOP, AT_BACKEND, AT_SERVER, AT_LOAD, AT_COOLDOWN, AT_LEVEL, AT_N };
enum spec_type { V_STRING, V_NUMBER, V_TRUE, V_APPEND, V_STABILITY, V_KIND, V_NUMBERS };

struct spec_flag {
    const char *flag;
    const char *alias; /* or NULL */
    const char *key;   /* the spec field it sets */
    enum spec_where where;
    enum spec_type type;
};

static const struct spec_flag spec_flags[] = {
    {"--model", "-m", "models", AT_TOP, V_APPEND},
    {"--suite", NULL, "suite", AT_TOP, V_STRING},
    {"--name", NULL, "name", AT_TOP, V_STRING},
    {"--repetitions", NULL, "repetitions", AT_TOP, V_NUMBER},
    {"--warmup", NULL, "warmup", AT_TOP, V_NUMBER},
    {"--nonce", NULL, "nonce", AT_TOP, V_TRUE},
    {"--backend", NULL, "type", AT_BACKEND, V_STRING},
    {"--context-length", NULL, "context_length", AT_BACKEND, V_NUMBER},
    {"--identifier", NULL, "identifier", AT_BACKEND, V_STRING},
    {"--gpu", NULL, "gpu", AT_BACKEND, V_STRING},
    {"--keep-loaded", NULL, "keep_loaded", AT_BACKEND, V_TRUE},
    {"--api", NULL, "api", AT_SERVER, V_STRING},
    {"--concurrency", NULL, "concurrency", AT_LOAD, V_NUMBER},
    {"--rps", NULL, "rps", AT_LOAD, V_NUMBER},
    {"--duration", NULL, "duration_s", AT_LOAD, V_NUMBER},
    {"--stability", NULL, "duration_s", AT_TOP, V_STABILITY}, /* kind stability, for S */
    {"--interval", NULL, "interval_s", AT_TOP, V_NUMBER},
    {"--pause-models", NULL, "pause_between_models_ms", AT_COOLDOWN, V_NUMBER},
    {"--pause-cases", NULL, "pause_between_cases_ms", AT_COOLDOWN, V_NUMBER},
    {"--thermal-gate", NULL, "thermal_gate_max_wait_ms", AT_COOLDOWN, V_NUMBER},
    {"--find-capacity", NULL, "capacity", AT_TOP, V_KIND}, /* kind capacity */
    {"--ttft-p95-ms", NULL, "ttft_p95_ms", AT_LEVEL, V_NUMBER},
    {"--decode-tps-p5", NULL, "decode_tps_p5", AT_LEVEL, V_NUMBER},
    {"--error-rate", NULL, "error_rate", AT_LEVEL, V_NUMBER},
    {"--depth", NULL, "depths", AT_TOP, V_NUMBERS}, /* 0,4096,...: a depth sweep */
    {"--depth-warm", NULL, "depth_warm", AT_TOP, V_TRUE},
};
/* The spec's objects the flags of each spec_where fill (AT_TOP: the spec,
 * AT_LOAD: load_pattern, given its type below). */
static const char *const spec_parts[AT_N] = {NULL, "backend",  "server",
                                             NULL, "cooldown", "service_level"};
#define NSPEC_FLAGS (sizeof(spec_flags) / sizeof(spec_flags[0]))

void
cmd_spec_usage(FILE *f)
{
    fprintf(f,
            "  job spec flags: --model KEY [--model KEY ...] [--suite standard|FILE]\n"
            "                  [--repetitions N] [--warmup N] [--concurrency N | --rps R "
            "--duration S]\n"
            "                  [--backend %s] [--context-length N] [--gpu G]\n"
            "                  [--identifier ID] [--api openai|lmstudio] [--nonce] "
            "[--keep-loaded]\n"
            "                  [--name NAME]\n"
            "                  [--stability S [--interval S]]  a stability job: the suite"
            " in cycles for S seconds\n"
            "                  [--pause-models MS] [--pause-cases MS] [--thermal-gate MS]"
            "  cool-down\n"
            "                  [--find-capacity [--ttft-p95-ms MS] [--decode-tps-p5 TPS]\n"
            "                   [--error-rate R]]  a capacity job: the highest concurrency\n"
            "                   (with --rps R: request rate from R) within that level\n"
            "                  [--depth N,N,... [--depth-warm]]  each case at each depth "
            "(tokens of context;\n"
            "                  suite depth unless --suite says)\n",
            BACKEND_TYPES_BAR);
}

/* Numbers from flags become JSON numbers; a bad one is a usage error. */
static int
flag_number(const char *verb, const char *flag, const char *v, json_t **out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (errno != 0 || end == v || *end != '\0' || !isfinite(d)) {
        fprintf(stderr, "tpsd %s: %s: not a number: \"%s\"\n", verb, flag, v);
        return -1;
    }
    *out = d == floor(d) && fabs(d) < 1e15 ? json_integer((json_int_t)d) : json_real(d);
    return 0;
}

/* "0,4096,16384": a JSON array of numbers; a bad element is a usage error. */
static int
flag_numbers(const char *verb, const char *flag, const char *v, json_t **out)
{
    char buf[32];
    const char *p = v, *comma;
    json_t *arr = json_array(), *n;
    size_t len;

    do {
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), p);
        if (len >= sizeof(buf) || flag_number(verb, flag, buf, &n) == -1) {
            json_decref(arr);
            return -1;
        }
        json_array_append_new(arr, n);
        p = comma ? comma + 1 : NULL;
    } while (p != NULL);
    *out = arr;
    return 0;
}

static const struct spec_flag *
spec_flag_find(const char *a)
{
    size_t k;

    for (k = 0; k < NSPEC_FLAGS; k++) {
        if (strcmp(a, spec_flags[k].flag) == 0 ||
            (spec_flags[k].alias != NULL && strcmp(a, spec_flags[k].alias) == 0))
            return &spec_flags[k];
    }
    return NULL;
}

static const struct cmd_flag *
own_flag_find(const struct cmd_flag *own, const char *a)
{
    for (; own != NULL && own->name != NULL; own++) {
        if (strcmp(a, own->name) == 0)
            return own;
    }
    return NULL;
}

int
cmd_spec_flags(const char *verb, int argc, char **argv, const struct cmd_flag *own,
               json_t **spec_out)
{
    json_t *js = json_object(), *parts[AT_N], *v = NULL;
    int i, rc = -1;
    size_t k;

    *spec_out = NULL;
    for (k = 0; k < AT_N; k++)
        parts[k] = k == AT_TOP ? json_incref(js) : json_object();
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        const struct cmd_flag *of = own_flag_find(own, a);
        const struct spec_flag *sf = of == NULL ? spec_flag_find(a) : NULL;
        json_t *obj;

        if (of != NULL) {
            if (of->value != NULL) {
                if (val == NULL) {
                    fprintf(stderr, "tpsd %s: %s needs a value\n", verb, a);
                    goto out;
                }
                *of->value = val;
                i++;
            }
            if (of->set != NULL)
                *of->set = 1;
            continue;
        }
        if (sf == NULL) {
            fprintf(stderr, "tpsd %s: unknown option %s\n", verb, a);
            goto out;
        }
        obj = parts[sf->where];
        if (sf->type == V_TRUE || sf->type == V_KIND) {
            json_object_set_new(obj, sf->type == V_KIND ? "kind" : sf->key,
                                sf->type == V_KIND ? json_string(sf->key) : json_true());
            continue;
        }
        if (val == NULL) {
            fprintf(stderr, "tpsd %s: %s needs a value\n", verb, a);
            goto out;
        }
        i++;
        if (sf->type == V_NUMBERS) {
            if (flag_numbers(verb, a, val, &v) == -1)
                goto out;
            json_object_set_new(obj, sf->key, v);
        } else if (sf->type == V_NUMBER || sf->type == V_STABILITY) {
            if (flag_number(verb, a, val, &v) == -1)
                goto out;
            json_object_set_new(obj, sf->key, v);
            if (sf->type == V_STABILITY)
                json_object_set_new(obj, "kind", json_string("stability"));
        } else if (sf->type == V_APPEND) {
            json_t *arr = json_object_get(obj, sf->key);

            if (arr == NULL) {
                arr = json_array();
                json_object_set_new(obj, sf->key, arr);
            }
            json_array_append_new(arr, json_string(val));
        } else {
            json_object_set_new(obj, sf->key, json_string(val));
        }
    }
    if (json_object_get(js, "depths") != NULL && json_object_get(js, "suite") == NULL)
        json_object_set_new(js, "suite", json_string("depth"));
    if (json_object_size(parts[AT_LOAD]) > 0) {
        json_object_set_new(
            parts[AT_LOAD], "type",
            json_string(json_object_get(parts[AT_LOAD], "rps") ? "rate" : "concurrent"));
        json_object_set(js, "load_pattern", parts[AT_LOAD]);
    }
    for (k = 0; k < AT_N; k++)
        if (spec_parts[k] != NULL && json_object_size(parts[k]) > 0)
            json_object_set(js, spec_parts[k], parts[k]);
    *spec_out = js;
    js = NULL;
    rc = 0;
out:
    for (k = 0; k < AT_N; k++)
        json_decref(parts[k]);
    json_decref(js);
    return rc;
}

int
cmd_spec_args(const char *verb, int argc, char **argv, const struct cmd_flag *own,
              const int *help, void (*usage)(FILE *), struct config *cfg, json_t **spec_out)
{
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int nrest, rc = -1;

    if (rest == NULL || cmd_config(cfg, argc, argv, rest, &nrest) == -1)
        goto out;
    if (cmd_spec_flags(verb, nrest, rest, own, spec_out) == -1) {
        usage(stderr);
        goto out;
    }
    rc = 0;
    if (*help) {
        usage(stdout);
        rc = 1;
    }
out:
    free(rest);
    return rc;
}

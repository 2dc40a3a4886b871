/* test_backend.c - daemon/backend: the lms backend against tests/fake-lms
 * driving tpsd-sim, tiny stand-in lms scripts for the faults the fake does
 * not do, and the none/command backends. */
#ifdef __linux__
#define _GNU_SOURCE
#include <sys/prctl.h>
#endif
#include "daemon/backend.h"
#include "daemon/curl_dl.h"

#include "common/clock.h"
#include "daemon/lms_parse.h"
#include "tests/check.h"
#include "tests/testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T_BUF_MAX 4096

/* Model keys: one from the seed reports, one plain, one hostile. */
#define KEY_A "unsloth/MiniMax-M2.1-GGUF@Q4_K_S"
#define KEY_B "qwen/qwen3-coder-next"
#define KEY_EVIL "evil key \"dq\" 'sq'; touch PWNED; $(touch PWNED2) `touch PWNED3`"

struct t_env {
    struct tu_sim sim;
    char port[16]; /* the sim's port, as tpsd passes it to lms --port */
    char dir[TU_PATH_MAX / 2];
    char cfg_path[TU_PATH_MAX];
    char log_path[TU_PATH_MAX];
    char env_var[TU_PATH_MAX + 32];
    const char *env[2];
    struct backend_cfg cfg;
};

static void
t_setup(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
#ifdef __linux__
    /* Orphans of killed groups come back to us to be reaped (containers'
     * pid 1 may not reap). */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
}

static const char *
t_fake(void)
{
    const char *p = tu_src("tests/fake-lms");

    if (access(p, X_OK) != 0)
        check_failed(__FILE__, __LINE__, "tests/fake-lms missing or not executable: %s", p);
    return p;
}

/* The default models: A, B and EVIL (sizes in GB as given). */
static json_t *
t_default_models(void)
{
    return json_pack("[{s:s,s:f,s:s,s:s,s:i},{s:s,s:f,s:s,s:s,s:i},{s:s,s:f,s:i}]", "key",
                     KEY_A, "size_bytes", 4e9, "format", "gguf", "quant", "Q4_K_S", "load_ms",
                     0, "key", KEY_B, "size_bytes", 8e9, "format", "mlx", "quant", "8bit",
                     "load_ms", 0, "key", KEY_EVIL, "size_bytes", 1e9, "load_ms", 0);
}

/* Write the fake lms's config: the sim, the argv log, the load delay and
 * extra JSON fields (e.g. "\"hang\":[\"load\"]"; a later "sim" wins). */
static void
t_fake_cfg(const struct t_env *t, const char *fake_extra, long load_ms)
{
    char fake_cfg[T_BUF_MAX];

    if (snprintf(fake_cfg, sizeof(fake_cfg),
                 "{\"sim\":\"%s\",\"log\":\"%s\",\"load_delay_ms\":%ld%s%s}", t->sim.base_url,
                 t->log_path, load_ms, fake_extra ? "," : "",
                 fake_extra ? fake_extra : "") >= (int)sizeof(fake_cfg))
        check_failed(__FILE__, __LINE__, "fake lms config too long");
    CHECK_INT(tu_write_file(t->cfg_path, fake_cfg), ==, 0);
}

/* A sim with `models` (a JSON array, stolen; NULL: the default models),
 * just-in-time loading on (LM Studio's default, docs "Run LM Studio as a
 * service (headless)"), and the fake lms's config. */
static void
t_start_models(struct t_env *t, json_t *models, const char *fake_extra, long load_ms)
{
    json_t *cfg;
    char *s;

    t_setup();
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s", tu_tmpdir());
    cfg = json_pack("{s:b,s:o}", "jit", 1, "models", models ? models : t_default_models());
    CHECK(cfg != NULL);
    s = json_dumps(cfg, JSON_COMPACT);
    CHECK(s != NULL);
    json_decref(cfg);
    CHECK_INT(tu_sim_start(s, &t->sim), ==, 0);
    free(s);
    snprintf(t->port, sizeof(t->port), "%s", strrchr(t->sim.base_url, ':') + 1);

    snprintf(t->cfg_path, sizeof(t->cfg_path), "%s/fake-lms.json", t->dir);
    snprintf(t->log_path, sizeof(t->log_path), "%s/argv.log", t->dir);
    t_fake_cfg(t, fake_extra, load_ms);
    snprintf(t->env_var, sizeof(t->env_var), "FAKE_LMS_CONFIG=%s", t->cfg_path);
    t->env[0] = t->env_var;
    t->env[1] = NULL;

    snprintf(t->cfg.lms.path, sizeof(t->cfg.lms.path), "%s", t_fake());
    snprintf(t->cfg.base_url, sizeof(t->cfg.base_url), "%s", t->sim.base_url);
    t->cfg.load_timeout_ms = 20000;
    t->cfg.memory_headroom_pct = 10;
    t->cfg.mem_total_bytes = 64000000000ULL;
    t->cfg.mem_available_bytes = 32000000000ULL;
    t->cfg.env = t->env;
}

static void
t_start(struct t_env *t, const char *fake_extra, long load_ms)
{
    t_start_models(t, NULL, fake_extra, load_ms);
}

/* The fake's argv log as an array of arrays, each without the program path. */
static json_t *
t_argv_log(const struct t_env *t)
{
    json_t *all = json_array(), *line, *first;
    char *text = NULL, *p, *nl;
    json_error_t jerr;

    if (tu_read_file(t->log_path, &text, NULL) == -1)
        return all; /* nothing run yet */
    for (p = text; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            nl = p + strlen(p) - 1;
        if (nl == p)
            continue;
        line = json_loadb(p, (size_t)(nl - p + 1), 0, &jerr);
        CHECK(json_is_array(line));
        first = json_array_get(line, 0);
        if (json_is_string(first) && strstr(json_string_value(first), "fake-lms") != NULL)
            json_array_remove(line, 0);
        json_array_append_new(all, line);
        if (nl[1] == '\0' || nl[0] == '\0')
            break;
    }
    free(text);
    return all;
}

/* 1 when some logged argv starts with `verb` (e.g. "unload"). */
static int
t_log_has(const json_t *log, const char *verb)
{
    size_t i;
    json_t *line;

    json_array_foreach(log, i, line)
    {
        if (json_is_string(json_array_get(line, 0)) &&
            strcmp(json_string_value(json_array_get(line, 0)), verb) == 0)
            return 1;
    }
    return 0;
}

/* 1 when some logged argv is a real load (not --estimate-only). */
static int
t_log_has_real_load(const json_t *log)
{
    size_t i, j;
    json_t *line, *a;

    json_array_foreach(log, i, line)
    {
        int est = 0;

        if (strcmp(json_string_value(json_array_get(line, 0)), "load") != 0)
            continue;
        json_array_foreach(line, j, a)
        {
            if (strcmp(json_string_value(a), "--estimate-only") == 0)
                est = 1;
        }
        if (!est)
            return 1;
    }
    return 0;
}

/* The logged argv of the n-th (0-based) command starting with verb. */
static json_t *
t_log_nth(const json_t *log, const char *verb, int n)
{
    size_t i;
    json_t *line;

    json_array_foreach(log, i, line)
    {
        if (json_is_string(json_array_get(line, 0)) &&
            strcmp(json_string_value(json_array_get(line, 0)), verb) == 0 && n-- == 0)
            return line;
    }
    return NULL;
}

/* The identifiers the sim has loaded (its /sim/state: the truth, whatever
 * a JIT /v1/models lists), comma-joined, into buf. */
static const char *
t_served(const struct t_env *t, char *buf, size_t len)
{
    json_t *resp = NULL, *v;
    size_t i;

    buf[0] = '\0';
    CHECK_INT(tu_sim_call(&t->sim, "GET", "/sim/state", NULL, &resp), ==, 200);
    json_array_foreach(json_object_get(resp, "models"), i, v)
    {
        size_t l = strlen(buf);

        if (json_is_true(json_object_get(v, "loaded")))
            snprintf(buf + l, len - l, "%s%s", l ? "," : "",
                     json_string_value(json_object_get(v, "identifier")));
    }
    json_decref(resp);
    return buf;
}

/* The element after `a` in the logged argv `line`, or "". */
static const char *
t_line_after(const json_t *line, const char *a)
{
    size_t i;
    json_t *v;

    json_array_foreach(line, i, v)
    {
        if (strcmp(json_string_value(v), a) == 0 && i + 1 < json_array_size(line))
            return json_string_value(json_array_get(line, i + 1));
    }
    return "";
}

static int
t_has_reason(const struct backend_preflight *pf, enum backend_code code, const char *needle)
{
    int i;

    for (i = 0; i < pf->nreasons; i++) {
        if (pf->reasons[i].code == code &&
            (needle == NULL || strstr(pf->reasons[i].detail, needle) != NULL))
            return 1;
    }
    return 0;
}

/* A stand-in lms: a /bin/sh script in dir (the script is the child; tpsd
 * runs it by path with argv, no shell of its own). */
static void
t_script(char *path, size_t len, const char *dir, const char *body)
{
    char text[T_BUF_MAX];

    snprintf(path, len, "%s/lms", dir);
    snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
    CHECK_INT(tu_write_file(path, text), ==, 0);
    CHECK_INT(chmod(path, 0755), ==, 0);
}

/* err holds code and a detail that mentions `needle`. */
static void
t_check_err(const struct backend_err *err, const char *code, const char *needle)
{
    CHECK_STR(backend_code_name(err->code), code);
    if (strstr(err->detail, needle) == NULL)
        check_failed(__FILE__, __LINE__, "detail \"%s\" lacks \"%s\"", err->detail, needle);
}

/* The lms backend on t's configuration (as it stands now). */
static struct backend *
t_lms(const struct t_env *t)
{
    struct backend_err err;
    struct backend *b = backend_new("lms", &t->cfg, &err);

    CHECK(b != NULL);
    return b;
}

/* An lms backend whose lms is the script `body` (written as dir/lms): *cfg
 * becomes a copy of base (all zero when NULL) with that lms and, unless
 * NULL, base_url. */
static struct backend *
t_lms_script(struct backend_cfg *cfg, const struct backend_cfg *base, const char *dir,
             const char *body, const char *base_url)
{
    char lms[TU_PATH_MAX];
    struct backend_err err;
    struct backend *b;

    t_script(lms, sizeof(lms), dir, body);
    if (base == NULL)
        memset(cfg, 0, sizeof(*cfg));
    else if (base != cfg)
        *cfg = *base;
    snprintf(cfg->lms.path, sizeof(cfg->lms.path), "%s", lms);
    if (base_url != NULL)
        snprintf(cfg->base_url, sizeof(cfg->base_url), "%s", base_url);
    b = backend_new("lms", cfg, &err);
    CHECK(b != NULL);
    return b;
}

static void
t_stop(struct t_env *t)
{
    tu_sim_stop(&t->sim);
}

/* ---- lms backend with the fake ---- */

/* Rewrite the fake's config with another load delay (read on every call). */
static void
t_set_delay(const struct t_env *t, long delay_ms)
{
    t_fake_cfg(t, NULL, delay_ms);
}

TEST(lms_two_model_sequence)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    const char *keys[] = {KEY_A, KEY_B};
    const long delay = 4000;
    int64_t base = 0;
    char served[T_BUF_MAX];
    json_t *log, *line;
    int i, round;

    t_start(&t, NULL, 0);
    t.cfg.context_length = 131072;
    snprintf(t.cfg.lms.gpu, sizeof(t.cfg.lms.gpu), "max");
    b = t_lms(&t);
    /* Round 0 without delay measures the fake's own cost (python start-up,
     * its HTTP calls: ~250 ms, noisy on a busy machine; the faster of two
     * loads); round 1 adds the delay: the measured load time holds the
     * whole delay and grows by it, within 10%. */
    for (round = 0; round < 2; round++) {
        t_set_delay(&t, round == 0 ? 0 : delay);
        for (i = 0; i < 2; i++) {
            CHECK_INT(backend_load(b, keys[i], &ld, &err), ==, 0);
            CHECK_STR(ld.served_id, keys[i]);
            CHECK_INT(ld.load_ready_ms, >=, ld.load_ms); /* + the lms ps check */
            CHECK_STR(t_served(&t, served, sizeof(served)), keys[i]);
            if (round == 0 && (base == 0 || ld.load_ms < base))
                base = ld.load_ms;
            if (round == 1) {
                CHECK_INT(ld.load_ms, >=, delay);
                CHECK_NEAR(ld.load_ms - base, delay, delay * 0.10);
            }
        }
    }
    log = t_argv_log(&t);
    for (i = 0; i < 4; i++) {
        line = t_log_nth(log, "unload", i);
        CHECK(line != NULL);
        CHECK_STR(json_string_value(json_array_get(line, 1)), "--all");
        CHECK_STR(t_line_after(line, "--port"), t.port);
        line = t_log_nth(log, "load", i);
        CHECK(line != NULL);
        CHECK_INT(json_array_size(line), ==, 9);
        CHECK_STR(json_string_value(json_array_get(line, 1)), keys[i % 2]);
        CHECK_STR(json_string_value(json_array_get(line, 2)), "-y");
        CHECK_STR(json_string_value(json_array_get(line, 3)), "--context-length");
        CHECK_STR(json_string_value(json_array_get(line, 4)), "131072");
        CHECK_STR(json_string_value(json_array_get(line, 5)), "--gpu");
        CHECK_STR(json_string_value(json_array_get(line, 6)), "max");
        CHECK_STR(json_string_value(json_array_get(line, 7)), "--port");
        CHECK_STR(json_string_value(json_array_get(line, 8)), t.port);
    }
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_identifier_ttl)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_loaded loaded;
    char served[T_BUF_MAX];
    json_t *log, *line;

    t_start(&t, NULL, 0);
    snprintf(t.cfg.identifier, sizeof(t.cfg.identifier), "bench-model");
    t.cfg.lms.ttl_s = 3600;
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, "bench-model");
    CHECK_STR(t_served(&t, served, sizeof(served)), "bench-model");
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 0);
    CHECK(line != NULL);
    CHECK_INT(json_array_size(line), ==, 9);
    CHECK_STR(json_string_value(json_array_get(line, 3)), "--identifier");
    CHECK_STR(json_string_value(json_array_get(line, 4)), "bench-model");
    CHECK_STR(json_string_value(json_array_get(line, 5)), "--ttl");
    CHECK_STR(json_string_value(json_array_get(line, 6)), "3600");
    json_decref(log);
    CHECK_INT(backend_list_loaded(b, &loaded, &err), ==, 0);
    CHECK_INT(loaded.n, ==, 1);
    CHECK_STR(loaded.m[0].identifier, "bench-model");
    CHECK_INT(backend_unload(b, NULL, &err), ==, 0);
    CHECK_STR(t_served(&t, served, sizeof(served)), "");
    backend_free(b);
    t_stop(&t);
}

TEST(lms_key_metachars_one_argument)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    char served[T_BUF_MAX], probe[TU_PATH_MAX];
    json_t *log, *line;
    struct stat st;
    int i;

    t_start(&t, NULL, 0);
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_EVIL, &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, KEY_EVIL);
    CHECK_STR(t_served(&t, served, sizeof(served)), KEY_EVIL);
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 0);
    CHECK(line != NULL);
    CHECK_INT(json_array_size(line), ==, 5); /* load KEY -y --port P */
    CHECK_STR(json_string_value(json_array_get(line, 1)), KEY_EVIL);
    json_decref(log);
    for (i = 0; i < 3; i++) {
        const char *names[] = {"PWNED", "PWNED2", "PWNED3"};

        snprintf(probe, sizeof(probe), "%s/%s", t.dir, names[i]);
        CHECK_INT(stat(probe, &st), ==, -1);
        CHECK_INT(stat(names[i], &st), ==, -1);
    }
    backend_free(b);
    t_stop(&t);
}

TEST(lms_hang_load_timeout)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    int64_t t0;

    t_start(&t, "\"hang\":[\"load\"]", 0);
    t.cfg.load_timeout_ms = 1000;
    b = t_lms(&t);
    t0 = clock_mono_ns();
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "load_timeout", "stopped after 1000 ms");
    CHECK((clock_mono_ns() - t0) / 1000000 >= 1000);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_hang_group_killed)
{
    char body[T_BUF_MAX], pidf[TU_PATH_MAX], gpidf[TU_PATH_MAX];
    const char *dir;
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    char *text = NULL;
    long pid, gpid;

    t_setup();
    dir = tu_tmpdir();
    snprintf(pidf, sizeof(pidf), "%s/pid", dir);
    snprintf(gpidf, sizeof(gpidf), "%s/gpid", dir);
    /* ls, ps and unload work; load hangs in a grandchild that ignores
     * SIGINT and SIGTERM. */
    snprintf(body, sizeof(body),
             "case \"$1\" in unload) exit 0;; ps) echo '[]'; exit 0;;\n"
             "ls) echo '[{\"modelKey\": \"%s\"}]'; exit 0;; esac\n"
             "echo $$ > '%s'\n"
             "(trap '' TERM INT; exec sleep 1000) & echo $! > '%s'\n"
             "echo 'loading...' >&2\nwait\n",
             KEY_A, pidf, gpidf);
    memset(&cfg, 0, sizeof(cfg));
    cfg.load_timeout_ms = 500;
    b = t_lms_script(&cfg, &cfg, dir, body, "http://127.0.0.1:9");
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "load_timeout", "loading...");
    CHECK_INT(tu_read_file(pidf, &text, NULL), ==, 0);
    pid = strtol(text, NULL, 10);
    free(text);
    CHECK_INT(tu_read_file(gpidf, &text, NULL), ==, 0);
    gpid = strtol(text, NULL, 10);
    free(text);
    CHECK(pid > 0 && gpid > 0);
    errno = 0;
    CHECK_INT(kill((pid_t)pid, 0), ==, -1);
    CHECK_INT(kill((pid_t)-pid, 0), ==, -1); /* the whole process group */
    CHECK_INT(errno, ==, ESRCH);
    CHECK_INT(kill((pid_t)gpid, 0), ==, -1);
    backend_free(b);
}

TEST(lms_load_failed)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;

    t_start(&t, "\"fail\":[\"load\"]", 0);
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "lms_failed", "exit status");
    backend_free(b);
    t_stop(&t);
}

TEST(lms_mismatch)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    char extra[T_BUF_MAX];

    snprintf(extra, sizeof(extra), "\"mismatch\":{\"%s\":\"%s\"}", KEY_A, KEY_B);
    t_start(&t, extra, 0);
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "model_mismatch");
    CHECK(strstr(err.detail, KEY_B) != NULL); /* read from lms ps, no waiting */
    backend_free(b);
    t_stop(&t);
}

TEST(lms_preflight_ok)
{
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {KEY_A, KEY_B};
    json_t *log;

    t_start(&t, NULL, 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 2, &pf), ==, 0);
    CHECK_INT(pf.nreasons, ==, 0);
    CHECK_INT(pf.nmodels, ==, 2);
    CHECK_INT(pf.models[0].found, ==, 1);
    CHECK_INT(pf.models[0].size_bytes, ==, 4000000000LL);
    CHECK_STR(pf.models[0].format, "gguf");
    CHECK_STR(pf.models[0].quant, "Q4_K_S");
    CHECK_INT(pf.models[1].size_bytes, ==, 8000000000LL);
    /* The fake's estimate: size + 4096 (its default context) * 131072 bytes
     * per token, printed in GiB with two decimals on stderr. */
    CHECK_NEAR((double)pf.models[0].estimate_bytes, 4e9 + 4096.0 * 131072,
               0.006 * 1073741824.0);
    CHECK(pf.version[0] != '\0');
    backend_preflight_free(&pf);
    log = t_argv_log(&t);
    CHECK(!t_log_has(log, "unload"));
    CHECK(!t_log_has_real_load(log));
    CHECK(t_log_has(log, "version"));
    CHECK(t_log_has(log, "ls"));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_preflight_all_reasons)
{
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {KEY_A, "nobody/missing-model@Q8_0", KEY_B};
    json_t *log;

    t_start(&t, NULL, 0);
    /* 6 GB free of 10 GB, 10% headroom: 5 GB usable: A (4 GB) fits, B (8 GB) not. */
    t.cfg.mem_total_bytes = 10000000000ULL;
    t.cfg.mem_available_bytes = 6000000000ULL;
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 3, &pf), ==, -1);
    CHECK_INT(pf.nreasons, ==, 2);
    CHECK(t_has_reason(&pf, BACKEND_MODEL_NOT_FOUND, "nobody/missing-model@Q8_0"));
    CHECK(t_has_reason(&pf, BACKEND_INSUFFICIENT_MEMORY, KEY_B));
    CHECK_INT(pf.models[0].found, ==, 1);
    CHECK_INT(pf.models[1].found, ==, 0);
    backend_preflight_free(&pf);
    log = t_argv_log(&t);
    CHECK(!t_log_has(log, "unload"));
    CHECK(!t_log_has_real_load(log));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_preflight_no_lms_no_server)
{
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};

    t_setup();
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.lms.path, sizeof(cfg.lms.path), "/nonexistent/bin/lms");
    snprintf(cfg.base_url, sizeof(cfg.base_url), "http://127.0.0.1:9");
    cfg.lms.allow_server_start = 1;
    b = backend_new("lms", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_prepare(b, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "lms_not_found");
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(t_has_reason(&pf, BACKEND_LMS_NOT_FOUND, "/nonexistent/bin/lms"));
    CHECK(t_has_reason(&pf, BACKEND_SERVER_UNREACHABLE, NULL));
    CHECK_INT(pf.nreasons, ==, 2);
    backend_preflight_free(&pf);
    backend_free(b);
}

TEST(lms_bad_json)
{
    struct tu_sim sim;
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_preflight pf;
    struct backend_loaded loaded;
    const char *models[] = {KEY_A};

    t_setup();
    CHECK_INT(tu_sim_start(NULL, &sim), ==, 0);
    b = t_lms_script(&cfg, NULL, tu_tmpdir(),
                     "case \"$1\" in\n"
                     "version) echo 'lms - LM Studio CLI - v0.0.99';;\n"
                     "ls) echo '[{\"modelKey\": \"x\", \"sizeBytes\": 12'; echo 'garbage{';;\n"
                     "ps) echo '[{\"identifier\": 42}]';;\n"
                     "*) exit 0;;\nesac",
                     sim.base_url);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(t_has_reason(&pf, BACKEND_LMS_BAD_JSON, "lms ls --json"));
    CHECK_STR(pf.version, "v0.0.99"); /* the version token, not the line */
    backend_preflight_free(&pf);
    /* Right shape, wrong type: strict. */
    CHECK_INT(backend_list_loaded(b, &loaded, &err), ==, -1);
    t_check_err(&err, "lms_bad_json", "identifier");
    backend_free(b);
    tu_sim_stop(&sim);
}

TEST(lms_unload_failed)
{
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;

    t_setup();
    b = t_lms_script(&cfg, NULL, tu_tmpdir(),
                     "case \"$1\" in ps) echo '[]'; exit 0;;\n"
                     "ls) echo '[{\"modelKey\": \"" KEY_A "\"}]'; exit 0;; esac\n"
                     "echo \"Error: cannot unload: LM Studio is not running\" >&2; exit 1",
                     "http://127.0.0.1:9");
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "unload_failed", "LM Studio is not running");
    backend_free(b);
}

/* ---- none and command backends ---- */

TEST(none_backend)
{
    struct tu_sim sim;
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_preflight pf;
    struct backend_load ld;
    const char *ok[] = {"m1"};
    const char *bad[] = {"m1", "m2"};

    t_setup();
    CHECK_INT(tu_sim_start("{\"models\":[{\"key\":\"m1\"},{\"key\":\"m2\"}],"
                           "\"loaded\":[\"m1\"]}",
                           &sim),
              ==, 0);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.base_url, sizeof(cfg.base_url), "%s/", sim.base_url);
    cfg.load_timeout_ms = 300;
    b = backend_new("none", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_preflight(b, ok, 1, &pf), ==, 0);
    backend_preflight_free(&pf);
    CHECK_INT(backend_preflight(b, bad, 2, &pf), ==, -1);
    CHECK_INT(pf.nreasons, ==, 1);
    CHECK(t_has_reason(&pf, BACKEND_MODEL_NOT_FOUND, "m2"));
    backend_preflight_free(&pf);
    CHECK_INT(backend_load(b, "m1", &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, "m1");
    CHECK_INT(ld.load_ms, ==, 0);
    CHECK_INT(backend_load(b, "m2", &ld, &err), ==, -1);
    t_check_err(&err, "model_mismatch", "m1");
    backend_free(b);
    tu_sim_stop(&sim);

    /* Nobody answers any more. */
    b = backend_new("none", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_preflight(b, ok, 1, &pf), ==, -1);
    CHECK(t_has_reason(&pf, BACKEND_SERVER_UNREACHABLE, NULL));
    backend_preflight_free(&pf);
    backend_free(b);
}

TEST(command_backend)
{
    struct tu_sim sim;
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    char lms[TU_PATH_MAX], body[T_BUF_MAX], argf[TU_PATH_MAX], url[TU_PATH_MAX];
    char *text = NULL;
    const char *dir;
    const char *load_cmd[] = {NULL, "{model}", "--ctx={context_length}", "{identifier} x",
                              NULL};
    const char *unload_cmd[] = {NULL, "unload", NULL};

    t_setup();
    dir = tu_tmpdir();
    snprintf(argf, sizeof(argf), "%s/args", dir);
    CHECK_INT(tu_sim_start("{\"models\":[{\"key\":\"m 1;$(x)\"}]}", &sim), ==, 0);
    snprintf(url, sizeof(url), "%s", sim.base_url);
    /* The "loader" only records its argv, one element per line; the test
     * loads the model through the sim's admin API itself. */
    snprintf(body, sizeof(body),
             "for a in \"$@\"; do printf '%%s\\n' \"$a\"; done >> '%s'\n"
             "[ \"$1\" = unload ] && exit 0\nexit 0",
             argf);
    t_script(lms, sizeof(lms), dir, body);
    load_cmd[0] = lms;
    unload_cmd[0] = lms;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.base_url, sizeof(cfg.base_url), "%s", url);
    cfg.context_length = 4096;
    cfg.load_timeout_ms = 2000;
    cfg.load_cmd = load_cmd;
    cfg.unload_cmd = unload_cmd;
    b = backend_new("command", &cfg, &err);
    CHECK(b != NULL);
    /* The script does not load: the model never appears -> load_timeout. */
    CHECK_INT(backend_load(b, "m 1;$(x)", &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "load_timeout");
    CHECK_INT(tu_read_file(argf, &text, NULL), ==, 0);
    CHECK_STR(text, "m 1;$(x)\n--ctx=4096\nm 1;$(x) x\n");
    free(text);
    /* Loaded behind its back: now it is ready at once. */
    CHECK_INT(tu_sim_call(&sim, "POST", "/sim/load", "{\"key\":\"m 1;$(x)\"}", NULL), ==, 200);
    CHECK_INT(backend_load(b, "m 1;$(x)", &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, "m 1;$(x)");
    CHECK_INT(backend_unload(b, "m 1;$(x)", &err), ==, 0);
    backend_free(b);
    tu_sim_stop(&sim);
}

TEST(codes_and_config)
{
    struct backend_cfg cfg;
    struct backend_err err;
    struct backend *b;
    json_t *d;

    memset(&cfg, 0, sizeof(cfg));
    CHECK(backend_new("ollama", &cfg, &err) == NULL);
    CHECK_STR(backend_code_name(err.code), "bad_config");
    CHECK(backend_new("command", &cfg, &err) == NULL);
    CHECK_STR(backend_code_name(BACKEND_LMS_BAD_JSON), "lms_bad_json");
    CHECK_STR(backend_code_name(BACKEND_INSUFFICIENT_MEMORY), "insufficient_memory");
    b = backend_new("none", &cfg, &err);
    CHECK(b != NULL);
    d = backend_describe(b);
    CHECK_STR(json_string_value(json_object_get(d, "type")), "none");
    json_decref(d);
    backend_free(b);
}

TEST(lms_preflight_server_start)
{
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};
    json_t *log, *line;

    t_start(&t, NULL, 0);
    /* The configured server is down; lms may start it (the fake only says
     * it did): the note says so and the re-check still fails; lms, pointed
     * at the same port, cannot list the models either. */
    snprintf(t.cfg.base_url, sizeof(t.cfg.base_url), "http://127.0.0.1:9");
    t.cfg.lms.allow_server_start = 1;
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(strstr(pf.notes, "lms server start") != NULL);
    CHECK(t_has_reason(&pf, BACKEND_SERVER_UNREACHABLE, "after lms server start"));
    CHECK(t_has_reason(&pf, BACKEND_LMS_FAILED, "127.0.0.1:9"));
    CHECK_INT(pf.nreasons, ==, 2);
    CHECK_INT(pf.models[0].found, ==, 0);
    backend_preflight_free(&pf);
    log = t_argv_log(&t);
    line = t_log_nth(log, "server", 0);
    CHECK(line != NULL);
    CHECK_STR(json_string_value(json_array_get(line, 1)), "start");
    CHECK_STR(t_line_after(line, "--port"), "9"); /* server.ts: start takes --port */
    CHECK(!t_log_has(log, "unload"));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

/* ---- the real lms contract (issue 13): one test per assumption ---- */

/* Recorded lms output (the shapes printed by lmstudio-ai/lms
 * src/subcommands/version.ts and load.ts) read by lms_parse. */
TEST(lms_parse_recorded)
{
    static const char version_new[] =
        "\033[38;5;166m   __   __  ___  ______          ___        _______   ____\033[0m\n"
        "\033[38;5;214m  / /  /  |/  / / __/ /___ _____/ (_)__    / ___/ /  /  _/\033[0m\n"
        "\n\033[34mlms\033[39m is LM Studio's CLI utility for your models, server, and "
        "inference runtime.\n\033[2mCLI commit:\033[22m \033[36m0b2a176\033[39m\n\n"
        "\033[34mDocs: https://lmstudio.ai/docs/developer\033[39m\n";
    static const char version_old[] =
        "\033[38;5;166m   __   __  ___  ______\033[0m\n\nlms is LM Studio's CLI utility for "
        "your models, server, and inference runtime. (v0.3.30)\n";
    static const char logo_only[] = "\033[38;5;166m   __   __  ___  ______ - v\033[0m\n";
    char out[128], host[LMS_PARSE_HOST_MAX];
    uint64_t bytes;
    int port, loopback;

    CHECK_INT(lms_parse_version(version_new, out, sizeof(out)), ==, 0);
    CHECK_STR(out, "0b2a176");
    CHECK_INT(lms_parse_version(version_old, out, sizeof(out)), ==, 0);
    CHECK_STR(out, "v0.3.30");
    CHECK_INT(lms_parse_version(logo_only, out, sizeof(out)), ==, -1);
    CHECK_STR(out, "");

    CHECK_INT(lms_parse_estimate("Model: q\nContext Length: 131,072\n"
                                 "Estimated GPU Memory:   \033[32m20.50 GiB\033[39m\n"
                                 "Estimated Total Memory: \033[32m21.25 GiB\033[39m\n",
                                 &bytes),
              ==, 0);
    CHECK_INT(bytes, ==, (uint64_t)(21.25 * 1073741824.0));
    CHECK_INT(lms_parse_estimate("Estimated Total Memory: 22.82 GB\n", &bytes), ==, 0);
    CHECK_INT(bytes, ==, 22820000000ULL);
    CHECK_INT(lms_parse_estimate("Estimated Total Memory: 1.50 TiB\n", &bytes), ==, 0);
    CHECK_INT(bytes, ==, (uint64_t)(1.5 * 1099511627776.0));
    CHECK_INT(lms_parse_estimate("Estimated Total Memory: 512.00 MB\n", &bytes), ==, 0);
    CHECK_INT(bytes, ==, 512000000ULL);
    CHECK_INT(lms_parse_estimate("Estimated Total Memory: 3 parsecs\n", &bytes), ==, -1);
    CHECK_INT(lms_parse_estimate("Estimated GPU Memory: 3.00 GiB\n", &bytes), ==, -1);

    CHECK_INT(lms_parse_target("http://127.0.0.1:1234", host, sizeof(host), &port, &loopback),
              ==, 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, ==, 1234);
    CHECK_INT(loopback, ==, 1);
    CHECK_INT(
        lms_parse_target("http://studio.local:8080/v1", host, sizeof(host), &port, &loopback),
        ==, 0);
    CHECK_STR(host, "studio.local");
    CHECK_INT(port, ==, 8080);
    CHECK_INT(loopback, ==, 0);
    CHECK_INT(lms_parse_target("https://box", host, sizeof(host), &port, &loopback), ==, 0);
    CHECK_INT(port, ==, 443);
    CHECK_INT(lms_parse_target("http://[::1]:1234/", host, sizeof(host), &port, &loopback), ==,
              0);
    CHECK_STR(host, "::1");
    CHECK_INT(loopback, ==, 1);
    CHECK_INT(lms_parse_target("127.0.0.1:1234", host, sizeof(host), &port, &loopback), ==, -1);
    CHECK_INT(lms_parse_target("http://h:99999", host, sizeof(host), &port, &loopback), ==, -1);
}

/* Row 1: the stored version is the CLI commit, never the logo art. */
TEST(lms_version_is_cli_commit)
{
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};
    json_t *d;

    t_start(&t, "\"commit\":\"9f8e7d6\"", 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, 0);
    CHECK_STR(pf.version, "9f8e7d6");
    backend_preflight_free(&pf);
    d = backend_describe(b);
    CHECK_STR(json_string_value(json_object_get(d, "lms_version")), "9f8e7d6");
    json_decref(d);
    backend_free(b);
    /* lms before 2026-01: "(v0.3.30)" at the end of the utility line. */
    t_fake_cfg(&t, "\"legacy_version\":\"0.3.30\"", 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, 0);
    CHECK_STR(pf.version, "v0.3.30");
    backend_preflight_free(&pf);
    backend_free(b);
    t_stop(&t);
}

/* A catalog model "org/m" with two variants, q4_k_m selected, and B. */
static json_t *
t_variant_models(void)
{
    return json_pack("[{s:s,s:f,s:s,s:i},{s:s,s:f,s:s,s:i},{s:s,s:f,s:s,s:s,s:i}]", "key",
                     "org/m@q4_k_m", "size_bytes", 5e9, "quant", "Q4_K_M", "load_ms", 0, "key",
                     "org/m@q8_0", "size_bytes", 9e9, "quant", "Q8_0", "load_ms", 0, "key",
                     KEY_B, "size_bytes", 8e9, "format", "mlx", "quant", "8bit", "load_ms", 0);
}

#define T_CATALOG "\"catalog\":{\"org/m\":{\"selected\":\"org/m@q4_k_m\"}}"

/* Row 2: a variant key. The selected variant loads through its base key;
 * another fails alone, naming the variants, and unloads nothing. */
TEST(lms_variant_keys)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_preflight pf;
    const char *models[] = {"org/m@q8_0", "org/m@q4_k_m", KEY_B};
    char served[T_BUF_MAX];
    json_t *log, *line, *st = NULL, *m;
    size_t i;

    t_start_models(&t, t_variant_models(), T_CATALOG, 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 3, &pf), ==, 0); /* not a job failure */
    CHECK_INT(pf.models[0].not_loadable, ==, 1);
    CHECK_INT(pf.models[1].not_loadable, ==, 0);
    CHECK_STR(pf.models[1].quant, "Q4_K_M");
    CHECK(strstr(pf.notes, "org/m@q8_0") != NULL);
    backend_preflight_free(&pf);

    CHECK_INT(backend_load(b, KEY_B, &ld, &err), ==, 0);
    CHECK_INT(backend_load(b, "org/m@q8_0", &ld, &err), ==, -1);
    t_check_err(&err, "variant_not_loadable", "org/m@q4_k_m");
    CHECK(strstr(err.detail, "org/m@q8_0") != NULL);
    CHECK(strstr(err.detail, "My Models") != NULL);
    CHECK_STR(t_served(&t, served, sizeof(served)), KEY_B); /* nothing unloaded */
    log = t_argv_log(&t);
    CHECK(t_log_nth(log, "unload", 1) == NULL); /* only the one before B's load */
    json_decref(log);

    CHECK_INT(backend_load(b, "org/m@q4_k_m", &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, "org/m");
    CHECK_INT(tu_sim_call(&t.sim, "GET", "/sim/state", NULL, &st), ==, 200);
    json_array_foreach(json_object_get(st, "models"), i, m)
    {
        if (json_is_true(json_object_get(m, "loaded")))
            CHECK_STR(json_string_value(json_object_get(m, "key")), "org/m@q4_k_m");
    }
    json_decref(st);
    log = t_argv_log(&t);
    for (i = 0; (line = t_log_nth(log, "load", (int)i)) != NULL; i++) {
        if (!backend_ids_have(line, "--estimate-only") &&
            strcmp(json_string_value(json_array_get(line, 1)), "org/m") == 0)
            break;
    }
    CHECK(line != NULL); /* lms load org/m: the base key loads the selected variant */
    CHECK(!backend_ids_have(line, "org/m@q4_k_m"));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

/* Row 4: with JIT on, /v1/models lists models that are not loaded; the
 * load check reads lms ps and is not fooled. */
TEST(lms_jit_listing_is_no_proof)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_cfg cfg;
    char extra[T_BUF_MAX], body[T_BUF_MAX];
    json_t *ids = NULL;

    snprintf(extra, sizeof(extra), "\"mismatch\":{\"%s\":\"%s\"}", KEY_A, KEY_B);
    t_start(&t, extra, 0);
    b = t_lms(&t);
    CHECK_INT(backend_server_models(b, &ids, &err), ==, 0);
    CHECK(backend_ids_have(ids, KEY_A)); /* listed, yet nothing is loaded */
    json_decref(ids);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "model_mismatch", KEY_B);
    backend_free(b);

    /* lms load exits 0 but nothing is loaded: lms ps is empty, while the
     * JIT server lists the key. Refused. */
    snprintf(body, sizeof(body),
             "case \"$1\" in ps) echo '[]';; ls) echo '[{\"modelKey\": \"%s\"}]';; esac\n"
             "exit 0",
             KEY_A);
    b = t_lms_script(&cfg, &t.cfg, t.dir, body, NULL);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "lms_failed", "lists no loaded model");
    backend_free(b);
    t_stop(&t);
}

/* Another client's streaming request on `key` (n tokens at the sim's rate);
 * run in a thread. */
struct t_client {
    const struct t_env *t;
    const char *key;
    int tokens;
    long status;
};

static void *
t_client_run(void *arg)
{
    struct t_client *c = arg;
    char body[T_BUF_MAX];

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"stream\":true,\"max_tokens\":%d,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
             c->key, c->tokens);
    c->status = tu_sim_call(&c->t->sim, "POST", "/v1/chat/completions", body, NULL);
    return NULL;
}

/* Start the client and wait until the sim counts its request as active. */
static void
t_client_start(struct t_client *c, pthread_t *th)
{
    json_t *st = NULL, *m;
    size_t i;
    int k, active = 0;

    CHECK_INT(pthread_create(th, NULL, t_client_run, c), ==, 0);
    for (k = 0; k < 500 && !active; k++) {
        CHECK_INT(tu_sim_call(&c->t->sim, "GET", "/sim/state", NULL, &st), ==, 200);
        json_array_foreach(json_object_get(st, "models"), i, m)
        {
            if (json_integer_value(json_object_get(m, "active")) > 0)
                active = 1;
        }
        json_decref(st);
        if (!active)
            tu_sleep_ms(10);
    }
    CHECK(active);
}

/* A model B generating slowly (10 tokens/s), loaded. */
static void
t_slow_b(struct t_env *t)
{
    CHECK_INT(tu_sim_call(&t->sim, "POST", "/sim/models",
                          "{\"key\":\"" KEY_B "\",\"size_bytes\":8e9,\"format\":\"mlx\","
                          "\"quant\":\"8bit\",\"load_ms\":0,\"tps\":10,\"ttft_ms\":0}",
                          NULL),
              ==, 200);
    CHECK_INT(tu_sim_call(&t->sim, "POST", "/sim/load", "{\"key\":\"" KEY_B "\"}", NULL), ==,
              200);
}

/* A started t whose sim has model B generating for another client (c, on
 * thread th, `tokens` tokens) while the lms backend returned waits up to
 * busy_wait_ms for a busy server. */
static struct backend *
t_busy(struct t_env *t, long busy_wait_ms, int tokens, struct t_client *c, pthread_t *th)
{
    struct backend *b;

    t_start(t, NULL, 0);
    t_slow_b(t);
    t->cfg.lms.busy_wait_ms = busy_wait_ms;
    b = t_lms(t);
    c->t = t;
    c->key = KEY_B;
    c->tokens = tokens;
    c->status = 0;
    t_client_start(c, th);
    return b;
}

/* Row 7: a busy server is waited for; nothing is unloaded under the other
 * client: the load returns after that client's request ended. */
TEST(lms_busy_server_waited_for)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct t_client c;
    pthread_t th;
    json_t *log, *line, *slog, *req, *ev;
    uint64_t t_done = 0, t_back;
    size_t i, j;
    int nps = 0;

    b = t_busy(&t, 120000, 60, &c, &th); /* 6 s at 10 tokens/s */
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, 0);
    t_back = tu_now_ns();
    CHECK_INT(pthread_join(th, NULL), ==, 0);
    CHECK_INT(c.status, ==, 200);
    /* The other client's request ended (its last event) before the load
     * came back: the unload waited for it. */
    slog = tu_sim_log(&t.sim);
    CHECK(slog != NULL);
    json_array_foreach(json_object_get(slog, "requests"), i, req)
    {
        json_array_foreach(json_object_get(req, "events"), j, ev)
        {
            uint64_t tn = (uint64_t)json_integer_value(json_object_get(ev, "t_ns"));

            if (tn > t_done)
                t_done = tn;
        }
    }
    json_decref(slog);
    CHECK(t_done > 0);
    CHECK_INT(t_back, >, t_done);
    log = t_argv_log(&t);
    json_array_foreach(log, i, line)
    {
        const char *verb = json_string_value(json_array_get(line, 0));

        if (strcmp(verb, "unload") == 0)
            break;
        nps += strcmp(verb, "ps") == 0;
    }
    CHECK_INT(nps, >=, 2); /* it polled lms ps while the server was busy */
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

/* Row 7, the other half: a server that stays busy fails preflight and load
 * with server_busy after busy_wait, and nothing is unloaded. */
TEST(lms_busy_server_never_idle)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};
    char served[T_BUF_MAX];
    struct t_client c;
    pthread_t th;
    json_t *log;

    b = t_busy(&t, 1500, 3000, &c, &th); /* 300 s: longer than the test */
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(t_has_reason(&pf, BACKEND_SERVER_BUSY, "generating"));
    backend_preflight_free(&pf);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    t_check_err(&err, "server_busy", KEY_B);
    CHECK(strstr(err.detail, "busy_wait_s") != NULL);
    CHECK_STR(t_served(&t, served, sizeof(served)), KEY_B);
    log = t_argv_log(&t);
    CHECK(!t_log_has(log, "unload"));
    json_decref(log);
    backend_free(b);
    t_stop(&t); /* ends the other client's stream */
    CHECK_INT(pthread_join(th, NULL), ==, 0);
}

/* Row 8: a library of 300 models (lms ls --json well over 64 KiB) is read. */
TEST(lms_ls_300_models)
{
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {"lib/model-000", "lib/model-299"};
    char key[64], outp[TU_PATH_MAX], errp[TU_PATH_MAX];
    char *argv[] = {(char *)t_fake(), "ls", "--json", NULL};
    json_t *arr = json_array();
    size_t len = 0;
    char *text = NULL;
    int i, code = -1;

    for (i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "lib/model-%03d", i);
        json_array_append_new(arr, json_pack("{s:s,s:f,s:s,s:i}", "key", key, "size_bytes",
                                             1e9 + i, "quant", "Q4_K_M", "load_ms", 0));
    }
    t_start_models(&t, arr, NULL, 0);
    /* The fake's own output, to know the test means something. */
    CHECK_INT(setenv("FAKE_LMS_CONFIG", t.cfg_path, 1), ==, 0);
    snprintf(outp, sizeof(outp), "%s/ls.out", t.dir);
    snprintf(errp, sizeof(errp), "%s/ls.err", t.dir);
    CHECK_INT(tu_run(argv, outp, errp, 60000, &code), ==, 0);
    CHECK_INT(code, ==, 0);
    CHECK_INT(tu_read_file(outp, &text, &len), ==, 0);
    free(text);
    CHECK_INT(len, >, 64 * 1024); /* over the old capture cap */
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 2, &pf), ==, 0);
    CHECK_INT(pf.models[0].size_bytes, ==, 1000000000LL);
    CHECK_INT(pf.models[1].size_bytes, ==, 1000000299LL);
    backend_preflight_free(&pf);
    backend_free(b);
    t_stop(&t);
}

/* The signals the fake recorded, joined by ' '. */
static void
t_signals(const char *path, char *buf, size_t len)
{
    char *text = NULL, *p;

    buf[0] = '\0';
    if (tu_read_file(path, &text, NULL) == -1)
        return;
    for (p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(buf, len, "%s", text);
    free(text);
}

/* Row 9: a load stopped at its deadline gets SIGINT first (lms cancels the
 * load on it); one that ignores SIGINT gets SIGTERM next. */
TEST(lms_load_deadline_sigint_first)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    char extra[T_BUF_MAX], sigf[TU_PATH_MAX], got[256];

    t_start(&t, NULL, 0);
    snprintf(sigf, sizeof(sigf), "%s/signals", t.dir);
    snprintf(extra, sizeof(extra), "\"hang\":[\"load\"],\"signal_log\":\"%s\"", sigf);
    t_fake_cfg(&t, extra, 0);
    /* Long enough for the fake (python) to reach its load on a busy machine:
     * lms listens for SIGINT only around the load itself. */
    t.cfg.load_timeout_ms = 4000;
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "load_timeout");
    CHECK(strstr(err.detail, "Load cancelled") != NULL); /* lms's own words */
    t_signals(sigf, got, sizeof(got));
    CHECK_STR(got, "SIGINT ");
    backend_free(b);

    unlink(sigf);
    snprintf(extra, sizeof(extra),
             "\"hang\":[\"load\"],\"ignore_sigint\":true,"
             "\"signal_log\":\"%s\"",
             sigf);
    t_fake_cfg(&t, extra, 0);
    b = t_lms(&t);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "load_timeout");
    t_signals(sigf, got, sizeof(got));
    CHECK_STR(got, "SIGINT SIGTERM ");
    backend_free(b);
    t_stop(&t);
}

/* Row 3: the estimate is read from stderr, in GiB (new lms) or GB (old),
 * with -y and the context, and the memory check uses it. */
TEST(lms_estimate_stderr_units_context)
{
    static const char *units[] = {"\"estimate_units\":\"GiB\"", "\"estimate_units\":\"GB\""};
    static const double unit[] = {1073741824.0, 1e9};
    const double want = 4e9 + 131072.0 * 131072.0; /* size + context x bytes per token */
    struct t_env t;
    struct backend *b;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};
    json_t *log, *line;
    int u;

    t_start(&t, NULL, 0);
    t.cfg.context_length = 131072;
    t.cfg.mem_available_bytes = 20000000000ULL; /* the model fits, its context not */
    for (u = 0; u < 2; u++) {
        t_fake_cfg(&t, units[u], 0);
        b = t_lms(&t);
        CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
        CHECK_NEAR((double)pf.models[0].estimate_bytes, want, 0.006 * unit[u]);
        CHECK_INT(pf.nreasons, ==, 1);
        CHECK(t_has_reason(&pf, BACKEND_INSUFFICIENT_MEMORY, "lms estimate"));
        backend_preflight_free(&pf);
        backend_free(b);
    }
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 0);
    CHECK(line != NULL);
    CHECK(backend_ids_have(line, "--estimate-only"));
    CHECK(backend_ids_have(line, "-y"));
    CHECK_STR(t_line_after(line, "--context-length"), "131072");
    CHECK(!t_log_has(log, "#picker"));
    json_decref(log);
    t_stop(&t);
}

/* Row 5: a model given by its path is loaded with --exact. */
TEST(lms_exact_path)
{
    static const char path[] = "unsloth/MiniMax-M2.1-GGUF/MiniMax-M2.1-GGUF-Q4_K_S.gguf";
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_preflight pf;
    const char *models[] = {path};
    char served[T_BUF_MAX];
    json_t *log, *line;

    t_start(&t, NULL, 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, 0);
    CHECK_STR(pf.models[0].quant, "Q4_K_S");
    backend_preflight_free(&pf);
    CHECK_INT(backend_load(b, path, &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, KEY_A);
    CHECK_STR(t_served(&t, served, sizeof(served)), KEY_A);
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 1); /* 0 is the estimate */
    CHECK(line != NULL);
    CHECK_STR(json_string_value(json_array_get(line, 1)), "--exact");
    CHECK_STR(json_string_value(json_array_get(line, 2)), path);
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

/* Row 6: lms unload of an unknown identifier exits 0; the result is read
 * from lms ps, both ways. */
TEST(lms_unload_verified)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_cfg cfg;
    char body[T_BUF_MAX];

    t_start(&t, NULL, 0);
    b = t_lms(&t);
    CHECK_INT(backend_unload(b, "nobody-loaded-this", &err), ==, 0); /* not loaded: done */
    backend_free(b);
    /* An lms whose unload exits 0 but leaves the model loaded. */
    snprintf(body, sizeof(body),
             "case \"$1\" in ps) echo '[{\"identifier\": \"x\", \"modelKey\": \"%s\", "
             "\"status\": \"idle\", \"queued\": 0}]';;\n"
             "unload) echo 'Error: Model Not Found.' >&2;; esac\nexit 0",
             KEY_A);
    b = t_lms_script(&cfg, &t.cfg, t.dir, body, NULL);
    CHECK_INT(backend_unload(b, "x", &err), ==, -1);
    t_check_err(&err, "unload_failed", "still lists \"x\"");
    CHECK_INT(backend_unload(b, NULL, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "unload_failed");
    backend_free(b);
    t_stop(&t);
}

/* Row 10: lms is pointed at base_url with --port (a loopback host keeps lms
 * the local client: no --host), not left to find some LM Studio itself. */
TEST(lms_port_from_base_url)
{
    const char *models[] = {KEY_A};
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_preflight pf;
    json_t *log, *line;
    size_t i;

    /* The LM Studio the fake would find by itself is not there. */
    t_start(&t, "\"sim\":\"http://127.0.0.1:9\"", 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, 0);
    backend_preflight_free(&pf);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, 0);
    CHECK_INT(backend_unload(b, ld.served_id, &err), ==, 0);
    log = t_argv_log(&t);
    json_array_foreach(log, i, line)
    {
        const char *verb = json_string_value(json_array_get(line, 0));

        CHECK(!backend_ids_have(line, "--host"));
        if (strcmp(verb, "version") == 0)
            CHECK(!backend_ids_have(line, "--port")); /* version.ts takes no client options */
        else
            CHECK_STR(t_line_after(line, "--port"), t.port);
    }
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

/* Key matching: an exact key wins over its fuzzy matches with -y; without
 * -y the fake (like lms) would open the picker, which tpsd never reaches. */
TEST(lms_exact_key_no_picker)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;
    struct backend_preflight pf;
    const char *models[] = {"qwen/qwen3"};
    char served[T_BUF_MAX], outp[TU_PATH_MAX], errp[TU_PATH_MAX], *text = NULL;
    char *argv[] = {(char *)t_fake(), "load", "qwen/qwen3", NULL};
    json_t *log;
    int code = -1;

    t_start_models(&t,
                   json_pack("[{s:s,s:i},{s:s,s:i}]", "key", "qwen/qwen3-coder", "load_ms", 0,
                             "key", "qwen/qwen3", "load_ms", 0),
                   NULL, 0);
    b = t_lms(&t);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, 0);
    backend_preflight_free(&pf);
    CHECK_INT(backend_load(b, "qwen/qwen3", &ld, &err), ==, 0);
    CHECK_STR(t_served(&t, served, sizeof(served)), "qwen/qwen3");
    log = t_argv_log(&t);
    CHECK(!t_log_has(log, "#picker"));
    json_decref(log);
    /* The control: the same load without -y reaches the picker. */
    CHECK_INT(setenv("FAKE_LMS_CONFIG", t.cfg_path, 1), ==, 0);
    snprintf(outp, sizeof(outp), "%s/p.out", t.dir);
    snprintf(errp, sizeof(errp), "%s/p.err", t.dir);
    CHECK_INT(tu_run(argv, outp, errp, 60000, &code), ==, 0);
    CHECK_INT(code, ==, 3);
    CHECK_INT(tu_read_file(errp, &text, NULL), ==, 0);
    CHECK(strstr(text, "picker") != NULL);
    free(text);
    log = t_argv_log(&t);
    CHECK(t_log_has(log, "#picker"));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

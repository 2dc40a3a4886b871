/* test_backend.c - daemon/backend: the lms backend against tests/fake-lms
 * driving tpsd-sim, tiny stand-in lms scripts for the faults the fake does
 * not do, and the none/command backends. */
#ifdef __linux__
#define _GNU_SOURCE
#include <sys/prctl.h>
#endif
#include "daemon/backend.h"

#include "daemon/clock.h"
#include "tests/check.h"
#include "tests/testutil.h"

#include <curl/curl.h>
#include <errno.h>
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

/* A sim with models A, B and EVIL (sizes in GB as given) and the fake lms's
 * config (extra JSON fields in `fake_extra`, e.g. "\"hang\":[\"load\"]"). */
static void
t_start(struct t_env *t, const char *fake_extra, long load_ms)
{
    char sim_cfg[T_BUF_MAX], fake_cfg[T_BUF_MAX];
    json_t *models;
    char *s;

    t_setup();
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "%s", tu_tmpdir());
    models = json_pack("{s:[{s:s,s:f,s:s,s:s,s:i},{s:s,s:f,s:s,s:s,s:i},{s:s,s:f,s:i}]}",
                       "models", "key", KEY_A, "size_bytes", 4e9, "format", "gguf", "quant",
                       "Q4_K_S", "load_ms", 0, "key", KEY_B, "size_bytes", 8e9, "format",
                       "mlx", "quant", "8bit", "load_ms", 0, "key", KEY_EVIL,
                       "size_bytes", 1e9, "load_ms", 0);
    CHECK(models != NULL);
    s = json_dumps(models, JSON_COMPACT);
    CHECK(s != NULL);
    snprintf(sim_cfg, sizeof(sim_cfg), "%s", s);
    free(s);
    json_decref(models);
    CHECK_INT(tu_sim_start(sim_cfg, &t->sim), ==, 0);

    snprintf(t->cfg_path, sizeof(t->cfg_path), "%s/fake-lms.json", t->dir);
    snprintf(t->log_path, sizeof(t->log_path), "%s/argv.log", t->dir);
    snprintf(fake_cfg, sizeof(fake_cfg), "{\"sim\":\"%s\",\"log\":\"%s\",\"load_delay_ms\":%ld%s%s}",
             t->sim.base_url, t->log_path, load_ms, fake_extra ? "," : "",
             fake_extra ? fake_extra : "");
    CHECK_INT(tu_write_file(t->cfg_path, fake_cfg), ==, 0);
    snprintf(t->env_var, sizeof(t->env_var), "FAKE_LMS_CONFIG=%s", t->cfg_path);
    t->env[0] = t->env_var;
    t->env[1] = NULL;

    snprintf(t->cfg.lms, sizeof(t->cfg.lms), "%s", t_fake());
    snprintf(t->cfg.base_url, sizeof(t->cfg.base_url), "%s", t->sim.base_url);
    t->cfg.load_timeout_ms = 20000;
    t->cfg.memory_headroom_pct = 10;
    t->cfg.mem_total_bytes = 64000000000ULL;
    t->cfg.mem_available_bytes = 32000000000ULL;
    t->cfg.env = t->env;
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

    json_array_foreach(log, i, line) {
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

    json_array_foreach(log, i, line) {
        int est = 0;

        if (strcmp(json_string_value(json_array_get(line, 0)), "load") != 0)
            continue;
        json_array_foreach(line, j, a) {
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

    json_array_foreach(log, i, line) {
        if (json_is_string(json_array_get(line, 0)) &&
            strcmp(json_string_value(json_array_get(line, 0)), verb) == 0 && n-- == 0)
            return line;
    }
    return NULL;
}

/* The ids the sim serves, comma-joined, into buf. */
static const char *
t_served(const struct t_env *t, char *buf, size_t len)
{
    json_t *resp = NULL, *v;
    size_t i;

    buf[0] = '\0';
    CHECK_INT(tu_sim_call(&t->sim, "GET", "/v1/models", NULL, &resp), ==, 200);
    json_array_foreach(json_object_get(resp, "data"), i, v) {
        size_t l = strlen(buf);

        snprintf(buf + l, len - l, "%s%s", l ? "," : "",
                 json_string_value(json_object_get(v, "id")));
    }
    json_decref(resp);
    return buf;
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
    char fake_cfg[T_BUF_MAX];

    snprintf(fake_cfg, sizeof(fake_cfg), "{\"sim\":\"%s\",\"log\":\"%s\",\"load_delay_ms\":%ld}",
             t->sim.base_url, t->log_path, delay_ms);
    CHECK_INT(tu_write_file(t->cfg_path, fake_cfg), ==, 0);
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
    snprintf(t.cfg.gpu, sizeof(t.cfg.gpu), "max");
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    /* Round 0 without delay measures the fake's own cost (python start-up,
     * its HTTP calls: ~250 ms, noisy on a busy machine); round 1 adds the
     * delay: the measured load time must grow by the delay, within 5%. */
    for (round = 0; round < 2; round++) {
        t_set_delay(&t, round == 0 ? 0 : delay);
        for (i = 0; i < 2; i++) {
            CHECK_INT(backend_load(b, keys[i], &ld, &err), ==, 0);
            CHECK_STR(ld.served_id, keys[i]);
            CHECK_INT(ld.load_ready_ms, >=, ld.load_ms);
            CHECK_INT(ld.load_ready_ms, <, ld.load_ms + 1000);
            CHECK_STR(t_served(&t, served, sizeof(served)), keys[i]);
            if (round == 0)
                base += ld.load_ms / 2;
            if (round == 1)
                CHECK_NEAR(ld.load_ms - base, delay, delay * 0.05);
        }
    }
    log = t_argv_log(&t);
    for (i = 0; i < 4; i++) {
        line = t_log_nth(log, "unload", i);
        CHECK(line != NULL);
        CHECK_STR(json_string_value(json_array_get(line, 1)), "--all");
        line = t_log_nth(log, "load", i);
        CHECK(line != NULL);
        CHECK_INT(json_array_size(line), ==, 7);
        CHECK_STR(json_string_value(json_array_get(line, 1)), keys[i % 2]);
        CHECK_STR(json_string_value(json_array_get(line, 2)), "-y");
        CHECK_STR(json_string_value(json_array_get(line, 3)), "--context-length");
        CHECK_STR(json_string_value(json_array_get(line, 4)), "131072");
        CHECK_STR(json_string_value(json_array_get(line, 5)), "--gpu");
        CHECK_STR(json_string_value(json_array_get(line, 6)), "max");
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
    t.cfg.ttl_s = 3600;
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, "bench-model");
    CHECK_STR(t_served(&t, served, sizeof(served)), "bench-model");
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 0);
    CHECK(line != NULL);
    CHECK_INT(json_array_size(line), ==, 7);
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
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_load(b, KEY_EVIL, &ld, &err), ==, 0);
    CHECK_STR(ld.served_id, KEY_EVIL);
    CHECK_STR(t_served(&t, served, sizeof(served)), KEY_EVIL);
    log = t_argv_log(&t);
    line = t_log_nth(log, "load", 0);
    CHECK(line != NULL);
    CHECK_INT(json_array_size(line), ==, 3);
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
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    t0 = clock_mono_ns();
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "load_timeout");
    /* deadline + SIGTERM grace at most */
    CHECK_INT((clock_mono_ns() - t0) / 1000000, <, 1000 + 2000 + 1000);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_hang_group_killed)
{
    char lms[TU_PATH_MAX], body[T_BUF_MAX], pidf[TU_PATH_MAX], gpidf[TU_PATH_MAX];
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
    /* unload works; load hangs in a grandchild that ignores SIGTERM. */
    snprintf(body, sizeof(body),
             "case \"$1\" in unload) exit 0;; esac\n"
             "echo $$ > '%s'\n"
             "(trap '' TERM; exec sleep 1000) & echo $! > '%s'\n"
             "echo 'loading...' >&2\nwait\n",
             pidf, gpidf);
    t_script(lms, sizeof(lms), dir, body);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.lms, sizeof(cfg.lms), "%s", lms);
    snprintf(cfg.base_url, sizeof(cfg.base_url), "http://127.0.0.1:9");
    cfg.load_timeout_ms = 500;
    b = backend_new("lms", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "load_timeout");
    CHECK(strstr(err.detail, "loading...") != NULL);
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
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "lms_failed");
    CHECK(strstr(err.detail, "exit status") != NULL);
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
    int64_t t0;

    snprintf(extra, sizeof(extra), "\"mismatch\":{\"%s\":\"%s\"}", KEY_A, KEY_B);
    t_start(&t, extra, 0);
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    t0 = clock_mono_ns();
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "model_mismatch");
    CHECK(strstr(err.detail, KEY_B) != NULL);
    CHECK_INT((clock_mono_ns() - t0) / 1000000, <, 10000);
    backend_free(b);
    t_stop(&t);
}

TEST(lms_preflight_ok)
{
    struct t_env t;
    struct backend *b;
    struct backend_err err;
    struct backend_preflight pf;
    const char *models[] = {KEY_A, KEY_B};
    json_t *log;

    t_start(&t, NULL, 0);
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_preflight(b, models, 2, &pf), ==, 0);
    CHECK_INT(pf.nreasons, ==, 0);
    CHECK_INT(pf.nmodels, ==, 2);
    CHECK_INT(pf.models[0].found, ==, 1);
    CHECK_INT(pf.models[0].size_bytes, ==, 4000000000LL);
    CHECK_STR(pf.models[0].format, "gguf");
    CHECK_STR(pf.models[0].quant, "Q4_K_S");
    CHECK_INT(pf.models[1].size_bytes, ==, 8000000000LL);
    CHECK_INT(pf.models[0].estimate_bytes, ==, 4000000000LL); /* the fake's estimate */
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
    struct backend_err err;
    struct backend_preflight pf;
    const char *models[] = {KEY_A, "nobody/missing-model@Q8_0", KEY_B};
    json_t *log;

    t_start(&t, NULL, 0);
    /* 6 GB free of 10 GB, 10% headroom: 5 GB usable: A (4 GB) fits, B (8 GB) not. */
    t.cfg.mem_total_bytes = 10000000000ULL;
    t.cfg.mem_available_bytes = 6000000000ULL;
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
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
    snprintf(cfg.lms, sizeof(cfg.lms), "/nonexistent/bin/lms");
    snprintf(cfg.base_url, sizeof(cfg.base_url), "http://127.0.0.1:9");
    cfg.allow_server_start = 1;
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
    char lms[TU_PATH_MAX];
    struct tu_sim sim;
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_preflight pf;
    struct backend_loaded loaded;
    const char *models[] = {KEY_A};

    t_setup();
    t_script(lms, sizeof(lms), tu_tmpdir(),
             "case \"$1\" in\n"
             "version) echo 'lms - LM Studio CLI - v0.0.99';;\n"
             "ls) echo '[{\"modelKey\": \"x\", \"sizeBytes\": 12'; echo 'garbage{';;\n"
             "ps) echo '[{\"identifier\": 42}]';;\n"
             "*) exit 0;;\nesac");
    CHECK_INT(tu_sim_start(NULL, &sim), ==, 0);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.lms, sizeof(cfg.lms), "%s", lms);
    snprintf(cfg.base_url, sizeof(cfg.base_url), "%s", sim.base_url);
    b = backend_new("lms", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(t_has_reason(&pf, BACKEND_LMS_BAD_JSON, "lms ls --json"));
    CHECK_STR(pf.version, "lms - LM Studio CLI - v0.0.99");
    backend_preflight_free(&pf);
    /* Right shape, wrong type: strict. */
    CHECK_INT(backend_list_loaded(b, &loaded, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "lms_bad_json");
    CHECK(strstr(err.detail, "identifier") != NULL);
    backend_free(b);
    tu_sim_stop(&sim);
}

TEST(lms_unload_failed)
{
    char lms[TU_PATH_MAX];
    struct backend_cfg cfg;
    struct backend *b;
    struct backend_err err;
    struct backend_load ld;

    t_setup();
    t_script(lms, sizeof(lms), tu_tmpdir(),
             "echo \"Error: cannot unload: LM Studio is not running\" >&2; exit 1");
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.lms, sizeof(cfg.lms), "%s", lms);
    snprintf(cfg.base_url, sizeof(cfg.base_url), "http://127.0.0.1:9");
    b = backend_new("lms", &cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_load(b, KEY_A, &ld, &err), ==, -1);
    CHECK_STR(backend_code_name(err.code), "unload_failed");
    CHECK(strstr(err.detail, "LM Studio is not running") != NULL);
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
    CHECK_STR(backend_code_name(err.code), "model_mismatch");
    CHECK(strstr(err.detail, "m1") != NULL);
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
    const char *load_cmd[] = {NULL, "{model}", "--ctx={context_length}", "{identifier} x", NULL};
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
    struct backend_err err;
    struct backend_preflight pf;
    const char *models[] = {KEY_A};
    json_t *log, *line;

    t_start(&t, NULL, 0);
    /* The configured server is down; lms may start it (the fake only says
     * it did): the note says so and the re-check still fails. */
    snprintf(t.cfg.base_url, sizeof(t.cfg.base_url), "http://127.0.0.1:9");
    t.cfg.allow_server_start = 1;
    b = backend_new("lms", &t.cfg, &err);
    CHECK(b != NULL);
    CHECK_INT(backend_preflight(b, models, 1, &pf), ==, -1);
    CHECK(strstr(pf.notes, "lms server start") != NULL);
    CHECK(t_has_reason(&pf, BACKEND_SERVER_UNREACHABLE, "after lms server start"));
    CHECK_INT(pf.nreasons, ==, 1);
    CHECK_INT(pf.models[0].found, ==, 1);
    backend_preflight_free(&pf);
    log = t_argv_log(&t);
    line = t_log_nth(log, "server", 0);
    CHECK(line != NULL);
    CHECK_STR(json_string_value(json_array_get(line, 1)), "start");
    CHECK(!t_log_has(log, "unload"));
    json_decref(log);
    backend_free(b);
    t_stop(&t);
}

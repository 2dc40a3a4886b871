/* daemonutil.c - see daemonutil.h. */
#include "tests/daemonutil.h"

#include "tests/check.h"
#include "tests/httputil.h"
#include "daemon/curl_dl.h"

#include "storage/db.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DU_SPEC_MAX 8192
#define DU_LOG_TAIL 4000
#define DU_SSE_LINE_MAX (1024 * 1024)
#define DU_ENVIRON_MAX (256 * 1024)
#define DU_HEADERS_MAX 16 /* request header lines du_call_raw passes on */

extern char **environ;

void
du_must_lms_config(struct du_env *e, const char *lms_extra)
{
    char cfg[TU_PATH_MAX * 3];

    snprintf(cfg, sizeof(cfg), "{\"sim\":\"%s\",\"log\":\"%s\"%s%s}", e->sim.base_url,
             e->argv_log, lms_extra ? "," : "", lms_extra ? lms_extra : "");
    CHECK_INT(tu_write_file(e->lms_cfg, cfg), ==, 0);
}

void
du_sim_and_home(struct tu_sim *sim, const char *sim_extra, const char *models_json,
                const char *home)
{
    char path[TU_PATH_MAX * 2], *simcfg;
    size_t n = strlen(models_json) + strlen(sim_extra) + 64;

    simcfg = malloc(n);
    CHECK(simcfg != NULL);
    snprintf(simcfg, n, "{%s\"models\":[%s]}", sim_extra, models_json);
    CHECK_INT(tu_sim_start(simcfg, sim), ==, 0);
    free(simcfg);
    CHECK_INT(mkdir(home, 0700), ==, 0);
    snprintf(path, sizeof(path), "%s/.lmstudio", home);
    CHECK_INT(mkdir(path, 0700), ==, 0);
}

void
du_must_setup(struct du_env *e, const char *models_json, const char *lms_extra)
{

    memset(e, 0, sizeof(*e));
    e->pid = -1;
    /* Tests call the API from several threads: init libcurl once, here. */
    curl_global_init(CURL_GLOBAL_ALL);
    snprintf(e->dir, sizeof(e->dir), "%s", tu_tmpdir());
    snprintf(e->home, sizeof(e->home), "%s/home", e->dir);
    snprintf(e->db, sizeof(e->db), "%s/tpsd.db", e->dir);
    snprintf(e->argv_log, sizeof(e->argv_log), "%s/lms-argv.log", e->dir);
    snprintf(e->log, sizeof(e->log), "%s/tpsd.log", e->dir);
    du_sim_and_home(&e->sim, "", models_json, e->home);
    snprintf(e->lms_cfg, sizeof(e->lms_cfg), "%s/.lmstudio/fake-lms.json", e->home);
    du_must_lms_config(e, lms_extra);
    CHECK_INT(setenv("HOME", e->home, 1), ==, 0);
    unsetenv("FAKE_LMS_CONFIG");
    unsetenv("TPSD_CONFIG");
    unsetenv("TPSD_DB");
    unsetenv("TPSD_URL");
    unsetenv("TPSD_TOKEN");
    unsetenv("TPSD_TOKEN_FILE");
    unsetenv("TPSD_LISTEN_PORT");
    e->port = tu_free_port();
    CHECK_INT(e->port, >, 0);
    snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", e->port);
}

static int
spawn_daemon(struct du_env *e, const char *const *extra)
{
    posix_spawn_file_actions_t fa;
    char *argv[DU_ARGS_MAX];
    char port[16];
    const char *bin = getenv("TPSD_BIN");
    int n = 0, i, err;

    if (bin == NULL || *bin == '\0') {
        fprintf(stderr, "du_start: TPSD_BIN is not set\n");
        return -1;
    }
    snprintf(port, sizeof(port), "%d", e->port);
    n = TU_ARGV(argv, n, (char *)bin, "serve", "--db", e->db, "--listen-port", port, "--lms",
                (char *)tu_src("tests/fake-lms"), "--base-url", e->sim.base_url);
    for (i = 0; extra != NULL && extra[i] != NULL && n < DU_ARGS_MAX - 1; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, e->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    err = posix_spawn(&e->pid, bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        fprintf(stderr, "du_start: %s: %s\n", bin, strerror(err));
        e->pid = -1;
        return -1;
    }
    check_child(e->pid, 0);
    e->starts++;
    return 0;
}

int
du_start(struct du_env *e, const char *const *extra)
{
    uint64_t deadline;
    long st;

    if (spawn_daemon(e, extra) == -1)
        return -1;
    deadline = tu_now_ns() + (uint64_t)DU_START_MS * 1000000ULL;
    while (tu_now_ns() < deadline) {
        if (tu_wait_pid_exit(e->pid, 0, NULL) == 0) {
            fprintf(stderr, "du_start: tpsd serve exited early\n");
            e->pid = -1;
            return -1;
        }
        st = du_call(e, "GET", "/v1/healthz", NULL, NULL, NULL);
        if (st == 200)
            return 0;
        tu_sleep_ms(10);
    }
    fprintf(stderr, "du_start: tpsd serve did not come up\n");
    du_kill(e);
    return -1;
}

void
du_must_start(struct du_env *e, const char *const *extra)
{
    if (du_start(e, extra) == -1)
        check_failed(__FILE__, __LINE__, "tpsd serve did not start: %s", du_log_tail(e));
}

int
du_signal_wait(struct du_env *e, int sig, long timeout_ms, int *status)
{
    if (e->pid <= 0)
        return -1;
    kill(e->pid, sig);
    if (tu_wait_pid_exit(e->pid, timeout_ms, status) == -1) {
        du_kill(e);
        return -1;
    }
    e->pid = -1;
    return 0;
}

void
du_kill(struct du_env *e)
{
    if (e->pid <= 0)
        return;
    kill(e->pid, SIGKILL);
    waitpid(e->pid, NULL, 0);
    e->pid = -1;
}

void
du_teardown(struct du_env *e)
{
    if (e->pid > 0 && du_signal_wait(e, SIGTERM, 10000, NULL) == -1)
        du_kill(e);
    tu_sim_stop(&e->sim);
}

/* ---- HTTP ---- */

long
du_call_raw(struct du_env *e, const char *method, const char *path, const char *body,
            const char *const *headers, char **text, const char *hdr, char *hval, size_t hlen)
{
    const char *hl[DU_HEADERS_MAX + 2];
    struct hu_opts o;
    struct hu_resp r;
    char url[TU_URL_MAX + TU_PATH_MAX], auth[160];
    const char *v;
    size_t i, n = 0;
    long status;
    int rc;

    if (text != NULL)
        *text = NULL;
    if (hval != NULL && hlen > 0)
        hval[0] = '\0';
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (n == DU_HEADERS_MAX)
            return -1;
        hl[n++] = headers[i];
    }
    if (e->token[0] != '\0') {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", e->token);
        hl[n++] = auth;
    }
    hl[n] = NULL;
    memset(&o, 0, sizeof(o));
    o.headers = hl;
    o.body = body;
    o.json_body = 1;
    o.timeout_s = 30;
    snprintf(url, sizeof(url), "%s%s", e->url, path);
    rc = hu_request(method, url, &o, &r);
    v = hdr != NULL ? hu_header(&r, hdr) : NULL;
    if (v != NULL && hval != NULL && hlen > 0)
        snprintf(hval, hlen, "%s", v);
    if (text != NULL) {
        *text = r.body.p ? r.body.p : strdup("");
        r.body.p = NULL;
    }
    status = r.status;
    hu_resp_free(&r);
    return rc == 0 ? status : -1;
}

long
du_call(struct du_env *e, const char *method, const char *path, const char *body,
        const char *const *headers, json_t **resp)
{
    char *text = NULL;
    long st = du_call_raw(e, method, path, body, headers, &text, NULL, NULL, 0);

    if (resp != NULL)
        *resp = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return st;
}

char *
du_spec(struct du_env *e, const char *const *models, int tokens, int repetitions, int warmup,
        const char *backend, const char *extra)
{
    char *s = malloc(DU_SPEC_MAX), ms[1024] = "";
    size_t used = 0;
    int i;

    CHECK(s != NULL);
    for (i = 0; models[i] != NULL; i++)
        used +=
            (size_t)snprintf(ms + used, sizeof(ms) - used, "%s\"%s\"", i ? "," : "", models[i]);
    CHECK(used < sizeof(ms));
    snprintf(s, DU_SPEC_MAX,
             "{\"name\":\"t\",\"models\":[%s],"
             "\"suite\":{\"name\":\"t\",\"cases\":["
             "{\"name\":\"greet\",\"max_tokens\":%d,\"messages\":[{\"role\":\"user\","
             "\"content\":\"say hello\"}]},"
             "{\"name\":\"more\",\"max_tokens\":%d,\"messages\":[{\"role\":\"user\","
             "\"content\":\"again\"}]}]},"
             "\"repetitions\":%d,\"warmup\":%d,\"backend\":{\"type\":\"%s\"},"
             "\"server\":{\"base_url\":\"%s\"}%s%s}",
             ms, tokens, tokens, repetitions, warmup, backend, e->sim.base_url,
             extra ? "," : "", extra ? extra : "");
    return s;
}

long long
du_must_submit(struct du_env *e, const char *spec)
{
    json_t *r = NULL;
    long st = du_call(e, "POST", "/v1/jobs", spec, NULL, &r);
    long long id;

    if (st != 201)
        check_failed(__FILE__, __LINE__, "POST /v1/jobs: status %ld", st);
    id = (long long)json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    CHECK_INT(id, >, 0);
    return id;
}

long long
du_must_submit_job(struct du_env *e, const char *const *models, int tokens, int repetitions,
                   int warmup, const char *backend, const char *extra)
{
    char *spec = du_spec(e, models, tokens, repetitions, warmup, backend, extra);
    long long id = du_must_submit(e, spec);

    free(spec);
    return id;
}

json_t *
du_job(struct du_env *e, long long id)
{
    char path[64];
    json_t *j = NULL;

    snprintf(path, sizeof(path), "/v1/jobs/%lld", id);
    if (du_call(e, "GET", path, NULL, NULL, &j) != 200) {
        json_decref(j);
        return NULL;
    }
    return j;
}

const char *
du_wait_final(struct du_env *e, long long id, long timeout_ms, char *buf, size_t len)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    json_t *j;

    buf[0] = '\0';
    while (tu_now_ns() < deadline) {
        j = du_job(e, id);
        if (j != NULL) {
            const char *s = json_string_value(json_object_get(j, "state"));
            if (s != NULL && strcmp(s, "queued") != 0 && strcmp(s, "running") != 0) {
                snprintf(buf, len, "%s", s);
                json_decref(j);
                return buf;
            }
            json_decref(j);
        }
        tu_sleep_ms(20);
    }
    return buf;
}

int
du_wait_samples(struct du_env *e, long long id, int n, long timeout_ms)
{
    uint64_t deadline = tu_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    char sql[256];
    sqlite3 *db;
    double got;

    snprintf(
        sql, sizeof(sql),
        "SELECT count(*) FROM samples s JOIN runs r ON s.run_id = r.id WHERE r.job_id = %lld",
        id);
    while (tu_now_ns() < deadline) {
        db = du_must_db(e);
        got = du_q(db, sql);
        sqlite3_close(db);
        if (got >= n)
            return 0;
        tu_sleep_ms(10);
    }
    return -1;
}

/* ---- SSE ---- */

struct du_sse_st {
    char *line; /* the current line */
    size_t len;
    long long id;
    char event[64];
    char *data; /* data lines joined */
    size_t dlen;
    json_t *out;
    int max, stopped;
};

static void
sse_dispatch(struct du_sse_st *s)
{
    json_t *ev;

    if (s->data == NULL && s->event[0] == '\0')
        return;
    ev = json_pack("{s:I,s:s,s:o}", "id", (json_int_t)s->id, "event",
                   s->event[0] ? s->event : "message", "data",
                   s->data ? json_loads(s->data, JSON_DECODE_ANY, NULL) : json_null());
    if (ev != NULL)
        json_array_append_new(s->out, ev);
    free(s->data);
    s->data = NULL;
    s->dlen = 0;
    s->event[0] = '\0';
}

static void
sse_line(struct du_sse_st *s, const char *l)
{
    const char *v = strchr(l, ':');
    size_t k;

    if (*l == '\0') {
        sse_dispatch(s);
        return;
    }
    if (v == l)
        return; /* comment */
    k = v ? (size_t)(v - l) : strlen(l);
    v = v ? v + 1 : "";
    if (*v == ' ')
        v++;
    if (k == 2 && strncmp(l, "id", 2) == 0) {
        s->id = strtoll(v, NULL, 10);
    } else if (k == 5 && strncmp(l, "event", 5) == 0) {
        snprintf(s->event, sizeof(s->event), "%s", v);
    } else if (k == 4 && strncmp(l, "data", 4) == 0) {
        size_t n = strlen(v);
        char *p = realloc(s->data, s->dlen + n + 2);

        if (p == NULL)
            return;
        s->data = p;
        if (s->dlen > 0)
            s->data[s->dlen++] = '\n';
        memcpy(s->data + s->dlen, v, n + 1);
        s->dlen += n;
    }
}

static size_t
sse_write(char *data, size_t size, size_t nmemb, void *cls)
{
    struct du_sse_st *s = cls;
    size_t n = size * nmemb, i;

    for (i = 0; i < n; i++) {
        if (data[i] == '\n') {
            if (s->len > 0 && s->line[s->len - 1] == '\r')
                s->len--;
            s->line[s->len] = '\0';
            sse_line(s, s->line);
            s->len = 0;
            if (s->max > 0 && (int)json_array_size(s->out) >= s->max) {
                s->stopped = 1;
                return 0; /* enough: abort the transfer */
            }
            continue;
        }
        if (s->len + 2 >= DU_SSE_LINE_MAX)
            return 0;
        s->line[s->len++] = data[i];
    }
    return n;
}

int
du_sse(struct du_env *e, const char *path, long long last_id, int max_events, long timeout_ms,
       json_t **out)
{
    struct du_sse_st s;
    struct curl_slist *hl = NULL;
    char url[TU_URL_MAX + TU_PATH_MAX], hdr[64];
    CURLcode res;
    CURL *c = curl_easy_init();

    memset(&s, 0, sizeof(s));
    *out = NULL;
    if (c == NULL)
        return -1;
    s.line = malloc(DU_SSE_LINE_MAX);
    s.out = json_array();
    s.max = max_events;
    snprintf(url, sizeof(url), "%s%s", e->url, path);
    hl = curl_slist_append(hl, "Accept: text/event-stream");
    if (last_id > 0) {
        snprintf(hdr, sizeof(hdr), "Last-Event-ID: %lld", last_id);
        hl = curl_slist_append(hl, hdr);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    res = curl_easy_perform(c);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    free(s.line);
    free(s.data);
    *out = s.out;
    return res == CURLE_OK || (s.stopped && res == CURLE_WRITE_ERROR) ? 0 : -1;
}

/* ---- database ---- */

struct db *
du_db_open(const char *path)
{
    char err[DB_ERR_MAX];
    struct db *db = db_open(path, err, sizeof(err));

    if (db == NULL)
        check_failed(__FILE__, __LINE__, "db_open %s: %s", path, err);
    return db;
}

sqlite3 *
du_open_ro(const char *path)
{
    sqlite3 *db = NULL;

    CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

sqlite3 *
du_must_db(struct du_env *e)
{
    return du_open_ro(e->db);
}

double
du_env_q(struct du_env *e, const char *sql)
{
    sqlite3 *db = du_must_db(e);
    double v = du_q(db, sql);

    sqlite3_close(db);
    return v;
}

double
du_q(sqlite3 *db, const char *sql)
{
    return du_qf(db, "%s", sql);
}

/* The statement fmt makes, stepped once: a row is there when
 * sqlite3_column_type(st, 0) answers; a bad statement fails the test. */
static sqlite3_stmt *du_step_v(sqlite3 *db, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static sqlite3_stmt *
du_step_v(sqlite3 *db, const char *fmt, va_list ap)
{
    char sql[DU_SQL_MAX];
    sqlite3_stmt *st = NULL;

    vsnprintf(sql, sizeof(sql), fmt, ap);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        check_failed(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        st = NULL;
    }
    return st;
}

double
du_qf(sqlite3 *db, const char *fmt, ...)
{
    sqlite3_stmt *st;
    double v = NAN;
    va_list ap;

    va_start(ap, fmt);
    st = du_step_v(db, fmt, ap);
    va_end(ap);
    if (st != NULL && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

void
du_qs(sqlite3 *db, char *out, size_t len, const char *fmt, ...)
{
    sqlite3_stmt *st;
    const unsigned char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    st = du_step_v(db, fmt, ap);
    va_end(ap);
    if (st != NULL)
        s = sqlite3_column_text(st, 0);
    snprintf(out, len, "%s", s ? (const char *)s : "");
    sqlite3_finalize(st);
}

/* ---- processes ---- */

int
du_pid_alive(pid_t pid)
{
#ifdef __linux__
    char path[64], *text = NULL, *p;
    int alive = 0;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (tu_read_file(path, &text, NULL) == -1)
        return 0;
    /* pid (comm) S ...: the state follows the last ')'. */
    p = strrchr(text, ')');
    alive = p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
    free(text);
    return alive;
#else
    return kill(pid, 0) == 0;
#endif
}

int
du_home_pids(struct du_env *e, pid_t *pids, int max)
{
    int n = 0;
#ifdef __linux__
    char want[TU_PATH_MAX + 8], path[64];
    struct dirent *d;
    DIR *dir = opendir("/proc");
    size_t wl;

    if (dir == NULL)
        return 0;
    wl = (size_t)snprintf(want, sizeof(want), "HOME=%s", e->home) + 1; /* with the NUL */
    while ((d = readdir(dir)) != NULL && n < max) {
        char *end, *text = NULL;
        size_t len = 0, off;
        long pid = strtol(d->d_name, &end, 10);

        if (*end != '\0' || pid <= 0 || pid == (long)getpid() || pid == (long)e->pid ||
            pid == (long)e->sim.pid)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if (tu_read_file(path, &text, &len) == -1)
            continue;
        for (off = 0; off < len && off < DU_ENVIRON_MAX; off += strlen(text + off) + 1) {
            if (len - off >= wl && memcmp(text + off, want, wl) == 0) {
                if (du_pid_alive((pid_t)pid))
                    pids[n++] = (pid_t)pid;
                break;
            }
        }
        free(text);
    }
    closedir(dir);
#else
    (void)e;
    (void)pids;
    (void)max;
#endif
    return n;
}

const char *
du_log_tail(struct du_env *e)
{
    static char buf[DU_LOG_TAIL + 1];
    char *text = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (tu_read_file(e->log, &text, &len) == 0) {
        snprintf(buf, sizeof(buf), "%s", len > DU_LOG_TAIL ? text + len - DU_LOG_TAIL : text);
        free(text);
    }
    return buf;
}

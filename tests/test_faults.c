/*
 * test_faults.c - issue 14's hostile-input and storage-fault probe, item by
 * item, against the real `tpsd serve` / `tpsd run` / `tpsd db` processes,
 * tpsd-sim and real SQLite files:
 *   1  a job's suite names no path the daemon would read (400 at POST);
 *   2  a FIFO as suite cannot block the worker; cancel and SIGTERM win;
 *   4  a database this user cannot write: healthz 503 from the start, POST
 *      503, the worker logs it once;
 *   5  another process holding BEGIN IMMEDIATE for 15 s: no sample lost,
 *      the job succeeds, healthz says "locked" meanwhile;
 *   6  start-up messages name the cause (another process's exclusive lock,
 *      a folder that cannot be written);
 *   10 a foreground run stopped by a signal closes its run; `tpsd db`
 *      closes runs an older version left open.
 * As root (CI containers), "another user" is uid/gid 65534: the daemon is
 * started with that uid, since root writes any file.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"
#include "tests/testutil.h"

#include "storage/db.h"
#include "storage/jobs.h"
#include "storage/runs.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_JOB_MS 60000   /* a test job finishes within */
#define T_CANCEL_MS 5000 /* cancel: state cancelled within */
#define T_STOP_MS 8000   /* SIGTERM: exit within (serve's grace is 5 s) */
#define T_LOCK_S 15      /* the lock: longer than SQLite's 5 s busy timeout */
#define T_OTHER_UID 65534

#define MODEL_FAST(key) DU_MODEL(key, 400)
/* 20 tokens at 20 tok/s: a request takes about 1 s. */
#define MODEL_SLOW(key) DU_MODEL(key, 20)

static const char *const one_model[] = {"m1", NULL};

/* How many ok samples the runs of job id hold. */
static int
t_ok_samples(sqlite3 *db, long long id)
{
    return (int)du_qf(db,
                      "SELECT count(*) FROM samples s JOIN runs r ON s.run_id = r.id"
                      " WHERE r.job_id = %lld AND s.ok = 1",
                      id);
}

/* POST a spec; the status, and the error message into msg. */
static long
post_spec(struct du_env *e, const char *spec, char *msg, size_t len)
{
    json_t *r = NULL;
    long st = du_call(e, "POST", "/v1/jobs", spec, NULL, &r);
    const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));

    snprintf(msg, len, "%s", m ? m : "");
    json_decref(r);
    return st;
}

static char *
spec_with_suite(struct du_env *e, const char *suite_json)
{
    char *s = malloc(4096);

    CHECK(s != NULL);
    snprintf(s, 4096,
             "{\"models\":[\"m1\"],\"suite\":%s,\"repetitions\":1,\"warmup\":0,"
             "\"backend\":{\"type\":\"lms\"},\"server\":{\"base_url\":\"%s\"}}",
             suite_json, e->sim.base_url);
    return s;
}

static int
count_in_file(const char *path, const char *needle)
{
    char *text = NULL, *p;
    int n = 0;

    if (tu_read_file(path, &text, NULL) == -1)
        return 0;
    for (p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    free(text);
    return n;
}

/* Item 1: "suite": "/etc/passwd" (or ../../etc/passwd, /proc/self/environ)
 * is refused at POST with 400, the message holds nothing of the file, a
 * missing file answers exactly as an existing one, and no job is queued. */
TEST(suite_path_refused_at_post)
{
    static const char *const paths[] = {"\"/etc/passwd\"", "\"../../etc/passwd\"",
                                        "\"/proc/self/environ\"", "\"/nonexistent/x\"", NULL};
    struct du_env e;
    char msg[1024], first[1024], *spec;
    json_t *list = NULL;
    int i;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    du_must_start(&e, NULL);
    for (i = 0; paths[i] != NULL; i++) {
        spec = spec_with_suite(&e, paths[i]);
        CHECK_INT(post_spec(&e, spec, msg, sizeof(msg)), ==, 400);
        free(spec);
        CHECK(strncmp(msg, "suite:", 6) == 0);
        CHECK(strstr(msg, "root") == NULL);
        CHECK(strstr(msg, "No such file") == NULL);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", msg);
        else
            CHECK_STR(msg, first);
    }
    /* A bare name with no suites_dir: the same for every name. */
    spec = spec_with_suite(&e, "\"passwd\"");
    CHECK_INT(post_spec(&e, spec, msg, sizeof(msg)), ==, 400);
    CHECK(strstr(msg, "no suite named \"passwd\"") != NULL);
    free(spec);
    CHECK_INT(du_call(&e, "GET", "/v1/jobs", NULL, NULL, &list), ==, 200);
    CHECK_INT(json_array_size(json_object_get(list, "jobs")), ==, 0);
    json_decref(list);
    du_teardown(&e);
}

/* Item 2: a FIFO in suites_dir is refused at once (no writer ever opens
 * it); a job stored by an older tpsd naming a FIFO by path fails fast
 * instead of hanging the worker; the queue moves; cancel and SIGTERM win. */
TEST(suite_fifo_cannot_block_worker)
{
    struct du_env e;
    char suites[TU_PATH_MAX + 16], fifo[TU_PATH_MAX + 32], msg[1024], state[32],
        err[DB_ERR_MAX];
    char old[2048], *spec, *slow;
    const char *extra[] = {"--suites-dir", suites, NULL};
    struct db *db;
    long long id, old_id;
    int64_t id64;
    int existing, status = 0;

    du_must_setup(&e, MODEL_FAST("m1") "," MODEL_SLOW("s"), NULL);
    snprintf(suites, sizeof(suites), "%s/suites", e.dir);
    CHECK_INT(mkdir(suites, 0700), ==, 0);
    snprintf(fifo, sizeof(fifo), "%s/f", suites);
    CHECK_INT(mkfifo(fifo, 0600), ==, 0);
    /* What an older version queued: the suite as a path to the FIFO. */
    db = db_open(e.db, err, sizeof(err));
    CHECK(db != NULL);
    snprintf(old, sizeof(old),
             "{\"models\":[\"m1\"],\"suite\":\"%s\",\"repetitions\":1,\"warmup\":0,"
             "\"backend\":{\"type\":\"lms\"},\"server\":{\"base_url\":\"%s\"}}",
             fifo, e.sim.base_url);
    CHECK_INT(jobs_create(db, "old", "benchmark", old, 0, NULL, NULL, &id64, &existing), ==, 0);
    db_close(db);
    old_id = id64;
    du_must_start(&e, extra);
    CHECK_STR(du_wait_final(&e, old_id, T_JOB_MS, state, sizeof(state)), "failed");
    /* Named over the API: 400 at once. */
    spec = spec_with_suite(&e, "\"f\"");
    CHECK_INT(post_spec(&e, spec, msg, sizeof(msg)), ==, 400);
    CHECK(strstr(msg, "no suite named \"f\"") != NULL);
    free(spec);
    /* The worker is free: a job runs, another is cancelled mid-run. */
    spec = du_spec(&e, one_model, 5, 1, 0, "lms", NULL);
    id = du_must_submit(&e, spec);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    free(spec);
    {
        const char *const slow_model[] = {"s", NULL};
        slow = du_spec(&e, slow_model, 40, 5, 0, "lms", NULL);
    }
    id = du_must_submit(&e, slow);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    {
        char path[64];
        snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel", id);
        CHECK_INT(du_call(&e, "POST", path, NULL, NULL, NULL), ==, 200);
    }
    CHECK_STR(du_wait_final(&e, id, T_CANCEL_MS, state, sizeof(state)), "cancelled");
    id = du_must_submit(&e, slow);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, &status), ==, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(slow);
    du_teardown(&e);
}

/* Start `tpsd args...` with stdout+stderr into `log`, as uid/gid
 * T_OTHER_UID when this test runs as root (else as ourselves). */
static pid_t
spawn_as_other(char *const argv[], const char *log)
{
    pid_t pid = fork();
    int fd;

    CHECK(pid != -1);
    if (pid == 0) {
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd == -1)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        if (geteuid() == 0 && (setgid(T_OTHER_UID) == -1 || setuid(T_OTHER_UID) == -1))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* A folder the other user owns (as root) or we own. */
static void
make_other_dir(const char *dir)
{
    CHECK_INT(mkdir(dir, 0777), ==, 0);
    CHECK_INT(chmod(dir, 0777), ==, 0);
    if (geteuid() == 0)
        CHECK_INT(chown(dir, T_OTHER_UID, T_OTHER_UID), ==, 0);
}

/* Item 4: a 0444 database owned by another user. The daemon starts (reads
 * are served); healthz is 503 "read_only" from its first answer; POST
 * /v1/jobs is 503 db_unavailable (as OpenAPI documents), not 500; the
 * worker says so once, not every second. */
TEST(readonly_db_healthz_503_post_503)
{
    struct du_env e;
    char dir[TU_PATH_MAX + 16], dbp[TU_PATH_MAX + 32], log[TU_PATH_MAX + 32], port[16];
    char err[DB_ERR_MAX], msg[1024], *spec;
    char *argv[12];
    struct db *db;
    json_t *r = NULL;
    long st = 0;
    int i, status;
    pid_t pid;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    snprintf(dir, sizeof(dir), "%s/other", e.dir);
    make_other_dir(dir);
    CHECK_INT(chmod(e.dir, 0755), ==, 0);
    snprintf(dbp, sizeof(dbp), "%s/tpsd.db", dir);
    snprintf(log, sizeof(log), "%s/serve.log", dir);
    db = db_open(dbp, err, sizeof(err));
    CHECK(db != NULL);
    db_close(db);
    CHECK_INT(chmod(dbp, 0444), ==, 0);
    snprintf(port, sizeof(port), "%d", e.port);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "serve", "--db", dbp, "--listen-port", port,
                  "--sample-interval-ms", "0");
    pid = spawn_as_other(argv, log);
    /* Its first answer already says so. */
    for (i = 0; i < 2000; i++) {
        st = du_call(&e, "GET", "/v1/healthz", NULL, NULL, &r);
        if (st > 0)
            break;
        CHECK(tu_wait_pid_exit(pid, 0, NULL) == -1);
        tu_sleep_ms(10);
    }
    CHECK_INT(st, ==, 503);
    CHECK_STR(json_string_value(json_object_get(r, "db")), "read_only");
    CHECK_STR(json_string_value(json_object_get(r, "status")), "degraded");
    json_decref(r);
    spec = du_spec(&e, one_model, 5, 1, 0, "lms", NULL);
    CHECK_INT(post_spec(&e, spec, msg, sizeof(msg)), ==, 503);
    free(spec);
    CHECK_INT(du_call(&e, "GET", "/v1/jobs", NULL, NULL, NULL), ==, 200);
    tu_sleep_ms(4000); /* the old worker logged a failed claim every second */
    CHECK_INT(count_in_file(log, "claiming a job failed"), <=, 1);
    CHECK(count_in_file(log, "cannot be written") >= 1);
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 503);
    kill(pid, SIGTERM);
    CHECK_INT(tu_wait_pid_exit(pid, T_STOP_MS, &status), ==, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    du_teardown(&e);
}

/* Another process: open `path`, run `sql` (a lock), report on fd `ready`,
 * hold for `hold_s`, then roll back and exit. */
static pid_t
hold_lock(const char *path, const char *sql, int hold_s)
{
    int p[2];
    pid_t pid;
    char c = 0;

    CHECK_INT(pipe(p), ==, 0);
    pid = fork();
    CHECK(pid != -1);
    if (pid == 0) {
        sqlite3 *h = NULL;
        close(p[0]);
        if (sqlite3_open(path, &h) != SQLITE_OK ||
            sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        c = 1;
        if (write(p[1], &c, 1) != 1)
            _exit(1);
        sleep((unsigned)hold_s);
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(0);
    }
    close(p[1]);
    CHECK_INT(read(p[0], &c, 1), ==, 1);
    close(p[0]);
    return pid;
}

/* Item 5: BEGIN IMMEDIATE held for 15 s by another process while a job
 * runs. Every planned sample is stored, none failed, the job succeeds, and
 * healthz says "locked" while the worker waits. */
TEST(lock_held_15s_no_sample_lost)
{
    struct du_env e;
    const char *const slow_model[] = {"s", NULL};
    char state[32];
    json_t *r = NULL;
    sqlite3 *db;
    long long id;
    pid_t holder;
    int status, saw_locked = 0, i;

    du_must_setup(&e, MODEL_SLOW("s"), NULL);
    du_must_start(&e, NULL);
    /* 2 cases x 6 repetitions of about 1 s each. */
    id = du_must_submit_job(&e, slow_model, 20, 6, 0, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    holder = hold_lock(e.db, "BEGIN IMMEDIATE", T_LOCK_S);
    for (i = 0; i < 100 && !saw_locked; i++) {
        if (du_call(&e, "GET", "/v1/healthz", NULL, NULL, &r) == 503)
            saw_locked = strcmp(json_string_value(json_object_get(r, "db")), "locked") == 0;
        json_decref(r);
        r = NULL;
        tu_sleep_ms(100);
    }
    CHECK(saw_locked);
    CHECK_INT(tu_wait_pid_exit(holder, (T_LOCK_S + 10) * 1000L, &status), ==, 0);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    db = du_must_db(&e);
    CHECK_INT(t_ok_samples(db, id), ==, 12);
    sqlite3_close(db);
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 200);
    du_teardown(&e);
}

/* Item 5's bound: with storage_retry_s = 1 a lock that stays (here 12 s)
 * fails the job (storage_error) instead of waiting for ever; the daemon
 * lives on and is healthy once the lock is gone. */
TEST(lock_beyond_budget_fails_job)
{
    struct du_env e;
    const char *const slow_model[] = {"s", NULL};
    const char *const extra[] = {"--storage-retry-s", "1", NULL};
    char state[32];
    json_t *j;
    long long id;
    pid_t holder;
    int status;

    du_must_setup(&e, MODEL_SLOW("s"), NULL);
    du_must_start(&e, extra);
    id = du_must_submit_job(&e, slow_model, 20, 6, 0, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    holder = hold_lock(e.db, "BEGIN IMMEDIATE", 12);
    CHECK_INT(tu_wait_pid_exit(holder, 30000, &status), ==, 0);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "failed");
    j = du_job(&e, id);
    CHECK_STR(json_string_value(json_object_get(j, "error_code")), "storage_error");
    json_decref(j);
    CHECK(du_pid_alive(e.pid));
    CHECK_INT(du_call(&e, "GET", "/v1/healthz", NULL, NULL, NULL), ==, 200);
    du_teardown(&e);
}

/* SIGTERM while the worker waits for another process's lock: the daemon
 * exits 0 within its stop time (the wait yields); after a restart the job
 * resumes and ends with every planned sample, each stored once. */
TEST(lock_wait_yields_to_sigterm)
{
    struct du_env e;
    const char *const slow_model[] = {"s", NULL};
    char state[32];
    sqlite3 *db;
    long long id;
    pid_t holder;
    int status = 0;

    du_must_setup(&e, MODEL_SLOW("s"), NULL);
    du_must_start(&e, NULL);
    id = du_must_submit_job(&e, slow_model, 20, 3, 0, "lms", NULL);
    CHECK_INT(du_wait_samples(&e, id, 1, T_JOB_MS), ==, 0);
    holder = hold_lock(e.db, "BEGIN IMMEDIATE", 20);
    tu_sleep_ms(7000); /* past SQLite's 5 s busy timeout: in the retry loop */
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, &status), ==, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    kill(holder, SIGKILL);
    CHECK_INT(tu_wait_pid_exit(holder, 5000, &status), ==, 0);
    du_must_start(&e, NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    db = du_must_db(&e);
    CHECK_INT(t_ok_samples(db, id), ==, 6);
    CHECK_INT((int)du_qf(db,
                         "SELECT count(DISTINCT s.seq) FROM samples s JOIN runs r"
                         " ON s.run_id = r.id WHERE r.job_id = %lld",
                         id),
              ==, 6);
    sqlite3_close(db);
    du_teardown(&e);
}

/* Run `tpsd db --db path` (as the other user when other); exit status, and
 * its output in *out (caller frees). */
static int
tpsd_db(struct du_env *e, const char *path, int other, char **out)
{
    char log[TU_PATH_MAX + 16];
    char *argv[5];
    int status = 0;
    pid_t pid;

    snprintf(log, sizeof(log), "%s/db-%d.out", e->dir, e->starts++);
    (void)TU_ARGV(argv, 0, getenv("TPSD_BIN"), "db", "--db", (char *)path);
    if (other) {
        pid = spawn_as_other(argv, log);
        CHECK_INT(tu_wait_pid_exit(pid, 60000, &status), ==, 0);
        status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    } else {
        CHECK_INT(tu_run(argv, log, log, 60000, &status), ==, 0);
    }
    CHECK_INT(tu_read_file(log, out, NULL), ==, 0);
    return status;
}

/* Item 6: a database held with locking_mode=EXCLUSIVE by another process
 * is "locked by another process", not "not a tpsd database". */
TEST(exclusive_lock_message)
{
    struct du_env e;
    char err[DB_ERR_MAX], *out = NULL;
    struct db *db;
    pid_t holder;
    int status;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    db = db_open(e.db, err, sizeof(err));
    CHECK(db != NULL);
    db_close(db);
    holder = hold_lock(e.db,
                       "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
                       " SELECT count(*) FROM jobs;",
                       20);
    CHECK_INT(tpsd_db(&e, e.db, 0, &out), !=, 0);
    if (strstr(out, "locked by another process") == NULL)
        check_failed(__FILE__, __LINE__, "message: %s", out);
    CHECK(strstr(out, "not a tpsd database") == NULL);
    free(out);
    kill(holder, SIGKILL);
    tu_wait_pid_exit(holder, 5000, &status);
    du_teardown(&e);
}

/* Item 6: a database in a folder this user cannot write (SQLite must create
 * -wal and -shm beside it; a read-only filesystem fails the same way) says
 * so, not "not a tpsd database: unable to open database file". */
TEST(unwritable_folder_message)
{
    struct du_env e;
    char dir[TU_PATH_MAX + 16], dbp[TU_PATH_MAX + 32], err[DB_ERR_MAX], *out = NULL;
    struct db *db;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    CHECK_INT(chmod(e.dir, 0777), ==, 0);
    snprintf(dir, sizeof(dir), "%s/ro", e.dir);
    CHECK_INT(mkdir(dir, 0755), ==, 0);
    snprintf(dbp, sizeof(dbp), "%s/tpsd.db", dir);
    db = db_open(dbp, err, sizeof(err));
    CHECK(db != NULL);
    db_close(db);
    CHECK_INT(chmod(dbp, 0666), ==, 0);
    if (geteuid() != 0)
        CHECK_INT(chmod(dir, 0555), ==, 0);
    CHECK_INT(tpsd_db(&e, dbp, 1, &out), !=, 0);
    if (strstr(out, "cannot be written by this user") == NULL)
        check_failed(__FILE__, __LINE__, "message: %s", out);
    CHECK(strstr(out, "not a tpsd database") == NULL);
    free(out);
    CHECK_INT(chmod(dir, 0755), ==, 0);
    du_teardown(&e);
}

/* Item 10: `tpsd run ... --repetitions 10` stopped by SIGTERM (what
 * `timeout 3` sends): the job ends cancelled and so does its run, with
 * finished_at. */
TEST(foreground_run_signal_closes_run)
{
    struct du_env e;
    char suite[TU_PATH_MAX + 16], log[TU_PATH_MAX + 16], *argv[20];
    sqlite3 *db;
    FILE *f;
    pid_t pid;
    int status, n = 0;

    du_must_setup(&e, MODEL_SLOW("m1"), NULL);
    snprintf(suite, sizeof(suite), "%s/s.json", e.dir);
    f = fopen(suite, "w");
    CHECK(f != NULL);
    fputs("{\"name\":\"S\",\"cases\":[{\"name\":\"c\",\"max_tokens\":20,"
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}]}",
          f);
    fclose(f);
    snprintf(log, sizeof(log), "%s/run.log", e.dir);
    /* (--backend none finds nothing loaded in the sim) */
    n = TU_ARGV(argv, n, getenv("TPSD_BIN"), "run", "--lms", (char *)tu_src("tests/fake-lms"),
                "--base-url", e.sim.base_url, "--model", "m1", "--suite", suite,
                "--repetitions", "10", "--db", e.db);
    argv[n] = NULL;
    CHECK_INT(tu_spawn(argv, log, log, 0, &pid), ==, 0);
    /* Its first sample is stored, then the signal comes. */
    for (n = 0; n < 3000; n++) {
        if (access(e.db, F_OK) == 0) {
            db = du_must_db(&e);
            if (du_q(db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples'") == 1 &&
                du_q(db, "SELECT count(*) FROM samples WHERE warmup = 0") >= 1) {
                sqlite3_close(db);
                break;
            }
            sqlite3_close(db);
        }
        tu_sleep_ms(10);
    }
    kill(pid, SIGTERM);
    CHECK_INT(tu_wait_pid_exit(pid, T_STOP_MS, &status), ==, 0);
    db = du_must_db(&e);
    CHECK_INT((int)du_q(db, "SELECT count(*) FROM jobs WHERE state = 'cancelled'"), ==, 1);
    CHECK_INT((int)du_q(db, "SELECT count(*) FROM runs"), ==, 1);
    CHECK_INT((int)du_q(db, "SELECT count(*) FROM runs WHERE state = 'cancelled'"
                            " AND finished_at IS NOT NULL"),
              ==, 1);
    sqlite3_close(db);
    du_teardown(&e);
}

/* Item 10: runs an older version left open under an ended job: the
 * migration to this version closes them, and so does `tpsd db`. */
TEST(db_repairs_open_runs)
{
    struct du_env e;
    char err[DB_ERR_MAX], *out = NULL, state[16];
    struct db *db;
    int64_t job, run;
    int existing;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    /* An older schema, as its tpsd left it: a cancelled job, its run open. */
    db = db_open_version(e.db, 9, err, sizeof(err)); /* before step 10, the repair */
    CHECK(db != NULL);
    CHECK_INT(jobs_create(db, "old", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==, 0);
    CHECK_INT(runs_open(db, job, 0, "m1", "S", &run, state), ==, 0);
    CHECK_INT(db_exec(db, "UPDATE runs SET state = 'running', started_at = 1"), ==, 0);
    CHECK_INT(db_exec(db, "UPDATE jobs SET state = 'cancelled', finished_at = 2"), ==, 0);
    db_close(db);
    CHECK_INT(tpsd_db(&e, e.db, 0, &out), ==, 0);
    free(out);
    CHECK_INT((int)du_env_q(&e, "SELECT count(*) FROM runs WHERE state = 'cancelled'"
                                " AND finished_at = 2"),
              ==, 1);
    /* The same at this version (a run a crashed process left): `tpsd db`. */
    db = db_open(e.db, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(jobs_create(db, "old2", "benchmark", "{}", 0, NULL, NULL, &job, &existing), ==,
              0);
    CHECK_INT(runs_open(db, job, 0, "m1", "S", &run, state), ==, 0);
    CHECK_INT(
        db_exec(db, "UPDATE jobs SET state = 'failed', finished_at = 3 WHERE name = 'old2'"),
        ==, 0);
    db_close(db);
    CHECK_INT(tpsd_db(&e, e.db, 0, &out), ==, 0);
    CHECK(strstr(out, "runs_closed=1") != NULL);
    free(out);
    CHECK_INT((int)du_env_q(&e, "SELECT count(*) FROM runs WHERE state = 'interrupted'"
                                " AND finished_at = 3 AND error_code = 'interrupted'"),
              ==, 1);
    du_teardown(&e);
}

/* The probe's passing case, kept: a database from a newer tpsd is refused
 * by `tpsd serve` (exit non-zero, "newer than this tpsd") and untouched. */
TEST(serve_refuses_newer_schema)
{
    struct du_env e;
    char err[DB_ERR_MAX];
    struct db *db;

    du_must_setup(&e, MODEL_FAST("m1"), NULL);
    db = db_open(e.db, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(db_exec(db, "PRAGMA user_version = 999"), ==, 0);
    db_close(db);
    CHECK_INT(du_start(&e, NULL), ==, -1);
    CHECK(strstr(du_log_tail(&e), "newer than this tpsd") != NULL);
    CHECK_INT((int)du_env_q(&e, "PRAGMA user_version"), ==, 999);
    du_teardown(&e);
}

/*
 * test_capacity.c - capacity jobs through a real `tpsd serve` against
 * tpsd-sim's concurrency model (sim_batch.c): the API's answer and curve
 * are the stored steps, the trend and the report carry them, bad queries
 * get 4xx, and a search killed mid-way resumes from its stored steps to
 * the same answer without measuring a load twice.
 */
#include "tests/check.h"
#include "tests/daemonutil.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_JOB_MS 120000 /* a capacity job finishes within */
#define T_STOP_MS 8000
/* 100 tok/s per stream, 200 tok/s shared: c users get min(100, 200 / c);
 * the level (decode p5 >= 72) holds up to floor(200 / 72) = 2 users. */
#define T_MODEL                                                                                \
    "{\"key\":\"m\",\"ttft_ms\":50,\"tps\":100,\"output_tokens\":20,"                          \
    "\"text\":\"hello world \",\"budget_tps\":200}"
#define T_LEVEL "\"kind\":\"capacity\",\"service_level\":{\"decode_tps_p5\":72}"

static const char *const models[] = {"m", NULL};

/* Start serve with short steps (8 requests, two per user) up to max_conc
 * users, and submit the capacity job. Its id. */
static long long
t_start(struct du_env *e, const char *max_conc)
{
    const char *extra[] = {"--capacity-step-requests",
                           "8",
                           "--capacity-step-s",
                           "0",
                           "--capacity-max-concurrency",
                           max_conc,
                           NULL};

    du_must_start(e, extra);
    return du_must_submit_job(e, models, 30, 1, 1, "lms", T_LEVEL);
}

/* GET path: the status must be want; the body (NULL when not JSON). */
static json_t *
t_get(struct du_env *e, const char *path, long want)
{
    json_t *body = NULL;
    long st = du_call(e, "GET", path, NULL, NULL, &body);

    if (st != want)
        check_failed(__FILE__, __LINE__, "GET %s: %ld, want %ld", path, st, want);
    return body;
}

/* The API's curve is the database's: answer, and every step's figures. */
TEST(api_curve_matches_db)
{
    struct du_env e;
    char path[128], sql[256], state[32], *md = NULL;
    json_t *cap, *run, *steps, *s, *trend;
    sqlite3 *db;
    long long id;
    size_t i;

    du_must_setup(&e, T_MODEL, NULL);
    id = t_start(&e, "4");
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    snprintf(path, sizeof(path), "/v1/jobs/%lld/capacity", id);
    cap = t_get(&e, path, 200);
    run = json_array_get(json_object_get(cap, "models"), 0);
    CHECK_STR(json_string_value(json_object_get(run, "model")), "m");
    CHECK_STR(json_string_value(json_object_get(run, "stop_reason")), "bisected");
    CHECK_DBL(json_number_value(json_object_get(run, "capacity")), ==, 2);
    CHECK_DBL(
        json_number_value(json_object_get(json_object_get(run, "level"), "decode_tps_p5")), ==,
        72);
    steps = json_object_get(run, "steps");
    db = du_must_db(&e);
    CHECK_INT(json_array_size(steps), ==,
              (long)du_q(db, "SELECT count(*) FROM capacity_steps"));
    json_array_foreach(steps, i, s)
    {
        snprintf(sql, sizeof(sql), "SELECT goodput_rps FROM capacity_steps WHERE step = %zu",
                 i);
        CHECK_DBL(json_number_value(json_object_get(s, "goodput_rps")), ==, du_q(db, sql));
        snprintf(sql, sizeof(sql), "SELECT concurrency FROM capacity_steps WHERE step = %zu",
                 i);
        CHECK_DBL(json_number_value(json_object_get(s, "concurrency")), ==, du_q(db, sql));
    }
    CHECK_DBL(json_number_value(json_object_get(run, "goodput_rps")), ==,
              du_q(db, "SELECT goodput_rps FROM capacity_steps WHERE concurrency = 2"));
    sqlite3_close(db);
    /* The model's trend series has the answer; the report has the curve. */
    trend = t_get(&e, "/v1/capacity?model=m", 200);
    CHECK_INT(json_array_size(json_object_get(trend, "points")), ==, 1);
    CHECK_DBL(json_number_value(json_object_get(
                  json_array_get(json_object_get(trend, "points"), 0), "capacity")),
              ==, 2);
    snprintf(path, sizeof(path), "/v1/jobs/%lld/report?format=md", id);
    CHECK_INT(du_call_raw(&e, "GET", path, NULL, NULL, &md, NULL, NULL, 0), ==, 200);
    CHECK(strstr(md, "## Capacity under the service level") != NULL);
    CHECK(strstr(md, "**Capacity: 2 concurrent users**") != NULL);
    CHECK(strstr(md, "\n| 2 |") != NULL);
    free(md);
    json_decref(trend);
    json_decref(cap);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* A query without a model is a 400; an unknown job or a job of another
 * kind a 404; neither is a crash. */
TEST(api_bad_queries)
{
    struct du_env e;
    char path[64], state[32];
    json_t *err;
    long long id;

    du_must_setup(&e, T_MODEL, NULL);
    du_must_start(&e, NULL);
    err = t_get(&e, "/v1/capacity", 400);
    CHECK(strstr(json_string_value(json_object_get(json_object_get(err, "error"), "message")),
                 "model") != NULL);
    json_decref(err);
    json_decref(t_get(&e, "/v1/capacity?model=", 400));
    json_decref(t_get(&e, "/v1/jobs/999/capacity", 404));
    id = du_must_submit_job(&e, models, 5, 1, 0, "lms", NULL);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    snprintf(path, sizeof(path), "/v1/jobs/%lld/capacity", id);
    json_decref(t_get(&e, path, 404));
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/* SIGKILL once two steps are stored: the restarted daemon resumes the job,
 * gets those steps back instead of measuring them again, and ends with
 * the answer an uninterrupted search gives: 2 after the loads 1, 2, 4, 3,
 * each measured once. */
TEST(resume_reuses_steps)
{
    struct du_env e;
    char state[32];
    sqlite3 *db;
    long long id;
    double n = 0;
    int i;
    const char *extra[] = {"--capacity-step-requests",
                           "8",
                           "--capacity-step-s",
                           "0",
                           "--capacity-max-concurrency",
                           "64",
                           NULL};
    /* Each must be true (1) once the job has ended. */
    static const char *const must[] = {
        "SELECT capacity = 2 FROM capacity_results",
        "SELECT count(*) = 4 FROM capacity_steps",
        "SELECT count(DISTINCT concurrency) = 4 FROM capacity_steps",
        "SELECT max(step) = 3 FROM capacity_steps",
        ("SELECT group_concat(concurrency) = '1,2,4,3' FROM"
         " (SELECT concurrency FROM capacity_steps ORDER BY step)"),
        "SELECT count(*) = 1 FROM runs",
    };

    du_must_setup(&e, T_MODEL, NULL);
    id = t_start(&e, "64");
    for (i = 0; i < 3000 && n < 2; i++) {
        db = du_must_db(&e);
        n = du_q(db, "SELECT count(*) FROM capacity_steps");
        sqlite3_close(db);
        tu_sleep_ms(10);
    }
    CHECK_DBL(n, >=, 2);
    du_kill(&e);
    du_must_start(&e, extra);
    CHECK_STR(du_wait_final(&e, id, T_JOB_MS, state, sizeof(state)), "succeeded");
    db = du_must_db(&e);
    for (i = 0; i < (int)(sizeof(must) / sizeof(must[0])); i++)
        if (du_q(db, must[i]) != 1)
            check_failed(__FILE__, __LINE__, "not true: %s", must[i]);
    sqlite3_close(db);
    CHECK_INT(du_signal_wait(&e, SIGTERM, T_STOP_MS, NULL), ==, 0);
    du_teardown(&e);
}

/*
 * cmpdata.c - see cmpdata.h. One existence check (so that an unknown job
 * is told apart from one without samples), then one SELECT ordered by
 * (model, case, run, seq): a group ends where the (model, case) changes,
 * so the rows are read once into growing arrays. Jobs and runs use the
 * samples_run index; a model uses runs_model to find its runs first.
 */
#include "storage/cmpdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cmpdata_figures[CMPDATA_NFIG] = {"decode_tps", "e2e_tps", "ttft_ms",
                                                   "prompt_tps"};

#define CMPDATA_COLS "r.model, s.case_name, s.decode_tps, s.e2e_tps, s.ttft_ms, s.prompt_tps"
#define CMPDATA_ORDER                                                                          \
    " AND s.ok = 1 AND s.warmup = 0 ORDER BY r.model, s.case_name, s.run_id, s.seq"

static const char *const exists_sql[] = {
    [CMPDATA_JOB] = "SELECT 1 FROM jobs WHERE id = :id",
    [CMPDATA_RUN] = "SELECT 1 FROM runs WHERE id = :id",
    [CMPDATA_MODEL] = "SELECT 1 FROM runs WHERE model = :model LIMIT 1",
};

static const char *const rows_sql[] = {
    [CMPDATA_JOB] = "SELECT " CMPDATA_COLS " FROM runs r JOIN samples s ON s.run_id = r.id"
                    " WHERE r.job_id = :id" CMPDATA_ORDER,
    [CMPDATA_RUN] = "SELECT " CMPDATA_COLS " FROM runs r JOIN samples s ON s.run_id = r.id"
                    " WHERE r.id = :id" CMPDATA_ORDER,
    [CMPDATA_MODEL] = "SELECT " CMPDATA_COLS " FROM runs r JOIN samples s ON s.run_id = r.id"
                      " WHERE r.model = :model AND s.started_at >= :since"
                      " AND s.started_at < :until" CMPDATA_ORDER,
};

static void
bind_sel(sqlite3_stmt *st, const struct cmpdata_sel *sel, int with_range)
{
    if (sel->kind == CMPDATA_MODEL) {
        db_bind_text(st, ":model", sel->model);
        if (with_range) {
            db_bind_int(st, ":since", sel->since);
            db_bind_int(st, ":until", sel->until > 0 ? sel->until : INT64_MAX);
        }
    } else {
        db_bind_int(st, ":id", sel->id);
    }
}

/* 1 when the selection names something, 0 when not, -1 on error. */
static int
exists(struct db *db, const struct cmpdata_sel *sel)
{
    sqlite3_stmt *st = db_prepare(db, exists_sql[sel->kind]);
    int step;

    if (st == NULL)
        return -1;
    bind_sel(st, sel, 0);
    step = sqlite3_step(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

/* A new group at the end of s for (model, case). 0 or -1. */
static int
group_add(struct cmpdata_set *s, size_t *cap, const char *model, const char *case_name)
{
    struct cmpdata_group *g;

    if (s->n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 8;
        g = realloc(s->g, ncap * sizeof(*g));
        if (g == NULL)
            return -1;
        s->g = g;
        *cap = ncap;
    }
    g = &s->g[s->n];
    memset(g, 0, sizeof(*g));
    g->model = strdup(model);
    g->case_name = strdup(case_name);
    s->n++;
    return g->model != NULL && g->case_name != NULL ? 0 : -1;
}

static int
value_add(struct cmpdata_group *g, int f, double v)
{
    double *nv;

    if (g->n[f] == g->cap[f]) {
        size_t ncap = g->cap[f] ? 2 * g->cap[f] : 16;
        nv = realloc(g->v[f], ncap * sizeof(double));
        if (nv == NULL)
            return -1;
        g->v[f] = nv;
        g->cap[f] = ncap;
    }
    g->v[f][g->n[f]++] = v;
    return 0;
}

/* Read every row of st into out. 0, 2 past the cap, -1 on error. */
static int
read_rows(struct db *db, sqlite3_stmt *st, struct cmpdata_set *out)
{
    struct cmpdata_group *g = NULL;
    size_t cap = 0;
    int step, f;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 0);
        const char *cs = (const char *)sqlite3_column_text(st, 1);

        if (++out->nsamples > CMPDATA_SAMPLES_MAX) {
            snprintf(db->err, sizeof(db->err), "more than %d samples", CMPDATA_SAMPLES_MAX);
            return 2;
        }
        if (model == NULL || cs == NULL)
            continue;
        if (g == NULL || strcmp(g->model, model) != 0 || strcmp(g->case_name, cs) != 0) {
            if (group_add(out, &cap, model, cs) == -1)
                goto oom;
            g = &out->g[out->n - 1];
        }
        g->rows++;
        for (f = 0; f < CMPDATA_NFIG; f++) {
            if (sqlite3_column_type(st, 2 + f) != SQLITE_NULL &&
                value_add(g, f, sqlite3_column_double(st, 2 + f)) == -1)
                goto oom;
        }
    }
    if (step != SQLITE_DONE) {
        snprintf(db->err, sizeof(db->err), "%s", sqlite3_errmsg(db->h));
        return -1;
    }
    return 0;
oom:
    snprintf(db->err, sizeof(db->err), "out of memory");
    return -1;
}

int
cmpdata_load(struct db *db, const struct cmpdata_sel *sel, struct cmpdata_set *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = exists(db, sel);
    if (rc != 1)
        return rc == 0 ? 1 : -1;
    st = db_prepare(db, rows_sql[sel->kind]);
    if (st == NULL)
        return -1;
    bind_sel(st, sel, 1);
    rc = read_rows(db, st, out);
    sqlite3_finalize(st);
    return rc;
}

void
cmpdata_free(struct cmpdata_set *s)
{
    size_t i;
    int f;

    for (i = 0; i < s->n; i++) {
        free(s->g[i].model);
        free(s->g[i].case_name);
        for (f = 0; f < CMPDATA_NFIG; f++)
            free(s->g[i].v[f]);
    }
    free(s->g);
    memset(s, 0, sizeof(*s));
}

/*
 * samples.h - one measured request (a row of `samples`), and storing it.
 *
 * The client fills a struct sample_rec as bytes arrive, figures_compute()
 * derives the figures, the runner stores it with samples_insert(): one
 * sample, one transaction. The figures are listed once, in
 * storage/sample_fields.h; the struct's members, the INSERT and the binds
 * come from that list.
 */
#ifndef TPSD_SAMPLES_H
#define TPSD_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"
#include "storage/sample_fields.h"

#define SAMPLE_CASE_MAX 64
#define SAMPLE_REASON_MAX 32
#define SAMPLE_CODE_MAX 32
#define SAMPLE_DETAIL_MAX 512

/* Integers are -1 and doubles NAN when unknown. Offsets are microseconds
 * from t_sent on the client's monotonic clock. */
struct sample_rec {
    int64_t id; /* set by samples_insert */
    int64_t run_id;
    int64_t seq; /* place in the run's plan */
    char case_name[SAMPLE_CASE_MAX];
    int repetition;
    int slot;
    int warmup;
    int64_t started_at; /* wall clock ms of t_sent */
#define SAMPLE_MEMBER(name, type, flags) SF_CTYPE_##type name;
    SAMPLE_FIGURES(SAMPLE_MEMBER) /* storage/sample_fields.h */
#undef SAMPLE_MEMBER
    char finish_reason[SAMPLE_REASON_MAX];
    int ok;
    int passed; /* 1/0 from validators, -1 when none ran */
    char error_code[SAMPLE_CODE_MAX];
    char error_detail[SAMPLE_DETAIL_MAX];
    char *server_stats; /* JSON text, owned; NULL when none */
    uint32_t *event_us; /* offsets of every content-bearing event, owned */
    size_t n_event_us;
};

/* Reset `s` to "nothing known" (frees what it owns). */
void sample_rec_init(struct sample_rec *s);
void sample_rec_free(struct sample_rec *s);

/*
 * Insert `s` in its own IMMEDIATE transaction; sets s->id. A sample with a
 * (run_id, seq) already stored is not stored twice: returns 1 and leaves
 * the old row. 0 on insert, -1 on error (db->err).
 */
int samples_insert(struct db *db, struct sample_rec *s);

/*
 * Insert s[0..n) in one IMMEDIATE transaction (bulk imports, benchmarks;
 * the runner commits each sample as it is measured). Samples already
 * stored are skipped; *stored (may be NULL) gets how many were new. On -1
 * nothing is stored (db->err).
 */
int samples_insert_many(struct db *db, struct sample_rec *s, size_t n, size_t *stored);

/* Number of samples stored for a run, and whether seq is stored. -1 on error. */
int64_t samples_count(struct db *db, int64_t run_id);
int samples_have_seq(struct db *db, int64_t run_id, int64_t seq);

#endif

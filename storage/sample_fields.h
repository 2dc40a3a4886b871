/*
 * sample_fields.h - the figures of one measured request, listed once.
 *
 * Every figure a sample carries (the client's timestamps, the token counts,
 * the speeds and latencies derived from them) is one line of SAMPLE_FIGURES
 * below. From that one list come:
 *
 *   - the members of struct sample_rec (storage/samples.h),
 *   - "unknown" in sample_rec_init (-1 for integers, NAN for reals),
 *   - the INSERT's columns, its named parameters and their binds, and the
 *     SELECT list that the samples endpoints return (storage/),
 *   - the per-case statistics of a run's summary (flag SF_SUM),
 *   - the CSV report's columns, in this order (flag SF_CSV),
 *   - the figures of a live "sample" event (flag SF_EVENT).
 *
 * Adding a figure is one line here, a schema step that adds its column
 * (schema.sql's migrations) and its entry in docs/openapi.json's Sample.
 * The computing of it (daemon/figures.c) is the only other code.
 *
 * X(name, type, flags), where type is
 *   I64   int64_t, stored NULL when negative (-1 = unknown)
 *   I64S  int64_t that may be negative, stored NULL when -1
 *   REAL  double, stored NULL when NAN
 *   BOOL  int 0/1, never unknown; a JSON boolean in answers
 *
 * Includes nothing; used by storage/ and daemon/.
 */
#ifndef TPSD_SAMPLE_FIELDS_H
#define TPSD_SAMPLE_FIELDS_H

#include <stddef.h>

#define SF_SUM 1u   /* summarised per case: n, mean, median, stddev, min, max, p90, p99 */
#define SF_CSV 2u   /* a column of the CSV report */
#define SF_EVENT 4u /* sent on the job's event stream with each sample */

#define SAMPLE_FIGURES(X)                                                                      \
    X(sched_delay_us, I64S, 0) /* t_sent - scheduled send */                                   \
    X(ttfb_us, I64, 0)         /* first byte of the body */                                    \
    X(ttfr_us, I64, 0)         /* first role-only delta */                                     \
    X(ttft_us, I64, 0)         /* first generated text */                                      \
    X(t_last_us, I64, 0)       /* last generated text */                                       \
    X(t_done_us, I64, 0)       /* end of the stream */                                         \
    X(ttft_ms, REAL, SF_SUM | SF_CSV | SF_EVENT)                                               \
    X(decode_tps, REAL, SF_SUM | SF_CSV | SF_EVENT)                                            \
    X(e2e_tps, REAL, SF_SUM | SF_CSV | SF_EVENT)                                               \
    X(prompt_tps, REAL, SF_SUM | SF_CSV)                                                       \
    X(tpot_ms, REAL, SF_SUM | SF_CSV)                                                          \
    X(e2e_ms, REAL, SF_SUM | SF_CSV | SF_EVENT)                                                \
    X(prompt_tokens, I64, SF_SUM | SF_CSV)                                                     \
    X(completion_tokens, I64, SF_SUM | SF_CSV | SF_EVENT)                                      \
    X(reasoning_tokens, I64, SF_CSV)                                                           \
    X(tokens_estimated, BOOL, SF_CSV)                                                          \
    X(n_events, I64, SF_CSV) /* content-bearing events */                                      \
    X(itl_p50_ms, REAL, SF_SUM | SF_CSV)                                                       \
    X(itl_p90_ms, REAL, SF_CSV)                                                                \
    X(itl_p99_ms, REAL, SF_SUM | SF_CSV)                                                       \
    X(itl_max_ms, REAL, SF_CSV)                                                                \
    /* the server's own clock (daemon/server_timings.h) */                                     \
    X(server_prompt_tps, REAL, SF_SUM | SF_CSV)                                                \
    X(server_decode_tps, REAL, SF_SUM | SF_CSV | SF_EVENT)                                     \
    X(server_ttft_ms, REAL, SF_SUM | SF_CSV)                                                   \
    X(server_cached_tokens, I64, SF_SUM | SF_CSV)                                              \
    X(server_decode_diff_pct, REAL, SF_SUM | SF_CSV) /* vs decode_tps */                       \
    X(server_clock_mismatch, BOOL, SF_CSV)           /* |diff| > 5% */                         \
    /* depth sweeps (daemon/depth.h): the asked context, cold or warm */                       \
    X(depth, I64, SF_CSV | SF_EVENT)                                                           \
    X(depth_warm, BOOL, SF_CSV)                                                                \
    X(depth_off_pct, REAL, SF_CSV)  /* server's prompt vs base + depth */                      \
    X(depth_mismatch, BOOL, SF_CSV) /* |off| > 2% */

/* The C type of each kind, for the struct members. */
#define SF_CTYPE_I64 int64_t
#define SF_CTYPE_I64S int64_t
#define SF_CTYPE_REAL double
#define SF_CTYPE_BOOL int

enum sample_field_type { SF_I64, SF_I64S, SF_REAL, SF_BOOL };

/* One figure, as the tables below describe it at run time. */
struct sample_field {
    const char *name;
    enum sample_field_type type;
    unsigned flags;
};

/* Every figure, in SAMPLE_FIGURES order (storage/samples.c). */
extern const struct sample_field sample_fields[];
extern const size_t sample_fields_n;

#endif

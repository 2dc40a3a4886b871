/*
 * system.h - host and server readings over time (table `system_samples`):
 * memory, swap, memory pressure, the inference server's and tpsd's own
 * resident memory, CPU load and thermal state, taken during jobs by the
 * worker's sampler (daemon/sampler.h) and read back by the stability
 * analysis (daemon/stability.h).
 */
#ifndef TPSD_SYSTEM_H
#define TPSD_SYSTEM_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

#define SYSTEM_THERMAL_MAX 16

/* One reading. Integers are -1 and doubles NAN when unknown; ids are 0 when
 * the reading belongs to no job or run. */
struct system_rec {
    int64_t id; /* set when read back */
    int64_t job_id;
    int64_t run_id;
    int64_t at; /* wall clock ms */
    int64_t mem_total_bytes;
    int64_t mem_avail_bytes;
    int64_t swap_used_bytes;
    double mem_pressure; /* 0..1 */
    int64_t server_rss_bytes;
    int64_t self_rss_bytes;
    double cpu_load1;
    double temp_c;
    char thermal[SYSTEM_THERMAL_MAX]; /* "" when unknown */
};

/* Reset r to "nothing known". Can't fail. */
void system_rec_init(struct system_rec *r);

/* Store n readings in one IMMEDIATE transaction. 0, or -1 (db->err) with
 * nothing stored. */
int system_samples_insert(struct db *db, const struct system_rec *recs, size_t n);

/* Called for each reading in time order; non-zero stops the scan. */
typedef int (*system_scan_fn)(void *arg, const struct system_rec *r);

/* The readings of job `job_id`, only those of run `run_id` when run_id > 0,
 * oldest first. 0 (also when stopped by fn), or -1 (db->err). */
int system_samples_scan(struct db *db, int64_t job_id, int64_t run_id, system_scan_fn fn,
                        void *arg);

/* Number of readings of a job. -1 on error. */
int64_t system_samples_count(struct db *db, int64_t job_id);

#endif

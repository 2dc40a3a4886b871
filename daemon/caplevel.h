/*
 * caplevel.h - a capacity job's service level: what every step of the
 * search must meet (DESIGN.md "Jobs"; issue 17). Any non-empty subset of
 *   ttft_p95_ms    the step's 95th percentile TTFT at most this (ms)
 *   decode_tps_p5  the step's 5th percentile per-user decode speed at least
 *                  this (tok/s): 95% of users see at least this speed
 *   error_rate     the share of failed requests at most this (0..1)
 * Parse and validate strictly (errors name the field), judge a step, and
 * judge one request (goodput counts the requests that met the level).
 * Includes nothing of ours but the sample record.
 */
#ifndef TPSD_CAPLEVEL_H
#define TPSD_CAPLEVEL_H

#include <jansson.h>
#include <stddef.h>

/* A level; a figure is unset (not judged) when NAN. */
struct caplevel {
    double ttft_p95_ms;
    double decode_tps_p5;
    double error_rate;
};

/* Every figure unset. Can't fail. */
void caplevel_init(struct caplevel *l);

/*
 * Parse `v` (not consumed; the value of field `path`) into *out: an object
 * of the keys above, at least one, each a finite number in range. 0, or -1
 * with "path.key: message" (or "path: message") in err.
 */
int caplevel_parse(const json_t *v, const char *path, struct caplevel *out, char *err,
                   size_t errlen);

/* The level as a JSON object of its set figures. New reference. */
json_t *caplevel_to_json(const struct caplevel *l);

/* Does one request meet the level: ok, TTFT (ms, NAN unknown) at most
 * ttft_p95_ms and decode speed at least decode_tps_p5, where set? */
int caplevel_request_meets(const struct caplevel *l, int ok, double ttft_ms, double decode_tps);

/* Does a step meet the level: its TTFT p95, decode p5 and error share
 * (NAN when there was no successful request: a set figure then fails)? */
int caplevel_step_meets(const struct caplevel *l, double ttft_p95_ms, double decode_tps_p5,
                        double error_rate);

#endif

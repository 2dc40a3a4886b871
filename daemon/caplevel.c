/*
 * caplevel.c - see caplevel.h. The figures are one table (name, member,
 * range, direction), read by the parser, the JSON writer and both judges.
 */
#include "daemon/caplevel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A figure of the level: at most (ceiling) or at least (floor) the value. */
struct caplevel_fig {
    const char *name;
    size_t off;
    double min, max; /* the accepted range of the level itself */
    int min_open;    /* min excluded */
    int ceiling;     /* 1: the measured figure must be <= level; 0: >= */
};

static const struct caplevel_fig figs[] = {
    {"ttft_p95_ms", offsetof(struct caplevel, ttft_p95_ms), 0, 3600e3, 1, 1},
    {"decode_tps_p5", offsetof(struct caplevel, decode_tps_p5), 0, 1e6, 1, 0},
    {"error_rate", offsetof(struct caplevel, error_rate), 0, 1, 0, 1},
};
#define NFIGS (sizeof(figs) / sizeof(figs[0]))

static double *
fig_ptr(struct caplevel *l, size_t i)
{
    return (double *)((char *)l + figs[i].off);
}

static double
fig_get(const struct caplevel *l, size_t i)
{
    return *(const double *)((const char *)l + figs[i].off);
}

void
caplevel_init(struct caplevel *l)
{
    size_t i;

    for (i = 0; i < NFIGS; i++)
        *fig_ptr(l, i) = NAN;
}

/* One figure's value: a finite number in its range. 0, or -1 with err. */
static int
fig_parse(const struct caplevel_fig *f, const json_t *v, const char *path, double *out,
          char *err, size_t errlen)
{
    double x;

    if (!json_is_number(v)) {
        snprintf(err, errlen, "%s.%s: must be a number", path, f->name);
        return -1;
    }
    x = json_number_value(v);
    if (!isfinite(x) || x < f->min || (f->min_open && x == f->min) || x > f->max) {
        snprintf(err, errlen, "%s.%s: must be %s %g and at most %g", path, f->name,
                 f->min_open ? "above" : "at least", f->min, f->max);
        return -1;
    }
    *out = x;
    return 0;
}

int
caplevel_parse(const json_t *v, const char *path, struct caplevel *out, char *err,
               size_t errlen)
{
    const char *key;
    json_t *x;
    size_t i;

    caplevel_init(out);
    if (!json_is_object(v)) {
        snprintf(err, errlen, "%s: must be an object", path);
        return -1;
    }
    if (json_object_size(v) == 0) {
        snprintf(err, errlen, "%s: name at least one of ttft_p95_ms, decode_tps_p5, error_rate",
                 path);
        return -1;
    }
    json_object_foreach((json_t *)v, key, x)
    {
        for (i = 0; i < NFIGS && strcmp(key, figs[i].name) != 0; i++)
            ;
        if (i == NFIGS) {
            snprintf(err, errlen, "%s.%.100s: unknown field", path, key);
            return -1;
        }
        if (fig_parse(&figs[i], x, path, fig_ptr(out, i), err, errlen) == -1)
            return -1;
    }
    return 0;
}

json_t *
caplevel_to_json(const struct caplevel *l)
{
    json_t *o = json_object();
    size_t i;

    for (i = 0; o != NULL && i < NFIGS; i++)
        if (!isnan(fig_get(l, i)))
            json_object_set_new(o, figs[i].name, json_real(fig_get(l, i)));
    return o;
}

/* Does measured value m meet figure i (unset: yes; unknown m: no)? */
static int
fig_meets(const struct caplevel *l, size_t i, double m)
{
    double lv = fig_get(l, i);

    if (isnan(lv))
        return 1;
    if (isnan(m))
        return 0;
    return figs[i].ceiling ? m <= lv : m >= lv;
}

int
caplevel_request_meets(const struct caplevel *l, int ok, double ttft_ms, double decode_tps)
{
    return ok && fig_meets(l, 0, ttft_ms) && fig_meets(l, 1, decode_tps);
}

int
caplevel_step_meets(const struct caplevel *l, double ttft_p95_ms, double decode_tps_p5,
                    double error_rate)
{
    return fig_meets(l, 0, ttft_p95_ms) && fig_meets(l, 1, decode_tps_p5) &&
           fig_meets(l, 2, error_rate);
}

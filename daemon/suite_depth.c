/*
 * suite_depth.c - a suite swept over depths (the contract is in suite.h,
 * suite_with_depths).
 *
 * How it works: the suite goes out as JSON (suite_to_json), each case is
 * copied once per depth with its name suffixed ".dN" and "depth": N (a case
 * with a depth of its own is copied once, as it is), each copy followed by
 * its ".warm" twin when asked, and the new case list is parsed back with
 * suite_parse, so the sweep is validated exactly as a suite file is.
 */
#include "daemon/suite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Append case c (a copy) named base+suffix with depth d (-1: keep) and
 * warm, to arr. 0, or -1 with err. */
static int
depth_case_add(json_t *arr, const json_t *c, int64_t d, int warm, char *err, size_t errlen)
{
    const char *base = json_string_value(json_object_get(c, "name"));
    char name[SUITE_NAME_MAX * 2];
    json_t *copy;
    int n;

    if (d >= 0)
        n = snprintf(name, sizeof(name), "%s.d%lld%s", base, (long long)d, warm ? ".warm" : "");
    else
        n = snprintf(name, sizeof(name), "%s%s", base, warm ? ".warm" : "");
    if (n < 0 || (size_t)n >= SUITE_NAME_MAX) {
        snprintf(err, errlen, "case \"%s\": name too long for a depth sweep (%s)", base, name);
        return -1;
    }
    if (json_array_size(arr) >= SUITE_CASES_MAX) {
        snprintf(err, errlen, "depth sweep: more than %d cases", SUITE_CASES_MAX);
        return -1;
    }
    copy = json_deep_copy(c);
    if (copy == NULL || json_object_set_new(copy, "name", json_string(name)) == -1 ||
        (d >= 0 && json_object_set_new(copy, "depth", json_integer((json_int_t)d)) == -1) ||
        (warm && json_object_set_new(copy, "warm", json_true()) == -1) ||
        json_array_append_new(arr, copy) == -1) {
        snprintf(err, errlen, "depth sweep: out of memory");
        return -1;
    }
    return 0;
}

int
suite_with_depths(const struct suite *s, const int64_t *depths, size_t n, int warm,
                  struct suite **out, char *err, size_t errlen)
{
    json_t *sj = suite_to_json(s), *cases = json_array(), *c;
    char *text = NULL;
    size_t i, k;
    int rc = -1, w;

    *out = NULL;
    if (sj == NULL || cases == NULL) {
        snprintf(err, errlen, "depth sweep: out of memory");
        goto out;
    }
    json_object_del(sj, "builtin");
    json_array_foreach(json_object_get(sj, "cases"), i, c)
    {
        int own = json_object_get(c, "depth") != NULL;

        for (k = 0; k < (own ? 1 : n); k++)
            for (w = 0; w <= warm; w++)
                if (depth_case_add(cases, c, own ? -1 : depths[k], w, err, errlen) == -1)
                    goto out;
    }
    json_object_set(sj, "cases", cases);
    text = json_dumps(sj, JSON_COMPACT);
    if (text == NULL) {
        snprintf(err, errlen, "depth sweep: out of memory");
        goto out;
    }
    rc = suite_parse(text, strlen(text), out, err, errlen);
    if (rc == 0)
        (*out)->builtin = s->builtin;
out:
    free(text);
    json_decref(cases);
    json_decref(sj);
    return rc;
}

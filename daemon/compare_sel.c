/*
 * compare_sel.c - the selectors of an A/B comparison (compare.h):
 * "job:ID", "run:ID", "model:KEY[@SINCE..UNTIL]". Pure parsing; times are
 * UTC, converted with the civil-from-days arithmetic of H. Hinnant's
 * "chrono-Compatible Low-Level Date Algorithms" (no timegm, which is not
 * POSIX).
 */
#include "daemon/compare.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL_TIME_MAX 32              /* bytes of one SINCE or UNTIL */
#define SEL_MS_MAX 253402300800000LL /* 10000-01-01: larger is surely a mistake */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* s[0..n) is all digits. */
static int
digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

static int64_t
num(const char *s, size_t n)
{
    int64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* One time of a range: Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. */
static int
parse_time(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = strlen(s);
    int64_t y, mo, d, h = 0, mi = 0, se = 0;

    if (n > 0 && n <= 15 && digits(s, n)) {
        *out = num(s, n);
        return *out <= SEL_MS_MAX ? 0 : -1;
    }
    if ((n != 10 && n != 20) || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2))
        return -1;
    if (n == 20 && (s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
                    s[16] != ':' || !digits(s + 17, 2) || s[19] != 'Z'))
        return -1;
    y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    if (n == 20)
        h = num(s + 11, 2), mi = num(s + 14, 2), se = num(s + 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        se > 59)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    *out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + se * 1000;
    return 0;
}

/* "SINCE..UNTIL" (dots at `dots`) into out->since, out->until. */
static int
parse_range(const char *r, const char *dots, struct compare_sel *out, char *err, size_t errlen)
{
    char since[SEL_TIME_MAX], until[SEL_TIME_MAX];
    size_t ls = (size_t)(dots - r), lu = strlen(dots + 2);

    if (ls >= sizeof(since) || lu >= sizeof(until)) {
        snprintf(err, errlen, "time range too long");
        return -1;
    }
    memcpy(since, r, ls);
    since[ls] = '\0';
    memcpy(until, dots + 2, lu + 1);
    if ((ls > 0 && parse_time(since, &out->since) == -1) ||
        (lu > 0 && parse_time(until, &out->until) == -1)) {
        snprintf(err, errlen,
                 "time range \"%s\": SINCE..UNTIL, each Unix milliseconds, YYYY-MM-DD or"
                 " YYYY-MM-DDTHH:MM:SSZ (UTC), or empty",
                 r);
        return -1;
    }
    if (out->until > 0 && out->until <= out->since) {
        snprintf(err, errlen, "time range \"%s\": UNTIL must be after SINCE", r);
        return -1;
    }
    return 0;
}

/* "ID": a positive decimal integer, all of it. */
static int
parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int
compare_sel_parse(const char *text, struct compare_sel *out, char *err, size_t errlen)
{
    const char *key, *at, *dots;
    size_t klen;

    memset(out, 0, sizeof(*out));
    if (text == NULL || *text == '\0') {
        snprintf(err, errlen, "expected job:ID, run:ID or model:KEY[@SINCE..UNTIL]");
        return -1;
    }
    if (strlen(text) >= COMPARE_SEL_MAX) {
        snprintf(err, errlen, "selector longer than %d bytes", COMPARE_SEL_MAX - 1);
        return -1;
    }
    if (strncmp(text, "job:", 4) == 0 || strncmp(text, "run:", 4) == 0) {
        out->kind = text[0] == 'j' ? COMPARE_SEL_JOB : COMPARE_SEL_RUN;
        if (parse_id(text + 4, &out->id) == -1) {
            snprintf(err, errlen, "\"%s\": the id must be a positive integer", text);
            return -1;
        }
        return 0;
    }
    if (strncmp(text, "model:", 6) != 0) {
        snprintf(err, errlen, "\"%s\": expected job:ID, run:ID or model:KEY[@SINCE..UNTIL]",
                 text);
        return -1;
    }
    out->kind = COMPARE_SEL_MODEL;
    key = text + 6;
    at = strrchr(key, '@');
    dots = at != NULL ? strstr(at + 1, "..") : NULL;
    klen = dots != NULL ? (size_t)(at - key) : strlen(key);
    if (klen == 0 || klen >= sizeof(out->model)) {
        snprintf(err, errlen, "\"%s\": the model key must be 1..%d bytes", text,
                 COMPARE_KEY_MAX - 1);
        return -1;
    }
    memcpy(out->model, key, klen);
    out->model[klen] = '\0';
    if (dots != NULL && parse_range(at + 1, dots, out, err, errlen) == -1)
        return -1;
    return 0;
}

/* jsontext.c - see jsontext.h. */
#include "storage/jsontext.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
jt_put(struct jtext *b, const char *s, size_t n)
{
    if (b->full)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = cap <= b->max ? realloc(b->p, cap) : NULL;
        if (p == NULL) {
            b->full = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
jt_lit(struct jtext *b, const char *s)
{
    jt_put(b, s, strlen(s));
}

void
jt_str(struct jtext *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;

    jt_put(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jt_put(b, run, (size_t)(s - run));
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            jt_put(b, esc, 2);
        } else {
            jt_put(b, esc, 6);
        }
        run = s + 1;
    }
    jt_put(b, run, (size_t)(s - run));
    jt_put(b, "\"", 1);
}

void
jt_int(struct jtext *b, int64_t v)
{
    char t[24], *e = t + sizeof(t), *q = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--q = '-';
    jt_put(b, q, (size_t)(e - q));
}

void
jt_num(struct jtext *b, double v)
{
    char t[40], *e = t + sizeof(t), *q = e;
    double a = fabs(v);
    uint64_t scale, u, ip, fp;
    int dec, i, n;

    if (!isfinite(v)) {
        jt_put(b, "null", 4);
        return;
    }
    if (v != 0 && (a < 1e-3 || a >= 1e9)) {
        n = snprintf(t, sizeof(t), "%.17g", v);
        jt_put(b, t, (size_t)n);
        return;
    }
    dec = a >= 1 ? 9 : 15;
    scale = a >= 1 ? UINT64_C(1000000000) : UINT64_C(1000000000000000);
    u = (uint64_t)llround(a * (double)scale);
    ip = u / scale;
    fp = u % scale;
    if (fp != 0) {
        for (i = 0; i < dec; i++, fp /= 10) {
            if (q == e && fp % 10 == 0)
                continue; /* trailing zeros */
            *--q = (char)('0' + fp % 10);
        }
        *--q = '.';
    }
    do {
        *--q = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip != 0);
    if (v < 0 && u != 0)
        *--q = '-';
    jt_put(b, q, (size_t)(e - q));
}

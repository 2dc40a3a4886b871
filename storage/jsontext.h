/*
 * jsontext.h - JSON text written directly into a growing buffer, for the
 * answers that hold thousands of rows (trends, samples): building jansson
 * objects and printing every real with %.17g took most of their time.
 *
 * The buffer stops growing past its `max` bytes (or when memory runs out);
 * it then sets `full` and ignores further writes, so a writer checks once
 * at the end. The text is always NUL-terminated.
 */
#ifndef TPSD_JSONTEXT_H
#define TPSD_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>

struct jtext {
    char *p; /* the text; the caller frees it */
    size_t len, cap;
    size_t max; /* the most bytes it may hold */
    int full;   /* out of memory or past max */
};

#define JTEXT_INIT(max)                                                                        \
    {                                                                                          \
        NULL, 0, 0, (max), 0                                                                   \
    }

void jt_put(struct jtext *b, const char *s, size_t n);
void jt_lit(struct jtext *b, const char *s);
/* A JSON string: quotes, backslashes and control bytes escaped; other
 * bytes as they are (the text is UTF-8). */
void jt_str(struct jtext *b, const char *s);
void jt_int(struct jtext *b, int64_t v);
/*
 * A real: null when not finite; for 1e-3 <= |v| < 1e9 fixed-point with 9
 * decimals (15 below 1), trailing zeros dropped, which is within 5e-10 of
 * v relative; else %.17g.
 */
void jt_num(struct jtext *b, double v);

#endif

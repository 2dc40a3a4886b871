/*
 * chunk_scan.c - see chunk_scan.h for the contract.
 *
 * How it works: one pass over the bytes with a cursor, no recursion (the
 * shape is three objects deep at most, one function per level). Each object
 * is read by scan_object() against a table of the keys that level may hold:
 * a key not in the table, or seen twice, declines; each key says which
 * value types it takes and which field of struct chunk (a "slot") receives
 * it. Strings are copied, unescaped and NUL-terminated, into c->scratch
 * while they are validated; ignored strings (id, object ...) are validated
 * without being copied. The delta's reasoning text is picked once the whole
 * delta is read, because reasoning_content and reasoning may come in either
 * order (chunk.c's rule: reasoning_content unless absent, null or empty,
 * then reasoning when present).
 */
#include "daemon/chunk_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SCAN_INT_DIGITS_MAX 18 /* a plain integer this long fits int64 */

/* The value types a key accepts. */
enum {
    V_STR = 1,
    V_NULL = 2,
    V_INT = 4,
    V_OBJ = 8,
    V_ARR = 16,
};

/* Where a value goes. */
enum scan_slot {
    SLOT_IGNORE, /* validated, not kept */
    SLOT_MODEL,
    SLOT_CHOICES,
    SLOT_DELTA,
    SLOT_FINISH,
    SLOT_ROLE,
    SLOT_CONTENT,
    SLOT_RCONTENT,  /* delta.reasoning_content */
    SLOT_REASONING, /* delta.reasoning */
};

struct scan_key {
    const char *name;
    size_t len;
    unsigned types;
    enum scan_slot slot;
};

#define K(name, types, slot)                                                                   \
    {                                                                                          \
        name, sizeof(name) - 1, types, slot                                                    \
    }

static const struct scan_key keys_top[] = {
    K("id", V_STR, SLOT_IGNORE),
    K("object", V_STR, SLOT_IGNORE),
    K("created", V_INT, SLOT_IGNORE),
    K("model", V_STR | V_NULL, SLOT_MODEL),
    K("system_fingerprint", V_STR | V_NULL, SLOT_IGNORE),
    K("service_tier", V_STR | V_NULL, SLOT_IGNORE),
    K("usage", V_NULL, SLOT_IGNORE),
    K("choices", V_ARR | V_NULL, SLOT_CHOICES),
};

static const struct scan_key keys_choice[] = {
    K("index", V_INT, SLOT_IGNORE),
    K("delta", V_OBJ, SLOT_DELTA),
    K("logprobs", V_NULL, SLOT_IGNORE),
    K("finish_reason", V_STR | V_NULL, SLOT_FINISH),
};

static const struct scan_key keys_delta[] = {
    K("role", V_STR | V_NULL, SLOT_ROLE),
    K("content", V_STR | V_NULL, SLOT_CONTENT),
    K("reasoning_content", V_STR | V_NULL, SLOT_RCONTENT),
    K("reasoning", V_STR | V_NULL, SLOT_REASONING),
    K("refusal", V_STR | V_NULL, SLOT_IGNORE),
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

struct scan {
    const unsigned char *p, *end;
    struct chunk *c;
    size_t used;        /* bytes of c->scratch taken */
    const char *rc, *r; /* reasoning_content, reasoning (NULL: absent/null) */
    size_t rc_len, r_len;
    int has_delta;
};

struct scan_str {
    const char *s; /* NULL for a JSON null */
    size_t len;
};

static void
scan_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Consume `ch` after optional whitespace; 0 or -1. */
static int
scan_expect(struct scan *s, unsigned char ch)
{
    scan_ws(s);
    if (s->p == s->end || *s->p != ch)
        return -1;
    s->p++;
    return 0;
}

static int
scan_word(struct scan *s, const char *w, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* -?(0|[1-9][0-9]*) of at most SCAN_INT_DIGITS_MAX digits, not followed by
 * a fraction or exponent (jansson would make those reals, or reject them). */
static int
scan_int(struct scan *s)
{
    size_t nd = 0;

    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p == s->end || *s->p < '0' || *s->p > '9')
        return -1;
    if (*s->p == '0') {
        s->p++;
        nd = 1;
    } else {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            s->p++;
            nd++;
        }
    }
    if (nd > SCAN_INT_DIGITS_MAX)
        return -1;
    if (s->p < s->end &&
        (*s->p == '.' || *s->p == 'e' || *s->p == 'E' || (*s->p >= '0' && *s->p <= '9')))
        return -1;
    return 0;
}

static int
scan_hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned char h = p[i];

        v <<= 4;
        if (h >= '0' && h <= '9')
            v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f')
            v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
            v |= (uint32_t)(h - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The length of the strict UTF-8 sequence at p (as jansson's utf.c checks
 * it: no overlongs, no surrogates, nothing above U+10FFFF), 0 if invalid. */
static size_t
scan_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char u = p[0];
    size_t n, i;
    uint32_t v;

    if (u >= 0xC2 && u <= 0xDF) {
        n = 2;
        v = u & 0x1Fu;
    } else if (u >= 0xE0 && u <= 0xEF) {
        n = 3;
        v = u & 0x0Fu;
    } else if (u >= 0xF0 && u <= 0xF4) {
        n = 4;
        v = u & 0x07u;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
        v = (v << 6) | (p[i] & 0x3Fu);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

/* Put the UTF-8 encoding of code point v at o; its length. */
static size_t
scan_put_utf8(char *o, uint32_t v)
{
    if (v < 0x80) {
        o[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        o[0] = (char)(0xC0 | (v >> 6));
        o[1] = (char)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        o[0] = (char)(0xE0 | (v >> 12));
        o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        o[2] = (char)(0x80 | (v & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (v >> 18));
    o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((v >> 6) & 0x3F));
    o[3] = (char)(0x80 | (v & 0x3F));
    return 4;
}

/* One escape after the backslash at *pp: its code point, the cursor moved
 * past it. A surrogate pair is one code point; \u0000 and lone surrogates
 * decline (jansson rejects the latter; the former is left to it). */
static int
scan_escape(const unsigned char **pp, const unsigned char *end, uint32_t *cp)
{
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const unsigned char *p = *pp + 1;
    const char *hit;
    uint32_t lo;

    if (p == end)
        return -1;
    if (*p != 'u') {
        hit = *p != '\0' ? strchr(from, *p) : NULL;
        if (hit == NULL)
            return -1;
        *cp = (unsigned char)to[hit - from];
        *pp = p + 1;
        return 0;
    }
    if (end - p < 5 || scan_hex4(p + 1, cp) == -1 || *cp == 0)
        return -1;
    p += 5;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return -1;
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || scan_hex4(p + 2, &lo) == -1 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *pp = p;
    return 0;
}

/*
 * The string at the cursor (its opening quote), validated; with `out`, its
 * unescaped bytes are NUL-terminated in c->scratch and out points to them.
 * -1 when invalid, when it needs jansson, or when the scratch is full.
 */
static int
scan_string(struct scan *s, struct scan_str *out)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    char *o = s->c->scratch + s->used;
    size_t room = CHUNK_SCRATCH_MAX - s->used, n = 0, k;
    char utf[4];
    uint32_t cp;

    for (;;) {
        const unsigned char *q = p;

        /* A run of plain ASCII, copied at once: most strings are one run. */
        while (q < end && *q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
            q++;
        if (q > p) {
            k = (size_t)(q - p);
            if (out != NULL) {
                if (n + k >= room)
                    return -1;
                memcpy(o + n, p, k);
            }
            n += k;
            p = q;
        }
        if (p == end)
            return -1;
        if (*p == '"')
            break;
        if (*p < 0x20)
            return -1;
        if (*p == '\\') {
            if (scan_escape(&p, end, &cp) == -1)
                return -1;
            k = scan_put_utf8(utf, cp);
        } else if (*p >= 0x80) {
            k = scan_utf8(p, end);
            if (k == 0)
                return -1;
            memcpy(utf, p, k);
            p += k;
        } else {
            return -1; /* not reached: plain bytes are taken by the run */
        }
        if (out != NULL) {
            if (n + k >= room)
                return -1;
            memcpy(o + n, utf, k);
        }
        n += k;
    }
    s->p = p + 1;
    if (out != NULL) {
        o[n] = '\0';
        out->s = o;
        out->len = n;
        s->used += n + 1;
    }
    return 0;
}

/* A key: plain printable ASCII between quotes (no escapes), then ':'. */
static const struct scan_key *
scan_key(struct scan *s, const struct scan_key *keys, size_t nkeys, size_t *idx)
{
    const unsigned char *k, *p;
    size_t n, i;

    if (scan_expect(s, '"') == -1)
        return NULL;
    k = s->p;
    for (p = k; p < s->end && *p != '"'; p++)
        if (*p == '\\' || *p < 0x20 || *p >= 0x80)
            return NULL;
    if (p == s->end)
        return NULL;
    n = (size_t)(p - k);
    s->p = p + 1;
    if (scan_expect(s, ':') == -1)
        return NULL;
    for (i = 0; i < nkeys; i++) {
        if (keys[i].len == n && memcmp(keys[i].name, k, n) == 0) {
            *idx = i;
            return &keys[i];
        }
    }
    return NULL;
}

static int scan_object(struct scan *s, const struct scan_key *keys, size_t nkeys);

/* choices: null, [] or [one choice object]. */
static int
scan_choices(struct scan *s)
{
    if (scan_expect(s, '[') == -1)
        return -1;
    scan_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    s->c->has_choice = 1;
    if (scan_object(s, keys_choice, NKEYS(keys_choice)) == -1 || !s->has_delta)
        return -1;
    return scan_expect(s, ']');
}

/* The delta: its reasoning is picked as chunk.c picks it. */
static int
scan_delta(struct scan *s)
{
    struct chunk *c = s->c;

    s->has_delta = 1;
    if (scan_object(s, keys_delta, NKEYS(keys_delta)) == -1)
        return -1;
    if (s->rc != NULL && s->rc_len > 0) {
        c->reasoning = s->rc;
        c->reasoning_len = s->rc_len;
    } else if (s->r != NULL) {
        c->reasoning = s->r;
        c->reasoning_len = s->r_len;
    } else {
        c->reasoning = s->rc; /* "" or NULL */
        c->reasoning_len = 0;
    }
    return 0;
}

/* Store a string (or null) in its slot. */
static void
scan_store(struct scan *s, enum scan_slot slot, const struct scan_str *v)
{
    struct chunk *c = s->c;

    switch (slot) {
    case SLOT_MODEL:
        c->model = v->s;
        break;
    case SLOT_FINISH:
        c->finish_reason = v->s;
        break;
    case SLOT_ROLE:
        c->role = v->s;
        break;
    case SLOT_CONTENT:
        c->content = v->s;
        c->content_len = v->s != NULL ? v->len : 0;
        break;
    case SLOT_RCONTENT:
        s->rc = v->s;
        s->rc_len = v->len;
        break;
    case SLOT_REASONING:
        s->r = v->s;
        s->r_len = v->len;
        break;
    default:
        break;
    }
}

/* One value of key `k`, by its first byte. */
static int
scan_value(struct scan *s, const struct scan_key *k)
{
    struct scan_str v = {NULL, 0};

    scan_ws(s);
    if (s->p == s->end)
        return -1;
    switch (*s->p) {
    case '"':
        if (!(k->types & V_STR) || scan_string(s, k->slot == SLOT_IGNORE ? NULL : &v) == -1)
            return -1;
        scan_store(s, k->slot, &v);
        return 0;
    case 'n':
        if (!(k->types & V_NULL) || scan_word(s, "null", 4) == -1)
            return -1;
        scan_store(s, k->slot, &v);
        return 0;
    case '[':
        return (k->types & V_ARR) ? scan_choices(s) : -1;
    case '{':
        return (k->types & V_OBJ) ? scan_delta(s) : -1;
    default:
        return (k->types & V_INT) ? scan_int(s) : -1;
    }
}

/* An object of the keys in `keys`, each at most once. */
static int
scan_object(struct scan *s, const struct scan_key *keys, size_t nkeys)
{
    const struct scan_key *k;
    unsigned seen = 0;
    size_t i;

    if (scan_expect(s, '{') == -1)
        return -1;
    scan_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        k = scan_key(s, keys, nkeys, &i);
        if (k == NULL || (seen & (1u << i)))
            return -1;
        seen |= 1u << i;
        if (scan_value(s, k) == -1)
            return -1;
        scan_ws(s);
        if (s->p == s->end)
            return -1;
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p++ != ',')
            return -1;
    }
}

int
chunk_scan(struct chunk *c, const char *data, size_t len)
{
    struct scan s;

    memset(c, 0, offsetof(struct chunk, scratch));
    c->prompt_tokens = -1;
    c->completion_tokens = -1;
    c->reasoning_tokens = -1;
    memset(&s, 0, sizeof(s));
    s.p = (const unsigned char *)data;
    s.end = s.p + len;
    s.c = c;
    if (scan_object(&s, keys_top, NKEYS(keys_top)) == -1)
        return -1;
    scan_ws(&s);
    if (s.p != s.end)
        return -1;
    c->role_only = c->role != NULL && c->content_len == 0 && c->reasoning_len == 0;
    return 0;
}

static int
same_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    if (a == NULL || b == NULL)
        return a == b && an == bn;
    return an == bn && memcmp(a, b, an) == 0;
}

static int
same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int
chunk_scan_same(const struct chunk *a, const struct chunk *b, char *why, size_t whylen)
{
    const char *bad = NULL;

    if (a->is_done != b->is_done)
        bad = "is_done";
    else if (a->has_choice != b->has_choice)
        bad = "has_choice";
    else if (!same_bytes(a->content, a->content_len, b->content, b->content_len))
        bad = "content";
    else if (!same_bytes(a->reasoning, a->reasoning_len, b->reasoning, b->reasoning_len))
        bad = "reasoning";
    else if (!same_str(a->role, b->role) || a->role_only != b->role_only)
        bad = "role";
    else if (!same_str(a->finish_reason, b->finish_reason))
        bad = "finish_reason";
    else if (!same_str(a->model, b->model))
        bad = "model";
    else if (a->has_usage != b->has_usage || a->prompt_tokens != b->prompt_tokens ||
             a->completion_tokens != b->completion_tokens ||
             a->reasoning_tokens != b->reasoning_tokens)
        bad = "usage";
    else if (a->is_error != b->is_error || (a->error == NULL) != (b->error == NULL) ||
             !same_str(a->error_message, b->error_message) ||
             !same_str(a->error_type, b->error_type) || !same_str(a->error_code, b->error_code))
        bad = "error";
    else if ((a->server_stats == NULL) != (b->server_stats == NULL))
        bad = "server_stats";
    else if (a->type_errors != b->type_errors)
        bad = "type_errors";
    if (bad == NULL)
        return 1;
    snprintf(why, whylen, "%s", bad);
    return 0;
}

/* sse.c - see sse.h. */
#include "daemon/sse.h"

#include <stdlib.h>
#include <string.h>

#define SSE_BUF_MIN 256

static const unsigned char sse_bom[3] = {0xEF, 0xBB, 0xBF};

struct sse_buf {
    char *b;
    size_t len, cap;
};

struct sse_parser {
    sse_event_fn fn;
    void *arg;
    struct sse_buf line;            /* the unterminated line so far */
    struct sse_buf data;            /* data lines of the pending event, each + "\n" */
    char event[SSE_EVENT_NAME_MAX]; /* event name of the pending event, "" for none */
    char id[SSE_ID_MAX];            /* last event id */
    size_t bom_matched;             /* BOM bytes matched at stream start */
    int bom_done;                   /* past the place where a BOM may be */
    int after_cr;                   /* the last line ended in '\r': skip one '\n' */
    int skipping;                   /* discarding an over-long line up to its end */
    int poisoned;                   /* discarding the pending event up to a blank line */
    int pending;                    /* a field line seen since the last dispatch */
    int stopped;                    /* the callback said stop */
    enum sse_err call_err;          /* first error of the current call */
    enum sse_err err;               /* reason of the last -1 */
    size_t n_events;
};

static void
sse_note(struct sse_parser *p, enum sse_err e)
{
    if (p->call_err == SSE_OK)
        p->call_err = e;
}

/* Make room for `need` bytes in b, doubling, never above `limit`. 0 or -1. */
static int
sse_buf_reserve(struct sse_buf *b, size_t need, size_t limit)
{
    size_t cap;
    char *nb;

    if (need <= b->cap)
        return 0;
    if (need > limit)
        return -1;
    cap = b->cap ? b->cap : SSE_BUF_MIN;
    while (cap < need)
        cap *= 2;
    if (cap > limit)
        cap = limit;
    nb = realloc(b->b, cap);
    if (nb == NULL)
        return -1;
    b->b = nb;
    b->cap = cap;
    return 0;
}

/* Drop the pending event; with `err`, until the next blank line. */
static void
sse_poison(struct sse_parser *p, enum sse_err err)
{
    sse_note(p, err);
    p->poisoned = 1;
    p->data.len = 0;
    p->event[0] = '\0';
}

static int
sse_field_is(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

static void
sse_dispatch(struct sse_parser *p)
{
    const char *name;
    int rc;

    p->pending = 0;
    if (p->poisoned) {
        p->poisoned = 0;
        p->data.len = 0;
        p->event[0] = '\0';
        return;
    }
    if (p->data.len == 0) {
        p->event[0] = '\0';
        return;
    }
    /* The data ends in '\n': it becomes the terminating NUL. */
    p->data.len--;
    p->data.b[p->data.len] = '\0';
    name = p->event[0] != '\0' ? p->event : "message";
    p->n_events++;
    rc = p->fn(p->arg, name, p->data.b, p->data.len);
    p->data.len = 0;
    p->event[0] = '\0';
    if (rc != 0)
        p->stopped = 1;
}

/* One complete line, terminator excluded. */
static void
sse_line(struct sse_parser *p, const char *line, size_t n)
{
    const char *colon, *val;
    size_t flen, vlen;

    if (n == 0) {
        sse_dispatch(p);
        return;
    }
    if (p->poisoned || line[0] == ':')
        return;
    p->pending = 1;
    colon = memchr(line, ':', n);
    if (colon == NULL) {
        flen = n;
        val = line + n;
        vlen = 0;
    } else {
        flen = (size_t)(colon - line);
        val = colon + 1;
        vlen = n - flen - 1;
        if (vlen > 0 && val[0] == ' ') {
            val++;
            vlen--;
        }
    }

    if (sse_field_is(line, flen, "data")) {
        if (sse_buf_reserve(&p->data, p->data.len + vlen + 1, SSE_DATA_MAX + 1) == -1) {
            sse_poison(p, p->data.len + vlen + 1 > SSE_DATA_MAX + 1 ? SSE_ERR_EVENT_TOO_LONG
                                                                    : SSE_ERR_NOMEM);
            return;
        }
        if (vlen > 0)
            memcpy(p->data.b + p->data.len, val, vlen);
        p->data.len += vlen;
        p->data.b[p->data.len++] = '\n';
    } else if (sse_field_is(line, flen, "event")) {
        if (vlen >= sizeof(p->event)) {
            sse_poison(p, SSE_ERR_EVENT_TOO_LONG);
            return;
        }
        memcpy(p->event, val, vlen);
        p->event[vlen] = '\0';
    } else if (sse_field_is(line, flen, "id")) {
        /* WHATWG ignores an id holding NUL; an id over the cap is ignored too. */
        if (vlen < sizeof(p->id) && memchr(val, '\0', vlen) == NULL) {
            memcpy(p->id, val, vlen);
            p->id[vlen] = '\0';
        }
    }
    /* "retry" and unknown fields: ignored (we never reconnect). */
}

/* Append to the unterminated line; an over-long line starts skipping. */
static void
sse_line_append(struct sse_parser *p, const char *s, size_t n)
{
    if (p->skipping || n == 0)
        return;
    if (p->line.len + n > SSE_LINE_MAX) {
        p->skipping = 1;
        p->line.len = 0;
        sse_poison(p, SSE_ERR_LINE_TOO_LONG);
        return;
    }
    if (sse_buf_reserve(&p->line, p->line.len + n, SSE_LINE_MAX) == -1) {
        p->skipping = 1;
        p->line.len = 0;
        sse_poison(p, SSE_ERR_NOMEM);
        return;
    }
    memcpy(p->line.b + p->line.len, s, n);
    p->line.len += n;
}

/* Where the first line end ('\n' or '\r') in s is, n when none: two
 * memchr() passes (vectorised in libc), not a loop over every byte. */
static size_t
sse_eol(const char *s, size_t n)
{
    const char *nl = memchr(s, '\n', n);
    size_t m = nl != NULL ? (size_t)(nl - s) : n;
    const char *cr = memchr(s, '\r', m);

    return cr != NULL ? (size_t)(cr - s) : m;
}

static void
sse_bytes(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0, j;

    while (i < len && !p->stopped) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        j = i + sse_eol(buf + i, len - i);
        if (j == len) {
            sse_line_append(p, buf + i, len - i);
            return;
        }
        if (p->skipping) {
            /* The end of an over-long line: the line is dropped. */
            p->skipping = 0;
        } else if (p->line.len == 0) {
            if (j - i > SSE_LINE_MAX)
                sse_poison(p, SSE_ERR_LINE_TOO_LONG);
            else
                sse_line(p, buf + i, j - i);
        } else {
            sse_line_append(p, buf + i, j - i);
            if (p->skipping)
                p->skipping = 0;
            else
                sse_line(p, p->line.b, p->line.len);
            p->line.len = 0;
        }
        if (buf[j] == '\r')
            p->after_cr = 1;
        i = j + 1;
    }
}

struct sse_parser *
sse_new(sse_event_fn fn, void *arg)
{
    struct sse_parser *p;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->fn = fn;
    p->arg = arg;
    return p;
}

int
sse_feed(struct sse_parser *p, const char *buf, size_t len)
{
    size_t i = 0;
    size_t held;

    if (p->stopped) {
        p->err = SSE_ERR_STOPPED;
        return -1;
    }
    p->call_err = SSE_OK;
    /* A BOM may be split across feeds: match it byte by byte. */
    while (!p->bom_done && i < len) {
        if ((unsigned char)buf[i] == sse_bom[p->bom_matched]) {
            p->bom_matched++;
            i++;
            if (p->bom_matched == sizeof(sse_bom))
                p->bom_done = 1;
            continue;
        }
        /* Not a BOM: what matched so far is ordinary text. */
        p->bom_done = 1;
        held = p->bom_matched;
        sse_bytes(p, (const char *)sse_bom, held);
    }
    sse_bytes(p, buf + i, len - i);

    if (p->stopped) {
        p->err = SSE_ERR_STOPPED;
        return -1;
    }
    if (p->call_err != SSE_OK) {
        p->err = p->call_err;
        return -1;
    }
    return 0;
}

int
sse_finish(struct sse_parser *p)
{
    int rc = 0;

    if (p->stopped) {
        p->err = SSE_ERR_STOPPED;
        rc = -1;
    } else if (p->line.len > 0 || p->skipping || p->pending || p->poisoned || p->data.len > 0 ||
               (!p->bom_done && p->bom_matched > 0)) {
        p->err = SSE_ERR_TRUNCATED;
        rc = -1;
    }
    p->line.len = 0;
    p->data.len = 0;
    p->event[0] = '\0';
    p->bom_matched = 0;
    p->bom_done = 0;
    p->after_cr = 0;
    p->skipping = 0;
    p->poisoned = 0;
    p->pending = 0;
    p->stopped = 0;
    return rc;
}

enum sse_err
sse_error(const struct sse_parser *p)
{
    return p->err;
}

const char *
sse_strerror(enum sse_err err)
{
    switch (err) {
    case SSE_OK:
        return "no error";
    case SSE_ERR_LINE_TOO_LONG:
        return "line too long";
    case SSE_ERR_EVENT_TOO_LONG:
        return "event too large";
    case SSE_ERR_NOMEM:
        return "out of memory";
    case SSE_ERR_STOPPED:
        return "stopped by callback";
    case SSE_ERR_TRUNCATED:
        return "stream ended inside an event";
    }
    return "unknown error";
}

const char *
sse_last_id(const struct sse_parser *p)
{
    return p->id;
}

size_t
sse_events(const struct sse_parser *p)
{
    return p->n_events;
}

void
sse_free(struct sse_parser *p)
{
    if (p == NULL)
        return;
    free(p->line.b);
    free(p->data.b);
    free(p);
}

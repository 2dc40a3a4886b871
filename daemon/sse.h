/*
 * sse.h - an incremental Server-Sent Events parser (the WHATWG "event stream
 * interpretation"): bytes go in as they arrive from the socket, in pieces of
 * any size, and each complete event comes out through a callback.
 *
 * Lines end in "\n", "\r\n" or "\r" (a "\r" at the end of one feed and a "\n"
 * at the start of the next are one line end). A leading UTF-8 BOM is skipped.
 * Lines starting with ':' are comments. "field: value" loses one leading space
 * of the value; "data" lines accumulate joined with "\n"; "event" names the
 * event; "id" is kept; other fields are ignored; a blank line dispatches.
 *
 * Memory: one line buffer and one data buffer, each grown geometrically and
 * capped (SSE_LINE_MAX, SSE_DATA_MAX); no allocation per byte. A line longer
 * than SSE_LINE_MAX is malformed: the parser reports it, discards the rest of
 * that line and the event it belongs to, and resumes at the next event.
 *
 * One parser belongs to one stream and one thread. Calls nothing of ours.
 */
#ifndef TPSD_SSE_H
#define TPSD_SSE_H

#include <stddef.h>

#define SSE_LINE_MAX (1024 * 1024)      /* longest line, terminator excluded */
#define SSE_DATA_MAX (4 * SSE_LINE_MAX) /* largest data of one event */
#define SSE_EVENT_NAME_MAX 128          /* longest event name + NUL */
#define SSE_ID_MAX 256                  /* longest id + NUL */

enum sse_err {
    SSE_OK = 0,
    SSE_ERR_LINE_TOO_LONG,  /* a line exceeded SSE_LINE_MAX: its event dropped */
    SSE_ERR_EVENT_TOO_LONG, /* data or event name exceeded its cap: event dropped */
    SSE_ERR_NOMEM,          /* a buffer could not grow: the event dropped */
    SSE_ERR_STOPPED,        /* the callback returned non-zero */
    SSE_ERR_TRUNCATED,      /* sse_finish: the stream ended inside an event */
};

/*
 * Called once per dispatched event. `event` is the event name ("message"
 * when the stream gave none); `data` is NUL-terminated, `len` bytes long (it
 * may hold NULs itself), and both are valid only during the call. Return 0
 * to go on, non-zero to stop the parser for good.
 */
typedef int (*sse_event_fn)(void *arg, const char *event, const char *data, size_t len);

struct sse_parser;

/* A new parser calling fn(arg, ...) per event. Returns NULL when out of
 * memory. Free with sse_free(). */
struct sse_parser *sse_new(sse_event_fn fn, void *arg);

/*
 * Parse `len` bytes (any split of the stream is fine, len may be 0). Events
 * completed by these bytes are dispatched before it returns. Returns 0, or -1
 * when the callback asked to stop (the rest is ignored, and every later call
 * returns -1 at once) or when part of the stream was malformed (the whole
 * buffer is still consumed and later events still dispatched). sse_error()
 * says which.
 */
int sse_feed(struct sse_parser *p, const char *buf, size_t len);

/*
 * The stream ended. Returns 0 when it ended on an event boundary, -1 when it
 * ended inside an event (an unterminated line, or fields that no blank line
 * dispatched: SSE_ERR_TRUNCATED); that event is discarded, as WHATWG says.
 * The parser is then ready for a new stream (BOM check, last id kept).
 */
int sse_finish(struct sse_parser *p);

/* Why the most recent sse_feed()/sse_finish() returned -1 (SSE_OK when none
 * did). */
enum sse_err sse_error(const struct sse_parser *p);
/* A static English description of an error code. Can't fail. */
const char *sse_strerror(enum sse_err err);
/* The last "id" field seen ("" when none); valid until the next call. */
const char *sse_last_id(const struct sse_parser *p);
/* Events dispatched so far (all streams). */
size_t sse_events(const struct sse_parser *p);

/* Free the parser and its buffers. NULL is fine. */
void sse_free(struct sse_parser *p);

#endif

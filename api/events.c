/*
 * events.c - GET /v1/jobs/{id}/events: a job's event log as Server-Sent
 * Events, resumable with Last-Event-ID (or ?after=).
 *
 * Streams never block libmicrohttpd's thread. When a stream has nothing to
 * send its content reader suspends the connection and "parks" it; one
 * ticker thread resumes every parked stream each API_SSE_POLL_MS, and the
 * reader polls the database again (from that thread's own connection,
 * whose page cache is released when the last stream ends). With nothing
 * parked the ticker sleeps until a stream parks. At most
 * a->sse_max streams (API_SSE_MAX, or a quarter of the connection limit)
 * are open at once; beyond, a 503 that closes its connection, so streams
 * cannot use up the connections the other endpoints need.
 */
#include "api/internal.h"

#include "storage/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_SSE_POLL_MS 250    /* database poll period of an idle stream */
#define API_SSE_KEEPALIVE_S 15 /* a comment line at least this often */
#define API_SSE_BATCH 64       /* events read per poll */
#define API_SSE_BLOCK 4096     /* libmicrohttpd's reader block size */
#define API_SSE_TYPE_MAX 64    /* bytes of an event type we send */
#define API_SSE_FINAL_POLLS 2  /* empty polls after the job ended before closing */

struct api_sse {
    struct api *api;
    struct MHD_Connection *conn;
    int64_t job_id;
    int64_t last_id; /* last event id sent */
    char *out;       /* pending output, owned */
    size_t out_len, out_off;
    time_t last_write; /* monotonic seconds */
    int final_polls;
    int done;
};

static time_t
mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Replace the pending output with `text` (copied). 0 or -1. */
static int
set_out(struct api_sse *s, const char *text, size_t len)
{
    char *p = malloc(len + 1);

    if (p == NULL)
        return -1;
    memcpy(p, text, len);
    p[len] = '\0';
    free(s->out);
    s->out = p;
    s->out_len = len;
    s->out_off = 0;
    return 0;
}

/* Read new events into the pending output. 1 when there is output, 0 when
 * none (s->done may be set), -1 on error. */
static int
fill(struct api_sse *s)
{
    struct db *db = api_db(s->api);
    json_t *events = NULL, *ev;
    struct job_rec job;
    char *buf = NULL, *data, *p, type[API_SSE_TYPE_MAX];
    size_t i, len = 0, cap = 0, need;
    int rc, n;

    if (db == NULL)
        return 0; /* try again at the next poll */
    if (events_since(db, s->job_id, s->last_id, API_SSE_BATCH, &events) == -1)
        return 0;
    if (json_array_size(events) == 0) {
        json_decref(events);
        rc = jobs_get(db, s->job_id, &job);
        if (rc == 1)
            s->done = 1;
        else if (rc == 0) {
            if (jobs_state_is_final(job.state) && ++s->final_polls >= API_SSE_FINAL_POLLS)
                s->done = 1;
            job_rec_free(&job);
        }
        return 0;
    }
    s->final_polls = 0;
    json_array_foreach(events, i, ev)
    {
        const char *t = json_string_value(json_object_get(ev, "type"));
        json_t *d = json_object_get(ev, "data");

        snprintf(type, sizeof(type), "%s", t != NULL ? t : "message");
        for (p = type; *p != '\0'; p++) {
            if (*p == '\r' || *p == '\n' || *p == ':')
                *p = '_';
        }
        data = d != NULL ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        need = strlen(type) + (data ? strlen(data) : 4) + 64;
        if (len + need + 1 > cap) {
            cap = (len + need + 1) * 2;
            p = realloc(buf, cap);
            if (p == NULL) {
                free(data);
                free(buf);
                json_decref(events);
                return -1;
            }
            buf = p;
        }
        s->last_id = json_integer_value(json_object_get(ev, "id"));
        n = snprintf(buf + len, cap - len, "id: %lld\nevent: %s\ndata: %s\n\n",
                     (long long)s->last_id, type, data ? data : "null");
        free(data);
        if (n > 0)
            len += (size_t)n;
    }
    json_decref(events);
    free(s->out);
    s->out = buf;
    s->out_len = len;
    s->out_off = 0;
    return len > 0;
}

static ssize_t
copy_out(struct api_sse *s, char *buf, size_t max)
{
    size_t n = s->out_len - s->out_off;

    if (n > max)
        n = max;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    s->last_write = mono_s();
    return (ssize_t)n;
}

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct api_sse *s = cls;
    struct api *a = s->api;
    int keepalive = API_SSE_KEEPALIVE_S;
    int r, stopping;

    if (s->out_off < s->out_len)
        return copy_out(s, buf, max);
    if (s->done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&a->sse_mu);
    stopping = a->stopping;
    pthread_mutex_unlock(&a->sse_mu);
    if (stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    r = fill(s);
    if (r == -1)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (r == 1)
        return copy_out(s, buf, max);
    if (s->done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (mono_s() - s->last_write >= keepalive) {
        if (set_out(s, ": keepalive\n\n", 13) == -1)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        return copy_out(s, buf, max);
    }
    /* Nothing to say: park the connection until the next tick. */
    pthread_mutex_lock(&a->sse_mu);
    if (a->stopping || a->nparked == API_SSE_MAX) {
        pthread_mutex_unlock(&a->sse_mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    MHD_suspend_connection(s->conn);
    a->parked[a->nparked++] = s;
    if (a->nparked == 1)
        pthread_cond_signal(&a->sse_cv); /* the ticker sleeps while none is parked */
    pthread_mutex_unlock(&a->sse_mu);
    return 0;
}

static void
sse_free(void *cls)
{
    struct api_sse *s = cls;
    struct api *a = s->api;
    int i, last;

    pthread_mutex_lock(&a->sse_mu);
    for (i = 0; i < a->nparked; i++) {
        if (a->parked[i] == s)
            a->parked[i] = a->parked[--a->nparked];
    }
    last = --a->nstreams == 0;
    pthread_mutex_unlock(&a->sse_mu);
    free(s->out);
    free(s);
    /* The last stream ended: the page cache its polls filled goes (the
     * connection stays, on libmicrohttpd's thread). */
    if (last)
        db_release_memory(pthread_getspecific(a->db_key));
}

/* Resume every parked stream. Call with sse_mu held. */
static void
resume_all(struct api *a)
{
    int i;

    for (i = 0; i < a->nparked; i++)
        MHD_resume_connection(a->parked[i]->conn);
    a->nparked = 0;
}

static void *
ticker(void *arg)
{
    struct api *a = arg;
    struct timespec until;

    pthread_mutex_lock(&a->sse_mu);
    while (!a->stopping) {
        /* Nothing parked: sleep until a stream parks (sse_read signals),
         * so that an idle daemon's ticker does not wake at all. */
        if (a->nparked == 0) {
            pthread_cond_wait(&a->sse_cv, &a->sse_mu);
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += API_SSE_POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!a->stopping && pthread_cond_timedwait(&a->sse_cv, &a->sse_mu, &until) == 0)
            ; /* a whole period, whoever signals */
        resume_all(a);
    }
    pthread_mutex_unlock(&a->sse_mu);
    return NULL;
}

int
api_sse_init(struct api *a)
{
    return api_thread_start(&a->ticker, &a->ticker_started, API_SMALL_STACK, ticker, a);
}

void
api_sse_shutdown(struct api *a)
{
    pthread_mutex_lock(&a->sse_mu);
    a->stopping = 1;
    resume_all(a);
    pthread_cond_broadcast(&a->sse_cv);
    pthread_mutex_unlock(&a->sse_mu);
    if (a->ticker_started) {
        pthread_join(a->ticker, NULL);
        a->ticker_started = 0;
    }
}

enum MHD_Result
api_h_events(struct api_req *r)
{
    struct api *a = r->api;
    struct db *db = api_db(a);
    struct MHD_Response *resp;
    struct api_sse *s;
    struct job_rec job;
    const char *after = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    int64_t last = 0;
    int rc, full;

    if (after == NULL)
        after = api_query(r, "after");
    if (after != NULL && api_parse_i64(after, 0, INT64_MAX, &last) == -1)
        return api_reply_error(r, 400, "bad_request",
                               "Last-Event-ID / after: must be a non-negative integer");
    if (db == NULL)
        return api_reply_db_error(r, NULL);
    rc = jobs_get(db, r->ids[0], &job);
    if (rc != 0)
        return api_reply_lookup(r, db, rc, "job");
    job_rec_free(&job);
    pthread_mutex_lock(&a->sse_mu);
    full = a->stopping || a->nstreams >= a->sse_max;
    if (!full)
        a->nstreams++;
    pthread_mutex_unlock(&a->sse_mu);
    /* Refused: the connection closes after the reply, so that refused
     * clients cannot hold connections the other endpoints need. */
    if (full)
        return api_reply_error_close(r, 503, "too_many_streams", 5, "at most %d event streams",
                                     a->sse_max);
    s = calloc(1, sizeof(*s));
    if (s == NULL || set_out(s, "retry: 2000\n\n", 13) == -1) {
        free(s);
        pthread_mutex_lock(&a->sse_mu);
        a->nstreams--;
        pthread_mutex_unlock(&a->sse_mu);
        return MHD_NO;
    }
    s->api = a;
    s->conn = r->conn;
    s->job_id = r->ids[0];
    s->last_id = last;
    s->last_write = mono_s();
    /* From here sse_free owns s, even when creation fails. */
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, API_SSE_BLOCK, sse_read, s,
                                             sse_free);
    if (resp == NULL) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return api_queue(r, 200, resp);
}

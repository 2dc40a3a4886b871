/*
 * httputil.c - the tests' HTTP client (see httputil.h).
 *
 * How it works: one curl easy handle per request; the body and the header
 * block are appended to two growing buffers by the same write callback,
 * which ends the transfer (returns 0) past the buffer's limit or, for an
 * event stream, once enough complete events ("id: " at a line start,
 * followed by the blank line) arrived. "Expect:" is always sent empty so
 * that curl never waits for a 100 Continue.
 */
#include "tests/httputil.h"

#include "tests/check.h"
#include "daemon/curl_dl.h"

#include "api/api.h"
#include "daemon/config.h"
#include "daemon/httpbody.h"
#include "storage/db.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HU_TIMEOUT_S_DEFAULT 60L

/* Complete SSE events in b: "id: " lines, counted once the data ends with
 * the blank line that closes an event. */
static size_t
hu_events(const struct hu_buf *b)
{
    size_t events = 0;
    const char *s;

    if (b->len < 2 || strcmp(b->p + b->len - 2, "\n\n") != 0)
        return 0;
    for (s = b->p; (s = strstr(s, "id: ")) != NULL; s++) {
        if (s == b->p || s[-1] == '\n')
            events++;
    }
    return events;
}

static size_t
hu_on_data(char *p, size_t sz, size_t n, void *arg)
{
    struct hu_buf *b = arg;
    struct httpbody body = {b->p, b->len, b->max, 0};
    size_t k = httpbody_write(p, sz, n, &body);

    b->p = body.data;
    b->len = body.len;
    if (k == 0 || (b->stop_after_events > 0 && hu_events(b) >= b->stop_after_events))
        return 0;
    return k;
}

/* The chunked upload: "[" then spaces, u->left bytes in all. */
static size_t
hu_on_read(char *p, size_t sz, size_t n, void *arg)
{
    size_t *left = arg, k = sz * n;

    if (k > *left)
        k = *left;
    memset(p, ' ', k);
    if (k > 0)
        p[0] = '[';
    *left -= k;
    return k;
}

int
hu_request(const char *method, const char *url, const struct hu_opts *o, struct hu_resp *r)
{
    static const struct hu_opts none;
    static int inited; /* the tests are single-threaded where they call this */
    struct curl_slist *h = NULL;
    size_t i, left;
    CURLcode res;
    CURL *c;

    if (o == NULL)
        o = &none;
    memset(r, 0, sizeof(*r));
    r->body.max = r->hdrs.max = o->body_max > 0 ? o->body_max : HU_BODY_MAX_DEFAULT;
    r->body.stop_after_events = o->stop_after_events;
    left = o->chunked_len;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_ALL);
        inited = 1;
    }
    c = curl_easy_init();
    if (c == NULL)
        return -1;
    for (i = 0; o->headers != NULL && o->headers[i] != NULL; i++)
        h = curl_slist_append(h, o->headers[i]);
    if (o->json_body && o->body != NULL)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (o->chunked_len > 0)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT,
                     o->timeout_s > 0 ? o->timeout_s : HU_TIMEOUT_S_DEFAULT);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hu_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hu_on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->hdrs);
    if (o->path_as_is)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (o->chunked_len > 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, hu_on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &left);
    } else if (o->body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(o->body));
    }
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return res == CURLE_OK ? 0 : -1;
}

void
hu_resp_free(struct hu_resp *r)
{
    free(r->body.p);
    free(r->hdrs.p);
    memset(r, 0, sizeof(*r));
}

const char *
hu_header(const struct hu_resp *r, const char *name)
{
    static char v[HU_HEADER_MAX];
    const char *p = r->hdrs.p;
    size_t n = strlen(name), k;

    while (p != NULL && *p != '\0') {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            k = strcspn(p, "\r\n");
            if (k >= sizeof(v))
                k = sizeof(v) - 1;
            memcpy(v, p, k);
            v[k] = '\0';
            return v;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

json_t *
hu_body_json(const struct hu_resp *r)
{
    json_t *j = json_loads(r->body.p ? r->body.p : "", 0, NULL);

    if (j == NULL)
        check_failed(__FILE__, __LINE__, "not JSON (status %ld): %s", r->status,
                     r->body.p ? r->body.p : "(empty)");
    return j;
}

struct api *
hu_api_start(struct config *cfg, const char *db_path, int create_db, int *port)
{
    char err[API_ERR_MAX];
    struct api_opts o;
    struct api *api;
    struct db *db;

    if (create_db) {
        db = db_open(db_path, err, sizeof(err));
        if (db == NULL)
            check_failed(__FILE__, __LINE__, "db_open: %s", err);
        db_close(db);
    }
    cfg->listen_port = 0;
    memset(&o, 0, sizeof(o));
    o.cfg = cfg;
    o.db_path = db_path;
    api = api_start(&o, err, sizeof(err));
    if (api == NULL)
        check_failed(__FILE__, __LINE__, "api_start: %s", err);
    *port = api_port(api);
    CHECK(*port > 0);
    return api;
}

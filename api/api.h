/*
 * api.h - tpsd's REST API (DESIGN.md "REST API") on libmicrohttpd: jobs,
 * runs, samples, suites, live job events (SSE), health, Prometheus metrics
 * and the OpenAPI document.
 *
 * The server runs in libmicrohttpd's internal thread pool. Every pool thread
 * opens its own database connection on first use; no sqlite3 handle is
 * shared between threads. Handlers never block: they validate, store,
 * notify the worker and answer.
 *
 * Security on every request: Host must name a loopback address or the
 * configured listen address with the bound port (DNS rebinding); a bearer
 * token (from a 0600 file) when one is configured, compared in constant time;
 * CORS only for configured origins, never "*". Binding a non-loopback
 * address requires a token.
 *
 * api/ may call daemon/ (jobspec, suite, config, log) and storage/. Nothing
 * of ours includes api/ but main (tpsd serve) and the tests.
 */
#ifndef TPSD_API_H
#define TPSD_API_H

#include <stddef.h>

#include "daemon/config.h"

#define API_ERR_MAX 512

struct worker;

struct api_opts {
    /* listen_addr, listen_port (0 = any free port, see api_port()),
     * token_file, cors_origins, max_body_bytes, max_connections,
     * connection_timeout_s. Read during api_start only. */
    const struct config *cfg;
    const char *db_path; /* the (migrated) database; copied */
    /* The job worker, or NULL (then healthz reports "absent"). The API calls
     * it only through these functions, so it links without worker.c
     * (tpsd serve passes worker_notify, worker_alive and worker_cancel).
     * Any of them may be NULL. */
    struct worker *worker;
    void (*worker_notify)(struct worker *w);
    int (*worker_alive)(struct worker *w);
    void (*worker_cancel)(struct worker *w, long long job_id);
};

struct api;

/*
 * Start serving: read the token file (refused unless its mode is 0600 or
 * 0400, or when empty), bind the configured address and port and start the
 * thread pool. A non-loopback address without a token is refused.
 * Returns the server, or NULL with a message in err (errlen bytes).
 * Nothing is left running on failure.
 */
struct api *api_start(const struct api_opts *o, char *err, size_t errlen);

/* The port the server is bound to (useful with listen_port 0). */
int api_port(const struct api *a);

/* The threads running request handlers now (the request pool's lanes,
 * api/pool.c: started by requests, ended when idle). For tests and
 * diagnostics. */
int api_request_threads(struct api *a);

/*
 * Stop: end open event streams, stop accepting, finish in-flight requests,
 * join the threads (closing their database connections) and free.
 * NULL is fine.
 */
void api_stop(struct api *a);

#endif

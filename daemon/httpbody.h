/*
 * httpbody.h - a response body gathered by libcurl into one growing,
 * NUL-terminated buffer with a cap: the write callback the daemon's
 * /v1/models check (backend.c), the verbs' REST client (cli/rest.c) and the
 * tests' HTTP helper share; httpbody_add is also the body sink of
 * http1_get (the direct path). Calls nothing of ours.
 */
#ifndef TPSD_HTTPBODY_H
#define TPSD_HTTPBODY_H

#include "daemon/curl_dl.h"

#include <stddef.h>

/* A body so far. Start it as {NULL, 0, cap, 0}; free(data) when done. */
struct httpbody {
    char *data;   /* the bytes, NUL-terminated; NULL before the first */
    size_t len;   /* bytes in data, the NUL not counted */
    size_t max;   /* the cap: a body longer than this stops the transfer */
    int overflow; /* 1 once the cap stopped it */
};

/* Append n bytes at p to the struct httpbody at arg: 0, or -1 past the cap
 * (overflow set) or out of memory. An http1_body_fn (non-zero stops). */
int httpbody_add(void *arg, const char *p, size_t n);
/* CURLOPT_WRITEFUNCTION with a struct httpbody as CURLOPT_WRITEDATA:
 * appends size * nmemb bytes at p. Returns that count, or 0 (which ends the
 * transfer with CURLE_WRITE_ERROR) past the cap (overflow set) or out of
 * memory. */
size_t httpbody_write(char *p, size_t size, size_t nmemb, void *arg);
/* Point the handle's body at b (httpbody_write, CURLOPT_WRITEDATA b). */
void httpbody_collect(CURL *c, struct httpbody *b);

#endif

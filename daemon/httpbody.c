/*
 * httpbody.c - see httpbody.h. The buffer grows by exactly what each call
 * brings, plus one byte for the NUL, so data is a C string at every step.
 */
#include "daemon/httpbody.h"

#include <stdlib.h>
#include <string.h>

int
httpbody_add(void *arg, const char *p, size_t n)
{
    struct httpbody *b = arg;
    char *d;

    if (b->len + n > b->max) {
        b->overflow = 1;
        return -1;
    }
    d = realloc(b->data, b->len + n + 1);
    if (d == NULL)
        return -1;
    b->data = d;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

size_t
httpbody_write(char *p, size_t size, size_t nmemb, void *arg)
{
    size_t n = size * nmemb;

    return httpbody_add(arg, p, n) == 0 ? n : 0;
}

void
httpbody_collect(CURL *c, struct httpbody *b)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, httpbody_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
}

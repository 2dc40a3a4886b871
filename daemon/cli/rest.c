/*
 * rest.c - the REST client of the CLI verbs (see rest.h for what it
 * finds and sends).
 *
 * How it works: rest_init settles the base URL (a wildcard listen address
 * is reached on loopback, IPv6 in brackets) and the Authorization header
 * once per verb. rest_call builds a fresh curl easy handle for each request
 * (the verbs send one or two), collects the body up to REST_BODY_MAX and
 * parses it as JSON when it can; any HTTP answer is a success here, and
 * the verb decides what a status means, usually through rest_reply_error.
 * Only a transport failure (refused, timeout, oversized body) is -1.
 */
#include "daemon/cli/rest.h"

#include "daemon/httpbody.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
rest_reply_free(struct rest_reply *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

/* ---- set-up ---- */

/* Read a token file: one non-empty line. 0 or -1 (printed). */
static int
read_token(const char *verb, const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "tpsd %s: token_file %s: %s\n", verb, path, strerror(errno));
        return -1;
    }
    n = fread(out, 1, outlen - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (n == 0 || strchr(out, '\n') != NULL) {
        fprintf(stderr, "tpsd %s: token_file %s: must hold one non-empty line\n", verb, path);
        return -1;
    }
    return 0;
}

/* Fill cl from the flags, the environment and the configuration. 0 or -1
 * (printed). */
int
rest_init(struct rest *cl, const char *verb, const struct config *cfg, const char *url,
          const char *token)
{
    char tok[REST_TOKEN_MAX + 1];
    const char *host = cfg->listen_addr;
    size_t n;

    memset(cl, 0, sizeof(cl[0]));
    cl->verb = verb;
    if (url == NULL)
        url = getenv("TPSD_URL");
    if (url != NULL && *url != '\0') {
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            fprintf(stderr, "tpsd %s: --url must start with http:// or https://: %s\n", verb,
                    url);
            return -1;
        }
        n = (size_t)snprintf(cl->base, sizeof(cl->base), "%s", url);
        if (n >= sizeof(cl->base)) {
            fprintf(stderr, "tpsd %s: --url is too long\n", verb);
            return -1;
        }
    } else {
        /* A wildcard bind is reached on loopback. */
        if (strcmp(host, "0.0.0.0") == 0 || *host == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
        n = (size_t)snprintf(cl->base, sizeof(cl->base), "http://%s%s%s:%d",
                             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                             cfg->listen_port);
        if (n >= sizeof(cl->base)) {
            fprintf(stderr, "tpsd %s: listen_addr is too long\n", verb);
            return -1;
        }
    }
    while (n > 0 && cl->base[n - 1] == '/')
        cl->base[--n] = '\0';
    if (token == NULL)
        token = getenv("TPSD_TOKEN");
    if (token == NULL && cfg->token_file[0] != '\0') {
        if (read_token(verb, cfg->token_file, tok, sizeof(tok)) == -1)
            return -1;
        token = tok;
    }
    if (token != NULL && *token != '\0') {
        if (strlen(token) > REST_TOKEN_MAX || strpbrk(token, "\r\n") != NULL) {
            fprintf(stderr, "tpsd %s: the token is too long or holds a line break\n", verb);
            return -1;
        }
        snprintf(cl->auth, sizeof(cl->auth), "Authorization: Bearer %s", token);
    }
    return 0;
}

/* ---- HTTP ---- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct rest_reply *r = arg;
    struct httpbody b = {r->body, r->len, REST_BODY_MAX, 0};
    size_t n = httpbody_write(data, size, nmemb, &b);

    r->body = b.data;
    r->len = b.len;
    r->too_big |= b.overflow;
    return n;
}

struct curl_slist *
rest_headers(const struct rest *cl, const char *extra, int json_body)
{
    struct curl_slist *h = NULL;

    h = curl_slist_append(h, "Accept: application/json");
    if (json_body)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (cl->auth[0] != '\0')
        h = curl_slist_append(h, cl->auth);
    if (extra != NULL)
        h = curl_slist_append(h, extra);
    h = curl_slist_append(h, "Expect:");
    return h;
}

void
rest_unreachable(const struct rest *cl, const char *why)
{
    if (cl->quiet)
        return;
    fprintf(stderr,
            "tpsd %s: cannot reach the daemon at %s: %s (is `tpsd serve` running?"
            " see --url or TPSD_URL)\n",
            cl->verb, cl->base, why);
}

int
rest_call(const struct rest *cl, const char *method, const char *path, const char *body,
          const char *extra, struct rest_reply *r)
{
    char url[REST_URL_MAX + REST_PATH_MAX], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h;
    CURLcode res;
    CURL *c;

    memset(r, 0, sizeof(*r));
    c = curl_easy_init();
    if (c == NULL) {
        fprintf(stderr, "tpsd %s: out of memory\n", cl->verb);
        return -1;
    }
    snprintf(url, sizeof(url), "%s%s", cl->base, path);
    h = rest_headers(cl, extra, body != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)REST_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)REST_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (res != CURLE_OK || r->status == 0) {
        rest_unreachable(cl, r->too_big  ? "the answer is too large"
                             : errbuf[0] ? errbuf
                                         : curl_easy_strerror(res));
        rest_reply_free(r);
        return -1;
    }
    if (r->body == NULL)
        r->body = calloc(1, 1);
    r->json = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
    return 0;
}

int
rest_get_json(const struct rest *cl, const char *path, struct rest_reply *r)
{
    if (rest_call(cl, "GET", path, NULL, NULL, r) == -1)
        return EXIT_UNAVAILABLE;
    if (r->status != 200 || r->json == NULL)
        return rest_reply_error(cl, r);
    return 0;
}

/* Print the server's error and map its status to an exit status. */
int
rest_reply_error(const struct rest *cl, const struct rest_reply *r)
{
    json_t *e = json_object_get(r->json, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));

    if (msg != NULL)
        fprintf(stderr, "tpsd %s: %s (HTTP %ld %s)\n", cl->verb, msg, r->status,
                code ? code : "");
    else
        fprintf(stderr, "tpsd %s: the daemon answered HTTP %ld\n", cl->verb, r->status);
    if (r->status == 401)
        fprintf(stderr, "tpsd %s: give the API token with --token, TPSD_TOKEN or token_file\n",
                cl->verb);
    if (r->status >= 500)
        return EXIT_UNAVAILABLE;
    if (r->status == 400 || r->status == 413 || r->status == 415 || r->status == 422)
        return EXIT_USAGE;
    return EXIT_WORK_FAILED;
}

/* ---- argument handling ---- */

/* Split argv into config flags, client flags, the verb's `own` flags and
 * positional arguments. 0, or -1 (printed: usage). */
int
rest_args_parse(const char *verb, int argc, char **argv, const struct cmd_flag *own,
                struct rest_args *a)
{
    int i, k;

    memset(a, 0, sizeof(*a));
    a->rest = calloc((size_t)argc + 1, sizeof(char *));
    a->pos = calloc((size_t)argc + 1, sizeof(char *));
    if (a->rest == NULL || a->pos == NULL ||
        cmd_config(&a->cfg, argc, argv, a->rest, &a->nrest) == -1)
        return -1;
    for (i = 0; i < a->nrest; i++) {
        const char *s = a->rest[i];
        const char **val = NULL;
        int *set = NULL;

        if (strcmp(s, "--url") == 0) {
            val = &a->url;
        } else if (strcmp(s, "--token") == 0) {
            val = &a->token;
        } else if (strcmp(s, "--json") == 0) {
            set = &a->json;
        } else if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            set = &a->help;
        } else {
            for (k = 0; own != NULL && own[k].name != NULL; k++) {
                if (strcmp(s, own[k].name) == 0) {
                    val = own[k].value;
                    set = own[k].set;
                    break;
                }
            }
            if (own == NULL || own[k].name == NULL) {
                if (s[0] == '-' && s[1] != '\0') {
                    fprintf(stderr, "tpsd %s: unknown option %s\n", verb, s);
                    return -1;
                }
                a->pos[a->npos++] = a->rest[i];
                continue;
            }
        }
        if (set != NULL)
            *set = 1;
        if (val != NULL) {
            if (i + 1 >= a->nrest) {
                fprintf(stderr, "tpsd %s: %s needs a value\n", verb, s);
                return -1;
            }
            *val = a->rest[++i];
        }
    }
    return 0;
}

void
rest_args_free(struct rest_args *a)
{
    free(a->rest);
    free(a->pos);
}

/* The job id of the only positional argument. 0 or -1 (printed). */
static int
job_id_arg(const char *verb, const struct rest_args *a, long long *id)
{
    char *end;

    if (a->npos != 1) {
        fprintf(stderr, "tpsd %s: expected one job id\n", verb);
        return -1;
    }
    errno = 0;
    *id = strtoll(a->pos[0], &end, 10);
    if (errno != 0 || end == a->pos[0] || *end != '\0' || *id <= 0) {
        fprintf(stderr, "tpsd %s: not a job id: \"%s\"\n", verb, a->pos[0]);
        return -1;
    }
    return 0;
}

int
rest_job_verb(const char *verb, const char *usage, int argc, char **argv, struct rest_args *a,
              struct rest *cl, long long *id)
{
    if (rest_args_parse(verb, argc, argv, NULL, a) == -1)
        return -1;
    if (a->help) {
        fputs(usage, stdout);
        fputs(rest_usage, stdout);
        return 1;
    }
    if (job_id_arg(verb, a, id) == -1 || rest_init(cl, verb, &a->cfg, a->url, a->token) == -1)
        return -1;
    cl->json = a->json;
    return 0;
}

const char rest_usage[] =
    "  --url URL      the daemon (default TPSD_URL, else http://listen_addr:listen_port)\n"
    "  --token T      API bearer token (default TPSD_TOKEN, else the token_file setting)\n"
    "  --json         print the daemon's JSON\n";

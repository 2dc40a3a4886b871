/*
 * cmd_submit.c - `tpsd submit`: queue a job on the daemon (POST /v1/jobs)
 * from the job-spec flags of `tpsd run` or a spec file, and with --watch
 * follow it to its end (watch.h).
 *
 * A --suite given as a file is sent inline (the daemon may not see the
 * file), and --base-url on the command line becomes the spec's
 * server.base_url. Exit status: 0 queued; 1 the daemon refused; 2 bad
 * usage or a spec the daemon rejected; 3 unreachable; with --watch, as
 * tpsd watch.
 */
#include "daemon/cli/cmd.h"

#include "common/slurp.h"

#include "daemon/cli/rest.h"
#include "daemon/cli/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUBMIT_FILE_MAX (8 * 1024 * 1024) /* a spec or suite file we send */

/* Read a whole file (or stdin for "-") into a new string. NULL (printed)
 * on failure. */
static char *
read_text(const char *verb, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *buf = NULL;
    int rc;

    if (f == NULL) {
        fprintf(stderr, "tpsd %s: %s: %s\n", verb, path, strerror(errno));
        return NULL;
    }
    rc = slurp_stream(f, SUBMIT_FILE_MAX, &buf, NULL);
    if (rc == SLURP_TOO_BIG)
        fprintf(stderr, "tpsd %s: %s: larger than %d bytes\n", verb, path, SUBMIT_FILE_MAX);
    else if (rc != 0)
        fprintf(stderr, "tpsd %s: %s: read error\n", verb, path);
    if (f != stdin)
        fclose(f);
    return buf;
}

/* --suite FILE: the daemon may not see the file (other folder, other user):
 * send the suite inline. 0, or -1 (printed). */
static int
inline_suite(json_t *spec)
{
    const char *s = json_string_value(json_object_get(spec, "suite"));
    struct stat st;
    json_error_t je;
    json_t *suite;
    char *text;

    if (s == NULL || (strchr(s, '/') == NULL && strstr(s, ".json") == NULL) ||
        stat(s, &st) == -1 || !S_ISREG(st.st_mode))
        return 0;
    text = read_text("submit", s);
    if (text == NULL)
        return -1;
    suite = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (suite == NULL) {
        fprintf(stderr, "tpsd submit: %s: line %d: %s\n", s, je.line, je.text);
        return -1;
    }
    json_object_set_new(spec, "suite", suite);
    return 0;
}

/* --base-url given on the command line (not from the environment or a
 * config file: the daemon has its own). */
static int
has_base_url_flag(int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--base-url") == 0 || strncmp(argv[i], "--base-url=", 11) == 0)
            return 1;
    }
    return 0;
}

static void
submit_usage(FILE *f)
{
    fprintf(
        f,
        "usage: tpsd submit --model KEY [--model KEY ...] [job spec flags] [--base-url URL]\n"
        "       tpsd submit --file SPEC.json|-\n"
        "         [--idempotency-key K] [--watch] [--json] [--url URL] [--token T]\n"
        "  queues a job on the daemon and prints its id; --watch then follows it\n"
        "  (exit status as tpsd watch)\n");
    cmd_spec_usage(f);
    fputs(rest_usage, f);
}

int
cmd_submit(int argc, char **argv)
{
    struct config cfg;
    struct rest cl;
    struct rest_reply r;
    char hdr[300], *body = NULL;
    const char *file = NULL, *key = NULL, *url = NULL, *token = NULL;
    int as_json = 0, help = 0, watch = 0, rc = EXIT_USAGE, got = 0, args;
    const struct cmd_flag own[] = {
        {"--file", &file, NULL},    {"--idempotency-key", &key, NULL},
        {"--url", &url, NULL},      {"--token", &token, NULL},
        {"--json", NULL, &as_json}, {"--watch", NULL, &watch},
        {"--help", NULL, &help},    {"-h", NULL, &help},
        {NULL, NULL, NULL},
    };
    json_t *spec = NULL, *server;
    long long id;

    memset(&r, 0, sizeof(r));
    args = cmd_spec_args("submit", argc, argv, own, &help, submit_usage, &cfg, &spec);
    if (args != 0) {
        rc = args == 1 ? 0 : EXIT_USAGE;
        goto out;
    }
    if (key != NULL && (strlen(key) == 0 || strlen(key) > 255 || strpbrk(key, "\r\n"))) {
        fprintf(stderr, "tpsd submit: --idempotency-key must be 1..255 bytes on one line\n");
        goto out;
    }
    if (file != NULL) {
        if (json_object_size(spec) > 0 || has_base_url_flag(argc, argv)) {
            fprintf(stderr, "tpsd submit: give --file or job spec flags, not both\n");
            goto out;
        }
        body = read_text("submit", file);
        if (body == NULL)
            goto out;
    } else {
        if (json_object_get(spec, "models") == NULL) {
            fprintf(stderr, "tpsd submit: give --model KEY (or --file SPEC.json)\n");
            submit_usage(stderr);
            goto out;
        }
        if (inline_suite(spec) == -1)
            goto out;
        if (has_base_url_flag(argc, argv)) {
            server = json_object_get(spec, "server");
            if (server == NULL) {
                server = json_object();
                json_object_set_new(spec, "server", server);
            }
            json_object_set_new(server, "base_url", json_string(cfg.base_url));
        }
        body = json_dumps(spec, JSON_COMPACT);
        if (body == NULL)
            goto out;
    }
    if (rest_init(&cl, "submit", &cfg, url, token) == -1)
        goto out;
    cl.json = as_json;
    if (key != NULL)
        snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key);
    if (rest_call(&cl, "POST", "/v1/jobs", body, key ? hdr : NULL, &r) == -1) {
        rc = EXIT_UNAVAILABLE;
        goto out;
    }
    got = 1;
    if (r.status != 201 && r.status != 200) {
        rc = rest_reply_error(&cl, &r);
        goto out;
    }
    id = (long long)json_integer_value(json_object_get(r.json, "id"));
    if (as_json)
        cmd_print_json(r.json);
    else if (r.status == 200)
        printf("job %lld (already submitted with this idempotency key): %s\n", id,
               cmd_str(json_object_get(r.json, "state"), "?"));
    else
        printf("job %lld queued\n", id);
    fflush(stdout);
    rc = watch ? watch_job(&cl, id) : 0;
out:
    if (got)
        rest_reply_free(&r);
    json_decref(spec);
    free(body);
    return rc;
}

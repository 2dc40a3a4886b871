/*
 * cmd_report.c - `tpsd report ID [--format md|json|csv]`: a job's report
 * (report.h) on stdout, read from the database directly (no daemon needed).
 */
#include "daemon/cli/cmd.h"

#include "daemon/report.h"
#include "storage/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
parse_id(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int
cmd_report(int argc, char **argv)
{
    struct config c;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    struct db *db = NULL;
    enum report_format fmt = REPORT_MD;
    const char *fmt_arg = NULL;
    char *text = NULL;
    size_t len = 0;
    int64_t id = 0;
    int nrest, i, got, rc = EXIT_USAGE;

    if (rest == NULL)
        return EXIT_UNAVAILABLE;
    if (cmd_config(&c, argc, argv, rest, &nrest) == -1)
        goto out;
    for (i = 0; i < nrest; i++) {
        if (strcmp(rest[i], "--format") == 0 && i + 1 < nrest) {
            fmt_arg = rest[++i];
        } else if (strncmp(rest[i], "--format=", 9) == 0) {
            fmt_arg = rest[i] + 9;
        } else if (cmd_is_help(rest[i])) {
            printf("usage: tpsd report ID [--format md|json|csv] [--db PATH]\n"
                   "  the job's report from the database: Markdown (default), the JSON\n"
                   "  behind it, or every sample as CSV\n");
            rc = 0;
            goto out;
        } else if (id == 0 && parse_id(rest[i], &id) == 0) {
            continue;
        } else {
            fprintf(stderr, "tpsd report: unexpected argument %s\n", rest[i]);
            goto out;
        }
    }
    if (id == 0 || (fmt_arg != NULL && report_format_parse(fmt_arg, &fmt) == -1)) {
        fprintf(stderr, "usage: tpsd report ID [--format md|json|csv]\n");
        goto out;
    }
    rc = EXIT_UNAVAILABLE;
    db = cmd_open_db(&c);
    if (db == NULL)
        goto out;
    got = report_render(db, id, fmt, &text, &len);
    if (got == 1) {
        fprintf(stderr, "tpsd report: no job %lld\n", (long long)id);
        rc = EXIT_WORK_FAILED;
        goto out;
    }
    if (got == -1) {
        fprintf(stderr, "tpsd report: %s\n", db->err);
        goto out;
    }
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "tpsd report: write failed\n");
        rc = EXIT_WORK_FAILED;
        goto out;
    }
    rc = 0;
out:
    free(text);
    db_close(db);
    free(rest);
    return rc;
}

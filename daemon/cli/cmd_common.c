/* cmd_common.c - config and database set-up, and the printing helpers,
 * shared by the subcommands (see cmd.h). */
#include "daemon/cli/cmd.h"

#include "daemon/log.h"
#include "storage/db.h"
#include "storage/runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
cmd_config(struct config *c, int argc, char **argv, char **rest, int *nrest)
{
    char err[CONFIG_ERR_MAX];
    const char *file = getenv("TPSD_CONFIG");
    enum log_level lvl;
    int i, r;

    config_defaults(c);
    /* --config FILE is found first: the file sits below env and flags. */
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file != NULL && *file != '\0' && config_load_file(c, file, err, sizeof(err)) == -1)
        goto fail;
    if (config_load_env(c, err, sizeof(err)) == -1)
        goto fail;
    *nrest = 0;
    for (i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0)
            continue;
        r = config_apply_flag(c, argc, argv, &i, err, sizeof(err));
        if (r == -1)
            goto fail;
        if (r == 0)
            rest[(*nrest)++] = argv[i];
    }
    if (log_level_parse(c->log_level, &lvl) == -1) {
        snprintf(err, sizeof(err), "log_level: unknown level \"%s\"", c->log_level);
        goto fail;
    }
    log_set_level(lvl);
    return 0;
fail:
    fprintf(stderr, "tpsd: %s\n", err);
    return -1;
}

struct db *
cmd_open_db(const struct config *c)
{
    char path[CONFIG_STR_MAX], err[DB_ERR_MAX];
    struct db *db;

    if (c->db[0] != '\0')
        snprintf(path, sizeof(path), "%s", c->db);
    else if (db_default_path(path, sizeof(path)) == -1) {
        fprintf(stderr, "tpsd: no default database path (set --db or TPSD_DB)\n");
        return NULL;
    }
    db = db_open(path, err, sizeof(err));
    if (db == NULL)
        fprintf(stderr, "tpsd: %s\n", err);
    return db;
}

int
cmd_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int
cmd_db(int argc, char **argv)
{
    struct config c;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    struct db *db = NULL;
    int nrest, closed = 0, rc = EXIT_UNAVAILABLE;

    if (rest == NULL)
        return EXIT_UNAVAILABLE;
    if (cmd_config(&c, argc, argv, rest, &nrest) == -1) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (nrest > 0 && cmd_is_help(rest[0])) {
        printf("usage: tpsd db [--db PATH]\n"
               "  checks the database (integrity, schema version), closes runs left open\n"
               "  by an older tpsd although their job ended (cancelled or interrupted),\n"
               "  and prints its path\n");
        rc = 0;
        goto out;
    }
    if (nrest > 0) {
        fprintf(stderr, "tpsd db: unexpected argument %s\n", rest[0]);
        rc = EXIT_USAGE;
        goto out;
    }
    db = cmd_open_db(&c);
    if (db == NULL)
        goto out;
    if (db_integrity_check(db) == -1) {
        fprintf(stderr, "tpsd: %s: %s\n", db->path, db->err);
        rc = EXIT_WORK_FAILED;
        goto out;
    }
    /* Repair: runs left open by an older tpsd although their job ended. */
    if (runs_close_open(db, 0, &closed) == -1) {
        fprintf(stderr, "tpsd: %s: closing runs left open: %s\n", db->path, db->err);
        rc = EXIT_WORK_FAILED;
        goto out;
    }
    printf("path=%s schema_version=%d integrity=ok runs_closed=%d\n", db->path,
           db_user_version(db), closed);
    rc = 0;
out:
    db_close(db);
    free(rest);
    return rc;
}

void
cmd_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
}

const char *
cmd_fmt_ms(const json_t *v, char *buf, size_t len)
{
    time_t t;
    struct tm tm;

    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    t = (time_t)(json_integer_value(v) / 1000);
    localtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

const char *
cmd_str(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);

    return s != NULL ? s : dflt;
}

/*
 * cmd.h - tpsd's subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 failure of the work (e.g. a
 * request failed), 2 bad usage, 3 could not reach the daemon or database.
 */
#ifndef TPSD_CMD_H
#define TPSD_CMD_H

#include <jansson.h>
#include <stdio.h>

#include "daemon/config.h"

#define EXIT_WORK_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3
#define EXIT_CANCELLED 4   /* tpsd watch: the job was cancelled */
#define EXIT_INTERRUPTED 5 /* tpsd watch: the job was interrupted (not resumed) */

/*
 * Load the config (defaults < file < environment < flags) from the flags in
 * argv[0..argc): config flags are consumed; the rest are left in
 * rest[0..*nrest) for the command. Returns 0, or -1 after printing the
 * error. `rest` must hold argc entries.
 */
int cmd_config(struct config *c, int argc, char **argv, char **rest, int *nrest);

/* Open the configured database (default path when c->db is empty).
 * Prints the error and returns NULL on failure. */
struct db *cmd_open_db(const struct config *c);

/* "--help" or "-h": the caller prints its usage to stdout and exits 0. */
int cmd_is_help(const char *arg);

/* A command's own flag, for cmd_spec_flags: `name` sets *set = 1 (when set
 * is not NULL) and, when value is not NULL, takes the next argument into
 * *value (borrowed from argv). A table ends with a NULL name. */
struct cmd_flag {
    const char *name;
    const char **value;
    int *set;
};

/*
 * The job-spec flags of `tpsd run` and `tpsd submit` (cmd_spec_usage lists
 * them) among argv[0..argc) become a job spec object in *spec_out (a new
 * reference, not yet validated: see jobspec_parse), while the command's
 * `own` flags (may be NULL) are handled on the way. An unknown flag, a
 * missing value or a bad number is printed ("tpsd VERB: ...") and -1
 * returned; 0 on success.
 */
int cmd_spec_flags(const char *verb, int argc, char **argv, const struct cmd_flag *own,
                   json_t **spec_out);
/*
 * The command line of a verb that takes job spec flags (run, submit): the
 * config flags into *cfg, then cmd_spec_flags into *spec_out. 0 to go on;
 * 1 when *help was set by an own flag (usage printed on stdout); -1 on a
 * bad flag (printed, with usage on stderr).
 */
int cmd_spec_args(const char *verb, int argc, char **argv, const struct cmd_flag *own,
                  const int *help, void (*usage)(FILE *), struct config *cfg,
                  json_t **spec_out);
/* Print the job-spec flags (for a command's usage). */
void cmd_spec_usage(FILE *f);

/* Print j to stdout as indented JSON and a newline (the verbs' --json). */
void cmd_print_json(const json_t *j);
/* Unix milliseconds (a JSON integer) as local "YYYY-MM-DD HH:MM:SS" in
 * buf[0..len), or "-" when v is not a positive integer. Returns buf. */
const char *cmd_fmt_ms(const json_t *v, char *buf, size_t len);
/* The string value of v, or dflt when v is not a string. Borrowed. */
const char *cmd_str(const json_t *v, const char *dflt);

int cmd_db(int argc, char **argv);     /* tpsd db: show the database's path and version */
int cmd_serve(int argc, char **argv);  /* tpsd serve: the daemon (REST API and job worker) */
int cmd_run(int argc, char **argv);    /* tpsd run: benchmark now, in the foreground */
int cmd_report(int argc, char **argv); /* tpsd report: a job's report from the database */
/* The daemon's client verbs, over its REST API (rest.h). */
int cmd_submit(int argc, char **argv); /* cmd_submit.c: tpsd submit: queue a job */
int cmd_jobs(int argc, char **argv);   /* cmd_jobs.c: tpsd jobs: list jobs */
int cmd_job(int argc, char **argv);    /* cmd_jobs.c: tpsd job ID: one job and its runs */
int cmd_cancel(int argc, char **argv); /* cmd_jobs.c: tpsd cancel ID: cancel a job */
int cmd_watch(int argc, char **argv);  /* cmd_watch.c: tpsd watch ID: follow a job */
int cmd_compare(int argc,
                char **argv); /* cmd_compare.c: tpsd compare A B: A/B with confidence */

#endif

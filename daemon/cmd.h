/*
 * cmd.h - tpsd's subcommands. Each takes the arguments after its name and
 * returns the process exit status: 0 success, 1 failure of the work (e.g. a
 * request failed), 2 bad usage, 3 could not reach the daemon or database.
 */
#ifndef TPSD_CMD_H
#define TPSD_CMD_H

#include "daemon/config.h"

#define EXIT_WORK_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNAVAILABLE 3

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

int cmd_db(int argc, char **argv); /* tpsd db: show the database's path and version */
int cmd_serve(int argc, char **argv); /* tpsd serve: the daemon (REST API and job worker) */
int cmd_run(int argc, char **argv); /* tpsd run: benchmark now, in the foreground */
int cmd_report(int argc, char **argv); /* tpsd report: a job's report from the database */

#endif

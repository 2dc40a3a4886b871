/*
 * log.h - the daemon's logger: one line per event on stderr (launchd and
 * systemd capture it), "2026-02-05T15:33:51.123Z level msg key=value ...".
 *
 * Thread-safe (one write(2) per line). May call nothing of ours.
 */
#ifndef TPSD_LOG_H
#define TPSD_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the threshold; lines above it are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* Whether lines of this level are written: skip work done only for them. */
int log_enabled(enum log_level level);
/* Parse "error|warn|info|debug"; returns 0, or -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *out);
/* Send lines to `path` (appending) instead of stderr; NULL restores stderr.
 * Called again with the same path it reopens the file (SIGHUP). -1 on error. */
int log_open(const char *path);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* appends errno */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * s as the inside of a quoted value, into buf (len bytes, at least 8):
 * `"` and `\` escaped with `\`, control bytes as \xNN, cut with "..." when
 * it does not fit. Returns buf. Can't fail.
 */
#define LOG_QUOTE_MAX 1024
const char *log_quote(char *buf, size_t len, const char *s);

/* A broken invariant: log and abort. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

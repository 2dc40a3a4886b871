/*
 * lms_parse.h - reading what LM Studio's `lms` CLI prints, without running
 * it: pure functions over text, tested with recorded output.
 *
 * What lms prints, from its sources (lmstudio-ai/lms):
 *   - `lms version` (src/subcommands/version.ts): ANSI-coloured logo art,
 *     then "lms is LM Studio's CLI utility ..." and "CLI commit: <hash>"
 *     (since 2026-01, commit bf809b5); before that the utility line ended
 *     in "(v0.3.x)". Colours appear even when stdout is not a terminal.
 *   - `lms load --estimate-only` (src/subcommands/load.ts,
 *     printEstimatedResourceUsage): through the logger, i.e. on STDERR
 *     (src/logLevel.ts: the logger's Console writes to process.stderr), a
 *     line "Estimated Total Memory: 12.34 GiB"; formatSizeBytes1024 (binary
 *     units, since 2026-02, commit ee91760), formatSizeBytes1000 before
 *     (B, KB, MB, GB, TB).
 *   - `--host`/`--port` (src/createClient.ts): --host makes lms a remote,
 *     unprivileged client and refuses a host holding ':'; --port alone keeps
 *     the local privileged client and connects to 127.0.0.1:port.
 * Calls nothing of ours.
 */
#ifndef TPSD_LMS_PARSE_H
#define TPSD_LMS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define LMS_PARSE_LINE_MAX 1024 /* one line of lms output, escapes removed */
#define LMS_PARSE_HOST_MAX 256  /* a host name from base_url */

/*
 * Copy `in` to out (outlen bytes, always NUL-terminated) without its ANSI
 * escape sequences (CSI "ESC [ ... final", and two-byte ESC sequences).
 * Returns the length written. Can't fail; truncates to fit.
 */
size_t lms_parse_strip_ansi(const char *in, char *out, size_t outlen);

/*
 * The version of lms from `lms version` output: the hash of the
 * "CLI commit:" line, else the "(vX.Y.Z)" of the older utility line, else
 * the "vX.Y.Z" of a line "... - vX.Y.Z". Never a line of logo art. Writes
 * it to out (outlen bytes). Returns 0, or -1 when none of these is found
 * (out is then "").
 */
int lms_parse_version(const char *text, char *out, size_t outlen);

/*
 * The bytes of the "Estimated Total Memory:" line of
 * `lms load --estimate-only` output (GiB/MiB/KiB/TiB or GB/MB/KB/TB/B/Bytes;
 * colours ignored) into *bytes. Returns 0, or -1 when the line is missing or
 * its figure or unit is not understood.
 */
int lms_parse_estimate(const char *text, uint64_t *bytes);

/*
 * Split base_url ("http://host:port/...") into its host (brackets of an
 * IPv6 literal removed) and port (the scheme's default when absent: 80 for
 * http, 443 for https). *loopback is 1 for localhost, 127.0.0.0/8 and ::1.
 * Returns 0, or -1 for a URL without "scheme://host" or with a bad port.
 */
int lms_parse_target(const char *base_url, char *host, size_t hostlen, int *port,
                     int *loopback);

#endif

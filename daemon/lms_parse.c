/* lms_parse.c - see lms_parse.h. Every reader works line by line on a copy
 * with the ANSI escapes removed, so colours never reach a stored value. */
#include "daemon/lms_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LMS_PARSE_VERSION_TOKEN_MAX 64 /* a commit hash or "v0.3.30" */

/* Units lms prints memory in: formatSizeBytes1024 ("Bytes", "KiB" ...) and
 * formatSizeBytes1000 ("B", "KB" ...), src/formatBytes.ts. */
static const struct {
    const char *name;
    double factor;
} lms_units[] = {
    {"Bytes", 1.0},
    {"KiB", 1024.0},
    {"MiB", 1048576.0},
    {"GiB", 1073741824.0},
    {"TiB", 1099511627776.0},
    {"KB", 1e3},
    {"MB", 1e6},
    {"GB", 1e9},
    {"TB", 1e12},
    {"B", 1.0},
};

size_t
lms_parse_strip_ansi(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return 0;
    while (*in != '\0' && o + 1 < outlen) {
        if (in[0] == '\033' && in[1] == '[') {
            in += 2;
            while (*in != '\0' && !(*in >= 0x40 && *in <= 0x7e))
                in++;
            if (*in != '\0')
                in++;
            continue;
        }
        if (in[0] == '\033') {
            in += in[1] != '\0' ? 2 : 1;
            continue;
        }
        out[o++] = *in++;
    }
    out[o] = '\0';
    return o;
}

/* The next line of *p (escapes removed) into line; advances *p. 0, or -1 at
 * the end of the text. */
static int
lms_next_line(const char **p, char *line, size_t len)
{
    char raw[LMS_PARSE_LINE_MAX];
    const char *nl;
    size_t n;

    if (**p == '\0')
        return -1;
    nl = strchr(*p, '\n');
    n = nl != NULL ? (size_t)(nl - *p) : strlen(*p);
    if (n >= sizeof(raw))
        n = sizeof(raw) - 1;
    memcpy(raw, *p, n);
    raw[n] = '\0';
    *p = nl != NULL ? nl + 1 : *p + strlen(*p);
    lms_parse_strip_ansi(raw, line, len);
    n = strlen(line);
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    return 0;
}

/* Copy the token at s (up to whitespace, ')' or the end) to out. 0, or -1
 * when it is empty or too long. */
static int
lms_token(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    while (s[n] != '\0' && !isspace((unsigned char)s[n]) && s[n] != ')')
        n++;
    if (n == 0 || n >= outlen || n >= LMS_PARSE_VERSION_TOKEN_MAX)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int
lms_parse_version(const char *text, char *out, size_t outlen)
{
    char line[LMS_PARSE_LINE_MAX];
    const char *p = text, *m;
    int rank = 0; /* 3: commit, 2: "(vX)", 1: "- vX" */

    if (outlen > 0)
        out[0] = '\0';
    while (text != NULL && lms_next_line(&p, line, sizeof(line)) == 0) {
        m = strstr(line, "CLI commit:");
        if (m != NULL && lms_token(m + strlen("CLI commit:"), out, outlen) == 0)
            return 0;
        m = strstr(line, "(v");
        if (rank < 2 && m != NULL && strstr(line, "CLI") != NULL &&
            isdigit((unsigned char)m[2]) && lms_token(m + 1, out, outlen) == 0) {
            rank = 2;
            continue;
        }
        m = strstr(line, " - v");
        if (rank < 1 && m != NULL && isdigit((unsigned char)m[4]) &&
            lms_token(m + 3, out, outlen) == 0)
            rank = 1;
    }
    if (rank == 0 && outlen > 0)
        out[0] = '\0';
    return rank > 0 ? 0 : -1;
}

int
lms_parse_estimate(const char *text, uint64_t *bytes)
{
    static const char label[] = "Estimated Total Memory:";
    char line[LMS_PARSE_LINE_MAX];
    const char *p = text, *m;
    char *end;
    double v;
    size_t i;

    *bytes = 0;
    while (text != NULL && lms_next_line(&p, line, sizeof(line)) == 0) {
        m = strstr(line, label);
        if (m == NULL)
            continue;
        m += strlen(label);
        errno = 0;
        v = strtod(m, &end);
        if (errno != 0 || end == m || !(v > 0))
            return -1;
        while (*end == ' ')
            end++;
        for (i = 0; i < sizeof(lms_units) / sizeof(lms_units[0]); i++) {
            size_t l = strlen(lms_units[i].name);

            if (strncmp(end, lms_units[i].name, l) == 0 && !isalnum((unsigned char)end[l])) {
                v *= lms_units[i].factor;
                if (!(v < 1.8e19))
                    return -1;
                *bytes = (uint64_t)v;
                return 0;
            }
        }
        return -1;
    }
    return -1;
}

int
lms_parse_target(const char *base_url, char *host, size_t hostlen, int *port, int *loopback)
{
    const char *h, *he, *pe;
    size_t n;
    long v;
    char *end;

    *port = 0;
    *loopback = 0;
    if (hostlen > 0)
        host[0] = '\0';
    h = strstr(base_url, "://");
    if (h == NULL)
        return -1;
    *port = strncmp(base_url, "https", 5) == 0 ? 443 : 80;
    h += 3;
    if (*h == '[') {
        he = strchr(h, ']');
        if (he == NULL)
            return -1;
        h++;
        pe = he + 1;
    } else {
        he = h + strcspn(h, ":/?#");
        pe = he;
    }
    n = (size_t)(he - h);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    if (*pe == ':') {
        errno = 0;
        v = strtol(pe + 1, &end, 10);
        if (errno != 0 || end == pe + 1 || v < 1 || v > 65535 ||
            (*end != '\0' && *end != '/' && *end != '?' && *end != '#'))
            return -1;
        *port = (int)v;
    }
    *loopback = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                strcmp(host, "::1") == 0;
    return 0;
}

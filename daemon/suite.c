/* suite.c - see suite.h. */
#include "daemon/suite.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The embedded suites/NAME.json (CMakeLists.txt, cmake/embed.cmake). A new file
 * there needs a line in suite_builtins[] too. */
extern const char tpsd_suite_standard[];
extern const unsigned long tpsd_suite_standard_len;
extern const char tpsd_suite_depth[];
extern const unsigned long tpsd_suite_depth_len;

static const struct {
    const char *name;
    const char *text;
    const unsigned long *len;
} suite_builtins[] = {
    {"standard", tpsd_suite_standard, &tpsd_suite_standard_len},
    {"depth", tpsd_suite_depth, &tpsd_suite_depth_len},
};
#define SUITE_NBUILTINS (sizeof(suite_builtins) / sizeof(suite_builtins[0]))

#define SUITE_WHERE_MAX (SUITE_NAME_MAX + 16) /* `case "name": ` */
#define SUITE_FIELD_MAX 64                    /* "messages[63].content" */

enum suite_ptype { SUITE_PT_INT, SUITE_PT_REAL, SUITE_PT_BOOL };

/* The request parameters a suite's defaults and its cases may set. */
static const struct suite_pdef {
    const char *name;
    unsigned bit;
    enum suite_ptype type;
    size_t off;
    int bounded;
    double min, max;
} suite_pdefs[] = {
    {"max_tokens", SUITE_P_MAX_TOKENS, SUITE_PT_INT, offsetof(struct suite_params, max_tokens),
     1, 1, SUITE_MAX_TOKENS_MAX},
    {"temperature", SUITE_P_TEMPERATURE, SUITE_PT_REAL,
     offsetof(struct suite_params, temperature), 1, 0, 2},
    {"top_p", SUITE_P_TOP_P, SUITE_PT_REAL, offsetof(struct suite_params, top_p), 1, 0, 1},
    {"top_k", SUITE_P_TOP_K, SUITE_PT_INT, offsetof(struct suite_params, top_k), 1, 0, 1000000},
    {"min_p", SUITE_P_MIN_P, SUITE_PT_REAL, offsetof(struct suite_params, min_p), 1, 0, 1},
    {"repeat_penalty", SUITE_P_REPEAT_PENALTY, SUITE_PT_REAL,
     offsetof(struct suite_params, repeat_penalty), 1, 0, 10},
    {"presence_penalty", SUITE_P_PRESENCE_PENALTY, SUITE_PT_REAL,
     offsetof(struct suite_params, presence_penalty), 1, -2, 2},
    {"frequency_penalty", SUITE_P_FREQUENCY_PENALTY, SUITE_PT_REAL,
     offsetof(struct suite_params, frequency_penalty), 1, -2, 2},
    {"seed", SUITE_P_SEED, SUITE_PT_INT, offsetof(struct suite_params, seed), 0, 0, 0},
    {"nonce", SUITE_P_NONCE, SUITE_PT_BOOL, offsetof(struct suite_params, nonce), 0, 0, 0},
    {"depth", SUITE_P_DEPTH, SUITE_PT_INT, offsetof(struct suite_params, depth), 1, 0,
     SUITE_DEPTH_MAX},
    {"warm", SUITE_P_WARM, SUITE_PT_BOOL, offsetof(struct suite_params, warm), 0, 0, 0},
};
#define SUITE_NPDEFS (sizeof(suite_pdefs) / sizeof(suite_pdefs[0]))

static const char *const suite_role_names[] = {"system", "user", "assistant"};
#define SUITE_NROLES (sizeof(suite_role_names) / sizeof(suite_role_names[0]))

/* Where an error is: "" for the suite, `case "x": ` for a case. */
struct suite_pctx {
    char *err;
    size_t errlen;
    char where[SUITE_WHERE_MAX];
};

static int suite_fail(struct suite_pctx *x, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write "<where><field>: <message>" to the caller's buffer; returns -1. */
static int
suite_fail(struct suite_pctx *x, const char *field, const char *fmt, ...)
{
    char msg[SUITE_ERR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (x->err != NULL && x->errlen > 0)
        snprintf(x->err, x->errlen, "%s%s: %s", x->where, field, msg);
    return -1;
}

static const struct suite_pdef *
suite_pdef_find(const char *name)
{
    size_t i;

    for (i = 0; i < SUITE_NPDEFS; i++)
        if (strcmp(suite_pdefs[i].name, name) == 0)
            return &suite_pdefs[i];
    return NULL;
}

static int
suite_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= SUITE_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
            return 0;
    }
    return 1;
}

/* Set one parameter from `v`; `field` is how errors name it. 0 or -1. */
static int
suite_param(struct suite_pctx *x, const struct suite_pdef *d, json_t *v, const char *field,
            struct suite_params *p)
{
    char *base = (char *)p + d->off;
    double dv;
    int64_t iv;

    switch (d->type) {
    case SUITE_PT_BOOL:
        if (!json_is_boolean(v))
            return suite_fail(x, field, "must be true or false");
        *(int *)(void *)base = json_is_true(v);
        break;
    case SUITE_PT_INT:
        if (!json_is_integer(v)) {
            if (d->bounded)
                return suite_fail(x, field, "must be an integer in %.0f..%.0f", d->min, d->max);
            return suite_fail(x, field, "must be an integer");
        }
        iv = (int64_t)json_integer_value(v);
        if (d->bounded && ((double)iv < d->min || (double)iv > d->max))
            return suite_fail(x, field, "%lld is outside %.0f..%.0f", (long long)iv, d->min,
                              d->max);
        *(int64_t *)(void *)base = iv;
        break;
    case SUITE_PT_REAL:
        if (!json_is_number(v))
            return suite_fail(x, field, "must be a number in %g..%g", d->min, d->max);
        dv = json_number_value(v);
        if (!(dv >= d->min && dv <= d->max))
            return suite_fail(x, field, "%g is outside %g..%g", dv, d->min, d->max);
        *(double *)(void *)base = dv;
        break;
    }
    p->set |= d->bit;
    return 0;
}

/* A string member into a fixed buffer. `required`: absent is an error. */
static int
suite_str_field(struct suite_pctx *x, json_t *obj, const char *key, int required, char *buf,
                size_t size)
{
    json_t *v = json_object_get(obj, key);
    size_t n;

    if (v == NULL) {
        if (required)
            return suite_fail(x, key, "missing");
        buf[0] = '\0';
        return 0;
    }
    if (!json_is_string(v))
        return suite_fail(x, key, "must be a string");
    n = json_string_length(v);
    if (n >= size)
        return suite_fail(x, key, "longer than %zu bytes", size - 1);
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return suite_fail(x, key, "must not contain NUL");
    memcpy(buf, json_string_value(v), n + 1);
    return 0;
}

static int
suite_parse_defaults(struct suite_pctx *x, json_t *obj, struct suite_params *p)
{
    const char *key;
    json_t *v;
    char field[SUITE_FIELD_MAX];

    if (!json_is_object(obj))
        return suite_fail(x, "defaults", "must be an object");
    json_object_foreach(obj, key, v)
    {
        const struct suite_pdef *d = suite_pdef_find(key);

        snprintf(field, sizeof(field), "defaults.%.40s", key);
        if (d == NULL)
            return suite_fail(x, field, "unknown field");
        if (suite_param(x, d, v, field, p) == -1)
            return -1;
    }
    return 0;
}

static int
suite_parse_messages(struct suite_pctx *x, json_t *arr, struct suite_case *c)
{
    char field[SUITE_FIELD_MAX];
    const char *key;
    json_t *m, *v;
    size_t i, r, n;

    if (arr == NULL)
        return suite_fail(x, "messages", "missing");
    if (!json_is_array(arr))
        return suite_fail(x, "messages", "must be an array");
    n = json_array_size(arr);
    if (n == 0)
        return suite_fail(x, "messages", "must not be empty");
    if (n > SUITE_MESSAGES_MAX)
        return suite_fail(x, "messages", "more than %d messages", SUITE_MESSAGES_MAX);
    c->messages = calloc(n, sizeof(*c->messages));
    if (c->messages == NULL)
        return suite_fail(x, "messages", "out of memory");
    c->n_messages = n;
    json_array_foreach(arr, i, m)
    {
        if (!json_is_object(m)) {
            snprintf(field, sizeof(field), "messages[%zu]", i);
            return suite_fail(x, field, "must be an object");
        }
        json_object_foreach(m, key, v)
        {
            if (strcmp(key, "role") != 0 && strcmp(key, "content") != 0) {
                snprintf(field, sizeof(field), "messages[%zu].%.32s", i, key);
                return suite_fail(x, field, "unknown field");
            }
        }
        snprintf(field, sizeof(field), "messages[%zu].role", i);
        v = json_object_get(m, "role");
        if (v == NULL)
            return suite_fail(x, field, "missing");
        for (r = 0; r < SUITE_NROLES; r++)
            if (json_is_string(v) && strcmp(json_string_value(v), suite_role_names[r]) == 0)
                break;
        if (r == SUITE_NROLES)
            return suite_fail(x, field, "must be \"system\", \"user\" or \"assistant\"");
        c->messages[i].role = (enum suite_role)r;

        snprintf(field, sizeof(field), "messages[%zu].content", i);
        v = json_object_get(m, "content");
        if (v == NULL)
            return suite_fail(x, field, "missing");
        if (!json_is_string(v) || json_string_length(v) == 0)
            return suite_fail(x, field, "must be a non-empty string");
        if (memchr(json_string_value(v), '\0', json_string_length(v)) != NULL)
            return suite_fail(x, field, "must not contain NUL");
        c->messages[i].content = strdup(json_string_value(v));
        if (c->messages[i].content == NULL)
            return suite_fail(x, field, "out of memory");
    }
    return 0;
}

/* Compile a regex member into re and its source into *src (set only when
 * both succeed, so suite_free knows what to regfree). */
static int
suite_regex(struct suite_pctx *x, json_t *v, const char *field, regex_t *re, char **src)
{
    char msg[SUITE_ERR_MAX];
    size_t n;
    int rc;

    if (!json_is_string(v))
        return suite_fail(x, field, "must be a string");
    n = json_string_length(v);
    if (n == 0)
        return suite_fail(x, field, "must not be empty");
    if (n >= SUITE_REGEX_MAX)
        return suite_fail(x, field, "longer than %d bytes", SUITE_REGEX_MAX - 1);
    if (memchr(json_string_value(v), '\0', n) != NULL)
        return suite_fail(x, field, "must not contain NUL");
    rc = regcomp(re, json_string_value(v), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, re, msg, sizeof(msg));
        return suite_fail(x, field, "invalid regex: %s", msg);
    }
    *src = strdup(json_string_value(v));
    if (*src == NULL) {
        regfree(re);
        return suite_fail(x, field, "out of memory");
    }
    return 0;
}

static int
suite_parse_validate(struct suite_pctx *x, json_t *obj, struct suite_case *c)
{
    struct suite_validate *val = &c->validate;
    const char *key;
    json_t *v, *r;
    size_t i, n;
    char field[SUITE_FIELD_MAX];

    if (!json_is_object(obj))
        return suite_fail(x, "validate", "must be an object");
    json_object_foreach(obj, key, v)
    {
        snprintf(field, sizeof(field), "validate.%.40s", key);
        if (strcmp(key, "min_tokens") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > SUITE_MAX_TOKENS_MAX)
                return suite_fail(x, field, "must be an integer in 0..%d",
                                  SUITE_MAX_TOKENS_MAX);
            val->min_tokens = (int64_t)json_integer_value(v);
        } else if (strcmp(key, "must_match") == 0) {
            if (suite_regex(x, v, field, &val->must_match_re, &val->must_match) == -1)
                return -1;
        } else if (strcmp(key, "must_not_match") == 0) {
            if (suite_regex(x, v, field, &val->must_not_match_re, &val->must_not_match) == -1)
                return -1;
        } else if (strcmp(key, "finish_reasons") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0)
                return suite_fail(x, field, "must be a non-empty array of strings");
            if (json_array_size(v) > SUITE_FINISH_MAX)
                return suite_fail(x, field, "more than %d reasons", SUITE_FINISH_MAX);
            json_array_foreach(v, i, r)
            {
                if (!json_is_string(r) || json_string_length(r) == 0)
                    return suite_fail(x, field, "must be a non-empty array of strings");
                n = json_string_length(r);
                if (n >= SUITE_REASON_MAX || memchr(json_string_value(r), '\0', n) != NULL)
                    return suite_fail(x, field, "reason %zu is not a plausible finish reason",
                                      i);
                memcpy(val->finish_reasons[i], json_string_value(r), n + 1);
            }
            val->n_finish_reasons = json_array_size(v);
        } else {
            return suite_fail(x, field, "unknown field");
        }
    }
    return 0;
}

static int
suite_parse_case(struct suite_pctx *x, const struct suite *s, size_t idx, json_t *obj,
                 struct suite_case *c)
{
    const struct suite_pdef *d;
    struct suite_params own;
    const char *key;
    json_t *v;
    size_t i;
    char field[SUITE_FIELD_MAX];

    if (!json_is_object(obj)) {
        x->where[0] = '\0';
        snprintf(field, sizeof(field), "cases[%zu]", idx);
        return suite_fail(x, field, "must be an object");
    }
    snprintf(x->where, sizeof(x->where), "case #%zu: ", idx);
    if (suite_str_field(x, obj, "name", 1, c->name, sizeof(c->name)) == -1)
        return -1;
    if (!suite_name_ok(c->name, strlen(c->name)))
        return suite_fail(x, "name", "must be 1..%d characters of A-Z a-z 0-9 _ . -",
                          SUITE_NAME_MAX - 1);
    snprintf(x->where, sizeof(x->where), "case \"%s\": ", c->name);
    for (i = 0; i < idx; i++)
        if (strcmp(s->cases[i].name, c->name) == 0)
            return suite_fail(x, "name", "duplicate case name");

    memset(&own, 0, sizeof(own));
    c->validate.min_tokens = -1;
    json_object_foreach(obj, key, v)
    {
        if (strcmp(key, "name") == 0 || strcmp(key, "messages") == 0)
            continue;
        if (strcmp(key, "validate") == 0) {
            if (suite_parse_validate(x, v, c) == -1)
                return -1;
            continue;
        }
        d = suite_pdef_find(key);
        if (d == NULL)
            return suite_fail(x, key, "unknown field");
        if (suite_param(x, d, v, key, &own) == -1)
            return -1;
    }
    if (suite_parse_messages(x, json_object_get(obj, "messages"), c) == -1)
        return -1;

    /* The case's own parameters over the suite's defaults. */
    c->params = s->defaults;
    for (i = 0; i < SUITE_NPDEFS; i++) {
        d = &suite_pdefs[i];
        if (!(own.set & d->bit))
            continue;
        memcpy((char *)&c->params + d->off, (const char *)&own + d->off,
               d->type == SUITE_PT_BOOL  ? sizeof(int)
               : d->type == SUITE_PT_INT ? sizeof(int64_t)
                                         : sizeof(double));
        c->params.set |= d->bit;
    }
    if (!(c->params.set & SUITE_P_MAX_TOKENS))
        return suite_fail(x, "max_tokens", "missing (in the case or in defaults)");
    if (c->validate.min_tokens > c->params.max_tokens)
        return suite_fail(x, "validate.min_tokens", "%lld exceeds max_tokens %lld",
                          (long long)c->validate.min_tokens, (long long)c->params.max_tokens);
    return 0;
}

int
suite_parse(const char *json, size_t len, struct suite **out, char *err, size_t errlen)
{
    struct suite_pctx x;
    struct suite *s = NULL;
    json_error_t jerr;
    json_t *root = NULL, *v, *cases;
    const char *key;
    size_t i, n;
    int rc = -1;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    x.err = err;
    x.errlen = errlen;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (len > SUITE_BYTES_MAX) {
        suite_fail(&x, "suite", "too large: %zu bytes (at most %d)", len, SUITE_BYTES_MAX);
        goto out;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        suite_fail(&x, "suite", "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                   jerr.text);
        goto out;
    }
    if (!json_is_object(root)) {
        suite_fail(&x, "suite", "must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "description") != 0 &&
            strcmp(key, "defaults") != 0 && strcmp(key, "cases") != 0) {
            suite_fail(&x, key, "unknown field");
            goto out;
        }
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        suite_fail(&x, "suite", "out of memory");
        goto out;
    }
    if (suite_str_field(&x, root, "name", 1, s->name, sizeof(s->name)) == -1)
        goto out;
    if (!suite_name_ok(s->name, strlen(s->name))) {
        suite_fail(&x, "name", "must be 1..%d characters of A-Z a-z 0-9 _ . -",
                   SUITE_NAME_MAX - 1);
        goto out;
    }
    if (suite_str_field(&x, root, "description", 0, s->description, sizeof(s->description)) ==
        -1)
        goto out;
    v = json_object_get(root, "defaults");
    if (v != NULL && suite_parse_defaults(&x, v, &s->defaults) == -1)
        goto out;

    cases = json_object_get(root, "cases");
    if (cases == NULL) {
        suite_fail(&x, "cases", "missing");
        goto out;
    }
    if (!json_is_array(cases) || json_array_size(cases) == 0) {
        suite_fail(&x, "cases", "must be a non-empty array");
        goto out;
    }
    n = json_array_size(cases);
    if (n > SUITE_CASES_MAX) {
        suite_fail(&x, "cases", "%zu cases (at most %d)", n, SUITE_CASES_MAX);
        goto out;
    }
    s->cases = calloc(n, sizeof(*s->cases));
    if (s->cases == NULL) {
        suite_fail(&x, "cases", "out of memory");
        goto out;
    }
    s->n_cases = n;
    for (i = 0; i < n; i++)
        if (suite_parse_case(&x, s, i, json_array_get(cases, i), &s->cases[i]) == -1)
            goto out;
    *out = s;
    s = NULL;
    rc = 0;
out:
    suite_free(s);
    json_decref(root);
    return rc;
}

/*
 * Read at most SUITE_BYTES_MAX bytes of the open file `fd` (closed here),
 * which must be a regular file: a FIFO, a device or a directory is refused
 * before any read, so nothing can block. 0 with *buf (caller frees) and
 * *len; -1 not a regular file or unreadable, -2 too large (errno kept).
 */
static int
suite_read_fd(int fd, char **buf, size_t *len)
{
    struct stat st;
    char *b = NULL;
    size_t n = 0;
    ssize_t got;
    int rc = -1;

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
        goto out;
    if (st.st_size > SUITE_BYTES_MAX) {
        rc = -2;
        goto out;
    }
    b = malloc(SUITE_BYTES_MAX + 1);
    if (b == NULL)
        goto out;
    for (;;) {
        got = read(fd, b + n, SUITE_BYTES_MAX + 1 - n);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1)
            goto out;
        n += (size_t)got;
        if (got == 0 || n == SUITE_BYTES_MAX + 1)
            break;
    }
    if (n > SUITE_BYTES_MAX) { /* it grew while read */
        rc = -2;
        goto out;
    }
    *buf = b;
    *len = n;
    b = NULL;
    rc = 0;
out:
    free(b);
    close(fd);
    return rc;
}

int
suite_file_name_ok(const char *name)
{
    size_t i, n = strlen(name);

    if (n == 0 || n >= SUITE_FILE_NAME_MAX || name[0] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}

/* The text of the file `name` in `dir`: opened with O_NONBLOCK|O_NOFOLLOW,
 * a regular file only (suite_read_fd). 0, -1 (absent, a link, not a
 * regular file, unreadable: all alike), -2 too large. */
static int
suite_read_dir(const char *dir, const char *name, char **buf, size_t *len)
{
    char path[SUITE_PATH_MAX];
    int n, fd;

    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -1;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return -1;
    return suite_read_fd(fd, buf, len);
}

/* Parse `len` bytes into *out and, when json != NULL, *json. 0 or -1. */
static int
suite_parse_both(const char *text, size_t len, struct suite **out, json_t **json, char *why,
                 size_t whylen)
{
    if (suite_parse(text, len, out, why, whylen) == -1)
        return -1;
    if (json == NULL)
        return 0;
    *json = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (*json != NULL)
        return 0;
    snprintf(why, whylen, "out of memory");
    suite_free(*out);
    *out = NULL;
    return -1;
}

int
suite_load(const char *name, const char *suites_dir, struct suite **out, json_t **json,
           char *err, size_t errlen, char *why, size_t whylen)
{
    char inner[SUITE_ERR_MAX];
    char *text = NULL;
    size_t i, len = 0;
    int rc = -1, r;

    *out = NULL;
    if (json != NULL)
        *json = NULL;
    for (i = 0; i < SUITE_NBUILTINS; i++) {
        if (strcmp(name, suite_builtins[i].name) != 0)
            continue;
        if (suite_parse_both(suite_builtins[i].text, (size_t)*suite_builtins[i].len, out, json,
                             inner, sizeof(inner)) == -1) {
            /* inner is cut to fit beside the name (-Wformat-truncation at -O2) */
            snprintf(err, errlen, "built-in suite %s: %.400s", suite_builtins[i].name, inner);
            return -1;
        }
        (*out)->builtin = 1;
        return 0;
    }
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (!suite_file_name_ok(name)) {
        snprintf(
            err, errlen,
            "not a suite name: a job names a built-in suite (standard, depth) or a file of the "
            "daemon's suites_dir (letters, digits, '.', '_', '-'; no '/'), or carries "
            "its suite inline");
        return -1;
    }
    r = suites_dir != NULL && suites_dir[0] != '\0'
            ? suite_read_dir(suites_dir, name, &text, &len)
            : -1;
    if (r == -1) {
        snprintf(err, errlen, "no suite named \"%s\" (built-in: standard, depth; %s)", name,
                 suites_dir != NULL && suites_dir[0] != '\0' ? "or a regular file in suites_dir"
                                                             : "suites_dir is not set");
        goto out;
    }
    if (r == -2) {
        snprintf(err, errlen, "suite \"%s\": larger than %d bytes", name, SUITE_BYTES_MAX);
        goto out;
    }
    /* The owner's file: what is wrong with it goes to `why` (the daemon's
     * log), never to the client. */
    if (suite_parse_both(text, len, out, json, inner, sizeof(inner)) == -1) {
        snprintf(err, errlen,
                 "suite \"%s\" in suites_dir is not a valid suite (the daemon's "
                 "log says why)",
                 name);
        if (why != NULL && whylen > 0)
            snprintf(why, whylen, "suite %s/%s: %s", suites_dir, name, inner);
        goto out;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

int
suite_read_path(const char *path, json_t **json, char *err, size_t errlen)
{
    char inner[SUITE_ERR_MAX];
    struct suite *s = NULL;
    char *text = NULL;
    size_t len = 0;
    int fd, r;

    *json = NULL;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    r = suite_read_fd(fd, &text, &len);
    if (r != 0) {
        snprintf(err, errlen, "%s: %s", path,
                 r == -2 ? "suite too large" : "not a regular file, or unreadable");
        return -1;
    }
    r = suite_parse_both(text, len, &s, json, inner, sizeof(inner));
    free(text);
    suite_free(s);
    if (r == -1)
        snprintf(err, errlen, "%s: %s", path, inner);
    return r;
}

int
suite_is_builtin(const char *name)
{
    size_t i;

    for (i = 0; i < SUITE_NBUILTINS; i++)
        if (strcmp(name, suite_builtins[i].name) == 0)
            return 1;
    return 0;
}

json_t *
suite_list_builtin(void)
{
    char err[SUITE_ERR_MAX];
    struct suite *s = NULL;
    json_t *arr, *j;
    size_t i;

    arr = json_array();
    if (arr == NULL)
        return NULL;
    for (i = 0; i < SUITE_NBUILTINS; i++) {
        if (suite_load(suite_builtins[i].name, NULL, &s, NULL, err, sizeof(err), NULL, 0) == -1)
            goto fail;
        j = suite_to_json(s);
        suite_free(s);
        s = NULL;
        if (j == NULL || json_array_append_new(arr, j) == -1)
            goto fail;
    }
    return arr;
fail:
    json_decref(arr);
    return NULL;
}

/* Add the set parameters of p to obj. 0 or -1. */
static int
suite_params_json(const struct suite_params *p, json_t *obj)
{
    const struct suite_pdef *d;
    const char *base = (const char *)p;
    json_t *v;
    size_t i;

    for (i = 0; i < SUITE_NPDEFS; i++) {
        d = &suite_pdefs[i];
        if (!(p->set & d->bit))
            continue;
        if (d->type == SUITE_PT_BOOL)
            v = json_boolean(*(const int *)(const void *)(base + d->off));
        else if (d->type == SUITE_PT_INT)
            v = json_integer((json_int_t) * (const int64_t *)(const void *)(base + d->off));
        else
            v = json_real(*(const double *)(const void *)(base + d->off));
        if (json_object_set_new(obj, d->name, v) == -1)
            return -1;
    }
    return 0;
}

static json_t *
suite_case_json(const struct suite_case *c)
{
    const struct suite_validate *val = &c->validate;
    json_t *o, *msgs = NULL, *vj = NULL, *fr;
    size_t i;

    o = json_pack("{s:s}", "name", c->name);
    if (o == NULL)
        return NULL;
    msgs = json_array();
    if (msgs == NULL)
        goto fail;
    for (i = 0; i < c->n_messages; i++)
        if (json_array_append_new(msgs, json_pack("{s:s,s:s}", "role",
                                                  suite_role_names[c->messages[i].role],
                                                  "content", c->messages[i].content)) == -1)
            goto fail;
    if (json_object_set_new(o, "messages", msgs) == -1) {
        msgs = NULL;
        goto fail;
    }
    msgs = NULL;
    if (suite_params_json(&c->params, o) == -1)
        goto fail;
    if (!suite_case_validates(c))
        return o;
    vj = json_object();
    if (vj == NULL)
        goto fail;
    if (val->min_tokens >= 0 &&
        json_object_set_new(vj, "min_tokens", json_integer((json_int_t)val->min_tokens)) == -1)
        goto fail;
    if (val->must_match != NULL &&
        json_object_set_new(vj, "must_match", json_string(val->must_match)) == -1)
        goto fail;
    if (val->must_not_match != NULL &&
        json_object_set_new(vj, "must_not_match", json_string(val->must_not_match)) == -1)
        goto fail;
    if (val->n_finish_reasons > 0) {
        fr = json_array();
        if (json_object_set_new(vj, "finish_reasons", fr) == -1)
            goto fail;
        for (i = 0; i < val->n_finish_reasons; i++)
            if (json_array_append_new(fr, json_string(val->finish_reasons[i])) == -1)
                goto fail;
    }
    if (json_object_set_new(o, "validate", vj) == -1) {
        vj = NULL;
        goto fail;
    }
    return o;
fail:
    json_decref(msgs);
    json_decref(vj);
    json_decref(o);
    return NULL;
}

json_t *
suite_to_json(const struct suite *s)
{
    json_t *o, *defs, *cases;
    size_t i;

    o = json_pack("{s:s,s:s,s:b}", "name", s->name, "description", s->description, "builtin",
                  s->builtin);
    if (o == NULL)
        return NULL;
    defs = json_object();
    if (json_object_set_new(o, "defaults", defs) == -1 ||
        suite_params_json(&s->defaults, defs) == -1)
        goto fail;
    cases = json_array();
    if (json_object_set_new(o, "cases", cases) == -1)
        goto fail;
    for (i = 0; i < s->n_cases; i++)
        if (json_array_append_new(cases, suite_case_json(&s->cases[i])) == -1)
            goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

int
suite_case_validates(const struct suite_case *c)
{
    const struct suite_validate *v = &c->validate;

    return v->min_tokens >= 0 || v->must_match != NULL || v->must_not_match != NULL ||
           v->n_finish_reasons > 0;
}

/* "stop, length" into buf. */
static void
suite_reasons_str(const struct suite_validate *v, char *buf, size_t size)
{
    size_t i, off = 0;
    int n;

    buf[0] = '\0';
    for (i = 0; i < v->n_finish_reasons && off < size; i++) {
        n = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", v->finish_reasons[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

int
suite_validate_output(const struct suite_case *c, const char *text, int64_t completion_tokens,
                      const char *finish_reason, char *why, size_t whylen)
{
    const struct suite_validate *v = &c->validate;
    char want[SUITE_FINISH_MAX * (SUITE_REASON_MAX + 2)];
    char dummy[1];
    size_t i;

    if (why == NULL || whylen == 0) {
        why = dummy;
        whylen = sizeof(dummy);
    }
    why[0] = '\0';
    if (text == NULL)
        text = "";
    if (v->n_finish_reasons > 0) {
        for (i = 0; finish_reason != NULL && i < v->n_finish_reasons; i++)
            if (strcmp(finish_reason, v->finish_reasons[i]) == 0)
                break;
        if (finish_reason == NULL || i == v->n_finish_reasons) {
            suite_reasons_str(v, want, sizeof(want));
            if (finish_reason == NULL)
                snprintf(why, whylen, "finish_reason: none, want [%s]", want);
            else
                snprintf(why, whylen, "finish_reason: \"%s\" not in [%s]", finish_reason, want);
            return 0;
        }
    }
    if (v->min_tokens >= 0) {
        if (completion_tokens < 0) {
            snprintf(why, whylen, "min_tokens: token count unknown");
            return 0;
        }
        if (completion_tokens < v->min_tokens) {
            snprintf(why, whylen, "min_tokens: %lld < %lld", (long long)completion_tokens,
                     (long long)v->min_tokens);
            return 0;
        }
    }
    if (v->must_match != NULL && regexec(&v->must_match_re, text, 0, NULL, 0) != 0) {
        snprintf(why, whylen, "must_match: no match for /%s/", v->must_match);
        return 0;
    }
    if (v->must_not_match != NULL && regexec(&v->must_not_match_re, text, 0, NULL, 0) == 0) {
        snprintf(why, whylen, "must_not_match: matched /%s/", v->must_not_match);
        return 0;
    }
    return 1;
}

const struct suite_case *
suite_find_case(const struct suite *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n_cases; i++)
        if (strcmp(s->cases[i].name, name) == 0)
            return &s->cases[i];
    return NULL;
}

void
suite_free(struct suite *s)
{
    struct suite_case *c;
    size_t i, m;

    if (s == NULL)
        return;
    for (i = 0; i < s->n_cases; i++) {
        c = &s->cases[i];
        for (m = 0; m < c->n_messages; m++)
            free(c->messages[m].content);
        free(c->messages);
        if (c->validate.must_match != NULL) {
            regfree(&c->validate.must_match_re);
            free(c->validate.must_match);
        }
        if (c->validate.must_not_match != NULL) {
            regfree(&c->validate.must_not_match_re);
            free(c->validate.must_not_match);
        }
    }
    free(s->cases);
    free(s);
}

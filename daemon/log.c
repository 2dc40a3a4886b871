/* log.c - see log.h. */
#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static struct {
    enum log_level level;
    int fd; /* -1: stderr */
    pthread_mutex_t lock;
} L = {LOG_INFO, -1, PTHREAD_MUTEX_INITIALIZER};

static const char *level_names[] = {"error", "warn", "info", "debug"};

void
log_set_level(enum log_level level)
{
    L.level = level;
}

int
log_enabled(enum log_level level)
{
    return level <= L.level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
    size_t i;

    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int
log_open(const char *path)
{
    int fd = -1;

    if (path != NULL) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd == -1)
            return -1;
    }
    pthread_mutex_lock(&L.lock);
    if (L.fd != -1)
        close(L.fd);
    L.fd = fd;
    pthread_mutex_unlock(&L.lock);
    return 0;
}

static void vlog(enum log_level level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vlog(enum log_level level, int err, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    if (level > L.level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03dZ %s ", (int)(tv.tv_usec / 1000),
                 level_names[level]);
    if (r > 0)
        n += (size_t)r;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r;
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2; /* truncated */
    if (err != 0) {
        r = snprintf(line + n, sizeof(line) - n, " error=\"%s\"", strerror(err));
        if (r > 0)
            n += (size_t)r;
        if (n >= sizeof(line) - 1)
            n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    pthread_mutex_lock(&L.lock);
    if (write(L.fd == -1 ? STDERR_FILENO : L.fd, line, n) < 0) {
        /* nowhere left to report it */
    }
    pthread_mutex_unlock(&L.lock);
}

#define LOG_FN(name, level, witherr)                                                           \
    void name(const char *fmt, ...)                                                            \
    {                                                                                          \
        int e = errno;                                                                         \
        va_list ap;                                                                            \
        va_start(ap, fmt);                                                                     \
        vlog(level, witherr ? e : 0, fmt, ap);                                                 \
        va_end(ap);                                                                            \
        errno = e;                                                                             \
    }

LOG_FN(log_warn, LOG_WARN, 1)
LOG_FN(log_warnx, LOG_WARN, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_debug, LOG_DEBUG, 0)

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_ERROR, 0, fmt, ap);
    va_end(ap);
    abort();
}

const char *
log_quote(char *buf, size_t len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    unsigned char c;

    for (; s != NULL && *s != '\0'; s++) {
        c = (unsigned char)*s;
        if (o + 4 + 4 >= len) { /* room for the widest escape and "..." */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}

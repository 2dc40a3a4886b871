/*
 * curl_dl.c - libcurl loaded on first use (see curl_dl.h).
 *
 * How it works. curl_dl_load runs load_once once per process
 * (pthread_once): it tries the candidate files in order with
 * dlopen(RTLD_NOW | RTLD_LOCAL) (every symbol bound at once, none made
 * visible to later loads), and with the first that opens resolves every
 * function of CURL_DL_FUNCS by name with dlsym into a local table; only
 * when all are found is that table copied into curl_dl and the load
 * counted as done. A file that lacks a function is closed at once, none of
 * its functions ever called; the one loaded is never closed (OpenSSL,
 * which it brings, cannot be unloaded anyway). The candidates: $TPSD_LIBCURL alone when it
 * is set (a user's choice, and the tests' way to make loading fail), else
 * TPSD_LIBCURL_PATH (set by CMake to the file the build linked against)
 * and then the platform's usual names.
 */
#define CURL_DL_INTERNAL
#include "daemon/curl_dl.h"

#include "daemon/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TPSD_LIBCURL_PATH
#define TPSD_LIBCURL_PATH ""
#endif

#define CURL_DL_PATH_MAX 1024 /* the loaded file's name */

struct curl_dl_table curl_dl;

/* The file names tried after the configured one. Linux: the bare name,
 * which glibc's loader looks up in LD_LIBRARY_PATH, its cache and the
 * system folders. macOS: full paths only, because dyld looks a bare name
 * up in the current working directory too (dlopen(3): "$LD_LIBRARY_PATH,
 * $DYLD_LIBRARY_PATH, current working directory,
 * $DYLD_FALLBACK_LIBRARY_PATH"), so a libcurl.4.dylib in the folder a
 * verb was started from would be loaded and run: Homebrew's keg-only curl
 * (Apple silicon, then Intel), then the system's. */
static const char *const curl_dl_names[] = {
#if defined(__APPLE__)
    "/opt/homebrew/opt/curl/lib/libcurl.4.dylib",
    "/usr/local/opt/curl/lib/libcurl.4.dylib",
    "/usr/lib/libcurl.4.dylib",
#else
    "libcurl.so.4",
#endif
};

/* All file-static state: written once, by load_once. */
static struct {
    pthread_once_t once;
    int ok;
    char err[CURL_DL_ERR_MAX];
    char path[CURL_DL_PATH_MAX];
} dl = {.once = PTHREAD_ONCE_INIT};

/* Resolve every function from the opened library h into t. 0, or -1 with
 * the first missing name in dl.err. */
static int
resolve(void *h, const char *file, struct curl_dl_table *t)
{
    const char *missing = NULL;
    void *p;

#define CURL_DL_RESOLVE(name)                                                                  \
    p = dlsym(h, #name);                                                                       \
    if (p == NULL && missing == NULL)                                                          \
        missing = #name;                                                                       \
    t->name = (__typeof__(t->name))p;
    CURL_DL_FUNCS(CURL_DL_RESOLVE)
#undef CURL_DL_RESOLVE
    if (missing == NULL)
        return 0;
    snprintf(dl.err, sizeof(dl.err), "libcurl: %s has no %s (libcurl 7.68 or newer needed)",
             file, missing);
    return -1;
}

/* dlopen file and resolve the table from it. 0, or -1 with the reason in
 * dl.err when this file is the first that failed (the most telling one:
 * the configured file, or $TPSD_LIBCURL). */
static int
try_file(const char *file, struct curl_dl_table *t)
{
    const char *why;
    void *h;

    if (file[0] == '\0')
        return -1;
    h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        why = dlerror();
        if (dl.err[0] == '\0')
            snprintf(dl.err, sizeof(dl.err), "libcurl could not be loaded: %s",
                     why != NULL ? why : file);
        return -1;
    }
    if (resolve(h, file, t) == -1) {
        dlclose(h);
        return -1;
    }
    snprintf(dl.path, sizeof(dl.path), "%s", file);
    return 0;
}

static void
load_once(void)
{
    struct curl_dl_table t;
    const char *env = getenv("TPSD_LIBCURL");
    size_t i;
    int rc = -1;

    memset(&t, 0, sizeof(t));
    if (env != NULL && env[0] != '\0') {
        rc = try_file(env, &t);
    } else {
        rc = try_file(TPSD_LIBCURL_PATH, &t);
        for (i = 0; rc == -1 && i < sizeof(curl_dl_names) / sizeof(curl_dl_names[0]); i++)
            rc = try_file(curl_dl_names[i], &t);
    }
    if (rc == -1) {
        if (dl.err[0] == '\0')
            snprintf(dl.err, sizeof(dl.err), "libcurl: no library file to load");
        log_warnx("%s", dl.err);
        return;
    }
    dl.err[0] = '\0';
    curl_dl = t;
    dl.ok = 1;
    /* Not curl_version(): it sets up LDAP to name its version, and LDAP
     * loads every SASL plugin (0.8 MB more resident on Debian 12). */
    log_debug("libcurl: loaded %s", dl.path);
}

int
curl_dl_load(void)
{
    pthread_once(&dl.once, load_once);
    return dl.ok ? 0 : -1;
}

const char *
curl_dl_error(void)
{
    pthread_once(&dl.once, load_once);
    return dl.err;
}

const char *
curl_dl_path(void)
{
    return dl.ok ? dl.path : "";
}

CURLcode
curl_dl_global_init(long flags)
{
    return curl_dl_load() == 0 ? curl_dl.curl_global_init(flags) : CURLE_FAILED_INIT;
}

CURL *
curl_dl_easy_init(void)
{
    return curl_dl_load() == 0 ? curl_dl.curl_easy_init() : NULL;
}

CURLM *
curl_dl_multi_init(void)
{
    return curl_dl_load() == 0 ? curl_dl.curl_multi_init() : NULL;
}

struct curl_slist *
curl_dl_slist_append(struct curl_slist *list, const char *s)
{
    return curl_dl_load() == 0 ? curl_dl.curl_slist_append(list, s) : NULL;
}

const char *
curl_dl_easy_strerror(CURLcode code)
{
    return curl_dl_load() == 0 ? curl_dl.curl_easy_strerror(code) : curl_dl_error();
}

void
curl_dl_global_cleanup(void)
{
    if (dl.ok)
        curl_dl.curl_global_cleanup();
}

void
curl_dl_easy_cleanup(CURL *h)
{
    if (h != NULL)
        curl_dl.curl_easy_cleanup(h);
}

CURLMcode
curl_dl_multi_cleanup(CURLM *m)
{
    return m != NULL ? curl_dl.curl_multi_cleanup(m) : CURLM_BAD_HANDLE;
}

void
curl_dl_slist_free_all(struct curl_slist *list)
{
    if (list != NULL)
        curl_dl.curl_slist_free_all(list);
}

void
curl_dl_free(void *p)
{
    if (p != NULL)
        curl_dl.curl_free(p);
}

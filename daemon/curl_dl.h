/*
 * curl_dl.h - libcurl, loaded when it is first used instead of when tpsd
 * starts. Every libcurl user of tpsd (the daemon, the CLI, the tests and
 * the benches) includes this header instead of <curl/curl.h>; the tpsd
 * binary does not link libcurl (no DT_NEEDED / LC_LOAD_DYLIB entry), so an
 * idle `tpsd serve` carries none of libcurl's pages nor those of the
 * libraries only libcurl needs (OpenSSL, Kerberos, LDAP, SSH, ...: about
 * 3 MB of RSS on Debian 12).
 *
 * How it works (the pattern systemd uses for its optional libraries,
 * src/basic/dlfcn-util.h: a table of resolved symbols, filled on first
 * use). <curl/curl.h> is included for its types and constants; each libcurl
 * function tpsd calls has a pointer in the table `curl_dl`, declared with
 * the header's own prototype (__typeof__), and a macro below turns a call
 * such as curl_easy_perform(h) into a call through that pointer. The calls
 * that can come first (curl_global_init, curl_easy_init, curl_multi_init,
 * curl_slist_append, curl_easy_strerror) go through functions that load the
 * library first (curl_dl_load: once, thread-safe); the ones a cleanup path
 * may make with NULL before anything was loaded (curl_easy_cleanup,
 * curl_multi_cleanup, curl_slist_free_all, curl_free, curl_global_cleanup)
 * through functions that do nothing then. Every other call takes a handle,
 * which only a loaded library can have made. A function not in the table
 * is a link error (no libcurl is linked): add it here and in curl_dl.c.
 *
 * The library file: $TPSD_LIBCURL when set (only that), else the one the
 * build linked against, found by CMake (its SONAME in its folder on Linux,
 * its install name on macOS), else the usual names (libcurl.so.4; on
 * macOS full paths only, Homebrew's opt/curl then /usr/lib: dyld would
 * look a bare name up in the current folder). When none loads,
 * every loading call fails as libcurl does when it cannot start
 * (CURLE_FAILED_INIT, a NULL handle), curl_easy_strerror gives the reason,
 * and it is logged once (log_warnx).
 *
 * curl's compile-time option type checks (curl/typecheck-gcc.h) are lost:
 * they are macros around the real functions' names.
 *
 * Calls daemon/log.h; nothing else of ours.
 */
#ifndef TPSD_CURL_DL_H
#define TPSD_CURL_DL_H

#include <curl/curl.h>

#define CURL_DL_ERR_MAX 1024 /* curl_dl_error's message */

/* curl.h's own macros for these (argument count or type checks) name the
 * real functions. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt

/* Every libcurl function tpsd calls. */
#define CURL_DL_FUNCS(X)                                                                       \
    X(curl_global_init)                                                                        \
    X(curl_global_cleanup)                                                                     \
    X(curl_easy_init)                                                                          \
    X(curl_easy_cleanup)                                                                       \
    X(curl_easy_setopt)                                                                        \
    X(curl_easy_perform)                                                                       \
    X(curl_easy_getinfo)                                                                       \
    X(curl_easy_strerror)                                                                      \
    X(curl_easy_escape)                                                                        \
    X(curl_free)                                                                               \
    X(curl_slist_append)                                                                       \
    X(curl_slist_free_all)                                                                     \
    X(curl_multi_init)                                                                         \
    X(curl_multi_cleanup)                                                                      \
    X(curl_multi_setopt)                                                                       \
    X(curl_multi_add_handle)                                                                   \
    X(curl_multi_remove_handle)                                                                \
    X(curl_multi_perform)                                                                      \
    X(curl_multi_poll)                                                                         \
    X(curl_multi_info_read)                                                                    \
    X(curl_multi_socket_action)                                                                \
    X(curl_multi_assign)

#define CURL_DL_MEMBER(name) __typeof__(name) *name;
/* The resolved functions; all NULL until curl_dl_load has succeeded. */
struct curl_dl_table {
    CURL_DL_FUNCS(CURL_DL_MEMBER)
};
#undef CURL_DL_MEMBER
extern struct curl_dl_table curl_dl;

/*
 * Load libcurl and resolve the table, the first time (later calls return
 * the first call's result; thread-safe). 0, or -1 when no candidate file
 * loads or one of the functions is missing (logged once; curl_dl_error
 * says why). Does not call curl_global_init.
 */
int curl_dl_load(void);

/* Why curl_dl_load failed ("" before a failure). A static string. */
const char *curl_dl_error(void);

/* The library file curl_dl_load loaded, or "" (static). */
const char *curl_dl_path(void);

/* Load first, then the real function; when loading fails:
 * CURLE_FAILED_INIT, NULL, or curl_dl_error() for strerror. */
CURLcode curl_dl_global_init(long flags);
CURL *curl_dl_easy_init(void);
CURLM *curl_dl_multi_init(void);
struct curl_slist *curl_dl_slist_append(struct curl_slist *list, const char *s);
const char *curl_dl_easy_strerror(CURLcode code);

/* The real function, or nothing when the argument is NULL (or, for
 * global_cleanup, when nothing was loaded); multi_cleanup(NULL) returns
 * CURLM_BAD_HANDLE, as libcurl does. */
void curl_dl_global_cleanup(void);
void curl_dl_easy_cleanup(CURL *h);
CURLMcode curl_dl_multi_cleanup(CURLM *m);
void curl_dl_slist_free_all(struct curl_slist *list);
void curl_dl_free(void *p);

#ifndef CURL_DL_INTERNAL /* curl_dl.c names the table's members itself */
#define curl_global_init curl_dl_global_init
#define curl_global_cleanup curl_dl_global_cleanup
#define curl_easy_init curl_dl_easy_init
#define curl_easy_cleanup curl_dl_easy_cleanup
#define curl_easy_strerror curl_dl_easy_strerror
#define curl_free curl_dl_free
#define curl_slist_append curl_dl_slist_append
#define curl_slist_free_all curl_dl_slist_free_all
#define curl_multi_init curl_dl_multi_init
#define curl_multi_cleanup curl_dl_multi_cleanup
#define curl_easy_setopt curl_dl.curl_easy_setopt
#define curl_easy_perform curl_dl.curl_easy_perform
#define curl_easy_getinfo curl_dl.curl_easy_getinfo
#define curl_easy_escape curl_dl.curl_easy_escape
#define curl_multi_setopt curl_dl.curl_multi_setopt
#define curl_multi_add_handle curl_dl.curl_multi_add_handle
#define curl_multi_remove_handle curl_dl.curl_multi_remove_handle
#define curl_multi_perform curl_dl.curl_multi_perform
#define curl_multi_poll curl_dl.curl_multi_poll
#define curl_multi_info_read curl_dl.curl_multi_info_read
#define curl_multi_socket_action curl_dl.curl_multi_socket_action
#define curl_multi_assign curl_dl.curl_multi_assign
#endif

#endif

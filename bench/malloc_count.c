/*
 * malloc_count.c - an LD_PRELOAD library that counts heap allocations of the
 * process it is loaded into, for bench_vs_python.py's "allocations per
 * event". glibc only: it interposes malloc, calloc, realloc, the aligned
 * allocators and free, and forwards to glibc's own __libc_* entry points
 * (exported for exactly this use), so no dlsym() bootstrap is needed. On
 * macOS the bench skips the count (DYLD_INSERT_LIBRARIES interposing would
 * need a __DATA,__interpose section; not done).
 *
 * malloc_count_allocs() returns the count so far (bench_chunk calls it
 * through a weak reference when preloaded). At exit it writes "allocs N frees N bytes N" to the
 * file named by $TPSD_MALLOC_COUNT (nothing when unset). A realloc counts as one allocation (it
 * may move the block); realloc(p, 0) as a free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MC_LINE_MAX 128

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
extern void __libc_free(void *p);
void *memalign(size_t a, size_t n); /* glibc declares it in <malloc.h>, macOS nowhere */

static atomic_ullong mc_allocs, mc_frees, mc_bytes;

static void
mc_count(size_t n)
{
    atomic_fetch_add_explicit(&mc_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&mc_bytes, n, memory_order_relaxed);
}

void *
malloc(size_t n)
{
    mc_count(n);
    return __libc_malloc(n);
}

void *
calloc(size_t n, size_t m)
{
    mc_count(n * m);
    return __libc_calloc(n, m);
}

void *
realloc(void *p, size_t n)
{
    if (p != NULL && n == 0)
        atomic_fetch_add_explicit(&mc_frees, 1, memory_order_relaxed);
    else
        mc_count(n);
    return __libc_realloc(p, n);
}

void
free(void *p)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&mc_frees, 1, memory_order_relaxed);
    __libc_free(p);
}

void *
memalign(size_t a, size_t n)
{
    mc_count(n);
    return __libc_memalign(a, n);
}

void *
aligned_alloc(size_t a, size_t n)
{
    mc_count(n);
    return __libc_memalign(a, n);
}

int
posix_memalign(void **out, size_t a, size_t n)
{
    void *p;

    mc_count(n);
    p = __libc_memalign(a, n);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

unsigned long long malloc_count_allocs(void);

unsigned long long
malloc_count_allocs(void)
{
    return atomic_load(&mc_allocs);
}

__attribute__((destructor)) static void
mc_report(void)
{
    const char *path = getenv("TPSD_MALLOC_COUNT");
    char line[MC_LINE_MAX];
    int fd, n;

    if (path == NULL)
        return;
    n = snprintf(line, sizeof(line), "allocs %llu frees %llu bytes %llu\n",
                 (unsigned long long)atomic_load(&mc_allocs),
                 (unsigned long long)atomic_load(&mc_frees),
                 (unsigned long long)atomic_load(&mc_bytes));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1 || n <= 0)
        return;
    if (write(fd, line, (size_t)n) != n)
        n = -1;
    close(fd);
}

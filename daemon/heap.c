/* heap.c - see heap.h. */
#include "daemon/heap.h"

#include <stdlib.h> /* first: it defines __GLIBC__ (features.h) */
#if defined(__GLIBC__)
#include <malloc.h>
#elif defined(__APPLE__)
#include <malloc/malloc.h>
#endif

#define HEAP_MMAP_THRESHOLD (256 * 1024) /* glibc: blocks this large are mmap'd */
#define HEAP_TRIM_THRESHOLD (256 * 1024) /* glibc: free top of a heap kept */

void
heap_setup(void)
{
#if defined(__GLIBC__)
    /* Fixed thresholds: glibc raises both after a large block is freed
     * (a trends answer of a megabyte), after which each thread's arena
     * keeps up to twice that much free memory resident for good. */
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD);
#endif
}

void
heap_trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0); /* every arena, free pages inside the heap too */
#elif defined(__APPLE__)
    malloc_zone_pressure_relief(NULL, 0); /* every zone, no goal: all it can */
#endif
}

/*
 * heap.h - handing the heap's free memory back to the kernel, so that an
 * idle daemon's RSS returns to what it holds for good after a burst of API
 * requests or a job. glibc keeps freed memory in its arenas (one per
 * thread that allocated) until told; macOS's allocator when asked for
 * pressure relief. Calls nothing of ours.
 */
#ifndef TPSD_HEAP_H
#define TPSD_HEAP_H

/* Keep the heap from holding freed memory after a burst (glibc: fixed mmap
 * and trim thresholds; elsewhere nothing). Process-wide: call once, early.
 * Cannot fail. */
void heap_setup(void);

/* Hand the heap's free memory back to the kernel (glibc: malloc_trim of
 * every arena; macOS: malloc_zone_pressure_relief of every zone; elsewhere
 * nothing). Thread-safe; costs a walk of the arenas: call when going idle,
 * not per request. Cannot fail. */
void heap_trim(void);

#endif

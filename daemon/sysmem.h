/*
 * sysmem.h - how much memory the machine has and how much is available now,
 * for the preflight memory check. macOS: sysctl hw.memsize and the
 * host_statistics64 VM counters; Linux: /proc/meminfo (MemTotal,
 * MemAvailable). Calls nothing of ours.
 */
#ifndef TPSD_SYSMEM_H
#define TPSD_SYSMEM_H

#include <stdint.h>

struct sysmem {
    uint64_t total_bytes;     /* physical memory */
    uint64_t available_bytes; /* can be had without swapping (an estimate) */
};

/*
 * Fill *m. On macOS "available" is (free + inactive) pages, free already
 * counting the speculative ones (darwin_vm_available), on Linux
 * MemAvailable (MemFree + Cached when the kernel lacks it).
 * Returns 0, or -1 (errno set) when the figures cannot be read; *m is then
 * zeroed. Thread-safe.
 */
int sysmem_read(struct sysmem *m);

#endif

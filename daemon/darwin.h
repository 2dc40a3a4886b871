/*
 * darwin.h - what macOS's system interfaces hand back, turned into tpsd's
 * figures: plain functions over plain values, compiled and unit-tested on
 * every OS (tests/test_darwin.c), so that the parsing sysinfo.c and
 * sysmem.c do on a Mac is checked on Linux too. Only the calls themselves
 * (sysctlbyname, host_statistics64, proc_pid_rusage, notify_get_state)
 * stay behind #ifdef __APPLE__; on a Mac, darwin.c also asserts at compile
 * time that the layouts and numbers below are the SDK's own
 * (scripts/check-macos.sh compiles it for aarch64 and x86_64).
 *
 * Sources (apple-oss-distributions, xnu-11417.101.15 unless said):
 *   vm.swapusage            bsd/sys/sysctl.h struct xsw_usage;
 *                           bsd/kern/kern_sysctl.c sysctl_swapusage
 *   kern.memorystatus_level bsd/kern/kern_memorystatus.c (SYSCTL_INT of an
 *                           unsigned int); osfmk/vm/vm_pageout.c: the
 *                           share of pages available, 0..100
 *   host_statistics64       osfmk/kern/host.c vm_stats: free_count =
 *                           vm_page_free_count + speculative_count
 *   thermal pressure        libkern/OSThermalNotification.h (macOS SDK):
 *                           Nominal 0, Moderate, Heavy, Trapping, Sleeping
 *   proc_pid_rusage         bsd/sys/resource.h rusage_info_v2
 *                           ri_phys_footprint; libproc.h proc_pidinfo
 *                           PROC_PIDTASKINFO pti_resident_size
 *   kinfo_proc start time   bsd/sys/proc.h extern_proc p_starttime
 *                           (struct timeval)
 *   hw.model, hw.memsize    bsd/kern/kern_mib.c (SYSCTL_STRING, a 64-bit
 *                           SYSCTL_PROC for memsize)
 *   machdep.cpu.brand_string  osfmk/i386/machine_routines / arm: a string
 *   kern.osproductversion   bsd/kern/kern_sysctl.c (a string, "15.1")
 * Calls nothing of ours. Thread-safe (no state).
 */
#ifndef TPSD_DARWIN_H
#define TPSD_DARWIN_H

#include <stddef.h>
#include <stdint.h>

/* sizeof(struct xsw_usage): u_int64_t total, avail, used; u_int32_t
 * pagesize; boolean_t (int) encrypted - the same on arm64 and x86_64. */
#define DARWIN_XSW_USAGE_SIZE 32
#define DARWIN_XSW_TOTAL_OFF 0
#define DARWIN_XSW_AVAIL_OFF 8
#define DARWIN_XSW_USED_OFF 16
#define DARWIN_THERMAL_NAME_MAX 16

/*
 * Swap in use from the bytes sysctlbyname("vm.swapusage") filled (len: the
 * length it returned). 0 and *used (bytes), or -1 when len is not a whole
 * struct xsw_usage or the figures disagree (used + avail != total, as the
 * kernel computes used = total - avail).
 */
int darwin_swap_used(const void *buf, size_t len, int64_t *used);

/*
 * Memory pressure 0..1 from the bytes sysctlbyname("kern.memorystatus_level")
 * filled: 1 - level / 100, level being the percentage of memory available.
 * 0, or -1 when len is not 4 or level is over 100.
 */
int darwin_memory_pressure(const void *buf, size_t len, double *pressure);

/* The page counts of host_statistics64(HOST_VM_INFO64) tpsd uses. */
struct darwin_vm_counts {
    uint64_t free_count; /* includes speculative_count (xnu vm_stats) */
    uint64_t inactive_count;
    uint64_t speculative_count;
};

/*
 * Memory available without swapping: (free + inactive) pages of page
 * bytes (host_page_size: the kernel's page, 16384 on Apple silicon).
 * Speculative pages are already inside free_count and are not added again.
 * 0, or -1 when page is not a power of two of at least 4096, speculative
 * exceeds free (not a vm_stats reading) or the product overflows.
 */
int darwin_vm_available(const struct darwin_vm_counts *c, uint64_t page, uint64_t *avail);

/*
 * The name of a thermal pressure level (notify_get_state of
 * kOSThermalNotificationPressureLevelName): "nominal", "moderate",
 * "heavy", "trapping", "sleeping", or "level<N>" for a level the SDK does
 * not name. Always fills buf (len >= DARWIN_THERMAL_NAME_MAX).
 */
void darwin_thermal_name(uint64_t state, char *buf, size_t len);

/* What proc_pid_rusage / proc_pidinfo gave for one process. */
struct darwin_proc_mem {
    int have_footprint;      /* proc_pid_rusage(RUSAGE_INFO_V2) returned 0 */
    uint64_t phys_footprint; /* ri_phys_footprint */
    int have_resident;       /* proc_pidinfo(PROC_PIDTASKINFO) filled it all */
    uint64_t resident_size;  /* pti_resident_size */
};

/*
 * A process's memory in bytes: the physical footprint when known and
 * non-zero (Activity Monitor's Memory; it counts the GPU's unified memory
 * that resident size misses), else the resident size, else -1.
 */
int64_t darwin_proc_memory(const struct darwin_proc_mem *m);

/*
 * A process's start time in microseconds from kinfo_proc's p_starttime
 * (tv_sec, tv_usec), or 0 (unknown) when the figures are not a time.
 */
uint64_t darwin_start_us(int64_t sec, int64_t usec);

/*
 * A string sysctl (hw.model "Mac15,9", machdep.cpu.brand_string "Apple M3
 * Max", kern.osproductversion "15.1") from the len bytes sysctlbyname
 * filled, into out (outlen bytes, NUL-terminated, blanks around trimmed).
 * 0, or -1 (out "") when the bytes hold no text or a control character.
 */
int darwin_sysctl_text(const void *buf, size_t len, char *out, size_t outlen);

/*
 * hw.memsize (a 64-bit integer sysctl) from the len bytes filled: 0 and
 * *bytes, or -1 when len is not 8 or the value is 0 or over INT64_MAX.
 */
int darwin_memsize(const void *buf, size_t len, int64_t *bytes);

#endif

/*
 * sysinfo.h - one portable reading of the machine and the inference server:
 * memory total and available, swap used, memory pressure, the server's
 * resident memory (a pid, or every process whose name starts with a given
 * name), tpsd's own resident memory, the 1-minute load average and the
 * thermal state. Used by the sampler (sampler.h) during jobs.
 *
 * What each figure is, per OS:
 *   memory      macOS: hw.memsize, available = free (speculative included)
 *               + inactive pages (host_statistics64); Linux: MemTotal,
 *               MemAvailable. The macOS parsing is in darwin.h.
 *   swap used   macOS: vm.swapusage xsu_used; Linux: SwapTotal - SwapFree.
 *   pressure    0..1. macOS: 1 - kern.memorystatus_level / 100 (the share of
 *               memory that is not free, as memory_pressure(1) prints it);
 *               Linux: PSI /proc/pressure/memory "some avg10" / 100 (the
 *               share of time tasks stalled on memory). NAN when absent.
 *   RSS         macOS: the physical footprint (proc_pid_rusage
 *               ri_phys_footprint, what Activity Monitor calls Memory; it
 *               counts Metal/unified memory that plain RSS misses), else
 *               the resident size; Linux: /proc/PID/statm resident pages.
 *               By name: the sum over every matching process (LM Studio runs
 *               models in helper processes).
 *   thermal     macOS: the thermal pressure level (notify(3) key
 *               kOSThermalNotificationPressureLevelName, as NSProcessInfo's
 *               thermalState): "nominal", "moderate", "heavy", "trapping",
 *               "sleeping"; temperature unknown. Linux: the hottest
 *               /sys/class/thermal zone: "nominal", or the worst trip point
 *               it has reached: "passive" (the kernel throttles), "hot",
 *               "critical". "" when the OS does not tell.
 *
 * Calls sysmem. Thread-safe.
 */
#ifndef TPSD_SYSINFO_H
#define TPSD_SYSINFO_H

#include <stdint.h>

#define SYSINFO_THERMAL_MAX 16
#define SYSINFO_PROCESS_MAX 1024    /* bytes of a process name (config string size) */
#define SYSINFO_PIDS_MAX 65536      /* processes looked at in one scan */

/* Whose resident memory to read: pid when > 0, else every process whose
 * name starts with `process` (when not ""), else nobody. */
struct sysinfo_target {
    long pid;
    char process[SYSINFO_PROCESS_MAX];
};

/* One reading. Integers are -1 and doubles NAN when unknown. */
struct sysinfo_snap {
    int64_t at;                     /* wall clock ms */
    int64_t mem_total_bytes;
    int64_t mem_avail_bytes;
    int64_t swap_used_bytes;
    double mem_pressure;
    int64_t server_rss_bytes;       /* -1: no target, or no such process */
    int server_procs;               /* processes summed into server_rss_bytes */
    int64_t self_rss_bytes;
    double cpu_load1;
    double temp_c;                  /* Linux: the hottest zone */
    char thermal[SYSINFO_THERMAL_MAX];
};

/* The process name LM Studio's server runs under on this OS ("LM Studio" on
 * macOS, "" elsewhere: configure server_pid or server_process). */
const char *sysinfo_default_process(void);

/* Take one reading (every figure it can). Can't fail: unknowns stay unknown. */
void sysinfo_read(const struct sysinfo_target *t, struct sysinfo_snap *out);

/* Resident bytes of process pid (the footprint on macOS), or -1 when it
 * cannot be read (no such process, no permission). */
int64_t sysinfo_proc_rss(long pid);

/* Sum of sysinfo_proc_rss over processes whose name starts with `name`;
 * *nprocs (may be NULL) gets how many. -1 when none matched. */
int64_t sysinfo_proc_rss_by_name(const char *name, int *nprocs);

#endif

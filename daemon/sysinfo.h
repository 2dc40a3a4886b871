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
 *               A thermal source (the setting thermal_source: a test and
 *               ops hook) replaces the OS's word: a directory laid out as
 *               /sys/class/thermal (thermal_zoneN/temp, trip_point_K_type,
 *               trip_point_K_temp) is read as Linux's zones are, on every
 *               OS; a file holds a level: a number (a macOS
 *               OSThermalPressureLevel, named as notify(3)'s state is) or a
 *               name (the names above, or NSProcessInfo's "fair",
 *               "serious"); anything else, or no such file, is unknown.
 *
 * Calls sysmem. Thread-safe.
 */
#ifndef TPSD_SYSINFO_H
#define TPSD_SYSINFO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SYSINFO_THERMAL_MAX 16
#define SYSINFO_PROCESS_MAX 1024 /* bytes of a process name (config string size) */
#define SYSINFO_PIDS_MAX 65536   /* processes looked at in one scan */
#define SYSINFO_SOURCE_MAX 1024  /* bytes of a thermal source path (config string size) */

/* Whose resident memory to read: pid when > 0, else every process whose
 * name starts with `process` (when not ""), else nobody; and where the
 * thermal state comes from ("": the OS). */
struct sysinfo_target {
    long pid;
    char process[SYSINFO_PROCESS_MAX];
    char thermal_source[SYSINFO_SOURCE_MAX];
};

/* One reading. Integers are -1 and doubles NAN when unknown. */
struct sysinfo_snap {
    int64_t at; /* wall clock ms */
    int64_t mem_total_bytes;
    int64_t mem_avail_bytes;
    int64_t swap_used_bytes;
    double mem_pressure;
    int64_t server_rss_bytes; /* -1: no target, or no such process */
    int server_procs;         /* processes summed into server_rss_bytes */
    int64_t self_rss_bytes;
    double cpu_load1;
    double temp_c; /* Linux: the hottest zone */
    char thermal[SYSINFO_THERMAL_MAX];
};

/* The process name LM Studio's server runs under on this OS ("LM Studio" on
 * macOS, "" elsewhere: configure server_pid or server_process). */
const char *sysinfo_default_process(void);

/* Take one reading (every figure it can). Can't fail: unknowns stay unknown. */
void sysinfo_read(const struct sysinfo_target *t, struct sysinfo_snap *out);

/* The thermal state alone, now, into out (outlen >= SYSINFO_THERMAL_MAX):
 * from `source` when it is not NULL or "" (the thermal source above), else
 * from the OS, as sysinfo_read reads it; "" when unknown. */
void sysinfo_thermal(const char *source, char *out, size_t outlen);

/* Resident bytes of process pid (the footprint on macOS), or -1 when it
 * cannot be read (no such process, no permission). */
int64_t sysinfo_proc_rss(long pid);

/* Sum of sysinfo_proc_rss over processes whose name starts with `name`;
 * *nprocs (may be NULL) gets how many. -1 when none matched. */
int64_t sysinfo_proc_rss_by_name(const char *name, int *nprocs);

/*
 * The test environment as a benchmark report states it: the machine, its
 * chip, memory and OS. Recorded once per job (the runner's "environment"
 * event) and shown at the top of its report. Apart from the run's host
 * string, which keys the regression history and does not change.
 *   machine   macOS: sysctl hw.model ("Mac15,9"); Linux:
 *             /sys/devices/virtual/dmi/id/product_name, else the device
 *             tree's /proc/device-tree/model, else cpuinfo's "Model".
 *   chip      macOS: machdep.cpu.brand_string ("Apple M3 Max"); Linux:
 *             cpuinfo's first "model name", else "Hardware".
 *   memory    macOS: hw.memsize; Linux: MemTotal (sysmem).
 *   os        macOS: "macOS " + kern.osproductversion; Linux: os-release's
 *             PRETTY_NAME (/etc/os-release, else /usr/lib/os-release).
 *   kernel    uname: sysname release, and machine (arm64, x86_64).
 * "" (or -1) for what the OS does not tell.
 */
#define SYSINFO_ENV_TEXT_MAX 128

struct sysinfo_env {
    char machine[SYSINFO_ENV_TEXT_MAX];
    char chip[SYSINFO_ENV_TEXT_MAX];
    int64_t mem_total_bytes;
    char os[SYSINFO_ENV_TEXT_MAX];
    char kernel[SYSINFO_ENV_TEXT_MAX];
    char arch[SYSINFO_ENV_TEXT_MAX];
};

/* Read the environment. Can't fail: unknowns stay "" / -1. */
void sysinfo_env_read(struct sysinfo_env *e);

/* The environment as a new JSON object {"machine", "chip",
 * "mem_total_bytes", "os", "kernel", "arch"}, unknowns null; NULL out of
 * memory. */
json_t *sysinfo_env_json(const struct sysinfo_env *e);

/* sysinfo_env_read then sysinfo_env_json: this machine, now. */
json_t *sysinfo_env_new(void);

/*
 * From the text of /proc/cpuinfo: the first value of the line whose key
 * (before the ':', blanks trimmed) is `key` ("model name", "Hardware",
 * "Model") into out, trimmed. 0, or -1 (out "") when there is none or it
 * does not fit. Plain text parsing, on every OS.
 */
int sysinfo_cpuinfo_value(const char *text, const char *key, char *out, size_t outlen);

/*
 * From the text of an os-release file (os-release(5)): the value of
 * `key` (PRETTY_NAME, VERSION_ID), unquoted ("..." or '...', with \\ \"
 * \$ \` escapes), into out. 0, or -1 (out "") when absent or too long.
 */
int sysinfo_os_release_value(const char *text, const char *key, char *out, size_t outlen);

#endif

/* sysinfo.c - see sysinfo.h. */
#include "daemon/sysinfo.h"

#include "common/clock.h"
#include "daemon/darwin.h"
#include "daemon/sysmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- on every OS: small files, thermal zones, the thermal source ---- */

#define SYSINFO_FILE_MAX 4096 /* bytes read of one /proc or /sys file */
#define SYSINFO_TRIPS_MAX 32  /* trip points looked at per thermal zone */
#define SYSINFO_ZONE_PATH_MAX (SYSINFO_SOURCE_MAX + 64)

/* Read a small file into buf (NUL-terminated). Bytes read, or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
    ssize_t n, got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1)
        return -1;
    while ((size_t)got < len - 1) {
        n = read(fd, buf + got, len - 1 - (size_t)got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    buf[got] = '\0';
    return got;
}

/* Rank of a trip-point type: the kernel throttles from "passive" on. */
static int
trip_rank(const char *type)
{
    if (strncmp(type, "critical", 8) == 0)
        return 3;
    if (strncmp(type, "hot", 3) == 0)
        return 2;
    if (strncmp(type, "passive", 7) == 0)
        return 1;
    return 0;
}

/* The thermal zones under root (laid out as /sys/class/thermal): the
 * hottest zone's temperature, and "nominal" or the worst trip point a zone
 * has reached (sysinfo.h). Nothing set when root has no readable zone. */
static void
thermal_zones(const char *root, struct sysinfo_snap *s)
{
    static const char *const names[] = {"nominal", "passive", "hot", "critical"};
    char path[SYSINFO_ZONE_PATH_MAX], buf[64];
    struct dirent *de;
    long t, trip;
    int k, rank, worst = -1, rk;
    DIR *d = opendir(root);

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "thermal_zone", 12) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s/temp", root, de->d_name);
        if (read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%ld", &t) != 1)
            continue;
        if (isnan(s->temp_c) || t / 1000.0 > s->temp_c)
            s->temp_c = t / 1000.0;
        rank = 0;
        for (k = 0; k < SYSINFO_TRIPS_MAX; k++) {
            snprintf(path, sizeof(path), "%s/%s/trip_point_%d_type", root, de->d_name, k);
            if (read_small(path, buf, sizeof(buf)) <= 0)
                break;
            rk = trip_rank(buf);
            if (rk == 0)
                continue;
            snprintf(path, sizeof(path), "%s/%s/trip_point_%d_temp", root, de->d_name, k);
            if (read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%ld", &trip) != 1)
                continue;
            if (trip > 0 && t >= trip && rk > rank)
                rank = rk;
        }
        if (rank > worst)
            worst = rank;
    }
    closedir(d);
    if (worst >= 0)
        snprintf(s->thermal, sizeof(s->thermal), "%s", names[worst]);
}

#ifdef __APPLE__

#include <libkern/OSThermalNotification.h>
#include <libproc.h>
#include <notify.h>
#include <pthread.h>
#include <sys/param.h>
#include <sys/resource.h>
#include <sys/sysctl.h>

const char *
sysinfo_default_process(void)
{
    return "LM Studio";
}

int64_t
sysinfo_proc_rss(long pid)
{
    struct rusage_info_v2 ri;
    struct proc_taskinfo ti;
    struct darwin_proc_mem m;

    if (pid <= 0)
        return -1;
    memset(&m, 0, sizeof(m));
    memset(&ri, 0, sizeof(ri));
    /* libproc.h: int proc_pid_rusage(int pid, int flavor, rusage_info_t *buffer),
     * rusage_info_t being void *: the struct's address goes in, cast. */
    if (proc_pid_rusage((int)pid, RUSAGE_INFO_V2, (rusage_info_t *)&ri) == 0) {
        m.have_footprint = 1;
        m.phys_footprint = ri.ri_phys_footprint;
    }
    if (m.phys_footprint == 0) {
        memset(&ti, 0, sizeof(ti));
        /* proc_pidinfo returns the bytes filled; a short fill is a failure. */
        if (proc_pidinfo((int)pid, PROC_PIDTASKINFO, 0, &ti, (int)sizeof(ti)) ==
            (int)sizeof(ti)) {
            m.have_resident = 1;
            m.resident_size = ti.pti_resident_size;
        }
    }
    return darwin_proc_memory(&m);
}

/* Every process: fn(arg, pid, its name) (proc_name: up to 2 * MAXCOMLEN
 * bytes), at most SYSINFO_PIDS_MAX. -1 when the list cannot be read. */
static int
each_process(void (*fn)(void *arg, long pid, const char *pname), void *arg)
{
    char pname[2 * MAXCOMLEN + 1];
    pid_t *pids = NULL;
    int n, cap, i;

    n = proc_listallpids(NULL, 0);
    if (n <= 0)
        return -1;
    cap = n + 64;
    if (cap > SYSINFO_PIDS_MAX)
        cap = SYSINFO_PIDS_MAX;
    pids = calloc((size_t)cap, sizeof(pid_t));
    if (pids == NULL)
        return -1;
    n = proc_listallpids(pids, cap * (int)sizeof(pid_t));
    for (i = 0; i < n && i < cap; i++) {
        if (pids[i] <= 0)
            continue;
        memset(pname, 0, sizeof(pname));
        if (proc_name(pids[i], pname, sizeof(pname)) > 0)
            fn(arg, (long)pids[i], pname);
    }
    free(pids);
    return 0;
}

/* The bytes of a process name compared: proc_name gives the whole name. */
static const size_t name_cmp_max = SIZE_MAX;

static void
read_swap(struct sysinfo_snap *s)
{
    struct xsw_usage xsw;
    size_t len = sizeof(xsw);
    int64_t used;

    if (sysctlbyname("vm.swapusage", &xsw, &len, NULL, 0) == 0 &&
        darwin_swap_used(&xsw, len, &used) == 0)
        s->swap_used_bytes = used;
}

static void
read_pressure(struct sysinfo_snap *s)
{
    unsigned int level = 0; /* xnu: SYSCTL_INT over an unsigned int */
    size_t len = sizeof(level);
    double p;

    if (sysctlbyname("kern.memorystatus_level", &level, &len, NULL, 0) == 0 &&
        darwin_memory_pressure(&level, len, &p) == 0)
        s->mem_pressure = p;
}

static struct {
    pthread_once_t once;
    int token;
    int ok;
} thermal = {PTHREAD_ONCE_INIT, 0, 0};

static void
thermal_init(void)
{
    thermal.ok = notify_register_check(kOSThermalNotificationPressureLevelName,
                                       &thermal.token) == NOTIFY_STATUS_OK;
}

static void
read_thermal_os(struct sysinfo_snap *s)
{
    uint64_t state = 0;

    pthread_once(&thermal.once, thermal_init);
    if (!thermal.ok || notify_get_state(thermal.token, &state) != NOTIFY_STATUS_OK)
        return;
    darwin_thermal_name(state, s->thermal, sizeof(s->thermal));
}

/* A string sysctl into out ("" when unknown). */
static void
sysctl_text(const char *name, char *out, size_t outlen)
{
    char buf[SYSINFO_ENV_TEXT_MAX * 2];
    size_t len = sizeof(buf);

    out[0] = '\0';
    if (sysctlbyname(name, buf, &len, NULL, 0) == 0)
        darwin_sysctl_text(buf, len, out, outlen);
}

static void
env_platform(struct sysinfo_env *e)
{
    char ver[SYSINFO_ENV_TEXT_MAX];
    uint64_t mem = 0;
    size_t len = sizeof(mem);

    sysctl_text("hw.model", e->machine, sizeof(e->machine));
    sysctl_text("machdep.cpu.brand_string", e->chip, sizeof(e->chip));
    if (sysctlbyname("hw.memsize", &mem, &len, NULL, 0) == 0)
        darwin_memsize(&mem, len, &e->mem_total_bytes);
    sysctl_text("kern.osproductversion", ver, sizeof(ver));
    if (ver[0] != '\0')
        snprintf(e->os, sizeof(e->os), "macOS %s", ver);
}

#else /* Linux */

#define SYSINFO_PATH_MAX 320
#define SYSINFO_COMM_LEN 15 /* /proc/PID/comm keeps 15 bytes of a name */

const char *
sysinfo_default_process(void)
{
    return "";
}

static int64_t
statm_rss(const char *path)
{
    char buf[256];
    unsigned long long size, resident;
    long page = sysconf(_SC_PAGESIZE);

    if (read_small(path, buf, sizeof(buf)) <= 0)
        return -1;
    if (sscanf(buf, "%llu %llu", &size, &resident) != 2 || page <= 0)
        return -1;
    return (int64_t)(resident * (unsigned long long)page);
}

int64_t
sysinfo_proc_rss(long pid)
{
    char path[64];

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/statm", pid);
    return statm_rss(path);
}

static int
all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Every process of /proc: fn(arg, pid, its comm), at most
 * SYSINFO_PIDS_MAX. -1 when /proc cannot be read. */
static int
each_process(void (*fn)(void *arg, long pid, const char *pname), void *arg)
{
    char path[SYSINFO_PATH_MAX], comm[64], *nl;
    struct dirent *de;
    int seen = 0;
    DIR *d = opendir("/proc");

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL && seen < SYSINFO_PIDS_MAX) {
        if (!all_digits(de->d_name))
            continue;
        seen++;
        snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
        if (read_small(path, comm, sizeof(comm)) <= 0)
            continue;
        nl = strchr(comm, '\n');
        if (nl != NULL)
            *nl = '\0';
        fn(arg, strtol(de->d_name, NULL, 10), comm);
    }
    closedir(d);
    return 0;
}

/* The bytes of a process name compared: what comm keeps of it. */
static const size_t name_cmp_max = SYSINFO_COMM_LEN;

static void
read_swap(struct sysinfo_snap *s)
{
    char buf[SYSINFO_FILE_MAX], *line, *save = NULL;
    unsigned long long total = 0, freek = 0, v;
    int have = 0;

    if (read_small("/proc/meminfo", buf, sizeof(buf)) <= 0)
        return;
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "SwapTotal: %llu", &v) == 1) {
            total = v;
            have |= 1;
        } else if (sscanf(line, "SwapFree: %llu", &v) == 1) {
            freek = v;
            have |= 2;
        }
    }
    if (have == 3 && total >= freek)
        s->swap_used_bytes = (int64_t)((total - freek) * 1024);
}

static void
read_pressure(struct sysinfo_snap *s)
{
    char buf[512];
    double avg10;
    const char *p;

    if (read_small("/proc/pressure/memory", buf, sizeof(buf)) <= 0)
        return;
    p = strstr(buf, "some avg10=");
    if (p != NULL && sscanf(p, "some avg10=%lf", &avg10) == 1 && avg10 >= 0 && avg10 <= 100)
        s->mem_pressure = avg10 / 100.0;
}

static void
read_thermal_os(struct sysinfo_snap *s)
{
    thermal_zones("/sys/class/thermal", s);
}

#define SYSINFO_CPUINFO_MAX 65536 /* bytes of /proc/cpuinfo read: the first cores */

/* The first file of paths[] that reads, into buf; its length or -1. */
static ssize_t
read_first(const char *const *paths, size_t n, char *buf, size_t len)
{
    size_t i;
    ssize_t got;

    for (i = 0; i < n; i++)
        if ((got = read_small(paths[i], buf, len)) > 0)
            return got;
    return -1;
}

/* The first line of a small file, trimmed, into out ("" when unreadable). */
static void
first_line(const char *path, char *out, size_t outlen)
{
    char buf[SYSINFO_ENV_TEXT_MAX];
    size_t n;

    out[0] = '\0';
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return;
    n = strcspn(buf, "\n");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\0'))
        n--;
    buf[n] = '\0';
    snprintf(out, outlen, "%s", buf);
}

static void
env_platform(struct sysinfo_env *e)
{
    static const char *const os_release[] = {"/etc/os-release", "/usr/lib/os-release"};
    char *buf = malloc(SYSINFO_CPUINFO_MAX);
    struct sysmem m;

    if (sysmem_read(&m) == 0)
        e->mem_total_bytes = (int64_t)m.total_bytes;
    first_line("/sys/devices/virtual/dmi/id/product_name", e->machine, sizeof(e->machine));
    if (e->machine[0] == '\0')
        first_line("/proc/device-tree/model", e->machine, sizeof(e->machine));
    if (buf == NULL)
        return;
    if (read_small("/proc/cpuinfo", buf, SYSINFO_CPUINFO_MAX) > 0) {
        if (sysinfo_cpuinfo_value(buf, "model name", e->chip, sizeof(e->chip)) == -1)
            sysinfo_cpuinfo_value(buf, "Hardware", e->chip, sizeof(e->chip));
        if (e->machine[0] == '\0')
            sysinfo_cpuinfo_value(buf, "Model", e->machine, sizeof(e->machine));
    }
    if (read_first(os_release, 2, buf, SYSINFO_FILE_MAX) > 0)
        sysinfo_os_release_value(buf, "PRETTY_NAME", e->os, sizeof(e->os));
    free(buf);
}

#endif

/* sysinfo_proc_rss_by_name's tally over each_process. */
struct by_name {
    const char *name;
    size_t len; /* of name, at most what the OS keeps of a process name */
    int64_t sum;
    int found;
};

static void
by_name_add(void *arg, long pid, const char *pname)
{
    struct by_name *b = arg;
    int64_t v;

    if (strncmp(pname, b->name, b->len) != 0)
        return;
    v = sysinfo_proc_rss(pid);
    if (v < 0)
        return;
    b->sum = (b->sum < 0 ? 0 : b->sum) + v;
    b->found++;
}

int64_t
sysinfo_proc_rss_by_name(const char *name, int *nprocs)
{
    struct by_name b = {name, strlen(name), -1, 0};

    if (nprocs != NULL)
        *nprocs = 0;
    if (b.len == 0)
        return -1;
    if (b.len > name_cmp_max)
        b.len = name_cmp_max;
    if (each_process(by_name_add, &b) == -1)
        return -1;
    if (nprocs != NULL)
        *nprocs = b.found;
    return b.sum;
}

/* The level names a thermal source file may hold: sysinfo.h's names of
 * both OSes, and NSProcessInfo.thermalState's "fair" and "serious". */
static const char *const thermal_levels[] = {"nominal",  "moderate", "heavy", "trapping",
                                             "sleeping", "passive",  "hot",   "critical",
                                             "fair",     "serious"};

/* A thermal source file's text: a macOS OSThermalPressureLevel number
 * (named as the notify(3) state is), or one of thermal_levels; blanks
 * around it ignored. Anything else leaves the state unknown. */
static void
thermal_level_text(char *text, struct sysinfo_snap *s)
{
    char *p = text + strspn(text, " \t\r\n"), *end;
    size_t i, n = strcspn(p, " \t\r\n");
    unsigned long long v;

    p[n] = '\0';
    if (n > 0 && strspn(p, "0123456789") == n) {
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno == 0)
            darwin_thermal_name(v, s->thermal, sizeof(s->thermal));
        return;
    }
    for (i = 0; i < sizeof(thermal_levels) / sizeof(thermal_levels[0]); i++)
        if (strcmp(p, thermal_levels[i]) == 0)
            snprintf(s->thermal, sizeof(s->thermal), "%s", thermal_levels[i]);
}

/* The thermal state from `source` when set (a directory of thermal zones,
 * else a file holding a level), else from the OS. */
static void
read_thermal(const char *source, struct sysinfo_snap *s)
{
    char buf[64];
    struct stat sb;

    if (source == NULL || *source == '\0') {
        read_thermal_os(s);
        return;
    }
    if (stat(source, &sb) == 0 && S_ISDIR(sb.st_mode))
        thermal_zones(source, s);
    else if (read_small(source, buf, sizeof(buf)) > 0)
        thermal_level_text(buf, s);
}

void
sysinfo_thermal(const char *source, char *out, size_t outlen)
{
    struct sysinfo_snap s;

    memset(&s, 0, sizeof(s));
    s.temp_c = NAN;
    read_thermal(source, &s);
    snprintf(out, outlen, "%s", s.thermal);
}

void
sysinfo_read(const struct sysinfo_target *t, struct sysinfo_snap *out)
{
    struct sysmem m;
    double load[1];

    memset(out, 0, sizeof(*out));
    out->at = clock_wall_ms();
    out->mem_total_bytes = out->mem_avail_bytes = out->swap_used_bytes = -1;
    out->server_rss_bytes = out->self_rss_bytes = -1;
    out->mem_pressure = out->cpu_load1 = out->temp_c = NAN;
    if (sysmem_read(&m) == 0) {
        out->mem_total_bytes = (int64_t)m.total_bytes;
        out->mem_avail_bytes = (int64_t)m.available_bytes;
    }
    read_swap(out);
    read_pressure(out);
    if (t != NULL && t->pid > 0) {
        out->server_rss_bytes = sysinfo_proc_rss(t->pid);
        out->server_procs = out->server_rss_bytes >= 0;
    } else if (t != NULL && t->process[0] != '\0') {
        out->server_rss_bytes = sysinfo_proc_rss_by_name(t->process, &out->server_procs);
    }
    out->self_rss_bytes = sysinfo_proc_rss((long)getpid());
    if (getloadavg(load, 1) == 1)
        out->cpu_load1 = load[0];
    read_thermal(t != NULL ? t->thermal_source : NULL, out);
}

/* Copy s[0..n) into out, blanks around trimmed; 0, or -1 (out "") when
 * empty or too long. */
static int
copy_trimmed(const char *s, size_t n, char *out, size_t outlen)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    out[0] = '\0';
    if (n == 0 || n >= outlen)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int
sysinfo_cpuinfo_value(const char *text, const char *key, char *out, size_t outlen)
{
    const char *line = text, *colon, *end;
    size_t klen = strlen(key), n;

    out[0] = '\0';
    for (; line != NULL && *line != '\0'; line = end[0] ? end + 1 : NULL) {
        end = line + strcspn(line, "\n");
        colon = memchr(line, ':', (size_t)(end - line));
        if (colon == NULL)
            continue;
        n = (size_t)(colon - line);
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        if (n == klen && strncmp(line, key, klen) == 0)
            return copy_trimmed(colon + 1, (size_t)(end - colon - 1), out, outlen);
    }
    return -1;
}

int
sysinfo_os_release_value(const char *text, const char *key, char *out, size_t outlen)
{
    const char *line = text, *end, *v;
    size_t klen = strlen(key), o = 0;
    char q = 0;

    out[0] = '\0';
    for (; line != NULL && *line != '\0'; line = end[0] ? end + 1 : NULL) {
        end = line + strcspn(line, "\n");
        if (strncmp(line, key, klen) != 0 || line[klen] != '=')
            continue;
        v = line + klen + 1;
        if (*v == '"' || *v == '\'') /* os-release(5): shell-style quoting */
            q = *v++;
        for (; v < end && *v != q; v++) {
            if (q == '"' && *v == '\\' && v + 1 < end && strchr("\\\"$`", v[1]) != NULL)
                v++;
            if (o + 1 >= outlen) {
                out[0] = '\0';
                return -1;
            }
            out[o++] = *v;
        }
        out[o] = '\0';
        return o > 0 ? 0 : -1;
    }
    return -1;
}

void
sysinfo_env_read(struct sysinfo_env *e)
{
    struct utsname u;

    memset(e, 0, sizeof(*e));
    e->mem_total_bytes = -1;
    env_platform(e);
    if (uname(&u) == 0) {
        snprintf(e->kernel, sizeof(e->kernel), "%.60s %.60s", u.sysname, u.release);
        snprintf(e->arch, sizeof(e->arch), "%s", u.machine);
    }
}

/* A string, or null when empty or not UTF-8 (json_string refuses it). */
static json_t *
text_or_null(const char *s)
{
    json_t *v = s[0] != '\0' ? json_string(s) : NULL;

    return v != NULL ? v : json_null();
}

json_t *
sysinfo_env_json(const struct sysinfo_env *e)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "machine", text_or_null(e->machine),
                     "chip", text_or_null(e->chip), "mem_total_bytes",
                     e->mem_total_bytes > 0 ? json_integer(e->mem_total_bytes) : json_null(),
                     "os", text_or_null(e->os), "kernel", text_or_null(e->kernel), "arch",
                     text_or_null(e->arch));
}

json_t *
sysinfo_env_new(void)
{
    struct sysinfo_env e;

    sysinfo_env_read(&e);
    return sysinfo_env_json(&e);
}

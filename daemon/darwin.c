/*
 * darwin.c - see darwin.h. Every function here is plain arithmetic over
 * what a macOS interface returned; the interfaces are called in sysinfo.c,
 * sysmem.c and orphans.c. On a Mac (and in scripts/check-macos.sh, for
 * arm64 and x86_64) the static assertions at the end tie the layouts and
 * numbers this file assumes to the SDK's headers, so a drift fails the
 * build instead of misreading memory.
 */
#include "daemon/darwin.h"

#include <stdio.h>
#include <string.h>

#define DARWIN_PAGE_MIN 4096ULL
#define DARWIN_MEMORYSTATUS_LEVEL_SIZE 4 /* SYSCTL_INT of an unsigned int */

static uint64_t
load_u64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v)); /* native byte order, as the kernel wrote it */
    return v;
}

int
darwin_swap_used(const void *buf, size_t len, int64_t *used)
{
    const unsigned char *p = buf;
    uint64_t total, avail, u;

    if (buf == NULL || len != DARWIN_XSW_USAGE_SIZE)
        return -1;
    total = load_u64(p + DARWIN_XSW_TOTAL_OFF);
    avail = load_u64(p + DARWIN_XSW_AVAIL_OFF);
    u = load_u64(p + DARWIN_XSW_USED_OFF);
    if (avail > total || u != total - avail || u > (uint64_t)INT64_MAX)
        return -1;
    *used = (int64_t)u;
    return 0;
}

int
darwin_memory_pressure(const void *buf, size_t len, double *pressure)
{
    uint32_t level;

    if (buf == NULL || len != DARWIN_MEMORYSTATUS_LEVEL_SIZE)
        return -1;
    memcpy(&level, buf, sizeof(level));
    if (level > 100)
        return -1;
    *pressure = 1.0 - (double)level / 100.0;
    return 0;
}

int
darwin_vm_available(const struct darwin_vm_counts *c, uint64_t page, uint64_t *avail)
{
    uint64_t pages;

    if (page < DARWIN_PAGE_MIN || (page & (page - 1)) != 0)
        return -1;
    if (c->speculative_count > c->free_count)
        return -1;
    if (c->inactive_count > UINT64_MAX - c->free_count)
        return -1;
    pages = c->free_count + c->inactive_count;
    if (pages > UINT64_MAX / page)
        return -1;
    *avail = pages * page;
    return 0;
}

/* Indexed by OSThermalPressureLevel (macOS values, asserted below). */
static const char *const thermal_names[] = {"nominal", "moderate", "heavy", "trapping",
                                            "sleeping"};
#define NTHERMAL (sizeof(thermal_names) / sizeof(thermal_names[0]))

void
darwin_thermal_name(uint64_t state, char *buf, size_t len)
{
    if (state < NTHERMAL)
        snprintf(buf, len, "%s", thermal_names[state]);
    else
        snprintf(buf, len, "level%llu", (unsigned long long)(state % 100000));
}

int64_t
darwin_proc_memory(const struct darwin_proc_mem *m)
{
    if (m->have_footprint && m->phys_footprint > 0 && m->phys_footprint <= (uint64_t)INT64_MAX)
        return (int64_t)m->phys_footprint;
    if (m->have_resident && m->resident_size <= (uint64_t)INT64_MAX)
        return (int64_t)m->resident_size;
    return -1;
}

uint64_t
darwin_start_us(int64_t sec, int64_t usec)
{
    if (sec <= 0 || usec < 0 || usec > 999999)
        return 0;
    return (uint64_t)sec * 1000000ULL + (uint64_t)usec;
}

int
darwin_sysctl_text(const void *buf, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = buf;
    size_t a = 0, b, i;

    if (outlen == 0)
        return -1;
    out[0] = '\0';
    if (buf == NULL)
        return -1;
    b = strnlen(buf, len); /* the kernel counts the NUL; stop at it */
    for (i = 0; i < b; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            return -1;
    while (a < b && p[a] == ' ')
        a++;
    while (b > a && p[b - 1] == ' ')
        b--;
    if (a == b || b - a >= outlen)
        return -1;
    memcpy(out, p + a, b - a);
    out[b - a] = '\0';
    return 0;
}

int
darwin_memsize(const void *buf, size_t len, int64_t *bytes)
{
    uint64_t v;

    if (buf == NULL || len != sizeof(v))
        return -1;
    v = load_u64(buf);
    if (v == 0 || v > (uint64_t)INT64_MAX)
        return -1;
    *bytes = (int64_t)v;
    return 0;
}

#ifdef __APPLE__
#include <libkern/OSThermalNotification.h>
#include <stddef.h>
#include <sys/sysctl.h>

_Static_assert(sizeof(struct xsw_usage) == DARWIN_XSW_USAGE_SIZE, "struct xsw_usage size");
_Static_assert(offsetof(struct xsw_usage, xsu_total) == DARWIN_XSW_TOTAL_OFF, "xsu_total");
_Static_assert(offsetof(struct xsw_usage, xsu_avail) == DARWIN_XSW_AVAIL_OFF, "xsu_avail");
_Static_assert(offsetof(struct xsw_usage, xsu_used) == DARWIN_XSW_USED_OFF, "xsu_used");
_Static_assert(kOSThermalPressureLevelNominal == 0 && kOSThermalPressureLevelModerate == 1 &&
                   kOSThermalPressureLevelHeavy == 2 && kOSThermalPressureLevelTrapping == 3 &&
                   kOSThermalPressureLevelSleeping == 4 && NTHERMAL == 5,
               "thermal pressure levels");
#endif

/*
 * test_darwin.c - daemon/darwin: the parsing of what macOS's interfaces
 * return, run on every OS. The byte fixtures are laid out as the kernel
 * writes them (xnu-11417.101.15 sources cited in darwin.h) on arm64 and
 * x86_64, both little-endian; the figures are those of a `sysctl
 * vm.swapusage` / `vm_stat` reading, encoded by hand (no Mac to record on).
 */
#include "daemon/darwin.h"
#include "tests/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEX_MAX 64

/* Decode a hex string into buf; the byte count. */
static size_t
unhex(const char *hex, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    char pair[3] = {0, 0, 0};

    while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
        pair[0] = hex[0];
        pair[1] = hex[1];
        buf[n++] = (unsigned char)strtoul(pair, NULL, 16);
        hex += 2;
    }
    return n;
}

static int
little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;

    memcpy(&b, &one, 1);
    return b == 1;
}

/* vm.swapusage: "total = 2048.00M  used = 1064.25M  free = 983.75M
 * (encrypted)" as struct xsw_usage {xsu_total, xsu_avail, xsu_used,
 * xsu_pagesize 4096, xsu_encrypted 1}. */
static const char swap_hex[] = "0000008000000000" /* total 2147483648 */
                               "00007c3d00000000" /* avail 1031536640 */
                               "0000844200000000" /* used  1115947008 */
                               "00100000"         /* pagesize 4096 */
                               "01000000";        /* encrypted */

TEST(swap_usage_recorded)
{
    unsigned char b[HEX_MAX];
    size_t n = unhex(swap_hex, b, sizeof(b));
    int64_t used = -1;

    CHECK(little_endian());
    CHECK_INT(n, ==, DARWIN_XSW_USAGE_SIZE);
    CHECK_INT(darwin_swap_used(b, n, &used), ==, 0);
    CHECK_INT(used, ==, 1115947008LL);
    CHECK_NEAR((double)used / 1048576.0, 1064.25, 1e-9);
}

TEST(swap_usage_rejects)
{
    unsigned char b[HEX_MAX];
    size_t n = unhex(swap_hex, b, sizeof(b));
    int64_t used = -7;

    /* A short or long answer is not a struct xsw_usage. */
    CHECK_INT(darwin_swap_used(b, n - 4, &used), ==, -1);
    CHECK_INT(darwin_swap_used(b, 0, &used), ==, -1);
    CHECK_INT(darwin_swap_used(NULL, n, &used), ==, -1);
    /* used must be total - avail, as sysctl_swapusage computes it. */
    b[DARWIN_XSW_USED_OFF] ^= 0x01;
    CHECK_INT(darwin_swap_used(b, n, &used), ==, -1);
    CHECK_INT(used, ==, -7);
    /* No swap configured: all zero is a valid reading of 0 bytes. */
    memset(b, 0, n);
    CHECK_INT(darwin_swap_used(b, n, &used), ==, 0);
    CHECK_INT(used, ==, 0);
}

TEST(memorystatus_level)
{
    /* `sysctl kern.memorystatus_level` -> 67 (memory_pressure(1): "System-wide
     * memory free percentage: 67%"): 4 bytes, native order. */
    unsigned char b[HEX_MAX];
    double p = -1;

    CHECK_INT(unhex("43000000", b, sizeof(b)), ==, 4);
    CHECK_INT(darwin_memory_pressure(b, 4, &p), ==, 0);
    CHECK_NEAR(p, 0.33, 1e-12);
    CHECK_INT(unhex("64000000", b, sizeof(b)), ==, 4); /* 100: all free */
    CHECK_INT(darwin_memory_pressure(b, 4, &p), ==, 0);
    CHECK_NEAR(p, 0.0, 1e-12);
    CHECK_INT(unhex("00000000", b, sizeof(b)), ==, 4);
    CHECK_INT(darwin_memory_pressure(b, 4, &p), ==, 0);
    CHECK_NEAR(p, 1.0, 1e-12);
    p = -1;
    CHECK_INT(unhex("65000000", b, sizeof(b)), ==, 4); /* 101: not a percentage */
    CHECK_INT(darwin_memory_pressure(b, 4, &p), ==, -1);
    CHECK_INT(darwin_memory_pressure(b, 8, &p), ==, -1);
    CHECK_INT(darwin_memory_pressure(b, 2, &p), ==, -1);
    CHECK_DBL(p, ==, -1);
}

TEST(vm_available_counts_speculative_once)
{
    /* vm_stat on a 16 KiB-page Mac: "Pages free: 38500", "Pages
     * speculative: 1500", "Pages inactive: 250000". vm_stat prints free as
     * free_count - speculative_count, so host_statistics64 gave
     * free_count 40000 (xnu vm_stats: free + speculative). */
    struct darwin_vm_counts c = {40000, 250000, 1500};
    uint64_t avail = 0;

    CHECK_INT(darwin_vm_available(&c, 16384, &avail), ==, 0);
    CHECK_INT(avail, ==, (40000ULL + 250000ULL) * 16384ULL);
    /* The old sum (free + inactive + speculative) counted 1500 pages twice. */
    CHECK_INT(avail, !=, (40000ULL + 250000ULL + 1500ULL) * 16384ULL);
    CHECK_INT(darwin_vm_available(&c, 4096, &avail), ==, 0); /* Intel */
    CHECK_INT(avail, ==, 290000ULL * 4096ULL);
}

TEST(vm_available_rejects)
{
    struct darwin_vm_counts c = {100, 200, 10};
    struct darwin_vm_counts bad = {5, 200, 10};
    struct darwin_vm_counts huge = {UINT64_MAX / 2, UINT64_MAX / 2, 0};
    uint64_t avail = 77;

    CHECK_INT(darwin_vm_available(&c, 0, &avail), ==, -1);
    CHECK_INT(darwin_vm_available(&c, 1000, &avail), ==, -1);
    CHECK_INT(darwin_vm_available(&c, 12288, &avail), ==, -1);
    CHECK_INT(darwin_vm_available(&bad, 16384, &avail), ==, -1);
    CHECK_INT(darwin_vm_available(&huge, 16384, &avail), ==, -1);
    CHECK_INT(avail, ==, 77);
}

TEST(thermal_names)
{
    static const char *const want[] = {"nominal", "moderate", "heavy", "trapping", "sleeping"};
    char buf[DARWIN_THERMAL_NAME_MAX];
    uint64_t i;

    for (i = 0; i < 5; i++) {
        darwin_thermal_name(i, buf, sizeof(buf));
        CHECK_STR(buf, want[i]);
    }
    darwin_thermal_name(5, buf, sizeof(buf));
    CHECK_STR(buf, "level5");
    /* The iOS numbering (Light = 10 ...) is not macOS's: named by number. */
    darwin_thermal_name(10, buf, sizeof(buf));
    CHECK_STR(buf, "level10");
    darwin_thermal_name(UINT64_MAX, buf, sizeof(buf));
    CHECK(strncmp(buf, "level", 5) == 0);
    CHECK_INT(strlen(buf), <, sizeof(buf));
}

TEST(proc_memory)
{
    struct darwin_proc_mem m = {1, 5368709120ULL, 1, 1073741824ULL};

    /* LM Studio's model process: a 5 GiB footprint (Metal buffers) over a
     * 1 GiB resident size - the footprint wins. */
    CHECK_INT(darwin_proc_memory(&m), ==, 5368709120LL);
    m.phys_footprint = 0; /* rusage answered with nothing: resident size */
    CHECK_INT(darwin_proc_memory(&m), ==, 1073741824LL);
    m.have_footprint = 0;
    m.phys_footprint = 99;
    CHECK_INT(darwin_proc_memory(&m), ==, 1073741824LL);
    m.have_resident = 0;
    CHECK_INT(darwin_proc_memory(&m), ==, -1);
}

TEST(start_us)
{
    CHECK_INT(darwin_start_us(1765000000, 123456), ==, 1765000000123456ULL);
    CHECK_INT(darwin_start_us(1765000000, 0), ==, 1765000000000000ULL);
    CHECK_INT(darwin_start_us(0, 5), ==, 0);
    CHECK_INT(darwin_start_us(-1, 5), ==, 0);
    CHECK_INT(darwin_start_us(1765000000, 1000000), ==, 0);
    CHECK_INT(darwin_start_us(1765000000, -1), ==, 0);
}

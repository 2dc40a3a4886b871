/* test_environment.c - the test environment's parsing (daemon/sysinfo.c
 * cpuinfo and os-release, daemon/darwin.c sysctl strings and hw.memsize)
 * against text and bytes as the systems hand them back, and the reading of
 * this host against what the OS says through other calls. */
#include "daemon/darwin.h"
#include "daemon/sysinfo.h"
#include "daemon/sysmem.h"
#include "tests/check.h"

#include <stdint.h>
#include <string.h>
#include <sys/utsname.h>

/* x86_64 /proc/cpuinfo: "key\t: value" lines, one block per core. */
static const char cpuinfo_x86[] =
    "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
    "model\t\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\nstepping\t: 1\n\n"
    "processor\t: 1\nmodel name\t: AMD EPYC 7763 64-Core Processor\n";

/* A Raspberry Pi 4 (arm64): no "model name"; "Hardware" and "Model" last. */
static const char cpuinfo_pi[] =
    "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU part\t: 0xd08\n\n"
    "Hardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 10000000abcdef\n"
    "Model\t\t: Raspberry Pi 4 Model B Rev 1.1\n";

/* One call of a key lookup (sysinfo_cpuinfo_value, sysinfo_os_release_value)
 * and its answer (out: what the value reads, "" when rc is -1). */
struct t_lookup {
    const char *text, *key;
    size_t outlen;
    int rc;
    const char *out;
};

/* Every row through fn, out filled with junk first. */
static void
t_lookups(int (*fn)(const char *, const char *, char *, size_t), const struct t_lookup *t,
          size_t n)
{
    char out[SYSINFO_ENV_TEXT_MAX];
    size_t i;

    for (i = 0; i < n; i++) {
        memset(out, 'x', sizeof(out));
        CHECK_INT(fn(t[i].text, t[i].key, out, t[i].outlen), ==, t[i].rc);
        CHECK_STR(out, t[i].out);
    }
}

TEST(cpuinfo_values)
{
    static const struct t_lookup rows[] = {
        {cpuinfo_x86, "model name", SYSINFO_ENV_TEXT_MAX, 0, "AMD EPYC 7763 64-Core Processor"},
        /* "model" is its own key, not a prefix match of "model name". */
        {cpuinfo_x86, "model", SYSINFO_ENV_TEXT_MAX, 0, "1"},
        {cpuinfo_pi, "model name", SYSINFO_ENV_TEXT_MAX, -1, ""},
        {cpuinfo_pi, "Hardware", SYSINFO_ENV_TEXT_MAX, 0, "BCM2835"},
        {cpuinfo_pi, "Model", SYSINFO_ENV_TEXT_MAX, 0, "Raspberry Pi 4 Model B Rev 1.1"},
        /* Too long for out, empty values, empty text: unknown. */
        {cpuinfo_x86, "model name", 8, -1, ""},
        {"model name\t:   \n", "model name", SYSINFO_ENV_TEXT_MAX, -1, ""},
        {"", "model name", SYSINFO_ENV_TEXT_MAX, -1, ""},
        {"no colon here\n", "no colon here", SYSINFO_ENV_TEXT_MAX, -1, ""},
    };

    t_lookups(sysinfo_cpuinfo_value, rows, sizeof(rows) / sizeof(rows[0]));
}

/* Debian 12's /etc/os-release, then quoting os-release(5) allows. */
static const char os_deb[] =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
    "VERSION_ID=\"12\"\nID=debian\n";
static const char os_odd[] = "NAME_PREFIX=x\nPRETTY_NAME='Single quoted'\n"
                             "NAME=\"Say \\\"hi\\\" \\$HOME \\\\ now\"\nID=plain\nEMPTY=\"\"\n";

TEST(os_release_values)
{
    static const struct t_lookup rows[] = {
        {os_deb, "PRETTY_NAME", SYSINFO_ENV_TEXT_MAX, 0, "Debian GNU/Linux 12 (bookworm)"},
        {os_deb, "VERSION_ID", SYSINFO_ENV_TEXT_MAX, 0, "12"},
        {os_deb, "ID", SYSINFO_ENV_TEXT_MAX, 0, "debian"},
        {os_odd, "PRETTY_NAME", SYSINFO_ENV_TEXT_MAX, 0, "Single quoted"},
        {os_odd, "NAME", SYSINFO_ENV_TEXT_MAX, 0, "Say \"hi\" $HOME \\ now"},
        {os_odd, "ID", SYSINFO_ENV_TEXT_MAX, 0, "plain"},
        {os_odd, "EMPTY", SYSINFO_ENV_TEXT_MAX, -1, ""},
        {os_odd, "VERSION", SYSINFO_ENV_TEXT_MAX, -1, ""},
        {os_deb, "PRETTY_NAME", 6, -1, ""},
    };

    t_lookups(sysinfo_os_release_value, rows, sizeof(rows) / sizeof(rows[0]));
}

TEST(darwin_sysctl_strings)
{
    char out[SYSINFO_ENV_TEXT_MAX], small[4];
    /* sysctlbyname's length counts the NUL. */
    static const char model[] = "Mac15,9";
    static const char brand[] = "Apple M3 Max";
    static const char padded[] = "  Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz  ";
    static const char ctl[] = "bad\ttext";

    CHECK_INT(darwin_sysctl_text(model, sizeof(model), out, sizeof(out)), ==, 0);
    CHECK_STR(out, "Mac15,9");
    CHECK_INT(darwin_sysctl_text(brand, sizeof(brand), out, sizeof(out)), ==, 0);
    CHECK_STR(out, "Apple M3 Max");
    CHECK_INT(darwin_sysctl_text(padded, sizeof(padded), out, sizeof(out)), ==, 0);
    CHECK_STR(out, "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz");
    /* Without its NUL (a length short by one) it still reads. */
    CHECK_INT(darwin_sysctl_text("15.1", 4, out, sizeof(out)), ==, 0);
    CHECK_STR(out, "15.1");
    CHECK_INT(darwin_sysctl_text(ctl, sizeof(ctl), out, sizeof(out)), ==, -1);
    CHECK_STR(out, "");
    CHECK_INT(darwin_sysctl_text("", 1, out, sizeof(out)), ==, -1);
    CHECK_INT(darwin_sysctl_text(NULL, 0, out, sizeof(out)), ==, -1);
    CHECK_INT(darwin_sysctl_text(brand, sizeof(brand), small, sizeof(small)), ==, -1);
    CHECK_STR(small, "");
}

TEST(darwin_memsize_bytes)
{
    uint64_t v = 137438953472ULL; /* 128 GiB */
    uint32_t short_v = 1;
    int64_t got = -1;

    CHECK_INT(darwin_memsize(&v, sizeof(v), &got), ==, 0);
    CHECK_INT(got, ==, (int64_t)137438953472LL);
    CHECK_INT(darwin_memsize(&short_v, sizeof(short_v), &got), ==, -1);
    v = 0;
    CHECK_INT(darwin_memsize(&v, sizeof(v), &got), ==, -1);
    v = UINT64_MAX;
    CHECK_INT(darwin_memsize(&v, sizeof(v), &got), ==, -1);
}

/* This host: memory as sysmem reads it, the kernel as uname says, and the
 * JSON carries them; unknown text is null, never "". */
TEST(this_host)
{
    struct sysinfo_env e;
    struct sysmem m;
    struct utsname u;
    json_t *j;
    char kernel[SYSINFO_ENV_TEXT_MAX];

    sysinfo_env_read(&e);
    CHECK_INT(sysmem_read(&m), ==, 0);
    CHECK_INT(e.mem_total_bytes, ==, (int64_t)m.total_bytes);
    CHECK_INT(uname(&u), ==, 0);
    snprintf(kernel, sizeof(kernel), "%.60s %.60s", u.sysname, u.release); /* as sysinfo.c */
    CHECK_STR(e.kernel, kernel);
    CHECK_STR(e.arch, u.machine);
#if defined(__linux__) || defined(__APPLE__)
    CHECK(e.os[0] != '\0');
#endif
    j = sysinfo_env_json(&e);
    CHECK(j != NULL);
    CHECK_INT(json_integer_value(json_object_get(j, "mem_total_bytes")), ==, e.mem_total_bytes);
    CHECK_STR(json_string_value(json_object_get(j, "kernel")), kernel);
    if (e.machine[0] == '\0')
        CHECK(json_is_null(json_object_get(j, "machine")));
    json_decref(j);
    /* A machine string that is not UTF-8 is null, not a failed object. */
    memset(&e, 0, sizeof(e));
    e.mem_total_bytes = -1;
    snprintf(e.chip, sizeof(e.chip), "\xff\xfe");
    j = sysinfo_env_json(&e);
    CHECK(j != NULL);
    CHECK(json_is_null(json_object_get(j, "chip")));
    CHECK(json_is_null(json_object_get(j, "mem_total_bytes")));
    json_decref(j);
}

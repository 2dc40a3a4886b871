/* sysmem.c - see sysmem.h. */
#include "daemon/sysmem.h"

#include "daemon/darwin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __APPLE__
#include <mach/mach.h>
#include <sys/sysctl.h>
#include <sys/types.h>

int
sysmem_read(struct sysmem *m)
{
    uint64_t total = 0;
    size_t len = sizeof(total);
    vm_statistics64_data_t vm;
    mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
    mach_port_t host;
    vm_size_t page = 0; /* libsyscall host_page_size: vm_kernel_page_size */
    struct darwin_vm_counts c;
    kern_return_t kr;

    memset(m, 0, sizeof(*m));
    if (sysctlbyname("hw.memsize", &total, &len, NULL, 0) == -1)
        return -1;
    host = mach_host_self();
    kr = host_page_size(host, &page);
    if (kr == KERN_SUCCESS)
        kr = host_statistics64(host, HOST_VM_INFO64, (host_info64_t)&vm, &count);
    mach_port_deallocate(mach_task_self(), host);
    if (kr != KERN_SUCCESS) {
        errno = EIO;
        return -1;
    }
    c.free_count = vm.free_count;
    c.inactive_count = vm.inactive_count;
    c.speculative_count = vm.speculative_count;
    if (darwin_vm_available(&c, (uint64_t)page, &m->available_bytes) == -1) {
        errno = EIO;
        return -1;
    }
    m->total_bytes = total;
    return 0;
}

#else /* Linux */

#define SYSMEM_LINE_MAX 256

int
sysmem_read(struct sysmem *m)
{
    char line[SYSMEM_LINE_MAX];
    unsigned long long total = 0, avail = 0, freemem = 0, cached = 0, v;
    int have_avail = 0;
    FILE *f;

    memset(m, 0, sizeof(*m));
    f = fopen("/proc/meminfo", "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *colon = strchr(line, ':');
        char *end;

        if (colon == NULL)
            continue;
        *colon = '\0';
        errno = 0;
        v = strtoull(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1)
            continue;
        if (strcmp(line, "MemTotal") == 0)
            total = v;
        else if (strcmp(line, "MemAvailable") == 0) {
            avail = v;
            have_avail = 1;
        } else if (strcmp(line, "MemFree") == 0)
            freemem = v;
        else if (strcmp(line, "Cached") == 0)
            cached = v;
    }
    fclose(f);
    if (total == 0) {
        errno = EIO;
        return -1;
    }
    if (!have_avail)
        avail = freemem + cached;
    m->total_bytes = (uint64_t)total * 1024;
    m->available_bytes = (uint64_t)avail * 1024;
    return 0;
}

#endif

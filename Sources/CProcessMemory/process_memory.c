#include "process_memory.h"

#if defined(__linux__)
// Brings in <features.h>, which defines __GLIBC__ on glibc systems.
#include <malloc.h>
#endif

#if defined(__linux__)
#include <stdio.h>
#include <unistd.h>

void causeway_resident_bytes(size_t *all, size_t *anonymous) {
    *all = 0;
    *anonymous = 0;
    FILE *file = fopen("/proc/self/statm", "r");
    if (file == NULL) return;
    unsigned long size = 0, resident = 0, shared = 0;
    int read = fscanf(file, "%lu %lu %lu", &size, &resident, &shared);
    fclose(file);
    if (read != 3 || resident < shared) return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *all = (size_t)resident * page;
    *anonymous = (size_t)(resident - shared) * page;
}
#else
void causeway_resident_bytes(size_t *all, size_t *anonymous) {
    *all = 0;
    *anonymous = 0;
}
#endif

#if defined(__GLIBC__)
size_t causeway_heap_in_use(void) {
    // mallinfo2 (glibc 2.33+) counts in size_t, so it does not wrap past 4 GiB as mallinfo does.
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

void causeway_heap_trim(void) {
    malloc_trim(0);
}
#else
size_t causeway_heap_in_use(void) {
    return 0;
}

void causeway_heap_trim(void) {
}
#endif

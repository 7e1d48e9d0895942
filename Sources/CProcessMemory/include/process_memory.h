// The C library's heap figures, which Swift's Glibc module does not import (malloc.h).
#ifndef CAUSEWAY_PROCESS_MEMORY_H
#define CAUSEWAY_PROCESS_MEMORY_H

#include <stddef.h>

/// Bytes the C allocator has handed out and not had back (glibc: mallinfo2's uordblks +
/// hblkhd), or 0 where the figure is not available.
size_t causeway_heap_in_use(void);

/// Resident bytes not backed by files (resident less shared pages, from /proc/self/statm):
/// cheap to read, unlike the heap figure, which walks the allocator's free lists. 0 where
/// not available.
size_t causeway_resident_anonymous_bytes(void);

/// Returns free heap memory to the operating system where the allocator can (malloc_trim).
void causeway_heap_trim(void);

#endif

// The C library's heap figures, which Swift's Glibc module does not import (malloc.h).
#ifndef CAUSEWAY_PROCESS_MEMORY_H
#define CAUSEWAY_PROCESS_MEMORY_H

#include <stddef.h>

/// Bytes the C allocator has handed out and not had back (glibc: mallinfo2's uordblks +
/// hblkhd), or 0 where the figure is not available.
size_t causeway_heap_in_use(void);

/// The process's resident memory from /proc/self/statm: `all` the resident bytes (what
/// `ps` and the kernel's RSS show, the executable's pages included) and the `anonymous`
/// ones (resident less shared pages, those not backed by files). Cheap to read, unlike the
/// heap figure, which walks the allocator's free lists. Both 0 where not available.
void causeway_resident_bytes(size_t *all, size_t *anonymous);

/// Returns free heap memory to the operating system where the allocator can (malloc_trim).
void causeway_heap_trim(void);

#endif

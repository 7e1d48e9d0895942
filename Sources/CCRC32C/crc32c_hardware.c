#include "crc32c_hardware.h"

#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

int causeway_crc32c_hardware_available(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx & bit_SSE4_2) != 0;
}

// Compiled for SSE 4.2 on its own, so the rest of the binary still runs on any x86-64.
__attribute__((target("sse4.2")))
uint32_t causeway_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    const unsigned char *next = bytes;
    uint64_t crc = state;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, next, 8); // unaligned load
        crc = _mm_crc32_u64(crc, word);
        next += 8;
        length -= 8;
    }
    uint32_t narrow = (uint32_t)crc;
    while (length > 0) {
        narrow = _mm_crc32_u8(narrow, *next);
        next += 1;
        length -= 1;
    }
    return narrow;
}
#else
int causeway_crc32c_hardware_available(void) {
    return 0;
}

uint32_t causeway_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    (void)bytes;
    (void)length;
    return state;
}
#endif

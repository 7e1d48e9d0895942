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

// The instruction's latency is three cycles and it can start one a cycle, so one chain
// of updates uses a third of it. Blocks of 3 x LANE bytes are run as three independent
// chains and joined: the CRC register over A then B is shift(crc over A) ^ (crc over B
// from zero), where shift(x) is the register after LANE zero bytes from x, a linear map
// read from four tables (one per byte of x).
#define LANE 64
static uint32_t shift_tables[4][256];

__attribute__((target("sse4.2")))
static uint32_t shift_by_running_zeros(uint32_t crc) {
    uint64_t wide = crc;
    for (int word = 0; word < LANE / 8; word++) wide = _mm_crc32_u64(wide, 0);
    return (uint32_t)wide;
}

__attribute__((constructor))
static void build_shift_tables(void) {
    if (!causeway_crc32c_hardware_available()) return;
    for (int table = 0; table < 4; table++) {
        for (uint32_t byte = 0; byte < 256; byte++) {
            shift_tables[table][byte] = shift_by_running_zeros(byte << (8 * table));
        }
    }
}

static inline uint32_t shift(uint32_t crc) {
    return shift_tables[0][crc & 0xFF] ^ shift_tables[1][(crc >> 8) & 0xFF] ^ shift_tables[2][(crc >> 16) & 0xFF]
        ^ shift_tables[3][crc >> 24];
}

static inline uint64_t load64(const unsigned char *bytes) {
    uint64_t word;
    memcpy(&word, bytes, 8); // unaligned load
    return word;
}

// Compiled for SSE 4.2 on its own, so the rest of the binary still runs on any x86-64.
__attribute__((target("sse4.2")))
uint32_t causeway_crc32c_update(uint32_t state, const void *bytes, size_t length) {
    const unsigned char *next = bytes;
    uint64_t crc = state;
    while (length >= 3 * LANE) {
        uint64_t first = crc, second = 0, third = 0;
        for (int offset = 0; offset < LANE; offset += 8) {
            first = _mm_crc32_u64(first, load64(next + offset));
            second = _mm_crc32_u64(second, load64(next + LANE + offset));
            third = _mm_crc32_u64(third, load64(next + 2 * LANE + offset));
        }
        crc = shift(shift((uint32_t)first) ^ (uint32_t)second) ^ (uint32_t)third;
        next += 3 * LANE;
        length -= 3 * LANE;
    }
    while (length >= 8) {
        crc = _mm_crc32_u64(crc, load64(next));
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

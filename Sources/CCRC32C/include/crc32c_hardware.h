// CRC-32C with the processor's own instruction (SSE 4.2 `crc32` on x86-64), which Swift
// cannot reach without intrinsics. KafkaWire falls back to its table code elsewhere.
#ifndef CAUSEWAY_CRC32C_HARDWARE_H
#define CAUSEWAY_CRC32C_HARDWARE_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this processor has a CRC-32C instruction that `causeway_crc32c_update` uses, else 0.
int causeway_crc32c_hardware_available(void);

/// Folds `length` bytes at `bytes` into `state`, the running register (the CRC before its
/// final inversion), and returns the new register. Only call it when
/// `causeway_crc32c_hardware_available()` said 1.
uint32_t causeway_crc32c_update(uint32_t state, const void *bytes, size_t length);

#endif

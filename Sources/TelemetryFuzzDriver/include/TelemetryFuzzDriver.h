// The C side of the Telemetry fuzz targets: libFuzzer's driver entry point, and a
// replayer that feeds files to the same callback when the target is built without
// libFuzzer (a plain `swift build`), so a crash input can be rerun under a debugger.
#ifndef TELEMETRY_FUZZ_DRIVER_H
#define TELEMETRY_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

typedef int (*telemetry_fuzz_callback)(const uint8_t *data, size_t size);

// Provided by libFuzzer (compiler-rt) when linked with -sanitize=fuzzer; see
// https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library
int LLVMFuzzerRunDriver(int *argc, char ***argv, telemetry_fuzz_callback callback);

// Feeds every file named in argv[1...] (directories: every regular file in them) to
// `callback`. Prints how many inputs ran; exits with status 1 when a path cannot be read.
int telemetry_fuzz_replay(int argc, char **argv, telemetry_fuzz_callback callback);

#endif

// ISA-L's igzip (Debian: libisal-dev): deflate at level 1 about three times as fast as
// libdeflate's level 1, for bodies a few percent larger. The collector's exporters
// compress their batches with it at the default level (BENCHMARKS.md, "Collector ingest").
#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>

/// Compresses `count` bytes at `input` into one gzip member at igzip's level 1, in one
/// pass. Returns the bytes written at `output`, or 0 when they would be more than
/// `capacity` (`causeway_igzip_bound`), the input is over 4 GiB, or memory runs out.
static inline size_t causeway_igzip_level1(const uint8_t *input, size_t count, uint8_t *output, size_t capacity) {
    if (count > UINT32_MAX || capacity > UINT32_MAX) {
        return 0;
    }
    // igzip's recommended working space for level 1 (about 280 KiB); smaller ones cost
    // speed, larger ones gain nothing on 256 KiB bodies.
    uint8_t *levelBuffer = malloc(ISAL_DEF_LVL1_DEFAULT);
    if (levelBuffer == NULL) {
        return 0;
    }
    struct isal_zstream stream;
    isal_deflate_stateless_init(&stream);
    stream.level = 1;
    stream.level_buf = levelBuffer;
    stream.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    stream.gzip_flag = IGZIP_GZIP;
    stream.end_of_stream = 1;
    stream.flush = NO_FLUSH;
    stream.next_in = (uint8_t *)input;
    stream.avail_in = (uint32_t)count;
    stream.next_out = output;
    stream.avail_out = (uint32_t)capacity;
    int result = isal_deflate_stateless(&stream);
    free(levelBuffer);
    return result == COMP_OK ? stream.total_out : 0;
}

/// Room enough for any input of `count` bytes: at worst igzip writes stored blocks (5
/// bytes of header per 65,535 of input), inside gzip's 10-byte header and 8-byte trailer.
static inline size_t causeway_igzip_bound(size_t count) {
    return count + 5 * (count / 65535 + 1) + 18 + 64;
}

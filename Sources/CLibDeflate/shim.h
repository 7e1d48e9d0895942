// libdeflate (Debian: libdeflate-dev): whole-buffer DEFLATE, zlib and gzip, about twice
// as fast as zlib's streaming inflate. The collector inflates gzip request bodies with it,
// and its exporters compress with it at gzip levels 2-9 (level 1 is igzip's: CIgzip).
#include <libdeflate.h>

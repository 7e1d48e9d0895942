// libdeflate (Debian: libdeflate-dev): whole-buffer DEFLATE, zlib and gzip, about twice
// as fast as zlib's streaming inflate. The collector inflates gzip request bodies with it.
#include <libdeflate.h>

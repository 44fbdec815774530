/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Compression of HTTP request bodies (Content-Encoding gzip or zstd), as ClickHouse and the embedded
 * endpoint decode them. A Compressor keeps its zlib/zstd context between uses, so compressing one body after
 * another allocates nothing but the output: whole bodies in one call (compressor_compress()), or a stream
 * fed and drained piece by piece (compressor_begin()/compressor_stream()) for a body produced while it is
 * sent. */

typedef enum Compression {
        COMPRESSION_NONE,
        COMPRESSION_GZIP,
        COMPRESSION_ZSTD,
        _COMPRESSION_MAX,
        _COMPRESSION_INVALID = -EINVAL,
} Compression;

/* "none", "gzip", "zstd"; NULL for values out of range. */
const char *compression_to_string(Compression c);
Compression compression_from_string(const char *s);
/* The Content-Encoding value: "gzip", "zstd", or NULL for none. */
const char *compression_content_encoding(Compression c);

typedef struct Compressor Compressor;

/* level: gzip 1 to 9 (values below are taken as 1, above as 9), zstd -7 (fastest) to 19. */
int compressor_new(Compression type, int level, Compressor **ret);
Compressor *compressor_free(Compressor *c);
static inline void compressor_freep(Compressor **c) {
        if (*c)
                compressor_free(*c);
}
Compression compressor_type(const Compressor *c);

/* Room compressor_compress() needs for len bytes of input. */
size_t compressor_bound(Compressor *c, size_t len);
/* Compresses [src, src+len) as one complete frame into dst (dst_size >= compressor_bound(len)). Returns the
 * compressed size, or -ENOBUFS/-ENOMEM/-EIO. For COMPRESSION_NONE it copies. */
ssize_t compressor_compress(Compressor *c, const void *src, size_t len, void *dst, size_t dst_size);

/* Starts a new frame for compressor_stream(), dropping what an unfinished one held. */
int compressor_begin(Compressor *c);
/* Compresses from *in (advancing *in, decreasing *in_size) into *out (advancing *out, decreasing *out_size).
 * With end set, *in is the last input: the frame is finished as output room allows. Returns 1 once the
 * frame is complete (end set, all input consumed and all output written), 0 when more input or more output
 * room is needed, or a negative errno. */
int compressor_stream(
        Compressor *c, const void **in, size_t *in_size, void **out, size_t *out_size, bool end);

/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "compress.h"
#include "log.h"
#include "macro.h"

struct Compressor {
        Compression type;
        int level;
        z_stream z;
        bool z_ready;
        ZSTD_CCtx *zstd;
};

static const char *const compression_table[_COMPRESSION_MAX] = {
        [COMPRESSION_NONE] = "none",
        [COMPRESSION_GZIP] = "gzip",
        [COMPRESSION_ZSTD] = "zstd",
};

const char *compression_to_string(Compression c) {
        return c >= 0 && c < _COMPRESSION_MAX ? compression_table[c] : NULL;
}

Compression compression_from_string(const char *s) {
        for (int i = 0; i < _COMPRESSION_MAX; i++)
                if (streq(s, compression_table[i]))
                        return (Compression) i;
        return _COMPRESSION_INVALID;
}

const char *compression_content_encoding(Compression c) {
        return c == COMPRESSION_NONE ? NULL : compression_to_string(c);
}

int compressor_new(Compression type, int level, Compressor **ret) {
        Compressor *c;

        if (type < 0 || type >= _COMPRESSION_MAX)
                return -EINVAL;
        c = calloc(1, sizeof(Compressor));
        if (!c)
                return -ENOMEM;
        c->type = type;
        c->level = level;
        switch (type) {
        case COMPRESSION_GZIP:
                /* windowBits 15 + 16: a gzip header and trailer around the deflate stream. */
                if (deflateInit2(&c->z, CLAMP(level, 1, 9), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
                    Z_OK) {
                        free(c);
                        return -ENOMEM;
                }
                c->z_ready = true;
                break;
        case COMPRESSION_ZSTD:
                c->zstd = ZSTD_createCCtx();
                if (!c->zstd) {
                        free(c);
                        return -ENOMEM;
                }
                break;
        default:
                break;
        }
        *ret = c;
        return 0;
}

Compressor *compressor_free(Compressor *c) {
        if (!c)
                return NULL;
        if (c->z_ready)
                deflateEnd(&c->z);
        ZSTD_freeCCtx(c->zstd);
        free(c);
        return NULL;
}

Compression compressor_type(const Compressor *c) {
        return c->type;
}

size_t compressor_bound(Compressor *c, size_t len) {
        switch (c->type) {
        case COMPRESSION_GZIP:
                /* deflateBound() covers the zlib wrapper; the gzip header and trailer are a little larger.
                 */
                return deflateBound(&c->z, (uLong) len) + 32;
        case COMPRESSION_ZSTD:
                return ZSTD_compressBound(len);
        default:
                return len;
        }
}

ssize_t compressor_compress(Compressor *c, const void *src, size_t len, void *dst, size_t dst_size) {
        switch (c->type) {
        case COMPRESSION_NONE:
                if (dst_size < len)
                        return -ENOBUFS;
                if (len > 0)
                        memcpy(dst, src, len);
                return (ssize_t) len;
        case COMPRESSION_GZIP: {
                int k;
                if (len > UINT32_MAX || dst_size > UINT32_MAX)
                        return -EFBIG;
                if (deflateReset(&c->z) != Z_OK)
                        return -EIO;
                c->z.next_in = (Bytef *) (uintptr_t) src;
                c->z.avail_in = (uInt) len;
                c->z.next_out = (Bytef *) dst;
                c->z.avail_out = (uInt) dst_size;
                k = deflate(&c->z, Z_FINISH);
                if (k != Z_STREAM_END)
                        return k == Z_OK || k == Z_BUF_ERROR ? -ENOBUFS : -EIO;
                return (ssize_t) (dst_size - c->z.avail_out);
        }
        case COMPRESSION_ZSTD: {
                size_t k = ZSTD_compressCCtx(c->zstd, dst, dst_size, src, len, c->level);
                if (ZSTD_isError(k))
                        return log_debug_errno(
                                SYNTHETIC_ERRNO(
                                        ZSTD_getErrorCode(k) == ZSTD_error_dstSize_tooSmall ? ENOBUFS : EIO),
                                "zstd: %s",
                                ZSTD_getErrorName(k));
                return (ssize_t) k;
        }
        default:
                return -EINVAL;
        }
}

int compressor_begin(Compressor *c) {
        switch (c->type) {
        case COMPRESSION_GZIP:
                return deflateReset(&c->z) == Z_OK ? 0 : -EIO;
        case COMPRESSION_ZSTD:
                if (ZSTD_isError(ZSTD_CCtx_reset(c->zstd, ZSTD_reset_session_only)) ||
                    ZSTD_isError(ZSTD_CCtx_setParameter(c->zstd, ZSTD_c_compressionLevel, c->level)))
                        return -EIO;
                return 0;
        default:
                return 0;
        }
}

/* Moves a stream position on by n bytes; a NULL position with nothing to move stays NULL (no pointer
 * arithmetic on NULL). */
static void advance(
        const void **in, size_t *in_size, size_t n_in, void **out, size_t *out_size, size_t n_out) {
        if (n_in > 0) {
                *in = (const uint8_t *) *in + n_in;
                *in_size -= n_in;
        }
        if (n_out > 0) {
                *out = (uint8_t *) *out + n_out;
                *out_size -= n_out;
        }
}

int compressor_stream(
        Compressor *c, const void **in, size_t *in_size, void **out, size_t *out_size, bool end) {
        switch (c->type) {
        case COMPRESSION_NONE: {
                size_t n = MIN(*in_size, *out_size);
                if (n > 0)
                        memcpy(*out, *in, n);
                advance(in, in_size, n, out, out_size, n);
                return end && *in_size == 0;
        }
        case COMPRESSION_GZIP: {
                /* zlib counts in uInt: feed and drain at most 1 GiB per round. */
                uInt ai = (uInt) MIN(*in_size, (size_t) 1 << 30),
                     ao = (uInt) MIN(*out_size, (size_t) 1 << 30);
                bool last = end && ai == *in_size;
                int k;

                c->z.next_in = (Bytef *) (uintptr_t) *in;
                c->z.avail_in = ai;
                c->z.next_out = (Bytef *) *out;
                c->z.avail_out = ao;
                k = deflate(&c->z, last ? Z_FINISH : Z_NO_FLUSH);
                if (k != Z_OK && k != Z_STREAM_END && k != Z_BUF_ERROR)
                        return -EIO;
                advance(in, in_size, ai - c->z.avail_in, out, out_size, ao - c->z.avail_out);
                return k == Z_STREAM_END;
        }
        case COMPRESSION_ZSTD: {
                ZSTD_inBuffer ib = {.src = *in, .size = *in_size};
                ZSTD_outBuffer ob = {.dst = *out, .size = *out_size};
                size_t k = ZSTD_compressStream2(c->zstd, &ob, &ib, end ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(k))
                        return log_debug_errno(SYNTHETIC_ERRNO(EIO), "zstd: %s", ZSTD_getErrorName(k));
                advance(in, in_size, ib.pos, out, out_size, ob.pos);
                return end && k == 0 && *in_size == 0;
        }
        default:
                return -EINVAL;
        }
}

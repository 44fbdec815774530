/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <lz4frame.h>
#include <zstd.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"

/* Bodies that are query text (everything but streamed INSERTs) are decoded into memory, bounded by max.
 * Streamed INSERTs never pass through here: the engine reads them, still compressed, from a file. */

struct BodyDecoder {
        BodyEncoding enc;
        z_stream z;
        bool z_init, z_end;
        ZSTD_DStream *zstd;
        bool zstd_end;
        LZ4F_dctx *lz4;
        bool lz4_end;
        bool fed;
        char *buf;
        size_t len, alloc, max;
        /* sink mode: decoded bytes go to sink through buf, which is then a fixed scratch area */
        FrameSink sink;
        void *userdata;
};

#define SINK_CHUNK (64 * 1024)

BodyEncoding body_encoding_from_string(const char *s) {
        if (isempty(s) || strcasecmp(s, "identity") == 0)
                return BODY_IDENTITY;
        if (strcasecmp(s, "gzip") == 0 || strcasecmp(s, "x-gzip") == 0)
                return BODY_GZIP;
        if (strcasecmp(s, "deflate") == 0)
                return BODY_DEFLATE;
        if (strcasecmp(s, "zstd") == 0)
                return BODY_ZSTD;
        if (strcasecmp(s, "lz4") == 0)
                return BODY_LZ4;
        return _BODY_ENCODING_INVALID;
}

const char *body_encoding_to_compression(BodyEncoding enc) {
        switch (enc) {
        case BODY_GZIP:
                return "gzip";
        case BODY_DEFLATE:
                return "deflate";
        case BODY_ZSTD:
                return "zstd";
        case BODY_LZ4:
                return "lz4";
        default:
                return NULL;
        }
}

int body_decoder_new(BodyEncoding enc, size_t max, BodyDecoder **ret) {
        _cleanup_free_ BodyDecoder *d = new0(BodyDecoder, 1);

        if (!d)
                return -ENOMEM;
        d->enc = enc;
        d->max = max;
        if (enc == BODY_GZIP || enc == BODY_DEFLATE) {
                /* 16+: gzip wrapper; deflate in HTTP means the zlib format. */
                if (inflateInit2(&d->z, enc == BODY_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
                        return -ENOMEM;
                d->z_init = true;
        } else if (enc == BODY_ZSTD) {
                d->zstd = ZSTD_createDStream();
                if (!d->zstd)
                        return -ENOMEM;
                (void) ZSTD_initDStream(d->zstd);
        } else if (enc == BODY_LZ4) {
                if (LZ4F_isError(LZ4F_createDecompressionContext(&d->lz4, LZ4F_VERSION)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(d);
        return 0;
}

int body_decoder_new_sink(BodyEncoding enc, FrameSink sink, void *userdata, BodyDecoder **ret) {
        BodyDecoder *d;
        int r = body_decoder_new(enc, SINK_CHUNK, &d);

        if (r < 0)
                return r;
        d->sink = sink;
        d->userdata = userdata;
        *ret = d;
        return 0;
}

/* In sink mode, hands what was decoded so far to the sink and empties the scratch area. */
static int flush_sink(BodyDecoder *d) {
        int r = 0;

        if (d->sink && d->len > 0) {
                r = d->sink(d->userdata, d->buf, d->len);
                d->len = 0;
        }
        return r;
}

BodyDecoder *body_decoder_free(BodyDecoder *d) {
        if (!d)
                return NULL;
        if (d->z_init)
                (void) inflateEnd(&d->z);
        ZSTD_freeDStream(d->zstd);
        if (d->lz4)
                (void) LZ4F_freeDecompressionContext(d->lz4);
        free(d->buf);
        free(d);
        return NULL;
}

/* Makes room for at least want more bytes (plus the terminating NUL), within max. */
static int reserve(BodyDecoder *d, size_t want) {
        if (want > d->max - MIN(d->len, d->max))
                return -E2BIG;
        if (d->len + want + 1 <= d->alloc)
                return 0;
        size_t a = MAX(d->alloc * 2, d->len + want + 1);
        a = MIN(a, d->max + 1);
        char *p = realloc(d->buf, a);
        if (!p)
                return -ENOMEM;
        d->buf = p;
        d->alloc = a;
        return 0;
}

int body_decoder_feed(BodyDecoder *d, const void *data, size_t size) {
        int r;

        if (size == 0)
                return 0;
        d->fed = true;

        if (d->enc == BODY_IDENTITY) {
                if (d->sink)
                        return d->sink(d->userdata, data, size);
                r = reserve(d, size);
                if (r < 0)
                        return r;
                memcpy(d->buf + d->len, data, size);
                d->len += size;
                return 0;
        }

        if (d->enc == BODY_ZSTD) {
                ZSTD_inBuffer in = {data, size, 0};
                while (in.pos < in.size) {
                        r = reserve(d, MIN((size_t) 64 * 1024, d->max - d->len));
                        if (r < 0)
                                return r;
                        if (d->alloc - 1 - d->len == 0)
                                return -E2BIG;
                        ZSTD_outBuffer out = {d->buf + d->len, d->alloc - 1 - d->len, 0};
                        size_t z = ZSTD_decompressStream(d->zstd, &out, &in);
                        if (ZSTD_isError(z))
                                return -EBADMSG;
                        d->len += out.pos;
                        d->zstd_end = z == 0;
                        r = flush_sink(d);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        if (d->enc == BODY_LZ4) {
                const char *in = data;
                size_t left = size;
                while (left > 0) {
                        r = reserve(d, MIN((size_t) 64 * 1024, d->max - d->len));
                        if (r < 0)
                                return r;
                        if (d->alloc - 1 - d->len == 0)
                                return -E2BIG;
                        size_t out_size = d->alloc - 1 - d->len, in_size = left;
                        size_t z = LZ4F_decompress(d->lz4, d->buf + d->len, &out_size, in, &in_size, NULL);
                        if (LZ4F_isError(z))
                                return -EBADMSG;
                        d->len += out_size;
                        in += in_size;
                        left -= in_size;
                        d->lz4_end = z == 0;
                        r = flush_sink(d);
                        if (r < 0)
                                return r;
                        if (in_size == 0 && out_size == 0)
                                return -EBADMSG;
                }
                return 0;
        }

        d->z.next_in = (Bytef *) data;
        d->z.avail_in = (uInt) size;
        while (d->z.avail_in > 0 && !d->z_end) {
                r = reserve(d, MIN((size_t) 64 * 1024, d->max - d->len));
                if (r < 0)
                        return r;
                if (d->alloc - 1 - d->len == 0)
                        return -E2BIG;
                d->z.next_out = (Bytef *) d->buf + d->len;
                d->z.avail_out = (uInt) (d->alloc - 1 - d->len);
                int z = inflate(&d->z, Z_NO_FLUSH);
                d->len = (size_t) ((char *) d->z.next_out - d->buf);
                if (z == Z_STREAM_END)
                        d->z_end = true;
                else if (z != Z_OK && z != Z_BUF_ERROR)
                        return -EBADMSG;
                r = flush_sink(d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int body_decoder_finish(BodyDecoder *d, const char **ret, size_t *ret_size) {
        if ((d->enc == BODY_GZIP || d->enc == BODY_DEFLATE) && d->fed && !d->z_end)
                return -EBADMSG;
        if (d->enc == BODY_ZSTD && d->fed && !d->zstd_end)
                return -EBADMSG;
        if (d->enc == BODY_LZ4 && d->fed && !d->lz4_end)
                return -EBADMSG;
        if (d->sink)
                return 0;
        if (!d->buf) {
                *ret = "";
                *ret_size = 0;
                return 0;
        }
        d->buf[d->len] = 0;
        *ret = d->buf;
        *ret_size = d->len;
        return 0;
}

int body_encode(BodyEncoding enc, int level, const void *data, size_t size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;

        if (enc == BODY_LZ4) {
                LZ4F_preferences_t prefs = {.frameInfo.contentSize = size};
                size_t bound = LZ4F_compressFrameBound(size, &prefs);
                out = malloc(bound);
                if (!out)
                        return -ENOMEM;
                size_t n = LZ4F_compressFrame(out, bound, data, size, &prefs);
                if (LZ4F_isError(n))
                        return -EIO;
                *ret_size = n;
        } else if (enc == BODY_ZSTD) {
                size_t bound = ZSTD_compressBound(size);
                out = malloc(MAX(bound, (size_t) 1));
                if (!out)
                        return -ENOMEM;
                size_t n = ZSTD_compress(out, bound, data, size, level);
                if (ZSTD_isError(n))
                        return -EIO;
                *ret_size = n;
        } else if (enc == BODY_GZIP || enc == BODY_DEFLATE) {
                z_stream z = {};
                /* 16+: the gzip wrapper; deflate in HTTP is the zlib format. */
                if (deflateInit2(
                            &z,
                            level,
                            Z_DEFLATED,
                            enc == BODY_GZIP ? 16 + MAX_WBITS : MAX_WBITS,
                            8,
                            Z_DEFAULT_STRATEGY) != Z_OK)
                        return -ENOMEM;
                size_t bound = deflateBound(&z, (uLong) size) + 32;
                out = malloc(bound);
                if (!out) {
                        (void) deflateEnd(&z);
                        return -ENOMEM;
                }
                z.next_in = (Bytef *) data;
                z.avail_in = (uInt) size;
                z.next_out = (Bytef *) out;
                z.avail_out = (uInt) bound;
                int k = deflate(&z, Z_FINISH);
                *ret_size = z.total_out;
                (void) deflateEnd(&z);
                if (k != Z_STREAM_END)
                        return -EIO;
        } else
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}

BodyEncoding body_encoding_from_accept(const char *accept) {
        /* The server's order of preference among what a client accepts (chooseHTTPCompressionMethod: zstd,
         * br, lz4, snappy, gzip, deflate, ...), restricted to the encodings this endpoint writes; any other
         * accepted encoding gets identity, which HTTP always allows. */
        if (isempty(accept))
                return BODY_IDENTITY;
        if (strcasestr(accept, "zstd"))
                return BODY_ZSTD;
        if (strcasestr(accept, "lz4"))
                return BODY_LZ4;
        if (strcasestr(accept, "gzip"))
                return BODY_GZIP;
        if (strcasestr(accept, "deflate"))
                return BODY_DEFLATE;
        return BODY_IDENTITY;
}

/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "compress.h"
#include "macro.h"

/* Request-body compression, checked by decoding with zlib and libzstd directly. */

static char *sample(size_t n) {
        char *s = malloc(n);
        for (size_t i = 0; i < n; i++)
                s[i] = "{\"level\":\"info\",\"msg\":\"tick\",\"count\":"[i % 37] ^ (char) ((i / 4096) & 1);
        return s;
}

static size_t decode(Compression c, const char *in, size_t n, char *out, size_t cap) {
        if (c == COMPRESSION_NONE) {
                cr_assert_leq(n, cap);
                memcpy(out, in, n);
                return n;
        }
        if (c == COMPRESSION_GZIP) {
                z_stream z = {};
                cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
                z.next_in = (Bytef *) in;
                z.avail_in = (uInt) n;
                z.next_out = (Bytef *) out;
                z.avail_out = (uInt) cap;
                cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
                cr_assert_eq(z.avail_in, 0);
                inflateEnd(&z);
                return cap - z.avail_out;
        }
        ZSTD_DCtx *d = ZSTD_createDCtx();
        ZSTD_inBuffer ib = {.src = in, .size = n};
        ZSTD_outBuffer ob = {.dst = out, .size = cap};
        size_t k = ZSTD_decompressStream(d, &ob, &ib);
        cr_assert(!ZSTD_isError(k) && k == 0 && ib.pos == n, "zstd frame incomplete");
        ZSTD_freeDCtx(d);
        return ob.pos;
}

static void roundtrip_whole(Compression type) {
        const size_t n = 300000;
        char *in = sample(n), *out, *back = malloc(n);
        Compressor *c;
        ssize_t k;

        cr_assert_eq(compressor_new(type, 3, &c), 0);
        cr_assert_eq(compressor_type(c), type);
        out = malloc(compressor_bound(c, n));
        /* Twice: the kept context gives the same frame again. */
        for (int round = 0; round < 2; round++) {
                k = compressor_compress(c, in, n, out, compressor_bound(c, n));
                cr_assert_gt(k, 0);
                if (type != COMPRESSION_NONE)
                        cr_assert_lt((size_t) k, n / 4);
                cr_assert_eq(decode(type, out, (size_t) k, back, n), n);
                cr_assert_eq(memcmp(in, back, n), 0);
        }
        cr_assert_eq(compressor_compress(c, in, n, out, 8), -ENOBUFS, "output room is checked");
        compressor_free(c);
        free(in);
        free(out);
        free(back);
}

Test(compress, whole_none) {
        roundtrip_whole(COMPRESSION_NONE);
}
Test(compress, whole_gzip) {
        roundtrip_whole(COMPRESSION_GZIP);
}
Test(compress, whole_zstd) {
        roundtrip_whole(COMPRESSION_ZSTD);
}

/* Fed in pieces of 1 to 5000 bytes, drained into pieces of 1 to 3000 bytes. */
static void roundtrip_stream(Compression type) {
        const size_t n = 500000;
        char *in = sample(n), *out = malloc(2 * n + 1024), *back = malloc(n);
        size_t fed = 0, written = 0, step = 0;
        Compressor *c;
        int k = 0;

        cr_assert_eq(compressor_new(type, 1, &c), 0);
        for (int round = 0; round < 2; round++) {
                fed = written = 0;
                cr_assert_eq(compressor_begin(c), 0);
                while (k != 1) {
                        size_t piece = MIN(n - fed, 1 + (step * 7919) % 5000);
                        const void *ip = in + fed;
                        size_t il = piece;
                        bool end = fed + piece == n;
                        do {
                                void *op = out + written;
                                size_t room = 1 + (step++ * 104729) % 3000, ol = room;
                                k = compressor_stream(c, &ip, &il, &op, &ol, end);
                                cr_assert_geq(k, 0);
                                written += room - ol;
                        } while (il > 0 || (end && k != 1));
                        fed += piece;
                }
                k = 0;
                cr_assert_eq(decode(type, out, written, back, n), n);
                cr_assert_eq(memcmp(in, back, n), 0);
        }
        compressor_free(c);
        free(in);
        free(out);
        free(back);
}

Test(compress, stream_none) {
        roundtrip_stream(COMPRESSION_NONE);
}
Test(compress, stream_gzip) {
        roundtrip_stream(COMPRESSION_GZIP);
}
Test(compress, stream_zstd) {
        roundtrip_stream(COMPRESSION_ZSTD);
}

Test(compress, names) {
        cr_assert_eq(compression_from_string("zstd"), COMPRESSION_ZSTD);
        cr_assert_eq(compression_from_string("gzip"), COMPRESSION_GZIP);
        cr_assert_eq(compression_from_string("none"), COMPRESSION_NONE);
        cr_assert_eq(compression_from_string("lz4"), _COMPRESSION_INVALID);
        cr_assert_str_eq(compression_to_string(COMPRESSION_GZIP), "gzip");
        cr_assert_null(compression_to_string(_COMPRESSION_MAX));
        cr_assert_null(compression_content_encoding(COMPRESSION_NONE));
        cr_assert_str_eq(compression_content_encoding(COMPRESSION_ZSTD), "zstd");
        Compressor *c = NULL;
        cr_assert_eq(compressor_new(_COMPRESSION_MAX, 1, &c), -EINVAL);
}

/* An empty body: no input at all (a NULL pointer), just the end of the frame. */
Test(compress, stream_of_nothing) {
        for (Compression t = 0; t < _COMPRESSION_MAX; t++) {
                Compressor *c;
                char out[256], back[16];
                void *op = out;
                size_t ol = sizeof(out);
                const void *ip = NULL;
                size_t il = 0;
                int k;

                cr_assert_eq(compressor_new(t, 1, &c), 0);
                cr_assert_eq(compressor_begin(c), 0);
                do
                        k = compressor_stream(c, &ip, &il, &op, &ol, true);
                while (k == 0);
                cr_assert_eq(k, 1);
                cr_assert_null(ip);
                cr_assert_eq(decode(t, out, sizeof(out) - ol, back, sizeof(back)), 0);
                compressor_free(c);
        }
}

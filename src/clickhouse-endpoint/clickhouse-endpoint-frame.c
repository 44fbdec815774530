/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <sys/types.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "cleanup.h"
#include "clickhouse-endpoint.h"
#include "macro.h"

/* ClickHouse's own compressed framing, which its HTTP interface speaks with compress=1 (responses) and
 * decompress=1 (request bodies), and its native protocol always. A stream is a sequence of blocks:
 *
 *   checksum   16 bytes  CityHash128 (version 1.0.2) of everything that follows in the block, as two
 *                        little-endian 64-bit halves, low half first
 *   method      1 byte   0x02 none, 0x82 LZ4, 0x90 ZSTD
 *   size_comp   4 bytes  little-endian: the 9 header bytes plus the payload
 *   size_raw    4 bytes  little-endian: the payload once decompressed
 *   payload              an LZ4 block, a zstd frame, or the bytes themselves
 *
 * Written from ClickHouse's description of the format (src/Compression: CompressedReadBufferBase,
 * CompressionInfo.h) and checked against the official clients, which verify the checksums both ways. */

#define FRAME_CHECKSUM_SIZE 16
#define FRAME_HEADER_SIZE 9
/* ClickHouse refuses blocks above 1 GiB (DBMS_MAX_COMPRESSED_SIZE); so do we. */
#define FRAME_MAX_SIZE (1024u * 1024u * 1024u)
/* The block size ClickHouse's writer uses (DBMS_DEFAULT_BUFFER_SIZE). */
#define FRAME_BLOCK_SIZE (1024u * 1024u)

/* --- CityHash128, version 1.0.2 -------------------------------------------------------------------------
 * The framing's checksum is this exact, old version of Google's CityHash (later versions give other
 * values). Written from its published description (city.cc of CityHash 1.0.2, MIT licence). */

static const uint64_t K0 = UINT64_C(0xc3a5c85c97cb3127);
static const uint64_t K1 = UINT64_C(0xb492b66fbe98f273);
static const uint64_t K2 = UINT64_C(0x9ae16a3b2f90404f);
static const uint64_t K3 = UINT64_C(0xc949d7c7509e6557);

typedef struct U128 {
        uint64_t lo, hi;
} U128;

static uint64_t load64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return le64toh(v);
}

static uint32_t load32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return le32toh(v);
}

static uint64_t rotr(uint64_t v, unsigned shift) {
        return shift == 0 ? v : (v >> shift) | (v << (64 - shift));
}

static uint64_t shift_mix(uint64_t v) {
        return v ^ (v >> 47);
}

static uint64_t hash_128_to_64(uint64_t lo, uint64_t hi) {
        const uint64_t mul = UINT64_C(0x9ddfea08eb382d69);
        uint64_t a = (lo ^ hi) * mul;
        a ^= a >> 47;
        uint64_t b = (hi ^ a) * mul;
        b ^= b >> 47;
        return b * mul;
}

static uint64_t hash_len_0_to_16(const uint8_t *s, size_t len) {
        if (len > 8) {
                uint64_t a = load64(s), b = load64(s + len - 8);
                return hash_128_to_64(a, rotr(b + len, (unsigned) len)) ^ b;
        }
        if (len >= 4) {
                uint64_t a = load32(s);
                return hash_128_to_64(len + (a << 3), load32(s + len - 4));
        }
        if (len > 0) {
                uint32_t y = (uint32_t) s[0] + ((uint32_t) s[len >> 1] << 8);
                uint32_t z = (uint32_t) len + ((uint32_t) s[len - 1] << 2);
                return shift_mix(y * K2 ^ z * K3) * K2;
        }
        return K2;
}

/* 16 bytes of state from 32 bytes of input and two seeds. */
static U128 weak_hash_32(uint64_t w, uint64_t x, uint64_t y, uint64_t z, uint64_t a, uint64_t b) {
        a += w;
        b = rotr(b + a + z, 21);
        uint64_t c = a;
        a += x;
        a += y;
        b += rotr(a, 44);
        return (U128){a + z, b + c};
}

static U128 weak_hash_32_at(const uint8_t *s, uint64_t a, uint64_t b) {
        return weak_hash_32(load64(s), load64(s + 8), load64(s + 16), load64(s + 24), a, b);
}

static U128 city_murmur(const uint8_t *s, size_t len, U128 seed) {
        uint64_t a = seed.lo, b = seed.hi, c, d;

        if (len <= 16) {
                a = shift_mix(a * K1) * K1;
                c = b * K1 + hash_len_0_to_16(s, len);
                d = shift_mix(a + (len >= 8 ? load64(s) : c));
        } else {
                ssize_t l = (ssize_t) len - 16;
                c = hash_128_to_64(load64(s + len - 8) + K1, a);
                d = hash_128_to_64(b + len, c + load64(s + len - 16));
                a += d;
                do {
                        a ^= shift_mix(load64(s) * K1) * K1;
                        a *= K1;
                        b ^= a;
                        c ^= shift_mix(load64(s + 8) * K1) * K1;
                        c *= K1;
                        d ^= c;
                        s += 16;
                        l -= 16;
                } while (l > 0);
        }
        a = hash_128_to_64(a, c);
        b = hash_128_to_64(d, b);
        return (U128){a ^ b, hash_128_to_64(b, a)};
}

static U128 city_hash_128_seed(const uint8_t *s, size_t len, U128 seed) {
        if (len < 128)
                return city_murmur(s, len, seed);

        U128 v, w;
        uint64_t x = seed.lo, y = seed.hi, z = len * K1, t;
        v.lo = rotr(y ^ K1, 49) * K1 + load64(s);
        v.hi = rotr(v.lo, 42) * K1 + load64(s + 8);
        w.lo = rotr(y + z, 35) * K1 + x;
        w.hi = rotr(x + load64(s + 88), 53) * K1;

        do {
                /* Two rounds of 64 bytes per iteration, as the original unrolls it. */
                for (int round = 0; round < 2; round++) {
                        x = rotr(x + y + v.lo + load64(s + 16), 37) * K1;
                        y = rotr(y + v.hi + load64(s + 48), 42) * K1;
                        x ^= w.hi;
                        y ^= v.lo;
                        z = rotr(z ^ w.lo, 33);
                        v = weak_hash_32_at(s, v.hi * K1, x + w.lo);
                        w = weak_hash_32_at(s + 32, z + w.hi, y);
                        t = z;
                        z = x;
                        x = t;
                        s += 64;
                }
                len -= 128;
        } while (len >= 128);

        y += rotr(w.lo, 37) * K0 + z;
        x += rotr(v.lo + z, 49) * K0;
        /* Up to four 32-byte chunks from the end of what remains. */
        for (size_t done = 0; done < len;) {
                done += 32;
                y = rotr(y - x, 42) * K0 + v.hi;
                w.lo += load64(s + len - done + 16);
                x = rotr(x, 49) * K0 + w.lo;
                w.lo += v.lo;
                v = weak_hash_32_at(s + len - done, v.lo, v.hi);
        }
        x = hash_128_to_64(x, v.lo);
        y = hash_128_to_64(y, w.lo);
        return (U128){hash_128_to_64(x + v.hi, w.hi) + y, hash_128_to_64(x + w.hi, y + v.hi)};
}

void cityhash128_v1_0_2(const void *data, size_t len, uint64_t ret[2]) {
        const uint8_t *s = data;
        U128 h;

        if (len >= 16)
                h = city_hash_128_seed(s + 16, len - 16, (U128){load64(s) ^ K3, load64(s + 8)});
        else if (len >= 8)
                h = city_hash_128_seed(NULL, 0, (U128){load64(s) ^ (len * K0), load64(s + len - 8) ^ K1});
        else
                h = city_hash_128_seed(s, len, (U128){K0, K1});
        ret[0] = h.lo;
        ret[1] = h.hi;
}

/* --- decoding ------------------------------------------------------------------------------------------ */

struct FrameDecoder {
        bool verify;
        FrameSink sink;
        void *userdata;
        uint8_t *buf; /* the block being received: checksum, header, payload */
        size_t len, alloc;
        size_t want; /* bytes of the whole block once its header is known, else 0 */
        char *out;
        size_t out_alloc;
        ZSTD_DCtx *zstd;
        uint64_t blocks;
};

int frame_decoder_new(bool verify, FrameSink sink, void *userdata, FrameDecoder **ret) {
        FrameDecoder *d = new0(FrameDecoder, 1);

        if (!d)
                return -ENOMEM;
        d->verify = verify;
        d->sink = sink;
        d->userdata = userdata;
        *ret = d;
        return 0;
}

FrameDecoder *frame_decoder_free(FrameDecoder *d) {
        if (!d)
                return NULL;
        free(d->buf);
        free(d->out);
        ZSTD_freeDCtx(d->zstd);
        free(d);
        return NULL;
}

static int grow(uint8_t **buf, size_t *alloc, size_t want) {
        if (want <= *alloc)
                return 0;
        size_t a = MAX(*alloc * 2, want);
        uint8_t *p = realloc(*buf, a);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *alloc = a;
        return 0;
}

static int decode_block(FrameDecoder *d) {
        const uint8_t *h = d->buf + FRAME_CHECKSUM_SIZE;
        uint8_t method = h[0];
        uint32_t size_comp = load32(h + 1), size_raw = load32(h + 5);
        const uint8_t *payload = h + FRAME_HEADER_SIZE;
        size_t payload_size = size_comp - FRAME_HEADER_SIZE;
        int r;

        /* As the server: an unknown method first, then the checksum. */
        if (method != FRAME_METHOD_NONE && method != FRAME_METHOD_LZ4 && method != FRAME_METHOD_ZSTD)
                return -EPROTONOSUPPORT;
        if (d->verify) {
                uint64_t sum[2];
                cityhash128_v1_0_2(h, size_comp, sum);
                if (sum[0] != load64(d->buf) || sum[1] != load64(d->buf + 8))
                        return -EILSEQ;
        }
        if (size_raw > FRAME_MAX_SIZE)
                return -EFBIG;

        switch (method) {
        case FRAME_METHOD_NONE:
                if (payload_size != size_raw)
                        return -EBADMSG;
                return size_raw > 0 ? d->sink(d->userdata, payload, size_raw) : 0;
        case FRAME_METHOD_LZ4:
                r = grow((uint8_t **) &d->out, &d->out_alloc, MAX(size_raw, 1u));
                if (r < 0)
                        return r;
                if (payload_size > INT32_MAX ||
                    LZ4_decompress_safe(
                            (const char *) payload, d->out, (int) payload_size, (int) size_raw) !=
                            (int) size_raw)
                        return -EBADMSG;
                break;
        case FRAME_METHOD_ZSTD:
                r = grow((uint8_t **) &d->out, &d->out_alloc, MAX(size_raw, 1u));
                if (r < 0)
                        return r;
                if (!d->zstd) {
                        d->zstd = ZSTD_createDCtx();
                        if (!d->zstd)
                                return -ENOMEM;
                }
                size_t n = ZSTD_decompressDCtx(d->zstd, d->out, size_raw, payload, payload_size);
                if (ZSTD_isError(n) || n != size_raw)
                        return -EBADMSG;
                break;
        default:
                return -EPROTONOSUPPORT;
        }
        return size_raw > 0 ? d->sink(d->userdata, d->out, size_raw) : 0;
}

int frame_decoder_feed(FrameDecoder *d, const void *data, size_t size) {
        const uint8_t *p = data;
        int r;

        while (size > 0) {
                size_t need = d->want > 0 ? d->want : FRAME_CHECKSUM_SIZE + FRAME_HEADER_SIZE;
                size_t n = MIN(size, need - d->len);

                r = grow(&d->buf, &d->alloc, need);
                if (r < 0)
                        return r;
                memcpy(d->buf + d->len, p, n);
                d->len += n;
                p += n;
                size -= n;
                if (d->len < need)
                        break;

                if (d->want == 0) {
                        uint32_t size_comp = load32(d->buf + FRAME_CHECKSUM_SIZE + 1);
                        if (size_comp < FRAME_HEADER_SIZE)
                                return -EBADMSG;
                        if (size_comp > FRAME_MAX_SIZE)
                                return -EFBIG;
                        d->want = FRAME_CHECKSUM_SIZE + (size_t) size_comp;
                        if (d->len < d->want)
                                continue;
                }
                r = decode_block(d);
                if (r < 0)
                        return r;
                d->blocks++;
                d->len = 0;
                d->want = 0;
        }
        return 0;
}

int frame_decoder_finish(FrameDecoder *d) {
        /* A block cut short is corrupt input, never a shorter body. */
        return d->len > 0 ? -EBADMSG : 0;
}

/* --- encoding ------------------------------------------------------------------------------------------ */

int frame_encode(FrameMethod method, const void *data, size_t size, char **ret, size_t *ret_size) {
        const char *src = data;
        _cleanup_free_ char *out = NULL;
        size_t bound = 0, len = 0;

        if (method != FRAME_METHOD_NONE && method != FRAME_METHOD_LZ4 && method != FRAME_METHOD_ZSTD)
                return -EINVAL;
        /* One block per megabyte, as the server's writer flushes its buffer; nothing at all for no data. */
        for (size_t off = 0; off < size; off += FRAME_BLOCK_SIZE) {
                size_t chunk = MIN((size_t) FRAME_BLOCK_SIZE, size - off);
                bound += FRAME_CHECKSUM_SIZE + FRAME_HEADER_SIZE +
                         (method == FRAME_METHOD_LZ4    ? (size_t) LZ4_compressBound((int) chunk)
                          : method == FRAME_METHOD_ZSTD ? ZSTD_compressBound(chunk)
                                                        : chunk);
        }
        out = malloc(MAX(bound, (size_t) 1));
        if (!out)
                return -ENOMEM;

        for (size_t off = 0; off < size; off += FRAME_BLOCK_SIZE) {
                size_t chunk = MIN((size_t) FRAME_BLOCK_SIZE, size - off);
                uint8_t *block = (uint8_t *) out + len;
                uint8_t *h = block + FRAME_CHECKSUM_SIZE;
                char *payload = (char *) h + FRAME_HEADER_SIZE;
                size_t payload_size;

                switch (method) {
                case FRAME_METHOD_LZ4: {
                        int k = LZ4_compress_default(
                                src + off, payload, (int) chunk, LZ4_compressBound((int) chunk));
                        if (k <= 0)
                                return -EIO;
                        payload_size = (size_t) k;
                        break;
                }
                case FRAME_METHOD_ZSTD:
                        payload_size =
                                ZSTD_compress(payload, ZSTD_compressBound(chunk), src + off, chunk, 1);
                        if (ZSTD_isError(payload_size))
                                return -EIO;
                        break;
                case FRAME_METHOD_NONE:
                        memcpy(payload, src + off, chunk);
                        payload_size = chunk;
                        break;
                default:
                        return -EINVAL;
                }
                uint32_t size_comp = htole32((uint32_t) (payload_size + FRAME_HEADER_SIZE)),
                         size_raw = htole32((uint32_t) chunk);
                h[0] = (uint8_t) method;
                memcpy(h + 1, &size_comp, 4);
                memcpy(h + 5, &size_raw, 4);
                uint64_t sum[2];
                cityhash128_v1_0_2(h, payload_size + FRAME_HEADER_SIZE, sum);
                uint64_t lo = htole64(sum[0]), hi = htole64(sum[1]);
                memcpy(block, &lo, 8);
                memcpy(block + 8, &hi, 8);
                len += FRAME_CHECKSUM_SIZE + FRAME_HEADER_SIZE + payload_size;
        }
        *ret = TAKE_PTR(out);
        *ret_size = len;
        return 0;
}

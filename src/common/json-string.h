/* SPDX-License-Identifier: MIT */
#pragma once

/* The bytes JSON does not allow raw inside a string ('"', '\\' and control characters below 0x20), found
 * eight at a time: shared by the escaper (strbuf_put_json_escaped()) and the shipper's tokenizer, which stop
 * at the same bytes. */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Nonzero if any byte of w is '"', '\\' or below 0x20 (the classic "has zero byte" bit tricks; false
 * positives only above the first hit). */
static inline uint64_t json_word_has_stop(uint64_t w) {
        const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        return (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) & highs;
}

static inline bool json_is_stop(uint8_t c) {
        return c < 0x20 || c == '"' || c == '\\';
}

/* The first byte of [p, end) that is not plain string content, or end. The lowest flag of
 * json_word_has_stop() is exact (borrows only run upwards), so on a little-endian machine it is the offset
 * of the first stop byte itself. */
static inline const char *json_plain_end(const char *p, const char *end) {
        uint64_t w, stop;

        while (end - p >= 8) {
                memcpy(&w, p, 8);
                stop = json_word_has_stop(w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                if (stop)
                        return p + (__builtin_ctzll(stop) >> 3);
#else
                if (stop)
                        break;
#endif
                p += 8;
        }
        while (p < end && !json_is_stop((uint8_t) *p))
                p++;
        return p;
}

/* SPDX-License-Identifier: MIT */
#include <assert.h>

#include "loggen-random.h"

const char *const loggen_strings[LOGGEN_STRINGS_MAX] = {
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
};

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

void loggen_random_seed(LoggenRandom *r, uint64_t seed) {
        for (unsigned i = 0; i < 4; i++)
                r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

uint64_t loggen_random_next(LoggenRandom *r) {
        uint64_t *s = r->s;
        uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

/* Lemire's multiply-shift with rejection of the biased low range. */
uint32_t loggen_random_uniform(LoggenRandom *r, uint32_t max) {
        uint64_t range = (uint64_t) max + 1, m;
        uint32_t low;

        if (range > UINT32_MAX)
                return (uint32_t) (loggen_random_next(r) >> 32);

        m = (loggen_random_next(r) >> 32) * range;
        low = (uint32_t) m;
        if (low < range) {
                uint32_t threshold = (uint32_t) ((UINT64_C(1) << 32) % range);
                while (low < threshold) {
                        m = (loggen_random_next(r) >> 32) * range;
                        low = (uint32_t) m;
                }
        }
        return (uint32_t) (m >> 32);
}

const char *loggen_random_string(LoggenRandom *r, unsigned num_strings) {
        assert(num_strings >= 1 && num_strings <= LOGGEN_STRINGS_MAX);
        return loggen_strings[loggen_random_uniform(r, num_strings - 1)];
}

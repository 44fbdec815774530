/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* xoshiro256** seeded through splitmix64: fast, good statistical quality, and the same sequence for the same
 * seed on every machine, which is what --seed promises. Not for cryptography. */
typedef struct LoggenRandom {
        uint64_t s[4];
} LoggenRandom;

void loggen_random_seed(LoggenRandom *r, uint64_t seed);
uint64_t loggen_random_next(LoggenRandom *r);
/* Uniform in [0, max], without modulo bias. */
uint32_t loggen_random_uniform(LoggenRandom *r, uint32_t max);

/* The seed design's strings; a run uses the first num_strings of them. */
#define LOGGEN_STRINGS_MAX 10
extern const char *const loggen_strings[LOGGEN_STRINGS_MAX];
const char *loggen_random_string(LoggenRandom *r, unsigned num_strings);

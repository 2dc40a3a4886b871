/*
 * rng.h - the seeded pseudo-random generator of tpsd's statistics:
 * xoshiro256** (Blackman & Vigna, 2018), its state filled by splitmix64
 * from one 64-bit seed, so that the same seed gives the same stream on
 * every platform and libc. For resampling (daemon/compare.c) and for the
 * tests' synthetic data; not for anything secret. Calls nothing of ours.
 */
#ifndef TPSD_RNG_H
#define TPSD_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

/* One step of splitmix64 on *x: advances it and returns the next value.
 * Also a good 64-bit mixer (seeds derived from names). Can't fail. */
uint64_t rng_splitmix64(uint64_t *x);
/* Seed r from `seed` (any value, 0 included). Can't fail. */
void rng_seed(struct rng *r, uint64_t seed);
/* The next 64 random bits. Can't fail. */
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n), unbiased (Lemire's multiply-and-reject); 0 when
 * n == 0. Can't fail. */
uint64_t rng_below(struct rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. Can't fail. */
double rng_unit(struct rng *r);
/* Standard normal (mean 0, sd 1), Marsaglia's polar method. Can't fail. */
double rng_normal(struct rng *r);

#endif

/*
 * rng.c - xoshiro256** seeded by splitmix64 (see rng.h). Both are the
 * reference algorithms of prng.di.unimi.it, written out here: a 256-bit
 * state, one rotate-multiply output, period 2^256 - 1; splitmix64 turns
 * any seed (0 too) into a state that is never all zero.
 */
#include "common/rng.h"

#include <math.h>

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
rng_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
rng_seed(struct rng *r, uint64_t seed)
{
    int i;

    for (i = 0; i < 4; i++)
        r->s[i] = rng_splitmix64(&seed);
}

uint64_t
rng_next(struct rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Lemire, "Fast random integer generation in an interval" (2019): the high
 * half of a 64x64 product, rejecting the few low halves that would bias it. */
uint64_t
rng_below(struct rng *r, uint64_t n)
{
    unsigned __int128 m;
    uint64_t lo, floor_;

    if (n == 0)
        return 0;
    m = (unsigned __int128)rng_next(r) * n;
    lo = (uint64_t)m;
    if (lo < n) {
        floor_ = -n % n;
        while (lo < floor_) {
            m = (unsigned __int128)rng_next(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double
rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

double
rng_normal(struct rng *r)
{
    double u, v, s;

    do {
        u = 2.0 * rng_unit(r) - 1.0;
        v = 2.0 * rng_unit(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

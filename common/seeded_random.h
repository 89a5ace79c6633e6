/*
 * seeded_random.h - weights that C and Python generate bit for bit alike.
 *
 * Real-width test weights (hundreds of MB) are never committed: both sides
 * make them from a seed. The generator is splitmix64 (Steele, Lea and Flood,
 * "Fast splittable pseudorandom number generators", 2014) used as a counter:
 * element i of a stream is mix(seed + (i + 1) * 0x9E3779B97F4A7C15), so any
 * element can be made without the ones before it. golden/seeded_random.py is
 * the NumPy twin.
 *
 * The mapping to float is exact in both languages: the top 24 bits k give
 * u = k / 2^24 exactly, 2u - 1 is exact too, and the one multiplication by
 * `scale` rounds once to float32 as IEEE 754 prescribes for both C and NumPy.
 */
#ifndef PG_SEEDED_RANDOM_H
#define PG_SEEDED_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Returns element `index` of the splitmix64 stream `seed`. */
uint64_t splitmix64_at(uint64_t seed, uint64_t index);

/* Fills out[0..n) with floats uniform in [-scale, scale): element i is
 * (2 * (splitmix64_at(seed, i) >> 40) / 2^24 - 1) * scale. */
void seeded_uniform(float *out, size_t n, uint64_t seed, float scale);

#endif

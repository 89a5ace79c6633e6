#include "seeded_random.h"

uint64_t splitmix64_at(uint64_t seed, uint64_t index)
{
    uint64_t z = seed + (index + 1) * UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void seeded_uniform(float *out, size_t n, uint64_t seed, float scale)
{
    for (size_t i = 0; i < n; i++) {
        float u = (float)(splitmix64_at(seed, i) >> 40) * (1.0f / 16777216.0f);
        out[i] = (2.0f * u - 1.0f) * scale;
    }
}

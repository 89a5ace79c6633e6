"""NumPy twin of common/seeded_random.c: the same floats, bit for bit.

Element i of stream `seed` is splitmix64 used as a counter,
mix(seed + (i + 1) * 0x9E3779B97F4A7C15), and its top 24 bits k become
(2 * k / 2**24 - 1) * scale in float32. Every step is exact except the last
multiplication, which rounds once in both languages.
"""
import numpy as np

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64_at(seed, index):
    """Return the splitmix64 outputs at the given indices (uint64 array)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (index.astype(np.uint64) + np.uint64(1)) * _GOLDEN_GAMMA
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def seeded_uniform(shape, seed, scale, chunk=1 << 22):
    """Return a float32 array of `shape`, uniform in [-scale, scale)."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float32)
    scale32 = np.float32(scale)
    for start in range(0, n, chunk):
        index = np.arange(start, min(n, start + chunk), dtype=np.uint64)
        k = (splitmix64_at(seed, index) >> np.uint64(40)).astype(np.float32)
        u = k * np.float32(1.0 / 16777216.0)
        out[start:start + len(index)] = (np.float32(2.0) * u - np.float32(1.0)) * scale32
    return out.reshape(shape)

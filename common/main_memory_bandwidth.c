/*
 * memory-bandwidth: measures how fast this machine reads memory.
 *
 *   build/memory-bandwidth [MiB]     default 1024 MiB
 *
 * Sums a float32 array much larger than the caches with all OpenMP threads
 * and prints the best of 5 passes in GB/s (10^9 bytes per second). Decoding
 * one token reads every text weight once, so this is the ceiling that
 * `make bench` compares the decode speed with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"

static double seconds_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 1024;
    if (mib < 64 || mib > 65536) {
        fprintf(stderr, "memory-bandwidth: invalid size '%s': expected 64 to 65536 MiB\n", argv[1]);
        return 2;
    }
    size_t n = (size_t)mib * 1024 * 1024 / sizeof(float);
    float *data = pg_xcalloc(n, sizeof(float), "the test array");
    /* Touch every page first, so the passes read memory, not fresh zero pages. */
    for (size_t i = 0; i < n; i++)
        data[i] = (float)(i & 7);

    double best = 0.0, total = 0.0;
    for (int pass = 0; pass < 5; pass++) {
        double start = seconds_now();
        float sum = 0.0f;
        #pragma omp parallel for simd reduction(+ : sum)
        for (size_t i = 0; i < n; i++)
            sum += data[i];
        double rate = (double)(n * sizeof(float)) / (seconds_now() - start) / 1e9;
        if (rate > best)
            best = rate;
        total += sum;
    }
    printf("%.2f GB/s read (best of 5 passes over %ld MiB; checksum %g)\n", best, mib, total);
    free(data);
    return 0;
}

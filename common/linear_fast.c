/*
 * linear_fast.c - cache-blocked, threaded, vectorized Linear.
 *
 * Four techniques, each marked where it is used:
 *   1. Threads: the output features are split into blocks, one block per
 *      OpenMP task (#pragma omp parallel for).
 *   2. Cache blocking: a block of weight rows is used for every token before
 *      the next block is read, so each weight comes from memory once per
 *      call, not once per token; within a block, a chunk of 256 inputs x 16
 *      features is packed (and widened from bfloat16) into a 16 KB buffer
 *      that stays in the L1 cache while all tokens use it.
 *   3. Register tiling: a micro-tile of 6 tokens x 16 output features is
 *      accumulated in registers (12 vectors of 8 floats with AVX2), so each
 *      weight value loaded is used 6 times and each input value 16 times.
 *   4. SIMD: the 16 features of a tile are one #pragma omp simd loop, and
 *      the one-token case is an omp simd reduction over the inputs, 8 rows
 *      at a time.
 * The Makefile compiles this file with -O3 so that the compiler unrolls the
 * micro-tile loops and keeps the accumulators in registers.
 */
#include "linear_fast.h"

#include <stddef.h>
#include <string.h>

/* Inputs per packed chunk (technique 2). */
#define CHUNK 256
/* Output features and tokens per micro-tile (technique 3). */
#define TILE_FEATURES 16
#define TILE_TOKENS 6
/* Output features per cache block: 128 rows of 2048 bfloat16 inputs are 512 KB. */
#define BLOCK_FEATURES 128
/* Products smaller than this many multiply-adds run on one thread: starting
 * the other threads costs more than they would save. */
#define PARALLEL_MIN_WORK (1L << 22)

/* Returns the float32 value of a bfloat16: its 16 bits on top, zeros below. */
static inline float bf16_to_float(uint16_t bits)
{
    uint32_t widened = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &widened, sizeof value);
    return value;
}

/* One token (decode): the product is a matrix-vector product, limited by
 * how fast the weights stream from memory, not by arithmetic. Each thread
 * takes 8 rows at a time and reads them front to back in one pass, with the
 * bfloat16 widening inside the vector loop (technique 4). Eight rows read
 * 18 GB/s on one core of the development machine, four rows 15 GB/s. */
#define VECTOR_ROWS 8

/* Returns weight[o][i] as float32, for the rows left over after the tiles. */
static float weight_value(const void *weight, int bf16, size_t index)
{
    return bf16 ? bf16_to_float(((const uint16_t *)weight)[index]) : ((const float *)weight)[index];
}

/* Dot products of x with 8 bfloat16 rows starting at w. */
static void dot8_bf16(float *sums, const float *x, const uint16_t *w, int n)
{
    const uint16_t *w0 = w, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
    const uint16_t *w4 = w3 + n, *w5 = w4 + n, *w6 = w5 + n, *w7 = w6 + n;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    #pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
    for (int i = 0; i < n; i++) {
        s0 += x[i] * bf16_to_float(w0[i]);
        s1 += x[i] * bf16_to_float(w1[i]);
        s2 += x[i] * bf16_to_float(w2[i]);
        s3 += x[i] * bf16_to_float(w3[i]);
        s4 += x[i] * bf16_to_float(w4[i]);
        s5 += x[i] * bf16_to_float(w5[i]);
        s6 += x[i] * bf16_to_float(w6[i]);
        s7 += x[i] * bf16_to_float(w7[i]);
    }
    sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3, sums[4] = s4, sums[5] = s5, sums[6] = s6, sums[7] = s7;
}

/* Dot products of x with 8 float32 rows starting at w. */
static void dot8_f32(float *sums, const float *x, const float *w, int n)
{
    const float *w0 = w, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
    const float *w4 = w3 + n, *w5 = w4 + n, *w6 = w5 + n, *w7 = w6 + n;
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    #pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
    for (int i = 0; i < n; i++) {
        s0 += x[i] * w0[i];
        s1 += x[i] * w1[i];
        s2 += x[i] * w2[i];
        s3 += x[i] * w3[i];
        s4 += x[i] * w4[i];
        s5 += x[i] * w5[i];
        s6 += x[i] * w6[i];
        s7 += x[i] * w7[i];
    }
    sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3, sums[4] = s4, sums[5] = s5, sums[6] = s6, sums[7] = s7;
}

static void vector_product(float *out, const float *x, const void *weight, int bf16, const float *bias,
                           int in_features, int out_features)
{
    int num_tiles = (out_features + VECTOR_ROWS - 1) / VECTOR_ROWS;
    int parallel = (long)in_features * out_features >= PARALLEL_MIN_WORK;
    #pragma omp parallel for schedule(static) if (parallel)
    for (int tile = 0; tile < num_tiles; tile++) {
        int o = tile * VECTOR_ROWS;
        int rows = out_features - o < VECTOR_ROWS ? out_features - o : VECTOR_ROWS;
        float sums[VECTOR_ROWS];
        size_t first = (size_t)o * in_features;
        if (rows == VECTOR_ROWS && bf16) {
            dot8_bf16(sums, x, (const uint16_t *)weight + first, in_features);
        } else if (rows == VECTOR_ROWS) {
            dot8_f32(sums, x, (const float *)weight + first, in_features);
        } else {
            /* The last out_features % 8 rows, one at a time. */
            for (int r = 0; r < rows; r++) {
                float sum = 0.0f;
                #pragma omp simd reduction(+ : sum)
                for (int i = 0; i < in_features; i++)
                    sum += x[i] * weight_value(weight, bf16, first + (size_t)r * in_features + i);
                sums[r] = sum;
            }
        }
        for (int r = 0; r < rows; r++)
            out[o + r] = bias != NULL ? sums[r] + bias[o + r] : sums[r];
    }
}

/* Packs weight rows [o, o + rows) x inputs [i0, i0 + n) transposed into
 * packed[n][TILE_FEATURES] as float32, zero-filling missing rows, so that the
 * micro-tile reads the 16 features of one input contiguously. */
static void pack_chunk(float *packed, const void *weight, int bf16, int in_features, int o, int rows, int i0, int n)
{
    for (int r = 0; r < TILE_FEATURES; r++) {
        if (r >= rows) {
            for (int i = 0; i < n; i++)
                packed[i * TILE_FEATURES + r] = 0.0f;
        } else if (bf16) {
            const uint16_t *src = (const uint16_t *)weight + (size_t)(o + r) * in_features + i0;
            for (int i = 0; i < n; i++)
                packed[i * TILE_FEATURES + r] = bf16_to_float(src[i]);
        } else {
            const float *src = (const float *)weight + (size_t)(o + r) * in_features + i0;
            for (int i = 0; i < n; i++)
                packed[i * TILE_FEATURES + r] = src[i];
        }
    }
}

/* Adds x[t .. t + tokens) . packed chunk into out[t .. t + tokens][o .. o + rows)
 * (technique 3): the 6 x 16 accumulators stay in registers for the whole
 * chunk, and each step broadcasts one input of each token against 16 weights. */
static void micro_tile(float *out, int out_features, const float *x, int in_features, int t, int tokens, int i0,
                       int n, const float *packed, int o, int rows)
{
    float acc[TILE_TOKENS][TILE_FEATURES];
    memset(acc, 0, sizeof acc);
    for (int i = 0; i < n; i++) {
        const float *w = packed + i * TILE_FEATURES;
        for (int r = 0; r < TILE_TOKENS; r++) {
            float xr = r < tokens ? x[(size_t)(t + r) * in_features + i0 + i] : 0.0f;
            #pragma omp simd
            for (int j = 0; j < TILE_FEATURES; j++)
                acc[r][j] += xr * w[j];
        }
    }
    for (int r = 0; r < tokens; r++)
        for (int j = 0; j < rows; j++)
            out[(size_t)(t + r) * out_features + o + j] += acc[r][j];
}

/* One cache block of output features [o_begin, o_end) for every token
 * (technique 2): each packed chunk is used by all T tokens before the next. */
static void block_product(float *out, const float *x, const void *weight, int bf16, const float *bias, int T,
                          int in_features, int out_features, int o_begin, int o_end)
{
    float packed[CHUNK * TILE_FEATURES];

    /* Start from the bias (or zero); the chunks add their partial sums. */
    for (int t = 0; t < T; t++)
        for (int o = o_begin; o < o_end; o++)
            out[(size_t)t * out_features + o] = bias != NULL ? bias[o] : 0.0f;

    for (int i0 = 0; i0 < in_features; i0 += CHUNK) {
        int n = in_features - i0 < CHUNK ? in_features - i0 : CHUNK;
        for (int o = o_begin; o < o_end; o += TILE_FEATURES) {
            int rows = o_end - o < TILE_FEATURES ? o_end - o : TILE_FEATURES;
            pack_chunk(packed, weight, bf16, in_features, o, rows, i0, n);
            for (int t = 0; t < T; t += TILE_TOKENS) {
                int tokens = T - t < TILE_TOKENS ? T - t : TILE_TOKENS;
                micro_tile(out, out_features, x, in_features, t, tokens, i0, n, packed, o, rows);
            }
        }
    }
}

/* Splits the output features into cache blocks and runs them on all
 * threads (technique 1). Blocks are independent: each writes its own
 * columns of out. */
static void blocked_linear(float *out, const float *x, const void *weight, int bf16, const float *bias, int T,
                           int in_features, int out_features)
{
    if (T == 1) {
        vector_product(out, x, weight, bf16, bias, in_features, out_features);
        return;
    }
    int num_blocks = (out_features + BLOCK_FEATURES - 1) / BLOCK_FEATURES;
    int parallel = (long)T * in_features * out_features >= PARALLEL_MIN_WORK;
    #pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int b = 0; b < num_blocks; b++) {
        int o_begin = b * BLOCK_FEATURES;
        int o_end = o_begin + BLOCK_FEATURES < out_features ? o_begin + BLOCK_FEATURES : out_features;
        block_product(out, x, weight, bf16, bias, T, in_features, out_features, o_begin, o_end);
    }
}

void linear_fast(float *out, const float *x, const float *weight, const float *bias,
                 int T, int in_features, int out_features)
{
    blocked_linear(out, x, weight, 0, bias, T, in_features, out_features);
}

void linear_fast_bf16(float *out, const float *x, const uint16_t *weight, const float *bias,
                      int T, int in_features, int out_features)
{
    blocked_linear(out, x, weight, 1, bias, T, in_features, out_features);
}

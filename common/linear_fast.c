/*
 * linear_fast.c - cache-blocked, threaded, vectorized Linear.
 *
 * Four techniques, each marked where it is used:
 *   1. Threads: the output features are split into blocks, one block per
 *      OpenMP task (#pragma omp parallel for).
 *   2. Cache blocking: a block of weight rows small enough for the core's L2
 *      cache is used for every token before the next block is read, so each
 *      weight is read from memory once per call, not once per token.
 *   3. Register tiling: 4 tokens x 4 output features are computed together,
 *      so each loaded x value is used 4 times and each weight value 4 times.
 *   4. SIMD reductions: the dot products over in_features run as
 *      #pragma omp simd reduction loops, which lets the compiler use vector
 *      registers and reorder the additions (only in these loops).
 * bfloat16 weights are widened to float32 one chunk at a time into a small
 * buffer on the stack (a bfloat16 is the top 16 bits of a float32).
 */
#include "linear_fast.h"

#include <stddef.h>
#include <string.h>

/* Elements of in_features handled per chunk (technique 2, along the
 * reduction): 4 weight rows of 256 floats fit in 4 KB of stack. */
#define CHUNK 256
/* Tokens and output features per register tile (technique 3). */
#define TILE 4

/* A chunk of 4 weight rows as float32. The union lets the bfloat16 path
 * write the bits of each float as integers without breaking aliasing rules. */
typedef union {
    float f[TILE * CHUNK];
    uint32_t u[TILE * CHUNK];
} chunk_buffer;

/* Products smaller than this many multiply-adds run on one thread: starting
 * the other threads costs more than they would save. */
#define PARALLEL_MIN_WORK (1L << 18)

/* Returns how many weight rows form one cache block: about 512 KB of them. */
static int block_rows(int in_features, int bytes_per_weight)
{
    int rows = (512 * 1024) / (in_features * bytes_per_weight);
    rows = rows / TILE * TILE;
    return rows < TILE ? TILE : rows;
}

/* Copies weight rows [o, o + rows) x [i0, i0 + n) into dst as float32,
 * row-major with stride CHUNK. */
static void load_chunk_f32(chunk_buffer *dst, const float *weight, int in_features, int o, int rows, int i0,
                           int n)
{
    for (int r = 0; r < rows; r++)
        memcpy(dst->f + r * CHUNK, weight + (size_t)(o + r) * in_features + i0, sizeof(float) * (size_t)n);
}

static void load_chunk_bf16(chunk_buffer *dst, const uint16_t *weight, int in_features, int o, int rows, int i0,
                            int n)
{
    for (int r = 0; r < rows; r++) {
        const uint16_t *src = weight + (size_t)(o + r) * in_features + i0;
        uint32_t *bits = dst->u + r * CHUNK;
        #pragma omp simd
        for (int i = 0; i < n; i++)
            bits[i] = (uint32_t)src[i] << 16;
    }
}

/* One cache block of output features [o_begin, o_end) for every token. The
 * weight chunk is loaded (and widened) once and used for all T tokens. */
static void block_product(float *out, const float *x, const void *weight, int bf16, const float *bias, int T,
                          int in_features, int out_features, int o_begin, int o_end)
{
    chunk_buffer buffer;
    const float *w = buffer.f;

    /* Start from the bias, then add one chunk of in_features at a time. */
    for (int t = 0; t < T; t++)
        for (int o = o_begin; o < o_end; o++)
            out[(size_t)t * out_features + o] = 0.0f;

    for (int i0 = 0; i0 < in_features; i0 += CHUNK) {
        int n = in_features - i0 < CHUNK ? in_features - i0 : CHUNK;
        for (int o = o_begin; o < o_end; o += TILE) {
            int rows = o_end - o < TILE ? o_end - o : TILE;
            if (bf16)
                load_chunk_bf16(&buffer, weight, in_features, o, rows, i0, n);
            else
                load_chunk_f32(&buffer, weight, in_features, o, rows, i0, n);
            for (int r = rows; r < TILE; r++)
                memset(buffer.f + r * CHUNK, 0, sizeof(float) * CHUNK);
            const float *w0 = w, *w1 = w + CHUNK, *w2 = w + 2 * CHUNK, *w3 = w + 3 * CHUNK;

            /* Register tiles of 4 tokens x 4 features (technique 3) with a
             * vectorized reduction over the chunk (technique 4). */
            int t = 0;
            for (; t + TILE <= T; t += TILE) {
                const float *x0 = x + (size_t)t * in_features + i0, *x1 = x0 + in_features;
                const float *x2 = x1 + in_features, *x3 = x2 + in_features;
                float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
                float s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
                #pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
                for (int i = 0; i < n; i++) {
                    s00 += x0[i] * w0[i]; s01 += x0[i] * w1[i]; s02 += x0[i] * w2[i]; s03 += x0[i] * w3[i];
                    s10 += x1[i] * w0[i]; s11 += x1[i] * w1[i]; s12 += x1[i] * w2[i]; s13 += x1[i] * w3[i];
                    s20 += x2[i] * w0[i]; s21 += x2[i] * w1[i]; s22 += x2[i] * w2[i]; s23 += x2[i] * w3[i];
                    s30 += x3[i] * w0[i]; s31 += x3[i] * w1[i]; s32 += x3[i] * w2[i]; s33 += x3[i] * w3[i];
                }
                float sums[TILE][TILE] = {{s00, s01, s02, s03}, {s10, s11, s12, s13},
                                          {s20, s21, s22, s23}, {s30, s31, s32, s33}};
                for (int a = 0; a < TILE; a++)
                    for (int b = 0; b < rows; b++)
                        out[(size_t)(t + a) * out_features + o + b] += sums[a][b];
            }

            /* The last T % 4 tokens, one at a time against the 4 rows. */
            for (; t < T; t++) {
                const float *x0 = x + (size_t)t * in_features + i0;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                #pragma omp simd reduction(+ : s0, s1, s2, s3)
                for (int i = 0; i < n; i++) {
                    s0 += x0[i] * w0[i]; s1 += x0[i] * w1[i]; s2 += x0[i] * w2[i]; s3 += x0[i] * w3[i];
                }
                float sums[TILE] = {s0, s1, s2, s3};
                for (int b = 0; b < rows; b++)
                    out[(size_t)t * out_features + o + b] += sums[b];
            }
        }
    }

    if (bias != NULL)
        for (int t = 0; t < T; t++)
            for (int o = o_begin; o < o_end; o++)
                out[(size_t)t * out_features + o] += bias[o];
}

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
 * takes 4 rows at a time and reads them front to back in one pass, with the
 * bfloat16 widening inside the vector loop (technique 4). */
static void vector_product(float *out, const float *x, const void *weight, int bf16, const float *bias,
                           int in_features, int out_features)
{
    int num_quads = (out_features + TILE - 1) / TILE;
    int parallel = (long)in_features * out_features >= PARALLEL_MIN_WORK;
    #pragma omp parallel for schedule(static) if (parallel)
    for (int q = 0; q < num_quads; q++) {
        int o = q * TILE;
        int rows = out_features - o < TILE ? out_features - o : TILE;
        float sums[TILE] = {0.0f, 0.0f, 0.0f, 0.0f};
        if (rows == TILE && bf16) {
            const uint16_t *w0 = (const uint16_t *)weight + (size_t)o * in_features;
            const uint16_t *w1 = w0 + in_features, *w2 = w1 + in_features, *w3 = w2 + in_features;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            #pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int i = 0; i < in_features; i++) {
                s0 += x[i] * bf16_to_float(w0[i]);
                s1 += x[i] * bf16_to_float(w1[i]);
                s2 += x[i] * bf16_to_float(w2[i]);
                s3 += x[i] * bf16_to_float(w3[i]);
            }
            sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3;
        } else if (rows == TILE) {
            const float *w0 = (const float *)weight + (size_t)o * in_features;
            const float *w1 = w0 + in_features, *w2 = w1 + in_features, *w3 = w2 + in_features;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            #pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int i = 0; i < in_features; i++) {
                s0 += x[i] * w0[i];
                s1 += x[i] * w1[i];
                s2 += x[i] * w2[i];
                s3 += x[i] * w3[i];
            }
            sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3;
        } else {
            /* The last out_features % 4 rows, one at a time. */
            for (int r = 0; r < rows; r++) {
                float sum = 0.0f;
                #pragma omp simd reduction(+ : sum)
                for (int i = 0; i < in_features; i++) {
                    size_t index = (size_t)(o + r) * in_features + i;
                    float w = bf16 ? bf16_to_float(((const uint16_t *)weight)[index]) : ((const float *)weight)[index];
                    sum += x[i] * w;
                }
                sums[r] = sum;
            }
        }
        for (int r = 0; r < rows; r++)
            out[o + r] = bias != NULL ? sums[r] + bias[o + r] : sums[r];
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
    int rows = block_rows(in_features, bf16 ? 2 : 4);
    int num_blocks = (out_features + rows - 1) / rows;
    int parallel = (long)T * in_features * out_features >= PARALLEL_MIN_WORK;
    #pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int b = 0; b < num_blocks; b++) {
        int o_begin = b * rows;
        int o_end = o_begin + rows < out_features ? o_begin + rows : out_features;
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

/*
 * The fast Linear (common/linear_fast.c) against the naive linear()
 * (common/linear.c), the reference every chapter was tested with.
 *
 * The two sum the same products in different orders, so they differ by
 * rounding only. The worst-case bound for a float32 sum of n terms,
 * n u sum|x_i w_i| (u = 2^-24), is far too loose to catch a dropped term, so
 * the test uses the probabilistic one: rounding errors of a sum grow like
 * sqrt(n) u sqrt(sum (x_i w_i)^2), here with a factor 16 of margin, taken at
 * the largest such root of the case. Dropping a single product (about 0.25 on
 * these uniform [-1, 1] inputs) misses it by a factor of 100 or more.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "linear.h"
#include "linear_fast.h"
#include "seeded_random.h"
#include "testing.h"

/* Returns 16 sqrt(n) u max_{t,o} sqrt(sum_i (x[t][i] w[o][i])^2). */
static double rounding_bound(const float *x, const float *w, int T, int n, int O)
{
    double largest = 0.0;
    for (int t = 0; t < T; t++) {
        for (int o = 0; o < O; o++) {
            double sum_of_squares = 0.0;
            for (int i = 0; i < n; i++) {
                double product = (double)x[(size_t)t * n + i] * w[(size_t)o * n + i];
                sum_of_squares += product * product;
            }
            if (sum_of_squares > largest)
                largest = sum_of_squares;
        }
    }
    return 16.0 * sqrt((double)n) * ldexp(1.0, -24) * sqrt(largest);
}

/* Runs both on seeded data of the given shape, with and without bias. */
static void check_shape(int T, int in_features, int out_features, int use_bf16)
{
    size_t nx = (size_t)T * in_features, nw = (size_t)out_features * in_features;
    float *x = pg_xcalloc(nx, sizeof(float), "x");
    float *w = pg_xcalloc(nw, sizeof(float), "weight");
    float *bias = pg_xcalloc((size_t)out_features, sizeof(float), "bias");
    uint16_t *w_bf16 = pg_xcalloc(nw, sizeof(uint16_t), "bf16 weight");
    float *want = pg_xcalloc((size_t)T * out_features, sizeof(float), "naive output");
    float *got = pg_xcalloc((size_t)T * out_features, sizeof(float), "fast output");
    seeded_uniform(x, nx, 1, 1.0f);
    seeded_uniform(w, nw, 2, 1.0f);
    seeded_uniform(bias, (size_t)out_features, 3, 1.0f);

    /* For bfloat16, the naive reference gets the same rounded weights as floats. */
    if (use_bf16) {
        for (size_t i = 0; i < nw; i++) {
            uint32_t bits;
            memcpy(&bits, &w[i], sizeof bits);
            w_bf16[i] = (uint16_t)(bits >> 16);
            bits = (uint32_t)w_bf16[i] << 16;
            memcpy(&w[i], &bits, sizeof bits);
        }
    }
    double atol = rounding_bound(x, w, T, in_features, out_features);

    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        const float *b = with_bias ? bias : NULL;
        linear_naive(want, x, weight_f32(w), b, T, in_features, out_features);
        memset(got, 0xff, sizeof(float) * (size_t)T * out_features); /* NaN: every element must be written */
        if (use_bf16)
            linear_fast_bf16(got, x, w_bf16, b, T, in_features, out_features);
        else
            linear_fast(got, x, w, b, T, in_features, out_features);
        char label[96];
        snprintf(label, sizeof label, "%s T %d in %d out %d%s", use_bf16 ? "bf16" : "f32", T, in_features,
                 out_features, with_bias ? " bias" : "");
        ck_assert_tensor(label, got, want, (size_t)T * out_features, atol, 0.0);
    }
    free(x);
    free(w);
    free(bias);
    free(w_bf16);
    free(want);
    free(got);
}

START_TEST(single_token_rows)
{
    check_shape(1, 300, 37, 0);
    check_shape(1, 2048, 256, 0);
}
END_TEST

START_TEST(full_tiles)
{
    check_shape(8, 256, 16, 0);
}
END_TEST

START_TEST(remainders_everywhere)
{
    /* T % 4, out % 4 and in % 256 all non-zero, and more rows than one cache block. */
    check_shape(7, 1000, 130, 0);
    check_shape(13, 2049, 5, 0);
    check_shape(3, 64, 1300, 0);
}
END_TEST

START_TEST(bfloat16_weights)
{
    check_shape(1, 1152, 70, 1);
    check_shape(9, 513, 33, 1);
}
END_TEST

Suite *linear_fast_suite(void)
{
    Suite *s = suite_create("linear_fast");
    TCase *against_naive = tcase_create("against_naive");
    tcase_set_timeout(against_naive, 20);
    tcase_add_test(against_naive, single_token_rows);
    tcase_add_test(against_naive, full_tiles);
    tcase_add_test(against_naive, remainders_everywhere);
    tcase_add_test(against_naive, bfloat16_weights);
    suite_add_tcase(s, against_naive);
    return s;
}

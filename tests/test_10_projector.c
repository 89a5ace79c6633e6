/*
 * Chapter 10, PaliGemmaMultiModalProjector, against golden/10_projector
 * (gen_10_projector.py).
 *
 * Tolerance: one Linear, each output a dot product of E terms plus a bias,
 * summed left to right here and in blocks by PyTorch's sgemm. With terms of
 * order 0.1 the rounding differences stay below 1e-6 for E = 64 and a few
 * 1e-6 for E = 1152, so atol 1e-5 and rtol 1e-5 (outputs are of order 1).
 */
#include <check.h>
#include <stdlib.h>

#include "10_projector/projector.h"
#include "io.h"
#include "seeded_random.h"
#include "testing.h"

#define CHAPTER "10_projector"
#define ATOL 1e-5
#define RTOL 1e-5

START_TEST(small_widths)
{
    const int P = 16, E = 64, D = 48;
    npy_array vision_output, weight, bias, want;
    golden_load_f32(&vision_output, CHAPTER, "small_vision_output", 2, P, E);
    golden_load_f32(&weight, CHAPTER, "small_weight", 2, D, E);
    golden_load_f32(&bias, CHAPTER, "small_bias", 1, D);
    golden_load_f32(&want, CHAPTER, "small_image_features", 2, P, D);

    float *got = pg_xcalloc((size_t)P * D, sizeof(float), "image features");
    paligemma_multi_modal_projector(got, vision_output.data, weight_f32(weight.data), bias.data, P, E, D);
    ck_assert_tensor("small projector", got, want.data, want.count, ATOL, RTOL);

    free(got);
    npy_free(&vision_output);
    npy_free(&weight);
    npy_free(&bias);
    npy_free(&want);
}
END_TEST

/* 1152 -> 2048 on 4 rows, the weights made by seeded_uniform with the seeds
 * and scales of golden/gen_10_projector.py. */
START_TEST(paligemma_widths)
{
    const int P = 4, E = 1152, D = 2048;
    float *weight = pg_xcalloc((size_t)D * E, sizeof(float), "projector weight");
    float *bias = pg_xcalloc((size_t)D, sizeof(float), "projector bias");
    seeded_uniform(weight, (size_t)D * E, 10001, 0.05f);
    seeded_uniform(bias, (size_t)D, 10002, 0.02f);

    npy_array vision_output, want;
    golden_load_f32(&vision_output, CHAPTER, "paligemma_width_vision_output", 2, P, E);
    golden_load_f32(&want, CHAPTER, "paligemma_width_image_features", 2, P, D);

    float *got = pg_xcalloc((size_t)P * D, sizeof(float), "image features");
    paligemma_multi_modal_projector(got, vision_output.data, weight_f32(weight), bias, P, E, D);
    ck_assert_tensor("paligemma-width projector", got, want.data, want.count, ATOL, RTOL);

    free(got);
    free(weight);
    free(bias);
    npy_free(&vision_output);
    npy_free(&want);
}
END_TEST

/* A zero vision row must come out as the bias itself: the projector adds the
 * bias and applies no activation and no scale. */
START_TEST(zero_input_gives_bias)
{
    const int E = 3, D = 2;
    const float vision_output[3] = {0.0f, 0.0f, 0.0f};
    const float weight[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    const float bias[2] = {0.25f, -1.5f};
    float got[2];
    paligemma_multi_modal_projector(got, vision_output, weight_f32(weight), bias, 1, E, D);
    ck_assert_tensor("zero input", got, bias, 2, 0.0, 0.0);
}
END_TEST

Suite *projector_suite(void)
{
    Suite *s = suite_create("projector");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, small_widths);
    tcase_add_test(golden, paligemma_widths);
    tcase_add_test(golden, zero_input_gives_bias);
    suite_add_tcase(s, golden);
    return s;
}

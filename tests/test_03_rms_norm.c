/*
 * Chapter 3, GemmaRMSNorm, against golden/03_rms_norm (gen_03_rms_norm.py).
 *
 * Tolerance: rtol 1e-6 (about 8 float32 ulp) plus atol 1e-7 for outputs near
 * zero. Each output is x * r * (1 + w) with three roundings. The inverse RMS r
 * may also differ from PyTorch's by an ulp, because PyTorch sums the squares
 * in float32 in another order. A correct implementation lands within 2 to 3 ulp.
 */
#include <check.h>
#include <stdlib.h>

#include "03_rms_norm/rms_norm.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "03_rms_norm"
#define EPS 1e-6f
#define ATOL 1e-7
#define RTOL 1e-6

/* Runs gemma_rms_norm on <name>_x and <name>_weight, of shape [B, T, D]
 * (B = 0: [T, D]); compares with <name>_out over all B * T rows. */
static float *run_case(const char *name, int B, int T, int D, npy_array *want)
{
    char file[64];
    npy_array x, weight;
    snprintf(file, sizeof file, "%s_x", name);
    if (B > 0)
        golden_load_f32(&x, CHAPTER, file, 3, B, T, D);
    else
        golden_load_f32(&x, CHAPTER, file, 2, T, D);
    snprintf(file, sizeof file, "%s_weight", name);
    golden_load_f32(&weight, CHAPTER, file, 1, D);
    snprintf(file, sizeof file, "%s_out", name);
    if (B > 0)
        golden_load_f32(want, CHAPTER, file, 3, B, T, D);
    else
        golden_load_f32(want, CHAPTER, file, 2, T, D);
    if (B > 0)
        T *= B;

    float *out = pg_xcalloc((size_t)T * D, sizeof(float), "rms_norm output");
    gemma_rms_norm(out, x.data, weight.data, T, D, EPS);
    ck_assert_tensor(name, out, want->data, want->count, ATOL, RTOL);
    npy_free(&x);
    npy_free(&weight);
    return out;
}

START_TEST(random_weights)
{
    npy_array want;
    /* The [2, 7, 64] PyTorch input is 14 rows of 64 to the C function. */
    free(run_case("random", 2, 7, 64, &want));
    npy_free(&want);
}
END_TEST

START_TEST(zero_weights_give_normalized_input)
{
    npy_array want;
    free(run_case("zero_weight", 2, 7, 64, &want));
    npy_free(&want);
}
END_TEST

/* x = [1, 2, 3, 4], w = [0.5, 0, -1, 1]: rms = sqrt(7.5), so the outputs are
 * x / sqrt(7.5) * (1 + w) = [0.547723, 0.730297, 0, 2.921187]. A Llama-style
 * norm (scale by w) would give [0.182574, 0, -1.095445, 1.460593]. */
START_TEST(literal_example)
{
    npy_array want;
    float *out = run_case("literal", 0, 1, 4, &want);
    const float literal[4] = {0.547723f, 0.730297f, 0.0f, 2.921187f};
    /* The literal values have 7 significant digits, so compare to 1e-6. */
    ck_assert_tensor("literal values", out, literal, 4, 1e-6, 0.0);
    free(out);
    npy_free(&want);
}
END_TEST

START_TEST(gemma_2b_width)
{
    npy_array want;
    free(run_case("width_2048", 0, 3, 2048, &want));
    npy_free(&want);
}
END_TEST

Suite *rms_norm_suite(void)
{
    Suite *s = suite_create("rms_norm");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, random_weights);
    tcase_add_test(golden, zero_weights_give_normalized_input);
    tcase_add_test(golden, literal_example);
    tcase_add_test(golden, gemma_2b_width);
    suite_add_tcase(s, golden);
    return s;
}

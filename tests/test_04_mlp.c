/*
 * Chapter 4, GemmaMLP, against golden/04_mlp (gen_04_mlp.py).
 *
 * The weights are not stored: both sides make them with seeded_uniform
 * (streams 401, 402, 403, half-width sqrt(3 / in_features)).
 *
 * Tolerance of the MLP case: atol 3e-6 + rtol 1e-5, derived from the sums.
 * Each output adds F = 256 products down_proj[o][f] * g[f] whose absolute
 * values sum to at most 5.9 here (4.4 on average); gate and up each add 64
 * products whose absolute values sum to at most 7. linear() adds in natural
 * order, PyTorch's BLAS in blocks: each addition rounds by up to 6e-8 of its
 * partial sum, with random signs, so the two orders differ by a few 1e-7 in each
 * output, and the gate error passes through GELU and down_proj. Measured
 * 1.2e-6 (make test on the 2-core dev machine); 3e-6 leaves room for another
 * BLAS, and the rtol covers the larger outputs.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "04_mlp/mlp.h"
#include "activations.h"
#include "io.h"
#include "seeded_random.h"
#include "testing.h"

#define CHAPTER "04_mlp"
#define HIDDEN 64
#define INTERMEDIATE 256
#define TOKENS 5
#define ATOL 3e-6
#define RTOL 1e-5

/* Weights of the random case, made exactly as gen_04_mlp.py makes them. */
typedef struct {
    float *gate_proj, *up_proj, *down_proj;
} mlp_storage;

static mlp_storage make_weights(void)
{
    mlp_storage s;
    size_t n = (size_t)HIDDEN * INTERMEDIATE;
    s.gate_proj = pg_xcalloc(n, sizeof(float), "gate_proj");
    s.up_proj = pg_xcalloc(n, sizeof(float), "up_proj");
    s.down_proj = pg_xcalloc(n, sizeof(float), "down_proj");
    seeded_uniform(s.gate_proj, n, 401, (float)sqrt(3.0 / HIDDEN));
    seeded_uniform(s.up_proj, n, 402, (float)sqrt(3.0 / HIDDEN));
    seeded_uniform(s.down_proj, n, 403, (float)sqrt(3.0 / INTERMEDIATE));
    return s;
}

static void free_weights(mlp_storage *s)
{
    free(s->gate_proj);
    free(s->up_proj);
    free(s->down_proj);
}

/* Runs gemma_mlp on the golden input; returns the [T, D] output (caller frees). */
static float *run_mlp(const gemma_mlp_weights *weights, const float *x)
{
    float *out = pg_xcalloc((size_t)TOKENS * HIDDEN, sizeof(float), "mlp output");
    float *gate = pg_xcalloc((size_t)TOKENS * INTERMEDIATE, sizeof(float), "gate scratch");
    float *up = pg_xcalloc((size_t)TOKENS * INTERMEDIATE, sizeof(float), "up scratch");
    gemma_mlp(out, x, weights, gate, up, TOKENS, HIDDEN, INTERMEDIATE);
    free(gate);
    free(up);
    return out;
}

START_TEST(random_weights)
{
    npy_array x, want;
    golden_load_f32(&x, CHAPTER, "random_x", 2, TOKENS, HIDDEN);
    golden_load_f32(&want, CHAPTER, "random_out", 2, TOKENS, HIDDEN);
    mlp_storage s = make_weights();
    gemma_mlp_weights weights = {weight_f32(s.gate_proj), weight_f32(s.up_proj), weight_f32(s.down_proj)};

    float *out = run_mlp(&weights, x.data);
    ck_assert_tensor("mlp random", out, want.data, want.count, ATOL, RTOL);

    free(out);
    free_weights(&s);
    npy_free(&x);
    npy_free(&want);
}
END_TEST

/* Swapping gate_proj and up_proj puts the GELU on the other branch. The
 * result must differ from PyTorch's by far more than the tolerance, which
 * shows that the golden case above catches that bug. */
START_TEST(swapped_gate_and_up_differ)
{
    npy_array x, want;
    golden_load_f32(&x, CHAPTER, "random_x", 2, TOKENS, HIDDEN);
    golden_load_f32(&want, CHAPTER, "random_out", 2, TOKENS, HIDDEN);
    mlp_storage s = make_weights();
    gemma_mlp_weights swapped = {weight_f32(s.up_proj), weight_f32(s.gate_proj), weight_f32(s.down_proj)};

    float *out = run_mlp(&swapped, x.data);
    tensor_diff diff;
    char report[1024];
    int ok = tensor_compare("expected to miss: mlp with gate and up swapped", out, want.data, want.count, ATOL, RTOL, &diff,
                            report, sizeof report);
    printf("  %s\n", report);
    ck_assert_msg(!ok, "swapping gate_proj and up_proj went unnoticed: %s", report);
    ck_assert_msg(diff.max_abs_error > 1000 * ATOL, "swapped result too close to PyTorch's: %s", report);

    free(out);
    free_weights(&s);
    npy_free(&x);
    npy_free(&want);
}
END_TEST

/* Tolerance: rtol 2e-7 (about 2 ulp) plus atol 2e-7. For negative x the
 * factor 1 + tanh(.) cancels: one ulp of tanh near -1 (6e-8) moves the output
 * by 0.5 |x| * 6e-8, up to 1.8e-7 at x = -6. PyTorch's vectorized tanh and the
 * C library's tanhf do differ by that ulp: at x = -5.125 PyTorch rounds tanh
 * to -1 and returns -0, tanhf returns -0.99999994 and the output -1.5e-7. */
START_TEST(gelu_matches_pytorch)
{
    npy_array x, want;
    golden_load_f32(&x, CHAPTER, "gelu_x", 1, 97);
    golden_load_f32(&want, CHAPTER, "gelu_out", 1, 97);
    float got[97];
    for (int i = 0; i < 97; i++)
        got[i] = gelu_tanh(((float *)x.data)[i]);
    ck_assert_tensor("gelu_tanh on [-6, 6]", got, want.data, want.count, 2e-7, 2e-7);
    npy_free(&x);
    npy_free(&want);
}
END_TEST

/* gelu_tanh(1) = 0.5 (1 + tanh(sqrt(2/pi) * 1.044715)) = 0.8411920; the
 * exact form 0.5 (1 + erf(1 / sqrt(2))) = 0.8413447 is 1.5e-4 away. */
START_TEST(gelu_is_tanh_form)
{
    float tanh_form = gelu_tanh(1.0f);
    float erf_form = 0.5f * (1.0f + erff(1.0f / sqrtf(2.0f)));
    printf("  gelu_tanh(1) = %.7f, erf form = %.7f\n", tanh_form, erf_form);
    ck_assert_float_eq_tol(tanh_form, 0.8411920f, 1e-7f);
    ck_assert_float_eq_tol(erf_form, 0.8413447f, 1e-7f);
    ck_assert_msg(fabsf(tanh_form - erf_form) > 1e-4f, "tanh and erf forms agree: %.7f", tanh_form);
}
END_TEST

Suite *mlp_suite(void)
{
    Suite *s = suite_create("mlp");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, random_weights);
    tcase_add_test(golden, swapped_gate_and_up_differ);
    tcase_add_test(golden, gelu_matches_pytorch);
    tcase_add_test(golden, gelu_is_tanh_form);
    suite_add_tcase(s, golden);
    return s;
}

/*
 * Chapter 7, GemmaDecoderLayer, against golden/07_decoder_layer
 * (gen_07_decoder_layer.py).
 *
 * The weights are layer 0 of gemma_random_weights_create (chapter 8's seeded
 * generator, the twin of fill_seeded_layer in golden/modeling_gemma.py), made
 * with a one-layer config whose vocabulary of 3 rows is never used here.
 *
 * Tolerance of the small cases: atol 2e-5 + rtol 1e-5. The output is the
 * input plus the attention (errors of a few 1e-6, chapter 6) plus the MLP
 * applied to the RMSNorm of that sum (chapter 4). The residual stream reaches
 * |6| here, so errors of several float32 ulp of it (5e-7 each) are expected.
 * Measured at most 6.7e-6.
 *
 * Gemma-2B width: atol 4e-5 + rtol 1e-5. down_proj adds F = 16384 products
 * whose absolute values sum to about 40. linear() adds them one after the
 * other in float32, and such a sum drifts by about 2^-24 * sqrt(F) * |partial
 * sum| = 6e-8 * 128 * 2 = 1.5e-5 from the exact value; BLAS adds in blocks
 * and drifts less. Against a float64 evaluation of the same layer the C
 * output is off by at most 1.5e-5 and PyTorch's by 2.7e-6 (measured with
 * gen_07_decoder_layer.py's layer cast to double), so the two float32
 * results differ by 1.5e-5; 4e-5 is that estimate with a margin of 2.5.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "07_decoder_layer/decoder_layer.h"
#include "08_gemma/random_weights.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "07_decoder_layer"
#define SMALL_ATOL 2e-5
#define WIDTH_ATOL 4e-5
#define RTOL 1e-5

/* The layer sizes of a test case, as a one-layer gemma_config. */
static gemma_config layer_config(int hidden_size, int intermediate_size, int num_heads, int num_key_value_heads,
                                 int head_dim)
{
    gemma_config config;
    gemma_config_paligemma_3b(&config);
    config.vocab_size = 3;
    config.num_hidden_layers = 1;
    config.hidden_size = hidden_size;
    config.intermediate_size = intermediate_size;
    config.num_attention_heads = num_heads;
    config.num_key_value_heads = num_key_value_heads;
    config.head_dim = head_dim;
    return config;
}

/* Runs layer 0 of the seeded model on golden <name>_x and compares with
 * <name>_out, then runs it again with out == hidden_states, which must give
 * the same bits. */
static void check_case(const char *name, const gemma_config *config, uint64_t seed, double gain, int T, int masked,
                       double atol)
{
    char file[64];
    int D = config->hidden_size;
    npy_array x, mask = {0}, want;
    snprintf(file, sizeof file, "%s_x", name);
    golden_load_f32(&x, CHAPTER, file, 2, T, D);
    snprintf(file, sizeof file, "%s_out", name);
    golden_load_f32(&want, CHAPTER, file, 2, T, D);
    if (masked) {
        snprintf(file, sizeof file, "%s_mask", name);
        golden_load_f32(&mask, CHAPTER, file, 2, T, T);
    }
    snprintf(file, sizeof file, "%s_positions", name);
    int *positions = golden_load_ids(CHAPTER, file, T);

    gemma_random_weights random;
    gemma_decoder_layer_scratch scratch;
    pg_error err;
    ck_assert_msg(gemma_random_weights_create(&random, config, seed, gain, &err) == 0, "%s", err.message);
    ck_assert_msg(gemma_decoder_layer_scratch_create(&scratch, T, T, D, config->intermediate_size,
                                                     config->num_attention_heads, config->num_key_value_heads,
                                                     config->head_dim, &err) == 0,
                  "%s", err.message);

    float *out = pg_xcalloc((size_t)T * D, sizeof(float), "layer output");
    int rc = gemma_decoder_layer(out, x.data, &random.layers[0], masked ? mask.data : NULL, positions, NULL, 0,
                                 &scratch, T, D, config->intermediate_size, config->num_attention_heads,
                                 config->num_key_value_heads, config->head_dim, config->rms_norm_eps,
                                 config->rope_theta, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_tensor(name, out, want.data, want.count, atol, RTOL);

    /* In place: the output overwrites the input and must keep the same bits. */
    rc = gemma_decoder_layer(x.data, x.data, &random.layers[0], masked ? mask.data : NULL, positions, NULL, 0,
                             &scratch, T, D, config->intermediate_size, config->num_attention_heads,
                             config->num_key_value_heads, config->head_dim, config->rms_norm_eps,
                             config->rope_theta, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    ck_assert_msg(memcmp(x.data, out, sizeof(float) * T * D) == 0, "%s: in-place output differs", name);

    free(out);
    free(positions);
    gemma_decoder_layer_scratch_free(&scratch);
    gemma_random_weights_free(&random);
    npy_free(&x);
    npy_free(&want);
    if (masked)
        npy_free(&mask);
}

START_TEST(small_without_mask)
{
    gemma_config config = layer_config(64, 128, 4, 1, 16);
    check_case("small", &config, 700, 1.5, 6, 0, SMALL_ATOL);
}
END_TEST

START_TEST(small_with_causal_mask)
{
    gemma_config config = layer_config(64, 128, 4, 1, 16);
    check_case("small_causal", &config, 700, 1.5, 6, 1, SMALL_ATOL);
}
END_TEST

/* Gemma-2B's layer width: about 105 million weights (420 MB), made from the
 * seed, and 4 tokens. */
START_TEST(gemma_2b_width_four_tokens)
{
    gemma_config config = layer_config(2048, 16384, 8, 1, 256);
    check_case("gemma_2b_width", &config, 7000, 1.0, 4, 0, WIDTH_ATOL);
}
END_TEST

START_TEST(scratch_of_other_size_is_error)
{
    gemma_config config = layer_config(64, 128, 4, 1, 16);
    gemma_random_weights random;
    gemma_decoder_layer_scratch scratch;
    pg_error err;
    ck_assert_int_eq(gemma_random_weights_create(&random, &config, 700, 1.5, &err), 0);
    ck_assert_int_eq(gemma_decoder_layer_scratch_create(&scratch, 2, 2, 64, 256, 4, 1, 16, &err), 0);
    float x[2 * 64] = {0}, out[2 * 64];
    int positions[2] = {1, 2};
    int rc = gemma_decoder_layer(out, x, &random.layers[0], NULL, positions, NULL, 0, &scratch, 2, 64, 128, 4, 1,
                                 16, 1e-6f, 10000.0f, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "intermediate_size 128, but the scratch was created for 64, 256") != NULL,
                  "%s", err.message);
    gemma_decoder_layer_scratch_free(&scratch);
    gemma_random_weights_free(&random);
}
END_TEST

Suite *decoder_layer_suite(void)
{
    Suite *s = suite_create("decoder_layer");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, small_without_mask);
    tcase_add_test(golden, small_with_causal_mask);
    tcase_add_test(golden, scratch_of_other_size_is_error);
    suite_add_tcase(s, golden);
    TCase *width = tcase_create("gemma_2b_width");
    /* Measured about 1 s on the 2-core dev machine (weights and 7 products of
     * up to 16384 x 2048); 30 s leaves room for a loaded machine. */
    tcase_set_timeout(width, 30);
    tcase_add_test(width, gemma_2b_width_four_tokens);
    suite_add_tcase(s, width);
    return s;
}

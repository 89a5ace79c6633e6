/*
 * Chapter 11, the merge of image features and text, the prefix-LM mask and
 * the position ids, against golden/11_merge (gen_11_merge.py).
 *
 * Tolerance 0 everywhere. The merge copies rows and divides each image
 * element once by the float32 sqrt(D), exactly as PyTorch does. The mask and
 * the positions are exact values.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "11_merge/merge.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "11_merge"
#define PAD_TOKEN_ID 0
#define BOS_TOKEN_ID 2

/* Loads golden <name>_input_ids (int64) as int. */
static int *load_input_ids(const char *name, int T)
{
    char file[64];
    snprintf(file, sizeof file, "%s_input_ids", name);
    npy_array array;
    golden_load_i64(&array, CHAPTER, file, 1, T);
    int *ids = pg_xcalloc((size_t)T, sizeof(int), "input ids");
    const int64_t *data = array.data;
    for (int t = 0; t < T; t++)
        ids[t] = (int)data[t];
    npy_free(&array);
    return ids;
}

/* One merge case: the golden inputs and the C output. */
typedef struct {
    int T, V, D, P;
    int *input_ids;
    npy_array embed_tokens, image_features, merged;
    float *got;
} merge_case;

static void merge_case_run(merge_case *c, const char *name, int T, int V, int D, int P, int image_token_index)
{
    char file[64];
    c->T = T, c->V = V, c->D = D, c->P = P;
    c->input_ids = load_input_ids(name, T);
    snprintf(file, sizeof file, "%s_embed_tokens", name);
    golden_load_f32(&c->embed_tokens, CHAPTER, file, 2, V, D);
    snprintf(file, sizeof file, "%s_image_features", name);
    golden_load_f32(&c->image_features, CHAPTER, file, 2, P, D);
    snprintf(file, sizeof file, "%s_merged", name);
    golden_load_f32(&c->merged, CHAPTER, file, 2, T, D);

    c->got = pg_xcalloc((size_t)T * D, sizeof(float), "merged embeddings");
    pg_error err;
    int rc = paligemma_merge_input_ids_with_image_features(c->got, c->input_ids, weight_f32(c->embed_tokens.data),
                                                           c->image_features.data, T, V, D, P,
                                                           image_token_index, PAD_TOKEN_ID, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
}

static void merge_case_free(merge_case *c)
{
    free(c->input_ids);
    free(c->got);
    npy_free(&c->embed_tokens);
    npy_free(&c->image_features);
    npy_free(&c->merged);
}

/* ---- the merge against PyTorch --------------------------------------------- */

/* ids [17 x 4, 2, 5, 9, 10, 0]: image rows, bos, prompt, "\n" and a pad row. */
START_TEST(merge_small)
{
    merge_case c;
    merge_case_run(&c, "small", 9, 20, 32, 4, 17);
    ck_assert_tensor("small merged", c.got, c.merged.data, c.merged.count, 0.0, 0.0);

    /* The pad row (index 8) is zero, the text rows are plain copies. */
    for (int d = 0; d < c.D; d++)
        ck_assert_float_eq(c.got[8 * c.D + d], 0.0f);
    const float *embed_tokens = c.embed_tokens.data;
    ck_assert_tensor("small bos row", c.got + 4 * c.D, embed_tokens + BOS_TOKEN_ID * c.D, (size_t)c.D, 0.0, 0.0);
    merge_case_free(&c);
}
END_TEST

START_TEST(merge_gemma_2b_width)
{
    merge_case c;
    merge_case_run(&c, "width_2048", 8, 16, 2048, 4, 15);
    ck_assert_tensor("width 2048 merged", c.got, c.merged.data, c.merged.count, 0.0, 0.0);
    merge_case_free(&c);
}
END_TEST

/* ---- the sqrt(D) round trip ------------------------------------------------- */

/* GemmaModel's first step, written here because the decoder chapter is
 * separate: every row times the float32 normalizer. */
static void apply_normalizer(float *hidden_states, size_t count, int D)
{
    float normalizer = paligemma_embedding_normalizer(D);
    for (size_t i = 0; i < count; i++)
        hidden_states[i] *= normalizer;
}

/* Distance in units in the last place between two finite floats of the same sign. */
static int64_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* Returns the number of elements of the first P rows of normalized that are
 * more than 1 ulp from image_features, and the largest distance. */
static size_t count_beyond_one_ulp(const float *normalized, const float *image_features, size_t count,
                                   int64_t *max_distance)
{
    size_t beyond = 0;
    *max_distance = 0;
    for (size_t i = 0; i < count; i++) {
        int64_t distance = ulp_distance(normalized[i], image_features[i]);
        if ((normalized[i] < 0) != (image_features[i] < 0))
            distance = INT64_MAX;
        if (distance > *max_distance)
            *max_distance = distance;
        if (distance > 1)
            beyond++;
    }
    return beyond;
}

/* After the merge and the normalizer, the image rows equal the projector
 * output to 1 ulp, and the bos row is embed_tokens[2] * 45.2548332 exactly,
 * bit for bit what PyTorch's GemmaModel computes. */
START_TEST(normalizer_restores_image_rows)
{
    merge_case c;
    merge_case_run(&c, "width_2048", 8, 16, 2048, 4, 15);
    npy_array want;
    golden_load_f32(&want, CHAPTER, "width_2048_normalized", 2, c.T, c.D);
    ck_assert_float_eq(paligemma_embedding_normalizer(2048), 45.2548332f);

    apply_normalizer(c.got, (size_t)c.T * c.D, c.D);
    ck_assert_tensor("width 2048 normalized", c.got, want.data, want.count, 0.0, 0.0);

    size_t image_count = (size_t)c.P * c.D;
    int64_t max_distance;
    size_t beyond = count_beyond_one_ulp(c.got, c.image_features.data, image_count, &max_distance);
    printf("  image rows after the normalizer: max %lld ulp from the projector output\n", (long long)max_distance);
    ck_assert_msg(beyond == 0, "%zu of %zu image elements are more than 1 ulp from the projector output (max %lld)",
                  beyond, image_count, (long long)max_distance);

    float bos_row[2048];
    const float *embed_tokens = c.embed_tokens.data;
    for (int d = 0; d < c.D; d++)
        bos_row[d] = embed_tokens[BOS_TOKEN_ID * c.D + d] * 45.2548332f;
    ck_assert_tensor("bos row", c.got + 4 * c.D, bos_row, (size_t)c.D, 0.0, 0.0);

    npy_free(&want);
    merge_case_free(&c);
}
END_TEST

/* The two ways to get the scale wrong must both fail the 1-ulp check:
 * multiplying the image rows by sqrt(D) in the merge (they come out D times
 * too large), and dividing twice (sqrt(D) times too small). The model runs
 * either way and goes blind, so only this check catches it. */
START_TEST(wrong_image_scale_is_caught)
{
    merge_case c;
    merge_case_run(&c, "width_2048", 8, 16, 2048, 4, 15);
    float normalizer = paligemma_embedding_normalizer(c.D);
    size_t image_count = (size_t)c.P * c.D;
    const float *features = c.image_features.data;
    float *variant = pg_xcalloc(image_count, sizeof(float), "variant image rows");
    int64_t max_distance;

    /* Scaled instead of divided, then GemmaModel's multiplication. */
    for (size_t i = 0; i < image_count; i++)
        variant[i] = features[i] * normalizer;
    apply_normalizer(variant, image_count, c.D);
    size_t beyond = count_beyond_one_ulp(variant, features, image_count, &max_distance);
    ck_assert_msg(beyond == image_count, "scaled rows: only %zu of %zu elements fail", beyond, image_count);

    /* Divided twice, then GemmaModel's multiplication. */
    for (size_t i = 0; i < image_count; i++)
        variant[i] = features[i] / normalizer / normalizer;
    apply_normalizer(variant, image_count, c.D);
    beyond = count_beyond_one_ulp(variant, features, image_count, &max_distance);
    ck_assert_msg(beyond == image_count, "divided twice: only %zu of %zu elements fail", beyond, image_count);

    /* The C merge output, normalized, passes the same check. */
    apply_normalizer(c.got, image_count, c.D);
    ck_assert_int_eq(count_beyond_one_ulp(c.got, features, image_count, &max_distance), 0);

    free(variant);
    merge_case_free(&c);
}
END_TEST

/* ---- invalid input ---------------------------------------------------------- */

/* Runs the merge on a tiny vocabulary (V = 6, D = 2) and expects -1, both
 * fragments in the message, and the output untouched. */
static void expect_merge_error(const int *ids, int T, int P, int image_token_index, int pad_token_id,
                               const char *fragment1, const char *fragment2)
{
    const float embed_tokens[12] = {0};
    const float image_features[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float out[16];
    for (int i = 0; i < 16; i++)
        out[i] = 42.0f;
    pg_error err;
    err.message[0] = '\0';
    int rc = paligemma_merge_input_ids_with_image_features(out, ids, weight_f32(embed_tokens), image_features, T, 6, 2, P,
                                                           image_token_index, pad_token_id, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, fragment1) != NULL && strstr(err.message, fragment2) != NULL,
                  "expected \"%s\" and \"%s\" in: %s", fragment1, fragment2, err.message);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(out[i], 42.0f);
}

START_TEST(merge_rejects_image_count_mismatch)
{
    const int ids[5] = {5, 5, 5, 2, 1};
    expect_merge_error(ids, 5, 4, 5, PAD_TOKEN_ID, "3 image tokens", "4 image features");
    expect_merge_error(ids, 5, 2, 5, PAD_TOKEN_ID, "3 image tokens", "2 image features");
}
END_TEST

START_TEST(merge_rejects_ids_outside_vocabulary)
{
    const int ids[4] = {5, 5, 2, 1};
    expect_merge_error(ids, 4, 2, 6, PAD_TOKEN_ID, "image_token_index 6", "6 embedding rows");
    expect_merge_error(ids, 4, 2, -1, PAD_TOKEN_ID, "image_token_index -1", "6 embedding rows");
    expect_merge_error(ids, 4, 2, 5, 7, "pad_token_id 7", "6 embedding rows");

    const int too_large[4] = {5, 5, 2, 6};
    expect_merge_error(too_large, 4, 2, 5, PAD_TOKEN_ID, "input id 6 at position 3", "6 embedding rows");
    const int negative[4] = {5, 5, -3, 1};
    expect_merge_error(negative, 4, 2, 5, PAD_TOKEN_ID, "input id -3 at position 2", "6 embedding rows");
}
END_TEST

/* transformers sets pad_token_id to -1 when the config has none: no row is
 * then zeroed, and id 0 is ordinary text. */
START_TEST(merge_without_pad_token)
{
    const int ids[3] = {5, 0, 1};
    const float embed_tokens[12] = {10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61};
    const float image_features[2] = {2.0f, 4.0f};
    float out[6];
    pg_error err;
    ck_assert_msg(paligemma_merge_input_ids_with_image_features(out, ids, weight_f32(embed_tokens), image_features, 3, 6, 2, 1, 5,
                                                                -1, &err) == 0,
                  "%s", err.message);
    const float want[6] = {2.0f / sqrtf(2.0f), 4.0f / sqrtf(2.0f), 10, 11, 20, 21};
    ck_assert_tensor("merge without pad", out, want, 6, 0.0, 0.0);
}
END_TEST

/* ---- the prefix-LM mask and the positions ----------------------------------- */

/* Compares two masks element by element; -INFINITY must match -INFINITY. */
static void assert_mask_equal(const char *name, const float *got, const float *want, int T, int S)
{
    int mismatches = 0, first = -1;
    for (int i = 0; i < T * S; i++) {
        int same = (isinf(got[i]) && isinf(want[i]) && got[i] < 0 && want[i] < 0) || got[i] == want[i];
        if (!same) {
            mismatches++;
            if (first < 0)
                first = i;
        }
    }
    ck_assert_msg(mismatches == 0, "%s: %d of %d entries differ, first at row %d column %d: got %g want %g", name,
                  mismatches, T * S, first / S, first % S, (double)got[first], (double)want[first]);
}

static void check_mask_golden(const char *name, int prefix_length, int past_length, int T, int S)
{
    npy_array want;
    golden_load_f32(&want, CHAPTER, name, 2, T, S);
    float *got = pg_xcalloc((size_t)T * S, sizeof(float), "attention mask");
    pg_error err;
    ck_assert_msg(paligemma_prefix_lm_mask(got, prefix_length, past_length, T, S, &err) == 0, "%s", err.message);
    assert_mask_equal(name, got, want.data, T, S);
    free(got);
    npy_free(&want);
}

/* 2 image rows, bos, one text token, "\n" (prefix 5) and 2 suffix tokens.
 * Rows 0-4 attend to columns 0-4, row 5 to 0-5, row 6 to 0-6. A causal mask
 * over the prefix would hide column 4 from row 0, which this catches. */
START_TEST(mask_prefix_5_suffix_2_literal)
{
    float mask[7 * 7];
    pg_error err;
    ck_assert_msg(paligemma_prefix_lm_mask(mask, 5, 0, 7, 7, &err) == 0, "%s", err.message);
    for (int row = 0; row < 5; row++)
        for (int col = 0; col < 7; col++) {
            if (col <= 4)
                ck_assert_msg(mask[row * 7 + col] == 0.0f, "row %d must see column %d", row, col);
            else
                ck_assert_msg(mask[row * 7 + col] == -INFINITY, "row %d must not see column %d", row, col);
        }
    for (int col = 0; col < 7; col++) {
        if (col <= 5)
            ck_assert_msg(mask[5 * 7 + col] == 0.0f, "row 5 must see column %d", col);
        else
            ck_assert_msg(mask[5 * 7 + col] == -INFINITY, "row 5 must not see column %d", col);
        ck_assert_msg(mask[6 * 7 + col] == 0.0f, "row 6 must see column %d", col);
    }
}
END_TEST

START_TEST(mask_matches_pytorch)
{
    check_mask_golden("mask_prefill", 5, 0, 7, 7);
    check_mask_golden("mask_decode", 5, 7, 1, 8);
    /* Slots 8..11 of a 12-slot cache are not written yet and stay masked. */
    check_mask_golden("mask_preallocated", 5, 6, 2, 12);
}
END_TEST

START_TEST(mask_rejects_invalid_sizes)
{
    float mask[64];
    pg_error err;
    ck_assert_int_eq(paligemma_prefix_lm_mask(mask, 5, 0, 7, 6, &err), -1);
    ck_assert_msg(strstr(err.message, "6 key positions") != NULL, "message: %s", err.message);
    ck_assert_int_eq(paligemma_prefix_lm_mask(mask, 5, 0, 0, 7, &err), -1);
    ck_assert_int_eq(paligemma_prefix_lm_mask(mask, -1, 0, 7, 7, &err), -1);
    ck_assert_int_eq(paligemma_prefix_lm_mask(mask, 5, -2, 7, 7, &err), -1);
    ck_assert_int_eq(paligemma_prefix_lm_mask(mask, 8, 0, 7, 7, &err), -1);
    ck_assert_msg(strstr(err.message, "prefix_length 8 exceeds the 7 tokens") != NULL, "message: %s", err.message);
}
END_TEST

static void check_positions_golden(const char *name, int past_length, int T)
{
    npy_array want;
    golden_load_i64(&want, CHAPTER, name, 1, T);
    int got[16];
    paligemma_position_ids(got, past_length, T);
    const int64_t *expected = want.data;
    for (int t = 0; t < T; t++)
        ck_assert_msg(got[t] == expected[t], "%s[%d]: got %d want %lld", name, t, got[t], (long long)expected[t]);
    npy_free(&want);
}

START_TEST(position_ids_are_one_based)
{
    int prefill[7];
    paligemma_position_ids(prefill, 0, 7);
    for (int t = 0; t < 7; t++)
        ck_assert_int_eq(prefill[t], t + 1);
    int decode;
    paligemma_position_ids(&decode, 7, 1);
    ck_assert_int_eq(decode, 8);

    check_positions_golden("position_ids_prefill", 0, 7);
    check_positions_golden("position_ids_decode", 7, 1);
}
END_TEST

Suite *merge_suite(void)
{
    Suite *s = suite_create("merge");

    TCase *merge = tcase_create("merge");
    tcase_add_test(merge, merge_small);
    tcase_add_test(merge, merge_gemma_2b_width);
    tcase_add_test(merge, normalizer_restores_image_rows);
    tcase_add_test(merge, wrong_image_scale_is_caught);
    tcase_add_test(merge, merge_rejects_image_count_mismatch);
    tcase_add_test(merge, merge_rejects_ids_outside_vocabulary);
    tcase_add_test(merge, merge_without_pad_token);
    suite_add_tcase(s, merge);

    TCase *mask = tcase_create("mask");
    tcase_add_test(mask, mask_prefix_5_suffix_2_literal);
    tcase_add_test(mask, mask_matches_pytorch);
    tcase_add_test(mask, mask_rejects_invalid_sizes);
    tcase_add_test(mask, position_ids_are_one_based);
    suite_add_tcase(s, mask);
    return s;
}

/*
 * Chapter 6, GemmaAttention, against golden/06_attention (gen_06_attention.py).
 *
 * The projection weights are not stored: both sides make them with
 * seeded_uniform (stream seed + 0..3 for q, k, v, o_proj, half-width
 * 1.5 * sqrt(3 / in_features)).
 *
 * Tolerance: atol 1e-5 + rtol 1e-5. An output is o_proj applied to a
 * probability-weighted mean of values. q, k and v are sums of 64 products
 * whose absolute values add up to at most 12; linear() adds them in another
 * order than PyTorch's BLAS, which moves each by a few 1e-7. The scores reach
 * |6| here, and a score error e moves a probability p by about p * e, so the
 * heads and then o_proj (64 to 96 more products) carry errors of a few 1e-6
 * into outputs of size up to about 3. Measured at most 2.4e-6.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "01_kv_cache/kv_cache.h"
#include "06_attention/attention.h"
#include "io.h"
#include "seeded_random.h"
#include "testing.h"

#define CHAPTER "06_attention"
#define HIDDEN 64
#define THETA 10000.0f
#define ATOL 1e-5
#define RTOL 1e-5

/* One test configuration with its seeded weights. */
typedef struct {
    int num_heads, num_key_value_heads, head_dim;
    float *storage[4];
    gemma_attention_weights weights;
} attention_case;

/* Makes the weights exactly as gen_06_attention.py makes them. */
static attention_case make_case(int num_heads, int num_key_value_heads, int head_dim, uint64_t seed)
{
    attention_case c = {.num_heads = num_heads, .num_key_value_heads = num_key_value_heads, .head_dim = head_dim};
    int rows[4] = {num_heads * head_dim, num_key_value_heads * head_dim, num_key_value_heads * head_dim, HIDDEN};
    int cols[4] = {HIDDEN, HIDDEN, HIDDEN, num_heads * head_dim};
    for (int j = 0; j < 4; j++) {
        size_t n = (size_t)rows[j] * cols[j];
        c.storage[j] = pg_xcalloc(n, sizeof(float), "attention weight");
        seeded_uniform(c.storage[j], n, seed + j, (float)(1.5 * sqrt(3.0 / cols[j])));
    }
    c.weights.q_proj = weight_f32(c.storage[0]);
    c.weights.k_proj = weight_f32(c.storage[1]);
    c.weights.v_proj = weight_f32(c.storage[2]);
    c.weights.o_proj = weight_f32(c.storage[3]);
    return c;
}

static void free_case(attention_case *c)
{
    for (int j = 0; j < 4; j++)
        free(c->storage[j]);
}

/* Runs one attention call that must succeed; out is [T, HIDDEN]. */
static void run_attention(float *out, const attention_case *c, const float *x, const float *mask,
                          const int *positions, kv_cache *cache, gemma_attention_scratch *scratch, int T)
{
    pg_error err;
    int rc = gemma_attention(out, x, &c->weights, mask, positions, cache, 0, scratch, T, HIDDEN, c->num_heads,
                             c->num_key_value_heads, c->head_dim, THETA, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
}

/* A golden case without a cache: <name>_x, _positions, _mask (if masked), _out. */
static void check_case(const char *name, int num_heads, int num_key_value_heads, int head_dim, uint64_t seed,
                       int T, int masked)
{
    char file[64];
    npy_array x, mask = {0}, want;
    snprintf(file, sizeof file, "%s_x", name);
    golden_load_f32(&x, CHAPTER, file, 2, T, HIDDEN);
    snprintf(file, sizeof file, "%s_out", name);
    golden_load_f32(&want, CHAPTER, file, 2, T, HIDDEN);
    if (masked) {
        snprintf(file, sizeof file, "%s_mask", name);
        golden_load_f32(&mask, CHAPTER, file, 2, T, T);
    }
    snprintf(file, sizeof file, "%s_positions", name);
    int *positions = golden_load_ids(CHAPTER, file, T);

    attention_case c = make_case(num_heads, num_key_value_heads, head_dim, seed);
    gemma_attention_scratch scratch;
    pg_error err;
    ck_assert_msg(gemma_attention_scratch_create(&scratch, T, T, num_heads, num_key_value_heads, head_dim, &err) == 0,
                  "%s", err.message);
    float *out = pg_xcalloc((size_t)T * HIDDEN, sizeof(float), "attention output");
    run_attention(out, &c, x.data, masked ? mask.data : NULL, positions, NULL, &scratch, T);
    ck_assert_tensor(name, out, want.data, want.count, ATOL, RTOL);

    /* The mask must matter: without it the masked case gives another result. */
    if (masked) {
        run_attention(out, &c, x.data, NULL, positions, NULL, &scratch, T);
        tensor_diff diff;
        char report[1024];
        int same = tensor_compare("expected to miss: the same case without its mask", out, want.data, want.count, ATOL, RTOL, &diff,
                                  report, sizeof report);
        printf("  %s\n", report);
        ck_assert_msg(!same && diff.max_abs_error > 100 * ATOL, "the mask changed nothing: %s", report);
    }

    free(out);
    free(positions);
    gemma_attention_scratch_free(&scratch);
    free_case(&c);
    npy_free(&x);
    npy_free(&want);
    if (masked)
        npy_free(&mask);
}

START_TEST(multi_query_8_heads_1_kv_head)
{
    check_case("multi_query", 8, 1, 16, 610, 6, 0);
}
END_TEST

START_TEST(two_kv_heads_prefix_lm_mask)
{
    check_case("two_kv_heads", 4, 2, 16, 620, 6, 1);
}
END_TEST

START_TEST(head_dim_not_hidden_over_heads)
{
    check_case("head_dim_24", 4, 2, 24, 630, 5, 1);
}
END_TEST

#define PREFILL 5
#define STEPS 3
#define CAPACITY 16

/* The decode case: a prefill of 5 tokens, then 3 single-token steps through
 * the cache. Writes every step's output into outputs [PREFILL + STEPS, D]. */
static void run_decode(float *outputs, kv_cache *cache)
{
    attention_case c = make_case(4, 2, 16, 640);
    gemma_attention_scratch scratch;
    pg_error err;
    ck_assert_msg(gemma_attention_scratch_create(&scratch, PREFILL, CAPACITY, 4, 2, 16, &err) == 0, "%s",
                  err.message);
    int row = 0;
    for (int step = 0; step <= STEPS; step++) {
        int T = step == 0 ? PREFILL : 1;
        char name[64];
        npy_array x;
        snprintf(name, sizeof name, "decode_x_%d", step);
        golden_load_f32(&x, CHAPTER, name, 2, T, HIDDEN);
        snprintf(name, sizeof name, "decode_positions_%d", step);
        int *positions = golden_load_ids(CHAPTER, name, T);
        /* NULL mask: the prefill is the prefix, and a decode step attends to all. */
        run_attention(outputs + (size_t)row * HIDDEN, &c, x.data, NULL, positions, cache, &scratch, T);
        ck_assert_int_eq(kv_cache_num_items(cache), PREFILL + step);
        row += T;
        free(positions);
        npy_free(&x);
    }
    gemma_attention_scratch_free(&scratch);
    free_case(&c);
}

START_TEST(prefill_then_decode_through_cache)
{
    kv_cache cache;
    pg_error err;
    ck_assert_msg(kv_cache_create(&cache, 1, 2, 16, CAPACITY, &err) == 0, "%s", err.message);
    float outputs[(PREFILL + STEPS) * HIDDEN];
    run_decode(outputs, &cache);

    int row = 0;
    for (int step = 0; step <= STEPS; step++) {
        int T = step == 0 ? PREFILL : 1;
        char name[64];
        npy_array want;
        snprintf(name, sizeof name, "decode_out_%d", step);
        golden_load_f32(&want, CHAPTER, name, 2, T, HIDDEN);
        snprintf(name, sizeof name, "decode step %d (positions %d..%d)", step, row + 1, row + T);
        ck_assert_tensor(name, outputs + (size_t)row * HIDDEN, want.data, want.count, ATOL, RTOL);
        row += T;
        npy_free(&want);
    }

    /* The cache contains keys after RoPE and raw values, [K, S, Dh] per layer.
     * Keys are one sum of 64 products and one rotation: atol 2e-6. */
    npy_array want_keys, want_values;
    int S = PREFILL + STEPS;
    golden_load_f32(&want_keys, CHAPTER, "decode_cached_keys", 3, 2, S, 16);
    golden_load_f32(&want_values, CHAPTER, "decode_cached_values", 3, 2, S, 16);
    float got_keys[2 * (PREFILL + STEPS) * 16], got_values[2 * (PREFILL + STEPS) * 16];
    for (int k = 0; k < 2; k++) {
        memcpy(got_keys + (size_t)k * S * 16, kv_cache_keys(&cache, 0, k), sizeof(float) * S * 16);
        memcpy(got_values + (size_t)k * S * 16, kv_cache_values(&cache, 0, k), sizeof(float) * S * 16);
    }
    ck_assert_tensor("cached keys after RoPE", got_keys, want_keys.data, want_keys.count, 2e-6, 1e-6);
    ck_assert_tensor("cached values", got_values, want_values.data, want_values.count, 2e-6, 1e-6);
    npy_free(&want_keys);
    npy_free(&want_values);
    kv_cache_free(&cache);
}
END_TEST

/* Slots past the cached length must never be read: a cache whose storage
 * starts as NaN gives the same bits as one that starts as zeros. */
START_TEST(nan_in_unwritten_slots_is_never_read)
{
    kv_cache zeroed, poisoned;
    pg_error err;
    ck_assert_msg(kv_cache_create(&zeroed, 1, 2, 16, CAPACITY, &err) == 0, "%s", err.message);
    ck_assert_msg(kv_cache_create(&poisoned, 1, 2, 16, CAPACITY, &err) == 0, "%s", err.message);
    size_t floats = (size_t)2 * CAPACITY * 16;
    for (size_t i = 0; i < floats; i++) {
        poisoned.key_cache[i] = NAN;
        poisoned.value_cache[i] = NAN;
    }

    float reference[(PREFILL + STEPS) * HIDDEN], got[(PREFILL + STEPS) * HIDDEN];
    run_decode(reference, &zeroed);
    run_decode(got, &poisoned);
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        ck_assert_msg(isfinite(got[i]), "output %zu is %f with NaN in unwritten slots", i, got[i]);
    ck_assert_msg(memcmp(got, reference, sizeof got) == 0, "NaN-filled cache changed the outputs");
    kv_cache_free(&zeroed);
    kv_cache_free(&poisoned);
}
END_TEST

/* A NULL mask and an all-zero mask are the same thing, bit for bit. */
START_TEST(null_mask_equals_zero_mask)
{
    enum { T = 6 };
    npy_array x;
    golden_load_f32(&x, CHAPTER, "multi_query_x", 2, T, HIDDEN);
    int *positions = golden_load_ids(CHAPTER, "multi_query_positions", T);
    attention_case c = make_case(8, 1, 16, 610);
    gemma_attention_scratch scratch;
    pg_error err;
    ck_assert_msg(gemma_attention_scratch_create(&scratch, T, T, 8, 1, 16, &err) == 0, "%s", err.message);

    float zeros[T * T] = {0}, with_null[T * HIDDEN], with_zeros[T * HIDDEN];
    run_attention(with_null, &c, x.data, NULL, positions, NULL, &scratch, T);
    run_attention(with_zeros, &c, x.data, zeros, positions, NULL, &scratch, T);
    ck_assert_msg(memcmp(with_null, with_zeros, sizeof with_null) == 0, "NULL and zero masks differ");

    gemma_attention_scratch_free(&scratch);
    free_case(&c);
    free(positions);
    npy_free(&x);
}
END_TEST

START_TEST(invalid_sizes_are_errors)
{
    gemma_attention_scratch scratch;
    pg_error err;
    ck_assert_int_eq(gemma_attention_scratch_create(&scratch, 4, 4, 6, 4, 16, &err), -1);
    ck_assert_msg(strstr(err.message, "num_heads 6 is not a multiple of num_key_value_heads 4") != NULL, "%s",
                  err.message);
    ck_assert_int_eq(gemma_attention_scratch_create(&scratch, 4, 4, 4, 2, 15, &err), -1);
    ck_assert_msg(strstr(err.message, "head_dim 15 is odd") != NULL, "%s", err.message);

    /* A full cache is reported before anything is written. */
    attention_case c = make_case(4, 2, 16, 640);
    kv_cache cache;
    ck_assert_int_eq(kv_cache_create(&cache, 1, 2, 16, 3, &err), 0);
    ck_assert_int_eq(gemma_attention_scratch_create(&scratch, 4, 8, 4, 2, 16, &err), 0);
    float x[4 * HIDDEN] = {0}, out[4 * HIDDEN];
    int positions[4] = {1, 2, 3, 4};
    int rc = gemma_attention(out, x, &c.weights, NULL, positions, &cache, 0, &scratch, 4, HIDDEN, 4, 2, 16, THETA,
                             &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "layer 0 holds 0 tokens, adding 4 would exceed the KV cache capacity of 3")
                      != NULL, "%s", err.message);
    ck_assert_int_eq(cache.num_items[0], 0);

    /* Five tokens do not fit a scratch made for four. */
    rc = gemma_attention(out, x, &c.weights, NULL, positions, NULL, 0, &scratch, 5, HIDDEN, 4, 2, 16, THETA, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "5 new tokens, but the scratch holds 1..4") != NULL, "%s", err.message);

    gemma_attention_scratch_free(&scratch);
    kv_cache_free(&cache);
    free_case(&c);
}
END_TEST

Suite *attention_suite(void)
{
    Suite *s = suite_create("attention");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, multi_query_8_heads_1_kv_head);
    tcase_add_test(golden, two_kv_heads_prefix_lm_mask);
    tcase_add_test(golden, head_dim_not_hidden_over_heads);
    tcase_add_test(golden, prefill_then_decode_through_cache);
    suite_add_tcase(s, golden);
    TCase *properties = tcase_create("properties");
    tcase_add_test(properties, nan_in_unwritten_slots_is_never_read);
    tcase_add_test(properties, null_mask_equals_zero_mask);
    tcase_add_test(properties, invalid_sizes_are_errors);
    suite_add_tcase(s, properties);
    return s;
}

/*
 * Chapter 1, the KV cache, against golden/01_kv_cache (gen_01_kv_cache.py):
 * 3 layers, 2 key/value heads, head_dim 8; a prefill of 5 tokens then 3
 * single-token updates. The cache only copies, so every element must be
 * bit-identical (tolerance 0).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "01_kv_cache/kv_cache.h"
#include "testing.h"

#define CHAPTER "01_kv_cache"
#define NUM_LAYERS 3
#define NUM_KV_HEADS 2
#define HEAD_DIM 8
#define PREFILL 5
#define STEPS 3

/* Checks every cached element of every layer against
 * cached_{keys,values}_<update>.npy, of shape [L, K, S, Dh]. */
static void check_cache_against_golden(const kv_cache *cache, int update)
{
    int S = PREFILL + update;
    char name[64];
    npy_array want_keys, want_values;
    snprintf(name, sizeof name, "cached_keys_%d", update);
    golden_load_f32(&want_keys, CHAPTER, name, 4, NUM_LAYERS, NUM_KV_HEADS, S, HEAD_DIM);
    snprintf(name, sizeof name, "cached_values_%d", update);
    golden_load_f32(&want_values, CHAPTER, name, 4, NUM_LAYERS, NUM_KV_HEADS, S, HEAD_DIM);

    /* Gather the first S rows of each head into PyTorch's [L, K, S, Dh] layout. */
    float got_keys[NUM_LAYERS * NUM_KV_HEADS * (PREFILL + STEPS) * HEAD_DIM];
    float got_values[NUM_LAYERS * NUM_KV_HEADS * (PREFILL + STEPS) * HEAD_DIM];
    for (int layer = 0; layer < NUM_LAYERS; layer++) {
        for (int k = 0; k < NUM_KV_HEADS; k++) {
            size_t offset = ((size_t)layer * NUM_KV_HEADS + k) * S * HEAD_DIM;
            memcpy(got_keys + offset, kv_cache_keys(cache, layer, k), sizeof(float) * S * HEAD_DIM);
            memcpy(got_values + offset, kv_cache_values(cache, layer, k), sizeof(float) * S * HEAD_DIM);
        }
    }

    char label[64];
    snprintf(label, sizeof label, "cached keys after update %d", update);
    ck_assert_tensor(label, got_keys, want_keys.data, want_keys.count, 0.0, 0.0);
    snprintf(label, sizeof label, "cached values after update %d", update);
    ck_assert_tensor(label, got_values, want_values.data, want_values.count, 0.0, 0.0);
    npy_free(&want_keys);
    npy_free(&want_values);
}

START_TEST(prefill_then_three_updates)
{
    kv_cache cache;
    pg_error err;
    ck_assert_msg(kv_cache_create(&cache, NUM_LAYERS, NUM_KV_HEADS, HEAD_DIM, 16, &err) == 0, "%s", err.message);

    for (int update = 0; update <= STEPS; update++) {
        int T = update == 0 ? PREFILL : 1;
        char name[64];
        npy_array new_keys, new_values, num_items;
        snprintf(name, sizeof name, "new_keys_%d", update);
        golden_load_f32(&new_keys, CHAPTER, name, 4, NUM_LAYERS, NUM_KV_HEADS, T, HEAD_DIM);
        snprintf(name, sizeof name, "new_values_%d", update);
        golden_load_f32(&new_values, CHAPTER, name, 4, NUM_LAYERS, NUM_KV_HEADS, T, HEAD_DIM);
        snprintf(name, sizeof name, "num_items_%d", update);
        golden_load_i64(&num_items, CHAPTER, name, 1, 1);

        /* Each layer receives its own [K, T, Dh] block, as in one forward pass. */
        for (int layer = 0; layer < NUM_LAYERS; layer++) {
            size_t offset = (size_t)layer * NUM_KV_HEADS * T * HEAD_DIM;
            ck_assert_msg(kv_cache_update(&cache, layer, (float *)new_keys.data + offset,
                                          (float *)new_values.data + offset, T, &err) == 0,
                          "%s", err.message);
        }

        ck_assert_int_eq(kv_cache_num_items(&cache), (int)((int64_t *)num_items.data)[0]);
        ck_assert_int_eq(kv_cache_num_items(&cache), PREFILL + update);
        check_cache_against_golden(&cache, update);
        npy_free(&new_keys);
        npy_free(&new_values);
        npy_free(&num_items);
    }
    kv_cache_free(&cache);
}
END_TEST

START_TEST(update_past_capacity_is_error)
{
    kv_cache cache;
    pg_error err;
    ck_assert_int_eq(kv_cache_create(&cache, 2, 1, 4, 3, &err), 0);
    float states[4 * 4] = {0};

    ck_assert_int_eq(kv_cache_update(&cache, 0, states, states, 2, &err), 0);
    /* Two more tokens would need 4 slots of 3: rejected, and nothing written. */
    for (int d = 0; d < 4; d++)
        kv_cache_keys(&cache, 0, 0)[2 * 4 + d] = NAN;
    ck_assert_int_eq(kv_cache_update(&cache, 0, states, states, 2, &err), -1);
    ck_assert_msg(strstr(err.message, "layer 0 holds 2 tokens, adding 2 would exceed the capacity of 3") != NULL,
                  "%s", err.message);
    ck_assert_int_eq(cache.num_items[0], 2);
    ck_assert(isnan(kv_cache_keys(&cache, 0, 0)[2 * 4]));
    kv_cache_free(&cache);
}
END_TEST

START_TEST(layer_out_of_range_is_error)
{
    kv_cache cache;
    pg_error err;
    ck_assert_int_eq(kv_cache_create(&cache, 2, 1, 4, 3, &err), 0);
    float states[4] = {0};
    ck_assert_int_eq(kv_cache_update(&cache, 2, states, states, 1, &err), -1);
    ck_assert_msg(strstr(err.message, "layer_idx 2 out of range 0..1") != NULL, "%s", err.message);
    kv_cache_free(&cache);
    ck_assert_int_eq(kv_cache_create(&cache, 2, 0, 4, 3, &err), -1);
    ck_assert_msg(strstr(err.message, "num_key_value_heads 0") != NULL, "%s", err.message);
    kv_cache_free(&cache);
}
END_TEST

Suite *kv_cache_suite(void)
{
    Suite *s = suite_create("kv_cache");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, prefill_then_three_updates);
    suite_add_tcase(s, golden);
    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, update_past_capacity_is_error);
    tcase_add_test(errors, layer_out_of_range_is_error);
    suite_add_tcase(s, errors);
    return s;
}

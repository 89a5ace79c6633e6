/*
 * Chapter 8, GemmaModel and GemmaForCausalLM, against golden/08_gemma
 * (gen_08_gemma.py), plus the properties of PaliGemma's decoding: 1-based
 * positions, prefill + decode = one prefix-LM pass, a bidirectional prefix,
 * and a cache whose unwritten slots are never read.
 *
 * The model is small (vocab 300, hidden 64, intermediate 128, 3 layers,
 * 4 query heads, 2 key/value heads, head_dim 16) with the seeded weights of
 * gemma_random_weights_create (seed 800, gain 2).
 *
 * Tolerances, atol 5e-5 + rtol 1e-5 for hidden states and logits alike:
 * - hidden states: with gain 2 the residual stream grows to |22|, |29| and
 *   |37| after layers 0, 1, 2 (one float32 ulp at 32 is 3.8e-6). PyTorch's own
 *   float32 result is already 3e-5 away from a float64 evaluation of the same
 *   model after layer 2, and C's natural-order sums drift as much again, so
 *   the rtol share (3.7e-4 at |37|) carries the large entries and atol the
 *   small ones. Measured at most 6.1e-5, on an entry larger than 1.
 * - logits: each sums 64 products of the final hidden state (|h| < 4) with
 *   embedding rows (|w| < 0.44), |terms| summing to at most 15, on top of the
 *   hidden-state error after the final norm. PyTorch's float32 logits are
 *   6.2e-6 from float64; measured C against PyTorch at most 1.6e-5.
 * PyTorch's logits differ by 4.5e-6 between prefill + decode and the one-pass
 * prefix-LM run. The C code gives the same bits for both. The choice of mask
 * moves the logits by 2.3 or more.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "01_kv_cache/kv_cache.h"
#include "08_gemma/gemma.h"
#include "08_gemma/random_weights.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "08_gemma"
#define VOCAB 300
#define HIDDEN 64
#define LAYERS 3
#define KV_HEADS 2
#define HEAD_DIM 16
#define PREFILL 6
#define STEPS 3
#define TOTAL (PREFILL + STEPS)
#define CAPACITY 16
#define ATOL 5e-5
#define RTOL 1e-5

static gemma_config small_config(void)
{
    gemma_config config;
    gemma_config_paligemma_3b(&config);
    config.vocab_size = VOCAB;
    config.hidden_size = HIDDEN;
    config.intermediate_size = 128;
    config.num_hidden_layers = LAYERS;
    config.num_attention_heads = 4;
    config.num_key_value_heads = KV_HEADS;
    config.head_dim = HEAD_DIM;
    return config;
}

/* The model, its state and a cache, set up once per test. */
typedef struct {
    gemma_config config;
    gemma_random_weights random;
    gemma_state state;
    kv_cache cache;
} fixture;

static void fixture_create(fixture *f)
{
    pg_error err;
    f->config = small_config();
    ck_assert_msg(gemma_random_weights_create(&f->random, &f->config, 800, 2.0, &err) == 0, "%s", err.message);
    ck_assert_msg(gemma_state_create(&f->state, &f->config, TOTAL, CAPACITY, &err) == 0, "%s", err.message);
    ck_assert_msg(kv_cache_create(&f->cache, LAYERS, KV_HEADS, HEAD_DIM, CAPACITY, &err) == 0, "%s", err.message);
}

static void fixture_free(fixture *f)
{
    kv_cache_free(&f->cache);
    gemma_state_free(&f->state);
    gemma_random_weights_free(&f->random);
}

/* Loads a golden int64 vector into ints. */
static void load_ints(int *out, const char *name, int n)
{
    npy_array array;
    golden_load_i64(&array, CHAPTER, name, 1, n);
    for (int i = 0; i < n; i++)
        out[i] = (int)((int64_t *)array.data)[i];
    npy_free(&array);
}

/* Positions first..first + n - 1. */
static void fill_positions(int *positions, int first, int n)
{
    for (int i = 0; i < n; i++)
        positions[i] = first + i;
}

/* A forward pass that must succeed. */
static void forward(fixture *f, float *logits, int keep, const int *ids, const float *embeds, const float *mask,
                    const int *positions, int T, kv_cache *cache)
{
    pg_error err;
    int rc = gemma_for_causal_lm_forward(logits, keep, ids, embeds, mask, positions, T, &f->random.weights,
                                         &f->config, cache, &f->state, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
}

/* Prefill the golden 6 ids with no mask, then the 3 golden decode steps, all
 * through `cache`. Writes the logits of all 9 rows into logits [9, V] and
 * checks the cached length of every layer after each pass. */
static void prefill_then_decode(fixture *f, kv_cache *cache, float *logits)
{
    int ids[TOTAL], positions[PREFILL];
    load_ints(ids, "full_prefix_lm_ids", TOTAL);
    fill_positions(positions, 1, PREFILL);
    forward(f, logits, 0, ids, NULL, NULL, positions, PREFILL, cache);
    for (int layer = 0; layer < LAYERS; layer++)
        ck_assert_int_eq(cache->num_items[layer], PREFILL);

    for (int step = 1; step <= STEPS; step++) {
        /* Decode step k runs at position N + k. */
        int position = PREFILL + step;
        forward(f, logits + (size_t)(PREFILL + step - 1) * VOCAB, 1, &ids[PREFILL + step - 1], NULL, NULL,
                &position, 1, cache);
        for (int layer = 0; layer < LAYERS; layer++)
            ck_assert_int_eq(cache->num_items[layer], PREFILL + step);
    }
}

/* Collects every layer's input, and the last layer's output, as [L + 1, T, D]. */
typedef struct {
    float boundaries[(LAYERS + 1) * TOTAL * HIDDEN];
    int calls;
} boundary_recorder;

static void record_boundaries(void *user_data, int layer_idx, const float *layer_input, const float *layer_output,
                              int T, int hidden_size)
{
    boundary_recorder *recorder = user_data;
    size_t size = (size_t)T * hidden_size;
    memcpy(recorder->boundaries + (size_t)layer_idx * size, layer_input, sizeof(float) * size);
    memcpy(recorder->boundaries + (size_t)(layer_idx + 1) * size, layer_output, sizeof(float) * size);
    recorder->calls++;
}

START_TEST(prefill_and_decode_match_pytorch)
{
    fixture f;
    fixture_create(&f);
    boundary_recorder recorder = {{0}, 0};
    f.state.layer_callback = record_boundaries;
    f.state.callback_user_data = &recorder;

    int ids[PREFILL], positions[PREFILL], want_positions[PREFILL];
    load_ints(ids, "prefill_ids", PREFILL);
    load_ints(want_positions, "prefill_positions", PREFILL);
    fill_positions(positions, 1, PREFILL);
    ck_assert_msg(memcmp(positions, want_positions, sizeof positions) == 0, "the golden prefill is not at 1..6");

    float logits[PREFILL * VOCAB];
    forward(&f, logits, 0, ids, NULL, NULL, positions, PREFILL, &f.cache);
    ck_assert_int_eq(recorder.calls, LAYERS);

    npy_array want_boundaries, want_hidden, want_logits;
    golden_load_f32(&want_boundaries, CHAPTER, "prefill_boundaries", 3, LAYERS + 1, PREFILL, HIDDEN);
    golden_load_f32(&want_hidden, CHAPTER, "prefill_last_hidden_state", 2, PREFILL, HIDDEN);
    golden_load_f32(&want_logits, CHAPTER, "prefill_logits", 2, PREFILL, VOCAB);
    for (int l = 0; l <= LAYERS; l++) {
        char label[64];
        snprintf(label, sizeof label, l == 0 ? "scaled embedding (layer 0 input)" : "layer %d output", l - 1);
        size_t size = (size_t)PREFILL * HIDDEN;
        ck_assert_tensor(label, recorder.boundaries + l * size, (float *)want_boundaries.data + l * size, size, ATOL,
                         RTOL);
    }
    ck_assert_tensor("prefill last hidden state", f.state.last_hidden_state, want_hidden.data, want_hidden.count,
                     ATOL, RTOL);
    ck_assert_tensor("prefill logits", logits, want_logits.data, want_logits.count, ATOL, RTOL);
    npy_free(&want_boundaries);
    npy_free(&want_hidden);
    npy_free(&want_logits);

    /* The decode steps: one token each, at positions 7, 8, 9. */
    for (int step = 1; step <= STEPS; step++) {
        char name[64];
        int token, position;
        snprintf(name, sizeof name, "step_%d_ids", step);
        load_ints(&token, name, 1);
        snprintf(name, sizeof name, "step_%d_positions", step);
        load_ints(&position, name, 1);
        ck_assert_int_eq(position, PREFILL + step);

        float step_logits[VOCAB];
        forward(&f, step_logits, 1, &token, NULL, NULL, &position, 1, &f.cache);
        for (int layer = 0; layer < LAYERS; layer++)
            ck_assert_int_eq(f.cache.num_items[layer], PREFILL + step);

        npy_array want;
        snprintf(name, sizeof name, "step_%d_logits", step);
        golden_load_f32(&want, CHAPTER, name, 2, 1, VOCAB);
        snprintf(name, sizeof name, "decode step %d logits (position %d)", step, position);
        ck_assert_tensor(name, step_logits, want.data, want.count, ATOL, RTOL);
        npy_free(&want);
    }

    /* Every layer's cache, keys after RoPE: a layer that rotated a decode key
     * at another position than N + k would miss here. */
    npy_array want_keys, want_values;
    golden_load_f32(&want_keys, CHAPTER, "cached_keys", 4, LAYERS, KV_HEADS, TOTAL, HEAD_DIM);
    golden_load_f32(&want_values, CHAPTER, "cached_values", 4, LAYERS, KV_HEADS, TOTAL, HEAD_DIM);
    float got_keys[LAYERS * KV_HEADS * TOTAL * HEAD_DIM], got_values[LAYERS * KV_HEADS * TOTAL * HEAD_DIM];
    for (int layer = 0; layer < LAYERS; layer++)
        for (int k = 0; k < KV_HEADS; k++) {
            size_t offset = ((size_t)layer * KV_HEADS + k) * TOTAL * HEAD_DIM;
            memcpy(got_keys + offset, kv_cache_keys(&f.cache, layer, k), sizeof(float) * TOTAL * HEAD_DIM);
            memcpy(got_values + offset, kv_cache_values(&f.cache, layer, k), sizeof(float) * TOTAL * HEAD_DIM);
        }
    ck_assert_tensor("cached keys, all layers", got_keys, want_keys.data, want_keys.count, ATOL, RTOL);
    ck_assert_tensor("cached values, all layers", got_values, want_values.data, want_values.count, ATOL, RTOL);
    npy_free(&want_keys);
    npy_free(&want_values);
    fixture_free(&f);
}
END_TEST

/* One pass over the 9 ids with a given golden mask; no cache. */
static void full_pass(fixture *f, float *logits, const char *mask_name)
{
    int ids[TOTAL], positions[TOTAL];
    npy_array mask;
    load_ints(ids, "full_prefix_lm_ids", TOTAL);
    golden_load_f32(&mask, CHAPTER, mask_name, 2, TOTAL, TOTAL);
    fill_positions(positions, 1, TOTAL);
    forward(f, logits, 0, ids, NULL, mask.data, positions, TOTAL, NULL);
    npy_free(&mask);
}

/* Prefill of N then k decode steps equals one pass over N + k tokens with
 * the prefix-LM mask (prefix N), and differs from one with a causal mask. */
START_TEST(decode_equals_one_prefix_lm_pass)
{
    fixture f;
    fixture_create(&f);
    static float incremental[TOTAL * VOCAB], prefix_lm[TOTAL * VOCAB], causal[TOTAL * VOCAB];
    prefill_then_decode(&f, &f.cache, incremental);
    full_pass(&f, prefix_lm, "full_prefix_lm_mask");
    full_pass(&f, causal, "full_causal_mask");

    npy_array want_prefix_lm, want_causal;
    golden_load_f32(&want_prefix_lm, CHAPTER, "full_prefix_lm_logits", 2, TOTAL, VOCAB);
    golden_load_f32(&want_causal, CHAPTER, "full_causal_logits", 2, TOTAL, VOCAB);
    ck_assert_tensor("one pass, prefix-LM mask, vs PyTorch", prefix_lm, want_prefix_lm.data, want_prefix_lm.count, ATOL,
                     RTOL);
    ck_assert_tensor("one pass, causal mask, vs PyTorch", causal, want_causal.data, want_causal.count, ATOL, RTOL);
    ck_assert_tensor("prefill + 3 decode steps vs one prefix-LM pass", incremental, prefix_lm, TOTAL * VOCAB, ATOL,
                     RTOL);

    tensor_diff diff;
    char report[1024];
    int same = tensor_compare("expected to miss: prefill + 3 decode steps vs one causal pass", incremental, causal, TOTAL * VOCAB,
                              ATOL, RTOL, &diff, report, sizeof report);
    printf("  %s\n", report);
    ck_assert_msg(!same && diff.max_abs_error > 1000 * ATOL, "a causal pass matched the prefix-LM decode: %s",
                  report);
    npy_free(&want_prefix_lm);
    npy_free(&want_causal);
    fixture_free(&f);
}
END_TEST

/* The prefix attends both ways: in a prefill without a mask, changing the
 * last token changes the hidden state at position 0. With a causal mask
 * position 0 would not see it, which shows the check can fail. */
START_TEST(last_prefix_token_changes_position_0)
{
    fixture f;
    fixture_create(&f);
    int ids[PREFILL], changed[PREFILL], positions[PREFILL];
    load_ints(ids, "prefill_ids", PREFILL);
    memcpy(changed, ids, sizeof ids);
    changed[PREFILL - 1] = ids[PREFILL - 1] == 100 ? 101 : 100;
    fill_positions(positions, 1, PREFILL);
    float logits[PREFILL * VOCAB], original_row0[HIDDEN], changed_row0[HIDDEN];

    forward(&f, logits, 0, ids, NULL, NULL, positions, PREFILL, NULL);
    memcpy(original_row0, f.state.last_hidden_state, sizeof original_row0);
    forward(&f, logits, 0, changed, NULL, NULL, positions, PREFILL, NULL);
    memcpy(changed_row0, f.state.last_hidden_state, sizeof changed_row0);
    tensor_diff diff;
    char report[1024];
    int same = tensor_compare("expected to miss: position 0, last token changed, no mask", changed_row0, original_row0, HIDDEN, ATOL,
                              RTOL, &diff, report, sizeof report);
    printf("  %s\n", report);
    ck_assert_msg(!same && diff.max_abs_error > 1000 * ATOL, "position 0 ignored the last prefix token: %s", report);

    /* The same change under a causal mask leaves position 0 bit for bit alone. */
    float causal[PREFILL * PREFILL];
    for (int t = 0; t < PREFILL; t++)
        for (int s = 0; s < PREFILL; s++)
            causal[t * PREFILL + s] = s <= t ? 0.0f : -INFINITY;
    forward(&f, logits, 0, ids, NULL, causal, positions, PREFILL, NULL);
    memcpy(original_row0, f.state.last_hidden_state, sizeof original_row0);
    forward(&f, logits, 0, changed, NULL, causal, positions, PREFILL, NULL);
    ck_assert_msg(memcmp(original_row0, f.state.last_hidden_state, sizeof original_row0) == 0,
                  "a causal mask let position 0 see the last token");
    fixture_free(&f);
}
END_TEST

/* Slots past the cached length are never read: a cache that starts as NaN
 * gives bit-identical, finite logits. */
START_TEST(nan_filled_cache_gives_same_bits)
{
    fixture f;
    fixture_create(&f);
    kv_cache poisoned;
    pg_error err;
    ck_assert_msg(kv_cache_create(&poisoned, LAYERS, KV_HEADS, HEAD_DIM, CAPACITY, &err) == 0, "%s", err.message);
    size_t floats = (size_t)LAYERS * KV_HEADS * CAPACITY * HEAD_DIM;
    for (size_t i = 0; i < floats; i++) {
        poisoned.key_cache[i] = NAN;
        poisoned.value_cache[i] = NAN;
    }

    static float reference[TOTAL * VOCAB], got[TOTAL * VOCAB];
    prefill_then_decode(&f, &f.cache, reference);
    prefill_then_decode(&f, &poisoned, got);
    for (size_t i = 0; i < TOTAL * VOCAB; i++)
        ck_assert_msg(isfinite(got[i]), "logit %zu is %f with NaN in unwritten slots", i, got[i]);
    ck_assert_msg(memcmp(got, reference, sizeof got) == 0, "NaN in unwritten cache slots changed the logits");
    kv_cache_free(&poisoned);
    fixture_free(&f);
}
END_TEST

START_TEST(inputs_embeds_match_pytorch)
{
    fixture f;
    fixture_create(&f);
    npy_array embeds, want;
    golden_load_f32(&embeds, CHAPTER, "embeds_inputs", 2, 5, HIDDEN);
    golden_load_f32(&want, CHAPTER, "embeds_logits", 2, 1, VOCAB);
    int positions[5];
    fill_positions(positions, 1, 5);
    float logits[VOCAB];
    forward(&f, logits, 1, NULL, embeds.data, NULL, positions, 5, NULL);
    ck_assert_tensor("inputs_embeds, last row", logits, want.data, want.count, ATOL, RTOL);
    npy_free(&embeds);
    npy_free(&want);

    /* Embedding rows passed as inputs_embeds give the same bits as their ids. */
    int ids[PREFILL];
    load_ints(ids, "prefill_ids", PREFILL);
    fill_positions(positions, 1, 5);
    float rows[5 * HIDDEN], from_ids[VOCAB], from_rows[VOCAB];
    for (int t = 0; t < 5; t++)
        weight_row(rows + t * HIDDEN, f.random.weights.embed_tokens, ids[t], HIDDEN);
    forward(&f, from_ids, 1, ids, NULL, NULL, positions, 5, NULL);
    forward(&f, from_rows, 1, NULL, rows, NULL, positions, 5, NULL);
    ck_assert_msg(memcmp(from_ids, from_rows, sizeof from_ids) == 0, "embedding rows and ids disagree");
    fixture_free(&f);
}
END_TEST

/* The normalizer is sqrt(hidden_size) rounded to float32: 45.2548332 at
 * 2048, as PyTorch rounds it, and <bos> enters layer 0 as
 * embed_tokens[2] * normalizer, bit for bit. */
START_TEST(normalizer_is_float32_sqrt_hidden)
{
    npy_array want_64, want_2048;
    golden_load_f32(&want_64, CHAPTER, "normalizer_64", 1, 1);
    golden_load_f32(&want_2048, CHAPTER, "normalizer_2048", 1, 1);
    ck_assert_float_eq((float)sqrt(2048.0), ((float *)want_2048.data)[0]);
    ck_assert_float_eq((float)sqrt(2048.0), 45.2548332f);
    ck_assert_float_eq((float)sqrt(64.0), ((float *)want_64.data)[0]);
    npy_free(&want_64);
    npy_free(&want_2048);

    fixture f;
    fixture_create(&f);
    boundary_recorder recorder = {{0}, 0};
    f.state.layer_callback = record_boundaries;
    f.state.callback_user_data = &recorder;
    int ids[PREFILL], positions[PREFILL];
    load_ints(ids, "prefill_ids", PREFILL);
    ck_assert_int_eq(ids[0], f.config.bos_token_id);
    fill_positions(positions, 1, PREFILL);
    float logits[VOCAB];
    forward(&f, logits, 1, ids, NULL, NULL, positions, PREFILL, NULL);
    for (int d = 0; d < HIDDEN; d++)
        ck_assert_float_eq(recorder.boundaries[d], ((const float *)f.random.weights.embed_tokens.data)[2 * HIDDEN + d] * 8.0f);
    fixture_free(&f);
}
END_TEST

START_TEST(paligemma_defaults)
{
    gemma_config config;
    gemma_config_paligemma_3b(&config);
    pg_error err;
    ck_assert_msg(gemma_config_validate(&config, &err) == 0, "%s", err.message);
    ck_assert_int_eq(config.vocab_size, 257216);
    ck_assert_int_eq(config.hidden_size, 2048);
    ck_assert_int_eq(config.intermediate_size, 16384);
    ck_assert_int_eq(config.num_hidden_layers, 18);
    ck_assert_int_eq(config.num_attention_heads, 8);
    ck_assert_int_eq(config.num_key_value_heads, 1);
    ck_assert_int_eq(config.head_dim, 256);
    ck_assert_int_eq(config.max_position_embeddings, 8192);
    ck_assert_float_eq(config.rms_norm_eps, 1e-6f);
    ck_assert_float_eq(config.rope_theta, 10000.0f);
    ck_assert_int_eq(config.pad_token_id, 0);
    ck_assert_int_eq(config.eos_token_id, 1);
    ck_assert_int_eq(config.bos_token_id, 2);
}
END_TEST

/* Each broken config is rejected with a message that names the field. */
START_TEST(invalid_configs_are_errors)
{
    const struct {
        const char *field;
        int value;
        const char *message;
    } cases[] = {
        {"num_attention_heads", 0, "num_attention_heads is 0, expected a positive number"},
        {"num_key_value_heads", 0, "num_key_value_heads is 0, expected a positive number"},
        {"num_key_value_heads", 3, "num_attention_heads 8 is not a multiple of num_key_value_heads 3"},
        {"head_dim", 255, "head_dim 255 is odd"},
        {"hidden_size", -1, "hidden_size is -1, expected a positive number"},
        {"bos_token_id", 257216, "bos_token_id is 257216, outside the vocabulary 0..257215"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gemma_config config;
        gemma_config_paligemma_3b(&config);
        if (strcmp(cases[i].field, "num_attention_heads") == 0)
            config.num_attention_heads = cases[i].value;
        else if (strcmp(cases[i].field, "num_key_value_heads") == 0)
            config.num_key_value_heads = cases[i].value;
        else if (strcmp(cases[i].field, "head_dim") == 0)
            config.head_dim = cases[i].value;
        else if (strcmp(cases[i].field, "hidden_size") == 0)
            config.hidden_size = cases[i].value;
        else
            config.bos_token_id = cases[i].value;
        pg_error err;
        ck_assert_int_eq(gemma_config_validate(&config, &err), -1);
        ck_assert_msg(strstr(err.message, cases[i].message) != NULL, "%s = %d: %s", cases[i].field, cases[i].value,
                      err.message);
    }
    gemma_config config;
    gemma_config_paligemma_3b(&config);
    config.rms_norm_eps = NAN;
    pg_error err;
    ck_assert_int_eq(gemma_config_validate(&config, &err), -1);
    ck_assert_msg(strstr(err.message, "rms_norm_eps is nan") != NULL, "%s", err.message);
}
END_TEST

/* Bad forward inputs are rejected before the cache changes. */
START_TEST(invalid_forward_inputs_are_errors)
{
    fixture f;
    fixture_create(&f);
    int ids[PREFILL] = {2, 5, 7, 300, 9, 11}, positions[TOTAL + 1];
    fill_positions(positions, 1, TOTAL + 1);
    float logits[(TOTAL + 1) * VOCAB], embeds[HIDDEN] = {0};
    pg_error err;

    int rc = gemma_for_causal_lm_forward(logits, 0, ids, NULL, NULL, positions, PREFILL, &f.random.weights,
                                         &f.config, &f.cache, &f.state, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "input_ids[3] is 300, outside the vocabulary 0..299") != NULL, "%s",
                  err.message);
    ck_assert_int_eq(f.cache.num_items[0], 0);

    rc = gemma_for_causal_lm_forward(logits, 0, ids, embeds, NULL, positions, 1, &f.random.weights, &f.config,
                                     &f.cache, &f.state, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "pass exactly one of input_ids and inputs_embeds (got both)") != NULL, "%s",
                  err.message);

    rc = gemma_for_causal_lm_forward(logits, 2, ids, NULL, NULL, positions, 1, &f.random.weights, &f.config,
                                     &f.cache, &f.state, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "num_logits_to_keep is 2, expected 0 (all rows) to T = 1") != NULL, "%s",
                  err.message);

    int many[TOTAL + 1] = {0};
    rc = gemma_for_causal_lm_forward(logits, 0, many, NULL, NULL, positions, TOTAL + 1, &f.random.weights,
                                     &f.config, &f.cache, &f.state, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "10 new tokens, but the state holds 1..9") != NULL, "%s", err.message);

    /* A cache of capacity 8 cannot take 9 tokens; nothing is written. */
    kv_cache small;
    ck_assert_int_eq(kv_cache_create(&small, LAYERS, KV_HEADS, HEAD_DIM, 8, &err), 0);
    rc = gemma_for_causal_lm_forward(logits, 0, many, NULL, NULL, positions, TOTAL, &f.random.weights, &f.config,
                                     &small, &f.state, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "the KV cache holds 0 tokens, adding 9 would exceed its capacity of 8") != NULL,
                  "%s", err.message);
    for (int layer = 0; layer < LAYERS; layer++)
        ck_assert_int_eq(small.num_items[layer], 0);
    kv_cache_free(&small);
    fixture_free(&f);
}
END_TEST

Suite *gemma_suite(void)
{
    Suite *s = suite_create("gemma");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, prefill_and_decode_match_pytorch);
    tcase_add_test(golden, inputs_embeds_match_pytorch);
    tcase_add_test(golden, normalizer_is_float32_sqrt_hidden);
    suite_add_tcase(s, golden);
    TCase *properties = tcase_create("properties");
    tcase_add_test(properties, decode_equals_one_prefix_lm_pass);
    tcase_add_test(properties, last_prefix_token_changes_position_0);
    tcase_add_test(properties, nan_filled_cache_gives_same_bits);
    suite_add_tcase(s, properties);
    TCase *config = tcase_create("config");
    tcase_add_test(config, paligemma_defaults);
    tcase_add_test(config, invalid_configs_are_errors);
    tcase_add_test(config, invalid_forward_inputs_are_errors);
    suite_add_tcase(s, config);
    return s;
}

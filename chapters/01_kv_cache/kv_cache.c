/*
 * Chapter 1: the key/value cache. See kv_cache.h for the shapes and
 * docs/01_kv_cache.md for why generation needs it.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   if len(self.key_cache) <= layer_idx:
 *       self.key_cache.append(key_states)
 *   else:
 *       self.key_cache[layer_idx] = torch.cat([self.key_cache[layer_idx], key_states], dim=-2)
 * dim=-2 is the sequence dimension of [B, K, S, Dh]: new tokens go after the
 * old ones, separately for each key/value head.
 */
#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "io.h"

int kv_cache_create(kv_cache *cache, int num_layers, int num_key_value_heads, int head_dim,
                    int capacity, pg_error *err)
{
    memset(cache, 0, sizeof *cache);
    if (num_layers <= 0 || num_key_value_heads <= 0 || head_dim <= 0 || capacity <= 0)
        return pg_error_set(err, "invalid KV cache size: num_layers %d, num_key_value_heads %d, head_dim %d, "
                            "capacity %d; all must be positive",
                            num_layers, num_key_value_heads, head_dim, capacity);

    /* One float per (layer, head, slot, channel), for keys and for values. */
    size_t floats = (size_t)num_layers * (size_t)num_key_value_heads * (size_t)capacity;
    if (pg_mul_overflows(floats, (size_t)head_dim, &floats) != 0)
        return pg_error_set(err, "invalid KV cache size: %d x %d x %d x %d floats overflow size_t",
                            num_layers, num_key_value_heads, capacity, head_dim);
    cache->key_cache = pg_calloc(floats, sizeof(float), "the KV cache keys", err);
    cache->value_cache = pg_calloc(floats, sizeof(float), "the KV cache values", err);
    cache->num_items = pg_calloc((size_t)num_layers, sizeof(int), "the KV cache lengths", err);
    if (cache->key_cache == NULL || cache->value_cache == NULL || cache->num_items == NULL) {
        kv_cache_free(cache);
        return -1;
    }

    cache->num_layers = num_layers;
    cache->num_key_value_heads = num_key_value_heads;
    cache->head_dim = head_dim;
    cache->capacity = capacity;
    return 0;
}

void kv_cache_free(kv_cache *cache)
{
    free(cache->key_cache);
    free(cache->value_cache);
    free(cache->num_items);
    memset(cache, 0, sizeof *cache);
}

float *kv_cache_keys(const kv_cache *cache, int layer_idx, int kv_head)
{
    size_t rows = ((size_t)layer_idx * cache->num_key_value_heads + kv_head) * cache->capacity;
    return cache->key_cache + rows * cache->head_dim;
}

float *kv_cache_values(const kv_cache *cache, int layer_idx, int kv_head)
{
    size_t rows = ((size_t)layer_idx * cache->num_key_value_heads + kv_head) * cache->capacity;
    return cache->value_cache + rows * cache->head_dim;
}

int kv_cache_update(kv_cache *cache, int layer_idx, const float *key_states,
                    const float *value_states, int T, pg_error *err)
{
    int K = cache->num_key_value_heads, Dh = cache->head_dim;

    /* Check the request before touching memory: a write past the capacity
     * would corrupt the next head's rows. */
    if (layer_idx < 0 || layer_idx >= cache->num_layers)
        return pg_error_set(err, "KV cache update: layer_idx %d out of range 0..%d", layer_idx,
                            cache->num_layers - 1);
    int past = cache->num_items[layer_idx];
    if (T < 0 || T > cache->capacity - past)
        return pg_error_set(err, "KV cache update: layer %d holds %d tokens, adding %d would exceed "
                            "the capacity of %d; create the cache with a larger capacity",
                            layer_idx, past, T, cache->capacity);

    /* BEGIN SOLUTION: the copy into the cache in kv_cache_update, docs/01_kv_cache.md "How the C maps to PyTorch"
     * Student placeholder:
     *     (void)key_states; (void)value_states; (void)K; (void)Dh;
     */
    /* torch.cat(..., dim=-2): for each key/value head, the T new rows go to
     * slots past..past+T-1 of that head. */
    for (int k = 0; k < K; k++) {
        float *keys = kv_cache_keys(cache, layer_idx, k);
        float *values = kv_cache_values(cache, layer_idx, k);
        for (int t = 0; t < T; t++) {
            for (int d = 0; d < Dh; d++) {
                keys[(size_t)(past + t) * Dh + d] = key_states[((size_t)k * T + t) * Dh + d];
                values[(size_t)(past + t) * Dh + d] = value_states[((size_t)k * T + t) * Dh + d];
            }
        }
    }

    cache->num_items[layer_idx] = past + T;
    /* END SOLUTION */
    return 0;
}

int kv_cache_num_items(const kv_cache *cache)
{
    /* PyTorch reads the length of layer 0; every layer is updated once per
     * forward pass, so all agree between passes. */
    return cache->num_layers > 0 ? cache->num_items[0] : 0;
}

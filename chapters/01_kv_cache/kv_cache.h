/*
 * Chapter 1: the key/value cache.
 *
 * Mirrors the PyTorch class KVCache (golden/modeling_gemma.py): one list of
 * keys and one of values per decoder layer, grown along the sequence by
 * update(key_states, value_states, layer_idx); num_items() is the cached
 * length. PyTorch concatenates new tensors each step; here the storage is
 * allocated once for `capacity` tokens and filled in place.
 *
 * Shapes (letters in common/dims.h):
 *   key_states, value_states   [K, T, Dh]      new tokens of one layer
 *   key_cache, value_cache     [L, K, C, Dh]   slots 0..num_items-1 are valid
 */
#ifndef PG_KV_CACHE_H
#define PG_KV_CACHE_H

#include "pg_error.h"

typedef struct {
    int num_layers;          /* L */
    int num_key_value_heads; /* K */
    int head_dim;            /* Dh */
    int capacity;            /* C: the most tokens each layer can hold */
    int *num_items;          /* [L]: tokens stored so far in each layer */
    float *key_cache;        /* [L, K, C, Dh], keys after rotary embedding */
    float *value_cache;      /* [L, K, C, Dh] */
} kv_cache;

/* Allocates an empty cache. Returns -1 with a message if a size is not
 * positive or the storage does not fit in memory. */
int kv_cache_create(kv_cache *cache, int num_layers, int num_key_value_heads, int head_dim,
                    int capacity, pg_error *err);

/* Frees the storage and zeroes the struct. */
void kv_cache_free(kv_cache *cache);

/* Appends T new tokens to layer layer_idx. Returns -1 with a message, and
 * changes nothing, if the layer index is out of range or the cache would
 * grow past its capacity. */
int kv_cache_update(kv_cache *cache, int layer_idx, const float *key_states,
                    const float *value_states, int T, pg_error *err);

/* Returns the number of cached tokens, read from layer 0 as PyTorch's
 * KVCache.num_items() does. */
int kv_cache_num_items(const kv_cache *cache);

/* Return the [C, Dh] key or value rows of one key/value head of one layer;
 * rows 0..num_items[layer_idx]-1 are valid. */
float *kv_cache_keys(const kv_cache *cache, int layer_idx, int kv_head);
float *kv_cache_values(const kv_cache *cache, int layer_idx, int kv_head);

#endif

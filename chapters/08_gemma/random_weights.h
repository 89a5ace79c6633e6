/*
 * Seeded random Gemma weights, bit-identical to fill_seeded_model in
 * golden/modeling_gemma.py, for tests and demos that need a model without a
 * checkpoint. Tensor i gets the seeded_uniform stream seed + i: embed_tokens
 * is 0, the final norm 1, and tensor j of layer l is 2 + 9 l + j in the order
 * input_layernorm, q_proj, k_proj, v_proj, o_proj, post_attention_layernorm,
 * gate_proj, up_proj, down_proj. Norm weights are uniform in [-0.5, 0.5);
 * a weight [out, in] (embed_tokens [V, D] too) is uniform with half-width
 * gain * sqrt(3 / in), a standard deviation of gain / sqrt(in).
 */
#ifndef PG_RANDOM_WEIGHTS_H
#define PG_RANDOM_WEIGHTS_H

#include <stdint.h>

#include "08_gemma/gemma.h"
#include "pg_error.h"

typedef struct {
    gemma_weights weights;              /* the view the forward pass reads */
    gemma_decoder_layer_weights *layers; /* [L], pointed to by weights.layers */
    float *storage;                     /* every tensor, in one allocation */
} gemma_random_weights;

/* Allocates and fills every tensor of a model of this config. Returns -1
 * with a message if the config is invalid or memory runs out. */
int gemma_random_weights_create(gemma_random_weights *random, const gemma_config *config, uint64_t seed,
                                double gain, pg_error *err);

/* Frees the storage and zeroes the struct. */
void gemma_random_weights_free(gemma_random_weights *random);

#endif

/*
 * Seeded random Gemma weights. See random_weights.h for the seeds and scales.
 */
#include "random_weights.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "seeded_random.h"

#define NORM_SCALE 0.5f

/* Hands out consecutive tensors of the storage and fills each from its stream. */
typedef struct {
    float *next;
    uint64_t seed;
    double gain;
} tensor_filler;

static weight_matrix fill_matrix(tensor_filler *filler, uint64_t index, int rows, int cols)
{
    float *tensor = filler->next;
    size_t n = (size_t)rows * cols;
    seeded_uniform(tensor, n, filler->seed + index, (float)(filler->gain * sqrt(3.0 / cols)));
    filler->next += n;
    return weight_f32(tensor);
}

static const float *fill_norm(tensor_filler *filler, uint64_t index, int size)
{
    float *tensor = filler->next;
    seeded_uniform(tensor, (size_t)size, filler->seed + index, NORM_SCALE);
    filler->next += size;
    return tensor;
}

int gemma_random_weights_create(gemma_random_weights *random, const gemma_config *config, uint64_t seed,
                                double gain, pg_error *err)
{
    memset(random, 0, sizeof *random);
    if (gemma_config_validate(config, err) != 0)
        return -1;
    size_t D = (size_t)config->hidden_size, F = (size_t)config->intermediate_size;
    size_t q_width = (size_t)config->num_attention_heads * config->head_dim;
    size_t kv_width = (size_t)config->num_key_value_heads * config->head_dim;
    size_t per_layer = 2 * D + q_width * D + 2 * kv_width * D + D * q_width + 3 * F * D;
    size_t total = (size_t)config->vocab_size * D + D + (size_t)config->num_hidden_layers * per_layer;

    random->storage = pg_calloc(total, sizeof(float), "the random Gemma weights", err);
    random->layers = pg_calloc((size_t)config->num_hidden_layers, sizeof *random->layers,
                               "the random Gemma layer table", err);
    if (random->storage == NULL || random->layers == NULL) {
        gemma_random_weights_free(random);
        return -1;
    }

    tensor_filler filler = {random->storage, seed, gain};
    int H_Dh = (int)q_width, K_Dh = (int)kv_width, hidden = config->hidden_size;
    int intermediate = config->intermediate_size;
    random->weights.embed_tokens = fill_matrix(&filler, 0, config->vocab_size, hidden);
    random->weights.norm = fill_norm(&filler, 1, hidden);
    for (int l = 0; l < config->num_hidden_layers; l++) {
        gemma_decoder_layer_weights *layer = &random->layers[l];
        uint64_t base = 2 + 9 * (uint64_t)l;
        layer->input_layernorm = fill_norm(&filler, base + 0, hidden);
        layer->self_attn.q_proj = fill_matrix(&filler, base + 1, H_Dh, hidden);
        layer->self_attn.k_proj = fill_matrix(&filler, base + 2, K_Dh, hidden);
        layer->self_attn.v_proj = fill_matrix(&filler, base + 3, K_Dh, hidden);
        layer->self_attn.o_proj = fill_matrix(&filler, base + 4, hidden, H_Dh);
        layer->post_attention_layernorm = fill_norm(&filler, base + 5, hidden);
        layer->mlp.gate_proj = fill_matrix(&filler, base + 6, intermediate, hidden);
        layer->mlp.up_proj = fill_matrix(&filler, base + 7, intermediate, hidden);
        layer->mlp.down_proj = fill_matrix(&filler, base + 8, hidden, intermediate);
    }
    random->weights.layers = random->layers;
    return 0;
}

void gemma_random_weights_free(gemma_random_weights *random)
{
    free(random->storage);
    free(random->layers);
    memset(random, 0, sizeof *random);
}

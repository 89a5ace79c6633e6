/*
 * Chapter 12: loading a Hugging Face PaliGemma checkpoint.
 *
 * config.json gives the sizes; every tensor is then looked up under its
 * published name (either naming scheme, see common/safetensors.h) and its
 * shape checked against the config. Linear weight matrices stored as F32 or
 * BF16 are used in place, inside the memory-mapped file; every other tensor
 * (and F16 matrices) is converted into its own float32 buffer.
 * Tensor names (older scheme):
 *   vision_tower.vision_model.embeddings.{patch_embedding.{weight,bias},position_embedding.weight}
 *   vision_tower.vision_model.encoder.layers.N.{layer_norm1,layer_norm2}.{weight,bias}
 *   vision_tower.vision_model.encoder.layers.N.self_attn.{q,k,v,out}_proj.{weight,bias}
 *   vision_tower.vision_model.encoder.layers.N.mlp.{fc1,fc2}.{weight,bias}
 *   vision_tower.vision_model.post_layernorm.{weight,bias}
 *   multi_modal_projector.linear.{weight,bias}
 *   language_model.model.embed_tokens.weight
 *   language_model.model.layers.N.{input_layernorm,post_attention_layernorm}.weight
 *   language_model.model.layers.N.self_attn.{q,k,v,o}_proj.weight
 *   language_model.model.layers.N.mlp.{gate,up,down}_proj.weight
 *   language_model.model.norm.weight
 */
#include "paligemma.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "safetensors.h"

/* Formats a tensor name into name[256]. */
static void format_name(char *name, const char *format, va_list args)
{
    vsnprintf(name, 256, format, args);
}

/* Converts one tensor, with the expected shape, into a new float32 buffer
 * that the model owns. */
static const float *convert_tensor(paligemma_model *model, safetensors_checkpoint *checkpoint, const char *name,
                                   int ndim, const int *shape, pg_error *err)
{
    /* The shape is checked against the file before the buffer is
     * allocated, so a corrupt config.json cannot ask for more memory than
     * the checkpoint holds. */
    char stored_name[512];
    if (safetensors_resolve_paligemma(checkpoint, name, stored_name, sizeof stored_name, err) != 0)
        return NULL;
    float *buffer = safetensors_load_f32_alloc(checkpoint, stored_name, ndim, shape, err);
    if (buffer == NULL)
        return NULL;
    size_t count = 1;
    for (int d = 0; d < ndim; d++)
        count *= (size_t)shape[d];
    model->buffers[model->num_buffers++] = buffer;
    model->converted_bytes += count * sizeof(float);
    return buffer;
}

/* A norm weight, a bias or an embedding: always float32. */
static const float *load_vector(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err, int ndim,
                                const int *shape, const char *name_format, ...)
{
    char name[256];
    va_list args;
    va_start(args, name_format);
    format_name(name, name_format, args);
    va_end(args);
    return convert_tensor(model, checkpoint, name, ndim, shape, err);
}

/* A Linear weight [rows, cols]: used in place when the file stores it as
 * F32 or BF16 at an aligned offset, else converted to float32. Returns 0, or
 * -1 with the loader's message (missing tensor, wrong shape, ...). */
static int load_matrix(paligemma_model *model, safetensors_checkpoint *checkpoint, weight_matrix *matrix, int rows,
                       int cols, pg_error *err, const char *name_format, ...)
{
    char name[256], stored[256];
    va_list args;
    va_start(args, name_format);
    format_name(name, name_format, args);
    va_end(args);

    const safetensors_tensor *tensor = NULL;
    if (safetensors_resolve_paligemma(checkpoint, name, stored, sizeof stored, err) == 0)
        tensor = safetensors_find(checkpoint, stored);
    int shape_ok = tensor != NULL && tensor->ndim == 2 && tensor->shape[0] == (size_t)rows &&
                   tensor->shape[1] == (size_t)cols;
    if (shape_ok && tensor->dtype == SAFETENSORS_BF16 && (uintptr_t)tensor->data % sizeof(uint16_t) == 0) {
        *matrix = weight_bf16((const uint16_t *)(const void *)tensor->data);
        model->mapped_bytes += tensor->count * sizeof(uint16_t);
        return 0;
    }
    if (shape_ok && tensor->dtype == SAFETENSORS_F32 && (uintptr_t)tensor->data % sizeof(float) == 0) {
        *matrix = weight_f32((const float *)(const void *)tensor->data);
        model->mapped_bytes += tensor->count * sizeof(float);
        return 0;
    }

    /* Anything else (F16, an odd offset, or an error to report) goes through
     * the converting loader, which also writes the messages. */
    const float *converted = convert_tensor(model, checkpoint, name, 2, (const int[]){rows, cols}, err);
    if (converted == NULL)
        return -1;
    *matrix = weight_f32(converted);
    return 0;
}

/* The shapes below, one int array per call. */
#define SHAPE1(a) 1, (const int[]){a}
#define SHAPE2(a, b) 2, (const int[]){a, b}
#define SHAPE4(a, b, c, d) 4, (const int[]){a, b, c, d}

static int load_vision_tower(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err)
{
    const siglip_vision_config *c = &model->config.vision_config;
    int E = c->hidden_size, F = c->intermediate_size, P = siglip_num_patches(c), p = c->patch_size;
    const char *v = "vision_tower.vision_model";
    siglip_vision_weights *w = &model->vision_tower;

    w->patch_embedding_weight = load_vector(model, checkpoint, err, SHAPE4(E, c->num_channels, p, p),
                                            "%s.embeddings.patch_embedding.weight", v);
    if (w->patch_embedding_weight == NULL)
        return -1;
    w->patch_embedding_bias = load_vector(model, checkpoint, err, SHAPE1(E), "%s.embeddings.patch_embedding.bias", v);
    if (w->patch_embedding_bias == NULL)
        return -1;
    w->position_embedding_weight = load_vector(model, checkpoint, err, SHAPE2(P, E),
                                               "%s.embeddings.position_embedding.weight", v);
    if (w->position_embedding_weight == NULL)
        return -1;

    for (int l = 0; l < c->num_hidden_layers; l++) {
        siglip_encoder_layer_weights *layer = &model->vision_layers[l];
        const char *f = "%s.encoder.layers.%d.%s";
        if ((layer->layer_norm1_weight = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                                     "layer_norm1.weight")) == NULL ||
            (layer->layer_norm1_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                                   "layer_norm1.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->q_proj_weight, E, E, err, f, v, l, "self_attn.q_proj.weight") ||
            (layer->q_proj_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                              "self_attn.q_proj.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->k_proj_weight, E, E, err, f, v, l, "self_attn.k_proj.weight") ||
            (layer->k_proj_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                              "self_attn.k_proj.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->v_proj_weight, E, E, err, f, v, l, "self_attn.v_proj.weight") ||
            (layer->v_proj_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                              "self_attn.v_proj.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->out_proj_weight, E, E, err, f, v, l,
                        "self_attn.out_proj.weight") ||
            (layer->out_proj_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                                "self_attn.out_proj.bias")) == NULL ||
            (layer->layer_norm2_weight = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                                     "layer_norm2.weight")) == NULL ||
            (layer->layer_norm2_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l,
                                                   "layer_norm2.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->fc1_weight, F, E, err, f, v, l, "mlp.fc1.weight") ||
            (layer->fc1_bias = load_vector(model, checkpoint, err, SHAPE1(F), f, v, l, "mlp.fc1.bias")) == NULL ||
            load_matrix(model, checkpoint, &layer->fc2_weight, E, F, err, f, v, l, "mlp.fc2.weight") ||
            (layer->fc2_bias = load_vector(model, checkpoint, err, SHAPE1(E), f, v, l, "mlp.fc2.bias")) == NULL)
            return -1;
    }
    w->layers = model->vision_layers;

    if ((w->post_layernorm_weight = load_vector(model, checkpoint, err, SHAPE1(E), "%s.post_layernorm.weight",
                                                v)) == NULL ||
        (w->post_layernorm_bias = load_vector(model, checkpoint, err, SHAPE1(E), "%s.post_layernorm.bias",
                                              v)) == NULL)
        return -1;
    return 0;
}

/* Checks that a stored lm_head equals embed_tokens, one row at a time. */
static int check_tied_head(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err)
{
    const gemma_config *c = &model->config.text_config;
    int D = c->hidden_size, V = c->vocab_size;
    char stored[256];
    if (safetensors_resolve_paligemma(checkpoint, "language_model.lm_head.weight", stored, sizeof stored, err) != 0)
        return -1;
    if (strstr(stored, "lm_head") == NULL)
        return 0; /* absent: tied, as Gemma defines it */

    weight_matrix lm_head;
    if (load_matrix(model, checkpoint, &lm_head, V, D, err, "language_model.lm_head.weight") != 0)
        return -1;
    float *head_row = pg_calloc((size_t)D, sizeof(float), "an lm_head row", err);
    float *embed_row = pg_calloc((size_t)D, sizeof(float), "an embed_tokens row", err);
    int status = head_row != NULL && embed_row != NULL ? 0 : -1;
    for (int v = 0; status == 0 && v < V; v++) {
        weight_row(head_row, lm_head, v, D);
        weight_row(embed_row, model->language_model.embed_tokens, v, D);
        if (memcmp(head_row, embed_row, sizeof(float) * (size_t)D) != 0)
            status = pg_error_set(err, "tensor %s differs from embed_tokens in row %d; PaliGemma ties the two and "
                                  "this code uses embed_tokens for the logits", stored, v);
    }
    free(head_row);
    free(embed_row);
    return status;
}

static int load_language_model(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err)
{
    const gemma_config *c = &model->config.text_config;
    int D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    int q_rows = c->num_attention_heads * c->head_dim, kv_rows = c->num_key_value_heads * c->head_dim;
    gemma_weights *w = &model->language_model;

    if (load_matrix(model, checkpoint, &w->embed_tokens, V, D, err, "language_model.model.embed_tokens.weight") != 0)
        return -1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        gemma_decoder_layer_weights *layer = &model->text_layers[l];
        const char *f = "language_model.model.layers.%d.%s";
        if ((layer->input_layernorm = load_vector(model, checkpoint, err, SHAPE1(D), f, l,
                                                  "input_layernorm.weight")) == NULL ||
            load_matrix(model, checkpoint, &layer->self_attn.q_proj, q_rows, D, err, f, l,
                        "self_attn.q_proj.weight") ||
            load_matrix(model, checkpoint, &layer->self_attn.k_proj, kv_rows, D, err, f, l,
                        "self_attn.k_proj.weight") ||
            load_matrix(model, checkpoint, &layer->self_attn.v_proj, kv_rows, D, err, f, l,
                        "self_attn.v_proj.weight") ||
            load_matrix(model, checkpoint, &layer->self_attn.o_proj, D, q_rows, err, f, l,
                        "self_attn.o_proj.weight") ||
            (layer->post_attention_layernorm = load_vector(model, checkpoint, err, SHAPE1(D), f, l,
                                                           "post_attention_layernorm.weight")) == NULL ||
            load_matrix(model, checkpoint, &layer->mlp.gate_proj, F, D, err, f, l, "mlp.gate_proj.weight") ||
            load_matrix(model, checkpoint, &layer->mlp.up_proj, F, D, err, f, l, "mlp.up_proj.weight") ||
            load_matrix(model, checkpoint, &layer->mlp.down_proj, D, F, err, f, l, "mlp.down_proj.weight"))
            return -1;
    }
    w->layers = model->text_layers;
    if ((w->norm = load_vector(model, checkpoint, err, SHAPE1(D), "language_model.model.norm.weight")) == NULL)
        return -1;
    return check_tied_head(model, checkpoint, err);
}

int paligemma_model_load(paligemma_model *model, const char *folder, FILE *log, pg_error *err)
{
    memset(model, 0, sizeof *model);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", folder);
    if (paligemma_config_load(&model->config, path, err) != 0)
        return -1;

    safetensors_checkpoint *checkpoint = NULL;
    if (safetensors_open_dir(&checkpoint, folder, err) != 0)
        return -1;
    model->checkpoint = checkpoint;
    paligemma_name_scheme scheme;
    if (safetensors_paligemma_scheme(checkpoint, &scheme, err) != 0) {
        paligemma_model_free(model);
        return -1;
    }
    if (log != NULL)
        fprintf(log, "loading %s: %s\n", folder, paligemma_name_scheme_description(scheme));

    /* Room for every converted tensor: 16 per vision layer, 9 per text layer,
     * and 10 more (embeddings, norms, projector, lm_head). All but lm_head
     * must be in the checkpoint, which bounds the layer counts of config.json
     * before anything is allocated for them. */
    int vision_layers = model->config.vision_config.num_hidden_layers;
    int text_layers = model->config.text_config.num_hidden_layers;
    size_t num_tensors = 16 * (size_t)vision_layers + 9 * (size_t)text_layers + 10;
    if (num_tensors - 1 > safetensors_num_tensors(checkpoint)) {
        pg_error_set(err, "%s: config.json has %d vision and %d text layers, which need at least %zu tensors, "
                     "but the checkpoint holds %zu; the config does not match the checkpoint", folder,
                     vision_layers, text_layers, num_tensors - 1, safetensors_num_tensors(checkpoint));
        pg_error saved = *err;
        paligemma_model_free(model);
        *err = saved;
        return -1;
    }
    model->buffers = pg_calloc(num_tensors, sizeof(float *), "the tensor list", err);
    model->vision_layers = pg_calloc((size_t)vision_layers, sizeof *model->vision_layers, "the vision layers", err);
    model->text_layers = pg_calloc((size_t)text_layers, sizeof *model->text_layers, "the text layers", err);
    int status = -1;
    if (model->buffers == NULL || model->vision_layers == NULL || model->text_layers == NULL)
        goto done;

    int D = model->config.text_config.hidden_size, E = model->config.vision_config.hidden_size;
    if (load_vision_tower(model, checkpoint, err) != 0 ||
        load_matrix(model, checkpoint, &model->projector_weight, D, E, err, "multi_modal_projector.linear.weight"))
        goto done;
    if ((model->projector_bias = load_vector(model, checkpoint, err, SHAPE1(D),
                                             "multi_modal_projector.linear.bias")) == NULL)
        goto done;
    if (load_language_model(model, checkpoint, err) != 0)
        goto done;

    if (log != NULL) {
        fprintf(log, "weights: %.1f MB used in place from the files, %.1f MB converted to float32\n",
                (double)model->mapped_bytes / 1e6, (double)model->converted_bytes / 1e6);
        safetensors_warn_unused(checkpoint, log);
    }
    status = 0;

done:
    if (status != 0) {
        pg_error saved = *err;
        paligemma_model_free(model);
        *err = saved;
    }
    return status;
}

void paligemma_model_free(paligemma_model *model)
{
    for (int i = 0; i < model->num_buffers; i++)
        free(model->buffers[i]);
    free(model->buffers);
    free(model->vision_layers);
    free(model->text_layers);
    if (model->checkpoint != NULL)
        safetensors_close(model->checkpoint);
    memset(model, 0, sizeof *model);
}

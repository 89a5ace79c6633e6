/*
 * Chapter 12: loading a Hugging Face PaliGemma checkpoint into float32.
 *
 * config.json gives the sizes; every tensor is then looked up under its
 * published name (either naming scheme, see common/safetensors.h), its shape
 * checked against the config, and converted from F32, BF16 or F16 into its
 * own float32 buffer. Tensor names (older scheme):
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
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "safetensors.h"

/* Loads one tensor, named by a printf format, with the expected shape (ndim
 * sizes after ndim) into a new buffer that the model owns. */
static const float *load_tensor(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err,
                                int ndim, const int *shape, const char *name_format, ...)
{
    char name[256];
    va_list args;
    va_start(args, name_format);
    vsnprintf(name, sizeof name, name_format, args);
    va_end(args);

    /* The shape is checked against the file before the buffer is
     * allocated, so a corrupt config.json cannot ask for more memory than
     * the checkpoint holds. */
    char stored_name[512];
    if (safetensors_resolve_paligemma(checkpoint, name, stored_name, sizeof stored_name, err) != 0)
        return NULL;
    float *buffer = safetensors_load_f32_alloc(checkpoint, stored_name, ndim, shape, err);
    if (buffer == NULL)
        return NULL;
    model->buffers[model->num_buffers++] = buffer;
    return buffer;
}

/* The shapes below, one int array per call. */
#define SHAPE1(a) 1, (const int[]){a}
#define SHAPE2(a, b) 2, (const int[]){a, b}
#define SHAPE4(a, b, c, d) 4, (const int[]){a, b, c, d}

static int load_vision_tower(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err)
{
    const siglip_vision_config *c = &model->config.vision_config;
    int E = c->hidden_size, F = c->intermediate_size, P = siglip_num_patches(c), p = c->patch_size;
    const char *prefix = "vision_tower.vision_model";
    siglip_vision_weights *w = &model->vision_tower;

    w->patch_embedding_weight = load_tensor(model, checkpoint, err, SHAPE4(E, c->num_channels, p, p),
                                            "%s.embeddings.patch_embedding.weight", prefix);
    if (w->patch_embedding_weight == NULL)
        return -1;
    if ((w->patch_embedding_bias = load_tensor(model, checkpoint, err, SHAPE1(E),
                                               "%s.embeddings.patch_embedding.bias", prefix)) == NULL ||
        (w->position_embedding_weight = load_tensor(model, checkpoint, err, SHAPE2(P, E),
                                                    "%s.embeddings.position_embedding.weight", prefix)) == NULL)
        return -1;

    for (int l = 0; l < c->num_hidden_layers; l++) {
        siglip_encoder_layer_weights *layer = &model->vision_layers[l];
        const char *layer_format = "%s.encoder.layers.%d.%s";
#define LOAD(field, shape_macro, suffix)                                                             \
    if ((layer->field = load_tensor(model, checkpoint, err, shape_macro, layer_format, prefix, l, suffix)) == NULL) \
        return -1;
        LOAD(layer_norm1_weight, SHAPE1(E), "layer_norm1.weight")
        LOAD(layer_norm1_bias, SHAPE1(E), "layer_norm1.bias")
        LOAD(q_proj_weight, SHAPE2(E, E), "self_attn.q_proj.weight")
        LOAD(q_proj_bias, SHAPE1(E), "self_attn.q_proj.bias")
        LOAD(k_proj_weight, SHAPE2(E, E), "self_attn.k_proj.weight")
        LOAD(k_proj_bias, SHAPE1(E), "self_attn.k_proj.bias")
        LOAD(v_proj_weight, SHAPE2(E, E), "self_attn.v_proj.weight")
        LOAD(v_proj_bias, SHAPE1(E), "self_attn.v_proj.bias")
        LOAD(out_proj_weight, SHAPE2(E, E), "self_attn.out_proj.weight")
        LOAD(out_proj_bias, SHAPE1(E), "self_attn.out_proj.bias")
        LOAD(layer_norm2_weight, SHAPE1(E), "layer_norm2.weight")
        LOAD(layer_norm2_bias, SHAPE1(E), "layer_norm2.bias")
        LOAD(fc1_weight, SHAPE2(F, E), "mlp.fc1.weight")
        LOAD(fc1_bias, SHAPE1(F), "mlp.fc1.bias")
        LOAD(fc2_weight, SHAPE2(E, F), "mlp.fc2.weight")
        LOAD(fc2_bias, SHAPE1(E), "mlp.fc2.bias")
#undef LOAD
    }
    w->layers = model->vision_layers;

    if ((w->post_layernorm_weight = load_tensor(model, checkpoint, err, SHAPE1(E), "%s.post_layernorm.weight",
                                                prefix)) == NULL ||
        (w->post_layernorm_bias = load_tensor(model, checkpoint, err, SHAPE1(E), "%s.post_layernorm.bias",
                                              prefix)) == NULL)
        return -1;
    return 0;
}

static int load_language_model(paligemma_model *model, safetensors_checkpoint *checkpoint, pg_error *err)
{
    const gemma_config *c = &model->config.text_config;
    int D = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    int q_rows = c->num_attention_heads * c->head_dim, kv_rows = c->num_key_value_heads * c->head_dim;
    gemma_weights *w = &model->language_model;

    if ((w->embed_tokens = load_tensor(model, checkpoint, err, SHAPE2(V, D),
                                       "language_model.model.embed_tokens.weight")) == NULL)
        return -1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        gemma_decoder_layer_weights *layer = &model->text_layers[l];
        const char *layer_format = "language_model.model.layers.%d.%s";
#define LOAD(field, shape_macro, suffix)                                                                 \
    if ((layer->field = load_tensor(model, checkpoint, err, shape_macro, layer_format, l, suffix)) == NULL) \
        return -1;
        LOAD(input_layernorm, SHAPE1(D), "input_layernorm.weight")
        LOAD(self_attn.q_proj, SHAPE2(q_rows, D), "self_attn.q_proj.weight")
        LOAD(self_attn.k_proj, SHAPE2(kv_rows, D), "self_attn.k_proj.weight")
        LOAD(self_attn.v_proj, SHAPE2(kv_rows, D), "self_attn.v_proj.weight")
        LOAD(self_attn.o_proj, SHAPE2(D, q_rows), "self_attn.o_proj.weight")
        LOAD(post_attention_layernorm, SHAPE1(D), "post_attention_layernorm.weight")
        LOAD(mlp.gate_proj, SHAPE2(F, D), "mlp.gate_proj.weight")
        LOAD(mlp.up_proj, SHAPE2(F, D), "mlp.up_proj.weight")
        LOAD(mlp.down_proj, SHAPE2(D, F), "mlp.down_proj.weight")
#undef LOAD
    }
    w->layers = model->text_layers;
    if ((w->norm = load_tensor(model, checkpoint, err, SHAPE1(D), "language_model.model.norm.weight")) == NULL)
        return -1;

    /* Gemma ties the head to embed_tokens. A checkpoint that stores
     * lm_head.weight anyway must store the same matrix, because the forward
     * pass uses embed_tokens for the logits. */
    char lm_head_name[256];
    if (safetensors_resolve_paligemma(checkpoint, "language_model.lm_head.weight", lm_head_name,
                                      sizeof lm_head_name, err) != 0)
        return -1;
    if (strstr(lm_head_name, "lm_head") != NULL) {
        const float *lm_head = load_tensor(model, checkpoint, err, SHAPE2(V, D), "language_model.lm_head.weight");
        if (lm_head == NULL)
            return -1;
        if (memcmp(lm_head, w->embed_tokens, sizeof(float) * (size_t)V * D) != 0)
            return pg_error_set(err, "tensor %s differs from embed_tokens; PaliGemma ties the two and this "
                                "code uses embed_tokens for the logits", lm_head_name);
    }
    return 0;
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
    paligemma_name_scheme scheme;
    if (safetensors_paligemma_scheme(checkpoint, &scheme, err) != 0) {
        safetensors_close(checkpoint);
        return -1;
    }
    if (log != NULL)
        fprintf(log, "loading %s: %s\n", folder, paligemma_name_scheme_description(scheme));

    /* Room for every tensor pointer: 16 per vision layer, 9 per text layer,
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
        safetensors_close(checkpoint);
        return -1;
    }
    model->buffers = pg_calloc(num_tensors, sizeof(float *), "the tensor list", err);
    model->vision_layers = pg_calloc((size_t)vision_layers, sizeof *model->vision_layers, "the vision layers", err);
    model->text_layers = pg_calloc((size_t)text_layers, sizeof *model->text_layers, "the text layers", err);
    int status = -1;
    if (model->buffers == NULL || model->vision_layers == NULL || model->text_layers == NULL)
        goto done;

    int D = model->config.text_config.hidden_size, E = model->config.vision_config.hidden_size;
    if (load_vision_tower(model, checkpoint, err) != 0)
        goto done;
    if ((model->projector_weight = load_tensor(model, checkpoint, err, SHAPE2(D, E),
                                               "multi_modal_projector.linear.weight")) == NULL ||
        (model->projector_bias = load_tensor(model, checkpoint, err, SHAPE1(D),
                                             "multi_modal_projector.linear.bias")) == NULL)
        goto done;
    if (load_language_model(model, checkpoint, err) != 0)
        goto done;

    if (log != NULL)
        safetensors_warn_unused(checkpoint, log);
    status = 0;

done:
    safetensors_close(checkpoint);
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
    memset(model, 0, sizeof *model);
}

/*
 * Chapter 12: reading config.json into a paligemma_config. See
 * paligemma_config.h for the defaults and what is rejected.
 */
#include "paligemma_config.h"

#include <cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

/* Reads an optional integer field of `object` into *value. An absent or
 * null field leaves *value (the default) unchanged. */
static int read_int(const cJSON *object, const char *field, const char *where, const char *name,
                    int *value, pg_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, field);
    if (item == NULL || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 2147483647.0)
        return pg_error_set(err, "%s: field '%s%s' must be an integer, found %s", name, where, field,
                            cJSON_IsNumber(item) ? "a fraction or a number out of range" : "another JSON type");
    *value = (int)item->valuedouble;
    return 0;
}

/* Like read_int for a floating-point field. */
static int read_float(const cJSON *object, const char *field, const char *where, const char *name,
                      float *value, pg_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, field);
    if (item == NULL || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsNumber(item))
        return pg_error_set(err, "%s: field '%s%s' must be a number", name, where, field);
    *value = (float)item->valuedouble;
    return 0;
}

/* Returns the string value of `field`, `fallback` when it is absent, or
 * NULL (with a message) when it is not a string. */
static const char *read_string(const cJSON *object, const char *field, const char *fallback, const char *where,
                               const char *name, pg_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, field);
    if (item == NULL || cJSON_IsNull(item))
        return fallback;
    if (!cJSON_IsString(item)) {
        pg_error_set(err, "%s: field '%s%s' must be a string", name, where, field);
        return NULL;
    }
    return item->valuestring;
}

/* text_config: transformers' GemmaConfig defaults (the Gemma-7B sizes) for
 * absent fields, then the values present in the file. */
static int parse_text_config(gemma_config *text, const cJSON *object, const char *name, pg_error *err)
{
    const char *where = "text_config.";
    *text = (gemma_config){
        .vocab_size = 256000, .hidden_size = 3072, .intermediate_size = 24576, .num_hidden_layers = 28,
        .num_attention_heads = 16, .num_key_value_heads = 16, .head_dim = 256,
        .max_position_embeddings = 8192, .rms_norm_eps = 1e-6f, .rope_theta = 10000.0f,
        .pad_token_id = 0, .bos_token_id = 2, .eos_token_id = 1,
    };
    if (object == NULL)
        return 0;

    const char *model_type = read_string(object, "model_type", "gemma", where, name, err);
    if (model_type == NULL)
        return -1;
    if (strcmp(model_type, "gemma2") == 0)
        return pg_error_set(err, "%s: text_config.model_type is 'gemma2', a PaliGemma 2 checkpoint; this project "
                            "implements PaliGemma 1, whose text model is 'gemma'", name);
    if (strcmp(model_type, "gemma") != 0)
        return pg_error_set(err, "%s: text_config.model_type is '%s', expected 'gemma' (PaliGemma 1)", name,
                            model_type);

    if (read_int(object, "vocab_size", where, name, &text->vocab_size, err) != 0 ||
        read_int(object, "hidden_size", where, name, &text->hidden_size, err) != 0 ||
        read_int(object, "intermediate_size", where, name, &text->intermediate_size, err) != 0 ||
        read_int(object, "num_hidden_layers", where, name, &text->num_hidden_layers, err) != 0 ||
        read_int(object, "num_attention_heads", where, name, &text->num_attention_heads, err) != 0 ||
        read_int(object, "num_key_value_heads", where, name, &text->num_key_value_heads, err) != 0 ||
        read_int(object, "head_dim", where, name, &text->head_dim, err) != 0 ||
        read_int(object, "max_position_embeddings", where, name, &text->max_position_embeddings, err) != 0 ||
        read_float(object, "rms_norm_eps", where, name, &text->rms_norm_eps, err) != 0 ||
        read_float(object, "rope_theta", where, name, &text->rope_theta, err) != 0 ||
        read_int(object, "pad_token_id", where, name, &text->pad_token_id, err) != 0 ||
        read_int(object, "bos_token_id", where, name, &text->bos_token_id, err) != 0 ||
        read_int(object, "eos_token_id", where, name, &text->eos_token_id, err) != 0)
        return -1;
    return 0;
}

/* vision_config: transformers' SiglipVisionConfig defaults (a base-size
 * tower) for absent fields, then the values present in the file. */
static int parse_vision_config(siglip_vision_config *vision, const cJSON *object, const char *name, pg_error *err)
{
    const char *where = "vision_config.";
    *vision = (siglip_vision_config){
        .hidden_size = 768, .intermediate_size = 3072, .num_hidden_layers = 12, .num_attention_heads = 12,
        .num_channels = 3, .image_size = 224, .patch_size = 16, .layer_norm_eps = 1e-6f,
    };
    if (object == NULL)
        return 0;

    const char *model_type = read_string(object, "model_type", "siglip_vision_model", where, name, err);
    if (model_type == NULL)
        return -1;
    if (strcmp(model_type, "siglip_vision_model") != 0)
        return pg_error_set(err, "%s: vision_config.model_type is '%s', expected 'siglip_vision_model'", name,
                            model_type);

    if (read_int(object, "hidden_size", where, name, &vision->hidden_size, err) != 0 ||
        read_int(object, "intermediate_size", where, name, &vision->intermediate_size, err) != 0 ||
        read_int(object, "num_hidden_layers", where, name, &vision->num_hidden_layers, err) != 0 ||
        read_int(object, "num_attention_heads", where, name, &vision->num_attention_heads, err) != 0 ||
        read_int(object, "num_channels", where, name, &vision->num_channels, err) != 0 ||
        read_int(object, "image_size", where, name, &vision->image_size, err) != 0 ||
        read_int(object, "patch_size", where, name, &vision->patch_size, err) != 0 ||
        read_float(object, "layer_norm_eps", where, name, &vision->layer_norm_eps, err) != 0)
        return -1;
    return 0;
}

/* Bounds the sizes whose products the model computes in int, so that a
 * corrupt config.json is rejected here instead of overflowing later. */
static int check_size_products(const paligemma_config *config, const char *name, pg_error *err)
{
    const gemma_config *text = &config->text_config;
    const siglip_vision_config *vision = &config->vision_config;
    if (vision->image_size > PALIGEMMA_MAX_IMAGE_SIZE)
        return pg_error_set(err, "%s: vision_config.image_size is %d, over the limit of %d pixels per side "
                            "(paligemma-3b-pt-224 has 224)", name, vision->image_size, PALIGEMMA_MAX_IMAGE_SIZE);
    long long q_rows = (long long)text->num_attention_heads * text->head_dim;
    long long kv_rows = (long long)text->num_key_value_heads * text->head_dim;
    if (q_rows > INT_MAX || kv_rows > INT_MAX)
        return pg_error_set(err, "%s: text_config.num_attention_heads %d (or num_key_value_heads %d) times "
                            "head_dim %d is over %d; the config is corrupt", name, text->num_attention_heads,
                            text->num_key_value_heads, text->head_dim, INT_MAX);
    return 0;
}

int paligemma_config_parse(paligemma_config *config, const char *json_text, const char *name, pg_error *err)
{
    memset(config, 0, sizeof *config);
    cJSON *root = cJSON_Parse(json_text);
    if (root == NULL) {
        const char *at = cJSON_GetErrorPtr();
        return pg_error_set(err, "%s: invalid JSON near byte %ld", name,
                            at != NULL ? (long)(at - json_text) : -1L);
    }
    int status = -1;
    if (!cJSON_IsObject(root)) {
        pg_error_set(err, "%s: expected a JSON object at the top level", name);
        goto done;
    }

    /* The model type decides everything else, so it is checked first. */
    const cJSON *model_type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(model_type)) {
        pg_error_set(err, "%s: field 'model_type' is missing or not a string; expected 'paligemma'", name);
        goto done;
    }
    if (strcmp(model_type->valuestring, "paligemma") != 0) {
        pg_error_set(err, "%s: model_type is '%s'; this project runs only 'paligemma' (PaliGemma 1) checkpoints",
                     name, model_type->valuestring);
        goto done;
    }

    /* The nested configs, each an object when present. */
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *vision = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if ((text != NULL && !cJSON_IsObject(text)) || (vision != NULL && !cJSON_IsObject(vision))) {
        pg_error_set(err, "%s: field '%s' must be a JSON object", name,
                     text != NULL && !cJSON_IsObject(text) ? "text_config" : "vision_config");
        goto done;
    }
    if (parse_text_config(&config->text_config, text, name, err) != 0 ||
        parse_vision_config(&config->vision_config, vision, name, err) != 0)
        goto done;

    /* Top-level fields, with PaliGemmaConfig's defaults. The special ids
     * default to the text model's. */
    config->image_token_index = 256000;
    config->projection_dim = 2048;
    config->hidden_size = 2048;
    config->pad_token_id = -1;
    config->bos_token_id = config->text_config.bos_token_id;
    config->eos_token_id = config->text_config.eos_token_id;
    if (read_int(root, "image_token_index", "", name, &config->image_token_index, err) != 0 ||
        read_int(root, "projection_dim", "", name, &config->projection_dim, err) != 0 ||
        read_int(root, "hidden_size", "", name, &config->hidden_size, err) != 0 ||
        read_int(root, "pad_token_id", "", name, &config->pad_token_id, err) != 0 ||
        read_int(root, "bos_token_id", "", name, &config->bos_token_id, err) != 0 ||
        read_int(root, "eos_token_id", "", name, &config->eos_token_id, err) != 0)
        goto done;

    /* Each part on its own, then how they fit together. */
    if (gemma_config_validate(&config->text_config, err) != 0 ||
        siglip_vision_config_validate(&config->vision_config, err) != 0) {
        char detail[PG_ERROR_SIZE];
        memcpy(detail, err->message, sizeof detail);
        pg_error_set(err, "%s: %s", name, detail);
        goto done;
    }
    if (check_size_products(config, name, err) != 0)
        goto done;
    if (config->projection_dim != config->text_config.hidden_size) {
        pg_error_set(err, "%s: projection_dim is %d but text_config.hidden_size is %d; the projector output "
                     "must have the text width", name, config->projection_dim, config->text_config.hidden_size);
        goto done;
    }
    int V = config->text_config.vocab_size;
    if (config->image_token_index < 0 || config->image_token_index >= V) {
        pg_error_set(err, "%s: image_token_index %d is outside the vocabulary 0..%d", name,
                     config->image_token_index, V - 1);
        goto done;
    }
    if (config->bos_token_id < 0 || config->bos_token_id >= V || config->eos_token_id < 0 ||
        config->eos_token_id >= V || config->pad_token_id >= V) {
        pg_error_set(err, "%s: bos_token_id %d, eos_token_id %d or pad_token_id %d is outside the vocabulary "
                     "0..%d", name, config->bos_token_id, config->eos_token_id, config->pad_token_id, V - 1);
        goto done;
    }
    status = 0;

done:
    cJSON_Delete(root);
    return status;
}

int paligemma_config_load(paligemma_config *config, const char *path, pg_error *err)
{
    size_t size;
    uint8_t *bytes = pg_read_file(path, &size, err);
    if (bytes == NULL)
        return -1;
    /* cJSON wants a NUL-terminated string; a NUL inside the file ends it early. */
    char *text = pg_calloc(size + 1, 1, path, err);
    if (text == NULL) {
        free(bytes);
        return -1;
    }
    memcpy(text, bytes, size);
    free(bytes);
    if (strlen(text) != size) {
        free(text);
        return pg_error_set(err, "%s: invalid JSON: the file contains a NUL byte", path);
    }
    int status = paligemma_config_parse(config, text, path, err);
    free(text);
    return status;
}

int paligemma_num_image_tokens(const paligemma_config *config)
{
    return siglip_num_patches(&config->vision_config);
}

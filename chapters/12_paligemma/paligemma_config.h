/*
 * Chapter 12: PaliGemmaConfig, read from a Hugging Face config.json.
 *
 * Mirrors transformers' PaliGemmaConfig (4.42 to 4.48): a few top-level
 * fields plus a text_config (GemmaConfig, chapter 8) and a vision_config
 * (SiglipVisionConfig, chapter 9). A field that config.json leaves out (or
 * sets to null) takes the default that transformers would use: GemmaConfig's
 * for text_config (head_dim 256, rms_norm_eps 1e-6, rope_theta 10000, ...),
 * SiglipVisionConfig's for vision_config (image_size 224, num_channels 3,
 * layer_norm_eps 1e-6, ...). The published paligemma-3b-pt-224 config.json
 * relies on those defaults for head_dim and image_size.
 *
 * Only PaliGemma 1 is supported: model_type "paligemma" with a "gemma" text
 * model and a "siglip_vision_model" vision model. PaliGemma 2 ("gemma2") is
 * rejected with a message.
 */
#ifndef PG_PALIGEMMA_CONFIG_H
#define PG_PALIGEMMA_CONFIG_H

#include "08_gemma/gemma.h"
#include "09_siglip/siglip.h"
#include "pg_error.h"

/* The largest vision_config.image_size accepted: the image preprocessing's
 * limit per side (IMAGE_MAX_SIDE), which also keeps the number of image
 * tokens, (image_size / patch_size)^2, inside an int. */
#define PALIGEMMA_MAX_IMAGE_SIZE 16384

typedef struct {
    int image_token_index; /* id of <image>: 257152 in paligemma-3b-pt-224 */
    int projection_dim;    /* projector output width; must equal text hidden_size */
    int hidden_size;       /* top-level copy of the text width */
    int pad_token_id;      /* -1 when config.json has none */
    int bos_token_id;
    int eos_token_id;
    gemma_config text_config;
    siglip_vision_config vision_config;
} paligemma_config;

/* Parses config.json text. `name` is the file name used in messages. Checks
 * the model types, every field's type and range, and that the parts fit
 * together (projection_dim equals the text width, the image token is inside
 * the vocabulary, image_size is at most PALIGEMMA_MAX_IMAGE_SIZE, and the
 * attention heads times head_dim fit an int). Returns 0, or -1 with a
 * message naming the field. */
int paligemma_config_parse(paligemma_config *config, const char *json_text, const char *name, pg_error *err);

/* Reads and parses the file at path. */
int paligemma_config_load(paligemma_config *config, const char *path, pg_error *err);

/* Returns the number of image tokens, (image_size / patch_size)^2. */
int paligemma_num_image_tokens(const paligemma_config *config);

#endif

/*
 * Chapter 12: PaliGemmaForConditionalGeneration, composed from chapters 1-11,
 * loaded from a Hugging Face checkpoint, with generation.
 *
 * A request is pixel values and prompt token ids; the answer is generated ids:
 *
 *   image_features = vision_tower(pixel_values)                 chapter 9   [P, E]
 *   image_features = multi_modal_projector(image_features)      chapter 10  [P, D]
 *   inputs_embeds  = merge(embed_tokens[input_ids], image_features)  chapter 11  [N, D]
 *   logits = language_model(inputs_embeds, positions 1..N)      chapter 8   prefill
 *   then, one token per step k = 1, 2, ...:
 *     next = argmax(logits[last])  (or a sample)
 *     logits = language_model(next, position N + k)             KV cache, chapter 1
 *
 * The vision tower runs once per request. The prefill needs no mask: the
 * prompt (image tokens, <bos>, text, "\n") is the prefix and attends both
 * ways, and each decode step attends to everything cached (chapter 11).
 *
 * Shapes (letters in common/dims.h; N prompt tokens, I image_size):
 *   pixel_values   [3, I, I]  float32, preprocessed (chapter 13)
 *   input_ids      [N]        P image tokens, <bos>, prompt, "\n" (chapter 14)
 *   output ids     [max_new_tokens] at most
 */
#ifndef PG_PALIGEMMA_H
#define PG_PALIGEMMA_H

#include <stdint.h>
#include <stdio.h>

#include "08_gemma/gemma.h"
#include "09_siglip/siglip.h"
#include "12_paligemma/paligemma_config.h"
#include "pg_error.h"

/* The model: its config and its weights. The Linear weight matrices of a
 * float32 or bfloat16 checkpoint point into the memory-mapped files, so they
 * are read from disk (or the page cache) as they are used and never copied;
 * everything else (norms, biases, embeddings of the patches and positions,
 * and any float16 tensor) is converted to float32 buffers. */
typedef struct {
    paligemma_config config;
    siglip_vision_weights vision_tower;
    weight_matrix projector_weight; /* [D, E] multi_modal_projector.linear.weight */
    const float *projector_bias;    /* [D] */
    gemma_weights language_model;
    /* Storage, freed by paligemma_model_free. */
    siglip_encoder_layer_weights *vision_layers; /* [vision L] */
    gemma_decoder_layer_weights *text_layers;    /* [text L] */
    float **buffers;                             /* the float32 conversions */
    int num_buffers;
    void *checkpoint;                            /* the open safetensors files the matrices point into */
    size_t mapped_bytes;                         /* weight bytes used in place from the files */
    size_t converted_bytes;                      /* bytes of the float32 conversions */
} paligemma_model;

/* Loads config.json and the safetensors files (one file or shards with an
 * index) of a Hugging Face checkpoint folder, under either tensor naming
 * scheme. Every tensor's shape is checked against the config; F32, BF16 and
 * F16 are converted to float32. Tensors the model does not use are counted in
 * one warning line on `log` (may be NULL). Returns -1 with a message naming
 * the file, the tensor, the expected and the found value. */
int paligemma_model_load(paligemma_model *model, const char *folder, FILE *log, pg_error *err);

/* Frees every buffer and zeroes the struct. */
void paligemma_model_free(paligemma_model *model);

/* Called with a named activation [rows, cols] as soon as it is computed. The
 * names are those of the golden dumps: vision_embeddings, vision_layer_<l>,
 * vision_post_layernorm, projector, merged_embeddings (before the sqrt(D)
 * normalizer), text_layer_<l> (the input of Gemma layer l; text_layer_<L> is
 * the last layer's output), text_layer_<l>_attention (layer l's attention
 * output before the residual add, reported right after text_layer_<l>),
 * final_norm, prefill_logits, and step_logits_<k> for the logits that chose
 * generated token k. Pointers are valid only during the call. */
typedef void (*paligemma_tensor_hook)(void *user_data, const char *name, const float *data, int rows, int cols);

typedef struct {
    int max_new_tokens;  /* at least 1 */
    float temperature;   /* 0: greedy (argmax, first index on ties) */
    float top_p;         /* nucleus sampling mass in (0, 1]; 1 keeps every token */
    uint64_t seed;       /* seed of the sampling random numbers */
    paligemma_tensor_hook hook; /* NULL for none */
    void *hook_user_data;
    FILE *progress;      /* per-layer progress lines, or NULL */
    int ignore_eos;      /* keep generating after eos (for benchmarks) */
} paligemma_generation_options;

/* Wall-clock seconds of the three phases of a request. */
typedef struct {
    double vision_seconds;  /* vision tower and projector */
    double prefill_seconds; /* merge and the prompt's pass through Gemma */
    double decode_seconds;  /* all decode steps */
    int decode_steps;       /* forward passes after the prefill */
} paligemma_timings;

/* Runs one request. Writes the generated ids into output_ids (room for
 * options->max_new_tokens) and their count into *num_output; generation stops
 * after eos (which is written) or max_new_tokens. timings may be NULL.
 * Returns -1 with a message if the prompt plus max_new_tokens exceeds
 * max_position_embeddings, the number of image tokens in input_ids differs
 * from the number of patches, an id is outside the vocabulary, or memory
 * runs out. */
int paligemma_generate(paligemma_model *model, const float *pixel_values, const int *input_ids, int num_input,
                       const paligemma_generation_options *options, int *output_ids, int *num_output,
                       paligemma_timings *timings, pg_error *err);

/* Returns argmax(logits[0..V)), the first index on ties. */
int sample_argmax(const float *logits, int V);

/* Samples from softmax(logits / temperature) restricted to the smallest set of
 * most likely tokens whose probability reaches top_p (the token that crosses
 * top_p is kept), renormalized. u is a uniform random number in [0, 1).
 * scratch has room for V ints. */
int sample_top_p(const float *logits, int V, float temperature, float top_p, double u, int *scratch);

#endif

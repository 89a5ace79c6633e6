/*
 * safetensors.h - a strict reader for Hugging Face safetensors checkpoints.
 *
 * The format (huggingface/safetensors, safetensors/src/tensor.rs): an 8-byte
 * little-endian unsigned header size N, then N bytes of UTF-8 JSON, then the
 * data region. The JSON object maps each tensor name to
 *   {"dtype": "F32", "shape": [2048, 16384], "data_offsets": [begin, end]}
 * with offsets counted from the first byte after the header, and may hold
 * one "__metadata__" object of string values. Data is little-endian, C order.
 *
 * A checkpoint is a directory as Hugging Face publishes it: model.safetensors,
 * or shards model-0000K-of-0000M.safetensors listed in the "weight_map" of
 * model.safetensors.index.json. Every file is memory-mapped read-only; tensor
 * views point into the maps, which live until safetensors_close.
 *
 * Opening validates every header entry before any tensor is read. It checks
 * the header size (at most SAFETENSORS_MAX_HEADER_SIZE, and inside the file),
 * the JSON, the dtype (F32, BF16 and F16 only) and the shape. Data offsets
 * must lie inside the data region and span element count * dtype size bytes,
 * and no two tensors may overlap. No name may appear twice, in one file or
 * across shards, and the index's shards must exist and contain the tensors it
 * maps to them. Each error message names the file, the tensor, the expected
 * and the found value.
 */
#ifndef PG_SAFETENSORS_H
#define PG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pg_error.h"

/* The largest JSON header accepted, in bytes: the limit (100,000,000) of the
 * reference reader, huggingface/safetensors. */
#define SAFETENSORS_MAX_HEADER_SIZE 100000000u

/* The maximum number of dimensions of a tensor (PaliGemma's deepest is 4, the
 * patch-embedding convolution weight). */
#define SAFETENSORS_MAX_DIMS 8

typedef enum {
    SAFETENSORS_F32,  /* "F32": IEEE binary32 */
    SAFETENSORS_BF16, /* "BF16": the top 16 bits of a binary32 */
    SAFETENSORS_F16   /* "F16": IEEE binary16 */
} safetensors_dtype;

/* One tensor of a checkpoint: a view into a memory-mapped file. */
typedef struct {
    const char *name;
    safetensors_dtype dtype;
    int ndim;                            /* 0 for a scalar, shape [] */
    size_t shape[SAFETENSORS_MAX_DIMS];
    size_t count;                        /* product of shape; 1 for a scalar */
    const uint8_t *data;                 /* count * element size raw bytes, maybe unaligned */
    const char *file;                    /* path of the file that contains it */
    int used;                            /* set when a lookup returns the tensor */
} safetensors_tensor;

typedef struct safetensors_checkpoint safetensors_checkpoint;

/* Returns the header spelling of a dtype ("F32", "BF16", "F16"). */
const char *safetensors_dtype_name(safetensors_dtype dtype);

/* Returns the bytes per element of a dtype (4 or 2). */
size_t safetensors_dtype_size(safetensors_dtype dtype);

/* Opens the checkpoint in directory dir: the shards named by
 * dir/model.safetensors.index.json when that file exists, else
 * dir/model.safetensors. Returns 0 and sets *checkpoint, or -1 with err set. */
int safetensors_open_dir(safetensors_checkpoint **checkpoint, const char *dir, pg_error *err);

/* Opens one .safetensors file as a checkpoint. */
int safetensors_open_file(safetensors_checkpoint **checkpoint, const char *path, pg_error *err);

/* Opens size bytes of a .safetensors file held in memory, named `name` in
 * messages, with the checks of safetensors_open_file. The bytes are
 * borrowed: tensor views point into them, so they must outlive the
 * checkpoint. */
int safetensors_open_memory(safetensors_checkpoint **checkpoint, const uint8_t *bytes, size_t size,
                            const char *name, pg_error *err);

/* Unmaps every file and frees the checkpoint. Safe on NULL. Tensor views and
 * their data pointers are invalid afterwards. */
void safetensors_close(safetensors_checkpoint *checkpoint);

/* Returns the number of tensors, and tensor i (0 <= i < count) in name order.
 * These do not mark the tensor as used. */
size_t safetensors_num_tensors(const safetensors_checkpoint *checkpoint);
const safetensors_tensor *safetensors_tensor_at(const safetensors_checkpoint *checkpoint, size_t i);

/* Returns the tensor called name and marks it used, or NULL if there is none. */
const safetensors_tensor *safetensors_find(safetensors_checkpoint *checkpoint, const char *name);

/* Converts all tensor->count elements to float32 into out: F32 is copied,
 * BF16 widened as bits << 16, F16 converted exactly (subnormals, infinities
 * and NaN payloads included). Every value of all three dtypes is exact in
 * float32, so no rounding happens. */
void safetensors_to_f32(float *out, const safetensors_tensor *tensor);

/* Finds tensor name, checks that its shape is expected_shape[0..expected_ndim),
 * and converts it to float32 into out (expected product elements). Returns 0,
 * or -1 with err naming the tensor, the file, and the expected and found shape. */
int safetensors_load_f32(safetensors_checkpoint *checkpoint, const char *name, int expected_ndim,
                         const int *expected_shape, float *out, pg_error *err);

/* Like safetensors_load_f32 into a new buffer (caller frees); NULL on error. */
float *safetensors_load_f32_alloc(safetensors_checkpoint *checkpoint, const char *name,
                                  int expected_ndim, const int *expected_shape, pg_error *err);

/* Counts the tensors that no lookup has marked used and writes one line into
 * line: "3 of 10 tensors in DIR are not used by the model: a, b, c". At most
 * the first 5 names (in name order) are listed, then "(and K more)". Writes
 * an empty line and returns 0 when every tensor is used. */
size_t safetensors_unused_report(const safetensors_checkpoint *checkpoint, char *line, size_t line_size);

/* Prints "warning: " and the unused-tensor line to stream, when any is unused. */
void safetensors_warn_unused(const safetensors_checkpoint *checkpoint, FILE *stream);

/* ---------------------------------------------------------------------------
 * PaliGemma tensor names. Hugging Face checkpoints use one of two schemes:
 *
 *   older (transformers before its mid-2025 refactor), the canonical one here:
 *     vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight
 *     multi_modal_projector.linear.weight
 *     language_model.model.layers.0.self_attn.q_proj.weight
 *     language_model.lm_head.weight           (usually absent: tied)
 *   newer (PaliGemmaForConditionalGeneration holding a PaliGemmaModel as .model,
 *   whose language_model is a GemmaModel, so there is no inner ".model."):
 *     model.vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight
 *     model.multi_modal_projector.linear.weight
 *     model.language_model.layers.0.self_attn.q_proj.weight
 *     lm_head.weight                          (optional: tied when absent)
 *
 * Callers ask for the older name; the loader detects the scheme once per
 * checkpoint and translates. A missing lm_head resolves to embed_tokens.
 * ------------------------------------------------------------------------- */

typedef enum {
    PALIGEMMA_NAMES_OLDER = 1, /* language_model.model.*, vision_tower.*, multi_modal_projector.* */
    PALIGEMMA_NAMES_NEWER      /* model.language_model.*, model.vision_tower.*, ..., lm_head.* */
} paligemma_name_scheme;

/* Returns a one-line description of the scheme, e.g. for a log line. */
const char *paligemma_name_scheme_description(paligemma_name_scheme scheme);

/* Detects the scheme from the names present. The first call decides, and later
 * calls return the cached result. Fails when no name has a PaliGemma prefix,
 * or when names of both schemes are present. */
int safetensors_paligemma_scheme(safetensors_checkpoint *checkpoint, paligemma_name_scheme *scheme,
                                 pg_error *err);

/* Writes the name that canonical_name (older scheme) has under scheme into
 * out. Fails when canonical_name has no PaliGemma prefix or out is too small. */
int paligemma_translate_name(char *out, size_t out_size, const char *canonical_name,
                             paligemma_name_scheme scheme, pg_error *err);

/* Writes into out the name under which this checkpoint stores canonical_name:
 * translated to the detected scheme, and for language_model.lm_head.weight the
 * embed_tokens name when the checkpoint has no lm_head (Gemma ties them). */
int safetensors_resolve_paligemma(safetensors_checkpoint *checkpoint, const char *canonical_name,
                                  char *out, size_t out_size, pg_error *err);

/* safetensors_load_f32 of the tensor that canonical_name resolves to. */
int safetensors_load_paligemma_f32(safetensors_checkpoint *checkpoint, const char *canonical_name,
                                   int expected_ndim, const int *expected_shape, float *out,
                                   pg_error *err);

#endif

/*
 * fuzz_targets.h - the entry points that the libFuzzer targets
 * (tests/fuzz/fuzz_<name>.c) and the fuzz_regressions suite share, so that a
 * committed crash input replays through exactly the code the fuzzer ran.
 *
 * Each fuzz_<name>(bytes, size, err) feeds one untrusted input to one parser
 * and, when it is accepted, uses the result the way the programs do. It
 * returns 0 (accepted) or -1 (rejected, err filled). Anything else, a crash,
 * a sanitizer report, a leak or a broken invariant (abort), is a bug.
 *
 * The functions are static inline so that each includer gets the ones it
 * uses without an unused-function warning for the rest.
 */
#ifndef PG_FUZZ_TARGETS_H
#define PG_FUZZ_TARGETS_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "12_paligemma/paligemma_config.h"
#include "13_image_preprocessing/image_preprocessing.h"
#include "14_tokenizer/tokenizer.h"
#include "io.h"
#include "npy.h"
#include "pg_error.h"
#include "safetensors.h"

/* The side of the square the image target resizes to: small, so that an
 * execution stays fast; the resize code is the same for every size. */
#define FUZZ_IMAGE_SIZE 14

/* The tokenizer the encode target uses, relative to the repository root. */
#define FUZZ_TOKENIZER_PATH "golden/14_tokenizer/tokenizer.model"

/* The shards the safetensors_index target's index may name. */
#define FUZZ_SHARD_DIR "golden/00_safetensors/sharded"

/* Copies bytes into a new NUL-terminated string; NULL when out of memory. */
static inline char *fuzz_string(const uint8_t *bytes, size_t size)
{
    char *text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, bytes, size);
        text[size] = '\0';
    }
    return text;
}

static inline int fuzz_npy(const uint8_t *bytes, size_t size, pg_error *err)
{
    npy_array array;
    if (npy_parse(bytes, size, "fuzz.npy", &array, err) != 0)
        return -1;
    if (array.count * array.item_size > size)
        abort(); /* the data was copied from the input, so it cannot be larger */
    npy_free(&array);
    return 0;
}

/* Opens the bytes as one .safetensors file and converts every tensor to
 * float32, reading each byte the header points to. */
static inline int fuzz_safetensors(const uint8_t *bytes, size_t size, pg_error *err)
{
    /* A copy of exactly size bytes, so that ASan catches a read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return pg_error_set(err, "out of memory");
    memcpy(copy, bytes, size);
    safetensors_checkpoint *checkpoint;
    int status = safetensors_open_memory(&checkpoint, copy, size, "fuzz.safetensors", err);
    if (status == 0) {
        for (size_t i = 0; i < safetensors_num_tensors(checkpoint); i++) {
            const safetensors_tensor *tensor = safetensors_tensor_at(checkpoint, i);
            float *values = pg_calloc(tensor->count, sizeof(float), tensor->name, err);
            if (values == NULL) {
                status = -1;
                break;
            }
            safetensors_to_f32(values, tensor);
            free(values);
        }
        safetensors_close(checkpoint);
    }
    free(copy);
    return status;
}

/* The two committed shards that an index may name. */
static const char *const FUZZ_SHARDS[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};

/* Creates a temporary folder (dir, room for 64 bytes) with links to the
 * committed shards, for fuzz_safetensors_index. Call from the repository root. */
static inline void fuzz_index_dir_create(char *dir)
{
    snprintf(dir, 64, "%s/pg_fuzz_index_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    char cwd[PATH_MAX], path[PATH_MAX + 128], target[PATH_MAX + 128];
    if (mkdtemp(dir) == NULL || getcwd(cwd, sizeof cwd) == NULL)
        abort();
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, FUZZ_SHARDS[i]);
        snprintf(target, sizeof target, "%s/" FUZZ_SHARD_DIR "/%s", cwd, FUZZ_SHARDS[i]);
        if (symlink(target, path) != 0)
            abort();
    }
}

/* Removes what fuzz_index_dir_create and fuzz_safetensors_index wrote. */
static inline void fuzz_index_dir_remove(const char *dir)
{
    char path[128];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, FUZZ_SHARDS[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    unlink(path);
    rmdir(dir);
}

/* Writes the bytes as model.safetensors.index.json into dir (made by
 * fuzz_index_dir_create) and opens dir as a checkpoint. */
static inline int fuzz_safetensors_index(const char *dir, const uint8_t *bytes, size_t size, pg_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(bytes, 1, size, f) != size || fclose(f) != 0)
        abort();
    safetensors_checkpoint *checkpoint;
    int status = safetensors_open_dir(&checkpoint, dir, err);
    if (status == 0)
        safetensors_close(checkpoint);
    return status;
}

static inline int fuzz_config(const uint8_t *bytes, size_t size, pg_error *err)
{
    char *text = fuzz_string(bytes, size);
    if (text == NULL)
        return pg_error_set(err, "out of memory");
    paligemma_config config;
    int status = paligemma_config_parse(&config, text, "fuzz/config.json", err);
    free(text);
    if (status == 0 && paligemma_num_image_tokens(&config) <= 0)
        abort(); /* a valid config has at least one image token */
    return status;
}

/* Parses the bytes as tokenizer.model and, when accepted, encodes and
 * decodes a prompt with it, as build/paligemma does. */
static inline int fuzz_tokenizer(const uint8_t *bytes, size_t size, pg_error *err)
{
    tokenizer tok;
    if (tokenizer_parse(&tok, bytes, size, "fuzz/tokenizer.model", err) != 0)
        return -1;
    int ids[64];
    int n_ids = 0;
    int status = tokenizer_encode(&tok, "caption en <loc0012> \xC3\xA9\xE2\x96\x81!", ids, 64, &n_ids, err);
    if (status == 0) {
        char text[1024];
        status = tokenizer_decode(&tok, ids, n_ids, text, sizeof text, err);
    }
    tokenizer_free(&tok);
    return status;
}

/* Writes text with each "\xE2\x96\x81" (U+2581, SentencePiece's space
 * symbol) replaced by ' ' into out, which has room for strlen(text) + 1. */
static inline void fuzz_spaces_for_space_symbols(char *out, const char *text)
{
    while (*text != '\0') {
        if (strncmp(text, "\xE2\x96\x81", 3) == 0) {
            *out++ = ' ';
            text += 3;
        } else {
            *out++ = *text++;
        }
    }
    *out = '\0';
}

/* Encodes the bytes (up to the first NUL) with the test tokenizer, which
 * has byte fallback, so every well-formed UTF-8 text must decode back to
 * itself, except that a literal U+2581 comes back as a space (as in
 * sentencepiece). */
static inline int fuzz_encode_with(const tokenizer *tok, const uint8_t *bytes, size_t size, pg_error *err)
{
    char *text = fuzz_string(bytes, size);
    if (text == NULL)
        abort();
    size_t length = strlen(text);
    int max_ids = 3 * (int)length + 1;
    int *ids = malloc(sizeof(int) * (size_t)max_ids);
    char *decoded = malloc(4 * length + 64);
    if (ids == NULL || decoded == NULL)
        abort();
    int n_ids = 0;
    int status = tokenizer_encode(tok, text, ids, max_ids, &n_ids, err);
    if (status == 0) {
        if (tokenizer_decode(tok, ids, n_ids, decoded, 4 * length + 64, err) != 0)
            abort();
        char *expected = malloc(length + 1);
        if (expected == NULL)
            abort();
        fuzz_spaces_for_space_symbols(expected, text);
        if (strcmp(decoded, expected) != 0) {
            fprintf(stderr, "round trip failed: encode then decode of \"%s\" gave \"%s\"\n", text, decoded);
            abort();
        }
        free(expected);
    }
    free(decoded);
    free(ids);
    free(text);
    return status;
}

/* Decodes the bytes as an image, resizes it with the bicubic filter and
 * normalizes it, as image_preprocess does for a file. */
static inline int fuzz_image(const uint8_t *bytes, size_t size, pg_error *err)
{
    rgb_image image;
    if (image_decode_rgb(&image, bytes, size, "fuzz.png", err) != 0)
        return -1;
    size_t scratch_size = bicubic_resize_scratch_size(image.width, image.height, FUZZ_IMAGE_SIZE, FUZZ_IMAGE_SIZE);
    void *scratch = malloc(scratch_size);
    uint8_t resized[FUZZ_IMAGE_SIZE * FUZZ_IMAGE_SIZE * 3];
    float pixel_values[3 * FUZZ_IMAGE_SIZE * FUZZ_IMAGE_SIZE];
    if (scratch == NULL)
        abort();
    bicubic_resize(resized, image.pixels, image.width, image.height, FUZZ_IMAGE_SIZE, FUZZ_IMAGE_SIZE, scratch);
    siglip_rescale_normalize(pixel_values, resized, FUZZ_IMAGE_SIZE, FUZZ_IMAGE_SIZE);
    for (int i = 0; i < 3 * FUZZ_IMAGE_SIZE * FUZZ_IMAGE_SIZE; i++)
        if (!(pixel_values[i] >= -1.0f && pixel_values[i] <= 1.0f))
            abort(); /* normalized uint8 values lie in [-1, 1] */
    free(scratch);
    rgb_image_free(&image);
    return 0;
}

#endif

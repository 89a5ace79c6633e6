/*
 * Bad inputs, one table for every parser of untrusted input: each malformed
 * file is written into a temporary folder and read by its loader, which must
 * return -1 with a message that contains the expected text and the file's
 * path. The command-line cases run build/paligemma (the program beside the
 * test runner) and expect exit status 2 and the message on stderr, except
 * one that expects a warning and status 0.
 *
 * Several cases repeat checks of the per-format suites (npy, safetensors,
 * paligemma, image_preprocessing, tokenizer) on purpose: this table is the
 * one place that lists how each kind of bad input fails.
 *
 *   CK_RUN_SUITE=bad_inputs build/tests/run_tests
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "12_paligemma/paligemma_config.h"
#include "13_image_preprocessing/image_preprocessing.h"
#include "14_tokenizer/tokenizer.h"
#include "io.h"
#include "npy.h"
#include "safetensors.h"

/* ---- the file cases ---------------------------------------------------------- */

typedef enum {
    KIND_NPY,               /* npy_load(file) */
    KIND_SAFETENSORS,       /* safetensors_open_file(file) */
    KIND_SAFETENSORS_INDEX, /* safetensors_open_dir(folder) with file as the index, beside the test shards */
    KIND_CONFIG,            /* paligemma_config_load(file) */
    KIND_TOKENIZER,         /* tokenizer_load(file) */
    KIND_IMAGE              /* image_preprocess(file, 224) */
} input_kind;

/* One malformed file: `bytes` (size bytes), or a file built around `header`.
 * For .npy that is a version 1.0 preamble, the dict `header` and data_size
 * zero bytes. For safetensors it is the 8-byte header size, the JSON
 * `header` and data_size zero bytes. */
typedef struct {
    const char *name;
    input_kind kind;
    const char *bytes;
    size_t size;
    const char *header;
    size_t data_size;
    const char *expected; /* distinctive part of the message */
} bad_file;

#define RAW(text) (text), sizeof(text) - 1, NULL, 0
#define NPY(dict, data_size) NULL, 0, (dict), (data_size)
#define SAFETENSORS(json, data_size) NULL, 0, (json), (data_size)

/* The test tokenizer's options (TrainerSpec: model_type BPE; NormalizerSpec:
 * add_dummy_prefix and remove_extra_whitespaces false) without any piece. */
#define TOKENIZER_SPECS "\x12\x02\x18\x02" "\x1a\x04\x18\x00\x20\x00"
/* pieces { piece: "a" score: 0 type: NORMAL } */
#define TOKENIZER_PIECE_A "\x0a\x0a\x0a\x01" "a" "\x15\x00\x00\x00\x00\x18\x01"

/* A PNG signature and an IHDR chunk declaring width x height (8-bit RGB).
 * The CRC and the missing IDAT do not matter, because the size is checked first. */
#define PNG_HEADER(width, height) \
    "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR" width height "\x08\x02\x00\x00\x00\x00\x00\x00\x00"

static const bad_file BAD_FILES[] = {
    /* .npy */
    {"npy empty file", KIND_NPY, RAW(""), "shorter than the 8-byte preamble"},
    {"npy wrong magic", KIND_NPY, RAW("\x93NUMPX\x01\x00\x10\x00{}"), "the magic string \\x93NUMPY is missing"},
    {"npy version 4.0", KIND_NPY, RAW("\x93NUMPY\x04\x00\x10\x00{}"), "unsupported .npy version 4.0"},
    {"npy truncated length field", KIND_NPY, RAW("\x93NUMPY\x02\x00\x10\x00"), "the header length field needs 12"},
    {"npy header beyond the file", KIND_NPY, RAW("\x93NUMPY\x01\x00\xff\x00{'descr': '<f4'}"),
     "header length 255 goes past the end of the file"},
    {"npy truncated header", KIND_NPY, NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 0),
     "header field 'shape': expected a dimension or ')'"},
    {"npy missing shape", KIND_NPY, NPY("{'descr': '<f4', 'fortran_order': False}", 0), "missing key 'shape'"},
    {"npy negative shape", KIND_NPY, NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 0),
     "negative dimension"},
    {"npy dimension overflow", KIND_NPY,
     NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0),
     "dimension 0 overflows size_t"},
    {"npy element count overflow", KIND_NPY,
     NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }", 0),
     "the element count overflows size_t"},
    {"npy data size overflow", KIND_NPY,
     NPY("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 536870912), }", 0),
     "the data size overflows size_t"},
    {"npy wrong dtype", KIND_NPY, NPY("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 4),
     "unsupported dtype '<f2'"},
    {"npy big-endian", KIND_NPY, NPY("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8),
     "'>f4' is big-endian"},
    {"npy fortran order", KIND_NPY, NPY("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16),
     "found True, expected False"},
    {"npy truncated data", KIND_NPY, NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 20),
     "the shape needs 24 data bytes, found 20"},
    {"npy huge shape, little data", KIND_NPY,
     NPY("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", 16),
     "the shape needs 40000000000 data bytes, found 16"},
    {"npy bytes after data", KIND_NPY, NPY("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", 8),
     "4 bytes after the data"},
    {"npy duplicate key", KIND_NPY, NPY("{'descr': '<f4', 'descr': '<f4', 'shape': (), }", 4),
     "key 'descr' appears twice"},

    /* safetensors */
    {"safetensors empty file", KIND_SAFETENSORS, RAW(""), "file is 0 bytes, shorter than the 8-byte header size"},
    {"safetensors header size over the limit", KIND_SAFETENSORS, RAW("\x00\x00\x00\x00\x00\x01\x00\x00{}"),
     "exceeds the limit of 100000000 bytes"},
    {"safetensors header beyond the file", KIND_SAFETENSORS, RAW("\x40\x00\x00\x00\x00\x00\x00\x00{}"),
     "header size 64 bytes runs past the end of the file"},
    {"safetensors header not JSON", KIND_SAFETENSORS, SAFETENSORS("{\"a\": ", 0), "header is not valid JSON"},
    {"safetensors header a list", KIND_SAFETENSORS, SAFETENSORS("[1, 2]", 0), "not a JSON object of tensors"},
    {"safetensors text after header", KIND_SAFETENSORS, SAFETENSORS("{} x", 0), "unexpected text after the object"},
    {"safetensors wrong dtype", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8),
     "tensor 'w': unsupported dtype \"F64\""},
    {"safetensors negative shape", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4),
     "shape must contain integers from 0 to 2^53 - 1, found -1"},
    {"safetensors shape overflow", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
                 "\"data_offsets\": [0, 4]}}", 4),
     "the element count of its shape overflows size_t"},
    {"safetensors too many dimensions", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4),
     "shape has 9 dimensions, at most 8"},
    {"safetensors offsets outside data", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8),
     "data_offsets [0, 16] are outside the data region of 8 bytes"},
    {"safetensors offsets reversed", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8),
     "data_offsets [8, 4] are outside the data region"},
    {"safetensors offsets wrong size", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}", 16),
     "hold 16 bytes, expected 8"},
    {"safetensors duplicate name", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                 "\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8),
     "tensor 'w' appears twice in the header"},
    {"safetensors overlapping tensors", KIND_SAFETENSORS,
     SAFETENSORS("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                 "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12),
     "tensors 'a' and 'b' overlap"},
    {"safetensors missing offsets", KIND_SAFETENSORS, SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4),
     "field \"data_offsets\" must be a list [begin, end]"},
    {"safetensors fractional offset", KIND_SAFETENSORS,
     SAFETENSORS("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4.5]}}", 8),
     "data_offsets must contain integers from 0 to 2^53 - 1, found 4.5"},
    {"safetensors metadata not strings", KIND_SAFETENSORS, SAFETENSORS("{\"__metadata__\": {\"format\": 1}}", 0),
     "\"__metadata__\" entry 'format' must be a string"},
    {"index not JSON", KIND_SAFETENSORS_INDEX, RAW("{\"weight_map\": "), "not valid JSON"},
    {"index empty weight_map", KIND_SAFETENSORS_INDEX, RAW("{\"weight_map\": {}}"),
     "missing or empty \"weight_map\" object"},
    {"index missing shard", KIND_SAFETENSORS_INDEX, RAW("{\"weight_map\": {\"a\": \"model-00003-of-00003.safetensors\"}}"),
     "which does not exist"},
    {"index shard outside folder", KIND_SAFETENSORS_INDEX, RAW("{\"weight_map\": {\"a\": \"../model.safetensors\"}}"),
     "without '/'"},
    {"index shard not a string", KIND_SAFETENSORS_INDEX, RAW("{\"weight_map\": {\"a\": 1}}"),
     "weight_map entry 'a' must be a shard file name"},

    /* config.json */
    {"config not JSON", KIND_CONFIG, RAW("{\"model_type\": \"paligemma\""), "invalid JSON near byte"},
    {"config NUL byte", KIND_CONFIG, RAW("{\"model_type\": \"paligemma\"}\0"), "the file contains a NUL byte"},
    {"config a list", KIND_CONFIG, RAW("[]"), "expected a JSON object at the top level"},
    {"config missing model_type", KIND_CONFIG, RAW("{\"text_config\": {}}"),
     "field 'model_type' is missing or not a string; expected 'paligemma'"},
    {"config other model_type", KIND_CONFIG, RAW("{\"model_type\": \"llava\"}"), "model_type is 'llava'"},
    {"config PaliGemma 2", KIND_CONFIG, RAW("{\"model_type\": \"paligemma\", \"text_config\": {\"model_type\": \"gemma2\"}}"),
     "a PaliGemma 2 checkpoint"},
    {"config zero heads", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"text_config\": {\"num_attention_heads\": 0}}"),
     "num_attention_heads is 0, expected a positive number"},
    {"config heads do not divide width", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"vision_config\": {\"hidden_size\": 48, \"num_attention_heads\": 5}}"),
     "hidden_size 48 is not a multiple of num_attention_heads 5"},
    {"config patches do not tile", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"vision_config\": {\"image_size\": 224, \"patch_size\": 15}}"),
     "image_size 224 is not a multiple of patch_size 15"},
    {"config fractional size", KIND_CONFIG, RAW("{\"model_type\": \"paligemma\", \"text_config\": {\"hidden_size\": 2.5}}"),
     "field 'text_config.hidden_size' must be an integer"},
    {"config size out of range", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"text_config\": {\"vocab_size\": 1e12}}"),
     "field 'text_config.vocab_size' must be an integer, found a fraction or a number out of range"},
    {"config image size over the limit", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"projection_dim\": 3072, \"image_token_index\": 5, "
         "\"vision_config\": {\"image_size\": 100000, \"patch_size\": 1}}"),
     "vision_config.image_size is 100000, over the limit of 16384 pixels per side"},
    {"config query rows overflow", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"text_config\": {\"num_attention_heads\": 65536, "
         "\"num_key_value_heads\": 1, \"head_dim\": 65536}}"),
     "num_attention_heads 65536 (or num_key_value_heads 1) times head_dim 65536 is over 2147483647"},
    {"config image token outside vocabulary", KIND_CONFIG,
     RAW("{\"model_type\": \"paligemma\", \"image_token_index\": 300000, \"projection_dim\": 3072}"),
     "image_token_index 300000 is outside the vocabulary"},

    /* tokenizer.model */
    {"tokenizer empty file", KIND_TOKENIZER, RAW(""), "ModelProto.pieces is empty (0 pieces)"},
    {"tokenizer zero pieces", KIND_TOKENIZER, RAW(TOKENIZER_SPECS), "ModelProto.pieces is empty (0 pieces)"},
    {"tokenizer truncated length", KIND_TOKENIZER, RAW("\x0a"), "truncated varint (length) in ModelProto"},
    {"tokenizer truncated piece", KIND_TOKENIZER, RAW(TOKENIZER_SPECS "\x0a\x0a\x0a\x01" "a"),
     "past the end of the message"},
    {"tokenizer group wire type", KIND_TOKENIZER, RAW("\x0b"), "wire type 3 (SGROUP)"},
    {"tokenizer unigram model", KIND_TOKENIZER, RAW("\x12\x02\x18\x01" TOKENIZER_PIECE_A),
     "TrainerSpec.model_type is 1 (UNIGRAM), expected 2 (BPE)"},
    {"tokenizer no unknown piece", KIND_TOKENIZER, RAW(TOKENIZER_SPECS TOKENIZER_PIECE_A), "no piece has type UNKNOWN"},
    {"tokenizer empty piece", KIND_TOKENIZER, RAW(TOKENIZER_SPECS "\x0a\x02\x18\x01"),
     "ModelProto.pieces[0].piece is empty"},

    /* images */
    {"image not an image", KIND_IMAGE, RAW("just text"), "not a supported image file"},
    {"image PNG of 0 x 0", KIND_IMAGE, RAW(PNG_HEADER("\x00\x00\x00\x00", "\x00\x00\x00\x00")),
     "invalid image size 0 x 0"},
    {"image PNG of 100000 x 100000", KIND_IMAGE, RAW(PNG_HEADER("\x00\x01\x86\xa0", "\x00\x01\x86\xa0")),
     "image too large: 100000 x 100000 pixels"},
    {"image PNG of 16384 x 16384", KIND_IMAGE, RAW(PNG_HEADER("\x00\x00\x40\x00", "\x00\x00\x40\x00")),
     "16384 x 16384 = 268435456 pixels, expected at most 67108864"},
    {"image truncated PNG", KIND_IMAGE, RAW("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIH"), "invalid PNG header"},
    {"image JPEG Huffman table overflow", KIND_IMAGE,
     RAW("\xff\xd8\xff\xc4\x00\x13\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xd9"),
     "has 510 codes, expected at most 256"},
    {"image PNG chunk past the end", KIND_IMAGE,
     RAW(PNG_HEADER("\x00\x00\x00\x02", "\x00\x00\x00\x02") "\x7f\xff\xff\xffIDATx"),
     "truncated PNG: chunk 'IDAT' at byte 33 declares 2147483647 bytes, but only 1 remain in the file"},
    {"image PNM maxval 65535", KIND_IMAGE, RAW("P6 1 1 65535\n\x00\x01\x00\x02\x00\x03"),
     "unsupported PNM maxval 65535"},
};

static char temp_dir[64];

static void make_temp_dir(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/pg_bad_inputs_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
}

static void remove_temp_dir(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
    ck_assert_int_eq(system(command), 0);
}

static void write_file(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes the case's file to path, building .npy and safetensors framing. */
static void write_case(const bad_file *c, const char *path)
{
    if (c->header == NULL) {
        write_file(path, c->bytes, c->size);
        return;
    }
    size_t header_length = strlen(c->header);
    size_t preamble = c->kind == KIND_NPY ? 10 : 8;
    size_t size = preamble + header_length + c->data_size;
    uint8_t *bytes = pg_xcalloc(size, 1, path);
    if (c->kind == KIND_NPY) {
        memcpy(bytes, "\x93NUMPY\x01\x00", 8);
        bytes[8] = (uint8_t)(header_length & 0xff);
        bytes[9] = (uint8_t)(header_length >> 8);
    } else {
        for (int i = 0; i < 8; i++)
            bytes[i] = (uint8_t)((uint64_t)header_length >> (8 * i));
    }
    memcpy(bytes + preamble, c->header, header_length);
    write_file(path, bytes, size);
    free(bytes);
}

/* Runs the loader of the case's kind on path (or on its folder); returns its status. */
static int load_case(const bad_file *c, const char *path, const char *dir, pg_error *err)
{
    switch (c->kind) {
    case KIND_NPY: {
        npy_array array;
        int status = npy_load(path, &array, err);
        npy_free(&array);
        return status;
    }
    case KIND_SAFETENSORS:
    case KIND_SAFETENSORS_INDEX: {
        safetensors_checkpoint *checkpoint = NULL;
        int status = c->kind == KIND_SAFETENSORS ? safetensors_open_file(&checkpoint, path, err)
                                                 : safetensors_open_dir(&checkpoint, dir, err);
        safetensors_close(checkpoint);
        return status;
    }
    case KIND_CONFIG: {
        paligemma_config config;
        return paligemma_config_load(&config, path, err);
    }
    case KIND_TOKENIZER: {
        tokenizer tok;
        int status = tokenizer_load(&tok, path, err);
        tokenizer_free(&tok);
        return status;
    }
    case KIND_IMAGE: {
        float *pixel_values = pg_xcalloc(3 * 224 * 224, sizeof(float), "pixel values");
        int status = image_preprocess(path, 224, pixel_values, err);
        free(pixel_values);
        return status;
    }
    }
    return 0;
}

START_TEST(bad_file_rejected)
{
    const bad_file *c = &BAD_FILES[_i];

    /* Each case gets its own folder, so that an index finds only its shards. */
    char dir[128], path[192];
    snprintf(dir, sizeof dir, "%s/case_%d", temp_dir, _i);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    const char *file_names[] = {"bad.npy", "bad.safetensors", "model.safetensors.index.json", "config.json",
                                "tokenizer.model", "bad_image"};
    snprintf(path, sizeof path, "%s/%s", dir, file_names[c->kind]);
    write_case(c, path);
    if (c->kind == KIND_SAFETENSORS_INDEX) {
        char shard[256];
        snprintf(shard, sizeof shard, "%s/model-00001-of-00002.safetensors", dir);
        write_file(shard, "\x02\x00\x00\x00\x00\x00\x00\x00{}", 10);
    }

    pg_error err = {{0}};
    int status = load_case(c, path, dir, &err);
    ck_assert_msg(status == -1, "case '%s': expected -1, got %d", c->name, status);
    ck_assert_msg(strstr(err.message, c->expected) != NULL, "case '%s': message \"%s\" lacks \"%s\"", c->name,
                  err.message, c->expected);
    const char *named = c->kind == KIND_SAFETENSORS_INDEX && strstr(err.message, path) == NULL ? dir : path;
    ck_assert_msg(strstr(err.message, named) != NULL, "case '%s': message \"%s\" does not name %s", c->name,
                  err.message, named);

    /* A safetensors file read from memory fails with the same message. */
    if (c->kind == KIND_SAFETENSORS) {
        size_t size = 0;
        uint8_t *bytes = pg_read_file(path, &size, &err);
        ck_assert_ptr_nonnull(bytes);
        pg_error memory_err = {{0}};
        safetensors_checkpoint *checkpoint = NULL;
        ck_assert_int_eq(safetensors_open_memory(&checkpoint, bytes, size, path, &memory_err), -1);
        ck_assert_ptr_null(checkpoint);
        ck_assert_str_eq(memory_err.message, err.message);
        free(bytes);
    }
}
END_TEST

/* The control for the case above: a valid file gives the same tensors from
 * memory as from the file. */
START_TEST(safetensors_memory_matches_file)
{
    const char *path = "golden/00_safetensors/single/model.safetensors";
    pg_error err;
    size_t size = 0;
    uint8_t *bytes = pg_read_file(path, &size, &err);
    ck_assert_msg(bytes != NULL, "%s", err.message);
    safetensors_checkpoint *from_file = NULL, *from_memory = NULL;
    ck_assert_msg(safetensors_open_file(&from_file, path, &err) == 0, "%s", err.message);
    ck_assert_msg(safetensors_open_memory(&from_memory, bytes, size, path, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(safetensors_num_tensors(from_memory), safetensors_num_tensors(from_file));
    for (size_t i = 0; i < safetensors_num_tensors(from_file); i++) {
        const safetensors_tensor *a = safetensors_tensor_at(from_file, i);
        const safetensors_tensor *b = safetensors_tensor_at(from_memory, i);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_uint_eq(a->count, b->count);
        ck_assert_int_eq(memcmp(a->data, b->data, a->count * safetensors_dtype_size(a->dtype)), 0);
    }
    safetensors_close(from_file);
    safetensors_close(from_memory);
    free(bytes);
}
END_TEST

/* ---- the encoder ------------------------------------------------------------- */

START_TEST(prompt_invalid_utf8_rejected)
{
    tokenizer tok;
    pg_error err = {{0}};
    ck_assert_int_eq(tokenizer_load(&tok, "golden/14_tokenizer/tokenizer.model", &err), 0);
    /* A lone continuation byte, a truncated 3-byte character, an overlong
     * '/', and a UTF-16 surrogate. */
    const char *texts[] = {"caption \x80", "caption \xE2\x96", "caption \xC0\xAF", "caption \xED\xA0\x80"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int ids[64], n_ids = -1;
        int status = tokenizer_encode(&tok, texts[i], ids, 64, &n_ids, &err);
        ck_assert_msg(status == -1, "text %zu: expected -1, got %d", i, status);
        ck_assert_msg(strstr(err.message, "invalid UTF-8 at byte 8 of the text") != NULL, "text %zu: message \"%s\"",
                      i, err.message);
    }
    tokenizer_free(&tok);
}
END_TEST

/* ---- the command line -------------------------------------------------------- */

/* A command-line case: the arguments after build/paligemma, where {DIR} is
 * the temporary folder, the expected text on stderr, and the exit status
 * (2 for every error). */
typedef struct {
    const char *name;
    const char *arguments;
    const char *expected;
    int status;
} bad_command;

#define MODEL "--model golden/12_paligemma/tiny_f32"
#define PIXELS "--pixel-values golden/12_paligemma/pixel_values.npy"

static const bad_command BAD_COMMANDS[] = {
    {"unknown option", MODEL " " PIXELS " --prompt hi --frobnicate 1", "unknown option --frobnicate", 2},
    {"missing value", PIXELS " --prompt hi --model", "option --model needs a value", 2},
    {"missing model option", PIXELS " --prompt hi", "missing --model DIR", 2},
    {"non-numeric max tokens", MODEL " " PIXELS " --prompt hi --max-tokens abc",
     "invalid value 'abc' for --max-tokens: expected an integer from 1 to 1000000", 2},
    {"zero max tokens", MODEL " " PIXELS " --prompt hi --max-tokens 0", "invalid value '0' for --max-tokens", 2},
    {"top-p zero", MODEL " " PIXELS " --prompt hi --temperature 1 --top-p 0",
     "invalid value '0' for --top-p: expected a number from 1e-06 to 1", 2},
    {"temperature not a number", MODEL " " PIXELS " --prompt hi --temperature hot",
     "invalid value 'hot' for --temperature", 2},
    {"two images", MODEL " " PIXELS " --image x.png --prompt hi", "give exactly one of --image FILE and --pixel-values", 2},
    {"bad input ids", MODEL " " PIXELS " --input-ids 1,x", "invalid value for --input-ids at 'x'", 2},
    {"missing model folder", "--model {DIR}/no_such_model " PIXELS " --prompt hi",
     "cannot open {DIR}/no_such_model/config.json: No such file or directory", 2},
    {"missing image", MODEL " --image {DIR}/no_such_image.png --prompt hi",
     "cannot open {DIR}/no_such_image.png: No such file or directory", 2},
    {"unreadable image", MODEL " --image {DIR}/not_an_image.png --prompt hi",
     "{DIR}/not_an_image.png: not a supported image file", 2},
    {"image is a folder", MODEL " --image {DIR} --prompt hi", "cannot read {DIR}: it is a directory, expected a file", 2},
    {"model folder is a file", "--model golden/12_paligemma/tiny_f32/config.json " PIXELS " --prompt hi",
     "cannot open golden/12_paligemma/tiny_f32/config.json/config.json: Not a directory", 2},
    {"pixel values wrong shape", MODEL " --pixel-values golden/00_npy/f4_2x3.npy --prompt hi",
     "golden/00_npy/f4_2x3.npy: expected float32 pixel values of shape (3, 32, 32)", 2},
    {"prompt invalid UTF-8", MODEL " " PIXELS " --prompt \"$(printf 'caption \\377')\"", "invalid UTF-8 at byte 8", 2},
    {"layers beyond the checkpoint", "--model {DIR}/many_layers " PIXELS " --prompt hi",
     "config.json has 2 vision and 1000000000 text layers, which need at least 9000000041 tensors, "
     "but the checkpoint holds 59", 2},
    {"prompt too long", "--model {DIR}/short_model " PIXELS " --prompt 'caption en' --max-tokens 5",
     "exceed the 24 positions of the model (max_position_embeddings)", 2},
    /* Not an error: the test model has 2112 embedding rows for 2049 tokenizer
     * ids, and greedy decoding of an empty prompt reaches id 2065. */
    {"generated id without text", MODEL " " PIXELS " --prompt ''",
     "generated id 2065 has no piece in the tokenizer (ids 0..2048); printed as <id:2065>", 0},
};

/* Replaces each {DIR} in text with the temporary folder. */
static void expand(char *out, size_t out_size, const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p != '\0' && n + 1 < out_size;) {
        if (strncmp(p, "{DIR}", 5) == 0) {
            n += (size_t)snprintf(out + n, out_size - n, "%s", temp_dir);
            p += 5;
        } else {
            out[n++] = *p++;
        }
    }
    out[n < out_size ? n : out_size - 1] = '\0';
}

/* The paligemma program built beside this test runner: BUILD/paligemma for
 * BUILD/tests/run_tests, so that `make sanitize` runs the sanitized one. */
static void program_path(char *out, size_t out_size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    snprintf(out, out_size, "%s/../paligemma", self);
}

/* A copy of the test model in {DIR}/name whose config.json has `fields`
 * added at the start of text_config. */
static void make_model_variant(const char *name, const char *fields)
{
    char dir[128], path[192], target[PATH_MAX + 64], cwd[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", temp_dir, name);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    const char *links[] = {"model.safetensors", "tokenizer.model"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, links[i]);
        snprintf(target, sizeof target, "%s/golden/12_paligemma/tiny_f32/%s", cwd, links[i]);
        ck_assert_int_eq(symlink(target, path), 0);
    }

    size_t size;
    pg_error err;
    uint8_t *config = pg_read_file("golden/12_paligemma/tiny_f32/config.json", &size, &err);
    ck_assert_msg(config != NULL, "%s", err.message);
    char *text = pg_xcalloc(size + strlen(fields) + 1, 1, "config text");
    const char *anchor = "\"text_config\": {";
    char *at = strstr((char *)config, anchor);
    ck_assert_ptr_nonnull(at);
    size_t head = (size_t)(at - (char *)config) + strlen(anchor);
    memcpy(text, config, head);
    strcat(text, fields);
    strncat(text, (char *)config + head, size - head);
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, text, strlen(text));
    free(text);
    free(config);
}

START_TEST(bad_command_rejected)
{
    const bad_command *c = &BAD_COMMANDS[_i];
    char program[PATH_MAX + 32], arguments[1024], expected[512], stderr_path[128];
    char command[PATH_MAX + 32 + 1024 + 128 + 64];
    program_path(program, sizeof program);
    ck_assert_msg(access(program, X_OK) == 0, "%s is missing; build it with make", program);
    expand(arguments, sizeof arguments, c->arguments);
    expand(expected, sizeof expected, c->expected);

    snprintf(stderr_path, sizeof stderr_path, "%s/stderr_%d.txt", temp_dir, _i);
    snprintf(command, sizeof command, "%s %s >/dev/null 2>%s", program, arguments, stderr_path);
    int status = system(command);
    size_t size = 0;
    pg_error err;
    char *output = (char *)pg_read_file(stderr_path, &size, &err);
    ck_assert_msg(output != NULL, "%s", err.message);
    char *text = pg_xcalloc(size + 1, 1, "stderr text");
    memcpy(text, output, size);

    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == c->status,
                  "case '%s': expected exit status %d, got %d; stderr: %s", c->name, c->status,
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1, text);
    ck_assert_msg(strstr(text, expected) != NULL, "case '%s': stderr \"%s\" lacks \"%s\"", c->name, text, expected);
    free(text);
    free(output);
}
END_TEST

static void setup_commands(void)
{
    make_temp_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/not_an_image.png", temp_dir);
    write_file(path, "not an image\n", 13);
    /* 24 positions: 16 image tokens, <bos>, the prompt, "\n" and the new tokens do not fit. */
    make_model_variant("short_model", "\"max_position_embeddings\": 24, ");
    make_model_variant("many_layers", "\"num_hidden_layers\": 1000000000, ");
}

Suite *bad_inputs_suite(void)
{
    Suite *suite = suite_create("bad_inputs");

    TCase *files = tcase_create("files");
    tcase_add_unchecked_fixture(files, make_temp_dir, remove_temp_dir);
    tcase_add_loop_test(files, bad_file_rejected, 0, (int)(sizeof BAD_FILES / sizeof BAD_FILES[0]));
    tcase_add_test(files, safetensors_memory_matches_file);
    tcase_add_test(files, prompt_invalid_utf8_rejected);
    suite_add_tcase(suite, files);

    /* Each case starts the program and may load the test model: seconds
     * under the sanitizers, so the timeout is generous. */
    TCase *commands = tcase_create("command_line");
    tcase_add_unchecked_fixture(commands, setup_commands, remove_temp_dir);
    tcase_add_loop_test(commands, bad_command_rejected, 0, (int)(sizeof BAD_COMMANDS / sizeof BAD_COMMANDS[0]));
    tcase_set_timeout(commands, 60);
    suite_add_tcase(suite, commands);
    return suite;
}

/*
 * The safetensors reader (common/safetensors.c) against golden/00_safetensors
 * (gen_00_safetensors.py). Every dtype conversion is compared bit for bit with
 * numpy's and torch's. Further cases: shards and their index, both PaliGemma
 * name schemes, and the unused-tensor line. Each validation rule gets one
 * malformed file, built in a temporary directory, and the message it must
 * produce.
 *
 * Tolerance: none. F32 is copied and every BF16 and F16 value is exact in
 * float32, so each element must equal the reference bit for bit (NaN
 * payloads and the sign of zero included).
 */
#include <check.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "npy.h"
#include "safetensors.h"
#include "testing.h"

#define CHAPTER "00_safetensors"

/* Returns golden/00_safetensors/<name> (honouring $PG_GOLDEN_DIR) in a static buffer. */
static const char *fixture_dir(const char *name)
{
    static char path[1024];
    const char *dir = getenv("PG_GOLDEN_DIR");
    snprintf(path, sizeof path, "%s/%s/%s", dir ? dir : "golden", CHAPTER, name);
    return path;
}

static safetensors_checkpoint *open_fixture(const char *name)
{
    safetensors_checkpoint *ckpt;
    pg_error err;
    ck_assert_msg(safetensors_open_dir(&ckpt, fixture_dir(name), &err) == 0, "%s", err.message);
    return ckpt;
}

/* Compares n floats bit for bit, prints one report line, makes one assertion. */
static void check_bits_equal(const char *name, const float *got, const float *want, size_t n)
{
    size_t mismatches = 0, first = 0;
    uint32_t got_bits = 0, want_bits = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t g, w;
        memcpy(&g, &got[i], 4);
        memcpy(&w, &want[i], 4);
        if (g != w && mismatches++ == 0) {
            first = i;
            got_bits = g;
            want_bits = w;
        }
    }
    char report[256];
    if (mismatches == 0)
        snprintf(report, sizeof report, "%s: %zu elements, all bit-identical", name, n);
    else
        snprintf(report, sizeof report, "%s: %zu of %zu elements differ; first at %zu: got 0x%08x, want 0x%08x",
                 name, mismatches, n, first, got_bits, want_bits);
    printf("  %s\n", report);
    ck_assert_msg(mismatches == 0, "%s", report);
}

/* Loads tensor `name` as float32 with the given shape and compares it bit
 * for bit with golden/00_safetensors/<expected>.npy. */
static void check_tensor(safetensors_checkpoint *ckpt, const char *name, const char *expected, int ndim,
                         const int *shape)
{
    npy_array want;
    pg_error err;
    ck_assert_msg(npy_load(golden_path(CHAPTER, expected), &want, &err) == 0, "%s (run make golden)",
                  err.message);
    ck_assert_int_eq(want.dtype, NPY_FLOAT32);
    float *got = safetensors_load_f32_alloc(ckpt, name, ndim, shape, &err);
    ck_assert_msg(got != NULL, "%s", err.message);
    ck_assert_uint_eq(safetensors_find(ckpt, name)->count, want.count);
    check_bits_equal(name, got, want.data, want.count);
    free(got);
    npy_free(&want);
}

/* ---------------------------------------------------------------------------
 * Conversions, one checkpoint file.
 * ------------------------------------------------------------------------- */

START_TEST(f32_copied_exactly)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    check_tensor(ckpt, "f32_matrix", "single_f32_matrix", 2, (int[]){3, 4});
    check_tensor(ckpt, "f32_special", "single_f32_special", 1, (int[]){8});
    check_tensor(ckpt, "f32_scalar", "single_f32_scalar", 0, NULL);
    safetensors_close(ckpt);
}
END_TEST

START_TEST(bf16_every_bit_pattern)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    check_tensor(ckpt, "bf16_all", "single_bf16_all", 2, (int[]){256, 256});
    check_tensor(ckpt, "bf16_weight", "single_bf16_weight", 2, (int[]){4, 6});
    safetensors_close(ckpt);
}
END_TEST

/* All 65536 halves: zeros of both signs, 1023 subnormals per sign, normals,
 * infinities and NaNs (expected from numpy, which keeps NaN payloads). */
START_TEST(f16_every_bit_pattern)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    check_tensor(ckpt, "f16_all", "single_f16_all", 2, (int[]){256, 256});
    check_tensor(ckpt, "f16_weight", "single_f16_weight", 2, (int[]){4, 6});
    safetensors_close(ckpt);
}
END_TEST

/* Spot values stated by IEEE 754, independent of the golden files. */
START_TEST(f16_literal_values)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    const safetensors_tensor *t = safetensors_find(ckpt, "f16_all");
    ck_assert_ptr_nonnull(t);
    float *all = pg_xcalloc(t->count, sizeof(float), "f16_all");
    safetensors_to_f32(all, t);
    ck_assert_float_eq(all[0x3c00], 1.0f);
    ck_assert_float_eq(all[0xc000], -2.0f);
    ck_assert_float_eq(all[0x7bff], 65504.0f);
    ck_assert_float_eq(all[0x0001], 0x1p-24f);   /* smallest subnormal */
    ck_assert_float_eq(all[0x03ff], 0x3ffp-24f); /* largest subnormal */
    ck_assert_float_eq(all[0x0400], 0x1p-14f);   /* smallest normal */
    uint32_t bits;
    memcpy(&bits, &all[0x8000], 4);
    ck_assert_uint_eq(bits, 0x80000000u);        /* negative zero */
    memcpy(&bits, &all[0xfc00], 4);
    ck_assert_uint_eq(bits, 0xff800000u);        /* -inf */
    memcpy(&bits, &all[0x7e00], 4);
    ck_assert_uint_eq(bits, 0x7fc00000u);        /* quiet NaN */
    free(all);
    safetensors_close(ckpt);
}
END_TEST

START_TEST(tensor_view_fields)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    ck_assert_uint_eq(safetensors_num_tensors(ckpt), 8);
    const safetensors_tensor *t = safetensors_find(ckpt, "f16_weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t->name, "f16_weight");
    ck_assert_int_eq(t->dtype, SAFETENSORS_F16);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_uint_eq(t->shape[0], 4);
    ck_assert_uint_eq(t->shape[1], 6);
    ck_assert_uint_eq(t->count, 24);
    ck_assert_ptr_nonnull(strstr(t->file, "single/model.safetensors"));
    const safetensors_tensor *empty = safetensors_find(ckpt, "f32_empty");
    ck_assert_ptr_nonnull(empty);
    ck_assert_uint_eq(empty->count, 0);
    const safetensors_tensor *scalar = safetensors_find(ckpt, "f32_scalar");
    ck_assert_int_eq(scalar->ndim, 0);
    ck_assert_uint_eq(scalar->count, 1);
    safetensors_close(ckpt);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Shards and the index.
 * ------------------------------------------------------------------------- */

START_TEST(sharded_checkpoint)
{
    safetensors_checkpoint *ckpt = open_fixture("sharded");
    ck_assert_uint_eq(safetensors_num_tensors(ckpt), 4);
    check_tensor(ckpt, "encoder.weight", "sharded_encoder_weight", 2, (int[]){3, 5});
    check_tensor(ckpt, "encoder.bias", "sharded_encoder_bias", 1, (int[]){7});
    check_tensor(ckpt, "decoder.weight", "sharded_decoder_weight", 3, (int[]){2, 2, 3});
    check_tensor(ckpt, "decoder.norm.weight", "sharded_decoder_norm_weight", 1, (int[]){5});
    ck_assert_ptr_nonnull(strstr(safetensors_find(ckpt, "encoder.bias")->file, "model-00001-of-00002"));
    ck_assert_ptr_nonnull(strstr(safetensors_find(ckpt, "decoder.weight")->file, "model-00002-of-00002"));
    safetensors_close(ckpt);
}
END_TEST

/* ---------------------------------------------------------------------------
 * PaliGemma name schemes.
 * ------------------------------------------------------------------------- */

static const struct {
    const char *canonical, *expected;
    int ndim;
    int shape[4];
} TINY_PALIGEMMA[] = {
    {"language_model.model.embed_tokens.weight", "names_embed_tokens", 2, {6, 4}},
    {"language_model.model.layers.0.self_attn.q_proj.weight", "names_q_proj", 2, {4, 4}},
    {"language_model.model.norm.weight", "names_norm", 1, {4}},
    {"vision_tower.vision_model.embeddings.patch_embedding.weight", "names_patch_embedding", 4, {2, 3, 2, 2}},
    {"vision_tower.vision_model.post_layernorm.bias", "names_post_layernorm_bias", 1, {2}},
    {"multi_modal_projector.linear.weight", "names_projector_weight", 2, {4, 2}},
    {"multi_modal_projector.linear.bias", "names_projector_bias", 1, {4}},
};
#define TINY_COUNT (sizeof TINY_PALIGEMMA / sizeof TINY_PALIGEMMA[0])

/* Loads every tensor by its canonical name and compares with the .npy. */
static void check_tiny_paligemma(safetensors_checkpoint *ckpt)
{
    for (size_t i = 0; i < TINY_COUNT; i++) {
        pg_error err;
        char resolved[256];
        ck_assert_msg(safetensors_resolve_paligemma(ckpt, TINY_PALIGEMMA[i].canonical, resolved,
                                                    sizeof resolved, &err) == 0, "%s", err.message);
        check_tensor(ckpt, resolved, TINY_PALIGEMMA[i].expected, TINY_PALIGEMMA[i].ndim, TINY_PALIGEMMA[i].shape);
    }
}

START_TEST(translates_to_newer_names)
{
    const struct {
        const char *older, *newer;
    } cases[] = {
        {"language_model.model.layers.17.mlp.gate_proj.weight", "model.language_model.layers.17.mlp.gate_proj.weight"},
        {"language_model.model.embed_tokens.weight", "model.language_model.embed_tokens.weight"},
        {"language_model.model.norm.weight", "model.language_model.norm.weight"},
        {"language_model.lm_head.weight", "lm_head.weight"},
        {"vision_tower.vision_model.encoder.layers.26.self_attn.out_proj.bias",
         "model.vision_tower.vision_model.encoder.layers.26.self_attn.out_proj.bias"},
        {"multi_modal_projector.linear.weight", "model.multi_modal_projector.linear.weight"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        pg_error err;
        ck_assert_msg(paligemma_translate_name(out, sizeof out, cases[i].older, PALIGEMMA_NAMES_NEWER, &err) == 0,
                      "%s", err.message);
        ck_assert_str_eq(out, cases[i].newer);
        ck_assert_int_eq(paligemma_translate_name(out, sizeof out, cases[i].older, PALIGEMMA_NAMES_OLDER, &err), 0);
        ck_assert_str_eq(out, cases[i].older);
    }
    char out[256];
    pg_error err;
    ck_assert_int_eq(paligemma_translate_name(out, sizeof out, "model.norm.weight", PALIGEMMA_NAMES_NEWER, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "'model.norm.weight' is not a PaliGemma tensor name"));
}
END_TEST

START_TEST(older_names_with_tied_lm_head)
{
    safetensors_checkpoint *ckpt = open_fixture("names_older");
    paligemma_name_scheme scheme;
    pg_error err;
    ck_assert_msg(safetensors_paligemma_scheme(ckpt, &scheme, &err) == 0, "%s", err.message);
    ck_assert_int_eq(scheme, PALIGEMMA_NAMES_OLDER);
    printf("  names_older: %s\n", paligemma_name_scheme_description(scheme));
    check_tiny_paligemma(ckpt);

    // No lm_head in the file: it resolves to embed_tokens.
    char resolved[256];
    ck_assert_int_eq(safetensors_resolve_paligemma(ckpt, "language_model.lm_head.weight", resolved,
                                                   sizeof resolved, &err), 0);
    ck_assert_str_eq(resolved, "language_model.model.embed_tokens.weight");
    float lm_head[24];
    ck_assert_msg(safetensors_load_paligemma_f32(ckpt, "language_model.lm_head.weight", 2, (int[]){6, 4},
                                                 lm_head, &err) == 0, "%s", err.message);
    npy_array embed;
    golden_load_f32(&embed, CHAPTER, "names_embed_tokens", 2, 6, 4);
    check_bits_equal("tied lm_head", lm_head, embed.data, 24);
    npy_free(&embed);
    safetensors_close(ckpt);
}
END_TEST

START_TEST(newer_names_with_lm_head)
{
    safetensors_checkpoint *ckpt = open_fixture("names_newer");
    paligemma_name_scheme scheme;
    pg_error err;
    ck_assert_msg(safetensors_paligemma_scheme(ckpt, &scheme, &err) == 0, "%s", err.message);
    ck_assert_int_eq(scheme, PALIGEMMA_NAMES_NEWER);
    printf("  names_newer: %s\n", paligemma_name_scheme_description(scheme));
    check_tiny_paligemma(ckpt);

    // The file has its own lm_head.weight, whose values differ from embed_tokens.
    char resolved[256];
    ck_assert_int_eq(safetensors_resolve_paligemma(ckpt, "language_model.lm_head.weight", resolved,
                                                   sizeof resolved, &err), 0);
    ck_assert_str_eq(resolved, "lm_head.weight");
    float lm_head[24];
    ck_assert_msg(safetensors_load_paligemma_f32(ckpt, "language_model.lm_head.weight", 2, (int[]){6, 4},
                                                 lm_head, &err) == 0, "%s", err.message);
    npy_array want;
    golden_load_f32(&want, CHAPTER, "names_lm_head", 2, 6, 4);
    check_bits_equal("lm_head", lm_head, want.data, 24);
    npy_free(&want);

    // An inner ".model." is the older scheme's, so it is not found here.
    ck_assert_ptr_null(safetensors_find(ckpt, "model.language_model.model.norm.weight"));
    safetensors_close(ckpt);
}
END_TEST

/* ---------------------------------------------------------------------------
 * The unused-tensor line.
 * ------------------------------------------------------------------------- */

START_TEST(unused_tensors_in_one_line)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    char line[PG_ERROR_SIZE];
    ck_assert_uint_eq(safetensors_unused_report(ckpt, line, sizeof line), 8);
    ck_assert_ptr_nonnull(strstr(line, "8 of 8 tensors in "));
    ck_assert_ptr_nonnull(strstr(line, "are not used by the model: bf16_all, bf16_weight, f16_all, f16_weight, "
                                       "f32_empty (and 3 more)"));
    ck_assert_ptr_null(strchr(line, '\n'));

    // Lookups mark tensors used; a failed load marks nothing new.
    ck_assert_ptr_nonnull(safetensors_find(ckpt, "bf16_all"));
    float scalar;
    pg_error err;
    ck_assert_int_eq(safetensors_load_f32(ckpt, "f32_scalar", 0, NULL, &scalar, &err), 0);
    ck_assert_float_eq(scalar, 2.5f);
    ck_assert_int_eq(safetensors_load_f32(ckpt, "missing", 0, NULL, &scalar, &err), -1);
    ck_assert_uint_eq(safetensors_unused_report(ckpt, line, sizeof line), 6);
    ck_assert_ptr_nonnull(strstr(line, ": bf16_weight, f16_all, f16_weight, f32_empty, f32_matrix (and 1 more)"));

    // The warning is exactly one line.
    FILE *stream = tmpfile();
    ck_assert_ptr_nonnull(stream);
    safetensors_warn_unused(ckpt, stream);
    rewind(stream);
    char printed[PG_ERROR_SIZE + 16];
    ck_assert_ptr_nonnull(fgets(printed, sizeof printed, stream));
    ck_assert_ptr_nonnull(strstr(printed, "warning: 6 of 8 tensors in "));
    ck_assert_int_eq(fgetc(stream), EOF);
    fclose(stream);
    safetensors_close(ckpt);
}
END_TEST

START_TEST(all_used_prints_nothing)
{
    safetensors_checkpoint *ckpt = open_fixture("names_newer");
    check_tiny_paligemma(ckpt);
    char line[PG_ERROR_SIZE];
    ck_assert_uint_eq(safetensors_unused_report(ckpt, line, sizeof line), 1);
    ck_assert_ptr_nonnull(strstr(line, "1 of 8 tensors in "));
    ck_assert_ptr_nonnull(strstr(line, "are not used by the model: lm_head.weight"));
    ck_assert_ptr_null(strstr(line, "more"));
    ck_assert_ptr_nonnull(safetensors_find(ckpt, "lm_head.weight"));
    ck_assert_uint_eq(safetensors_unused_report(ckpt, line, sizeof line), 0);
    ck_assert_str_eq(line, "");
    FILE *stream = tmpfile();
    safetensors_warn_unused(ckpt, stream);
    ck_assert_int_eq(ftell(stream), 0);
    fclose(stream);
    safetensors_close(ckpt);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Malformed checkpoints, one per validation rule, in a temporary directory.
 * ------------------------------------------------------------------------- */

static char temp_dir[64];

static void make_temp_dir(void)
{
    snprintf(temp_dir, sizeof temp_dir, "/tmp/pg_safetensors_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(temp_dir));
}

static void remove_temp_dir(void)
{
    DIR *dir = opendir(temp_dir);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", temp_dir, entry->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(temp_dir);
}

static void write_bytes(const char *name, const void *bytes, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* Writes temp_dir/<name>: the header size `declared` (little-endian u64), the
 * header text, then data_size zero bytes. */
static void write_raw_safetensors(const char *name, uint64_t declared, const char *header, size_t data_size)
{
    size_t header_len = strlen(header);
    size_t size = 8 + header_len + data_size;
    uint8_t *bytes = pg_xcalloc(size, 1, "file");
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(declared >> (8 * i));
    memcpy(bytes + 8, header, header_len);
    write_bytes(name, bytes, size);
    free(bytes);
}

static void write_safetensors(const char *name, const char *header, size_t data_size)
{
    write_raw_safetensors(name, strlen(header), header, data_size);
}

/* Opens temp_dir as a checkpoint, expects failure, and checks that the
 * message contains every given fragment (the list ends with NULL). */
static void expect_open_error(const char *fragment, ...)
{
    safetensors_checkpoint *ckpt = NULL;
    pg_error err;
    int status = safetensors_open_dir(&ckpt, temp_dir, &err);
    if (status == 0)
        safetensors_close(ckpt);
    ck_assert_msg(status == -1, "opening %s succeeded; expected an error containing \"%s\"", temp_dir, fragment);
    ck_assert_ptr_null(ckpt);
    printf("  rejected: %s\n", err.message);
    va_list args;
    va_start(args, fragment);
    for (const char *f = fragment; f != NULL; f = va_arg(args, const char *))
        ck_assert_msg(strstr(err.message, f) != NULL, "message \"%s\" lacks \"%s\"", err.message, f);
    va_end(args);
}

#define F32_2 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"

START_TEST(missing_tensor)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    float out[12];
    pg_error err;
    ck_assert_int_eq(safetensors_load_f32(ckpt, "language_model.model.norm.weight", 1, (int[]){4}, out, &err), -1);
    printf("  rejected: %s\n", err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "single: tensor 'language_model.model.norm.weight' not found among "
                                              "its 8 tensors"));
    safetensors_close(ckpt);
}
END_TEST

START_TEST(shape_mismatch)
{
    safetensors_checkpoint *ckpt = open_fixture("single");
    float out[12];
    pg_error err;
    ck_assert_int_eq(safetensors_load_f32(ckpt, "f32_matrix", 2, (int[]){4, 3}, out, &err), -1);
    printf("  rejected: %s\n", err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "single/model.safetensors: tensor 'f32_matrix' has shape [3, 4], "
                                              "expected [4, 3]"));
    ck_assert_int_eq(safetensors_load_f32(ckpt, "f32_matrix", 1, (int[]){12}, out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "has shape [3, 4], expected [12]"));
    ck_assert_ptr_null(safetensors_load_f32_alloc(ckpt, "bf16_weight", 2, (int[]){6, 4}, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "'bf16_weight' has shape [4, 6], expected [6, 4]"));
    safetensors_close(ckpt);
}
END_TEST

START_TEST(no_checkpoint_in_directory)
{
    make_temp_dir();
    expect_open_error("no model.safetensors or model.safetensors.index.json in ", temp_dir, NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(offsets_outside_file)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":" F32_2 "[0,8]}}", 4);
    expect_open_error("model.safetensors: tensor 'a': data_offsets [0, 8] are outside the data region of 4 bytes",
                      NULL);
    write_safetensors("model.safetensors", "{\"a\":" F32_2 "[8,4]}}", 16);
    expect_open_error("tensor 'a': data_offsets [8, 4] are outside", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(offsets_disagree_with_shape)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    expect_open_error("tensor 'a': data_offsets [0, 8] hold 8 bytes, expected 12 (shape [3] of F32, 4 bytes each)",
                      NULL);
    write_safetensors("model.safetensors", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
                      16);
    expect_open_error("hold 16 bytes, expected 8 (shape [2, 2] of BF16, 2 bytes each)", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(overlapping_tensors)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[4,12]}}", 12);
    expect_open_error("tensors 'a' and 'b' overlap: 'b' begins at data offset 4, expected at or after 8", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(header_not_json)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":" F32_2, 8);
    expect_open_error("model.safetensors: header is not valid JSON", NULL);
    write_safetensors("model.safetensors", "{} x", 0);
    expect_open_error("header is not valid JSON: unexpected text after the object at header byte 3", NULL);
    write_safetensors("model.safetensors", "[1, 2]", 0);
    expect_open_error("header is not a JSON object of tensors", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(header_size_past_file)
{
    make_temp_dir();
    write_raw_safetensors("model.safetensors", 1000, "{}", 0);
    expect_open_error("header size 1000 bytes runs past the end of the file (expected at most 2, the file size 10 "
                      "minus 8)", NULL);
    write_raw_safetensors("model.safetensors", 200000000, "{}", 0);
    expect_open_error("header size 200000000 bytes exceeds the limit of 100000000 bytes", NULL);
    write_raw_safetensors("model.safetensors", UINT64_MAX, "{}", 0);
    expect_open_error("header size 18446744073709551615 bytes exceeds the limit", NULL);
    write_bytes("model.safetensors", "\x02\x00\x00", 3);
    expect_open_error("file is 3 bytes, shorter than the 8-byte header size field", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(unsupported_dtype)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
    expect_open_error("tensor 'ids': unsupported dtype \"I64\"; this loader reads F32, BF16 and F16", NULL);
    write_safetensors("model.safetensors", "{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    expect_open_error("unsupported dtype \"F8_E4M3\"; this loader reads F32, BF16 and F16", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(invalid_shape_or_metadata)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8);
    expect_open_error("tensor 'a': shape must contain integers from 0 to 2^53 - 1, found -2", NULL);
    write_safetensors("model.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8);
    expect_open_error("found 1.5", NULL);
    write_safetensors("model.safetensors",
                      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],\"data_offsets\":[0,8]}}", 8);
    expect_open_error("tensor 'a': the element count of its shape overflows size_t", NULL);
    write_safetensors("model.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8);
    expect_open_error("tensor 'a': field \"shape\" is missing or not a list", NULL);
    write_safetensors("model.safetensors", "{\"__metadata__\":{\"format\":1}}", 0);
    expect_open_error("\"__metadata__\" entry 'format' must be a string", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(duplicate_name_in_file)
{
    make_temp_dir();
    write_safetensors("model.safetensors", "{\"a\":" F32_2 "[0,8]},\"a\":" F32_2 "[8,16]}}", 16);
    expect_open_error("model.safetensors: tensor 'a' appears twice in the header", NULL);
    remove_temp_dir();
}
END_TEST

static const char INDEX_TWO_SHARDS[] =
    "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
    "\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}";

START_TEST(duplicate_name_across_shards)
{
    make_temp_dir();
    write_bytes("model.safetensors.index.json", INDEX_TWO_SHARDS, strlen(INDEX_TWO_SHARDS));
    write_safetensors("model-00001-of-00002.safetensors", "{\"a\":" F32_2 "[0,8]}}", 8);
    write_safetensors("model-00002-of-00002.safetensors", "{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[8,16]}}", 16);
    expect_open_error("tensor 'a' appears in two shards", "model-00001-of-00002.safetensors",
                      "model-00002-of-00002.safetensors", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(index_names_missing_shard)
{
    make_temp_dir();
    write_bytes("model.safetensors.index.json", INDEX_TWO_SHARDS, strlen(INDEX_TWO_SHARDS));
    write_safetensors("model-00001-of-00002.safetensors", "{\"a\":" F32_2 "[0,8]}}", 8);
    expect_open_error("model.safetensors.index.json: weight_map maps 'b' to shard ",
                      "model-00002-of-00002.safetensors, which does not exist", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(index_tensor_not_in_shard)
{
    make_temp_dir();
    write_bytes("model.safetensors.index.json", INDEX_TWO_SHARDS, strlen(INDEX_TWO_SHARDS));
    write_safetensors("model-00001-of-00002.safetensors", "{\"a\":" F32_2 "[0,8]}}", 8);
    write_safetensors("model-00002-of-00002.safetensors", "{\"c\":" F32_2 "[0,8]}}", 8);
    expect_open_error("weight_map maps tensor 'b' to ", "model-00002-of-00002.safetensors, but that shard has no "
                      "such tensor", NULL);

    // 'b' exists, but in the other shard.
    write_safetensors("model-00001-of-00002.safetensors", "{\"a\":" F32_2 "[0,8]},\"b\":" F32_2 "[8,16]}}", 16);
    expect_open_error("weight_map maps tensor 'b' to ", "model-00002-of-00002.safetensors, but it is in ",
                      "model-00001-of-00002.safetensors", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(index_rejects_paths)
{
    make_temp_dir();
    const char *index = "{\"weight_map\":{\"a\":\"../model.safetensors\"}}";
    write_bytes("model.safetensors.index.json", index, strlen(index));
    expect_open_error("weight_map maps 'a' to \"../model.safetensors\", expected a file name in ", NULL);
    const char *no_map = "{\"metadata\":{}}";
    write_bytes("model.safetensors.index.json", no_map, strlen(no_map));
    expect_open_error("missing or empty \"weight_map\" object", NULL);
    remove_temp_dir();
}
END_TEST

START_TEST(mixed_or_unknown_name_scheme)
{
    make_temp_dir();
    write_safetensors("model.safetensors",
                      "{\"language_model.model.norm.weight\":" F32_2 "[0,8]},"
                      "\"model.vision_tower.vision_model.post_layernorm.bias\":" F32_2 "[8,16]}}", 16);
    safetensors_checkpoint *ckpt;
    pg_error err;
    ck_assert_msg(safetensors_open_dir(&ckpt, temp_dir, &err) == 0, "%s", err.message);
    paligemma_name_scheme scheme;
    ck_assert_int_eq(safetensors_paligemma_scheme(ckpt, &scheme, &err), -1);
    printf("  rejected: %s\n", err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "tensor names mix the older scheme ('language_model.model.norm.weight') "
                                              "and the newer one ('model.vision_tower."));
    safetensors_close(ckpt);

    write_safetensors("model.safetensors", "{\"encoder.weight\":" F32_2 "[0,8]}}", 8);
    ck_assert_msg(safetensors_open_dir(&ckpt, temp_dir, &err) == 0, "%s", err.message);
    char name[256];
    ck_assert_int_eq(safetensors_resolve_paligemma(ckpt, "language_model.model.norm.weight", name, sizeof name,
                                                   &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "is it a PaliGemma checkpoint?"));
    safetensors_close(ckpt);
    remove_temp_dir();
}
END_TEST

Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");

    TCase *conversion = tcase_create("conversion");
    tcase_add_test(conversion, f32_copied_exactly);
    tcase_add_test(conversion, bf16_every_bit_pattern);
    tcase_add_test(conversion, f16_every_bit_pattern);
    tcase_add_test(conversion, f16_literal_values);
    tcase_add_test(conversion, tensor_view_fields);
    tcase_add_test(conversion, sharded_checkpoint);
    suite_add_tcase(s, conversion);

    TCase *names = tcase_create("names");
    tcase_add_test(names, translates_to_newer_names);
    tcase_add_test(names, older_names_with_tied_lm_head);
    tcase_add_test(names, newer_names_with_lm_head);
    tcase_add_test(names, unused_tensors_in_one_line);
    tcase_add_test(names, all_used_prints_nothing);
    suite_add_tcase(s, names);

    TCase *invalid = tcase_create("invalid");
    tcase_add_test(invalid, missing_tensor);
    tcase_add_test(invalid, shape_mismatch);
    tcase_add_test(invalid, no_checkpoint_in_directory);
    tcase_add_test(invalid, offsets_outside_file);
    tcase_add_test(invalid, offsets_disagree_with_shape);
    tcase_add_test(invalid, overlapping_tensors);
    tcase_add_test(invalid, header_not_json);
    tcase_add_test(invalid, header_size_past_file);
    tcase_add_test(invalid, unsupported_dtype);
    tcase_add_test(invalid, invalid_shape_or_metadata);
    tcase_add_test(invalid, duplicate_name_in_file);
    tcase_add_test(invalid, duplicate_name_across_shards);
    tcase_add_test(invalid, index_names_missing_shard);
    tcase_add_test(invalid, index_tensor_not_in_shard);
    tcase_add_test(invalid, index_rejects_paths);
    tcase_add_test(invalid, mixed_or_unknown_name_scheme);
    suite_add_tcase(s, invalid);
    return s;
}

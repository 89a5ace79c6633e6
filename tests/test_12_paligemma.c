/*
 * Chapter 12, the whole model, against golden/12_paligemma (gen_12_paligemma.py).
 *
 * The tiny random checkpoint is loaded through the real loader from its
 * Hugging Face files, once in float32 and once in bfloat16. One request runs
 * with a hook that catches every named activation, and each is compared with
 * the PyTorch dump of the same stage. The bfloat16 checkpoint is compared with
 * PyTorch fed the same bfloat16 weights upcast to float32, not with the
 * float32 run. The greedy ids must be identical.
 *
 * Tolerance: |got - want| <= 2e-5 * max|want| over the tensor, plus rtol
 * 1e-5. With weights of std 0.3 the residual stream reaches |64| and the
 * attention softmax is sharp, so the summation-order error of each element
 * follows the scale of the whole tensor, not of the element: measured up to
 * 5e-6 * max|want| (text layer 2, make test on the 2-core dev machine), about
 * 40 float32 ulp of the largest entry. The bound leaves a margin of 4. A wrong
 * convention (1 + w, the sqrt(D) scale, rotate_half pairing, positions)
 * misses by more than 1e-2 * max|want|.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "12_paligemma/boxes.h"
#include "12_paligemma/paligemma.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "12_paligemma"
#define SCALE_TOLERANCE 2e-5
#define RTOL 1e-5
#define MAX_NEW_TOKENS 12
#define MAX_CAPTURED 64

/* The activations one request produced, copied out of the hook. */
typedef struct {
    int count;
    char names[MAX_CAPTURED][48];
    float *data[MAX_CAPTURED];
    int rows[MAX_CAPTURED], cols[MAX_CAPTURED];
} captured_tensors;

static void capture(void *user_data, const char *name, const float *data, int rows, int cols)
{
    captured_tensors *captured = user_data;
    ck_assert_int_lt(captured->count, MAX_CAPTURED);
    int i = captured->count++;
    snprintf(captured->names[i], sizeof captured->names[i], "%s", name);
    captured->data[i] = pg_xcalloc((size_t)rows * cols, sizeof(float), name);
    memcpy(captured->data[i], data, sizeof(float) * (size_t)rows * cols);
    captured->rows[i] = rows;
    captured->cols[i] = cols;
}

static const float *find_captured(const captured_tensors *captured, const char *name, int *rows, int *cols)
{
    for (int i = 0; i < captured->count; i++) {
        if (strcmp(captured->names[i], name) == 0) {
            *rows = captured->rows[i];
            *cols = captured->cols[i];
            return captured->data[i];
        }
    }
    ck_abort_msg("the model never reported activation '%s'", name);
    return NULL;
}

/* Loads golden/12_paligemma/<prefix>_<name>.npy of any shape as float32. */
static void load_dump(npy_array *array, const char *prefix, const char *name)
{
    char file[96];
    snprintf(file, sizeof file, "%s_%s", prefix, name);
    pg_error err;
    ck_assert_msg(npy_load(golden_path(CHAPTER, file), array, &err) == 0, "%s (run `make golden`)", err.message);
    ck_assert_int_eq(array->dtype, NPY_FLOAT32);
}

/* Returns SCALE_TOLERANCE times the largest |value| of a tensor. */
static double scaled_atol(const float *want, size_t n)
{
    double max_abs = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > max_abs)
            max_abs = fabs(want[i]);
    return SCALE_TOLERANCE * max_abs;
}

/* Compares one captured activation with its dump, element by element. */
static void compare_stage(const captured_tensors *captured, const char *prefix, const char *name)
{
    int rows, cols;
    const float *got = find_captured(captured, name, &rows, &cols);
    npy_array want;
    load_dump(&want, prefix, name);
    ck_assert_msg(want.count == (size_t)rows * cols, "%s: C gives %d x %d values, PyTorch %zu", name, rows, cols,
                  want.count);
    char label[96];
    snprintf(label, sizeof label, "%s %s", prefix, name);
    ck_assert_tensor(label, got, want.data, want.count, scaled_atol(want.data, want.count), RTOL);
    npy_free(&want);
}

/* Runs the golden request on tiny_<prefix>/ and checks every stage and the ids. */
static void check_checkpoint(const char *prefix)
{
    char folder[512];
    snprintf(folder, sizeof folder, "%s", golden_path(CHAPTER, "x"));
    snprintf(strrchr(folder, '/') + 1, 64, "tiny_%s", prefix);

    paligemma_model model;
    pg_error err;
    ck_assert_msg(paligemma_model_load(&model, folder, NULL, &err) == 0, "%s", err.message);
    const paligemma_config *config = &model.config;
    int image_size = config->vision_config.image_size;

    npy_array input_ids, pixel_values, want_ids;
    golden_load_i64(&input_ids, CHAPTER, "input_ids", 1, 20);
    golden_load_f32(&pixel_values, CHAPTER, "pixel_values", 3, 3, image_size, image_size);
    char name[64];
    snprintf(name, sizeof name, "%s_generated_ids", prefix);
    golden_load_i64(&want_ids, CHAPTER, name, 1, MAX_NEW_TOKENS);

    int ids[20];
    for (size_t i = 0; i < input_ids.count; i++)
        ids[i] = (int)((long long *)input_ids.data)[i];

    captured_tensors captured = {0};
    paligemma_generation_options options = {.max_new_tokens = MAX_NEW_TOKENS, .top_p = 1.0f,
                                            .hook = capture, .hook_user_data = &captured};
    int output[MAX_NEW_TOKENS], num_output = 0;
    ck_assert_msg(paligemma_generate(&model, pixel_values.data, ids, (int)input_ids.count, &options, output,
                                     &num_output, NULL, &err) == 0, "%s", err.message);

    /* Every stage, in the order it is computed. */
    const char *stages[] = {"vision_embeddings", "vision_layer_0", "vision_layer_1", "vision_post_layernorm",
                            "projector", "merged_embeddings", "text_layer_0", "text_layer_1", "text_layer_2",
                            "final_norm", "prefill_logits"};
    for (size_t s = 0; s < sizeof stages / sizeof stages[0]; s++)
        compare_stage(&captured, prefix, stages[s]);

    /* The logits that chose each generated token, row by row. */
    npy_array step_logits;
    load_dump(&step_logits, prefix, "step_logits");
    int V = config->text_config.vocab_size;
    ck_assert_uint_eq(step_logits.count, (size_t)MAX_NEW_TOKENS * V);
    for (int step = 0; step < MAX_NEW_TOKENS; step++) {
        int rows, cols;
        snprintf(name, sizeof name, "step_logits_%d", step);
        const float *got = find_captured(&captured, name, &rows, &cols);
        char label[64];
        snprintf(label, sizeof label, "%s step %d logits", prefix, step);
        const float *want = (float *)step_logits.data + (size_t)step * V;
        ck_assert_tensor(label, got, want, (size_t)V, scaled_atol(want, (size_t)V), RTOL);
    }

    /* Greedy decoding must pick the very same ids. */
    ck_assert_int_eq(num_output, MAX_NEW_TOKENS);
    for (int i = 0; i < MAX_NEW_TOKENS; i++)
        ck_assert_msg(output[i] == (int)((long long *)want_ids.data)[i], "%s: generated id %d is %d, PyTorch %lld",
                      prefix, i, output[i], ((long long *)want_ids.data)[i]);

    for (int i = 0; i < captured.count; i++)
        free(captured.data[i]);
    npy_free(&step_logits);
    npy_free(&input_ids);
    npy_free(&pixel_values);
    npy_free(&want_ids);
    paligemma_model_free(&model);
}

START_TEST(float32_checkpoint_matches)
{
    check_checkpoint("f32");
}
END_TEST

START_TEST(bfloat16_checkpoint_matches)
{
    check_checkpoint("bf16");
}
END_TEST

/* ---------------------------------------------------------------------------
 * The paligemma command, end to end: a PNG and a text prompt.
 * ------------------------------------------------------------------------- */

/* The same ids as the PyTorch pipeline fed the same file and text:
 * Pillow preprocessing, the sentencepiece prompt, greedy decoding. */
START_TEST(command_matches_pytorch_pipeline)
{
    char command[1024], output[8192];
    snprintf(command, sizeof command,
             "%s --model %s/12_paligemma/tiny_f32 --image %s/12_paligemma/photo.png "
             "--prompt 'answer en what color is the square?' --max-tokens 12 --print-ids 2>/dev/null",
             program_path("paligemma"), getenv("PG_GOLDEN_DIR") != NULL ? getenv("PG_GOLDEN_DIR") : "golden",
             getenv("PG_GOLDEN_DIR") != NULL ? getenv("PG_GOLDEN_DIR") : "golden");
    ck_assert_int_eq(run_command(command, output, sizeof output), 0);

    /* The last line contains the ids. */
    char *last_line = output + strlen(output) - 1;
    while (last_line > output && last_line[-1] != '\n')
        last_line--;
    npy_array want;
    golden_load_i64(&want, CHAPTER, "photo_generated_ids", 1, MAX_NEW_TOKENS);
    char *cursor = last_line;
    for (size_t i = 0; i < want.count; i++) {
        char *end;
        long id = strtol(cursor, &end, 10);
        ck_assert_msg(end != cursor, "paligemma printed fewer ids than PyTorch's %zu: '%s'", want.count, last_line);
        ck_assert_msg(id == ((long long *)want.data)[i], "generated id %zu is %ld, PyTorch %lld", i, id,
                      ((long long *)want.data)[i]);
        cursor = end;
    }
    npy_free(&want);
}
END_TEST

/* Invalid requests exit with status 2 and print the reason. */
START_TEST(command_rejects_bad_requests)
{
    char output[8192];
    const char *model = "--model golden/12_paligemma/tiny_f32 --pixel-values golden/12_paligemma/pixel_values.npy";
    struct {
        const char *arguments;
        const char *expected;
    } cases[] = {
        {"--model /nonexistent --image x.png --prompt hi", "/nonexistent/config.json"},
        {"--max-tokens ten", "invalid value 'ten' for --max-tokens"},
        {"--top-p 0", "invalid value '0' for --top-p"},
        {"--max-tokens 9000", "prompt too long: 20 prompt tokens plus 9000 new tokens exceed the 8192 positions"},
        {"--frobnicate 1", "unknown option --frobnicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char command[1024];
        snprintf(command, sizeof command, "%s %s --prompt 'caption en' %s 2>&1", program_path("paligemma"),
                 i == 0 ? "" : model, cases[i].arguments);
        int status = run_command(command, output, sizeof output);
        ck_assert_msg(status == 2, "'%s' exited with %d, expected 2: %s", cases[i].arguments, status, output);
        ck_assert_msg(strstr(output, cases[i].expected) != NULL, "'%s' printed \"%s\", expected \"%s\"",
                      cases[i].arguments, output, cases[i].expected);
    }
}
END_TEST

/* ---------------------------------------------------------------------------
 * config.json: transformers' defaults and what is rejected.
 * ------------------------------------------------------------------------- */

/* The published config.json leaves head_dim, the epsilons, rope_theta and
 * image_size out; transformers fills them, and so must the reader. */
START_TEST(published_config_gets_defaults)
{
    paligemma_config config;
    pg_error err;
    ck_assert_msg(paligemma_config_load(&config, golden_path(CHAPTER, "paligemma-3b-pt-224") /* .npy */, &err) != 0,
                  "a .npy path must not parse as config.json");
    char path[512];
    snprintf(path, sizeof path, "%s", golden_path(CHAPTER, "x"));
    snprintf(strrchr(path, '/') + 1, 64, "paligemma-3b-pt-224.json");
    ck_assert_msg(paligemma_config_load(&config, path, &err) == 0, "%s", err.message);

    const gemma_config *text = &config.text_config;
    ck_assert_int_eq(text->vocab_size, 257216);
    ck_assert_int_eq(text->hidden_size, 2048);
    ck_assert_int_eq(text->intermediate_size, 16384);
    ck_assert_int_eq(text->num_hidden_layers, 18);
    ck_assert_int_eq(text->num_attention_heads, 8);
    ck_assert_int_eq(text->num_key_value_heads, 1);
    ck_assert_int_eq(text->head_dim, 256);
    ck_assert_int_eq(text->max_position_embeddings, 8192);
    ck_assert_float_eq(text->rms_norm_eps, 1e-6f);
    ck_assert_float_eq(text->rope_theta, 10000.0f);

    const siglip_vision_config *vision = &config.vision_config;
    ck_assert_int_eq(vision->hidden_size, 1152);
    ck_assert_int_eq(vision->intermediate_size, 4304);
    ck_assert_int_eq(vision->num_hidden_layers, 27);
    ck_assert_int_eq(vision->num_attention_heads, 16);
    ck_assert_int_eq(vision->num_channels, 3);
    ck_assert_int_eq(vision->image_size, 224);
    ck_assert_int_eq(vision->patch_size, 14);
    ck_assert_float_eq(vision->layer_norm_eps, 1e-6f);

    ck_assert_int_eq(config.image_token_index, 257152);
    ck_assert_int_eq(config.projection_dim, 2048);
    ck_assert_int_eq(config.pad_token_id, 0);
    ck_assert_int_eq(config.bos_token_id, 2);
    ck_assert_int_eq(config.eos_token_id, 1);
    ck_assert_int_eq(paligemma_num_image_tokens(&config), 256);
}
END_TEST

START_TEST(config_errors_name_the_field)
{
    struct {
        const char *json;
        const char *expected;
    } cases[] = {
        {"{\"model_type\": \"paligemma\", \"text_config\": {\"model_type\": \"gemma2\"}}",
         "a PaliGemma 2 checkpoint; this project implements PaliGemma 1"},
        {"{\"model_type\": \"llava\"}", "model_type is 'llava'; this project runs only 'paligemma'"},
        {"{\"text_config\": {}}", "field 'model_type' is missing or not a string"},
        {"{\"model_type\": \"paligemma\", \"text_config\": {\"num_attention_heads\": 0}}", "num_attention_heads"},
        {"{\"model_type\": \"paligemma\", \"text_config\": {\"hidden_size\": 2.5}}",
         "field 'text_config.hidden_size' must be an integer"},
        {"{\"model_type\": \"paligemma\", \"vision_config\": {\"model_type\": \"clip_vision_model\"}}",
         "vision_config.model_type is 'clip_vision_model'"},
        {"{\"model_type\": \"paligemma\", \"projection_dim\": 1024, \"hidden_size\": 2048, \"text_config\": "
         "{\"hidden_size\": 2048, \"num_attention_heads\": 8, \"num_key_value_heads\": 1, \"vocab_size\": 257216}}",
         "projection_dim is 1024 but text_config.hidden_size is 2048"},
        {"{\"model_type\": \"paligemma\", \"image_token_index\": 300000, \"projection_dim\": 3072}",
         "image_token_index 300000 is outside the vocabulary"},
        {"{\"model_type\": \"paligemma\",", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        paligemma_config config;
        pg_error err = {{0}};
        ck_assert_msg(paligemma_config_parse(&config, cases[i].json, "config.json", &err) == -1,
                      "accepted: %s", cases[i].json);
        ck_assert_msg(strstr(err.message, "config.json") != NULL, "no file name in: %s", err.message);
        ck_assert_msg(strstr(err.message, cases[i].expected) != NULL, "message \"%s\" lacks \"%s\"", err.message,
                      cases[i].expected);
    }
}
END_TEST

/* ---------------------------------------------------------------------------
 * Malformed checkpoints through the real loader: one case per check.
 * ------------------------------------------------------------------------- */

/* Copies tiny_f32 into a new temporary folder, applies `edit` to the bytes
 * of model.safetensors, drops its last `cut` bytes, and replaces config.json
 * by `config_json` when it is not NULL. */
static void make_variant(char *folder, size_t folder_size, void (*edit)(uint8_t *bytes, size_t size), size_t cut,
                         const char *config_json)
{
    char template[] = "/tmp/pg_checkpoint_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(template));
    snprintf(folder, folder_size, "%s", template);

    char source[512], target[600];
    pg_error err;
    size_t size;
    snprintf(source, sizeof source, "%s", golden_path(CHAPTER, "x"));
    snprintf(strrchr(source, '/') + 1, 64, "tiny_f32/model.safetensors");
    uint8_t *bytes = pg_read_file(source, &size, &err);
    ck_assert_msg(bytes != NULL, "%s", err.message);
    if (edit != NULL)
        edit(bytes, size);
    snprintf(target, sizeof target, "%s/model.safetensors", folder);
    FILE *f = fopen(target, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(bytes, 1, size - cut, f);
    fclose(f);
    free(bytes);

    snprintf(strrchr(source, '/') + 1, 64, "config.json");
    snprintf(target, sizeof target, "%s/config.json", folder);
    if (config_json != NULL) {
        f = fopen(target, "w");
        ck_assert_ptr_nonnull(f);
        fputs(config_json, f);
        fclose(f);
    } else {
        bytes = pg_read_file(source, &size, &err);
        ck_assert_msg(bytes != NULL, "%s", err.message);
        f = fopen(target, "wb");
        fwrite(bytes, 1, size, f);
        fclose(f);
        free(bytes);
    }
}

static void remove_variant(const char *folder)
{
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", folder);
    unlink(path);
    snprintf(path, sizeof path, "%s/config.json", folder);
    unlink(path);
    rmdir(folder);
}

/* Replaces the first occurrence of `from` in the header with `to` (same length). */
static void replace_in_header(uint8_t *bytes, size_t size, const char *from, const char *to)
{
    size_t header = 8 + ((size_t)bytes[0] | (size_t)bytes[1] << 8 | (size_t)bytes[2] << 16);
    size_t n = strlen(from);
    for (size_t i = 8; i + n <= header && i + n <= size; i++) {
        if (memcmp(bytes + i, from, n) == 0) {
            memcpy(bytes + i, to, n);
            return;
        }
    }
    ck_abort_msg("'%s' not found in the header", from);
}

static void rename_final_norm(uint8_t *bytes, size_t size)
{
    replace_in_header(bytes, size, "language_model.model.norm.weight", "language_model.model.norm.weighX");
}

static void break_json(uint8_t *bytes, size_t size)
{
    replace_in_header(bytes, size, "{", "[");
}

static void unsupported_dtype(uint8_t *bytes, size_t size)
{
    replace_in_header(bytes, size, "\"F32\"", "\"I32\"");
}

static void header_past_end(uint8_t *bytes, size_t size)
{
    size_t too_big = size;
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(too_big >> (8 * i));
}

/* Loads the variant and checks the message contains every expected part. */
static void check_load_fails(const char *folder, const char *expected1, const char *expected2)
{
    paligemma_model model;
    pg_error err = {{0}};
    ck_assert_int_eq(paligemma_model_load(&model, folder, NULL, &err), -1);
    ck_assert_msg(strstr(err.message, expected1) != NULL, "message \"%s\" lacks \"%s\"", err.message, expected1);
    ck_assert_msg(expected2 == NULL || strstr(err.message, expected2) != NULL, "message \"%s\" lacks \"%s\"",
                  err.message, expected2);
}

START_TEST(missing_tensor_is_named)
{
    char folder[256];
    make_variant(folder, sizeof folder, rename_final_norm, 0, NULL);
    check_load_fails(folder, "tensor 'language_model.model.norm.weight' not found", folder);
    remove_variant(folder);
}
END_TEST

START_TEST(shape_disagreeing_with_config)
{
    char folder[256], config[2048];
    /* The tiny config with intermediate_size 100 instead of 128. */
    size_t size;
    pg_error err;
    char source[512];
    snprintf(source, sizeof source, "%s", golden_path(CHAPTER, "x"));
    snprintf(strrchr(source, '/') + 1, 64, "tiny_f32/config.json");
    uint8_t *bytes = pg_read_file(source, &size, &err);
    ck_assert_msg(bytes != NULL, "%s", err.message);
    snprintf(config, sizeof config, "%.*s", (int)size, (char *)bytes);
    free(bytes);
    char *field = strstr(config, "\"intermediate_size\": 128");
    ck_assert_ptr_nonnull(field);
    memcpy(field, "\"intermediate_size\": 100", 24);

    make_variant(folder, sizeof folder, NULL, 0, config);
    check_load_fails(folder, "mlp.gate_proj.weight' has shape [128, 64], expected [100, 64]", NULL);
    remove_variant(folder);
}
END_TEST

START_TEST(truncated_file_is_rejected)
{
    char folder[256];
    make_variant(folder, sizeof folder, NULL, 100, NULL);
    check_load_fails(folder, "outside the data region", "model.safetensors");
    remove_variant(folder);
}
END_TEST

START_TEST(invalid_header_json)
{
    char folder[256];
    make_variant(folder, sizeof folder, break_json, 0, NULL);
    check_load_fails(folder, "header is not", "model.safetensors");
    remove_variant(folder);
}
END_TEST

START_TEST(header_larger_than_file)
{
    char folder[256];
    make_variant(folder, sizeof folder, header_past_end, 0, NULL);
    check_load_fails(folder, "runs past the end of the file", "model.safetensors");
    remove_variant(folder);
}
END_TEST

START_TEST(unsupported_dtype_is_named)
{
    char folder[256];
    make_variant(folder, sizeof folder, unsupported_dtype, 0, NULL);
    check_load_fails(folder, "unsupported dtype \"I32\"", "model.safetensors");
    remove_variant(folder);
}
END_TEST

START_TEST(missing_files_are_named)
{
    paligemma_model model;
    pg_error err = {{0}};
    ck_assert_int_eq(paligemma_model_load(&model, "/nonexistent/model", NULL, &err), -1);
    ck_assert_msg(strstr(err.message, "cannot open /nonexistent/model/config.json") != NULL, "%s", err.message);

    char folder[256], path[300];
    make_variant(folder, sizeof folder, NULL, 0, NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", folder);
    unlink(path);
    check_load_fails(folder, "no model.safetensors or model.safetensors.index.json in", folder);
    remove_variant(folder);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Choosing tokens.
 * ------------------------------------------------------------------------- */

START_TEST(argmax_takes_first_on_ties)
{
    const float logits[5] = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
    ck_assert_int_eq(sample_argmax(logits, 5), 1);
}
END_TEST

/* Probabilities 0.5, 0.3, 0.2 (logits are their logs). top_p 0.6 keeps the
 * first two tokens: 0.5 alone does not reach 0.6, so the crossing token 1 is
 * kept; renormalized they are 0.625 and 0.375. */
START_TEST(top_p_keeps_crossing_token)
{
    const float logits[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    int scratch[3];
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 0.6f, 0.0, scratch), 0);
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 0.6f, 0.6, scratch), 0);   /* 0.6 < 0.625 */
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 0.6f, 0.65, scratch), 1);  /* past 0.625 */
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 0.6f, 0.999, scratch), 1); /* token 2 is cut */
    /* top_p 0.45: token 0 alone reaches it. */
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 0.45f, 0.999, scratch), 0);
    /* top_p 1 keeps everything: u = 0.9 lands in token 2's 0.2 at the end. */
    ck_assert_int_eq(sample_top_p(logits, 3, 1.0f, 1.0f, 0.9, scratch), 2);
}
END_TEST

/* Sampling is reproducible from the seed and differs between seeds. */
START_TEST(sampling_follows_seed)
{
    char folder[512];
    snprintf(folder, sizeof folder, "%s", golden_path(CHAPTER, "x"));
    snprintf(strrchr(folder, '/') + 1, 64, "tiny_f32");
    paligemma_model model;
    pg_error err;
    ck_assert_msg(paligemma_model_load(&model, folder, NULL, &err) == 0, "%s", err.message);
    npy_array input_ids, pixel_values;
    golden_load_i64(&input_ids, CHAPTER, "input_ids", 1, 20);
    golden_load_f32(&pixel_values, CHAPTER, "pixel_values", 3, 3, 32, 32);
    int ids[20];
    for (int i = 0; i < 20; i++)
        ids[i] = (int)((long long *)input_ids.data)[i];

    int runs[3][MAX_NEW_TOKENS], counts[3];
    uint64_t seeds[3] = {7, 7, 8};
    for (int r = 0; r < 3; r++) {
        paligemma_generation_options options = {.max_new_tokens = MAX_NEW_TOKENS, .temperature = 1.5f,
                                                .top_p = 0.95f, .seed = seeds[r]};
        ck_assert_msg(paligemma_generate(&model, pixel_values.data, ids, 20, &options, runs[r], &counts[r], NULL,
                                         &err) == 0, "%s", err.message);
    }
    ck_assert_int_eq(counts[0], counts[1]);
    ck_assert(memcmp(runs[0], runs[1], sizeof(int) * (size_t)counts[0]) == 0);
    ck_assert_msg(counts[0] != counts[2] || memcmp(runs[0], runs[2], sizeof(int) * (size_t)counts[0]) != 0,
                  "seeds 7 and 8 sampled the same %d ids", counts[0]);
    npy_free(&input_ids);
    npy_free(&pixel_values);
    paligemma_model_free(&model);
}
END_TEST

/* ---------------------------------------------------------------------------
 * Detection boxes: parsing "<locY1><locX1><locY2><locX2> label ; ..." and
 * drawing the frames into a PNG (paligemma --boxes). No golden data: the
 * expected values are written here, and the drawn file is read back with
 * stb_image.
 * ------------------------------------------------------------------------- */

START_TEST(parse_two_objects)
{
    paligemma_box boxes[4];
    int n = paligemma_parse_boxes("<loc0123><loc0045><loc0400><loc0388> circle ; "
                                  "<loc0500><loc0600><loc0900><loc1023> red square", boxes, 4);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(boxes[0].y_min, 123);
    ck_assert_int_eq(boxes[0].x_min, 45);
    ck_assert_int_eq(boxes[0].y_max, 400);
    ck_assert_int_eq(boxes[0].x_max, 388);
    ck_assert_str_eq(boxes[0].label, "circle");
    ck_assert_int_eq(boxes[1].x_max, 1023);
    ck_assert_str_eq(boxes[1].label, "red square");
}
END_TEST

START_TEST(parse_rejects_malformed_tokens)
{
    paligemma_box boxes[4];
    /* Three tokens, a 3-digit token, and a token out of the grid are not boxes. */
    ck_assert_int_eq(paligemma_parse_boxes("<loc0001><loc0002><loc0003> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("<loc001><loc0002><loc0003><loc0004> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("<loc1024><loc0002><loc0003><loc0004> x", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("red circle ; blue square", boxes, 4), 0);
    ck_assert_int_eq(paligemma_parse_boxes("", boxes, 4), 0);
}
END_TEST

START_TEST(parse_stops_at_max_boxes)
{
    paligemma_box boxes[1];
    const char *text = "<loc0001><loc0002><loc0003><loc0004> a ; <loc0005><loc0006><loc0007><loc0008> b";
    ck_assert_int_eq(paligemma_parse_boxes(text, boxes, 1), 1);
    ck_assert_str_eq(boxes[0].label, "a");
}
END_TEST

START_TEST(draw_frame_at_scaled_corners)
{
    /* A gray 100 x 50 image; one box from (x, y) = (10, 20) to (60, 40) in pixels. */
    char input[] = "/tmp/test_boxes_in_XXXXXX";
    char output[] = "/tmp/test_boxes_out_XXXXXX";
    int fd_in = mkstemp(input), fd_out = mkstemp(output);
    ck_assert(fd_in >= 0 && fd_out >= 0);
    close(fd_in);
    close(fd_out);
    enum { W = 100, H = 50 };
    static unsigned char gray[W * H * 3];
    memset(gray, 128, sizeof gray);
    ck_assert(stbi_write_png(input, W, H, 3, gray, 3 * W));

    /* bin = pixel / side * 1023: x 10 -> 102.3, y 20 -> 409.2, x 60 -> 613.8, y 40 -> 818.4. */
    paligemma_box box = {.y_min = 409, .x_min = 102, .y_max = 818, .x_max = 614, .label = "x"};
    pg_error err;
    ck_assert_int_eq(paligemma_draw_boxes(input, &box, 1, output, &err), 0);

    int w, h, c;
    unsigned char *drawn = stbi_load(output, &w, &h, &c, 3);
    ck_assert_ptr_nonnull(drawn);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    /* The frame's left bar is at x = 10, 11; the box inside and the image outside keep the gray. */
    const unsigned char *left = &drawn[3 * (30 * W + 10)];
    ck_assert(left[0] != 128 || left[1] != 128 || left[2] != 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 30)], 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 80)], 128);
    ck_assert_int_eq(drawn[3 * (30 * W + 8)], 128);
    stbi_image_free(drawn);
    remove(input);
    remove(output);
}
END_TEST

START_TEST(draw_reports_missing_image)
{
    paligemma_box box = {.y_min = 0, .x_min = 0, .y_max = 1023, .x_max = 1023, .label = "x"};
    pg_error err;
    ck_assert_int_eq(paligemma_draw_boxes("/nonexistent/in.png", &box, 1, "/tmp/unused.png", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/in.png"));
}
END_TEST

Suite *paligemma_suite(void)
{
    Suite *s = suite_create("paligemma");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, float32_checkpoint_matches);
    tcase_add_test(golden, bfloat16_checkpoint_matches);
    tcase_add_test(golden, command_matches_pytorch_pipeline);
    tcase_add_test(golden, command_rejects_bad_requests);
    suite_add_tcase(s, golden);

    TCase *config = tcase_create("config");
    tcase_add_test(config, published_config_gets_defaults);
    tcase_add_test(config, config_errors_name_the_field);
    suite_add_tcase(s, config);

    TCase *checkpoint = tcase_create("checkpoint");
    tcase_add_test(checkpoint, missing_tensor_is_named);
    tcase_add_test(checkpoint, shape_disagreeing_with_config);
    tcase_add_test(checkpoint, truncated_file_is_rejected);
    tcase_add_test(checkpoint, invalid_header_json);
    tcase_add_test(checkpoint, header_larger_than_file);
    tcase_add_test(checkpoint, unsupported_dtype_is_named);
    tcase_add_test(checkpoint, missing_files_are_named);
    suite_add_tcase(s, checkpoint);

    TCase *sampling = tcase_create("sampling");
    tcase_add_test(sampling, argmax_takes_first_on_ties);
    tcase_add_test(sampling, top_p_keeps_crossing_token);
    tcase_add_test(sampling, sampling_follows_seed);
    suite_add_tcase(s, sampling);

    TCase *boxes = tcase_create("boxes");
    tcase_add_test(boxes, parse_two_objects);
    tcase_add_test(boxes, parse_rejects_malformed_tokens);
    tcase_add_test(boxes, parse_stops_at_max_boxes);
    tcase_add_test(boxes, draw_frame_at_scaled_corners);
    tcase_add_test(boxes, draw_reports_missing_image);
    suite_add_tcase(s, boxes);
    return s;
}

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
#include <unistd.h>

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

Suite *paligemma_suite(void)
{
    Suite *s = suite_create("paligemma");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, float32_checkpoint_matches);
    tcase_add_test(golden, bfloat16_checkpoint_matches);
    suite_add_tcase(s, golden);
    return s;
}

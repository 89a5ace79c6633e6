/*
 * Chapter 9, the SigLIP vision tower, against golden/09_siglip (gen_09_siglip.py).
 *
 * Cases: LayerNorm alone. The small tower (image 32, patch 8, 16 patches,
 * hidden 64, 4 heads of 16, intermediate 128, 2 layers) stage by stage, so a
 * failure names the stage. One encoder layer at So400m's width on 8 tokens,
 * with weights made by seeded_uniform on both sides. The config checks.
 *
 * Tolerances (atol + rtol * |want|), all from float32 summation order: the C
 * sums each dot product left to right, PyTorch's convolution and matmuls sum
 * in blocks, and LayerNorm's mean and variance may differ by an ulp.
 * - LayerNorm: rtol 1e-6 (about 8 ulp), atol 1e-6 for outputs near zero,
 *   where x - mean cancels and the error is an ulp of |mean| * inv_std.
 * - Embeddings: a 192-term dot product with terms up to ~0.5; its rounding
 *   error is a few 1e-7 absolute, so atol 2e-6, rtol 1e-5.
 * - Attention, MLP and each layer of the small tower: errors of ~1e-6 from
 *   the 64- and 128-term Linears grow a little through LayerNorm, softmax and
 *   the residual stream, so atol 1e-5, rtol 1e-4 (values are of order 1).
 * - So400m-width layer: Linears of 1152 and 4304 terms, outputs up to about 4,
 *   so atol 2e-5, rtol 1e-4.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "09_siglip/siglip.h"
#include "io.h"
#include "seeded_random.h"
#include "testing.h"

#define CHAPTER "09_siglip"

#define LAYER_NORM_ATOL 1e-6
#define LAYER_NORM_RTOL 1e-6
#define EMBEDDINGS_ATOL 2e-6
#define EMBEDDINGS_RTOL 1e-5
#define SMALL_ATOL 1e-5
#define SMALL_RTOL 1e-4
#define SO400M_ATOL 2e-5
#define SO400M_RTOL 1e-4

/* ---- the small tower, loaded from its golden weights ---------------------- */

#define SMALL_MAX_TENSORS 64

typedef struct {
    siglip_vision_config config;
    npy_array tensors[SMALL_MAX_TENSORS];
    int num_tensors;
    siglip_encoder_layer_weights layers[2];
    siglip_vision_weights weights;
    npy_array pixel_values;
} small_tower;

/* Loads golden small_<name> with the given shape (up to 4 dims) and keeps it
 * for small_tower_free. */
static const float *load_small(small_tower *tower, const char *name, int ndim, int d0, int d1, int d2, int d3)
{
    char file[128];
    snprintf(file, sizeof file, "small_%s", name);
    ck_assert_int_lt(tower->num_tensors, SMALL_MAX_TENSORS);
    npy_array *array = &tower->tensors[tower->num_tensors++];
    switch (ndim) {
    case 1: golden_load_f32(array, CHAPTER, file, 1, d0); break;
    case 2: golden_load_f32(array, CHAPTER, file, 2, d0, d1); break;
    case 3: golden_load_f32(array, CHAPTER, file, 3, d0, d1, d2); break;
    default: golden_load_f32(array, CHAPTER, file, 4, d0, d1, d2, d3); break;
    }
    return array->data;
}

static void small_tower_load(small_tower *tower)
{
    memset(tower, 0, sizeof *tower);
    siglip_vision_config config = {
        .hidden_size = 64,
        .intermediate_size = 128,
        .num_hidden_layers = 2,
        .num_attention_heads = 4,
        .num_channels = 3,
        .image_size = 32,
        .patch_size = 8,
        .layer_norm_eps = 1e-6f,
    };
    tower->config = config;
    int E = 64, F = 128, P = 16;

    siglip_vision_weights *w = &tower->weights;
    w->patch_embedding_weight = load_small(tower, "embeddings_patch_embedding_weight", 4, E, 3, 8, 8);
    w->patch_embedding_bias = load_small(tower, "embeddings_patch_embedding_bias", 1, E, 0, 0, 0);
    w->position_embedding_weight = load_small(tower, "embeddings_position_embedding_weight", 2, P, E, 0, 0);
    for (int l = 0; l < 2; l++) {
        siglip_encoder_layer_weights *layer = &tower->layers[l];
        char name[128];
#define LOAD(field, path, ndim, d0, d1)                                          \
        snprintf(name, sizeof name, "encoder_layers_%d_%s", l, path);            \
        layer->field = load_small(tower, name, ndim, d0, d1, 0, 0)
#define LOAD_MATRIX(field, path, d0, d1)                                         \
        snprintf(name, sizeof name, "encoder_layers_%d_%s", l, path);            \
        layer->field = weight_f32(load_small(tower, name, 2, d0, d1, 0, 0))
        LOAD(layer_norm1_weight, "layer_norm1_weight", 1, E, 0);
        LOAD(layer_norm1_bias, "layer_norm1_bias", 1, E, 0);
        LOAD_MATRIX(q_proj_weight, "self_attn_q_proj_weight", E, E);
        LOAD(q_proj_bias, "self_attn_q_proj_bias", 1, E, 0);
        LOAD_MATRIX(k_proj_weight, "self_attn_k_proj_weight", E, E);
        LOAD(k_proj_bias, "self_attn_k_proj_bias", 1, E, 0);
        LOAD_MATRIX(v_proj_weight, "self_attn_v_proj_weight", E, E);
        LOAD(v_proj_bias, "self_attn_v_proj_bias", 1, E, 0);
        LOAD_MATRIX(out_proj_weight, "self_attn_out_proj_weight", E, E);
        LOAD(out_proj_bias, "self_attn_out_proj_bias", 1, E, 0);
        LOAD(layer_norm2_weight, "layer_norm2_weight", 1, E, 0);
        LOAD(layer_norm2_bias, "layer_norm2_bias", 1, E, 0);
        LOAD_MATRIX(fc1_weight, "mlp_fc1_weight", F, E);
        LOAD(fc1_bias, "mlp_fc1_bias", 1, F, 0);
        LOAD_MATRIX(fc2_weight, "mlp_fc2_weight", E, F);
        LOAD(fc2_bias, "mlp_fc2_bias", 1, E, 0);
#undef LOAD
    }
    w->layers = tower->layers;
    w->post_layernorm_weight = load_small(tower, "post_layernorm_weight", 1, E, 0, 0, 0);
    w->post_layernorm_bias = load_small(tower, "post_layernorm_bias", 1, E, 0, 0, 0);
    golden_load_f32(&tower->pixel_values, CHAPTER, "small_pixel_values", 3, 3, 32, 32);
}

static void small_tower_free(small_tower *tower)
{
    for (int i = 0; i < tower->num_tensors; i++)
        npy_free(&tower->tensors[i]);
    npy_free(&tower->pixel_values);
}

/* ---- LayerNorm ------------------------------------------------------------ */

START_TEST(layer_norm_random_rows)
{
    npy_array x, weight, bias, want;
    golden_load_f32(&x, CHAPTER, "layer_norm_x", 2, 5, 64);
    golden_load_f32(&weight, CHAPTER, "layer_norm_weight", 1, 64);
    golden_load_f32(&bias, CHAPTER, "layer_norm_bias", 1, 64);
    golden_load_f32(&want, CHAPTER, "layer_norm_out", 2, 5, 64);

    float out[5 * 64];
    layer_norm(out, x.data, weight.data, bias.data, 5, 64, 1e-6f);
    ck_assert_tensor("layer_norm", out, want.data, want.count, LAYER_NORM_ATOL, LAYER_NORM_RTOL);

    npy_free(&x);
    npy_free(&weight);
    npy_free(&bias);
    npy_free(&want);
}
END_TEST

/* x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25, so with weight 1 and
 * bias 0 the output is (x - 2.5) / sqrt(1.25 + 1e-6) = [-1.341640, -0.447213,
 * 0.447213, 1.341640]. Gemma's 1 + w would double it; the unbiased variance
 * (5/3) would shrink it to [-1.161895, ...]. */
START_TEST(layer_norm_literal_example)
{
    const float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    const float weight[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    const float bias[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const float want[4] = {-1.341640f, -0.447213f, 0.447213f, 1.341640f};
    float out[4];
    layer_norm(out, x, weight, bias, 1, 4, 1e-6f);
    /* The literal values have 7 significant digits. */
    ck_assert_tensor("layer_norm literal", out, want, 4, 1e-6, 0.0);
}
END_TEST

/* ---- the small tower, stage by stage -------------------------------------- */

START_TEST(embeddings_small)
{
    small_tower tower;
    small_tower_load(&tower);
    npy_array want;
    golden_load_f32(&want, CHAPTER, "small_embeddings", 2, 16, 64);

    float *got = pg_xcalloc(16 * 64, sizeof(float), "embeddings");
    const siglip_vision_weights *w = &tower.weights;
    siglip_vision_embeddings(got, tower.pixel_values.data, w->patch_embedding_weight, w->patch_embedding_bias,
                             w->position_embedding_weight, 3, 32, 8, 64);
    ck_assert_tensor("embeddings", got, want.data, want.count, EMBEDDINGS_ATOL, EMBEDDINGS_RTOL);

    free(got);
    npy_free(&want);
    small_tower_free(&tower);
}
END_TEST

/* The golden embeddings must reject column-major patch order (patch =
 * col * g + row), the bug of reading the conv output grid transposed. The
 * C convolution run with zero position embeddings gives each patch's conv
 * output. Placed in transposed order, plus the position embeddings, they
 * must miss the golden by far more than the tolerance. */
START_TEST(embeddings_reject_transposed_grid)
{
    small_tower tower;
    small_tower_load(&tower);
    npy_array want;
    golden_load_f32(&want, CHAPTER, "small_embeddings", 2, 16, 64);
    const int grid = 4, E = 64, P = 16;

    float *zero_positions = pg_xcalloc((size_t)P * E, sizeof(float), "zero position embeddings");
    float *conv = pg_xcalloc((size_t)P * E, sizeof(float), "patch conv outputs");
    float *transposed = pg_xcalloc((size_t)P * E, sizeof(float), "transposed-order embeddings");
    const siglip_vision_weights *w = &tower.weights;
    siglip_vision_embeddings(conv, tower.pixel_values.data, w->patch_embedding_weight, w->patch_embedding_bias,
                             zero_positions, 3, 32, 8, E);
    for (int row = 0; row < grid; row++)
        for (int col = 0; col < grid; col++)
            for (int e = 0; e < E; e++)
                transposed[(row * grid + col) * E + e] =
                    conv[(col * grid + row) * E + e] + w->position_embedding_weight[(row * grid + col) * E + e];

    char report[1024];
    tensor_diff diff;
    int ok = tensor_compare("expected to miss: embeddings, transposed grid", transposed, want.data, want.count, EMBEDDINGS_ATOL,
                            EMBEDDINGS_RTOL, &diff, report, sizeof report);
    printf("  %s\n", report);
    ck_assert_msg(!ok, "the transposed patch order matches the golden embeddings: %s", report);
    /* The 12 off-diagonal patches differ; the 4 on the diagonal do not. */
    ck_assert_msg(diff.max_abs_error > 100 * EMBEDDINGS_ATOL, "transposed order differs by only %g",
                  diff.max_abs_error);
    ck_assert_msg(diff.over_tolerance > (size_t)(P - grid) * E / 2, "only %zu elements differ",
                  diff.over_tolerance);

    free(zero_positions);
    free(conv);
    free(transposed);
    npy_free(&want);
    small_tower_free(&tower);
}
END_TEST

/* Layer 0's two branches on the golden embeddings. */
START_TEST(attention_and_mlp_branches_small)
{
    small_tower tower;
    small_tower_load(&tower);
    npy_array embeddings, want_attention, want_mlp;
    golden_load_f32(&embeddings, CHAPTER, "small_embeddings", 2, 16, 64);
    golden_load_f32(&want_attention, CHAPTER, "small_layer_0_attention", 2, 16, 64);
    golden_load_f32(&want_mlp, CHAPTER, "small_layer_0_mlp", 2, 16, 64);
    const int T = 16, E = 64;
    const siglip_encoder_layer_weights *layer = &tower.layers[0];

    siglip_vision_state state;
    pg_error err;
    ck_assert_msg(siglip_vision_state_create(&state, &tower.config, T, &err) == 0, "%s", err.message);
    float *normed = pg_xcalloc((size_t)T * E, sizeof(float), "normed");
    float *attention = pg_xcalloc((size_t)T * E, sizeof(float), "attention");
    float *mlp = pg_xcalloc((size_t)T * E, sizeof(float), "mlp");

    /* attention = self_attn(layer_norm1(embeddings)) */
    layer_norm(normed, embeddings.data, layer->layer_norm1_weight, layer->layer_norm1_bias, T, E, 1e-6f);
    siglip_attention(attention, normed, layer, T, E, 4, &state);
    ck_assert_tensor("layer 0 attention", attention, want_attention.data, want_attention.count, SMALL_ATOL,
                     SMALL_RTOL);

    /* mlp = mlp(layer_norm2(embeddings + attention)), from the golden attention. */
    const float *embeddings_data = embeddings.data;
    const float *attention_data = want_attention.data;
    for (int i = 0; i < T * E; i++)
        normed[i] = embeddings_data[i] + attention_data[i];
    layer_norm(normed, normed, layer->layer_norm2_weight, layer->layer_norm2_bias, T, E, 1e-6f);
    siglip_mlp(mlp, normed, layer, T, E, 128, &state);
    ck_assert_tensor("layer 0 mlp", mlp, want_mlp.data, want_mlp.count, SMALL_ATOL, SMALL_RTOL);

    free(normed);
    free(attention);
    free(mlp);
    siglip_vision_state_free(&state);
    npy_free(&embeddings);
    npy_free(&want_attention);
    npy_free(&want_mlp);
    small_tower_free(&tower);
}
END_TEST

/* Copies of every stage the forward pass reports through its hook. */
typedef struct {
    float *embeddings;
    float *layers[2];
    float *post_layernorm;
    int calls;
} stage_copies;

static void copy_stage(void *context, siglip_stage stage, int layer_idx, const float *hidden_states, int T, int E)
{
    stage_copies *copies = context;
    float *target = NULL;
    if (stage == SIGLIP_STAGE_EMBEDDINGS)
        target = copies->embeddings;
    else if (stage == SIGLIP_STAGE_ENCODER_LAYER && layer_idx >= 0 && layer_idx < 2)
        target = copies->layers[layer_idx];
    else if (stage == SIGLIP_STAGE_POST_LAYERNORM)
        target = copies->post_layernorm;
    ck_assert_ptr_nonnull(target);
    memcpy(target, hidden_states, (size_t)T * E * sizeof(float));
    copies->calls++;
}

START_TEST(vision_model_small_every_stage)
{
    small_tower tower;
    small_tower_load(&tower);
    const int P = 16, E = 64;
    const char *names[4] = {"small_embeddings", "small_layer_0", "small_layer_1", "small_post_layernorm"};

    stage_copies copies = {0};
    float **targets[4] = {&copies.embeddings, &copies.layers[0], &copies.layers[1], &copies.post_layernorm};
    for (int i = 0; i < 4; i++)
        *targets[i] = pg_xcalloc((size_t)P * E, sizeof(float), names[i]);
    float *image_features = pg_xcalloc((size_t)P * E, sizeof(float), "image features");

    siglip_vision_state state;
    pg_error err;
    ck_assert_msg(siglip_vision_state_create(&state, &tower.config, P, &err) == 0, "%s", err.message);
    ck_assert_msg(siglip_vision_model_forward(image_features, tower.pixel_values.data, &tower.weights,
                                              &tower.config, &state, copy_stage, &copies, &err) == 0,
                  "%s", err.message);
    ck_assert_int_eq(copies.calls, 4);

    for (int i = 0; i < 4; i++) {
        npy_array want;
        golden_load_f32(&want, CHAPTER, names[i], 2, P, E);
        /* The embeddings have their own, tighter tolerance. */
        double atol = i == 0 ? EMBEDDINGS_ATOL : SMALL_ATOL;
        double rtol = i == 0 ? EMBEDDINGS_RTOL : SMALL_RTOL;
        ck_assert_tensor(names[i], *targets[i], want.data, want.count, atol, rtol);
        if (i == 3)
            ck_assert_tensor("image_features", image_features, want.data, want.count, atol, rtol);
        npy_free(&want);
    }

    for (int i = 0; i < 4; i++)
        free(*targets[i]);
    free(image_features);
    siglip_vision_state_free(&state);
    small_tower_free(&tower);
}
END_TEST

START_TEST(vision_model_rejects_state_of_other_size)
{
    small_tower tower;
    small_tower_load(&tower);
    siglip_vision_state state;
    pg_error err;
    /* 8 rows, but the tower has 16 patches. */
    ck_assert_msg(siglip_vision_state_create(&state, &tower.config, 8, &err) == 0, "%s", err.message);
    float image_features[16 * 64];
    ck_assert_int_eq(siglip_vision_model_forward(image_features, tower.pixel_values.data, &tower.weights,
                                                 &tower.config, &state, NULL, NULL, &err),
                     -1);
    ck_assert_msg(strstr(err.message, "8 tokens") != NULL && strstr(err.message, "16") != NULL, "message: %s",
                  err.message);
    siglip_vision_state_free(&state);
    small_tower_free(&tower);
}
END_TEST

/* ---- one layer at So400m's width ------------------------------------------ */

/* Must match SO400M_LAYER_SEEDS in golden/gen_09_siglip.py: the seed and the
 * scale of every parameter, in the same order. */
enum { SO400M_E = 1152, SO400M_F = 4304, SO400M_TOKENS = 8 };

typedef struct {
    const char *name;
    uint64_t seed;
    float scale;
    size_t count;
    const float **field;    /* a norm weight or bias, or NULL */
    weight_matrix *matrix;  /* a Linear weight, or NULL */
} seeded_parameter;

START_TEST(encoder_layer_so400m_width)
{
    siglip_vision_config config = siglip_vision_config_default();
    siglip_encoder_layer_weights layer;
    const size_t E = SO400M_E, F = SO400M_F;
    seeded_parameter parameters[] = {
        {"layer_norm1.weight", 9101, 1.0f, E, &layer.layer_norm1_weight, NULL},
        {"layer_norm1.bias", 9102, 0.1f, E, &layer.layer_norm1_bias, NULL},
        {"self_attn.q_proj.weight", 9103, 0.1f, E * E, NULL, &layer.q_proj_weight},
        {"self_attn.q_proj.bias", 9104, 0.02f, E, &layer.q_proj_bias, NULL},
        {"self_attn.k_proj.weight", 9105, 0.1f, E * E, NULL, &layer.k_proj_weight},
        {"self_attn.k_proj.bias", 9106, 0.02f, E, &layer.k_proj_bias, NULL},
        {"self_attn.v_proj.weight", 9107, 0.05f, E * E, NULL, &layer.v_proj_weight},
        {"self_attn.v_proj.bias", 9108, 0.02f, E, &layer.v_proj_bias, NULL},
        {"self_attn.out_proj.weight", 9109, 0.05f, E * E, NULL, &layer.out_proj_weight},
        {"self_attn.out_proj.bias", 9110, 0.02f, E, &layer.out_proj_bias, NULL},
        {"layer_norm2.weight", 9111, 1.0f, E, &layer.layer_norm2_weight, NULL},
        {"layer_norm2.bias", 9112, 0.1f, E, &layer.layer_norm2_bias, NULL},
        {"mlp.fc1.weight", 9113, 0.05f, F * E, NULL, &layer.fc1_weight},
        {"mlp.fc1.bias", 9114, 0.02f, F, &layer.fc1_bias, NULL},
        {"mlp.fc2.weight", 9115, 0.026f, E * F, NULL, &layer.fc2_weight},
        {"mlp.fc2.bias", 9116, 0.02f, E, &layer.fc2_bias, NULL},
    };
    const int num_parameters = sizeof parameters / sizeof parameters[0];
    float *storage[sizeof parameters / sizeof parameters[0]];
    for (int i = 0; i < num_parameters; i++) {
        storage[i] = pg_xcalloc(parameters[i].count, sizeof(float), parameters[i].name);
        seeded_uniform(storage[i], parameters[i].count, parameters[i].seed, parameters[i].scale);
        if (parameters[i].matrix != NULL)
            *parameters[i].matrix = weight_f32(storage[i]);
        else
            *parameters[i].field = storage[i];
    }

    npy_array input, want;
    golden_load_f32(&input, CHAPTER, "so400m_layer_input", 2, SO400M_TOKENS, SO400M_E);
    golden_load_f32(&want, CHAPTER, "so400m_layer_output", 2, SO400M_TOKENS, SO400M_E);
    siglip_vision_state state;
    pg_error err;
    ck_assert_msg(siglip_vision_state_create(&state, &config, SO400M_TOKENS, &err) == 0, "%s", err.message);

    memcpy(state.hidden_states, input.data, input.count * sizeof(float));
    siglip_encoder_layer(state.hidden_states, &layer, &config, SO400M_TOKENS, &state);
    ck_assert_tensor("so400m layer", state.hidden_states, want.data, want.count, SO400M_ATOL, SO400M_RTOL);

    siglip_vision_state_free(&state);
    for (int i = 0; i < num_parameters; i++)
        free(storage[i]);
    npy_free(&input);
    npy_free(&want);
}
END_TEST

/* ---- the config ------------------------------------------------------------ */

START_TEST(config_default_is_so400m)
{
    siglip_vision_config config = siglip_vision_config_default();
    ck_assert_int_eq(config.hidden_size, 1152);
    ck_assert_int_eq(config.intermediate_size, 4304);
    ck_assert_int_eq(config.num_hidden_layers, 27);
    ck_assert_int_eq(config.num_attention_heads, 16);
    ck_assert_int_eq(config.num_channels, 3);
    ck_assert_int_eq(config.image_size, 224);
    ck_assert_int_eq(config.patch_size, 14);
    ck_assert_float_eq(config.layer_norm_eps, 1e-6f);
    ck_assert_int_eq(siglip_num_patches(&config), 256);
    ck_assert_int_eq(siglip_head_dim(&config), 72);
    pg_error err;
    ck_assert_msg(siglip_vision_config_validate(&config, &err) == 0, "%s", err.message);
}
END_TEST

/* Validates one config with a single field changed; expects -1 and a
 * message that contains both fragments. */
static void expect_invalid(siglip_vision_config config, const char *fragment1, const char *fragment2)
{
    pg_error err;
    err.message[0] = '\0';
    ck_assert_int_eq(siglip_vision_config_validate(&config, &err), -1);
    ck_assert_msg(strstr(err.message, fragment1) != NULL && strstr(err.message, fragment2) != NULL,
                  "expected \"%s\" and \"%s\" in: %s", fragment1, fragment2, err.message);
}

START_TEST(config_rejects_invalid_sizes)
{
    siglip_vision_config config = siglip_vision_config_default();
    siglip_vision_config bad;

    bad = config;
    bad.num_attention_heads = 0;
    expect_invalid(bad, "num_attention_heads", ": 0");
    bad = config;
    bad.num_attention_heads = 17;
    expect_invalid(bad, "hidden_size 1152 is not a multiple", "num_attention_heads 17");
    bad = config;
    bad.image_size = 225;
    expect_invalid(bad, "image_size 225 is not a multiple", "patch_size 14");
    bad = config;
    bad.patch_size = 0;
    expect_invalid(bad, "patch_size", ": 0");
    bad = config;
    bad.hidden_size = -8;
    expect_invalid(bad, "hidden_size", "-8");
    bad = config;
    bad.intermediate_size = 0;
    expect_invalid(bad, "intermediate_size", "4304");
    bad = config;
    bad.num_hidden_layers = 0;
    expect_invalid(bad, "num_hidden_layers", "27");
    bad = config;
    bad.num_channels = 0;
    expect_invalid(bad, "num_channels", ": 0");
    bad = config;
    bad.layer_norm_eps = 0.0f;
    expect_invalid(bad, "layer_norm_eps", "finite positive");
    bad = config;
    bad.layer_norm_eps = NAN;
    expect_invalid(bad, "layer_norm_eps", "nan");
}
END_TEST

Suite *siglip_suite(void)
{
    Suite *s = suite_create("siglip");

    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, layer_norm_random_rows);
    tcase_add_test(golden, layer_norm_literal_example);
    tcase_add_test(golden, embeddings_small);
    tcase_add_test(golden, embeddings_reject_transposed_grid);
    tcase_add_test(golden, attention_and_mlp_branches_small);
    tcase_add_test(golden, vision_model_small_every_stage);
    tcase_add_test(golden, vision_model_rejects_state_of_other_size);
    suite_add_tcase(s, golden);

    /* About 0.15 s on the 2-core dev machine (61 MB of seeded weights, 8
     * tokens); the timeout leaves room for a slower or busier machine. */
    TCase *real_width = tcase_create("real_width");
    tcase_set_timeout(real_width, 20);
    tcase_add_test(real_width, encoder_layer_so400m_width);
    suite_add_tcase(s, real_width);

    TCase *config = tcase_create("config");
    tcase_add_test(config, config_default_is_so400m);
    tcase_add_test(config, config_rejects_invalid_sizes);
    suite_add_tcase(s, config);
    return s;
}

/*
 * Chapter 5, rotary position embedding, against golden/05_rope (gen_05_rope.py).
 *
 * Tolerances, from what can differ between the two float32 computations:
 * - inv_freq: 1 ulp (rtol 1.2e-7). PyTorch's vectorized pow is accurate to
 *   1 ulp, the C library's powf is correctly rounded; at head_dim 256 they
 *   disagree on inv_freq[111].
 * - cos, sin: atol 2e-7. Both sides multiply the same float32 position and
 *   inv_freq, so the angles agree, except where inv_freq differs by an ulp
 *   (angle moved by 4000 * 3e-11 = 1.2e-7 rad); cosf and PyTorch's cos each
 *   round to within an ulp (6e-8).
 * - rotated q and k: atol 1e-6. Each output is x1 * cos - x2 * sin with
 *   |x| up to about 4.5, so an error of 2e-7 in cos or sin becomes at most
 *   2 * 4.5 * 2e-7 = 1.8e-6 in the worst case; the errors have random signs.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "05_rope/rope.h"
#include "io.h"
#include "seeded_random.h"
#include "testing.h"

#define CHAPTER "05_rope"
#define THETA 10000.0f
#define TABLE_ROWS 301 /* positions 1..300 and 4000 */

static void table_positions(int *positions)
{
    for (int t = 0; t < 300; t++)
        positions[t] = t + 1;
    positions[300] = 4000;
}

static void check_tables(int head_dim)
{
    char name[64];
    npy_array inv_freq, want_cos, want_sin;
    snprintf(name, sizeof name, "inv_freq_%d", head_dim);
    golden_load_f32(&inv_freq, CHAPTER, name, 1, head_dim / 2);
    snprintf(name, sizeof name, "cos_%d", head_dim);
    golden_load_f32(&want_cos, CHAPTER, name, 2, TABLE_ROWS, head_dim);
    snprintf(name, sizeof name, "sin_%d", head_dim);
    golden_load_f32(&want_sin, CHAPTER, name, 2, TABLE_ROWS, head_dim);

    float *got_inv_freq = pg_xcalloc((size_t)head_dim / 2, sizeof(float), "inv_freq");
    float *cos = pg_xcalloc((size_t)TABLE_ROWS * head_dim, sizeof(float), "cos");
    float *sin = pg_xcalloc((size_t)TABLE_ROWS * head_dim, sizeof(float), "sin");
    int positions[TABLE_ROWS];
    table_positions(positions);
    gemma_rotary_inv_freq(got_inv_freq, head_dim, THETA);
    gemma_rotary_embedding(cos, sin, positions, TABLE_ROWS, head_dim, THETA);

    snprintf(name, sizeof name, "inv_freq, head_dim %d", head_dim);
    ck_assert_tensor(name, got_inv_freq, inv_freq.data, inv_freq.count, 0.0, 1.2e-7);
    snprintf(name, sizeof name, "cos, head_dim %d, positions 1..300 and 4000", head_dim);
    ck_assert_tensor(name, cos, want_cos.data, want_cos.count, 2e-7, 0.0);
    snprintf(name, sizeof name, "sin, head_dim %d, positions 1..300 and 4000", head_dim);
    ck_assert_tensor(name, sin, want_sin.data, want_sin.count, 2e-7, 0.0);

    free(got_inv_freq);
    free(cos);
    free(sin);
    npy_free(&inv_freq);
    npy_free(&want_cos);
    npy_free(&want_sin);
}

START_TEST(tables_head_dim_256)
{
    check_tables(256);
}
END_TEST

START_TEST(tables_head_dim_16)
{
    check_tables(16);
}
END_TEST

/* Rotates golden <name>_q [H, T, Dh] and <name>_k [K, T, Dh] at the golden
 * positions, out of place and in place; both must match PyTorch. */
static void check_rotation(const char *name, int H, int K, int T, int head_dim, double atol)
{
    char file[64];
    npy_array positions64, q, k, want_q, want_k;
    snprintf(file, sizeof file, "%s_positions", name);
    golden_load_i64(&positions64, CHAPTER, file, 1, T);
    snprintf(file, sizeof file, "%s_q", name);
    golden_load_f32(&q, CHAPTER, file, 3, H, T, head_dim);
    snprintf(file, sizeof file, "%s_k", name);
    golden_load_f32(&k, CHAPTER, file, 3, K, T, head_dim);
    snprintf(file, sizeof file, "%s_q_embed", name);
    golden_load_f32(&want_q, CHAPTER, file, 3, H, T, head_dim);
    snprintf(file, sizeof file, "%s_k_embed", name);
    golden_load_f32(&want_k, CHAPTER, file, 3, K, T, head_dim);

    int *positions = pg_xcalloc((size_t)T, sizeof(int), "positions");
    for (int t = 0; t < T; t++)
        positions[t] = (int)((int64_t *)positions64.data)[t];
    float *cos = pg_xcalloc((size_t)T * head_dim, sizeof(float), "cos");
    float *sin = pg_xcalloc((size_t)T * head_dim, sizeof(float), "sin");
    float *q_embed = pg_xcalloc(q.count, sizeof(float), "q_embed");
    float *k_embed = pg_xcalloc(k.count, sizeof(float), "k_embed");
    gemma_rotary_embedding(cos, sin, positions, T, head_dim, THETA);
    apply_rotary_pos_emb(q_embed, k_embed, q.data, k.data, cos, sin, H, K, T, head_dim);

    char label[96];
    snprintf(label, sizeof label, "%s q_embed", name);
    ck_assert_tensor(label, q_embed, want_q.data, want_q.count, atol, 0.0);
    snprintf(label, sizeof label, "%s k_embed", name);
    ck_assert_tensor(label, k_embed, want_k.data, want_k.count, atol, 0.0);

    /* In place (the attention rotates its own buffers) gives the same bits. */
    apply_rotary_pos_emb(q.data, k.data, q.data, k.data, cos, sin, H, K, T, head_dim);
    ck_assert_msg(memcmp(q.data, q_embed, q.count * sizeof(float)) == 0, "%s: in-place q differs", name);
    ck_assert_msg(memcmp(k.data, k_embed, k.count * sizeof(float)) == 0, "%s: in-place k differs", name);

    free(positions);
    free(cos);
    free(sin);
    free(q_embed);
    free(k_embed);
    npy_free(&positions64);
    npy_free(&q);
    npy_free(&k);
    npy_free(&want_q);
    npy_free(&want_k);
}

START_TEST(gemma_2b_layout_positions_to_4000)
{
    check_rotation("gemma_2b", 8, 1, 5, 256, 1e-6);
}
END_TEST

START_TEST(two_key_value_heads_head_dim_8)
{
    check_rotation("small", 3, 2, 4, 8, 1e-6);
}
END_TEST

/* x = [1, 2, 3, 4], head_dim 4, position 1: inv_freq = [1, 0.01], so
 *   x'[0] = 1 cos(1) - 3 sin(1)       = -1.984111
 *   x'[1] = 2 cos(0.01) - 4 sin(0.01) =  1.959901
 *   x'[2] = 3 cos(1) + 1 sin(1)       =  2.462378
 *   x'[3] = 4 cos(0.01) + 2 sin(0.01) =  4.019800
 * Rotating adjacent pairs (0, 1), (2, 3) as Llama ports often do would give
 * [-1.142640, 1.922076, 2.959851, 4.029800]. */
START_TEST(literal_example)
{
    check_rotation("literal", 1, 1, 1, 4, 1e-6);

    float x[4] = {1, 2, 3, 4}, cos[4], sin[4], q[4], k[4];
    int position = 1;
    gemma_rotary_embedding(cos, sin, &position, 1, 4, THETA);
    apply_rotary_pos_emb(q, k, x, x, cos, sin, 1, 1, 1, 4);
    const float literal[4] = {-1.984111f, 1.959901f, 2.462378f, 4.019800f};
    const float adjacent_pairs[4] = {-1.142640f, 1.922076f, 2.959851f, 4.029800f};
    /* The literal values have 7 significant digits, so compare to 1e-6. */
    ck_assert_tensor("literal values", q, literal, 4, 1e-6, 0.0);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fabsf(q[i] - adjacent_pairs[i]) > 5e-3f, "x'[%d] = %.6f matches the adjacent-pair rotation",
                      i, q[i]);
}
END_TEST

START_TEST(rotate_half_literal)
{
    const float x[8] = {1, 2, 3, 4, 10, 20, 30, 40};
    float out[8];
    rotate_half(out, x, 2, 4);
    const float want[8] = {-3, -4, 1, 2, -30, -40, 10, 20};
    ck_assert_tensor("rotate_half of two rows", out, want, 8, 0.0, 0.0);
}
END_TEST

/* Rotates one head_dim vector at one position. */
static void rotate_at(float *out, const float *x, int position, int head_dim)
{
    float cos[64], sin[64], unused[64];
    gemma_rotary_embedding(cos, sin, &position, 1, head_dim, THETA);
    apply_rotary_pos_emb(out, unused, x, x, cos, sin, 1, 1, 1, head_dim);
}

static double dot(const float *a, const float *b, int n)
{
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)a[i] * b[i];
    return sum;
}

/* RoPE makes q.k depend only on m - n: rotating q to position m and k to
 * position n multiplies each channel pair by the rotation of angle
 * (m - n) * inv_freq. In float32 the angle m * inv_freq is rounded, by up
 * to 2^-24 * m rad for inv_freq = 1, so the tolerance grows with the largest
 * position: 2 * 2^-24 * max_position * |q| |k|, plus 1e-6 |q| |k| for the
 * products and sums. */
START_TEST(score_depends_on_position_difference)
{
    enum { DH = 64 };
    float q[DH], k[DH], q_rot[DH], k_rot[DH];
    seeded_uniform(q, DH, 501, 1.0f);
    seeded_uniform(k, DH, 502, 1.0f);
    double norms = sqrt(dot(q, q, DH) * dot(k, k, DH));

    const int pairs[][2] = {{5, 2}, {8, 5}, {105, 102}, {1003, 1000}, {4003, 4000}};
    rotate_at(q_rot, q, pairs[0][0], DH);
    rotate_at(k_rot, k, pairs[0][1], DH);
    double reference = dot(q_rot, k_rot, DH);
    for (size_t p = 1; p < sizeof pairs / sizeof pairs[0]; p++) {
        rotate_at(q_rot, q, pairs[p][0], DH);
        rotate_at(k_rot, k, pairs[p][1], DH);
        double score = dot(q_rot, k_rot, DH);
        double tolerance = (2.0 * pairs[p][0] / 16777216.0 + 1e-6) * norms;
        printf("  q.k at positions (%d, %d): %.7f, at (5, 2): %.7f, |diff| %.2g, tolerance %.2g\n",
               pairs[p][0], pairs[p][1], score, reference, fabs(score - reference), tolerance);
        ck_assert_msg(fabs(score - reference) <= tolerance, "q.k at (%d, %d) = %.7f, at (5, 2) = %.7f",
                      pairs[p][0], pairs[p][1], score, reference);
    }

    /* A different difference gives a different score. */
    rotate_at(q_rot, q, 6, DH);
    rotate_at(k_rot, k, 2, DH);
    double other = dot(q_rot, k_rot, DH);
    printf("  q.k at positions (6, 2): %.7f\n", other);
    ck_assert_msg(fabs(other - reference) > 1e-3 * norms, "q.k at distance 4 equals distance 3: %.7f", other);
}
END_TEST

/* The order of operations matters at large positions: the float32 angle
 * 4000 * 1 is exact, but at inv_freq[1] = 0.9306049 the product rounds to
 * a multiple of 2^-12. Computing the angle in double and only cos in float32
 * moves cos by up to 1e-4 from PyTorch's, far beyond the 2e-7 tolerance. */
START_TEST(double_angle_differs_at_4000)
{
    npy_array want_cos;
    golden_load_f32(&want_cos, CHAPTER, "cos_256", 2, TABLE_ROWS, 256);
    float inv_freq[128], double_angle_cos[128];
    gemma_rotary_inv_freq(inv_freq, 256, THETA);
    for (int i = 0; i < 128; i++)
        double_angle_cos[i] = (float)cos(4000.0 * (double)inv_freq[i]);
    const float *want_row = (const float *)want_cos.data + (size_t)300 * 256;
    tensor_diff diff;
    char report[1024];
    int ok = tensor_compare("expected to miss: cos at position 4000, angle in double", double_angle_cos, want_row, 128, 2e-7, 0.0,
                            &diff, report, sizeof report);
    printf("  %s\n", report);
    ck_assert_msg(!ok && diff.max_abs_error > 1e-5, "double angles should differ: %s", report);
    npy_free(&want_cos);
}
END_TEST

Suite *rope_suite(void)
{
    Suite *s = suite_create("rope");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, tables_head_dim_256);
    tcase_add_test(golden, tables_head_dim_16);
    tcase_add_test(golden, gemma_2b_layout_positions_to_4000);
    tcase_add_test(golden, two_key_value_heads_head_dim_8);
    tcase_add_test(golden, literal_example);
    tcase_add_test(golden, double_angle_differs_at_4000);
    suite_add_tcase(s, golden);
    TCase *properties = tcase_create("properties");
    tcase_add_test(properties, rotate_half_literal);
    tcase_add_test(properties, score_depends_on_position_difference);
    suite_add_tcase(s, properties);
    return s;
}

/*
 * Chapter 2, repeat_kv, against golden/02_repeat_kv (gen_02_repeat_kv.py).
 * A copy, so the tolerance is 0: every element must be bit-identical.
 */
#include <check.h>
#include <stdlib.h>

#include "02_repeat_kv/repeat_kv.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "02_repeat_kv"

static void check_case(const char *name, int num_key_value_heads, int n_rep, int S, int head_dim)
{
    char file[64];
    npy_array input, want;
    snprintf(file, sizeof file, "%s_input", name);
    golden_load_f32(&input, CHAPTER, file, 3, num_key_value_heads, S, head_dim);
    snprintf(file, sizeof file, "%s_output", name);
    golden_load_f32(&want, CHAPTER, file, 3, num_key_value_heads * n_rep, S, head_dim);

    float *out = pg_xcalloc(want.count, sizeof(float), "repeat_kv output");
    repeat_kv(out, input.data, num_key_value_heads, n_rep, S, head_dim);
    ck_assert_tensor(name, out, want.data, want.count, 0.0, 0.0);

    free(out);
    npy_free(&input);
    npy_free(&want);
}

START_TEST(one_head_repeated_8_times)
{
    check_case("gemma_2b", 1, 8, 5, 256);
}
END_TEST

START_TEST(two_heads_repeated_4_times)
{
    check_case("two_heads", 2, 4, 6, 16);
}
END_TEST

/* Query head h must read key/value head h / n_rep (0 0 0 0 1 1 1 1), not
 * h % K as tiling would (0 1 0 1 ...). Checked without golden data. */
START_TEST(heads_repeat_in_place_not_tiled)
{
    float input[2] = {10.0f, 20.0f}; /* K = 2 heads, S = 1, Dh = 1 */
    float out[8];
    repeat_kv(out, input, 2, 4, 1, 1);
    for (int h = 0; h < 8; h++)
        ck_assert_float_eq(out[h], h < 4 ? 10.0f : 20.0f);
}
END_TEST

Suite *repeat_kv_suite(void)
{
    Suite *s = suite_create("repeat_kv");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, one_head_repeated_8_times);
    tcase_add_test(golden, two_heads_repeated_4_times);
    tcase_add_test(golden, heads_repeat_in_place_not_tiled);
    suite_add_tcase(s, golden);
    return s;
}

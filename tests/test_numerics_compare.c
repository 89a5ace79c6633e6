/*
 * paligemma --dump-activations and paligemma-compare, against the PyTorch
 * dumps in golden/numerics_compare (gen_numerics_compare.py).
 *
 * 1. The C program, run on each tiny checkpoint of chapter 12 (float32,
 *    bfloat16 and float16 weights) with photo.png and "caption en", matches
 *    PyTorch fed the same weights in every tensor under the default
 *    thresholds: 0 for ids and pixels, 1e-4 of max|B| for the rest. Measured
 *    up to 6.0e-6 of max|B| (text_layer_1_attention, float32 checkpoint).
 * 2. build/paligemma-broken carries one wrong convention per
 *    PG_BROKEN_VARIANT (common/broken_variant.h). For each, the comparison
 *    must name the tensor where the bug first acts, and every tensor before
 *    it must pass: the tool points at the right layer, not merely at a late one.
 * 3. The comparison reports missing names, shape mismatches, unreadable
 *    files and NaN instead of stopping, and parses thresholds strictly.
 * The programs run from the repository root, as `make test` runs them.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "12_paligemma/activation_compare.h"
#include "12_paligemma/activation_dump.h"
#include "broken_variant.h"
#include "testing.h"

#define CHAPTER "numerics_compare"
#define NUM_TENSORS 20 /* pixels, ids, 4 vision, projector, merge, 5 text, norm, logits, 4 steps, generated ids */

/* Writes golden/<relative> (or under $PG_GOLDEN_DIR) into out. */
static void golden_folder(char *out, size_t out_size, const char *relative)
{
    snprintf(out, out_size, "%s", golden_path(CHAPTER, "x"));
    char *chapter = strstr(out, "/" CHAPTER "/");
    ck_assert_ptr_nonnull(chapter);
    snprintf(chapter + 1, out_size - (size_t)(chapter + 1 - out), "%s", relative);
}

/* A fresh temporary folder, and its removal with the files in it. */
static void make_temp_folder(char *out, size_t out_size)
{
    snprintf(out, out_size, "/tmp/pg_numerics_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static void remove_folder(const char *folder)
{
    DIR *dir = opendir(folder);
    if (dir == NULL)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", folder, entry->d_name);
        unlink(path);
    }
    closedir(dir);
    rmdir(folder);
}

/* Runs `program` on tiny_<precision> (or, for "trained", the tiny-shapes
 * model) with the golden request, dumping into folder. environment is
 * prepended to the command (e.g. PG_BROKEN_VARIANT=1). */
static void dump_c_request(const char *environment, const char *program, const char *precision, const char *folder)
{
    char checkpoint[64], model[4096], image[4096], command[12400], output[4096];
    if (strcmp(precision, "trained") == 0)
        snprintf(checkpoint, sizeof checkpoint, "tiny_shapes/model");
    else
        snprintf(checkpoint, sizeof checkpoint, "12_paligemma/tiny_%s", precision);
    golden_folder(model, sizeof model, checkpoint);
    golden_folder(image, sizeof image, "12_paligemma/photo.png");
    snprintf(command, sizeof command,
             "%s %s --model %s --image %s --prompt 'caption en' --max-tokens 4 --dump-activations %s 2>&1",
             environment, program, model, image, folder);
    int status = run_command(command, output, sizeof output);
    ck_assert_msg(status == 0, "%s exited with %d (run `make test` to build it): %s", command, status, output);
}

/* Compares a C dump with golden/numerics_compare/<precision> and prints the table. */
static void compare_with_reference(compare_report *report, const char *folder, const char *precision)
{
    char relative[64], reference[4096];
    snprintf(relative, sizeof relative, "%s/%s", CHAPTER, precision);
    golden_folder(reference, sizeof reference, relative);
    pg_error err;
    ck_assert_msg(activation_compare(report, folder, reference, NULL, 0, &err) == 0, "%s", err.message);
    compare_report_print(report, stdout);
}

/* ---- C against PyTorch on the tiny checkpoints ---------------------------- */

static void check_precision(const char *precision, int num_tensors)
{
    char folder[64];
    make_temp_folder(folder, sizeof folder);
    dump_c_request("", program_path("paligemma"), precision, folder);
    compare_report report;
    compare_with_reference(&report, folder, precision);

    ck_assert_int_eq(report.num_rows, num_tensors);
    for (int i = 0; i < report.num_rows; i++)
        ck_assert_msg(report.rows[i].status == COMPARE_PASS, "%s %s: relative error %.3g, tolerance %.3g",
                      precision, report.rows[i].name, report.rows[i].relative_error, report.rows[i].tolerance);
    ck_assert_int_eq(report.num_failed, 0);
    ck_assert_int_eq(report.first_failure, -1);
    compare_report_free(&report);
    remove_folder(folder);
}

START_TEST(float32_weights_match)
{
    check_precision("f32", NUM_TENSORS);
}
END_TEST

START_TEST(bfloat16_weights_match)
{
    check_precision("bf16", NUM_TENSORS);
}
END_TEST

START_TEST(float16_weights_match)
{
    check_precision("f16", NUM_TENSORS);
}
END_TEST

/* The trained tiny-shapes model, whose activations are far from random. */
START_TEST(trained_model_matches)
{
    /* 3 vision and 3 text layers: 3 more rows than the random checkpoints. */
    check_precision("trained", NUM_TENSORS + 3);
}
END_TEST

/* The precision comparison: C with bfloat16 weights against PyTorch with
 * float32 weights fails from the first tensor that uses a weight, the patch
 * embedding, because bfloat16 rounding (2^-9 relative) is far above float32
 * round-off. */
START_TEST(bfloat16_against_float32_fails_first_at_vision_embeddings)
{
    char folder[64];
    make_temp_folder(folder, sizeof folder);
    dump_c_request("", program_path("paligemma"), "bf16", folder);
    compare_report report;
    compare_with_reference(&report, folder, "f32");
    ck_assert_int_ge(report.first_failure, 0);
    ck_assert_str_eq(report.rows[report.first_failure].name, "vision_embeddings");
    compare_report_free(&report);
    remove_folder(folder);
}
END_TEST

/* ---- the broken variants -------------------------------------------------- */

static const struct {
    int variant;
    const char *first_failure;
} broken_cases[] = {
    /* w instead of 1 + w: input_layernorm of layer 0 feeds its attention. */
    {PG_BROKEN_RMS_NORM_WEIGHT, "text_layer_0_attention"},
    /* Adjacent RoPE pairs: layer 0's queries and keys rotate wrongly. */
    {PG_BROKEN_ROPE_ADJACENT, "text_layer_0_attention"},
    /* A causal prefill mask: layer 0's attention reaches fewer keys. */
    {PG_BROKEN_CAUSAL_PREFIX, "text_layer_0_attention"},
    /* Image rows times sqrt(D): the merge itself is wrong, the vision tower is not. */
    {PG_BROKEN_IMAGE_SCALE, "merged_embeddings"},
    /* GELU on up_proj: layer 0's attention is right, its MLP output is not. */
    {PG_BROKEN_MLP_GELU_ON_UP, "text_layer_1"},
};

START_TEST(broken_variant_named)
{
    char folder[64], environment[64];
    make_temp_folder(folder, sizeof folder);
    snprintf(environment, sizeof environment, "PG_BROKEN_VARIANT=%d", broken_cases[_i].variant);
    dump_c_request(environment, program_path("paligemma-broken"), "f32", folder);
    compare_report report;
    compare_with_reference(&report, folder, "f32");

    ck_assert_msg(report.first_failure >= 0, "%s: every tensor passes; the variant changed nothing", environment);
    const compare_row *first = &report.rows[report.first_failure];
    ck_assert_msg(strcmp(first->name, broken_cases[_i].first_failure) == 0, "%s: first failure %s, expected %s",
                  environment, first->name, broken_cases[_i].first_failure);
    ck_assert_int_eq(first->status, COMPARE_FAIL);
    /* A clear miss, far from round-off. */
    ck_assert_msg(first->relative_error > 1e-2, "%s: relative error only %.3g", environment, first->relative_error);
    compare_report_free(&report);
    remove_folder(folder);
}
END_TEST

/* The unbroken run of the broken build matches, so the variants change
 * nothing unless selected. */
START_TEST(broken_build_unselected_matches)
{
    char folder[64];
    make_temp_folder(folder, sizeof folder);
    dump_c_request("PG_BROKEN_VARIANT=0", program_path("paligemma-broken"), "f32", folder);
    compare_report report;
    compare_with_reference(&report, folder, "f32");
    ck_assert_int_eq(report.num_failed, 0);
    compare_report_free(&report);
    remove_folder(folder);
}
END_TEST

/* ---- the comparison itself ------------------------------------------------ */

static void save_floats(activation_dump *dump, const char *name, const float *values, size_t rows, size_t cols)
{
    size_t shape[2] = {rows, cols};
    ck_assert_int_eq(activation_dump_save(dump, name, NPY_FLOAT32, 2, shape, values), 0);
}

static void close_dump(activation_dump *dump)
{
    pg_error err;
    ck_assert_msg(activation_dump_close(dump, &err) == 0, "%s", err.message);
}

static const compare_row *find_row(const compare_report *report, const char *name)
{
    for (int i = 0; i < report->num_rows; i++)
        if (strcmp(report->rows[i].name, name) == 0)
            return &report->rows[i];
    ck_abort_msg("no row for %s", name);
    return NULL;
}

/* Missing names, a shape mismatch, an unreadable file and a NaN are rows. */
START_TEST(mismatches_become_rows)
{
    char folder_a[64], folder_b[64];
    make_temp_folder(folder_a, sizeof folder_a);
    make_temp_folder(folder_b, sizeof folder_b);
    pg_error err;
    activation_dump a, b;
    ck_assert_int_eq(activation_dump_open(&a, folder_a, &err), 0);
    ck_assert_int_eq(activation_dump_open(&b, folder_b, &err), 0);

    float same[6] = {1, 2, 3, 4, 5, 6}, four[4] = {0}, five[5] = {0}, nan_row[2] = {NAN, 1};
    save_floats(&a, "same", same, 2, 3);
    save_floats(&b, "same", same, 2, 3);
    save_floats(&a, "shape", four, 1, 4);
    save_floats(&b, "shape", five, 1, 5);
    save_floats(&a, "only_a", four, 2, 2);
    save_floats(&b, "only_b", four, 2, 2);
    save_floats(&a, "nan", nan_row, 1, 2);
    save_floats(&b, "nan", same, 1, 2);
    save_floats(&a, "deleted", four, 1, 4);
    save_floats(&b, "deleted", four, 1, 4);
    close_dump(&a);
    close_dump(&b);
    char deleted[128];
    snprintf(deleted, sizeof deleted, "%s/deleted.npy", folder_b);
    ck_assert_int_eq(unlink(deleted), 0);

    compare_report report;
    ck_assert_msg(activation_compare(&report, folder_a, folder_b, NULL, 0, &err) == 0, "%s", err.message);
    compare_report_print(&report, stdout);
    ck_assert_int_eq(report.num_rows, 6);
    ck_assert_int_eq(find_row(&report, "same")->status, COMPARE_PASS);
    ck_assert_int_eq(find_row(&report, "shape")->status, COMPARE_SHAPE_MISMATCH);
    ck_assert_str_eq(find_row(&report, "shape")->shape_a, "1x4");
    ck_assert_str_eq(find_row(&report, "shape")->shape_b, "1x5");
    ck_assert_int_eq(find_row(&report, "only_a")->status, COMPARE_MISSING_IN_B);
    ck_assert_int_eq(find_row(&report, "only_b")->status, COMPARE_MISSING_IN_A);
    ck_assert_int_eq(find_row(&report, "nan")->status, COMPARE_FAIL);
    ck_assert_int_eq(find_row(&report, "nan")->non_finite, 1);
    ck_assert_int_eq(find_row(&report, "deleted")->status, COMPARE_UNREADABLE);
    ck_assert_msg(strstr(find_row(&report, "deleted")->message, "deleted.npy") != NULL, "%s",
                  find_row(&report, "deleted")->message);
    /* A's order first, B's extra names last. */
    ck_assert_str_eq(report.rows[report.first_failure].name, "shape");
    ck_assert_str_eq(report.rows[5].name, "only_b");
    ck_assert_int_eq(report.num_failed, 5);
    compare_report_free(&report);

    /* A folder without index.txt is an error with a hint. */
    ck_assert_int_eq(activation_compare(&report, "/nonexistent", folder_b, NULL, 0, &err), -1);
    ck_assert_msg(strstr(err.message, "/nonexistent/index.txt") != NULL, "%s", err.message);
    ck_assert_msg(strstr(err.message, "--dump-activations") != NULL, "%s", err.message);
    remove_folder(folder_a);
    remove_folder(folder_b);
}
END_TEST

/* The metrics on a tensor whose numbers are exact in float32:
 * B = [0, 8, -16], A = [0, 8, -16 + 2^-10]. */
START_TEST(metrics_and_thresholds)
{
    char folder_a[64], folder_b[64];
    make_temp_folder(folder_a, sizeof folder_a);
    make_temp_folder(folder_b, sizeof folder_b);
    pg_error err;
    activation_dump a, b;
    ck_assert_int_eq(activation_dump_open(&a, folder_a, &err), 0);
    ck_assert_int_eq(activation_dump_open(&b, folder_b, &err), 0);
    float want[3] = {0, 8, -16}, got[3] = {0, 8, -16 + 0x1p-10f};
    save_floats(&a, "text_layer_3", got, 1, 3);
    save_floats(&b, "text_layer_3", want, 1, 3);
    close_dump(&a);
    close_dump(&b);

    compare_report report;
    ck_assert_int_eq(activation_compare(&report, folder_a, folder_b, NULL, 0, &err), 0);
    const compare_row *row = &report.rows[0];
    ck_assert_double_eq(row->max_abs_b, 16.0);
    ck_assert_double_eq(row->max_abs_error, 0x1p-10);
    ck_assert_double_eq(row->relative_error, 0x1p-14);
    ck_assert_str_eq(row->worst_index, "[0,2]");
    ck_assert_double_eq(row->worst_a, -16 + 0x1p-10);
    ck_assert_double_eq(row->worst_b, -16.0);
    ck_assert_double_eq_tol(row->cosine, 1.0, 1e-9);
    ck_assert_double_eq(row->tolerance, 1e-4);
    ck_assert_int_eq(row->status, COMPARE_PASS);
    compare_report_free(&report);

    /* A tighter threshold for the pattern makes it fail; a later one wins. */
    compare_threshold thresholds[2];
    ck_assert_int_eq(compare_threshold_parse(&thresholds[0], "*=1", &err), 0);
    ck_assert_int_eq(compare_threshold_parse(&thresholds[1], "text_layer_*=1e-5", &err), 0);
    ck_assert_str_eq(thresholds[1].pattern, "text_layer_*");
    ck_assert_double_eq(thresholds[1].tolerance, 1e-5);
    ck_assert_int_eq(activation_compare(&report, folder_a, folder_b, thresholds, 2, &err), 0);
    ck_assert_int_eq(report.rows[0].status, COMPARE_FAIL);
    ck_assert_str_eq(report.rows[0].threshold_pattern, "text_layer_*");
    compare_report_free(&report);
    remove_folder(folder_a);
    remove_folder(folder_b);

    /* The defaults: exact ids and pixels, 1e-4 elsewhere. */
    ck_assert_double_eq(compare_threshold_for("input_ids", NULL, 0)->tolerance, 0.0);
    ck_assert_double_eq(compare_threshold_for("generated_ids", NULL, 0)->tolerance, 0.0);
    ck_assert_double_eq(compare_threshold_for("pixel_values", NULL, 0)->tolerance, 0.0);
    ck_assert_double_eq(compare_threshold_for("step_logits_3", NULL, 0)->tolerance, 1e-4);

    /* Invalid thresholds are rejected with the text in the message. */
    const char *invalid[] = {"text_layer_1", "=1e-4", "x=", "x=-1", "x=1e-4abc", "x=inf"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        ck_assert_msg(compare_threshold_parse(&thresholds[0], invalid[i], &err) == -1, "'%s' accepted", invalid[i]);
        ck_assert_msg(strstr(err.message, invalid[i]) != NULL, "%s", err.message);
    }
}
END_TEST

/* The command's exit status: 0 all pass, 1 any fails, 2 on errors. */
START_TEST(command_exit_status)
{
    char f32[4096], bf16[4096], command[8400], output[16384];
    golden_folder(f32, sizeof f32, CHAPTER "/f32");
    golden_folder(bf16, sizeof bf16, CHAPTER "/bf16");

    snprintf(command, sizeof command, "%s %s %s 2>&1", program_path("paligemma-compare"), f32, f32);
    ck_assert_int_eq(run_command(command, output, sizeof output), 0);
    ck_assert_msg(strstr(output, "20 tensors: 20 pass, 0 fail") != NULL, "%s", output);

    snprintf(command, sizeof command, "%s %s %s 2>&1", program_path("paligemma-compare"), bf16, f32);
    ck_assert_int_eq(run_command(command, output, sizeof output), 1);
    ck_assert_msg(strstr(output, "first failure: vision_embeddings") != NULL, "%s", output);

    snprintf(command, sizeof command, "%s %s %s --threshold '*=1' 2>&1", program_path("paligemma-compare"), bf16, f32);
    /* Even with every threshold at 1, the runs part at step 2: step 1 chose
     * another token (1233 against 130), so step 2 continues another text. */
    ck_assert_int_eq(run_command(command, output, sizeof output), 1);
    ck_assert_msg(strstr(output, "first failure: step_logits_2") != NULL, "%s", output);

    snprintf(command, sizeof command, "%s %s 2>&1", program_path("paligemma-compare"), f32);
    ck_assert_int_eq(run_command(command, output, sizeof output), 2);
    snprintf(command, sizeof command, "%s %s /nonexistent 2>&1", program_path("paligemma-compare"), f32);
    ck_assert_int_eq(run_command(command, output, sizeof output), 2);
    snprintf(command, sizeof command, "%s %s %s --threshold nonsense 2>&1", program_path("paligemma-compare"), f32, f32);
    ck_assert_int_eq(run_command(command, output, sizeof output), 2);
    ck_assert_msg(strstr(output, "invalid threshold 'nonsense'") != NULL, "%s", output);
}
END_TEST

Suite *numerics_compare_suite(void)
{
    Suite *suite = suite_create("numerics_compare");
    TCase *reference = tcase_create("reference");
    tcase_add_test(reference, float32_weights_match);
    tcase_add_test(reference, bfloat16_weights_match);
    tcase_add_test(reference, float16_weights_match);
    tcase_add_test(reference, trained_model_matches);
    tcase_add_test(reference, bfloat16_against_float32_fails_first_at_vision_embeddings);
    suite_add_tcase(suite, reference);

    TCase *broken = tcase_create("broken");
    tcase_add_loop_test(broken, broken_variant_named, 0, (int)(sizeof broken_cases / sizeof broken_cases[0]));
    tcase_add_test(broken, broken_build_unselected_matches);
    suite_add_tcase(suite, broken);

    TCase *tool = tcase_create("tool");
    tcase_add_test(tool, mismatches_become_rows);
    tcase_add_test(tool, metrics_and_thresholds);
    tcase_add_test(tool, command_exit_status);
    suite_add_tcase(suite, tool);
    return suite;
}

/*
 * Comparing two activation dumps. See activation_compare.h for the metrics
 * and docs/numerics.md for the default thresholds.
 */
#include "activation_compare.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "12_paligemma/activation_dump.h"
#include "io.h"
#include "npy.h"

const compare_threshold compare_default_thresholds[] = {
    /* Token ids and the preprocessed pixels are computed exactly on both sides
     * (chapters 13 and 14 match Pillow and sentencepiece bit for bit), so any
     * difference is a bug or a different input. JPEG files are the exception:
     * decoders differ by a few levels. */
    {"input_ids", 0.0},
    {"generated_ids", 0.0},
    {"pixel_values", 0.0},
    /* Everything else is float32 arithmetic in another summation order. On
     * the tiny checkpoints C and PyTorch agree to 6e-6 of each tensor's
     * largest entry; deeper and wider models add round-off layer by layer,
     * and a wrong convention shows as 1e-2 or more. */
    {"*", 1e-4},
};
const int compare_num_default_thresholds = sizeof compare_default_thresholds / sizeof compare_default_thresholds[0];

int compare_threshold_parse(compare_threshold *threshold, const char *text, pg_error *err)
{
    const char *equals = strrchr(text, '=');
    if (equals == NULL || equals == text)
        return pg_error_set(err, "invalid threshold '%s': expected PATTERN=VALUE, e.g. 'text_layer_*=1e-4'", text);
    size_t length = (size_t)(equals - text);
    if (length >= sizeof threshold->pattern)
        return pg_error_set(err, "invalid threshold '%s': the pattern is longer than %zu characters", text,
                            sizeof threshold->pattern - 1);
    char *end;
    errno = 0;
    double value = strtod(equals + 1, &end);
    if (errno != 0 || end == equals + 1 || *end != '\0' || !(value >= 0.0) || isinf(value))
        return pg_error_set(err, "invalid threshold '%s': the value '%s' is not a finite number >= 0", text,
                            equals + 1);
    memcpy(threshold->pattern, text, length);
    threshold->pattern[length] = '\0';
    threshold->tolerance = value;
    return 0;
}

const compare_threshold *compare_threshold_for(const char *name, const compare_threshold *user, int num_user)
{
    for (int i = num_user - 1; i >= 0; i--)
        if (fnmatch(user[i].pattern, name, 0) == 0)
            return &user[i];
    for (int i = 0; i < compare_num_default_thresholds; i++)
        if (fnmatch(compare_default_thresholds[i].pattern, name, 0) == 0)
            return &compare_default_thresholds[i];
    return &compare_default_thresholds[compare_num_default_thresholds - 1];
}

/* ---- index.txt ------------------------------------------------------------ */

typedef struct {
    char (*names)[128];
    int count;
} dump_index;

/* Reads the tensor names of folder/index.txt in order. The dtype and shape
 * columns are for readers; the .npy headers are what gets compared. */
static int read_index(dump_index *index, const char *folder, pg_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" ACTIVATION_DUMP_INDEX, folder);
    memset(index, 0, sizeof *index);
    size_t size;
    pg_error read_err;
    char *text = (char *)pg_read_file(path, &size, &read_err);
    if (text == NULL)
        return pg_error_set(err, "%s; make a dump with `paligemma --dump-activations %s` or "
                            "golden/dump_reference.py", read_err.message, folder);

    int max_lines = 1;
    for (size_t i = 0; i < size; i++)
        max_lines += text[i] == '\n';
    index->names = pg_xcalloc((size_t)max_lines, sizeof *index->names, "the dump index");

    int line_number = 0;
    size_t start = 0;
    while (start < size) {
        size_t end = start;
        while (end < size && text[end] != '\n')
            end++;
        line_number++;
        size_t name_length = 0;
        while (start + name_length < end && text[start + name_length] != ' ')
            name_length++;
        int is_comment = end > start && text[start] == '#';
        if (!is_comment && name_length > 0) {
            if (name_length >= sizeof index->names[0]) {
                free(text);
                return pg_error_set(err, "%s line %d: tensor name longer than %zu characters", path, line_number,
                                    sizeof index->names[0] - 1);
            }
            for (size_t i = 0; i < name_length; i++) {
                char c = text[start + i];
                if (!(c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                      (c >= 'A' && c <= 'Z'))) {
                    free(text);
                    return pg_error_set(err, "%s line %d: invalid character '%c' in a tensor name; expected "
                                        "lines 'name dtype shape' with names of letters, digits, '_', '-', '.'",
                                        path, line_number, c);
                }
            }
            memcpy(index->names[index->count], text + start, name_length);
            index->names[index->count][name_length] = '\0';
            index->count++;
        }
        start = end + 1;
    }
    free(text);
    return 0;
}

static int index_find(const dump_index *index, const char *name)
{
    for (int i = 0; i < index->count; i++)
        if (strcmp(index->names[i], name) == 0)
            return i;
    return -1;
}

/* ---- one tensor ----------------------------------------------------------- */

/* Returns element i of an array of any supported dtype, as a double. */
static double element_at(const npy_array *array, size_t i)
{
    const uint8_t *bytes = array->data;
    switch (array->dtype) {
    case NPY_FLOAT32: return ((const float *)bytes)[i];
    case NPY_FLOAT64: return ((const double *)bytes)[i];
    case NPY_INT32: return ((const int32_t *)bytes)[i];
    case NPY_INT64: return (double)((const int64_t *)bytes)[i];
    case NPY_UINT8: return bytes[i];
    case NPY_BOOL: return bytes[i];
    }
    return NAN;
}

static void format_shape(char *out, size_t out_size, const npy_array *array)
{
    int n = snprintf(out, out_size, array->ndim == 0 ? "scalar" : "");
    for (int d = 0; d < array->ndim && (size_t)n < out_size; d++)
        n += snprintf(out + n, out_size - (size_t)n, d ? "x%zu" : "%zu", array->shape[d]);
}

/* Writes a flat index as "[i,j,...]" in the array's shape. */
static void format_index(char *out, size_t out_size, const npy_array *array, size_t flat)
{
    size_t coordinates[NPY_MAX_DIMS];
    for (int d = array->ndim - 1; d >= 0; d--) {
        coordinates[d] = array->shape[d] ? flat % array->shape[d] : 0;
        flat = array->shape[d] ? flat / array->shape[d] : 0;
    }
    int n = snprintf(out, out_size, "[");
    for (int d = 0; d < array->ndim && (size_t)n < out_size; d++)
        n += snprintf(out + n, out_size - (size_t)n, d ? ",%zu" : "%zu", coordinates[d]);
    if ((size_t)n < out_size)
        snprintf(out + n, out_size - (size_t)n, "]");
}

static int same_shape(const npy_array *a, const npy_array *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* Fills the metrics of a row from two arrays of the same shape. */
static void measure(compare_row *row, const npy_array *a, const npy_array *b)
{
    double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
    size_t worst = 0;
    row->count = b->count;
    for (size_t i = 0; i < b->count; i++) {
        double x = element_at(a, i), y = element_at(b, i);
        if (!isfinite(x) || !isfinite(y)) {
            /* The first non-finite element is the worst one. */
            if (row->non_finite++ == 0)
                worst = i;
            continue;
        }
        double error = fabs(x - y);
        if (error > row->max_abs_error) {
            row->max_abs_error = error;
            if (row->non_finite == 0)
                worst = i;
        }
        if (fabs(y) > row->max_abs_b)
            row->max_abs_b = fabs(y);
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if (row->non_finite > 0)
        row->max_abs_error = INFINITY;

    row->relative_error = row->max_abs_b > 0.0 ? row->max_abs_error / row->max_abs_b : row->max_abs_error;
    if (norm_a == 0.0 && norm_b == 0.0)
        row->cosine = 1.0;
    else if (norm_a == 0.0 || norm_b == 0.0)
        row->cosine = 0.0;
    else
        row->cosine = dot / sqrt(norm_a * norm_b);
    format_index(row->worst_index, sizeof row->worst_index, b, worst);
    row->worst_a = b->count ? element_at(a, worst) : 0.0;
    row->worst_b = b->count ? element_at(b, worst) : 0.0;
    row->status = row->non_finite == 0 && row->relative_error <= row->tolerance ? COMPARE_PASS : COMPARE_FAIL;
}

/* Loads folder/<name>.npy; on failure marks the row unreadable. */
static int load_tensor(npy_array *array, compare_row *row, const char *folder, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.npy", folder, name);
    pg_error err;
    if (npy_load(path, array, &err) == 0)
        return 0;
    row->status = COMPARE_UNREADABLE;
    snprintf(row->message, sizeof row->message, "%s", err.message);
    return -1;
}

static void compare_one(compare_row *row, const char *folder_a, const char *folder_b)
{
    npy_array a = {0}, b = {0};
    if (load_tensor(&a, row, folder_a, row->name) != 0)
        return;
    format_shape(row->shape_a, sizeof row->shape_a, &a);
    if (load_tensor(&b, row, folder_b, row->name) != 0) {
        npy_free(&a);
        return;
    }
    format_shape(row->shape_b, sizeof row->shape_b, &b);
    if (same_shape(&a, &b))
        measure(row, &a, &b);
    else
        row->status = COMPARE_SHAPE_MISMATCH;
    npy_free(&a);
    npy_free(&b);
}

/* ---- the report ----------------------------------------------------------- */

static compare_row *new_row(compare_report *report, const char *name, const compare_threshold *user, int num_user)
{
    compare_row *row = &report->rows[report->num_rows++];
    memset(row, 0, sizeof *row);
    snprintf(row->name, sizeof row->name, "%s", name);
    snprintf(row->shape_a, sizeof row->shape_a, "-");
    snprintf(row->shape_b, sizeof row->shape_b, "-");
    const compare_threshold *threshold = compare_threshold_for(name, user, num_user);
    row->tolerance = threshold->tolerance;
    row->threshold_pattern = threshold->pattern;
    return row;
}

int activation_compare(compare_report *report, const char *folder_a, const char *folder_b,
                       const compare_threshold *user, int num_user, pg_error *err)
{
    memset(report, 0, sizeof *report);
    report->first_failure = -1;
    dump_index index_a, index_b;
    if (read_index(&index_a, folder_a, err) != 0)
        return -1;
    if (read_index(&index_b, folder_b, err) != 0) {
        free(index_a.names);
        return -1;
    }
    report->rows = pg_xcalloc((size_t)(index_a.count + index_b.count) + 1, sizeof *report->rows,
                              "the comparison rows");

    /* A's tensors in A's order: the order they were computed. */
    for (int i = 0; i < index_a.count; i++) {
        compare_row *row = new_row(report, index_a.names[i], user, num_user);
        if (index_find(&index_b, row->name) < 0)
            row->status = COMPARE_MISSING_IN_B;
        else
            compare_one(row, folder_a, folder_b);
    }

    /* Then the names only B computed. */
    for (int i = 0; i < index_b.count; i++)
        if (index_find(&index_a, index_b.names[i]) < 0)
            new_row(report, index_b.names[i], user, num_user)->status = COMPARE_MISSING_IN_A;

    for (int i = 0; i < report->num_rows; i++) {
        if (report->rows[i].status == COMPARE_PASS)
            continue;
        if (report->first_failure < 0)
            report->first_failure = i;
        report->num_failed++;
    }
    free(index_a.names);
    free(index_b.names);
    return 0;
}

static const char *status_text(compare_status status)
{
    switch (status) {
    case COMPARE_PASS: return "PASS";
    case COMPARE_FAIL: return "FAIL";
    case COMPARE_SHAPE_MISMATCH: return "FAIL shape";
    case COMPARE_MISSING_IN_A: return "FAIL only in B";
    case COMPARE_MISSING_IN_B: return "FAIL only in A";
    case COMPARE_UNREADABLE: return "FAIL unreadable";
    }
    return "?";
}

void compare_report_print(const compare_report *report, FILE *out)
{
    fprintf(out, "%-26s %-12s %9s %9s %9s %10s %-12s %12s %12s %7s  %s\n", "tensor", "shape", "max|B|",
            "max abs", "rel err", "cosine", "worst at", "A", "B", "tol", "result");
    for (int i = 0; i < report->num_rows; i++) {
        const compare_row *row = &report->rows[i];
        if (row->status == COMPARE_PASS || row->status == COMPARE_FAIL) {
            fprintf(out, "%-26s %-12s %9.3g %9.2e %9.2e %10.7f %-12s %12.6g %12.6g %7.0e  %s", row->name,
                    row->shape_b, row->max_abs_b, row->max_abs_error, row->relative_error, row->cosine,
                    row->worst_index, row->worst_a, row->worst_b, row->tolerance, status_text(row->status));
            if (row->non_finite > 0)
                fprintf(out, " (%zu non-finite elements)", row->non_finite);
        } else if (row->status == COMPARE_SHAPE_MISMATCH) {
            fprintf(out, "%-26s %-12s %s: A is %s, B is %s", row->name, row->shape_b, status_text(row->status),
                    row->shape_a, row->shape_b);
        } else if (row->status == COMPARE_UNREADABLE) {
            fprintf(out, "%-26s %-12s %s: %s", row->name, "-", status_text(row->status), row->message);
        } else {
            fprintf(out, "%-26s %-12s %s", row->name, "-", status_text(row->status));
        }
        fprintf(out, "\n");
    }

    int num_passed = report->num_rows - report->num_failed;
    fprintf(out, "%d tensors: %d pass, %d fail\n", report->num_rows, num_passed, report->num_failed);
    if (report->first_failure < 0)
        return;
    const compare_row *first = &report->rows[report->first_failure];
    if (first->status == COMPARE_FAIL)
        fprintf(out, "first failure: %s (relative error %.2e > tolerance %.0e from pattern '%s')\n", first->name,
                first->relative_error, first->tolerance, first->threshold_pattern);
    else
        fprintf(out, "first failure: %s (%s)\n", first->name, status_text(first->status));
}

void compare_report_free(compare_report *report)
{
    free(report->rows);
    memset(report, 0, sizeof *report);
    report->first_failure = -1;
}

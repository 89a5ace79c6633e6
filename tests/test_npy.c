/*
 * The .npy reader and writer (common/npy.c): files written by NumPy
 * (golden/gen_00_npy.py) are read back exactly, the writer's bytes equal
 * NumPy's, and each malformed file is rejected with a message that names
 * the file and the field.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "npy.h"
#include "testing.h"

/* Loads golden/00_npy/<name>.npy or fails the test with the loader's message. */
static void load_fixture(npy_array *array, const char *name)
{
    pg_error err;
    ck_assert_msg(npy_load(golden_path("00_npy", name), array, &err) == 0, "%s", err.message);
}

START_TEST(reads_float32_matrix)
{
    npy_array a;
    load_fixture(&a, "f4_2x3");
    ck_assert_int_eq(a.dtype, NPY_FLOAT32);
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_uint_eq(a.shape[0], 2);
    ck_assert_uint_eq(a.shape[1], 3);
    ck_assert_uint_eq(a.count, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(((float *)a.data)[i], (float)i / 4.0f);
    npy_free(&a);
}
END_TEST

START_TEST(reads_versions_2_and_3)
{
    const char *names[] = {"f4_2x3_v2", "f4_2x3_v3"};
    for (int n = 0; n < 2; n++) {
        npy_array a;
        load_fixture(&a, names[n]);
        ck_assert_uint_eq(a.count, 6);
        ck_assert_float_eq(((float *)a.data)[5], 1.25f);
        npy_free(&a);
    }
}
END_TEST

START_TEST(reads_every_dtype)
{
    npy_array a;
    load_fixture(&a, "f8_4");
    ck_assert_int_eq(a.dtype, NPY_FLOAT64);
    ck_assert_double_eq(((double *)a.data)[2], 1e300);

    npy_free(&a);
    load_fixture(&a, "i4_3");
    ck_assert_int_eq(a.dtype, NPY_INT32);
    ck_assert_int_eq(((int32_t *)a.data)[2], 2147483647);

    npy_free(&a);
    load_fixture(&a, "i8_2x1");
    ck_assert_int_eq(a.dtype, NPY_INT64);
    ck_assert_int_eq(a.ndim, 2);
    ck_assert(((int64_t *)a.data)[0] == -INT64_C(9223372036854775807));
    ck_assert(((int64_t *)a.data)[1] == 257152);

    npy_free(&a);
    load_fixture(&a, "u1_5");
    ck_assert_int_eq(a.dtype, NPY_UINT8);
    ck_assert_uint_eq(((uint8_t *)a.data)[4], 255);

    npy_free(&a);
    load_fixture(&a, "b1_3");
    ck_assert_int_eq(a.dtype, NPY_BOOL);
    ck_assert_uint_eq(((uint8_t *)a.data)[0], 1);
    ck_assert_uint_eq(((uint8_t *)a.data)[1], 0);
    npy_free(&a);
}
END_TEST

START_TEST(reads_scalar_and_empty)
{
    npy_array a;
    load_fixture(&a, "scalar");
    ck_assert_int_eq(a.ndim, 0);
    ck_assert_uint_eq(a.count, 1);
    ck_assert_float_eq(((float *)a.data)[0], 2.5f);
    npy_free(&a);

    load_fixture(&a, "empty_0x4");
    ck_assert_int_eq(a.ndim, 2);
    ck_assert_uint_eq(a.count, 0);
    npy_free(&a);
}
END_TEST

/* Writes `array` with npy_save and checks the bytes equal NumPy's file. */
static void check_writer_matches_numpy(const char *name)
{
    npy_array a;
    load_fixture(&a, name);
    char path[] = "/tmp/pg_npy_test_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);

    pg_error err;
    ck_assert_msg(npy_save(path, a.dtype, a.ndim, a.shape, a.data, &err) == 0, "%s", err.message);
    size_t ours_size, numpy_size;
    uint8_t *ours = pg_read_file(path, &ours_size, &err);
    uint8_t *numpy_bytes = pg_read_file(golden_path("00_npy", name), &numpy_size, &err);
    unlink(path);
    ck_assert_ptr_nonnull(ours);
    ck_assert_ptr_nonnull(numpy_bytes);
    ck_assert_msg(ours_size == numpy_size && memcmp(ours, numpy_bytes, ours_size) == 0,
                  "npy_save of %s: %zu bytes differ from NumPy's %zu bytes", name, ours_size, numpy_size);
    free(ours);
    free(numpy_bytes);
    npy_free(&a);
}

START_TEST(writer_matches_numpy_bytes)
{
    check_writer_matches_numpy("f4_2x3");
    check_writer_matches_numpy("i8_2x1");
    check_writer_matches_numpy("u1_5");
    check_writer_matches_numpy("b1_3");
    check_writer_matches_numpy("scalar");
    check_writer_matches_numpy("f8_4");
}
END_TEST

/* ---------------------------------------------------------------------------
 * Malformed files, built in memory: one per rejection rule.
 * ------------------------------------------------------------------------- */

/* Builds a version 1.0 file from a header dict and `data_bytes` zero bytes. */
static size_t build_npy(uint8_t *buf, size_t buf_size, const char *dict, size_t data_bytes)
{
    size_t dict_len = strlen(dict);
    size_t header_len = dict_len + 1;
    size_t total = 10 + header_len + data_bytes;
    ck_assert_uint_le(total, buf_size);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)(header_len & 0xff);
    buf[9] = (uint8_t)(header_len >> 8);
    memcpy(buf + 10, dict, dict_len);
    buf[10 + dict_len] = '\n';
    memset(buf + 10 + header_len, 0, data_bytes);
    return total;
}

/* Parses bytes that must be rejected and checks the message mentions both
 * the file name and `expected`. */
static void check_rejected(const uint8_t *bytes, size_t size, const char *expected)
{
    npy_array a;
    pg_error err = {{0}};
    int status = npy_parse(bytes, size, "bad.npy", &a, &err);
    ck_assert_msg(status == -1, "bad.npy was accepted, expected an error containing \"%s\"", expected);
    ck_assert_msg(strstr(err.message, "bad.npy") != NULL, "message does not name the file: %s", err.message);
    ck_assert_msg(strstr(err.message, expected) != NULL, "message \"%s\" lacks \"%s\"", err.message, expected);
    ck_assert_ptr_null(a.data);
}

#define GOOD_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

START_TEST(rejects_wrong_magic)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, GOOD_DICT, 24);
    buf[1] = 'X';
    check_rejected(buf, n, "magic string");
}
END_TEST

START_TEST(rejects_short_preamble)
{
    check_rejected((const uint8_t *)"\x93NUM", 4, "shorter than the 8-byte preamble");
}
END_TEST

START_TEST(rejects_unknown_version)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, GOOD_DICT, 24);
    buf[6] = 4;
    check_rejected(buf, n, "unsupported .npy version 4.0");
    buf[6] = 1;
    buf[7] = 1;
    check_rejected(buf, n, "unsupported .npy version 1.1");
}
END_TEST

START_TEST(rejects_missing_header_length)
{
    check_rejected((const uint8_t *)"\x93NUMPY\x02\x00\x10\x00", 10, "the header length field needs 12");
}
END_TEST

START_TEST(rejects_header_past_end)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, GOOD_DICT, 24);
    buf[9] = 0x7f;
    check_rejected(buf, n, "header length");
}
END_TEST

START_TEST(rejects_big_endian)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24);
    check_rejected(buf, n, "'>f4' is big-endian");
}
END_TEST

START_TEST(rejects_fortran_order)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24);
    check_rejected(buf, n, "'fortran_order': found True");
}
END_TEST

START_TEST(rejects_unknown_dtype)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", 12);
    check_rejected(buf, n, "unsupported dtype '<f2'");
    n = build_npy(buf, sizeof buf, "{'descr': '<U4', 'fortran_order': False, 'shape': (1,), }", 16);
    check_rejected(buf, n, "unsupported dtype '<U4'");
}
END_TEST

START_TEST(rejects_overflowing_shape)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf,
                         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0);
    check_rejected(buf, n, "overflows size_t");
    n = build_npy(buf, sizeof buf,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", 0);
    check_rejected(buf, n, "overflows size_t");
}
END_TEST

START_TEST(rejects_negative_dimension)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", 0);
    check_rejected(buf, n, "negative dimension");
}
END_TEST

START_TEST(rejects_short_data)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, GOOD_DICT, 23);
    check_rejected(buf, n, "the shape needs 24 data bytes, found 23");
}
END_TEST

START_TEST(rejects_trailing_data)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, GOOD_DICT, 28);
    check_rejected(buf, n, "4 bytes after the data");
}
END_TEST

START_TEST(rejects_integer_shape)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", 24);
    check_rejected(buf, n, "a 1-D shape is written (6,)");
}
END_TEST

START_TEST(rejects_missing_and_unknown_keys)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'shape': (2, 3), }", 24);
    check_rejected(buf, n, "missing key 'fortran_order'");
    n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 24);
    check_rejected(buf, n, "unknown key 'x'");
    n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", 24);
    check_rejected(buf, n, "key 'descr' appears twice");
}
END_TEST

START_TEST(rejects_garbled_header)
{
    uint8_t buf[256];
    size_t n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 24);
    check_rejected(buf, n, "expected ',' or '}'");
    n = build_npy(buf, sizeof buf, "[1, 2]", 0);
    check_rejected(buf, n, "expected '{'");
    n = build_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}", 24);
    check_rejected(buf, n, "expected True or False");
}
END_TEST

START_TEST(load_reports_missing_file)
{
    npy_array a;
    pg_error err;
    ck_assert_int_eq(npy_load("/nonexistent/x.npy", &a, &err), -1);
    ck_assert_msg(strstr(err.message, "cannot open /nonexistent/x.npy") != NULL, "%s", err.message);
}
END_TEST

Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");

    TCase *reading = tcase_create("read");
    tcase_add_test(reading, reads_float32_matrix);
    tcase_add_test(reading, reads_versions_2_and_3);
    tcase_add_test(reading, reads_every_dtype);
    tcase_add_test(reading, reads_scalar_and_empty);
    tcase_add_test(reading, writer_matches_numpy_bytes);
    suite_add_tcase(s, reading);

    TCase *malformed = tcase_create("malformed");
    tcase_add_test(malformed, rejects_wrong_magic);
    tcase_add_test(malformed, rejects_short_preamble);
    tcase_add_test(malformed, rejects_unknown_version);
    tcase_add_test(malformed, rejects_missing_header_length);
    tcase_add_test(malformed, rejects_header_past_end);
    tcase_add_test(malformed, rejects_big_endian);
    tcase_add_test(malformed, rejects_fortran_order);
    tcase_add_test(malformed, rejects_unknown_dtype);
    tcase_add_test(malformed, rejects_overflowing_shape);
    tcase_add_test(malformed, rejects_negative_dimension);
    tcase_add_test(malformed, rejects_short_data);
    tcase_add_test(malformed, rejects_trailing_data);
    tcase_add_test(malformed, rejects_integer_shape);
    tcase_add_test(malformed, rejects_missing_and_unknown_keys);
    tcase_add_test(malformed, rejects_garbled_header);
    tcase_add_test(malformed, load_reports_missing_file);
    suite_add_tcase(s, malformed);
    return s;
}

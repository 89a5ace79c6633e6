/*
 * Chapter 13, image preprocessing, against golden/13_image_preprocessing
 * (gen_13_image_preprocessing.py: Pillow 9.4 and NumPy).
 *
 * Tolerance: zero everywhere except JPEG. Decoding a PNG, BMP, GIF or PNM
 * is lossless, Pillow's bicubic resize is integer arithmetic on
 * coefficients computed in double, and rescale and normalize are two
 * float32 operations per value, so a correct implementation reproduces the
 * decoded and resized bytes and the float32 bits of pixel_values exactly.
 * JPEG is the exception: stb_image and Pillow's libjpeg use different
 * inverse DCTs, so their decoded pixels differ by a few levels.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "13_image_preprocessing/image_preprocessing.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "13_image_preprocessing"

/* One fixture: its file under golden/13_image_preprocessing/, its size,
 * the target size, and whether the decoded RGB was saved (small images only). */
typedef struct {
    const char *name;
    const char *extension;
    int width, height;
    int image_size;
    int has_rgb;
} fixture;

static const fixture FIXTURES[] = {
    {"noise_37x23", "png", 37, 23, 32, 1},
    {"noise_100x61", "png", 100, 61, 32, 1},
    {"noise_7x11", "png", 7, 11, 32, 1},
    {"tall_3x90", "png", 3, 90, 32, 1},
    {"one_pixel_1x1", "png", 1, 1, 32, 1},
    {"tiny_2x3", "png", 2, 3, 32, 1},
    {"checkerboard_63x47", "png", 63, 47, 32, 1},
    {"same_height_50x32", "png", 50, 32, 32, 1},
    {"same_width_32x50", "png", 32, 50, 32, 1},
    {"same_size_32x32", "png", 32, 32, 32, 1},
    {"gray_40x30", "png", 40, 30, 32, 1},
    {"gray_alpha_30x40", "png", 30, 40, 32, 1},
    {"rgba_45x27", "png", 45, 27, 32, 1},
    {"bilevel_33x21", "png", 33, 21, 32, 1},
    {"palette_45x20", "png", 45, 20, 32, 1},
    {"palette_transparent_20x45", "png", 20, 45, 32, 1},
    {"palette_4bit_29x17", "png", 29, 17, 32, 1},
    {"rgb16_26x19", "png", 26, 19, 32, 1},
    {"gray_alpha16_13x7", "png", 13, 7, 32, 1},
    {"gray2bit_12x9", "png", 12, 9, 32, 1},
    {"bmp_rgb_23x37", "bmp", 23, 37, 32, 1},
    {"bmp_palette_31x18", "bmp", 31, 18, 32, 1},
    {"ppm_25x39", "ppm", 25, 39, 32, 1},
    {"pgm_39x25", "pgm", 39, 25, 32, 1},
    {"gif_41x26", "gif", 41, 26, 32, 1},
    {"real_300x200", "png", 300, 200, 224, 0},
};
#define FIXTURE_COUNT ((int)(sizeof FIXTURES / sizeof FIXTURES[0]))

/* Returns golden/13_image_preprocessing/<file_name> in a static buffer. */
static const char *fixture_path(const char *file_name)
{
    static char path[1024];
    const char *npy_path = golden_path(CHAPTER, "x"); /* ".../x.npy" */
    size_t folder_length = strlen(npy_path) - strlen("x.npy");
    snprintf(path, sizeof path, "%.*s%s", (int)folder_length, npy_path, file_name);
    return path;
}

static const char *fixture_file(const fixture *f)
{
    static char file_name[256];
    snprintf(file_name, sizeof file_name, "%s.%s", f->name, f->extension);
    return fixture_path(file_name);
}

/* Loads golden/<chapter>/<name>.npy, which must be uint8 with exactly the
 * given shape of 3 dimensions. */
static void golden_load_u8(npy_array *array, const char *name, size_t d0, size_t d1, size_t d2)
{
    pg_error err;
    const char *path = golden_path(CHAPTER, name);
    if (npy_load(path, array, &err) != 0)
        ck_abort_msg("%s (golden files are made by `make golden`)", err.message);
    if (array->dtype != NPY_UINT8 || array->ndim != 3 || array->shape[0] != d0 ||
        array->shape[1] != d1 || array->shape[2] != d2)
        ck_abort_msg("%s: expected uint8 of shape (%zu, %zu, %zu); run `make golden`", path, d0,
                     d1, d2);
}

/* Compares two byte arrays in full and makes one assertion whose message
 * gives the count of differing bytes, the largest difference and where. */
static void assert_bytes_equal(const char *name, const uint8_t *got, const uint8_t *want,
                               size_t n, int tolerance)
{
    size_t over = 0, worst = 0;
    int max_difference = 0;
    for (size_t i = 0; i < n; i++) {
        int difference = abs((int)got[i] - (int)want[i]);
        if (difference > tolerance)
            over++;
        if (difference > max_difference) {
            max_difference = difference;
            worst = i;
        }
    }
    char report[512];
    snprintf(report, sizeof report,
             "%s: %zu bytes, max abs error %d (tolerance %d) at index %zu (got %d, want %d), "
             "%zu over tolerance",
             name, n, max_difference, tolerance, worst, got[worst], want[worst], over);
    printf("  %s\n", report);
    ck_assert_msg(over == 0, "%s", report);
}

/* Compares float32 bit patterns (so -0.0 differs from 0.0) after the usual
 * element-wise report. */
static void assert_floats_identical(const char *name, const float *got, const float *want,
                                    size_t n)
{
    ck_assert_tensor(name, got, want, n, 0.0, 0.0);
    size_t differing_bits = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
            differing_bits++;
    ck_assert_msg(differing_bits == 0, "%s: %zu of %zu floats differ in their bits", name,
                  differing_bits, n);
}

static void *resize_scratch(int in_width, int in_height, int out_width, int out_height)
{
    size_t size = bicubic_resize_scratch_size(in_width, in_height, out_width, out_height);
    return pg_xcalloc(size, 1, "bicubic resize scratch");
}

/* ---- golden fixtures ---------------------------------------------------- */

START_TEST(decode_matches_pillow_convert)
{
    const fixture *f = &FIXTURES[_i];
    if (!f->has_rgb)
        return;
    pg_error err;
    rgb_image image;
    ck_assert_msg(image_load_rgb(&image, fixture_file(f), &err) == 0, "%s", err.message);
    ck_assert_int_eq(image.width, f->width);
    ck_assert_int_eq(image.height, f->height);

    char name[128];
    npy_array want;
    snprintf(name, sizeof name, "%s_rgb", f->name);
    golden_load_u8(&want, name, f->height, f->width, 3);
    assert_bytes_equal(name, image.pixels, want.data, want.count, 0);
    npy_free(&want);
    rgb_image_free(&image);
}
END_TEST

START_TEST(resize_matches_pillow_bicubic)
{
    const fixture *f = &FIXTURES[_i];
    pg_error err;
    rgb_image image;
    ck_assert_msg(image_load_rgb(&image, fixture_file(f), &err) == 0, "%s", err.message);

    int size = f->image_size;
    uint8_t *resized = pg_xcalloc((size_t)size * size, 3, "resized image");
    void *scratch = resize_scratch(image.width, image.height, size, size);
    bicubic_resize(resized, image.pixels, image.width, image.height, size, size, scratch);

    char name[128];
    npy_array want;
    snprintf(name, sizeof name, "%s_resized", f->name);
    golden_load_u8(&want, name, size, size, 3);
    assert_bytes_equal(name, resized, want.data, want.count, 0);

    npy_free(&want);
    free(scratch);
    free(resized);
    rgb_image_free(&image);
}
END_TEST

START_TEST(pixel_values_match_siglip_processor)
{
    const fixture *f = &FIXTURES[_i];
    int size = f->image_size;
    float *pixel_values = pg_xcalloc((size_t)3 * size * size, sizeof(float), "pixel_values");
    pg_error err;
    ck_assert_msg(image_preprocess(fixture_file(f), size, pixel_values, &err) == 0, "%s",
                  err.message);

    char name[128];
    npy_array want;
    snprintf(name, sizeof name, "%s_pixel_values", f->name);
    golden_load_f32(&want, CHAPTER, name, 3, 3, size, size);
    assert_floats_identical(name, pixel_values, want.data, want.count);

    npy_free(&want);
    free(pixel_values);
}
END_TEST

/* A non-square output catches swapped output width and height, which the
 * square outputs of the pipeline cannot. */
START_TEST(resize_to_non_square_size)
{
    pg_error err;
    rgb_image image;
    ck_assert_msg(image_load_rgb(&image, fixture_path("noise_37x23.png"), &err) == 0, "%s",
                  err.message);
    uint8_t resized[45 * 19 * 3];
    void *scratch = resize_scratch(37, 23, 19, 45);
    bicubic_resize(resized, image.pixels, 37, 23, 19, 45, scratch);

    npy_array want;
    golden_load_u8(&want, "noise_37x23_to_19x45", 45, 19, 3);
    assert_bytes_equal("noise_37x23_to_19x45", resized, want.data, want.count, 0);
    npy_free(&want);
    free(scratch);
    rgb_image_free(&image);
}
END_TEST

/* Rescale and normalize of all 256 uint8 values: the table must give the
 * float32 that NumPy's float64 product rounds to. */
START_TEST(normalize_every_uint8_value)
{
    uint8_t image[16 * 16 * 3];
    for (int v = 0; v < 256; v++)
        for (int c = 0; c < 3; c++)
            image[v * 3 + c] = (uint8_t)v;
    float pixel_values[3 * 16 * 16];
    siglip_rescale_normalize(pixel_values, image, 16, 16);

    npy_array want;
    golden_load_f32(&want, CHAPTER, "every_value_pixel_values", 3, 3, 16, 16);
    assert_floats_identical("every_value_pixel_values", pixel_values, want.data, want.count);
    /* The ends of the range are exact. */
    ck_assert_float_eq(pixel_values[0], -1.0f);
    ck_assert_float_eq(pixel_values[255], 1.0f);
    npy_free(&want);
}
END_TEST

/* JPEG: stb_image's integer IDCT and Pillow's libjpeg-turbo differ in the
 * last bits, so only a tolerance can be checked. The fixture is smooth
 * (ramps plus noise of +-12), quality 90 without chroma subsampling; on it
 * the decoded pixels differ by at most 2 levels (measured with make test on
 * the 2-core dev machine). The tolerance of 3 levels allows for other
 * libjpeg builds, while a wrong color conversion or channel order is off
 * by tens of levels. */
START_TEST(jpeg_close_to_pillow_decoders_differ)
{
    pg_error err;
    rgb_image image;
    ck_assert_msg(image_load_rgb(&image, fixture_path("jpeg_64x48.jpg"), &err) == 0, "%s",
                  err.message);
    ck_assert_int_eq(image.width, 64);
    ck_assert_int_eq(image.height, 48);

    npy_array want;
    golden_load_u8(&want, "jpeg_64x48_rgb", 48, 64, 3);
    assert_bytes_equal("jpeg_64x48_rgb", image.pixels, want.data, want.count, 3);
    npy_free(&want);

    uint8_t resized[32 * 32 * 3];
    void *scratch = resize_scratch(64, 48, 32, 32);
    bicubic_resize(resized, image.pixels, 64, 48, 32, 32, scratch);
    golden_load_u8(&want, "jpeg_64x48_resized", 32, 32, 3);
    assert_bytes_equal("jpeg_64x48_resized", resized, want.data, want.count, 3);
    npy_free(&want);
    free(scratch);
    rgb_image_free(&image);
}
END_TEST

/* ---- errors ------------------------------------------------------------- */

#define ck_assert_message_contains(err, text)                                                     \
    ck_assert_msg(strstr((err).message, (text)) != NULL, "message \"%s\" lacks \"%s\"",          \
                  (err).message, (text))

START_TEST(missing_file_is_error)
{
    pg_error err;
    rgb_image image;
    ck_assert_int_eq(image_load_rgb(&image, "no/such/picture.png", &err), -1);
    ck_assert_message_contains(err, "cannot open no/such/picture.png");
    ck_assert_ptr_null(image.pixels);

    float pixel_values[3 * 4 * 4];
    ck_assert_int_eq(image_preprocess("no/such/picture.png", 4, pixel_values, &err), -1);
    ck_assert_message_contains(err, "no/such/picture.png");
}
END_TEST

START_TEST(not_an_image_is_error)
{
    pg_error err;
    rgb_image image;
    const char text[] = "caption en\n";
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)text, sizeof text - 1, "prompt.txt",
                                      &err),
                     -1);
    ck_assert_message_contains(err, "prompt.txt: not a supported image file");
    ck_assert_message_contains(err, "PNG, JPEG, BMP, GIF");

    /* An empty file. */
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)"", 0, "empty.png", &err), -1);
    ck_assert_message_contains(err, "empty.png: not a supported image file");

    /* BMP magic bytes followed by garbage. */
    const char bmp[] = "BMxxxxxx";
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)bmp, sizeof bmp - 1, "bad.bmp", &err),
                     -1);
    ck_assert_message_contains(err, "bad.bmp: invalid BMP header (stb_image: ");
}
END_TEST

/* A PNG cut short after its header: the header is fine, and the chunk that
 * runs past the end of the file is named before stb_image reads it. */
START_TEST(truncated_png_is_error)
{
    pg_error err;
    size_t size = 0;
    uint8_t *bytes = pg_read_file(fixture_path("noise_100x61.png"), &size, &err);
    ck_assert_msg(bytes != NULL, "%s", err.message);
    rgb_image image;
    ck_assert_int_eq(image_decode_rgb(&image, bytes, 200, "cut.png", &err), -1);
    ck_assert_message_contains(err, "cut.png: truncated PNG: chunk 'IDAT' at byte 33 declares 18372 bytes, "
                                    "but only 159 remain in the file");
    ck_assert_ptr_null(image.pixels);
    free(bytes);
}
END_TEST

/* The file declares 100000 x 100000 pixels (30 GB as RGB) and contains no
 * pixel data. It must be rejected from its header: had stb_image been asked
 * to decode it, the message would be a decode or allocation failure instead. */
START_TEST(huge_declared_size_rejected_before_decoding)
{
    pg_error err;
    rgb_image image;
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("huge_header.png"), &err), -1);
    ck_assert_message_contains(err, "huge_header.png: image too large: 100000 x 100000 pixels");
    ck_assert_message_contains(err, "at most 16384 pixels per side");

    /* 10000 x 10000 is within each side's limit but over the pixel limit. */
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("large_header.png"), &err), -1);
    ck_assert_message_contains(err, "large_header.png: image too large: 10000 x 10000 = 100000000 pixels");

    const char pnm[] = "P6\n100000 100000\n255\n";
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)pnm, sizeof pnm - 1, "huge.ppm",
                                      &err),
                     -1);
    ck_assert_message_contains(err, "huge.ppm: image too large: 100000 x 100000 pixels");
}
END_TEST

START_TEST(zero_width_is_error)
{
    pg_error err;
    rgb_image image;
    const char pnm[] = "P6\n0 5\n255\n";
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)pnm, sizeof pnm - 1, "zero.ppm",
                                      &err),
                     -1);
    ck_assert_message_contains(err, "zero.ppm: invalid image size 0 x 5");
}
END_TEST

START_TEST(size_limits)
{
    pg_error err;
    ck_assert_int_eq(image_check_size("a.png", 1, 1, &err), 0);
    ck_assert_int_eq(image_check_size("a.png", 16384, 4096, &err), 0); /* exactly 64 Mi pixels */
    ck_assert_int_eq(image_check_size("a.png", 8192, 8192, &err), 0);

    ck_assert_int_eq(image_check_size("a.png", 0, 5, &err), -1);
    ck_assert_message_contains(err, "a.png: invalid image size 0 x 5");
    ck_assert_int_eq(image_check_size("a.png", 5, 0, &err), -1);
    ck_assert_message_contains(err, "invalid image size 5 x 0");
    ck_assert_int_eq(image_check_size("a.png", -3, 5, &err), -1);
    ck_assert_message_contains(err, "invalid image size -3 x 5");

    ck_assert_int_eq(image_check_size("a.png", 16385, 1, &err), -1);
    ck_assert_message_contains(err, "image too large: 16385 x 1 pixels");
    ck_assert_int_eq(image_check_size("a.png", 1, 16385, &err), -1);
    ck_assert_message_contains(err, "image too large: 1 x 16385 pixels");
    ck_assert_int_eq(image_check_size("a.png", 8193, 8192, &err), -1);
    ck_assert_message_contains(err, "8193 x 8192 = 67117056 pixels, expected at most 67108864");
}
END_TEST

START_TEST(gray_16_bit_is_rejected)
{
    pg_error err;
    rgb_image image;
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("gray16_7x5.png"), &err), -1);
    ck_assert_message_contains(err, "gray16_7x5.png: 16-bit grayscale images are not supported");
    ck_assert_message_contains(err, "convert the image to 8 bits");
}
END_TEST

START_TEST(pnm_max_value_not_255_is_rejected)
{
    pg_error err;
    rgb_image image;
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("maxval_100.pgm"), &err), -1);
    ck_assert_message_contains(err, "maxval_100.pgm: unsupported PNM maxval 100, expected 255");
    /* The maxval comes after a comment line here. */
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("maxval_65535.ppm"), &err), -1);
    ck_assert_message_contains(err, "maxval_65535.ppm: unsupported PNM maxval 65535, expected 255");

    const char cut[] = "P6\n4 2\n";
    ck_assert_int_eq(image_decode_rgb(&image, (const uint8_t *)cut, sizeof cut - 1, "cut.ppm", &err),
                     -1);
    ck_assert_message_contains(err, "cut.ppm: invalid PNM header: cannot read its maxval field");
}
END_TEST

START_TEST(transparent_gif_is_rejected)
{
    pg_error err;
    rgb_image image;
    ck_assert_int_eq(image_load_rgb(&image, fixture_path("transparent_16x16.gif"), &err), -1);
    ck_assert_message_contains(err, "transparent_16x16.gif: GIF with transparent pixels in its first frame");
    ck_assert_message_contains(err, "save the image as PNG");
}
END_TEST

START_TEST(invalid_image_size_is_error)
{
    pg_error err;
    float pixel_values[3];
    ck_assert_int_eq(image_preprocess(fixture_path("noise_7x11.png"), 0, pixel_values, &err), -1);
    ck_assert_message_contains(err, "invalid image_size 0, expected 1 to 16384");
}
END_TEST

Suite *image_preprocessing_suite(void)
{
    Suite *s = suite_create("image_preprocessing");

    TCase *golden = tcase_create("golden");
    tcase_add_loop_test(golden, decode_matches_pillow_convert, 0, FIXTURE_COUNT);
    tcase_add_loop_test(golden, resize_matches_pillow_bicubic, 0, FIXTURE_COUNT);
    tcase_add_loop_test(golden, pixel_values_match_siglip_processor, 0, FIXTURE_COUNT);
    tcase_add_test(golden, resize_to_non_square_size);
    tcase_add_test(golden, normalize_every_uint8_value);
    tcase_add_test(golden, jpeg_close_to_pillow_decoders_differ);
    suite_add_tcase(s, golden);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, missing_file_is_error);
    tcase_add_test(errors, not_an_image_is_error);
    tcase_add_test(errors, truncated_png_is_error);
    tcase_add_test(errors, huge_declared_size_rejected_before_decoding);
    tcase_add_test(errors, zero_width_is_error);
    tcase_add_test(errors, size_limits);
    tcase_add_test(errors, gray_16_bit_is_rejected);
    tcase_add_test(errors, pnm_max_value_not_255_is_rejected);
    tcase_add_test(errors, transparent_gif_is_rejected);
    tcase_add_test(errors, invalid_image_size_is_error);
    suite_add_tcase(s, errors);
    return s;
}

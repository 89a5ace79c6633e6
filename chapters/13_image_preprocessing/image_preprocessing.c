/*
 * Chapter 13: image preprocessing. See image_preprocessing.h for the
 * pipeline and the shapes, and docs/13_image_preprocessing.md for why each
 * step is written the way it is.
 *
 * Python (golden/gen_13_image_preprocessing.py), after transformers'
 * SiglipImageProcessor with Pillow 9.4:
 *   image = Image.open(path).convert("RGB").resize((S, S), Image.BICUBIC)
 *   x = (np.asarray(image).astype(np.float64) * (1 / 255)).astype(np.float32)
 *   pixel_values = ((x - 0.5) / 0.5).transpose(2, 0, 1)
 */
#include "image_preprocessing.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "io.h"

/* ---- decoding ------------------------------------------------------------ */

/* Formats decoded here. stb_image reads a few more (TGA, PSD, HDR, PIC),
 * but their RGB values have not been compared with Pillow's. */
typedef enum {
    FORMAT_UNKNOWN,
    FORMAT_PNG,
    FORMAT_JPEG,
    FORMAT_BMP,
    FORMAT_GIF,
    FORMAT_PNM
} image_format;

static const char *const SUPPORTED_FORMATS =
    "PNG, JPEG, BMP, GIF and binary PNM (P5, P6)";

static const char *format_name(image_format format)
{
    static const char *const names[] = {"unknown", "PNG", "JPEG", "BMP", "GIF", "PNM"};
    return names[format];
}

static image_format detect_format(const uint8_t *bytes, size_t size)
{
    if (size >= 8 && memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0)
        return FORMAT_PNG;
    if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        return FORMAT_JPEG;
    if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M')
        return FORMAT_BMP;
    if (size >= 6 && (memcmp(bytes, "GIF87a", 6) == 0 || memcmp(bytes, "GIF89a", 6) == 0))
        return FORMAT_GIF;
    if (size >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6'))
        return FORMAT_PNM;
    return FORMAT_UNKNOWN;
}

/* Reads the maxval field of a binary PNM header ("P6 <width> <height>
 * <maxval>", separated by whitespace, with # comments to the end of a
 * line). Returns -1 when the header is cut short or malformed. */
static long pnm_max_value(const uint8_t *bytes, size_t size)
{
    size_t i = 2;
    long value = -1;

    /* Skip to the third number after the magic, then parse it. */
    for (int field = 0; field < 3; field++) {
        while (i < size && (bytes[i] == ' ' || bytes[i] == '\t' || bytes[i] == '\n' ||
                            bytes[i] == '\r' || bytes[i] == '#')) {
            if (bytes[i] == '#') {
                while (i < size && bytes[i] != '\n')
                    i++;
            } else {
                i++;
            }
        }
        if (i >= size || bytes[i] < '0' || bytes[i] > '9')
            return -1;
        value = 0;
        while (i < size && bytes[i] >= '0' && bytes[i] <= '9') {
            if (value < 1000000)
                value = value * 10 + (bytes[i] - '0');
            i++;
        }
    }
    return value;
}

/* Reads the size from a PNG's IHDR chunk, which always comes first.
 * stbi_info rejects a PNG over its own limit (2^30 bytes of pixels) with the
 * reason of the last format it tried ("unknown image type"), so a huge PNG
 * is caught here, with its size in the message. Returns 0 when the header
 * is cut short or has no IHDR. */
static int read_png_size(const uint8_t *bytes, size_t size, long *width, long *height)
{
    if (size < 24 || memcmp(bytes + 12, "IHDR", 4) != 0)
        return 0;
    *width = (long)bytes[16] << 24 | (long)bytes[17] << 16 | (long)bytes[18] << 8 | bytes[19];
    *height = (long)bytes[20] << 24 | (long)bytes[21] << 16 | (long)bytes[22] << 8 | bytes[23];
    return 1;
}

/* Checks that every PNG chunk fits in the file before stb_image reads it.
 * stb_image 2.27 grows its buffer to an IDAT chunk's declared length (up to
 * 2^31 bytes) before it reads the chunk, so a 100-byte file could make it
 * allocate 2 GiB. A chunk is a 4-byte big-endian length, a 4-byte type, the
 * data and a 4-byte CRC; the walk stops at IEND, as stb_image does. */
static int check_png_chunks(const uint8_t *bytes, size_t size, const char *name, pg_error *err)
{
    size_t i = 8; /* after the signature */
    while (i + 8 <= size) {
        size_t length = (size_t)bytes[i] << 24 | (size_t)bytes[i + 1] << 16 | (size_t)bytes[i + 2] << 8 | bytes[i + 3];
        const uint8_t *type = bytes + i + 4;
        size_t left = size - (i + 8);
        if (length > left)
            return pg_error_set(err, "%s: truncated PNG: chunk '%c%c%c%c' at byte %zu declares %zu bytes, but "
                                "only %zu remain in the file", name, type[0], type[1], type[2], type[3], i, length,
                                left);
        if (memcmp(type, "IEND", 4) == 0)
            break;
        i += 12 + length;
    }
    return 0;
}

/* The byte at bytes[i], or 0 past the end, as stb_image reads a short file. */
static uint8_t byte_or_zero(const uint8_t *bytes, size_t size, size_t i)
{
    return i < size ? bytes[i] : 0;
}

/* Checks every Huffman table of a JPEG before stb_image reads it. stb_image
 * 2.27 (Debian 12's libstb) copies a table's 16 code counts into arrays of
 * 256 symbols without checking their sum, so a corrupt DHT segment whose
 * counts add up to more than 256 writes past those arrays. The walk follows
 * the marker segments by their lengths, as the JPEG standard lays them out
 * and as stb_image reads them; inside entropy-coded data only 0xFF followed
 * by a marker code starts a segment. */
static int check_jpeg_huffman_tables(const uint8_t *bytes, size_t size, const char *name, pg_error *err)
{
    size_t i = 2; /* after SOI */
    while (i + 1 < size) {
        /* Entropy-coded data, fill bytes, and markers without a length. */
        uint8_t marker = bytes[i + 1];
        if (bytes[i] != 0xFF || marker == 0xFF) {
            i++;
            continue;
        }
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
            i += 2;
            continue;
        }
        if (marker == 0xD9) /* EOI: stb_image stops here */
            break;

        /* A segment: marker, 2-byte big-endian length (itself included), payload. */
        size_t length = (size_t)byte_or_zero(bytes, size, i + 2) << 8 | byte_or_zero(bytes, size, i + 3);
        if (marker == 0xC4) {
            /* DHT: tables of (class and id, 16 counts, the symbols), read
             * for as long as the declared length lasts, as stb_image does. */
            long left = (long)length - 2;
            size_t p = i + 4;
            while (left > 0) {
                size_t codes = 0;
                for (size_t k = 1; k <= 16; k++)
                    codes += byte_or_zero(bytes, size, p + k);
                if (codes > 256)
                    return pg_error_set(err, "%s: invalid JPEG: the Huffman table (DHT segment) at byte %zu "
                                        "has %zu codes, expected at most 256; the file is corrupt",
                                        name, i, codes);
                p += 17 + codes;
                left -= 17 + (long)codes;
            }
        }
        i += 2 + length;
    }
    return 0;
}

int image_check_size(const char *name, int width, int height, pg_error *err)
{
    if (width <= 0 || height <= 0)
        return pg_error_set(err,
                            "%s: invalid image size %d x %d: width and height must be at least 1; "
                            "the file is corrupt",
                            name, width, height);
    if (width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE)
        return pg_error_set(err,
                            "%s: image too large: %d x %d pixels, expected at most %d pixels per side; "
                            "downscale it first",
                            name, width, height, IMAGE_MAX_SIDE);
    if ((long)width * height > IMAGE_MAX_PIXELS)
        return pg_error_set(err,
                            "%s: image too large: %d x %d = %ld pixels, expected at most %ld; "
                            "downscale it first",
                            name, width, height, (long)width * height, IMAGE_MAX_PIXELS);
    return 0;
}

/* Rejects the inputs whose stb_image RGB values would differ from what
 * Pillow 9.4's convert("RGB") gives. */
static int check_pillow_agrees(const uint8_t *bytes, size_t size, const char *name,
                               image_format format, int channels, pg_error *err)
{
    /* Pillow scales PNM samples by 255 / maxval, rounding, and stb_image
     * does not: for maxval 100 it keeps the raw sample, and for 16-bit
     * samples (maxval over 255) it keeps the low byte. */
    if (format == FORMAT_PNM) {
        long max_value = pnm_max_value(bytes, size);
        if (max_value < 0)
            return pg_error_set(err, "%s: invalid PNM header: cannot read its maxval field", name);
        if (max_value != 255)
            return pg_error_set(err,
                                "%s: unsupported PNM maxval %ld, expected 255 (Pillow rescales "
                                "other maxvals, stb_image does not); save the image as PNG",
                                name, max_value);
    }

    /* Pillow opens 16-bit grayscale PNG as mode "I" and its
     * convert("RGB") clips each value to 255 (so 0x1234 becomes 255), where
     * stb_image keeps the high byte (0x12). */
    int is_16_bit = stbi_is_16_bit_from_memory(bytes, (int)size);
    if (is_16_bit && channels == 1)
        return pg_error_set(err,
                            "%s: 16-bit grayscale images are not supported, because Pillow 9.4 clips "
                            "their values to 255 instead of scaling them; convert the image to "
                            "8 bits per sample first",
                            name);

    return 0;
}

/* Rewrites a GIF frame decoded as [height, width, 4] into [height, width, 3]
 * in place. stb_image gives a transparent GIF pixel (and any part of the
 * screen the first frame does not cover) as 0, 0, 0 with alpha 0, where
 * Pillow gives the palette color, so such a GIF is rejected. */
static int gif_to_rgb(uint8_t *pixels, int width, int height, const char *name, pg_error *err)
{
    size_t count = (size_t)width * height;
    for (size_t i = 0; i < count; i++)
        if (pixels[i * 4 + 3] != 255)
            return pg_error_set(err,
                                "%s: GIF with transparent pixels in its first frame (the first at "
                                "x %zu, y %zu) is not supported, because stb_image makes them black "
                                "where Pillow keeps their palette color; save the image as PNG",
                                name, i % (size_t)width, i / (size_t)width);

    /* Drop alpha; the write position never passes the read position. */
    for (size_t i = 0; i < count; i++)
        for (int c = 0; c < 3; c++)
            pixels[i * 3 + c] = pixels[i * 4 + c];
    return 0;
}

int image_decode_rgb(rgb_image *image, const uint8_t *bytes, size_t size, const char *name,
                     pg_error *err)
{
    memset(image, 0, sizeof *image);

    /* Detect the format from the magic bytes. */
    image_format format = detect_format(bytes, size);
    if (format == FORMAT_UNKNOWN)
        return pg_error_set(err, "%s: not a supported image file (the first bytes match none of %s)",
                            name, SUPPORTED_FORMATS);
    if (size > INT_MAX)
        return pg_error_set(err, "%s: file of %zu bytes is too large for stb_image (at most %d)",
                            name, size, INT_MAX);

    /* Guard stb_image's JPEG reader against corrupt Huffman tables, and
     * its PNG reader against chunk lengths past the end of the file. */
    if (format == FORMAT_JPEG && check_jpeg_huffman_tables(bytes, size, name, err) != 0)
        return -1;
    if (format == FORMAT_PNG && check_png_chunks(bytes, size, name, err) != 0)
        return -1;

    /* Read the size from the header, and check it before anything is allocated. */
    long png_width = 0, png_height = 0;
    if (format == FORMAT_PNG && read_png_size(bytes, size, &png_width, &png_height) &&
        image_check_size(name, png_width > INT_MAX ? INT_MAX : (int)png_width,
                         png_height > INT_MAX ? INT_MAX : (int)png_height, err) != 0)
        return -1;
    /* stbi_info tries every format in turn, so its reason may come from
     * another format than the one the magic bytes name. */
    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_memory(bytes, (int)size, &width, &height, &channels))
        return pg_error_set(err, "%s: invalid %s header (stb_image: %s); the file is corrupt",
                            name, format_name(format), stbi_failure_reason());
    if (image_check_size(name, width, height, err) != 0)
        return -1;
    if (check_pillow_agrees(bytes, size, name, format, channels, err) != 0)
        return -1;

    /* Decode to 3 channels: stb_image copies gray into R, G and B and
     * drops alpha, as Pillow's convert("RGB") does. A GIF gives its first
     * frame, with alpha, which gif_to_rgb checks and drops. */
    int decoded_width = 0, decoded_height = 0, file_channels = 0;
    int channels_requested = format == FORMAT_GIF ? 4 : 3;
    uint8_t *pixels = stbi_load_from_memory(bytes, (int)size, &decoded_width, &decoded_height,
                                            &file_channels, channels_requested);
    if (pixels == NULL)
        return pg_error_set(err, "%s: cannot decode the image: %s (stb_image)", name,
                            stbi_failure_reason());
    if (decoded_width != width || decoded_height != height) {
        stbi_image_free(pixels);
        return pg_error_set(err, "%s: decoded size %d x %d differs from the header's %d x %d",
                            name, decoded_width, decoded_height, width, height);
    }
    if (format == FORMAT_GIF && gif_to_rgb(pixels, width, height, name, err) != 0) {
        stbi_image_free(pixels);
        return -1;
    }

    image->pixels = pixels;
    image->width = width;
    image->height = height;
    return 0;
}

int image_load_rgb(rgb_image *image, const char *path, pg_error *err)
{
    memset(image, 0, sizeof *image);
    size_t size = 0;
    uint8_t *bytes = pg_read_file(path, &size, err);
    if (bytes == NULL)
        return -1;
    int status = image_decode_rgb(image, bytes, size, path, err);
    free(bytes);
    return status;
}

void rgb_image_free(rgb_image *image)
{
    /* The pixels come from stbi_load_from_memory, whose allocator is malloc. */
    stbi_image_free(image->pixels);
    memset(image, 0, sizeof *image);
}

/* ---- Pillow's bicubic resampling ------------------------------------------ */

/* Fixed-point fraction bits of the coefficients: 32 bits, minus 8 for the
 * pixel value, minus 2 because the sum of a kernel's positive weights can
 * exceed 1 and the sum can go negative. */
#define PRECISION_BITS (32 - 8 - 2)

/* The cubic convolution kernel (Keys) with a = -0.5, support 2. The
 * polynomials are evaluated in this Horner order because that is Pillow's
 * order: another order changes the last bits of the double, which can flip
 * the rounding of a fixed-point coefficient. */
static double bicubic_filter(double x)
{
    /* BEGIN SOLUTION: bicubic_filter, docs/13_image_preprocessing.md "Step 2: Pillow's bicubic resize"
     * Student placeholder:
     *     (void)x;
     *     return 0.0;
     */
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
    /* END SOLUTION */
}

/* Widening of the kernel: when shrinking, the kernel is stretched by
 * in_size / out_size, so that every input pixel contributes (antialiasing). */
static double filter_scale(int in_size, int out_size)
{
    double scale = (double)in_size / out_size;
    return scale < 1.0 ? 1.0 : scale;
}

/* The maximum number of input pixels one output pixel reads: 2 * ceil(support) + 1. */
static int kernel_size(int in_size, int out_size)
{
    double support = 2.0 * filter_scale(in_size, out_size);
    return (int)ceil(support) * 2 + 1;
}

/* Computes, for each of the out_size output pixels along one axis, the first
 * input pixel it reads (bounds[2i]), how many it reads (bounds[2i + 1]), and
 * their fixed-point weights coefficients[i * ksize + j] (zero past the count).
 * All the arithmetic is Pillow's, in double, in Pillow's order. */
static void bicubic_coefficients(int32_t *coefficients, int *bounds, int in_size, int out_size,
                                 int ksize)
{
    /* BEGIN SOLUTION: bicubic_coefficients, docs/13_image_preprocessing.md "Step 2: Pillow's bicubic resize"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)out_size * ksize; i++)
     *         coefficients[i] = 0;
     *     for (size_t i = 0; i < 2 * (size_t)out_size; i++)
     *         bounds[i] = 0;
     *     (void)in_size; (void)bicubic_filter;
     */
    double scale = (double)in_size / out_size;
    double filterscale = filter_scale(in_size, out_size);
    double support = 2.0 * filterscale;
    /* Pillow multiplies by this reciprocal. Dividing by filterscale instead
     * changed no byte of the test fixtures, but can change a weight's last bit. */
    double inverse_filterscale = 1.0 / filterscale;

    for (int i = 0; i < out_size; i++) {
        /* The output pixel's center in input coordinates (pixel centers at +0.5). */
        double center = (i + 0.5) * scale;

        /* Input pixels in [center - support, center + support), rounded to
         * the nearest pixel edge and clipped to the image. The cast truncates
         * toward zero, as Pillow's does. The clip to 0 makes that harmless. */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        int count = xmax - xmin;

        /* Sum of the kernel weights at the input pixel centers. The weights
         * are computed again below rather than stored: the same expression
         * gives the same double. */
        double sum = 0.0;
        for (int j = 0; j < count; j++)
            sum += bicubic_filter((j + xmin - center + 0.5) * inverse_filterscale);

        /* Normalize to sum 1 (near the borders the window is cut short), then
         * convert to fixed point, rounding half away from zero. */
        for (int j = 0; j < ksize; j++) {
            double weight = 0.0;
            if (j < count) {
                weight = bicubic_filter((j + xmin - center + 0.5) * inverse_filterscale);
                if (sum != 0.0)
                    weight /= sum;
            }
            double fixed = weight * (1 << PRECISION_BITS);
            coefficients[(size_t)i * ksize + j] = (int32_t)(fixed < 0.0 ? fixed - 0.5 : fixed + 0.5);
        }
        bounds[2 * i] = xmin;
        bounds[2 * i + 1] = count;
    }
    /* END SOLUTION */
}

/* Rounds a fixed-point sum (which already contains the 0.5 bias) to a pixel value. */
static uint8_t clip_to_uint8(int32_t sum)
{
    if (sum < 0)
        return 0;
    int32_t value = sum >> PRECISION_BITS;
    return value > 255 ? 255 : (uint8_t)value;
}

/* Byte offsets of the parts of the scratch buffer, int32 parts first. */
typedef struct {
    int ksize_horizontal, ksize_vertical;
    size_t coefficients_horizontal, bounds_horizontal;
    size_t coefficients_vertical, bounds_vertical;
    size_t intermediate, total;
} scratch_layout;

static scratch_layout plan_scratch(int in_width, int in_height, int out_width, int out_height)
{
    scratch_layout layout;
    layout.ksize_horizontal = kernel_size(in_width, out_width);
    layout.ksize_vertical = kernel_size(in_height, out_height);
    layout.coefficients_horizontal = 0;
    layout.bounds_horizontal = layout.coefficients_horizontal +
                               sizeof(int32_t) * (size_t)out_width * layout.ksize_horizontal;
    layout.coefficients_vertical = layout.bounds_horizontal + sizeof(int) * 2 * (size_t)out_width;
    layout.bounds_vertical = layout.coefficients_vertical +
                             sizeof(int32_t) * (size_t)out_height * layout.ksize_vertical;
    layout.intermediate = layout.bounds_vertical + sizeof(int) * 2 * (size_t)out_height;
    /* At most every input row goes through the horizontal pass. */
    layout.total = layout.intermediate + (size_t)in_height * out_width * 3;
    return layout;
}

size_t bicubic_resize_scratch_size(int in_width, int in_height, int out_width, int out_height)
{
    return plan_scratch(in_width, in_height, out_width, out_height).total;
}

/* One pass along x: rows [first_row, first_row + rows) of in (width
 * in_width) become rows [0, rows) of out (width out_width). */
static void resample_horizontal(uint8_t *out, const uint8_t *in, int in_width, int out_width,
                                int first_row, int rows, const int32_t *coefficients,
                                const int *bounds, int ksize)
{
    /* BEGIN SOLUTION: resample_horizontal, docs/13_image_preprocessing.md "Step 2: Pillow's bicubic resize"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)rows * out_width * 3; i++)
     *         out[i] = 0;
     *     (void)in; (void)in_width; (void)first_row; (void)coefficients; (void)bounds; (void)ksize; (void)clip_to_uint8;
     */
    for (int y = 0; y < rows; y++) {
        const uint8_t *in_row = in + (size_t)(first_row + y) * in_width * 3;
        uint8_t *out_row = out + (size_t)y * out_width * 3;
        for (int x = 0; x < out_width; x++) {
            const int32_t *k = coefficients + (size_t)x * ksize;
            int xmin = bounds[2 * x], count = bounds[2 * x + 1];
            for (int c = 0; c < 3; c++) {
                /* Start at one half so that the final shift rounds to nearest. */
                int32_t sum = 1 << (PRECISION_BITS - 1);
                for (int j = 0; j < count; j++)
                    sum += in_row[(size_t)(xmin + j) * 3 + c] * k[j];
                out_row[(size_t)x * 3 + c] = clip_to_uint8(sum);
            }
        }
    }
    /* END SOLUTION */
}

/* One pass along y: out row y reads in rows bounds[2y] .. + bounds[2y + 1]. */
static void resample_vertical(uint8_t *out, const uint8_t *in, int width, int out_height,
                              const int32_t *coefficients, const int *bounds, int ksize)
{
    /* BEGIN SOLUTION: resample_vertical, docs/13_image_preprocessing.md "Step 2: Pillow's bicubic resize"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)out_height * width * 3; i++)
     *         out[i] = 0;
     *     (void)in; (void)coefficients; (void)bounds; (void)ksize; (void)clip_to_uint8;
     */
    for (int y = 0; y < out_height; y++) {
        const int32_t *k = coefficients + (size_t)y * ksize;
        int ymin = bounds[2 * y], count = bounds[2 * y + 1];
        for (int x = 0; x < width; x++) {
            for (int c = 0; c < 3; c++) {
                int32_t sum = 1 << (PRECISION_BITS - 1);
                for (int j = 0; j < count; j++)
                    sum += in[((size_t)(ymin + j) * width + x) * 3 + c] * k[j];
                out[((size_t)y * width + x) * 3 + c] = clip_to_uint8(sum);
            }
        }
    }
    /* END SOLUTION */
}

void bicubic_resize(uint8_t *out, const uint8_t *in, int in_width, int in_height,
                    int out_width, int out_height, void *scratch)
{
    scratch_layout layout = plan_scratch(in_width, in_height, out_width, out_height);
    uint8_t *base = scratch;
    int32_t *coefficients_horizontal = (int32_t *)(base + layout.coefficients_horizontal);
    int *bounds_horizontal = (int *)(base + layout.bounds_horizontal);
    int32_t *coefficients_vertical = (int32_t *)(base + layout.coefficients_vertical);
    int *bounds_vertical = (int *)(base + layout.bounds_vertical);
    uint8_t *intermediate = base + layout.intermediate;

    /* A pass runs only when its dimension changes; Pillow then copies. */
    int need_horizontal = out_width != in_width;
    int need_vertical = out_height != in_height;

    /* Vertical weights first, because they determine which input rows the output needs. */
    bicubic_coefficients(coefficients_vertical, bounds_vertical, in_height, out_height,
                         layout.ksize_vertical);
    int first_row = bounds_vertical[0];
    int end_row = bounds_vertical[2 * (out_height - 1)] + bounds_vertical[2 * (out_height - 1) + 1];

    /* Horizontal pass over the needed rows only, into a uint8 intermediate:
     * Pillow rounds and clips between the passes. */
    const uint8_t *vertical_input = in;
    int vertical_width = in_width;
    if (need_horizontal) {
        bicubic_coefficients(coefficients_horizontal, bounds_horizontal, in_width, out_width,
                             layout.ksize_horizontal);
        uint8_t *horizontal_output = need_vertical ? intermediate : out;
        resample_horizontal(horizontal_output, in, in_width, out_width, first_row,
                            end_row - first_row, coefficients_horizontal, bounds_horizontal,
                            layout.ksize_horizontal);
        /* The intermediate's row 0 is input row first_row. */
        for (int y = 0; y < out_height; y++)
            bounds_vertical[2 * y] -= first_row;
        vertical_input = horizontal_output;
        vertical_width = out_width;
    }

    /* Vertical pass. */
    if (need_vertical)
        resample_vertical(out, vertical_input, vertical_width, out_height, coefficients_vertical,
                          bounds_vertical, layout.ksize_vertical);

    /* Neither pass: the output is a copy. */
    if (!need_horizontal && !need_vertical)
        memcpy(out, in, (size_t)in_width * in_height * 3);
}

/* ---- rescale and normalize ------------------------------------------------ */

void siglip_rescale_normalize(float *pixel_values, const uint8_t *image, int height, int width)
{
    /* rescale: numpy multiplies the uint8 value by the Python float 1/255 in
     * float64, then casts to float32. Only 256 inputs exist, so a table made
     * the same way gives the same float32 bits. */
    float rescaled[256];
    for (int v = 0; v < 256; v++)
        rescaled[v] = (float)((double)v * (1.0 / 255.0));

    /* normalize in float32, then write channel c of pixel (y, x) at [c, y, x]. */
    const float mean = 0.5f, std = 0.5f;
    size_t plane = (size_t)height * width;
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            for (int c = 0; c < 3; c++) {
                float value = rescaled[image[((size_t)y * width + x) * 3 + c]];
                pixel_values[c * plane + (size_t)y * width + x] = (value - mean) / std;
            }
        }
    }
}

/* ---- the whole pipeline --------------------------------------------------- */

int image_preprocess(const char *path, int image_size, float *pixel_values, pg_error *err)
{
    if (image_size < 1 || image_size > IMAGE_MAX_SIDE)
        return pg_error_set(err, "invalid image_size %d, expected 1 to %d", image_size,
                            IMAGE_MAX_SIDE);

    rgb_image image;
    if (image_load_rgb(&image, path, err) != 0)
        return -1;

    size_t scratch_size =
        bicubic_resize_scratch_size(image.width, image.height, image_size, image_size);
    void *scratch = pg_calloc(scratch_size, 1, "bicubic resize scratch", err);
    uint8_t *resized =
        pg_calloc((size_t)image_size * image_size, 3, "resized image", err);
    if (scratch == NULL || resized == NULL) {
        free(scratch);
        free(resized);
        rgb_image_free(&image);
        return -1;
    }

    bicubic_resize(resized, image.pixels, image.width, image.height, image_size, image_size,
                   scratch);
    siglip_rescale_normalize(pixel_values, resized, image_size, image_size);

    free(scratch);
    free(resized);
    rgb_image_free(&image);
    return 0;
}

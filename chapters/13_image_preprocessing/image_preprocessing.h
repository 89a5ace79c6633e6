/*
 * Chapter 13: image preprocessing, from an image file to pixel_values.
 * Read it before chapter 9: the vision tower consumes what this produces.
 *
 * Mirrors the Hugging Face pipeline of SiglipImageProcessor (transformers
 * 4.42 to 4.48) as PaliGemma's processor runs it on a PIL image:
 *   image = PIL.Image.open(path).convert("RGB")
 *   image = image.resize((image_size, image_size), Image.BICUBIC)
 *   x = np.asarray(image).astype(np.float64) * (1 / 255)   # rescale
 *   x = x.astype(np.float32)
 *   x = (x - 0.5) / 0.5                                    # normalize, float32
 *   pixel_values = x.transpose(2, 0, 1)                    # channels first
 * The resize is straight to a square (no crop, aspect ratio not kept).
 *
 * Shapes (image shapes are spelled out: they have no letter in common/dims.h):
 *   rgb image       [height, width, 3]            uint8, row-major, R G B
 *   resized         [image_size, image_size, 3]   uint8
 *   pixel_values    [3, image_size, image_size]   float32, each value in [-1, 1]
 * image_size is 224 for paligemma-3b-pt-224.
 *
 * Decoding uses stb_image (Debian's libstb). Only these formats are
 * accepted, because they are the ones whose RGB values were checked to
 * equal Pillow 9.4's: PNG (8-bit, and 16-bit except grayscale), BMP,
 * GIF (first frame, without transparency), binary PNM (P5 and P6 with
 * maxval 255), and JPEG, whose decoders differ from Pillow's
 * libjpeg in the last bits.
 */
#ifndef PG_IMAGE_PREPROCESSING_H
#define PG_IMAGE_PREPROCESSING_H

#include <stddef.h>
#include <stdint.h>

#include "pg_error.h"

/* Limits checked on the size declared in the file header, before any pixel
 * is decoded: at most 16384 pixels per side and 64 Mi pixels in all (a
 * 64 Mi pixel RGB image needs 192 MiB). Larger images are rejected. */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS (64L * 1024 * 1024)

/* A decoded image: pixels is [height, width, 3] uint8, owned by the struct. */
typedef struct {
    uint8_t *pixels;
    int width;
    int height;
} rgb_image;

/* Checks width and height, as declared by the image file `name`, against
 * 1..IMAGE_MAX_SIDE per side and IMAGE_MAX_PIXELS in all. Returns 0, or -1
 * with a message that names the file, the size and the limit. */
int image_check_size(const char *name, int width, int height, pg_error *err);

/* Decodes a whole image file held in memory into RGB, converting grayscale,
 * grayscale + alpha, palette and RGBA the way Pillow's convert("RGB") does:
 * gray is copied to R, G and B, and alpha is dropped, not composited.
 * `name` is the file name used in messages. The header's size is checked
 * with image_check_size before decoding. Free the result with rgb_image_free. */
int image_decode_rgb(rgb_image *image, const uint8_t *bytes, size_t size, const char *name,
                     pg_error *err);

/* Reads the file at path and decodes it with image_decode_rgb. */
int image_load_rgb(rgb_image *image, const char *path, pg_error *err);

/* Frees the pixels and zeroes the struct. Safe on a zeroed struct. */
void rgb_image_free(rgb_image *image);

/* Bytes of scratch that bicubic_resize needs for these sizes. */
size_t bicubic_resize_scratch_size(int in_width, int in_height, int out_width, int out_height);

/* Resizes an RGB image with Pillow's BICUBIC filter (Image.resize with
 * Image.BICUBIC, Pillow 9.4), reproducing its 8-bit fixed-point arithmetic
 * exactly: the result equals Pillow's byte for byte.
 *   out      [out_height, out_width, 3] uint8
 *   in       [in_height, in_width, 3]   uint8
 *   scratch  bicubic_resize_scratch_size(...) bytes, any alignment that
 *            malloc returns
 * All sizes must be at least 1. */
void bicubic_resize(uint8_t *out, const uint8_t *in, int in_width, int in_height,
                    int out_width, int out_height, void *scratch);

/* SiglipImageProcessor's rescale (times 1/255, rounded from float64 to
 * float32) and normalize ((x - 0.5) / 0.5 in float32, mean = std = 0.5),
 * written channels first.
 *   pixel_values  [3, height, width] float32
 *   image         [height, width, 3] uint8 */
void siglip_rescale_normalize(float *pixel_values, const uint8_t *image, int height, int width);

/* The whole pipeline: load path, convert to RGB, resize to image_size x
 * image_size, rescale and normalize into pixel_values [3, image_size,
 * image_size]. Allocates and frees its own temporary buffers. Returns 0,
 * or -1 with err filled (missing file, unsupported format, size limits,
 * out of memory). */
int image_preprocess(const char *path, int image_size, float *pixel_values, pg_error *err);

#endif

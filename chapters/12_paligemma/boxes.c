/*
 * boxes.c - parse PaliGemma's detection answers and draw the boxes on the image.
 *
 * Parsing mirrors what the PaliGemma demos do with a "detect ..." answer:
 * split on ";", read four <locNNNN> tokens (y_min, x_min, y_max, x_max),
 * keep the rest as the label. Drawing uses stb_image to read the input,
 * stb_easy_font's segment glyphs for the labels and stb_image_write for the PNG.
 */
#include "12_paligemma/boxes.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

/* stb_easy_font is header-only with static functions (this file uses two) and
 * brace styles that -Wall flags; its warnings are silenced here only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#define NUM_LOCATION_BINS 1024

/* Colors of successive boxes: saturated, and distinct from each other. */
static const unsigned char BOX_COLORS[][3] = {
    {255, 0, 255}, {0, 255, 255}, {255, 255, 0}, {255, 64, 0}, {0, 255, 64}, {64, 64, 255},
};

/* Reads "<locNNNN>" at text; stores the bin and returns 1, or returns 0. */
static int read_location(const char *text, int *bin)
{
    if (strncmp(text, "<loc", 4) != 0)
        return 0;
    int value = 0;
    for (int i = 4; i < 8; i++) {
        if (!isdigit((unsigned char)text[i]))
            return 0;
        value = value * 10 + (text[i] - '0');
    }
    if (text[8] != '>' || value >= NUM_LOCATION_BINS)
        return 0;
    *bin = value;
    return 1;
}

int paligemma_parse_boxes(const char *text, paligemma_box *boxes, int max_boxes)
{
    int count = 0;
    const char *cursor = text;
    while (*cursor && count < max_boxes) {
        /* Four location tokens in a row start an object. */
        int bins[4];
        int found = 0;
        while (found < 4 && read_location(cursor + 9 * found, &bins[found]))
            found++;
        if (found < 4) {
            cursor++;
            continue;
        }
        cursor += 36;

        /* The label runs to the next ";" or location token, without the spaces around it. */
        const char *end = cursor;
        while (*end && *end != ';' && strncmp(end, "<loc", 4) != 0)
            end++;
        const char *start = cursor;
        while (start < end && isspace((unsigned char)*start))
            start++;
        const char *stop = end;
        while (stop > start && isspace((unsigned char)stop[-1]))
            stop--;
        size_t length = (size_t)(stop - start);
        if (length >= PALIGEMMA_BOX_LABEL_SIZE)
            length = PALIGEMMA_BOX_LABEL_SIZE - 1;

        paligemma_box *box = &boxes[count++];
        box->y_min = bins[0];
        box->x_min = bins[1];
        box->y_max = bins[2];
        box->x_max = bins[3];
        memcpy(box->label, start, length);
        box->label[length] = '\0';
        cursor = end;
    }
    return count;
}

/* Fills the pixels of [x0, x1) x [y0, y1), clipped to the image, with color. */
static void fill_rectangle(unsigned char *rgb, int width, int height, int x0, int y0, int x1, int y1,
                           const unsigned char color[3])
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > width) x1 = width;
    if (y1 > height) y1 = height;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            memcpy(&rgb[3 * ((size_t)y * width + x)], color, 3);
}

/* Draws text with its top-left corner at (x, y), each font unit `scale` pixels. */
static void draw_text(unsigned char *rgb, int width, int height, int x, int y, int scale, const char *text,
                      const unsigned char color[3])
{
    /* stb_easy_font indexes its glyph table by character - 32: keep printable ASCII only. */
    char printable[PALIGEMMA_BOX_LABEL_SIZE];
    size_t n = 0;
    for (; text[n] && n + 1 < sizeof printable; n++)
        printable[n] = (text[n] >= 32 && text[n] < 127) ? text[n] : '?';
    printable[n] = '\0';

    /* Each quad is 4 vertices of 16 bytes (x, y, z floats and a color); about 270 bytes a character. */
    static char vertices[PALIGEMMA_BOX_LABEL_SIZE * 300];
    int num_quads = stb_easy_font_print(0, 0, printable, NULL, vertices, sizeof vertices);
    for (int q = 0; q < num_quads; q++) {
        float corner[4][2];
        for (int v = 0; v < 4; v++)
            memcpy(corner[v], &vertices[(4 * q + v) * 16], 2 * sizeof(float));
        /* The quads are axis-aligned: vertex 0 is the top-left corner, vertex 2 the bottom-right. */
        fill_rectangle(rgb, width, height, x + (int)corner[0][0] * scale, y + (int)corner[0][1] * scale,
                       x + (int)corner[2][0] * scale, y + (int)corner[2][1] * scale, color);
    }
}

int paligemma_draw_boxes(const char *image_path, const paligemma_box *boxes, int num_boxes, const char *out_path,
                         pg_error *err)
{
    int width, height, channels;
    unsigned char *rgb = stbi_load(image_path, &width, &height, &channels, 3);
    if (rgb == NULL)
        return pg_error_set(err, "%s: cannot read the image to draw boxes on (%s)", image_path,
                            stbi_failure_reason());

    /* A frame 2 pixels wide on small images, thicker on large ones; labels at the same scale. */
    int thickness = 2 + (width > height ? width : height) / 400;
    int scale = 1 + (width > height ? width : height) / 300;
    static const unsigned char black[3] = {0, 0, 0};
    for (int i = 0; i < num_boxes; i++) {
        const paligemma_box *box = &boxes[i];
        const unsigned char *color = BOX_COLORS[i % (int)(sizeof BOX_COLORS / sizeof BOX_COLORS[0])];

        /* Location bins to pixels: bin / 1023 * side. */
        int x0 = (int)((double)box->x_min / (NUM_LOCATION_BINS - 1) * width + 0.5);
        int y0 = (int)((double)box->y_min / (NUM_LOCATION_BINS - 1) * height + 0.5);
        int x1 = (int)((double)box->x_max / (NUM_LOCATION_BINS - 1) * width + 0.5);
        int y1 = (int)((double)box->y_max / (NUM_LOCATION_BINS - 1) * height + 0.5);

        /* The frame: four bars inside the box. */
        fill_rectangle(rgb, width, height, x0, y0, x1, y0 + thickness, color);
        fill_rectangle(rgb, width, height, x0, y1 - thickness, x1, y1, color);
        fill_rectangle(rgb, width, height, x0, y0, x0 + thickness, y1, color);
        fill_rectangle(rgb, width, height, x1 - thickness, y0, x1, y1, color);

        /* The label on a black strip above the box, or inside it at the top edge of the image. */
        int text_height = 8 * scale;
        int text_width = stb_easy_font_width((char *)box->label) * scale;
        int label_y = y0 - text_height - 1 >= 0 ? y0 - text_height - 1 : y0 + thickness;
        fill_rectangle(rgb, width, height, x0, label_y, x0 + text_width + 2, label_y + text_height + 1, black);
        draw_text(rgb, width, height, x0 + 1, label_y + 1, scale, box->label, color);
    }

    int written = stbi_write_png(out_path, width, height, 3, rgb, 3 * width);
    stbi_image_free(rgb);
    if (!written)
        return pg_error_set(err, "%s: cannot write the PNG with the boxes; check that the folder exists and is "
                            "writable", out_path);
    return 0;
}

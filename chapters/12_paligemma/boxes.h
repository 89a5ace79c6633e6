/*
 * boxes.h - PaliGemma's detection answers: parse the boxes, draw them on the image.
 *
 * A detection answer is a list of objects joined by " ; ", each four location
 * tokens and a label:
 *
 *     <loc0123><loc0045><loc0400><loc0388> circle ; <loc0500><loc0600><loc0900><loc0990> square
 *
 * The tokens are y_min, x_min, y_max, x_max on a grid of 1024 bins over the
 * whole image, whatever its size and aspect ratio: pixel = bin / 1023 * side,
 * the inverse of the binning the tiny-shapes data uses
 * (bin = round(pixel / side * 1023)).
 */
#ifndef PALIGEMMA_BOXES_H
#define PALIGEMMA_BOXES_H

#include "pg_error.h"

#define PALIGEMMA_BOX_LABEL_SIZE 64

typedef struct {
    int y_min, x_min, y_max, x_max;        /* location bins, 0..1023 */
    char label[PALIGEMMA_BOX_LABEL_SIZE];  /* the text after the four tokens, trimmed */
} paligemma_box;

/* Finds every run of four <locNNNN> tokens in text and the label that follows
 * it, up to the next ";" or "<loc" or the end. Fills at most max_boxes and
 * returns how many it found (text that is not a detection gives 0). */
int paligemma_parse_boxes(const char *text, paligemma_box *boxes, int max_boxes);

/* Reads the image at image_path, draws each box (a 2-pixel frame) with its
 * label above it, and writes the result as PNG to out_path. Returns 0, or -1
 * with err filled when the image cannot be read or the PNG cannot be written. */
int paligemma_draw_boxes(const char *image_path, const paligemma_box *boxes, int num_boxes, const char *out_path,
                         pg_error *err);

#endif

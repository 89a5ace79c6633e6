/*
 * Activation dumps: every intermediate tensor of one request as a .npy file,
 * for comparing this implementation with another one layer by layer (see
 * docs/numerics.md and paligemma-compare).
 *
 * A dump is a folder with one <name>.npy per tensor and index.txt, which
 * lists the tensors in the order they were computed, one per line:
 *
 *   # paligemma activation dump: name dtype shape, in the order computed
 *   pixel_values float32 3,224,224
 *   input_ids int64 266
 *   vision_embeddings float32 256,1152
 *   ...
 *
 * The names are those of paligemma_tensor_hook, plus pixel_values,
 * input_ids and generated_ids. golden/dump_reference.py writes the same
 * format from the PyTorch reference.
 */
#ifndef PG_ACTIVATION_DUMP_H
#define PG_ACTIVATION_DUMP_H

#include <stddef.h>
#include <stdio.h>

#include "npy.h"
#include "pg_error.h"

#define ACTIVATION_DUMP_INDEX "index.txt"

typedef struct {
    char folder[4096];
    FILE *index;      /* folder/index.txt, open until activation_dump_close */
    int num_tensors;  /* tensors written so far */
    int failed;       /* set by the first failed write; error holds its message */
    pg_error error;
} activation_dump;

/* Creates the folder (and its parents) if missing and starts index.txt,
 * replacing an older one. Returns -1 with a message if either fails. Files
 * of an older dump stay in the folder but leave the index. */
int activation_dump_open(activation_dump *dump, const char *folder, pg_error *err);

/* Writes folder/<name>.npy and its index line. After a failure it writes
 * nothing more and returns -1; activation_dump_close reports the error. */
int activation_dump_save(activation_dump *dump, const char *name, npy_dtype dtype, int ndim, const size_t *shape,
                         const void *data);

/* Writes token ids [count] as int64, as NumPy stores them. */
int activation_dump_ids(activation_dump *dump, const char *name, const int *ids, int count);

/* A paligemma_tensor_hook: saves each reported activation [rows, cols] as
 * float32. user_data is the activation_dump. */
void activation_dump_hook(void *user_data, const char *name, const float *data, int rows, int cols);

/* Closes index.txt. Returns -1 with the message of the first failed write,
 * if any. */
int activation_dump_close(activation_dump *dump, pg_error *err);

#endif

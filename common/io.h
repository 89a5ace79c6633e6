/*
 * io.h - checked allocation and whole-file reading.
 *
 * Every failure names what was being done, on which path, and what to try.
 */
#ifndef PG_IO_H
#define PG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "pg_error.h"

/* Allocates count * size bytes (zeroed). Sets err and returns NULL when the
 * product overflows or the allocation fails; `what` names the buffer. */
void *pg_calloc(size_t count, size_t size, const char *what, pg_error *err);

/* Like pg_calloc, but prints the message and exits with status 1 on failure.
 * For programs and tests, where running out of memory ends the run anyway. */
void *pg_xcalloc(size_t count, size_t size, const char *what);

/* Reads the whole file into a new buffer (caller frees). *size gets its
 * length. Sets err ("cannot open FILE: reason") and returns NULL on failure. */
uint8_t *pg_read_file(const char *path, size_t *size, pg_error *err);

/* Multiplies a by b into *product; returns 0, or -1 if the size_t overflows. */
int pg_mul_overflows(size_t a, size_t b, size_t *product);

#endif

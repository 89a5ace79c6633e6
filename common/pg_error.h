/*
 * pg_error.h - error reporting shared by every loader and parser.
 *
 * Functions that read untrusted input (files, command-line values) return 0 on
 * success and -1 on failure, and fill a pg_error with one line that names the
 * file, the field, the expected and the found value, and what to do about it.
 * Callers decide whether to print it and exit (the programs) or to compare it
 * with an expected message (the tests). Nothing here aborts.
 */
#ifndef PG_ERROR_H
#define PG_ERROR_H

#define PG_ERROR_SIZE 1024

typedef struct {
    char message[PG_ERROR_SIZE];
} pg_error;

/* Formats the message into err (printf-style) and returns -1, so that a
 * parser can write `return pg_error_set(err, "...", ...);`. err may be NULL. */
int pg_error_set(pg_error *err, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "program: message" to stderr and exits with the given status. */
void pg_die(const char *program, const pg_error *err, int status)
    __attribute__((noreturn));

#endif

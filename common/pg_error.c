#include "pg_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int pg_error_set(pg_error *err, const char *format, ...)
{
    if (err != NULL) {
        va_list args;
        va_start(args, format);
        vsnprintf(err->message, sizeof err->message, format, args);
        va_end(args);
    }
    return -1;
}

void pg_die(const char *program, const pg_error *err, int status)
{
    fprintf(stderr, "%s: %s\n", program, err->message);
    exit(status);
}

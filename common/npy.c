#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    npy_dtype dtype;
    size_t item_size;
} NPY_DTYPES[] = {
    {"<f4", NPY_FLOAT32, 4}, {"<f8", NPY_FLOAT64, 8}, {"<i4", NPY_INT32, 4},
    {"<i8", NPY_INT64, 8},   {"|u1", NPY_UINT8, 1},   {"|b1", NPY_BOOL, 1},
};
#define NPY_NUM_DTYPES (sizeof NPY_DTYPES / sizeof NPY_DTYPES[0])

const char *npy_dtype_descr(npy_dtype dtype)
{
    for (size_t i = 0; i < NPY_NUM_DTYPES; i++)
        if (NPY_DTYPES[i].dtype == dtype)
            return NPY_DTYPES[i].descr;
    return "?";
}

/* ---------------------------------------------------------------------------
 * The header dict parser. The header is a Python literal, so this is a tiny
 * recursive-descent parser over `text[pos..len)` that accepts exactly the
 * forms NumPy writes: quoted string keys, a quoted descr, True or False, and
 * a tuple of non-negative integers.
 * ------------------------------------------------------------------------- */

typedef struct {
    const char *text;
    size_t len;
    size_t pos;
    const char *name; /* file name for messages */
    pg_error *err;
} header_parser;

static void skip_spaces(header_parser *p)
{
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
                               p->text[p->pos] == '\n' || p->text[p->pos] == '\r'))
        p->pos++;
}

/* Consumes the character c after optional spaces, or reports what was found. */
static int expect_char(header_parser *p, char c, const char *where)
{
    skip_spaces(p);
    if (p->pos >= p->len)
        return pg_error_set(p->err, "%s: invalid .npy header: expected '%c' %s, found the end of the header",
                            p->name, c, where);
    if (p->text[p->pos] != c)
        return pg_error_set(p->err, "%s: invalid .npy header: expected '%c' %s, found '%c' at header byte %zu",
                            p->name, c, where, p->text[p->pos], p->pos);
    p->pos++;
    return 0;
}

/* Parses a quoted string ('...' or "...") into out (at most out_size - 1 chars). */
static int parse_string(header_parser *p, char *out, size_t out_size, const char *what)
{
    skip_spaces(p);
    if (p->pos >= p->len || (p->text[p->pos] != '\'' && p->text[p->pos] != '"'))
        return pg_error_set(p->err, "%s: invalid .npy header: expected a quoted %s at header byte %zu",
                            p->name, what, p->pos);
    char quote = p->text[p->pos++];
    size_t n = 0;
    while (p->pos < p->len && p->text[p->pos] != quote) {
        if (n + 1 >= out_size)
            return pg_error_set(p->err, "%s: invalid .npy header: %s longer than %zu characters",
                                p->name, what, out_size - 1);
        out[n++] = p->text[p->pos++];
    }
    if (p->pos >= p->len)
        return pg_error_set(p->err, "%s: invalid .npy header: unterminated %s", p->name, what);
    p->pos++;
    out[n] = '\0';
    return 0;
}

static int parse_bool(header_parser *p, int *value)
{
    skip_spaces(p);
    if (p->len - p->pos >= 4 && memcmp(p->text + p->pos, "True", 4) == 0) {
        p->pos += 4;
        *value = 1;
        return 0;
    }
    if (p->len - p->pos >= 5 && memcmp(p->text + p->pos, "False", 5) == 0) {
        p->pos += 5;
        *value = 0;
        return 0;
    }
    return pg_error_set(p->err, "%s: header field 'fortran_order': expected True or False at header byte %zu",
                        p->name, p->pos);
}

/* Parses "(a, b, c)", "(n,)" or "()" into shape[0..*ndim). */
static int parse_shape(header_parser *p, size_t *shape, int *ndim)
{
    if (expect_char(p, '(', "to open field 'shape'") != 0)
        return -1;
    *ndim = 0;
    int saw_comma_after_last = 0;
    for (;;) {
        skip_spaces(p);
        if (p->pos < p->len && p->text[p->pos] == ')') {
            p->pos++;
            break;
        }
        if (p->pos < p->len && p->text[p->pos] == '-')
            return pg_error_set(p->err, "%s: header field 'shape': negative dimension at header byte %zu",
                                p->name, p->pos);
        if (p->pos >= p->len || p->text[p->pos] < '0' || p->text[p->pos] > '9')
            return pg_error_set(p->err, "%s: header field 'shape': expected a dimension or ')' at header byte %zu",
                                p->name, p->pos);
        if (*ndim >= NPY_MAX_DIMS)
            return pg_error_set(p->err, "%s: header field 'shape': more than %d dimensions",
                                p->name, NPY_MAX_DIMS);
        size_t value = 0;
        while (p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9') {
            size_t digit = (size_t)(p->text[p->pos] - '0');
            if (value > (SIZE_MAX - digit) / 10)
                return pg_error_set(p->err, "%s: header field 'shape': dimension %d overflows size_t",
                                    p->name, *ndim);
            value = value * 10 + digit;
            p->pos++;
        }
        shape[(*ndim)++] = value;
        saw_comma_after_last = 0;
        skip_spaces(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
            saw_comma_after_last = 1;
        } else if (p->pos < p->len && p->text[p->pos] == ')') {
            continue;
        } else {
            return pg_error_set(p->err, "%s: header field 'shape': expected ',' or ')' at header byte %zu",
                                p->name, p->pos);
        }
    }
    /* In Python "(5)" is the integer 5, not a tuple: a 1-D shape needs "(5,)". */
    if (*ndim == 1 && !saw_comma_after_last)
        return pg_error_set(p->err, "%s: header field 'shape': (%zu) is not a tuple; a 1-D shape is written (%zu,)",
                            p->name, shape[0], shape[0]);
    return 0;
}

/* Parses the whole header dict into the array's dtype and shape. */
static int parse_header(header_parser *p, npy_array *array)
{
    int have_descr = 0, have_order = 0, have_shape = 0;
    char descr[32];

    if (expect_char(p, '{', "at the start of the header") != 0)
        return -1;
    for (;;) {
        skip_spaces(p);
        if (p->pos < p->len && p->text[p->pos] == '}') {
            p->pos++;
            break;
        }
        char key[32];
        if (parse_string(p, key, sizeof key, "key") != 0)
            return -1;
        if (expect_char(p, ':', "after a key") != 0)
            return -1;

        if (strcmp(key, "descr") == 0) {
            if (have_descr)
                return pg_error_set(p->err, "%s: invalid .npy header: key 'descr' appears twice", p->name);
            if (parse_string(p, descr, sizeof descr, "value of 'descr'") != 0)
                return -1;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order)
                return pg_error_set(p->err, "%s: invalid .npy header: key 'fortran_order' appears twice", p->name);
            int fortran_order = 0;
            if (parse_bool(p, &fortran_order) != 0)
                return -1;
            if (fortran_order)
                return pg_error_set(p->err, "%s: header field 'fortran_order': found True, expected False; "
                                    "save a C-ordered array (numpy.ascontiguousarray)", p->name);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape)
                return pg_error_set(p->err, "%s: invalid .npy header: key 'shape' appears twice", p->name);
            if (parse_shape(p, array->shape, &array->ndim) != 0)
                return -1;
            have_shape = 1;
        } else {
            return pg_error_set(p->err, "%s: invalid .npy header: unknown key '%s'; expected only "
                                "'descr', 'fortran_order' and 'shape'", p->name, key);
        }

        skip_spaces(p);
        if (p->pos < p->len && p->text[p->pos] == ',') {
            p->pos++;
        } else if (!(p->pos < p->len && p->text[p->pos] == '}')) {
            return pg_error_set(p->err, "%s: invalid .npy header: expected ',' or '}' at header byte %zu",
                                p->name, p->pos);
        }
    }
    skip_spaces(p);
    if (p->pos != p->len)
        return pg_error_set(p->err, "%s: invalid .npy header: unexpected '%c' after the closing '}'",
                            p->name, p->text[p->pos]);
    if (!have_descr)
        return pg_error_set(p->err, "%s: invalid .npy header: missing key 'descr'", p->name);
    if (!have_order)
        return pg_error_set(p->err, "%s: invalid .npy header: missing key 'fortran_order'", p->name);
    if (!have_shape)
        return pg_error_set(p->err, "%s: invalid .npy header: missing key 'shape'", p->name);

    /* Map the descr to one of the supported dtypes. */
    for (size_t i = 0; i < NPY_NUM_DTYPES; i++) {
        if (strcmp(descr, NPY_DTYPES[i].descr) == 0) {
            array->dtype = NPY_DTYPES[i].dtype;
            array->item_size = NPY_DTYPES[i].item_size;
            return 0;
        }
    }
    if (descr[0] == '>')
        return pg_error_set(p->err, "%s: header field 'descr': '%s' is big-endian; expected little-endian "
                            "('<%s'); convert it with arr.astype('<%s')", p->name, descr, descr + 1, descr + 1);
    return pg_error_set(p->err, "%s: header field 'descr': unsupported dtype '%s'; expected one of "
                        "'<f4', '<f8', '<i4', '<i8', '|u1', '|b1'", p->name, descr);
}

int npy_parse(const uint8_t *bytes, size_t size, const char *name, npy_array *array, pg_error *err)
{
    memset(array, 0, sizeof *array);

    /* The magic string and the version. */
    if (size < 8)
        return pg_error_set(err, "%s: not a .npy file: %zu bytes is shorter than the 8-byte preamble", name, size);
    if (memcmp(bytes, NPY_MAGIC, sizeof NPY_MAGIC) != 0)
        return pg_error_set(err, "%s: not a .npy file: the magic string \\x93NUMPY is missing "
                            "(first bytes %02x %02x %02x %02x %02x %02x)",
                            name, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]);
    int major = bytes[6], minor = bytes[7];
    if (major < 1 || major > 3 || minor != 0)
        return pg_error_set(err, "%s: unsupported .npy version %d.%d; expected 1.0, 2.0 or 3.0", name, major, minor);

    /* The header length: 2 bytes in version 1.0, 4 bytes after. */
    size_t length_bytes = major == 1 ? 2 : 4;
    if (size < 8 + length_bytes)
        return pg_error_set(err, "%s: truncated .npy file: %zu bytes, the header length field needs %zu",
                            name, size, 8 + length_bytes);
    size_t header_len = (size_t)bytes[8] | (size_t)bytes[9] << 8;
    if (length_bytes == 4)
        header_len |= (size_t)bytes[10] << 16 | (size_t)bytes[11] << 24;
    size_t header_start = 8 + length_bytes;
    if (header_len > size - header_start)
        return pg_error_set(err, "%s: truncated .npy file: header length %zu goes past the end of the file "
                            "(%zu bytes after the length field)", name, header_len, size - header_start);

    /* The header dict: dtype, order and shape. */
    header_parser parser = {(const char *)bytes + header_start, header_len, 0, name, err};
    if (parse_header(&parser, array) != 0)
        return -1;

    /* The element count, with overflow checks, against the bytes present. */
    size_t count = 1;
    for (int d = 0; d < array->ndim; d++)
        if (pg_mul_overflows(count, array->shape[d], &count) != 0)
            return pg_error_set(err, "%s: header field 'shape': the element count overflows size_t", name);
    size_t data_bytes;
    if (pg_mul_overflows(count, array->item_size, &data_bytes) != 0)
        return pg_error_set(err, "%s: header field 'shape': the data size overflows size_t", name);
    size_t data_start = header_start + header_len;
    size_t present = size - data_start;
    if (present < data_bytes)
        return pg_error_set(err, "%s: truncated .npy file: the shape needs %zu data bytes, found %zu",
                            name, data_bytes, present);
    if (present > data_bytes)
        return pg_error_set(err, "%s: invalid .npy file: %zu bytes after the data; the shape needs %zu data bytes",
                            name, present - data_bytes, data_bytes);

    /* Copy the data so that it is aligned and owned by the array. */
    array->count = count;
    array->data = pg_calloc(data_bytes, 1, name, err);
    if (array->data == NULL)
        return -1;
    memcpy(array->data, bytes + data_start, data_bytes);
    return 0;
}

int npy_load(const char *path, npy_array *array, pg_error *err)
{
    memset(array, 0, sizeof *array);
    size_t size;
    uint8_t *bytes = pg_read_file(path, &size, err);
    if (bytes == NULL)
        return -1;
    int status = npy_parse(bytes, size, path, array, err);
    free(bytes);
    return status;
}

int npy_save(const char *path, npy_dtype dtype, int ndim, const size_t *shape, const void *data, pg_error *err)
{
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return pg_error_set(err, "cannot write %s: %d dimensions, expected 0 to %d", path, ndim, NPY_MAX_DIMS);

    /* The dict, written the way numpy.save writes it. */
    char dict[64 + NPY_MAX_DIMS * 24];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     npy_dtype_descr(dtype));
    size_t count = 1, item_size = 0;
    for (int d = 0; d < ndim; d++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, d == 0 ? "%zu" : ", %zu", shape[d]);
        count *= shape[d];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, ndim == 1 ? ",), }" : "), }");
    for (size_t i = 0; i < NPY_NUM_DTYPES; i++)
        if (NPY_DTYPES[i].dtype == dtype)
            item_size = NPY_DTYPES[i].item_size;

    /* Pad with spaces and a final newline so that the data starts on a
     * multiple of 64 bytes, as NumPy does. */
    size_t preamble = 10;
    size_t header_len = (size_t)n + 1;
    size_t total = preamble + header_len;
    header_len += (64 - total % 64) % 64;

    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return pg_error_set(err, "cannot create %s: %s", path, strerror(errno));
    uint8_t head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                        (uint8_t)(header_len & 0xff), (uint8_t)(header_len >> 8)};
    int ok = fwrite(head, 1, sizeof head, f) == sizeof head;
    ok = ok && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = (size_t)n; ok && i + 1 < header_len; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, item_size, count, f) == count;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        return pg_error_set(err, "cannot write %s: write failed (is the disk full?)", path);
    return 0;
}

void npy_free(npy_array *array)
{
    free(array->data);
    memset(array, 0, sizeof *array);
}

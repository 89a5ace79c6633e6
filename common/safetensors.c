#include "safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define INDEX_FILE "model.safetensors.index.json"
#define SINGLE_FILE "model.safetensors"

/* How many unused names the warning line lists before "(and K more)". */
#define UNUSED_NAMES_LISTED 5

/* One memory-mapped .safetensors file, or the caller's bytes (borrowed). */
typedef struct {
    char *path;
    uint8_t *map;
    size_t size;
    int borrowed; /* map is the caller's memory, from safetensors_open_memory: never unmapped */
} mapped_file;

struct safetensors_checkpoint {
    char *source;                 /* the directory or file it was opened from */
    mapped_file *files;
    int num_files;
    safetensors_tensor *tensors;  /* sorted by name once every file is read */
    size_t num_tensors;
    size_t tensors_capacity;
    paligemma_name_scheme scheme; /* 0 until safetensors_paligemma_scheme runs */
};

const char *safetensors_dtype_name(safetensors_dtype dtype)
{
    switch (dtype) {
    case SAFETENSORS_F32:
        return "F32";
    case SAFETENSORS_BF16:
        return "BF16";
    case SAFETENSORS_F16:
        return "F16";
    }
    return "?";
}

size_t safetensors_dtype_size(safetensors_dtype dtype)
{
    return dtype == SAFETENSORS_F32 ? 4 : 2;
}

static char *copy_string(const char *s, pg_error *err)
{
    size_t n = strlen(s) + 1;
    char *copy = pg_calloc(n, 1, "a name", err);
    if (copy != NULL)
        memcpy(copy, s, n);
    return copy;
}

/* Writes "[a, b, c]" into out. */
static void format_shape(char *out, size_t out_size, int ndim, const size_t *shape)
{
    size_t used = (size_t)snprintf(out, out_size, "[");
    for (int i = 0; i < ndim && used < out_size; i++)
        used += (size_t)snprintf(out + used, out_size - used, "%s%zu", i ? ", " : "", shape[i]);
    if (used < out_size)
        snprintf(out + used, out_size - used, "]");
}

/* ---------------------------------------------------------------------------
 * Reading one file: map it, parse its JSON header, append its tensors.
 * ------------------------------------------------------------------------- */

static int map_file(mapped_file *file, const char *path, pg_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return pg_error_set(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pg_error_set(err, "cannot read %s: not a regular file", path);
    }
    file->size = (size_t)st.st_size;
    if (file->size < 8) {
        close(fd);
        return pg_error_set(err, "%s: file is %zu bytes, shorter than the 8-byte header size field; "
                            "is it a .safetensors file?", path, file->size);
    }
    void *map = mmap(NULL, file->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return pg_error_set(err, "cannot memory-map %s (%zu bytes): %s", path, file->size, strerror(errno));
    file->map = map;
    return 0;
}

/* Reads a JSON number that must be a non-negative integer below 2^53. A
 * double represents all of those exactly, and files are far smaller. */
static int read_size(const cJSON *item, size_t *value, const char *path, const char *tensor,
                     const char *field, pg_error *err)
{
    if (!cJSON_IsNumber(item))
        return pg_error_set(err, "%s: tensor '%s': %s must contain integers, found a non-number",
                            path, tensor, field);
    double d = item->valuedouble;
    if (!(d >= 0.0 && d < 9007199254740992.0 && d == floor(d)))
        return pg_error_set(err, "%s: tensor '%s': %s must contain integers from 0 to 2^53 - 1, found %g",
                            path, tensor, field, d);
    *value = (size_t)d;
    return 0;
}

static int parse_dtype(const cJSON *item, safetensors_dtype *dtype, const char *path,
                       const char *tensor, pg_error *err)
{
    if (!cJSON_IsString(item))
        return pg_error_set(err, "%s: tensor '%s': field \"dtype\" is missing or not a string", path, tensor);
    const char *s = item->valuestring;
    if (strcmp(s, "F32") == 0)
        *dtype = SAFETENSORS_F32;
    else if (strcmp(s, "BF16") == 0)
        *dtype = SAFETENSORS_BF16;
    else if (strcmp(s, "F16") == 0)
        *dtype = SAFETENSORS_F16;
    else
        return pg_error_set(err, "%s: tensor '%s': unsupported dtype \"%s\"; this loader reads F32, BF16 "
                            "and F16 (convert the checkpoint, e.g. with torch, to one of them)", path, tensor, s);
    return 0;
}

static int grow_tensors(safetensors_checkpoint *ckpt, pg_error *err)
{
    if (ckpt->num_tensors < ckpt->tensors_capacity)
        return 0;
    size_t capacity = ckpt->tensors_capacity ? 2 * ckpt->tensors_capacity : 64;
    size_t bytes;
    if (pg_mul_overflows(capacity, sizeof(safetensors_tensor), &bytes) != 0)
        return pg_error_set(err, "%s: too many tensors", ckpt->source);
    safetensors_tensor *grown = realloc(ckpt->tensors, bytes);
    if (grown == NULL)
        return pg_error_set(err, "%s: out of memory for %zu tensor entries", ckpt->source, capacity);
    ckpt->tensors = grown;
    ckpt->tensors_capacity = capacity;
    return 0;
}

/* Parses one header entry {"dtype", "shape", "data_offsets"} and appends the
 * tensor, its offsets checked against the data region of data_size bytes. */
static int add_tensor(safetensors_checkpoint *ckpt, const mapped_file *file, const uint8_t *data,
                      size_t data_size, const cJSON *entry, pg_error *err)
{
    const char *path = file->path;
    const char *name = entry->string;
    if (!cJSON_IsObject(entry))
        return pg_error_set(err, "%s: tensor '%s': expected an object with dtype, shape and data_offsets",
                            path, name);

    safetensors_tensor t = {0};
    if (parse_dtype(cJSON_GetObjectItemCaseSensitive(entry, "dtype"), &t.dtype, path, name, err) != 0)
        return -1;

    // shape: a list of at most SAFETENSORS_MAX_DIMS sizes whose product fits size_t.
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return pg_error_set(err, "%s: tensor '%s': field \"shape\" is missing or not a list", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > SAFETENSORS_MAX_DIMS)
        return pg_error_set(err, "%s: tensor '%s': shape has %d dimensions, at most %d are supported",
                            path, name, ndim, SAFETENSORS_MAX_DIMS);
    t.ndim = ndim;
    t.count = 1;
    for (int i = 0; i < ndim; i++) {
        if (read_size(cJSON_GetArrayItem(shape, i), &t.shape[i], path, name, "shape", err) != 0)
            return -1;
        if (pg_mul_overflows(t.count, t.shape[i], &t.count) != 0)
            return pg_error_set(err, "%s: tensor '%s': the element count of its shape overflows size_t",
                                path, name);
    }
    size_t nbytes;
    if (pg_mul_overflows(t.count, safetensors_dtype_size(t.dtype), &nbytes) != 0)
        return pg_error_set(err, "%s: tensor '%s': its byte size overflows size_t", path, name);

    // data_offsets: [begin, end] inside the data region, end - begin = nbytes.
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return pg_error_set(err, "%s: tensor '%s': field \"data_offsets\" must be a list [begin, end]",
                            path, name);
    size_t begin, end;
    if (read_size(cJSON_GetArrayItem(offsets, 0), &begin, path, name, "data_offsets", err) != 0 ||
        read_size(cJSON_GetArrayItem(offsets, 1), &end, path, name, "data_offsets", err) != 0)
        return -1;
    if (begin > end || end > data_size)
        return pg_error_set(err, "%s: tensor '%s': data_offsets [%zu, %zu] are outside the data region of "
                            "%zu bytes (expected begin <= end <= %zu); the file is truncated or corrupt",
                            path, name, begin, end, data_size, data_size);
    if (end - begin != nbytes) {
        char shape_text[160];
        format_shape(shape_text, sizeof shape_text, t.ndim, t.shape);
        return pg_error_set(err, "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes, expected %zu "
                            "(shape %s of %s, %zu bytes each)", path, name, begin, end, end - begin, nbytes,
                            shape_text, safetensors_dtype_name(t.dtype), safetensors_dtype_size(t.dtype));
    }

    if (grow_tensors(ckpt, err) != 0)
        return -1;
    t.name = copy_string(name, err);
    if (t.name == NULL)
        return -1;
    t.data = data + begin;
    t.file = file->path;
    ckpt->tensors[ckpt->num_tensors++] = t;
    return 0;
}

static int check_metadata(const cJSON *metadata, const char *path, pg_error *err)
{
    if (!cJSON_IsObject(metadata))
        return pg_error_set(err, "%s: \"__metadata__\" must be an object of strings", path);
    for (const cJSON *item = metadata->child; item != NULL; item = item->next)
        if (!cJSON_IsString(item))
            return pg_error_set(err, "%s: \"__metadata__\" entry '%s' must be a string", path, item->string);
    return 0;
}

static int compare_by_data(const void *a, const void *b)
{
    const uint8_t *x = (*(const safetensors_tensor *const *)a)->data;
    const uint8_t *y = (*(const safetensors_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Checks that no two tensors of one file share a byte. Tensors of zero bytes
 * cannot overlap anything and are skipped. */
static int check_overlaps(safetensors_checkpoint *ckpt, size_t first, const mapped_file *file,
                          const uint8_t *data, pg_error *err)
{
    size_t n = ckpt->num_tensors - first;
    if (n < 2)
        return 0;
    const safetensors_tensor **order = pg_calloc(n, sizeof *order, "tensor order", err);
    if (order == NULL)
        return -1;
    size_t m = 0;
    for (size_t i = first; i < ckpt->num_tensors; i++)
        if (ckpt->tensors[i].count > 0)
            order[m++] = &ckpt->tensors[i];
    qsort(order, m, sizeof *order, compare_by_data);
    int status = 0;
    for (size_t i = 1; i < m; i++) {
        const safetensors_tensor *prev = order[i - 1], *cur = order[i];
        size_t prev_end = (size_t)(prev->data - data) + prev->count * safetensors_dtype_size(prev->dtype);
        size_t cur_begin = (size_t)(cur->data - data);
        if (cur_begin < prev_end) {
            status = pg_error_set(err, "%s: tensors '%s' and '%s' overlap: '%s' begins at data offset %zu, "
                                  "expected at or after %zu where '%s' ends", file->path, prev->name,
                                  cur->name, cur->name, cur_begin, prev_end, prev->name);
            break;
        }
    }
    free(order);
    return status;
}

/* Appends an empty entry for the file at path to the checkpoint's file list. */
static mapped_file *append_file(safetensors_checkpoint *ckpt, const char *path, pg_error *err)
{
    mapped_file *files = realloc(ckpt->files, (size_t)(ckpt->num_files + 1) * sizeof *files);
    if (files == NULL) {
        pg_error_set(err, "%s: out of memory for the file list", path);
        return NULL;
    }
    ckpt->files = files;
    mapped_file *file = &files[ckpt->num_files];
    memset(file, 0, sizeof *file);
    file->path = copy_string(path, err);
    if (file->path == NULL)
        return NULL;
    ckpt->num_files++;
    return file;
}

/* Parses the header of a mapped file and appends its tensors. */
static int parse_file(safetensors_checkpoint *ckpt, const mapped_file *file, pg_error *err)
{
    const char *path = file->path;

    // The header size: little-endian u64, at most the limit, inside the file.
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--)
        header_size = (header_size << 8) | file->map[i];
    if (header_size > SAFETENSORS_MAX_HEADER_SIZE)
        return pg_error_set(err, "%s: header size %llu bytes exceeds the limit of %u bytes; "
                            "the file is corrupt or not a .safetensors file",
                            path, (unsigned long long)header_size, SAFETENSORS_MAX_HEADER_SIZE);
    if (header_size > file->size - 8)
        return pg_error_set(err, "%s: header size %llu bytes runs past the end of the file "
                            "(expected at most %zu, the file size %zu minus 8); the file is truncated",
                            path, (unsigned long long)header_size, file->size - 8, file->size);
    const char *header = (const char *)file->map + 8;
    const uint8_t *data = file->map + 8 + header_size;
    size_t data_size = file->size - 8 - (size_t)header_size;

    // The JSON object, followed by nothing but the writer's padding spaces.
    // NOTE: the header is not checked to be valid UTF-8; cJSON does not either.
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(header, (size_t)header_size, &parse_end, 0);
    if (root == NULL) {
        size_t at = parse_end ? (size_t)(parse_end - header) : 0;
        return pg_error_set(err, "%s: header is not valid JSON (parse error at header byte %zu of %llu)",
                            path, at, (unsigned long long)header_size);
    }
    for (const char *p = parse_end; p < header + header_size; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return pg_error_set(err, "%s: header is not valid JSON: unexpected text after the object at "
                                "header byte %zu", path, (size_t)(p - header));
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pg_error_set(err, "%s: header is not a JSON object of tensors", path);
    }

    // NOTE: gaps between tensors and bytes after the last one are accepted;
    // the reference reader (huggingface/safetensors) rejects both.
    size_t first = ckpt->num_tensors;
    int status = 0;
    for (const cJSON *entry = root->child; entry != NULL && status == 0; entry = entry->next) {
        if (strcmp(entry->string, "__metadata__") == 0)
            status = check_metadata(entry, path, err);
        else
            status = add_tensor(ckpt, file, data, data_size, entry, err);
    }
    cJSON_Delete(root);
    if (status != 0)
        return -1;
    return check_overlaps(ckpt, first, file, data, err);
}

/* Maps the file at path, appends its tensors to the checkpoint, and keeps
 * the map (as ckpt->files[ckpt->num_files - 1]). */
static int read_file(safetensors_checkpoint *ckpt, const char *path, pg_error *err)
{
    mapped_file *file = append_file(ckpt, path, err);
    if (file == NULL || map_file(file, path, err) != 0)
        return -1;
    return parse_file(ckpt, file, err);
}

/* ---------------------------------------------------------------------------
 * Opening a checkpoint.
 * ------------------------------------------------------------------------- */

static int compare_by_name(const void *a, const void *b)
{
    return strcmp(((const safetensors_tensor *)a)->name, ((const safetensors_tensor *)b)->name);
}

/* Sorts the tensors by name and rejects a name that appears twice. */
static int sort_and_check_duplicates(safetensors_checkpoint *ckpt, pg_error *err)
{
    // A file may hold no tensor; qsort and bsearch must not get the NULL list.
    if (ckpt->num_tensors == 0)
        return 0;
    qsort(ckpt->tensors, ckpt->num_tensors, sizeof *ckpt->tensors, compare_by_name);
    for (size_t i = 1; i < ckpt->num_tensors; i++) {
        const safetensors_tensor *a = &ckpt->tensors[i - 1], *b = &ckpt->tensors[i];
        if (strcmp(a->name, b->name) != 0)
            continue;
        if (a->file == b->file)
            return pg_error_set(err, "%s: tensor '%s' appears twice in the header; expected each name once",
                                a->file, a->name);
        return pg_error_set(err, "%s: tensor '%s' appears in two shards, %s and %s; expected each name once",
                            ckpt->source, a->name, a->file, b->file);
    }
    return 0;
}

/* Returns the tensor called name, without marking it used, or NULL. */
static safetensors_tensor *find_unmarked(const safetensors_checkpoint *ckpt, const char *name)
{
    if (ckpt->num_tensors == 0)
        return NULL;
    safetensors_tensor key = {.name = name};
    return bsearch(&key, ckpt->tensors, ckpt->num_tensors, sizeof key, compare_by_name);
}

static safetensors_checkpoint *new_checkpoint(const char *source, pg_error *err)
{
    safetensors_checkpoint *ckpt = pg_calloc(1, sizeof *ckpt, "a checkpoint", err);
    if (ckpt == NULL)
        return NULL;
    ckpt->source = copy_string(source, err);
    if (ckpt->source == NULL) {
        free(ckpt);
        return NULL;
    }
    return ckpt;
}

int safetensors_open_file(safetensors_checkpoint **checkpoint, const char *path, pg_error *err)
{
    *checkpoint = NULL;
    safetensors_checkpoint *ckpt = new_checkpoint(path, err);
    if (ckpt == NULL)
        return -1;
    if (read_file(ckpt, path, err) != 0 || sort_and_check_duplicates(ckpt, err) != 0) {
        safetensors_close(ckpt);
        return -1;
    }
    *checkpoint = ckpt;
    return 0;
}

int safetensors_open_memory(safetensors_checkpoint **checkpoint, const uint8_t *bytes, size_t size,
                            const char *name, pg_error *err)
{
    *checkpoint = NULL;
    safetensors_checkpoint *ckpt = new_checkpoint(name, err);
    if (ckpt == NULL)
        return -1;
    mapped_file *file = append_file(ckpt, name, err);
    int status = -1;
    if (file != NULL && size < 8) {
        pg_error_set(err, "%s: file is %zu bytes, shorter than the 8-byte header size field; "
                     "is it a .safetensors file?", name, size);
    } else if (file != NULL) {
        file->map = (uint8_t *)bytes;
        file->size = size;
        file->borrowed = 1;
        status = parse_file(ckpt, file, err) == 0 ? sort_and_check_duplicates(ckpt, err) : -1;
    }
    if (status != 0) {
        safetensors_close(ckpt);
        return -1;
    }
    *checkpoint = ckpt;
    return 0;
}

static char *join_path(const char *dir, const char *name, pg_error *err)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *path = pg_calloc(n, 1, "a path", err);
    if (path != NULL)
        snprintf(path, n, "%s/%s", dir, name);
    return path;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* Opens every shard the weight_map names (each once), then checks that each
 * mapped tensor is in the shard the index names. */
static int read_index(safetensors_checkpoint *ckpt, const char *dir, const char *index_path,
                      pg_error *err)
{
    size_t size;
    uint8_t *text = pg_read_file(index_path, &size, err);
    if (text == NULL)
        return -1;
    cJSON *root = cJSON_ParseWithLength((const char *)text, size);
    free(text);
    if (root == NULL)
        return pg_error_set(err, "%s: not valid JSON; expected {\"metadata\": {...}, \"weight_map\": {...}}",
                            index_path);
    const cJSON *weight_map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int status = 0;
    if (!cJSON_IsObject(weight_map) || weight_map->child == NULL)
        status = pg_error_set(err, "%s: missing or empty \"weight_map\" object (tensor name -> shard file)",
                              index_path);

    // Open each shard the first time the weight_map names it.
    for (const cJSON *entry = weight_map ? weight_map->child : NULL; entry != NULL && status == 0;
         entry = entry->next) {
        if (!cJSON_IsString(entry)) {
            status = pg_error_set(err, "%s: weight_map entry '%s' must be a shard file name (a string)",
                                  index_path, entry->string);
            break;
        }
        const char *shard = entry->valuestring;
        if (strchr(shard, '/') != NULL || strcmp(shard, "..") == 0 || shard[0] == '\0') {
            status = pg_error_set(err, "%s: weight_map maps '%s' to \"%s\", expected a file name in %s "
                                  "without '/'", index_path, entry->string, shard, dir);
            break;
        }
        char *shard_path = join_path(dir, shard, err);
        if (shard_path == NULL) {
            status = -1;
            break;
        }
        int seen = 0;
        for (int f = 0; f < ckpt->num_files && !seen; f++)
            seen = strcmp(ckpt->files[f].path, shard_path) == 0;
        if (!seen && !file_exists(shard_path))
            status = pg_error_set(err, "%s: weight_map maps '%s' to shard %s, which does not exist; "
                                  "download every shard the index lists", index_path, entry->string, shard_path);
        else if (!seen)
            status = read_file(ckpt, shard_path, err);
        free(shard_path);
    }
    if (status == 0)
        status = sort_and_check_duplicates(ckpt, err);

    // Each mapped tensor must be in the shard named for it.
    for (const cJSON *entry = weight_map ? weight_map->child : NULL; entry != NULL && status == 0;
         entry = entry->next) {
        const safetensors_tensor *t = find_unmarked(ckpt, entry->string);
        if (t == NULL)
            status = pg_error_set(err, "%s: weight_map maps tensor '%s' to %s/%s, but that shard has no such "
                                  "tensor", index_path, entry->string, dir, entry->valuestring);
        else if (strcmp(base_name(t->file), entry->valuestring) != 0)
            status = pg_error_set(err, "%s: weight_map maps tensor '%s' to %s/%s, but it is in %s",
                                  index_path, entry->string, dir, entry->valuestring, t->file);
    }
    cJSON_Delete(root);
    return status;
}

int safetensors_open_dir(safetensors_checkpoint **checkpoint, const char *dir, pg_error *err)
{
    *checkpoint = NULL;
    safetensors_checkpoint *ckpt = new_checkpoint(dir, err);
    if (ckpt == NULL)
        return -1;
    char *index_path = join_path(dir, INDEX_FILE, err);
    char *single_path = join_path(dir, SINGLE_FILE, err);
    int status = -1;
    if (index_path != NULL && single_path != NULL) {
        if (file_exists(index_path))
            status = read_index(ckpt, dir, index_path, err);
        else if (file_exists(single_path))
            status = read_file(ckpt, single_path, err) == 0 ? sort_and_check_duplicates(ckpt, err) : -1;
        else
            status = pg_error_set(err, "no %s or %s in %s; expected a Hugging Face checkpoint directory",
                                  SINGLE_FILE, INDEX_FILE, dir);
    }
    free(index_path);
    free(single_path);
    if (status != 0) {
        safetensors_close(ckpt);
        return -1;
    }
    *checkpoint = ckpt;
    return 0;
}

void safetensors_close(safetensors_checkpoint *ckpt)
{
    if (ckpt == NULL)
        return;
    for (int f = 0; f < ckpt->num_files; f++) {
        if (ckpt->files[f].map != NULL && !ckpt->files[f].borrowed)
            munmap(ckpt->files[f].map, ckpt->files[f].size);
        free(ckpt->files[f].path);
    }
    for (size_t i = 0; i < ckpt->num_tensors; i++)
        free((char *)ckpt->tensors[i].name);
    free(ckpt->files);
    free(ckpt->tensors);
    free(ckpt->source);
    free(ckpt);
}

/* ---------------------------------------------------------------------------
 * Lookup and conversion to float32.
 * ------------------------------------------------------------------------- */

size_t safetensors_num_tensors(const safetensors_checkpoint *ckpt)
{
    return ckpt->num_tensors;
}

const safetensors_tensor *safetensors_tensor_at(const safetensors_checkpoint *ckpt, size_t i)
{
    return i < ckpt->num_tensors ? &ckpt->tensors[i] : NULL;
}


const safetensors_tensor *safetensors_find(safetensors_checkpoint *ckpt, const char *name)
{
    safetensors_tensor *t = find_unmarked(ckpt, name);
    if (t != NULL)
        t->used = 1;
    return t;
}

/* IEEE binary16 bits to binary32 bits. Every half value is exact in float:
 * the 5-bit exponent (bias 15) is rebiased to 8 bits (bias 127) and the
 * 10-bit mantissa moved to the top of the 23-bit one. */
static uint32_t f16_bits_to_f32_bits(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;

    // Zero keeps its sign.
    if (exponent == 0 && mantissa == 0)
        return sign;

    // Subnormal: mantissa * 2^-24. Shift until the implicit bit (0x400)
    // appears; each shift lowers the exponent by one.
    if (exponent == 0) {
        int shifts = 0;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            shifts++;
        }
        mantissa &= 0x3ffu;
        return sign | (uint32_t)(127 - 15 + 1 - shifts) << 23 | mantissa << 13;
    }

    // Infinity and NaN: the payload moves up unchanged, as numpy 1.24 does.
    // torch 1.13 on x86 also sets the quiet bit of a signaling NaN; that is
    // the only place where the two conversions differ.
    if (exponent == 0x1f)
        return sign | 0x7f800000u | mantissa << 13;

    return sign | (exponent - 15 + 127) << 23 | mantissa << 13;
}

void safetensors_to_f32(float *out, const safetensors_tensor *t)
{
    if (t->dtype == SAFETENSORS_F32) {
        memcpy(out, t->data, t->count * sizeof(float));
        return;
    }
    for (size_t i = 0; i < t->count; i++) {
        // Little-endian 16-bit element, read bytewise because it may be unaligned.
        uint16_t h = (uint16_t)(t->data[2 * i] | t->data[2 * i + 1] << 8);
        uint32_t bits = t->dtype == SAFETENSORS_BF16 ? (uint32_t)h << 16 : f16_bits_to_f32_bits(h);
        memcpy(&out[i], &bits, sizeof bits);
    }
}

/* Finds name and checks its shape against the expected one. */
static int find_checked(safetensors_checkpoint *ckpt, const char *name, int expected_ndim,
                        const int *expected_shape, const safetensors_tensor **tensor, pg_error *err)
{
    const safetensors_tensor *t = safetensors_find(ckpt, name);
    if (t == NULL)
        return pg_error_set(err, "%s: tensor '%s' not found among its %zu tensors; check that the checkpoint "
                            "is a PaliGemma one matching config.json", ckpt->source, name, ckpt->num_tensors);
    int same = t->ndim == expected_ndim;
    for (int i = 0; i < expected_ndim && same; i++)
        same = expected_shape[i] >= 0 && t->shape[i] == (size_t)expected_shape[i];
    if (!same) {
        char found[160], expected[160];
        size_t want[SAFETENSORS_MAX_DIMS];
        int n = expected_ndim < SAFETENSORS_MAX_DIMS ? expected_ndim : SAFETENSORS_MAX_DIMS;
        for (int i = 0; i < n; i++)
            want[i] = (size_t)expected_shape[i];
        format_shape(found, sizeof found, t->ndim, t->shape);
        format_shape(expected, sizeof expected, n, want);
        return pg_error_set(err, "%s: tensor '%s' has shape %s, expected %s; the checkpoint does not match "
                            "the model configuration", t->file, name, found, expected);
    }
    *tensor = t;
    return 0;
}

int safetensors_load_f32(safetensors_checkpoint *ckpt, const char *name, int expected_ndim,
                         const int *expected_shape, float *out, pg_error *err)
{
    const safetensors_tensor *t;
    if (find_checked(ckpt, name, expected_ndim, expected_shape, &t, err) != 0)
        return -1;
    safetensors_to_f32(out, t);
    return 0;
}

float *safetensors_load_f32_alloc(safetensors_checkpoint *ckpt, const char *name, int expected_ndim,
                                  const int *expected_shape, pg_error *err)
{
    const safetensors_tensor *t;
    if (find_checked(ckpt, name, expected_ndim, expected_shape, &t, err) != 0)
        return NULL;
    float *out = pg_calloc(t->count, sizeof(float), name, err);
    if (out != NULL)
        safetensors_to_f32(out, t);
    return out;
}

/* ---------------------------------------------------------------------------
 * Tensors the model does not use.
 * ------------------------------------------------------------------------- */

size_t safetensors_unused_report(const safetensors_checkpoint *ckpt, char *line, size_t line_size)
{
    size_t unused = 0;
    for (size_t i = 0; i < ckpt->num_tensors; i++)
        unused += !ckpt->tensors[i].used;
    if (line_size > 0)
        line[0] = '\0';
    if (unused == 0 || line_size == 0)
        return unused;

    size_t n = (size_t)snprintf(line, line_size, "%zu of %zu tensors in %s are not used by the model: ",
                                unused, ckpt->num_tensors, ckpt->source);
    size_t listed = 0;
    for (size_t i = 0; i < ckpt->num_tensors && listed < UNUSED_NAMES_LISTED && n < line_size; i++) {
        if (ckpt->tensors[i].used)
            continue;
        n += (size_t)snprintf(line + n, line_size - n, "%s%s", listed ? ", " : "", ckpt->tensors[i].name);
        listed++;
    }
    if (unused > listed && n < line_size)
        snprintf(line + n, line_size - n, " (and %zu more)", unused - listed);
    return unused;
}

void safetensors_warn_unused(const safetensors_checkpoint *ckpt, FILE *stream)
{
    char line[PG_ERROR_SIZE];
    if (safetensors_unused_report(ckpt, line, sizeof line) > 0)
        fprintf(stream, "warning: %s\n", line);
}

/* ---------------------------------------------------------------------------
 * PaliGemma name schemes.
 * ------------------------------------------------------------------------- */

/* Prefixes of the older scheme and what each becomes in the newer one.
 * "language_model.lm_head." must come before any shorter "language_model." form. */
static const struct {
    const char *older, *newer;
} NAME_PREFIXES[] = {
    {"language_model.model.", "model.language_model."},
    {"language_model.lm_head.", "lm_head."},
    {"vision_tower.", "model.vision_tower."},
    {"multi_modal_projector.", "model.multi_modal_projector."},
};
#define NUM_NAME_PREFIXES (sizeof NAME_PREFIXES / sizeof NAME_PREFIXES[0])

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *paligemma_name_scheme_description(paligemma_name_scheme scheme)
{
    if (scheme == PALIGEMMA_NAMES_OLDER)
        return "older tensor names (language_model.model.*, vision_tower.*, multi_modal_projector.*)";
    if (scheme == PALIGEMMA_NAMES_NEWER)
        return "newer tensor names (model.language_model.*, model.vision_tower.*, "
               "model.multi_modal_projector.*, lm_head.*)";
    return "unknown tensor names";
}

int safetensors_paligemma_scheme(safetensors_checkpoint *ckpt, paligemma_name_scheme *scheme, pg_error *err)
{
    if (ckpt->scheme != 0) {
        *scheme = ckpt->scheme;
        return 0;
    }
    const char *older_example = NULL, *newer_example = NULL;
    for (size_t i = 0; i < ckpt->num_tensors; i++) {
        const char *name = ckpt->tensors[i].name;
        for (size_t p = 0; p < NUM_NAME_PREFIXES; p++) {
            if (older_example == NULL && starts_with(name, NAME_PREFIXES[p].older))
                older_example = name;
            if (newer_example == NULL && starts_with(name, NAME_PREFIXES[p].newer))
                newer_example = name;
        }
    }
    if (older_example != NULL && newer_example != NULL)
        return pg_error_set(err, "%s: tensor names mix the older scheme ('%s') and the newer one ('%s'); "
                            "expected one scheme per checkpoint", ckpt->source, older_example, newer_example);
    if (older_example == NULL && newer_example == NULL)
        return pg_error_set(err, "%s: no tensor name starts with language_model.model., vision_tower., "
                            "multi_modal_projector. or their model.* forms; is it a PaliGemma checkpoint?",
                            ckpt->source);
    ckpt->scheme = older_example != NULL ? PALIGEMMA_NAMES_OLDER : PALIGEMMA_NAMES_NEWER;
    *scheme = ckpt->scheme;
    return 0;
}

int paligemma_translate_name(char *out, size_t out_size, const char *canonical_name,
                             paligemma_name_scheme scheme, pg_error *err)
{
    for (size_t p = 0; p < NUM_NAME_PREFIXES; p++) {
        const char *older = NAME_PREFIXES[p].older;
        if (!starts_with(canonical_name, older))
            continue;
        const char *prefix = scheme == PALIGEMMA_NAMES_NEWER ? NAME_PREFIXES[p].newer : older;
        size_t n = (size_t)snprintf(out, out_size, "%s%s", prefix, canonical_name + strlen(older));
        if (n >= out_size)
            return pg_error_set(err, "tensor name '%s' is longer than the %zu-byte buffer", canonical_name,
                                out_size);
        return 0;
    }
    return pg_error_set(err, "'%s' is not a PaliGemma tensor name: expected a name that starts with "
                        "language_model.model., language_model.lm_head., vision_tower. or "
                        "multi_modal_projector.", canonical_name);
}

int safetensors_resolve_paligemma(safetensors_checkpoint *ckpt, const char *canonical_name, char *out,
                                  size_t out_size, pg_error *err)
{
    paligemma_name_scheme scheme;
    if (safetensors_paligemma_scheme(ckpt, &scheme, err) != 0)
        return -1;
    if (paligemma_translate_name(out, out_size, canonical_name, scheme, err) != 0)
        return -1;
    // Gemma ties lm_head to embed_tokens; checkpoints usually omit it.
    if (starts_with(canonical_name, "language_model.lm_head.") && find_unmarked(ckpt, out) == NULL)
        return paligemma_translate_name(out, out_size, "language_model.model.embed_tokens.weight", scheme, err);
    return 0;
}

int safetensors_load_paligemma_f32(safetensors_checkpoint *ckpt, const char *canonical_name,
                                   int expected_ndim, const int *expected_shape, float *out, pg_error *err)
{
    char name[512];
    if (safetensors_resolve_paligemma(ckpt, canonical_name, name, sizeof name, err) != 0)
        return -1;
    return safetensors_load_f32(ckpt, name, expected_ndim, expected_shape, out, err);
}

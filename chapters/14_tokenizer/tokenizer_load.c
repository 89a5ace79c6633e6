/*
 * Chapter 14 (inputs): reading SentencePiece's tokenizer.model, a serialized
 * ModelProto (sentencepiece_model.proto, sentencepiece 0.1.97). The fields
 * read here, by number:
 *
 *   ModelProto       1 pieces (repeated SentencePiece)   2 trainer_spec
 *                    3 normalizer_spec                   5 denormalizer_spec
 *   SentencePiece    1 piece (string)  2 score (float)  3 type (enum, default NORMAL)
 *   TrainerSpec      3 model_type (UNIGRAM=1, BPE=2, WORD=3, CHAR=4; default UNIGRAM)
 *                    35 byte_fallback   44 unk_surface
 *                    46 bos_piece  47 eos_piece  48 pad_piece (default "<s>", "</s>", "<pad>")
 *   NormalizerSpec   1 name  2 precompiled_charsmap  3 add_dummy_prefix (default true)
 *                    4 remove_extra_whitespaces (default true)
 *                    5 escape_whitespaces (default true)
 *
 * Everything else (the training options, self_test_data) is skipped. The
 * numeric unk_id, bos_id, eos_id, pad_id (40 to 43) only placed the pieces at
 * training time; sentencepiece finds the special ids by piece text. The
 * options split_digits (25), allow_whitespace_only_pieces (26),
 * treat_whitespace_as_suffix (24) and split_by_whitespace (22) shape the
 * training only, and sentencepiece 0.1.97 encodes the same ids whatever
 * their values (the "options" golden model checks this).
 */
#include "14_tokenizer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "14_tokenizer/protobuf.h"
#include "io.h"

enum { MODEL_TYPE_UNIGRAM = 1, MODEL_TYPE_BPE = 2 };

static const char *model_type_name(int model_type)
{
    switch (model_type) {
    case 1: return "UNIGRAM";
    case 2: return "BPE";
    case 3: return "WORD";
    case 4: return "CHAR";
    default: return "unknown";
    }
}

/* The options read from TrainerSpec and NormalizerSpec, with the .proto defaults. */
typedef struct {
    int model_type;
    int byte_fallback;
    pb_field unk_surface;  /* LEN fields; bytes == NULL when absent */
    pb_field bos_piece, eos_piece, pad_piece;
    const uint8_t *normalizer_name;
    size_t normalizer_name_length;
    size_t charsmap_length;
    size_t denormalizer_charsmap_length;
    int add_dummy_prefix;
    int remove_extra_whitespaces;
    int escape_whitespaces;
} model_options;

/* ---- hash tables from piece text to id ----------------------------------- */

/* FNV-1a, 64 bits. */
static uint64_t hash_text(const char *text, int length)
{
    uint64_t hash = 0xcbf29ce484222325u;
    for (int i = 0; i < length; i++) {
        hash ^= (uint8_t)text[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

static int table_find(const tokenizer *tok, const int *table, const char *text, int length)
{
    size_t mask = tok->table_size - 1;
    for (size_t slot = hash_text(text, length) & mask;; slot = (slot + 1) & mask) {
        int entry = table[slot];
        if (entry == 0)
            return -1;
        const sentence_piece *p = &tok->pieces[entry - 1];
        if (p->length == length && memcmp(p->piece, text, (size_t)length) == 0)
            return entry - 1;
    }
}

/* Adds piece `id` to a table; fails when the same text is already there. */
static int table_insert(tokenizer *tok, int *table, int id, pg_error *err)
{
    const sentence_piece *p = &tok->pieces[id];
    int existing = table_find(tok, table, p->piece, p->length);
    if (existing >= 0)
        return pg_error_set(err, "%s: ModelProto.pieces[%d] \"%s\" duplicates pieces[%d]; a piece "
                            "text may appear only once (sentencepiece rejects this model too)",
                            tok->file, id, p->piece, existing);
    size_t mask = tok->table_size - 1;
    size_t slot = hash_text(p->piece, p->length) & mask;
    while (table[slot] != 0)
        slot = (slot + 1) & mask;
    table[slot] = id + 1;
    return 0;
}

int tokenizer_find_mergeable(const tokenizer *tok, const char *text, int length)
{
    return table_find(tok, tok->mergeable_table, text, length);
}

int tokenizer_piece_to_id(const tokenizer *tok, const char *text, int length)
{
    int id = table_find(tok, tok->reserved_table, text, length);
    if (id < 0)
        id = table_find(tok, tok->mergeable_table, text, length);
    return id >= 0 ? id : tok->unk_id;
}

/* ---- the messages --------------------------------------------------------- */

static int parse_piece(tokenizer *tok, const pb_reader *parent, const pb_field *field, int id,
                       pg_error *err)
{
    char message[64];
    snprintf(message, sizeof message, "ModelProto.pieces[%d]", id);
    pb_reader reader = pb_reader_embedded(parent, field, message);
    sentence_piece *p = &tok->pieces[id];
    const uint8_t *text = NULL;
    size_t length = 0;
    uint64_t type = PIECE_NORMAL;
    p->score = 0.0f;

    pb_field f;
    int more;
    while ((more = pb_next_field(&reader, &f, err)) == 1) {
        if (f.number == 1) {
            if (pb_expect_wire_type(&reader, &f, "piece", PB_WIRE_LEN, err) != 0)
                return -1;
            text = f.bytes;
            length = f.length;
        } else if (f.number == 2) {
            if (pb_expect_wire_type(&reader, &f, "score", PB_WIRE_I32, err) != 0)
                return -1;
            p->score = pb_float(&f);
        } else if (f.number == 3) {
            if (pb_expect_wire_type(&reader, &f, "type", PB_WIRE_VARINT, err) != 0)
                return -1;
            type = f.varint;
        }
    }
    if (more < 0)
        return -1;

    if (length == 0)
        return pg_error_set(err, "%s: %s.piece is empty (or missing); every piece needs its text",
                            tok->file, message);
    if (memchr(text, 0, length) != NULL || length > 1024)
        return pg_error_set(err, "%s: %s.piece is %zu bytes with a NUL byte or over 1024 bytes; "
                            "this reader keeps pieces as C strings of at most 1024 bytes",
                            tok->file, message, length);
    if (type < PIECE_NORMAL || type > PIECE_BYTE)
        return pg_error_set(err, "%s: %s.type is %llu, expected 1 to 6 (NORMAL, UNKNOWN, CONTROL, "
                            "USER_DEFINED, UNUSED, BYTE)",
                            tok->file, message, (unsigned long long)type);
    p->piece = pg_calloc(length + 1, 1, "piece text", err);
    if (p->piece == NULL)
        return -1;
    memcpy(p->piece, text, length);
    p->length = (int)length;
    p->type = (piece_type)type;
    return 0;
}

/* Reads one int32 or bool VARINT field of a spec message into *value. */
static int read_int_field(const pb_reader *reader, const pb_field *f, const char *name, int *value,
                          pg_error *err)
{
    if (pb_expect_wire_type(reader, f, name, PB_WIRE_VARINT, err) != 0)
        return -1;
    *value = pb_int32(f);
    return 0;
}

static int parse_trainer_spec(const pb_reader *parent, const pb_field *field,
                              model_options *options, pg_error *err)
{
    pb_reader reader = pb_reader_embedded(parent, field, "ModelProto.trainer_spec");
    pb_field f;
    int more;
    while ((more = pb_next_field(&reader, &f, err)) == 1) {
        int status = 0;
        switch (f.number) {
        case 3: status = read_int_field(&reader, &f, "model_type", &options->model_type, err); break;
        case 35: status = read_int_field(&reader, &f, "byte_fallback", &options->byte_fallback, err); break;
        case 44:
            status = pb_expect_wire_type(&reader, &f, "unk_surface", PB_WIRE_LEN, err);
            options->unk_surface = f;
            break;
        case 46:
            status = pb_expect_wire_type(&reader, &f, "bos_piece", PB_WIRE_LEN, err);
            options->bos_piece = f;
            break;
        case 47:
            status = pb_expect_wire_type(&reader, &f, "eos_piece", PB_WIRE_LEN, err);
            options->eos_piece = f;
            break;
        case 48:
            status = pb_expect_wire_type(&reader, &f, "pad_piece", PB_WIRE_LEN, err);
            options->pad_piece = f;
            break;
        default:
            break; /* a training option: no effect on encoding */
        }
        if (status != 0)
            return -1;
    }
    return more;
}

static int parse_normalizer_spec(const pb_reader *parent, const pb_field *field, const char *message,
                                 model_options *options, pg_error *err)
{
    pb_reader reader = pb_reader_embedded(parent, field, message);
    int is_denormalizer = strstr(message, "denormalizer") != NULL;
    pb_field f;
    int more;
    while ((more = pb_next_field(&reader, &f, err)) == 1) {
        int status = 0;
        switch (f.number) {
        case 1:
            status = pb_expect_wire_type(&reader, &f, "name", PB_WIRE_LEN, err);
            if (!is_denormalizer) {
                options->normalizer_name = f.bytes;
                options->normalizer_name_length = f.length;
            }
            break;
        case 2:
            status = pb_expect_wire_type(&reader, &f, "precompiled_charsmap", PB_WIRE_LEN, err);
            if (is_denormalizer)
                options->denormalizer_charsmap_length = f.length;
            else
                options->charsmap_length = f.length;
            break;
        case 3:
        case 4:
        case 5: {
            const char *names[] = {"add_dummy_prefix", "remove_extra_whitespaces", "escape_whitespaces"};
            int value = 0;
            status = read_int_field(&reader, &f, names[f.number - 3], &value, err);
            if (!is_denormalizer) {
                int *targets[] = {&options->add_dummy_prefix, &options->remove_extra_whitespaces,
                                  &options->escape_whitespaces};
                *targets[f.number - 3] = value;
            }
            break;
        }
        default:
            break;
        }
        if (status != 0)
            return -1;
    }
    return more;
}

/* Walks the top-level ModelProto: counts the pieces and reads the specs. */
static int parse_model_proto(tokenizer *tok, const uint8_t *bytes, size_t size, int *num_pieces,
                             model_options *options, pg_error *err)
{
    pb_reader reader = pb_reader_start(bytes, size, tok->file, "ModelProto");
    pb_field f;
    int more;
    *num_pieces = 0;
    while ((more = pb_next_field(&reader, &f, err)) == 1) {
        int status = 0;
        switch (f.number) {
        case 1:
            status = pb_expect_wire_type(&reader, &f, "pieces", PB_WIRE_LEN, err);
            if (*num_pieces == 0x3FFFFFFF)
                return pg_error_set(err, "%s: more than %d pieces", tok->file, *num_pieces);
            (*num_pieces)++;
            break;
        case 2:
            status = pb_expect_wire_type(&reader, &f, "trainer_spec", PB_WIRE_LEN, err);
            if (status == 0)
                status = parse_trainer_spec(&reader, &f, options, err);
            break;
        case 3:
            status = pb_expect_wire_type(&reader, &f, "normalizer_spec", PB_WIRE_LEN, err);
            if (status == 0)
                status = parse_normalizer_spec(&reader, &f, "ModelProto.normalizer_spec", options, err);
            break;
        case 5:
            status = pb_expect_wire_type(&reader, &f, "denormalizer_spec", PB_WIRE_LEN, err);
            if (status == 0)
                status = parse_normalizer_spec(&reader, &f, "ModelProto.denormalizer_spec", options, err);
            break;
        default:
            break; /* self_test_data (4) and extensions */
        }
        if (status != 0)
            return -1;
    }
    return more;
}

/* Second pass: reads every ModelProto.pieces entry into tok->pieces. */
static int parse_pieces(tokenizer *tok, const uint8_t *bytes, size_t size, pg_error *err)
{
    pb_reader reader = pb_reader_start(bytes, size, tok->file, "ModelProto");
    pb_field f;
    int id = 0;
    int more;
    while ((more = pb_next_field(&reader, &f, err)) == 1) {
        if (f.number == 1 && parse_piece(tok, &reader, &f, id++, err) != 0)
            return -1;
    }
    return more;
}

/* ---- checks on the options ------------------------------------------------ */

/* Rejects the model types and normalizer options that this code does not implement. */
static int check_options(const tokenizer *tok, const model_options *o, pg_error *err)
{
    if (o->model_type != MODEL_TYPE_BPE)
        return pg_error_set(err, "%s: TrainerSpec.model_type is %d (%s), expected 2 (BPE); this "
                            "tokenizer implements only SentencePiece BPE models, as Gemma and "
                            "PaliGemma use",
                            tok->file, o->model_type, model_type_name(o->model_type));
    if (o->charsmap_length != 0)
        return pg_error_set(err, "%s: NormalizerSpec.precompiled_charsmap is %zu bytes (name \"%.*s\"), "
                            "expected empty (name \"identity\"); this tokenizer implements no Unicode "
                            "normalization, as Gemma uses none",
                            tok->file, o->charsmap_length, (int)o->normalizer_name_length,
                            o->normalizer_name != NULL ? (const char *)o->normalizer_name : "");
    if (o->denormalizer_charsmap_length != 0)
        return pg_error_set(err, "%s: ModelProto.denormalizer_spec.precompiled_charsmap is %zu bytes, "
                            "expected empty; this tokenizer implements no denormalization",
                            tok->file, o->denormalizer_charsmap_length);
    if (o->add_dummy_prefix)
        return pg_error_set(err, "%s: NormalizerSpec.add_dummy_prefix is true (or missing, which "
                            "means true), expected false as in Gemma's tokenizer; this tokenizer "
                            "does not add a leading \"\xE2\x96\x81\"",
                            tok->file);
    if (o->remove_extra_whitespaces)
        return pg_error_set(err, "%s: NormalizerSpec.remove_extra_whitespaces is true (or missing, "
                            "which means true), expected false as in Gemma's tokenizer; this "
                            "tokenizer keeps every space",
                            tok->file);
    if (!o->escape_whitespaces)
        return pg_error_set(err, "%s: NormalizerSpec.escape_whitespaces is false, expected true as in "
                            "Gemma's tokenizer; this tokenizer always writes spaces as \"\xE2\x96\x81\"",
                            tok->file);
    return 0;
}

/* Whether a BYTE piece has the form <0xXX>, X an uppercase hex digit. */
static int is_byte_piece_name(const sentence_piece *p)
{
    const char *digits = "0123456789ABCDEF";
    return p->length == 6 && memcmp(p->piece, "<0x", 3) == 0 && p->piece[5] == '>' &&
           strchr(digits, p->piece[3]) != NULL && strchr(digits, p->piece[4]) != NULL;
}

/* Builds the tables, finds <unk>, the byte pieces and the special ids. */
static int index_pieces(tokenizer *tok, const model_options *o, pg_error *err)
{
    tok->table_size = 16;
    while (tok->table_size < 2 * (size_t)tok->vocab_size)
        tok->table_size *= 2;
    tok->mergeable_table = pg_calloc(tok->table_size, sizeof(int), "piece table", err);
    tok->reserved_table = pg_calloc(tok->table_size, sizeof(int), "piece table", err);
    if (tok->mergeable_table == NULL || tok->reserved_table == NULL)
        return -1;

    /* NORMAL, USER_DEFINED and UNUSED pieces may come out of BPE merges; the
     * others only by id (or, for BYTE, by byte fallback). */
    tok->unk_id = -1;
    for (int id = 0; id < tok->vocab_size; id++) {
        const sentence_piece *p = &tok->pieces[id];
        int mergeable = p->type == PIECE_NORMAL || p->type == PIECE_USER_DEFINED || p->type == PIECE_UNUSED;
        if (table_insert(tok, mergeable ? tok->mergeable_table : tok->reserved_table, id, err) != 0)
            return -1;
        if (p->type == PIECE_USER_DEFINED && p->length > tok->max_user_defined_length)
            tok->max_user_defined_length = p->length;
        if (p->type == PIECE_UNKNOWN) {
            if (tok->unk_id >= 0)
                return pg_error_set(err, "%s: ModelProto.pieces[%d] \"%s\" and pieces[%d] both have type "
                                    "UNKNOWN; a model has exactly one <unk> piece",
                                    tok->file, tok->unk_id, tok->pieces[tok->unk_id].piece, id);
            tok->unk_id = id;
        }
        if (p->type == PIECE_BYTE && !o->byte_fallback)
            return pg_error_set(err, "%s: ModelProto.pieces[%d] \"%s\" has type BYTE but "
                                "TrainerSpec.byte_fallback is false; sentencepiece rejects this model too",
                                tok->file, id, p->piece);
        if (p->type == PIECE_BYTE && !is_byte_piece_name(p))
            return pg_error_set(err, "%s: ModelProto.pieces[%d] \"%s\" has type BYTE, expected a "
                                "name <0x00> to <0xFF> (two uppercase hex digits)",
                                tok->file, id, p->piece);
    }
    if (tok->unk_id < 0)
        return pg_error_set(err, "%s: no piece has type UNKNOWN (2); a SentencePiece model needs one "
                            "<unk> piece", tok->file);

    /* Byte fallback needs all 256 pieces <0x00> .. <0xFF>. */
    tok->byte_fallback = o->byte_fallback;
    for (int b = 0; b < 256; b++) {
        tok->byte_piece_ids[b] = -1;
        if (!o->byte_fallback)
            continue;
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        int id = table_find(tok, tok->reserved_table, name, 6);
        if (id < 0 || tok->pieces[id].type != PIECE_BYTE)
            return pg_error_set(err, "%s: TrainerSpec.byte_fallback is true but the BYTE piece %s is "
                                "missing; byte fallback needs all 256 of <0x00> .. <0xFF>",
                                tok->file, name);
        tok->byte_piece_ids[b] = id;
    }
    return 0;
}

/* The id of a control piece named in TrainerSpec (or of its default text), as
 * sentencepiece's bos_id() finds it: by text, and -1 unless it is CONTROL. */
static int special_id(const tokenizer *tok, const pb_field *named, const char *default_text)
{
    const char *text = named->bytes != NULL ? (const char *)named->bytes : default_text;
    int length = named->bytes != NULL ? (int)named->length : (int)strlen(default_text);
    int id = table_find(tok, tok->reserved_table, text, length);
    return id >= 0 && tok->pieces[id].type == PIECE_CONTROL ? id : -1;
}

/* ---- loading -------------------------------------------------------------- */

int tokenizer_parse(tokenizer *tok, const uint8_t *bytes, size_t size, const char *name, pg_error *err)
{
    memset(tok, 0, sizeof *tok);
    snprintf(tok->file, sizeof tok->file, "%s", name);
    model_options options = {
        .model_type = MODEL_TYPE_UNIGRAM,
        .add_dummy_prefix = 1, .remove_extra_whitespaces = 1, .escape_whitespaces = 1,
    };

    /* Pass 1: the specs and the number of pieces; reject what is not implemented. */
    int num_pieces;
    if (parse_model_proto(tok, bytes, size, &num_pieces, &options, err) != 0)
        goto fail;
    if (num_pieces == 0) {
        pg_error_set(err, "%s: ModelProto.pieces is empty (0 pieces); the file is not a "
                     "SentencePiece model or is corrupt", tok->file);
        goto fail;
    }
    if (check_options(tok, &options, err) != 0)
        goto fail;

    /* Pass 2: the pieces, with one spare entry for <image>. */
    tok->pieces = pg_calloc((size_t)num_pieces + 1, sizeof(sentence_piece), "pieces", err);
    if (tok->pieces == NULL)
        goto fail;
    tok->num_file_pieces = num_pieces;
    tok->vocab_size = num_pieces;
    if (parse_pieces(tok, bytes, size, err) != 0)
        goto fail;
    if (index_pieces(tok, &options, err) != 0)
        goto fail;

    /* The special ids, found by the piece texts TrainerSpec names. Gemma
     * names <bos>, <eos>, <pad>; sentencepiece's defaults are <s>, </s>, <pad>. */
    tok->bos_id = special_id(tok, &options.bos_piece, "<s>");
    tok->eos_id = special_id(tok, &options.eos_piece, "</s>");
    tok->pad_id = special_id(tok, &options.pad_piece, "<pad>");

    /* What decode prints for <unk>: U+2047 between spaces unless the file says otherwise. */
    snprintf(tok->unk_surface, sizeof tok->unk_surface, "%s", " \xE2\x81\x87 ");
    if (options.unk_surface.bytes != NULL)
        snprintf(tok->unk_surface, sizeof tok->unk_surface, "%.*s", (int)options.unk_surface.length,
                 (const char *)options.unk_surface.bytes);

    /* <image> is not in PaliGemma's tokenizer.model: it becomes the next id. */
    tok->image_token_id = tokenizer_piece_to_id(tok, "<image>", 7);
    if (tok->image_token_id == tok->unk_id) {
        sentence_piece *image = &tok->pieces[num_pieces];
        image->piece = pg_calloc(8, 1, "piece text", err);
        if (image->piece == NULL)
            goto fail;
        memcpy(image->piece, "<image>", 7);
        image->length = 7;
        image->type = PIECE_CONTROL;
        tok->image_token_id = num_pieces;
        tok->vocab_size = num_pieces + 1;
    }
    return 0;

fail:
    tokenizer_free(tok);
    return -1;
}

int tokenizer_load(tokenizer *tok, const char *path, pg_error *err)
{
    size_t size;
    uint8_t *bytes = pg_read_file(path, &size, err);
    if (bytes == NULL) {
        memset(tok, 0, sizeof *tok);
        return -1;
    }
    int status = tokenizer_parse(tok, bytes, size, path, err);
    free(bytes);
    return status;
}

void tokenizer_free(tokenizer *tok)
{
    if (tok->pieces != NULL) {
        for (int id = 0; id <= tok->num_file_pieces; id++)
            free(tok->pieces[id].piece);
    }
    free(tok->pieces);
    free(tok->mergeable_table);
    free(tok->reserved_table);
    memset(tok, 0, sizeof *tok);
}

const char *tokenizer_piece(const tokenizer *tok, int id)
{
    if (id < 0 || id >= tok->vocab_size)
        return NULL;
    return tok->pieces[id].piece;
}

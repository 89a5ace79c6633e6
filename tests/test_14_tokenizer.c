/*
 * Chapter 14, the SentencePiece BPE tokenizer, against golden/14_tokenizer
 * (gen_14_tokenizer.py). The golden files hold the ids and decoded texts that
 * sentencepiece 0.1.97 gives with a Gemma-like model trained there, and with
 * three hand-written models (UNUSED pieces, score ties, training-only
 * options), and the PaliGemma prompt ids.
 *
 * Token ids are integers, so every comparison is exact: no tolerance.
 * The rejection tests build malformed ModelProto bytes here, one per check.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "14_tokenizer/tokenizer.h"
#include "io.h"
#include "testing.h"

#define CHAPTER "14_tokenizer"
#define NUM_IMAGE_TOKENS 256
#define MAX_IDS 4096

/* ---- golden files ---------------------------------------------------------- */

/* A list of byte strings or id lists: item i is values[offsets[i]:offsets[i + 1]]. */
typedef struct {
    npy_array values;
    npy_array offsets;
    int count;
} golden_list;

/* Loads a one-dimensional golden array of any length. */
static void load_vector(npy_array *array, const char *name, npy_dtype dtype)
{
    pg_error err;
    const char *path = golden_path(CHAPTER, name);
    if (npy_load(path, array, &err) != 0)
        ck_abort_msg("%s (golden files are made by `make golden`)", err.message);
    ck_assert_msg(array->dtype == dtype && array->ndim == 1,
                  "%s: dtype '%s' with %d dimensions, expected '%s' with 1; run `make golden`", path,
                  npy_dtype_descr(array->dtype), array->ndim, npy_dtype_descr(dtype));
}

static void load_list(golden_list *list, const char *values_name, const char *offsets_name,
                      npy_dtype dtype)
{
    load_vector(&list->values, values_name, dtype);
    load_vector(&list->offsets, offsets_name, NPY_INT64);
    const int64_t *offsets = list->offsets.data;
    list->count = (int)list->offsets.count - 1;
    ck_assert_msg(list->count >= 0 && offsets[list->count] == (int64_t)list->values.count,
                  "%s: the offsets do not end at the %zu values of %s; run `make golden`",
                  offsets_name, list->values.count, values_name);
}

static void free_list(golden_list *list)
{
    npy_free(&list->values);
    npy_free(&list->offsets);
}

/* Copies text item i into a new NUL-terminated string. */
static char *list_text(const golden_list *list, int i, size_t *length)
{
    const int64_t *offsets = list->offsets.data;
    *length = (size_t)(offsets[i + 1] - offsets[i]);
    char *text = pg_xcalloc(*length + 1, 1, "golden text");
    memcpy(text, (const uint8_t *)list->values.data + offsets[i], *length);
    return text;
}

/* Copies id list i into ints. */
static int list_ids(const golden_list *list, int i, int *ids)
{
    const int64_t *offsets = list->offsets.data;
    const int64_t *values = list->values.data;
    int n = (int)(offsets[i + 1] - offsets[i]);
    for (int k = 0; k < n; k++)
        ids[k] = (int)values[offsets[i] + k];
    return n;
}

/* Writes text with non-printable bytes as \xNN, for messages. */
static const char *escaped(const char *text, size_t length)
{
    static char out[1024];
    size_t used = 0;
    for (size_t i = 0; i < length && used + 5 < sizeof out; i++) {
        uint8_t c = (uint8_t)text[i];
        if (c >= 0x20 && c < 0x7F && c != '\\')
            out[used++] = (char)c;
        else
            used += (size_t)snprintf(out + used, sizeof out - used, "\\x%02x", c);
    }
    out[used] = '\0';
    return out;
}

static const char *format_ids(const int *ids, int n)
{
    static char out[1024];
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used + 16 < sizeof out; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, i ? ", %d" : "%d", ids[i]);
    return out;
}

static void load_trained(tokenizer *tok)
{
    pg_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s", golden_path(CHAPTER, "tokenizer"));
    strcpy(path + strlen(path) - 4, ".model"); /* golden_path ends in .npy */
    if (tokenizer_load(tok, path, &err) != 0)
        ck_abort_msg("%s", err.message);
}

/* Encodes every string of <prefix>_strings with `tok` and compares with
 * <prefix>_ids; returns how many strings were compared. Scans all strings,
 * prints each mismatch, then makes one assertion. */
static int check_encode_all(const tokenizer *tok, const char *strings_name, const char *ids_name)
{
    char values[64], offsets[64];
    golden_list strings, want;
    snprintf(values, sizeof values, "%s_bytes", strings_name);
    snprintf(offsets, sizeof offsets, "%s_offsets", strings_name);
    load_list(&strings, values, offsets, NPY_UINT8);
    snprintf(offsets, sizeof offsets, "%s_offsets", ids_name);
    load_list(&want, ids_name, offsets, NPY_INT64);
    ck_assert_int_eq(strings.count, want.count);

    static int got[MAX_IDS], expected[MAX_IDS];
    int mismatches = 0, first_mismatch = -1;
    size_t total_ids = 0;
    for (int i = 0; i < strings.count; i++) {
        size_t length;
        char *text = list_text(&strings, i, &length);
        int n_want = list_ids(&want, i, expected);
        int n_got;
        pg_error err;
        if (tokenizer_encode(tok, text, got, MAX_IDS, &n_got, &err) != 0)
            ck_abort_msg("string %d \"%s\": %s", i, escaped(text, length), err.message);
        total_ids += (size_t)n_want;
        if (n_got != n_want || memcmp(got, expected, (size_t)n_got * sizeof(int)) != 0) {
            if (mismatches < 5) {
                printf("  string %d \"%s\":\n    got  [%s]\n", i, escaped(text, length), format_ids(got, n_got));
                printf("    want [%s]\n", format_ids(expected, n_want));
            }
            if (first_mismatch < 0)
                first_mismatch = i;
            mismatches++;
        }
        free(text);
    }
    printf("  %s: %d strings, %zu ids, %d strings with other ids than sentencepiece\n", ids_name,
           strings.count, total_ids, mismatches);
    ck_assert_msg(mismatches == 0, "%s: %d of %d strings encode to other ids than sentencepiece "
                  "(first: string %d)", ids_name, mismatches, strings.count, first_mismatch);
    int count = strings.count;
    free_list(&strings);
    free_list(&want);
    return count;
}

/* ---- the trained model ------------------------------------------------------ */

START_TEST(trained_model_loads)
{
    tokenizer tok;
    load_trained(&tok);
    /* 2048 pieces from training, then <image>. */
    ck_assert_int_eq(tok.num_file_pieces, 2048);
    ck_assert_int_eq(tok.vocab_size, 2049);
    ck_assert_int_eq(tok.image_token_id, 2048);
    ck_assert_str_eq(tokenizer_piece(&tok, 2048), "<image>");
    ck_assert_ptr_null(tokenizer_piece(&tok, 2049));
    /* Gemma's order: <pad> <eos> <bos> <unk>, then <loc0000> .. <loc1023>, <seg000> .. <seg127>. */
    ck_assert_int_eq(tok.pad_id, 0);
    ck_assert_int_eq(tok.eos_id, 1);
    ck_assert_int_eq(tok.bos_id, 2);
    ck_assert_int_eq(tok.unk_id, 3);
    ck_assert_str_eq(tokenizer_piece(&tok, 4), "<loc0000>");
    ck_assert_str_eq(tokenizer_piece(&tok, 1027), "<loc1023>");
    ck_assert_str_eq(tokenizer_piece(&tok, 1028), "<seg000>");
    ck_assert_str_eq(tokenizer_piece(&tok, 1155), "<seg127>");
    ck_assert_int_eq(tok.byte_fallback, 1);
    ck_assert_str_eq(tokenizer_piece(&tok, tok.byte_piece_ids[0x41]), "<0x41>");
    tokenizer_free(&tok);
}
END_TEST

START_TEST(encode_matches_sentencepiece)
{
    tokenizer tok;
    load_trained(&tok);
    int count = check_encode_all(&tok, "strings", "ids");
    ck_assert_int_ge(count, 500);
    tokenizer_free(&tok);
}
END_TEST

/* Decodes every id list of <ids_name> and compares with sentencepiece's
 * decode() in <decoded_name>, byte for byte. */
static void check_decode_all(const char *ids_name, const char *decoded_name)
{
    tokenizer tok;
    golden_list ids, want;
    char values[64], offsets[64];
    load_trained(&tok);
    snprintf(offsets, sizeof offsets, "%s_offsets", ids_name);
    load_list(&ids, ids_name, offsets, NPY_INT64);
    snprintf(values, sizeof values, "%s_bytes", decoded_name);
    snprintf(offsets, sizeof offsets, "%s_offsets", decoded_name);
    load_list(&want, values, offsets, NPY_UINT8);
    ck_assert_int_eq(ids.count, want.count);

    static int id_buffer[MAX_IDS];
    static char got[16384];
    int mismatches = 0;
    for (int i = 0; i < ids.count; i++) {
        size_t length;
        char *expected = list_text(&want, i, &length);
        int n = list_ids(&ids, i, id_buffer);
        pg_error err;
        if (tokenizer_decode(&tok, id_buffer, n, got, sizeof got, &err) != 0)
            ck_abort_msg("string %d: %s", i, err.message);
        if (strlen(got) != length || memcmp(got, expected, length) != 0) {
            if (mismatches < 5)
                printf("  decode %d: got \"%s\"\n", i, escaped(got, strlen(got)));
            mismatches++;
        }
        free(expected);
    }
    printf("  decode %s: %d id lists, %d decoded differently from sentencepiece\n", ids_name, ids.count,
           mismatches);
    ck_assert_msg(mismatches == 0, "%s: %d of %d id lists decode differently from sentencepiece",
                  ids_name, mismatches, ids.count);
    free_list(&ids);
    free_list(&want);
    tokenizer_free(&tok);
}

START_TEST(decode_matches_sentencepiece)
{
    check_decode_all("ids", "decoded");
}
END_TEST

/* <unk> prints " ⁇ ", control pieces nothing, each byte outside a
 * well-formed UTF-8 character U+FFFD. */
START_TEST(decode_special_and_invalid_bytes)
{
    check_decode_all("raw_ids", "raw_decoded");
}
END_TEST

/* decode(encode(s)) == s for every string where sentencepiece round-trips. */
START_TEST(decode_round_trips)
{
    tokenizer tok;
    golden_list strings, decoded;
    load_trained(&tok);
    load_list(&strings, "strings_bytes", "strings_offsets", NPY_UINT8);
    load_list(&decoded, "decoded_bytes", "decoded_offsets", NPY_UINT8);

    static int ids[MAX_IDS];
    static char got[16384];
    int round_trips = 0, failures = 0;
    for (int i = 0; i < strings.count; i++) {
        size_t length, decoded_length;
        char *text = list_text(&strings, i, &length);
        char *reference = list_text(&decoded, i, &decoded_length);
        int round_trips_in_sentencepiece = length == decoded_length && memcmp(text, reference, length) == 0;

        /* The one kind of string that does not: a literal "▁" in the text
         * is the space symbol to the decoder, so it comes back as ' '. */
        if (!round_trips_in_sentencepiece)
            ck_assert_msg(strstr(text, "\xE2\x96\x81") != NULL,
                          "string %d \"%s\" has no \"\xE2\x96\x81\" but does not round-trip in sentencepiece",
                          i, escaped(text, length));
        if (round_trips_in_sentencepiece) {
            int n;
            pg_error err;
            round_trips++;
            if (tokenizer_encode(&tok, text, ids, MAX_IDS, &n, &err) != 0 ||
                tokenizer_decode(&tok, ids, n, got, sizeof got, &err) != 0)
                ck_abort_msg("string %d: %s", i, err.message);
            if (strcmp(got, text) != 0) {
                printf("  round trip %d: \"%s\"\n", i, escaped(text, length));
                failures++;
            }
        }
        free(text);
        free(reference);
    }
    printf("  round trip: %d of %d strings round-trip in sentencepiece, %d fail here\n", round_trips,
           strings.count, failures);
    ck_assert_msg(failures == 0, "%d strings do not round-trip", failures);
    free_list(&strings);
    free_list(&decoded);
    tokenizer_free(&tok);
}
END_TEST

/* ---- PaliGemma prompt -------------------------------------------------------- */

START_TEST(prompt_ids_match_processor)
{
    tokenizer tok;
    golden_list want;
    load_trained(&tok);
    load_list(&want, "prompt", "prompt_offsets", NPY_INT64);

    /* The prompts of prompt_texts.txt, in its order. */
    const char *prompts[] = {"caption en", "detect red circle", "answer en what color is the square?",
                             "<bos>", ""};
    ck_assert_int_eq(want.count, 5);
    static int got[MAX_IDS], expected[MAX_IDS];
    for (int p = 0; p < 5; p++) {
        int n_got;
        pg_error err;
        int n_want = list_ids(&want, p, expected);
        if (paligemma_prompt_ids(&tok, prompts[p], NUM_IMAGE_TOKENS, got, MAX_IDS, &n_got, &err) != 0)
            ck_abort_msg("%s", err.message);
        ck_assert_msg(n_got == n_want && memcmp(got, expected, (size_t)n_got * sizeof(int)) == 0,
                      "prompt \"%s\": got [%s]", prompts[p], format_ids(got + 256, n_got - 256));

        /* 256 x <image>, then exactly one <bos>, at index 256. */
        int bos_count = 0;
        for (int i = 0; i < n_got; i++) {
            if (i < NUM_IMAGE_TOKENS)
                ck_assert_int_eq(got[i], tok.image_token_id);
            if (got[i] == tok.bos_id) {
                ck_assert_int_eq(i, NUM_IMAGE_TOKENS);
                bos_count++;
            }
        }
        ck_assert_int_eq(bos_count, 1);
    }

    /* "caption en" spelled out: caption, ▁en, then "\n" (a piece of this model). */
    int n;
    pg_error err;
    ck_assert_int_eq(paligemma_prompt_ids(&tok, "caption en", NUM_IMAGE_TOKENS, got, MAX_IDS, &n, &err), 0);
    ck_assert_int_eq(n, 256 + 4);
    ck_assert_int_eq(got[255], 2048);
    ck_assert_int_eq(got[256], 2);
    ck_assert_str_eq(tokenizer_piece(&tok, got[257]), "caption");
    ck_assert_str_eq(tokenizer_piece(&tok, got[258]), "\xE2\x96\x81" "en");
    ck_assert_str_eq(tokenizer_piece(&tok, got[259]), "\n");
    free_list(&want);
    tokenizer_free(&tok);
}
END_TEST

/* The text "<bos>" is ordinary text: bytes and letters, never id 2. */
START_TEST(bos_text_is_not_bos)
{
    tokenizer tok;
    int ids[16], n;
    pg_error err;
    load_trained(&tok);
    ck_assert_int_eq(tokenizer_encode(&tok, "<bos>", ids, 16, &n, &err), 0);
    ck_assert_int_gt(n, 1);
    for (int i = 0; i < n; i++)
        ck_assert_int_ne(ids[i], tok.bos_id);
    tokenizer_free(&tok);
}
END_TEST

/* ---- hand-written models ----------------------------------------------------- */

static void check_handmade(const char *name)
{
    char file[128];
    tokenizer tok;
    pg_error err;
    snprintf(file, sizeof file, "%s", golden_path(CHAPTER, name));
    strcpy(file + strlen(file) - 4, ".model");
    if (tokenizer_load(&tok, file, &err) != 0)
        ck_abort_msg("%s", err.message);
    char strings[64], ids[64];
    snprintf(strings, sizeof strings, "%s_strings", name);
    snprintf(ids, sizeof ids, "%s_ids", name);
    check_encode_all(&tok, strings, ids);
    tokenizer_free(&tok);
}

/* "abc" is UNUSED: merged, then split back into "ab" + "c"; "abcd" stays.
 * "<x>a" is matched whole although the user-defined "<x>" is its prefix. */
START_TEST(unused_and_user_defined_pieces)
{
    check_handmade("handmade_unused");
}
END_TEST

/* Equal scores: the leftmost pair merges first. */
START_TEST(score_ties_merge_leftmost)
{
    check_handmade("handmade_ties");
}
END_TEST

/* split_digits and the whitespace options do not change encoding. */
START_TEST(training_options_ignored)
{
    check_handmade("handmade_options");
}
END_TEST

/* ---- errors on input ----------------------------------------------------------- */

START_TEST(invalid_utf8_rejected)
{
    tokenizer tok;
    int ids[16], n;
    pg_error err;
    load_trained(&tok);
    /* 0xC3 0x28: a two-byte lead without its continuation byte. */
    ck_assert_int_eq(tokenizer_encode(&tok, "ok \xC3\x28", ids, 16, &n, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "invalid UTF-8 at byte 3"));
    /* An overlong "/" and a surrogate. */
    ck_assert_int_eq(tokenizer_encode(&tok, "\xC0\xAF", ids, 16, &n, &err), -1);
    ck_assert_int_eq(tokenizer_encode(&tok, "\xED\xA0\x80", ids, 16, &n, &err), -1);
    tokenizer_free(&tok);
}
END_TEST

START_TEST(too_many_ids_rejected)
{
    tokenizer tok;
    int ids[4], n;
    pg_error err;
    load_trained(&tok);
    /* An emoji falls back to 4 byte pieces, so 2 of them need 8 ids. */
    ck_assert_int_eq(tokenizer_encode(&tok, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80", ids, 4, &n, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "more than max_ids = 4"));
    int prompt[300];
    ck_assert_int_eq(paligemma_prompt_ids(&tok, "caption en", 256, prompt, 258, &n, &err), -1);
    tokenizer_free(&tok);
}
END_TEST

START_TEST(decode_errors_rejected)
{
    tokenizer tok;
    char text[4];
    pg_error err;
    load_trained(&tok);
    int outside[] = {5, 2049};
    ck_assert_int_eq(tokenizer_decode(&tok, outside, 2, text, sizeof text, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "ids[1] = 2049 is outside the vocabulary [0, 2049)"));
    int loc[] = {5}; /* "<loc0001>": 9 bytes, more than the 4-byte buffer */
    ck_assert_int_eq(tokenizer_decode(&tok, loc, 1, text, sizeof text, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "more than text_size = 4"));
    tokenizer_free(&tok);
}
END_TEST

/* ---- rejected model files --------------------------------------------------------- */

/* A tiny protobuf writer for the malformed models. */
typedef struct {
    uint8_t data[2048];
    size_t size;
} pb_buffer;

static void put_varint(pb_buffer *b, uint64_t value)
{
    do {
        uint8_t byte = value & 0x7F;
        value >>= 7;
        b->data[b->size++] = byte | (value ? 0x80 : 0);
    } while (value);
}

static void put_int(pb_buffer *b, int number, int64_t value)
{
    put_varint(b, (uint64_t)number << 3 | 0);
    put_varint(b, (uint64_t)value);
}

static void put_bytes(pb_buffer *b, int number, const void *bytes, size_t length)
{
    put_varint(b, (uint64_t)number << 3 | 2);
    put_varint(b, length);
    memcpy(b->data + b->size, bytes, length);
    b->size += length;
}

static void put_string(pb_buffer *b, int number, const char *text)
{
    put_bytes(b, number, text, strlen(text));
}

static void put_message(pb_buffer *b, int number, const pb_buffer *message)
{
    put_bytes(b, number, message->data, message->size);
}

static void put_piece(pb_buffer *b, const char *text, float score, int type)
{
    pb_buffer piece = {.size = 0};
    uint32_t bits;
    memcpy(&bits, &score, sizeof bits);
    put_string(&piece, 1, text);
    put_varint(&piece, 2 << 3 | 5);
    for (int i = 0; i < 4; i++)
        piece.data[piece.size++] = (uint8_t)(bits >> (8 * i));
    put_int(&piece, 3, type);
    put_message(b, 1, &piece);
}

/* Options of a model built by build_model; the defaults are Gemma's. */
typedef struct {
    int model_type;
    int add_dummy_prefix;
    const char *charsmap;
    int with_unk;
    int byte_fallback;
    int num_pieces; /* how many of the 7 pieces to write */
} model_options;

static const model_options GEMMA_LIKE = {.model_type = 2, .add_dummy_prefix = 0, .charsmap = NULL,
                                         .with_unk = 1, .byte_fallback = 0, .num_pieces = 7};

/* <pad> <eos> <bos> <unk> a b ab, TrainerSpec, NormalizerSpec. */
static pb_buffer build_model(model_options o)
{
    pb_buffer model = {.size = 0}, trainer = {.size = 0}, normalizer = {.size = 0};
    const char *texts[] = {"<pad>", "<eos>", "<bos>", "<unk>", "a", "b", "ab"};
    int types[] = {3, 3, 3, o.with_unk ? 2 : 1, 1, 1, 1};
    float scores[] = {0, 0, 0, 0, -1, -1, -2};
    for (int i = 0; i < o.num_pieces; i++)
        put_piece(&model, texts[i], scores[i], types[i]);

    put_int(&trainer, 3, o.model_type);
    put_int(&trainer, 35, o.byte_fallback);
    put_int(&trainer, 40, 3);
    put_int(&trainer, 41, 2);
    put_int(&trainer, 42, 1);
    put_int(&trainer, 43, 0);
    put_string(&trainer, 46, "<bos>");
    put_string(&trainer, 47, "<eos>");
    put_message(&model, 2, &trainer);

    put_string(&normalizer, 1, o.charsmap != NULL ? "nmt_nfkc" : "identity");
    if (o.charsmap != NULL)
        put_string(&normalizer, 2, o.charsmap);
    put_int(&normalizer, 3, o.add_dummy_prefix);
    put_int(&normalizer, 4, 0);
    put_int(&normalizer, 5, 1);
    put_message(&model, 3, &normalizer);
    return model;
}

/* Parses the bytes as "<name>.model"; expects failure with each of the
 * fragments in the message (NULL-terminated list). */
static void expect_rejected(const pb_buffer *model, const char *name, const char *fragments[])
{
    tokenizer tok;
    pg_error err;
    char file[64];
    snprintf(file, sizeof file, "%s.model", name);
    int status = tokenizer_parse(&tok, model->data, model->size, file, &err);
    ck_assert_msg(status == -1, "%s was accepted", file);
    printf("  %s\n", err.message);
    ck_assert_msg(strncmp(err.message, file, strlen(file)) == 0, "message does not name the file: %s",
                  err.message);
    for (int i = 0; fragments[i] != NULL; i++)
        ck_assert_msg(strstr(err.message, fragments[i]) != NULL, "message lacks \"%s\": %s",
                      fragments[i], err.message);
}

START_TEST(gemma_like_model_accepted)
{
    pb_buffer model = build_model(GEMMA_LIKE);
    tokenizer tok;
    pg_error err;
    int ids[8], n;
    ck_assert_msg(tokenizer_parse(&tok, model.data, model.size, "tiny.model", &err) == 0, "%s",
                  err.message);
    ck_assert_int_eq(tok.bos_id, 2);
    ck_assert_int_eq(tok.image_token_id, 7);
    /* "ab" merges; "c" is unknown and, without byte fallback, <unk>. */
    ck_assert_int_eq(tokenizer_encode(&tok, "abc", ids, 8, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 6);
    ck_assert_int_eq(ids[1], 3);
    tokenizer_free(&tok);
}
END_TEST

START_TEST(truncated_varint_rejected)
{
    /* Tag of field 1 (LEN), then a length whose continuation bit runs off the end. */
    pb_buffer model = {.data = {0x0A, 0x80}, .size = 2};
    expect_rejected(&model, "truncated", (const char *[]){"truncated varint", "at byte 1", NULL});
}
END_TEST

START_TEST(length_past_end_rejected)
{
    pb_buffer model = {.data = {0x0A, 0x05, 'a'}, .size = 3};
    expect_rejected(&model, "short", (const char *[]){"5 bytes, past the end", "1 bytes left", NULL});
}
END_TEST

START_TEST(real_model_cut_short_rejected)
{
    size_t size;
    pg_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s", golden_path(CHAPTER, "tokenizer"));
    strcpy(path + strlen(path) - 4, ".model");
    uint8_t *bytes = pg_read_file(path, &size, &err);
    ck_assert_ptr_nonnull(bytes);
    tokenizer tok;
    ck_assert_int_eq(tokenizer_parse(&tok, bytes, size / 2, "half.model", &err), -1);
    printf("  %s\n", err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "half.model"));
    free(bytes);
}
END_TEST

START_TEST(wrong_wire_type_rejected)
{
    /* A piece whose score (field 2, float) is written as a varint. */
    pb_buffer piece = {.size = 0}, model = build_model(GEMMA_LIKE);
    put_string(&piece, 1, "c");
    put_int(&piece, 2, 1);
    put_message(&model, 1, &piece);
    expect_rejected(&model, "wire", (const char *[]){"ModelProto.pieces[7].score", "wire type 0 (VARINT)",
                                                     "expected 5 (I32)", NULL});
}
END_TEST

START_TEST(group_wire_type_rejected)
{
    pb_buffer model = {.data = {0x0B}, .size = 1}; /* field 1, wire type 3 */
    expect_rejected(&model, "group", (const char *[]){"wire type 3 (SGROUP)", NULL});
}
END_TEST

START_TEST(zero_pieces_rejected)
{
    model_options o = GEMMA_LIKE;
    o.num_pieces = 0;
    pb_buffer model = build_model(o);
    expect_rejected(&model, "empty", (const char *[]){"ModelProto.pieces is empty", NULL});
}
END_TEST

START_TEST(unigram_model_rejected)
{
    model_options o = GEMMA_LIKE;
    o.model_type = 1;
    pb_buffer model = build_model(o);
    expect_rejected(&model, "unigram", (const char *[]){"TrainerSpec.model_type is 1 (UNIGRAM)",
                                                        "expected 2 (BPE)", NULL});
}
END_TEST

START_TEST(normalizer_charsmap_rejected)
{
    model_options o = GEMMA_LIKE;
    o.charsmap = "xyz";
    pb_buffer model = build_model(o);
    expect_rejected(&model, "nfkc", (const char *[]){"precompiled_charsmap is 3 bytes",
                                                     "name \"nmt_nfkc\"", NULL});
}
END_TEST

START_TEST(dummy_prefix_rejected)
{
    model_options o = GEMMA_LIKE;
    o.add_dummy_prefix = 1;
    pb_buffer model = build_model(o);
    expect_rejected(&model, "llama", (const char *[]){"NormalizerSpec.add_dummy_prefix is true", NULL});
}
END_TEST

START_TEST(missing_unk_rejected)
{
    model_options o = GEMMA_LIKE;
    o.with_unk = 0;
    pb_buffer model = build_model(o);
    expect_rejected(&model, "no_unk", (const char *[]){"no piece has type UNKNOWN", NULL});
}
END_TEST

START_TEST(missing_byte_pieces_rejected)
{
    model_options o = GEMMA_LIKE;
    o.byte_fallback = 1;
    pb_buffer model = build_model(o);
    expect_rejected(&model, "no_bytes", (const char *[]){"byte_fallback is true", "<0x00> is missing", NULL});
}
END_TEST

START_TEST(duplicate_piece_rejected)
{
    pb_buffer model = build_model(GEMMA_LIKE);
    put_piece(&model, "ab", -3, 1);
    expect_rejected(&model, "duplicate", (const char *[]){"pieces[7] \"ab\" duplicates pieces[6]", NULL});
}
END_TEST

START_TEST(bad_piece_type_rejected)
{
    pb_buffer model = build_model(GEMMA_LIKE);
    put_piece(&model, "c", -3, 9);
    expect_rejected(&model, "type", (const char *[]){"ModelProto.pieces[7].type is 9", NULL});
}
END_TEST

START_TEST(missing_file_rejected)
{
    tokenizer tok;
    pg_error err;
    ck_assert_int_eq(tokenizer_load(&tok, "no/such/tokenizer.model", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "cannot open no/such/tokenizer.model"));
}
END_TEST

Suite *tokenizer_suite(void)
{
    Suite *s = suite_create("tokenizer");

    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, trained_model_loads);
    tcase_add_test(golden, encode_matches_sentencepiece);
    tcase_add_test(golden, decode_matches_sentencepiece);
    tcase_add_test(golden, decode_special_and_invalid_bytes);
    tcase_add_test(golden, decode_round_trips);
    tcase_add_test(golden, prompt_ids_match_processor);
    tcase_add_test(golden, bos_text_is_not_bos);
    tcase_add_test(golden, unused_and_user_defined_pieces);
    tcase_add_test(golden, score_ties_merge_leftmost);
    tcase_add_test(golden, training_options_ignored);
    suite_add_tcase(s, golden);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, invalid_utf8_rejected);
    tcase_add_test(errors, too_many_ids_rejected);
    tcase_add_test(errors, decode_errors_rejected);
    tcase_add_test(errors, gemma_like_model_accepted);
    tcase_add_test(errors, truncated_varint_rejected);
    tcase_add_test(errors, length_past_end_rejected);
    tcase_add_test(errors, real_model_cut_short_rejected);
    tcase_add_test(errors, wrong_wire_type_rejected);
    tcase_add_test(errors, group_wire_type_rejected);
    tcase_add_test(errors, zero_pieces_rejected);
    tcase_add_test(errors, unigram_model_rejected);
    tcase_add_test(errors, normalizer_charsmap_rejected);
    tcase_add_test(errors, dummy_prefix_rejected);
    tcase_add_test(errors, missing_unk_rejected);
    tcase_add_test(errors, missing_byte_pieces_rejected);
    tcase_add_test(errors, duplicate_piece_rejected);
    tcase_add_test(errors, bad_piece_type_rejected);
    tcase_add_test(errors, missing_file_rejected);
    suite_add_tcase(s, errors);
    return s;
}

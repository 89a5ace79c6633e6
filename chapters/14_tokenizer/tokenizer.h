/*
 * Chapter 14 (inputs, read before chapter 11): the SentencePiece BPE tokenizer
 * and the PaliGemma prompt.
 *
 * Mirrors sentencepiece 0.1.97 (SentencePieceProcessor::Encode and Decode with
 * bpe::Model, the library behind PaliGemma's and Gemma's tokenizer.model), for
 * the options Gemma uses: BPE, byte fallback, identity normalization, no dummy
 * prefix, no whitespace removal, spaces escaped to "▁" (U+2581).
 *
 *   encode(text):  ' ' -> "▁"; split into user-defined pieces (longest match)
 *                  and single characters; repeatedly merge the adjacent pair
 *                  whose concatenation is a piece with the highest score
 *                  (ties: leftmost); split UNUSED pieces back; an unknown
 *                  character becomes one <0xXX> piece per UTF-8 byte.
 *   decode(ids):   "▁" -> ' '; byte pieces assembled into UTF-8 (U+FFFD per
 *                  invalid byte); control pieces and <image> print nothing.
 *
 * Shapes: ids [T] int, T <= max_ids; ids are in [0, V) with V = vocab_size.
 * The loaded tokenizer owns its memory (tokenizer_free); encode allocates
 * scratch proportional to the text length and frees it before returning.
 */
#ifndef PG_TOKENIZER_H
#define PG_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "pg_error.h"

/* ModelProto.SentencePiece.Type in sentencepiece_model.proto. */
typedef enum {
    PIECE_NORMAL = 1,
    PIECE_UNKNOWN = 2,
    PIECE_CONTROL = 3,      /* <bos>, <eos>, <pad>: never produced from text */
    PIECE_USER_DEFINED = 4, /* <locXXXX>, <segXXX>: matched whole in the text */
    PIECE_UNUSED = 5,       /* may be merged, then split back into its halves */
    PIECE_BYTE = 6          /* <0x00> .. <0xFF>, for byte fallback */
} piece_type;

typedef struct {
    char *piece;     /* UTF-8, NUL-terminated (pieces never contain NUL) */
    int length;      /* bytes, without the NUL */
    float score;     /* merge priority: higher merges first */
    piece_type type;
} sentence_piece;

typedef struct {
    char file[256];          /* the model's path, for messages */
    sentence_piece *pieces;  /* [vocab_size] */
    int num_file_pieces;     /* pieces stored in the file */
    int vocab_size;          /* num_file_pieces, plus 1 when <image> was appended */
    int unk_id;              /* the one UNKNOWN piece */
    int bos_id, eos_id, pad_id; /* the CONTROL pieces TrainerSpec names; -1 when absent */
    int image_token_id;      /* id of <image>: the file's, else num_file_pieces */
    int byte_fallback;       /* TrainerSpec.byte_fallback */
    int byte_piece_ids[256]; /* id of <0xXX> for each byte; -1 without byte fallback */
    char unk_surface[64];    /* TrainerSpec.unk_surface: what decode prints for <unk> */
    int max_user_defined_length; /* bytes of the longest user-defined piece */

    /* Two open-addressing hash tables from piece text to id + 1 (0 = empty),
     * as sentencepiece keeps them: `mergeable` has the NORMAL, USER_DEFINED and
     * UNUSED pieces (the only ones BPE may produce), `reserved` the others. */
    int *mergeable_table;
    int *reserved_table;
    size_t table_size;       /* a power of two, at least twice vocab_size */
} tokenizer;

/* Parses a serialized ModelProto held in memory; `name` is used in messages.
 * Rejects malformed protobuf, models other than BPE and normalizer options
 * this code does not implement. Returns 0, or -1 with err filled. */
int tokenizer_parse(tokenizer *tok, const uint8_t *bytes, size_t size, const char *name, pg_error *err);

/* Reads and parses the tokenizer.model file at path. */
int tokenizer_load(tokenizer *tok, const char *path, pg_error *err);

/* Frees what tokenizer_parse allocated and zeroes the struct. Safe on a zeroed struct. */
void tokenizer_free(tokenizer *tok);

/* Returns the id of the NORMAL, USER_DEFINED or UNUSED piece with this text
 * (the pieces a BPE merge may produce), or -1. */
int tokenizer_find_mergeable(const tokenizer *tok, const char *text, int length);

/* Returns the id of any piece with this text, as sentencepiece's PieceToId:
 * CONTROL, UNKNOWN and BYTE pieces first, then the others, else unk_id. */
int tokenizer_piece_to_id(const tokenizer *tok, const char *text, int length);

/* Returns the text of piece `id` ("<image>" for the appended id), or NULL
 * when id is outside [0, vocab_size). */
const char *tokenizer_piece(const tokenizer *tok, int id);

/* Encodes NUL-terminated UTF-8 text into ids[0..*n_ids), without bos or eos.
 * Fails on invalid UTF-8 and when the text needs more than max_ids ids. */
int tokenizer_encode(const tokenizer *tok, const char *text, int *ids, int max_ids, int *n_ids,
                     pg_error *err);

/* Decodes ids[0..n_ids) into text, NUL-terminated, as sentencepiece's
 * decode() prints them. Fails on an id outside [0, vocab_size) and when the
 * text with its NUL needs more than text_size bytes. */
int tokenizer_decode(const tokenizer *tok, const int *ids, int n_ids, char *text, size_t text_size,
                     pg_error *err);

/* Builds PaliGemma's prefix: num_image_tokens x <image>, then <bos>, then
 * tokens(prompt), then tokens("\n"), the two encoded separately. For
 * "caption en" and the real tokenizer: [257152] * 256 + [2] + tokens + [108]. */
int paligemma_prompt_ids(const tokenizer *tok, const char *prompt, int num_image_tokens, int *ids,
                         int max_ids, int *n_ids, pg_error *err);

#endif

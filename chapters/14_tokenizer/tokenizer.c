/*
 * Chapter 14 (inputs): SentencePiece BPE encoding and decoding, and the
 * PaliGemma prompt. See tokenizer.h for the contract and
 * docs/14_tokenizer.md for the walk-through.
 *
 * Python (sentencepiece 0.1.97, what the golden ids come from):
 *   ids  = sp.encode(text)      # SentencePieceProcessor::Encode, bpe::Model
 *   text = sp.decode(ids)       # SentencePieceProcessor::Decode
 *
 * Shapes: text is n bytes of UTF-8; the normalized text is at most 3n bytes
 * (each space becomes the 3-byte "▁"); symbols and pairs are [M], M <= 3n.
 */
#include "14_tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "io.h"

#define SPACE_SYMBOL "\xE2\x96\x81" /* "▁", U+2581 LOWER ONE EIGHTH BLOCK */
#define SPACE_SYMBOL_LENGTH 3
#define REPLACEMENT_CHARACTER "\xEF\xBF\xBD" /* U+FFFD */

/* ---- UTF-8 ----------------------------------------------------------------- */

static int is_continuation(uint8_t byte)
{
    return (byte & 0xC0) == 0x80;
}

/* Returns the length of the well-formed UTF-8 character at s (1 to 4), or 0
 * when the bytes there are not one. Well-formed means what sentencepiece's
 * DecodeUTF8 accepts: no overlong form, no surrogate (U+D800 to U+DFFF), at
 * most U+10FFFF, and all continuation bytes present within `left` bytes. */
static int utf8_character_length(const uint8_t *s, size_t left)
{
    uint32_t code_point;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0 && left >= 2 && is_continuation(s[1])) {
        code_point = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        return code_point >= 0x80 ? 2 : 0;
    }
    if ((s[0] & 0xF0) == 0xE0 && left >= 3 && is_continuation(s[1]) && is_continuation(s[2])) {
        code_point = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return code_point >= 0x800 && (code_point < 0xD800 || code_point > 0xDFFF) ? 3 : 0;
    }
    if ((s[0] & 0xF8) == 0xF0 && left >= 4 && is_continuation(s[1]) && is_continuation(s[2]) &&
        is_continuation(s[3])) {
        code_point = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
                     (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return code_point >= 0x10000 && code_point <= 0x10FFFF ? 4 : 0;
    }
    return 0;
}

/* ---- encoding: the state of one BPE run -------------------------------------- */

/* One symbol: a piece of the normalized text, [start, start + length). */
typedef struct {
    int start;
    int length;
    int frozen; /* a user-defined piece: never merged */
} bpe_symbol;

/* The adjacent pair (i, i + 1) and the piece their concatenation makes. */
typedef struct {
    int id;      /* -1: the concatenation is no mergeable piece */
    float score;
} bpe_pair;

/* A merge that produced an UNUSED piece, remembered to split it back:
 * text[start, start + length) was left_length bytes + the rest. */
typedef struct {
    int start;
    int length;
    int left_length;
} unused_merge;

typedef struct {
    const tokenizer *tok;
    char *text;             /* normalized text [text_length] */
    int text_length;
    bpe_symbol *symbols;    /* [num_symbols] */
    bpe_pair *pairs;        /* [num_symbols - 1] */
    int num_symbols;
    unused_merge *unused;   /* [num_unused], room for 3 * text_length */
    int num_unused;

    int *ids;               /* output [*n_ids], room for max_ids */
    int max_ids;
    int n_ids;
    int previous_was_unknown;
} bpe_state;

/* Records "the UNUSED piece text[start, start + length) is left + right",
 * replacing an earlier record of the same text, as sentencepiece's rev_merge
 * map does: the split kept is the last one found. */
static void remember_unused_merge(bpe_state *st, int start, int length, int left_length)
{
    for (int i = 0; i < st->num_unused; i++) {
        unused_merge *m = &st->unused[i];
        if (m->length == length && memcmp(st->text + m->start, st->text + start, (size_t)length) == 0) {
            m->start = start;
            m->left_length = left_length;
            return;
        }
    }
    st->unused[st->num_unused++] = (unused_merge){start, length, left_length};
}

/* Looks up the piece made by symbols i and i + 1 (sentencepiece's MaybeAddNewSymbolPair). */
static void score_pair(bpe_state *st, int i)
{
    if (i < 0 || i + 1 >= st->num_symbols)
        return;
    bpe_pair *pair = &st->pairs[i];
    const bpe_symbol *left = &st->symbols[i];
    const bpe_symbol *right = &st->symbols[i + 1];
    pair->id = -1;
    if (left->frozen || right->frozen)
        return;
    int id = tokenizer_find_mergeable(st->tok, st->text + left->start, left->length + right->length);
    if (id < 0)
        return;
    pair->id = id;
    pair->score = st->tok->pieces[id].score;
    if (st->tok->pieces[id].type == PIECE_UNUSED)
        remember_unused_merge(st, left->start, left->length + right->length, left->length);
}

/* Appends one id to the output. */
static int push_id(bpe_state *st, int id, pg_error *err)
{
    if (st->n_ids >= st->max_ids)
        return pg_error_set(err, "tokenizer_encode: the text needs more than max_ids = %d ids; pass a "
                            "larger ids buffer (3 ids per byte of text always suffice)",
                            st->max_ids);
    st->ids[st->n_ids++] = id;
    return 0;
}

/* Appends the ids of one final piece, as SentencePieceProcessor::Encode does:
 * an unknown piece becomes one BYTE piece per UTF-8 byte under byte fallback;
 * without it, a run of unknown pieces becomes a single <unk>. */
static int push_piece(bpe_state *st, int id, int start, int length, pg_error *err)
{
    const tokenizer *tok = st->tok;
    if (tok->pieces[id].type != PIECE_UNKNOWN) {
        st->previous_was_unknown = 0;
        return push_id(st, id, err);
    }
    if (tok->byte_fallback) {
        for (int i = 0; i < length; i++) {
            uint8_t byte = (uint8_t)st->text[start + i];
            if (push_id(st, tok->byte_piece_ids[byte], err) != 0)
                return -1;
        }
        return 0;
    }
    if (st->previous_was_unknown)
        return 0;
    st->previous_was_unknown = 1;
    return push_id(st, id, err);
}

/* Emits text[start, start + length): an UNUSED piece is split back into the
 * two halves that made it, recursively (sentencepiece's resegment). */
static int emit_symbol(bpe_state *st, int start, int length, pg_error *err)
{
    int id = tokenizer_piece_to_id(st->tok, st->text + start, length);
    if (st->tok->pieces[id].type == PIECE_UNUSED) {
        for (int i = 0; i < st->num_unused; i++) {
            const unused_merge *m = &st->unused[i];
            if (m->length != length || memcmp(st->text + m->start, st->text + start, (size_t)length) != 0)
                continue;
            /* The halves are compared by text, so read them from this occurrence. */
            if (emit_symbol(st, start, m->left_length, err) != 0)
                return -1;
            return emit_symbol(st, start + m->left_length, length - m->left_length, err);
        }
    }
    return push_piece(st, id, start, length, err);
}

/* ---- encoding: the steps ---------------------------------------------------- */

/* Checks that text is well-formed UTF-8 and writes it with ' ' -> "▁" into out. */
static int normalize(const char *text, size_t length, char *out, int *out_length, pg_error *err)
{
    const uint8_t *bytes = (const uint8_t *)text;
    size_t used = 0;
    for (size_t i = 0; i < length;) {
        int n = utf8_character_length(bytes + i, length - i);
        if (n == 0)
            return pg_error_set(err, "tokenizer_encode: invalid UTF-8 at byte %zu of the text (byte "
                                "0x%02x); pass UTF-8 text (sentencepiece would replace the byte by "
                                "U+FFFD)",
                                i, bytes[i]);
        if (n == 1 && text[i] == ' ') {
            memcpy(out + used, SPACE_SYMBOL, SPACE_SYMBOL_LENGTH);
            used += SPACE_SYMBOL_LENGTH;
        } else {
            memcpy(out + used, text + i, (size_t)n);
            used += (size_t)n;
        }
        i += (size_t)n;
    }
    *out_length = (int)used;
    return 0;
}

/* Splits the normalized text into symbols: the longest user-defined piece
 * that starts here (frozen), else one UTF-8 character. Every symbol is at
 * least one byte, so there are at most text_length of them. */
static void split_into_symbols(bpe_state *st)
{
    const tokenizer *tok = st->tok;
    st->num_symbols = 0;
    for (int pos = 0; pos < st->text_length;) {
        bpe_symbol *s = &st->symbols[st->num_symbols++];
        s->start = pos;
        s->frozen = 0;

        /* Longest user-defined match, as sentencepiece's PrefixMatcher. */
        int left = st->text_length - pos;
        int max_length = tok->max_user_defined_length < left ? tok->max_user_defined_length : left;
        for (int n = max_length; n >= 1; n--) {
            int id = tokenizer_find_mergeable(tok, st->text + pos, n);
            if (id >= 0 && tok->pieces[id].type == PIECE_USER_DEFINED) {
                s->length = n;
                s->frozen = 1;
                break;
            }
        }

        /* Else one character. The text is well-formed UTF-8, but a model may
         * hold a user-defined piece that ends inside a character (e.g.
         * "on\xE2"), which leaves a continuation byte here: that byte is a
         * symbol of its own, as in sentencepiece, whose OneCharLen reads 1
         * for it. */
        if (!s->frozen) {
            int length = utf8_character_length((const uint8_t *)st->text + pos, (size_t)left);
            s->length = length > 0 ? length : 1;
        }
        pos += s->length;
    }
}

/* The BPE loop: merge the best adjacent pair until no pair makes a piece.
 * Best is the highest score; among equal scores the leftmost. This is the
 * order of sentencepiece's priority queue, whose stale entries it skips.
 * NOTE: each merge rescans all pairs, so the cost is quadratic in the text
 * length (10 KB of text: about 50 ms; prompts are a few dozen bytes). */
static void merge_pairs(bpe_state *st)
{
    /* BEGIN SOLUTION: merge_pairs (the BPE loop), docs/14_tokenizer.md "Encoding, step by step"
     * Student placeholder:
     *     (void)st; (void)score_pair;
     */
    for (int i = 0; i + 1 < st->num_symbols; i++)
        score_pair(st, i);

    for (;;) {
        /* Find the best pair. */
        int best = -1;
        for (int i = 0; i + 1 < st->num_symbols; i++) {
            if (st->pairs[i].id >= 0 && (best < 0 || st->pairs[i].score > st->pairs[best].score))
                best = i;
        }
        if (best < 0)
            break;

        /* Merge symbol best + 1 into symbol best, and close the gap. */
        st->symbols[best].length += st->symbols[best + 1].length;
        int after = st->num_symbols - (best + 2);
        memmove(&st->symbols[best + 1], &st->symbols[best + 2], (size_t)after * sizeof(bpe_symbol));
        memmove(&st->pairs[best + 1], &st->pairs[best + 2], (size_t)(after > 0 ? after - 1 : 0) * sizeof(bpe_pair));
        st->num_symbols--;

        /* The two new neighbours, in sentencepiece's order: left, then right. */
        score_pair(st, best - 1);
        score_pair(st, best);
    }
    /* END SOLUTION */
}

int tokenizer_encode(const tokenizer *tok, const char *text, int *ids, int max_ids, int *n_ids,
                     pg_error *err)
{
    size_t length = strlen(text);
    *n_ids = 0;
    if (length > (size_t)(0x7FFFFFFF / 3 - 1))
        return pg_error_set(err, "tokenizer_encode: the text is %zu bytes, over the limit of %d",
                            length, 0x7FFFFFFF / 3 - 1);
    size_t room = 3 * length + 1;
    bpe_state st = {.tok = tok, .ids = ids, .max_ids = max_ids};
    int status = -1;
    st.text = pg_calloc(room, 1, "normalized text", err);
    st.symbols = pg_calloc(room, sizeof(bpe_symbol), "BPE symbols", err);
    st.pairs = pg_calloc(room, sizeof(bpe_pair), "BPE pairs", err);
    st.unused = pg_calloc(3 * room, sizeof(unused_merge), "UNUSED merges", err);
    if (st.text == NULL || st.symbols == NULL || st.pairs == NULL || st.unused == NULL)
        goto done;

    /* Normalize: check UTF-8, spaces to "▁". */
    if (normalize(text, length, st.text, &st.text_length, err) != 0)
        goto done;

    /* Split into user-defined pieces and characters, then merge. */
    split_into_symbols(&st);
    merge_pairs(&st);

    /* Emit each final symbol's ids. */
    for (int i = 0; i < st.num_symbols; i++) {
        if (emit_symbol(&st, st.symbols[i].start, st.symbols[i].length, err) != 0)
            goto done;
    }
    *n_ids = st.n_ids;
    status = 0;

done:
    free(st.text);
    free(st.symbols);
    free(st.pairs);
    free(st.unused);
    return status;
}

/* ---- decoding ----------------------------------------------------------------- */

/* Appends n bytes to text[*used..], keeping room for the final NUL. */
static int append(char *text, size_t text_size, size_t *used, const char *bytes, size_t n, pg_error *err)
{
    if (*used + n + 1 > text_size)
        return pg_error_set(err, "tokenizer_decode: the text needs more than text_size = %zu bytes "
                            "(NUL included); pass a larger buffer", text_size);
    memcpy(text + *used, bytes, n);
    *used += n;
    return 0;
}

/* The byte a BYTE piece stands for: "<0x41>" is 0x41 (tokenizer_parse checked the form). */
static uint8_t byte_of_piece(const sentence_piece *p)
{
    int value = 0;
    for (int i = 3; i < 5; i++) {
        char c = p->piece[i];
        value = value * 16 + (c <= '9' ? c - '0' : c - 'A' + 10);
    }
    return (uint8_t)value;
}

/* Decodes the run of BYTE pieces ids[*i..] as sentencepiece does: each
 * well-formed UTF-8 character is copied, each other byte becomes U+FFFD. */
static int decode_byte_run(const tokenizer *tok, const int *ids, int n_ids, int *i, char *text,
                           size_t text_size, size_t *used, pg_error *err)
{
    while (*i < n_ids && tok->pieces[ids[*i]].type == PIECE_BYTE) {
        /* The next (at most 4) bytes of the run. */
        uint8_t bytes[4];
        int available = 0;
        while (available < 4 && *i + available < n_ids &&
               tok->pieces[ids[*i + available]].type == PIECE_BYTE) {
            bytes[available] = byte_of_piece(&tok->pieces[ids[*i + available]]);
            available++;
        }

        int n = utf8_character_length(bytes, (size_t)available);
        int status = n > 0 ? append(text, text_size, used, (const char *)bytes, (size_t)n, err)
                           : append(text, text_size, used, REPLACEMENT_CHARACTER, 3, err);
        if (status != 0)
            return -1;
        *i += n > 0 ? n : 1;
    }
    return 0;
}

int tokenizer_decode(const tokenizer *tok, const int *ids, int n_ids, char *text, size_t text_size,
                     pg_error *err)
{
    size_t used = 0;
    if (text_size == 0)
        return pg_error_set(err, "tokenizer_decode: text_size is 0; pass a buffer of at least 1 byte");
    text[0] = '\0';
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab_size)
            return pg_error_set(err, "tokenizer_decode: ids[%d] = %d is outside the vocabulary [0, %d)",
                                i, ids[i], tok->vocab_size);
    }

    for (int i = 0; i < n_ids;) {
        const sentence_piece *p = &tok->pieces[ids[i]];
        int status = 0;

        /* A run of byte pieces: assemble UTF-8. */
        if (p->type == PIECE_BYTE) {
            if (decode_byte_run(tok, ids, n_ids, &i, text, text_size, &used, err) != 0)
                return -1;
            continue;
        }

        /* <bos>, <eos>, <pad> and <image> print nothing; <unk> prints " ⁇ ". */
        if (p->type == PIECE_UNKNOWN) {
            status = append(text, text_size, &used, tok->unk_surface, strlen(tok->unk_surface), err);
        } else if (p->type != PIECE_CONTROL) {
            /* Any other piece prints its text with "▁" as a space. */
            for (int k = 0; k < p->length && status == 0;) {
                if (k + SPACE_SYMBOL_LENGTH <= p->length &&
                    memcmp(p->piece + k, SPACE_SYMBOL, SPACE_SYMBOL_LENGTH) == 0) {
                    status = append(text, text_size, &used, " ", 1, err);
                    k += SPACE_SYMBOL_LENGTH;
                } else {
                    status = append(text, text_size, &used, p->piece + k, 1, err);
                    k++;
                }
            }
        }
        if (status != 0)
            return -1;
        i++;
    }
    text[used] = '\0';
    return 0;
}

/* ---- the PaliGemma prompt ------------------------------------------------------ */

int paligemma_prompt_ids(const tokenizer *tok, const char *prompt, int num_image_tokens, int *ids,
                         int max_ids, int *n_ids, pg_error *err)
{
    *n_ids = 0;
    if (tok->bos_id < 0)
        return pg_error_set(err, "paligemma_prompt_ids: %s has no CONTROL piece named by "
                            "TrainerSpec.bos_piece; PaliGemma's prompt needs <bos>", tok->file);
    if (num_image_tokens < 0 || num_image_tokens + 1 > max_ids)
        return pg_error_set(err, "paligemma_prompt_ids: %d image tokens and <bos> do not fit in "
                            "max_ids = %d", num_image_tokens, max_ids);

    /* num_image_tokens x <image>, then <bos>. */
    int n = 0;
    for (int i = 0; i < num_image_tokens; i++)
        ids[n++] = tok->image_token_id;
    ids[n++] = tok->bos_id;

    /* tokens(prompt), then tokens("\n"), encoded separately. */
    int n_prompt, n_newline;
    if (tokenizer_encode(tok, prompt, ids + n, max_ids - n, &n_prompt, err) != 0)
        return -1;
    n += n_prompt;
    if (tokenizer_encode(tok, "\n", ids + n, max_ids - n, &n_newline, err) != 0)
        return -1;
    *n_ids = n + n_newline;
    return 0;
}

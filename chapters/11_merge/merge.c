/*
 * Chapter 11: merging image features and text, the prefix-LM mask and the
 * positions. See merge.h for the shapes and docs/11_merge.md for the walk
 * from token ids to the sequence that enters Gemma.
 *
 * PyTorch (golden/modeling_paligemma.py):
 *   scaled_image_features = image_features / (hidden_size ** 0.5)
 *   final_embedding = torch.where(text_mask, inputs_embeds, zeros)
 *   final_embedding = final_embedding.masked_scatter(image_mask, scaled_image_features)
 *   final_embedding = torch.where(pad_mask, zeros, final_embedding)
 */
#include "merge.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "broken_variant.h"

float paligemma_embedding_normalizer(int hidden_size)
{
    /* BEGIN SOLUTION: paligemma_embedding_normalizer, docs/11_merge.md "The math"
     * Student placeholder:
     *     (void)hidden_size;
     *     return 1.0f;
     */
    /* Python's hidden_size ** 0.5 is a double; both PyTorch steps round it
     * to float32 before using it (the division's scalar operand and
     * torch.tensor(..., dtype=float32) in GemmaModel). */
    return (float)sqrt((double)hidden_size);
    /* END SOLUTION */
}

int paligemma_merge_input_ids_with_image_features(float *inputs_embeds, const int *input_ids,
                                                  weight_matrix embed_tokens, const float *image_features,
                                                  int T, int V, int D, int P, int image_token_index,
                                                  int pad_token_id, pg_error *err)
{
    /* Check every id, and count the image tokens, before writing anything. */
    if (image_token_index < 0 || image_token_index >= V)
        return pg_error_set(err, "image_token_index %d is outside the vocabulary of %d embedding rows "
                            "(paligemma-3b-pt-224: <image> = 257152 of 257216); check image_token_index "
                            "in config.json",
                            image_token_index, V);
    if (pad_token_id >= V)
        return pg_error_set(err, "pad_token_id %d is outside the vocabulary of %d embedding rows "
                            "(paligemma-3b-pt-224: 0); check pad_token_id in config.json",
                            pad_token_id, V);
    int num_image_tokens = 0;
    for (int t = 0; t < T; t++) {
        if (input_ids[t] < 0 || input_ids[t] >= V)
            return pg_error_set(err, "input id %d at position %d is outside the vocabulary of %d embedding "
                                "rows; the tokenizer and the checkpoint do not match",
                                input_ids[t], t, V);
        if (input_ids[t] == image_token_index)
            num_image_tokens++;
    }
    if (num_image_tokens != P)
        return pg_error_set(err, "%d image tokens (id %d) in input_ids but %d image features; the prompt "
                            "must start with one <image> token per patch",
                            num_image_tokens, image_token_index, P);

    /* BEGIN SOLUTION: the merge loop, docs/11_merge.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * D; i++)
     *         inputs_embeds[i] = 0.0f;
     *     (void)embed_tokens; (void)image_features;
     *     return 0;
     */
    float normalizer = paligemma_embedding_normalizer(D);
    int image_row = 0;
    for (int t = 0; t < T; t++) {
        float *out = inputs_embeds + (size_t)t * D;
        int id = input_ids[t];

        if (id == image_token_index) {
            /* The next image feature, divided by sqrt(D) in float32 so that
             * GemmaModel's multiplication by sqrt(D) gives it back. */
            const float *feature = image_features + (size_t)image_row * D;
            for (int d = 0; d < D; d++)
                out[d] = feature[d] / normalizer;
#ifdef PG_BROKEN_VARIANTS
            /* Test-only bug: multiply by sqrt(D) where the reference divides. */
            if (pg_broken_variant() == PG_BROKEN_IMAGE_SCALE)
                for (int d = 0; d < D; d++)
                    out[d] = feature[d] * normalizer;
#endif
            image_row++;
        } else if (id == pad_token_id) {
            /* Padding contributes a zero row. */
            memset(out, 0, (size_t)D * sizeof(float));
        } else {
            /* A text token: its row of embed_tokens. */
            weight_row(out, embed_tokens, id, D);
        }
    }
    return 0;
    /* END SOLUTION */
}

int paligemma_prefix_lm_mask(float *attention_mask, int prefix_length, int past_length, int T, int S,
                             pg_error *err)
{
    if (prefix_length < 0 || past_length < 0 || T <= 0 || S < past_length + T)
        return pg_error_set(err, "invalid attention mask size: prefix_length %d, past_length %d, %d new tokens, "
                            "%d key positions; expected sizes >= 0, at least one new token and key positions "
                            ">= past_length + new tokens",
                            prefix_length, past_length, T, S);
    if (prefix_length > past_length + T)
        return pg_error_set(err, "invalid attention mask: prefix_length %d exceeds the %d tokens written so far; "
                            "the whole prefix (image tokens, <bos>, prompt, \"\\n\") must be in one prefill",
                            prefix_length, past_length + T);

    /* BEGIN SOLUTION: the prefix-LM mask, docs/11_merge.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * S; i++)
     *         attention_mask[i] = 0.0f;
     *     return 0;
     */
    int written = past_length + T;
    for (int t = 0; t < T; t++) {
        int query_position = past_length + t;
        for (int s = 0; s < S; s++) {
            /* Every query attends to the whole prefix, and to later keys
             * only causally. Unwritten cache slots are always masked. */
            int visible = s < written && (s < prefix_length || s <= query_position);
            attention_mask[(size_t)t * S + s] = visible ? 0.0f : -INFINITY;
        }
    }
    return 0;
    /* END SOLUTION */
}

void paligemma_position_ids(int *position_ids, int past_length, int T)
{
    /* BEGIN SOLUTION: paligemma_position_ids, docs/11_merge.md "The math"
     * Student placeholder:
     *     for (int t = 0; t < T; t++)
     *         position_ids[t] = 0;
     *     (void)past_length;
     */
    /* 1-based, as transformers >= 4.42 computes cache_position + 1 for
     * PaliGemma (big_vision counts from 0). */
    for (int t = 0; t < T; t++)
        position_ids[t] = past_length + t + 1;
    /* END SOLUTION */
}

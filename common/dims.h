/*
 * dims.h - the dimension letters used in every shape comment of this project.
 *
 * Shapes are written row-major, outermost first: x is [T, D] means x[t * D + d].
 * Batch size is always 1, so the batch dimension of the PyTorch tensors is dropped.
 *
 *   T   tokens in the current forward pass (the new tokens only)
 *   S   tokens in the key/value cache after the update (past plus new)
 *   C   capacity of the key/value cache (the most tokens it can hold)
 *   L   num_hidden_layers
 *   D   hidden_size of the text model (2048 in paligemma-3b-pt-224)
 *   F   intermediate_size of the MLP (16384 text, 4304 vision)
 *   H   num_attention_heads (query heads)
 *   K   num_key_value_heads (1 in Gemma-2B: multi-query attention)
 *   Dh  head_dim (256 in Gemma-2B; not always D / H, so read it from the config)
 *   V   vocab_size (257216 in paligemma-3b-pt-224)
 *   P   image patches, (image_size / patch_size)^2 (256 at 224 px, patch 14)
 *   E   hidden_size of the vision tower (1152 in SigLIP So400m)
 *
 * This header only documents; it defines nothing.
 */
#ifndef PG_DIMS_H
#define PG_DIMS_H
#endif

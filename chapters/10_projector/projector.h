/*
 * Chapter 10: the multimodal projector.
 *
 * Mirrors the PyTorch class PaliGemmaMultiModalProjector
 * (golden/modeling_paligemma.py): one Linear with bias that maps each
 * SigLIP image feature into Gemma's embedding space,
 *   image_features = vision_output @ weight^T + bias
 * (state dict: multi_modal_projector.linear.{weight,bias}). The output width
 * is the config's projection_dim, which equals the text hidden_size D.
 *
 * Shapes (letters in common/dims.h):
 *   vision_output    [P, E]   post_layernorm output of the vision tower
 *   weight           [D, E]   1152 -> 2048 in paligemma-3b-pt-224
 *   bias             [D]
 *   image_features   [P, D]   must not alias vision_output
 */
#ifndef PG_PROJECTOR_H
#define PG_PROJECTOR_H

#include "linear.h"

void paligemma_multi_modal_projector(float *image_features, const float *vision_output, weight_matrix weight,
                                     const float *bias, int P, int E, int D);

#endif

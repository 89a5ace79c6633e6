/*
 * Chapter 4: GemmaMLP, the feed-forward half of a decoder layer.
 *
 * Mirrors the PyTorch class GemmaMLP (golden/modeling_gemma.py):
 *   down_proj(gelu_tanh(gate_proj(x)) * up_proj(x))
 * a gated MLP ("GeGLU") with three Linear layers and no biases. Only the gate
 * branch goes through GELU, and it is the tanh approximation (Gemma's
 * hidden_act "gelu_pytorch_tanh").
 *
 * Shapes (letters in common/dims.h):
 *   x, out                [T, D]
 *   gate_proj, up_proj    [F, D]   PyTorch Linear layout [out, in]
 *   down_proj             [D, F]
 *   gate, up (scratch)    [T, F]
 * out must not alias x.
 */
#ifndef PG_MLP_H
#define PG_MLP_H

#include "linear.h"

/* The three projections of one GemmaMLP, named as in the checkpoint
 * (language_model.model.layers.N.mlp.{gate,up,down}_proj.weight). */
typedef struct {
    weight_matrix gate_proj; /* [F, D] */
    weight_matrix up_proj;   /* [F, D] */
    weight_matrix down_proj; /* [D, F] */
} gemma_mlp_weights;

/* Writes the MLP of T rows of x into out. gate and up are caller-owned
 * scratch of T * intermediate_size floats each; gate is overwritten with the
 * gated product. */
void gemma_mlp(float *out, const float *x, const gemma_mlp_weights *weights, float *gate, float *up,
               int T, int hidden_size, int intermediate_size);

#endif

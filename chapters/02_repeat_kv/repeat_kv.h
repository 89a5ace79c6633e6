/*
 * Chapter 2: repeat_kv, sharing key/value heads among query heads.
 *
 * Mirrors the PyTorch function repeat_kv(hidden_states, n_rep)
 * (golden/modeling_gemma.py). Gemma-2B has H = 8 query heads but only K = 1
 * key/value head (multi-query attention); before the attention scores the
 * key/value heads are repeated so that query head h reads key/value head
 * h / n_rep, with n_rep = H / K.
 *
 * Shapes (letters in common/dims.h):
 *   hidden_states  [K, S, Dh]
 *   out            [H, S, Dh]   with H = K * n_rep
 */
#ifndef PG_REPEAT_KV_H
#define PG_REPEAT_KV_H

void repeat_kv(float *out, const float *hidden_states, int num_key_value_heads, int n_rep,
               int S, int head_dim);

#endif

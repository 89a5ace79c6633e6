/*
 * Chapter 4: GemmaMLP. See mlp.h for the shapes and docs/04_mlp.md for the math.
 *
 * PyTorch (golden/modeling_gemma.py):
 *   gate = nn.functional.gelu(self.gate_proj(x), approximate="tanh")
 *   return self.down_proj(gate * self.up_proj(x))
 */
#include "mlp.h"

#include <stddef.h>

#include "activations.h"
#include "broken_variant.h"
#include "linear.h"

void gemma_mlp(float *out, const float *x, const gemma_mlp_weights *weights, float *gate, float *up,
               int T, int hidden_size, int intermediate_size)
{
    /* BEGIN SOLUTION: gemma_mlp, docs/04_mlp.md "The math"
     * Student placeholder:
     *     for (size_t i = 0; i < (size_t)T * hidden_size; i++)
     *         out[i] = 0.0f;
     *     (void)x; (void)weights; (void)gate; (void)up; (void)intermediate_size;
     */
    size_t n = (size_t)T * intermediate_size;

    /* gate = gate_proj(x), up = up_proj(x): two [T, D] -> [T, F] products. */
    linear(gate, x, weights->gate_proj, NULL, T, hidden_size, intermediate_size);
    linear(up, x, weights->up_proj, NULL, T, hidden_size, intermediate_size);

#ifdef PG_BROKEN_VARIANTS
    /* Test-only bug: swap the branches, so the GELU lands on up_proj. */
    if (pg_broken_variant() == PG_BROKEN_MLP_GELU_ON_UP)
        for (size_t i = 0; i < n; i++) {
            float swap = gate[i];
            gate[i] = up[i];
            up[i] = swap;
        }
#endif

    /* gate = gelu_tanh(gate) * up. The GELU goes on the gate branch only:
     * applying it to up instead gives a different function. */
    for (size_t i = 0; i < n; i++)
        gate[i] = gelu_tanh(gate[i]) * up[i];

    /* out = down_proj(gate): [T, F] -> [T, D]. */
    linear(out, gate, weights->down_proj, NULL, T, intermediate_size, hidden_size);
    /* END SOLUTION */
}

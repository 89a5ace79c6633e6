/*
 * Chapter 10: the multimodal projector. See projector.h for the shapes and
 * docs/10_projector.md for where it sits between the two towers.
 *
 * PyTorch (golden/modeling_paligemma.py):
 *   self.linear = nn.Linear(vision_hidden_size, projection_dim, bias=True)
 *   return self.linear(image_features)
 */
#include "projector.h"

#include "linear.h"

void paligemma_multi_modal_projector(float *image_features, const float *vision_output, weight_matrix weight,
                                     const float *bias, int P, int E, int D)
{
    /* BEGIN SOLUTION: paligemma_multi_modal_projector, docs/10_projector.md "The math"
     * Student placeholder:
     *     for (int i = 0; i < P * D; i++)
     *         image_features[i] = 0.0f;
     *     (void)vision_output; (void)weight; (void)bias; (void)E;
     */
    /* One Linear with bias, row by row: [P, E] -> [P, D]. No activation and
     * no scaling here; the 1 / sqrt(D) belongs to the merge that follows. */
    linear(image_features, vision_output, weight, bias, P, E, D);
    /* END SOLUTION */
}

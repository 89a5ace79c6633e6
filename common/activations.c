#include "activations.h"

#include <math.h>

float gelu_tanh(float x)
{
    /* sqrt(2 / pi) rounded to float32, as PyTorch's kernel uses it. */
    const float sqrt_2_over_pi = 0.7978845608028654f;
    const float coefficient = 0.044715f;
    float inner = sqrt_2_over_pi * (x + coefficient * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
}

/*
 * activations.h - the activation function of PaliGemma.
 *
 * Both halves use GELU with the tanh approximation (PyTorch's
 * F.gelu(x, approximate="tanh"), Hugging Face's "gelu_pytorch_tanh"):
 *   gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * At x = 1 it is 0.8411920; the exact erf form would give 0.8413447.
 */
#ifndef PG_ACTIVATIONS_H
#define PG_ACTIVATIONS_H

float gelu_tanh(float x);

#endif

"""Golden data for chapter 9, the SigLIP vision tower.

Cases:
- layer_norm: nn.LayerNorm on [5, 64] rows with random weight and bias.
- small: a whole SiglipVisionModel (image 32, patch 8 -> 4 x 4 = 16 patches,
  hidden 64, 4 heads of 16, intermediate 128, 2 layers) on a non-symmetric
  image, with its weights and the output of every stage (embeddings, layer 0's
  attention and MLP branches, each layer, post_layernorm).
- so400m_layer: one encoder layer at SigLIP So400m's width (hidden 1152,
  16 heads of 72, intermediate 4304) on 8 tokens. Its weights come from
  seeded_uniform with the seeds in SO400M_LAYER_SEEDS, which the C test
  repeats, so only the input and the output are written.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_siglip import SiglipEncoderLayer, SiglipVisionConfig, SiglipVisionModel
from seeded_random import seeded_uniform

SMALL = SiglipVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_channels=3, image_size=32, patch_size=8,
                           layer_norm_eps=1e-6)

# (parameter name, seed, scale) for the So400m-width layer. tests/test_09_siglip.c
# repeats the same table. The q and k scales make the attention scores about
# 1 in standard deviation, so the softmax is neither flat nor one-hot.
SO400M_LAYER_SEEDS = [
    ("layer_norm1.weight", 9101, 1.0),
    ("layer_norm1.bias", 9102, 0.1),
    ("self_attn.q_proj.weight", 9103, 0.1),
    ("self_attn.q_proj.bias", 9104, 0.02),
    ("self_attn.k_proj.weight", 9105, 0.1),
    ("self_attn.k_proj.bias", 9106, 0.02),
    ("self_attn.v_proj.weight", 9107, 0.05),
    ("self_attn.v_proj.bias", 9108, 0.02),
    ("self_attn.out_proj.weight", 9109, 0.05),
    ("self_attn.out_proj.bias", 9110, 0.02),
    ("layer_norm2.weight", 9111, 1.0),
    ("layer_norm2.bias", 9112, 0.1),
    ("mlp.fc1.weight", 9113, 0.05),
    ("mlp.fc1.bias", 9114, 0.02),
    ("mlp.fc2.weight", 9115, 0.026),
    ("mlp.fc2.bias", 9116, 0.02),
]
SO400M_LAYER_TOKENS = 8


def randomize(model: torch.nn.Module) -> None:
    """Draw every parameter from torch's seeded generator, at scales that keep
    activations near 1 and make the attention non-uniform."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("position_embedding.weight"):
                parameter.copy_(torch.randn(parameter.shape) * 0.5)
            elif "layer_norm" in name or "post_layernorm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                parameter.copy_(base + torch.randn(parameter.shape) * 0.2)
            elif name.endswith("bias"):
                parameter.copy_(torch.randn(parameter.shape) * 0.1)
            else:
                fan_in = parameter[0].numel()
                parameter.copy_(torch.randn(parameter.shape) / fan_in ** 0.5)


def write_layer_norm(out: ChapterWriter) -> None:
    norm = torch.nn.LayerNorm(64, eps=1e-6)
    x = torch.randn(5, 64) * 2.0 + 0.5
    with torch.no_grad():
        norm.weight.copy_(1.0 + torch.randn(64) * 0.5)
        norm.bias.copy_(torch.randn(64) * 0.5)
        y = norm(x)
    out.save("layer_norm_x", x)
    out.save("layer_norm_weight", norm.weight)
    out.save("layer_norm_bias", norm.bias)
    out.save("layer_norm_out", y)


def write_small(out: ChapterWriter) -> None:
    model = SiglipVisionModel(SMALL)
    randomize(model)
    # Pixels in [-1, 1] as after preprocessing, plus a ramp along x so that
    # the image and its transpose differ everywhere.
    size = SMALL.image_size
    ramp = torch.linspace(-0.5, 0.5, size).view(1, 1, size)
    pixel_values = (torch.rand(1, 3, size, size) * 1.5 - 0.75 + ramp).clamp(-1.0, 1.0)
    assert not torch.equal(pixel_values, pixel_values.transpose(2, 3))

    vision = model.vision_model
    with torch.no_grad():
        stages = []
        vision(pixel_values, stages)
        layer0 = vision.encoder.layers[0]
        attention = layer0.self_attn(layer0.layer_norm1(stages[0]))
        after_attention = stages[0] + attention
        mlp = layer0.mlp(layer0.layer_norm2(after_attention))

    out.save("small_pixel_values", pixel_values[0])
    for name, parameter in vision.named_parameters():
        out.save("small_" + name.replace(".", "_"), parameter)
    out.save("small_embeddings", stages[0][0])
    out.save("small_layer_0_attention", attention[0])
    out.save("small_layer_0_mlp", mlp[0])
    for index in range(SMALL.num_hidden_layers):
        out.save(f"small_layer_{index}", stages[1 + index][0])
    out.save("small_post_layernorm", stages[-1][0])


def write_so400m_layer(out: ChapterWriter) -> None:
    layer = SiglipEncoderLayer(SiglipVisionConfig())
    parameters = dict(layer.named_parameters())
    with torch.no_grad():
        for name, seed, scale in SO400M_LAYER_SEEDS:
            parameter = parameters.pop(name)
            parameter.copy_(torch.from_numpy(seeded_uniform(tuple(parameter.shape), seed, scale)))
        assert not parameters, f"parameters without a seed: {sorted(parameters)}"
        hidden_states = torch.randn(1, SO400M_LAYER_TOKENS, 1152)
        output = layer(hidden_states)
    out.save("so400m_layer_input", hidden_states[0])
    out.save("so400m_layer_output", output[0])


def generate() -> None:
    seed_everything(9)
    out = ChapterWriter("09_siglip")
    write_layer_norm(out)
    write_small(out)
    write_so400m_layer(out)

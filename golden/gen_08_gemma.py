"""Golden data for chapter 8, GemmaModel and GemmaForCausalLM.

A small model (vocab 300, hidden 64, intermediate 128, 3 layers, 4 query
heads, 2 key/value heads, head_dim 16) with the seeded weights of
fill_seeded_model (seed 800, gain 2), the twin of
chapters/08_gemma/random_weights.c. Only ids, inputs and outputs are stored.

Cases (positions 1-based, as in PaliGemma):
- prefill_*: 6 ids starting with <bos> = 2, no mask, positions 1..6, through
  a KVCache: logits of every row, the final hidden state, and the layer
  boundaries [L + 1, T, D] (the scaled embedding, then each layer's output).
- step_<k>_*: 3 one-token decode steps, step k at position 6 + k, no mask,
  logits of the one row; then the whole cache, [L, K, 9, Dh] per tensor.
- full_prefix_lm_*: the same 9 ids in one pass with the prefix-LM mask of
  prefix 6, no cache: the logits that prefill + decode must reproduce.
- full_causal_*: the same 9 ids with a causal mask, which must differ.
- embeds_*: 5 given input embeddings (unscaled), no mask, no cache, with
  num_logits_to_keep = 1.
- normalizer_<D>: torch.tensor(D ** 0.5, dtype=float32) for D = 64 and 2048.
"""
import torch

from golden_io import ChapterWriter, seed_everything
from modeling_gemma import GemmaConfig, GemmaForCausalLM, KVCache, fill_seeded_model

CONFIG = dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16)
SEED, GAIN = 800, 2.0
PREFILL, STEPS = 6, 3


def mask_from(allowed: torch.Tensor) -> torch.Tensor:
    """Additive [T, S] mask: 0 where allowed, -inf elsewhere."""
    return torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))


def generate() -> None:
    seed_everything(8)
    out = ChapterWriter("08_gemma")
    model = GemmaForCausalLM(GemmaConfig(**CONFIG))
    fill_seeded_model(model, SEED, GAIN)
    vocab = CONFIG["vocab_size"]

    ids = [2] + torch.randint(3, vocab, (PREFILL + STEPS - 1,)).tolist()
    with torch.no_grad():
        # Prefill, then decode steps, through one cache.
        cache = KVCache()
        positions = list(range(1, PREFILL + 1))
        logits, boundaries = model(input_ids=torch.tensor([ids[:PREFILL]]), position_ids=torch.tensor([positions]),
                                   kv_cache=cache)
        last_hidden, _ = model.model(input_ids=torch.tensor([ids[:PREFILL]]),
                                     position_ids=torch.tensor([positions]))
        out.save("prefill_ids", ids[:PREFILL], dtype="<i8")
        out.save("prefill_positions", positions, dtype="<i8")
        out.save("prefill_logits", logits[0])
        out.save("prefill_last_hidden_state", last_hidden[0])
        out.save("prefill_boundaries", torch.stack([b[0] for b in boundaries]))
        for step in range(1, STEPS + 1):
            token, position = ids[PREFILL + step - 1], PREFILL + step
            logits, _ = model(input_ids=torch.tensor([[token]]), position_ids=torch.tensor([[position]]),
                              kv_cache=cache, num_logits_to_keep=1)
            out.save(f"step_{step}_ids", [token], dtype="<i8")
            out.save(f"step_{step}_positions", [position], dtype="<i8")
            out.save(f"step_{step}_logits", logits[0])
        out.save("cached_keys", torch.stack([k[0] for k in cache.key_cache]))
        out.save("cached_values", torch.stack([v[0] for v in cache.value_cache]))

        # The same ids in one pass, with the prefix-LM mask and with a causal one.
        total = PREFILL + STEPS
        causal = torch.ones(total, total, dtype=torch.bool).tril()
        prefix_lm = causal.clone()
        prefix_lm[:PREFILL, :PREFILL] = True
        for name, allowed in (("full_prefix_lm", prefix_lm), ("full_causal", causal)):
            mask = mask_from(allowed)
            logits, _ = model(input_ids=torch.tensor([ids]), attention_mask=mask[None, None],
                              position_ids=torch.tensor([list(range(1, total + 1))]))
            out.save(f"{name}_ids", ids, dtype="<i8")
            out.save(f"{name}_mask", mask)
            out.save(f"{name}_logits", logits[0])

        # Given input embeddings, last row only.
        embeds = torch.randn(1, 5, CONFIG["hidden_size"]) * 0.1
        logits, _ = model(inputs_embeds=embeds, position_ids=torch.tensor([[1, 2, 3, 4, 5]]), num_logits_to_keep=1)
        out.save("embeds_inputs", embeds[0])
        out.save("embeds_logits", logits[0])

    for hidden in (64, 2048):
        out.save(f"normalizer_{hidden}", [torch.tensor(hidden ** 0.5, dtype=torch.float32).item()])

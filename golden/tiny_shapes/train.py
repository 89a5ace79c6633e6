"""Train a tiny PaliGemma to name, locate and color shapes, on one CPU thread.

The model has PaliGemma's structure at toy size: SigLIP on 64-pixel images
with 16-pixel patches (16 image tokens), the projector, and a Gemma with
multi-query attention (one key/value head), an explicit head_dim and tied
embeddings. It is the committed reference, PaliGemmaForConditionalGeneration
of golden/modeling_paligemma.py, trained as PaliGemma is fine-tuned:

    sequence  = 16 x <image>, <bos>, prompt, "\\n" | answer, <eos>
                \\____________ prefix: both ways ___/  \\_ suffix: causal _/
    positions = 1, 2, ... (1-based, as transformers >= 4.42)
    loss      = cross-entropy on the suffix tokens only

Scenes come from scenes.py, drawn on the fly from a seeded generator, and go
through the same preprocessing as the C program (Pillow bicubic to 64, then
rescale and normalize). The vision tower runs once per image; its features
are repeated for every prompt about that image (3 to 5 of them).

Two stages: first captions and color questions only, so that the vision
tower learns shapes and colors; then all three tasks. The 1024 <locXXXX>
embeddings start as sinusoids of the bin index, and a location target is
soft: most of its mass on the true bin, the rest on its neighbours.

Everything lives in a cache folder outside the repository (default
~/.cache/paligemma-tiny-shapes): tokenizer.model, checkpoint.pt (model,
optimizer, counters, generator state; written every few minutes; the run
resumes from it) and train.log.

    /usr/bin/python3 golden/tiny_shapes/train.py                 # train or resume
    /usr/bin/python3 golden/tiny_shapes/train.py --minutes 1     # measure throughput
"""
import os

# One thread in all: NumPy's OpenBLAS and torch's OpenMP pools read these before they start.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # golden/
sys.path.insert(0, HERE)

import scenes  # noqa: E402
from gen_14_tokenizer import train_tokenizer  # noqa: E402
from modeling_paligemma import (PaliGemmaConfig, PaliGemmaForConditionalGeneration,  # noqa: E402
                                _merge_input_ids_with_image_features)

DEFAULT_CACHE = os.path.expanduser("~/.cache/paligemma-tiny-shapes")
IMAGE_SIZE = 64
PATCH_SIZE = 16
NUM_IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2
NUM_LOC = 1024
TOKENIZER_SEED = 7
# The smallest vocabulary that gives each shape and color word, with its leading space, one piece.
TOKENIZER_VOCAB = 1520
BOS, EOS, PAD = 2, 1, 0


# ---- tokenizer and config ---------------------------------------------------

def tokenizer_corpus() -> List[str]:
    """Prompts and answers of 3000 scenes, with the numbers spelled as in the tasks."""
    rng = np.random.default_rng(TOKENIZER_SEED)
    lines = []
    for _ in range(3000):
        scene = scenes.draw_scene(rng)
        for _, prompt, answer in scenes.tasks(scene, with_absent=True):
            lines.append(prompt + "\n")
            if answer:
                lines.append(answer)
    return lines


def load_tokenizer(cache: str) -> spm.SentencePieceProcessor:
    path = os.path.join(cache, "tokenizer.model")
    if not os.path.exists(path):
        train_tokenizer(tokenizer_corpus(), path, TOKENIZER_VOCAB)
    return spm.SentencePieceProcessor(model_file=path)


def config_dict(num_pieces: int) -> Dict:
    """config.json of the tiny model; <image> is the id after the last piece, rows padded to 64."""
    image_token_index = num_pieces
    vocab_size = (image_token_index + 1 + 63) // 64 * 64
    return {
        "architectures": ["PaliGemmaForConditionalGeneration"],
        "model_type": "paligemma",
        "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD,
        "hidden_size": 128, "projection_dim": 128,
        "image_token_index": image_token_index,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "gemma", "hidden_size": 128, "intermediate_size": 512,
            "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1,
            "head_dim": 32, "vocab_size": vocab_size, "num_image_tokens": NUM_IMAGE_TOKENS,
            "max_position_embeddings": 256,
        },
        "vision_config": {
            "model_type": "siglip_vision_model", "hidden_size": 128, "intermediate_size": 512,
            "num_hidden_layers": 3, "num_attention_heads": 4, "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE, "projection_dim": 128, "num_image_tokens": NUM_IMAGE_TOKENS,
        },
    }


def loc_id(tokenizer: spm.SentencePieceProcessor) -> int:
    """Id of <loc0000>; the 1024 location pieces are consecutive after it."""
    first = tokenizer.piece_to_id("<loc0000>")
    if tokenizer.piece_to_id("<loc1023>") != first + NUM_LOC - 1:
        raise ValueError("the <locXXXX> pieces are not consecutive in tokenizer.model")
    return first


def init_weights(model: PaliGemmaForConditionalGeneration, first_loc: int) -> None:
    """Set the projector and Gemma to small normal weights (std 0.02) and zero biases,
    and the location embeddings to sinusoids of the bin index.

    The vision tower keeps PyTorch's default initialization: in a 1-minute probe
    (SigLIP plus a linear shape classifier) it learned shapes faster than with std 0.02.
    """
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("vision_tower."):
                continue
            if name.endswith("norm.weight"):
                parameter.zero_()          # Gemma RMSNorm multiplies by 1 + weight
            elif name.endswith(".bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, 0.02)
        embed = model.language_model.model.embed_tokens.weight
        width = embed.shape[1]
        # Wavelengths from 8 to 4096 bins: neighbouring bins get close vectors.
        bins = torch.arange(NUM_LOC, dtype=torch.float32).unsqueeze(1)
        wavelengths = 8.0 * (512.0 ** (torch.arange(width // 2, dtype=torch.float32) / (width // 2 - 1)))
        angles = 2 * math.pi * bins / wavelengths
        sinusoids = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        embed[first_loc:first_loc + NUM_LOC] = 0.04 * sinusoids


# ---- batches ----------------------------------------------------------------

class Encoder:
    """Token ids of prompts and answers, memoized (the same prompts recur)."""

    def __init__(self, tokenizer: spm.SentencePieceProcessor, image_token_index: int) -> None:
        self.tokenizer = tokenizer
        self.image_token_index = image_token_index
        self.newline = tokenizer.encode("\n")
        self.memo: Dict[str, List[int]] = {}

    def prefix(self, prompt: str) -> List[int]:
        """16 x <image>, <bos>, tokens(prompt), tokens("\\n"): the request the C program builds."""
        if prompt not in self.memo:
            self.memo[prompt] = ([self.image_token_index] * NUM_IMAGE_TOKENS + [BOS]
                                 + self.tokenizer.encode(prompt) + self.newline)
        return self.memo[prompt]

    def suffix(self, answer: str) -> List[int]:
        return (self.tokenizer.encode(answer) if answer else []) + [EOS]


def draw_batch(rng: np.random.Generator, num_images: int, kinds: Tuple[str, ...], encoder: Encoder,
               with_absent: bool, num_objects: int = 0):
    """Draw scenes; return pixels [N, 3, I, I], the image of each sequence, the sequences."""
    pixels, image_of, sequences, task_kinds, labels = [], [], [], [], []
    for i in range(num_images):
        scene = scenes.draw_scene(rng, num_objects)
        pixels.append(scenes.preprocess(scene.image, IMAGE_SIZE))
        labels.append(patch_labels(scene))
        for kind, prompt, answer in scenes.tasks(scene, with_absent=with_absent):
            if kind in kinds:
                image_of.append(i)
                sequences.append((encoder.prefix(prompt), encoder.suffix(answer)))
                task_kinds.append(kind)
    return (torch.from_numpy(np.stack(pixels)), torch.tensor(image_of), sequences, task_kinds,
            torch.from_numpy(np.stack(labels)))


def patch_labels(scene: scenes.Scene) -> np.ndarray:
    """Return [2, P] int64: for each patch, the shape (0 none, 1 + index in SHAPES) and the
    color (0 none, 1 + index in COLORS) of the object whose box covers most of it.

    These are the targets of the auxiliary patch loss (see main); a patch whose
    best overlap is under a tenth of its area is "none".
    """
    width, height = scene.image.size
    grid = IMAGE_SIZE // PATCH_SIZE
    labels = np.zeros((2, grid * grid), dtype=np.int64)
    best = np.full(grid * grid, 0.1)
    colors = list(scenes.COLORS)
    for obj in scene.objects:
        # The box in patch units of the resized image.
        x0, y0 = obj.box[0] / width * grid, obj.box[1] / height * grid
        x1, y1 = obj.box[2] / width * grid, obj.box[3] / height * grid
        for row in range(grid):
            for column in range(grid):
                overlap = (max(0.0, min(x1, column + 1) - max(x0, column))
                           * max(0.0, min(y1, row + 1) - max(y0, row)))
                patch = row * grid + column
                if overlap > best[patch]:
                    best[patch] = overlap
                    labels[0, patch] = 1 + scenes.SHAPES.index(obj.shape)
                    labels[1, patch] = 1 + colors.index(obj.color)
    return labels


def pack(sequences: List[Tuple[List[int], List[int]]]):
    """Right-pad the sequences; return ids [B, T], the additive mask [B, 1, T, T],
    the rows whose logits predict a suffix token, and those target tokens.

    Per sequence, the mask is build_prefix_lm_mask(prefix, 0, T, T) with the
    padding keys hidden too: a key is visible if it is in the prefix or not
    after the query, and is not padding.
    """
    length = max(len(p) + len(s) for p, s in sequences)
    ids = torch.full((len(sequences), length), PAD, dtype=torch.int64)
    prefix_lengths, total_lengths, rows, targets = [], [], [], []
    for b, (prefix, suffix) in enumerate(sequences):
        tokens = prefix + suffix
        ids[b, :len(tokens)] = torch.tensor(tokens)
        prefix_lengths.append(len(prefix))
        total_lengths.append(len(tokens))
        for j, token in enumerate(suffix):
            rows.append(b * length + len(prefix) + j - 1)  # the row before a token predicts it
            targets.append(token)
    position = torch.arange(length)
    query, key = position.view(1, -1, 1), position.view(1, 1, -1)
    prefix_length = torch.tensor(prefix_lengths).view(-1, 1, 1)
    total_length = torch.tensor(total_lengths).view(-1, 1, 1)
    visible = ((key < prefix_length) | (key <= query)) & (key < total_length)
    mask = torch.zeros(visible.shape).masked_fill(~visible, float("-inf")).unsqueeze(1)
    return ids, mask, torch.tensor(rows), torch.tensor(targets)


def soft_targets(targets: torch.Tensor, vocab_size: int, first_loc: int, sigma: float) -> torch.Tensor:
    """One-hot rows, except location targets: half on the bin, half a Gaussian over its neighbours."""
    dist = torch.zeros(len(targets), vocab_size)
    dist[torch.arange(len(targets)), targets] = 1.0
    is_loc = (targets >= first_loc) & (targets < first_loc + NUM_LOC)
    if sigma > 0 and bool(is_loc.any()):
        bins = (targets[is_loc] - first_loc).float().unsqueeze(1)
        gauss = torch.exp(-0.5 * ((torch.arange(NUM_LOC).float().unsqueeze(0) - bins) / sigma) ** 2)
        gauss = gauss / gauss.sum(dim=1, keepdim=True)
        rows = dist[is_loc]
        rows[:, first_loc:first_loc + NUM_LOC] = 0.5 * rows[:, first_loc:first_loc + NUM_LOC] + 0.5 * gauss
        dist[is_loc] = rows
    return dist


def forward_rows(model: PaliGemmaForConditionalGeneration, pixels: torch.Tensor, image_of: torch.Tensor,
                 ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                 vision_outputs: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
    """Run the model's forward pass, with the vision tower once per image; return the logits of `rows`.

    vision_outputs, when given, receives the vision tower's output [N, P, E].
    """
    config = model.config
    vision_output = model.vision_tower(pixels)
    if vision_outputs is not None:
        vision_outputs.append(vision_output)
    image_features = model.multi_modal_projector(vision_output)[image_of]
    inputs_embeds = model.language_model.model.embed_tokens(ids)
    inputs_embeds = _merge_input_ids_with_image_features(image_features, inputs_embeds, ids,
                                                         config.text_config.hidden_size,
                                                         config.image_token_index, config.pad_token_id)
    position_ids = torch.arange(1, ids.shape[1] + 1).unsqueeze(0).expand(ids.shape[0], -1)
    hidden, _ = model.language_model.model(inputs_embeds=inputs_embeds, attention_mask=mask,
                                           position_ids=position_ids, kv_cache=None)
    selected = hidden.reshape(-1, hidden.shape[-1])[rows]
    # The tied head, as GemmaForCausalLM computes it, on the rows that carry a loss only.
    return nn.functional.linear(selected, model.language_model.model.embed_tokens.weight)


# ---- validation -------------------------------------------------------------

def validate(model, encoder: Encoder, num_images: int = 100) -> Dict[str, float]:
    """Exact-match rate per task with teacher forcing, on fixed scenes (seed 999).

    With the prefix-LM mask, greedy decoding gives the reference answer exactly
    when every suffix token is the argmax given the reference tokens before it,
    so this equals greedy exact match, at the cost of one forward pass.
    """
    rng = np.random.default_rng(999)
    pixels, image_of, sequences, kinds, _ = draw_batch(rng, num_images, ("caption", "detect", "color"),
                                                    encoder, with_absent=False)
    ids, mask, rows, targets = pack(sequences)
    model.eval()
    with torch.no_grad():
        predicted = forward_rows(model, pixels, image_of, ids, mask, rows).argmax(dim=1)
    model.train()
    correct = (predicted == targets).tolist()
    first_loc = loc_id(encoder.tokenizer)
    is_loc = (targets >= first_loc) & (targets < first_loc + NUM_LOC)
    result: Dict[str, List[bool]] = {}
    position = 0
    for (prefix, suffix), kind in zip(sequences, kinds):
        ok = all(correct[position:position + len(suffix)])
        position += len(suffix)
        result.setdefault(kind, []).append(ok)
    rates = {kind: sum(v) / len(v) for kind, v in result.items()}
    # How far, in bins of 1024, the most likely location token is from the reference one.
    rates["loc_bin_error"] = float((predicted[is_loc] - targets[is_loc]).abs().float().mean())
    return rates


# ---- the loop -----------------------------------------------------------------

def learning_rate(step: int, args) -> float:
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = min(1.0, (step - args.warmup_steps) / max(1, args.total_steps - args.warmup_steps))
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def save_checkpoint(path: str, model, patch_head, optimizer, state: Dict) -> None:
    temporary = path + ".tmp"
    torch.save({"model": model.state_dict(), "patch_head": patch_head.state_dict(),
                "optimizer": optimizer.state_dict(), "state": state}, temporary)
    os.replace(temporary, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", default=DEFAULT_CACHE, help="folder for tokenizer, checkpoint and log")
    parser.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0: never)")
    parser.add_argument("--total-steps", type=int, default=16000, help="length of the learning-rate schedule")
    parser.add_argument("--stage1-steps", type=int, default=6000, help="steps of captions and colors only")
    parser.add_argument("--single-object-steps", type=int, default=3000,
                        help="first steps with one shape per scene (within stage 1)")
    parser.add_argument("--patch-loss-weight", type=float, default=1.0,
                        help="weight of the auxiliary shape and color loss on the vision patches (0: off)")
    # Greedy decoding compares <eos> with the most likely single location bin, so even a
    # few empty answers in training make a detection start with <eos> while the bins are uncertain.
    parser.add_argument("--absent-rate", type=float, default=0.0,
                        help="share of stage-2 batches that also ask to detect absent shapes (empty answer)")
    parser.add_argument("--images-per-step", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup-steps", type=int, default=300)
    parser.add_argument("--loc-sigma", type=float, default=12.0, help="width in bins of the soft location target")
    parser.add_argument("--save-minutes", type=float, default=3.0)
    parser.add_argument("--validate-steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(1)
    os.makedirs(args.cache, exist_ok=True)
    log_file = open(os.path.join(args.cache, "train.log"), "a", encoding="utf-8")

    def log(text: str) -> None:
        line = time.strftime("%H:%M:%S ") + text
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    tokenizer = load_tokenizer(args.cache)
    config_data = config_dict(tokenizer.get_piece_size())
    with open(os.path.join(args.cache, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config_data, f, indent=2, sort_keys=True)
    config = PaliGemmaConfig.from_dict(config_data)
    first_loc = loc_id(tokenizer)
    encoder = Encoder(tokenizer, config.image_token_index)

    torch.manual_seed(args.seed)
    model = PaliGemmaForConditionalGeneration(config)
    init_weights(model, first_loc)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    # Training only, never exported: a linear head on each vision patch that predicts the
    # shape and color there (4 + 7 classes), a dense signal that the shape tokens lack.
    patch_head = nn.Linear(config.vision_config.hidden_size, 4 + 1 + len(scenes.COLORS))
    patch_group = {"params": list(patch_head.parameters()), "weight_decay": 0.0}
    rng = np.random.default_rng(args.seed)
    state = {"step": 0, "samples": 0, "images": 0, "seconds": 0.0}

    checkpoint_path = os.path.join(args.cache, "checkpoint.pt")
    if not os.path.exists(checkpoint_path):
        optimizer.add_param_group(patch_group)
    else:
        saved = torch.load(checkpoint_path)
        model.load_state_dict(saved["model"])
        # A checkpoint from before the patch head has two parameter groups.
        if "patch_head" in saved:
            patch_head.load_state_dict(saved["patch_head"])
            optimizer.add_param_group(patch_group)
            optimizer.load_state_dict(saved["optimizer"])
        else:
            optimizer.load_state_dict(saved["optimizer"])
            optimizer.add_param_group(patch_group)
        state = saved["state"]
        rng = pickle.loads(state.pop("rng"))
        log(f"resumed from {checkpoint_path} at step {state['step']}, {state['samples']} samples")
    log(f"args {vars(args)}")
    log(f"parameters {sum(p.numel() for p in model.parameters())}")

    model.train()
    started = time.time()
    last_save = started
    window_start, window_samples, window_loss, window_steps = time.time(), 0, 0.0, 0
    while state["step"] < args.total_steps:
        step = state["step"]
        stage1 = step < args.stage1_steps
        kinds = ("caption", "color") if stage1 else ("caption", "detect", "color")
        # Scenes of one shape first: the caption then names the shape of the whole image.
        num_objects = 1 if step < args.single_object_steps else 0
        pixels, image_of, sequences, _, labels = draw_batch(rng, args.images_per_step, kinds, encoder,
                                                            with_absent=not stage1 and rng.random() < args.absent_rate,
                                                            num_objects=num_objects)
        ids, mask, rows, targets = pack(sequences)
        vision_outputs: List[torch.Tensor] = []
        logits = forward_rows(model, pixels, image_of, ids, mask, rows, vision_outputs)
        target = soft_targets(targets, logits.shape[1], first_loc, args.loc_sigma)
        loss = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        if args.patch_loss_weight > 0:
            patch_logits = patch_head(vision_outputs[0])  # [N, P, 11]
            patch_loss = (nn.functional.cross_entropy(patch_logits[..., :4].reshape(-1, 4), labels[:, 0].reshape(-1))
                          + nn.functional.cross_entropy(patch_logits[..., 4:].reshape(-1, 7), labels[:, 1].reshape(-1)))
            loss = loss + args.patch_loss_weight * patch_loss

        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.parameters()) + list(patch_head.parameters()), 1.0)
        optimizer.step()

        state["step"] += 1
        state["samples"] += len(sequences)
        state["images"] += args.images_per_step
        window_samples += len(sequences)
        window_loss += float(loss)
        window_steps += 1
        now = time.time()
        if state["step"] % 50 == 0:
            elapsed = now - window_start
            state["seconds"] += elapsed
            log(f"step {state['step']} samples {state['samples']} loss {window_loss / window_steps:.4f} "
                f"lr {learning_rate(step, args):.2e} {window_samples / elapsed:.1f} samples/s "
                f"stage {1 if stage1 else 2}")
            window_start, window_samples, window_loss, window_steps = now, 0, 0.0, 0
        if state["step"] % args.validate_steps == 0:
            log(f"validate step {state['step']} " + " ".join(
                f"{k} {v:.3f}" for k, v in sorted(validate(model, encoder).items())))
        stop = args.minutes and now - started > args.minutes * 60
        if now - last_save > args.save_minutes * 60 or stop or state["step"] == args.total_steps:
            save_checkpoint(checkpoint_path, model, patch_head, optimizer, dict(state, rng=pickle.dumps(rng)))
            last_save = now
            log(f"saved {checkpoint_path} at step {state['step']}")
        if stop:
            break


if __name__ == "__main__":
    main()

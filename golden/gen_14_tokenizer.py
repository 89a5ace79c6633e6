"""Golden data for chapter 14, the SentencePiece BPE tokenizer.

Trains a small tokenizer with Gemma's options (BPE, byte fallback, digits
split, whitespace-only pieces allowed, no dummy prefix, no whitespace removal,
identity normalization, <pad> <eos> <bos> <unk> = 0 1 2 3, then the 1024
<locXXXX> and 128 <segXXX> user-defined pieces) on a corpus made here from a
fixed seed, and writes into golden/14_tokenizer/:

  tokenizer.model                  the trained model (about 40 KB)
  strings_bytes.npy, strings_offsets.npy
                                   the test strings as UTF-8: string i is
                                   bytes[offsets[i]:offsets[i + 1]]
  ids.npy, ids_offsets.npy         sentencepiece's encode() of each string
  decoded_bytes.npy, decoded_offsets.npy
                                   sentencepiece's decode() of those ids
  raw_ids.npy, raw_decoded_*.npy   id lists no text encodes to (control
                                   pieces, byte runs that are not UTF-8) and
                                   their decode()
  strings.txt                      the strings, one repr() a line, for reading
  prompt_ids.npy, prompt_offsets.npy, prompt_texts.txt
                                   PaliGemma prompts: 256 x <image>, <bos>,
                                   tokens(prompt), tokens("\\n")
  handmade_*.model, handmade_*_ids.npy ...
                                   tiny hand-written models for the cases the
                                   trained one lacks (UNUSED pieces, score ties)

train_tokenizer() is reusable: another script can train the same kind of
tokenizer on its own corpus.
"""
import io
import os
import random
import struct
from typing import Iterable, List, Sequence

import numpy as np
import sentencepiece as spm

from golden_io import ChapterWriter
from processing_paligemma import paligemma_prompt_ids

CHAPTER = "14_tokenizer"
VOCAB_SIZE = 2048
NUM_IMAGE_TOKENS = 256

LOC_TOKENS = [f"<loc{i:04d}>" for i in range(1024)]
SEG_TOKENS = [f"<seg{i:03d}>" for i in range(128)]


def train_tokenizer(sentences: Iterable[str], model_path: str, vocab_size: int = VOCAB_SIZE) -> bytes:
    """Train a Gemma-like SentencePiece BPE model on `sentences`; write it to model_path.

    Returns the model bytes. One thread and an in-memory corpus keep the bytes
    reproducible: the model records the trainer options, and a corpus file
    would put its path into the model.
    """
    model = io.BytesIO()
    spm.set_random_generator_seed(14)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(sentences)),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        normalization_rule_name="identity",
        pad_id=0,
        eos_id=1,
        bos_id=2,
        unk_id=3,
        pad_piece="<pad>",
        eos_piece="<eos>",
        bos_piece="<bos>",
        unk_piece="<unk>",
        user_defined_symbols=LOC_TOKENS + SEG_TOKENS,
        max_sentence_length=100000,
        num_threads=1,
        minloglevel=2,
    )
    data = model.getvalue()
    with open(model_path, "wb") as f:
        f.write(data)
    return data


# ---- the training corpus ---------------------------------------------------

SUBJECTS = ["the cat", "a dog", "the small bird", "my friend", "the old man", "a young woman",
            "the red car", "this house", "the tall tree", "our teacher", "the children",
            "a blue boat", "the river", "the city", "her brother", "the green apple"]
VERBS = ["sees", "likes", "walks to", "looks at", "runs past", "sits near", "waits for",
         "paints", "finds", "carries", "holds", "follows", "reads about", "talks to"]
OBJECTS = ["the window", "a large table", "the garden", "two books", "the bridge", "a white cup",
           "the market", "the mountain", "a wooden chair", "the station", "the beach",
           "three yellow flowers", "the kitchen", "a small square", "the blue circle"]
ENDINGS = [".", "!", "?", " today.", " in the morning.", " every day.", " again.", ", and smiles."]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]
SHAPES = ["circle", "square", "triangle", "star", "cat", "dog", "car", "person"]
LANGS = ["en", "es", "fr", "de", "ru", "zh", "ar", "hi"]

# Short sentences in other scripts, so that the vocabulary has some of their letters.
OTHER_SCRIPTS = [
    "Привет, как дела? Это красный квадрат.",
    "Кошка сидит на столе, а собака спит.",
    "Καλημέρα, τι κάνεις; Ο κύκλος είναι μπλε.",
    "Η γάτα κάθεται στο τραπέζι.",
    "今天天气很好。我们去公园散步。",
    "这是一个红色的圆形。猫在桌子上。",
    "日本語のテキストです。東京は大きい。",
    "مرحبا، كيف حالك؟ هذه دائرة حمراء.",
    "القطة تجلس على الطاولة.",
    "नमस्ते, आप कैसे हैं? यह लाल वृत्त है।",
    "बिल्ली मेज पर बैठी है।",
]


def english_sentence(rng: random.Random) -> str:
    text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(ENDINGS)}"
    return text[0].upper() + text[1:] if rng.random() < 0.6 else text


def task_prompt(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"caption {rng.choice(LANGS)}"
    if kind == 1:
        return f"detect {rng.choice(COLORS)} {rng.choice(SHAPES)}"
    if kind == 2:
        return f"answer en what color is the {rng.choice(SHAPES)}?"
    if kind == 3:
        return f"segment {rng.choice(SHAPES)}"
    if kind == 4:
        boxes = "".join(rng.choice(LOC_TOKENS) for _ in range(4))
        return f"{boxes} {rng.choice(COLORS)} {rng.choice(SHAPES)}"
    return f"{rng.choice(LOC_TOKENS)}{rng.choice(LOC_TOKENS)}{rng.choice(SEG_TOKENS)} {rng.choice(SHAPES)}"


def number_sentence(rng: random.Random) -> str:
    value = rng.randrange(10 ** rng.randrange(1, 9))
    return rng.choice([f"There are {value} apples.", f"In {1900 + rng.randrange(125)} the price was {value}.",
                       f"Call 555-{rng.randrange(10000):04d} at {rng.randrange(24)}:{rng.randrange(60):02d}.",
                       f"{value} + {rng.randrange(1000)} = ?"])


def whitespace_sentence(rng: random.Random) -> str:
    gap = rng.choice(["  ", "   ", "    ", "\t", "\t\t", " \t ", "\n", "\n\n"])
    return f"{english_sentence(rng)}{gap}{english_sentence(rng)}"


def make_corpus(seed: int = 14, num_sentences: int = 6000) -> List[str]:
    """Return a deterministic English-like corpus with task prompts, digits and other scripts."""
    rng = random.Random(seed)
    makers = [english_sentence] * 5 + [task_prompt] * 3 + [number_sentence, whitespace_sentence]
    corpus = []
    for i in range(num_sentences):
        if i % 40 == 0:
            corpus.append(OTHER_SCRIPTS[(i // 40) % len(OTHER_SCRIPTS)])
        else:
            corpus.append(rng.choice(makers)(rng))
    return corpus


# ---- the test strings ------------------------------------------------------

FIXED_STRINGS = [
    "", " ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", " leading space",
    "trailing space ", "  both  ", "two  spaces", "tab\tseparated\tvalues", "line one\nline two\n",
    "caption en", "caption es", "detect red circle", "detect cat ; dog", "answer en what color is the square?",
    "segment cat", "ocr", "0", "7", "42", "2024", "1234567890", "3.14159", "-17", "99999999999999999999",
    "a1b2c3", "price: $1,299.99", "<loc0001><loc1023>", "<loc0000>", "<loc1023>", "<loc1024>",
    "<loc0512><loc0256><loc0768><loc0128> red circle", "cat <loc0010>dog<loc0020> bird",
    "<seg012>", "<seg127><seg000>", "<seg128>", "<loc0001 >", "<loc001>", "<<loc0001>>",
    "<bos>", "<eos>", "<pad>", "<unk>", "<image>", "<image><image>", "<bos>caption en<eos>",
    "<0x41>", "<0xFF>", "▁", "▁▁", "a▁b", "Привет, мир!", "Καλημέρα κόσμε", "你好，世界",
    "日本語", "مرحبا بالعالم", "नमस्ते दुनिया", "한국어 텍스트", "עברית", "ไทย", "emoji 😀",
    "😀😃😄", "flag 🇫🇷", "family 👨‍👩‍👧", "snowman ☃ and ♥", "café naïve résumé", "Ωmega µ",
    "\u00a0non-breaking", "zero\u200bwidth", "e\u0301", "ﬁ ligature", "ＡＢＣ fullwidth", "\x01\x02\x7f",
    "a", "A", "ab", "The", "the cat sees the window.", "THE CAT", "Hello, World!", "don't stop",
    "x" * 50, "ab" * 40, " " * 17, "\t" * 5, "1" * 30, "<loc0001>" * 8,
]


def make_test_strings(seed: int = 1414, count: int = 560) -> List[str]:
    """Return the fixed strings plus random mixes of the corpus makers and odd characters."""
    rng = random.Random(seed)
    odd_pieces = ["😀", "🚀", "∑", "ß", "\t", "  ", "\n", "Ж", "λ", "中", "ع", "क", "<loc0042>",
                  "<seg099>", "<bos>", "<image>", "123", "  \t", "é", "\u2581"]
    makers = [english_sentence, task_prompt, number_sentence, whitespace_sentence]
    strings = list(FIXED_STRINGS)
    strings += OTHER_SCRIPTS
    while len(strings) < count:
        parts = []
        for _ in range(rng.randrange(1, 4)):
            if rng.random() < 0.7:
                parts.append(rng.choice(makers)(rng))
            else:
                parts.append(rng.choice(odd_pieces))
        glue = rng.choice(["", " ", "  ", "\n", "\t"])
        text = glue.join(parts)
        if rng.random() < 0.2:
            text = " " + text
        if rng.random() < 0.2:
            text = text + rng.choice([" ", "  ", "\n"])
        strings.append(text)
    return strings


# ---- writing the dumps -----------------------------------------------------

def concatenate(chunks: Sequence[Sequence[int]]):
    """Return (values, offsets) with chunk i = values[offsets[i]:offsets[i + 1]]."""
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    values = [v for c in chunks for v in c]
    return values, offsets


def save_texts(out: ChapterWriter, name: str, texts: Sequence[str]) -> None:
    encoded = [list(t.encode("utf-8")) for t in texts]
    values, offsets = concatenate(encoded)
    out.save(f"{name}_bytes", values, dtype=np.uint8)
    out.save(f"{name}_offsets", offsets, dtype=np.int64)


def save_ids(out: ChapterWriter, name: str, id_lists: Sequence[Sequence[int]]) -> None:
    values, offsets = concatenate(id_lists)
    out.save(name, values, dtype=np.int64)
    out.save(f"{name}_offsets", offsets, dtype=np.int64)


def write_text_file(path: str, texts: Sequence[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(repr(text) + "\n")


# ---- hand-written models ---------------------------------------------------
# A few lines of protobuf wire format, enough to write ModelProto messages
# that exercise what the trained model lacks.

def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3 | 0) + varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def field_float(number: int, value: float) -> bytes:
    return varint(number << 3 | 5) + struct.pack("<f", value)


def handmade_model(pieces, trainer_extra: bytes = b"") -> bytes:
    """ModelProto bytes for [(piece, score, type)], with Gemma's trainer and normalizer options.

    trainer_extra is appended to TrainerSpec; a field given twice takes the last value.
    """
    body = b""
    for text, score, kind in pieces:
        body += field_bytes(1, field_bytes(1, text.encode("utf-8")) + field_float(2, score) + field_varint(3, kind))
    trainer = (field_varint(3, 2) + field_varint(4, len(pieces)) + field_varint(35, 0) +
               field_varint(40, 3) + field_varint(41, 2) + field_varint(42, 1) + field_varint(43, 0) +
               trainer_extra)
    normalizer = (field_bytes(1, b"identity") + field_varint(3, 0) + field_varint(4, 0) + field_varint(5, 1))
    return body + field_bytes(2, trainer) + field_bytes(3, normalizer)


NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED = 1, 2, 3, 4, 5
SPECIALS = [("<pad>", 0.0, CONTROL), ("<eos>", 0.0, CONTROL), ("<bos>", 0.0, CONTROL), ("<unk>", 0.0, UNKNOWN)]

HANDMADE = {
    # "abc" is UNUSED: merging "ab" + "c" yields it, and sentencepiece splits it back.
    # "<x>a" is user-defined and starts with the user-defined "<x>": the longest match wins.
    "unused": (SPECIALS + [("a", -1.0, NORMAL), ("b", -1.0, NORMAL), ("c", -1.0, NORMAL),
                           ("ab", -2.0, NORMAL), ("abc", -1.5, UNUSED), ("bc", -3.0, NORMAL),
                           ("abcd", -0.5, NORMAL), ("d", -1.0, NORMAL), ("\u2581", -1.0, NORMAL),
                           ("<x>", 0.0, USER_DEFINED), ("<xy>", 0.0, USER_DEFINED), ("<x>a", 0.0, USER_DEFINED)],
               b"", ["abc", "abcd", "ab c", "cabc", "abcabc", "a<x>b", "<xy>c", "<x<xy>", "bcd", "zz", "",
                     "<x>a", "<x>ab", "<x><x>a"]),
    # Equal scores: the leftmost pair merges first, so "aaa" is "aa" + "a".
    "ties": (SPECIALS + [("a", -1.0, NORMAL), ("b", -1.0, NORMAL), ("aa", -2.0, NORMAL),
                         ("ab", -2.0, NORMAL), ("ba", -2.0, NORMAL), ("aab", -1.0, NORMAL)],
             b"", ["aaa", "aab", "aba", "bab", "abab", "aaaa", "baab", "q"]),
    # split_digits, allow_whitespace_only_pieces = false, treat_whitespace_as_suffix and
    # split_by_whitespace = false shape training only: encoding still yields "12" and "▁▁".
    "options": (SPECIALS + [("1", -1.0, NORMAL), ("2", -1.0, NORMAL), ("12", -2.0, NORMAL),
                            ("\u2581", -1.0, NORMAL), ("\u2581\u2581", -2.0, NORMAL), ("a", -1.0, NORMAL),
                            ("\u2581a", -3.0, NORMAL), ("a\u2581", -2.5, NORMAL)],
                field_varint(25, 1) + field_varint(26, 0) + field_varint(24, 1) + field_varint(22, 0),
                ["12", "  ", "a a", " a", "a  a", "a ", "2112"]),
}


def generate() -> None:
    out = ChapterWriter(CHAPTER)
    model_path = os.path.join(out.folder, "tokenizer.model")
    train_tokenizer(make_corpus(), model_path)
    sp = spm.SentencePieceProcessor(model_file=model_path)

    strings = make_test_strings()
    ids = [sp.encode(s) for s in strings]
    save_texts(out, "strings", strings)
    save_ids(out, "ids", ids)
    save_texts(out, "decoded", [sp.decode(i) for i in ids])
    write_text_file(os.path.join(out.folder, "strings.txt"), strings)

    # Id lists that no text encodes to: specials, and byte runs that are not UTF-8.
    def byte_ids(values):
        return [sp.piece_to_id(f"<0x{v:02X}>") for v in values]
    letter_a = sp.piece_to_id("a")
    raw = [[3, 2, 1, 0], [2] + sp.encode("caption en") + [1], byte_ids([0xC0, 0x80]),
           byte_ids([0xED, 0xA0, 0x80]), byte_ids([0xF4, 0x90, 0x80, 0x80]), byte_ids([0xE2, 0x82]),
           byte_ids([0xE2, 0x82, 0x41]), byte_ids([0xF8]), byte_ids([0x80]),
           byte_ids([0xE2]) + [letter_a] + byte_ids([0x82, 0xAC]), byte_ids([0xE2, 0x82, 0xAC, 0xE2]),
           byte_ids([0xF0, 0x9F, 0x98, 0x80, 0x80]), [5, 1027, 1028]]
    save_ids(out, "raw_ids", raw)
    save_texts(out, "raw_decoded", [sp.decode(i) for i in raw])

    prompts = ["caption en", "detect red circle", "answer en what color is the square?", "<bos>", ""]
    image_token_id = sp.get_piece_size()
    save_ids(out, "prompt", [paligemma_prompt_ids(sp, p, image_token_id, NUM_IMAGE_TOKENS) for p in prompts])
    write_text_file(os.path.join(out.folder, "prompt_texts.txt"), prompts)

    for name, (pieces, trainer_extra, texts) in HANDMADE.items():
        data = handmade_model(pieces, trainer_extra)
        with open(os.path.join(out.folder, f"handmade_{name}.model"), "wb") as f:
            f.write(data)
        handmade = spm.SentencePieceProcessor()
        handmade.load_from_serialized_proto(data)
        save_texts(out, f"handmade_{name}_strings", texts)
        save_ids(out, f"handmade_{name}_ids", [handmade.encode(t) for t in texts])

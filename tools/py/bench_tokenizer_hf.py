#!/usr/bin/env python3
"""Tokenizer speed of the Hugging Face `tokenizers` library, single-threaded, measured like
bench/tokenizer_bench.c (slm bench --tokenizer DIR): load time (best of 3), encode of the whole
text as one string with special tokens and of its lines one by one (encode_batch on one thread),
decode of the ids, and streaming decode one id at a time with DecodeStream (best of 3 each).

    python3 tools/py/bench_tokenizer_hf.py ../shared/tokenizers/llama3 [TEXT_FILE]

Without TEXT_FILE it generates the same text as slm_bench_tokenizer_text(); both print its length
and FNV-1a hash so that the comparison can be checked.
"""
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402

WORDS = [
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people",
    "year", "way", "day", "man", "thing", "woman", "life", "child", "world", "school", "state",
    "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "work", "government", "number", "night", "point",
    "home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right",
    "study", "book", "eye", "job", "word", "business", "issue", "side", "kind", "head", "house",
    "service", "friend", "father", "power", "hour", "game", "line", "end", "member", "law", "car",
    "city", "community", "name", "president", "team", "minute", "idea", "kid", "body",
    "information", "back", "parent", "face", "others", "level", "office", "door", "health",
    "person", "art", "war", "history", "party", "result", "change", "morning", "reason",
    "research", "girl", "guy", "moment", "air", "teacher", "force", "education", "walked",
    "quickly", "beautiful", "understanding", "extraordinary", "tokenization", "performance",
    "café", "naïve", "résumé", "Zürich", "東京", "日本語", "Привет", "мир", "😀", "🎉", "naïveté",
    "don't", "it's", "we'll", "they're", "I'm", "O'Brien", "e-mail", "state-of-the-art",
]

CODE = [
    "    for (int i = 0; i < n; i++) {\n        sum += x[i] * y[i];\n    }\n",
    "def parse(line):\n    key, _, value = line.partition('=')\n    return key.strip(), value.strip()\n",
    "if (err != nil) {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}\n",
    "SELECT name, COUNT(*) AS n FROM users WHERE age >= 18 GROUP BY name ORDER BY n DESC;\n",
]

MASK = (1 << 64) - 1


def generate(min_bytes):
    state = [20240601]

    def lcg():
        state[0] = (state[0] * 6364136223846793005 + 1442695040888963407) & MASK
        return state[0] >> 33

    parts, n = [], 0

    def put(s):
        nonlocal n
        parts.append(s)
        n += len(s.encode())

    while n < min_bytes:
        sentences = 3 + lcg() % 6
        for _ in range(sentences):
            words = 5 + lcg() % 16
            for w in range(words):
                r = lcg()
                if r % 23 == 0:
                    tmp = str(lcg() % 100000)
                else:
                    tmp = WORDS[r % len(WORDS)]
                    if w == 0 and "a" <= tmp[0] <= "z":
                        tmp = tmp[0].upper() + tmp[1:]
                put(" " if w else "")
                put(tmp)
                if w + 1 < words and r % 11 == 0:
                    put(",")
            put("? " if lcg() % 7 == 0 else ". ")
        put("\n\n")
        if lcg() % 5 == 0:
            put(CODE[lcg() % 4])
    return "".join(parts)


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & MASK
    return h


def best(fn, reps=3):
    t = 1e9
    out = None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def best_cpu(fn, reps=3):
    """CPU time too: on a busy machine the wall clock says more about the neighbours."""
    t, c = 1e9, 1e9
    out = None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        t, c = min(t, time.perf_counter() - t0), min(c, time.process_time() - c0)
    return t, c, out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    folder = sys.argv[1]
    path = os.path.join(folder, "tokenizer.json")
    load, load_cpu, tok = best_cpu(lambda: Tokenizer.from_file(path))
    if len(sys.argv) > 2:
        with open(sys.argv[2], "rb") as f:
            data = f.read()
        text, name = data.decode(), sys.argv[2]
    else:
        text, name = generate(1 << 20), "generated"
        data = text.encode()
    print("tokenizer  %s (tokenizers %s, 1 thread)" % (folder, __import__("tokenizers").__version__))
    print("load       %.3f s (best of 3; %.3f s CPU)" % (load, load_cpu))
    print("text       %s, %d bytes, fnv1a %016x" % (name, len(data), fnv1a(data)))
    enc, encoding = best(lambda: tok.encode(text, add_special_tokens=True))
    ids = encoding.ids
    dec, back = best(lambda: tok.decode(ids, skip_special_tokens=False))
    out_len = len(back.encode())
    print("tokens     %d (%.2f bytes/token)" % (len(ids), len(data) / max(1, len(ids))))
    print("encode     %.2f MB/s (%.4f s, the text as one string)" % (len(data) / enc / 1e6, enc))
    lines = [line for line in text.split("\n") if line]
    line_bytes = sum(len(line.encode()) for line in lines)
    per_line, _ = best(lambda: tok.encode_batch(lines, add_special_tokens=True))
    print("lines      %.2f MB/s (%.4f s, one call per line)" % (line_bytes / per_line / 1e6, per_line))
    print("decode     %.2f MB/s (%.4f s)" % (out_len / dec / 1e6, dec))
    try:
        from tokenizers.decoders import DecodeStream

        def stream():
            s = DecodeStream(skip_special_tokens=False)
            total = 0
            for i in ids:
                piece = s.step(tok, i)
                if piece:
                    total += len(piece.encode())
            return total
        st, _ = best(stream)
        print("stream     %.2f MB/s (%.4f s, one id at a time)" % (out_len / st / 1e6, st))
    except ImportError:
        print("stream     (DecodeStream not in this tokenizers version)")
    plain = tok.decode(ids, skip_special_tokens=True)
    print("roundtrip  %s" % ("exact" if plain == text else "differs"))


if __name__ == "__main__":
    main()

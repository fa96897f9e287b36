#!/usr/bin/env python3
"""Reference fixtures for the Llama-family forward pass.

Writes, relative to the repository root:
  tests/fixtures/llama/<case>/     tiny random-weight Llama / Mistral models saved by transformers,
                                   with tokens.txt, logits.f32 and greedy.txt computed from them
  tests/fixtures/stories260K/      prompt.txt, logits.f32, greedy.txt, greedy_text.txt for the real
                                   model in ../shared/models/stories260K (the model itself is not copied)

Every reference is the stored model evaluated in float64: the saved folder is loaded back with
transformers, upcast with model.to(torch.float64), and the few places where the transformers modules
cast to float32 on purpose (RMSNorm, the RoPE angle table, eager softmax) are lifted to float64 too,
so the only rounding left is the final cast of the logits to float32. The RoPE inverse frequencies
themselves stay as transformers computes them (float32 values).

Usage (from the repository root):  python3 tools/py/make_llama_fixtures.py [--only CASE ...]
Needs: torch, transformers, safetensors, tokenizers, numpy.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import types

import numpy as np
import torch
import transformers
from safetensors import safe_open
from tokenizers import Tokenizer
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LLAMA_DIR = os.path.join(ROOT, "tests", "fixtures", "llama")
STORIES_OUT = os.path.join(ROOT, "tests", "fixtures", "stories260K")
STORIES_MODEL = os.path.join(ROOT, "..", "shared", "models", "stories260K")

N_PROMPT = 24      # tokens in tokens.txt
N_GREEDY = 16      # new tokens in greedy.txt
STORIES_PROMPT = "Once upon a time"
STORIES_GREEDY = 60
STORIES_EXPECT = ", there was a little girl named Lily"

# Shapes shared by every tiny case unless the case overrides them.
BASE = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
            rms_norm_eps=1e-5, rope_theta=10000.0, bos_token_id=1, eos_token_id=2,
            tie_word_embeddings=False)

# name, model class, config overrides, stored dtype, number of shards, config spelling
CASES = [
    dict(name="mha", cfg=dict()),
    dict(name="gqa2", cfg=dict(num_attention_heads=8, num_key_value_heads=4, head_dim=8)),
    # Tied: with 0.1 linears the token's own embedding dominates E·h and every argmax is the input
    # token; larger linears make the layers decide the output. The seed is one whose greedy run
    # does not settle into repeating one token.
    dict(name="gqa4", cfg=dict(num_attention_heads=8, num_key_value_heads=2,
                               tie_word_embeddings=True), linear_std=0.2, seed=3),
    dict(name="headdim", cfg=dict(num_attention_heads=4, num_key_value_heads=2, head_dim=24)),
    dict(name="rope_llama3", cfg=dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                      rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                    "original_max_position_embeddings": 64})),
    dict(name="rope_linear", cfg=dict(num_attention_heads=4, num_key_value_heads=2,
                                      rope_scaling={"type": "linear", "factor": 4.0})),
    dict(name="f16", cfg=dict(num_attention_heads=4, num_key_value_heads=2), dtype=torch.float16),
    dict(name="bf16", cfg=dict(num_attention_heads=4, num_key_value_heads=2), dtype=torch.bfloat16),
    dict(name="sharded", cfg=dict(num_attention_heads=4, num_key_value_heads=2), shards=2),
    dict(name="bias", cfg=dict(attention_bias=True, mlp_bias=True)),
    dict(name="mistral", arch="mistral", cfg=dict(num_attention_heads=8, num_key_value_heads=2,
                                                  sliding_window=None)),
    # gqa2's shapes with a non-default rope_theta, so a reader that misses rope_parameters fails.
    dict(name="v5config", cfg=dict(num_attention_heads=8, num_key_value_heads=4, head_dim=8,
                                   rope_theta=1000.0, eos_token_id=[2, 5]), spelling="v5"),
]

DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def case_seed(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


# ---------------------------------------------------------------- config spelling

def canonical_rope(cfg):
    """(rope_theta, scaling dict or None) from either spelling of a config dict."""
    if "rope_parameters" in cfg and cfg["rope_parameters"] is not None:
        rp = dict(cfg["rope_parameters"])
        theta = rp.pop("rope_theta")
        if rp.get("rope_type", rp.get("type")) == "default" and len(rp) == 1:
            return theta, None
        return theta, rp
    return cfg["rope_theta"], cfg.get("rope_scaling")


def respell(cfg, spelling, scaling):
    """Rewrite a saved config dict to the v4 or v5 field names, whichever transformers wrote it in.

    v4 (most Hub files): top-level rope_theta + rope_scaling, torch_dtype.
    v5: rope_parameters {rope_type, rope_theta, ...}, dtype.
    `scaling` is the case's own rope_scaling dict, so the legacy key "type" survives as written."""
    cfg = dict(cfg)
    theta, _ = canonical_rope(cfg)
    for k in ("rope_parameters", "rope_scaling", "rope_theta"):
        cfg.pop(k, None)
    dtype = cfg.pop("dtype", None) or cfg.pop("torch_dtype", None)
    cfg.pop("torch_dtype", None)
    if spelling == "v4":
        cfg["rope_theta"] = theta
        cfg["rope_scaling"] = scaling
        cfg["torch_dtype"] = dtype
    else:
        rp = {"rope_type": "default"} if scaling is None else dict(scaling)
        if "type" in rp:
            rp["rope_type"] = rp.pop("type")
        rp["rope_theta"] = theta
        cfg["rope_parameters"] = rp
        cfg["dtype"] = dtype
    return cfg


def write_json(path, obj):
    with open(path, "w") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- float64 evaluation

def rmsnorm64(self, x):
    var = x.pow(2).mean(-1, keepdim=True)
    return self.weight * (x * torch.rsqrt(var + self.variance_epsilon))


@torch.no_grad()
def rope64(self, x, position_ids):
    freqs = position_ids[..., None].to(torch.float64) * self.inv_freq.to(x.device, torch.float64)
    emb = torch.cat((freqs, freqs), dim=-1)
    return ((emb.cos() * self.attention_scaling).to(x.dtype),
            (emb.sin() * self.attention_scaling).to(x.dtype))


def lift_to_float64(model):
    """Upcast the model and remove the deliberate float32 steps in its modules.

    Attention goes through torch SDPA, which computes in the input dtype on CPU."""
    model.to(torch.float64)
    for m in model.modules():
        cls = type(m).__name__
        if cls.endswith("RMSNorm"):
            m.forward = types.MethodType(rmsnorm64, m)
        elif cls.endswith("RotaryEmbedding"):
            if m.rope_type not in ("default", "linear", "llama3"):
                sys.exit(f"rope type {m.rope_type}: float64 table not checked for this type")
            m.inv_freq = m.inv_freq.to(torch.float64)
            m.forward = types.MethodType(rope64, m)
    return model


def load(folder, dtype, attn="sdpa"):
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attn).eval()


@torch.no_grad()
def all_logits(model, ids):
    return model(torch.tensor([ids])).logits[0]


@torch.no_grad()
def greedy(model, ids, n, stop_ids):
    """model.generate greedy continuation, checked against a cache-free argmax loop.

    Returns (new ids, smallest top1-top2 logit gap seen along the way)."""
    # An explicit mask: without one generate() masks out prompt tokens equal to pad_token_id.
    x = torch.tensor([ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, do_sample=False,
                         pad_token_id=0)[0, len(ids):].tolist()
    if len(out) != n:
        sys.exit(f"greedy stopped after {len(out)} tokens (hit eos {out[-1]}): pick another prompt")
    seq = list(ids)
    gap = float("inf")
    for _ in range(n):
        last = all_logits(model, seq)[-1]
        top = torch.topk(last, 2).values
        gap = min(gap, float(top[0] - top[1]))
        seq.append(int(last.argmax()))
    if seq[len(ids):] != out:
        sys.exit(f"generate() {out} disagrees with the argmax loop {seq[len(ids):]}")
    if any(t in stop_ids for t in out):
        sys.exit(f"greedy output {out} contains an eos id {stop_ids}")
    return out, gap


def rel_l2_rows(a, b):
    """Largest per-position relative L2 error of a against reference b."""
    return float(((a - b).norm(dim=-1) / b.norm(dim=-1)).max())


def min_gap(logits):
    top = torch.topk(logits, 2, dim=-1).values
    return float((top[:, 0] - top[:, 1]).min())


def write_ids(path, ids):
    with open(path, "w") as f:
        f.write(" ".join(str(i) for i in ids) + "\n")


def write_f32(path, t):
    t.detach().to(torch.float64).numpy().astype("<f4").tofile(path)


# ---------------------------------------------------------------- tiny cases

def init_weights(model, gen, linear_std):
    """Larger-than-default weights so logits are far from uniform and argmaxes well separated."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if "norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif "embed_tokens" in name:
                p.copy_(noise)
            elif name.startswith("lm_head"):
                p.copy_(0.3 * noise)
            else:
                p.copy_(linear_std * noise)


def make_case(case):
    name = case["name"]
    folder = os.path.join(LLAMA_DIR, name)
    dtype = case.get("dtype", torch.float32)
    arch = case.get("arch", "llama")
    seed = case.get("seed", case_seed(name))

    kw = dict(BASE)
    kw.update(case["cfg"])
    scaling = kw.pop("rope_scaling", None)
    theta = kw.pop("rope_theta")
    if arch == "mistral":
        kw.pop("mlp_bias", None)
        kw.pop("attention_bias", None)
    # v5 takes the RoPE settings as rope_parameters; v4 as rope_theta + rope_scaling.
    if int(transformers.__version__.split(".")[0]) >= 5:
        rp = {"rope_type": "default"} if scaling is None else dict(scaling)
        if "type" in rp:
            rp["rope_type"] = rp.pop("type")
        rp["rope_theta"] = theta
        kw["rope_parameters"] = rp
    else:
        kw["rope_theta"] = theta
        kw["rope_scaling"] = scaling
    Config, Model = (MistralConfig, MistralForCausalLM) if arch == "mistral" else (LlamaConfig, LlamaForCausalLM)
    config = Config(**kw)

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Model(config).eval()
    init_weights(model, gen, case.get("linear_std", 0.1))
    inv_freq = model.model.rotary_emb.inv_freq.clone()  # before .to(dtype) rounds it
    model.to(dtype)
    if int(transformers.__version__.split(".")[0]) >= 5:
        model.config.dtype = dtype
    else:
        model.config.torch_dtype = dtype

    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    save_kw = dict(safe_serialization=True)
    if case.get("shards"):
        total = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        save_kw["max_shard_size"] = int(total * 0.6)
    model.save_pretrained(folder, **save_kw)

    cfg_path = os.path.join(folder, "config.json")
    with open(cfg_path) as f:
        saved = json.load(f)
    write_json(cfg_path, respell(saved, case.get("spelling", "v4"), scaling))

    files = sorted(os.listdir(folder))
    st = [f for f in files if f.endswith(".safetensors")]
    want = case.get("shards", 1)
    if len(st) != want:
        sys.exit(f"{name}: wrote {len(st)} safetensors files, want {want}")
    names = set()
    for fn in st:
        with safe_open(os.path.join(folder, fn), "pt") as f:
            names |= set(f.keys())
            for k in f.keys():
                if f.get_slice(k).get_dtype() != {torch.float32: "F32", torch.float16: "F16",
                                                   torch.bfloat16: "BF16"}[dtype]:
                    sys.exit(f"{name}: {fn}: {k} stored as {f.get_slice(k).get_dtype()}")
    if config.tie_word_embeddings == ("lm_head.weight" in names):
        sys.exit(f"{name}: tie_word_embeddings {config.tie_word_embeddings} but lm_head stored: "
                 f"{'lm_head.weight' in names}")

    # Reference from the folder as written, so the patched config is what transformers read.
    ref = load(folder, dtype)
    rc = ref.config
    want_rope = ({"rope_type": "default"} if scaling is None else
                 {("rope_type" if k == "type" else k): v for k, v in scaling.items()})
    got_rope = getattr(rc, "rope_parameters", None) or dict(rc.rope_scaling or {"rope_type": "default"},
                                                            rope_theta=rc.rope_theta)
    for k, v in dict(want_rope, rope_theta=theta).items():
        if got_rope.get(k) != v:
            sys.exit(f"{name}: reloaded config has {k}={got_rope.get(k)}, want {v}")
    if not torch.equal(inv_freq, ref.model.rotary_emb.inv_freq):
        sys.exit(f"{name}: reloaded model has other RoPE frequencies than the one saved")
    sd_a, sd_b = model.state_dict(), ref.state_dict()
    for k in sd_a:
        if not torch.equal(sd_a[k], sd_b[k]):
            sys.exit(f"{name}: {k} changed in the save/load round trip")

    gen_ids = torch.Generator().manual_seed(seed + 1)
    ids = [config.bos_token_id] + torch.randint(0, config.vocab_size, (N_PROMPT - 1,),
                                                generator=gen_ids).tolist()

    plain32 = all_logits(load(folder, dtype).to(torch.float32), ids)
    plain64 = all_logits(load(folder, dtype, attn="eager").to(torch.float64), ids)
    lift_to_float64(ref)
    logits = all_logits(ref, ids)
    eos = config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id]
    out, gap_gen = greedy(ref, ids, N_GREEDY, eos)

    write_ids(os.path.join(folder, "tokens.txt"), ids)
    write_f32(os.path.join(folder, "logits.f32"), logits)
    write_ids(os.path.join(folder, "greedy.txt"), out)
    make_readable(folder)

    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{name:12s} {size / 1024:7.1f} KiB  files={len(os.listdir(folder))}  "
          f"logit std {float(logits.std()):.2f}  min gap prompt {min_gap(logits):.3f} greedy {gap_gen:.3f}  "
          f"rel-L2 vs HF float64 {rel_l2_rows(plain64, logits):.1e}  vs float32 {rel_l2_rows(plain32.double(), logits):.1e}")


# ---------------------------------------------------------------- stories260K

def make_stories():
    if not os.path.isdir(STORIES_MODEL):
        sys.exit(f"{STORIES_MODEL}: not found")
    tok = Tokenizer.from_file(os.path.join(STORIES_MODEL, "tokenizer.json"))
    ids = tok.encode(STORIES_PROMPT).ids
    auto = transformers.AutoTokenizer.from_pretrained(STORIES_MODEL)
    if auto(STORIES_PROMPT).input_ids != ids:
        sys.exit(f"tokenizers {ids} and AutoTokenizer {auto(STORIES_PROMPT).input_ids} disagree")
    if ids[0] != 1:
        sys.exit(f"prompt ids {ids} do not start with BOS 1")

    plain32 = all_logits(load(STORIES_MODEL, torch.float32), ids)
    ref = lift_to_float64(load(STORIES_MODEL, torch.float32))
    logits = all_logits(ref, ids)
    out, gap = greedy(ref, ids, STORIES_GREEDY, [ref.config.eos_token_id])

    full = tok.decode(ids + out, skip_special_tokens=True)
    head = tok.decode(ids, skip_special_tokens=True)
    if not full.startswith(head):
        sys.exit(f"decoded text {full!r} does not start with the prompt {head!r}")
    text = full[len(head):]
    if not text.startswith(STORIES_EXPECT):
        sys.exit(f"stories260K continues with {text!r}, expected {STORIES_EXPECT!r}")

    os.makedirs(STORIES_OUT, exist_ok=True)  # keeps its README.md
    write_ids(os.path.join(STORIES_OUT, "prompt.txt"), ids)
    write_f32(os.path.join(STORIES_OUT, "logits.f32"), logits)
    write_ids(os.path.join(STORIES_OUT, "greedy.txt"), out)
    with open(os.path.join(STORIES_OUT, "greedy_text.txt"), "w") as f:
        f.write(text)
    make_readable(STORIES_OUT)
    print(f"stories260K  prompt {ids}  min gap prompt {min_gap(logits):.3f} greedy {gap:.3f}  "
          f"rel-L2 vs float32 {rel_l2_rows(plain32.double(), logits):.1e}")
    print(f"  {text!r}")


def make_readable(folder):
    # The safetensors writer creates its files 0600; fixtures should be readable by every user.
    for fn in os.listdir(folder):
        if os.path.isfile(os.path.join(folder, fn)):
            os.chmod(os.path.join(folder, fn), 0o644)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", metavar="CASE",
                    help="cases to write (names from CASES, or stories260K); default all")
    args = ap.parse_args()
    known = [c["name"] for c in CASES] + ["stories260K"]
    for n in args.only or []:
        if n not in known:
            sys.exit(f"unknown case {n}; known: {' '.join(known)}")
    if int(transformers.__version__.split(".")[0]) < 5:
        for c in CASES:
            if c.get("spelling") == "v5" and (not args.only or c["name"] in args.only):
                sys.exit(f"{c['name']}: transformers {transformers.__version__} cannot read the v5 "
                         "config spelling; use transformers >= 5")
    torch.set_num_threads(1)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for case in CASES:
        if not args.only or case["name"] in args.only:
            make_case(case)
    if not args.only or "stories260K" in args.only:
        make_stories()


if __name__ == "__main__":
    main()

"""bitsandbytes 4-bit checkpoints, saved by transformers exactly as a QLoRA user would get them,
with reference logits, into tests/fixtures/bnb/<case>/.

Each case quantizes tests/fixtures/llama/gqa2 with BitsAndBytesConfig and save_pretrained(). The
reference logits come from the same model in float64 with every quantized Linear replaced by the
dequantization of the saved weight, so they test the reading of the packed format (nibble order,
blocks over the flattened matrix, double quantization, code table), not quantization error.

The dequantization follows the documented layout (blocks of `blocksize` over the row-major
flattened matrix, element 2k in the high nibble). It is checked against bitsandbytes'
dequantize_4bit for every matrix whose row length is a multiple of the block size. For the others
(down_proj here: 96 columns, blocks of 64 that cross rows) bitsandbytes 0.50's CPU dequantize_4bit
disagrees with its own quantizer: its result is 2.5x further from the original weights than the
documented reading, so the documented reading is the reference.

Run from the repository root:  python3 tools/py/make_bnb_fixtures.py
Needs: pip install torch transformers accelerate bitsandbytes (the CPU backend is enough).
"""
import os
import shutil
import tempfile

import bitsandbytes.functional as bnbf
import numpy as np
import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

SRC = "tests/fixtures/llama/gqa2"
CASES = {
    "nf4": dict(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=False),
    "nf4_dq": dict(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True),
    "fp4": dict(bnb_4bit_quant_type="fp4", bnb_4bit_use_double_quant=False),
    # the codes stored as bfloat16 elements (bnb_4bit_quant_storage, as QLoRA with FSDP sets it)
    "nf4_bf16": dict(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_quant_storage=torch.bfloat16),
    # down_proj rows of 576 (9 blocks of 64): wide enough for the CPU backend to regroup them (NF4X8)
    "nf4_wide": dict(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, intermediate_size=576),
}


def wide_source(intermediate_size, path):
    """gqa2's shape with a wider MLP, random weights (seed 7), saved in float32 at path."""
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig.from_pretrained(SRC)
    cfg.intermediate_size = intermediate_size
    torch.manual_seed(7)
    m = LlamaForCausalLM(cfg).to(torch.float32)
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 2:
                p.normal_(0.0, 0.08)
    m.save_pretrained(path)
    return path


def dequantize(packed, qs):
    """formats.md section 3: code[q] * absmax[block] over the flattened matrix, in float32."""
    packed = packed.reshape(-1)
    q = np.empty(packed.size * 2, np.uint8)
    q[0::2] = packed >> 4
    q[1::2] = packed & 15
    n = int(np.prod(qs.shape))
    absmax = qs.absmax.float().numpy()
    if qs.nested:
        nested = qs.state2
        absmax = (nested.code.float().numpy()[qs.absmax.numpy().astype(np.int64)] *
                  np.repeat(nested.absmax.float().numpy(), nested.blocksize)[:absmax.size]).astype(np.float32)
        absmax = (absmax + np.float32(qs.offset.item())).astype(np.float32)
    scale = np.repeat(absmax, qs.blocksize)[:n]
    w = (qs.code.float().numpy()[q[:n]] * scale).astype(np.float32)
    return w.reshape(tuple(qs.shape)).astype(np.float64)


def main():
    tokens = [int(t) for t in open(f"{SRC}/tokens.txt").read().split()]
    for name, kw in CASES.items():
        out = f"tests/fixtures/bnb/{name}"
        shutil.rmtree(out, ignore_errors=True)
        kw = dict(kw)
        src = SRC
        if "intermediate_size" in kw:
            src = wide_source(kw.pop("intermediate_size"), tempfile.mkdtemp())
        cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.float32, **kw)
        q = AutoModelForCausalLM.from_pretrained(src, quantization_config=cfg, device_map="cpu")
        q.save_pretrained(out)
        # float64 reference: the float model with each 4-bit Linear's dequantized weight
        ref = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float64)
        qmods = dict(q.named_modules())
        for mname, mod in ref.named_modules():
            if isinstance(mod, torch.nn.Linear) and mname in qmods and hasattr(qmods[mname].weight, "quant_state"):
                w = qmods[mname].weight
                deq = dequantize(w.data.view(torch.uint8).numpy(), w.quant_state)
                if deq.shape[1] % w.quant_state.blocksize == 0:
                    theirs = bnbf.dequantize_4bit(w.data, w.quant_state).to(torch.float64).numpy()
                    assert np.array_equal(theirs, deq), mname
                mod.weight.data.copy_(torch.from_numpy(deq))
        ref.config._attn_implementation = "eager"
        with torch.no_grad():
            logits = ref(torch.tensor([tokens])).logits[0].to(torch.float32).numpy()
        np.ascontiguousarray(logits, dtype="<f4").tofile(f"{out}/logits.f32")
        with open(f"{out}/tokens.txt", "w") as f:
            f.write(" ".join(map(str, tokens)) + "\n")
        for fn in os.listdir(out):
            os.chmod(f"{out}/{fn}", 0o644)
        print(name, sorted(os.listdir(out)), logits.shape)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference fixtures for the quantized weight formats (kernels/cpu/quant.c).

Writes, relative to the repository root, tests/fixtures/quant/:
  cases.txt                    one line per case: NAME FORMAT N BLOCK
  <name>.x.f32                 the input values (float32, little-endian)
  q8_0 / q4_0 cases:
    <name>.blocks              llama.cpp blocks (fp16 d, then the quants), N/32 of them
    <name>.deq.f32             the blocks dequantized
  nf4 cases:
    <name>.codes               packed 4-bit codes, element 2k in the high nibble, (N+1)/2 bytes
    <name>.absmax.f32          one absmax per block of BLOCK weights (the last block may be short)
    <name>.deq.f32             the codes dequantized
  nf4 double quantization (case "nf4_dq", format "dq", N = number of absmax values, BLOCK = nested block):
    nf4_dq.absmax.u8, nf4_dq.nested_absmax.f32, nf4_dq.nested_map.f32 (256 values), nf4_dq.offset.f32,
    nf4_dq.absmax.f32          the decoded absmax

Q8_0 and Q4_0 follow llama.cpp's quantize_row_q8_0_ref / quantize_row_q4_0_ref (ggml-quants.c) in numpy,
operation for operation in float32: Q8_0 d = amax/127, id = d ? 1/d : 0, q = roundf(x*id) (halves away
from zero); Q4_0 d = max/-8 with max the first value of largest magnitude, q = min(15, trunc(x*id + 8.5)).
fp16 conversion rounds to nearest even, as F16C does.

NF4 comes from bitsandbytes' quantize_4bit when bitsandbytes is installed (it runs on the CPU); the numpy
version of its rules is then checked against it and must agree bit for bit. Without bitsandbytes the numpy
version writes the fixtures. The rules (bitsandbytes 0.50 on the CPU, backends/default/ops.py): a full block is scaled by x * (1 / max(absmax, 1e-38)) and
stores the unclamped absmax; the short last block is divided by max(absmax, 1e-38) and stores that
clamped value; the index is the number of code midpoints (code[i] + code[i+1]) / 2 strictly below the
scaled value (the midpoints computed in float32; the float literals of the CUDA kernel's dQuantizeNF4 tree
differ by one ulp at midpoints 0, 8, 12 and 14, so bitsandbytes on a GPU may pick the other index for a
value exactly on one of those four); an odd count pads the last low nibble with the code of 0.0 (7).
Double quantization: absmax = nested_map[q] * nested_absmax[b // 256] + offset, rounded to float32
after the product and after the sum (bitsandbytes' dequantize_blockwise, then + offset).

Usage (from the repository root):  python3 tools/py/make_quant_fixtures.py
Needs: numpy; bitsandbytes and torch are used when present.
"""

import os
import sys

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")

F32 = np.float32

NF4_CODE = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=F32)
NF4_MID = ((NF4_CODE[:-1] + NF4_CODE[1:]) / F32(2)).astype(F32)


def roundf(v):
    """C roundf: halves away from zero (exact in float64 for float32 input)."""
    a = np.abs(v.astype(np.float64))
    return (np.sign(v) * np.floor(a + 0.5)).astype(F32)


def quantize_q8_0(x):
    blocks = x.reshape(-1, 32)
    out = bytearray()
    deq = []
    for blk in blocks:
        amax = np.max(np.abs(blk))
        d = F32(amax / F32(127))
        idv = F32(F32(1) / d) if d != 0 else F32(0)
        q = roundf((blk * idv).astype(F32)).astype(np.int8)
        dh = np.array([d], dtype=F32).astype(np.float16)
        out += dh.tobytes() + q.tobytes()
        deq.append(q.astype(F32) * dh.astype(F32)[0])
    return bytes(out), np.concatenate(deq).astype(F32)


def quantize_q4_0(x):
    blocks = x.reshape(-1, 32)
    out = bytearray()
    deq = []
    for blk in blocks:
        i = int(np.argmax(np.abs(blk)))  # the first of the largest magnitude, like the strict < in C
        mx = blk[i] if blk[i] != 0 else F32(0)
        d = F32(F32(mx) / F32(-8))  # an all-zero block gives -0.0
        idv = F32(F32(1) / d) if d != 0 else F32(0)
        v = ((blk * idv).astype(F32) + F32(8.5)).astype(F32)
        q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)
        packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
        dh = np.array([d], dtype=F32).astype(np.float16)
        out += dh.tobytes() + packed.tobytes()
        deq.append((q.astype(np.int32) - 8).astype(F32) * dh.astype(F32)[0])
    return bytes(out), np.concatenate(deq).astype(F32)


def quantize_nf4_numpy(x, block):
    n = x.size
    nb = (n + block - 1) // block
    absmax = np.zeros(nb, dtype=F32)
    scaled = np.zeros(n, dtype=F32)
    for b in range(nb):
        seg = x[b * block:(b + 1) * block]
        am = F32(np.max(np.abs(seg)))
        if seg.size == block:
            absmax[b] = am
            inv = F32(F32(1) / max(am, F32(1e-38)))
            scaled[b * block:b * block + seg.size] = (seg * inv).astype(F32)
        else:
            am = max(am, F32(1e-38))
            absmax[b] = am
            scaled[b * block:b * block + seg.size] = (seg / am).astype(F32)
    q = np.searchsorted(NF4_MID, scaled, side="left").astype(np.uint8)  # count of midpoints < value
    if n % 2:
        q = np.concatenate([q, np.array([7], dtype=np.uint8)])
    codes = ((q[0::2] << 4) | q[1::2]).astype(np.uint8)
    return codes, absmax


def dequantize_nf4(codes, absmax, n, block):
    q = np.empty(codes.size * 2, dtype=np.uint8)
    q[0::2] = codes >> 4
    q[1::2] = codes & 0x0F
    q = q[:n]
    am = absmax[np.arange(n) // block]
    return (NF4_CODE[q] * am).astype(F32)


def bnb_functional():
    try:
        import torch  # noqa: F401
        import bitsandbytes.functional as F
        return F
    except Exception as e:  # no bitsandbytes, or it does not load here
        print(f"bitsandbytes unavailable ({e.__class__.__name__}: {e}); NF4 from the numpy rules", file=sys.stderr)
        return None


def nf4_case(F, x, block):
    codes, absmax = quantize_nf4_numpy(x, block)
    deq = dequantize_nf4(codes, absmax, x.size, block)
    if F is not None:
        import torch
        packed, st = F.quantize_4bit(torch.from_numpy(x.copy()), blocksize=block, quant_type="nf4")
        bcodes = packed.numpy().reshape(-1)
        babsmax = st.absmax.numpy().astype(F32)
        bdeq = F.dequantize_4bit(packed, st).numpy().reshape(-1).astype(F32)
        assert np.array_equal(bcodes, codes), "numpy NF4 codes differ from bitsandbytes"
        assert np.array_equal(babsmax.view(np.uint32), absmax.view(np.uint32)), "numpy absmax differs"
        assert np.array_equal(bdeq.view(np.uint32), deq.view(np.uint32)), "numpy NF4 dequantization differs"
        codes, absmax, deq = bcodes, babsmax, bdeq
    return codes, absmax, deq


def nf4_double_quant(F, rng):
    nblocks, nested = 600, 256
    if F is not None:
        import torch
        w = torch.from_numpy((rng.standard_normal(nblocks * 64) * 0.02).astype(F32))
        _, st = F.quantize_4bit(w, blocksize=64, compress_statistics=True, quant_type="nf4")
        q = st.absmax.numpy().astype(np.uint8)
        nabs = st.state2.absmax.numpy().astype(F32)
        nmap = st.state2.code.numpy().astype(F32)
        offset = F32(st.offset.item())
        nested = st.state2.blocksize
        ref = F.dequantize_blockwise(st.absmax, st.state2)
        ref += st.offset
        ref = ref.numpy().astype(F32)
    else:
        q = rng.integers(0, 256, nblocks).astype(np.uint8)
        nabs = rng.uniform(0.01, 0.05, (nblocks + nested - 1) // nested).astype(F32)
        nmap = np.sort(rng.uniform(-1, 1, 256)).astype(F32)
        offset = F32(0.03)
        ref = None
    mine = ((nmap[q] * nabs[np.arange(nblocks) // nested]).astype(F32) + offset).astype(F32)
    if ref is not None:
        assert np.array_equal(ref.view(np.uint32), mine.view(np.uint32)), "numpy double-quant decode differs"
    return q, nabs, nmap, offset, mine, nested


def blocks_of(rng, nblocks, size):
    """Random blocks with scales from 1e-3 to 1e3, plus the awkward ones."""
    x = []
    for b in range(nblocks):
        scale = 10.0 ** rng.uniform(-3, 3)
        kind = b % 4
        if kind == 0:
            v = rng.standard_normal(size) * scale
        elif kind == 1:
            v = rng.uniform(-1, 1, size) * scale
        elif kind == 2:
            v = rng.standard_normal(size) * scale * 1e-2
            v[rng.integers(0, size)] = scale * (1 if b % 8 == 2 else -1)  # one outlier
        else:
            v = rng.laplace(0, scale, size)
        x.append(v)
    return np.concatenate(x).astype(F32)


def q8_0_input(rng):
    x = blocks_of(rng, 60, 32)
    zeros = np.zeros(32, dtype=F32)
    # d = 1 exactly: the halves test roundf (away from zero) against rint (to even)
    ties = np.array([127, -127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 0.49999997, -0.49999997,
                     100.5, -100.5] + list(np.arange(16) - 7.5), dtype=F32)
    tiny = (rng.standard_normal(32) * 1e-6).astype(F32)  # fp16 scale is subnormal
    single = np.zeros(32, dtype=F32)
    single[17] = -3.25
    return np.concatenate([x[:32 * 10], zeros, ties, x[32 * 10:], tiny, single]).astype(F32)


def q4_0_input(rng):
    x = blocks_of(rng, 60, 32)
    zeros = np.zeros(32, dtype=F32)
    # max = -8 gives d = 1, id = 1: x + 8.5 lands on integers and halves, then truncates
    ties = np.array([-8, 7, 7.5, 6.5, 0.5, -0.5, 1.0, -1.0, 0.49999997, -0.50000006, -7.5, -7.9, 3.4999998, -3.5,
                     2.5, 6.9999995] + list(np.arange(16) * 0.5 - 4), dtype=F32)
    # +3 and -3 tie in magnitude: the first one sets the sign of d
    both = (rng.uniform(-2, 2, 32)).astype(F32)
    both[5], both[20] = 3.0, -3.0
    tiny = (rng.standard_normal(32) * 1e-6).astype(F32)
    single = np.zeros(32, dtype=F32)
    single[3] = 0.75
    return np.concatenate([x[:32 * 10], zeros, ties, both, x[32 * 10:], tiny, single]).astype(F32)


def nf4_input(rng, nblocks, block, tail, zero_tail=False):
    x = blocks_of(rng, nblocks, block)
    zeros = np.zeros(block, dtype=F32)
    # absmax 1 leaves the scaled values as they are: each midpoint exactly, and one float either side
    mids = []
    for m in NF4_MID:
        mids += [m, np.nextafter(m, F32(2)), np.nextafter(m, F32(-2))]
    edge = np.array(mids + list(NF4_CODE) + [1.0], dtype=F32)
    edge = np.resize(edge, block)
    edge[0] = 1.0
    t = np.zeros(tail, dtype=F32) if zero_tail else (rng.standard_normal(tail) * 0.3).astype(F32)
    return np.concatenate([x[:3 * block], zeros, edge, x[3 * block:], t]).astype(F32)


def write(name, arr):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(arr if isinstance(arr, bytes) else arr.tobytes())


def main():
    rng = np.random.default_rng(20240607)
    os.makedirs(OUT, exist_ok=True)
    F = bnb_functional()
    lines = []

    for name, fn, xin in (("q8_0", quantize_q8_0, q8_0_input(rng)), ("q4_0", quantize_q4_0, q4_0_input(rng))):
        blocks, deq = fn(xin)
        write(f"{name}.x.f32", xin)
        write(f"{name}.blocks", blocks)
        write(f"{name}.deq.f32", deq)
        lines.append(f"{name} {name} {xin.size} 32")

    # blocksize 64 with a short odd-length last block; 128 with a whole number of blocks;
    # 64 with an all-zero short last block (bitsandbytes stores 1e-38 for it)
    for name, nblocks, block, tail, zero_tail in (("nf4_b64", 36, 64, 21, False), ("nf4_b128", 14, 128, 0, False),
                                                  ("nf4_zero_tail", 8, 64, 33, True)):
        xin = nf4_input(rng, nblocks, block, tail, zero_tail)
        codes, absmax, deq = nf4_case(F, xin, block)
        write(f"{name}.x.f32", xin)
        write(f"{name}.codes", codes.astype(np.uint8))
        write(f"{name}.absmax.f32", absmax.astype(F32))
        write(f"{name}.deq.f32", deq.astype(F32))
        lines.append(f"{name} nf4 {xin.size} {block}")

    q, nabs, nmap, offset, decoded, nested = nf4_double_quant(F, rng)
    write("nf4_dq.absmax.u8", q)
    write("nf4_dq.nested_absmax.f32", nabs)
    write("nf4_dq.nested_map.f32", nmap)
    write("nf4_dq.offset.f32", np.array([offset], dtype=F32))
    write("nf4_dq.absmax.f32", decoded)
    lines.append(f"nf4_dq dq {q.size} {nested}")

    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} cases to {os.path.relpath(OUT, ROOT)}"
          f" (NF4 from {'bitsandbytes' if F is not None else 'numpy rules'})")


if __name__ == "__main__":
    main()

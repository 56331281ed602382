#!/usr/bin/python3
"""Independent check of ttq's AutoAWQ GEMM export.

Reads testdata/export/awq-tiny/model.safetensors (written by ttq's Go exporter,
see TestAWQGoldenAutoAWQUnpack -update) and unpacks every quantized linear the
way AutoAWQ does (casper-hansen/AutoAWQ awq/utils/packing_utils.py: unpack_awq
shifts each int32 by 0, 4, ..., 28 and keeps the nibbles as int8,
reverse_awq_order undoes AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7] with
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7], dequantize_gemm masks with 0xF and
computes (w - z) * s with the group's zeros and scales repeated over its 128
inputs). The result is transposed to Hugging Face's [out, in] and summarised
per layer (sha256 of the codes, zeros and float32 weights, and the first values)
in testdata/export/awq-tiny.golden.json, which the Go test compares with ttq's
own QLinear codes and Dequantize().

Run with Debian's interpreter (python3-torch 1.13; nothing from PyPI):
    /usr/bin/python3 scripts/golden/export/awq_unpack.py
"""
import hashlib
import json
import os
import struct
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SRC = os.path.join(ROOT, "testdata", "export", "awq-tiny")
OUT = os.path.join(ROOT, "testdata", "export", "awq-tiny.golden.json")

BITS = 4
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]
DTYPES = {"I32": torch.int32, "F16": torch.float16, "F32": torch.float32}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        buf = bytearray(raw[8 + n + begin:8 + n + end])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if end > begin else torch.empty(0)
        out[name] = t.reshape(info["shape"])
    return out


def unpack(packed):
    """AutoAWQ unpack_awq: nibble k of each int32 becomes column 8*j + k."""
    shifts = torch.arange(0, 32, BITS, dtype=torch.int32)
    vals = (packed[:, :, None] >> shifts[None, None, :]).to(torch.int8)
    return vals.reshape(vals.shape[0], -1)


def reverse_order(t):
    """AutoAWQ reverse_awq_order: undo the interleaving within each 8 columns."""
    idx = torch.arange(t.shape[-1], dtype=torch.int64).reshape(-1, 32 // BITS)
    idx = idx[:, AWQ_REVERSE_ORDER].reshape(-1)
    return t[:, idx]


def main():
    cfg = json.load(open(os.path.join(SRC, "config.json")))
    qc = cfg["quantization_config"]
    assert qc["quant_method"] == "awq" and qc["bits"] == BITS and qc["version"] == "gemm", qc
    group = qc["group_size"]
    ts = read_safetensors(os.path.join(SRC, "model.safetensors"))
    layers = {}
    for name in sorted(ts):
        if not name.endswith(".qweight"):
            continue
        base = name[: -len(".qweight")]
        qweight, qzeros, scales = ts[name], ts[base + ".qzeros"], ts[base + ".scales"]
        iw = reverse_order(unpack(qweight)) & 0xF  # [in, out]
        iz = reverse_order(unpack(qzeros)) & 0xF   # [in/group, out]
        w = (iw.to(torch.int32) - iz.repeat_interleave(group, dim=0).to(torch.int32)).to(torch.float32)
        w = w * scales.repeat_interleave(group, dim=0).to(torch.float32)
        codes = iw.t().contiguous().to(torch.uint8)   # [out, in]
        zeros = iz.t().contiguous().to(torch.uint8)   # [out, in/group]
        wt = w.t().contiguous()                       # [out, in] float32
        layers[base] = {
            "shape": list(wt.shape),
            "codes_sha256": hashlib.sha256(codes.numpy().tobytes()).hexdigest(),
            "zeros_sha256": hashlib.sha256(zeros.numpy().tobytes()).hexdigest(),
            "weights_sha256": hashlib.sha256(wt.numpy().astype("<f4").tobytes()).hexdigest(),
            "first": [float(x) for x in wt.reshape(-1)[:8]],
        }
    doc = {
        "reference": "scripts/golden/export/awq_unpack.py: AutoAWQ unpack_awq + reverse_awq_order + dequantize_gemm "
                     "(float32 product), torch " + torch.__version__,
        "source": "testdata/export/awq-tiny/model.safetensors",
        "layers": layers,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", OUT, "with", len(layers), "layers", file=sys.stderr)


if __name__ == "__main__":
    main()

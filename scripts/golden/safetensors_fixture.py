#!/usr/bin/python3
"""Write pkg/model/safetensors/testdata/fixture.safetensors and its expected
contents (fixture.expected.json) with nothing but json + struct, as an
independent writer against which ttq's reader is tested.

The file is valid by the safetensors specification but deliberately unlike
ttq's own writer: the JSON header is NOT padded to a multiple of 8, header keys
are not in offset order, and data is not ordered by dtype alignment. F16 values
come from struct's IEEE half support ('e'), BF16 from truncating exactly
representable float32 values, so neither depends on ttq's conversion code.

Run from the repository root:  /usr/bin/python3 scripts/golden/safetensors_fixture.py
"""
import json
import math
import struct

OUT = "pkg/model/safetensors/testdata/fixture.safetensors"
EXPECTED = "pkg/model/safetensors/testdata/fixture.expected.json"


def f32(vals):
    return b"".join(struct.pack("<f", v) for v in vals)


def f16(vals):
    return b"".join(struct.pack("<e", v) for v in vals)


def bf16(vals):
    out = b""
    for v in vals:
        b = struct.pack("<f", v)
        assert b[0:2] == b"\x00\x00", f"{v} is not exactly representable in bfloat16"
        out += b[2:4]
    return out


def jsonable(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0.0 and math.copysign(1.0, v) < 0:
            return "-0"
    return v


# (name, dtype, shape, raw bytes, values as the reader should decode them)
tensors = [
    ("ints", "I32", [3], struct.pack("<3i", -1, 2147483647, 7), [-1, 2147483647, 7]),
    ("weight.f32", "F32", [2, 3], None, [1.0, -2.5, 0.0, 3.1415927410125732, 1.1754943508222875e-38, -0.0]),
    ("half", "F16", [7], None, [1.0, -2.0, 65504.0, 2.0 ** -24, float("inf"), -0.0, 0.333251953125]),
    ("brain", "BF16", [2, 2], None, [1.0, -3.0, 2.0 ** -130, 3.3895313892515355e38]),
    ("bytes", "U8", [2, 2], bytes([0, 1, 254, 255]), [0, 1, 254, 255]),
    ("empty", "F32", [0, 4], b"", []),
    ("scalar", "F64", [], struct.pack("<d", 2.5), [2.5]),
    ("model.layers.0.self_attn.q_proj.weight", "F32", [1, 2], None, [0.5, -0.25]),
]

data = b""
header = {}
entries = []
for name, dtype, shape, raw, vals in tensors:
    if raw is None:
        raw = {"F32": f32, "F16": f16, "BF16": bf16}[dtype](vals)
    # struct must have stored the values exactly.
    if dtype == "F16":
        back = [struct.unpack("<e", raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
        assert [repr(x) for x in back] == [repr(x) for x in vals], back
    begin = len(data)
    data += raw
    entries.append((name, {"dtype": dtype, "shape": shape, "data_offsets": [begin, len(data)]}))
    header_vals = {"dtype": dtype, "shape": shape, "data_offsets": [begin, len(data)],
                   "hex": raw.hex(), "values": [jsonable(v) for v in vals]}
    header[name] = header_vals

# Keys in reverse offset order, metadata last: readers must sort by offset.
hdr_obj = {}
for name, e in reversed(entries):
    hdr_obj[name] = e
hdr_obj["__metadata__"] = {"format": "pt", "producer": "scripts/golden/safetensors_fixture.py"}
hdr = json.dumps(hdr_obj, separators=(",", ":")).encode()
if len(hdr) % 8 == 0:  # keep the header unaligned on purpose
    hdr += b" "
assert len(hdr) % 8 != 0

blob = struct.pack("<Q", len(hdr)) + hdr + data
with open(OUT, "wb") as f:
    f.write(blob)

with open(EXPECTED, "w") as f:
    json.dump({
        "header_length": len(hdr),
        "file_size": len(blob),
        "metadata": hdr_obj["__metadata__"],
        "tensors": header,
    }, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {OUT} ({len(blob)} bytes, header {len(hdr)} bytes) and {EXPECTED}")

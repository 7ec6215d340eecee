"""Writes the tensor-file fixtures Kiln's I/O tests read. Run once with numpy installed:
    python3 make_fixtures.py
The .npy files come from numpy itself; the .safetensors file is written by hand from the
format description (8-byte little-endian header length, JSON header, raw buffer), so Kiln's
reader is checked against an encoder it did not write. The tests recompute every value
from the formulas below."""
import json, struct
import numpy as np

np.save("arange_f32.npy", (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5))
np.save("arange_f64.npy", np.arange(6, dtype=np.float64) / 3.0)
np.save("ids_i4.npy", np.array([[3, -1, 7]], dtype=np.int32))
np.save("ids_i8.npy", np.array([5, 2**31 - 1, -2**31], dtype=np.int64))
np.save("mask_b1.npy", np.array([True, False, True, True]))
np.save("scalar_f32.npy", np.float32(2.5))
np.lib.format.write_array(open("v2_f32.npy", "wb"), np.full((3,), 1.25, dtype=np.float32), version=(2, 0))

tensors = [
    ("blocks.0.weight", "F32", [2, 3], np.arange(6, dtype="<f4") - 2.5),
    ("blocks.0.bias", "F64", [3], np.array([0.1, 0.2, 0.3], dtype="<f8")),
    ("ids", "I32", [2], np.array([4, -4], dtype="<i4")),
    ("flags", "BOOL", [3], np.array([1, 0, 1], dtype="u1")),
]
header, buf = {"__metadata__": {"format": "pt"}}, b""
for name, dt, shape, arr in tensors:
    data = arr.tobytes()
    header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
    buf += data
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open("mixed.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + buf)

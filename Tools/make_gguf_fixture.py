#!/usr/bin/env python3
"""A small GGUF file with one tensor per supported type, quantized by gguf-py, and the values
gguf-py's reference dequantization gives (Tests/Fixtures/gguf/).

    pip install gguf && python3 Tools/make_gguf_fixture.py
"""
from pathlib import Path
import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from safetensors.numpy import save_file

FIX = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "gguf"
FIX.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(3)
w = gguf.GGUFWriter(str(FIX / "types.gguf"), "llama")
w.add_uint32("test.count", 7)
w.add_string("test.name", "scalpel fixture")
w.add_array("test.list", [1, 2, 3])
expected = {}
for t in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]:
    x = (rng.standard_normal((3, 512)) * 2).astype(np.float32)
    if t == T.F32:
        q = x
    elif t == T.F16:
        q = x.astype(np.float16)
    elif t in (T.Q4_K, T.Q5_K, T.Q6_K):
        # gguf-py cannot quantize K types: random blocks with sane f16 scales are valid data
        block, size = gguf.GGML_QUANT_SIZES[t]
        q = rng.integers(0, 256, (3, 512 // block * size), dtype=np.uint8)
        scale_at = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [size - 2]}[t]
        for b in range(512 // block):
            for off in scale_at:
                q[:, b * size + off:b * size + off + 2] = np.array([rng.uniform(0.001, 0.05)], dtype=np.float16).view(np.uint8)
    else:
        q = gguf.quants.quantize(x, t)
    w.add_tensor(t.name.lower(), q, raw_dtype=t)
    expected[t.name.lower()] = gguf.quants.dequantize(q, t).astype(np.float32).reshape(3, 512)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
save_file(expected, str(FIX / "types.expected.safetensors"))
print("wrote", FIX)

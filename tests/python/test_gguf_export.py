"""softslm export --format gguf read back by the gguf package (llama.cpp's own Python
reader): architecture metadata, tensor names and shapes, and the f32 weights equal to the
model's safetensors (Conv1D weights transposed, as llama.cpp's converter writes them)."""
import json
import os
import struct

import numpy as np
import pytest

from conftest import softslm, COT, SAMPLE

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed (scripts/setup --with-python)")
GGUFReader = gguf.GGUFReader


def safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        assert info["dtype"] == "F32"
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
    return out


def field(reader, key):
    f = reader.fields[key]
    v = f.parts[f.data[0]]
    return bytes(v).decode() if f.types[0].name == "STRING" else v[0]


@pytest.mark.parametrize("model", [COT, SAMPLE])
@pytest.mark.parametrize("dtype", ["f32", "f16", "q8_0"])
def test_gguf_reads_back(tmp_path, model, dtype):
    out = str(tmp_path / "m.gguf")
    softslm("export", "--format", "gguf", "--model", model, "-o", out, "--dtype", dtype)
    r = GGUFReader(out)
    cfg = json.load(open(os.path.join(model, "config.json")))
    assert field(r, "general.architecture") == "gpt2"
    assert field(r, "gpt2.block_count") == cfg["n_layer"]
    assert field(r, "gpt2.embedding_length") == cfg["n_embd"]
    assert field(r, "gpt2.context_length") == cfg["n_ctx"]
    assert field(r, "gpt2.attention.head_count") == cfg["n_head"]
    assert field(r, "tokenizer.ggml.model") == "gpt2"
    assert len(r.fields["tokenizer.ggml.tokens"].data) == cfg["vocab_size"]
    names = {t.name: t for t in r.tensors}
    L = cfg["n_layer"]
    for i in range(L):
        for n in ["attn_norm.weight", "attn_qkv.weight", "attn_qkv.bias", "attn_output.weight",
                  "ffn_up.weight", "ffn_down.weight", "ffn_norm.bias"]:
            assert f"blk.{i}.{n}" in names
    st = safetensors(os.path.join(model, "model.safetensors"))
    prefix = "transformer." if "transformer.wte.weight" in st else ""
    C = cfg["n_embd"]
    qkv = names["blk.0.attn_qkv.weight"]
    assert list(qkv.shape) == [C, 3 * C]  # GGUF dims, fastest first
    if dtype == "f32":
        want = st[prefix + "h.0.attn.c_attn.weight"].T  # HF Conv1D [in, out] -> [out, in]
        assert np.array_equal(qkv.data.reshape(3 * C, C), want)
        assert np.array_equal(names["token_embd.weight"].data.reshape(-1, C), st[prefix + "wte.weight"])
        assert np.array_equal(names["blk.1.ffn_norm.bias"].data, st[prefix + "h.1.ln_2.bias"])

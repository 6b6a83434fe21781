#!/usr/bin/env python3
"""Write a random-weight LLaMA checkpoint with a 1B-class shape, for loader/speed benchmarks.

Shape (TinyLlama-1.1B-like): hidden 2048, 22 layers, 32 heads (head_dim 64), 4 KV heads,
intermediate 5632, vocab 32000, untied lm_head: 1,100,048,384 parameters, ~2.2 GB BF16.
Output (default bench-models/synthetic-1b, git-ignored):
  config.json                          LlamaConfig keys, dtype bfloat16
  model-0000K-of-0000N.safetensors     BF16 shards, each <= --max-shard-bytes (default 1e9)
  model.safetensors.index.json         {"metadata": {"total_size"}, "weight_map": {name: shard}}
Tensor names and [out, in] shapes are exactly those of HF LlamaForCausalLM.

numpy only (no torch): each tensor is drawn as float32 N(0, 0.02) in chunks from
np.random.default_rng([seed, tensor_index]) (so every tensor is reproducible on its own),
converted to BF16 by round-to-nearest-even on the top 16 bits, and streamed to disk.
RMSNorm weights are ones. The safetensors files are written by hand (8-byte little-endian
header length, JSON header padded with spaces to a multiple of 8, then raw data).

Usage: python Tools/make_synthetic_checkpoint.py [OUT_DIR] [--seed 0] [--max-shard-bytes 1000000000]
"""
import argparse
import json
import struct
import time
from pathlib import Path

import numpy as np

CFG = dict(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
           intermediate_size=5632, vocab_size=32000)
CHUNK = 1 << 22  # float32 values generated per chunk (16 MiB)


def tensor_specs(c):
    """(name, shape, init) in HF LlamaForCausalLM order; init is 'normal' or 'ones'."""
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    hd = d // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    specs = [("model.embed_tokens.weight", (v, d), "normal")]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        specs += [
            (p + "self_attn.q_proj.weight", (d, d), "normal"),
            (p + "self_attn.k_proj.weight", (kv, d), "normal"),
            (p + "self_attn.v_proj.weight", (kv, d), "normal"),
            (p + "self_attn.o_proj.weight", (d, d), "normal"),
            (p + "mlp.gate_proj.weight", (f, d), "normal"),
            (p + "mlp.up_proj.weight", (f, d), "normal"),
            (p + "mlp.down_proj.weight", (d, f), "normal"),
            (p + "input_layernorm.weight", (d,), "ones"),
            (p + "post_attention_layernorm.weight", (d,), "ones"),
        ]
    specs += [("model.norm.weight", (d,), "ones"), ("lm_head.weight", (v, d), "normal")]
    return specs


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16). Inputs are finite."""
    u = x.view(np.uint32)
    u = u + (np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
    return (u >> np.uint32(16)).astype(np.uint16)


def write_tensor_data(f, shape, init, rng):
    n = int(np.prod(shape))
    if init == "ones":
        f.write(np.full(n, 0x3F80, dtype="<u2").tobytes())  # bf16 1.0
        return
    left = n
    while left:
        k = min(CHUNK, left)
        x = rng.standard_normal(k, dtype=np.float32)
        x *= np.float32(0.02)
        f.write(f32_to_bf16_bits(x).astype("<u2", copy=False).tobytes())
        left -= k


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=str(root / "bench-models" / "synthetic-1b"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shard-bytes", type=int, default=1_000_000_000)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    specs = [(i, n, s, init) for i, (n, s, init) in enumerate(tensor_specs(CFG))]
    nbytes = lambda s: int(np.prod(s)) * 2  # noqa: E731
    # Greedy packing in order; a shard's data stays under the cap.
    shards, cur, cur_bytes = [], [], 0
    for t in specs:
        b = nbytes(t[2])
        assert b <= args.max_shard_bytes, t[1]
        if cur and cur_bytes + b > args.max_shard_bytes:
            shards.append(cur)
            cur, cur_bytes = [], 0
        cur.append(t)
        cur_bytes += b
    shards.append(cur)
    n_sh = len(shards)

    weight_map, total = {}, 0
    for k, shard in enumerate(shards, 1):
        fname = f"model-{k:05d}-of-{n_sh:05d}.safetensors"
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for _, name, shape, _ in shard:
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nbytes(shape)]}
            off += nbytes(shape)
            weight_map[name] = fname
        hb = json.dumps(header, separators=(",", ":")).encode()
        hb += b" " * (-len(hb) % 8)
        with open(out / fname, "wb") as f:
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            for idx, name, shape, init in shard:
                write_tensor_data(f, shape, init, np.random.default_rng([args.seed, idx]))
        total += off
        print(f"{fname}: {len(shard)} tensors, {off / 1e9:.3f} GB, {time.time() - t0:.1f}s", flush=True)

    (out / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")
    d = CFG["hidden_size"]
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": d, "intermediate_size": CFG["intermediate_size"],
        "num_hidden_layers": CFG["num_hidden_layers"], "num_attention_heads": CFG["num_attention_heads"],
        "num_key_value_heads": CFG["num_key_value_heads"], "head_dim": d // CFG["num_attention_heads"],
        "vocab_size": CFG["vocab_size"], "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "initializer_range": 0.02,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16", "dtype": "bfloat16",
        "use_cache": True,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    n_params = sum(int(np.prod(s)) for _, _, s, _ in specs)
    print(json.dumps({"params": n_params, "total_bytes": total, "shards": n_sh,
                      "write_s": round(time.time() - t0, 1)}), flush=True)
    verify(out, specs, args.seed)
    print(f"verified; total {time.time() - t0:.1f}s", flush=True)


def verify(out: Path, specs, seed):
    from safetensors import safe_open

    idx = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(idx["weight_map"]) == {n for _, n, _, _ in specs}
    for i, name, shape, _ in specs:
        if name not in ("model.layers.3.self_attn.k_proj.weight", "lm_head.weight", "model.norm.weight"):
            continue
        path = out / idx["weight_map"][name]
        with safe_open(str(path), framework="numpy") as f:
            sl = f.get_slice(name)
            assert sl.get_dtype() == "BF16" and list(sl.get_shape()) == list(shape), (sl.get_dtype(), sl.get_shape())
        # Read the first raw BF16 values back and compare with a fresh draw.
        with open(path, "rb") as fh:
            hlen = struct.unpack("<Q", fh.read(8))[0]
            hdr = json.loads(fh.read(hlen))
            a, _ = hdr[name]["data_offsets"]
            fh.seek(8 + hlen + a)
            got = np.frombuffer(fh.read(2 * 1024), dtype="<u2")
        if name == "model.norm.weight":
            assert (got == 0x3F80).all()
        else:
            exp = f32_to_bf16_bits(np.random.default_rng([seed, i]).standard_normal(1024, dtype=np.float32)
                                   * np.float32(0.02))
            assert (got == exp).all()
            vals = (got.astype(np.uint32) << 16).view(np.float32)
            assert 0.015 < vals.std() < 0.025, vals.std()
        print(f"ok {name} {list(shape)} in {path.name}", flush=True)


if __name__ == "__main__":
    main()

"""Tiny random-weight checkpoints that exercise the loader's and forward pass's options,
with golden logits from transformers.

Each variant covers configuration the bundled fixture model does not:
  tiny-llama3-f16-sharded  llama, GQA 4:1, attention_bias + mlp_bias, llama3 rope scaling,
                           tied embeddings, F16 tensors, two safetensors shards + index
  tiny-qwen2-f32           qwen2 (q/k/v bias, no o bias), head_dim != hidden/heads, F32,
                           single file, rope_theta 1e6 in the v4 top-level form

Writes Tests/Fixtures/models/<name>/ and Tests/Golden/reference-<name>.json with, for one
token sequence, the logits of every position (float32 reference: weights as stored,
cast to float32) and a 24-token greedy continuation.

Run: OMP_WAIT_POLICY=PASSIVE python3 Tools/make_reference_checkpoints.py
"""
import json
import os
import pathlib

import torch
import transformers
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures" / "models"
GOLDEN = ROOT / "Tests" / "Golden"


def save_sharded(state, out, dtype):
    names = sorted(state)
    half = len(names) // 2
    shards = [names[:half], names[half:]]
    weight_map = {}
    for i, group in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: state[n].to(dtype).contiguous() for n in group}, str(out / fname), metadata={"format": "pt"})
        weight_map.update({n: fname for n in group})
    total = sum(t.numel() * t.element_size() for t in state.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def golden_of(ref, ids, name, command, **extra):
    """Logits of every prompt token and a 24-token greedy continuation of `ref` on `ids`,
    as the golden JSON object the Swift tests read."""
    with torch.no_grad():
        logits = ref(ids).logits[0]
        gen = ref.generate(ids, do_sample=False, max_new_tokens=24, min_new_tokens=24,
                           eos_token_id=None, pad_token_id=0)
    return {
        "model": name, **extra,
        "command": command,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "prompt": ids[0].tolist(),
        "logits": [[round(float(v), 6) for v in row] for row in logits],
        "greedy": gen[0, ids.shape[1]:].tolist(),
    }


def build(name, model_cls, config, dtype, sharded, config_overrides=None):
    torch.manual_seed(1234)
    model = model_cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # larger than init so logits are not all near zero
            p.normal_(0, 0.08)
        for n, p in model.named_parameters():
            if "norm" in n:
                p.uniform_(0.7, 1.3)
    out = FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items()}
    if config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    if sharded:
        save_sharded(state, out, dtype)
    else:
        save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, str(out / "model.safetensors"),
                  metadata={"format": "pt"})
    cfg = json.loads(config.to_json_string())
    cfg.update(config_overrides or {})
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))

    # Reference: reload exactly what was written, in float32.
    ref = model_cls.from_pretrained(str(out), dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, config.vocab_size, (1, 20), generator=g)
    golden = golden_of(ref, ids, name, "python3 Tools/make_reference_checkpoints.py")
    (GOLDEN / f"reference-{name}.json").write_text(json.dumps(golden))
    print(name, "params", sum(p.numel() for p in model.parameters()))


def main():
    torch.set_num_threads(1)
    llama = transformers.LlamaConfig(
        vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
        rms_norm_eps=1e-5, attention_bias=True, mlp_bias=True, tie_word_embeddings=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 32},
        bos_token_id=1, eos_token_id=[2, 3])
    build("tiny-llama3-f16-sharded", transformers.LlamaForCausalLM, llama, torch.float16, sharded=True)

    qwen = transformers.Qwen2Config(
        vocab_size=80, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=128,
        rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    # Published Qwen2 configs use the older top-level rope_theta and no rope_parameters.
    build("tiny-qwen2-f32", transformers.Qwen2ForCausalLM, qwen, torch.float32, sharded=False,
          config_overrides={"rope_theta": 1000000.0, "rope_parameters": None, "rope_scaling": None,
                            "use_sliding_window": False})



def build_random_head(name, target_name, hidden, heads, kv_heads, inter, vocab, bias=True, seed=99):
    """A random-weight EAGLE head in the official layout (config.json + model.safetensors):
    lossless decoding must hold whatever the head predicts."""
    torch.manual_seed(seed)
    hd = hidden // heads
    t = {
        "fc.weight": torch.randn(hidden, 2 * hidden) * 0.1,
        "layers.0.self_attn.q_proj.weight": torch.randn(heads * hd, hidden) * 0.1,
        "layers.0.self_attn.k_proj.weight": torch.randn(kv_heads * hd, hidden) * 0.1,
        "layers.0.self_attn.v_proj.weight": torch.randn(kv_heads * hd, hidden) * 0.1,
        "layers.0.self_attn.o_proj.weight": torch.randn(hidden, heads * hd) * 0.1,
        "layers.0.mlp.gate_proj.weight": torch.randn(inter, hidden) * 0.1,
        "layers.0.mlp.up_proj.weight": torch.randn(inter, hidden) * 0.1,
        "layers.0.mlp.down_proj.weight": torch.randn(hidden, inter) * 0.1,
        "layers.0.post_attention_layernorm.weight": torch.ones(hidden),
    }
    if bias:
        t["fc.bias"] = torch.randn(hidden) * 0.1
    out = FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.float16).contiguous() for k, v in t.items()}, str(out / "model.safetensors"))
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
           "hidden_size": hidden, "intermediate_size": inter, "num_attention_heads": heads,
           "num_key_value_heads": kv_heads, "num_hidden_layers": 1, "max_position_embeddings": 256,
           "rms_norm_eps": 1e-5, "vocab_size": vocab, "bias": bias, "torch_dtype": "float16",
           "target": target_name}
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    # The same head as the official .bin form (zip + pickle), in a directory of its own.
    bin_dir = FIXTURES / (name + "-bin")
    bin_dir.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.to(torch.float16).contiguous() for k, v in t.items()}, str(bin_dir / "pytorch_model.bin"))
    (bin_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
    build_random_head("tiny-llama3-head", "tiny-llama3-f16-sharded", hidden=64, heads=4, kv_heads=2, inter=96, vocab=96)

"""A memory-bound twin of the fixture model, for benchmarks only (never committed).

The bundled fixture (26.5 MB of FP32 weights) fits in this CPU's 32 MiB L3 cache, so its
decoding is compute-bound — unlike any real 7B model, whose decoding streams every weight
from DRAM for each token. That regime is where speculative decoding pays on a CPU:
verifying a handful of tokens costs about one token's worth of weight traffic.

This tool widens every MLP of Models/tiny-pystd from 768 to --intermediate (default
16384) hidden units: the added gate/up rows are random and the added down_proj columns are
zero, so each layer computes exactly the same function (logits unchanged — checked below
with transformers) while the weights streamed per token grow to ~310 MB FP32. The EAGLE
head trained for the fixture serves it unchanged (same features, embedding and lm_head).

Run: OMP_WAIT_POLICY=PASSIVE python3 Tools/make_wide_checkpoint.py [--out bench-models/tiny-pystd-wide]
"""
import argparse
import json
import pathlib
import shutil

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=str(ROOT / "Models/tiny-pystd"))
    ap.add_argument("--out", default=str(ROOT / "bench-models/tiny-pystd-wide"))
    ap.add_argument("--intermediate", type=int, default=16384)
    args = ap.parse_args()
    src, out = pathlib.Path(args.source), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / "config.json").read_text())
    old = config["intermediate_size"]
    extra = args.intermediate - old
    g = torch.Generator().manual_seed(0)
    state = load_file(str(src / "model.safetensors"))
    for name in list(state):
        t = state[name]
        if name.endswith(("mlp.gate_proj.weight", "mlp.up_proj.weight")):
            pad = (torch.randn(extra, t.shape[1], generator=g) * 0.02).to(t.dtype)
            state[name] = torch.cat([t, pad], dim=0)
        elif name.endswith("mlp.down_proj.weight"):
            state[name] = torch.cat([t, torch.zeros(t.shape[0], extra, dtype=t.dtype)], dim=1)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    config["intermediate_size"] = args.intermediate
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for f in ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]:
        if (src / f).exists():
            shutil.copy(src / f, out / f)

    # Same function: compare logits with the source model.
    ids = torch.tensor([[0, 475, 282, 198, 1159, 2093, 25, 198, 262, 1072]]) % config["vocab_size"]
    with torch.no_grad():
        a = LlamaForCausalLM.from_pretrained(str(src), dtype=torch.float32)(ids).logits
        b = LlamaForCausalLM.from_pretrained(str(out), dtype=torch.float32)(ids).logits
    diff = (a - b).abs().max().item()
    params = sum(v.numel() for v in state.values())
    print(f"wrote {out}: intermediate {old} -> {args.intermediate}, {params / 1e6:.1f}M parameters "
          f"({params * 4 / 1e6:.0f} MB FP32), max |Δlogit| vs source {diff:.2e}")
    assert diff < 1e-4


if __name__ == "__main__":
    main()

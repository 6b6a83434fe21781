#!/usr/bin/env python3
"""Golden vectors for the BF16 engine: transformers with the checkpoint's weights rounded to
bf16 and computed in FP32, which is what eagled's default `dtype=bf16` computes (BF16 weights
widened exactly, FP32 activations and sums).

Every parameter is rounded in place (`p.copy_(p.to(torch.bfloat16).float())`). The shorter
`model.to(torch.bfloat16).float()` also rounds the rotary `inv_freq` buffer, which is not a
weight (transformers computes it in FP32 even when it loads a model in bf16); on the qwen2
fixture that alone moves the logits by 2.7e-4.

Reads the reference checkpoints written by Tools/make_reference_checkpoints.py (same prompt:
seed 7, 20 tokens) and writes Tests/Golden/reference-<name>-bf16.json with the logits of every
prompt token and a 24-token greedy continuation. The bundled fixture is stored in BF16, so
its FP32 goldens (Tests/Golden/model-tiny-pystd.json) already are its BF16 goldens.

    OMP_WAIT_POLICY=PASSIVE python3 Tools/make_bf16_goldens.py
"""
import json
from pathlib import Path

import torch
import transformers

from make_reference_checkpoints import golden_of

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests/Fixtures/models"
GOLDEN = ROOT / "Tests/Golden"

MODELS = {
    "tiny-llama3-f16-sharded": transformers.LlamaForCausalLM,
    "tiny-qwen2-f32": transformers.Qwen2ForCausalLM,
}


def build(name, model_cls):
    fp32 = json.loads((GOLDEN / f"reference-{name}.json").read_text())
    ref = model_cls.from_pretrained(str(FIXTURES / name), dtype=torch.float32).eval()
    with torch.no_grad():
        for p in ref.parameters():  # every weight rounded to bf16, computed in FP32
            p.copy_(p.to(torch.bfloat16).float())
    ids = torch.tensor([fp32["prompt"]])
    golden = golden_of(ref, ids, name, "python3 Tools/make_bf16_goldens.py",
                       dtype="every parameter rounded to bf16, FP32 compute")
    (GOLDEN / f"reference-{name}-bf16.json").write_text(json.dumps(golden))
    diff = (torch.tensor(golden["logits"]) - torch.tensor(fp32["logits"])).abs().max().item()
    print(f"{name}: max |bf16 - fp32 logits| = {diff:.4f}; greedy same as fp32: {golden['greedy'] == fp32['greedy']}")


def main():
    torch.set_num_threads(1)
    for name, cls in MODELS.items():
        build(name, cls)


if __name__ == "__main__":
    main()

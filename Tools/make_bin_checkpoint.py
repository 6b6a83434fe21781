#!/usr/bin/env python3
"""A sharded PyTorch `.bin` twin of a reference checkpoint, the way Vicuna-7B v1.3 and many
older LLaMA checkpoints are published: `pytorch_model-0000K-of-0000N.bin` shards plus
`pytorch_model.bin.index.json`, as transformers 4.x's `save_pretrained(safe_serialization=False)`
wrote them (transformers 5 dropped that option; this does what it did: huggingface_hub's
`split_torch_state_dict_into_shards`, then `torch.save` of each shard's dict of tensors).

Writes Tests/Fixtures/models/tiny-llama3-bin-sharded from tiny-llama3-f16-sharded (same F16
weights, same config); InferenceTests check that both load to identical weights and logits.

    OMP_WAIT_POLICY=PASSIVE python3 Tools/make_bin_checkpoint.py
"""
import json
import shutil
from pathlib import Path

import torch
import transformers
from huggingface_hub import split_torch_state_dict_into_shards

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "Tests/Fixtures/models/tiny-llama3-f16-sharded"
OUT = ROOT / "Tests/Fixtures/models/tiny-llama3-bin-sharded"


def main():
    model = transformers.LlamaForCausalLM.from_pretrained(str(SOURCE), dtype=torch.float16)
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # save_pretrained drops tied duplicates
    split = split_torch_state_dict_into_shards(state, filename_pattern="pytorch_model{suffix}.bin",
                                               max_shard_size="40KB")
    for filename, names in split.filename_to_tensors.items():
        torch.save({n: state[n].contiguous() for n in names}, OUT / filename)
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
             "weight_map": split.tensor_to_filename}
    (OUT / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2, sort_keys=True))
    shutil.copy(SOURCE / "config.json", OUT / "config.json")  # the source's exact config
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 1 and not list(OUT.glob("*.safetensors")), "expected sharded .bin only"
    print(f"wrote {OUT.relative_to(ROOT)}: {len(shards)} shards, {len(index['weight_map'])} tensors")


if __name__ == "__main__":
    main()

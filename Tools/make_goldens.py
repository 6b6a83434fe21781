#!/usr/bin/env python3
"""Write golden vectors for the tiny-pystd fixture model: Tests/Golden/model-tiny-pystd.json.

Reference: transformers LlamaForCausalLM loaded from Models/tiny-pystd with
dtype=torch.float32 (the stored BF16 weights cast to float32, which is what the Swift
engine computes with), eager attention, torch.set_num_threads(2), no sampling anywhere.
Prompts are encoded with add_special_tokens=True, so input_ids[0] is BOS (id 0).

JSON layout (plain JSON, floats rounded to 6 significant digits):
{
  "format": "eagled-golden-model/1",
  "metadata": {model_dir, model_sha256, dtype: "float32", weights_dtype: "bfloat16",
               attn_implementation, python, torch, transformers, tokenizers, safetensors,
               numpy, command, bos_token_id, eos_token_id, pad_token_id, vocab_size,
               hidden_size},
  "logits": [                      # one entry per prompt, single forward pass, no KV cache
    {"name": str, "text": str, "input_ids": [int],
     "last": {                     # the LAST prompt position (predicts the next token)
        "argmax": int,
        "top10": [[id, logit], ...],      # 10 pairs, descending logit
        "logits": [4096 floats],          # full logits vector
        "hidden": [256 floats]            # hidden_states[-1] = final-RMSNorm output = lm_head input (EAGLE feature)
     },
     "positions": [ {"argmax": int, "top10": [[id, logit], ...]}, ... ]   # one per input position;
                                                                         # present only for the prompt named "code_per_position"
    }, ...],
  "greedy": [                      # model.generate(do_sample=False, max_new_tokens=64)
    {"name": str, "text": str, "input_ids": [int],
     "max_new_tokens": 64,
     "output_ids": [int],          # generated tokens only (prompt excluded); includes the EOS if one was produced
     "stopped_at_eos": bool,       # generate stopped early because it produced EOS
     "eos_index": int | null,      # index in output_ids of that EOS
     "margins": [float],           # per generated step: top-1 minus top-2 logit (float32 reference); a step
                                   # with a tiny margin may flip under a different summation order
     "output_text": str            # decode(output_ids, skip_special_tokens=False), informational
    }, ...]
}

Usage: OMP_WAIT_POLICY=PASSIVE python Tools/make_goldens.py [--model Models/tiny-pystd] [--out Tests/Golden/model-tiny-pystd.json]
"""
import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer, LlamaForCausalLM  # noqa: E402

LONG_CODE = '''import os
import sys
from collections import OrderedDict


class LRUCache:
    """A small least-recently-used cache built on OrderedDict."""

    def __init__(self, maxsize=128):
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._data = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        try:
            value = self._data.pop(key)
        except KeyError:
            self.misses += 1
            return default
        self._data[key] = value
        self.hits += 1
        return value

    def put(self, key, value):
        if key in self._data:
            self._data.pop(key)
        elif len(self._data) >= self.maxsize:
'''

LOGIT_PROMPTS = [
    ("bos_only", ""),
    ("short_english", "The quick brown fox"),
    ("code_per_position", "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n"),
    ("import_line", "import os\nimport sys\n\n"),
    ("docstring", '"""Return the number of items in the queue."""\n'),
    ("long_code", LONG_CODE),
]

GREEDY_PROMPTS = [
    ("def_function", "def add(a, b):\n"),
    ("class_def", "class Stack:\n    def __init__(self):\n"),
    ("imports", "import os\nimport re\n"),
    ("for_loop", "for i in range(10):\n    "),
    ("raise_error", "    if not isinstance(name, str):\n        raise "),
    ("english", "The quick brown fox jumps over the lazy dog."),
    ("english_question", "What is the capital of France?"),
    ("chatml", "<|im_start|>user\nWrite a function.<|im_end|>\n<|im_start|>assistant\n"),
    # End of a module: the trained fixture emits EOS at once (exercises the stop-at-EOS path).
    ("main_guard_eos", "def main():\n    print('hello')\n\n\nif __name__ == '__main__':\n    main()\n"),
]


def r6(x):
    return float(f"{float(x):.6g}")


def top10(row: torch.Tensor):
    vals, ids = torch.topk(row, 10)
    return [[int(i), r6(v)] for i, v in zip(ids.tolist(), vals.tolist())]


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(root / "Models" / "tiny-pystd"))
    ap.add_argument("--out", default=str(root / "Tests" / "Golden" / "model-tiny-pystd.json"))
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    assert next(model.parameters()).dtype == torch.float32
    cfg = model.config
    sha = hashlib.sha256(Path(args.model, "model.safetensors").read_bytes()).hexdigest()
    try:
        rel_model = os.path.relpath(args.model, root)
    except ValueError:
        rel_model = args.model

    out = {
        "format": "eagled-golden-model/1",
        "metadata": {
            "model_dir": rel_model, "model_sha256": sha, "dtype": "float32", "weights_dtype": "bfloat16",
            "attn_implementation": "eager", "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
            "numpy": np.__version__,
            "command": "OMP_WAIT_POLICY=PASSIVE python " + " ".join([os.path.relpath(sys.argv[0], root)] + sys.argv[1:]),
            "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
            "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
            "float_rounding": "6 significant digits",
        },
        "logits": [],
        "greedy": [],
    }

    with torch.no_grad():
        for name, text in LOGIT_PROMPTS:
            ids = tok(text, add_special_tokens=True)["input_ids"]
            assert ids[0] == tok.bos_token_id
            x = torch.tensor([ids])
            o = model(input_ids=x, output_hidden_states=True, use_cache=False)
            logits = o.logits[0]
            hidden = o.hidden_states[-1][0]
            # hidden_states[-1] must be the post-final-norm state that feeds lm_head.
            ref = model.model(input_ids=x, use_cache=False).last_hidden_state[0]
            assert torch.allclose(hidden, ref, atol=1e-6), "hidden_states[-1] is not the final-norm output"
            assert torch.allclose(model.lm_head(hidden), logits, atol=1e-4)
            last = logits[-1]
            e = {"name": name, "text": text, "input_ids": ids,
                 "last": {"argmax": int(last.argmax()), "top10": top10(last),
                          "logits": [r6(v) for v in last.tolist()],
                          "hidden": [r6(v) for v in hidden[-1].tolist()]}}
            if name == "code_per_position":
                e["positions"] = [{"argmax": int(row.argmax()), "top10": top10(row)} for row in logits]
            out["logits"].append(e)
            print(f"logits {name}: {len(ids)} tokens, argmax {e['last']['argmax']}", flush=True)

        for name, text in GREEDY_PROMPTS:
            ids = tok(text, add_special_tokens=True)["input_ids"]
            x = torch.tensor([ids])
            g = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                               max_new_tokens=args.max_new_tokens, pad_token_id=tok.pad_token_id,
                               eos_token_id=tok.eos_token_id, return_dict_in_generate=True,
                               output_logits=True)
            new = g.sequences[0, len(ids):].tolist()
            step_logits = torch.stack([s[0] for s in g.logits])  # [new, vocab], raw logits
            assert step_logits.argmax(-1).tolist() == new
            top2 = torch.topk(step_logits, 2, dim=-1).values
            margins = [r6(v) for v in (top2[:, 0] - top2[:, 1]).tolist()]
            eos_idx = new.index(tok.eos_token_id) if tok.eos_token_id in new else None
            if eos_idx is not None:
                assert eos_idx == len(new) - 1  # generate stops right after EOS
            out["greedy"].append({"name": name, "text": text, "input_ids": ids,
                                  "max_new_tokens": args.max_new_tokens, "output_ids": new,
                                  "stopped_at_eos": eos_idx is not None, "eos_index": eos_idx,
                                  "margins": margins,
                                  "output_text": tok.decode(new, skip_special_tokens=False)})
            print(f"greedy {name}: {len(new)} new tokens, eos_index {eos_idx}, min margin {min(margins):.4g}: "
                  f"{tok.decode(new)!r}", flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"), ensure_ascii=False)
        f.write("\n")
    print("wrote", args.out, os.path.getsize(args.out), "bytes")


if __name__ == "__main__":
    main()

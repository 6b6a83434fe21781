#!/usr/bin/env python3
"""Train the tiny-pystd fixture model (LlamaForCausalLM, ~6.6M params) from scratch on CPU.

Data: Tools/.work/{train,heldout}.jsonl from build_corpus.py, tokenized with the tokenizer
in --out (train_tokenizer.py). Each document becomes BOS + tokens + EOS; documents are
concatenated into one stream; training windows of seq_len+1 tokens are drawn at random
offsets (seeded). Held-out loss: mean token CE over all non-overlapping windows of the
held-out stream.

Optimiser: AdamW (betas 0.9/0.95, wd 0.1), linear warmup then cosine to 10% of peak lr,
grad-norm clip 1.0, float32, torch.set_num_threads(2).

--steps N fixes the step count. Without it, --time-budget-min decides: the first
--probe-steps steps are timed and the total is fixed from that (the chosen count is
printed; pass it as --steps to reproduce).

Saves BF16 model.safetensors + config.json + generation_config.json into --out.

Usage: OMP_WAIT_POLICY=PASSIVE python Tools/train_model.py [--steps N | --time-budget-min 22]
"""
import argparse
import json
import math
import os
import random
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM  # noqa: E402


def load_stream(path: Path, tok) -> np.ndarray:
    ids = []
    with open(path) as f:
        texts = [json.loads(line)["text"] for line in f]
    enc = tok(texts, add_special_tokens=False)["input_ids"]
    for e in enc:
        ids.append(tok.bos_token_id)
        ids.extend(e)
        ids.append(tok.eos_token_id)
    return np.asarray(ids, dtype=np.int64), len(texts)


def patch_config(out: Path):
    """Add legacy top-level keys next to transformers 5's `rope_parameters`/`dtype`.

    Readers written against transformers 4.x configs (and the Swift HF-config loader)
    look for `rope_theta` and `torch_dtype` at top level; transformers 5 loads the
    patched file identically.
    """
    p = Path(out) / "config.json"
    cfg = json.loads(p.read_text())
    cfg["rope_theta"] = float(cfg.get("rope_parameters", {}).get("rope_theta", 10000.0))
    cfg["torch_dtype"] = "bfloat16"
    p.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


@torch.no_grad()
def heldout_loss(model, stream, seq_len, batch):
    model.eval()
    n = (len(stream) - 1) // seq_len
    tot, cnt = 0.0, 0
    for b in range(0, n, batch):
        rows = [stream[i * seq_len:(i + 1) * seq_len + 1] for i in range(b, min(n, b + batch))]
        x = torch.from_numpy(np.stack(rows))
        logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
        tot += loss.item()
        cnt += x[:, 1:].numel()
    model.train()
    return tot / cnt


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(root / "Tools" / ".work"))
    ap.add_argument("--out", default=str(root / "Models" / "tiny-pystd"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--time-budget-min", type=float, default=22.0)
    ap.add_argument("--probe-steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=10)
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(args.out)
    train, n_train_docs = load_stream(Path(args.work) / "train.jsonl", tok)
    held, n_held_docs = load_stream(Path(args.work) / "heldout.jsonl", tok)
    print(json.dumps({"train_docs": n_train_docs, "train_tokens": int(len(train)),
                      "heldout_docs": n_held_docs, "heldout_tokens": int(len(held)),
                      "tokenize_s": round(time.time() - t0, 1)}), flush=True)

    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=256, num_hidden_layers=6, num_attention_heads=8,
        num_key_value_heads=2, intermediate_size=768, max_position_embeddings=1024,
        rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, attention_bias=False,
        mlp_bias=False, hidden_act="silu", initializer_range=0.02,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    assert cfg.vocab_size == 4096
    model = LlamaForCausalLM(cfg).float()
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"params": n_params}), flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)

    L = args.seq_len
    total = args.steps
    step = 0
    t_train = time.time()
    ema = None
    losses = []
    while True:
        if total is None and step == args.probe_steps:
            # Fix the step count from the measured speed (first step excluded as warm-up).
            per = (time.time() - t_probe) / (args.probe_steps - 1)
            total = max(args.probe_steps + 1, int(args.time_budget_min * 60 / per))
            print(json.dumps({"probe_s_per_step": round(per, 3), "chosen_steps": total}), flush=True)
        if total is not None and step >= total:
            break
        if step == 1:
            t_probe = time.time()
        lr = lr_at(step, total if total is not None else 10**9, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        offs = rng.integers(0, len(train) - L - 1, size=args.batch)
        x = torch.from_numpy(np.stack([train[o:o + L + 1] for o in offs]))
        logits = model(input_ids=x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lv = loss.item()
        losses.append(lv)
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        step += 1
        if step % args.log_every == 0 or step == 1:
            print(f"step {step}/{total} loss {lv:.4f} ema {ema:.4f} lr {lr:.2e} "
                  f"elapsed {time.time() - t_train:.0f}s", flush=True)
    train_s = time.time() - t_train
    final_train = float(np.mean(losses[-20:]))
    t_eval = time.time()
    hl = heldout_loss(model, held, L, 32)
    summary = {"steps": total, "batch": args.batch, "seq_len": L,
               "tokens_seen": total * args.batch * L, "train_wall_s": round(train_s, 1),
               "final_train_loss_mean_last20": round(final_train, 4), "last_step_loss": round(losses[-1], 4),
               "heldout_loss": round(hl, 4), "heldout_ppl": round(math.exp(hl), 3),
               "eval_s": round(time.time() - t_eval, 1), "params": n_params,
               "train_tokens": int(len(train)), "heldout_tokens": int(len(held)),
               "torch": torch.__version__}
    print(json.dumps(summary), flush=True)

    model.config.dtype = torch.bfloat16
    model.to(torch.bfloat16).save_pretrained(args.out, safe_serialization=True)
    GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id, do_sample=False).save_pretrained(args.out)
    patch_config(args.out)
    os.chmod(Path(args.out) / "model.safetensors", 0o644)
    (Path(args.work) / "train_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print("saved to", args.out, flush=True)


if __name__ == "__main__":
    main()

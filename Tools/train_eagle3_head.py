#!/usr/bin/env python3
"""Train an EAGLE-3 draft head for a HF LLaMA-family checkpoint on the JSONL corpus (CPU).

Recipe (after the official SafeAILab/EAGLE `eagle/traineagle3/`):
  * draft vocabulary: the --draft-vocab most frequent tokens of the training stream, in id
    order; d2t[i] = target id − i, t2d marks them (the official layout).
  * features: the frozen target (float32) on windows of seq_len + steps + 1 tokens; the
    feature of position t is the inputs of layers 2, N/2 and N−3 (low to high; clamped to
    0…N−1 and repeated for targets under 7 layers — eagled's documented rule).
  * training-time test: the head is unrolled --steps-ahead times. Step 0 reads
    fc(feature_t) with the embedding of x_{t+1} at position t, attending causally to the
    step-0 rows; step i reads its own step-(i−1) output with the embedding of x_{t+1+i} at
    position t + i, attending to the step-0 rows 0…t and its own rows of steps 1…i — exactly
    what a draft node at depth i+1 sees at inference (the committed context and its
    ancestors).
  * loss: step i's draft logits (norm → lm_head over the draft vocabulary) against the
    target's next-token distribution at position t+1+i restricted to the draft vocabulary
    (soft cross-entropy), only where the target's argmax is in the draft vocabulary; steps
    weighted 0.8^i.
  * the head's lm_head starts from the target's lm_head rows of the draft vocabulary; the
    embedding is the target's, frozen. AdamW (0.9, 0.95), grad clipped by value at 0.5,
    linear warmup then decay; --steps or a step count fitted to --time-budget-min.

Writes --out: config.json (draft_vocab_size), model.safetensors (BF16 weights, int64 d2t,
bool t2d) and PROVENANCE.md.

Usage (repo root, after Tools/build_corpus.py):
  OMP_WAIT_POLICY=PASSIVE python3 Tools/train_eagle3_head.py \
      [--target Models/tiny-pystd] [--out Models/tiny-pystd-eagle3] [--steps N | --time-budget-min 15]
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eagle_head as eh  # noqa: E402
from train_eagle_head import load_stream, lr_at  # noqa: E402


def capture_layers(n):
    return sorted(min(max(layer, 0), n - 1) for layer in (2, n // 2, n - 3))


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class Eagle3Head(nn.Module):
    def __init__(self, tc, draft_ids, target_lm_head):
        super().__init__()
        d, self.heads = tc.hidden_size, tc.num_attention_heads
        self.kv_heads = getattr(tc, "num_key_value_heads", None) or self.heads
        self.hd = getattr(tc, "head_dim", None) or d // self.heads
        self.eps = tc.rms_norm_eps
        inter = tc.intermediate_size
        self.fc = nn.Linear(3 * d, d, bias=False)
        self.q_proj = nn.Linear(2 * d, self.heads * self.hd, bias=False)
        self.k_proj = nn.Linear(2 * d, self.kv_heads * self.hd, bias=False)
        self.v_proj = nn.Linear(2 * d, self.kv_heads * self.hd, bias=False)
        self.o_proj = nn.Linear(self.heads * self.hd, d, bias=False)
        self.gate_proj = nn.Linear(d, inter, bias=False)
        self.up_proj = nn.Linear(d, inter, bias=False)
        self.down_proj = nn.Linear(inter, d, bias=False)
        for name in ("hidden_norm", "input_layernorm", "post_attention_layernorm", "norm"):
            setattr(self, name, nn.Parameter(torch.ones(d)))
        self.lm_head = nn.Linear(d, len(draft_ids), bias=False)
        with torch.no_grad():
            self.lm_head.weight.copy_(target_lm_head[draft_ids])
        theta = float(eh._rope_of(tc)["rope_theta"])
        self.register_buffer("inv_freq", 1.0 / theta ** (torch.arange(0, self.hd, 2).float() / self.hd), persistent=False)

    def rope(self, x, pos):  # x [B, H, L, hd], pos [L]
        fr = pos[:, None].float() * self.inv_freq
        emb = torch.cat((fr, fr), -1)
        return x * emb.cos() + eh._rotate_half(x) * emb.sin()

    def unrolled(self, feats, embs, steps):
        """feats [B, L, 3d]; embs[i] [B, L, d] (embeddings of x_{t+1+i}). Draft logits per step."""
        B, L, _ = feats.shape
        rep = self.heads // self.kv_heads
        causal = torch.ones(L, L, dtype=torch.bool).tril()
        h_in = self.fc(feats)
        keys, values, out = [], [], []
        for i in range(steps):
            x = torch.cat((rms(embs[i], self.input_layernorm, self.eps), rms(h_in, self.hidden_norm, self.eps)), -1)
            pos = torch.arange(L) + i
            q = self.rope(self.q_proj(x).view(B, L, self.heads, self.hd).transpose(1, 2), pos)
            k = self.rope(self.k_proj(x).view(B, L, self.kv_heads, self.hd).transpose(1, 2), pos)
            v = self.v_proj(x).view(B, L, self.kv_heads, self.hd).transpose(1, 2)
            keys.append(k.repeat_interleave(rep, 1))
            values.append(v.repeat_interleave(rep, 1))
            scale = 1 / math.sqrt(self.hd)
            s0 = (q @ keys[0].transpose(2, 3) * scale).masked_fill(~causal, float("-inf"))
            diag = [(q * keys[j]).sum(-1, keepdim=True) * scale for j in range(1, i + 1)]
            w = torch.softmax(torch.cat([s0] + diag, -1), -1)
            a = w[..., :L] @ values[0]
            for j in range(1, i + 1):
                a = a + w[..., L + j - 1:L + j] * values[j]
            h = h_in + self.o_proj(a.transpose(1, 2).reshape(B, L, self.heads * self.hd))
            m = rms(h, self.post_attention_layernorm, self.eps)
            h = h + self.down_proj(F.silu(self.gate_proj(m)) * self.up_proj(m))
            out.append(self.lm_head(rms(h, self.norm, self.eps)))
            h_in = h
        return out


def batch_losses(target, head, layers, draft_ids, t2d, x, L, steps):
    """Per-step soft CE and top-1 agreement with the target's argmax, on windows x [B, L+steps+1]."""
    with torch.no_grad():
        o = target(input_ids=x, output_hidden_states=True, use_cache=False)
        feats = torch.cat([o.hidden_states[layer][:, :L] for layer in layers], -1)
        embed = target.get_input_embeddings()
        embs = [embed(x[:, 1 + i:1 + i + L]) for i in range(steps)]
    logits = head.unrolled(feats, embs, steps)
    losses, accs = [], []
    for i, dl in enumerate(logits):
        tl = o.logits[:, 1 + i:1 + i + L]
        mask = t2d[tl.argmax(-1)].float()
        p = torch.softmax(tl[..., draft_ids], -1)
        ce = -(p * torch.log_softmax(dl, -1)).sum(-1)
        losses.append((ce * mask).sum() / mask.sum().clamp(min=1))
        hit = (draft_ids[dl.argmax(-1)] == tl.argmax(-1)).float()
        accs.append(((hit * mask).sum() / mask.sum().clamp(min=1)).item())
    return losses, accs


def save(head, layers, draft_ids, vocab, tc, out, summary):
    out.mkdir(parents=True, exist_ok=True)
    cfg = eh.head_config_from_target(tc, bias=False)
    cfg.update({"architectures": ["LlamaForCausalLMEagle3"], "draft_vocab_size": len(draft_ids),
                "torch_dtype": "bfloat16"})
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    w = {"fc.weight": head.fc.weight, "norm.weight": head.norm, "lm_head.weight": head.lm_head.weight,
         "midlayer.hidden_norm.weight": head.hidden_norm, "midlayer.input_layernorm.weight": head.input_layernorm,
         "midlayer.post_attention_layernorm.weight": head.post_attention_layernorm}
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        w[f"midlayer.self_attn.{name}.weight"] = getattr(head, name).weight
    for name in ("gate_proj", "up_proj", "down_proj"):
        w[f"midlayer.mlp.{name}.weight"] = getattr(head, name).weight
    tensors = {n: t.detach().to(torch.bfloat16).contiguous() for n, t in w.items()}
    tensors["d2t"] = (draft_ids - torch.arange(len(draft_ids))).to(torch.int64).contiguous()
    t2d = torch.zeros(vocab, dtype=torch.bool)
    t2d[draft_ids] = True
    tensors["t2d"] = t2d
    from safetensors.torch import save_file
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "PROVENANCE.md").write_text(
        "# EAGLE-3 head for the bundled model\n\n"
        "Trained by `Tools/train_eagle3_head.py` (official EAGLE-3 recipe: training-time test, "
        "steps weighted 0.8^i, draft vocabulary of the most frequent training tokens) on the corpus of "
        "`Tools/build_corpus.py`. The target has 6 layers, so its recorded layers are "
        f"{layers} (2, N/2, N−3 clamped; a repeated layer is recorded twice — the official code "
        "needs ≥ 7 layers).\n\n```json\n" + json.dumps(summary, indent=1) + "\n```\n")


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=str(root / "Models" / "tiny-pystd"))
    ap.add_argument("--work", default=str(root / "Tools" / ".work"))
    ap.add_argument("--out", default=str(root / "Models" / "tiny-pystd-eagle3"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--time-budget-min", type=float, default=15.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--steps-ahead", type=int, default=4, help="training-time-test unroll (official: 7)")
    ap.add_argument("--draft-vocab", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    from transformers import AutoTokenizer
    target = eh.load_target(args.target, torch.float32, "sdpa")
    tc = target.config
    tok = AutoTokenizer.from_pretrained(args.target)
    train, _, _ = load_stream(Path(args.work) / "train.jsonl", tok)
    held, _, _ = load_stream(Path(args.work) / "heldout.jsonl", tok)
    counts = np.bincount(train, minlength=tc.vocab_size)
    draft_ids = torch.from_numpy(np.sort(np.argsort(-counts, kind="stable")[:args.draft_vocab])).long()
    t2d = torch.zeros(tc.vocab_size, dtype=torch.bool)
    t2d[draft_ids] = True
    coverage = float(counts[draft_ids.numpy()].sum() / counts.sum())
    layers = capture_layers(tc.num_hidden_layers)
    print(json.dumps({"train_tokens": int(len(train)), "draft_vocab": args.draft_vocab,
                      "draft_vocab_token_coverage": round(coverage, 4), "layers": layers}), flush=True)

    head = Eagle3Head(tc, draft_ids, target.get_output_embeddings().weight.detach().float())
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, betas=(0.9, 0.95))
    L, B, K = args.seq_len, args.batch, args.steps_ahead
    weights = [0.8 ** i for i in range(K)]
    total, step, t0, t_probe = args.steps, 0, time.time(), None
    while total is None or step < total:
        if total is None and step == 4:
            per = (time.time() - t_probe) / 3
            total = max(5, int(args.time_budget_min * 60 / per))
            print(json.dumps({"probe_s_per_step": round(per, 2), "chosen_steps": total}), flush=True)
        if step == 1:
            t_probe = time.time()
        lr = lr_at(step, total or 10**9, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        offs = rng.integers(0, len(train) - L - K - 1, size=B)
        x = torch.from_numpy(np.stack([train[o:o + L + K + 1] for o in offs]))
        losses, accs = batch_losses(target, head, layers, draft_ids, t2d, x, L, K)
        loss = sum(w * v for w, v in zip(weights, losses))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(head.parameters(), 0.5)
        opt.step()
        step += 1
        if step % 20 == 0 or step == 1:
            print(f"step {step}/{total} loss {loss.item():.3f} acc by step {[round(a, 3) for a in accs]} "
                  f"lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0

    with torch.no_grad():
        held_accs = []
        for b in range(8):
            o = b * (L + K + 1) * 4
            x = torch.from_numpy(np.stack([held[o + j * (L + K + 1):o + (j + 1) * (L + K + 1)] for j in range(4)]))
            held_accs.append(batch_losses(target, head, layers, draft_ids, t2d, x, L, K)[1])
    held_acc = [round(float(np.mean([a[i] for a in held_accs])), 4) for i in range(K)]
    summary = {"command": "OMP_WAIT_POLICY=PASSIVE python3 Tools/train_eagle3_head.py " + " ".join(sys.argv[1:]),
               "steps": total, "batch": B, "seq_len": L, "steps_ahead": K, "lr": args.lr, "warmup": args.warmup,
               "draft_vocab": args.draft_vocab, "draft_vocab_token_coverage": round(coverage, 4),
               "capture_layers": layers, "train_wall_s": round(train_s, 1),
               "heldout_top1_vs_target_by_step": held_acc, "torch": torch.__version__}
    print(json.dumps(summary), flush=True)
    save(head, layers, draft_ids, tc.vocab_size, tc, Path(args.out), summary)


if __name__ == "__main__":
    main()

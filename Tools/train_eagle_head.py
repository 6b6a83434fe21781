#!/usr/bin/env python3
"""Train an EAGLE-1/2 draft head for a HF LLaMA-family checkpoint on a JSONL text corpus (CPU).

Recipe (the official SafeAILab/EAGLE training, eagle/train/main.py, adapted to on-the-fly
features; see Tools/eagle_head.py for the architecture):
  * data: each document -> BOS + tokens + EOS, documents concatenated into one stream;
    each step draws --batch windows of seq_len+1 tokens x_0..x_L at random offsets (seeded).
  * features: the frozen target (float32; BF16 weights upcast) run under no_grad on the
    window gives f_0..f_L = last hidden state after the final norm, and the target logits.
  * head input at t = 0..L-1: (f_t + noise, x_{t+1}) at position t; target: f_{t+1}.
    Every pair of the window is valid (loss mask all ones), L = seq_len pairs per row.
  * noise: uniform, exactly the official AddUniformNoise formula
        noise = (U[0,1) - 0.5) * noise_std * 512 / seq_len,   noise_std = 0.2 (official "std")
    (the official code divides by tensor.shape[1], which is the sequence length of the
    sample — SafeAILab/EAGLE issue #172). With seq_len 256 that is U(-0.2, 0.2) per element
    (the target's features have RMS ~1 per element).
  * loss = v_w * vloss + p_w * ploss, v_w = 1.0, p_w = 0.1:
        vloss = SmoothL1(pred_t, f_{t+1}) (beta 1), mean over the hidden dim and positions
        ploss = -sum_v softmax(lm_head(f_{t+1}))_v * log_softmax(lm_head(pred_t))_v, mean over positions
    lm_head and the embedding are the target's, frozen.
  * AdamW betas (0.9, 0.95), weight decay 0.01 (torch default, as official), grad clipping by
    VALUE at 0.5 (official uses accelerator.clip_grad_value_), linear warmup then linear decay
    to 0 (official get_linear_schedule_with_warmup). PyTorch default init for the head. float32.
  * Step count: --steps N, or (default) time the first --probe-steps steps and fit
    --time-budget-min; the chosen count is printed (pass it as --steps to reproduce).

After training: held-out evaluation (all non-overlapping seq_len+1 windows of the held-out
stream; no noise), chain-drafting acceptance on the target's own greedy continuations of
held-out prompts, then writes the head (config.json, model.safetensors, pytorch_model.bin,
float16) and PROVENANCE.md into --out, and a JSON summary into --work.

Usage (repo root):
  OMP_WAIT_POLICY=PASSIVE python3 Tools/train_eagle_head.py \
      [--target Models/tiny-pystd] [--out Models/tiny-pystd-eagle] [--steps N | --time-budget-min 18]
"""
import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eagle_head as eh  # noqa: E402


def load_stream(path: Path, tok):
    with open(path) as f:
        texts = [json.loads(line)["text"] for line in f]
    enc = tok(texts, add_special_tokens=False)["input_ids"]
    ids = []
    for e in enc:
        ids.append(tok.bos_token_id)
        ids.extend(e)
        ids.append(tok.eos_token_id)
    return np.asarray(ids, dtype=np.int64), texts, enc


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def losses(target, pred, feats_next, tgt_logits):
    """vloss, ploss, draft logits (official compute_loss with an all-ones mask)."""
    vloss = F.smooth_l1_loss(pred, feats_next, reduction="none").mean(-1).mean()
    out_logits = target.get_output_embeddings()(pred)
    p = torch.softmax(tgt_logits, dim=-1)
    ploss = -(p * torch.log_softmax(out_logits, dim=-1)).sum(-1).mean()
    return vloss, ploss, out_logits


@torch.no_grad()
def heldout_eval(target, head, stream, L, batch):
    head.eval()
    n = (len(stream) - 1) // L
    acc = {"pairs": 0, "vloss_sum": 0.0, "ploss_sum": 0.0, "top1_target": 0, "top3_target": 0,
           "top5_target": 0, "top1_corpus": 0, "target_top1_corpus": 0, "corpus_pairs": 0}
    for b in range(0, n, batch):
        rows = [stream[i * L:(i + 1) * L + 1] for i in range(b, min(n, b + batch))]
        x = torch.from_numpy(np.stack(rows))                      # [B, L+1]
        f, tl = eh.target_features(target, x)                     # [B, L+1, d], [B, L+1, V]
        pos = torch.arange(L)[None].expand(x.shape[0], L)
        pred, dl, _ = eh.forward(target, head, x[:, 1:], f[:, :L], pos)
        vloss, ploss, _ = losses(target, pred, f[:, 1:], tl[:, 1:])
        m = x.shape[0] * L
        acc["pairs"] += m
        acc["vloss_sum"] += vloss.item() * m
        acc["ploss_sum"] += ploss.item() * m
        tgt_arg = tl[:, 1:].argmax(-1)                            # target greedy token for position t+2
        top5 = dl.topk(5, dim=-1).indices
        acc["top1_target"] += (top5[..., 0] == tgt_arg).sum().item()
        acc["top3_target"] += (top5[..., :3] == tgt_arg[..., None]).any(-1).sum().item()
        acc["top5_target"] += (top5 == tgt_arg[..., None]).any(-1).sum().item()
        # agreement with the actual corpus token x_{t+2} (pairs t = 0..L-2 of each window)
        corpus = x[:, 2:]
        acc["top1_corpus"] += (top5[:, :L - 1, 0] == corpus).sum().item()
        acc["target_top1_corpus"] += (tgt_arg[:, :L - 1] == corpus).sum().item()
        acc["corpus_pairs"] += corpus.numel()
    P, C = acc["pairs"], acc["corpus_pairs"]
    head.train()
    return {"windows": n, "pairs": P, "vloss": acc["vloss_sum"] / P, "ploss": acc["ploss_sum"] / P,
            "top1_vs_target_greedy": acc["top1_target"] / P, "top3_vs_target_greedy": acc["top3_target"] / P,
            "top5_vs_target_greedy": acc["top5_target"] / P, "top1_vs_corpus_token": acc["top1_corpus"] / C,
            "target_top1_vs_corpus_token": acc["target_top1_corpus"] / C}


@torch.no_grad()
def chain_acceptance(target, head, texts_enc, bos, n_prompts, prompt_len, gen_len, depth, seed):
    """Greedy-decoding acceptance of a depth-`depth` draft CHAIN (EAGLE-1 tree of width 1).

    For n_prompts held-out prompts (BOS + prompt_len-1 tokens from a random offset of a random
    held-out document) the target generates gen_len tokens greedily. On that sequence the head
    is run over all true pairs (f_t, x_{t+1}); from every start t whose next tokens are target
    greedy tokens it drafts `depth` tokens autoregressively (feeding back its own predicted
    features, as at inference) and counts how many leading draft tokens equal the target's
    greedy tokens. Returns per-depth acceptance and the mean accepted length tau
    (tokens per target forward = 1 + tau)."""
    head.eval()
    rng = random.Random(seed)
    docs = [e for e in texts_enc if len(e) >= prompt_len + 10]
    accepted_hist = [0] * (depth + 1)
    total_starts = 0
    for _ in range(n_prompts):
        e = docs[rng.randrange(len(docs))]
        o = rng.randrange(0, len(e) - prompt_len)
        prompt = torch.tensor([[bos] + e[o:o + prompt_len - 1]])
        seq = target.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=gen_len,
                              min_new_tokens=gen_len, do_sample=False, pad_token_id=target.config.pad_token_id)
        n = seq.shape[1]
        f, _ = eh.target_features(target, seq)
        # true pairs t = 0..n-2
        pred, dl, past = eh.forward(target, head, seq[:, 1:], f[:, :n - 1])
        # starts t such that x_{t+2}.. are greedy tokens: t + 2 >= prompt_len, t + 1 + depth <= n - 1
        starts = [t for t in range(prompt_len - 2, n - 1 - depth)]
        S = len(starts)
        st = torch.tensor(starts)
        d_tok = dl[0, st].argmax(-1)                              # depth-1 drafts [S]
        d_feat = pred[0, st]                                      # their features [S, d]
        drafts = [d_tok]
        P0 = n - 1
        for j in range(1, depth):
            # query for start t at depth j+1 sits at position t + j, attends true pairs 0..t and
            # its own chain entries of depths 2..j+1
            Ptot = past[0].shape[2]
            mask = torch.zeros(S, Ptot + S, dtype=torch.bool)
            for i, t in enumerate(starts):
                mask[i, :t + 1] = True
                for jj in range(1, j):
                    mask[i, P0 + (jj - 1) * S + i] = True
                mask[i, Ptot + i] = True
            pos = (st + j)[None]
            pr, lg, past = eh.forward(target, head, d_tok[None], d_feat[None], pos, past, mask[None])
            d_tok = lg[0].argmax(-1)
            d_feat = pr[0]
            drafts.append(d_tok)
        D = torch.stack(drafts, 1)                                # [S, depth]
        truth = torch.stack([seq[0, st + 2 + j] for j in range(depth)], 1)
        ok = (D == truth).int().cumprod(1).sum(1)                 # accepted prefix length
        for a in ok.tolist():
            accepted_hist[a] += 1
        total_starts += S
    head.train()
    tau = sum(a * c for a, c in enumerate(accepted_hist)) / total_starts
    reach = [sum(accepted_hist[k:]) / total_starts for k in range(1, depth + 1)]   # P(accept >= k)
    cond = [reach[0]] + [reach[k] / reach[k - 1] if reach[k - 1] > 0 else 0.0 for k in range(1, depth)]
    return {"prompts": n_prompts, "prompt_len": prompt_len, "gen_len": gen_len, "depth": depth,
            "starts": total_starts, "accept_len_hist": accepted_hist, "P_accept_ge_k": reach,
            "conditional_accept_k": cond, "mean_accepted_tau": tau, "tokens_per_target_forward": 1 + tau}


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default=str(root / "Models" / "tiny-pystd"))
    ap.add_argument("--work", default=str(root / "Tools" / ".work"), help="dir with train.jsonl / heldout.jsonl")
    ap.add_argument("--out", default=str(root / "Models" / "tiny-pystd-eagle"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--time-budget-min", type=float, default=18.0)
    ap.add_argument("--probe-steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--noise-std", type=float, default=0.2)
    ap.add_argument("--v-w", type=float, default=1.0)
    ap.add_argument("--p-w", type=float, default=0.1)
    ap.add_argument("--grad-clip-value", type=float, default=0.5)
    ap.add_argument("--no-bias", action="store_true", help="fc without bias (config bias=false)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--eval-prompts", type=int, default=24)
    ap.add_argument("--attn", default="sdpa", help="target attention implementation for feature extraction")
    ap.add_argument("--no-save", action="store_true", help="smoke test: train + eval, write nothing")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    from transformers import AutoTokenizer
    t0 = time.time()
    target = eh.load_target(args.target, torch.float32, args.attn)
    tok = AutoTokenizer.from_pretrained(args.target)
    train, _, _ = load_stream(Path(args.work) / "train.jsonl", tok)
    held, _, held_enc = load_stream(Path(args.work) / "heldout.jsonl", tok)
    print(json.dumps({"train_tokens": int(len(train)), "heldout_tokens": int(len(held)),
                      "load_s": round(time.time() - t0, 1)}), flush=True)

    cfg = eh.head_config_from_target(target.config, bias=not args.no_bias)
    head = eh.EagleHead(cfg).float()
    head.train()
    n_params = sum(p.numel() for p in head.parameters())
    print(json.dumps({"head_params": n_params, "config": cfg}), flush=True)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)

    L, B = args.seq_len, args.batch
    noise_amp = args.noise_std * 512 / L
    pos = torch.arange(L)[None].expand(B, L)
    total = args.steps
    step = 0
    hist = []
    t_train = time.time()
    t_probe = None
    probe = None
    while True:
        if total is None and step == args.probe_steps:
            per = (time.time() - t_probe) / (args.probe_steps - 1)
            probe = round(per, 3)
            total = max(args.probe_steps + 1, int(args.time_budget_min * 60 / per))
            print(json.dumps({"probe_s_per_step": round(per, 3), "chosen_steps": total}), flush=True)
        if total is not None and step >= total:
            break
        if step == 1:
            t_probe = time.time()
        lr = lr_at(step, total if total is not None else 10**9, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        offs = rng.integers(0, len(train) - L - 1, size=B)
        x = torch.from_numpy(np.stack([train[o:o + L + 1] for o in offs]))
        f, tl = eh.target_features(target, x)
        inp = f[:, :L] + (torch.rand_like(f[:, :L]) - 0.5) * noise_amp
        pred, _, _ = eh.forward(target, head, x[:, 1:], inp, pos)
        vloss, ploss, dl = losses(target, pred, f[:, 1:], tl[:, 1:])
        loss = args.v_w * vloss + args.p_w * ploss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(head.parameters(), args.grad_clip_value)
        opt.step()
        with torch.no_grad():
            a = (dl.argmax(-1) == tl[:, 1:].argmax(-1)).float().mean().item()
        hist.append((vloss.item(), ploss.item(), a))
        step += 1
        if step % args.log_every == 0 or step == 1:
            w = hist[-args.log_every:]
            print(f"step {step}/{total} vloss {np.mean([h[0] for h in w]):.4f} ploss {np.mean([h[1] for h in w]):.4f} "
                  f"acc {np.mean([h[2] for h in w]):.3f} lr {lr:.2e} elapsed {time.time() - t_train:.0f}s", flush=True)
    train_s = time.time() - t_train
    last = hist[-50:]
    final = {"vloss_mean_last50": float(np.mean([h[0] for h in last])),
             "ploss_mean_last50": float(np.mean([h[1] for h in last])),
             "train_acc_mean_last50": float(np.mean([h[2] for h in last])),
             "last_step_vloss": hist[-1][0], "last_step_ploss": hist[-1][1]}
    print(json.dumps({"train_wall_s": round(train_s, 1), **final}), flush=True)

    if not args.no_save:
        # Evaluate the head as stored (float16, upcast), so the reported numbers are those of the file.
        eh.save_head(head, args.out)
        head = eh.load_head(args.out, torch.float32)
    t_eval = time.time()
    ev = heldout_eval(target, head, held, L, 16)
    print(json.dumps({"heldout": ev}), flush=True)
    ch = chain_acceptance(target, head, held_enc, tok.bos_token_id, args.eval_prompts, 64, 64, 5, args.seed)
    print(json.dumps({"chain_greedy": ch}), flush=True)
    eval_s = time.time() - t_eval

    summary = {"steps": total, "batch": B, "seq_len": L, "pairs_seen": total * B * L, "lr": args.lr,
               "warmup": args.warmup, "weight_decay": args.weight_decay, "noise": f"U(-{noise_amp / 2:g}, {noise_amp / 2:g})",
               "noise_std": args.noise_std, "v_w": args.v_w, "p_w": args.p_w, "grad_clip_value": args.grad_clip_value,
               "seed": args.seed, "threads": args.threads, "target_attn": args.attn, "head_params": n_params,
               "probe_s_per_step": probe,
               "train_wall_s": round(train_s, 1), "eval_s": round(eval_s, 1), "final_train": final,
               "heldout": ev, "chain_greedy": ch, "evaluated": "fp32 in memory" if args.no_save else "stored float16, upcast"}
    summary["total_wall_s"] = round(time.time() - t0, 1)
    if not args.no_save:
        write_provenance(args, summary)
    (Path(args.work) / "eagle_head_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({"total_wall_s": summary["total_wall_s"]}), flush=True)


def write_provenance(args, s):
    import hashlib
    import safetensors
    import transformers

    def sha(p):
        return hashlib.sha256(Path(p).read_bytes()).hexdigest()

    out = Path(args.out)
    root = Path(__file__).resolve().parent.parent
    try:
        tgt_rel = str(Path(args.target).resolve().relative_to(root))
    except ValueError:
        tgt_rel = args.target
    argv = " ".join(a if a and " " not in a else repr(a) for a in sys.argv[1:])
    ev, ch = s["heldout"], s["chain_greedy"]
    ft = s["final_train"]
    repro = ""
    if s.get("probe_s_per_step") is not None:
        repro = (f"\nThe step count was fitted to the {args.time_budget_min:g}-minute budget from the first "
                 f"{args.probe_steps} steps ({s['probe_s_per_step']} s/step measured → {s['steps']} steps). "
                 f"To reproduce the run exactly pass `--steps {s['steps']}`.\n")
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    text = f"""# tiny-pystd-eagle — EAGLE-1/2 draft head for `{tgt_rel}`

Trained from scratch on CPU by `Tools/train_eagle_head.py` (recipe and architecture documented
there and in `Tools/eagle_head.py`). Official EAGLE layout: `config.json` + the same float16
tensors in `model.safetensors` and `pytorch_model.bin`.

## Command

```sh
export OMP_WAIT_POLICY=PASSIVE
python3 Tools/train_eagle_head.py{(' ' + argv) if argv else ''}
```
{repro}
## Environment

- python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__},
  safetensors {safetensors.__version__}, numpy {np.__version__}; {platform.machine()}, {args.threads} threads
  (`torch.set_num_threads`), shared 2-vCPU machine.
- target: `{tgt_rel}/model.safetensors` sha256 `{sha(Path(args.target) / 'model.safetensors')}`
  (run in float32, BF16 weights upcast; `{s['target_attn']}` attention for features).
- corpus: `Tools/.work/train.jsonl` / `heldout.jsonl` from `Tools/build_corpus.py`
  (documents = BOS text EOS, concatenated).

## Training

| | |
|---|---|
| steps | {s['steps']} (batch {s['batch']} × seq {s['seq_len']} = {s['pairs_seen']:,} (feature, token) pairs) |
| wall time | {s['train_wall_s']:.0f} s training ({s['train_wall_s'] / s['steps']:.2f} s/step), {s['eval_s']:.0f} s evaluation, {s['total_wall_s']:.0f} s whole command |
| optimiser | AdamW β=(0.9, 0.95), wd {s['weight_decay']}, peak lr {s['lr']}, linear warmup {s['warmup']} steps then linear decay to 0 |
| loss | {s['v_w']} × SmoothL1 + {s['p_w']} × soft-target CE |
| noise | uniform on input features: (U[0,1) − 0.5) · {s['noise_std']} · 512 / seq_len = {s['noise']} |
| grad clip | by value, {s['grad_clip_value']} |
| seed | {s['seed']} |
| head params | {s['head_params']:,} |

Final train losses (mean of the last 50 steps, with noise): vloss **{ft['vloss_mean_last50']:.4f}**,
ploss **{ft['ploss_mean_last50']:.4f}**, train top-1 (vs target greedy) {pct(ft['train_acc_mean_last50'])}.
Last step: vloss {ft['last_step_vloss']:.4f}, ploss {ft['last_step_ploss']:.4f}.

## Held-out evaluation (stored float16 head, upcast to float32; no noise)

{ev['windows']} non-overlapping windows of {s['seq_len']}+1 tokens of `heldout.jsonl` ({ev['pairs']:,} pairs).
Pair t = (f_t, x_{{t+1}}) with true target features; the draft predicts the token at position t+2.

| metric | value |
|---|---|
| vloss / ploss | {ev['vloss']:.4f} / {ev['ploss']:.4f} |
| **top-1: draft argmax == target argmax at t+1** (target's own greedy next-next token) | **{pct(ev['top1_vs_target_greedy'])}** |
| top-3 / top-5 contain the target argmax | {pct(ev['top3_vs_target_greedy'])} / {pct(ev['top5_vs_target_greedy'])} |
| draft argmax == corpus token x_{{t+2}} | {pct(ev['top1_vs_corpus_token'])} |
| (for scale) target argmax == corpus token x_{{t+2}} | {pct(ev['target_top1_vs_corpus_token'])} |

## Expected acceptance (greedy, T=0)

Measured, not modelled: {ch['prompts']} held-out prompts (BOS + {ch['prompt_len'] - 1} corpus tokens), the target
continues each greedily for {ch['gen_len']} tokens; from each of {ch['starts']:,} starts inside the continuation
the head drafts a chain of {ch['depth']} tokens autoregressively (its own predicted features fed
back, draft KV cache, positions t+j) and the leading draft tokens equal to the target's greedy
tokens are counted.

| depth k | 1 | 2 | 3 | 4 | 5 |
|---|---|---|---|---|---|
| P(accepted ≥ k) | {' | '.join(pct(v) for v in ch['P_accept_ge_k'])} |
| P(k-th accepted \\| k−1 accepted) | {' | '.join(pct(v) for v in ch['conditional_accept_k'])} |

Mean accepted draft tokens per step τ = **{ch['mean_accepted_tau']:.2f}** for a depth-5 chain, i.e.
**{ch['tokens_per_target_forward']:.2f} tokens per target forward** (chain = width-1 tree). A tree (EAGLE-1 static
/ EAGLE-2 dynamic, top-k siblings) accepts at least as much at every depth; top-3 at depth 1 is
{pct(ev['top3_vs_target_greedy'])} on corpus text. Depth-1 acceptance on the greedy continuations ({pct(ch['P_accept_ge_k'][0])})
and top-1 on corpus text ({pct(ev['top1_vs_target_greedy'])}) agree. On a CPU each extra verified token is not
free, so the useful tree is small; these numbers are for
sizing it, not a speed claim.

## Files

| file | sha256 |
|---|---|
| config.json | `{sha(out / 'config.json')}` |
| model.safetensors | `{sha(out / 'model.safetensors')}` |
| pytorch_model.bin | `{sha(out / 'pytorch_model.bin')}` |

Training is seeded; bit-identical weights are only expected on the same CPU, thread count and
library versions. Retraining the target (`Models/tiny-pystd`) invalidates this head: retrain it
and regenerate `Tests/Golden/eagle-head-tiny-pystd.json` (`Tools/make_head_goldens.py`).
"""
    (out / "PROVENANCE.md").write_text(text)


if __name__ == "__main__":
    main()

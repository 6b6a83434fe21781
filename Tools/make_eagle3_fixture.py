"""An 8-layer tiny target and a random EAGLE-3 head in the official layout, with goldens
from a PyTorch implementation of the EAGLE-3 head written after SafeAILab/EAGLE
`eagle/model/cnets.py` (the `Model` / `LlamaDecoderLayeremb` classes).

EAGLE-3 layout (what the loader must take unchanged):
  config.json        LlamaConfig keys, num_hidden_layers 1, draft_vocab_size, optional
                     target_hidden_size
  model.safetensors  fc.weight [hidden × 3·target_hidden] (no bias)
                     midlayer.hidden_norm.weight, midlayer.input_layernorm.weight,
                     midlayer.self_attn.{q,k,v}_proj.weight [· × 2·hidden],
                     midlayer.self_attn.o_proj.weight, midlayer.post_attention_layernorm.weight,
                     midlayer.mlp.{gate,up,down}_proj.weight, norm.weight,
                     lm_head.weight [draft_vocab × hidden], d2t (int64, draft id → target id
                     − draft id), t2d (bool, training only)

The target records the inputs of its layers 2, N/2 and N−3 (low to high) — 2, 4, 5 for
N = 8 — and the head's first pass fuses them with fc; later draft steps feed the head its
own pre-norm output. Every float is stored in BF16, so dtype bf16 and f32 hold the same
values and the reference (FP32 compute) is exact for both.

Writes Tests/Fixtures/models/tiny-llama-8layer/, Tests/Fixtures/models/tiny-eagle3-head/
and Tests/Golden/eagle3-head.json.

Run: OMP_WAIT_POLICY=PASSIVE python3 Tools/make_eagle3_fixture.py
"""
import json
import math
import pathlib

import torch
import transformers
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures" / "models"
GOLDEN = ROOT / "Tests" / "Golden"

VOCAB, HIDDEN, LAYERS, HEADS, KV_HEADS, INTER = 512, 64, 8, 4, 2, 128
DRAFT_VOCAB = 128
EPS, THETA = 1e-6, 10000.0


def bf16(t):
    return t.to(torch.bfloat16).float()


def make_target(out):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=256,
        rms_norm_eps=EPS, rope_theta=THETA, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(bf16(1 + 0.1 * torch.randn_like(p)))
            else:
                p.copy_(bf16(0.08 * torch.randn_like(p)))
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    save_file({n: t.to(torch.bfloat16).contiguous() for n, t in model.state_dict().items()},
              str(out / "model.safetensors"), metadata={"format": "pt"})
    return model


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rope(x, positions):
    """HF rotate-half RoPE over [heads, n, head_dim]."""
    d = x.shape[-1]
    inv = 1.0 / (THETA ** (torch.arange(0, d, 2).float() / d))
    freqs = torch.outer(positions.float(), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Head:
    """The EAGLE-3 draft head's forward, one pass of n rows over a KV cache."""

    def __init__(self, w):
        self.w = w
        self.keys = torch.zeros(KV_HEADS, 0, HIDDEN // HEADS)
        self.values = torch.zeros(KV_HEADS, 0, HIDDEN // HEADS)

    def forward(self, emb, hidden, positions):
        w, hd = self.w, HIDDEN // HEADS
        if hidden.shape[-1] != HIDDEN:          # target features: fuse the three layers
            hidden = hidden @ w["fc.weight"].T
        residual = hidden
        x = torch.cat((rms(emb, w["midlayer.input_layernorm.weight"]),
                       rms(hidden, w["midlayer.hidden_norm.weight"])), dim=-1)
        n = x.shape[0]
        q = (x @ w["midlayer.self_attn.q_proj.weight"].T).view(n, HEADS, hd).transpose(0, 1)
        k = (x @ w["midlayer.self_attn.k_proj.weight"].T).view(n, KV_HEADS, hd).transpose(0, 1)
        v = (x @ w["midlayer.self_attn.v_proj.weight"].T).view(n, KV_HEADS, hd).transpose(0, 1)
        q, k = rope(q, positions), rope(k, positions)
        past = self.keys.shape[1]
        self.keys = torch.cat((self.keys, k), dim=1)
        self.values = torch.cat((self.values, v), dim=1)
        keys = self.keys.repeat_interleave(HEADS // KV_HEADS, dim=0)
        values = self.values.repeat_interleave(HEADS // KV_HEADS, dim=0)
        scores = q @ keys.transpose(1, 2) / math.sqrt(hd)
        causal = torch.ones(n, past + n, dtype=torch.bool).tril(diagonal=past)
        scores = scores.masked_fill(~causal, float("-inf"))
        attn = (scores.softmax(-1) @ values).transpose(0, 1).reshape(n, HEADS * hd)
        h = residual + attn @ w["midlayer.self_attn.o_proj.weight"].T
        m = rms(h, w["midlayer.post_attention_layernorm.weight"])
        gate, up = m @ w["midlayer.mlp.gate_proj.weight"].T, m @ w["midlayer.mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * up) @ w["midlayer.mlp.down_proj.weight"].T
        logits = rms(h, w["norm.weight"]) @ w["lm_head.weight"].T
        return h, logits


def make_head(out):
    torch.manual_seed(1)
    w = {}
    w["fc.weight"] = 0.08 * torch.randn(HIDDEN, 3 * HIDDEN)
    for norm in ("hidden_norm", "input_layernorm", "post_attention_layernorm"):
        w[f"midlayer.{norm}.weight"] = 1 + 0.1 * torch.randn(HIDDEN)
    hd = HIDDEN // HEADS
    w["midlayer.self_attn.q_proj.weight"] = 0.08 * torch.randn(HEADS * hd, 2 * HIDDEN)
    w["midlayer.self_attn.k_proj.weight"] = 0.08 * torch.randn(KV_HEADS * hd, 2 * HIDDEN)
    w["midlayer.self_attn.v_proj.weight"] = 0.08 * torch.randn(KV_HEADS * hd, 2 * HIDDEN)
    w["midlayer.self_attn.o_proj.weight"] = 0.08 * torch.randn(HIDDEN, HEADS * hd)
    w["midlayer.mlp.gate_proj.weight"] = 0.08 * torch.randn(INTER, HIDDEN)
    w["midlayer.mlp.up_proj.weight"] = 0.08 * torch.randn(INTER, HIDDEN)
    w["midlayer.mlp.down_proj.weight"] = 0.08 * torch.randn(HIDDEN, INTER)
    w["norm.weight"] = 1 + 0.1 * torch.randn(HIDDEN)
    w["lm_head.weight"] = 0.3 * torch.randn(DRAFT_VOCAB, HIDDEN)
    w = {n: bf16(t) for n, t in w.items()}
    # The draft vocabulary: DRAFT_VOCAB target ids in increasing order (the official recipe
    # takes the most frequent ones; any increasing subset has the same layout).
    chosen = torch.sort(torch.randperm(VOCAB)[:DRAFT_VOCAB]).values
    d2t = chosen - torch.arange(DRAFT_VOCAB)
    t2d = torch.zeros(VOCAB, dtype=torch.bool)
    t2d[chosen] = True
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["LlamaForCausalLMEagle3"], "bias": False, "draft_vocab_size": DRAFT_VOCAB,
        "hidden_act": "silu", "hidden_size": HIDDEN, "intermediate_size": INTER,
        "max_position_embeddings": 256, "model_type": "llama", "num_attention_heads": HEADS,
        "num_hidden_layers": 1, "num_key_value_heads": KV_HEADS, "rms_norm_eps": EPS,
        "rope_theta": THETA, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "vocab_size": VOCAB,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tensors = {n: t.to(torch.bfloat16).contiguous() for n, t in w.items()}
    tensors["d2t"] = d2t.to(torch.int64).contiguous()
    tensors["t2d"] = t2d.contiguous()
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return w, chosen


def main():
    target = make_target(FIXTURES / "tiny-llama-8layer")
    w, chosen = make_head(FIXTURES / "tiny-eagle3-head")
    capture = sorted({2, LAYERS // 2, LAYERS - 3})
    prompt = torch.tensor([[1, 17, 301, 44, 5, 260, 77, 9, 130, 411, 8, 3]])
    with torch.no_grad():
        out = target(prompt, output_hidden_states=True)
        # hidden_states[l] is the input of layer l.
        features = torch.cat([out.hidden_states[l][0] for l in capture], dim=-1)
        embed = target.model.embed_tokens.weight
        head = Head(w)
        n = prompt.shape[1]
        # Commit pass: row i pairs token i+1 with the target's features of position i.
        h1, logits1 = head.forward(embed[prompt[0, 1:]], features[:-1], torch.arange(n - 1))
        # One draft step: the best draft of the last row, mapped to its target id, with the
        # head's own output as its feature, at the next position.
        draft = int(chosen[int(logits1[-1].argmax())])
        h2, logits2 = head.forward(embed[torch.tensor([draft])], h1[-1:], torch.tensor([n - 1]))
        greedy = target.generate(prompt, do_sample=False, max_new_tokens=24, min_new_tokens=24,
                                 eos_token_id=None, pad_token_id=0)
    golden = {
        "command": "OMP_WAIT_POLICY=PASSIVE python3 Tools/make_eagle3_fixture.py",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "capture_layers": capture,
        "prompt": prompt[0].tolist(),
        "features": [[round(float(v), 6) for v in row] for row in features],
        "target_logits": [[round(float(v), 6) for v in row] for row in out.logits[0]],
        "greedy": greedy[0, n:].tolist(),
        "commit_hidden": [[round(float(v), 6) for v in row] for row in h1],
        "commit_logits": [[round(float(v), 6) for v in row] for row in logits1],
        "draft_token": draft,
        "step_hidden": [round(float(v), 6) for v in h2[0]],
        "step_logits": [round(float(v), 6) for v in logits2[0]],
    }
    (GOLDEN / "eagle3-head.json").write_text(json.dumps(golden) + "\n")
    print("capture", capture, "draft", draft, "greedy", golden["greedy"][:8])


if __name__ == "__main__":
    main()

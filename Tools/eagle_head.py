#!/usr/bin/env python3
"""EAGLE-1/2 draft head for LLaMA-family targets: module, checkpoint I/O, reference forward.

Importable by Tools/train_eagle_head.py and Tools/make_head_goldens.py (run from the repo
root; the scripts put Tools/ on sys.path). Written from the published description of
EAGLE (SafeAILab/EAGLE, eagle/model/cnets1.py and cnets.py); no code copied.

Architecture (EAGLE-1 and EAGLE-2 heads are identical):

    e_{t+1} = embed(x_{t+1})                        # the TARGET's embedding, frozen
    h       = fc(cat(e_{t+1}, f_t))                 # Linear(2d -> d, bias=config["bias"]); embedding FIRST
    h       = h + attn(h)                           # NO input_layernorm (layer index 0 skips it)
    h       = h + mlp(post_attention_layernorm(h))  # SwiGLU, RMSNorm with config rms_norm_eps
    pred    = h                                     # no final norm: pred approximates f_{t+1}
    logits  = lm_head(pred)                         # the TARGET's lm_head, frozen

where f_t is the target's last hidden state after its final RMSNorm (the lm_head input,
`hidden_states[-1]` in transformers). The pair (f_t, x_{t+1}) sits at draft position t
(rotary position id t), with standard causal attention (GQA, HF rotate-half RoPE, rope
parameters from the head config = the target's).

Checkpoint layout (official): directory with config.json (LlamaConfig keys,
num_hidden_layers 1, bias, torch_dtype float16, rope_theta top level) and the weights in
model.safetensors and/or pytorch_model.bin with the names
    fc.weight [d, 2d], fc.bias [d],
    layers.0.self_attn.{q,k,v,o}_proj.weight, layers.0.mlp.{gate,up,down}_proj.weight,
    layers.0.post_attention_layernorm.weight
(an `embed_tokens.weight` found in a foreign checkpoint is ignored: the target's is used).

Public API:
    head_config_from_target(target_config, bias=True) -> dict   (config.json content)
    EagleHead(config_dict)                                      nn.Module
    load_head(dir, dtype=torch.float32) -> EagleHead            (fp16 weights upcast)
    save_head(head, dir, dtype=torch.float16)                   config.json + both weight files
    load_target(dir, dtype=torch.float32, attn_implementation="eager") -> frozen HF causal LM
    target_features(target, input_ids) -> (features, logits)
    forward(target, head, input_ids, features, position_ids=None, past=None, attn_mask=None)
        -> (pred_features, draft_logits, present)
"""
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

WEIGHT_NAMES = [
    "fc.weight", "fc.bias",
    "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.k_proj.weight",
    "layers.0.self_attn.v_proj.weight", "layers.0.self_attn.o_proj.weight",
    "layers.0.mlp.gate_proj.weight", "layers.0.mlp.up_proj.weight", "layers.0.mlp.down_proj.weight",
    "layers.0.post_attention_layernorm.weight",
]


# ----------------------------------------------------------------------------- config

def _rope_of(cfg) -> dict:
    """rope parameters of a transformers config (v5 `rope_parameters` or v4 `rope_theta`/`rope_scaling`)."""
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict) and "rope_theta" in rp:
        return dict(rp)
    out = {"rope_theta": float(getattr(cfg, "rope_theta", 10000.0)), "rope_type": "default"}
    rs = getattr(cfg, "rope_scaling", None)
    if rs:
        out.update(rs)
        out["rope_type"] = rs.get("rope_type", rs.get("type", "default"))
    return out


def head_config_from_target(target_config, bias: bool = True) -> dict:
    """config.json for a head drafting for `target_config` (a transformers LlamaConfig-like object)."""
    c = target_config
    d = c.hidden_size
    nh = c.num_attention_heads
    rope = _rope_of(c)
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "bias": bool(bias),
        "hidden_act": getattr(c, "hidden_act", "silu"),
        "hidden_size": d,
        "intermediate_size": c.intermediate_size,
        "num_attention_heads": nh,
        "num_key_value_heads": getattr(c, "num_key_value_heads", None) or nh,
        "num_hidden_layers": 1,
        "max_position_embeddings": c.max_position_embeddings,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": float(rope["rope_theta"]),
        "rope_scaling": None,
        "attention_bias": bool(getattr(c, "attention_bias", False)),
        "vocab_size": c.vocab_size,
        "bos_token_id": getattr(c, "bos_token_id", None),
        "eos_token_id": getattr(c, "eos_token_id", None),
        "pad_token_id": getattr(c, "pad_token_id", None),
        "initializer_range": getattr(c, "initializer_range", 0.02),
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "use_cache": True,
        "torch_dtype": "float16",
    }
    hd = getattr(c, "head_dim", None)
    if hd is not None and hd != d // nh:
        cfg["head_dim"] = hd
    if rope.get("rope_type", "default") != "default":
        cfg["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
    return cfg


# ----------------------------------------------------------------------------- module

def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class _Rope(nn.Module):
    """cos/sin tables from the head config, computed by transformers' own rope init (any rope type)."""

    def __init__(self, cfg: dict, head_dim: int):
        super().__init__()
        from transformers import LlamaConfig
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
        rp = {"rope_theta": cfg.get("rope_theta", 10000.0), "rope_type": "default"}
        if cfg.get("rope_scaling"):
            rs = dict(cfg["rope_scaling"])
            rs["rope_type"] = rs.pop("type", rs.get("rope_type", "default"))
            rp.update(rs)
        if rp["rope_type"] == "default":
            inv = 1.0 / (float(rp["rope_theta"]) ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
            scale = 1.0
        else:
            lc = LlamaConfig(hidden_size=cfg["hidden_size"], num_attention_heads=cfg["num_attention_heads"],
                             head_dim=head_dim, max_position_embeddings=cfg["max_position_embeddings"],
                             rope_parameters=rp)
            inv, scale = ROPE_INIT_FUNCTIONS[rp["rope_type"]](lc, None)
        self.register_buffer("inv_freq", inv.float(), persistent=False)
        self.scale = float(scale)

    def forward(self, position_ids):  # [B, n] -> cos, sin [B, n, head_dim] (float32)
        fr = position_ids[..., None].float() * self.inv_freq
        emb = torch.cat((fr, fr), dim=-1)
        return emb.cos() * self.scale, emb.sin() * self.scale


class _Attention(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or d // self.nh
        ab = bool(cfg.get("attention_bias", False))
        self.q_proj = nn.Linear(d, self.nh * self.hd, bias=ab)
        self.k_proj = nn.Linear(d, self.nkv * self.hd, bias=ab)
        self.v_proj = nn.Linear(d, self.nkv * self.hd, bias=ab)
        self.o_proj = nn.Linear(self.nh * self.hd, d, bias=ab)

    def forward(self, x, cos, sin, past=None, attn_mask=None):
        """x [B, n, d]; cos/sin [B, n, hd]; past = (k, v) [B, nkv, P, hd] (rotated keys) or None;
        attn_mask: bool [B or 1, n, P + n] (True = may attend) or None (all of past + causal over new)."""
        B, n, _ = x.shape
        q = self.q_proj(x).view(B, n, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, n, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, n, self.nkv, self.hd).transpose(1, 2)
        c, s = cos[:, None].to(q.dtype), sin[:, None].to(q.dtype)
        q = q * c + _rotate_half(q) * s
        k = k * c + _rotate_half(k) * s
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        present = (k, v)
        P = k.shape[2] - n
        rep = self.nh // self.nkv
        kk = k.repeat_interleave(rep, dim=1) if rep > 1 else k
        vv = v.repeat_interleave(rep, dim=1) if rep > 1 else v
        if attn_mask is None:
            if P == 0:
                o = F.scaled_dot_product_attention(q, kk, vv, is_causal=True)
            else:
                m = torch.ones(n, P + n, dtype=torch.bool, device=x.device).tril(P)
                o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=m)
        else:
            o = F.scaled_dot_product_attention(q, kk, vv, attn_mask=attn_mask[:, None])
        o = o.transpose(1, 2).reshape(B, n, self.nh * self.hd)
        return self.o_proj(o), present


class _MLP(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)
        assert cfg.get("hidden_act", "silu") == "silu", "only SwiGLU (silu) heads are supported"

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class _Layer(nn.Module):
    """LLaMA decoder layer with index 0: no input_layernorm."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.self_attn = _Attention(cfg)
        self.mlp = _MLP(cfg)
        self.post_attention_layernorm = _RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])

    def forward(self, h, cos, sin, past=None, attn_mask=None):
        a, present = self.self_attn(h, cos, sin, past, attn_mask)
        h = h + a
        h = h + self.mlp(self.post_attention_layernorm(h))
        return h, present


class EagleHead(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        assert cfg.get("num_hidden_layers", 1) == 1, "EAGLE-1/2 heads have one decoder layer"
        self.config = dict(cfg)
        d = cfg["hidden_size"]
        self.fc = nn.Linear(2 * d, d, bias=bool(cfg.get("bias", True)))
        self.layers = nn.ModuleList([_Layer(cfg)])
        hd = cfg.get("head_dim") or d // cfg["num_attention_heads"]
        self.rope = _Rope(cfg, hd)

    def forward(self, token_embeds, features, position_ids, past=None, attn_mask=None):
        """token_embeds = embed(x_{t+1}) [B, n, d]; features f_t [B, n, d]; position_ids [B, n].
        Returns (pred [B, n, d], present) where present = (k, v) of the one layer incl. past."""
        h = self.fc(torch.cat((token_embeds.to(features.dtype), features), dim=-1))
        cos, sin = self.rope(position_ids)
        h, present = self.layers[0](h, cos, sin, past, attn_mask)
        return h, present


# ----------------------------------------------------------------------------- I/O

def load_head(path, dtype=torch.float32) -> EagleHead:
    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    head = EagleHead(cfg)
    if (path / "model.safetensors").exists():
        from safetensors.torch import load_file
        sd = load_file(str(path / "model.safetensors"))
    else:
        sd = torch.load(str(path / "pytorch_model.bin"), map_location="cpu", weights_only=True)
    sd = {k: v for k, v in sd.items() if k != "embed_tokens.weight"}
    if not head.config.get("bias", True):
        assert "fc.bias" not in sd
    head.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True)
    return head.to(dtype).eval()


def save_head(head: EagleHead, path, dtype=torch.float16):
    """config.json + model.safetensors + pytorch_model.bin (same tensors, `dtype`)."""
    from safetensors.torch import save_file
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().to(dtype).contiguous().clone() for k, v in head.state_dict().items()}
    expected = [n for n in WEIGHT_NAMES if n != "fc.bias" or head.fc.bias is not None]
    assert sorted(sd) == sorted(expected), sorted(sd)
    sd = {k: sd[k] for k in expected}
    cfg = dict(head.config)
    cfg["torch_dtype"] = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}[dtype]
    (path / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    save_file(sd, str(path / "model.safetensors"), metadata={"format": "pt"})
    torch.save(sd, str(path / "pytorch_model.bin"))
    for f in ("config.json", "model.safetensors", "pytorch_model.bin"):
        os.chmod(path / f, 0o644)


def load_target(path, dtype=torch.float32, attn_implementation="eager"):
    """HF LLaMA-family causal LM, weights cast to `dtype` (BF16 stored -> float32), frozen, eval mode.
    Goldens use eager attention; training may use "sdpa" (same math, faster, ~1e-6 differences)."""
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation=attn_implementation)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


# ----------------------------------------------------------------------------- reference forward

@torch.no_grad()
def target_features(target, input_ids):
    """features f [B, n, d] = last hidden state after the final norm (lm_head input); logits [B, n, V]."""
    out = target(input_ids=input_ids, output_hidden_states=True, use_cache=False)
    return out.hidden_states[-1], out.logits


def forward(target, head, input_ids, features, position_ids=None, past=None, attn_mask=None):
    """Reference draft step.

    input_ids [B, n]: the tokens x_{t+1}; features [B, n, d]: f_t (same pair order);
    position_ids [B, n]: draft positions t (default: P .. P+n-1 with P = past length);
    past: (k, v) from a previous call or None; attn_mask: bool [B or 1, n, P+n], True = attend
    (default: every past entry + causal among the new ones; pass a tree mask for trees).
    Returns (pred_features [B, n, d], draft_logits [B, n, V] = target lm_head(pred), present).
    """
    B, n = input_ids.shape
    P = 0 if past is None else past[0].shape[2]
    if position_ids is None:
        position_ids = torch.arange(P, P + n, device=input_ids.device)[None].expand(B, n)
    emb = target.get_input_embeddings()(input_ids)
    pred, present = head(emb, features, position_ids, past, attn_mask)
    logits = target.get_output_embeddings()(pred.to(target.get_output_embeddings().weight.dtype))
    return pred, logits, present

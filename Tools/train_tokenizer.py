#!/usr/bin/env python3
"""Train the byte-level BPE tokenizer of the tiny-pystd fixture model.

Llama-3 style: Split pre-tokenizer with Llama-3's regex (isolated), then ByteLevel
(no prefix space, no regex of its own); ByteLevel decoder; TemplateProcessing
post-processor that prepends <|begin_of_text|> when add_special_tokens=True.
Vocabulary: 4096 entries in total, special tokens first (ids 0..4):
  0 <|begin_of_text|> (BOS)   1 <|end_of_text|> (EOS)   2 <|im_start|>
  3 <|im_end|>                4 <|pad|>
Saved with transformers' PreTrainedTokenizerFast.save_pretrained (tokenizer.json,
tokenizer_config.json, special_tokens_map.json if any) with a ChatML chat_template.

Usage: python Tools/train_tokenizer.py [--work Tools/.work] [--out Models/tiny-pystd]
"""
import argparse
import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

VOCAB_SIZE = 4096
BOS, EOS, IM_START, IM_END, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|pad|>"
SPECIALS = [BOS, EOS, IM_START, IM_END, PAD]
# Llama-3 / tiktoken cl100k pre-tokenization pattern.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def iter_texts(path: Path):
    with open(path) as f:
        for line in f:
            yield json.loads(line)["text"]


def patch_tokenizer_config(out: Path):
    """Make tokenizer_config.json self-contained and loadable by other readers.

    transformers 5 writes the template to chat_template.jinja and names the class
    "TokenizersBackend"; older transformers and other loaders (e.g. swift-transformers)
    look for `chat_template` in tokenizer_config.json and know "PreTrainedTokenizerFast".
    transformers 5 loads the patched file identically.
    """
    p = out / "tokenizer_config.json"
    cfg = json.loads(p.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg["chat_template"] = CHATML_TEMPLATE
    cfg["additional_special_tokens"] = [IM_START, IM_END]
    cfg["add_bos_token"] = True
    cfg["add_eos_token"] = False
    p.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


def main():
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=str(root / "Tools" / ".work"))
    ap.add_argument("--out", default=str(root / "Models" / "tiny-pystd"))
    args = ap.parse_args()

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(iter_texts(Path(args.work) / "train.jsonl"), trainer=trainer)
    bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0",
        pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
        special_tokens=[(BOS, bos_id)],
    )
    assert tok.get_vocab_size() == VOCAB_SIZE, tok.get_vocab_size()
    assert [tok.token_to_id(s) for s in SPECIALS] == list(range(len(SPECIALS)))

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END],
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHATML_TEMPLATE
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    patch_tokenizer_config(out)

    # Verify: reload and round-trip.
    t2 = AutoTokenizer.from_pretrained(str(out))
    samples = [
        "def foo(x):\n    return x * 2  # comment\n",
        "Hello, world! It's 2026 — naïve café 🙂\n\tTabs  and   spaces",
        "",
        "<|im_start|>user\nhi<|im_end|>\n",
    ]
    for s in samples:
        ids = t2(s, add_special_tokens=True)["input_ids"]
        assert ids[0] == bos_id, ids
        assert t2.decode(ids, skip_special_tokens=True) == s.replace("<|im_start|>", "").replace("<|im_end|>", "") or "<|im" in s, (s, t2.decode(ids))
        assert t2.decode(ids[1:]) == s, (s, t2.decode(ids[1:]))
        assert tok.encode(s, add_special_tokens=False).ids == ids[1:]
    chat = t2.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", repr(chat)
    assert t2.bos_token_id == bos_id and t2.eos_token_id == eos_id and t2.pad_token_id == tok.token_to_id(PAD)
    # Compression on held-out data.
    n_bytes = n_tok = 0
    for text in iter_texts(Path(args.work) / "heldout.jsonl"):
        n_bytes += len(text.encode())
        n_tok += len(tok.encode(text, add_special_tokens=False).ids)
    print(json.dumps({"vocab_size": tok.get_vocab_size(), "bos_id": bos_id, "eos_id": eos_id,
                      "heldout_bytes_per_token": round(n_bytes / n_tok, 3)}))


if __name__ == "__main__":
    main()

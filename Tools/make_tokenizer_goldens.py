#!/usr/bin/env python3
"""Build the tokenizer test fixtures and their golden vectors.

Fixtures (small tokenizers trained here with the `tokenizers` library, saved through
transformers' save_pretrained so the files look like real checkpoints'):

  Tests/Fixtures/tokenizers/sp-bpe/              Llama-2 style: Prepend+Replace normalizer, no
                                                 pre-tokenizer, BPE with byte_fallback and the 256
                                                 <0xNN> tokens, string merges, llama-2 chat template
  Tests/Fixtures/tokenizers/sp-metaspace/        Mistral-v0.3 style: Metaspace pre-tokenizer
                                                 (prepend_scheme first, split false), no normalizer,
                                                 vicuna chat template
  Tests/Fixtures/tokenizers/sp-metaspace-legacy/ pre-0.14 tokenizers JSON: Metaspace with
                                                 add_prefix_space (prepend always, split), Metaspace
                                                 decoder, no byte fallback (unknowns fuse into <unk>)
  Tests/Fixtures/tokenizers/llama3-bpe/          Llama-3 style: Split(regex, isolated) + ByteLevel,
                                                 ignore_merges, <|begin_of_text|>, chat template in
                                                 chat_template.jinja (as transformers 5 saves it)
  Tests/Fixtures/tokenizers/gpt2-bpe/            GPT-2 style: ByteLevel(use_regex), added tokens with
                                                 lstrip/rstrip/single_word, ChatML template

Golden vectors: Tests/Golden/tokenizer-<name>.json, from the `tokenizers` library (the
reference semantics of tokenizer.json) and transformers' apply_chat_template; plus
Tests/Golden/tokenizer-pretokenize.json (regex pre-tokenizer splits of random strings) and,
when /work/main/Models/tiny-pystd (or --tiny-pystd DIR) exists, tokenizer-tiny-pystd.json.

Deterministic: fixed stdlib files as corpus, fixed random seeds. Run from anywhere:
  OMP_WAIT_POLICY=PASSIVE python3 Tools/make_tokenizer_goldens.py
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import random
import shutil
import sys
import textwrap
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "Fixtures" / "tokenizers"
GOLDEN = ROOT / "Tests" / "Golden"

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# --- chat templates (the published Jinja sources) ------------------------------------------

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

# FastChat's vicuna_v1.1 conversation (ADD_COLON_TWO, sep " ", sep2 "</s>") as Jinja.
VICUNA_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = 'A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user\\'s questions.' %}{% endif %}"
    "{{ bos_token + system_message + ' ' }}{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}{{ 'USER: ' + message['content'] + ' ' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' + message['content'] + eos_token }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Variants that the same markers detect, rendered from their published sources' no-tools path:
# Llama-3.1/3.3-instruct (system header with the knowledge-cutoff preamble, always emitted) and
# Qwen2-instruct (ChatML with a default system message).
LLAMA31_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}\n"
    "{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}\n"
    "{%- if not tools is defined %}{%- set tools = none %}{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "{%- for message in messages %}\n"
    "    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n"
)

QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

TEMPLATE_VARIANTS = {"llama3-bpe": [LLAMA31_TEMPLATE], "gpt2-bpe": [QWEN2_TEMPLATE]}

# --- corpus ------------------------------------------------------------------------------

CORPUS_MODULES = ["textwrap", "string", "shlex", "fnmatch", "glob", "colorsys", "bisect", "heapq"]
EXTRA_TEXT = """\
The café's naïve résumé was über-long. Größe, façade, jalapeño, déjà vu, coöperate.
I'm sure they'll say it's fine; we've done it, you'd agree, isn't it? DON'T SHOUT.
Numbers: 0 1 2 3 42 1999 2024 3.14159 1,000,000 and 10^6.
    Indented line with    several   spaces\tand\ttabs.
"""


def corpus_lines():
    lines = []
    for name in CORPUS_MODULES:
        mod = __import__(name)
        lines.extend(Path(mod.__file__).read_text(encoding="utf-8").splitlines(keepends=True))
    lines.extend(EXTRA_TEXT.splitlines(keepends=True) * 20)
    return lines


# --- tokenizer construction -----------------------------------------------------------------

BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def train_sentencepiece_like(vocab_size=1000):
    """BPE trained on ▁-prefixed words (what SentencePiece does), then laid out like Llama-2:
    <unk>=0, <s>=1, </s>=2, <0x00>..<0xFF>=3..258, learned pieces after."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[],
                                  min_frequency=2, show_progress=False)
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    learned = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for t in BYTE_TOKENS:
        vocab[t] = len(vocab)
    for t, _ in learned:
        if t not in vocab:
            vocab[t] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return vocab, merges


def sp_specials():
    return [AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")]


def sp_post_processor():
    return processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1",
                                         special_tokens=[("<s>", 1)])


def llama_decoder():
    return decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                              decoders.Strip(content=" ", left=1, right=0)])


def build_sp_bpe(vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = None
    tok.decoder = llama_decoder()
    tok.post_processor = sp_post_processor()
    tok.add_special_tokens(sp_specials())
    return tok


def build_sp_metaspace(vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = llama_decoder()
    tok.post_processor = sp_post_processor()
    tok.add_special_tokens(sp_specials())
    return tok


def build_sp_metaspace_legacy(vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = sp_post_processor()
    tok.add_special_tokens(sp_specials())
    return tok


LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]


def build_llama3(vocab_size=1000):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIALS])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|>:1 $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok


def build_gpt2(vocab_size=1000):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    tok.add_special_tokens([
        AddedToken("<|endoftext|>", special=True, normalized=False),
        AddedToken("<|im_start|>", special=True, normalized=False),
        AddedToken("<|im_end|>", special=True, normalized=False),
        AddedToken("<mask>", special=True, normalized=False, lstrip=True),
        AddedToken("<sep>", special=True, normalized=False, rstrip=True),
    ])
    tok.add_tokens([
        AddedToken("xyzzy", special=False, normalized=True, single_word=True),
        AddedToken(" plugh", special=False, normalized=True),
    ])
    return tok


def save(tok, name, *, config, template=None, template_in_jinja=False):
    """Save through transformers, then make tokenizer_config.json look like the era's real ones."""
    from transformers import PreTrainedTokenizerFast

    out = FIXTURES / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, clean_up_tokenization_spaces=False,
                                   **{k: v for k, v in config.items() if k.endswith("_token")})
    if template is not None:
        fast.chat_template = template
    fast.save_pretrained(str(out))
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(config)
    jinja = out / "chat_template.jinja"
    if template is not None and not template_in_jinja:
        cfg["chat_template"] = template
        if jinja.exists():
            jinja.unlink()
    elif template is not None:
        cfg.pop("chat_template", None)
        jinja.write_text(template)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    for extra in ("special_tokens_map.json",):
        if (out / extra).exists():
            (out / extra).unlink()
    return out


def rewrite_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# --- golden inputs ---------------------------------------------------------------------------

TRICKY = [
    "", " ", "  ", "    ", "\t", "\n", "\n\n", " \n ", "\r\n", "a\r\nb", "\t\tindented\n",
    "hello", "Hello world", "Hello, world!", " leading", "trailing ", "  both  ", "   \n\n  x  ",
    "multiple   spaces   here", "tabs\tand\nnewlines\r\nmixed \t \n", "word\n\n\nword", "a \n\t b",
    "café naïve résumé", "Ünïcödé ÀÉÎÕÜ", "straße Größe", "日本語のテキスト", "中文 简体", "한국어 텍스트",
    "emoji 😀", "family 👨‍👩‍👧‍👦 ok", "flags 🇯🇵🇺🇸", "thumbs 👍🏽", "combining e\u0301 a\u0308 n\u0303",
    "Z\u0351\u0327alg\u0327o", "\u0301leading mark",
    "12345678901234567890", "3.14159 1,000,000 -42 +7", "x1y22z333w4444", "٣٤٥ ½ Ⅻ",
    "I'm don't WE'LL they've she'd it's", "'s 'S 'T 'Re 'vE 'M 'LL 'D", "it'ſ", "rock 'n' roll''",
    "def foo(x):\n    return x * 2\n\n\nclass A:\n\tpass\n",
    "if (a && b) { return c->d[0]; } // ok?!",
    "    for i in range(10):\n        print(i)  # comment\n",
    "hi<|im_end|>there", "<|im_start|>user\nhi<|im_end|>\n", "a <s> b", "<s>", "</s>", "<s>hello</s>",
    "x<s>y", "<s> <s>", "<|begin_of_text|>x", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\nq",
    "text with <unk> inside", "<|endoftext|>", "end<|endoftext|>", "<mask>", "a   <mask>  b", "a <sep>   b",
    "xyzzy", "an xyzzy here", "axyzzy xyzzyb", "xyzzy!", "say plugh now", "plugh", "<0x41>", "▁", "▁▁x",
    "Ġhello", "\u0000\u0001\u001f", "\u007f", "\u00ff\u00fe", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Ωmega ∑ ∫ ≠ ≤", "…—–“quoted”‘single’",
    "a\u00a0b", "a\u3000b", "a\u2028b", "a\u0085b", "a\u200bb", "\ufeffbom", "x\u000by\u000cz", "\u001c\u001d",
    "!!!", "?!... ...", "a-b_c/d\\e", "https://example.com/path?q=1&r=2#frag", "<<SYS>>\nsys\n<</SYS>>",
    "[INST] hi [/INST]", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "the the the the the", "   \u00a0 ",
    "mixed 中文 and English 123", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "עברית", "Ελληνικά",
]


def random_strings(seed, n):
    rng = random.Random(seed)
    pool = (list("abcXYZ019 '\t\n\r!?.,-_") + ["'s", "'LL", " ", "  ", "\n\n", "é", "e\u0301", "ß", "日", "😀",
                                                 "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "٣", "½",
                                                 "\u0301", "\u000b", "\u001c", "ſ", "İ", "Ⅻ", "<s>", "▁"])
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 24))) for _ in range(n)]


CONVERSATIONS = [
    ([{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "2+2 is 4."}], True),
    ([{"role": "system", "content": "You are a helpful assistant."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "2+2 is 4."}], False),
    ([{"role": "user", "content": "Hi there"}], True),
    ([{"role": "user", "content": "  spaced out \n"},
      {"role": "assistant", "content": "\tok  "},
      {"role": "user", "content": "again: 日本語 😀"}], True),
    ([{"role": "system", "content": " Be brief.\n"},
      {"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
      {"role": "user", "content": "three"}, {"role": "assistant", "content": "four"}], True),
]


def gen_goldens(name, tok_dir, hf_tok, random_seed):
    """hf_tok: the tokenizers.Tokenizer loaded from tok_dir/tokenizer.json."""
    from transformers import AutoTokenizer

    tf = AutoTokenizer.from_pretrained(str(tok_dir))
    texts = TRICKY + random_strings(random_seed, 40)
    corpus = Path(textwrap.__file__).read_text(encoding="utf-8")
    texts.append(corpus[2000:4000])
    cases, mismatches = [], 0
    for text in texts:
        ids = hf_tok.encode(text, add_special_tokens=True).ids
        ids_plain = hf_tok.encode(text, add_special_tokens=False).ids
        tf_ids = tf(text, add_special_tokens=True)["input_ids"]
        if tf_ids != ids:
            mismatches += 1
        cases.append({
            "text": text, "ids": ids, "ids_no_special": ids_plain,
            "decoded": hf_tok.decode(ids, skip_special_tokens=True),
            "decoded_with_special": hf_tok.decode(ids, skip_special_tokens=False),
        })
    if mismatches:
        print(f"note: {name}: transformers {type(tf).__name__} disagrees with tokenizer.json on {mismatches} strings",
              file=sys.stderr)
    # Decoding of arbitrary id sequences: byte runs cut mid-character, invalid UTF-8, specials anywhere.
    rng = random.Random(random_seed + 1)
    vsize = hf_tok.get_vocab_size(with_added_tokens=True)
    specials = sorted(t.content for t in hf_tok.get_added_tokens_decoder().values())
    byte_ids = [hf_tok.token_to_id(t) for t in BYTE_TOKENS if hf_tok.token_to_id(t) is not None]
    seqs = [[i] for i in range(min(vsize, 12))]
    utf8 = "日é😀".encode()
    if byte_ids:
        seqs += [[byte_ids[b] for b in utf8[:k]] for k in range(1, len(utf8) + 1)]
        seqs += [[byte_ids[0xE6], byte_ids[0x97]], [byte_ids[0xFF]], [byte_ids[0x80], byte_ids[0x41]],
                 [byte_ids[0xC3], byte_ids[0xA9], byte_ids[0xFF], byte_ids[0x41]]]
    else:
        single = {}
        for tid in range(vsize):
            t = hf_tok.id_to_token(tid)
            if t is not None and len(t) == 1 and t not in single:
                single[t] = tid
        b2u = bytes_to_unicode()
        bl = [single.get(b2u[b]) for b in range(256)]
        seqs += [[bl[b] for b in utf8[:k]] for k in range(1, len(utf8) + 1)]
        seqs += [[bl[0xE6], bl[0x97]], [bl[0xFF]], [bl[0x80], bl[0x41]], [bl[0xC3], bl[0xA9], bl[0xFF], bl[0x41]],
                 [bl[0xF0], bl[0x9F]], [bl[0xED], bl[0xA0], bl[0x80]]]
    for _ in range(60):
        n = rng.randint(1, 16)
        pool = byte_ids if (byte_ids and rng.random() < 0.4) else None
        seqs.append([rng.choice(pool) if pool and rng.random() < 0.7 else rng.randrange(vsize) for _ in range(n)])
    decode_cases = [{"ids": s, "skip_special": hf_tok.decode(s, skip_special_tokens=True),
                     "keep_special": hf_tok.decode(s, skip_special_tokens=False)} for s in seqs]
    chats = []
    for messages, gen in CONVERSATIONS:
        if tf.chat_template is None:
            break
        try:
            rendered = tf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            chats.append({"messages": messages, "add_generation_prompt": gen, "rendered": rendered})
        except Exception as e:  # llama-2 rejects non-alternating roles
            chats.append({"messages": messages, "add_generation_prompt": gen, "error": str(e)})
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    if tf.chat_template is not None:
        try:
            rendered = tf.apply_chat_template(bad, tokenize=False, add_generation_prompt=True)
            chats.append({"messages": bad, "add_generation_prompt": True, "rendered": rendered})
        except Exception as e:
            chats.append({"messages": bad, "add_generation_prompt": True, "error": str(e)})
    variants = []
    for source in TEMPLATE_VARIANTS.get(name, []):
        tf.chat_template = source
        for messages, gen in CONVERSATIONS[:4]:
            variants.append({"template": source, "messages": messages, "add_generation_prompt": gen,
                             "rendered": tf.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)})
    added = [{"id": i, "content": t.content, "special": t.special}
             for i, t in sorted(hf_tok.get_added_tokens_decoder().items())]
    golden = {
        "name": name,
        "generator": "Tools/make_tokenizer_goldens.py",
        "versions": {"tokenizers": tokenizers.__version__, "transformers": transformers.__version__},
        "vocab_size": vsize,
        "bos_token": tf.bos_token, "bos_token_id": tf.bos_token_id,
        "eos_token": tf.eos_token, "eos_token_id": tf.eos_token_id,
        "added_tokens": added,
        "cases": cases,
        "decode_cases": decode_cases,
        "chat": chats,
        "chat_variants": variants,
    }
    path = GOLDEN / f"tokenizer-{name}.json"
    path.write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(ROOT)}: {len(cases)} strings, {len(decode_cases)} decode cases, "
          f"{len(chats)} chats; vocab {vsize}")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_unicode_tables(classes):
    """\\p{L} / \\p{N} as onig knows them, so the Swift scanners agree with the reference even
    where the Swift runtime's Unicode version assigns newer characters."""
    def literal(ranges):
        rows = []
        for k in range(0, len(ranges), 6):
            rows.append("        " + " ".join(f"0x{lo:05X}, 0x{hi:05X}," for lo, hi in ranges[k:k + 6]))
        return "\n".join(rows)
    text = f"""// Generated by Tools/make_tokenizer_goldens.py from tokenizers {tokenizers.__version__} (onig). Do not edit.

/// Character classes of the split regexes as the reference's regex engine sees them:
/// sorted, disjoint, inclusive code point ranges, flattened as [lo, hi, lo, hi, …].
enum UnicodeTables {{
    /// \\p{{L}}
    static let letterRanges: [UInt32] = [
{literal(classes["L"])}
    ]

    /// \\p{{N}}
    static let numberRanges: [UInt32] = [
{literal(classes["N"])}
    ]
}}
"""
    path = ROOT / "Sources" / "Tokenization" / "UnicodeTables.swift"
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT)}")


def gen_pretokenize_goldens():
    rng_texts = TRICKY + random_strings(7, 300)
    out = {}
    for name, pattern in (("llama3", LLAMA3_PATTERN), ("gpt2", GPT2_PATTERN)):
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
        out[name] = {"pattern": pattern,
                     "cases": [{"text": t, "pieces": [p for p, _ in split.pre_tokenize_str(t)]} for t in rng_texts]}
    # The character classes the patterns use, as onig (the tokenizers regex engine) sees them:
    # inclusive code point ranges.
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    classes = {}
    for cls, pattern in (("L", r"\p{L}+"), ("N", r"\p{N}+"), ("s", r"\s+")):
        keep = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)
        ranges = []
        for piece, _ in keep.pre_tokenize_str(everything):
            lo, hi = ord(piece[0]), ord(piece[-1])
            if ranges and ranges[-1][1] + 1 == lo:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        classes[cls] = ranges
    out["classes"] = classes
    write_unicode_tables(classes)
    path = GOLDEN / "tokenizer-pretokenize.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny-pystd", default=None,
                    help="directory of the tiny-pystd model (default: Models/tiny-pystd, else /work/main/Models/tiny-pystd)")
    args = ap.parse_args()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    GOLDEN.mkdir(parents=True, exist_ok=True)

    vocab, merges = train_sentencepiece_like()
    llama_cfg = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
                 "add_eos_token": False, "legacy": True, "tokenizer_class": "LlamaTokenizer",
                 "clean_up_tokenization_spaces": False, "model_max_length": 4096}

    d = save(build_sp_bpe(vocab, merges), "sp-bpe", config=llama_cfg, template=LLAMA2_TEMPLATE)

    def string_merges(data):  # Llama-2 era files spell merges "a b"
        data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    rewrite_json(d / "tokenizer.json", string_merges)
    gen_goldens("sp-bpe", d, Tokenizer.from_file(str(d / "tokenizer.json")), 101)

    d = save(build_sp_metaspace(vocab, merges), "sp-metaspace", config={**llama_cfg, "legacy": False},
             template=VICUNA_TEMPLATE)
    gen_goldens("sp-metaspace", d, Tokenizer.from_file(str(d / "tokenizer.json")), 202)

    d = save(build_sp_metaspace_legacy(vocab, merges), "sp-metaspace-legacy", config=llama_cfg,
             template=VICUNA_TEMPLATE)

    def legacy_metaspace(data):  # tokenizers < 0.14 wrote add_prefix_space, no prepend_scheme/split
        legacy = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
        data["pre_tokenizer"] = dict(legacy)
        data["decoder"] = dict(legacy)
        string_merges(data)
    rewrite_json(d / "tokenizer.json", legacy_metaspace)
    gen_goldens("sp-metaspace-legacy", d, Tokenizer.from_file(str(d / "tokenizer.json")), 303)

    d = save(build_llama3(), "llama3-bpe",
             config={"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                     "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": True,
                     "model_max_length": 8192},
             template=LLAMA3_TEMPLATE, template_in_jinja=True)
    gen_goldens("llama3-bpe", d, Tokenizer.from_file(str(d / "tokenizer.json")), 404)

    d = save(build_gpt2(), "gpt2-bpe",
             config={"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                     "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                     "clean_up_tokenization_spaces": False, "model_max_length": 1024},
             template=CHATML_TEMPLATE)
    gen_goldens("gpt2-bpe", d, Tokenizer.from_file(str(d / "tokenizer.json")), 505)

    gen_pretokenize_goldens()

    tiny = Path(args.tiny_pystd) if args.tiny_pystd else ROOT / "Models" / "tiny-pystd"
    if not (tiny / "tokenizer.json").exists():
        tiny = Path("/work/main/Models/tiny-pystd")
    if (tiny / "tokenizer.json").exists():
        gen_goldens("tiny-pystd", tiny, Tokenizer.from_file(str(tiny / "tokenizer.json")), 606)
    else:
        print("tiny-pystd not found; skipped its goldens")

    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file():
            assert p.stat().st_size <= 300_000, (p, p.stat().st_size)


if __name__ == "__main__":
    main()

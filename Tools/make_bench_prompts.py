"""Held-out prompts for the EAGLE benchmark and the lossless tests.

Takes 24 snippets from the held-out half of the corpus (files the model and the head were
not trained on): for each held-out file in order, the text up to a line break near a
chosen offset (so prompts start at different kinds of code: docstrings, defs, bodies).
Writes Tests/Golden/bench-prompts.json (a JSON array of strings).

Run after Tools/build_corpus.py:  python3 Tools/make_bench_prompts.py
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
docs = [json.loads(line)["text"] for line in open(ROOT / "Tools/.work/heldout.jsonl")]
prompts = []
for i, text in enumerate(docs):
    for offset in (400, 2500):
        if len(prompts) == 24 or len(text) < offset + 200:
            continue
        start = text.rfind("\n", 0, offset) + 1
        end = text.find("\n", start + 120)
        prompts.append(text[start:end + 1] if end > 0 else text[start:start + 160])
(ROOT / "Tests/Golden/bench-prompts.json").write_text(json.dumps(prompts, indent=1))
print(len(prompts), "prompts")

#!/usr/bin/env python3
"""Build the training corpus for the tiny-pystd fixture model.

Source: the *.py files of the Python standard library on this machine
(sysconfig.get_paths()["stdlib"]), walked in sorted order, skipping test suites,
idlelib, site-packages and a few other directories. Every HELD_OUT_EVERY-th file
(by sorted index) goes to the held-out split.

Outputs in the build directory (default Tools/.work/):
  train.jsonl, heldout.jsonl   one JSON object per line: {"path": ..., "text": ...}
  corpus_stats.json            file/byte counts per split

Documents are kept separate; train_model.py joins them with the EOS token.

Usage: python Tools/build_corpus.py [--out Tools/.work] [--held-out-every 20]
"""
import argparse
import json
import os
import sysconfig
from pathlib import Path

SKIP_DIRS = {
    "test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__",
    "lib2to3", "turtledemo", "ensurepip", "tkinter", "config-3.11-x86_64-linux-gnu",
}
MAX_FILE_BYTES = 400_000  # skip giant generated files (e.g. pydoc_data/topics.py)


def collect(stdlib: Path):
    files = []
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("test"))
        for n in sorted(names):
            if n.endswith(".py") and not n.startswith("test_"):
                files.append(Path(root) / n)
    files.sort(key=lambda p: p.relative_to(stdlib).as_posix())
    return files


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(here / ".work"))
    ap.add_argument("--held-out-every", type=int, default=20)
    args = ap.parse_args()

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stats = {"stdlib": str(stdlib), "held_out_every": args.held_out_every,
             "train": {"files": 0, "bytes": 0}, "heldout": {"files": 0, "bytes": 0},
             "skipped_large": []}
    with open(out / "train.jsonl", "w") as ftr, open(out / "heldout.jsonl", "w") as fho:
        idx = 0
        for p in collect(stdlib):
            raw = p.read_bytes()
            if len(raw) > MAX_FILE_BYTES:
                stats["skipped_large"].append(p.relative_to(stdlib).as_posix())
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            text = text.replace("\r\n", "\n")
            if not text.strip():
                continue
            split = "heldout" if idx % args.held_out_every == args.held_out_every - 1 else "train"
            rec = {"path": p.relative_to(stdlib).as_posix(), "text": text}
            (fho if split == "heldout" else ftr).write(json.dumps(rec) + "\n")
            stats[split]["files"] += 1
            stats[split]["bytes"] += len(text.encode("utf-8"))
            idx += 1
    (out / "corpus_stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(json.dumps({k: stats[k] for k in ("train", "heldout", "skipped_large")}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Regenerates test/fixtures/torch-scores/: the scorer's output on the tiny random Llama that
test/fixtures/exports/optimum/llama was exported from, on fixed token ids. CI has no Python, so
the JSON is committed and test/tools/torch-scores.test.ts compares it with onnx-opt's own scores
on the same tokens and the ONNX export.

  python tools/torch-scores/make_fixture.py [--hf /tmp/onnx-opt-exports/hf/llama]

Without --hf (or when the folder is missing) the checkpoint is rebuilt with
scripts/exports/archs.py's seeded build_model, exactly as make_exports.py built it.
"""
import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test" / "fixtures" / "torch-scores"
sys.path.insert(0, str(ROOT / "tools" / "torch-scores"))
sys.path.insert(0, str(ROOT / "scripts" / "exports"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hf", default="/tmp/onnx-opt-exports/hf/llama")
    args = ap.parse_args()
    hf = Path(args.hf)
    if not (hf / "config.json").exists():
        import archs as A

        arch = next(a for a in A.ARCHS if a.name == "llama")
        hf = OUT / "_hf-llama"
        A.build_model(arch).save_pretrained(hf, safe_serialization=True)
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    # Token ids 4..127 (past the tiny tokenizer's specials), uneven lengths to exercise padding.
    seqs = [[rng.randrange(4, 128) for _ in range(n)] for n in (16, 16, 12, 16)]
    tokens = OUT / "tokens.jsonl"
    tokens.write_text("".join(json.dumps(s) + "\n" for s in seqs))
    import torch_scores

    torch_scores.main(["--model", str(hf), "--tokens", str(tokens), "--kl", "--batch-size", "2",
                       "--matrix-runs", "1-3", "--remove-attention", "2,3", "--out", str(OUT / "optimum-llama.scores.json")])
    # Machine-independent provenance in the committed file.
    out = OUT / "optimum-llama.scores.json"
    doc = json.loads(out.read_text())
    doc["producer"]["model"] = "tiny random llama of test/fixtures/exports (scripts/exports/archs.py, seed 1234)"
    doc["producer"]["calibration"] = doc["producer"]["calibration"].replace(str(ROOT) + "/", "")
    out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()

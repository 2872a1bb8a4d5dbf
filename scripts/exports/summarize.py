#!/usr/bin/env python3
"""Prints the markdown table of test/fixtures/exports/manifest.json (pasted into the README)."""

import json
from pathlib import Path

man = json.loads((Path(__file__).resolve().parents[2] / "test/fixtures/exports/manifest.json").read_text())
archs = []
for e in man["exports"]:
    if e["arch"] not in archs:
        archs.append(e["arch"])
cols = [("optimum", "no-kv"), ("optimum", "kv"), ("genai", "fp32"), ("genai", "int4"), ("dynamo", "no-kv"), ("dynamo", "kv")]


def key(e):
    if e["exporter"] == "genai":
        return e["exporter"], e["variant"]["precision"]
    return e["exporter"], "kv" if e["variant"]["kv"] else "no-kv"


cell = {}
for e in man["exports"]:
    s = e["status"]
    if s in ("ok", "close", "mismatch"):
        d = max(x["ort_max_abs_diff"]["logits"] for x in e["references"]["original"]["sets"])
        refs = "+P" if "parallel-ffn-1-2" in e["references"] else ""
        s = f"{s} {d:.0e} {round(e['size_bytes'] / 1024)}K{refs}"
    cell[(e["arch"], *key(e))] = s
print("| arch | " + " | ".join(f"{a} {b}" for a, b in cols) + " |")
print("| --- " * (len(cols) + 1) + "|")
for a in archs:
    print(f"| {a} | " + " | ".join(cell.get((a, *c), "—") for c in cols) + " |")

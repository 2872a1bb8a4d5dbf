#!/usr/bin/env python3
"""Builds tiny random HF decoders and exports them with the real exporters, with torch references.

    python scripts/exports/make_exports.py --exporter optimum --arch llama,qwen2
    python scripts/exports/make_exports.py --exporter genai --arch all
    python scripts/exports/make_exports.py --exporter dynamo --arch all

Writes test/fixtures/exports/<exporter>/<arch>[-kv|-int4]/ (model.onnx, the companion files the
exporter writes, references/<variant>/test_data_set_N) and merges an entry per export (or per
failure) into test/fixtures/exports/manifest.json. See test/fixtures/exports/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO = HERE.parent.parent
FIXTURES = REPO / "test" / "fixtures" / "exports"
WORK = Path(os.environ.get("EXPORTS_WORK", Path(tempfile.gettempdir()) / "onnx-opt-exports"))

import onnx  # noqa: E402
import torch  # noqa: E402

import archs as A  # noqa: E402
import refs  # noqa: E402

torch.set_num_threads(1)


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for p in ["torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxscript", "onnx-ir", "onnxruntime",
              "onnxruntime-genai", "huggingface-hub", "tokenizers", "safetensors", "numpy"]:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            pass
    for k, v in json.loads(os.environ.get("EXPORTS_COMMITS", "{}")).items():
        out[k] = v
    return out


def tiny_tokenizer():
    """A 128-token character-level tokenizer (ids 0-3 special, then printable ASCII), so that the
    exporters that load a tokenizer (the genai builder) have one; ~4 KB of tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for c in range(32, 127):
        vocab[chr(c)] = len(vocab)
    while len(vocab) < A.VOCAB:
        vocab[f"<extra_{len(vocab)}>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>")


def hf_folder(arch: A.Arch):
    model = A.build_model(arch)
    d = WORK / "hf" / arch.name
    if d.exists():
        shutil.rmtree(d)
    model.save_pretrained(d, safe_serialization=True)
    tiny_tokenizer().save_pretrained(d)
    return model, d


def save_inline(src: Path, dst: Path) -> None:
    m = onnx.load(str(src), load_external_data=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(m, str(dst), save_as_external_data=False)


def io_names(path: Path) -> dict:
    g = onnx.load(str(path), load_external_data=False).graph
    init = {i.name for i in g.initializer}

    def dims(vi):
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]

    return {
        "inputs": [{"name": i.name, "dtype": onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type), "shape": dims(i)}
                   for i in g.input if i.name not in init],
        "outputs": [{"name": o.name, "dtype": onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type), "shape": dims(o)}
                    for o in g.output],
    }


def op_counts(path: Path) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    counts: dict = {}
    for n in m.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        counts[key] = counts.get(key, 0) + 1
    return {"opset": {o.domain or "ai.onnx": o.version for o in m.opset_import}, "nodes": len(m.graph.node), "ops": counts}


def finish(entry: dict, model, arch: A.Arch, out: Path, kv: bool, atol: float, attn_impl: str = "eager", patch=None) -> dict:
    """Records the export's signature and ops, and writes its torch references (computed with `attn_impl`)."""
    mp = out / "model.onnx"
    cfg = model.config
    entry["hidden_size"] = cfg.hidden_size
    entry["num_attention_heads"] = cfg.num_attention_heads
    entry["num_key_value_heads"] = 1 if getattr(cfg, "multi_query", False) else (getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)
    model.set_attn_implementation(attn_impl)
    entry["reference_attn_implementation"] = attn_impl
    entry.update(io_names(mp))
    entry.update(op_counts(mp))
    entry["files"] = sorted(str(p.relative_to(out)) for p in out.iterdir() if p.is_file())
    entry["size_bytes"] = mp.stat().st_size
    if patch is not None:
        entry["reference_patch"] = " ".join(patch.__doc__.split())
    r = refs.make_references(model, arch, mp, out, kv, atol, patch)
    entry["references"] = r["variants"]
    if r["problems"]:
        entry["problems"] = r["problems"]
    worst = max(s.get("ort_max_abs_diff", {}).get("logits", float("inf")) for s in r["variants"]["original"]["sets"])
    if all(s.get("ort_matches") for s in r["variants"]["original"]["sets"]):
        entry["status"] = "ok"
    elif worst <= 2e-3:
        entry["status"] = "close"  # the graph differs from torch by more than 1e-4 (see ort_max_abs_diff)
    else:
        entry["status"] = "mismatch"
    if not logits_read_last_layer(mp, entry["num_layers"]):
        entry["status"] = "exporter-bug"
        entry["error"] = "the logits do not depend on the last decoder layer: " + lm_head_input(mp)
    return entry


def logits_read_last_layer(path: Path, layers: int) -> bool:
    """Whether any weight of the last layer is an ancestor of `logits` (a broken export's check)."""
    g = onnx.load(str(path), load_external_data=False).graph
    producer = {o: n for n in g.node for o in n.output}
    seen, stack, names = set(), ["logits"], []
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        names.append(v)
        if v in producer:
            n = producer[v]
            names.append(n.name)
            names.extend(p.value for p in n.metadata_props if p.key == "namespace")  # torch.onnx names values val_N
            stack.extend(i for i in n.input if i)
    last = [f"layers.{layers - 1}.", f"h.{layers - 1}.", f"layers.{layers - 1}/", f"h.{layers - 1}/", f"layers.{layers - 1}:"]
    return any(any(k in v for k in last) for v in names)


def lm_head_input(path: Path) -> str:
    g = onnx.load(str(path), load_external_data=False).graph
    for n in g.node:
        if "logits" in n.output:
            return f"{n.op_type} {n.name} reads {', '.join(i for i in n.input if i)}"
    return ""


def base_entry(arch: A.Arch, exporter: str, variant: dict, rel: str) -> dict:
    return {
        "id": f"{exporter}/{rel.split('/')[-1]}",
        "arch": arch.name,
        "exporter": exporter,
        "variant": variant,
        "dir": rel,
        "model": f"{rel}/model.onnx",
        "num_layers": A.LAYERS,
        "hidden_size": A.HIDDEN,
        "vocab_size": A.VOCAB,
        "parallel_residual": arch.parallel,
        "arch_notes": arch.notes,
    }


# ---------------------------------------------------------------- optimum

def export_optimum(arch: A.Arch, model, hf: Path) -> list[dict]:
    from optimum.exporters.onnx import main_export

    results = []
    for kv in (False, True):
        rel = f"optimum/{arch.name}{'-kv' if kv else ''}"
        entry = base_entry(arch, "optimum", {"kv": kv, "precision": "fp32"}, rel)
        out = FIXTURES / rel
        tmp = WORK / "optimum" / f"{arch.name}{'-kv' if kv else ''}"
        t0 = time.time()
        try:
            for d in (tmp, out):
                if d.exists():
                    shutil.rmtree(d)
            task = "text-generation-with-past" if kv else "text-generation"
            main_export(str(hf), str(tmp), task=task, device="cpu", do_validation=False, local_files_only=True)
            entry["task"] = task
            onnx_files = sorted(p.name for p in tmp.glob("*.onnx"))
            entry["exporter_wrote"] = sorted(p.name for p in tmp.iterdir())
            if "model.onnx" not in onnx_files:
                raise RuntimeError(f"optimum wrote {onnx_files}, no model.onnx")
            save_inline(tmp / "model.onnx", out / "model.onnx")
            for f in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
                if (tmp / f).exists():
                    shutil.copy(tmp / f, out / f)
            # optimum traces the model with SDPA attention (transformers' SDPA path has no attention-logit
            # soft-capping, which changes gemma2), so its references use SDPA too: they describe the graph.
            results.append(finish(entry, model, arch, out, kv, 1e-4, attn_impl="sdpa"))
            if arch.name == "gemma2":
                entry["export_notes"] = ("optimum exports gemma2 through transformers' SDPA attention, which drops attention-logit "
                                         "soft-capping (eager torch differs by ~0.14 in logits); final-logit soft-capping is kept")
        except Exception as e:  # recorded, not fatal
            entry.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-3000:])
            if out.exists():
                shutil.rmtree(out)
            results.append(entry)
        entry["seconds"] = round(time.time() - t0, 1)
        print(f"[{entry['status']}] {entry['id']} ({entry['seconds']} s)", flush=True)
    return results


# ---------------------------------------------------------------- genai builder

GENAI_BUILDER = Path(os.environ.get("GENAI_BUILDER", "/tmp/x/genai/src/python/py/models/builder.py"))


# windowed_kv_cache=false: a full-length cache for sliding-window layers (otherwise the CPU
# GroupQueryAttention wants a past buffer of at least the window, which plain ORT feeds lack)
GENAI_EXTRA = {"gemma2": ["windowed_kv_cache=false"]}
GENAI_PATCH = {"gemma": refs.embed_scale_rounded, "gemma2": refs.embed_scale_rounded, "olmo": refs.layernorm_as_rmsnorm}


def export_genai(arch: A.Arch, model, hf: Path) -> list[dict]:
    results = []
    for prec in ("fp32", "int4"):
        rel = f"genai/{arch.name}{'-int4' if prec == 'int4' else ''}"
        entry = base_entry(arch, "genai", {"kv": True, "precision": prec}, rel)
        out = FIXTURES / rel
        tmp = WORK / "genai" / f"{arch.name}-{prec}"
        t0 = time.time()
        try:
            for d in (tmp, out):
                if d.exists():
                    shutil.rmtree(d)
            cache = WORK / "genai-cache" / f"{arch.name}-{prec}"
            extra = GENAI_EXTRA.get(arch.name, [])
            cmd = [sys.executable, str(GENAI_BUILDER), "-i", str(hf), "-o", str(tmp), "-p", prec, "-e", "cpu", "-c", str(cache)]
            if extra:
                cmd += ["--extra_options", *extra]
            entry["command"] = " ".join(["python", "builder.py", "-i", "<hf>", "-o", "<out>", "-p", prec, "-e", "cpu"]
                                        + (["--extra_options", *extra] if extra else []))
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=str(GENAI_BUILDER.parent))
            if p.returncode != 0 or not (tmp / "model.onnx").exists():
                raise RuntimeError(f"builder exited {p.returncode}: " + (p.stderr or p.stdout)[-1500:])
            entry["exporter_wrote"] = sorted(x.name for x in tmp.iterdir())
            save_inline(tmp / "model.onnx", out / "model.onnx")
            for f in ["config.json", "generation_config.json", "genai_config.json", "tokenizer.json", "tokenizer_config.json",
                      "special_tokens_map.json"]:
                if (tmp / f).exists():
                    shutil.copy(tmp / f, out / f)
            # int4 references are the fp32 torch model: ORT differs by the quantization error (recorded)
            patch = GENAI_PATCH.get(arch.name)
            results.append(finish(entry, model, arch, out, True, 1e-4 if prec == "fp32" else 2.0, patch=patch))
            if entry["status"] == "exporter-bug":  # not committed: a fixture that is not the model misleads
                shutil.rmtree(out)
                entry["committed"] = False
        except Exception as e:
            entry.update(status="failed", error=f"{type(e).__name__}: {e}"[:2500])
            if out.exists():
                shutil.rmtree(out)
            results.append(entry)
        entry["seconds"] = round(time.time() - t0, 1)
        print(f"[{entry['status']}] {entry['id']} ({entry['seconds']} s)", flush=True)
    return results


# ---------------------------------------------------------------- torch.onnx dynamo

def export_dynamo(arch: A.Arch, model, hf: Path) -> list[dict]:
    import dynamo_export

    results = []
    for kv in (False, True):
        rel = f"dynamo/{arch.name}{'-kv' if kv else ''}"
        entry = base_entry(arch, "dynamo", {"kv": kv, "precision": "fp32"}, rel)
        out = FIXTURES / rel
        t0 = time.time()
        try:
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            entry.update(dynamo_export.export(model, out / "model.onnx", kv, WORK / "dynamo" / rel))
            model.config.save_pretrained(out)
            if model.generation_config is not None:
                model.generation_config.save_pretrained(out)
            results.append(finish(entry, model, arch, out, kv, 1e-4))
        except Exception as e:
            entry.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000], traceback=traceback.format_exc()[-3000:])
            if out.exists():
                shutil.rmtree(out)
            results.append(entry)
        entry["seconds"] = round(time.time() - t0, 1)
        print(f"[{entry['status']}] {entry['id']} ({entry['seconds']} s)", flush=True)
    return results


EXPORTERS = {"optimum": export_optimum, "genai": export_genai, "dynamo": export_dynamo}


def merge_manifest(entries: list[dict], exporter: str) -> None:
    path = FIXTURES / "manifest.json"
    man = json.loads(path.read_text()) if path.exists() else {"exports": []}
    by_id = {e["id"]: e for e in man["exports"]}
    for e in entries:
        e.pop("traceback", None)
        by_id[e["id"]] = e
    order = list(EXPORTERS)
    arch_order = list(A.ARCHS)
    man["exports"] = sorted(by_id.values(), key=lambda e: (order.index(e["exporter"]), arch_order.index(e["arch"]), e["id"]))
    man["layer_indexing"] = "0-based (Hugging Face model.layers[i])"
    man["model"] = {"layers": A.LAYERS, "hidden": A.HIDDEN, "heads": A.HEADS, "kv_heads_where_gqa": A.KV_HEADS,
                    "head_dim": A.HEAD_DIM, "ffn": A.FFN, "vocab": A.VOCAB, "seed": A.SEED, "init_std": A.INIT,
                    "one_d_params": "every 1-D parameter (norm scales/shifts, biases) += 0.2*N(0,1)"}
    man["sequences"] = refs.SEQUENCES
    man["reference_variants"] = {
        "original": "the model as exported (ORT output checked against it: ort_max_abs_diff)",
        f"attn-prune-L{refs.PRUNE_LAYER}": f"layer {refs.PRUNE_LAYER}'s attention output projection weight and bias zeroed; "
                                           f"pipeline attn-prune{{layers=[{refs.PRUNE_LAYER}]}}",
        "parallel-ffn-1-2": "layer 2's attention output projection zeroed and layer 2's FFN norm fed the residual that layer 1's FFN norm "
                            "reads: h + FFN_1(N_1(h)) + FFN_2(N_2(h)); pipeline attn-prune{layers=[2]},ffn-fuse{groups=[[1,2]]}; "
                            "pre-norm non-parallel archs only",
    }
    man.setdefault("versions", {})[exporter] = versions()
    path.write_text(json.dumps(man, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exporter", required=True, choices=list(EXPORTERS))
    ap.add_argument("--arch", default="all")
    args = ap.parse_args()
    names = list(A.ARCHS) if args.arch == "all" else args.arch.split(",")
    for name in names:
        arch = A.ARCHS[name]
        model, hf = hf_folder(arch)
        if args.exporter == "genai" and not arch.genai:
            entries = [dict(base_entry(arch, "genai", {"kv": True, "precision": p}, f"genai/{name}{'-int4' if p == 'int4' else ''}"),
                            status="unsupported", error="the genai builder has no builder for this architecture")
                       for p in ("fp32", "int4")]
        else:
            entries = EXPORTERS[args.exporter](arch, model, hf)
        merge_manifest(entries, args.exporter)


if __name__ == "__main__":
    main()

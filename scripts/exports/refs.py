"""References computed in torch on the exported weights, written as ONNX test-data sets.

Three variants of the model, each run by the Hugging Face modules themselves (only weights are
changed and forward hooks are added; nothing is re-implemented):

- `original`: the model as exported;
- `attn-prune-L<L>`: layer L's attention output projection (weight and bias) zeroed, which is what
  `attn-prune{layers=[L]}` computes;
- `parallel-ffn-1-2` (pre-norm, non-parallel archs only): layer 2's attention removed (its output
  projection zeroed) and layer 2's FFN norm reading the residual stream that layer 1's FFN norm
  reads, so the two layers compute `h + FFN_1(N_1(h)) + FFN_2(N_2(h))` — what
  `attn-prune{layers=[2]},ffn-fuse{groups=[[1,2]]}` computes.

Each variant gets the same test-data sets (`test_data_set_0`: a prefill of 6 tokens; for KV
exports with an empty past; `test_data_set_1`: 7 tokens, for KV exports as a past of 4 tokens —
computed by the same variant — and 3 new ones). Every file is a TensorProto named after the
graph input or output it feeds or is compared with.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from archs import Arch, get_path

PRUNE_LAYER = 1
FUSE_GROUP = (1, 2)

SEQUENCES = [
    {"tokens": [1, 17, 43, 99, 5, 71], "past": 0},
    {"tokens": [1, 88, 23, 64, 120, 9, 31], "past": 4},
]


def variants(arch: Arch) -> list[dict]:
    out = [
        {"name": "original", "pipeline": None},
        {"name": f"attn-prune-L{PRUNE_LAYER}", "pipeline": f"attn-prune{{layers=[{PRUNE_LAYER}]}}",
         "zeroed_attention": [PRUNE_LAYER]},
    ]
    if not arch.parallel:
        a, b = FUSE_GROUP
        out.append({
            "name": f"parallel-ffn-{a}-{b}",
            "pipeline": f"attn-prune{{layers=[{b}]}},ffn-fuse{{groups=[[{a},{b}]]}}",
            "zeroed_attention": [b],
            "parallel_ffn": [a, b],
        })
    return out


@contextlib.contextmanager
def applied(model, arch: Arch, variant: dict):
    layers = get_path(model, arch.layers)
    saved, hooks = [], []
    try:
        with torch.no_grad():
            for L in variant.get("zeroed_attention", []):
                proj = get_path(layers[L], arch.attn_out)
                for p in (proj.weight, getattr(proj, "bias", None)):
                    if p is not None:
                        saved.append((p, p.detach().clone()))
                        p.zero_()
        if "parallel_ffn" in variant:
            a, b = variant["parallel_ffn"]
            captured = {}

            def capture(_mod, args, kwargs):
                captured["h"] = args[0] if args else kwargs["hidden_states"]

            def replace(_mod, args, kwargs):
                if args:
                    return (captured["h"], *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": captured["h"]}

            hooks.append(get_path(layers[a], arch.ffn_norm).register_forward_pre_hook(capture, with_kwargs=True))
            hooks.append(get_path(layers[b], arch.ffn_norm).register_forward_pre_hook(replace, with_kwargs=True))
        yield model
    finally:
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for p, v in saved:
                p.copy_(v)


def _legacy(cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    if hasattr(cache, "layers") and cache.layers and hasattr(cache.layers[0], "keys"):
        return [(l.keys.detach().clone(), l.values.detach().clone()) for l in cache.layers]
    if hasattr(cache, "to_legacy_cache"):
        return [(k.detach().clone(), v.detach().clone()) for k, v in cache.to_legacy_cache()]
    return [(k.detach().clone(), v.detach().clone()) for k, v in cache]


def torch_run(model, tokens: list[int], past_len: int, kv: bool) -> dict:
    """Runs the (possibly modified) HF model; returns numpy arrays keyed by role."""
    ids = torch.tensor([tokens], dtype=torch.int64)
    with torch.no_grad():
        if not kv:
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
            return {"input_ids": ids, "logits": out.logits, "past": [], "present": []}
        past = None
        if past_len:
            pre = model(input_ids=ids[:, :past_len], attention_mask=torch.ones_like(ids[:, :past_len]),
                        position_ids=torch.arange(past_len)[None], use_cache=True)
            past_pairs = _legacy(pre.past_key_values)
            past = pre.past_key_values
        else:
            past_pairs = None
        new = ids[:, past_len:]
        out = model(input_ids=new, attention_mask=torch.ones_like(ids), position_ids=torch.arange(past_len, len(tokens))[None],
                    past_key_values=past, use_cache=True)
        present = _legacy(out.past_key_values)
        if past_pairs is None:
            past_pairs = [(k[:, :, :0], v[:, :, :0]) for k, v in present]
        return {"input_ids": new, "all_ids": ids, "logits": out.logits, "past": past_pairs, "present": present}


_PAST = re.compile(r"^past_key_values\.(\d+)\.(key|value)$")
_PRESENT = re.compile(r"^present\.(\d+)\.(key|value)$")


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def feeds_for(graph: onnx.GraphProto, run: dict, past_len: int, total: int) -> tuple[dict, list[str]]:
    """Inputs by graph input name; problems (inputs this cannot fill) are returned, not raised."""
    feeds, problems = {}, []
    init = {i.name for i in graph.initializer}
    for vi in graph.input:
        n = vi.name
        if n in init:
            continue
        elem = vi.type.tensor_type.elem_type
        m = _PAST.match(n)
        if n == "input_ids":
            arr = _np(run["input_ids"]).astype(np.int64)
        elif n == "attention_mask":
            arr = np.ones((1, total), dtype=np.int64)
        elif n == "position_ids":
            arr = np.arange(past_len, total, dtype=np.int64)[None]
        elif n == "cache_position":
            arr = np.arange(past_len, total, dtype=np.int64)
        elif m:
            k, v = run["past"][int(m.group(1))]
            arr = _np(k if m.group(2) == "key" else v)
            dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
            if len(dims) != arr.ndim:
                problems.append(f"{n}: graph rank {len(dims)} vs torch shape {list(arr.shape)}")
        else:
            problems.append(f"{n}: unknown input")
            continue
        if elem == onnx.TensorProto.INT32:
            arr = arr.astype(np.int32)
        elif elem == onnx.TensorProto.FLOAT16:
            arr = arr.astype(np.float16)
        feeds[n] = arr
    return feeds, problems


def outputs_for(graph: onnx.GraphProto, run: dict) -> dict:
    outs = {}
    for vo in graph.output:
        n = vo.name
        m = _PRESENT.match(n)
        if n == "logits":
            outs[n] = _np(run["logits"]).astype(np.float32)
        elif m and run["present"]:
            k, v = run["present"][int(m.group(1))]
            outs[n] = _np(k if m.group(2) == "key" else v).astype(np.float32)
    return outs


def write_set(dir_: Path, feeds: dict, outs: dict) -> None:
    dir_.mkdir(parents=True, exist_ok=True)
    for k, (n, a) in enumerate(feeds.items()):
        (dir_ / f"input_{k}.pb").write_bytes(numpy_helper.from_array(np.ascontiguousarray(a), n).SerializeToString())
    for k, (n, a) in enumerate(outs.items()):
        (dir_ / f"output_{k}.pb").write_bytes(numpy_helper.from_array(np.ascontiguousarray(a), n).SerializeToString())


def make_references(model, arch: Arch, onnx_path: Path, out_dir: Path, kv: bool, check_atol: float, patch=None) -> dict:
    """Writes references/<variant>/test_data_set_N under out_dir; runs the original through ORT."""
    import onnxruntime as ort

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    result = {"variants": {}, "problems": []}
    original_logits = {}
    for var in variants(arch):
        entry = {"dir": f"references/{var['name']}", "pipeline": var["pipeline"], "sets": []}
        for sidx, seq in enumerate(SEQUENCES):
            past_len = seq["past"] if kv else 0
            with applied(model, arch, var), (patch(model) if patch else contextlib.nullcontext()):
                run = torch_run(model, seq["tokens"], past_len, kv)
            feeds, problems = feeds_for(graph, run, past_len, len(seq["tokens"]))
            result["problems"] += problems
            outs = outputs_for(graph, run)
            write_set(out_dir / entry["dir"] / f"test_data_set_{sidx}", feeds, outs)
            info = {"set": sidx, "tokens": seq["tokens"], "past_len": past_len, "new_tokens": len(seq["tokens"]) - past_len}
            if var["name"] == "original":
                original_logits[sidx] = outs["logits"]
                if not problems:
                    got = sess.run(None, feeds)
                    names = [o.name for o in sess.get_outputs()]
                    diffs = {n: float(np.max(np.abs(got[names.index(n)].astype(np.float32) - outs[n]))) for n in outs}
                    info["ort_max_abs_diff"] = {"logits": diffs["logits"],
                                                "present": max([v for n, v in diffs.items() if n != "logits"], default=None)}
                    info["ort_matches"] = all(v <= check_atol for v in diffs.values())
            else:
                info["max_abs_diff_vs_original"] = float(np.max(np.abs(outs["logits"] - original_logits[sidx])))
            entry["sets"].append(info)
        result["variants"][var["name"]] = entry
    return result


# ---- reference patches: where an exporter's graph is not the HF model, references describe the graph


@contextlib.contextmanager
def embed_scale_rounded(model):
    """genai builder (gemma, gemma2): the embedding scale sqrt(hidden) is rounded to 2 decimals."""
    h = model.config.hidden_size
    r = float(np.round(np.sqrt(h), 2)) / float(torch.tensor(h**0.5, dtype=torch.float32))
    hook = model.get_input_embeddings().register_forward_hook(lambda _m, _a, out: out * r)
    try:
        yield
    finally:
        hook.remove()


@contextlib.contextmanager
def layernorm_as_rmsnorm(model, eps=1e-6):
    """genai builder (olmo): OLMo's non-parametric LayerNorm becomes SimplifiedLayerNormalization
    (RMSNorm without mean subtraction, epsilon 1e-6)."""
    hooks = []

    def rms(_m, args, _out):
        x = args[0].float()
        return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).to(args[0].dtype)

    for name, mod in model.named_modules():
        if type(mod).__name__ == "OlmoLayerNorm":
            hooks.append(mod.register_forward_hook(rms))
    try:
        yield
    finally:
        for h in hooks:
            h.remove()

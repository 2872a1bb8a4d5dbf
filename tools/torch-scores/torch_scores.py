#!/usr/bin/env python3
"""Reference scorer for onnx-opt: LLM-Drop cosine scores, KL scores and the FFN dependency matrix,
computed in PyTorch on a Hugging Face checkpoint, written as onnx-opt's --scores JSON
(docs/scores.schema.json, version 1).

The model is loaded with accelerate's device_map="auto", which spreads it over the GPUs, CPU
memory and disk, so a cluster (or one big machine) can score a model that onnx-opt's calibration
cannot run; onnx-opt then rewrites the ONNX export by streaming, with --scores.

Definitions (the same as onnx-opt's, see src/passes/attn-prune/scores.ts and
src/passes/ffn-fusion/dependency-matrix.ts), means over every real calibration token:
  cosine  s_i = 1 - cos(x_i, x_i + a_i), x_i the residual entering layer i, a_i its attention output
  kl      KL(p || q_i) of the next-token distributions, q_i with attention i removed (a_i = 0)
  matrix  M_ij = 1 - cos(h_j, h_j | FFN i removed), h_j FFN j's output, for i < j in one run

Usage:
  python torch_scores.py --model hf-folder --tokens calib.jsonl --out scores.json \
      [--kl] [--matrix-runs 1-3,5-7] [--attn-method cosine|kl] [--batch-size 8]
  (--text file.txt --max-length 128 --num-sequences 16 instead of --tokens: tokenized with the
  checkpoint's tokenizer.)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import contextmanager

import torch

VERSION = "1.0.0"


def decoder_layers(model):
    """The list of decoder layers of a causal LM (Llama-family layout: model.model.layers)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj = model
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
            return list(obj)
        except AttributeError:
            continue
    raise SystemExit("torch-scores: cannot find the decoder layers of this model (expected model.layers, transformer.h, ...)")


def attention_of(layer):
    for name in ("self_attn", "attn", "attention", "self_attention"):
        if hasattr(layer, name):
            return getattr(layer, name)
    raise SystemExit(f"torch-scores: layer {type(layer).__name__} has no attention module")


def mlp_of(layer):
    for name in ("mlp", "feed_forward", "ffn"):
        if hasattr(layer, name):
            return getattr(layer, name)
    raise SystemExit(f"torch-scores: layer {type(layer).__name__} has no MLP module")


def first(out):
    return out[0] if isinstance(out, tuple) else out


def replace_first(out, value):
    return (value, *out[1:]) if isinstance(out, tuple) else value


@contextmanager
def hooks(handles):
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def batches(sequences, batch_size, pad_id):
    """Left-padded batches with their attention masks (as onnx-opt pads)."""
    for k in range(0, len(sequences), batch_size):
        rows = sequences[k:k + batch_size]
        n = max(len(r) for r in rows)
        ids = torch.tensor([[pad_id] * (n - len(r)) + list(r) for r in rows])
        mask = torch.tensor([[0] * (n - len(r)) + [1] * len(r) for r in rows])
        yield ids, mask


def run(model, ids, mask):
    dev = next(model.parameters()).device
    # position_ids as onnx-opt feeds them: the count of real tokens before each position.
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev), use_cache=False).logits.float().cpu()


def per_token_cos_distance(a, b, mask):
    """Σ over real tokens of 1 - cos(a_t, b_t) (a, b: [B, S, H])."""
    a = a.double()
    b = b.double()
    dot = (a * b).sum(-1)
    na = (a * a).sum(-1)
    nb = (b * b).sum(-1)
    cos = torch.where((na > 0) & (nb > 0), dot / torch.sqrt(na * nb), torch.ones_like(dot))
    return float(((1 - cos) * mask.double()).sum())


def cosine_scores(model, layers, sequences, batch_size, pad_id):
    sums = [0.0] * len(layers)
    tokens = 0
    store = {}
    handles = []
    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_pre_hook(lambda m, args, kw, i=i: store.__setitem__(("x", i), (args[0] if args else kw["hidden_states"]).detach().cpu()), with_kwargs=True))
        handles.append(attention_of(layer).register_forward_hook(lambda m, args, out, i=i: store.__setitem__(("a", i), first(out).detach().cpu())))
    with hooks(handles), torch.no_grad():
        for ids, mask in batches(sequences, batch_size, pad_id):
            run(model, ids, mask)
            for i in range(len(layers)):
                x = store[("x", i)]
                sums[i] += per_token_cos_distance(x, x + store[("a", i)], mask)
            tokens += int(mask.sum())
    return [{"layer": i, "score": s / tokens} for i, s in enumerate(sums)]


def log_probs(model, sequences, batch_size, pad_id):
    out = []
    with torch.no_grad():
        for ids, mask in batches(sequences, batch_size, pad_id):
            lp = torch.log_softmax(run(model, ids, mask).double(), -1)
            out.append(lp[mask.bool()])
    return torch.cat(out)


def kl_scores(model, layers, candidates, sequences, batch_size, pad_id):
    p = log_probs(model, sequences, batch_size, pad_id)
    scores = []
    for i in candidates:
        h = attention_of(layers[i]).register_forward_hook(lambda m, args, out: replace_first(out, torch.zeros_like(first(out))))
        with hooks([h]):
            q = log_probs(model, sequences, batch_size, pad_id)
        scores.append({"layer": i, "score": float((p.exp() * (p - q)).sum(-1).mean())})
    return scores


def ffn_outputs(model, layers, wanted, sequences, batch_size, pad_id, removed=None):
    chunks = {j: [] for j in wanted}
    handles = []
    for j in wanted:
        handles.append(mlp_of(layers[j]).register_forward_hook(lambda m, args, out, j=j: chunks[j].append(first(out).detach().cpu())))
    if removed is not None:
        handles.append(mlp_of(layers[removed]).register_forward_hook(lambda m, args, out: replace_first(out, torch.zeros_like(first(out)))))
    masks = []
    with hooks(handles), torch.no_grad():
        for ids, mask in batches(sequences, batch_size, pad_id):
            run(model, ids, mask)
            masks.append(mask)
    return chunks, masks


def dependency_matrix(model, layers, runs, sequences, batch_size, pad_id, no_attention=()):
    # The matrix is measured on the model as attn-prune leaves it: those attentions contribute 0.
    handles = [attention_of(layers[i]).register_forward_hook(lambda m, args, out: replace_first(out, torch.zeros_like(first(out)))) for i in no_attention]
    with hooks(handles):
        return _matrix(model, layers, runs, sequences, batch_size, pad_id)


def _matrix(model, layers, runs, sequences, batch_size, pad_id):
    order = [l for r in runs for l in r]
    values = [[None] * len(order) for _ in order]
    base, masks = ffn_outputs(model, layers, order, sequences, batch_size, pad_id)
    tokens = sum(int(m.sum()) for m in masks)
    evaluations = 1
    for r in runs:
        for i in r[:-1]:
            down = [j for j in r if j > i]
            probed, _ = ffn_outputs(model, layers, down, sequences, batch_size, pad_id, removed=i)
            evaluations += 1
            for j in down:
                d = sum(per_token_cos_distance(a, b, m) for a, b, m in zip(base[j], probed[j], masks))
                values[order.index(i)][order.index(j)] = d / tokens
    return {"layers": order, "values": values, "evaluations": evaluations}


def parse_runs(text):
    runs = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        runs.append(list(range(int(a), int(b or a) + 1)))
    return runs


def read_sequences(args, model_dir):
    if args.tokens:
        with open(args.tokens) as f:
            seqs = [json.loads(line) for line in f if line.strip()]
        seqs = [s["ids"] if isinstance(s, dict) else s for s in seqs]
        return [s[: args.max_length] for s in seqs][: args.num_sequences], f"{args.tokens} (token ids)"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    ids = tok(open(args.text).read())["input_ids"]
    L = args.max_length
    seqs = [ids[k:k + L] for k in range(0, len(ids) - L + 1, L)][: args.num_sequences]
    return seqs, f"{args.text} tokenized with the checkpoint's tokenizer"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face checkpoint folder or hub id")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tokens", help=".jsonl of token-id arrays (what onnx-opt --calib takes)")
    src.add_argument("--text", help="calibration text, tokenized with the checkpoint's tokenizer")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--num-sequences", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--pad-token-id", type=int, default=0)
    ap.add_argument("--kl", action="store_true", help="also compute KL scores (one run per layer)")
    ap.add_argument("--attn-method", choices=["cosine", "kl"], default="cosine", help="which scores attn-prune uses")
    ap.add_argument("--protect", default="0,-1", help="layers not KL-scored (attn-prune's default protect)")
    ap.add_argument("--matrix-runs", help="FFN runs for the dependency matrix, e.g. 1-3,5-7 (layers whose attention is to be removed in between)")
    ap.add_argument("--remove-attention", default="", help="attention sublayers removed while the matrix is measured (those attn-prune removes), e.g. 2,3")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(args.model, device_map="auto", torch_dtype=getattr(torch, args.dtype), attn_implementation="eager")
    model.eval()
    layers = decoder_layers(model)
    sequences, described = read_sequences(args, args.model)
    if not sequences:
        raise SystemExit("torch-scores: no calibration sequences")
    n = len(layers)
    cosine = cosine_scores(model, layers, sequences, args.batch_size, args.pad_token_id)
    doc = {
        "format": "onnx-opt-scores",
        "version": 1,
        "producer": {"name": "torch-scores", "version": VERSION, "torch": torch.__version__, "model": args.model,
                     "calibration": f"{described}: {len(sequences)} sequences, {sum(len(s) for s in sequences)} tokens"},
        "numLayers": n,
        "attn-prune": {"method": "cosine", "scores": cosine, "by": {"cosine": cosine}},
    }
    if args.kl or args.attn_method == "kl":
        protect = {int(p) % n for p in args.protect.split(",") if p.strip()}
        kl = kl_scores(model, layers, [i for i in range(n) if i not in protect], sequences, args.batch_size, args.pad_token_id)
        doc["attn-prune"]["by"]["kl"] = kl
        if args.attn_method == "kl":
            doc["attn-prune"]["method"] = "kl"
            doc["attn-prune"]["scores"] = kl
    if args.matrix_runs:
        doc["ffn-fuse"] = {"matrix": dependency_matrix(model, layers, parse_runs(args.matrix_runs), sequences, args.batch_size, args.pad_token_id,
                                                      [int(x) for x in args.remove_attention.split(",") if x.strip()])}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"torch-scores: wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

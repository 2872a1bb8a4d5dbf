"""torch.onnx.export(..., dynamo=True) of a Hugging Face causal LM, with or without a KV cache.

The signature follows optimum's names, so the same references drive it: `input_ids`,
`attention_mask`, `position_ids`, `past_key_values.N.key/value` -> `logits`, `present.N.key/value`.
The cache is a transformers DynamicCache built inside forward from the flat past tensors.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import torch


class NoCache(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False).logits


class WithCache(torch.nn.Module):
    def __init__(self, model, layers: int):
        super().__init__()
        self.model = model
        self.layers = layers

    def forward(self, input_ids, attention_mask, position_ids, *past):
        from transformers import DynamicCache

        cache = DynamicCache(ddp_cache_data=[(past[2 * i], past[2 * i + 1]) for i in range(self.layers)])
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True)
        pkv = out.past_key_values
        flat = []
        for i in range(self.layers):
            layer = pkv.layers[i]
            flat += [layer.keys, layer.values]
        return (out.logits, *flat)


def _kv_shape(model):
    cfg = model.config
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    if getattr(cfg, "multi_query", False) and not getattr(cfg, "new_decoder_architecture", False):
        kv = 1
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return kv, head_dim


def export(model, path: Path, kv: bool, workdir: Path) -> dict:
    from torch.export import Dim

    L = model.config.num_hidden_layers
    seq, past_len = 3, 4
    batch = s = Dim.DYNAMIC  # torch.export works out which of these are equal or related
    ids = torch.tensor([[5, 9, 17]], dtype=torch.int64)
    pos = torch.arange(past_len, past_len + seq)[None] if kv else torch.arange(seq)[None]
    mask = torch.ones((1, past_len + seq if kv else seq), dtype=torch.int64)
    if not kv:
        wrapper = NoCache(model).eval()
        args = (ids, mask, pos)
        names_in = ["input_ids", "attention_mask", "position_ids"]
        names_out = ["logits"]
        dyn = {"input_ids": {0: batch, 1: s}, "attention_mask": {0: batch, 1: s}, "position_ids": {0: batch, 1: s}}
    else:
        n_kv, hd = _kv_shape(model)
        past = []
        for _ in range(L):
            past += [torch.randn(1, n_kv, past_len, hd), torch.randn(1, n_kv, past_len, hd)]
        wrapper = WithCache(model, L).eval()
        args = (ids, mask, pos, *past)
        names_in = ["input_ids", "attention_mask", "position_ids"] + [f"past_key_values.{i}.{t}" for i in range(L) for t in ("key", "value")]
        names_out = ["logits"] + [f"present.{i}.{t}" for i in range(L) for t in ("key", "value")]
        p = total = Dim.DYNAMIC
        dyn = {"input_ids": {0: batch, 1: s}, "attention_mask": {0: batch, 1: total}, "position_ids": {0: batch, 1: s},
               "past": [{0: batch, 2: p} for _ in range(2 * L)]}
    with torch.no_grad():
        prog = torch.onnx.export(wrapper, args, dynamo=True, input_names=names_in, output_names=names_out,
                                 dynamic_shapes=_as_tuple(dyn, kv, L) if kv else dyn, optimize=True,
                                 report=False, verify=False, external_data=False)
    prog.save(str(path), external_data=False)
    # The per-node stack traces hold the build machine's file paths and are half the file: drop
    # them; the other metadata torch.onnx writes (namespace, class_hierarchy, name_scopes, fx_node) stays.
    m = onnx.load(str(path))
    for n in m.graph.node:
        keep = [p for p in n.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del n.metadata_props[:]
        n.metadata_props.extend(keep)
    onnx.save_model(m, str(path), save_as_external_data=False)
    return {"torch_onnx": {"dynamo": True, "optimize": True, "example_past_len": past_len if kv else 0,
                           "removed_node_metadata": ["pkg.torch.onnx.stack_trace"]}}


def _as_tuple(dyn, kv, L):
    return (dyn["input_ids"], dyn["attention_mask"], dyn["position_ids"], tuple(dyn["past"]))

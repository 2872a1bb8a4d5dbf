"""Tiny Hugging Face decoder configurations, one per architecture, and where each keeps its modules.

Every model has 4 decoder layers, hidden size 32, 2 query heads of size 16 (1 KV head where the
architecture has grouped-query attention), an FFN of width 64 and a vocabulary of 128, so that an
fp32 export is ~350 KB. Weights are drawn with a fixed seed; every 1-D parameter (norm scales,
norm shifts, biases) is then moved away from its initial 1 or 0, so that a fold that drops one is
visible in the logits.

Layer indices here and in the manifest are 0-based, i.e. Hugging Face's `model.layers[i]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

SEED = 1234
LAYERS = 4
HIDDEN = 32
HEADS = 2
KV_HEADS = 1
HEAD_DIM = 16  # ORT's CPU GroupQueryAttention (genai builder) needs a multiple of 16
FFN = 64
VOCAB = 128
INIT = 0.15  # weight std: larger than HF's 0.02 so that one layer's change moves the logits visibly

COMMON = dict(vocab_size=VOCAB, pad_token_id=0, bos_token_id=1, eos_token_id=2, max_position_embeddings=128)


@dataclass
class Arch:
    name: str
    config: Callable[[], Any]
    layers: str  # attribute path from the CausalLM to the ModuleList of decoder layers
    attn_out: str  # path inside a layer to the attention output projection
    ffn_norm: str | None  # path inside a layer to the norm that feeds the FFN (None: parallel residual)
    parallel: bool = False
    notes: str = ""
    genai: bool = True  # whether the genai builder lists this architecture
    extra: dict = field(default_factory=dict)


def _llama_like(cls_name: str, **kw):
    def make():
        import transformers

        cls = getattr(transformers, cls_name)
        args = dict(
            COMMON,
            hidden_size=HIDDEN,
            intermediate_size=FFN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            num_key_value_heads=KV_HEADS,
            initializer_range=INIT,
        )
        args.update(kw)
        return cls(**args)

    return make


def _gpt2():
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=VOCAB, n_positions=128, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_inner=FFN,
        bos_token_id=1, eos_token_id=2, pad_token_id=0, initializer_range=INIT,
    )


def _opt():
    from transformers import OPTConfig

    return OPTConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, ffn_dim=FFN, num_attention_heads=HEADS,
        word_embed_proj_dim=HIDDEN, max_position_embeddings=128, do_layer_norm_before=True,
        pad_token_id=1, bos_token_id=2, eos_token_id=2, init_std=INIT,
    )


def _gpt_neox():
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        **COMMON, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=FFN,
        rotary_pct=0.5, use_parallel_residual=True, initializer_range=INIT,
    )


def _phi():
    from transformers import PhiConfig

    # head size 32 (hidden 64): ORT's CPU GroupQueryAttention (genai builder) needs the rotary
    # dimension (partial_rotary_factor * head size) to be a multiple of 16
    return PhiConfig(
        **COMMON, hidden_size=2 * HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        num_key_value_heads=HEADS, partial_rotary_factor=0.5, initializer_range=INIT,
    )


def _falcon():
    from transformers import FalconConfig

    # Falcon-7B layout: multi-query attention (one KV head), parallel attention + MLP, one norm per layer.
    return FalconConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        multi_query=True, parallel_attn=True, new_decoder_architecture=False, bias=False, alibi=False,
        ffn_hidden_size=FFN, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        initializer_range=INIT,
    )


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in [
        Arch("llama", _llama_like("LlamaConfig"), "model.layers", "self_attn.o_proj", "post_attention_layernorm"),
        Arch("qwen2", _llama_like("Qwen2Config", use_sliding_window=False), "model.layers", "self_attn.o_proj",
             "post_attention_layernorm", notes="q/k/v projections have biases"),
        Arch("phi3", _llama_like("Phi3Config", original_max_position_embeddings=128), "model.layers", "self_attn.o_proj", "post_attention_layernorm",
             notes="fused qkv_proj and gate_up_proj"),
        Arch("gemma", _llama_like("GemmaConfig", head_dim=HEAD_DIM, hidden_activation="gelu_pytorch_tanh"),
             "model.layers", "self_attn.o_proj", "post_attention_layernorm",
             notes="GeGLU, (1+w) RMSNorm, embeddings scaled by sqrt(hidden)"),
        Arch("gpt2", _gpt2, "transformer.h", "attn.c_proj", "ln_2", notes="Conv1D projections, fused c_attn, learned positions",
             genai=False),
        Arch("opt", _opt, "model.decoder.layers", "self_attn.out_proj", "final_layer_norm",
             notes="ReLU MLP, learned positions (offset 2), pre-norm", genai=False),
        Arch("mistral", _llama_like("MistralConfig", head_dim=HEAD_DIM, sliding_window=None), "model.layers", "self_attn.o_proj",
             "post_attention_layernorm"),
        Arch("qwen3", _llama_like("Qwen3Config", head_dim=HEAD_DIM, use_sliding_window=False), "model.layers",
             "self_attn.o_proj", "post_attention_layernorm", notes="q_norm/k_norm per head"),
        Arch("granite", _llama_like("GraniteConfig", embedding_multiplier=4.0, residual_multiplier=0.5,
                                    attention_multiplier=0.2, logits_scaling=2.0),
             "model.layers", "self_attn.o_proj", "post_attention_layernorm",
             notes="embedding/residual/attention multipliers, logits scaling"),
        Arch("olmo", _llama_like("OlmoConfig"), "model.layers", "self_attn.o_proj", "post_attention_layernorm",
             notes="non-parametric LayerNorm (no scale, no shift)"),
        Arch("stablelm", _llama_like("StableLmConfig", partial_rotary_factor=0.5), "model.layers", "self_attn.o_proj",
             "post_attention_layernorm", notes="LayerNorm with bias, partial rotary, no qkv bias"),
        Arch("gpt_neox", _gpt_neox, "gpt_neox.layers", "attention.dense", None, parallel=True,
             notes="parallel residual, fused query_key_value", genai=False),
        Arch("phi", _phi, "model.layers", "self_attn.dense", None, parallel=True,
             notes="parallel residual (one LayerNorm per layer), partial rotary"),
        Arch("gemma2", _llama_like("Gemma2Config", head_dim=HEAD_DIM, hidden_activation="gelu_pytorch_tanh",
                                   query_pre_attn_scalar=HEAD_DIM, sliding_window=64,
                                   attn_logit_softcapping=5.0, final_logit_softcapping=5.0),
             "model.layers", "self_attn.o_proj", "pre_feedforward_layernorm",
             notes="sandwich norms (post-attention and post-FFN norms), attention and final-logit soft-capping"),
        Arch("falcon", _falcon, "transformer.h", "self_attention.dense", None, parallel=True,
             notes="Falcon-7B layout: multi-query attention, parallel attention and MLP", genai=False),
    ]
}


def get_path(root, path: str):
    obj = root
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def build_model(arch: Arch):
    """The seeded random model in eval mode, fp32, eager attention."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(SEED)
    config = arch.config()
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", torch_dtype=torch.float32)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                # norm scales (1, or 0 for Gemma's 1+w), norm shifts and biases (0): move them visibly
                p.add_(0.2 * torch.randn(p.shape, generator=gen))
    model.eval()
    return model

"""Optional check (needs Python with optimum-onnx and onnxruntime): an optimum folder that onnx-opt
pruned and fused loads with ORTModelForCausalLM and generates greedily.

    node dist/cli/main.js test/fixtures/exports/optimum/llama-kv -o /tmp/llama-opt \
        --passes='attn-prune{layers=[1,2]},ffn-fuse{groups=[[0,2]]}'
    python scripts/exports/check_optimum_runtime.py /tmp/llama-opt 11,77,75,22,77,95,93,105,53,13,53,4

The second argument (optional) is the token list onnx-opt's own runner generates for the same
prompt; the script exits 1 when optimum's differs. Run on 2026-12-01 with the versions in
test/fixtures/exports/README.md: identical tokens.
"""

import sys

import torch
from optimum.onnxruntime import ORTModelForCausalLM

PROMPT = [1, 17, 43, 99, 5, 71, 12]


def main() -> int:
    folder = sys.argv[1]
    model = ORTModelForCausalLM.from_pretrained(folder, use_cache=True, use_io_binding=False)
    ids = torch.tensor([PROMPT])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, min_new_tokens=12, do_sample=False)
    tokens = out[0, len(PROMPT):].tolist()
    print(",".join(map(str, tokens)))
    if len(sys.argv) > 2 and tokens != [int(t) for t in sys.argv[2].split(",")]:
        print("optimum generated other tokens than onnx-opt's runner", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

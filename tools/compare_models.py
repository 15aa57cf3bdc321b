#!/usr/bin/env python3
"""Two or more cross-encoders on the same pairs, by raw logit: which tells earned from not earned better?

    .venv/bin/python tools/grader_pairs.py --corpus grading-data/next --out /tmp/next-pairs.jsonl
    git show 80f181c:bot/tutor/grading/weights/cross.int8.onnx > /tmp/old.int8.onnx
    .venv/bin/python tools/compare_models.py --pairs /tmp/next-pairs.jsonl --corpus grading-data/next \\
        --model /tmp/old.int8.onnx --model bot/tutor/grading/weights/cross.int8.onnx

Meant for answers none of the models was trained on (a `next/` batch, or batches that joined the
corpus after every model was trained: `--batch 28 --batch 29 ...` with the corpus's own pairs file).
No heads, no thresholds fitted: each model's logits for the pairs the grader shows it, scored as the
grader scores them (int8 ONNX, one pair per run). Per model: AUC on the open pairs (what the award
head reads) and on the lexical marks (what the doubt head reads); AUC of gold pairs against the
examiner's trap pairs (the answer uses the point's words without earning it); recall at precision
0.9 and 0.8 on the open pairs, and the share of open trap pairs above that threshold.
Runs in the project's venv (onnxruntime, tokenizers, numpy; no torch).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import train_cross_encoder as tce  # noqa: E402
import train_grader as tg  # noqa: E402

TOKENIZER = tce.WEIGHTS / "tokenizer.json"


def auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counted half (the Mann-Whitney statistic)."""
    if not len(pos) or not len(neg):
        return float("nan")
    d = np.asarray(pos, dtype=float)[:, None] - np.asarray(neg, dtype=float)[None, :]
    return float(((d > 0) + 0.5 * (d == 0)).mean())


def recall_at_precision(z: Sequence[float], y: Sequence[bool], precision: float) -> tuple[float, float]:
    """The highest recall at which the pairs scored >= a threshold are at least `precision` right,
    and that threshold (inf, recall 0 when no threshold is that precise)."""
    zs, ys = np.asarray(z, dtype=float), np.asarray(y, dtype=bool)
    order = np.argsort(-zs, kind="mergesort")
    hits = np.cumsum(ys[order])
    ok = np.nonzero(hits / np.arange(1, len(order) + 1) >= precision)[0]
    if not len(ok) or not ys.any():
        return 0.0, float("inf")
    k = int(ok.max())
    return float(hits[k] / ys.sum()), float(zs[order][k])


def compare(rows: list[dict[str, Any]], traps: set[tuple[int, str]], logits: dict[str, list[float]]) -> list[str]:
    out = []
    for name, z in logits.items():
        line = [f"{name}:"]
        for label, key in (("open", "open"), ("lexical marks", "lexical")):
            idx = [i for i, r in enumerate(rows) if r[key]]
            pos = [z[i] for i in idx if rows[i]["gold"]]
            neg = [z[i] for i in idx if not rows[i]["gold"]]
            trap = [z[i] for i in idx if (rows[i]["answer"], rows[i]["point"]) in traps]
            line.append(f"{label} n {len(idx)} AUC {auc(pos, neg):.3f}, gold vs trap {auc(pos, trap):.3f};")
            if key == "open":
                for p in (0.9, 0.8):
                    r, t = recall_at_precision([z[i] for i in idx], [rows[i]["gold"] for i in idx], p)
                    share = np.mean([v >= t for v in trap]) if trap else float("nan")
                    line.append(f"R@P{p} {r:.3f} (trap pairs above it {share:.3f});")
        out.append(" ".join(line))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, required=True, help="from tools/grader_pairs.py")
    ap.add_argument("--corpus", type=Path, default=ROOT / "grading-data", help="the answers the pairs were made from")
    ap.add_argument("--model", type=Path, action="append", required=True, help="an int8 ONNX cross-encoder (repeat)")
    ap.add_argument("--batch", type=int, action="append", help="only these batches' answers (w28 -> 28)")
    args = ap.parse_args(argv)
    head, rows = tce.load_pairs(args.pairs)
    corpus = tg.load_corpus(args.corpus)
    if head.get("corpus_sha256") != corpus.digest:
        raise SystemExit(f"{args.pairs} was made from corpus {head.get('corpus_sha256')}, not {corpus.digest}")
    ids = [a["id"] for a in corpus.answers]
    rows = [r for r in rows if r["source"] == "corpus"
            and (not args.batch or tg.batch_number(ids[r["answer"]]) in args.batch)]
    traps = {(i, p) for i, a in enumerate(corpus.answers) for p in a.get("traps", [])}
    print(f"{len(rows)} pairs with text to judge, {sum(r['gold'] for r in rows)} gold", file=sys.stderr)
    logits = {str(m): tce.onnx_logits(m, TOKENIZER, rows) for m in args.model}
    print("\n".join(compare(rows, traps, logits)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""The (marking point, answer) pairs the cross-encoder learns from, as the grader would show them.

    .venv/bin/python tools/grader_pairs.py [--corpus grading-data] [--out /tmp/pairs.jsonl]

For every labelled answer and every marking point of its question: the lexical stage's decision,
and the text the learned stage would judge, which is the answer's sentences that no guard objects
to for that point (keyword lists, negations of the point, swapped definitions, wrong numbers or
bodies, echoes of the prompt and fragments are taken out *before* the model reads the answer), so
the model is trained on exactly what it is shown when grading. The question's own model answer is
added once per point as a positive. Each row carries its fold (grouped by question, the same folds
as `benchmarks/grading_quality.py`).

Runs in the project's venv (no torch); `tools/train_cross_encoder.py` reads the file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import train_grader as tg  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402
from bot.tutor.grading.model import judged_text, point_text  # noqa: E402


def pairs(corpus: tg.Corpus, seed: int = tg.SEED) -> list[dict[str, Any]]:
    grader = Grader(corpus.glossary, model=False)
    fold_of = tg.folds_by_question(corpus.answers, seed=seed)
    out: list[dict[str, Any]] = []

    def rows_for(i: int, qid: str, answer: str, gold: set[str], kind: str, source: str) -> None:
        q = corpus.questions[qid]
        compiled = grader.matcher.compiled(q)
        reading = grader.matcher.read(compiled, answer[:4096])
        for n, cp in enumerate(compiled.points):
            lex = grader._lexical(reading, n)
            open_ = lex is None or (not lex.earned and lex.stage != "guard")
            text, veto = judged_text(reading, n)
            out.append({"answer": i, "question": qid, "point": cp.point.id, "fold": fold_of[qid],
                        "a": point_text(cp.point), "b": text, "veto": veto, "gold": cp.point.id in gold,
                        "lexical": bool(lex and lex.earned), "open": open_, "kind": kind, "source": source})

    for i, a in enumerate(corpus.answers):
        rows_for(i, a["question"], a["answer"], set(a["gold"]), a.get("kind", ""), "corpus")
    for qid in sorted({a["question"] for a in corpus.answers}):
        q = corpus.questions[qid]
        if q.model_answer:
            rows_for(-1, qid, q.model_answer, {p.id for p in q.marking_points}, "model_answer", "model_answer")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "grading-data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/pairs.jsonl"))
    args = ap.parse_args()
    corpus = tg.load_corpus(args.corpus)
    rows = pairs(corpus)
    with args.out.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"corpus_sha256": corpus.digest, "rows": len(rows)}) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    judged = [r for r in rows if r["b"]]
    print(f"{args.out}: {len(rows)} pairs, {len(judged)} with text to judge, "
          f"{sum(r['gold'] for r in judged)} positive; {sum(r['open'] for r in rows)} open", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

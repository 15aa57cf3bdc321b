#!/usr/bin/env python3
"""Out-of-fold logits for batches the committed model has never seen, without retraining the folds.

    .venv/bin/python tools/grader_pairs.py --out /tmp/pairs.jsonl      # after `git mv` of the batches
    .venv/bin/python tools/extend_oof.py --pairs /tmp/pairs.jsonl --added w18.jsonl --added w19.jsonl ...

When batches move from `grading-data/next/` into the corpus, every pair of theirs needs a logit from
a model that never saw its question. The committed model (`bot/tutor/grading/weights/
cross.int8.onnx`) was trained on the corpus as it was before the move, so it has never seen the
added batches' questions: its logits for their pairs are out of fold, as the fold models' are for
the rest. This script keeps the existing out-of-fold logits (re-keyed: the keys are answer
positions, and the added files shift them), scores the added batches' pairs with the committed
model exactly as `tools/train_cross_encoder.py` scores a fold (int8 ONNX, one pair per run), and
writes the file for the new corpus. It refuses an out-of-fold file made from another corpus than
the one the batches were added to.

Retraining the five fold models on the grown corpus (about 5 hours on this 2-core machine) would
replace these logits; until then the benchmark's figures for the added questions come from a
model trained on all the other questions (4/5 of them for the rest), a small advantage to them.
Runs in the project's venv (onnxruntime, tokenizers and numpy; no torch).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import train_cross_encoder as tce  # noqa: E402
import train_grader as tg  # noqa: E402


def _answer_ids(corpus: tg.Corpus, files: list[str]) -> tuple[list[str], str]:
    """The ids of the answers `tg.load_corpus` would read from `files` alone, in its order, and that
    corpus's digest (as `load_corpus` computes it)."""
    h = hashlib.sha256()
    ids: list[str] = []
    for name in sorted(files):
        raw = (ROOT / "grading-data" / "answers" / name).read_bytes()
        h.update(name.encode() + b"\0" + raw)
        for line in raw.decode("utf-8").splitlines():
            if line.strip():
                a = json.loads(line)
                if a.get("question") in corpus.questions and isinstance(a.get("answer"), str):
                    ids.append(a["id"])
    return ids, h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=Path("/tmp/pairs.jsonl"))
    ap.add_argument("--added", action="append", required=True, help="an answers file just moved in (repeatable)")
    ap.add_argument("--oof", type=Path, default=tce.OOF)
    ap.add_argument("--model", type=Path, default=tce.WEIGHTS / "cross.int8.onnx")
    args = ap.parse_args(argv)
    corpus = tg.load_corpus()
    missing = [f for f in args.added if f not in corpus.files]
    if missing:
        raise SystemExit(f"not in grading-data/answers/: {', '.join(missing)}")
    old = json.loads(args.oof.read_text())
    old_ids, old_digest = _answer_ids(corpus, [f for f in corpus.files if f not in args.added])
    made_from = old.get("settings", {}).get("corpus_sha256")
    if made_from != old_digest:
        raise SystemExit(f"{args.oof.name} was made from corpus {made_from}; without the added files the corpus "
                         f"is {old_digest}: add the files it was made without")
    new_index = {a["id"]: i for i, a in enumerate(corpus.answers)}
    logits: dict[str, float] = {}
    for key, v in old["logits"].items():
        i, point = key.split(":", 1)
        logits[f"{new_index[old_ids[int(i)]]}:{point}"] = v
    head, rows = tce.load_pairs(args.pairs)
    if head["corpus_sha256"] != corpus.digest:
        raise SystemExit(f"{args.pairs} was made from corpus {head['corpus_sha256']}, not {corpus.digest}: "
                         "run tools/grader_pairs.py again")
    added_ids = set(new_index) - set(old_ids)
    todo = [r for r in rows if r["source"] == "corpus" and corpus.answers[r["answer"]]["id"] in added_ids]
    for r, z in zip(todo, tce.onnx_logits(args.model, tce.WEIGHTS / "tokenizer.json", todo)):
        logits[f"{r['answer']}:{r['point']}"] = round(z, 4)
    settings = old["settings"] | {
        "corpus_sha256": corpus.digest,
        "extended": {"from_corpus": old_digest, "added": sorted(args.added), "pairs": len(todo),
                     "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest()[:16],
                     "pairs_sha256": hashlib.sha256(args.pairs.read_bytes()).hexdigest()[:16]}}
    args.oof.write_text(json.dumps({"logits": logits, "settings": settings}, sort_keys=True) + "\n")
    print(f"{args.oof}: {len(old['logits'])} logits kept, {len(todo)} scored by {args.model.name} "
          f"for {len(added_ids)} added answers", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

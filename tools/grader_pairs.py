#!/usr/bin/env python3
"""The (marking point, answer) pairs the cross-encoder learns from, as the grader would show them.

    .venv/bin/python tools/grader_pairs.py [--corpus grading-data] [--out /tmp/pairs.jsonl] [--synthetic]

For every labelled answer and every marking point of its question: the lexical stage's decision,
and the text the learned stage would judge, which is the answer's sentences that no guard objects
to for that point (keyword lists, negations of the point, swapped definitions, wrong numbers or
bodies, echoes of the prompt and fragments are taken out *before* the model reads the answer), so
the model is trained on exactly what it is shown when grading. The question's own model answer is
added once per point as a positive. Each row carries its fold (grouped by question, the same folds
as `benchmarks/grading_quality.py`).

`--synthetic` adds training-only hard negatives built from each point's own words (`hard_negatives`:
the definition under a sibling's term, the point said of another term of its topic, its main
clause negated, its words as a list), through the same guards. Measured on fold 0 (freeze the
embeddings, 2 epochs): held-out AUC 0.877 -> 0.859 on open pairs and 0.868 -> 0.849 on lexical
marks, so the shipped model is trained without them.

Runs in the project's venv (no torch); `tools/train_cross_encoder.py` reads the file.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import train_grader as tg  # noqa: E402
from bot.tutor.bank import Question  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402
from bot.tutor.grading.guards import _subject  # noqa: E402
from bot.tutor.grading.model import judged_text, point_text  # noqa: E402

_NEG_AFTER = re.compile(r"\b(is|are|must|should|can|will|means|has to|have to)\b", re.I)
_NEGATED = re.compile(r"\b(not|no|never|without|cannot|neither|nor|unless)\b|n't", re.I)


def _term(text: str) -> str:
    """The term a point defines outright ("AHT is ...", "Adherence means ..."), or ""."""
    subject, strong = _subject(text)
    return subject if strong and len(subject.split()) <= 3 else ""


def _swap_subject(text: str, subject: str, other: str) -> str:
    """`text` with its defined term `subject` replaced by `other` (first occurrence), or ""."""
    i = text.lower().find(subject.lower())
    return text[:i] + other + text[i + len(subject):] if i >= 0 and other.lower() != subject.lower() else ""


def hard_negatives(q: Question, subjects_by_topic: dict[str, list[str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """Answers built from each point's own words that earn nothing: (point id, answer, how).

    The right definition under a sibling point's term ("Occupancy is how closely agents keep to
    their schedule"), the point said of another term of its topic, the point negated in its main
    clause and its words as a bare list. They go through the same guards as a learner's answer:
    the ones the guards catch never reach the model, the rest are the hard negatives. (Not its
    numbers changed: a number the point insists on is the numbers guard's, and one that passes
    it is an example, still right when changed.)"""
    out: list[tuple[str, str, str]] = []
    pts = list(q.marking_points)
    subj = {p.id: _term(p.text) for p in pts}
    for p in pts:
        s = subj[p.id]
        if s:
            for o in pts:
                if o.id != p.id and subj[o.id]:
                    swapped = _swap_subject(o.text, subj[o.id], s)
                    if swapped:
                        out.append((p.id, swapped, "swapped"))  # p's term, o's definition
            others = [t for t in subjects_by_topic.get(q.topic, []) if t.lower() != s.lower()
                      and t.lower() not in {v.lower() for v in subj.values()}]
            if others:
                wrong = _swap_subject(p.text, s, rng.choice(others))
                if wrong:
                    out.append((p.id, wrong, "wrong-term"))
        m = _NEG_AFTER.search(p.text)
        if m and m.start() < 60 and not _NEGATED.search(p.text):  # the main clause, not a later one
            out.append((p.id, p.text[:m.end()] + " not" + p.text[m.end():], "negation"))
        words = [w for w in re.findall(r"[A-Za-z][\w'-]+", p.text) if len(w) > 3]
        if len(words) >= 3:
            rng.shuffle(words)
            out.append((p.id, ", ".join(words[:5]), "keyword_stuffing"))
    return out


def pairs(corpus: tg.Corpus, seed: int = tg.SEED, synthetic: bool = False, group: str = "question"
          ) -> list[dict[str, Any]]:
    grader = Grader(corpus.glossary, model=False)
    fold_of = tg.folds(corpus.answers, group, seed=seed)
    out: list[dict[str, Any]] = []

    def rows_for(i: int, qid: str, answer: str, gold: set[str], kind: str, source: str,
                 only: str | None = None) -> None:
        q = corpus.questions[qid]
        compiled = grader.matcher.compiled(q)
        reading = grader.matcher.read(compiled, answer[:4096])
        for n, cp in enumerate(compiled.points):
            if only is not None and cp.point.id != only:
                continue
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
    if synthetic:  # training only: never scored, never in a figure
        asked = sorted({a["question"] for a in corpus.answers})
        by_topic: dict[str, list[str]] = {}
        for qid in asked:
            q = corpus.questions[qid]
            for p in q.marking_points:
                s = _term(p.text)
                if s and s not in by_topic.setdefault(q.topic, []):
                    by_topic[q.topic].append(s)
        rng = random.Random(seed)
        for qid in asked:
            for pid, text, how in hard_negatives(corpus.questions[qid], by_topic, rng):
                rows_for(-2, qid, text, set(), how, "synthetic", only=pid)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "grading-data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/pairs.jsonl"))
    ap.add_argument("--synthetic", action="store_true",
                    help="add the hard negatives built from the points' own words (measured: they lower the "
                         "held-out AUC, so the shipped model is trained without them)")
    ap.add_argument("--group", choices=tg.GROUPS, default="question",
                    help="group the folds by question (default) or by batch: a fold model then never sees "
                         "any question of the batches it scores, as with batches written after it")
    args = ap.parse_args()
    corpus = tg.load_corpus(args.corpus)
    rows = pairs(corpus, synthetic=args.synthetic, group=args.group)
    with args.out.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"corpus_sha256": corpus.digest, "rows": len(rows), "group": args.group}) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    judged = [r for r in rows if r["b"]]
    syn = [r for r in rows if r["source"] == "synthetic"]
    print(f"{args.out}: {len(rows)} pairs, {len(judged)} with text to judge, "
          f"{sum(r['gold'] for r in judged)} positive; {sum(r['open'] for r in rows)} open; "
          f"{len(syn)} synthetic negatives, {sum(bool(r['b']) for r in syn)} past the guards", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

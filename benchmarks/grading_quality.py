"""Grading quality on the development set, in-process: overall, per kind, per half.

    .venv/bin/python benchmarks/grading_quality.py [--errors] [--half A|B] [--dev DIR]

The dev questions are split into two halves by their order in questions.yaml (A: 1st,
3rd, 5th..., B: 2nd, 4th, ...). Develop on A and check B (and vice versa): a change that
helps only one half is probably tuned to its sentences. Scoring is evaluate.py's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.tutor.bank import load_bank, load_glossary  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402


def _evaluate_module(dev: Path):
    spec = importlib.util.spec_from_file_location("grading_evaluate", dev / "evaluate.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default=str(ROOT.parent / "shared" / "grading-dev"))
    ap.add_argument("--half", choices=["A", "B"], help="only this half of the questions")
    ap.add_argument("--errors", action="store_true", help="print every disagreement")
    ap.add_argument("--kind", help="with --errors: only this kind")
    args = ap.parse_args(argv)
    dev = Path(args.dev)
    ev = _evaluate_module(dev)
    qfile = dev / "questions.yaml"
    questions = ev.load_questions(str(qfile))
    answers = ev.load_answers(str(dev / "answers.jsonl"), questions)
    bank = load_bank(qfile)
    glossary = load_glossary(ROOT / "content").merged(bank.glossary)
    grader = Grader(glossary)
    order = [q.id for q in bank]
    halves = {"A": set(order[0::2]), "B": set(order[1::2])}
    preds: dict[str, list[str]] = {}
    for a in answers:
        m = grader.grade(bank.get(a["question"]), a["answer"])
        preds[a["id"]] = list(m.hits)
    sets = [("all", answers)] + [(f"half {h}", [a for a in answers if a["question"] in halves[h]]) for h in "AB"]
    if args.half:
        sets = [(f"half {args.half}", [a for a in answers if a["question"] in halves[args.half]])]
    for name, subset in sets:
        result = ev.score(questions, subset, preds)
        ev.print_table(result, f"{name}: {len(subset)} answers")
        print()
    if args.errors:
        subset = sets[-1][1] if args.half else answers
        for a in subset:
            if args.kind and a.get("kind") != args.kind:
                continue
            gold, pred = set(a["gold"]), set(preds[a["id"]])
            if gold != pred:
                print(f"{a['id']} [{a.get('kind')}] {a['question']}: {a['answer'][:300]!r}")
                print(f"    missed={sorted(gold - pred)} false={sorted(pred - gold)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Check a grading corpus: every answer names a known question and known point ids.

Usage: python tools/check_corpus.py [ANSWERS.jsonl|DIR ...] [--questions DIR ...]

Questions are read from `content/` and `grading-data/questions/` (plus any --questions
folders); answers from `grading-data/answers/` unless files are given. Prints one line per
problem and a summary of answers, questions and kinds; exits 1 on any problem.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"full", "partial", "paraphrase", "terse", "typo", "abbreviation", "british_american", "long",
         "misconception", "keyword_stuffing", "off_topic", "empty_or_junk"}
SUBKINDS = {"wrong-number", "wrong-body", "opposite", "negation", "swapped", "misconception"}


def load_points(folders: list[Path]) -> dict[str, set[str]]:
    points: dict[str, set[str]] = {}
    for folder in folders:
        files = [folder] if folder.is_file() else sorted(folder.glob("*.yaml"))
        for f in files:
            doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            for q in doc.get("questions") or []:
                if q.get("type") == "free_text":
                    points[q["id"]] = {p["id"] for p in q.get("marking_points") or []}
    return points


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("answers", nargs="*", type=Path)
    ap.add_argument("--questions", action="append", type=Path, default=[])
    args = ap.parse_args(argv)
    points = load_points([ROOT / "content", ROOT / "grading-data" / "questions", *args.questions])
    files: list[Path] = []
    for a in args.answers or [ROOT / "grading-data" / "answers"]:
        files += sorted(a.glob("*.jsonl")) if a.is_dir() else [a]
    problems, seen, kinds, qs = [], set(), collections.Counter(), collections.Counter()
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{f}:{n}"
            try:
                a = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: not JSON: {exc}")
                continue
            for key in ("id", "question", "answer", "gold", "kind", "writer"):
                if key not in a:
                    problems.append(f"{where}: missing {key}")
            if a.get("id") in seen:
                problems.append(f"{where}: duplicate id {a.get('id')}")
            seen.add(a.get("id"))
            q = a.get("question")
            if q not in points:
                problems.append(f"{where}: unknown free-text question {q!r}")
                continue
            for field in ("gold", "traps"):
                for pid in a.get(field) or []:
                    if pid not in points[q]:
                        problems.append(f"{where}: {field} names unknown point {pid!r} of {q}")
            if set(a.get("gold") or []) & set(a.get("traps") or []):
                problems.append(f"{where}: a point is both gold and trap")
            if a.get("kind") not in KINDS:
                problems.append(f"{where}: unknown kind {a.get('kind')!r}")
            if a.get("kind") == "misconception" and a.get("subkind") not in SUBKINDS:
                problems.append(f"{where}: misconception needs subkind in {sorted(SUBKINDS)}")
            kinds[a.get("kind")] += 1
            qs[q] += 1
    for p in problems:
        print(p)
    print(f"{len(seen)} answers over {len(qs)} questions; kinds: {dict(sorted(kinds.items()))}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

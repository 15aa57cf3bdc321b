"""Grading speed: p50/p99 latency per answer and answers per second.

    .venv/bin/python benchmarks/grading.py [--dev DIR] [--rounds N]

Two workloads on the grading development set: the dev answers as they are (mostly under
300 characters), and 4,096-character answers built by repeating each dev answer. One
Grader is reused, as the bot does (compiled questions are cached on it); the first,
compiling call for each question is timed separately.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.tutor.bank import load_bank, load_glossary  # noqa: E402
from bot.tutor.grading import MAX_ANSWER_CHARS, Grader  # noqa: E402


def _run(grader: Grader, work: list, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for q, text in work:
            t0 = time.perf_counter()
            grader.grade(q, text)
            times.append(time.perf_counter() - t0)
    return times


def _report(name: str, times: list[float], work: list) -> None:
    times = sorted(times)
    p50 = times[len(times) // 2] * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    chars = statistics.mean(len(t) for _, t in work)
    print(f"{name:<28} n={len(times):>6}  mean chars={chars:>6.0f}  p50={p50:7.3f} ms  "
          f"p99={p99:7.3f} ms  max={times[-1] * 1000:7.3f} ms  {len(times) / sum(times):>8.0f} answers/s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dev", default=str(ROOT.parent / "shared" / "grading-dev"))
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    dev = Path(args.dev)
    bank = load_bank(dev / "questions.yaml")
    grader = Grader(load_glossary(ROOT / "content").merged(bank.glossary))
    rows = [json.loads(line) for line in (dev / "answers.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    short = [(bank.get(r["question"]), r["answer"]) for r in rows]
    long = []
    for q, text in short:
        body = (text.strip() or "no idea") + " "
        long.append((q, (body * (MAX_ANSWER_CHARS // len(body) + 1))[:MAX_ANSWER_CHARS]))

    t0 = time.perf_counter()
    cold = Grader(grader.glossary)
    for q in {id(q): q for q, _ in short}.values():
        cold.grade(q, "")
    n_q = len({id(q) for q, _ in short})
    print(f"compiling {n_q} questions (first grade of each): {(time.perf_counter() - t0) * 1000 / n_q:.2f} ms per question")

    _run(grader, short, 1)  # warm the caches
    _report("dev answers", _run(grader, short, args.rounds), short)
    _report("dev answers <= 300 chars", _run(grader, [w for w in short if len(w[1]) <= 300], args.rounds),
            [w for w in short if len(w[1]) <= 300])
    _report(f"{MAX_ANSWER_CHARS}-char answers", _run(grader, long, max(1, args.rounds // 4)), long)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

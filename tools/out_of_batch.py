#!/usr/bin/env python3
"""Out-of-batch logits: each batch scored by a committed model that never saw any of it.

    .venv/bin/python tools/grader_pairs.py --out /tmp/pairs.jsonl
    .venv/bin/python tools/out_of_batch.py --pairs /tmp/pairs.jsonl \\
        --model db4eb79:w10-w17 --model 77ce424:w18-w23

The out-of-fold logits (`grading-data/cross_encoder_oof.json`) come from fold models that never saw
an answer's question, but did see the other questions of its batch: one writer's questions in one
style. A batch written later is not seen at all. Git history holds the model that shipped before
each batch joined the corpus (`--model REV:FIRST-LAST`: the commit whose
`bot/tutor/grading/weights/cross.int8.onnx` was trained before batches FIRST..LAST were written),
so each batch's pairs can also be scored by a model that never saw its batch, exactly as
`tools/train_cross_encoder.py` scores a fold (int8 ONNX, one pair per run). The result goes to
`grading-data/cross_encoder_oob.json`; `benchmarks/grading_quality.py` scores those answers both
ways with the same heads ("leave-batches-out"). The older models were trained on fewer questions
(367 and 487), so these logits are, if anything, pessimistic. Batches that joined the corpus the
short way (`tools/extend_oof.py`, w24–w27) need none: their out-of-fold logits are out of batch
already. Runs in the project's venv (onnxruntime, tokenizers, numpy; no torch).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import train_cross_encoder as tce  # noqa: E402
import train_grader as tg  # noqa: E402

OOB = ROOT / "grading-data" / "cross_encoder_oob.json"
_SPEC = re.compile(r"^([0-9a-f]{7,40}):w(\d+)-w(\d+)$")


def parse_model(spec: str) -> tuple[str, range]:
    """"db4eb79:w10-w17" -> ("db4eb79", range(10, 18))."""
    m = _SPEC.match(spec)
    if not m or int(m.group(2)) > int(m.group(3)):
        raise argparse.ArgumentTypeError(f"expected REV:wFIRST-wLAST (e.g. db4eb79:w10-w17), not {spec!r}")
    return m.group(1), range(int(m.group(2)), int(m.group(3)) + 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=Path("/tmp/pairs.jsonl"))
    ap.add_argument("--model", type=parse_model, action="append", required=True,
                    help="REV:wFIRST-wLAST, the model committed at REV scores batches FIRST..LAST (repeatable)")
    ap.add_argument("--out", type=Path, default=OOB)
    args = ap.parse_args(argv)
    corpus = tg.load_corpus()
    head, rows = tce.load_pairs(args.pairs)
    if head["corpus_sha256"] != corpus.digest:
        raise SystemExit(f"{args.pairs} was made from corpus {head['corpus_sha256']}, not {corpus.digest}: "
                         "run tools/grader_pairs.py again")
    logits: dict[str, float] = {}
    models: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rev, batches in args.model:
            got = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:bot/tutor/grading/weights/cross.int8.onnx"],
                                 capture_output=True)
            if got.returncode:
                raise SystemExit(f"no model at {rev} in this clone's history: {got.stderr.decode().strip()}")
            blob = got.stdout
            path = Path(tmp) / f"{rev}.int8.onnx"
            path.write_bytes(blob)
            todo = [r for r in rows if r["source"] == "corpus"
                    and tg.batch_number(corpus.answers[r["answer"]]["id"]) in batches]
            for r, z in zip(todo, tce.onnx_logits(path, tce.WEIGHTS / "tokenizer.json", todo)):
                logits[f"{r['answer']}:{r['point']}"] = round(z, 4)
            models[rev] = {"batches": f"w{batches.start}-w{batches.stop - 1}", "first": batches.start,
                           "last": batches.stop - 1, "pairs": len(todo),
                           "model_sha256": hashlib.sha256(blob).hexdigest()[:16]}
            print(f"{rev}: {len(todo)} pairs of w{batches.start}-w{batches.stop - 1}", file=sys.stderr, flush=True)
    settings = {"corpus_sha256": corpus.digest, "models": models,
                "pairs_sha256": hashlib.sha256(args.pairs.read_bytes()).hexdigest()[:16]}
    args.out.write_text(json.dumps({"logits": logits, "settings": settings}, sort_keys=True) + "\n")
    print(f"{args.out}: {len(logits)} logits", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

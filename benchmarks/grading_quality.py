"""Grading quality, leave-questions-out, on the labelled corpus (grading-data/) and the dev set.

    .venv/bin/python benchmarks/grading_quality.py [--systems round1,lexical,model] [--folds 5]
        [--seed 12] [--json FILE] [--errors SYSTEM] [--no-dev] [--rows-cache FILE]

Grouped k-fold by question (fixed seed): whatever is fitted (the model's head, its calibration
and thresholds) is fitted on the other folds only, and scored on the held-out questions. Systems:

- `round1`:  the first-round grader, taken from git history by benchmarks/round1.py (nothing fitted);
- `lexical`: today's grader without the learned stage (lexical evidence + guards);
- `model`:   today's grader with the learned stage as the issue designed it (it may only add a
             mark, at a calibrated threshold under a false-credit budget; below it a hint);
- `model+doubt`: the same, and the model may also doubt a lexical mark (the shipped design).

The cross-encoder's logits are read from grading-data/cross_encoder_oof.json: each comes from
a model trained by tools/train_cross_encoder.py on the other folds (same folds, same seed), so no
figure is scored on a question the model or its head saw.

Figures over (answer, marking point) pairs: micro P/R/F1; FC = share of answers that deserve
nothing (gold empty) that get any credit; trap = share of trap pairs credited; para R = recall
on paraphrases; swap = share of swapped-definition answers with any false credit; maybe = share
of open pairs flagged "may cover", and how often a maybe was right. Then overall, per kind, per
subkind and per topic; the reliability of the model's confidence by bucket; leave-batches-out (the
answers of the batches in `grading-data/cross_encoder_oob.json`, `tools/out_of_batch.py`, scored
again with logits from models that never saw their batch); and the untouched dev set
(../shared/grading-dev/, scored by its own evaluate.py) with the committed model.

The held-out set (grading-data/holdout/: its own questions and answers, by writers who had not
read the grader, never trained, tuned or fitted on) is scored with the committed grader as it
ships (lexical, and with the committed model and heads): no fold is needed, because nothing in
the grader has seen it. Its practice questions are new; its bank-question answers are by new
writers. Printed per source and kind (`--no-holdout` skips it). Batches written and labelled but
not yet trained on (grading-data/next/) are scored the same way, as "unseen (next/)", until a
retrain moves them into the corpus.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

import train_grader as tg  # noqa: E402
from bot.tutor.bank import load_bank, load_glossary  # noqa: E402
from bot.tutor.grading import Grader  # noqa: E402

_UNITS = {
    "Coordinate customer communication processes in a contact centre": "unit: communication",
    "Contribute to performance management in a contact centre": "unit: performance",
    "Manage customer service delivery in a contact centre": "unit: service delivery",
    "Develop customer service procedures for use in a contact centre": "unit: procedures",
}
SECOND = ROOT / "grading-data" / "second-examiner.jsonl"
OOB = ROOT / "grading-data" / "cross_encoder_oob.json"  # tools/out_of_batch.py
TARGETS = {"f1": (">=", 0.90), "fc": ("<=", 0.05), "trap": ("<=", 0.08), "para_r": (">=", 0.75), "swap": ("<=", 0.0)}


def _round1_predict(corpus: tg.Corpus) -> dict[int, set[str]]:
    from benchmarks.round1 import load as round1

    Round1 = round1().Grader

    g = Round1(corpus.glossary)
    return {i: set(g.grade(corpus.questions[a["question"]], a["answer"]).hits) for i, a in enumerate(corpus.answers)}


def _from_rows(rows: list[tg.Row], heads: dict[int, Any] | None, fold_of: dict[str, int],
               doubts: dict[int, Any] | None = None
               ) -> tuple[dict[int, set[str]], dict[int, set[str]], list[tuple[float, bool]]]:
    hits: dict[int, set[str]] = defaultdict(set)
    maybe: dict[int, set[str]] = defaultdict(set)
    scored: list[tuple[float, bool]] = []
    for r in rows:
        hits[r.answer]
        if r.lexical:
            d = doubts[fold_of[r.question]] if doubts is not None else None
            if d is not None and r.x is not None and d.prob(r.x) < d.doubt:
                maybe[r.answer].add(r.point)
            else:
                hits[r.answer].add(r.point)
        elif heads is not None and r.x is not None:
            h = heads[fold_of[r.question]]
            p = h.prob(r.x)
            scored.append((p, r.gold))
            if p >= h.award:
                hits[r.answer].add(r.point)
            elif p >= h.hint:
                maybe[r.answer].add(r.point)
    return hits, maybe, scored


def score(corpus: tg.Corpus, hits: dict[int, set[str]], maybe: dict[int, set[str]] | None,
          key: Any) -> dict[str, dict[str, Any]]:
    buckets: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for i, a in enumerate(corpus.answers):
        q = corpus.questions[a["question"]]
        points = {p.id for p in q.marking_points}
        gold, pred = set(a["gold"]), hits.get(i, set()) & points
        mb = (maybe or {}).get(i, set()) - pred
        for name in key(a, q):
            b = buckets[name]
            b["n"] += 1
            b["tp"] += len(pred & gold)
            b["fp"] += len(pred - gold)
            b["fn"] += len(gold - pred)
            if not gold:
                b["empty"] += 1
                b["empty_hit"] += bool(pred)
            traps = set(a.get("traps") or [])
            b["traps"] += len(traps)
            b["trap_hit"] += len(traps & pred)
            if a.get("kind") == "paraphrase":
                b["para_tp"] += len(pred & gold)
                b["para_gold"] += len(gold)
            if a.get("subkind") == "swapped":
                b["swap"] += 1
                b["swap_hit"] += bool(pred - gold)
            b["open"] += len(points - pred)
            b["maybe"] += len(mb)
            b["maybe_right"] += len(mb & gold)
    out = {}
    for name, b in buckets.items():
        p = b["tp"] / (b["tp"] + b["fp"]) if b["tp"] + b["fp"] else None
        r = b["tp"] / (b["tp"] + b["fn"]) if b["tp"] + b["fn"] else None
        f1 = (2 * p * r / (p + r) if p and r else 0.0) if p is not None and r is not None else None
        out[name] = {
            "n": int(b["n"]), "precision": p, "recall": r, "f1": f1,
            "fc": b["empty_hit"] / b["empty"] if b["empty"] else None, "empty": int(b["empty"]),
            "trap": b["trap_hit"] / b["traps"] if b["traps"] else None,
            "para_r": b["para_tp"] / b["para_gold"] if b["para_gold"] else None,
            "swap": b["swap_hit"] / b["swap"] if b["swap"] else None,
            "maybe": b["maybe"] / b["open"] if b["open"] else None,
            "maybe_right": b["maybe_right"] / b["maybe"] if b["maybe"] else None,
        }
    return out


def load_second(path: Path) -> dict[str, set[str]]:
    """A second examiner's blind marking of some corpus answers: answer id -> the points credited."""
    out: dict[str, set[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["id"])] = set(row["credit"])
    return out


def kappa(corpus: tg.Corpus, a: dict[int, set[str]], b: dict[int, set[str]], only: set[int]) -> float | None:
    """Cohen's kappa of two markings over every (answer, marking point) pair of the answers `only`."""
    both = n = ya = yb = 0
    for i in only:
        q = corpus.questions[corpus.answers[i]["question"]]
        for p in q.marking_points:
            x, y = p.id in a.get(i, set()), p.id in b.get(i, set())
            n += 1
            both += x == y
            ya += x
            yb += y
    if not n:
        return None
    chance = (ya / n) * (yb / n) + (1 - ya / n) * (1 - yb / n)
    return (both / n - chance) / (1 - chance) if chance < 1 else None


def double_marked(corpus: tg.Corpus, preds: dict[str, tuple[dict[int, set[str]], dict[int, set[str]] | None]],
                  second: dict[str, set[str]]) -> dict[str, Any]:
    """The second examiner and every system, each against the corpus labels, on the answers both
    examiners marked: how far from the examiners' own agreement each system is."""
    idx = {a["id"]: i for i, a in enumerate(corpus.answers)}
    ex2 = {idx[k]: v for k, v in second.items() if k in idx}
    gold = {i: set(a["gold"]) for i, a in enumerate(corpus.answers)}

    def key(a: dict[str, Any], q: Any) -> list[str]:
        return ["double-marked"] if a["id"] in second else []

    res = {s: score(corpus, h, m, key) for s, (h, m) in preds.items()}
    res["examiner2"] = score(corpus, ex2, None, key)
    only = set(ex2)
    kappas = {s: kappa(corpus, h, gold, only) for s, (h, _) in preds.items()} | {"examiner2": kappa(corpus, ex2, gold, only)}
    return {"results": res, "kappa": kappas, "answers": len(only),
            "questions": len({corpus.answers[i]["question"] for i in only})}


def _f(v: Any, w: int = 6) -> str:
    return f"{v:>{w}.3f}" if isinstance(v, float) else f"{'-':>{w}}"


def print_table(title: str, results: dict[str, dict[str, dict[str, Any]]], order: list[str]) -> None:
    print(f"\n{title}")
    print(f"{'':<26}{'system':<9}{'n':>5}{'P':>7}{'R':>7}{'F1':>7}{'FC':>7}{'trap':>7}{'paraR':>7}{'swap':>7}{'maybe':>7}{'mb ok':>7}")
    for name in order:
        for sysname, res in results.items():
            f = res.get(name)
            if f is None:
                continue
            print(f"{name[:25]:<26}{sysname:<9}{f['n']:>5}{_f(f['precision'], 7)}{_f(f['recall'], 7)}{_f(f['f1'], 7)}"
                  f"{_f(f['fc'], 7)}{_f(f['trap'], 7)}{_f(f['para_r'], 7)}{_f(f['swap'], 7)}{_f(f['maybe'], 7)}{_f(f['maybe_right'], 7)}")


def _pc(v: Any) -> str:
    return f"{100 * v:.1f} %" if isinstance(v, float) else "–"


def _n3(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else "–"


def markdown(results: dict[str, dict[str, Any]], shipped: str) -> str:
    """The README's tables: F1 per system; P/R, false credit, traps, hints of the shipped one."""
    systems = [s for s in ("round1", "lexical", "model", "model+doubt") if s in results["overall"]]
    out = []
    for kname, res in results.items():
        out.append(f"| {kname} | n | " + " | ".join(f"F1 {s}" for s in systems)
                   + f" | P / R ({shipped}) | FC " + " → ".join(systems) + " | trap " + " → ".join(systems)
                   + f" | para R ({shipped}) | hints ({shipped}: share, right) |")
        out.append("|---" * (len(systems) + 7) + "|")
        for name in sorted({n for r in res.values() for n in r}):
            f = {s: res[s].get(name) or {} for s in systems}
            sh = f.get(shipped) or {}
            out.append(f"| {name} | {sh.get('n', f[systems[0]].get('n', 0))} | "
                       + " | ".join(_n3(f[s].get("f1")) for s in systems)
                       + f" | {_n3(sh.get('precision'))} / {_n3(sh.get('recall'))} | "
                       + " → ".join(_pc(f[s].get("fc")) for s in systems) + " | "
                       + " → ".join(_pc(f[s].get("trap")) for s in systems)
                       + f" | {_n3(sh.get('para_r'))} | {_pc(sh.get('maybe'))}, {_pc(sh.get('maybe_right'))} |")
        out.append("")
    return "\n".join(out)


def _dev(args: argparse.Namespace) -> None:
    dev = Path(args.dev)
    if not (dev / "evaluate.py").exists():
        return
    spec = importlib.util.spec_from_file_location("grading_evaluate", dev / "evaluate.py")
    assert spec and spec.loader
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)
    qfile = dev / "questions.yaml"
    questions = ev.load_questions(str(qfile))
    answers = ev.load_answers(str(dev / "answers.jsonl"), questions)
    bank = load_bank(qfile)
    glossary = load_glossary(ROOT / "content").merged(bank.glossary)
    from benchmarks.round1 import load as round1

    Round1 = round1().Grader

    graders = {"round1": Round1(glossary), "lexical": Grader(glossary, model=False)}
    if any(x.startswith("model") for x in args.systems.split(",")):
        graders["model+doubt"] = Grader(glossary, model=None)
    for name, g in graders.items():
        preds = {a["id"]: list(g.grade(bank.get(a["question"]), a["answer"]).hits) for a in answers}
        result = ev.score(questions, answers, preds)
        ev.print_table(result, f"\ndev set (untouched, {len(answers)} answers), {name}: committed grader")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT / "grading-data"))
    ap.add_argument("--dev", default=str(ROOT.parent / "shared" / "grading-dev"))
    ap.add_argument("--systems", default="round1,lexical,model,model+doubt")
    ap.add_argument("--folds", type=int, default=tg.FOLDS)
    ap.add_argument("--seed", type=int, default=tg.SEED)
    ap.add_argument("--min-precision", type=float, default=tg.Budget.min_precision,
                    help="the precision a model award needs (default: the lexical grader's, on the training folds)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--errors", help="print the disagreements of this system")
    ap.add_argument("--no-dev", action="store_true")
    ap.add_argument("--holdout", action="append",
                    help="a folder of answers nothing in the grader has seen (repeatable; default: "
                         "grading-data/holdout and grading-data/next)")
    ap.add_argument("--no-holdout", action="store_true")
    ap.add_argument("--markdown", help="write the README's tables to this file")
    ap.add_argument("--second", default=str(SECOND), help="a second examiner's blind marking of some corpus answers")
    args = ap.parse_args(argv)
    args.holdout = args.holdout or [str(ROOT / "grading-data" / "holdout"), str(ROOT / "grading-data" / "next")]
    systems = args.systems.split(",")
    corpus = tg.load_corpus(Path(args.corpus))
    if not corpus.answers:
        print("no labelled answers in the corpus yet", file=sys.stderr)
    group = tg.oof_group()  # the folds the out-of-fold logits were made with
    fold_of = tg.folds(corpus.answers, group, args.folds, args.seed)
    qn = len({a["question"] for a in corpus.answers})
    print(f"corpus {corpus.digest}: {len(corpus.answers)} answers over {qn} questions ({corpus.skipped} skipped), "
          f"{args.folds} folds by {group}, seed {args.seed}")
    preds: dict[str, tuple[dict[int, set[str]], dict[int, set[str]] | None]] = {}
    extra: dict[str, Any] = {}
    if "round1" in systems:
        preds["round1"] = (_round1_predict(corpus), None)
    model_systems = [x for x in systems if x.startswith("model")]
    if "lexical" in systems and not model_systems:
        g = Grader(corpus.glossary, model=False)
        preds["lexical"] = ({i: set(g.grade(corpus.questions[a["question"]], a["answer"]).hits)
                             for i, a in enumerate(corpus.answers)}, None)
    elif model_systems:
        # the cross-encoder's logits are out of fold (each from a model trained without that
        # question's fold, tools/train_cross_encoder.py); the heads and thresholds are fitted here
        # per fold on the other folds' rows only
        rows = tg.extract(corpus, tg.out_of_fold_logits(corpus))
        preds["lexical"] = (_from_rows(rows, None, fold_of)[0], None)
        budget = tg.Budget(min_precision=args.min_precision)
        heads, infos, doubts, dinfos, dheads, dhinfos = {}, {}, {}, {}, {}, {}
        for f in range(args.folds):
            train = [r for r in rows if fold_of[r.question] != f]
            heads[f], infos[f] = tg.fit(train, fold_of, budget, seed=args.seed)
            doubts[f], dinfos[f] = tg.fit_doubt(train, budget, seed=args.seed)
            # the shipped design: the awards may use the false credit the doubts took back
            dheads[f], dhinfos[f] = tg.fit(train, fold_of, budget, seed=args.seed,
                                           doubted=dinfos[f].pop("doubted_rows"))
        hits, maybe, scored = _from_rows(rows, heads, fold_of)
        if "model" in systems:
            preds["model"] = (hits, maybe)
        if "model+doubt" in systems:
            preds["model+doubt"] = _from_rows(rows, dheads, fold_of, doubts)[:2]
            # the doubt budget's trade-off: the same design at other doubt precisions
            sweep = {}
            for dp in (0.3, 0.4, 0.45, 0.5, 0.6, 2 / 3, 0.75, 0.8):
                alt, alt_heads = {}, {}
                for f in range(args.folds):
                    train = [r for r in rows if fold_of[r.question] != f]
                    b = tg.Budget(min_precision=args.min_precision, doubt_precision=dp)
                    alt[f], info = tg.fit_doubt(train, b, seed=args.seed)
                    alt_heads[f] = tg.fit(train, fold_of, b, seed=args.seed, doubted=info["doubted_rows"])[0]
                h, m, _ = _from_rows(rows, alt_heads, fold_of, alt)
                sweep[round(dp, 3)] = score(corpus, h, m, lambda a, q: ["all"])["all"]
            extra["doubt_sweep"] = sweep
        p = np.array([s[0] for s in scored]) if scored else np.zeros(0)
        y = np.array([s[1] for s in scored], dtype=float) if scored else np.zeros(0)
        extra["reliability"] = tg.reliability(p, y) if scored else []
        ds = [(doubts[fold_of[r.question]].prob(r.x), r.gold) for r in rows if r.lexical and r.x is not None]
        extra["doubt_reliability"] = tg.reliability(np.array([d[0] for d in ds]),
                                                    np.array([d[1] for d in ds], dtype=float)) if ds else []
        extra["folds"] = {f: {k: v for k, v in i.items() if k != "reliability"} for f, i in dhinfos.items()}
        extra["doubt_folds"] = {f: {k: v for k, v in i.items() if k != "reliability"} for f, i in dinfos.items()}
        extra["rule_precision"] = tg.rule_precision(rows)
    keyers = {
        "overall": lambda a, q: ["all"],
        "kind": lambda a, q: [a.get("kind") or "?"],
        "subkind": lambda a, q: [a["subkind"]] if a.get("subkind") else [],
        # bank questions by their topic; practice questions (grading-data/questions/) by unit only
        "topic": lambda a, q: [] if q.topic.startswith("practice") else [q.topic],
        "unit": lambda a, q: [_UNITS.get(q.unit, q.unit or "?")],
        "source": lambda a, q: ["practice" if q.topic.startswith("practice") else "bank"],
    }
    results: dict[str, dict[str, Any]] = {}
    for kname, key in keyers.items():
        res = {s: score(corpus, h, m, key) for s, (h, m) in preds.items()}
        results[kname] = res
        names = sorted({n for r in res.values() for n in r})
        print_table(f"leave-questions-out, {kname}", res, names)
    if "folds" in extra:
        print("\nmodel thresholds per fold (chosen on the other folds):")
        for f, i in extra["folds"].items():
            d = extra["doubt_folds"][f]
            print(f"  fold {f}: award {i.get('award')}, hint {i.get('hint')}, T {i.get('temperature')}, "
                  f"lexical FC on train {i.get('lexical_false_credit')}, rows {i.get('rows')}; doubt {d.get('doubt')} "
                  f"({d.get('doubted_wrong')}/{d.get('doubted')} doubted marks wrong on train)")
        print("reliability of the model's calibrated p on held-out questions (open pairs):")
        for b in extra["reliability"]:
            print(f"  p {b['bucket']}: n {b['n']:>5}  mean p {b['mean_p']:.3f}  observed {b['observed']:.3f}")
        print("reliability of the doubt head's p (that a lexical mark is right) on held-out questions:")
        for b in extra["doubt_reliability"]:
            print(f"  p {b['bucket']}: n {b['n']:>5}  mean p {b['mean_p']:.3f}  observed {b['observed']:.3f}")
        print(f"lexical rule precision (corpus): {extra['rule_precision']}")
    if "doubt_sweep" in extra:
        print("\nmodel+doubt at other doubt precisions (share of doubted marks that must be wrong, on the other folds):")
        for dp, f in extra["doubt_sweep"].items():
            print(f"  {dp:.3f}: P {_f(f['precision'], 0)} R {_f(f['recall'], 0)} F1 {_f(f['f1'], 0)} FC {_f(f['fc'], 0)} "
                  f"trap {_f(f['trap'], 0)} swap {_f(f['swap'], 0)} maybe {_f(f['maybe'], 0)} right {_f(f['maybe_right'], 0)}")
    second = Path(args.second)
    if second.exists() and preds:
        dm = double_marked(corpus, preds, load_second(second))
        print_table(f"double-marked: {dm['answers']} answers over {dm['questions']} questions, marked blind by a second "
                    "examiner; each system and the second examiner against the corpus labels", dm["results"],
                    ["double-marked"])
        print("  Cohen's kappa over (answer, point) pairs, against the corpus labels: "
              + ", ".join(f"{s} {_f(k, 0).strip()}" for s, k in dm["kappa"].items()))
        extra["double_marked"] = dm
    if model_systems and OOB.exists():
        extra["leave_batches_out"] = leave_batches_out(corpus, rows, dheads, doubts, fold_of)
    overall = {s: results["overall"][s]["all"] for s in preds if "all" in results["overall"][s]}
    print("\ntargets (leave-questions-out):")
    for s, f in overall.items():
        marks = []
        for k, (op, t) in TARGETS.items():
            v = f.get(k)
            ok = v is not None and (v >= t if op == ">=" else v <= t)
            marks.append(f"{k} {_f(v, 0).strip()} {'ok' if ok else 'MISS'}")
        print(f"  {s:<8} " + ", ".join(marks))
    if args.errors and args.errors in preds:
        hits, maybe = preds[args.errors]
        for i, a in enumerate(corpus.answers):
            gold, pred = set(a["gold"]), hits.get(i, set())
            if gold != pred:
                print(f"{a['id']} [{a.get('kind')}/{a.get('subkind', '')}] {a['question']}: {a['answer'][:240]!r}")
                print(f"    missed={sorted(gold - pred)} false={sorted(pred - gold)} maybe={sorted((maybe or {}).get(i, set()))}")
    if args.markdown:
        shipped = "model+doubt" if "model+doubt" in preds else list(preds)[-1]
        Path(args.markdown).write_text(markdown(results, shipped))
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": corpus.digest, "results": results, **extra}, indent=1, default=str))
    if not args.no_holdout:
        for folder in args.holdout:
            held = _holdout(Path(folder), systems)
            if args.json and held:
                got = json.loads(Path(args.json).read_text())
                got["holdout" if Path(folder).name == "holdout" else f"unseen:{Path(folder).name}"] = held
                Path(args.json).write_text(json.dumps(got, indent=1, default=str))
    if not args.no_dev:
        _dev(args)
    return 0


def leave_batches_out(corpus: tg.Corpus, rows: list[tg.Row], heads: dict[int, Any], doubts: dict[int, Any],
                      fold_of: dict[str, int], path: Path = OOB) -> dict[str, Any]:
    """The answers `tools/out_of_batch.py` scored with a model that never saw their batch, graded
    by the same per-fold heads twice: with the fold models' logits (the question unseen, the rest
    of its batch seen) and with the out-of-batch logits (as a batch written later is seen)."""
    got = json.loads(path.read_text())
    if got.get("settings", {}).get("corpus_sha256") != corpus.digest:
        print(f"\n{path.name} was made from another corpus: run tools/out_of_batch.py again")
        return {}
    oob = {k: float(v) for k, v in got["logits"].items()}
    spans = [(m["first"], m["last"]) for m in got["settings"].get("models", {}).values()]
    ids = {a["id"] for a in corpus.answers  # every answer of those batches, the ones with nothing to read too
           if any(lo <= (tg.batch_number(a["id"]) or 0) <= hi for lo, hi in spans)}
    rows_b = tg.extract(corpus, tg.out_of_fold_logits(corpus) | oob)
    preds = {"lexical": (_from_rows(rows, None, fold_of)[0], None),
             "batch seen": _from_rows(rows, heads, fold_of, doubts)[:2],
             "never seen": _from_rows(rows_b, heads, fold_of, doubts)[:2]}
    batches = sorted({tg.batch_of(i) for i in ids}, key=lambda b: tg.batch_number(b) or 0)
    key = (lambda a, q: ["all"] if a["id"] in ids else [])
    res = {s: score(corpus, h, m, key) for s, (h, m) in preds.items()}
    models = ", ".join(f"{rev} for {m['batches']}" for rev, m in got["settings"].get("models", {}).items())
    print_table(f"leave-batches-out: {len(ids)} answers of {batches[0]}-{batches[-1]}, the shipped design with the "
                f"fold models' logits (batch seen) and with logits from models that never saw the batch ({models})",
                res, ["all"])
    return {"answers": len(ids), "batches": batches, "results": res}


def _holdout(root: Path, systems: list[str]) -> dict[str, Any]:
    """A folder of answers the grader has never seen (the held-out set; batches written but not yet
    trained on), graded by the committed grader as it ships (nothing fitted here)."""
    if not (root / "answers").exists():
        return {}
    held = tg.load_corpus(root)
    if not held.answers:
        return {}
    graders = {"lexical": Grader(held.glossary, model=False)}
    if any(x.startswith("model") for x in systems):
        graders["shipped"] = Grader(held.glossary, model=None)
    preds = {}
    for name, g in graders.items():
        hits: dict[int, set[str]] = {}
        maybe: dict[int, set[str]] = {}
        for i, a in enumerate(held.answers):
            m = g.grade(held.questions[a["question"]], a["answer"])
            hits[i], maybe[i] = set(m.hits), {p.id for p in m.maybe_points}
        preds[name] = (hits, maybe)
    bank = {q.id for q in load_bank(ROOT / "content")}
    new_q = set(held.questions) - bank
    name = "held-out" if root.name == "holdout" else f"unseen ({root.name}/)"
    source = {"source": lambda a, q: [f"{name}: new questions" if a["question"] in new_q else f"{name}: bank questions"]}
    print(f"\n{name} set {held.digest}: {len(held.answers)} answers over "
          f"{len({a['question'] for a in held.answers})} questions (never trained, tuned or fitted on)")
    out: dict[str, Any] = {"digest": held.digest, "n": len(held.answers)}
    for kname, key in {"overall": lambda a, q: ["all"], **source,
                       "kind": lambda a, q: [a.get("kind") or "?"]}.items():
        res = {s: score(held, h, m, key) for s, (h, m) in preds.items()}
        out[kname] = res
        print_table(f"{name}, {kname}", res, sorted({n for r in res.values() for n in r}))
    return out


if __name__ == "__main__":
    raise SystemExit(main())

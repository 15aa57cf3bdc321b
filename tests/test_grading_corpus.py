"""The labelled corpus and the held-out set stay consistent with the bank: every answer names a
known free-text question and known marking points (a renamed point id would silently drop labels),
and their own practice questions load through the bank loader."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.tutor.bank import load_bank, load_glossary

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_corpus  # noqa: E402


def _has(folder: str, pattern: str) -> bool:
    return any((ROOT / folder).glob(pattern))


# grading-data/next/ holds batches written but not yet trained on; between retrains it may be empty
ANSWER_SETS = [("grading-data/answers", []),
               ("grading-data/holdout/answers", ["--questions", "grading-data/holdout/questions"])]
if _has("grading-data/next/answers", "*.jsonl"):
    ANSWER_SETS.append(("grading-data/next/answers", ["--questions", "grading-data/next/questions"]))


@pytest.mark.parametrize("answers, questions", ANSWER_SETS)
def test_every_labelled_answer_names_a_known_question_and_points(answers: str, questions: list[str],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(ROOT / answers)] + [q if q.startswith("--") else str(ROOT / q) for q in questions]
    code = check_corpus.main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    assert " answers over " in out and not out.startswith("0 answers")


FOLDERS = ["grading-data/questions", "grading-data/holdout/questions"] + (
    ["grading-data/next/questions"] if _has("grading-data/next/questions", "*.yaml") else [])


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_corpus_practice_questions_load(folder: str) -> None:
    glossary = load_glossary(ROOT / "content")
    ids = [q.id for q in load_bank(ROOT / folder, glossary=glossary)]
    assert len(ids) >= 20 and len(ids) == len(set(ids))
    # no practice question shadows a bank question, and the corpus, the held-out set and the
    # batches not yet trained on share none
    assert not {q.id for q in load_bank(ROOT / "content")} & set(ids)
    for other in FOLDERS:
        if other != folder:
            assert not {q.id for q in load_bank(ROOT / other, glossary=glossary)} & set(ids)


def test_the_out_of_fold_logits_are_for_the_corpus_as_committed() -> None:
    # the keys are answer positions: a batch added or moved without tools/extend_oof.py or a
    # retrain would score every later answer by another answer's logit
    import train_grader as tg

    corpus = tg.load_corpus()
    logits = tg.out_of_fold_logits(corpus)  # refuses a file made from another corpus
    points = [{p.id for p in corpus.questions[a["question"]].marking_points} for a in corpus.answers]
    keys = [k.split(":", 1) for k in logits]
    assert all(int(i) < len(corpus.answers) and p in points[int(i)] for i, p in keys)
    # every batch has logits for most of its answers (junk and keyword lists have none to read)
    batches: dict[str, list[int]] = {}
    for i, a in enumerate(corpus.answers):
        batches.setdefault(a["id"].split("-")[0], []).append(i)
    scored = {int(i) for i, _ in keys}
    assert all(sum(i in scored for i in idx) >= 0.8 * len(idx) for idx in batches.values())


def test_the_second_examiners_marks_are_for_corpus_answers_and_their_own_points() -> None:
    # grading-data/second-examiner.jsonl: a blind second marking of some corpus answers, which the
    # benchmark scores beside every system; a mark for a renamed point or a moved answer would
    # silently count as a disagreement
    import json

    import train_grader as tg

    corpus = tg.load_corpus()
    by_id = {a["id"]: a for a in corpus.answers}
    rows = [json.loads(line) for line in (ROOT / "grading-data" / "second-examiner.jsonl").read_text().splitlines()]
    assert len(rows) >= 500 and len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        points = {p.id for p in corpus.questions[by_id[r["id"]]["question"]].marking_points}
        assert set(r["credit"]) <= points, r["id"]
    # spread over the batches, not one batch's easy questions
    assert len({r["id"].split("-")[0] for r in rows}) >= 20

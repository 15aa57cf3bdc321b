"""The training tools' hard negatives (`tools/grader_pairs.py --synthetic`): built from each point's own words."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import grader_pairs  # noqa: E402

from bot.tutor.bank import MarkingPoint, Question, QuestionType  # noqa: E402

Q = Question(
    id="t-adherence-occupancy", topic="kpis", type=QuestionType.FREE_TEXT,
    prompt="What is the difference between adherence and occupancy?",
    marking_points=(
        MarkingPoint("adherence", "Adherence is how closely an agent keeps to their schedule."),
        MarkingPoint("occupancy", "Occupancy is the share of logged-in time spent handling contacts."),
        MarkingPoint("not-same", "A high occupancy does not mean good adherence."),
    ),
)


def _made(q: Question, topic_terms: list[str] | None = None) -> list[tuple[str, str, str]]:
    return grader_pairs.hard_negatives(q, {"kpis": topic_terms or []}, random.Random(1))


def test_the_definitions_are_swapped_between_the_terms() -> None:
    made = _made(Q)
    assert ("adherence", "Adherence is the share of logged-in time spent handling contacts.", "swapped") in made
    assert ("occupancy", "Occupancy is how closely an agent keeps to their schedule.", "swapped") in made


def test_a_point_is_said_of_another_term_of_its_topic() -> None:
    made = _made(Q, ["Adherence", "Occupancy", "Shrinkage"])
    wrong = [(pid, text) for pid, text, how in made if how == "wrong-term"]
    assert ("adherence", "Shrinkage is how closely an agent keeps to their schedule.") in wrong
    assert all(not text.startswith(("Adherence", "Occupancy")) for _, text in wrong)


def test_negation_goes_in_the_main_clause_and_never_doubles_one() -> None:
    negated = {pid: text for pid, text, how in _made(Q) if how == "negation"}
    assert negated["adherence"] == "Adherence is not how closely an agent keeps to their schedule."
    assert "not-same" not in negated  # already a negative statement: negating it again is no negative


def test_keyword_lists_are_the_points_own_words_without_a_claim() -> None:
    lists = [text for pid, text, how in _made(Q) if how == "keyword_stuffing" and pid == "occupancy"]
    assert lists and all(", " in t and " is " not in t for t in lists)
    assert set(lists[0].split(", ")) <= {"Occupancy", "share", "logged-in", "time", "spent", "handling", "contacts"}


def test_the_heads_are_fitted_only_to_logits_from_models_trained_like_the_shipped_one() -> None:
    import train_grader

    run = {"epochs": 2.0, "closed_share": 0.35, "closed_negatives": True, "freeze_embeddings": True, "seed": 12}
    oof = {**run, "pairs_sha256": "p-old", "corpus_sha256": "c-new"}
    # the same run
    assert train_grader.training_differs(oof, {**run, "pairs_sha256": "p-old", "corpus_sha256": "c-old"}) == []
    # the shipped model retrained on the whole corpus the (extended) out-of-fold file covers
    assert train_grader.training_differs(oof, {**run, "pairs_sha256": "p-new", "corpus_sha256": "c-new"}) == []
    # trained on other pairs of another corpus, or another way
    assert train_grader.training_differs(oof, {**run, "pairs_sha256": "p-new", "corpus_sha256": "c-other"}) \
        == ["pairs_sha256 and corpus_sha256"]
    assert train_grader.training_differs(oof, {**run, "epochs": 1.0, "pairs_sha256": "p-old"}) == ["epochs"]


def test_kappa_is_one_for_the_same_marking_and_zero_for_marks_no_better_than_chance() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import grading_quality as gq
    import train_grader as tg

    from bot.tutor.bank import Glossary

    corpus = tg.Corpus(questions={Q.id: Q}, answers=[{"id": f"a{i}", "question": Q.id, "gold": []} for i in range(4)],
                       glossary=Glossary())
    a = {0: {"adherence"}, 1: {"occupancy"}, 2: set(), 3: {"adherence", "not-same"}}
    assert gq.kappa(corpus, a, a, {0, 1, 2, 3}) == 1.0
    # each marks half the pairs and they agree on half: no better than chance
    every = {"adherence", "occupancy", "not-same"}
    assert gq.kappa(corpus, {0: every, 1: every}, {0: every, 2: every}, {0, 1, 2, 3}) == 0.0
    # disagreement on one pair in twelve lowers it, but not to chance
    c = dict(a) | {2: {"not-same"}}
    assert 0.5 < gq.kappa(corpus, a, c, {0, 1, 2, 3}) < 1.0


def test_out_of_batch_logits_name_the_model_that_scores_each_range_of_batches() -> None:
    import argparse

    import out_of_batch as oob

    assert oob.parse_model("db4eb79:w10-w17") == ("db4eb79", range(10, 18))
    for bad in ("db4eb79", "db4eb79:w17-w10", "HEAD:w1-w2", "db4eb79:10-17"):
        with pytest.raises(argparse.ArgumentTypeError):
            oob.parse_model(bad)
    import train_grader as tg

    assert [tg.batch_number(i) for i in ("w24-0001", "w3-0180", "h1-0001", "wx-0001")] == [24, 3, None, None]


def test_folds_by_batch_keep_each_batch_and_each_question_in_one_fold() -> None:
    import train_grader as tg

    answers = [{"id": f"w{b}-{i:04d}", "question": f"p{b}-q{i % 3}"} for b in range(1, 8) for i in range(10 * b)]
    answers.append({"id": "w1-9999", "question": "p7-q0"})  # a question answered in two batches
    fold_of = tg.folds(answers, "batch", k=3, seed=12)
    by_batch: dict[str, set[int]] = {}
    for a in answers:
        by_batch.setdefault(tg.batch_of(a["id"]), set()).add(fold_of[a["question"]])
    assert by_batch["w1"] == {fold_of["p1-q0"], fold_of["p7-q0"]} and all(len(v) == 1 for b, v in by_batch.items() if b != "w1")
    assert fold_of["p7-q0"] == fold_of["p7-q1"]  # the question goes with the batch that holds most of its answers
    load = [sum(1 for a in answers if fold_of[a["question"]] == f) for f in range(3)]
    assert max(load) - min(load) <= 20  # balanced by answers: 70, 60, 50+40 ... within one batch's size
    assert tg.folds(answers, "question", k=3, seed=12) == tg.folds_by_question(answers, 3, 12)
    with pytest.raises(ValueError):
        tg.folds(answers, "writer")


def test_model_comparison_ranks_by_auc_with_ties_half_and_finds_the_recall_a_precision_allows() -> None:
    import compare_models as cm

    assert cm.auc([3.0, 2.0], [1.0, 0.0]) == 1.0
    assert cm.auc([0.0], [1.0]) == 0.0
    assert cm.auc([1.0, 1.0], [1.0]) == 0.5  # a tie is counted half
    assert cm.auc([2.0, 0.5], [1.0, 0.0]) == 0.75
    # scores 4 3 2 1 with gold T F T F: at precision 0.6 the first three pairs (2 of 3 right) are
    # allowed, recall 1.0 at threshold 2; at precision 0.9 only the first, recall 0.5
    z, y = [4.0, 3.0, 2.0, 1.0], [True, False, True, False]
    assert cm.recall_at_precision(z, y, 0.6) == (1.0, 2.0)
    assert cm.recall_at_precision(z, y, 0.9) == (0.5, 4.0)
    assert cm.recall_at_precision([1.0], [False], 0.5) == (0.0, float("inf"))

"""Session design: the order of new questions and the order of a choice's options."""

from __future__ import annotations

from pathlib import Path

from bot.tutor.bank import Question, QuestionType, load_bank
from bot.tutor.session import MAX_FREE_TEXT_RUN, level_of, next_new_question, option_order

ROOT = Path(__file__).resolve().parent.parent


def _first_day(questions: list[Question], learner: str, n: int) -> list[Question]:
    introduced: list[Question] = []
    left = list(questions)
    for _ in range(n):
        q = next_new_question(left, introduced, learner)
        if q is None:
            break
        introduced.append(q)
        left.remove(q)
    return introduced


def _longest_free_text_run(seq: list[Question]) -> int:
    best = run = 0
    for q in seq:
        run = 0 if q.is_choice else run + 1
        best = max(best, run)
    return best


def test_a_whole_first_day_interleaves_types_and_starts_with_foundations() -> None:
    bank = list(load_bank(ROOT / "content"))
    day = _first_day(bank, "learner-1", 10)
    assert len(day) == 10
    assert [q.is_choice for q in day[:6]] == [False, False, True] * 2  # two to type, then a quiz poll
    assert _longest_free_text_run(day) <= MAX_FREE_TEXT_RUN
    assert sum(q.is_choice for q in day) >= 3
    typed = [level_of(q) for q in day if not q.is_choice]
    assert typed == sorted(typed)  # foundations before scenarios


def test_choices_keep_coming_until_they_run_out() -> None:
    bank = list(load_bank(ROOT / "content"))
    order = _first_day(bank, "learner-2", len(bank))
    assert len(order) == len(bank)
    choices_left = [sum(q.is_choice for q in order[i:]) for i in range(len(order))]
    run = 0
    for i, q in enumerate(order):
        run = 0 if q.is_choice else run + 1
        if run > MAX_FREE_TEXT_RUN:
            assert choices_left[i] == 0, f"three free-text in a row at {i} with choices left"


def test_the_order_is_stable_for_a_learner_and_differs_between_learners() -> None:
    bank = list(load_bank(ROOT / "content"))
    a1 = [q.id for q in _first_day(bank, "learner-a", 10)]
    a2 = [q.id for q in _first_day(bank, "learner-a", 10)]
    b = [q.id for q in _first_day(bank, "learner-b", 10)]
    assert a1 == a2
    assert a1 != b


def test_a_bank_level_overrides_the_default_from_type() -> None:
    q = Question("q", "t", QuestionType.FREE_TEXT, "p")
    c = Question("c", "t", QuestionType.CHOICE, "p", options=("a", "b"), answer=0)
    assert (level_of(q), level_of(c)) == (2, 1)


def test_option_order_is_a_stable_permutation_that_differs_between_learners() -> None:
    a = option_order("learner-a", "kpi-aht", 4)
    assert sorted(a) == [0, 1, 2, 3]
    assert option_order("learner-a", "kpi-aht", 4) == a
    orders = {option_order(f"learner-{i}", "kpi-aht", 4) for i in range(30)}
    assert len(orders) > 5  # not one fixed order for everyone
    # Every position is taken by the keyed option for someone: positions teach nothing.
    assert {o.index(0) for o in orders} == {0, 1, 2, 3}

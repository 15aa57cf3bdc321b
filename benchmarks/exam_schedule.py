"""Simulate learners revising to an exam, with and without the exam-aware schedule.

Each simulated learner has FSRS-shaped memories: when a card is reviewed, it is recalled
with probability (1 + F·t / (S·a))^D, FSRS-6's forgetting curve on the scheduler's own
stability S, scaled by the learner's memory factor a (log-normal, so some learners forget
faster than the scheduler thinks and some slower). A recalled card is rated Good, a
forgotten one Again. Each day the learner does every review that is due and the day's new
questions.

Three schedules over the same learners, the same memories and the same random draws:
- **exam-aware**: `bot.tutor.exam` (rising target, last-week reviews, pace to finish early);
- **plain**: FSRS at the usual target (0.90) and the usual pace;
- **plain, same reviews**: FSRS with its target raised until it spends as many reviews as
  exam-aware (found by bisection), so the comparison is at equal effort.

Prints, for each: the mean true recall on the exam day over the whole bank (questions never
met count 0), the share introduced, and the reviews spent per learner.

    .venv/bin/python benchmarks/exam_schedule.py [--learners 200] [--days 60] [--questions 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import fsrs

from bot.tutor.exam import ExamPlan, exam_due, new_per_day, target_retention

START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
TZ = "UTC"


@dataclass
class Result:
    recall: float
    introduced: float
    reviews: float


class Schedulers:
    """One fsrs.Scheduler per retention target (targets change day by day)."""

    def __init__(self) -> None:
        self._by: dict[float, fsrs.Scheduler] = {}

    def get(self, retention: float) -> fsrs.Scheduler:
        key = round(retention, 4)
        if key not in self._by:
            self._by[key] = fsrs.Scheduler(desired_retention=key, enable_fuzzing=False)
        return self._by[key]


def _recall_p(sched: fsrs.Scheduler, card: fsrs.Card, at: datetime, factor: float) -> float:
    if card.last_review is None or card.stability is None:
        return 0.0
    t = max(0.0, (at - card.last_review).total_seconds() / 86400)
    return float((1 + sched._FACTOR * t / (card.stability * factor)) ** sched._DECAY)


def simulate(learners: int, days: int, questions: int, base_new: int, *, exam_aware: bool,
             retention: float = 0.9, seed: int = 7) -> Result:
    scheds = Schedulers()
    plan = ExamPlan((START + timedelta(days=days)).date(), TZ)
    recalls, shares, reviews = [], [], []
    for n in range(learners):
        rng = random.Random(seed * 100_003 + n)
        factor = rng.lognormvariate(0.0, 0.35)
        cards: dict[int, fsrs.Card] = {}
        spent = 0
        for d in range(days):
            today: date = (START + timedelta(days=d)).date()
            now = START + timedelta(days=d)
            target = target_retention(retention, plan, today) if exam_aware else retention
            sched = scheds.get(target)
            end = now + timedelta(hours=14)
            for _ in range(4):  # same-day learning steps
                due = [cid for cid, c in cards.items() if c.due <= end]
                if not due:
                    break
                for cid in sorted(due):
                    card = cards[cid]
                    at = max(now, card.due)
                    ok = rng.random() < _recall_p(sched, card, at, factor)
                    card, _ = sched.review_card(card, fsrs.Rating.Good if ok else fsrs.Rating.Again, at)
                    if exam_aware:
                        card.due = exam_due(card.due, at, cid, plan)
                    cards[cid] = card
                    spent += 1
            remaining = questions - len(cards)
            pace = new_per_day(base_new, remaining, plan, today) if exam_aware else base_new
            for cid in range(len(cards), min(questions, len(cards) + pace)):
                card, _ = sched.review_card(fsrs.Card(card_id=cid + 1, due=now), fsrs.Rating.Good, now)
                cards[cid] = card
                spent += 1
        exam_at = plan.starts
        sched = scheds.get(retention)
        recalls.append(sum(_recall_p(sched, c, exam_at, factor) for c in cards.values()) / questions)
        shares.append(len(cards) / questions)
        reviews.append(spent)
    return Result(statistics.mean(recalls), statistics.mean(shares), statistics.mean(reviews))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=200)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--new", type=int, default=4, help="the usual new questions a day")
    args = ap.parse_args()
    kw = dict(learners=args.learners, days=args.days, questions=args.questions, base_new=args.new)
    aware = simulate(**kw, exam_aware=True)  # type: ignore[arg-type]
    plain = simulate(**kw, exam_aware=False)  # type: ignore[arg-type]
    lo, hi = 0.90, 0.99
    matched = plain
    for _ in range(7):
        mid = (lo + hi) / 2
        matched = simulate(**kw, exam_aware=False, retention=mid)  # type: ignore[arg-type]
        if matched.reviews < aware.reviews:
            lo = mid
        else:
            hi = mid
    print(f"{args.learners} learners, {args.questions} questions, exam in {args.days} days, "
          f"{args.new} new a day as usual")
    print(f"{'schedule':<34} {'recall on the day':>17} {'introduced':>10} {'reviews':>8}")
    for name, r in (("exam-aware", aware), ("plain FSRS 0.90", plain),
                    (f"plain FSRS {(lo + hi) / 2:.3f} (same reviews)", matched)):
        print(f"{name:<34} {r.recall:>17.3f} {r.introduced:>10.0%} {r.reviews:>8.0f}")


if __name__ == "__main__":
    main()

"""Answer path: grade + schedule + store write per answer (p50/p99), and picking the next card
for one learner in a store holding many learners and reviews.

    .venv/bin/python benchmarks/answer_path.py                      # SQLite and PostgreSQL
    .venv/bin/python benchmarks/answer_path.py --learners 100000 --reviews 1000000

PostgreSQL: a throwaway database on TEST_POSTGRES_URL (default postgres@127.0.0.1:5432), dropped after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.store import schema as s  # noqa: E402
from bot.tutor.bank import load_bank  # noqa: E402
from bot.tutor.actions import Answer, Next, Who  # noqa: E402
from bot.tutor.engine import Engine  # noqa: E402
from bot.tutor.replies import AskQuestion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def fill(store: Store, learners: int, reviews: int, bank_ids: list[tuple[str, str]]) -> None:
    """Bulk rows straight into the tables (the benchmark measures reads, not this)."""
    now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rng = random.Random(1)
    chunk = 20_000
    with store.tx() as c:
        for start in range(0, learners, chunk):
            c.execute(insert(s.learners), [dict(channel="bench", external_id=str(i), display_name="", created_at=now,
                                                active=True) for i in range(start, min(learners, start + chunk))])
        c.execute(text("INSERT INTO learner_settings (learner_id, timezone, new_per_day) "
                       "SELECT id, 'Europe/London', 10 FROM learners WHERE channel = 'bench'"))
    per = max(1, reviews // learners)
    card = {"card_id": 1, "state": 2, "step": None, "stability": 5.0, "difficulty": 5.0,
            "due": now.isoformat(), "last_review": now.isoformat()}
    batch_r: list[dict] = []  # type: ignore[type-arg]
    batch_c: list[dict] = []  # type: ignore[type-arg]
    for lid in range(1, learners + 1):
        qs = rng.sample(bank_ids, min(per, len(bank_ids)))
        for qid, topic in qs:
            due = now + timedelta(hours=rng.randint(-200, 400))
            batch_r.append(dict(learner_id=lid, question_id=qid, topic=topic, kind="free_text", reviewed_at=now,
                                rating=3, score=1.0, hits=[], misses=[], answer="x", extra=False, card_before=None,
                                due_after=due, log=None))
            batch_c.append(dict(learner_id=lid, question_id=qid, topic=topic, card=card, due=due, introduced_at=now,
                                reviews=1))
        if len(batch_r) >= chunk or lid == learners:
            with store.tx() as c:
                c.execute(insert(s.reviews), batch_r)
                c.execute(insert(s.cards), batch_c)
            batch_r, batch_c = [], []


def run(url: str, label: str, learners: int, reviews: int, answers: int) -> None:
    bank = load_bank(ROOT / "content")
    store = Store.open(url)
    ids = [(q.id, q.topic) for q in bank if not q.is_choice]
    t0 = time.perf_counter()
    fill(store, learners, reviews, ids)
    print(f"[{label}] filled {learners:,} learners / ~{reviews:,} reviews in {time.perf_counter() - t0:.1f}s")

    clock_now = [datetime(2026, 3, 2, 9, tzinfo=timezone.utc)]
    engine = Engine(bank, store, clock=lambda: clock_now[0], new_per_day=10_000)
    who = Who("bench", "0")  # learner 1 in the filled store: has cards, some due
    learner = engine.learner(who)
    settings = store.settings(learner.id)
    pick = []
    for _ in range(200):
        t = time.perf_counter()
        engine._pick(learner, settings, None, clock_now[0], None)
        pick.append((time.perf_counter() - t) * 1000)
    print(f"[{label}] pick next card: p50 {pct(pick, 50):.2f} ms  p99 {pct(pick, 99):.2f} ms")

    fresh = Who("bench-answer", "me")
    per_answer = []
    for i in range(answers):
        replies = engine.handle(fresh, Next())
        ask = next(r for r in replies if isinstance(r, AskQuestion))
        text_ = ask.question.model_answer if not ask.question.is_choice else "1"
        t = time.perf_counter()
        engine.handle(fresh, Answer(text_))
        per_answer.append((time.perf_counter() - t) * 1000)
        clock_now[0] += timedelta(minutes=1)
    print(f"[{label}] answer (grade + schedule + store write): p50 {pct(per_answer, 50):.2f} ms  "
          f"p99 {pct(per_answer, 99):.2f} ms  mean {statistics.mean(per_answer):.2f} ms")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--learners", type=int, default=100_000)
    ap.add_argument("--reviews", type=int, default=1_000_000)
    ap.add_argument("--answers", type=int, default=300)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.sqlite3", "sqlite", args.learners, args.reviews, args.answers)
    if args.only != "sqlite":
        name = f"tutor_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(ADMIN.rsplit("/", 1)[0] + f"/{name}", "postgresql", args.learners, args.reviews, args.answers)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()

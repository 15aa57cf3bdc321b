"""Cohorts: roles, the authorisation matrix, join/leave/rotate/close, broadcasts, dashboard, erase."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.store import Store
from bot.store import schema as s
from bot.tutor.actions import (
    AddTutor, Answer, BroadcastCancel, BroadcastConfirm, BroadcastPick, BroadcastStart, CloseCohort, ConfirmForget,
    Dashboard, Join, Leave, ListCohorts, MyCohorts, NewCohort, Next, NotText, Override, RemoveTutor, RotateCode, Start,
    Who,
)
from bot.tutor.commands import parse_command
from bot.tutor.desk import new_join_code
from bot.tutor.engine import Engine
from bot.tutor.replies import BroadcastStarted, DashboardData, Message

from tests.conftest import Clock
from tests.test_engine import small_bank

ADMIN = Who("telegram", "1", "Ada Admin", chat_id=1)
TUTOR = Who("telegram", "2", "Tom Tutor", chat_id=2)
OTHER = Who("telegram", "3", "Olga Other", chat_id=3)
LEARNER = Who("telegram", "4", "Lee Learner", chat_id=4)


@pytest.fixture
def engine(store: Store, clock: Clock) -> Engine:
    eng = Engine(small_bank(), store, clock=clock, admins={("telegram", "1")}, link_base="https://t.me/TutorBot?start=")
    eng.handle(ADMIN, AddTutor("2"))
    eng.handle(ADMIN, AddTutor("3"))
    return eng


def text(replies: list) -> str:  # type: ignore[type-arg]
    return "\n".join(r.text for r in replies if isinstance(r, Message))


def cohort_of(engine: Engine, who: Who, name: str = "Level 3 Spring") -> tuple[int, str]:
    reply = text(engine.handle(who, NewCohort(name)))
    code = reply.rsplit("start=", 1)[1].strip()
    cohort = engine.store.cohort_by_code(code)
    return cohort.id, code


def test_join_codes_are_unguessable() -> None:
    codes = {new_join_code() for _ in range(1000)}
    assert len(codes) == 1000 and all(len(c) >= 16 for c in codes)  # 12 random bytes = 96 bits


def test_new_cohort_gives_a_deep_link_and_learners_join_by_it(engine: Engine, store: Store) -> None:
    cid, code = cohort_of(engine, TUTOR)
    assert f"https://t.me/TutorBot?start={code}" in text(engine.handle(TUTOR, ListCohorts()))
    joined = text(engine.handle(LEARNER, Start(code)))
    assert "You've joined Level 3 Spring" in joined
    assert "already in" in text(engine.handle(LEARNER, parse_command(f"/join {code}")))  # type: ignore[arg-type]
    assert "Level 3 Spring" in text(engine.handle(LEARNER, MyCohorts()))
    assert [m.external_id for m in store.members(cid)] == ["4"]
    assert "left Level 3 Spring" in text(engine.handle(LEARNER, Leave(cid)))
    assert store.members(cid) == []


def test_rotated_and_closed_codes_stop_working(engine: Engine) -> None:
    cid, code = cohort_of(engine, TUTOR)
    engine.handle(TUTOR, RotateCode(cid))
    assert "doesn't match" in text(engine.handle(LEARNER, Join(code)))
    new_code = engine.store.cohort(cid).join_code
    assert "joined" in text(engine.handle(LEARNER, Join(new_code)))
    engine.handle(TUTOR, CloseCohort(cid))
    assert "doesn't match" in text(engine.handle(OTHER, Join(new_code)))


def test_wrong_codes_are_rate_limited_per_user(engine: Engine, clock: Clock) -> None:
    _, code = cohort_of(engine, TUTOR)
    for i in range(5):
        assert "doesn't match" in text(engine.handle(LEARNER, Join(f"wrong{i}")))
    assert "Too many wrong codes" in text(engine.handle(LEARNER, Join(code)))  # even the right one, for now
    assert "joined" in text(engine.handle(OTHER, Join(code)))  # other users are not affected
    clock.advance(hours=1, minutes=1)
    assert "joined" in text(engine.handle(LEARNER, Join(code)))


REFUSED = "only for tutors"


def _matrix_cases(engine: Engine, cid: int) -> dict[str, object]:
    return {"newcohort": NewCohort("X"), "cohorts": ListCohorts(), "rotate": RotateCode(cid), "close": CloseCohort(cid),
            "broadcast": BroadcastStart(), "broadcast_pick": BroadcastPick(cid), "dashboard": Dashboard(cid),
            "addtutor": AddTutor("9"), "removetutor": RemoveTutor("3")}


# who may do what: (learner, tutor who owns the cohort, another tutor, admin)
ALLOWED = {
    "newcohort": (False, True, True, True), "cohorts": (False, True, True, True),
    "rotate": (False, True, False, True), "close": (False, True, False, True),
    "broadcast": (False, True, True, True), "broadcast_pick": (False, True, False, True),
    "dashboard": (False, True, False, True), "addtutor": (False, False, False, True),
    "removetutor": (False, False, False, True),
}


@pytest.mark.parametrize("command", list(ALLOWED))
def test_authorisation_matrix(engine: Engine, command: str, caplog: pytest.LogCaptureFixture) -> None:
    for who, allowed in zip((LEARNER, TUTOR, OTHER, ADMIN), ALLOWED[command]):
        cid, _ = cohort_of(engine, TUTOR, f"C {who.external_id}")
        engine.handle(ADMIN, AddTutor("3"))  # removetutor cases take it away; put it back
        caplog.clear()
        reply = text(engine.handle(who, _matrix_cases(engine, cid)[command]))  # type: ignore[arg-type]
        if allowed:
            assert REFUSED not in reply, (command, who.display_name, reply)
        else:
            assert REFUSED in reply, (command, who.display_name, reply)
            assert any("refused" in r.message for r in caplog.records)
        if command == "close" and allowed:
            assert engine.store.cohort(cid).closed_at is not None
        if command == "close" and not allowed:
            assert engine.store.cohort(cid).closed_at is None


def test_a_tutor_sees_only_their_own_cohorts_and_an_admin_sees_all(engine: Engine) -> None:
    cohort_of(engine, TUTOR, "Tom's group")
    cohort_of(engine, OTHER, "Olga's group")
    tom = text(engine.handle(TUTOR, ListCohorts()))
    assert "Tom's group" in tom and "Olga's group" not in tom
    admin = text(engine.handle(ADMIN, ListCohorts()))
    assert "Tom's group" in admin and "Olga's group" in admin


def test_broadcast_flow_queues_one_outbox_row_per_member(engine: Engine, store: Store) -> None:
    cid, code = cohort_of(engine, TUTOR)
    members = [Who("telegram", str(100 + i), f"L{i}", chat_id=100 + i) for i in range(5)]
    for m in members:
        engine.handle(m, Join(code))
    assert "Send me the message" in text(engine.handle(TUTOR, BroadcastPick(cid)))
    preview = engine.handle(TUTOR, NotText("photo", ref=(2, 777)))[0]
    assert isinstance(preview, Message) and "5 learners" in preview.text
    confirm = preview.buttons[0][0].action
    assert isinstance(confirm, BroadcastConfirm)
    bid = confirm.broadcast_id
    assert "only for tutors" in text(engine.handle(OTHER, BroadcastConfirm(bid)))  # not theirs
    started = engine.handle(TUTOR, BroadcastConfirm(bid))[0]
    assert isinstance(started, BroadcastStarted) and started.recipients == 5
    assert "already been sent" in text(engine.handle(TUTOR, BroadcastConfirm(bid)))  # double tap: once
    items = store.claim_outbox(engine.now(), 100, timedelta(minutes=1))
    assert sorted(i.chat_id for i in items) == [100, 101, 102, 103, 104]
    assert all(i.payload == {"from_chat_id": 2, "message_id": 777} for i in items)
    # A learner's ordinary answer is never taken for a broadcast.
    assert "no question waiting" in text(engine.handle(members[0], Answer("hello", ref=(100, 5))))


def test_cancelled_broadcast_sends_nothing(engine: Engine, store: Store) -> None:
    cid, code = cohort_of(engine, TUTOR)
    engine.handle(LEARNER, Join(code))
    engine.handle(TUTOR, BroadcastPick(cid))
    preview = engine.handle(TUTOR, Answer("Mock exam on Friday!", ref=(2, 10)))[0]
    bid = preview.buttons[0][1].action.broadcast_id  # type: ignore[union-attr]
    assert "nothing was sent" in text(engine.handle(TUTOR, BroadcastCancel(bid)))
    assert store.outbox_counts() == {}


def test_dashboard_shows_where_the_cohort_struggles(engine: Engine, store: Store, clock: Clock) -> None:
    cid, code = cohort_of(engine, TUTOR)
    for who in (LEARNER, OTHER):
        engine.handle(who, Join(code))
    lazy = Who("telegram", "50", "Lazy Larry", chat_id=50)
    engine.handle(lazy, Join(code))
    engine.handle(LEARNER, Next())
    fb = engine.handle(LEARNER, Answer("I would apologise sincerely to the customer"))[0]
    engine.handle(LEARNER, Override(fb.review_id))  # type: ignore[union-attr]
    engine.handle(OTHER, Next())
    engine.handle(OTHER, Answer("no idea"))
    replies = engine.handle(TUTOR, Dashboard(cid))
    data = [r for r in replies if isinstance(r, DashboardData)][0]
    assert data.members == 3 and data.active_7d == 2 and data.reviews_week == 2
    assert data.top_misses[0][1] in ("Offer the customer a full refund.", "Apologise to the customer sincerely.")
    assert data.inactive == ["Lazy Larry"]
    assert data.overrides == [("Question a1: explain the idea.", "I would apologise sincerely to the customer")]
    assert "Lazy Larry" in text(replies) and "Answers this week: 2" in text(replies)


def test_forget_removes_memberships_and_outbox_rows(engine: Engine, store: Store) -> None:
    cid, code = cohort_of(engine, TUTOR)
    engine.handle(LEARNER, Join(code))
    engine.handle(TUTOR, BroadcastPick(cid))
    bid = engine.handle(TUTOR, Answer("hi", ref=(2, 1)))[0].buttons[0][0].action.broadcast_id  # type: ignore[union-attr]
    engine.handle(TUTOR, BroadcastConfirm(bid))
    for i in range(6):
        engine.handle(LEARNER, Join(f"bad{i}"))
    lid = store.find_learner("telegram", "4").id  # type: ignore[union-attr]
    engine.handle(LEARNER, ConfirmForget())
    with store.engine.connect() as c:
        for table in (s.memberships, s.outbox, s.join_attempts, s.learners):
            col = table.c.id if table is s.learners else table.c.learner_id
            assert c.execute(table.select().where(col == lid)).all() == [], table.name
    assert store.members(cid) == []

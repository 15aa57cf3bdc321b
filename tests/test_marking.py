"""The marking loop in the core, on SQLite and PostgreSQL: authorisation, replicas, protected ids, /forget, export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main
from bot.store import Store
from bot.tutor.actions import (
    AddTutor, Answer, ClaimAccept, ClaimReject, Claims, ClaimSkipReason, ConfirmForget, ContentInfo, ContentRollback,
    Learned, NewCohort, Next, Override, UploadContent, Who, WithdrawLearned,
)
from bot.tutor.engine import Engine
from bot.tutor.learning import export_patch
from bot.tutor.replies import Feedback, Message, Notify

from tests.conftest import Clock
from tests.test_cohorts import ADMIN, LEARNER, OTHER, TUTOR, text
from tests.test_engine import small_bank
from tests.test_marking_telegram import ANSWER, GOOD

REFUSED = "only for tutors"


def make(store: Store, clock: Clock, **kw: object) -> Engine:
    return Engine(small_bank(), store, clock=clock, admins={("telegram", "1")}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def engine(store: Store, clock: Clock) -> Engine:
    eng = make(store, clock)
    eng.handle(ADMIN, AddTutor("2"))
    eng.handle(ADMIN, AddTutor("3"))
    return eng


def claimed(engine: Engine, who: Who = LEARNER, answer: str = ANSWER) -> int:
    """`who` joins TUTOR's cohort, answers a1 and claims "I was right"; returns the claim id."""
    reply = text(engine.handle(TUTOR, NewCohort(f"C{who.external_id}")))
    code = reply.rsplit("/join ", 1)[1].strip()
    engine.handle(who, Answer(f"/join {code}"))
    engine.handle(who, Next())
    [fb] = [r for r in engine.handle(who, Answer(answer)) if isinstance(r, Feedback)]
    engine.handle(who, Override(fb.review_id))
    [c] = [c for c in engine.store.claims() if c.review_id == fb.review_id]
    return c.id


# who may do what: (learner, tutor of the learner's cohort, another tutor, admin)
ALLOWED = {"claims": (False, True, True, True), "accept": (False, True, False, True),
           "reject": (False, True, False, True), "learned": (False, True, True, True),
           "content": (False, True, True, True), "upload": (False, False, False, True)}


@pytest.mark.parametrize("command", list(ALLOWED))
def test_authorisation_matrix_for_the_marking_loop(engine: Engine, command: str) -> None:
    for who, allowed in zip((LEARNER, TUTOR, OTHER, ADMIN), ALLOWED[command]):
        cid = claimed(engine, Who("telegram", f"5{who.external_id}{command}", "Lou", chat_id=50))
        action = {"claims": Claims(), "accept": ClaimAccept(cid, 0, 0), "reject": ClaimReject(cid),
                  "learned": Learned(), "content": ContentInfo(), "upload": UploadContent("tc.yaml", GOOD)}[command]
        reply = text(engine.handle(who, action))  # type: ignore[arg-type]
        assert (REFUSED not in reply) == allowed, (command, who.display_name, reply)
        if command in ("accept", "reject"):
            assert (engine.store.claim(cid).status != "pending") == allowed  # type: ignore[union-attr]
        if command == "claims" and who == OTHER:
            assert "No claims" in reply  # a tutor sees only their own cohorts' claims
    assert "private chat" in text(engine.handle(Who("telegram", "2", "Tom"), Claims()))  # not in a group


def test_forged_and_stale_claim_buttons_are_refused(engine: Engine) -> None:
    cid = claimed(engine)
    assert "already been decided" in text(engine.handle(TUTOR, ClaimAccept(cid, 1, 0)))  # a point it earned
    assert REFUSED in text(engine.handle(TUTOR, ClaimAccept(cid + 99, 0, 0)))  # no such claim
    assert "already been decided" in text(engine.handle(TUTOR, ClaimSkipReason(cid)))  # not rejected yet
    engine.handle(TUTOR, ClaimAccept(cid, 0, 0))
    assert "already been decided" in text(engine.handle(ADMIN, ClaimReject(cid)))
    assert "already been decided" in text(engine.handle(TUTOR, ClaimAccept(cid, 0, 1)))


def test_learned_wordings_reach_another_replica_within_seconds_and_can_be_withdrawn(
        engine: Engine, store: Store, clock: Clock) -> None:
    replica = make(store, clock)
    ben = Who("telegram", "8", "Ben", chat_id=8)
    replica.handle(ben, Next())  # the replica has read the (empty) learned wordings
    cid = claimed(engine)
    engine.handle(TUTOR, ClaimAccept(cid, 0))
    clock.advance(seconds=3)
    [fb] = [r for r in replica.handle(ben, Answer(ANSWER)) if isinstance(r, Feedback)]
    assert fb.marking.passed
    [la] = store.learned_accepts()
    listing = engine.handle(TUTOR, Learned())[0]
    assert isinstance(listing, Message) and ANSWER.rstrip(".") in listing.text
    assert REFUSED in text(engine.handle(OTHER, WithdrawLearned(la.id)))  # only who taught it, or an admin
    assert "Withdrawn" in text(engine.handle(TUTOR, WithdrawLearned(la.id)))
    clock.advance(seconds=3)
    replica.handle(ben, Next())
    [fb] = [r for r in replica.handle(ben, Answer(ANSWER)) if isinstance(r, Feedback)]
    assert not fb.marking.passed


def test_an_upload_reaches_another_replica_within_a_minute_and_rolls_back(engine: Engine, store: Store,
                                                                          clock: Clock) -> None:
    replica = make(store, clock)
    assert replica.bank.topic("tc") is None
    assert "Applied: content version 1" in text(engine.handle(ADMIN, UploadContent("tc.yaml", GOOD)))
    assert engine.bank.topic("tc") is not None and replica.bank.topic("tc") is None
    clock.advance(seconds=31)
    assert replica.bank.get("c1") is not None
    assert "version 0 is live again" in text(replica.handle(ADMIN, ContentRollback(1)))
    clock.advance(seconds=31)
    assert engine.bank.get("c1") is None


def test_an_upload_cannot_delete_a_question_learners_have_progress_on(engine: Engine) -> None:
    engine.handle(LEARNER, Next())
    engine.handle(LEARNER, Answer(ANSWER))  # progress on a1 (topic ta)
    replaced = GOOD.replace(b"topic: tc", b"topic: ta")
    reply = text(engine.handle(ADMIN, UploadContent("ta.yaml", replaced)))
    assert "Not applied" in reply and "a1 can't be removed: 1 learner has progress on it" in reply
    assert "a2 can't be removed" not in reply  # nobody has seen a2
    assert engine.bank.get("a1") is not None


def test_tutors_upload_only_when_tutors_may_edit(store: Store, clock: Clock) -> None:
    eng = make(store, clock, tutors_may_edit=True)
    eng.handle(ADMIN, AddTutor("2"))
    assert "Applied" in text(eng.handle(TUTOR, UploadContent("tc.yaml", GOOD)))


def test_forget_keeps_a_learned_wording_without_the_learner(engine: Engine, store: Store) -> None:
    cid = claimed(engine)
    engine.handle(TUTOR, ClaimAccept(cid, 0))
    named = Who("telegram", "9", "Zed Zebedee", chat_id=9)
    cid2 = claimed(engine, named, "Zebedee would give them their money back in full.")
    engine.handle(TUTOR, ClaimAccept(cid2, 0))
    assert len(store.learned_accepts()) == 2
    engine.handle(LEARNER, ConfirmForget())
    engine.handle(named, ConfirmForget())
    [kept] = store.learned_accepts()  # the wording with their name in it is gone
    assert kept.from_learner is None and kept.override_id is None and "Zebedee" not in kept.wording


def test_a_rejected_claim_tells_the_learner_at_once_and_skip_sends_nothing_more(engine: Engine) -> None:
    cid = claimed(engine)
    [note] = [r for r in engine.handle(TUTOR, ClaimReject(cid)) if isinstance(r, Notify)]
    assert note.chat_id == 4 and "kept the original mark" in note.message.text and "say" not in note.message.text
    replies = engine.handle(TUTOR, ClaimSkipReason(cid))
    assert not [r for r in replies if isinstance(r, Notify)]


def test_accepts_export_writes_a_patch_and_empties_the_table(engine: Engine, store: Store, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    engine.handle(TUTOR, ClaimAccept(claimed(engine), 0))
    patch = yaml.safe_load(export_patch(engine.bank, store.learned_accepts()))
    assert patch[0]["question"] == "a1" and patch[0]["point"] == "refund"
    assert patch[0]["accept"] == [ANSWER.rstrip(".")]
    if store.dialect == "sqlite":
        out = tmp_path / "patch.yaml"
        url = str(store.engine.url)
        assert main(["accepts", "export", "--db", url, "--out", str(out)]) == 0
        assert "refund" in out.read_text() and store.learned_accepts() == []
        assert store.learned_version() > 0
    _ = timedelta


def test_the_daily_digest_reaches_each_tutor_with_claims_once_a_day_across_replicas(
        engine: Engine, store: Store, clock: Clock) -> None:
    from datetime import time

    claimed(engine)
    clock.now = clock.now.replace(hour=7, minute=0)  # 07:00 in London (March: GMT)
    digest_at = time(8, 30)
    assert engine.marking.digest(digest_at, "Europe/London") == []  # not yet
    assert engine.marking.digest(None, "Europe/London") == []  # off
    clock.advance(hours=2)
    other = Store.open(store.engine.url.render_as_string(hide_password=False), migrate=False)  # another replica
    twin = make(other, clock)
    notes = engine.marking.digest(digest_at, "Europe/London") + twin.marking.digest(digest_at, "Europe/London")
    other.close()
    # Tom's cohort has the claim and the admin sees every claim; Olga has none. Sent by one replica only.
    assert sorted(n.chat_id for n in notes if isinstance(n, Notify)) == [1, 2]
    note = next(n for n in notes if isinstance(n, Notify) and n.chat_id == 2)
    assert isinstance(note, Notify) and "1 answer waits for your decision" in note.message.text
    assert Claims() in [b.action for row in note.message.buttons for b in row]
    assert engine.marking.digest(digest_at, "Europe/London") == []  # once a day
    clock.advance(days=1)
    assert len(engine.marking.digest(digest_at, "Europe/London")) == 2  # the claim still waits tomorrow


def test_claims_digest_at_is_checked_in_the_settings() -> None:
    from bot.config import load_settings
    from bot.errors import ConfigError

    assert load_settings({"CLAIMS_DIGEST_AT": "08:30"}).claims_digest_at == "08:30"
    assert load_settings({}).claims_digest_at is None
    with pytest.raises(ConfigError, match="CLAIMS_DIGEST_AT"):
        load_settings({"CLAIMS_DIGEST_AT": "8.30am"})


def test_the_graders_maybe_is_a_hint_and_joins_the_tutors_queue(store: Store, clock: Clock) -> None:
    import dataclasses as dc

    from bot.channels.render import feedback_text
    from bot.tutor.grading import Grader, Marking

    class Unsure(Grader):  # stands in for the learned stage's "probably" below its award threshold
        def grade(self, question, answer):  # type: ignore[no-untyped-def]
            m: Marking = super().grade(question, answer)
            return dc.replace(m, points=tuple(dc.replace(p, maybe=not p.earned) for p in m.points))

    engine = make(store, clock, grader=Unsure(small_bank().glossary))
    engine.handle(ADMIN, AddTutor("2"))
    code = text(engine.handle(TUTOR, NewCohort("C"))).rsplit("/join ", 1)[1].strip()
    engine.handle(LEARNER, Answer(f"/join {code}"))
    engine.handle(LEARNER, Next())
    [fb] = [r for r in engine.handle(LEARNER, Answer("I would say sorry to them")) if isinstance(r, Feedback)]
    assert fb.marking.maybe_points and not fb.marking.passed  # a hint, never a mark
    shown = feedback_text(fb)
    assert "🤔" in shown and "may cover" in shown
    lid = store.find_learner("telegram", "4").id  # type: ignore[union-attr]
    assert store.reviews(lid)[0].score < 1
    listed = engine.handle(TUTOR, Claims())
    assert any(isinstance(r, Message) and "The grader wasn't sure" in r.title for r in listed)


def test_i_was_right_reschedules_towards_the_learners_exam(store: Store, clock: Clock) -> None:
    from datetime import datetime

    from bot.tutor.actions import SetExam

    engine = make(store, clock)
    engine.handle(LEARNER, SetExam("2026-03-06"))  # in four days: the ramp is near its peak
    engine.handle(LEARNER, Next())
    [fb] = [r for r in engine.handle(LEARNER, Answer("no idea")) if isinstance(r, Feedback)]
    assert "counted that answer as right" in text(engine.handle(LEARNER, Override(fb.review_id)))
    lid = store.find_learner("telegram", "4").id  # type: ignore[union-attr]
    card = store.card(lid, "a1")
    assert card is not None and card.due < datetime(2026, 3, 6, 4, tzinfo=clock.now.tzinfo)  # back before the day


def test_a_list_of_terms_for_an_explain_question_is_told_why_it_earned_nothing(store: Store, clock: Clock) -> None:
    from bot.channels.render import feedback_text

    engine = make(store, clock)
    engine.handle(LEARNER, Next())  # a1: "explain the idea" (refund, apology)
    [fb] = [r for r in engine.handle(LEARNER, Answer("Refund. Apology. Manager. Voucher.")) if isinstance(r, Feedback)]
    assert fb.marking.earned == 0
    shown = feedback_text(fb)
    assert "💡" in shown and "list of terms" in shown and "write a sentence for each idea" in shown
    engine.handle(LEARNER, Next())
    [fb] = [r for r in engine.handle(LEARNER, Answer("Offer a full refund and apologise sincerely.")) if isinstance(r, Feedback)]
    assert "💡" not in feedback_text(fb)  # an answer in sentences gets no such tip

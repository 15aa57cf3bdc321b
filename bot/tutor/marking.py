"""The marking loop: tutors decide "I was right" claims (and the grader's doubts), teaching it wordings.

`MarkingDesk` is composed into `Engine` beside `TutorDesk` (whose roles it uses) and handles
the `MarkingAction`s: `/claims` lists the pending claims of the tutor's own cohorts (an admin:
all), one message each; **Accept** for a missed point keeps the override, tells the learner
and stores the answer's wording as a learned accept of that point (unless the grader must
refuse it: `bot.tutor.learning.refusal`, then the tutor may accept without learning);
**Reject** reverses the override (the card is rescheduled from its state before the answer,
with the marking's rating), then the tutor's next message (or Skip) is the reason the
learner is told. `/learned` lists learned wordings, each with a button to withdraw it.
Question files sent in the chat are `bot.tutor.editing`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time
from zoneinfo import ZoneInfo
from typing import assert_never

from bot.errors import NotFound
from bot.tutor.actions import (
    ClaimAccept, ClaimReject, Claims, ClaimSkipReason, ContentInfo, ContentRollback, Learned, MarkingAction, Override,
    UploadContent, WithdrawLearned,
)
from bot.tutor.bank import Question
from bot.tutor.desk import TutorDesk
from bot.tutor.editing import ContentDesk
from bot.tutor.exam import ExamPlan
from bot.tutor.grading import Grader
from bot.tutor.learning import refusal, wording_for
from bot.tutor.live import LiveContent
from bot.tutor.models import Claim, Learner
from bot.tutor.ports import TutorStore
from bot.tutor.replies import NEXT, STOP, Button, Message, Notify, Reply, kb
from bot.tutor.srs import Rating, Scheduler

log = logging.getLogger(__name__)

__all__ = ["MarkingDesk", "CLAIMS_SHOWN", "short"]

CLAIMS_SHOWN = 10  # claims per /claims (decide them, then /claims again)
STALE = "That claim has already been decided (or the button is out of date). /claims shows what is waiting."


def short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class MarkingDesk:
    """Claims, learned wordings and question files: the tutor's side of the marking loop."""

    def __init__(self, desk: TutorDesk, live: LiveContent, grader: Grader, scheduler: Scheduler,
                 now: Callable[[], datetime], *, tutors_may_edit: bool = False,
                 plan_for: Callable[[int], ExamPlan | None] = lambda learner_id: None) -> None:
        self.desk = desk
        self.plan_for = plan_for  # a learner's exam plan (by id): a rescheduled card aims at their exam too
        self.store: TutorStore = desk.store
        self.live = live
        self.grader = grader
        self.scheduler = scheduler
        self.now = now
        self.content = ContentDesk(desk, live, now, tutors_may_edit=tutors_may_edit)

    def digest(self, at: time | None, tz: str) -> list[Reply]:
        """The daily note to tutors whose claims wait: once a day (across replicas), from `at` local time."""
        if at is None:
            return []
        local = self.now().astimezone(ZoneInfo(tz))
        if local.time() < at or not self.store.claim_day("claims-digest", local.date()):
            return []
        people = {t.id: (t, False) for t in self.store.tutors()}
        for channel, external_id in sorted(self.desk.ctx.admins):
            admin = self.store.find_learner(channel, external_id)
            if admin is not None:
                people[admin.id] = (admin, True)
        out: list[Reply] = []
        for person, is_admin in people.values():
            n = len(self.store.claims(None if is_admin else person.id))
            if n and person.chat_id is not None:
                out.append(Notify(person.chat_id, Message(
                    f"{n} answer{'s' if n != 1 else ''} wait{'' if n != 1 else 's'} for your decision: learners who "
                    "say they were right, and answers the grader was unsure of.", kb([Button("Review claims", Claims())]))))
        return out

    def handle(self, learner: Learner, action: MarkingAction, *, private: bool = True) -> list[Reply]:
        """`private`: the action came from the tutor's private chat (claims show learners' answers: only there)."""
        if not private:
            return [Message("That works in your private chat with me only.")]
        match action:
            case Claims():
                return self.list_claims(learner)
            case ClaimAccept():
                return self.accept(learner, action)
            case ClaimReject():
                return self.reject(learner, action)
            case ClaimSkipReason():
                return self.skip_reason(learner, action)
            case Learned():
                return self.list_learned(learner)
            case WithdrawLearned():
                return self.withdraw(learner, action)
            case ContentInfo():
                return self.content.info(learner)
            case ContentRollback():
                return self.content.roll_back(learner, action)
            case UploadContent():
                return self.content.upload(learner, action)
            case _:
                assert_never(action)

    # -------------------------------------------------------------- the learner's claim

    def override(self, learner: Learner, action: Override) -> list[Reply]:
        """"I was right": the learner's latest free-text review is re-rated Good and queued for their tutor."""
        refuse: list[Reply] = [Message("That marking can't be changed now (it may be an older answer).", kb([NEXT]),
                                       toast=True)]
        try:
            review = self.store.get_review(action.review_id)
        except NotFound:
            return refuse
        if (review.learner_id != learner.id or review.kind != "free_text" or review.extra or review.overridden
                or review.score >= 1 or review.card_before is None
                or self.store.latest_review_id(learner.id, review.question_id) != action.review_id):
            return refuse
        card, due, _log = self.scheduler.review(review.card_before, Rating.Good, review.reviewed_at,
                                                self.plan_for(learner.id))
        if not self.store.record_override(action.review_id, learner.id, review.question_id, card, due, self.now()):
            return refuse
        return [Message("Noted: I've counted that answer as right and scheduled it as a good answer. "
                        "Your tutor will see it, so the marking can be improved.", kb([NEXT, STOP]), toast=True)]

    # -------------------------------------------------------------- who may decide

    def _may_decide(self, learner: Learner, claim: Claim | None) -> bool:
        if claim is None or not self.desk.is_tutor(learner):
            return False
        return self.desk.is_admin(learner) or (self.store.role(learner.id) == "tutor"
                                               and learner.id in self.store.claim_cohort_owners(claim.learner_id))

    def _pending(self, learner: Learner, claim_id: int) -> tuple[Claim | None, list[Reply]]:
        claim = self.store.claim(claim_id)
        if not self._may_decide(learner, claim):
            return None, self.desk._refuse(learner, f"claim {claim_id}")
        assert claim is not None
        if claim.status != "pending":
            return None, [Message(STALE, toast=True)]
        return claim, []

    # -------------------------------------------------------------- the queue

    def list_claims(self, learner: Learner) -> list[Reply]:
        if not self.desk.is_tutor(learner):
            return self.desk._refuse(learner, "/claims")
        claims = self.store.claims(None if self.desk.is_admin(learner) else learner.id)
        if not claims:
            return [Message("No claims are waiting. 🎉")]
        bank = self.live.bank()
        shown = [c for c in claims if bank.get(c.question_id) is not None][:CLAIMS_SHOWN]
        replies: list[Reply] = [self._claim_message(c, bank.get(c.question_id)) for c in shown]  # type: ignore[arg-type]
        more = len(claims) - len(shown)
        head = f"{len(claims)} answer{'s' if len(claims) != 1 else ''} waiting, oldest first."
        if more > 0:
            head += f" Showing {len(shown)}: decide these, then /claims again."
        return [Message(head, title="Claims"), *replies]

    def _claim_message(self, c: Claim, q: Question) -> Message:
        missed = [(i, p) for i, p in enumerate(q.marking_points) if p.id in c.misses]
        what = ("The grader wasn't sure (may cover a point)" if c.kind == "maybe"
                else f"{c.learner_name or 'A learner'} says “I was right”")
        lines = [f"Q: {short(q.prompt, 300)}", "", f"Answer: {short(c.answer, 1500)}", "", "Missed:"]
        lines += [f"• {p.text}" for _, p in missed]
        rows = [[Button(f"Accept: {short(p.text, 40)}", ClaimAccept(c.id, i))] for i, p in missed]
        return Message("\n".join(lines), kb(*rows, [Button("Reject", ClaimReject(c.id))]), title=what)

    # -------------------------------------------------------------- accept

    def accept(self, learner: Learner, action: ClaimAccept) -> list[Reply]:
        claim, refused = self._pending(learner, action.claim_id)
        if claim is None:
            return refused
        question = self.live.bank().get(claim.question_id)
        point = question.marking_points[action.point] if question and action.point < len(question.marking_points) else None
        if question is None or point is None or point.id not in claim.misses:
            return [Message(STALE, toast=True)]
        learn = None
        if action.learn:
            marked = self.live.question(question)
            evidence = [r.evidence for r in self.grader.grade(marked, claim.answer).points if r.earned]
            wording = wording_for(claim.answer, point, evidence)
            why = refusal(self.grader, marked, point.id, wording, claim.answer)
            if why is not None:
                log.info("claim %s: wording %r not learned for %s/%s: %s", claim.id, wording, question.id, point.id, why)
                return [Message(f"I can't learn “{short(wording, 120)}” for “{short(point.text, 80)}”: {why}.",
                                kb([Button("Accept without learning", ClaimAccept(claim.id, action.point, 0))],
                                   [Button("Reject", ClaimReject(claim.id))]), title="Not learned")]
            learn = (question.id, point.id, wording)
        card = None
        if claim.kind == "maybe" and claim.latest and claim.card_before is not None:  # the learner never claimed it
            after, due, _ = self.scheduler.review(claim.card_before, Rating.Good, claim.reviewed_at,
                                                  self.plan_for(claim.learner_id))
            card = (claim.question_id, after, due)
        if not self.store.decide_claim(claim.id, "accepted", learner.id, self.now(), card=card, learn=learn):
            return [Message(STALE, toast=True)]
        if learn is not None:
            self.live.reload()
        done = (f"Accepted. Learned: “{short(learn[2], 120)}” now earns “{short(point.text, 80)}” for every learner."
                if learn else "Accepted (nothing learned).")
        replies: list[Reply] = [Message(done, toast=True)]
        if claim.chat_id is not None:
            replies.append(Notify(claim.chat_id, Message(
                f"Your tutor agreed: “{point.text}” — your answer to “{short(question.prompt, 100)}” counts as right.",
                kb([NEXT]))))
        return replies

    # -------------------------------------------------------------- reject

    def reject(self, learner: Learner, action: ClaimReject) -> list[Reply]:
        claim, refused = self._pending(learner, action.claim_id)
        if claim is None:
            return refused
        card = None
        if claim.kind == "claim" and claim.latest and claim.card_before is not None and claim.rating is not None:
            after, due, _ = self.scheduler.review(claim.card_before, Rating(claim.rating), claim.reviewed_at,
                                                  self.plan_for(claim.learner_id))
            card = (claim.question_id, after, due)
        status = "rejecting" if claim.kind == "claim" else "dismissed"
        if not self.store.decide_claim(claim.id, status, learner.id, self.now(), card=card):
            return [Message(STALE, toast=True)]
        if status == "dismissed":
            return [Message("Dismissed: the grader's mark stands.", toast=True)]
        self.store.clear_pending(learner.id)  # so their next message is the reason, not an answer
        name = claim.learner_name or "the learner"
        replies: list[Reply] = [Message(
            f"Rejected: the answer is back to its original mark and rescheduled, and {name} has been told. Send me "
            "one line saying why, and I'll pass it on (or Skip).", kb([Button("Skip", ClaimSkipReason(claim.id))]))]
        if claim.chat_id is not None:  # told now, so a tutor who never adds a reason leaves nobody waiting
            question = self.live.bank().get(claim.question_id)
            about = f" to “{short(question.prompt, 100)}”" if question else ""
            replies.append(Notify(claim.chat_id, Message(
                f"Your tutor looked at your answer{about} and kept the original mark, so it'll come back for review "
                "soon. Thanks for flagging it: it helps the marking improve.", kb([NEXT]))))
        return replies

    def reason(self, learner: Learner, text: str) -> list[Reply] | None:
        """A tutor's message after a Reject: the reason for the learner (None: no rejection waits for one)."""
        claim = self.store.rejecting_claim(learner.id)
        if claim is None:
            return None
        return self._finish(claim, short(text, 200))

    def skip_reason(self, learner: Learner, action: ClaimSkipReason) -> list[Reply]:
        claim = self.store.claim(action.claim_id)
        if claim is None or claim.decided_by != learner.id or claim.status != "rejecting":
            return [Message(STALE, toast=True)]
        return self._finish(claim, None)

    def _finish(self, claim: Claim, reason: str | None) -> list[Reply]:
        if not self.store.finish_rejection(claim.id, reason):
            return [Message(STALE, toast=True)]
        if not reason:
            return [Message("Done: no reason sent.")]
        replies: list[Reply] = [Message("Done: your reason has been passed on.")]
        if claim.chat_id is not None:
            replies.append(Notify(claim.chat_id, Message(f"About the answer your tutor kept the mark on, they say: "
                                                         f"{reason}", kb([NEXT]))))
        return replies

    # -------------------------------------------------------------- learned wordings

    def list_learned(self, learner: Learner) -> list[Reply]:
        if not self.desk.is_tutor(learner):
            return self.desk._refuse(learner, "/learned")
        learned = self.store.learned_accepts()
        if not learned:
            return [Message("The grader hasn't learned any wordings from claims yet.")]
        bank = self.live.bank()
        lines, rows = [], []
        for la in learned[-30:]:
            q = bank.get(la.question_id)
            p = q.point(la.point_id) if q else None
            lines.append(f"{la.id}. “{short(la.wording, 120)}” → {short(p.text if p else la.point_id, 60)} "
                         f"({la.question_id}, {la.learned_at:%d %b})")
            if self.desk.is_admin(learner) or la.learned_by == learner.id:
                rows.append([Button(f"Withdraw {la.id}", WithdrawLearned(la.id))])
        lines.append("\n`python -m bot accepts export` turns these into a patch for content/.")
        return [Message("\n".join(lines), kb(*rows), title=f"Learned wordings ({len(learned)})")]

    def withdraw(self, learner: Learner, action: WithdrawLearned) -> list[Reply]:
        found = next((la for la in self.store.learned_accepts() if la.id == action.learned_id), None)
        if found is None:
            return [Message("That wording has already been withdrawn.", toast=True)]
        if not self.desk.is_tutor(learner) or not (self.desk.is_admin(learner) or found.learned_by == learner.id):
            return self.desk._refuse(learner, f"withdraw learned {action.learned_id}")
        self.store.withdraw_learned([found.id])
        self.live.reload()
        return [Message(f"Withdrawn: “{short(found.wording, 120)}” no longer earns the point.", toast=True)]

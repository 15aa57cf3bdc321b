"""Cohorts, tutor roles, broadcasts and the dashboard: the tutor side of the conversation.

`TutorDesk` is composed into `Engine`, which hands it the tutor actions (see `Engine.handle`);
it works from a small `DeskContext`. Authorisation lives here: admins come from settings,
tutors from the store, and a tutor manages only their own cohorts. Every refusal is answered
briefly and logged.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, assert_never

from bot.tutor.actions import (
    AddTutor, BroadcastCancel, BroadcastConfirm, BroadcastContent, BroadcastPick, BroadcastStart, CloseCohort,
    CohortExam, CohortExamSet, Dashboard, Join, Leave, ListCohorts, MyCohorts, NewCohort, RemoveTutor, RotateCode,
    TutorAction,
)
from bot.tutor.bank import QuestionBank
from bot.tutor.exam import ExamPlan, parse_exam_date
from bot.tutor.insights import accuracy_by_topic, top_missed_points
from bot.tutor.models import CardRow, Cohort, Learner
from bot.tutor.ports import TutorStore
from bot.tutor.replies import (
    NEXT, BroadcastProgress, BroadcastStarted, Button, DashboardData, ExamOutlook, MenuChange, Message, Reply, kb,
)
from bot.tutor.srs import Scheduler, learner_day

log = logging.getLogger(__name__)

__all__ = ["TutorDesk", "DeskContext", "new_join_code", "JOIN_FAILURES_PER_HOUR"]

JOIN_FAILURES_PER_HOUR = 5


def new_join_code() -> str:
    """An unguessable join code: 96 random bits, URL-safe (fits a /start deep-link payload)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class DeskContext:
    """What the desk works with, given by the engine."""

    store: TutorStore
    now: Callable[[], datetime]  # aware UTC
    bank: QuestionBank
    scheduler: Scheduler
    admins: frozenset[tuple[str, str]]  # (channel, external id)
    link_base: str | None  # a deep link to the bot with a start payload, e.g. https://t.me/Bot?start=
    get_learner: Callable[[str, str], Learner]  # (channel, external id): get or create, no activity
    timezone: str = "Europe/London"  # a cohort's exam day is a day in this zone


class TutorDesk:
    """The tutor actions (and a learner's cohort actions), one method each."""

    def __init__(self, ctx: DeskContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.now = ctx.now
        self.bank = ctx.bank

    def handle(self, learner: Learner, action: TutorAction) -> list[Reply]:
        match action:
            case Join():
                return self.join(learner, action)
            case MyCohorts():
                return self.my_cohorts(learner)
            case Leave():
                return self.leave(learner, action)
            case AddTutor():
                return self.add_tutor(learner, action)
            case RemoveTutor():
                return self.remove_tutor(learner, action)
            case NewCohort():
                return self.new_cohort(learner, action)
            case ListCohorts():
                return self.list_cohorts(learner)
            case RotateCode():
                return self.rotate_code(learner, action)
            case CloseCohort():
                return self.close_cohort(learner, action)
            case BroadcastStart():
                return self.broadcast_start(learner)
            case BroadcastPick():
                return self.broadcast_pick(learner, action)
            case BroadcastContent():
                return self.broadcast_content(learner, action)
            case BroadcastConfirm():
                return self.broadcast_confirm(learner, action)
            case BroadcastCancel():
                return self.broadcast_cancel(learner, action)
            case Dashboard():
                return self.show_dashboard(learner, action)
            case CohortExam():
                return self.cohort_exam(learner, action)
            case CohortExamSet():
                return self.cohort_exam_set(learner, action)
            case _:
                assert_never(action)

    # -------------------------------------------------------------- roles

    def is_admin(self, learner: Learner) -> bool:
        return (learner.channel, learner.external_id) in self.ctx.admins

    def is_tutor(self, learner: Learner) -> bool:
        return self.is_admin(learner) or self.store.role(learner.id) == "tutor"

    def can_manage(self, learner: Learner, cohort: Cohort | None) -> bool:
        return cohort is not None and (self.is_admin(learner) or
                                       (cohort.owner_id == learner.id and self.store.role(learner.id) == "tutor"))

    def _refuse(self, learner: Learner, what: str) -> list[Reply]:
        log.warning("refused %s for learner %s (%s:%s)", what, learner.id, learner.channel, learner.external_id)
        return [Message("Sorry, that's only for tutors of this cohort.")]

    def _link(self, cohort: Cohort) -> str:
        if self.ctx.link_base:
            return f"{self.ctx.link_base}{cohort.join_code}"
        return f"/join {cohort.join_code}"

    # -------------------------------------------------------------- learners

    def join(self, learner: Learner, action: Join) -> list[Reply]:
        now = self.now()
        if self.store.join_failures_since(learner.id, now - timedelta(hours=1)) >= JOIN_FAILURES_PER_HOUR:
            return [Message("Too many wrong codes in the last hour. Please wait a while, and check the link "
                            "your tutor sent.")]
        code = action.code.strip()
        well_formed = 0 < len(code) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in code)
        cohort = self.store.cohort_by_code(code) if well_formed else None
        if cohort is None:
            self.store.note_join_failure(learner.id, now)
            return [Message("That join code doesn't match an open cohort. Check the link your tutor sent "
                            "(codes are case-sensitive).")]
        if not self.store.join(cohort.id, learner.id, now):
            return [Message(f"You're already in {cohort.name}.", kb([NEXT]))]
        return [Message(f"You've joined {cohort.name}. Your tutor will see how the cohort is getting on "
                        "(see /privacy). /mycohorts lists your cohorts.", kb([NEXT]))]

    def my_cohorts(self, learner: Learner) -> list[Reply]:
        mine = self.store.cohorts(member_id=learner.id)
        if not mine:
            return [Message("You're not in any cohort. Your tutor can send you a join link.")]
        lines = [f"• {c.name}" for c in mine]
        return [Message("\n".join(lines), kb(*[[Button(f"Leave {c.name}", Leave(c.id))] for c in mine]),
                        title="Your cohorts")]

    def leave(self, learner: Learner, action: Leave) -> list[Reply]:
        if action.cohort_id is None:
            return self.my_cohorts(learner)
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.store.leave(action.cohort_id, learner.id):
            return [Message("You're not in that cohort.")]
        return [Message(f"You've left {cohort.name}.")]

    # -------------------------------------------------------------- admins

    def _target(self, target: str, channel: str) -> Learner | None:
        target = target.strip().lstrip("@")
        if not target.lstrip("-").isdecimal():
            return None
        return self.ctx.get_learner(channel, target)

    def add_tutor(self, learner: Learner, action: AddTutor) -> list[Reply]:
        if not self.is_admin(learner):
            return self._refuse(learner, "/addtutor")
        who = self._target(action.target, learner.channel)
        if who is None:
            return [Message("Send /addtutor with the user's numeric id, or forward me a message from them "
                            "and reply /addtutor to it.")]
        self.store.set_role(who.id, "tutor", learner.id, self.now())
        replies: list[Reply] = [Message(f"{who.display_name or who.external_id} is now a tutor.")]
        if who.chat_id is not None:
            replies.append(MenuChange(who.chat_id, True))
        return replies

    def remove_tutor(self, learner: Learner, action: RemoveTutor) -> list[Reply]:
        if not self.is_admin(learner):
            return self._refuse(learner, "/removetutor")
        who = self._target(action.target, learner.channel)
        if who is None or self.store.role(who.id) != "tutor":
            return [Message("That user isn't a tutor.")]
        self.store.set_role(who.id, None, learner.id, self.now())
        replies: list[Reply] = [Message(f"{who.display_name or who.external_id} is no longer a tutor. Their cohorts "
                                      "stay; an admin can still manage them.")]
        if who.chat_id is not None:
            replies.append(MenuChange(who.chat_id, False))
        return replies

    # -------------------------------------------------------------- cohorts

    def new_cohort(self, learner: Learner, action: NewCohort) -> list[Reply]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/newcohort")
        name = " ".join(action.name.split())[:100]
        if not name:
            return [Message("Give the cohort a name: /newcohort Level 3 Spring")]
        if self.is_admin(learner) and self.store.role(learner.id) != "tutor":
            self.store.set_role(learner.id, "tutor", learner.id, self.now())
        cohort = self.store.create_cohort(name, learner.id, new_join_code(), self.now())
        return [Message(f"Cohort “{cohort.name}” created. Learners join with this link:\n{self._link(cohort)}",
                        title="New cohort")]

    def _visible_cohorts(self, learner: Learner) -> list[Cohort]:
        return self.store.cohorts() if self.is_admin(learner) else self.store.cohorts(owner_id=learner.id)

    def list_cohorts(self, learner: Learner) -> list[Reply]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/cohorts")
        mine = self._visible_cohorts(learner)
        if not mine:
            return [Message("No cohorts yet. Create one with /newcohort Level 3 Spring")]
        lines = [f"• {c.name}: {c.members} member{'s' if c.members != 1 else ''}\n  {self._link(c)}" for c in mine]
        rows = [[Button(f"New link: {c.name}"[:60], RotateCode(c.id)), Button("Close", CloseCohort(c.id))] for c in mine]
        return [Message("\n".join(lines), kb(*rows), title="Cohorts")]

    def rotate_code(self, learner: Learner, action: RotateCode) -> list[Reply]:
        cohort = self.store.cohort(action.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"rotate cohort {action.cohort_id}")
        self.store.rotate_code(action.cohort_id, new_join_code())
        fresh = self.store.cohort(action.cohort_id)
        assert fresh is not None
        return [Message(f"New link for {fresh.name} (the old one no longer works):\n{self._link(fresh)}")]

    def close_cohort(self, learner: Learner, action: CloseCohort) -> list[Reply]:
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"close cohort {action.cohort_id}")
        self.store.close_cohort(action.cohort_id, self.now())
        return [Message(f"{cohort.name} is closed: its link no longer works. Members keep their progress.")]

    # -------------------------------------------------------------- exam dates

    def _exam_day(self, arg: str) -> date | str | None:
        """A tutor's exam date: the date, None for "off", or a refusal saying why."""
        if arg.strip().lower() in ("off", "none", "clear"):
            return None
        day = parse_exam_date(arg, learner_day(self.now(), self.ctx.timezone))
        return day.replace("/exam", "/cohortexam") if isinstance(day, str) else day

    def cohort_exam(self, learner: Learner, action: CohortExam) -> list[Reply]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/cohortexam")
        if not action.arg.strip():
            return [Message("Send /cohortexam 2027-05-14 to set a cohort's exam date, or /cohortexam off.")]
        day = self._exam_day(action.arg)
        if isinstance(day, str):
            return [Message(day)]
        mine = self._visible_cohorts(learner)
        if not mine:
            return [Message("No cohorts yet. Create one with /newcohort Level 3 Spring")]
        arg = day.isoformat() if day else "off"
        if len(mine) == 1:
            return self.cohort_exam_set(learner, CohortExamSet(mine[0].id, arg))
        return [Message("Which cohort?", kb(*[[Button(c.name[:60], CohortExamSet(c.id, arg))] for c in mine]),
                        title="Exam date")]

    def cohort_exam_set(self, learner: Learner, action: CohortExamSet) -> list[Reply]:
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"exam date of cohort {action.cohort_id}")
        day = self._exam_day(action.day)  # checked again: the button may be old
        if isinstance(day, str):
            return [Message(day)]
        self.store.set_cohort_exam(cohort.id, day)
        if day is None:
            return [Message(f"{cohort.name} has no exam date now. Members who set their own keep it.")]
        return [Message(f"{cohort.name}'s exam is on {day:%A %d %B %Y}. Members without their own date now revise "
                        "for it: new questions are paced to finish two weeks before, and reviews peak on the day. "
                        "The dashboard shows readiness by topic.")]

    # -------------------------------------------------------------- broadcasts

    def _pick_cohort(self, learner: Learner, pick: type[BroadcastPick | Dashboard], title: str) -> list[Reply]:
        mine = self._visible_cohorts(learner)
        if not mine:
            return [Message("No cohorts yet. Create one with /newcohort Level 3 Spring")]
        return [Message("Which cohort?", kb(*[[Button(f"{c.name} ({c.members})"[:60], pick(c.id))] for c in mine]),
                        title=title)]

    def broadcast_start(self, learner: Learner) -> list[Reply]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/broadcast")
        return self._pick_cohort(learner, BroadcastPick, "Broadcast")

    def broadcast_pick(self, learner: Learner, action: BroadcastPick) -> list[Reply]:
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"broadcast to cohort {action.cohort_id}")
        self.store.create_broadcast(action.cohort_id, learner.id, self.now())
        return [Message(f"Send me the message for {cohort.name} ({cohort.members} members): text, a photo "
                        "or a document. It will be copied exactly as you send it. /stop cancels.")]

    def broadcast_content(self, learner: Learner, action: BroadcastContent) -> list[Reply]:
        draft = self.store.open_draft(learner.id)
        if draft is None or draft.cohort_id is None:
            return [Message("Start with /broadcast to choose a cohort first.")]
        cohort = self.store.cohort(draft.cohort_id)
        if cohort is None or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"broadcast to cohort {draft.cohort_id}")
        self.store.set_broadcast_message(draft.id, action.from_chat_id, action.message_id, action.summary)
        n = len([m for m in self.store.members(draft.cohort_id) if m.chat_id is not None])
        return [Message(f"Ready to send the message above to {n} learner{'s' if n != 1 else ''} in "
                        f"{cohort.name}.", kb([Button("Confirm ✅", BroadcastConfirm(draft.id)),
                                                 Button("Cancel", BroadcastCancel(draft.id))]), title="Preview")]

    def broadcast_confirm(self, learner: Learner, action: BroadcastConfirm) -> list[Reply]:
        b = self.store.broadcast(action.broadcast_id)
        cohort = self.store.cohort(b.cohort_id) if b and b.cohort_id else None
        if b is None or cohort is None or b.tutor_id != learner.id or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"confirm broadcast {action.broadcast_id}")
        n = self.store.start_broadcast(b.id, self.now())
        if n is None:
            return [Message("That broadcast has already been sent or cancelled.")]
        return [BroadcastStarted(b.id, n, f"Sending to {n} learner{'s' if n != 1 else ''} in {cohort.name}…")]

    def broadcast_cancel(self, learner: Learner, action: BroadcastCancel) -> list[Reply]:
        b = self.store.broadcast(action.broadcast_id)
        if b is None or b.tutor_id != learner.id:
            return self._refuse(learner, f"cancel broadcast {action.broadcast_id}")
        self.store.cancel_broadcast(b.id)
        return [Message("Cancelled: nothing was sent.")]

    def broadcasts_in_progress(self) -> list[BroadcastProgress]:
        """Each running broadcast's report for its progress message; a finished one gets its final report."""
        out = []
        for b in self.store.broadcasts_sending():
            if b.progress_chat_id is None or b.progress_message_id is None:
                continue  # its progress message was never shown: nowhere to report
            text, finished = self._progress(b.id)
            out.append(BroadcastProgress(b.id, b.progress_chat_id, b.progress_message_id, text, finished))
        return out

    def _progress(self, broadcast_id: int) -> tuple[str, bool]:
        """(progress or final report text, finished?)"""
        counts = self.store.outbox_counts(broadcast_id)
        finished = self.store.finish_broadcast_if_done(broadcast_id, self.now())
        sent, blocked, failed = counts.get("sent", 0), counts.get("blocked", 0), counts.get("failed", 0)
        waiting = counts.get("waiting", 0) + counts.get("claimed", 0) + counts.get("sending", 0)
        if not finished:
            return f"Broadcast: {sent} sent, {blocked + failed} failed, {waiting} waiting…", False
        report = self.store.broadcast_report(broadcast_id)
        lines = [f"Broadcast finished: {sent} sent, {blocked} blocked the bot, {failed} failed."]
        if report.get("blocked"):
            lines.append("Blocked: " + ", ".join(report["blocked"][:50]))
        if report.get("failed"):
            lines.append("Failed: " + ", ".join(report["failed"][:50]))
        return "\n".join(lines), True

    def menus(self, chats: frozenset[int] = frozenset()) -> list[Reply]:
        """The tutor menu for every tutor's chat (and `chats`, the admins' own): at start-up."""
        return [MenuChange(chat, True) for chat in sorted(chats | set(self.store.tutor_chats()))]

    # -------------------------------------------------------------- dashboard

    def show_dashboard(self, learner: Learner, action: Dashboard) -> list[Reply]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/dashboard")
        if action.cohort_id is None:
            return self._pick_cohort(learner, Dashboard, "Dashboard")
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"dashboard of cohort {action.cohort_id}")
        data = self.dashboard(cohort)
        lines = [
            f"Members: {data.members} · active in the last 7 days: {data.active_7d}",
            f"Answers this week: {data.reviews_week}",
            f"Average recall: {data.average_recall:.0%}" if data.average_recall is not None else "Average recall: —",
        ]
        if data.accuracy:
            lines.append("\nAccuracy by topic:")
            lines += [f"• {t}: {v:.0f}%" for t, v in sorted(data.accuracy.items(), key=lambda kv: kv[1])]
        if data.top_misses:
            lines.append("\nMost-missed marking points:")
            lines += [f"• {pt} ({n}×)\n  Q: {q[:100]}{'…' if len(q) > 100 else ''}" for q, pt, n in data.top_misses]
        if data.exam is not None:
            ex = data.exam
            when = (f"in {ex.days_left} days" if ex.days_left > 1 else "tomorrow" if ex.days_left == 1
                    else "today" if ex.days_left == 0 else "passed")
            lines.append(f"\nExam {ex.day:%d %B %Y} ({when}): predicted recall on the day {ex.recall_on_day:.0%}, "
                         f"{ex.introduced_share:.0%} of the bank met")
            if data.readiness_by_topic:
                lines += [f"• {t}: {v:.0%}" for t, v in sorted(data.readiness_by_topic.items(), key=lambda kv: kv[1])]
        if data.inactive:
            lines.append("\nNo activity for 7 days: " + ", ".join(data.inactive[:30]))
        if data.overrides:
            lines.append(f"\n“I was right” claims to review ({len(data.overrides)}):")
            lines += [f"• {q[:60]}…\n  Answer: {a[:140]}" for q, a in data.overrides[:10]]
        return [Message("\n".join(lines), title=f"Dashboard: {cohort.name}"), data]

    def dashboard(self, cohort: Cohort) -> DashboardData:
        now = self.now()
        week_ago = now - timedelta(days=7)
        members = self.store.members(cohort.id)
        reviews = self.store.cohort_reviews(cohort.id)
        cards = self.store.cohort_cards(cohort.id)
        recalls = [self.ctx.scheduler.retrievability(c.card, now) for c in cards]
        active = {r.learner_id for r in reviews if r.reviewed_at >= week_ago}
        prompts = {q.id: q.prompt for q in self.bank}
        overrides = [(prompts.get(q, q), a) for _, q, a in self.store.pending_overrides(cohort.id)]
        return DashboardData(
            cohort=cohort.name,
            members=len(members),
            active_7d=len(active),
            reviews_week=sum(1 for r in reviews if r.reviewed_at >= week_ago),
            average_recall=sum(recalls) / len(recalls) if recalls else None,
            accuracy={t: 100 * right / n for t, (right, n) in accuracy_by_topic(self.bank, reviews).items()},
            top_misses=top_missed_points(self.bank, reviews),
            inactive=[m.display_name or m.external_id for m in members if m.id not in active],
            overrides=overrides,
            **self._exam_readiness(cohort, len(members), cards),
        )

    def _exam_readiness(self, cohort: Cohort, members: int, cards: list[CardRow]) -> dict[str, Any]:
        """The cohort's exam outlook: recall predicted on the day, by topic, over every member and question."""
        if cohort.exam_date is None or not members:
            return {}
        plan = ExamPlan(cohort.exam_date, self.ctx.timezone)
        by_topic: dict[str, list[float]] = defaultdict(list)
        for c in cards:
            by_topic[c.topic].append(self.ctx.scheduler.readiness([c.card], 1, plan).recall_on_day)
        sizes = Counter(q.topic for q in self.bank)
        titles = {t.slug: t.title for t in self.bank.topics}
        readiness = {titles[t]: sum(by_topic.get(t, [])) / (n * members) for t, n in sizes.items()}
        total = sum(sum(v) for v in by_topic.values()) / (len(self.bank.questions) * members)
        met = len({(c.learner_id, c.question_id) for c in cards}) / (len(self.bank.questions) * members)
        left = (cohort.exam_date - learner_day(self.now(), self.ctx.timezone)).days
        return {"exam": ExamOutlook(cohort.exam_date, left, total, met), "readiness_by_topic": readiness}

"""Cohorts, tutor roles, broadcasts and the dashboard: the tutor side of the conversation.

`CohortDesk` is mixed into `Engine`; its `_on_*` methods handle the tutor actions below.
Authorisation lives here: admins come from settings, tutors from the store, and a tutor
manages only their own cohorts. Every refusal is answered briefly and logged.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.tutor.insights import accuracy_by_topic, top_missed_points
from bot.tutor.models import Cohort, Learner

log = logging.getLogger(__name__)

__all__ = [
    "Join", "MyCohorts", "Leave", "AddTutor", "RemoveTutor", "NewCohort", "ListCohorts", "RotateCode",
    "CloseCohort", "BroadcastStart", "BroadcastPick", "BroadcastContent", "BroadcastConfirm", "BroadcastCancel",
    "Dashboard", "BroadcastStarted", "DashboardData", "MenuChange", "CohortDesk", "parse_tutor_command", "parse_tutor_button",
    "new_join_code", "TUTOR_COMMANDS",
]

JOIN_FAILURES_PER_HOUR = 5


@dataclass(frozen=True)
class Join:
    code: str


@dataclass(frozen=True)
class MyCohorts:
    pass


@dataclass(frozen=True)
class Leave:
    cohort_id: int | None = None


@dataclass(frozen=True)
class AddTutor:
    target: str  # a user id (the channel turns a forwarded message into its sender's id)


@dataclass(frozen=True)
class RemoveTutor:
    target: str


@dataclass(frozen=True)
class NewCohort:
    name: str


@dataclass(frozen=True)
class ListCohorts:
    pass


@dataclass(frozen=True)
class RotateCode:
    cohort_id: int


@dataclass(frozen=True)
class CloseCohort:
    cohort_id: int


@dataclass(frozen=True)
class BroadcastStart:
    pass


@dataclass(frozen=True)
class BroadcastPick:
    cohort_id: int


@dataclass(frozen=True)
class BroadcastContent:
    """The tutor's message to copy to the cohort (any kind: text, photo, document)."""

    from_chat_id: int
    message_id: int
    summary: str


@dataclass(frozen=True)
class BroadcastConfirm:
    broadcast_id: int


@dataclass(frozen=True)
class BroadcastCancel:
    broadcast_id: int


@dataclass(frozen=True)
class Dashboard:
    cohort_id: int | None = None


@dataclass(frozen=True)
class BroadcastStarted:
    """Reply: a broadcast is queued; the channel shows a progress message for it."""

    broadcast_id: int
    recipients: int
    text: str


@dataclass(frozen=True)
class MenuChange:
    """Reply: show (or stop showing) the tutor commands in this chat's command menu."""

    chat_id: int
    tutor: bool


@dataclass(frozen=True)
class DashboardData:
    cohort: str
    members: int
    active_7d: int
    reviews_week: int
    average_recall: float | None
    accuracy: dict[str, float]  # topic title -> % right
    top_misses: list[tuple[str, str, int]]  # (question prompt, point text, misses)
    inactive: list[str]  # names of members with no activity for 7 days
    overrides: list[tuple[str, str]]  # (question prompt, learner's answer) awaiting review


TUTOR_COMMANDS: tuple[tuple[str, str], ...] = (
    ("newcohort", "Create a cohort: /newcohort Level 3 Spring"),
    ("cohorts", "Your cohorts, links, rotate or close"),
    ("broadcast", "Message a cohort"),
    ("dashboard", "Where a cohort struggles"),
    ("addtutor", "Admins: make a user a tutor (/addtutor ID)"),
    ("removetutor", "Admins: remove a tutor (/removetutor ID)"),
)


def new_join_code() -> str:
    """An unguessable join code: 96 random bits, URL-safe (fits a /start deep-link payload)."""
    return secrets.token_urlsafe(12)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() else None


def parse_tutor_command(name: str, rest: str) -> Any | None:
    """Cohort and tutor commands; None if `name` is not one of them."""
    if name == "join":
        return Join(rest.strip())
    if name == "mycohorts":
        return MyCohorts()
    if name == "leave":
        return Leave(_int(rest))
    if name == "addtutor":
        return AddTutor(rest.strip())
    if name == "removetutor":
        return RemoveTutor(rest.strip())
    if name == "newcohort":
        return NewCohort(rest.strip())
    if name == "cohorts":
        return ListCohorts()
    if name == "broadcast":
        return BroadcastStart()
    if name == "dashboard":
        return Dashboard(_int(rest))
    if name in ("rotate", "closecohort"):
        cid = _int(rest)
        if cid is None:
            return None
        return RotateCode(cid) if name == "rotate" else CloseCohort(cid)
    return None


def parse_tutor_button(kind: str, arg: str) -> Any | None:
    num = _int(arg.rsplit(":", 1)[-1]) if arg else None
    if num is None:
        return None
    if kind == "leave":
        return Leave(num)
    if kind == "rotate":
        return RotateCode(num)
    if kind == "close":
        return CloseCohort(num)
    if kind == "dash":
        return Dashboard(num)
    if kind == "bcpick":
        return BroadcastPick(num)
    if kind == "bcyes":
        return BroadcastConfirm(num)
    if kind == "bcno":
        return BroadcastCancel(num)
    return None


class CohortDesk:
    """Tutor-side actions, mixed into Engine (uses self.store, self.now(), self.bank...)."""

    store: Any
    admins: frozenset[tuple[str, str]]
    link_base: str | None

    # -------------------------------------------------------------- roles

    def is_admin(self, learner: Learner) -> bool:
        return (learner.channel, learner.external_id) in self.admins

    def is_tutor(self, learner: Learner) -> bool:
        return self.is_admin(learner) or self.store.role(learner.id) == "tutor"

    def can_manage(self, learner: Learner, cohort: Cohort | None) -> bool:
        return cohort is not None and (self.is_admin(learner) or
                                       (cohort.owner_id == learner.id and self.store.role(learner.id) == "tutor"))

    def _refuse(self, learner: Learner, what: str) -> list[Any]:
        from bot.tutor.engine import Message

        log.warning("refused %s for learner %s (%s:%s)", what, learner.id, learner.channel, learner.external_id)
        return [Message("Sorry, that's only for tutors of this cohort.")]

    def _link(self, cohort: Cohort) -> str:
        if self.link_base:
            return f"{self.link_base}{cohort.join_code}"
        return f"/join {cohort.join_code}"

    # -------------------------------------------------------------- learners

    def _on_join(self, learner: Learner, action: Join) -> list[Any]:
        from bot.tutor.engine import Message, NEXT, _kb

        now = self.now()  # type: ignore[attr-defined]
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
            return [Message(f"You're already in {cohort.name}.", _kb([NEXT]))]
        return [Message(f"You've joined {cohort.name}. Your tutor will see how the cohort is getting on "
                        "(see /privacy). /mycohorts lists your cohorts.", _kb([NEXT]))]

    def _on_mycohorts(self, learner: Learner, action: MyCohorts) -> list[Any]:
        from bot.tutor.engine import Button, Message, _kb

        mine = self.store.cohorts(member_id=learner.id)
        if not mine:
            return [Message("You're not in any cohort. Your tutor can send you a join link.")]
        lines = [f"• {c.name}" for c in mine]
        return [Message("\n".join(lines), _kb(*[[Button(f"Leave {c.name}", f"leave:{c.id}")] for c in mine]),
                        title="Your cohorts")]

    def _on_leave(self, learner: Learner, action: Leave) -> list[Any]:
        from bot.tutor.engine import Message

        if action.cohort_id is None:
            return self._on_mycohorts(learner, MyCohorts())
        cohort = self.store.cohort(action.cohort_id)
        if cohort is None or not self.store.leave(action.cohort_id, learner.id):
            return [Message("You're not in that cohort.")]
        return [Message(f"You've left {cohort.name}.")]

    # -------------------------------------------------------------- admins

    def _target(self, target: str, channel: str) -> Learner | None:
        target = target.strip().lstrip("@")
        if not target.lstrip("-").isdecimal():
            return None
        return self.store.learner(channel, target, now=self.now(), timezone=self.default_timezone,  # type: ignore[attr-defined]
                                  new_per_day=self.new_per_day)  # type: ignore[attr-defined]

    def _on_addtutor(self, learner: Learner, action: AddTutor) -> list[Any]:
        from bot.tutor.engine import Message

        if not self.is_admin(learner):
            return self._refuse(learner, "/addtutor")
        who = self._target(action.target, learner.channel)
        if who is None:
            return [Message("Send /addtutor with the user's numeric id, or forward me a message from them "
                            "and reply /addtutor to it.")]
        self.store.set_role(who.id, "tutor", learner.id, self.now())  # type: ignore[attr-defined]
        replies: list[Any] = [Message(f"{who.display_name or who.external_id} is now a tutor.")]
        if who.chat_id is not None:
            replies.append(MenuChange(who.chat_id, True))
        return replies

    def _on_removetutor(self, learner: Learner, action: RemoveTutor) -> list[Any]:
        from bot.tutor.engine import Message

        if not self.is_admin(learner):
            return self._refuse(learner, "/removetutor")
        who = self._target(action.target, learner.channel)
        if who is None or self.store.role(who.id) != "tutor":
            return [Message("That user isn't a tutor.")]
        self.store.set_role(who.id, None, learner.id, self.now())  # type: ignore[attr-defined]
        replies: list[Any] = [Message(f"{who.display_name or who.external_id} is no longer a tutor. Their cohorts "
                                      "stay; an admin can still manage them.")]
        if who.chat_id is not None:
            replies.append(MenuChange(who.chat_id, False))
        return replies

    # -------------------------------------------------------------- cohorts

    def _on_newcohort(self, learner: Learner, action: NewCohort) -> list[Any]:
        from bot.tutor.engine import Message

        if not self.is_tutor(learner):
            return self._refuse(learner, "/newcohort")
        name = " ".join(action.name.split())[:100]
        if not name:
            return [Message("Give the cohort a name: /newcohort Level 3 Spring")]
        if self.is_admin(learner) and self.store.role(learner.id) != "tutor":
            self.store.set_role(learner.id, "tutor", learner.id, self.now())  # type: ignore[attr-defined]
        cohort = self.store.create_cohort(name, learner.id, new_join_code(), self.now())  # type: ignore[attr-defined]
        return [Message(f"Cohort “{cohort.name}” created. Learners join with this link:\n{self._link(cohort)}",
                        title="New cohort")]

    def _visible_cohorts(self, learner: Learner) -> list[Cohort]:
        return self.store.cohorts() if self.is_admin(learner) else self.store.cohorts(owner_id=learner.id)

    def _on_listcohorts(self, learner: Learner, action: ListCohorts) -> list[Any]:
        from bot.tutor.engine import Button, Message, _kb

        if not self.is_tutor(learner):
            return self._refuse(learner, "/cohorts")
        mine = self._visible_cohorts(learner)
        if not mine:
            return [Message("No cohorts yet. Create one with /newcohort Level 3 Spring")]
        lines = [f"• {c.name}: {c.members} member{'s' if c.members != 1 else ''}\n  {self._link(c)}" for c in mine]
        rows = [[Button(f"New link: {c.name}"[:60], f"rotate:{c.id}"), Button("Close", f"close:{c.id}")] for c in mine]
        return [Message("\n".join(lines), _kb(*rows), title="Cohorts")]

    def _on_rotatecode(self, learner: Learner, action: RotateCode) -> list[Any]:
        from bot.tutor.engine import Message

        cohort = self.store.cohort(action.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"rotate cohort {action.cohort_id}")
        self.store.rotate_code(action.cohort_id, new_join_code())
        fresh = self.store.cohort(action.cohort_id)
        return [Message(f"New link for {fresh.name} (the old one no longer works):\n{self._link(fresh)}")]

    def _on_closecohort(self, learner: Learner, action: CloseCohort) -> list[Any]:
        from bot.tutor.engine import Message

        cohort = self.store.cohort(action.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"close cohort {action.cohort_id}")
        self.store.close_cohort(action.cohort_id, self.now())  # type: ignore[attr-defined]
        return [Message(f"{cohort.name} is closed: its link no longer works. Members keep their progress.")]  # type: ignore[union-attr]

    # -------------------------------------------------------------- broadcasts

    def _pick_cohort(self, learner: Learner, kind: str, title: str) -> list[Any]:
        from bot.tutor.engine import Button, Message, _kb

        mine = self._visible_cohorts(learner)
        if not mine:
            return [Message("No cohorts yet. Create one with /newcohort Level 3 Spring")]
        return [Message("Which cohort?", _kb(*[[Button(f"{c.name} ({c.members})"[:60], f"{kind}:{c.id}")] for c in mine]),
                        title=title)]

    def _on_broadcaststart(self, learner: Learner, action: BroadcastStart) -> list[Any]:
        if not self.is_tutor(learner):
            return self._refuse(learner, "/broadcast")
        return self._pick_cohort(learner, "bcpick", "Broadcast")

    def _on_broadcastpick(self, learner: Learner, action: BroadcastPick) -> list[Any]:
        from bot.tutor.engine import Message

        cohort = self.store.cohort(action.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"broadcast to cohort {action.cohort_id}")
        self.store.create_broadcast(action.cohort_id, learner.id, self.now())  # type: ignore[attr-defined]
        return [Message(f"Send me the message for {cohort.name} ({cohort.members} members): text, a photo "  # type: ignore[union-attr]
                        "or a document. It will be copied exactly as you send it. /stop cancels.")]

    def _on_broadcastcontent(self, learner: Learner, action: BroadcastContent) -> list[Any]:
        from bot.tutor.engine import Button, Message, _kb

        draft = self.store.open_draft(learner.id)
        if draft is None:
            return [Message("Start with /broadcast to choose a cohort first.")]
        cohort = self.store.cohort(draft.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"broadcast to cohort {draft.cohort_id}")
        self.store.set_broadcast_message(draft.id, action.from_chat_id, action.message_id, action.summary)
        n = len([m for m in self.store.members(draft.cohort_id) if m.chat_id is not None])
        return [Message(f"Ready to send the message above to {n} learner{'s' if n != 1 else ''} in "
                        f"{cohort.name}.", _kb([Button("Confirm ✅", f"bcyes:{draft.id}"),  # type: ignore[union-attr]
                                                 Button("Cancel", f"bcno:{draft.id}")]), title="Preview")]

    def _on_broadcastconfirm(self, learner: Learner, action: BroadcastConfirm) -> list[Any]:
        from bot.tutor.engine import Message

        b = self.store.broadcast(action.broadcast_id)
        cohort = self.store.cohort(b.cohort_id) if b and b.cohort_id else None
        if b is None or b.tutor_id != learner.id or not self.can_manage(learner, cohort):
            return self._refuse(learner, f"confirm broadcast {action.broadcast_id}")
        n = self.store.start_broadcast(b.id, self.now())  # type: ignore[attr-defined]
        if n < 0:
            return [Message("That broadcast has already been sent or cancelled.")]
        return [BroadcastStarted(b.id, n, f"Sending to {n} learner{'s' if n != 1 else ''} in {cohort.name}…")]  # type: ignore[union-attr]

    def _on_broadcastcancel(self, learner: Learner, action: BroadcastCancel) -> list[Any]:
        from bot.tutor.engine import Message

        b = self.store.broadcast(action.broadcast_id)
        if b is None or b.tutor_id != learner.id:
            return self._refuse(learner, f"cancel broadcast {action.broadcast_id}")
        self.store.cancel_broadcast(b.id)
        return [Message("Cancelled: nothing was sent.")]

    def broadcast_progress(self, broadcast_id: int) -> tuple[str, bool]:
        """(progress or final report text, finished?)"""
        counts = self.store.outbox_counts(broadcast_id)
        done = self.store.finish_broadcast_if_done(broadcast_id, self.now())  # type: ignore[attr-defined]
        b = self.store.broadcast(broadcast_id)
        finished = b is not None and b.status == "done"
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
        del done
        return "\n".join(lines), True

    # -------------------------------------------------------------- dashboard

    def _on_dashboard(self, learner: Learner, action: Dashboard) -> list[Any]:
        from bot.tutor.engine import Message

        if not self.is_tutor(learner):
            return self._refuse(learner, "/dashboard")
        if action.cohort_id is None:
            return self._pick_cohort(learner, "dash", "Dashboard")
        cohort = self.store.cohort(action.cohort_id)
        if not self.can_manage(learner, cohort):
            return self._refuse(learner, f"dashboard of cohort {action.cohort_id}")
        data = self.dashboard(cohort)  # type: ignore[arg-type]
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
        if data.inactive:
            lines.append("\nNo activity for 7 days: " + ", ".join(data.inactive[:30]))
        if data.overrides:
            lines.append(f"\n“I was right” claims to review ({len(data.overrides)}):")
            lines += [f"• {q[:60]}…\n  Answer: {a[:140]}" for q, a in data.overrides[:10]]
        return [Message("\n".join(lines), title=f"Dashboard: {cohort.name}"), data]  # type: ignore[union-attr]

    def dashboard(self, cohort: Cohort) -> DashboardData:
        now = self.now()  # type: ignore[attr-defined]
        week_ago = now - timedelta(days=7)
        members = self.store.members(cohort.id)
        reviews = self.store.cohort_reviews(cohort.id)
        cards = self.store.cohort_cards(cohort.id)
        recalls = [self.scheduler.retrievability(c.card, now) for c in cards]  # type: ignore[attr-defined]
        active = {r.learner_id for r in reviews if r.reviewed_at >= week_ago}
        overrides = [((self.bank.get(q).prompt if self.bank.get(q) else q), a)  # type: ignore[attr-defined]
                     for _, q, a in self.store.pending_overrides(cohort.id)]
        return DashboardData(
            cohort=cohort.name,
            members=len(members),
            active_7d=len(active),
            reviews_week=sum(1 for r in reviews if r.reviewed_at >= week_ago),
            average_recall=sum(recalls) / len(recalls) if recalls else None,
            accuracy={t: 100 * right / n for t, (right, n) in accuracy_by_topic(self.bank, reviews).items()},  # type: ignore[attr-defined]
            top_misses=top_missed_points(self.bank, reviews),  # type: ignore[attr-defined]
            inactive=[m.display_name or m.external_id for m in members if m.id not in active],
            overrides=overrides,
        )

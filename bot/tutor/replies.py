"""What the core answers with: channel-neutral replies, and the buttons they carry.

A `Button` carries the `Action` it stands for; the channel encodes it (`bot.tutor.buttons`)
and decodes it again when pressed. A reply also says how it is best shown (`Message.toast`,
`Message.replaces_previous`), so a channel never inspects which action produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.tutor.actions import Action, Next, Stop, question_key
from bot.tutor.bank import Question
from bot.tutor.grading import Marking

__all__ = [
    "Button", "Keyboard", "kb", "NEXT", "STOP", "Message", "AskQuestion", "Feedback", "StatsData", "ExamOutlook",
    "Chart",
    "Document", "BroadcastStarted", "MenuChange", "DashboardData", "BroadcastProgress", "Reply",
]


@dataclass(frozen=True)
class Button:
    label: str
    action: Action  # what pressing it does


Keyboard = tuple[tuple[Button, ...], ...]


def kb(*rows: Sequence[Button]) -> Keyboard:
    """A keyboard from rows of buttons (empty rows dropped)."""
    return tuple(tuple(r) for r in rows if r)


NEXT = Button("Next ▶", Next())
STOP = Button("Stop", Stop())


@dataclass(frozen=True)
class Message:
    text: str
    buttons: Keyboard = ()
    title: str = ""  # shown emphasised above the text
    toast: bool = False  # answering a button: also flash the text on the button (a refusal, a verdict)
    replaces_previous: bool = False  # answering a button: show it in place of the message that had it


@dataclass(frozen=True)
class AskQuestion:
    question: Question
    header: str  # e.g. "Review · KPIs and performance metrics"
    buttons: Keyboard = ()  # a choice question's options (when it cannot be a quiz poll); "show me"
    as_poll: bool = False
    order: tuple[int, ...] = ()  # a choice's options as shown: order[position] = the bank's index

    @property
    def key(self) -> str:
        return question_key(self.question.id)

    @property
    def options(self) -> tuple[str, ...]:
        """A choice question's options in the order this learner sees them."""
        q = self.question
        return tuple(q.options[i] for i in self.order) if self.order else q.options

    @property
    def answer_position(self) -> int | None:
        """Where the keyed option is shown."""
        q = self.question
        if q.answer is None:
            return None
        return self.order.index(q.answer) if self.order else q.answer


@dataclass(frozen=True)
class Feedback:
    question: Question
    marking: Marking
    review_id: int
    buttons: Keyboard
    note: str = ""
    shown: bool = False  # the learner asked to see the answer ("I don't know"): nothing was marked


@dataclass(frozen=True)
class StatsData:
    answered_today: int
    answered_total: int
    accuracy: dict[str, tuple[int, int]]  # topic title -> (right, answered)
    streak: int
    best_streak: int
    due_next_7_days: list[tuple[date, int]]
    recall: dict[str, float]  # topic title -> mean retrievability
    top_misses: list[tuple[str, str, int]]  # (question prompt, point text, times missed)
    reviews_per_day: list[tuple[date, int]]  # last 30 days
    exam: ExamOutlook | None = None


@dataclass(frozen=True)
class ExamOutlook:
    """A learner's (or a cohort's) exam day and how ready they look for it."""

    day: date
    days_left: int  # 0 on the day; negative after it
    recall_on_day: float  # predicted recall on the day, averaged over the questions in their topics
    introduced_share: float  # share of those questions met so far
    due_today: int = 0  # reviews due today: what the day needs to stay on track


@dataclass(frozen=True)
class Chart:
    title: str
    stats: StatsData


@dataclass(frozen=True)
class Document:
    filename: str
    data: bytes
    caption: str = ""


@dataclass(frozen=True)
class BroadcastStarted:
    """A broadcast is queued: show a progress message for it (and tell the engine where: `ProgressShown`)."""

    broadcast_id: int
    recipients: int
    text: str


@dataclass(frozen=True)
class MenuChange:
    """Show (or stop showing) the tutor commands in this chat's command menu."""

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
    exam: ExamOutlook | None = None  # the cohort's exam, readiness averaged over its members
    readiness_by_topic: dict[str, float] | None = None  # topic title -> predicted recall on the exam day


@dataclass(frozen=True)
class BroadcastProgress:
    """A running broadcast's report, for the message the channel shows it in (see `ProgressShown`)."""

    broadcast_id: int
    chat_id: int
    message_id: int
    text: str
    finished: bool  # the final report: post it as a new message, so the tutor is notified


Reply = Message | AskQuestion | Feedback | Chart | Document | BroadcastStarted | DashboardData | MenuChange

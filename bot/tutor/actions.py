"""What a learner or a tutor can do: one frozen dataclass per action, and the one `Action` union.

The channel turns what happened in the chat into an `Action` (`bot.tutor.commands` parses
commands, `bot.tutor.buttons` decodes button data) and hands it to `Engine.handle` with the
`Who` behind it. `Event`s are what the channel observed outside a conversation (a chat
blocked the bot, a quiz poll went out): `Engine.notice` takes them.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "Who", "Action", "clean", "question_key",
    # learners
    "Start", "Next", "Extra", "Answer", "Choose", "Override", "Stop", "Topics", "ToggleTopic", "AllTopics",
    "Stats", "Pause", "Resume", "Privacy", "Export", "Forget", "ConfirmForget", "CancelForget", "Help",
    "Remind", "SetDaily", "SetTimezone", "Unknown", "NotText", "ShowAnswer", "SetExam",
    # cohorts and tutors
    "Join", "MyCohorts", "Leave", "AddTutor", "RemoveTutor", "NewCohort", "ListCohorts", "RotateCode",
    "CloseCohort", "BroadcastStart", "BroadcastPick", "BroadcastContent", "BroadcastConfirm", "BroadcastCancel",
    "Dashboard", "CohortExam", "CohortExamSet", "TutorAction", "LearnerAction",
    # channel events
    "Event", "ChatReachable", "PollSent", "ProgressShown", "Started",
]


@dataclass(frozen=True)
class Who:
    """The learner behind an action, as the channel knows them."""

    channel: str
    external_id: str
    display_name: str = ""
    chat_id: int | None = None


# ---------------------------------------------------------------------------- learners


@dataclass(frozen=True)
class Start:
    payload: str = ""  # a deep link's payload: a cohort's join code


@dataclass(frozen=True)
class Next:
    pass


@dataclass(frozen=True)
class Extra:
    """Practice off the schedule: graded, logged, but the card is not moved."""


@dataclass(frozen=True)
class Answer:
    text: str
    ref: tuple[int, int] | None = None  # the channel's message (chat, message id): a tutor's broadcast body


def question_key(question_id: str) -> str:
    """A short, stable key for a question id (`Choose.key`: fits a button's 64 bytes)."""
    return format(zlib.crc32(question_id.encode()), "08x")


@dataclass(frozen=True)
class Choose:
    key: str  # question_key(question id)
    option: int
    poll_id: str | None = None  # answered in a quiz poll (then `key` is not needed)


@dataclass(frozen=True)
class Override:
    review_id: int


@dataclass(frozen=True)
class ShowAnswer:
    """"I don't know — show me" on a free-text question: see the answer, rated Again."""

    key: str  # question_key(question id)


@dataclass(frozen=True)
class SetExam:
    arg: str = ""  # "2027-05-14", "14/05/2027", "off", "" (show)


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Topics:
    pass


@dataclass(frozen=True)
class ToggleTopic:
    slug: str


@dataclass(frozen=True)
class AllTopics:
    pass


@dataclass(frozen=True)
class Stats:
    pass


@dataclass(frozen=True)
class Pause:
    days: int | None = None


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Privacy:
    pass


@dataclass(frozen=True)
class Export:
    pass


@dataclass(frozen=True)
class Forget:
    pass


@dataclass(frozen=True)
class ConfirmForget:
    pass


@dataclass(frozen=True)
class CancelForget:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Remind:
    arg: str = ""  # "19:30", "19:30 Europe/Paris", "off", "none", "" (show)


@dataclass(frozen=True)
class SetDaily:
    count: int | None = None  # new questions a day; None: show the current limit


@dataclass(frozen=True)
class SetTimezone:
    name: str = ""


@dataclass(frozen=True)
class Unknown:
    text: str = ""


@dataclass(frozen=True)
class NotText:
    kind: str = "message"  # sticker, photo, voice, ...
    ref: tuple[int, int] | None = None  # the channel's message (chat, message id): a tutor's broadcast body


# ---------------------------------------------------------------------------- cohorts and tutors


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
    """The tutor's message to copy to the cohort (any kind: text, photo, document), by its channel ref."""

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
class CohortExam:
    """/cohortexam DATE or /cohortexam off: the tutor picks the cohort next (if they have several)."""

    arg: str = ""


@dataclass(frozen=True)
class CohortExamSet:
    cohort_id: int
    day: str  # ISO date, or "off"


LearnerAction = (Start | Next | Extra | Answer | Choose | Override | Stop | Topics | ToggleTopic | AllTopics | Stats
                 | Pause | Resume | Privacy | Export | Forget | ConfirmForget | CancelForget | Help | Remind
                 | SetDaily | SetTimezone | Unknown | NotText | ShowAnswer | SetExam)
TutorAction = (Join | MyCohorts | Leave | AddTutor | RemoveTutor | NewCohort | ListCohorts | RotateCode | CloseCohort
               | BroadcastStart | BroadcastPick | BroadcastContent | BroadcastConfirm | BroadcastCancel | Dashboard
               | CohortExam | CohortExamSet)
Action = LearnerAction | TutorAction


# ---------------------------------------------------------------------------- channel events


@dataclass(frozen=True)
class ChatReachable:
    """The channel learned whether it can reach a chat (blocked the bot: False; unblocked: True)."""

    channel: str
    chat_id: int
    reachable: bool


@dataclass(frozen=True)
class PollSent:
    """The channel sent the pending question `question_id` as a quiz poll: its answers come by `poll_id`."""

    who: Who
    question_id: str
    poll_id: str


@dataclass(frozen=True)
class ProgressShown:
    """The channel shows a broadcast's progress in this message (the engine reports into it)."""

    broadcast_id: int
    chat_id: int
    message_id: int


@dataclass(frozen=True)
class Started:
    """The channel started: the engine answers with the tutor menus to show (`MenuChange`)."""


Event = ChatReachable | PollSent | ProgressShown | Started


_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10))  # keep tab and newline
_CONTROL[0x7F] = None
T = TypeVar("T")


def clean(value: T) -> T:
    """`value` with control characters (NUL and friends) dropped from each of its text fields.

    They carry no meaning in an answer, a command or a name, and PostgreSQL refuses NUL in text.
    """
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    obj: Any = value
    changes = {f.name: getattr(obj, f.name).translate(_CONTROL) for f in dataclasses.fields(obj)
               if isinstance(getattr(obj, f.name), str)}
    return dataclasses.replace(obj, **changes) if changes else value

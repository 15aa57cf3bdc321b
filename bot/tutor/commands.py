"""Commands: `/quiz`, `/remind 19:30`, `/newcohort NAME`, ... parsed into actions; the command menus."""

from __future__ import annotations

from collections.abc import Callable

from bot.tutor.actions import (
    Action, AddTutor, BroadcastStart, CloseCohort, CohortExam, Dashboard, Export, Extra, Forget, Help, Join, Leave,
    ListCohorts, MyCohorts, NewCohort, Next, Pause, Privacy, Remind, RemoveTutor, Resume, RotateCode, SetDaily,
    SetExam, SetTimezone, Start, Stats, Stop, Topics, Unknown,
)

__all__ = ["parse_command", "COMMANDS", "TUTOR_COMMANDS"]

# (command, description) shown by /help and registered with Telegram's setMyCommands.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("quiz", "Next question"),
    ("topics", "Choose topics to revise"),
    ("stats", "Your progress and streak"),
    ("remind", "Daily reminder: /remind 19:30 or /remind off"),
    ("timezone", "Set your time zone: /timezone Europe/London"),
    ("daily", "New questions a day: /daily 10"),
    ("exam", "Your exam date: /exam 2027-05-14 or /exam off"),
    ("pause", "Pause reminders: /pause 3 (days)"),
    ("resume", "Resume reminders"),
    ("mycohorts", "Your cohorts"),
    ("join", "Join a cohort: /join CODE"),
    ("privacy", "What we store and why"),
    ("mydata", "Download all your data"),
    ("forget", "Erase all your data"),
    ("help", "How this works"),
)

# Shown in tutors' and admins' own menus, after COMMANDS.
TUTOR_COMMANDS: tuple[tuple[str, str], ...] = (
    ("newcohort", "Create a cohort: /newcohort Level 3 Spring"),
    ("cohorts", "Your cohorts, links, rotate or close"),
    ("broadcast", "Message a cohort"),
    ("dashboard", "Where a cohort struggles"),
    ("cohortexam", "A cohort's exam date: /cohortexam 2027-05-14"),
    ("addtutor", "Admins: make a user a tutor (/addtutor ID)"),
    ("removetutor", "Admins: remove a tutor (/removetutor ID)"),
)

_SIMPLE: dict[str, Callable[[], Action]] = {
    "quiz": Next, "next": Next, "topics": Topics, "stats": Stats, "resume": Resume,
    "privacy": Privacy, "mydata": Export, "forget": Forget, "help": Help, "stop": Stop,
    "extra": Extra, "practice": Extra, "mycohorts": MyCohorts, "cohorts": ListCohorts,
    "broadcast": BroadcastStart,
}
_WITH_TEXT: dict[str, Callable[[str], Action]] = {
    "start": Start, "remind": Remind, "timezone": SetTimezone, "join": Join, "addtutor": AddTutor,
    "removetutor": RemoveTutor, "newcohort": NewCohort, "exam": SetExam, "cohortexam": CohortExam,
}


def _number(text: str, upto: int) -> int | None:
    return int(text) if text.isascii() and text.isdecimal() and int(text) <= upto else None


def parse_command(text: str) -> Action | None:
    """`/quiz`, `/start PAYLOAD`, `/pause 3`, ... -> an Action; None if `text` is not a command.

    A command nobody knows, or one with an argument out of range, is `Unknown(text)`.
    """
    text = text.strip()
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    rest = rest.strip()
    if name in _SIMPLE:
        return _SIMPLE[name]()
    if name in _WITH_TEXT:
        return _WITH_TEXT[name](rest)
    if name == "daily":
        count = _number(rest, 100)
        return SetDaily(None) if not rest else SetDaily(count) if count is not None else Unknown(text)
    if name == "pause":
        days = _number(rest, 365)
        return Pause(None) if not rest else Pause(days) if days else Unknown(text)
    if name in ("leave", "dashboard"):
        cid = _number(rest, 10**18)
        return Leave(cid) if name == "leave" else Dashboard(cid)
    if name in ("rotate", "closecohort"):
        cid = _number(rest, 10**18)
        if cid is None:
            return Unknown(text)
        return RotateCode(cid) if name == "rotate" else CloseCohort(cid)
    return Unknown(text)

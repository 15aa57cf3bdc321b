"""The tutor conversation: learner actions in, channel-neutral replies out.

No Telegram, no SQL, no clock of its own: the channel parses what the learner did into
an `Action`, calls `Engine.handle`, and renders the `Reply` objects it gets back. The
store is injected (anything with the `Store` methods used here), and so is `clock`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import NotFound
from bot.tutor.bank import Question, QuestionBank
from bot.tutor.cohorts import (
    BroadcastCancel, BroadcastContent, BroadcastStarted, CohortDesk, DashboardData, Join, MenuChange,
    parse_tutor_button,
    parse_tutor_command,
)
from bot.tutor.grading import MAX_ANSWER_CHARS, Grader, Marking
from bot.tutor.insights import accuracy_by_topic, top_missed_points
from bot.tutor.models import Arrival, CardRow, Learner, NewReview, Pending, Reminder
from bot.tutor.remind import in_quiet_hours, interval_days, next_fire, parse_time, reminder_text, resolve_timezone
from bot.tutor.srs import Rating, Scheduler, day_bounds, learner_day, rating_for, streaks

log = logging.getLogger(__name__)

__all__ = [
    "Who", "Engine", "Button", "Message", "AskQuestion", "Feedback", "Chart", "Document", "Reply",
    "StatsData", "parse_command", "parse_button", "question_key",
    "Start", "Next", "Answer", "Choose", "Override", "Stop", "Topics", "ToggleTopic", "AllTopics", "Stats",
    "Pause", "Resume", "Privacy", "Export", "Forget", "ConfirmForget", "CancelForget", "Help", "Extra",
    "Unknown", "NotText", "Remind", "SetTimezone", "SetDaily", "Action", "COMMANDS",
]

# ---------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Start:
    payload: str = ""


@dataclass(frozen=True)
class Next:
    pass


@dataclass(frozen=True)
class Extra:
    """Practice off the schedule: graded, logged, but the card is not moved."""


@dataclass(frozen=True)
class Answer:
    text: str
    ref: tuple[int, int] | None = None  # (chat id, message id), for a tutor's broadcast draft


@dataclass(frozen=True)
class Choose:
    key: str  # question_key(question id)
    option: int
    poll_id: str | None = None


@dataclass(frozen=True)
class Override:
    review_id: int


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
    arg: str = ""  # "19:30", "19:30 Europe/Paris", "off", "" (show)


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
    ref: tuple[int, int] | None = None  # (chat id, message id), for a tutor's broadcast draft


Action = (Start | Next | Extra | Answer | Choose | Override | Stop | Topics | ToggleTopic | AllTopics | Stats
          | Pause | Resume | Privacy | Export | Forget | ConfirmForget | CancelForget | Help | Unknown | NotText
          | Remind | SetTimezone | SetDaily)

# (command, description) shown by /help and registered with Telegram's setMyCommands.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("quiz", "Next question"),
    ("topics", "Choose topics to revise"),
    ("stats", "Your progress and streak"),
    ("remind", "Daily reminder: /remind 19:30 or /remind off"),
    ("timezone", "Set your time zone: /timezone Europe/London"),
    ("daily", "New questions a day: /daily 10"),
    ("pause", "Pause reminders: /pause 3 (days)"),
    ("resume", "Resume reminders"),
    ("mycohorts", "Your cohorts"),
    ("join", "Join a cohort: /join CODE"),
    ("privacy", "What we store and why"),
    ("mydata", "Download all your data"),
    ("forget", "Erase all your data"),
    ("help", "How this works"),
)


_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10))  # keep tab and newline
_CONTROL[0x7F] = None


def _clean_action(action: Any) -> Any:
    """Drop control characters (NUL and friends) from every text field of an action.

    They carry no meaning in an answer or a command, and PostgreSQL refuses NUL in text.
    """
    if not dataclasses.is_dataclass(action):
        return action
    changes = {f.name: getattr(action, f.name).translate(_CONTROL) for f in dataclasses.fields(action)
               if isinstance(getattr(action, f.name), str)}
    return dataclasses.replace(action, **changes) if changes else action


def question_key(question_id: str) -> str:
    """A short, stable key for a question id (fits Telegram's 64-byte callback data)."""
    return format(zlib.crc32(question_id.encode()), "08x")


def parse_command(text: str) -> Action | None:
    """`/quiz`, `/start PAYLOAD`, `/pause 3`, ... -> an Action; None if `text` is not a command."""
    text = text.strip()
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    rest = rest.strip()
    simple: dict[str, Callable[[], Action]] = {
        "quiz": Next, "next": Next, "topics": Topics, "stats": Stats, "resume": Resume,
        "privacy": Privacy, "mydata": Export, "forget": Forget, "help": Help, "stop": Stop,
        "extra": Extra, "practice": Extra,
    }
    if name == "start":
        return Start(rest)
    if name == "remind":
        return Remind(rest)
    if name == "timezone":
        return SetTimezone(rest)
    if name == "daily":
        if not rest:
            return SetDaily(None)
        return SetDaily(int(rest)) if rest.isdecimal() and int(rest) <= 100 else Unknown(text)
    if name in simple:
        return simple[name]()
    tutor = parse_tutor_command(name, rest)
    if tutor is not None:
        return tutor  # type: ignore[no-any-return]
    if name == "pause":
        if not rest:
            return Pause(None)
        return Pause(int(rest)) if rest.isdecimal() and 0 < int(rest) <= 365 else Unknown(text)
    return Unknown(text)


def parse_button(data: str) -> Action | None:
    """Button action ids (`next:`, `override:42`, `choose:1a2b3c4d:2`, ...) -> an Action; None if junk."""
    kind, _, arg = data.partition(":")
    try:
        if kind == "next":
            return Next()
        if kind == "extra":
            return Extra()
        if kind == "stop":
            return Stop()
        if kind == "override":
            return Override(int(arg))
        if kind == "choose":
            key, _, opt = arg.partition(":")
            if len(key) == 8 and opt.isdecimal():
                return Choose(key, int(opt))
            return None
        if kind == "topic":
            return AllTopics() if arg == "*" else ToggleTopic(arg)
        if kind == "forget":
            return ConfirmForget() if arg == "yes" else CancelForget()
        if kind == "stats":
            return Stats()
        if kind == "remind":
            return Remind(arg)
    except ValueError:
        return None
    return parse_tutor_button(kind, arg)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # parse_button() understands it; at most 64 bytes


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Message:
    text: str
    buttons: Keyboard = ()
    title: str = ""  # shown emphasised above the text


@dataclass(frozen=True)
class AskQuestion:
    question: Question
    header: str  # e.g. "Review · KPIs and performance metrics"
    buttons: Keyboard = ()  # a choice question's options (when it cannot be a quiz poll)
    as_poll: bool = False

    @property
    def key(self) -> str:
        return question_key(self.question.id)


@dataclass(frozen=True)
class Feedback:
    question: Question
    marking: Marking
    review_id: int
    buttons: Keyboard
    note: str = ""


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


@dataclass(frozen=True)
class Chart:
    title: str
    stats: StatsData


@dataclass(frozen=True)
class Document:
    filename: str
    data: bytes
    caption: str = ""


Reply = Message | AskQuestion | Feedback | Chart | Document | BroadcastStarted | DashboardData | MenuChange


@dataclass(frozen=True)
class Who:
    """The learner behind an action, as the channel knows them."""

    channel: str
    external_id: str
    display_name: str = ""
    chat_id: int | None = None


PRIVACY = (
    "What we store: your Telegram id and name, your answers and marks, your revision "
    "schedule, settings (time zone, reminder time, topics) and any cohorts you join.\n"
    "Why: to mark your answers, schedule your revision and, if you join a cohort, to show "
    "your tutor how the cohort is doing. The lawful basis is legitimate interests in "
    "supporting your training.\n"
    "How long: until you erase it. Nothing is shared with anyone outside your cohort's tutors.\n"
    "Your rights: /mydata downloads everything we hold about you; /forget erases it all."
)


def _kb(*rows: Sequence[Button]) -> Keyboard:
    return tuple(tuple(r) for r in rows if r)


NEXT = Button("Next ▶", "next:")
STOP = Button("Stop", "stop:")


class Engine(CohortDesk):
    """Everything a learner (and a tutor) can do, with an injected store, grader and clock."""

    def __init__(self, bank: QuestionBank, store: Any, *, clock: Callable[[], datetime],
                 grader: Grader | None = None, default_timezone: str = "Europe/London",
                 new_per_day: int = 10, desired_retention: float = 0.9,
                 admins: Iterable[tuple[str, str]] = (), link_base: str | None = None) -> None:
        self.admins = frozenset(admins)
        self.link_base = link_base
        self.bank = bank
        self.store = store
        self.clock = clock
        self.grader = grader or Grader(bank.glossary)
        self.default_timezone = default_timezone
        self.new_per_day = new_per_day
        self.desired_retention = desired_retention
        self.scheduler = Scheduler(desired_retention)
        self._topic_order = [t.slug for t in bank.topics]
        self._titles = {t.slug: t.title for t in bank.topics}

    # -------------------------------------------------------------- entry points

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the engine's clock must return aware datetimes")
        return now.astimezone(timezone.utc)

    def learner(self, who: Who) -> Learner:
        return self.store.learner(who.channel, who.external_id, now=self.now(), timezone=self.default_timezone,
                                  new_per_day=self.new_per_day, display_name=who.display_name, chat_id=who.chat_id)

    def handle(self, who: Who, action: Action) -> list[Reply]:
        """Apply one learner action and return what to show them."""
        who = _clean_action(who)  # a display name is text from outside too
        arrival = self.store.arrive(
            who.channel, who.external_id, now=self.now(), timezone=self.default_timezone,
            new_per_day=self.new_per_day, display_name=who.display_name, chat_id=who.chat_id)
        learner = arrival.learner
        if arrival.backed_off is not None:
            self._restore_daily_reminder(learner, arrival.backed_off)
        action = _clean_action(action)
        if isinstance(action, Answer) and action.text.strip().startswith("/"):
            action = parse_command(action.text) or action
        # Typed messages (the hot path) use what arriving read: the pending question, its card, a draft.
        if isinstance(action, Answer):
            return self._answer(arrival, action)
        if isinstance(action, NotText):
            return self._not_text(arrival, action)
        method = getattr(self, f"_on_{type(action).__name__.lower()}", None)
        if method is None:
            return self._help()
        result: list[Reply] = method(learner, action)
        return result

    def _restore_daily_reminder(self, learner: Learner, was: Reminder) -> None:
        """Any activity ends the back-off: a reminder moved to every other day or weekly comes back daily."""
        now = self.now()
        if was.enabled and interval_days(was.ignored) > 1:
            at = parse_time(was.local_time)
            if at is not None:
                self.store.set_reminder(learner.id, was.local_time, was.timezone, next_fire(at, was.timezone, now))

    # -------------------------------------------------------------- actions

    def _on_start(self, learner: Learner, action: Start) -> list[Reply]:
        welcome = Message(
            "I'm your NVQ revision tutor for contact-centre work: KPIs, GDPR and compliance, "
            "coaching, complaints and procedures. I'll ask a question; type your answer in your "
            "own words and I'll mark it point by point, then bring it back when you're due to "
            "revise it.\nPrivacy: I keep your answers to schedule your revision. See /privacy.",
            title="Welcome!")
        replies: list[Reply] = [welcome]
        if action.payload:
            replies += self._on_join(learner, Join(action.payload))
        if self.store.get_reminder(learner.id) is None:
            replies.append(Message(
                "Shall I remind you to revise each day? Pick a time (you can change it with /remind).",
                _kb([Button(t, f"remind:{t}") for t in ("08:00", "12:30", "18:00", "20:00")],
                    [Button("Not now", "remind:none")])))
        return replies + self._next(learner, extra=False)

    def _on_next(self, learner: Learner, action: Next) -> list[Reply]:
        return self._next(learner, extra=False)

    def _on_extra(self, learner: Learner, action: Extra) -> list[Reply]:
        return self._next(learner, extra=True)

    def _draft_content(self, arrival: Arrival, ref: tuple[int, int] | None, summary: str) -> list[Reply] | None:
        """A tutor with a broadcast waiting for its message: this message is it."""
        if not arrival.drafting:
            return None
        if ref is None:  # the shell: there is no Telegram message to copy
            return [Message("Broadcasts copy a Telegram message: send yours to the bot in Telegram "
                            "(or /stop to cancel the broadcast).")]
        return self._on_broadcastcontent(arrival.learner, BroadcastContent(ref[0], ref[1], summary))

    def _answer(self, arrival: Arrival, action: Answer) -> list[Reply]:
        """A typed message: a broadcast's content, or the answer to the pending question."""
        draft = self._draft_content(arrival, action.ref, action.text[:200])
        if draft is not None:
            return draft
        learner, pending = arrival.learner, arrival.pending
        question = self.bank.get(pending.question_id) if pending else None
        if pending is None or question is None:
            return [Message("There's no question waiting for an answer. Tap Next for one.", _kb([NEXT]))]
        if question.is_choice:
            text = action.text.strip().rstrip(".)").upper()
            index = (ord(text) - ord("A")) if len(text) == 1 and "A" <= text <= "Z" else (
                int(text) - 1 if text.isdecimal() and len(text) < 4 else -1)
            if 0 <= index < len(question.options):
                return self._choose(learner, pending, question, index, arrival.card)
            return [Message(f"Pick one of the options (1 to {len(question.options)}), or tap Next to skip.",
                            _kb([NEXT]))]
        return self._grade(learner, pending, question, action.text, arrival.card)

    def _on_choose(self, learner: Learner, action: Choose) -> list[Reply]:
        pending = self.store.pending_by_poll(action.poll_id) if action.poll_id else self.store.get_pending(learner.id)
        if (pending is None or pending.learner_id != learner.id
                or (action.poll_id is None and question_key(pending.question_id) != action.key)):
            return [Message("That question has already been answered or has expired. Tap Next for a new one.",
                            _kb([NEXT]))]
        question = self.bank.get(pending.question_id)
        if question is None or not question.is_choice or not 0 <= action.option < len(question.options):
            return [Message("That's not one of the options. Tap Next for a new question.", _kb([NEXT]))]
        return self._choose(learner, pending, question, action.option, self.store.card(learner.id, question.id))

    def _on_override(self, learner: Learner, action: Override) -> list[Reply]:
        refuse = [Message("That marking can't be changed now (it may be an older answer).", _kb([NEXT]))]
        try:
            review = self.store.get_review(action.review_id)
        except NotFound:
            return refuse
        if (review.learner_id != learner.id or review.kind != "free_text" or review.extra or review.overridden
                or review.score >= 1 or review.card_before is None
                or self.store.latest_review_id(learner.id, review.question_id) != review.id):
            return refuse
        card, due, _log = self.scheduler.review(review.card_before, Rating.Good, review.reviewed_at)
        self.store.record_override(review.id, learner.id, review.question_id, card, due, self.now())
        return [Message("Noted: I've counted that answer as right and scheduled it as a good answer. "
                        "Your tutor will see it, so the marking can be improved.", _kb([NEXT, STOP]))]

    def _on_stop(self, learner: Learner, action: Stop) -> list[Reply]:
        self.store.clear_pending(learner.id)
        draft = self.store.open_draft(learner.id)
        if draft is not None:
            return self._on_broadcastcancel(learner, BroadcastCancel(draft.id))
        return [Message("Stopped. Your progress is saved; /quiz carries on whenever you like.")]

    def _on_topics(self, learner: Learner, action: Topics) -> list[Reply]:
        chosen = self.store.settings(learner.id).topics
        rows = [[Button(("✅ " if chosen is None or t.slug in chosen else "▫️ ") + t.title, f"topic:{t.slug}")]
                for t in self.bank.topics]
        rows.append([Button("All topics", "topic:*"), NEXT])
        which = "all topics" if chosen is None else ", ".join(self._titles.get(t, t) for t in chosen)
        return [Message(f"Revising: {which}.\nTap a topic to switch it on or off.", _kb(*rows), title="Topics")]

    def _on_toggletopic(self, learner: Learner, action: ToggleTopic) -> list[Reply]:
        if action.slug not in self._titles:
            return [Message("That topic no longer exists.")] + self._on_topics(learner, Topics())
        current = self.store.settings(learner.id).topics
        chosen = list(current) if current is not None else list(self._topic_order)
        if action.slug in chosen:
            chosen.remove(action.slug)
        else:
            chosen.append(action.slug)
        ordered = [t for t in self._topic_order if t in chosen]
        value = None if not ordered or len(ordered) == len(self._topic_order) else ordered
        self.store.update_settings(learner.id, topics=value)
        return self._on_topics(learner, Topics())

    def _on_alltopics(self, learner: Learner, action: AllTopics) -> list[Reply]:
        self.store.update_settings(learner.id, topics=None)
        return self._on_topics(learner, Topics())

    def _on_stats(self, learner: Learner, action: Stats) -> list[Reply]:
        data = self.stats(learner)
        lines = [
            f"Answered today: {data.answered_today} · in total: {data.answered_total}",
            f"Streak: {data.streak} day{'s' if data.streak != 1 else ''} (best {data.best_streak})",
            f"Due in the next 7 days: {sum(n for _, n in data.due_next_7_days)}",
        ]
        if data.accuracy:
            lines.append("\nAccuracy and estimated recall by topic:")
            for title, (right, total) in data.accuracy.items():
                recall = data.recall.get(title)
                rtxt = f", recall {recall:.0%}" if recall is not None else ""
                lines.append(f"• {title}: {right}/{total} right ({right / total:.0%}){rtxt}")
        if data.top_misses:
            lines.append("\nPoints you miss most:")
            for prompt, point, n in data.top_misses:
                lines.append(f"• {point} ({n}×) — from: {prompt[:80]}{'…' if len(prompt) > 80 else ''}")
        replies: list[Reply] = [Message("\n".join(lines), _kb([NEXT]), title="Your progress")]
        if data.answered_total:
            replies.append(Chart("Your revision", data))
        return replies

    def _on_pause(self, learner: Learner, action: Pause) -> list[Reply]:
        now = self.now()
        until = now + timedelta(days=action.days) if action.days else datetime(9999, 1, 1, tzinfo=timezone.utc)
        self.store.update_settings(learner.id, paused_until=until)
        when = (f"for {action.days} day{'s' if action.days != 1 else ''}" if action.days else "until you send /resume")
        return [Message(f"Reminders paused {when}. You can still revise any time with /quiz.")]

    def _on_resume(self, learner: Learner, action: Resume) -> list[Reply]:
        self.store.update_settings(learner.id, paused_until=None)
        self.store.touch(learner.id, self.now())
        return [Message("Welcome back! Reminders are on again.", _kb([NEXT]))]

    def _on_privacy(self, learner: Learner, action: Privacy) -> list[Reply]:
        return [Message(PRIVACY, title="Privacy")]

    def _on_export(self, learner: Learner, action: Export) -> list[Reply]:
        data = self.store.export(learner.id)
        body = json.dumps({"exported_at": self.now().isoformat(), **data}, indent=2, ensure_ascii=False)
        return [Document("my-revision-data.json", body.encode("utf-8"),
                         "Everything the tutor holds about you, as JSON.")]

    def _on_forget(self, learner: Learner, action: Forget) -> list[Reply]:
        return [Message("This erases your answers, schedule, settings, reminders and cohort memberships. "
                        "It can't be undone. Are you sure?",
                        _kb([Button("Yes, erase everything", "forget:yes"), Button("Cancel", "forget:no")]),
                        title="Erase your data?")]

    def _on_confirmforget(self, learner: Learner, action: ConfirmForget) -> list[Reply]:
        self.store.forget(learner.id)
        return [Message("Done: everything about you has been erased. Send /start if you ever want to begin again.")]

    def _on_cancelforget(self, learner: Learner, action: CancelForget) -> list[Reply]:
        return [Message("Nothing was erased.", _kb([NEXT]))]

    def _on_help(self, learner: Learner, action: Help) -> list[Reply]:
        return self._help()

    def _on_unknown(self, learner: Learner, action: Unknown) -> list[Reply]:
        if action.text.startswith("/"):
            return [Message(f"I don't know {action.text.split()[0][:40]}.")] + self._help()
        return self._help()

    def _not_text(self, arrival: Arrival, action: NotText) -> list[Reply]:
        """A sticker, photo or voice note: a broadcast's content, or a hint that answers are typed."""
        draft = self._draft_content(arrival, action.ref, f"({action.kind})")
        if draft is not None:
            return draft
        waiting = " Your question is still waiting." if arrival.pending else ""
        return [Message(f"I can only mark typed answers, so I can't use a {action.kind}.{waiting} "
                        "Type your answer as a message, or tap Next.", _kb([NEXT]))]

    def _on_remind(self, learner: Learner, action: Remind) -> list[Reply]:
        arg = action.arg.strip()
        settings = self.store.settings(learner.id)
        if arg.lower() == "none":
            return [Message("No reminders, then. Send /remind 19:30 any time to get one.")]
        if arg.lower() in ("off", "stop", "no"):
            self.store.disable_reminder(learner.id)
            return [Message("Daily reminders are off. /remind 19:30 turns them back on.")]
        if not arg:
            rem = self.store.get_reminder(learner.id)
            if rem is None or not rem.enabled:
                return [Message("You have no daily reminder. Set one with /remind 19:30 "
                                "(or /remind 19:30 Europe/Paris for another time zone).")]
            return [Message(f"Your daily reminder is at {rem.local_time} ({rem.timezone}). "
                            "/remind off stops it; /remind 19:30 changes it.")]
        parts = arg.split()
        at = parse_time(parts[0])
        if at is None or len(parts) > 2:
            return [Message("Send a time like /remind 19:30, optionally with a time zone: /remind 19:30 Europe/Paris.")]
        tz = settings.timezone
        if len(parts) == 2:
            zone, suggestions = resolve_timezone(parts[1])
            if zone is None:
                return [self._unknown_zone(parts[1], suggestions)]
            tz = zone
            self.store.update_settings(learner.id, timezone=tz)
        if in_quiet_hours(at):
            return [Message("I don't send reminders between midnight and 6 a.m. Pick a time from 06:00 to 23:59.")]
        when = f"{at:%H:%M}"
        nxt = next_fire(at, tz, self.now())
        self.store.set_reminder(learner.id, when, tz, nxt)
        local = nxt.astimezone(ZoneInfo(tz))
        return [Message(f"Done: I'll remind you at {when} every day ({tz}), when there's something to revise. "
                        f"First one: {local:%A %H:%M}. /remind off stops them.")]

    def _on_settimezone(self, learner: Learner, action: SetTimezone) -> list[Reply]:
        if not action.name.strip():
            tz = self.store.settings(learner.id).timezone
            return [Message(f"Your time zone is {tz}. Change it with /timezone Area/City, e.g. /timezone Europe/Paris.")]
        zone, suggestions = resolve_timezone(action.name)
        if zone is None:
            return [self._unknown_zone(action.name, suggestions)]
        self.store.update_settings(learner.id, timezone=zone)
        rem = self.store.get_reminder(learner.id)
        if rem is not None and rem.enabled:
            at = parse_time(rem.local_time)
            assert at is not None
            self.store.set_reminder(learner.id, rem.local_time, zone, next_fire(at, zone, self.now()))
        return [Message(f"Time zone set to {zone}." + (" Your reminder moves with it." if rem and rem.enabled else ""))]

    def _on_setdaily(self, learner: Learner, action: SetDaily) -> list[Reply]:
        if action.count is None:
            n = self.store.settings(learner.id).new_per_day
            return [Message(f"You get up to {n} new questions a day (reviews come on top). "
                            "Change it with /daily 15 (0 to 100; 0 means reviews only).")]
        self.store.update_settings(learner.id, new_per_day=action.count)
        return [Message(f"Done: up to {action.count} new questions a day.", _kb([NEXT]))]

    @staticmethod
    def _unknown_zone(name: str, suggestions: list[str]) -> Message:
        hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
        return Message(f"I don't know the time zone {name[:40]!r}.{hint} Use an IANA name like Europe/London.")

    def reminder(self, learner_id: int) -> Message | None:
        """The reminder to send now, or None when there is nothing to revise (or they paused)."""
        now = self.now()
        settings = self.store.settings(learner_id)
        if settings.paused_until is not None and settings.paused_until > now:
            return None
        allowed = self._allowed_ids(settings.topics)
        due = self.store.due_counts(learner_id, now, allowed)
        learner = self.store.get_learner(learner_id)
        new = 0
        if self._new_left(learner, settings, now) > 0:
            seen = self.store.seen_questions(learner_id)
            fresh = sum(1 for q in self.bank if q.id not in seen and (allowed is None or q.id in allowed))
            new = min(fresh, self._new_left(learner, settings, now))
        if due == 0 and new == 0:
            return None
        rem = self.store.get_reminder(learner_id)
        return Message(reminder_text(due, new, rem.ignored if rem else 0), _kb([Button("Start revising ▶", "next:")]))

    def _help(self) -> list[Reply]:
        lines = ["Tap Next (or send /quiz) for a question, then type your answer. "
                 "For choice questions, tap an option.", ""]
        lines += [f"/{name} — {desc}" for name, desc in COMMANDS]
        return [Message("\n".join(lines), _kb([NEXT]), title="How this works")]

    # -------------------------------------------------------------- the session

    def _allowed_ids(self, topics: tuple[str, ...] | None) -> list[str] | None:
        if topics is None:
            return None
        return [q.id for q in self.bank if q.topic in topics]

    def _next(self, learner: Learner, *, extra: bool) -> list[Reply]:
        now = self.now()
        settings = self.store.settings(learner.id)
        pending = self.store.get_pending(learner.id)
        skip = pending.question_id if pending else None
        allowed = self._allowed_ids(settings.topics)
        question, mode = (self._extra_question(learner, allowed, skip) if extra
                          else self._pick(learner, settings, allowed, now, skip))
        if question is None:
            return [self._nothing_due(learner, settings, allowed, now)]
        self.store.set_pending(Pending(learner.id, question.id, mode, now))
        header = {"due": "Review", "new": "New question", "extra": "Extra practice"}[mode]
        header = f"{header} · {self._titles.get(question.topic, question.topic)}"
        buttons: Keyboard = ()
        if question.is_choice:
            buttons = tuple((Button(f"{i + 1}. {opt}", f"choose:{question_key(question.id)}:{i}"),)
                            for i, opt in enumerate(question.options))
        return [AskQuestion(question, header, buttons, as_poll=question.fits_quiz_poll)]

    def _pick(self, learner: Learner, settings: Any, allowed: list[str] | None, now: datetime,
              skip: str | None) -> tuple[Question | None, str]:
        # 1. Due reviews, most overdue first (cards of questions no longer in the bank are skipped).
        exclude = skip
        for _ in range(5):
            card = self.store.next_due(learner.id, now, allowed, exclude=exclude)
            if card is None:
                break
            q = self.bank.get(card.question_id)
            if q is not None:
                return q, "due"
            exclude = card.question_id
        # 2. New questions, up to the daily limit, mixing topics.
        if self._new_left(learner, settings, now) > 0:
            q = self._new_question(learner, allowed, skip)
            if q is not None:
                return q, "new"
        return None, ""

    def _new_left(self, learner: Learner, settings: Any, now: datetime) -> int:
        start, end = day_bounds(learner_day(now, settings.timezone), settings.timezone)
        return max(0, settings.new_per_day - self.store.introduced_count(learner.id, start, end))

    def _new_question(self, learner: Learner, allowed: list[str] | None, skip: str | None) -> Question | None:
        seen = self.store.seen_questions(learner.id)
        per_topic = Counter(seen.values())
        allowed_set = set(allowed) if allowed is not None else None
        fresh: dict[str, list[Question]] = defaultdict(list)
        for q in self.bank:
            if q.id not in seen and q.id != skip and (allowed_set is None or q.id in allowed_set):
                fresh[q.topic].append(q)
        if not fresh:
            return None
        # The topic this learner has seen least, so a session mixes topics; ties in bank order.
        topic = min(fresh, key=lambda t: (per_topic[t], self._topic_order.index(t)))
        return fresh[topic][0]

    def _extra_question(self, learner: Learner, allowed: list[str] | None,
                        skip: str | None) -> tuple[Question | None, str]:
        cards = [c for c in self.store.cards(learner.id)
                 if c.question_id != skip and (allowed is None or c.question_id in allowed)
                 and self.bank.get(c.question_id) is not None]
        if not cards:
            return None, ""
        # The card you are most likely to have forgotten.
        now = self.now()
        weakest = min(cards, key=lambda c: (self.scheduler.retrievability(c.card, now), c.question_id))
        return self.bank.get(weakest.question_id), "extra"

    def _nothing_due(self, learner: Learner, settings: Any, allowed: list[str] | None, now: datetime) -> Message:
        nxt = self.store.next_due_time(learner.id, allowed)
        tz = ZoneInfo(settings.timezone)
        if nxt is None:
            when = "There's nothing to review yet."
        else:
            local = nxt.astimezone(tz)
            day = "today" if local.date() == now.astimezone(tz).date() else local.strftime("%A %d %B")
            when = f"Your next review is due {day} at {local:%H:%M}."
        new_note = "" if self._new_question(learner, allowed, None) is None else " You've had today's new questions."
        return Message(f"All done for now!{new_note} {when}\nWant some extra practice? It won't change your schedule.",
                       _kb([Button("Extra practice", "extra:"), Button("Stats", "stats:")]))

    # -------------------------------------------------------------- marking

    def _grade(self, learner: Learner, pending: Pending, question: Question, text: str,
               card: CardRow | None) -> list[Reply]:
        now = self.now()
        truncated = len(text) > MAX_ANSWER_CHARS
        marking = self.grader.grade(question, text)
        rating = rating_for(marking)
        review_id = self._record(learner, pending, question, card, text[:MAX_ANSWER_CHARS], now, rating,
                                 marking.score, marking.hits, tuple(p.id for p in marking.misses))
        buttons = [NEXT]
        if not marking.passed and pending.mode != "extra":
            buttons.append(Button("I was right", f"override:{review_id}"))
        buttons.append(STOP)
        note = (f"Your answer was {len(text):,} characters; I marked the first {MAX_ANSWER_CHARS:,}."
                if truncated else "")
        return [Feedback(question, marking, review_id, _kb(buttons), note)]

    def _choose(self, learner: Learner, pending: Pending, question: Question, option: int,
                card: CardRow | None) -> list[Reply]:
        now = self.now()
        correct = option == question.answer
        assert question.answer is not None
        self._record(learner, pending, question, card, question.options[option], now, rating_for(correct=correct),
                     1.0 if correct else 0.0, ("correct",) if correct else (), () if correct else ("correct",))
        verdict = "✅ Correct!" if correct else f"❌ Not quite. The answer is: {question.options[question.answer]}"
        text = verdict + (f"\n{question.explanation}" if question.explanation else "")
        return [Message(text, _kb([NEXT, STOP]))]

    def _record(self, learner: Learner, pending: Pending, question: Question, card: CardRow | None, answer: str,
                now: datetime, rating: Rating, score: float, hits: tuple[str, ...], misses: tuple[str, ...]) -> int:
        """Append the review; unless it was extra practice, move `card` (None: a new one) on the schedule."""
        extra = pending.mode == "extra"
        card_before = card_after = due_after = logd = None
        if not extra:
            card_before = card.card if card else self.scheduler.new_card(question.id, now)
            card_after, due_after, logd = self.scheduler.review(card_before, rating, now)
        return int(self.store.record_review(NewReview(
            learner_id=learner.id, question_id=question.id, topic=question.topic,
            kind="choice" if question.is_choice else "free_text", reviewed_at=now,
            rating=None if extra else int(rating), score=score, hits=hits, misses=misses, answer=answer,
            extra=extra, card_before=card_before, card_after=card_after, due_after=due_after, log=logd)))

    # -------------------------------------------------------------- stats

    def stats(self, learner: Learner) -> StatsData:
        now = self.now()
        tz = self.store.settings(learner.id).timezone
        reviews = self.store.reviews(learner.id)
        cards = self.store.cards(learner.id)
        today = learner_day(now, tz)
        by_day = Counter(learner_day(r.reviewed_at, tz) for r in reviews)
        recall_parts: dict[str, list[float]] = defaultdict(list)
        for c in cards:
            recall_parts[self._titles.get(c.topic, c.topic)].append(self.scheduler.retrievability(c.card, now))
        st = streaks(((r.question_id, r.reviewed_at, r.due_after) for r in reviews if not r.extra), today, tz)
        due7 = []
        for k in range(7):
            start, end = day_bounds(today + timedelta(days=k), tz)
            due7.append((today + timedelta(days=k),
                         sum(1 for c in cards if (c.due < end if k == 0 else start <= c.due < end))))
        return StatsData(
            answered_today=by_day.get(today, 0),
            answered_total=len(reviews),
            accuracy=accuracy_by_topic(self.bank, reviews),
            streak=st.current,
            best_streak=st.best,
            due_next_7_days=due7,
            recall={t: sum(v) / len(v) for t, v in recall_parts.items()},
            top_misses=top_missed_points(self.bank, reviews),
            reviews_per_day=[(today - timedelta(days=k), by_day.get(today - timedelta(days=k), 0))
                             for k in range(29, -1, -1)],
        )

    # -------------------------------------------------------------- channel helpers

    def attach_poll(self, who: Who, question_id: str, poll_id: str) -> None:
        """The channel sent `question_id` as a quiz poll: remember which poll answers it."""
        learner = self.learner(who)
        self.store.attach_poll(learner.id, question_id, poll_id)

"""The tutor conversation: an `Action` in, channel-neutral `Reply`s out.

No Telegram, no SQL, no clock of its own: the channel parses what the learner did into an
`Action` (`bot.tutor.actions`), calls `Engine.handle`, and renders the replies
(`bot.tutor.replies`). `handle` dispatches each action explicitly: the learner's here, the
tutor's to a composed `TutorDesk`. `notice` takes what the channel observed (`Event`s);
the jobs ask `reminder` and `broadcasts_in_progress`. The store is injected as a port
(`bot.tutor.ports.TutorStore`), and so is `clock`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import assert_never
from zoneinfo import ZoneInfo

from bot.tutor.actions import (
    Action, AddTutor, AllTopics, Answer, BroadcastCancel, BroadcastConfirm, BroadcastContent, BroadcastPick,
    BroadcastResend, BroadcastStart, CancelForget, ChatReachable, Choose, ClaimAccept, ClaimReject, Claims, ClaimSkipReason, CloseCohort,
    ConfirmForget, ContentInfo, ContentRollback, Dashboard, Event, Export, Learned, UploadContent, WithdrawLearned,
    Extra, Forget, Help, Join, Leave, ListCohorts, MyCohorts, NewCohort, Next, NotText, Override, Pause, PollSent,
    Privacy, ProgressShown, Remind, RemoveTutor, Resume, RotateCode, SetDaily, SetTimezone, Start, Started, Stats,
    Stop, ToggleTopic, Topics, Unknown, Who, clean, question_key, ShowAnswer, SetExam, CohortExam, CohortExamSet,
)
from bot.tutor.bank import Question, QuestionBank
from bot.tutor.commands import COMMANDS, parse_command
from bot.tutor.desk import DeskContext, TutorDesk
from bot.tutor import preferences
from bot.tutor.exam_desk import ExamContext, ExamDesk, exam_line
from bot.tutor.grading import MAX_ANSWER_CHARS, Grader
from bot.tutor.insights import accuracy_by_topic, top_missed_points
from bot.tutor.live import LiveContent
from bot.tutor.marking import MarkingDesk
from bot.tutor.models import Arrival, CardRow, Learner, LearnerSettings, Pending, Reminder, Review
from bot.tutor.ports import Clock, TutorStore
from bot.tutor.privacy import ALREADY_ANSWERED, PRIVACY, PRIVATE_ONLY, ask_in_private, privacy_text  # noqa: F401
from bot.tutor.remind import (
    in_quiet_hours, interval_days, next_fire, parse_time, reminder_drop_reason, reminder_text, resolve_timezone,
)
from bot.tutor.replies import (
    NEXT, STOP, AskQuestion, BroadcastProgress, Button, Chart, Document, ExamOutlook, Feedback, Keyboard, Message,
    Reply, StatsData, kb,
)
from bot.tutor.session import next_new_question, option_order
from bot.tutor.srs import Rating, Scheduler, day_bounds, learner_day, rating_for, streaks

log = logging.getLogger(__name__)

__all__ = ["Engine", "PRIVACY"]

class Engine:
    """Everything a learner (and a tutor) can do, with an injected store, grader and clock."""

    def __init__(self, bank: QuestionBank, store: TutorStore, *, clock: Clock,
                 grader: Grader | None = None, default_timezone: str = "Europe/London",
                 new_per_day: int = 10, desired_retention: float = 0.9,
                 admins: Iterable[tuple[str, str]] = (), link_base: str | None = None,
                 live: LiveContent | None = None, tutors_may_edit: bool = False,
                 retention_days: int = 730, claims_digest_at: time | None = None) -> None:
        self.retention_days = retention_days
        self.claims_digest_at = claims_digest_at
        self.link_base = link_base
        self.store = store
        self.clock = clock
        self.grader = grader or Grader(bank.glossary)
        self.default_timezone = default_timezone
        self.new_per_day = new_per_day
        self.scheduler = Scheduler(desired_retention)
        self.desk = TutorDesk(DeskContext(
            store=store, now=self.now, bank=bank, scheduler=self.scheduler, admins=frozenset(admins),
            link_base=link_base, get_learner=lambda channel, external_id: self.learner(Who(channel, external_id)),
            timezone=default_timezone, live_bank=lambda: self.bank))
        self.live = live or LiveContent(bank, store, self.now)  # the bank as uploaded in the chat, learned accepts
        self.exams = ExamDesk(ExamContext(store=store, now=self.now, bank=lambda: self.bank, scheduler=self.scheduler))
        self.marking = MarkingDesk(self.desk, self.live, self.grader, self.scheduler, self.now,
                                   tutors_may_edit=tutors_may_edit,
                                   plan_for=lambda learner_id: self.exams.plan(self.store.get_learner(learner_id)))

    @property
    def bank(self) -> QuestionBank:
        return self.live.bank()

    # -------------------------------------------------------------- entry points

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the engine's clock must return aware datetimes")
        return now.astimezone(timezone.utc)

    def learner(self, who: Who) -> Learner:
        """The learner behind `who`, created if new (this is not activity: nothing else changes)."""
        who = clean(who)
        return self.store.learner(who.channel, who.external_id, now=self.now(), timezone=self.default_timezone,
                                  new_per_day=self.new_per_day, display_name=who.display_name, chat_id=who.chat_id)

    def handle(self, who: Who, action: Action) -> list[Reply]:
        """Apply one learner (or tutor) action and return what to show them."""
        who = clean(who)  # a display name is text from outside too
        # A vote on a quiz poll (in a group anyone may vote): strangers get no rows and no reply.
        arrive = self.store.arrive_known if isinstance(action, Choose) and action.poll_id else self.store.arrive
        arrival = arrive(who.channel, who.external_id, now=self.now(), timezone=self.default_timezone,
                         new_per_day=self.new_per_day, display_name=who.display_name, chat_id=who.chat_id)
        if arrival is None:
            return []
        learner = arrival.learner
        if arrival.backed_off is not None:
            self._restore_daily_reminder(learner, arrival.backed_off)
        action = clean(action)
        if isinstance(action, Answer) and action.text.strip().startswith("/"):
            action = parse_command(action.text) or action
        if not who.private and isinstance(action, PRIVATE_ONLY):
            return [ask_in_private(self.link_base)]
        match action:
            # Typed messages (the hot path) use what arriving read: the pending question, its card, a draft.
            case Answer():
                return self._answer(arrival, action)
            case NotText():
                return self._not_text(arrival, action)
            case Start():
                return self._on_start(learner, action)
            case Next():
                return self._next(learner, extra=False)
            case Extra():
                return self._next(learner, extra=True)
            case Choose():
                return self._on_choose(learner, action)
            case Override():
                return self.marking.override(learner, action)  # "I was right"
            case ShowAnswer():
                return self._on_show_answer(learner, action)
            case SetExam():
                return self.exams.set_exam(learner, action)
            case Stop():
                return self._on_stop(learner)
            case Topics():
                return [self._topics(learner)]
            case ToggleTopic():
                return self._on_toggletopic(learner, action)
            case AllTopics():
                self.store.update_settings(learner.id, topics=None)
                return [self._topics(learner, replaces_previous=True)]
            case Stats():
                return self._on_stats(learner)
            case Pause():
                return self._on_pause(learner, action)
            case Resume():
                return self._on_resume(learner)
            case Privacy():
                return [Message(privacy_text(self.retention_days), title="Privacy")]
            case Export():
                return self._on_export(learner)
            case Forget():
                return self._on_forget()
            case ConfirmForget():
                self.store.forget(learner.id, self.now())
                return [Message("Done: everything about you has been erased. "
                                "Send /start if you ever want to begin again.")]
            case CancelForget():
                return [Message("Nothing was erased.", kb([NEXT]))]
            case Help():
                return self._help()
            case Remind():
                return preferences.remind(self.store, self.now(), learner, action)
            case SetDaily():
                return preferences.set_daily(self.store, learner, action)
            case SetTimezone():
                return preferences.set_timezone(self.store, self.now(), learner, action)
            case Unknown():
                return self._on_unknown(action)
            case (Join() | MyCohorts() | Leave() | AddTutor() | RemoveTutor() | NewCohort() | ListCohorts()
                  | RotateCode() | CloseCohort() | BroadcastStart() | BroadcastPick() | BroadcastContent()
                  | BroadcastConfirm() | BroadcastCancel() | BroadcastResend() | Dashboard() | CohortExam() | CohortExamSet()):
                return self.desk.handle(learner, action)
            case UploadContent() if arrival.drafting:  # a document as a broadcast's content
                return self._not_text(arrival, NotText("document", action.ref))
            case (Claims() | ClaimAccept() | ClaimReject() | ClaimSkipReason() | Learned() | WithdrawLearned()
                  | ContentInfo() | ContentRollback() | UploadContent()):
                return self.marking.handle(learner, action, private=who.chat_id is not None)
            case _:
                assert_never(action)

    def notice(self, event: Event) -> list[Reply]:
        """Take what the channel observed outside a conversation; returns what to show (if anything)."""
        match event:
            case ChatReachable(channel, chat_id, reachable):
                self.store.set_active_by_chat(channel, chat_id, reachable)
                return []
            case PollSent(who, question_id, poll_id):
                self.store.attach_poll(self.learner(who).id, question_id, poll_id)
                return []
            case ProgressShown(broadcast_id, chat_id, message_id):
                self.store.set_progress_message(broadcast_id, chat_id, message_id)
                return []
            case Started():
                return self.desk.menus()
            case _:
                assert_never(event)

    def claims_digest(self) -> list[Reply]:
        """For the minute job: the daily note to tutors whose claims wait (`CLAIMS_DIGEST_AT`; off if unset)."""
        return self.marking.digest(self.claims_digest_at, self.default_timezone)

    def broadcasts_in_progress(self) -> list[BroadcastProgress]:
        """For the progress job: each running broadcast's report, and the final one when it ends."""
        return self.desk.broadcasts_in_progress()

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
            replies += self.desk.join(learner, Join(action.payload))
        if self.store.get_reminder(learner.id) is None:
            replies.append(Message(
                "Shall I remind you to revise each day? Pick a time (you can change it with /remind).",
                kb([Button(t, Remind(t)) for t in ("08:00", "12:30", "18:00", "20:00")],
                   [Button("Not now", Remind("none"))])))
        return replies + self._next(learner, extra=False)

    def _draft_content(self, arrival: Arrival, ref: tuple[int, int] | None, summary: str) -> list[Reply] | None:
        """A tutor with a broadcast waiting for its message: this message is it."""
        if not arrival.drafting:
            return None
        if ref is None:  # the shell: there is no Telegram message to copy
            return [Message("Broadcasts copy a Telegram message: send yours to the bot in Telegram "
                            "(or /stop to cancel the broadcast).")]
        return self.desk.broadcast_content(arrival.learner, BroadcastContent(ref[0], ref[1], summary))

    def _answer(self, arrival: Arrival, action: Answer) -> list[Reply]:
        """A typed message: a broadcast's content, or the answer to the pending question."""
        draft = self._draft_content(arrival, action.ref, action.text[:200])
        if draft is not None:
            return draft
        learner, pending = arrival.learner, arrival.pending
        question = self.bank.get(pending.question_id) if pending else None
        reason = self.marking.reason(learner, action.text) if pending is None else None  # after a Reject
        if reason is not None:
            return reason
        if pending is None or question is None:
            return [Message("There's no question waiting for an answer. Tap Next for one.", kb([NEXT]))]
        if question.is_choice:
            text = action.text.strip().rstrip(".)").upper()
            index = (ord(text) - ord("A")) if len(text) == 1 and "A" <= text <= "Z" else (
                int(text) - 1 if text.isdecimal() and len(text) < 4 else -1)
            if 0 <= index < len(question.options):
                return self._choose(learner, pending, question, self._order(learner, question)[index], arrival.card)
            return [Message(f"Pick one of the options (1 to {len(question.options)}), or tap Next to skip.",
                            kb([NEXT]))]
        return self._grade(learner, pending, question, action.text, arrival.card)

    def _on_choose(self, learner: Learner, action: Choose) -> list[Reply]:
        pending = self.store.pending_by_poll(action.poll_id) if action.poll_id else self.store.get_pending(learner.id)
        if (pending is None or pending.learner_id != learner.id
                or (action.poll_id is None and question_key(pending.question_id) != action.key)):
            return [Message("That question has already been answered or has expired. Tap Next for a new one.",
                            kb([NEXT]), toast=True)]
        question = self.bank.get(pending.question_id)
        if question is None or not question.is_choice or not 0 <= action.option < len(question.options):
            return [Message("That's not one of the options. Tap Next for a new question.", kb([NEXT]), toast=True)]
        index = self._order(learner, question)[action.option]  # the learner picked a position in their order
        return self._choose(learner, pending, question, index, self.store.card(learner.id, question.id))

    def _order(self, learner: Learner, question: Question) -> tuple[int, ...]:
        """The order this learner sees a choice's options in (stable for them, shuffled between learners)."""
        return option_order(str(learner.id), question.id, len(question.options))

    def _on_show_answer(self, learner: Learner, action: ShowAnswer) -> list[Reply]:
        """"I don't know — show me": the model answer and its points, rated Again, nothing typed."""
        pending = self.store.get_pending(learner.id)
        question = self.bank.get(pending.question_id) if pending else None
        if pending is None or question is None or question.is_choice or question_key(question.id) != action.key:
            return [Message("That question has already been answered or has expired. Tap Next for a new one.",
                            kb([NEXT]), toast=True)]
        marking = self.grader.grade(question, "")
        review_id = self._record(learner, pending, question, self.store.card(learner.id, question.id), "",
                                 self.now(), Rating.Again, 0.0, (), tuple(p.id for p in question.marking_points))
        if review_id is None:  # answered meanwhile (a double tap that reached two replicas)
            return [Message(ALREADY_ANSWERED, kb([NEXT]), toast=True)]
        return [Feedback(question, marking, review_id, kb([NEXT, STOP]),
                         "It will come back soon, so you can try it in your own words.", shown=True)]

    def _on_stop(self, learner: Learner) -> list[Reply]:
        self.store.clear_pending(learner.id)
        draft = self.store.open_draft(learner.id)
        if draft is not None:
            return self.desk.broadcast_cancel(learner, BroadcastCancel(draft.id))
        return [Message("Stopped. Your progress is saved; /quiz carries on whenever you like.")]

    def _topics(self, learner: Learner, *, replaces_previous: bool = False) -> Message:
        chosen = self.store.settings(learner.id).topics
        rows = [[Button(("✅ " if chosen is None or t.slug in chosen else "▫️ ") + t.title, ToggleTopic(t.slug))]
                for t in self.bank.topics]
        rows.append([Button("All topics", AllTopics()), NEXT])
        which = "all topics" if chosen is None else ", ".join(self.live.titles().get(t, t) for t in chosen)
        return Message(f"Revising: {which}.\nTap a topic to switch it on or off.", kb(*rows), title="Topics",
                       replaces_previous=replaces_previous)

    def _on_toggletopic(self, learner: Learner, action: ToggleTopic) -> list[Reply]:
        order = self.live.topic_order()
        if action.slug not in order:
            return [Message("That topic no longer exists."), self._topics(learner)]
        current = self.store.settings(learner.id).topics
        chosen = list(current) if current is not None else list(order)
        if action.slug in chosen:
            chosen.remove(action.slug)
        else:
            chosen.append(action.slug)
        ordered = [t for t in order if t in chosen]
        value = None if not ordered or len(ordered) == len(order) else ordered
        self.store.update_settings(learner.id, topics=value)
        return [self._topics(learner, replaces_previous=True)]

    def _on_stats(self, learner: Learner) -> list[Reply]:
        data = self.stats(learner)
        lines = [
            f"Answered today: {data.answered_today} · in total: {data.answered_total}",
            f"Streak: {data.streak} day{'s' if data.streak != 1 else ''} (best {data.best_streak})",
            f"Due in the next 7 days: {sum(n for _, n in data.due_next_7_days)}",
        ]
        if data.accuracy:
            lines.append("\nAccuracy, and the recall you can expect this week, by topic:")
            for title, (right, total) in data.accuracy.items():
                recall = data.recall.get(title)
                rtxt = f", recall {recall:.0%}" if recall is not None else ""
                lines.append(f"• {title}: {right}/{total} right ({right / total:.0%}){rtxt}")
        if data.top_misses:
            lines.append("\nPoints you miss most:")
            for prompt, point, n in data.top_misses:
                lines.append(f"• {point} ({n}×) — from: {prompt[:80]}{'…' if len(prompt) > 80 else ''}")
        if data.exam is not None and data.exam.days_left >= 0:
            ex = data.exam
            lines.insert(0, f"{exam_line(ex.day, ex.days_left)} Readiness: {ex.recall_on_day:.0%} predicted recall on the day; "
                            f"{ex.introduced_share:.0%} of your questions met so far.")
        replies: list[Reply] = [Message("\n".join(lines), kb([NEXT]), title="Your progress")]
        if data.answered_total:
            replies.append(Chart("Your revision", data))
        return replies

    def _on_pause(self, learner: Learner, action: Pause) -> list[Reply]:
        now = self.now()
        until = now + timedelta(days=action.days) if action.days else datetime(9999, 1, 1, tzinfo=timezone.utc)
        self.store.update_settings(learner.id, paused_until=until)
        when = (f"for {action.days} day{'s' if action.days != 1 else ''}" if action.days else "until you send /resume")
        return [Message(f"Reminders paused {when}. You can still revise any time with /quiz.")]

    def _on_resume(self, learner: Learner) -> list[Reply]:
        self.store.update_settings(learner.id, paused_until=None)
        self.store.touch(learner.id, self.now())
        return [Message("Welcome back! Reminders are on again.", kb([NEXT]))]

    def _on_export(self, learner: Learner) -> list[Reply]:
        data = self.store.export(learner.id)
        body = json.dumps({"exported_at": self.now().isoformat(), **data}, indent=2, ensure_ascii=False)
        return [Document("my-revision-data.json", body.encode("utf-8"),
                         "Everything the tutor holds about you, as JSON.")]

    def _on_forget(self) -> list[Reply]:
        return [Message("This erases your answers, schedule, settings, reminders and cohort memberships. "
                        "It can't be undone. Are you sure?",
                        kb([Button("Yes, erase everything", ConfirmForget()), Button("Cancel", CancelForget())]),
                        title="Erase your data?")]

    def _on_unknown(self, action: Unknown) -> list[Reply]:
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
                        "Type your answer as a message, or tap Next.", kb([NEXT]))]

    def reminder(self, learner_id: int, fire_at: datetime | None = None) -> Message | None:
        """The reminder to send now, or None: nothing to revise, paused, or (given `fire_at`, when it was
        due) it would go out over 2 hours late or in the learner's quiet hours (dropped and logged)."""
        now = self.now()
        settings = self.store.settings(learner_id)
        if fire_at is not None:
            why = reminder_drop_reason(fire_at, now, settings.timezone)
            if why is not None:
                log.info("reminder for learner %s dropped (%s)", learner_id, why)
                return None
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
        plan = self.exams.plan(learner, settings)
        left = plan.days_left(learner_day(now, settings.timezone)) if plan else None
        if plan is not None and left is not None and -7 <= left < 0:
            # The exam is over: for a week, ask whether to keep going rather than carry on as if nothing happened.
            first = [Button("Keep revising ▶", Next())]
            if settings.exam_date is not None:
                first.append(Button("Clear the exam date", SetExam("off")))
            return Message(f"Your exam was on {plan.day:%A %d %B}: I hope it went well! Do you want to keep "
                           "revising? Your schedule is back to normal.", kb(first, [Button("Stop reminders", Remind("off"))]))
        if due == 0 and new == 0:
            return None
        rem = self.store.get_reminder(learner_id)
        text = reminder_text(due, new, rem.ignored if rem else 0)
        if plan is not None and left is not None and 0 <= left <= 14:
            text = (f"{exam_line(plan.day, left)} {due + new} question{'s' if due + new != 1 else ''} "
                    f"to stay on track today.\n" + text)
        return Message(text, kb([Button("Start revising ▶", Next())]))

    def _help(self) -> list[Reply]:
        lines = ["Tap Next (or send /quiz) for a question, then type your answer. "
                 "For choice questions, tap an option.", ""]
        lines += [f"/{name} — {desc}" for name, desc in COMMANDS]
        return [Message("\n".join(lines), kb([NEXT]), title="How this works")]

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
        header = f"{header} · {self.live.titles().get(question.topic, question.topic)}"
        key = question_key(question.id)
        if question.is_choice:
            order = self._order(learner, question)
            ask = AskQuestion(question, header, as_poll=question.fits_quiz_poll, order=order)
            return [dataclasses.replace(ask, buttons=tuple(
                (Button(f"{pos + 1}. {opt}", Choose(key, pos)),) for pos, opt in enumerate(ask.options)))]
        return [AskQuestion(question, header, kb([Button("I don't know — show me", ShowAnswer(key))]))]

    def _pick(self, learner: Learner, settings: LearnerSettings, allowed: list[str] | None, now: datetime,
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

    def _new_left(self, learner: Learner, settings: LearnerSettings, now: datetime) -> int:
        today = learner_day(now, settings.timezone)
        start, end = day_bounds(today, settings.timezone)
        introduced = self.store.introduced_count(learner.id, start, end)
        return max(0, self.exams.pace(learner, settings, today, introduced) - introduced)

    def _new_question(self, learner: Learner, allowed: list[str] | None, skip: str | None) -> Question | None:
        """The next new question, in `bot.tutor.session`'s order (types interleaved, foundations first)."""
        order = self.store.introduced_order(learner.id)
        introduced = [q for q in (self.bank.get(qid) for qid in order) if q is not None]
        seen = set(self.store.seen_questions(learner.id))
        allowed_set = set(allowed) if allowed is not None else None
        fresh = [q for q in self.bank
                 if q.id not in seen and q.id != skip and (allowed_set is None or q.id in allowed_set)]
        return next_new_question(fresh, introduced, str(learner.id))

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

    def _nothing_due(self, learner: Learner, settings: LearnerSettings, allowed: list[str] | None, now: datetime) -> Message:
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
                       kb([Button("Extra practice", Extra()), Button("Stats", Stats())]))

    # -------------------------------------------------------------- marking

    def _grade(self, learner: Learner, pending: Pending, question: Question, text: str,
               card: CardRow | None) -> list[Reply]:
        now = self.now()
        truncated = len(text) > MAX_ANSWER_CHARS
        marking = self.grader.grade(self.live.question(question), text)  # with the wordings tutors taught it
        rating = rating_for(marking)
        review_id = self._record(learner, pending, question, card, text[:MAX_ANSWER_CHARS], now, rating,
                                 marking.score, marking.hits, tuple(p.id for p in marking.misses))
        if review_id is None:  # answered meanwhile (a redelivery, or the same answer on another replica)
            return [Message(ALREADY_ANSWERED, kb([NEXT]))]
        buttons = [NEXT]
        if not marking.passed and pending.mode != "extra" and marking.maybe_points:  # the grader's doubt
            self.store.flag_maybe(review_id, learner.id, question.id, now)  # a tutor will look
        if not marking.passed and pending.mode != "extra":
            buttons.append(Button("I was right", Override(review_id)))
        buttons.append(STOP)
        note = (f"Your answer was {len(text):,} characters; I marked the first {MAX_ANSWER_CHARS:,}."
                if truncated else "")
        return [Feedback(question, marking, review_id, kb(buttons), note)]

    def _choose(self, learner: Learner, pending: Pending, question: Question, option: int,
                card: CardRow | None) -> list[Reply]:
        now = self.now()
        correct = option == question.answer
        assert question.answer is not None
        if self._record(learner, pending, question, card, question.options[option], now, rating_for(correct=correct),
                        1.0 if correct else 0.0, ("correct",) if correct else (),
                        () if correct else ("correct",)) is None:
            return [Message(ALREADY_ANSWERED, kb([NEXT]), toast=True)]
        verdict = "✅ Correct!" if correct else f"❌ Not quite. The answer is: {question.options[question.answer]}"
        text = verdict + (f"\n{question.explanation}" if question.explanation else "")
        return [Message(text, kb([NEXT, STOP]), toast=True)]

    def _record(self, learner: Learner, pending: Pending, question: Question, card: CardRow | None, answer: str,
                now: datetime, rating: Rating, score: float, hits: tuple[str, ...], misses: tuple[str, ...]) -> int | None:
        """Append the review; unless it was extra practice, move `card` (None: a new one) on the schedule.

        At most once per asked question, across processes: None when it was already answered."""
        extra = pending.mode == "extra"
        review = Review(
            learner_id=learner.id, question_id=question.id, topic=question.topic,
            kind="choice" if question.is_choice else "free_text", reviewed_at=now,
            rating=None if extra else int(rating), score=score, hits=hits, misses=misses, answer=answer,
            extra=extra, card_before=None, due_after=None)
        if not extra:
            before = card.card if card else self.scheduler.new_card(question.id, now)
            after, due, log_ = self.scheduler.review(before, rating, now, self.exams.plan(learner))
            review = dataclasses.replace(review, card_before=before, card_after=after, due_after=due, log=log_)
        return self.store.record_answer(review, asked_at=pending.asked_at)

    # -------------------------------------------------------------- stats

    def stats(self, learner: Learner) -> StatsData:
        now = self.now()
        settings = self.store.settings(learner.id)
        tz = settings.timezone
        reviews = self.store.reviews(learner.id)
        cards = self.store.cards(learner.id)
        today = learner_day(now, tz)
        by_day = Counter(learner_day(r.reviewed_at, tz) for r in reviews)
        recall_parts: dict[str, list[float]] = defaultdict(list)
        for c in cards:  # what they can count on over the next week, not the value at the last review
            recall_parts[self.live.titles().get(c.topic, c.topic)].append(self.scheduler.recall_ahead(c.card, now))
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
            exam=self.exams.outlook(learner, settings, ((c.question_id, c.card) for c in cards), due7[0][1]),
        )

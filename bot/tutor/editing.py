"""Question files in the chat: an admin (or a tutor, with TUTORS_MAY_EDIT=1) uploads a topic file.

The file is checked by the same loader as `check-content` (`bot.tutor.bank.load_topic`),
merged with the live bank (a new topic, or a topic replaced whole) and either applied as a
new content version in the database, or refused with every problem, `file:line questions[i]
(id) field: problem`. A question learners have progress on can't be removed by an upload.
`/content` shows the live version, questions per topic, and rolls back to the previous one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.errors import ContentError
from bot.tutor.actions import ContentRollback, UploadContent
from bot.tutor.bank import MAX_FILE_BYTES, load_topic, merge_topics
from bot.tutor.desk import TutorDesk
from bot.tutor.live import LiveContent
from bot.tutor.models import Learner
from bot.tutor.replies import Button, Keyboard, Message, Reply, kb

__all__ = ["ContentDesk"]


class ContentDesk:
    def __init__(self, desk: TutorDesk, live: LiveContent, now: Callable[[], datetime], *,
                 tutors_may_edit: bool = False) -> None:
        self.desk = desk
        self.store = desk.store
        self.live = live
        self.now = now
        self.tutors_may_edit = tutors_may_edit

    def may_edit(self, learner: Learner) -> bool:
        return self.desk.is_admin(learner) or (self.tutors_may_edit and self.store.role(learner.id) == "tutor")

    def info(self, learner: Learner) -> list[Reply]:
        if not self.desk.is_tutor(learner):
            return self.desk._refuse(learner, "/content")
        bank, version = self.live.bank(), self.live.version
        lines = [f"Content version {version}" + (" (the bundled files)" if version == 0 else "") + ":"]
        lines += [f"• {t.title} ({t.slug}): {len(t.questions)} question{'s' if len(t.questions) != 1 else ''}"
                  for t in bank.topics]
        lines.append(f"{len(bank)} questions in all.")
        buttons: Keyboard = ()
        if self.may_edit(learner):
            lines.append("\nSend a topic's .yaml file here to add it, or to replace the topic of that name whole.")
            if version:
                buttons = kb([Button(f"Roll back version {version}", ContentRollback(version))])
        return [Message("\n".join(lines), buttons, title="Content")]

    def roll_back(self, learner: Learner, action: ContentRollback) -> list[Reply]:
        if not self.may_edit(learner):
            return self.desk._refuse(learner, f"roll back content {action.version}")
        live = self.store.roll_back_content(action.version, self.now())
        if live is None:
            return [Message(f"Version {action.version} isn't the live one any more: nothing was rolled back. "
                            "/content shows the live version.", toast=True)]
        self.live.reload()
        return [Message(f"Rolled back: version {live} is live again" + (" (the bundled files)" if live == 0 else "")
                        + f", {len(self.live.bank())} questions. Every replica follows within a minute.")]

    def upload(self, learner: Learner, action: UploadContent) -> list[Reply]:
        if not self.may_edit(learner):
            who = "admins and tutors" if self.tutors_may_edit else "admins"
            return self.desk._refuse(learner, "a content upload") + [
                Message(f"(Only {who} can upload question files.)")]
        name = action.filename or "upload.yaml"
        if not name.lower().endswith((".yaml", ".yml")):
            return [Message(f"{name} isn't a question file: send a topic as a .yaml file.")]
        size = max(action.size, len(action.data))
        if size > MAX_FILE_BYTES:
            return [Message(f"{name} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} (1 MB). Split the topic.")]
        try:
            text = action.data.decode("utf-8")
        except UnicodeDecodeError:
            return [Message(f"{name} isn't UTF-8 text. Save it as UTF-8 and send it again.")]
        problems: list[str] = []
        bank, version = self.live.bank(), self.live.version
        try:
            topic = load_topic(action.data, name)
            old = bank.topic(topic.slug)
            gone = sorted({q.id for q in old.questions} - {q.id for q in topic.questions}) if old else []
            for qid, n in sorted(self.store.progress_on(gone).items()):
                problems.append(f"{name} questions: {qid} can't be removed: {n} learner{'s have' if n != 1 else ' has'} "
                                "progress on it (keep it in the file; a question's id keys learners' progress)")
            merged = merge_topics(bank, [topic])
        except ContentError as exc:
            problems += list(exc.problems)
        if problems:
            n = len(problems)
            return [Message(f"Not applied: {n} problem{'s' if n != 1 else ''} (nothing changed):\n\n"
                            + "\n".join(f"• {p}" for p in problems), title=name)]
        stored = self.store.content()
        topics = dict(stored.topics) if stored else {}
        topics[topic.slug] = text
        what = "replaced" if old else "added"
        summary = f"{topic.slug} {what} ({len(topic.questions)} questions) from {name}"
        new = self.store.add_content(topics, summary, learner.id, self.now(), expected=version)
        if new is None:
            return [Message("The content changed while I was checking your file. Send it again.")]
        self.live.reload()
        return [Message(f"Applied: content version {new}. Topic “{topic.title}” {what}: {len(topic.questions)} "
                        f"questions; {len(merged)} in all. Every replica uses it within a minute.",
                        kb([Button(f"Roll back version {new}", ContentRollback(new))]), title=name)]

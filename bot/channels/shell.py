"""The tutor in a terminal: the same engine, reading standard input (so a session can be piped).

Buttons are numbered (`[1] Next  [2] I was right`); typing the number presses one.
`bot.app.run_shell` builds the engine and runs a `Shell` over standard input.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO, assert_never

from bot.channels.render import feedback_text, message_text, question_text
from bot.tutor.actions import Action, Answer, Who
from bot.tutor.commands import parse_command
from bot.tutor.engine import Engine
from bot.tutor.replies import (
    AskQuestion, BroadcastStarted, Button, Chart, DashboardData, Document, Feedback, Keyboard, MenuChange, Message,
    Reply,
)

__all__ = ["Shell"]


class Shell:
    """One learner's terminal session over an Engine."""

    def __init__(self, engine: Engine, who: Who, out: TextIO, files_dir: Path) -> None:
        self.engine = engine
        self.who = who
        self.out = out
        self.files_dir = files_dir
        self.buttons: list[Button] = []

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show(self, replies: list[Reply]) -> None:
        self.buttons = []
        for r in replies:
            match r:
                case Message():
                    self.say(message_text(r))
                    self._buttons(r.buttons)
                case AskQuestion():
                    self.say(question_text(r, numbered_options=False))
                    self._buttons(r.buttons)
                case Feedback():
                    self.say(feedback_text(r))
                    self._buttons(r.buttons)
                case Chart():
                    from bot.channels.charts import stats_png  # matplotlib: only when a chart is shown

                    path = self._save(f"stats-{self.who.external_id}.png", stats_png(r.stats))
                    self.say(f"(chart saved to {path})")
                case Document():
                    path = self._save(f"{self.who.external_id}-{r.filename}", r.data)
                    self.say(f"{r.caption} Saved to {path}")
                case DashboardData():
                    from bot.channels.charts import bars_png

                    path = self._save(f"dashboard-{r.cohort}.png",
                                      bars_png(f"{r.cohort}: accuracy by topic", r.accuracy))
                    self.say(f"(chart saved to {path})")
                case MenuChange():
                    continue  # Telegram's command menu: nothing to show in a terminal
                case BroadcastStarted():
                    self.say(f"{r.text} (the running bot delivers it)")
                case _:
                    assert_never(r)
            self.say("")

    def _buttons(self, rows: Keyboard) -> None:
        labels = []
        for row in rows:
            for b in row:
                self.buttons.append(b)
                labels.append(f"[{len(self.buttons)}] {b.label}")
        if labels:
            self.say("  ".join(labels))

    def _save(self, name: str, data: bytes) -> Path:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        path = self.files_dir / "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        path.write_bytes(data)
        return path

    def handle_line(self, line: str) -> None:
        text = line.rstrip("\n")
        if not text.strip():
            return
        stripped = text.strip()
        action: Action | None
        if stripped.isdecimal() and 1 <= int(stripped) <= len(self.buttons):
            action = self.buttons[int(stripped) - 1].action
        else:
            action = parse_command(stripped) if stripped.startswith("/") else Answer(text)
        if action is None:
            self.say("That button has expired.")
            return
        self.show(self.engine.handle(self.who, action))

    def run(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.handle_line(line)

"""The tutor in a terminal: same engine and store, reads standard input (so it can be piped).

Buttons are numbered (`[1] Next  [2] I was right`); typing the number presses one.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.errors import ContentError
from bot.tutor.cohorts import BroadcastStarted, DashboardData, MenuChange
from bot.tutor.engine import (
    Answer, AskQuestion, Button, Chart, Document, Engine, Feedback, Message, Reply, Who,
    parse_button, parse_command,
)

from bot.channels.render import feedback_text, message_text, question_text

__all__ = ["Shell", "run_shell"]


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
            if isinstance(r, Message):
                self.say(message_text(r))
                self._buttons(r.buttons)
            elif isinstance(r, AskQuestion):
                self.say(question_text(r, numbered_options=False))
                self._buttons(r.buttons)
            elif isinstance(r, Feedback):
                self.say(feedback_text(r))
                self._buttons(r.buttons)
            elif isinstance(r, Chart):
                path = self._save(f"stats-{self.who.external_id}.png", _chart_png(r))
                self.say(f"(chart saved to {path})")
            elif isinstance(r, Document):
                path = self._save(f"{self.who.external_id}-{r.filename}", r.data)
                self.say(f"{r.caption} Saved to {path}")
            elif isinstance(r, DashboardData):
                from bot.charts import bars_png

                path = self._save(f"dashboard-{r.cohort}.png", bars_png(f"{r.cohort}: accuracy by topic", r.accuracy))
                self.say(f"(chart saved to {path})")
            elif isinstance(r, MenuChange):
                continue  # Telegram's command menu: nothing to show in a terminal
            elif isinstance(r, BroadcastStarted):
                self.say(f"{r.text} (the running bot delivers it)")
            self.say("")

    def _buttons(self, rows: tuple[tuple[Button, ...], ...]) -> None:
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
        if stripped.isdecimal() and 1 <= int(stripped) <= len(self.buttons):
            action = parse_button(self.buttons[int(stripped) - 1].action)
        else:
            action = parse_command(stripped) if stripped.startswith("/") else Answer(text)
        if action is None:
            self.say("That button has expired.")
            return
        self.show(self.engine.handle(self.who, action))


def _chart_png(chart: Chart) -> bytes:
    from bot.charts import stats_png

    return stats_png(chart.stats)


def run_shell(settings: Settings, *, user: str | None, db: str | None, tutor: bool = False,
              stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    from bot.store import Store
    from bot.tutor.bank import load_bank

    stdin = stdin or sys.stdin
    out = out or sys.stdout
    try:
        bank = load_bank(settings.content_dir)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    store = Store.open(db or settings.database_url)
    try:
        engine = Engine(bank, store, clock=lambda: datetime.now(timezone.utc),
                        default_timezone=settings.default_timezone, new_per_day=settings.new_per_day,
                        desired_retention=settings.desired_retention,
                        admins={("shell", user or getpass.getuser() or "learner")} if tutor else ())
        name = user or getpass.getuser() or "learner"
        shell = Shell(engine, Who("shell", name, display_name=name), out, Path("data") / "files")
        interactive = stdin.isatty()
        if interactive:
            shell.say(f"Revision tutor: {len(bank)} questions in {len(bank.topics)} topics. "
                      "Type /quiz to start, /help for commands, Ctrl-D to leave.\n")
        for line in stdin:
            shell.handle_line(line)
        if interactive:
            shell.say("Bye! Your progress is saved.")
    finally:
        store.close()
    return 0

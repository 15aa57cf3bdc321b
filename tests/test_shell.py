"""The terminal shell: a piped session shows the question, the marking and stats that persist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shell(db: str, stdin: str, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    run = subprocess.run([sys.executable, "-m", "bot", *args, "--db", db], input=stdin, capture_output=True,
                         text=True, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return run.stdout


def test_a_piped_session_is_marked_and_counted_across_runs(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shell.sqlite3'}"
    out = shell(db, "/quiz\nI'm not sure, maybe something about customers\n/stats\n", "shell", "--user", "sam", cwd=tmp_path)
    assert "New question" in out
    assert "❌" in out and "Model answer:" in out
    assert "[1] Next ▶  [2] I was right  [3] Stop" in out
    assert "Answered today: 1 · in total: 1" in out
    again = shell(db, "/stats\n", "shell", "--user", "sam", cwd=tmp_path)
    assert "in total: 1" in again
    other = shell(db, "/stats\n", "shell", "--user", "kim", cwd=tmp_path)
    assert "in total: 0" in other


def test_buttons_are_pressed_by_number_and_model_answers_earn_full_marks(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'shell.sqlite3'}"
    first = shell(db, "/quiz\n", "shell", "--user", "ana", cwd=tmp_path)
    # Answer with the question's own model answer, found in the bank.
    from bot.tutor.bank import load_bank

    bank = load_bank(ROOT / "content")
    prompt = next(q for q in bank if q.prompt in first)
    out = shell(db, f"{prompt.model_answer}\n1\n", "shell", "--user", "ana", cwd=tmp_path)
    assert "Full marks" in out and "❌" not in out.split("Model answer:")[0]
    assert re.search(r"(New question|Review) · ", out)  # [1] Next pressed: another question


def test_try_without_a_token_opens_the_shell(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'try.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    run = subprocess.run([sys.executable, "-m", "bot", "try"], input="/help\n", capture_output=True, text=True,
                         cwd=tmp_path, env={**env, "DATABASE_URL": db, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "terminal shell" in run.stdout and "/quiz" in run.stdout

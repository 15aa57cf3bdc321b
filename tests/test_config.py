"""Settings: defaults, parsing, and one message listing every bad value (exit code 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_CONTENT_DIR, load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_with_an_empty_environment() -> None:
    s = load_settings({}, dotenv=None)
    assert s.telegram_bot_token is None
    assert s.database_url.startswith("sqlite:///") and "data" in s.database_url
    assert s.content_dir == DEFAULT_CONTENT_DIR
    assert s.default_timezone == "Europe/London" and s.log_level == "INFO"
    assert s.tutor_admin_ids == frozenset() and s.send_rate == 25.0


def test_values_are_parsed() -> None:
    s = load_settings({
        "TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_BASE_URL": "http://127.0.0.1:8081",
        "DATABASE_URL": "postgresql://u@h/db", "TUTOR_ADMIN_IDS": "1, 22;333",
        "DEFAULT_TIMEZONE": "Asia/Kolkata", "LOG_LEVEL": "debug", "SEND_RATE": "10",
    }, dotenv=None)
    assert s.telegram_bot_token == "123:abc"
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.tutor_admin_ids == {1, 22, 333}
    assert s.default_timezone == "Asia/Kolkata" and s.log_level == "DEBUG" and s.send_rate == 10


def test_every_bad_value_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"TELEGRAM_BOT_TOKEN": "nocolon", "DATABASE_URL": "mysql://x", "TUTOR_ADMIN_IDS": "12,bob",
                       "DEFAULT_TIMEZONE": "Mars/Olympus", "LOG_LEVEL": "LOUD", "WEBHOOK_PORT": "99999"}, dotenv=None)
    names = [p.split(":")[0] for p in err.value.problems]
    assert names == ["TELEGRAM_BOT_TOKEN", "DATABASE_URL", "TUTOR_ADMIN_IDS", "DEFAULT_TIMEZONE", "LOG_LEVEL", "WEBHOOK_PORT"]


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=WARNING\nDEFAULT_TIMEZONE=Europe/Paris\n")
    s = load_settings({"LOG_LEVEL": "ERROR"}, dotenv=env_file)
    assert s.log_level == "ERROR" and s.default_timezone == "Europe/Paris"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**clean, **env}, timeout=60)


def test_bad_settings_exit_2_with_every_problem_and_no_traceback() -> None:
    run = _run("run", LOG_LEVEL="LOUD", DEFAULT_TIMEZONE="Nowhere/City")
    assert run.returncode == 2
    assert "LOG_LEVEL" in run.stderr and "DEFAULT_TIMEZONE" in run.stderr and "Traceback" not in run.stderr


def test_run_without_token_exits_2_with_one_clear_line() -> None:
    run = _run("run")
    assert run.returncode == 2 and "TELEGRAM_BOT_TOKEN" in run.stderr and "Traceback" not in run.stderr


def test_help_lists_every_subcommand_each_with_its_own_help() -> None:
    run = _run("--help")
    assert run.returncode == 0
    commands = ["run", "shell", "grade", "check-content", "migrate", "try"]
    for name in commands:
        assert name in run.stdout
        sub = _run(name, "--help")
        assert sub.returncode == 0 and f"python -m bot {name}" in sub.stdout

"""What can be checked of the Dockerfile and CI without Docker: shape, entry command, README commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_is_multi_stage_non_root_with_content_volume_and_bot_run() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM python:3\.11-slim", text, re.M)) == 2
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert re.search(r"^COPY content \./content", text, re.M)
    assert re.search(r'^VOLUME \["/data"\]', text, re.M) and "sqlite:////data/" in text
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert cmd == ["python", "-m", "bot", "run"]


def test_the_images_entry_command_runs_outside_docker() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    env.update(CONTENT_DIR=str(ROOT / "content"), DATABASE_URL="sqlite:////tmp/never-created.sqlite3")
    run = subprocess.run([sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=60)
    assert run.returncode == 2 and "TELEGRAM_BOT_TOKEN" in run.stderr  # starts, and asks for the token


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Run the tests", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.S).group(1).strip()  # type: ignore[union-attr]
    assert command in (ROOT / ".ci" / "run").read_text()
    assert "pytest" in command and "venv" in command

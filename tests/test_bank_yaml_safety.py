"""Finding 14: YAML anchors and aliases are refused quickly with file:line (no hang, no traceback)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import ContentError
from bot.tutor.bank import load_bank

ROOT = Path(__file__).resolve().parent.parent


def alias_bomb() -> str:
    """Nine levels of ten aliases (the audit's 549-byte file): 10**9 leaves if expanded."""
    lines = ["topic: t1", "title: T1", 'a0: &a0 ["lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i-1}"] * 10) + "]")
    lines.append("questions: *a9")
    return "\n".join(lines) + "\n"


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ContentError) as err:
        load_bank(path)
    return list(err.value.problems)


def test_alias_bomb_is_refused_quickly_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert len(path.read_bytes()) < 600
    started = time.monotonic()
    problems = problems_of(path)
    assert time.monotonic() - started < 2
    assert any("bomb.yaml:3" in p and "anchor" in p for p in problems), problems


def test_self_referencing_alias_is_a_content_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("topic: t1\ntitle: T1\nquestions: &q [*q]\n")
    problems = problems_of(path)
    assert any("loop.yaml:3" in p and "not allowed" in p for p in problems), problems


def test_a_lone_alias_to_an_earlier_value_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("topic: t1\ntitle: &t T1\nunit: *t\nquestions: []\n")
    problems = problems_of(path)
    assert any("t.yaml:2" in p and "&t" in p for p in problems), problems


def test_glossary_refuses_aliases(tmp_path: Path) -> None:
    path = tmp_path / "glossary.yaml"
    path.write_text("glossary:\n  - &x [a, b]\n  - *x\n")
    problems = problems_of(path)
    assert any("glossary.yaml:2" in p for p in problems), problems


def test_deep_nesting_is_a_content_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("topic: t1\ntitle: T1\nquestions: " + "[" * 5000 + "]" * 5000 + "\n")
    problems = problems_of(path)
    assert any("deep.yaml" in p for p in problems), problems


def test_check_content_cli_refuses_the_bomb_without_hanging_or_traceback(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    loop = tmp_path / "loop.yaml"
    loop.write_text("x: &a [*a]\n")
    for path in (bomb, loop):
        run = subprocess.run([sys.executable, "-m", "bot", "check-content", str(path)], capture_output=True,
                             text=True, cwd=ROOT, timeout=20)
        assert run.returncode == 1, run.stderr
        assert f"{path.name}:" in run.stderr and "Traceback" not in run.stderr, run.stderr

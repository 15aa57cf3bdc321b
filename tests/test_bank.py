"""The question bank loader: every error class names file, line and field; all or nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import ContentError
from bot.tutor.bank import QuestionType, load_bank, load_glossary

ROOT = Path(__file__).resolve().parent.parent

GOOD_FREE = """\
  - id: q-free
    type: free_text
    prompt: What is AHT?
    marking_points:
      - id: def
        text: Average handling time.
        accept: [average handle time]
    model_answer: Average handling time.
"""
GOOD_CHOICE = """\
  - id: q-choice
    type: choice
    prompt: What does the O in GROW stand for?
    options: [Objectives, Options]
    answer: 1
"""


def topic(body: str, head: str = "topic: t1\ntitle: T1\nquestions:\n") -> str:
    return head + body


def load_one(tmp_path: Path, text: str | bytes, name: str = "t1.yaml") -> list[str]:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    with pytest.raises(ContentError) as err:
        load_bank(path)
    return list(err.value.problems)


# (case, file text, expected line, expected fragments of the message)
BROKEN = [
    ("yaml syntax", topic(GOOD_FREE + "  - id: [unclosed\n"), 12, ["YAML syntax error"]),
    ("duplicate key", topic(GOOD_FREE.replace("    prompt: What is AHT?\n", "    prompt: What is AHT?\n    prompt: Again?\n")), 7,
     ["(q-free) prompt", "duplicate key", "first on line 6"]),
    ("unknown key", topic(GOOD_FREE.replace("marking_points:", "marking_point:")), 7,
     ["(q-free) marking_point", "unknown key", "did you mean 'marking_points'"]),
    ("missing prompt", topic(GOOD_FREE.replace("    prompt: What is AHT?\n", "")), 4, ["(q-free) prompt", "required field is missing"]),
    ("empty prompt", topic(GOOD_FREE.replace("What is AHT?", '""')), 6, ["(q-free) prompt", "must not be empty"]),
    ("wrong type accept", topic(GOOD_FREE.replace("[average handle time]", "yes")), 10,
     ["(q-free) marking_points[0].accept", "expected a list of strings"]),
    ("unknown question type", topic(GOOD_FREE.replace("free_text", "essay")), 5, ["(q-free) type", "unknown type 'essay'"]),
    ("bad slug", topic(GOOD_FREE.replace("id: q-free", "id: Q Free")), 4, ["questions[0]", "id", "not a slug"]),
    ("duplicate point id", topic(GOOD_FREE.replace("    model_answer:", "      - id: def\n        text: Again.\n    model_answer:")), 11,
     ["(q-free) marking_points[1].id", "duplicate marking point id 'def'"]),
    ("no marking points", topic(GOOD_FREE.replace(
        "      - id: def\n        text: Average handling time.\n        accept: [average handle time]\n", "").replace("marking_points:", "marking_points: []")), 7,
     ["(q-free) marking_points", "expected 1 to 8 points, got 0"]),
    ("nine marking points", topic(GOOD_FREE.replace("    model_answer:", "".join(
        f"      - id: p{i}\n        text: Point {i}.\n" for i in range(8)) + "    model_answer:")), 7,
     ["(q-free) marking_points", "expected 1 to 8 points, got 9"]),
    ("pass mark out of range", topic(GOOD_FREE + "    pass_mark: 3\n"), 12, ["(q-free) pass_mark", "between 1 and the number of marking points"]),
    ("answer out of range", topic(GOOD_CHOICE.replace("answer: 1", "answer: 2")), 8, ["(q-choice) answer", "0 to 1"]),
    ("one option", topic(GOOD_CHOICE.replace("[Objectives, Options]", "[Options]").replace("answer: 1", "answer: 0")), 7,
     ["(q-choice) options", "expected 2 to 10 options, got 1"]),
    ("eleven options", topic(GOOD_CHOICE.replace("[Objectives, Options]", "[" + ", ".join(f"o{i}" for i in range(11)) + "]")), 7,
     ["(q-choice) options", "expected 2 to 10 options, got 11"]),
    ("missing model answer", topic(GOOD_FREE.replace("    model_answer: Average handling time.\n", "")), 4,
     ["(q-free) model_answer", "required field is missing"]),
    ("yaml bad indentation", topic(GOOD_FREE.replace("    model_answer:", "   model_answer:")), 11, ["YAML syntax error"]),
    ("top level a list", "- just\n- a list\n", 1, ["top level must be a mapping"]),
    ("answer not a number", topic(GOOD_CHOICE.replace("answer: 1", "answer: one")), 8, ["(q-choice) answer", "expected a whole number"]),
    ("level out of range", topic(GOOD_FREE + "    level: 4\n"), 12, ["(q-free) level", "must be 1 (recall), 2 (explain or apply) or 3"]),
    ("level not a number", topic(GOOD_CHOICE + "    level: hard\n"), 9, ["(q-choice) level", "expected a whole number"]),
    ("a number split by a flow list's comma", topic(GOOD_FREE.replace("[average handle time]", "[£6,000 a month, AHT]")), 10,
     ["marking_points[0].accept[1]", "a comma inside a number split this list item", '"£6,000 a month"']),
]


@pytest.mark.parametrize("case,text,line,fragments", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_file_names_file_line_and_field(tmp_path: Path, case: str, text: str, line: int, fragments: list[str]) -> None:
    problems = load_one(tmp_path, text)
    hits = [p for p in problems if all(f in p for f in fragments)]
    assert hits, f"{case}: no problem mentions {fragments}: {problems}"
    assert re.match(rf"^\S*t1\.yaml:{line}[ :]", hits[0]), hits[0]


def test_separate_list_items_that_are_numbers_are_not_a_split_number(tmp_path: Path) -> None:
    path = tmp_path / "t1.yaml"
    path.write_text(topic(GOOD_FREE.replace("[average handle time]", '[£800, 800 pounds, "£6,000 a month"]')),
                    encoding="utf-8")
    q = next(iter(load_bank(path)))
    assert q.marking_points[0].accept == ("£800", "800 pounds", "£6,000 a month")


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    problems = load_one(tmp_path, "# only a comment\n")
    assert len(problems) == 1 and "t1.yaml" in problems[0] and "empty" in problems[0]


def test_non_utf8_file_is_an_error_with_line(tmp_path: Path) -> None:
    problems = load_one(tmp_path, topic(GOOD_FREE).encode() + b"  - id: caf\xe9\n")
    assert any("t1.yaml:12" in p and "UTF-8" in p for p in problems), problems


def test_file_over_one_megabyte_is_refused(tmp_path: Path) -> None:
    problems = load_one(tmp_path, topic(GOOD_FREE) + "#" * 1_000_001 + "\n")
    assert any("t1.yaml" in p and "limit" in p for p in problems), problems


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    problems = load_one(tmp_path, topic(GOOD_FREE.replace("What is AHT?", "!!python/object/apply:os.system [echo hi]")))
    assert any("t1.yaml:6" in p for p in problems), problems


def test_duplicate_ids_and_topics_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(topic(GOOD_FREE))
    (tmp_path / "b.yaml").write_text(topic(GOOD_FREE))
    with pytest.raises(ContentError) as err:
        load_bank(tmp_path)
    text = str(err.value)
    assert re.search(r"b\.yaml:4 questions\[0\] \(q-free\) id: duplicate question id \(also at \S*a\.yaml:4\)", text), text
    assert re.search(r"b\.yaml topic: duplicate topic 't1' \(also in \S*a\.yaml\)", text), text


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(topic(GOOD_FREE.replace("free_text", "essay")))
    (tmp_path / "b.yaml").write_text(topic(GOOD_CHOICE.replace("answer: 1", "answer: 5") + GOOD_FREE.replace("marking_points", "marking_point")))
    with pytest.raises(ContentError) as err:
        load_bank(tmp_path)
    files = {p.split(":")[0].rsplit("/", 1)[-1] for p in err.value.problems}
    assert files == {"a.yaml", "b.yaml"}
    assert len(err.value.problems) >= 4


def test_a_good_bank_loads_typed_and_frozen(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(topic(GOOD_FREE + GOOD_CHOICE, head="topic: t1\ntitle: T1\nunit: Unit A\nquestions:\n"))
    bank = load_bank(tmp_path)
    free, choice = bank.get("q-free"), bank.get("q-choice")
    assert free is not None and choice is not None
    assert free.type is QuestionType.FREE_TEXT and free.points_needed == 1 and free.unit == "Unit A"
    assert free.marking_points[0].accept == ("average handle time",)
    assert choice.is_choice and choice.answer == 1 and choice.fits_quiz_poll
    with pytest.raises(AttributeError):
        free.prompt = "changed"  # type: ignore[misc]


def test_level_is_optional_and_defaults_from_the_type(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(topic(GOOD_FREE + GOOD_CHOICE + GOOD_FREE.replace("q-free", "q-hard") + "    level: 3\n"))
    bank = load_bank(tmp_path)
    assert [bank.get(q).level for q in ("q-free", "q-choice", "q-hard")] == [2, 1, 3]  # type: ignore[union-attr]


def test_long_choice_question_loads_with_a_notice_that_it_goes_as_buttons(tmp_path: Path) -> None:
    long_prompt = "Which is right? " + "x" * 300
    (tmp_path / "t.yaml").write_text(topic(GOOD_CHOICE.replace("What does the O in GROW stand for?", long_prompt)))
    bank = load_bank(tmp_path)
    q = bank.get("q-choice")
    assert q is not None and not q.fits_quiz_poll
    assert any("t.yaml:6" in n and "prompt" in n and "buttons" in n for n in bank.notices), bank.notices


def test_glossary_file_is_checked(tmp_path: Path) -> None:
    (tmp_path / "glossary.yaml").write_text("glossary:\n  - [AHT, average handling time]\n  - [lonely]\n  - 7\n")
    with pytest.raises(ContentError) as err:
        load_glossary(tmp_path)
    text = str(err.value)
    assert "glossary.yaml:3 glossary[1]: a group needs at least two phrases" in text
    assert "glossary.yaml:4 glossary[2]: expected a list of strings" in text


def test_check_content_cli_on_broken_and_bundled_content(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(topic(GOOD_FREE.replace("free_text", "essay")))
    run = subprocess.run([sys.executable, "-m", "bot", "check-content", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1 and "bad.yaml:5" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run([sys.executable, "-m", "bot", "check-content"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    total = int(re.search(r"(\d+) questions", run.stdout).group(1))  # type: ignore[union-attr]
    assert total >= 90


def test_bundled_bank_meets_the_brief(bank) -> None:  # type: ignore[no-untyped-def]
    questions = list(bank)
    assert len(questions) >= 90 and len(bank.topics) >= 5
    free = [q for q in questions if not q.is_choice]
    assert len(free) / len(questions) >= 0.6
    for q in free:
        assert 2 <= len(q.marking_points) <= 5, q.id
        assert q.model_answer and q.explanation, q.id
    for q in questions:
        assert q.unit, f"{q.id} has no unit"
        if q.is_choice:
            assert q.fits_quiz_poll, f"{q.id} does not fit a quiz poll"

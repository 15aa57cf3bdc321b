"""The question bank: typed, frozen data loaded from YAML, with errors that say where.

`load_bank(path)` reads one file or every `*.yaml`/`*.yml` file in a folder and returns a
`QuestionBank`, or raises `ContentError` listing every problem in every file, each as

    content/gdpr.yaml:41 questions[3] (gdpr-sar) marking_points[1].accept: expected a list of strings

Never a half-loaded bank: all or nothing. The format is described in CONTENT_FORMAT.md;
a file whose top level has `glossary:` instead of `topic:` is the domain glossary the
grader uses (lists of phrases that mean the same thing, e.g. `[AHT, average handling time]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from bot.errors import ContentError
from bot.tutor.yamlnodes import MAX_FILE_BYTES
from bot.tutor.yamlnodes import Collector as _Collector
from bot.tutor.yamlnodes import Node as _Node
from bot.tutor.yamlnodes import display as _display
from bot.tutor.yamlnodes import join as _join
from bot.tutor.yamlnodes import kind as _kind
from bot.tutor.yamlnodes import read_yaml as _read_yaml
from bot.tutor.yamlnodes import read_yaml_bytes as _read_yaml_bytes
from bot.tutor.yamlnodes import string_list as _string_list
from bot.tutor.yamlnodes import unknown_keys as _unknown_keys

__all__ = [
    "QuestionType",
    "MarkingPoint",
    "Question",
    "Topic",
    "Glossary",
    "QuestionBank",
    "load_bank",
    "load_glossary",
    "load_topic",
    "merge_topics",
    "POLL_QUESTION_MAX",
    "POLL_OPTION_MAX",
    "POLL_EXPLANATION_MAX",
    "MAX_FILE_BYTES",
]

# Telegram's quiz-poll limits (Bot API sendPoll).
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_EXPLANATION_MAX = 200
MAX_POINTS = 8
MIN_OPTIONS, MAX_OPTIONS = 2, 10
LEVELS = (1, 2, 3)  # optional `level:` on a question: recall, explain/apply, scenario/evaluate
# Inline buttons carry an option's text; keep it readable on a phone.
BUTTON_OPTION_MAX = 200

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class QuestionType(str, Enum):
    FREE_TEXT = "free_text"
    CHOICE = "choice"


@dataclass(frozen=True)
class MarkingPoint:
    """One creditable idea, in the examiner's words, with other accepted wordings."""

    id: str
    text: str
    accept: tuple[str, ...] = ()


@dataclass(frozen=True)
class Question:
    id: str
    topic: str
    type: QuestionType
    prompt: str
    marking_points: tuple[MarkingPoint, ...] = ()
    pass_mark: int | None = None
    model_answer: str = ""
    explanation: str = ""
    options: tuple[str, ...] = ()
    answer: int | None = None
    unit: str = ""
    source: str = ""  # "file:line", for messages
    # 1 = definition or recall, 2 = explain or apply, 3 = scenario or evaluate.
    # Optional in the YAML; when absent it follows the type (choice 1, free text 2).
    level: int = 0

    def __post_init__(self) -> None:
        if not self.level:
            object.__setattr__(self, "level", 1 if self.type is QuestionType.CHOICE else 2)

    @property
    def is_choice(self) -> bool:
        return self.type is QuestionType.CHOICE

    @property
    def points_needed(self) -> int:
        """Marking points needed for full credit (pass_mark, default all of them)."""
        return self.pass_mark if self.pass_mark is not None else len(self.marking_points)

    @property
    def fits_quiz_poll(self) -> bool:
        """True if Telegram can show this choice question as a native quiz poll."""
        return (
            self.is_choice
            and len(self.prompt) <= POLL_QUESTION_MAX
            and all(len(o) <= POLL_OPTION_MAX for o in self.options)
            and len(self.explanation) <= POLL_EXPLANATION_MAX
        )

    def point(self, point_id: str) -> MarkingPoint | None:
        return next((p for p in self.marking_points if p.id == point_id), None)


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    unit: str
    questions: tuple[Question, ...]
    path: str = ""


@dataclass(frozen=True)
class Glossary:
    """Groups of phrases that mean the same thing in this domain (abbreviations, synonyms)."""

    groups: tuple[tuple[str, ...], ...] = ()

    def merged(self, other: Glossary) -> Glossary:
        return Glossary(self.groups + other.groups)


@dataclass(frozen=True)
class QuestionBank:
    topics: tuple[Topic, ...]
    glossary: Glossary = field(default_factory=Glossary)
    notices: tuple[str, ...] = ()  # valid but worth knowing, e.g. "sent as buttons, not a poll"

    def __post_init__(self) -> None:
        index = {q.id: q for t in self.topics for q in t.questions}
        object.__setattr__(self, "_index", index)

    @property
    def questions(self) -> Mapping[str, Question]:
        return self._index  # type: ignore[attr-defined,no-any-return]

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions.values())

    def get(self, question_id: str) -> Question | None:
        return self.questions.get(question_id)

    def topic(self, slug: str) -> Topic | None:
        return next((t for t in self.topics if t.slug == slug), None)


# --------------------------------------------------------------------------- validation


_TOPIC_KEYS = {"topic", "title", "unit", "questions"}
_COMMON_Q_KEYS = {"id", "type", "prompt", "explanation", "unit", "level"}
_FREE_KEYS = _COMMON_Q_KEYS | {"marking_points", "pass_mark", "model_answer"}
_CHOICE_KEYS = _COMMON_Q_KEYS | {"options", "answer"}
_POINT_KEYS = {"id", "text", "accept"}


def _text(
    m: dict[str, _Node], key: str, out: _Collector, path: str, line: int, *, required: bool, label: str = ""
) -> str:
    node = m.get(key)
    where = f"{label}{_join(path, key)}"
    if node is None or node.value is None:
        if required:
            out.add(node.line if node else line, where, "required field is missing" if node is None else "must not be empty")
        return ""
    if not isinstance(node.value, str):
        out.add(node.line, where, f"expected text, got {_kind(node.value)}")
        return ""
    value = " ".join(node.value.split()) if "\n" not in node.value.strip() else node.value.strip()
    if required and not value:
        out.add(node.line, where, "must not be empty")
    return value


def _slug(
    m: dict[str, _Node], key: str, out: _Collector, path: str, line: int, label: str = ""
) -> str:
    value = _text(m, key, out, path, line, required=True, label=label)
    if value and not _SLUG.match(value):
        out.add(m[key].line, f"{label}{_join(path, key)}", f"{value!r} is not a slug (lower-case letters, digits and single hyphens)")
    return value


def _int(node: _Node, out: _Collector, where: str) -> int | None:
    if isinstance(node.value, bool) or not isinstance(node.value, int):
        out.add(node.line, where, f"expected a whole number, got {_kind(node.value)}")
        return None
    return node.value


def _question(qnode: _Node, index: int, topic: str, unit: str, out: _Collector) -> Question | None:
    path = f"questions[{index}]"
    if not isinstance(qnode.value, dict):
        out.add(qnode.line, path, f"expected a mapping (id, type, prompt, ...), got {_kind(qnode.value)}")
        return None
    m: dict[str, _Node] = qnode.value
    before = len(out.problems)
    qid = _slug(m, "id", out, path, qnode.line)
    label = f"{path} ({qid}) " if qid else f"{path} "
    # The id is reported in the label; fields below use the labelled path.
    qtype_node = m.get("type")
    qtype: QuestionType | None = None
    if qtype_node is None:
        out.add(qnode.line, f"{label}type", "required field is missing (free_text or choice)")
    else:
        try:
            qtype = QuestionType(qtype_node.value)
        except ValueError:
            out.add(qtype_node.line, f"{label}type", f"unknown type {qtype_node.value!r}; expected free_text or choice")
    allowed = _CHOICE_KEYS if qtype is QuestionType.CHOICE else _FREE_KEYS if qtype else _FREE_KEYS | _CHOICE_KEYS
    _unknown_keys(qnode, allowed, out, "", label=label)
    prompt = _text(m, "prompt", out, "", qnode.line, required=True, label=label)
    explanation = _text(m, "explanation", out, "", qnode.line, required=False, label=label)
    q_unit = _text(m, "unit", out, "", qnode.line, required=False, label=label) or unit
    level = 0
    if "level" in m:
        lv = _int(m["level"], out, f"{label}level")
        if lv is not None and lv not in LEVELS:
            out.add(m["level"].line, f"{label}level", f"must be 1 (recall), 2 (explain or apply) or 3 (scenario or evaluate), got {lv}")
        elif lv is not None:
            level = lv

    points: list[MarkingPoint] = []
    pass_mark: int | None = None
    model_answer = ""
    options: tuple[str, ...] = ()
    answer: int | None = None

    if qtype is QuestionType.FREE_TEXT:
        model_answer = _text(m, "model_answer", out, "", qnode.line, required=True, label=label)
        mp = m.get("marking_points")
        if mp is None:
            out.add(qnode.line, f"{label}marking_points", "required field is missing (1 to 8 points)")
        elif not isinstance(mp.value, list):
            out.add(mp.line, f"{label}marking_points", f"expected a list of points, got {_kind(mp.value)}")
        else:
            if not 1 <= len(mp.value) <= MAX_POINTS:
                out.add(mp.line, f"{label}marking_points", f"expected 1 to {MAX_POINTS} points, got {len(mp.value)}")
            seen: dict[str, int] = {}
            for j, pnode in enumerate(mp.value):
                ppath = f"marking_points[{j}]"
                if not isinstance(pnode.value, dict):
                    out.add(pnode.line, f"{label}{ppath}", f"expected a mapping (id, text, accept), got {_kind(pnode.value)}")
                    continue
                pm: dict[str, _Node] = pnode.value
                _unknown_keys(pnode, _POINT_KEYS, out, ppath, label=label)
                pid = _slug(pm, "id", out, ppath, pnode.line, label=label)
                text = _text(pm, "text", out, ppath, pnode.line, required=True, label=label)
                accept: tuple[str, ...] = ()
                if "accept" in pm and pm["accept"].value is not None:
                    accept = _string_list(pm["accept"], out, f"{label}{ppath}.accept") or ()
                if pid:
                    if pid in seen:
                        out.add(pm["id"].line, f"{label}{ppath}.id", f"duplicate marking point id {pid!r} (also marking_points[{seen[pid]}])")
                    seen.setdefault(pid, j)
                points.append(MarkingPoint(pid, text, accept))
        if "pass_mark" in m:
            pass_mark = _int(m["pass_mark"], out, f"{label}pass_mark")
            if pass_mark is not None and not 1 <= pass_mark <= max(len(points), 1):
                out.add(m["pass_mark"].line, f"{label}pass_mark", f"must be between 1 and the number of marking points ({len(points)}), got {pass_mark}")
    elif qtype is QuestionType.CHOICE:
        on = m.get("options")
        if on is None:
            out.add(qnode.line, f"{label}options", f"required field is missing ({MIN_OPTIONS} to {MAX_OPTIONS} options)")
        else:
            options = _string_list(on, out, f"{label}options") or ()
            if options and not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
                out.add(on.line, f"{label}options", f"expected {MIN_OPTIONS} to {MAX_OPTIONS} options, got {len(options)}")
            lowered = [o.casefold() for o in options]
            for k, o in enumerate(lowered):
                if o and o in lowered[:k]:
                    out.add(on.value[k].line, f"{label}options[{k}]", f"duplicate option {options[k]!r}")
            for k, o in enumerate(options):
                if len(o) > BUTTON_OPTION_MAX:
                    out.add(on.value[k].line, f"{label}options[{k}]", f"{len(o)} characters; an option must be at most {BUTTON_OPTION_MAX}")
        an = m.get("answer")
        if an is None:
            out.add(qnode.line, f"{label}answer", "required field is missing (0-based index of the correct option)")
        else:
            answer = _int(an, out, f"{label}answer")
            if answer is not None and options and not 0 <= answer < len(options):
                out.add(an.line, f"{label}answer", f"must be an index from 0 to {len(options) - 1} (0-based), got {answer}")
        # Telegram's quiz-poll limits: a question over them is still valid (it is sent with
        # inline buttons instead of as a poll), but the author is told, naming the field.
        if prompt and len(prompt) > POLL_QUESTION_MAX:
            out.notice(m["prompt"].line, f"{label}prompt", f"{len(prompt)} characters, over the quiz poll's {POLL_QUESTION_MAX}: will be sent as buttons instead of a quiz poll")
        for k, o in enumerate(options):
            if POLL_OPTION_MAX < len(o) <= BUTTON_OPTION_MAX:
                out.notice(on.value[k].line, f"{label}options[{k}]", f"{len(o)} characters, over the quiz poll's {POLL_OPTION_MAX}: will be sent as buttons instead of a quiz poll")  # type: ignore[union-attr]
        if explanation and len(explanation) > POLL_EXPLANATION_MAX:
            out.notice(m["explanation"].line, f"{label}explanation", f"{len(explanation)} characters, over the quiz poll's {POLL_EXPLANATION_MAX}: will be sent as buttons instead of a quiz poll")

    if len(out.problems) > before:
        return None
    assert qtype is not None
    return Question(
        id=qid,
        topic=topic,
        type=qtype,
        prompt=prompt,
        marking_points=tuple(points),
        pass_mark=pass_mark,
        model_answer=model_answer,
        explanation=explanation,
        options=options,
        answer=answer,
        unit=q_unit,
        source=f"{out.display}:{qnode.line}",
        level=level,
    )


def _topic(root: _Node, out: _Collector, display: str) -> Topic | None:
    if not isinstance(root.value, dict):
        out.add(root.line, "", f"the top level must be a mapping with topic, title and questions; got {_kind(root.value)}")
        return None
    m: dict[str, _Node] = root.value
    before = len(out.problems)
    _unknown_keys(root, _TOPIC_KEYS, out, "")
    slug = _slug(m, "topic", out, "", root.line)
    title = _text(m, "title", out, "", root.line, required=True)
    unit = _text(m, "unit", out, "", root.line, required=False)
    qs = m.get("questions")
    questions: list[Question] = []
    if qs is None or qs.value is None:
        out.add(qs.line if qs else root.line, "questions", "required field is missing or empty (a list of questions)")
    elif not isinstance(qs.value, list):
        out.add(qs.line, "questions", f"expected a list of questions, got {_kind(qs.value)}")
    elif not qs.value:
        out.add(qs.line, "questions", "must hold at least one question")
    else:
        for i, qnode in enumerate(qs.value):
            q = _question(qnode, i, slug, unit, out)
            if q is not None:
                questions.append(q)
    if len(out.problems) > before:
        return None
    return Topic(slug, title, unit, tuple(questions), display)


def _glossary(root: _Node, out: _Collector) -> Glossary | None:
    m: dict[str, _Node] = root.value
    _unknown_keys(root, {"glossary"}, out, "")
    g = m["glossary"]
    before = len(out.problems)
    groups: list[tuple[str, ...]] = []
    if not isinstance(g.value, list):
        out.add(g.line, "glossary", "expected a list of groups, each a list of phrases that mean the same")
        return None
    for i, entry in enumerate(g.value):
        items = _string_list(entry, out, f"glossary[{i}]")
        if items is None:
            continue
        if len(items) < 2:
            out.add(entry.line, f"glossary[{i}]", "a group needs at least two phrases that mean the same")
            continue
        groups.append(items)
    return Glossary(tuple(groups)) if len(out.problems) == before else None


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def load_bank(path: str | Path, glossary: Glossary | None = None) -> QuestionBank:
    """Load every topic file under `path` (a file or a folder); all or nothing.

    `glossary` is merged with any glossary file found under `path`.
    Raises ContentError listing every problem found in every file.
    """
    path = Path(path)
    problems: list[str] = []
    if not path.exists():
        raise ContentError([f"{path}: no such file or folder"])
    files = _files(path)
    if not files:
        raise ContentError([f"{path}: no .yaml files found"])
    topics: list[Topic] = []
    notices: list[str] = []
    gloss = glossary or Glossary()
    for file in files:
        out = _Collector(_display(file))
        root = _read_yaml(file, out)
        if root is not None:
            if isinstance(root.value, dict) and "glossary" in root.value and "topic" not in root.value:
                g = _glossary(root, out)
                if g is not None:
                    gloss = gloss.merged(g)
            elif isinstance(root.value, dict) and "lexicon" in root.value and "topic" not in root.value:
                from bot.tutor.grading.lexicon import check_lexicon  # the grader's vocabulary

                check_lexicon(root, out)
            else:
                t = _topic(root, out, out.display)
                if t is not None:
                    topics.append(t)
        problems += out.problems
        notices += out.notices
    _cross_file_checks(topics, problems)
    if problems:
        raise ContentError(problems)
    if not topics:
        raise ContentError([f"{path}: no topic files found (only a glossary)"])
    return QuestionBank(tuple(topics), gloss, tuple(notices))


def load_glossary(path: str | Path) -> Glossary:
    """Load just the glossary files under `path` (topic files are ignored)."""
    path = Path(path)
    problems: list[str] = []
    gloss = Glossary()
    for file in _files(path) if path.exists() else []:
        out = _Collector(_display(file))
        root = _read_yaml(file, out)
        if root is not None and isinstance(root.value, dict) and "glossary" in root.value and "topic" not in root.value:
            g = _glossary(root, out)
            if g is not None:
                gloss = gloss.merged(g)
            problems += out.problems
    if problems:
        raise ContentError(problems)
    return gloss


def _cross_file_checks(topics: list[Topic], problems: list[str]) -> None:
    seen_topics: dict[str, str] = {}
    for t in topics:
        if t.slug in seen_topics:
            problems.append(f"{t.path} topic: duplicate topic {t.slug!r} (also in {seen_topics[t.slug]})")
        seen_topics.setdefault(t.slug, t.path)
    seen_q: dict[str, str] = {}
    for t in topics:
        for i, q in enumerate(t.questions):
            if q.id in seen_q:
                problems.append(f"{q.source} questions[{i}] ({q.id}) id: duplicate question id (also at {seen_q[q.id]}); ids must be unique across all files")
            seen_q.setdefault(q.id, q.source)


def load_topic(data: bytes, display: str) -> Topic:
    """One topic file's bytes (an upload), checked as `load_bank` checks a file; `display` names it in errors.

    Raises ContentError with every problem (a glossary file is refused: topics only).
    """
    out = _Collector(display)
    root = _read_yaml_bytes(data, out)
    topic = None
    if root is not None:
        if isinstance(root.value, dict) and "glossary" in root.value and "topic" not in root.value:
            out.add(None, "", "a glossary file can't be uploaded here; send a topic file (topic, title, questions)")
        else:
            topic = _topic(root, out, display)
    if out.problems or topic is None:
        raise ContentError(out.problems or [f"{display}: not a topic file"])
    return topic


def merge_topics(bank: QuestionBank, topics: Iterable[Topic]) -> QuestionBank:
    """`bank` with each of `topics` added (a new slug) or replacing the topic of that slug whole.

    Raises ContentError if a question id would then appear twice.
    """
    new = {t.slug: t for t in topics}
    merged = [new.pop(t.slug, t) for t in bank.topics] + list(new.values())
    problems: list[str] = []
    _cross_file_checks(merged, problems)
    if problems:
        raise ContentError(problems)
    return QuestionBank(tuple(merged), bank.glossary, bank.notices)

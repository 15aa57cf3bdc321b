"""Teaching the grader a wording from an accepted claim: which words to learn, and when to refuse.

`wording_for` picks the sentence of the learner's answer that carries the missed point (an
accept phrase is matched within one sentence). `refusal` says why the grader must not learn
it, or None: a wording with no content words beyond the question's prompt is no evidence;
one whose addition would credit the echoed prompt, a bare list of the question's keywords,
a negated form of the point, or another point's text would teach the grader a false credit.
Only the grader's public API is used (`Grader.grade(question, answer)`), so any grader that
takes accept wordings from the question works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import yaml

from bot.tutor.bank import MarkingPoint, Question, QuestionBank
from bot.tutor.grading import Grader
from bot.tutor.live import overlay
from bot.tutor.models import LearnedAccept

__all__ = ["wording_for", "refusal", "content_words", "export_patch", "WORDING_MAX"]

WORDING_MAX = 200
_WORD = re.compile(r"[a-z0-9%£$]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_STOP = frozenset("""
a an the and or but if so of to in on at by for with from as is are was were be been being it its this that these
those there their they them we you your i me my he she his her our us not no yes do does did done can could would
should will shall may might must have has had having than then also just very really about into over under up out
what which who whom when where why how all any each some such more most other own same only too one ones
""".split())
# Words in almost every contact-centre answer: they name who is involved, not an idea (no evidence alone).
_WEAK = frozenset("""
customer customers caller callers call calls agent agents contact centre center team staff company business service
person people thing things way ways make get give take say said tell told just well good
""".split())


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """The stems of `text`'s words that carry meaning (no function words)."""
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and w not in _WEAK}


def wording_for(answer: str, point: MarkingPoint, evidence: Iterable[str] = ()) -> str:
    """The sentence of `answer` to learn for `point`: not one that earned another point, the most on-topic."""
    used = {" ".join(e.split()).lower() for e in evidence if e.strip()}
    sentences = [" ".join(p.split()) for p in _SENTENCE.split(answer) if p.strip()]
    left = [p for p in sentences if p.lower() not in used] or sentences
    target = content_words(" ".join((point.text, *point.accept)))
    best = max(left, key=lambda p: (len(content_words(p) & target), len(content_words(p))), default="")
    return best.rstrip(".;!? ")[:WORDING_MAX]


def _earns(grader: Grader, question: Question, point_id: str, text: str) -> bool:
    marking = grader.grade(question, text)
    return any(r.earned for r in marking.points if r.point.id == point_id)


def refusal(grader: Grader, question: Question, point_id: str, wording: str, answer: str) -> str | None:
    """Why `wording` must not become an accept of `point_id` on `question` (as marked now), or None."""
    point = question.point(point_id)
    if point is None:
        return "that marking point is no longer in the question"
    if not wording.strip():
        return "the answer has no words to learn"
    beyond = content_words(wording) - content_words(question.prompt)
    if not beyond:
        return ("it's too generic to be evidence: it says nothing the question itself doesn't "
                "(no content words beyond the prompt's)")
    taught = overlay(question, {point_id: (wording,)})

    def newly(text: str) -> bool:
        return _earns(grader, taught, point_id, text) and not _earns(grader, question, point_id, text)

    if newly(question.prompt):
        return "it would credit an answer that only repeats the question"
    keywords = sorted(content_words(" ".join((question.prompt, *(p.text for p in question.marking_points)))))
    if newly(", ".join(keywords)):
        return "it would credit a bare list of the question's keywords"
    for negated in (f"Do not {point.text[0].lower()}{point.text[1:]}", f"It is not true that {point.text}",
                    f"You don't need to {point.text[0].lower()}{point.text[1:]}"):
        if newly(negated):
            return f"it would credit the opposite of the point (“{negated[:80]}”)"
    for other in question.marking_points:
        if other.id != point_id and any(newly(t) for t in (other.text, *other.accept)):
            return f"it would also credit another point's wording (“{other.text[:80]}”)"
    if not _earns(grader, taught, point_id, answer):
        return "the grader still wouldn't credit this answer with it (the wording is mostly the question's own words)"
    return None


def export_patch(bank: QuestionBank, learned: Sequence[LearnedAccept]) -> str:
    """Learned wordings as a YAML patch for content authors: per marking point, the file and the wordings to add."""
    groups: dict[tuple[str, str], list[str]] = {}
    for la in learned:
        groups.setdefault((la.question_id, la.point_id), []).append(la.wording)
    entries = []
    for (qid, pid), wordings in groups.items():
        q = bank.get(qid)
        entries.append({"file": q.source.rsplit(":", 1)[0] if q and q.source else "(question no longer in the bank)",
                        "question": qid, "point": pid,
                        "point_text": (q.point(pid).text if q and q.point(pid) else ""),  # type: ignore[union-attr]
                        "accept": list(dict.fromkeys(wordings))})
    head = ("# Accept wordings tutors taught the grader from learners' claims (python -m bot accepts export).\n"
            "# Merge each into the `accept:` list of that marking point in that file, then run check-content.\n")
    return head + yaml.safe_dump(entries, allow_unicode=True, sort_keys=False, width=100)

"""Turning engine replies into text, shared by the shell (plain) and Telegram (HTML).

`escape` is the identity for the shell and `html.escape` for Telegram; `bold` likewise.
Every piece of learner or content text passes through `escape`.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.tutor.replies import AskQuestion, Feedback, Message

__all__ = ["message_text", "question_text", "feedback_text", "split_text", "TELEGRAM_TEXT_MAX"]

TELEGRAM_TEXT_MAX = 4096
Fmt = Callable[[str], str]


def _plain(s: str) -> str:
    return s


def message_text(m: Message, escape: Fmt = _plain, bold: Fmt = _plain) -> str:
    body = escape(m.text)
    return f"{bold(escape(m.title))}\n{body}" if m.title else body


def question_text(a: AskQuestion, escape: Fmt = _plain, bold: Fmt = _plain, numbered_options: bool = True) -> str:
    q = a.question
    lines = [bold(escape(a.header)), "", escape(q.prompt)]
    if q.is_choice and numbered_options:
        lines.append("")
        lines += [f"{i + 1}. {escape(o)}" for i, o in enumerate(a.options)]  # in this learner's order
    elif not q.is_choice:
        lines += ["", "✍️ Type your answer in your own words."]
    return "\n".join(lines)


def feedback_text(f: Feedback, escape: Fmt = _plain, bold: Fmt = _plain) -> str:
    m = f.marking
    score = f"{m.earned}/{m.needed}" if m.earned <= m.needed else f"{m.earned} (needed {m.needed})"
    head = "Full marks! 🎉" if m.passed else ("Partly there." if m.earned else "Not this time.")
    lines = [f"{bold(escape(head))} Points: {score}", ""]
    if f.shown:  # "I don't know — show me": nothing was marked, so no ✅/❌
        lines = [bold(escape("Here's what the examiner looks for:")), ""]
    for p in m.points:
        mark = "•" if f.shown else "✅" if p.earned else "🤔" if p.maybe else "❌"
        lines.append(f"{mark} {escape(p.point.text)}")
    if not f.shown and m.advice:  # a list where the question asks to explain, a shotgun
        lines += ["", f"💡 {escape(m.advice)}"]
    if not f.shown and m.maybe_points:  # the grader's "probably": a hint, never a mark
        lines += ["", f"🤔 Your answer may cover {'this point' if len(m.maybe_points) == 1 else 'these points'}: "
                      "compare it with the model answer below, and tap “I was right” if it does."]
    lines += ["", bold("Model answer:"), escape(f.question.model_answer)]
    if f.question.explanation:
        lines += ["", bold("Why:"), escape(f.question.explanation)]
    if f.note:
        lines += ["", f"ℹ️ {escape(f.note)}"]
    return "\n".join(lines)


def split_text(text: str, limit: int = TELEGRAM_TEXT_MAX, seps: tuple[str, ...] = ("\n\n", "\n")) -> list[str]:
    """Split on paragraph boundaries (then lines, then hard) so each part fits `limit`."""
    if len(text) <= limit:
        return [text]
    if not seps:
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    sep, finer = seps[0], seps[1:]
    parts: list[str] = []
    current = ""
    for piece in text.split(sep):
        candidate = f"{current}{sep}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        *whole, current = split_text(piece, limit, finer)  # the last chunk may take the next piece
        parts += whole
    if current:
        parts.append(current)
    return parts

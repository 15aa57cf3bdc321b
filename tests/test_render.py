"""Splitting long replies: every part fits, nothing is lost, paragraphs are kept whole when they fit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.channels.render import split_text

lines = st.text(alphabet="abc ", max_size=150)
paragraphs = st.lists(lines, min_size=1, max_size=5).map("\n".join)
texts = st.lists(paragraphs, min_size=1, max_size=8).map("\n\n".join)


@given(texts, st.integers(min_value=10, max_value=300))
def test_parts_fit_and_keep_every_character(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_paragraphs_that_fit_are_not_broken() -> None:
    text = "\n\n".join(["a" * 40, "b" * 40, "c" * 40])
    assert split_text(text, 90) == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]

"""The button codec: one declaration per kind of button encodes its action and decodes it again.

A button's data is `prefix:arg1:arg2`, at most 64 bytes (Telegram's callback-data limit).
Each `Kind` names the action type, its prefix and the fields it carries, in order (the last
field takes the rest, so `remind:19:30` is `Remind("19:30")`); a kind with `const` carries
a fixed word instead (`forget:yes`). Data no kind decodes is junk or from an old version:
`decode` returns None and the channel says the button has expired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from bot.tutor.actions import (
    Action, AllTopics, BroadcastConfirm, BroadcastCancel, BroadcastPick, CancelForget, Choose, CloseCohort,
    CohortExamSet, ConfirmForget, Dashboard, Extra, Leave, Next, Override, Remind, RotateCode, SetExam, ShowAnswer,
    Stats, Stop, ToggleTopic,
)

__all__ = ["Kind", "KINDS", "encode", "decode", "DATA_MAX"]

DATA_MAX = 64  # bytes


@dataclass(frozen=True)
class Kind:
    """A kind of button: `prefix` and the `fields` of `action` it carries (or a `const` word)."""

    prefix: str
    action: type[Any]
    fields: tuple[str, ...] = ()
    const: str | None = None
    check: Callable[[Any], bool] = lambda action: True  # a decoded action that fails it is junk

    def encode(self, action: Any) -> str:
        arg = self.const if self.const is not None else ":".join(str(getattr(action, f)) for f in self.fields)
        return f"{self.prefix}:{arg}"

    def decode(self, arg: str) -> Action | None:
        if self.const is not None:
            return self.action() if arg == self.const else None
        if not self.fields:
            return self.action() if arg == "" else None
        parts = arg.split(":", len(self.fields) - 1)
        if len(parts) != len(self.fields):
            return None
        hints = get_type_hints(self.action)
        values: dict[str, object] = {}
        for name, raw in zip(self.fields, parts):
            if hints[name] in (int, int | None):
                if not (raw.isascii() and raw.isdecimal() and len(raw) <= 18):
                    return None
                values[name] = int(raw)
            else:
                values[name] = raw
        action = self.action(**values)
        return action if self.check(action) else None


def _key_like(action: Choose | ShowAnswer) -> bool:
    return len(action.key) == 8 and all(c in "0123456789abcdef" for c in action.key)


KINDS: tuple[Kind, ...] = (
    Kind("next", Next),
    Kind("extra", Extra),
    Kind("stop", Stop),
    Kind("stats", Stats),
    Kind("override", Override, ("review_id",)),
    Kind("choose", Choose, ("key", "option"), check=_key_like),
    Kind("show", ShowAnswer, ("key",), check=_key_like),
    Kind("exam", SetExam, ("arg",)),
    Kind("cexam", CohortExamSet, ("cohort_id", "day")),
    Kind("topic", AllTopics, const="*"),
    Kind("topic", ToggleTopic, ("slug",), check=lambda a: bool(a.slug)),
    Kind("forget", ConfirmForget, const="yes"),
    Kind("forget", CancelForget, const="no"),
    Kind("remind", Remind, ("arg",)),
    Kind("leave", Leave, ("cohort_id",)),
    Kind("rotate", RotateCode, ("cohort_id",)),
    Kind("close", CloseCohort, ("cohort_id",)),
    Kind("dash", Dashboard, ("cohort_id",)),
    Kind("bcpick", BroadcastPick, ("cohort_id",)),
    Kind("bcyes", BroadcastConfirm, ("broadcast_id",)),
    Kind("bcno", BroadcastCancel, ("broadcast_id",)),
)
_BY_TYPE = {k.action: k for k in KINDS}
_BY_PREFIX: dict[str, list[Kind]] = {}
for _kind in KINDS:
    _BY_PREFIX.setdefault(_kind.prefix, []).append(_kind)


def encode(action: Action) -> str | None:
    """The button data for `action`; None if no button carries it or it would exceed DATA_MAX bytes."""
    kind = _BY_TYPE.get(type(action))
    if kind is None:
        return None
    data = kind.encode(action)
    return data if len(data.encode()) <= DATA_MAX else None


def decode(data: str) -> Action | None:
    """The action behind button data; None for junk (or a button from an older version)."""
    if len(data.encode()) > DATA_MAX:
        return None
    prefix, _, arg = data.partition(":")
    for kind in _BY_PREFIX.get(prefix, ()):
        action = kind.decode(arg)
        if action is not None:
            return action
    return None

"""One exception tree for the tutor.

    TutorError
    ├── ConfigError          bad settings; every problem listed, exit code 2
    ├── ContentError         a broken question bank; every problem, each naming file:line
    └── StoreError           the database refused or is unreachable
        └── NotFound         a row that should exist does not (stale ids, forged callbacks)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["TutorError", "ConfigError", "ContentError", "StoreError", "NotFound"]


class TutorError(Exception):
    """Base class for every error the tutor raises on purpose."""


class _ProblemList(TutorError):
    """An error that carries a list of problems and prints them one per line."""

    heading = "problems"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        lines = [f"{n} {self.heading}{'' if n == 1 else 's'}:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(_ProblemList):
    """Settings from the environment are invalid. `problems` lists each one."""

    heading = "configuration problem"


class ContentError(_ProblemList):
    """The question bank is invalid. `problems` lists each one as `file:line path: message`."""

    heading = "content error"


class StoreError(TutorError):
    """The store could not do what was asked."""


class NotFound(StoreError):
    """A row that was asked for does not exist (or belongs to someone else)."""

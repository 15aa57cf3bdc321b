"""The layout's rules, checked on the source: no import cycles, the core stays pure, channels reach only the engine."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """module -> every module it imports, anywhere in the file (function-local imports too)."""
    graph: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        graph[_module(path)] = found
    return graph


def _internal(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {i for i in deps if i in graph and i != m} for m, deps in graph.items()}


def test_no_import_cycles_in_bot_including_function_local_imports() -> None:
    graph = _internal(_imports())
    # a package's __init__ re-exporting its own modules is not a cycle between rooms
    graph = {m: {d for d in deps if not m.startswith(f"{d}.")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []


def test_the_core_imports_no_telegram_no_sql_and_no_asyncio() -> None:
    for module, deps in _imports().items():
        if module.startswith("bot.tutor"):
            bad = {d for d in deps if d.split(".")[0] in ("telegram", "sqlalchemy", "alembic", "psycopg", "asyncio")
                   or d.startswith(("bot.store", "bot.channels", "bot.runtime", "bot.app"))}
            assert not bad, (module, bad)


def test_channels_never_import_the_store() -> None:
    for module, deps in _imports().items():
        if module.startswith("bot.channels"):
            assert not {d for d in deps if d.startswith("bot.store") or d.split(".")[0] == "sqlalchemy"}, module


def test_no_module_is_a_god_file() -> None:
    # The store (one cohesive class: every query in one place) excepted.
    allowed = {"bot.store.store"}
    for path in BOT.rglob("*.py"):
        if _module(path) not in allowed:
            assert len(path.read_text(encoding="utf-8").splitlines()) <= 620, path

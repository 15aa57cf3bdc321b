"""The first-round grader, as it was on `main` before issue 12, for comparison only.

Not a copy in the tree: `load()` takes `bot/tutor/grading.py` and `bot/tutor/text.py` from git
history (commit ROUND1), writes them as a throwaway package and imports it, so the baseline can't
drift and no code is duplicated. Needs the repository's history (not a shallow clone).
Never imported by the bot.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROUND1 = "6258e86"  # main when issue 12 was filed
ROOT = Path(__file__).resolve().parent.parent
_PACKAGE = "round1_grader"


def _source(name: str) -> str:
    try:
        return subprocess.run(["git", "show", f"{ROUND1}:bot/tutor/{name}.py"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"the first-round grader comes from git history ({ROUND1}): {exc}") from exc


def load() -> ModuleType:
    """The first-round `grading` module (its `Grader` takes a glossary, as it did)."""
    if f"{_PACKAGE}.grading" in sys.modules:
        return sys.modules[f"{_PACKAGE}.grading"]
    pkg = Path(tempfile.mkdtemp(prefix="round1-")) / _PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "text.py").write_text(_source("text"))
    (pkg / "grading.py").write_text(_source("grading").replace("from bot.tutor.text import", "from .text import"))
    sys.path.insert(0, str(pkg.parent))
    return importlib.import_module(f"{_PACKAGE}.grading")

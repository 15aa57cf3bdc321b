"""Command line: `python -m bot {run,shell,grade,check-content,migrate,...}`.

Every subcommand has its own `--help`. Errors a user can fix (settings, content) print
a clear message and exit with 2 (settings) or 1 (content, grading errors), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings, load_settings
from bot.errors import ConfigError, ContentError, TutorError

__all__ = ["main"]


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_check_content(args: argparse.Namespace) -> int:
    from bot.tutor.bank import load_bank

    path = Path(args.path) if args.path else _settings().content_dir
    try:
        bank = load_bank(path)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    for notice in bank.notices:
        print(f"note: {notice}")
    kinds = Counter(q.type.value for q in bank)
    print(f"{path}: {len(bank.topics)} topics, {len(bank)} questions "
          f"({kinds['free_text']} free text, {kinds['choice']} choice), "
          f"{len(bank.glossary.groups)} glossary groups")
    for t in bank.topics:
        c = Counter(q.type.value for q in t.questions)
        print(f"  {t.slug:<14} {len(t.questions):>3} questions  "
              f"{c['free_text']:>3} free text  {c['choice']:>3} choice   {t.title}")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from bot.tutor.bank import load_bank, load_glossary
    from bot.tutor.grading import Grader

    try:
        bank = load_bank(args.content)
        glossary = bank.glossary
        bundled = _settings().content_dir
        if Path(args.content).resolve() != bundled.resolve() and bundled.exists():
            glossary = load_glossary(bundled).merged(glossary)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    grader = Grader(glossary)  # with the learned stage unless GRADER_MODEL=off (or no onnxruntime)
    failed = False
    source = sys.stdin if args.answers == "-" else open(args.answers, encoding="utf-8")
    with source:
        for lineno, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                print(json.dumps({"line": lineno, "error": f"invalid JSON: {exc}"}))
                failed = True
                continue
            out: dict[str, object] = {"id": row.get("id"), "question": row.get("question")}
            question = bank.get(str(row.get("question")))
            answer = row.get("answer")
            if question is None:
                out["error"] = f"unknown question id {row.get('question')!r}"
            elif not isinstance(answer, str):
                out["error"] = "answer must be a string"
            elif question.is_choice:
                out["error"] = "choice question: batch grading is for free-text answers"
            else:
                marking = grader.grade(question, answer)
                out["hits"] = list(marking.hits)
                out["score"] = round(marking.score, 4)
                if args.explain:
                    out["maybe"] = [p.id for p in marking.maybe_points]
                    out["advice"] = marking.advice  # why a list earned nothing, or ""
                    out["explain"] = [
                        {"point": r.point.id, "earned": r.earned, "maybe": r.maybe, "stage": r.stage,
                         "rule": r.rule, "confidence": round(r.confidence, 3), "borderline": r.borderline,
                         "evidence": r.evidence}
                        for r in marking.points]
            failed = failed or "error" in out
            print(json.dumps(out, ensure_ascii=False))
    return 1 if failed else 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from bot.store import Store

    settings = _settings()
    url = args.db or settings.database_url
    Store.open(url, migrate=True, **settings.store_options()).close()
    print(f"{_redact(url)}: schema is up to date")
    return 0


def _cmd_accepts(args: argparse.Namespace) -> int:
    from bot.store import Store
    from bot.tutor.bank import load_bank
    from bot.tutor.learning import export_patch

    settings = _settings()
    try:
        bank = load_bank(settings.content_dir)
    except ContentError as exc:
        print(exc, file=sys.stderr)
        return 1
    store = Store.open(args.db or settings.database_url)
    try:
        learned = store.learned_accepts()
        if not learned:
            print("no learned wordings to export")
            return 0
        Path(args.out).write_text(export_patch(bank, learned), encoding="utf-8")
        if not args.keep:
            store.withdraw_learned([la.id for la in learned])
        print(f"{len(learned)} learned wording(s) written to {args.out}"
              + ("" if args.keep else " and removed from the database"))
    finally:
        store.close()
    return 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _cmd_shell(args: argparse.Namespace) -> int:
    from bot.app import run_shell

    return run_shell(_settings(), user=args.user, db=args.db, tutor=args.tutor)


def _cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.telegram_bot_token:
        print(
            "TELEGRAM_BOT_TOKEN is not set: get one from @BotFather, then "
            "TELEGRAM_BOT_TOKEN=123:ABC python -m bot run (or try `python -m bot shell`).",
            file=sys.stderr,
        )
        return 2
    from bot.app import run_bot

    return run_bot(settings)


def _cmd_try(args: argparse.Namespace) -> int:
    """The README's try-it command: the real bot with a token, else the shell."""
    settings = _settings()
    if settings.telegram_bot_token:
        return _cmd_run(args)
    print("No TELEGRAM_BOT_TOKEN set: starting the terminal shell on the bundled content.\n")
    from bot.app import run_shell

    return run_shell(settings, user=None, db=None, tutor=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="NVQ contact-centre revision tutor: Telegram bot, terminal shell and content tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the Telegram bot (long polling, or a webhook if WEBHOOK_URL is set)",
                       description="Run the Telegram bot. Needs TELEGRAM_BOT_TOKEN; WEBHOOK_URL switches to webhook mode.")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("try", help="the bot if TELEGRAM_BOT_TOKEN is set, otherwise the terminal shell",
                       description="Try the tutor: runs the bot when a token is set, else the terminal shell.")
    p.set_defaults(func=_cmd_try)

    p = sub.add_parser("shell", help="the tutor in this terminal (no Telegram needed)",
                       description="The whole tutor in a terminal, on the same engine and store. Reads standard input, so a session can be piped in.")
    p.add_argument("--user", help="learner name (progress is kept per name; default: your login name)")
    p.add_argument("--db", help="database URL (default: DATABASE_URL or the SQLite file under ./data/)")
    p.add_argument("--tutor", action="store_true", help="also allow tutor commands (cohorts, broadcast, dashboard)")
    p.set_defaults(func=_cmd_shell)

    p = sub.add_parser("grade", help="grade a JSONL file of answers (batch marking, for measuring the grader)",
                       description="Grade answers in bulk with the bot's grader. Each input line: {id, question, answer}. "
                                   "Each output line, in input order: {id, question, hits, score} or {id, question, error}.")
    p.add_argument("--content", required=True, help="a content YAML file or a folder of them")
    p.add_argument("--answers", required=True, help="JSONL file of answers ('-' for standard input)")
    p.add_argument("--explain", action="store_true",
                   help="also print, per point, the deciding stage and rule, a confidence, and whether it is "
                        "borderline or a 'may cover' hint (keys 'explain' and 'maybe'), and why a list "
                        "of terms earned nothing (key 'advice')")
    p.set_defaults(func=_cmd_grade)

    p = sub.add_parser("check-content", help="check the question bank and print a summary, or every error",
                       description="Load the question bank and print every problem (exit 1) or a summary (exit 0).")
    p.add_argument("path", nargs="?", help="a content file or folder (default: CONTENT_DIR)")
    p.set_defaults(func=_cmd_check_content)

    p = sub.add_parser("accepts", help="learned accept wordings: `accepts export` writes them as a YAML patch")
    p.add_argument("action", choices=["export"])
    p.add_argument("--out", default="learned-accepts.yaml", help="the patch file to write (default %(default)s)")
    p.add_argument("--db", help="database URL (default DATABASE_URL)")
    p.add_argument("--keep", action="store_true", help="keep them in the database (default: delete once written)")
    p.set_defaults(func=_cmd_accepts)

    p = sub.add_parser("migrate", help="create or upgrade the database schema (also done at start-up)",
                       description="Run the Alembic migrations against DATABASE_URL (or --db).")
    p.add_argument("--db", help="database URL (default: DATABASE_URL)")
    p.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except TutorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

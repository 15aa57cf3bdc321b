"""Settings: one frozen dataclass read from the environment (and an optional `.env`).

`load_settings(environ)` never does I/O beyond reading the optional `.env` file the
caller names; it checks every value and raises one `ConfigError` listing all problems.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import ConfigError

__all__ = ["Settings", "load_settings", "PROJECT_ROOT", "DEFAULT_CONTENT_DIR"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONTENT_DIR = PROJECT_ROOT / "content"
DEFAULT_DATA_DIR = Path("data")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Settings:
    """Everything the tutor needs to know about its surroundings."""

    telegram_bot_token: str | None = None
    telegram_base_url: str | None = None
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'tutor.sqlite3'}"
    content_dir: Path = DEFAULT_CONTENT_DIR
    tutor_admin_ids: frozenset[int] = field(default_factory=frozenset)
    default_timezone: str = "Europe/London"
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = None
    send_rate: float = 25.0
    desired_retention: float = 0.9
    new_per_day: int = 10

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _read_dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Build Settings from `environ` (default: os.environ) over an optional `.env` file.

    Raises ConfigError listing every bad value.
    """
    env: dict[str, str] = _read_dotenv(dotenv) if dotenv is not None else {}
    env.update(os.environ if environ is None else environ)
    problems: list[str] = []
    values: dict[str, object] = {}

    def get(name: str) -> str | None:
        raw = env.get(name)
        return raw.strip() if raw is not None and raw.strip() else None

    token = get("TELEGRAM_BOT_TOKEN")
    if token is not None and (":" not in token or not token.split(":", 1)[0].isdecimal()):
        problems.append("TELEGRAM_BOT_TOKEN: expected the form 123456:ABC... from @BotFather")
    values["telegram_bot_token"] = token

    for name, attr in (("TELEGRAM_BASE_URL", "telegram_base_url"), ("WEBHOOK_URL", "webhook_url")):
        url = get(name)
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append(f"{name}: expected an http(s) URL, got {url!r}")
        values[attr] = url

    db = get("DATABASE_URL")
    if db is not None:
        scheme = db.split(":", 1)[0].split("+", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            problems.append(f"DATABASE_URL: expected sqlite:///PATH or postgresql://..., got scheme {scheme!r}")
        if db.startswith("postgres://"):
            db = "postgresql://" + db[len("postgres://") :]
        if db.startswith("postgresql://"):
            db = "postgresql+psycopg://" + db[len("postgresql://") :]
        values["database_url"] = db

    content = get("CONTENT_DIR")
    if content is not None:
        values["content_dir"] = Path(content)

    admins = get("TUTOR_ADMIN_IDS")
    if admins is not None:
        ids: set[int] = set()
        for part in admins.replace(";", ",").replace(" ", ",").split(","):
            if not part:
                continue
            if part.lstrip("-").isdecimal():
                ids.add(int(part))
            else:
                problems.append(f"TUTOR_ADMIN_IDS: {part!r} is not a Telegram user id (digits)")
        values["tutor_admin_ids"] = frozenset(ids)

    tz = get("DEFAULT_TIMEZONE")
    if tz is not None:
        try:
            ZoneInfo(tz)
            if tz not in available_timezones() and tz != "UTC":
                raise ZoneInfoNotFoundError(tz)
            values["default_timezone"] = tz
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"DEFAULT_TIMEZONE: {tz!r} is not an IANA time zone such as Europe/London")

    level = get("LOG_LEVEL")
    if level is not None:
        if level.upper() not in _LEVELS:
            problems.append(f"LOG_LEVEL: expected one of {', '.join(_LEVELS)}, got {level!r}")
        else:
            values["log_level"] = level.upper()

    listen = get("WEBHOOK_LISTEN")
    if listen is not None:
        values["webhook_listen"] = listen
    secret = get("WEBHOOK_SECRET")
    if secret is not None:
        if not all(c.isalnum() or c in "_-" for c in secret) or not 1 <= len(secret) <= 256:
            problems.append("WEBHOOK_SECRET: 1-256 characters, only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        values["webhook_secret"] = secret

    def number(name: str, attr: str, kind: type, lo: float, hi: float) -> None:
        raw = get(name)
        if raw is None:
            return
        try:
            val = kind(raw)
        except ValueError:
            problems.append(f"{name}: expected a number, got {raw!r}")
            return
        if not lo <= val <= hi:
            problems.append(f"{name}: expected {lo:g} to {hi:g}, got {raw}")
            return
        values[attr] = val

    number("WEBHOOK_PORT", "webhook_port", int, 1, 65535)
    number("SEND_RATE", "send_rate", float, 0.1, 1000)
    number("DESIRED_RETENTION", "desired_retention", float, 0.7, 0.99)
    number("NEW_PER_DAY", "new_per_day", int, 0, 1000)

    if problems:
        raise ConfigError(problems)
    return Settings(**values)  # type: ignore[arg-type]


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level; quiet the HTTP client's per-request lines."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

"""Settings: one frozen dataclass read from the environment (and an optional `.env`).

`load_settings(environ)` never does I/O beyond reading the optional `.env` file the
caller names; it checks every value and raises one `ConfigError` listing all problems.
"""

from __future__ import annotations

import logging
import os
import re
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
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # Telegram's rule for secret_token


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
    # Database timeouts in seconds (PostgreSQL: connect, statement, lock; SQLite: busy wait).
    db_connect_timeout: float = 5.0
    db_statement_timeout: float = 15.0
    db_lock_timeout: float = 5.0
    db_busy_timeout: float = 30.0
    retention_days: int = 730  # inactive learners are erased after this many days (0: never)
    outbox_retry_hours: float = 2.0  # keep retrying Telegram 5xx/network errors this long
    log_libraries: bool = False  # LOG_LIBRARIES=1: let PTB/httpx/SQLAlchemy log at DEBUG too

    @property
    def telegram_api_base_url(self) -> str | None:
        """PTB's `base_url` (the token is appended to it): `<server root>/bot`."""
        return f"{self.telegram_base_url}/bot" if self.telegram_base_url else None

    @property
    def telegram_file_base_url(self) -> str | None:
        """PTB's `base_file_url`: `<server root>/file/bot`."""
        return f"{self.telegram_base_url}/file/bot" if self.telegram_base_url else None

    def store_options(self) -> dict[str, float]:
        """Keyword arguments for `Store.open` (timeouts)."""
        return {"connect_timeout": self.db_connect_timeout, "statement_timeout": self.db_statement_timeout,
                "lock_timeout": self.db_lock_timeout, "busy_timeout": self.db_busy_timeout}

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
            elif name == "TELEGRAM_BASE_URL":
                url = _bot_api_root(url, problems)
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
        if not _WEBHOOK_SECRET.fullmatch(secret):  # ASCII only: str.isalnum() would pass "é" or "٣"
            problems.append("WEBHOOK_SECRET: 1-256 characters, only A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        values["webhook_secret"] = secret
    elif values.get("webhook_url"):
        problems.append("WEBHOOK_SECRET: required when WEBHOOK_URL is set (webhook mode would accept forged "
                        "updates from anyone); set 1-256 characters of A-Z, a-z, 0-9, _ and -, e.g. the "
                        "output of: python -c \"import secrets; print(secrets.token_urlsafe(32))\"")

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

    libs = get("LOG_LIBRARIES")
    if libs is not None:
        if libs.lower() not in ("1", "0", "true", "false", "yes", "no"):
            problems.append(f"LOG_LIBRARIES: expected 1 or 0, got {libs!r}")
        values["log_libraries"] = libs.lower() in ("1", "true", "yes")

    number("WEBHOOK_PORT", "webhook_port", int, 1, 65535)
    number("SEND_RATE", "send_rate", float, 0.1, 1000)
    number("DESIRED_RETENTION", "desired_retention", float, 0.7, 0.99)
    number("NEW_PER_DAY", "new_per_day", int, 0, 1000)
    number("DB_CONNECT_TIMEOUT", "db_connect_timeout", float, 1, 300)
    number("DB_STATEMENT_TIMEOUT", "db_statement_timeout", float, 0.1, 3600)
    number("DB_LOCK_TIMEOUT", "db_lock_timeout", float, 0.1, 3600)
    number("DB_BUSY_TIMEOUT", "db_busy_timeout", float, 0.1, 3600)
    number("RETENTION_DAYS", "retention_days", int, 0, 36500)
    number("OUTBOX_RETRY_HOURS", "outbox_retry_hours", float, 0.01, 168)

    if problems:
        raise ConfigError(problems)
    return Settings(**values)  # type: ignore[arg-type]


def _bot_api_root(url: str, problems: list[str]) -> str:
    """TELEGRAM_BASE_URL as the server root, whichever form was given.

    Accepts the root (`http://host:8081`) and PTB's `base_url` form (`http://host:8081/bot`), with
    or without a trailing slash; a path prefix (a reverse proxy's `/tg`) is kept.
    """
    root = url.rstrip("/")
    path = urlparse(root).path
    if re.search(r"/bot\d+:", path + "/") or re.search(r"/bot\d+:", root):
        problems.append("TELEGRAM_BASE_URL: leave the bot token out (the token comes from TELEGRAM_BOT_TOKEN)")
        return root
    if path.endswith("/file/bot"):
        root = root[: -len("/file/bot")]
    elif path.endswith("/bot"):
        root = root[: -len("/bot")]
    return root


# Libraries that log personal data or the bot token at DEBUG: whole updates and the API URL
# with the token (telegram), request lines (httpx, httpcore), SQL (sqlalchemy).
_CHATTY_LIBRARIES = ("telegram", "httpx", "httpcore", "sqlalchemy", "apscheduler")


class _RedactToken(logging.Filter):
    """Replaces the bot token wherever it would appear in a log line (URLs, reprs, tracebacks)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        return True


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level, keeping personal data and the token out.

    The HTTP client's per-request lines stay at WARNING, and at LOG_LEVEL=DEBUG the chatty
    libraries stay at INFO unless LOG_LIBRARIES=1; the bot token is redacted from every line.
    """
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.log_level == "DEBUG" and not settings.log_libraries:
        for name in _CHATTY_LIBRARIES:
            if name != "httpx":
                logging.getLogger(name).setLevel(logging.INFO)
    if settings.telegram_bot_token:
        redact = _RedactToken(settings.telegram_bot_token)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _RedactToken) for f in handler.filters):
                handler.addFilter(redact)

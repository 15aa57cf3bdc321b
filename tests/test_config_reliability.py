"""Issue 14 settings: a webhook needs a secret, TELEGRAM_BASE_URL in either form, timeouts, retention."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings, configure_logging, load_settings
from bot.errors import ConfigError

TOKEN = "123:abc"


def settings(**env: str) -> Settings:
    return load_settings(env, dotenv=None)


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(env, dotenv=None)
    return list(err.value.problems)


def test_webhook_without_a_secret_refuses_to_start_naming_webhook_secret() -> None:
    found = problems(TELEGRAM_BOT_TOKEN=TOKEN, WEBHOOK_URL="https://bot.example.org/telegram")
    assert len(found) == 1 and found[0].startswith("WEBHOOK_SECRET:") and "WEBHOOK_URL" in found[0]


def test_webhook_with_a_good_secret_is_accepted() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN, WEBHOOK_URL="https://bot.example.org/telegram",
                 WEBHOOK_SECRET="Abc_123-" + "x" * 248)
    assert s.webhook_secret is not None and len(s.webhook_secret) == 256


def test_polling_needs_no_secret() -> None:
    assert settings(TELEGRAM_BOT_TOKEN=TOKEN).webhook_secret is None


@pytest.mark.parametrize("secret", ["has space", "x" * 257, "dot.dot", "caf\u00e9", "\u0663\u0664", "semi;colon"])
def test_webhook_secret_outside_telegrams_charset_is_refused(secret: str) -> None:
    found = problems(WEBHOOK_URL="https://bot.example.org/t", WEBHOOK_SECRET=secret)
    assert [p.split(":")[0] for p in found] == ["WEBHOOK_SECRET"]


@pytest.mark.parametrize("given", [
    "http://127.0.0.1:8081", "http://127.0.0.1:8081/", "http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/bot/",
])
def test_telegram_base_url_accepts_the_root_and_ptbs_base_url_form(given: str) -> None:
    s = settings(TELEGRAM_BASE_URL=given)
    assert s.telegram_base_url == "http://127.0.0.1:8081"
    assert s.telegram_api_base_url == "http://127.0.0.1:8081/bot"
    assert s.telegram_file_base_url == "http://127.0.0.1:8081/file/bot"


def test_telegram_base_url_keeps_a_proxy_prefix() -> None:
    s = settings(TELEGRAM_BASE_URL="https://proxy.example.org/tg/bot")
    assert s.telegram_api_base_url == "https://proxy.example.org/tg/bot"
    assert s.telegram_file_base_url == "https://proxy.example.org/tg/file/bot"


def test_telegram_base_url_with_the_token_in_it_is_refused() -> None:
    found = problems(TELEGRAM_BASE_URL="http://127.0.0.1:8081/bot123:abc")
    assert found[0].startswith("TELEGRAM_BASE_URL:") and "token" in found[0]


def test_no_base_url_means_ptb_defaults() -> None:
    s = settings()
    assert s.telegram_api_base_url is None and s.telegram_file_base_url is None


def test_database_timeouts_and_retention_have_sane_defaults_and_are_settable() -> None:
    s = settings()
    assert s.store_options() == {"connect_timeout": 5.0, "statement_timeout": 15.0, "lock_timeout": 5.0,
                                 "busy_timeout": 30.0}
    assert s.retention_days == 730 and s.outbox_retry_hours == 2.0
    s = settings(DB_CONNECT_TIMEOUT="2", DB_STATEMENT_TIMEOUT="30", DB_LOCK_TIMEOUT="1.5", DB_BUSY_TIMEOUT="10",
                 RETENTION_DAYS="365", OUTBOX_RETRY_HOURS="6")
    assert s.store_options() == {"connect_timeout": 2.0, "statement_timeout": 30.0, "lock_timeout": 1.5,
                                 "busy_timeout": 10.0}
    assert s.retention_days == 365 and s.outbox_retry_hours == 6.0


def test_bad_timeouts_and_retention_are_listed() -> None:
    found = problems(DB_CONNECT_TIMEOUT="0", DB_STATEMENT_TIMEOUT="soon", RETENTION_DAYS="-1")
    assert [p.split(":")[0] for p in found] == ["DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT", "RETENTION_DAYS"]


def _fresh_root() -> tuple[list[logging.Handler], int, dict[str, int]]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in
                                             ("telegram", "httpx", "httpcore", "sqlalchemy", "apscheduler")})
    root.handlers = []
    return saved


def _restore(saved: tuple[list[logging.Handler], int, dict[str, int]]) -> None:
    root = logging.getLogger()
    root.handlers, level, names = saved[0], saved[1], saved[2]
    root.setLevel(level)
    for n, lv in names.items():
        logging.getLogger(n).setLevel(lv)


def test_debug_keeps_libraries_quiet_and_the_token_out_of_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    token = "123456:SECRETtokenXYZ"
    saved = _fresh_root()
    try:
        configure_logging(settings(TELEGRAM_BOT_TOKEN=token, LOG_LEVEL="DEBUG"))
        logging.getLogger("telegram.ext.ExtBot").debug("Set Bot API URL: http://x/bot%s", token)
        logging.getLogger("telegram.ext.Updater").debug("update: %s", {"from": {"first_name": "Amira"}})
        logging.getLogger("bot.channels").info("calling http://x/bot%s/getMe", token)
        try:
            raise RuntimeError(f"http://x/bot{token}/sendMessage failed")
        except RuntimeError:
            logging.getLogger("bot.sender").exception("send failed")
        logging.getLogger("bot.tutor").debug("our own debug line")
    finally:
        for h in logging.getLogger().handlers:
            h.flush()
        _restore(saved)
    err = capsys.readouterr().err
    assert token not in err and "<token>" in err
    assert "Amira" not in err and "Set Bot API URL" not in err
    assert "our own debug line" in err


def test_log_libraries_opt_in() -> None:
    saved = _fresh_root()
    try:
        configure_logging(settings(LOG_LEVEL="DEBUG", LOG_LIBRARIES="1"))
        assert logging.getLogger("telegram").getEffectiveLevel() == logging.DEBUG
    finally:
        _restore(saved)

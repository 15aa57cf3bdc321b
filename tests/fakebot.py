"""A fake Telegram Bot API server on loopback, for driving a real PTB Application over HTTP.

    fake = FakeBotAPI()
    await fake.start()
    app = ApplicationBuilder().token(fake.token).base_url(fake.base_url).build()
    async with running(app):             # initialize, start, poll (and stop/shutdown after)
        fake.send_text(USER, "/start")   # inject an update; the app fetches it with getUpdates
        [call] = await fake.wait_for("sendMessage", chat_id=USER.id)
        assert "Welcome" in call.text
    await fake.close()

It implements the methods the bot uses, parses JSON, form and multipart bodies, records
every request (`fake.calls`), returns realistic result objects, and enforces Telegram's
limits (text length after entity parsing, HTML tags, callback data, polls): a violation is
answered with 400 like Telegram and recorded in `fake.violations`, so a test can assert
there were none. `fake.fail(...)` makes the next N calls of a method (or to a chat) fail
with any error (400, 403 blocked, 429 with retry_after); `RateLimit` adds Telegram-like
flood limits for bulk-sending benchmarks.

Fixtures: `fakebot` (a started server, closed afterwards). Import it in a test module:
`from tests.fakebot import fakebot  # noqa: F401`.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

__all__ = ["FakeBotAPI", "Call", "User", "RateLimit", "running", "fakebot", "SEND_METHODS"]

SEND_METHODS = frozenset({"sendMessage", "sendPoll", "sendPhoto", "sendDocument", "copyMessage",
                          "editMessageText", "editMessageReplyMarkup", "sendChatAction"})
TEXT_MAX, CAPTION_MAX, CALLBACK_DATA_MAX = 4096, 1024, 64
POLL_QUESTION_MAX, POLL_OPTION_MAX, POLL_EXPLANATION_MAX = 300, 100, 200
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code",
                 "pre", "blockquote", "tg-emoji"}
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
# Values that are strings even if they look like JSON (PTB sends str values raw, others as JSON).
_STRING_PARAMS = {"text", "caption", "question", "explanation", "parse_mode", "callback_query_id", "url",
                  "secret_token", "inline_message_id", "explanation_parse_mode", "question_parse_mode",
                  "description", "short_description", "name", "title", "emoji", "business_connection_id"}


@dataclass(frozen=True)
class User:
    """A Telegram user for injected updates (their private chat id is their user id)."""

    id: int
    first_name: str = "Learner"
    last_name: str | None = None
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        return d

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0
    status: int = 200
    error: str = ""  # the description when the fake answered with an error

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None and str(value).lstrip("-").isdigit() else None

    @property
    def text(self) -> str:
        """What the user sees: the text, caption or poll question, with HTML tags and entities parsed."""
        raw = str(self.params.get("text") or self.params.get("caption") or self.params.get("question") or "")
        return raw if "question" in self.params else _visible(raw, self.params.get("parse_mode"))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) for every inline button, row by row."""
        markup = self.params.get("reply_markup") or {}
        return [(b.get("text", ""), b.get("callback_data", "")) for row in markup.get("inline_keyboard", [])
                for b in row]


@dataclass(frozen=True)
class RateLimit:
    """Telegram-like flood limits on sending methods: `overall` per second, `per_chat` per second."""

    overall: int = 30
    per_chat: int = 1
    window: float = 1.0


@dataclass
class _Failure:
    method: str | None
    chat_id: int | None
    times: int
    status: int
    description: str
    retry_after: int | None


class FakeBotAPI:
    """The Bot API on 127.0.0.1 (random port). See the module docstring."""

    def __init__(self, token: str = "123456:TEST-token", *, username: str = "tutor_test_bot",
                 rate_limit: RateLimit | None = None, latency: float = 0.0) -> None:
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Tutor", "username": username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False}
        self.username = username
        self.rate_limit = rate_limit
        self.latency = latency  # seconds added to every call but getUpdates (a network round trip)
        self.calls: list[Call] = []
        self.violations: list[Call] = []
        self.webhook: dict[str, Any] = {}
        self.commands: list[dict[str, Any]] = []
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._poll_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._failures: list[_Failure] = []
        self.uploads: dict[str, bytes] = {}  # file_id -> bytes a user sent (getFile, then the download)
        self._sent_times: deque[float] = deque()
        self._chat_times: dict[int, deque[float]] = defaultdict(deque)
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        self._closed = False
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> FakeBotAPI:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._closed = True
        self._wake_updates()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The server root: pass it as Settings.telegram_base_url."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder().base_url(...)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    # ------------------------------------------------------------------ injecting updates

    def inject(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update of `kind` ("message", "callback_query", "poll_answer", ...); returns its id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: payload})
        self._wake_updates()
        return update_id

    def message_dict(self, user: User, text: str | None = None, *, chat: dict[str, Any] | None = None,
                     **extra: Any) -> dict[str, Any]:
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "from": user.to_dict(), "date": int(time.time()),
                               "chat": chat or {"id": user.id, "type": "private", "first_name": user.first_name}}
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        msg.update(extra)
        return msg

    def send_text(self, user: User, text: str, *, chat: dict[str, Any] | None = None) -> int:
        """The learner sends a text message (a command gets its bot_command entity, as from Telegram)."""
        return self.inject("message", self.message_dict(user, text, chat=chat))

    def send_document(self, user: User, file_name: str, data: bytes, *, size: int | None = None) -> int:
        """The user sends a document (`size`: the file_size Telegram reports, default len(data))."""
        file_id = f"doc-{next(self._file_ids)}"
        self.uploads[file_id] = data
        return self.inject("message", self.message_dict(user, document={
            "file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name,
            "mime_type": "application/yaml", "file_size": len(data) if size is None else size}))

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.uploads:
            return web.Response(status=404)
        return web.Response(body=self.uploads[file_id])

    def _m_getFile(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        file_id = str(p["file_id"])
        if file_id not in self.uploads:
            return None
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(self.uploads[file_id]),
                "file_path": f"documents/{file_id}"}

    def send_sticker(self, user: User) -> int:
        return self.inject("message", self.message_dict(user, sticker={
            "file_id": "sticker-1", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "emoji": "👍"}))

    def edit_text(self, user: User, message_id: int, text: str) -> int:
        msg = self.message_dict(user, text)
        msg["message_id"] = message_id
        msg["edit_date"] = int(time.time())
        return self.inject("edited_message", msg)

    def press(self, user: User, data: str, message: dict[str, Any] | None = None) -> int:
        """The learner taps an inline button with `data` (on `message`, by default a bot message in their chat)."""
        message = message or {"message_id": next(self._message_ids), "date": int(time.time()), "text": "…",
                               "from": self.bot_user, "chat": {"id": user.id, "type": "private"}}
        return self.inject("callback_query", {"id": f"cbq-{next(self._update_ids)}", "from": user.to_dict(),
                                              "chat_instance": f"ci-{user.id}", "data": data, "message": message})

    def answer_poll(self, user: User, poll_id: str, option: int) -> int:
        return self.inject("poll_answer", {"poll_id": poll_id, "user": user.to_dict(), "option_ids": [option],
                                           "option_persistent_ids": [str(option)]})

    def member_status(self, user: User, status: str, old: str = "member") -> int:
        """my_chat_member in the learner's private chat: "kicked" when they block the bot, "member" again."""
        def member(s: str) -> dict[str, Any]:
            d: dict[str, Any] = {"status": s, "user": self.bot_user}
            if s == "kicked":
                d["until_date"] = 0
            return d
        return self.inject("my_chat_member", {"chat": {"id": user.id, "type": "private"}, "from": user.to_dict(),
                                              "date": int(time.time()), "old_chat_member": member(old),
                                              "new_chat_member": member(status)})

    def update_dict(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An update that is not queued (for POSTing to a webhook)."""
        return {"update_id": next(self._update_ids), kind: payload}

    # ------------------------------------------------------------------ errors

    def fail(self, method: str | None = None, *, status: int = 400, description: str = "Bad Request: test",
             times: int = 1, chat_id: int | None = None, retry_after: int | None = None) -> None:
        """Answer the next `times` calls of `method` (any if None) to `chat_id` (any if None) with an error."""
        self._failures.append(_Failure(method, chat_id, times, status, description, retry_after))

    def block(self, chat_id: int, times: int = 1) -> None:
        self.fail(None, status=403, description="Forbidden: bot was blocked by the user", times=times,
                  chat_id=chat_id)

    def flood(self, method: str, retry_after: int = 1, *, times: int = 1, chat_id: int | None = None) -> None:
        self.fail(method, status=429, description=f"Too Many Requests: retry after {retry_after}", times=times,
                  chat_id=chat_id, retry_after=retry_after)

    # ------------------------------------------------------------------ looking at what happened

    def mark(self) -> int:
        """A position in `calls`: pass it as `since=` to look only at later calls."""
        return len(self.calls)

    def find(self, method: str | Iterable[str] | None = None, *, chat_id: int | None = None, since: int = 0,
             ok: bool | None = True) -> list[Call]:
        return [c for c in self.calls[since:] if _matches(c, method, chat_id, ok)]

    def sent(self, chat_id: int | None = None, *, since: int = 0) -> list[Call]:
        """Successful sends (messages, polls, photos, documents, edits)."""
        return self.find(SEND_METHODS, chat_id=chat_id, since=since)

    async def wait_for(self, method: str | Iterable[str] | None = None, *, chat_id: int | None = None,
                       count: int = 1, since: int = 0, ok: bool | None = True, timeout: float = 10.0,
                       where: Callable[[Call], bool] | None = None) -> list[Call]:
        """Wait (at most `timeout` s) until `count` matching calls were made after `since`; return them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: list[Call] = []
        checked = since
        while True:
            end = len(self.calls)  # only the new calls are looked at on each wake-up
            found += [c for c in self.calls[checked:end]
                      if _matches(c, method, chat_id, ok) and (where is None or where(c))]
            checked = end
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [(c.method, c.status, c.text[:60]) for c in self.calls[since:]]
                raise TimeoutError(f"expected {count} {method} call(s) to {chat_id}; got {len(found)}; "
                                   f"calls since {since}: {seen}")
            self._new_call.clear()
            if len(self.calls) > checked:
                continue
            try:
                await asyncio.wait_for(self._new_call.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def acknowledged(self, update_id: int) -> bool:
        """True once the bot has fetched (and confirmed with a later offset or the queue) `update_id`."""
        return all(u["update_id"] > update_id for u in self._updates) and self._fetched >= update_id

    # ------------------------------------------------------------------ the server

    _fetched = 0

    def _wake_updates(self) -> None:
        event, self._new_update = self._new_update, asyncio.Event()
        event.set()

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params, files = await _read_params(request)
        call = Call(method, params, files, at=time.monotonic())
        self.calls.append(call)
        try:
            return await self._respond(call)
        finally:
            self._new_call.set()

    async def _respond(self, call: Call) -> web.Response:
        if call.method == "getUpdates":
            failure = self._take_failure(call)  # e.g. 409 Conflict: another process is polling
            return failure if failure is not None else _ok(await self._get_updates(call.params))
        if self.latency:
            await asyncio.sleep(self.latency)
        failure = self._take_failure(call) or self._check_limits(call) or self._rate_limited(call)
        if failure is not None:
            return failure
        handler = getattr(self, f"_m_{call.method}", None)
        if handler is None:
            call.status, call.error = 404, "Not Found: method not found"
            return _error(404, call.error)
        return _ok(handler(call.params, call.files))

    def _take_failure(self, call: Call) -> web.Response | None:
        for f in self._failures:
            if f.times > 0 and f.method in (None, call.method) and f.chat_id in (None, call.chat_id):
                if f.method is None and call.method not in SEND_METHODS and call.method != "answerCallbackQuery":
                    continue
                f.times -= 1
                call.status, call.error = f.status, f.description
                return _error(f.status, f.description, f.retry_after)
        return None

    def _rate_limited(self, call: Call) -> web.Response | None:
        if self.rate_limit is None or call.method not in SEND_METHODS:
            return None
        now, limit = time.monotonic(), self.rate_limit
        times = self._sent_times
        chat = self._chat_times[call.chat_id or 0]
        for q in (times, chat):
            while q and q[0] <= now - limit.window:
                q.popleft()
        if len(times) >= limit.overall or len(chat) >= limit.per_chat:
            call.status, call.error = 429, "Too Many Requests: retry after 1"
            return _error(429, call.error, 1)
        times.append(now)
        chat.append(now)
        return None

    def _check_limits(self, call: Call) -> web.Response | None:
        problem = _limit_problem(call.method, call.params)
        if problem is None:
            return None
        call.status, call.error = 400, f"Bad Request: {problem}"
        self.violations.append(call)
        return _error(400, call.error)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()  # confirmed by the new offset
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                break
        batch = list(itertools.islice(self._updates, limit))
        if batch:
            self._fetched = max(self._fetched, batch[-1]["update_id"])
        return batch

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = ({"id": chat_id, "type": "private", "first_name": "Learner"} if chat_id > 0
                else {"id": chat_id, "type": "supergroup", "title": "Group"})
        msg = {"message_id": next(self._message_ids), "from": self.bot_user, "chat": chat, "date": int(time.time()),
               **content}
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        return msg

    def _file(self, files: dict[str, bytes], name: str) -> tuple[str, int]:
        data = files.get(name, b"")
        return f"file-{next(self._file_ids)}", len(data)

    # Methods (named after the Bot API; each returns the result object).

    def _m_getMe(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self.bot_user

    def _m_logOut(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    def _m_close(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    def _m_deleteWebhook(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.webhook = {}
        if p.get("drop_pending_updates") in (True, "true", "True"):
            self._updates.clear()
        return True

    def _m_setWebhook(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.webhook = dict(p)
        return True

    def _m_getWebhookInfo(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}

    def _m_setMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.commands = list(p.get("commands") or [])
        return True

    def _m_deleteMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        self.commands = []
        return True

    def _m_getMyCommands(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self.commands

    def _m_sendMessage(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return self._message(p, text=_visible(p.get("text", ""), p.get("parse_mode")))

    def _m_sendChatAction(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True

    def _m_copyMessage(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return {"message_id": next(self._message_ids)}

    def _m_sendPoll(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        options = [{"text": o["text"] if isinstance(o, dict) else str(o), "voter_count": 0, "persistent_id": str(i)}
                   for i, o in enumerate(p["options"])]
        poll: dict[str, Any] = {
            "id": f"poll-{next(self._poll_ids)}", "question": p["question"], "options": options,
            "total_voter_count": 0, "is_closed": False, "is_anonymous": p.get("is_anonymous") not in (False, "false"),
            "type": p.get("type", "regular"), "allows_multiple_answers": False,
            "allows_revoting": p.get("allows_revoting") in (True, "true"), "members_only": False}
        correct = _correct_options(p)
        if correct:
            poll["correct_option_ids"] = correct
        if p.get("explanation"):
            poll["explanation"] = p["explanation"]
        return self._message(p, poll=poll)

    def _m_sendPhoto(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        file_id, size = self._file(f, "photo")
        return self._message(p, photo=[{"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600,
                                        "file_size": size}], **_caption(p))

    def _m_sendDocument(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        file_id, size = self._file(f, "document")
        return self._message(p, document={"file_id": file_id, "file_unique_id": file_id, "file_size": size,
                                          "file_name": p.get("_filename_document", "file")}, **_caption(p))

    def _m_editMessageText(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        msg = self._message(p, text=_visible(p.get("text", ""), p.get("parse_mode")), edit_date=int(time.time()))
        msg["message_id"] = int(p["message_id"])
        return msg

    def _m_editMessageReplyMarkup(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        msg = self._message(p, text="…", edit_date=int(time.time()))
        msg["message_id"] = int(p["message_id"])
        return msg

    def _m_answerCallbackQuery(self, p: dict[str, Any], f: dict[str, bytes]) -> Any:
        return True


# ---------------------------------------------------------------------------- helpers


def _matches(c: Call, method: str | Iterable[str] | None, chat_id: int | None, ok: bool | None) -> bool:
    if method is not None and (c.method != method if isinstance(method, str) else c.method not in method):
        return False
    return (chat_id is None or c.chat_id == chat_id) and (ok is None or c.ok == ok)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


def _decode(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    ctype = request.content_type
    if ctype == "application/json":
        body = await request.json() if request.can_read_body else {}
        params.update(body or {})
        return params, files
    if ctype == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if part.name is None:
                continue
            if part.filename is not None:  # type: ignore[union-attr]
                files[part.name] = await part.read()  # type: ignore[union-attr]
                params[f"_filename_{part.name}"] = part.filename  # type: ignore[union-attr]
            else:
                params[part.name] = await part.text()  # type: ignore[union-attr]
    elif request.can_read_body:
        params.update(await request.post())
    # PTB attaches files as attach://name references; resolve them to the parameter they fill.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            files[key] = files[value[9:]]
            if f"_filename_{value[9:]}" in params:
                params[f"_filename_{key}"] = params[f"_filename_{value[9:]}"]
    return {k: (_decode(k, v) if isinstance(v, str) and not k.startswith("_") else v)
            for k, v in params.items()}, files


def _visible(text: str, parse_mode: str | None) -> str:
    """The text a user would see: tags removed and entities decoded for HTML."""
    if (parse_mode or "").upper() != "HTML":
        return text
    return html.unescape(_TAG.sub("", text))


def _html_problem(text: str) -> str | None:
    """Telegram's HTML parser refuses unknown tags, unbalanced tags and bare < or &."""
    stack: list[str] = []
    pos = 0
    for m in _TAG.finditer(text):
        bad_amp = _bare_amp(text[pos:m.start()])
        if bad_amp:
            return bad_amp
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag not in _ALLOWED_TAGS:
            return f"can't parse entities: Unsupported start tag \"{tag}\""
        if closing:
            if not stack or stack.pop() != tag:
                return f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        else:
            stack.append(tag)
        pos = m.end()
    rest = text[pos:]
    if stack:
        return f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
    return _bare_amp(rest)


def _bare_amp(chunk: str) -> str | None:
    if "<" in chunk:
        return "can't parse entities: unexpected '<'"
    for i, ch in enumerate(chunk):
        if ch == "&" and not _ENTITY.match(chunk, i):
            return "can't parse entities: Character '&' is reserved and must be escaped"
    return None


def _correct_options(p: dict[str, Any]) -> list[int]:
    """Bot API 9.6 `correct_option_ids`, or the older single `correct_option_id`."""
    if p.get("correct_option_ids") is not None:
        return [int(c) for c in p["correct_option_ids"]]
    return [int(p["correct_option_id"])] if p.get("correct_option_id") is not None else []


def _caption(p: dict[str, Any]) -> dict[str, Any]:
    return {"caption": _visible(p["caption"], p.get("parse_mode"))} if p.get("caption") else {}


def _limit_problem(method: str, p: dict[str, Any]) -> str | None:
    """Telegram's limits for the parameters of `method`; None if they are respected."""
    for key in ("text", "caption"):
        value = p.get(key)
        if isinstance(value, str):
            if (p.get("parse_mode") or "").upper() == "HTML":
                problem = _html_problem(value)
                if problem:
                    return problem
            visible = _visible(value, p.get("parse_mode"))
            limit = TEXT_MAX if key == "text" else CAPTION_MAX
            if key == "text" and not visible.strip():
                return "message text is empty"
            if len(visible) > limit:
                return f"message is too long ({key}: {len(visible)} > {limit})"
    markup = p.get("reply_markup")
    if isinstance(markup, dict):
        for row in markup.get("inline_keyboard", []):
            for b in row:
                data = b.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_MAX:
                    return "BUTTON_DATA_INVALID"
                if not b.get("text"):
                    return "text buttons are unallowed in the inline keyboard"
    if method == "sendPoll":
        question = str(p.get("question", ""))
        options = p.get("options") or []
        texts = [o["text"] if isinstance(o, dict) else str(o) for o in options]
        if not 1 <= len(question) <= POLL_QUESTION_MAX:
            return "POLL_QUESTION_INVALID"
        if not 2 <= len(texts) <= 10:
            return "POLL_ANSWERS_INVALID"
        if any(not 1 <= len(t) <= POLL_OPTION_MAX for t in texts):
            return "POLL_OPTION_INVALID"
        if len(str(p.get("explanation") or "")) > POLL_EXPLANATION_MAX:
            return "POLL_EXPLANATION_INVALID"  # (parse mode not used for explanations here)
        if p.get("type") == "quiz":
            correct = _correct_options(p)
            if not correct or not all(0 <= c < len(texts) for c in correct):
                return "QUIZ_CORRECT_ANSWER_INVALID"
    if method == "answerCallbackQuery" and len(str(p.get("text") or "")) > 200:
        return "MESSAGE_TOO_LONG"
    return None


# ---------------------------------------------------------------------------- running an Application


@asynccontextmanager
async def running(app: Any, *, poll_timeout: int = 1) -> AsyncIterator[Any]:
    """initialize → start → long polling on the fake; then stop polling, stop, shutdown."""
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    try:
        await app.updater.start_polling(poll_interval=0, timeout=timedelta(seconds=poll_timeout))
        await app.start()
        try:
            yield app
        finally:
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
    finally:
        if app.post_stop is not None:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


@pytest_asyncio.fixture
async def fakebot(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeBotAPI]:
    """A started fake server. PTB_TIMEDELTA=true: PTB's time periods (RetryAfter.retry_after) are
    timedeltas, as in its next major version, instead of ints with a deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake = await FakeBotAPI().start()
    try:
        yield fake
    finally:
        await fake.close()

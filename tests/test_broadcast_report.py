"""The final broadcast report through the real Application: sent once, retried if posting it fails, and its
"Resend to the failed" button queues the failed copies again (findings 5, 11)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from bot.store import Store
from bot.tutor.bank import QuestionBank
from tests.fakebot import FakeBotAPI
from tests.test_bulk_telegram import TUTOR, add_members, app_for, db, fake, run_job, say  # noqa: F401
from tests.fakebot import running


async def test_final_report_is_sent_once_retried_and_offers_resend_to_the_failed(
        fake: FakeBotAPI, db: Store, bank: QuestionBank) -> None:  # noqa: F811
    app = app_for(fake, db, bank, lambda: datetime.now(timezone.utc))
    async with running(app):
        await say(fake, TUTOR, "/newcohort Resend")
        cohort = db.cohorts()[0]
        add_members(db, cohort.id, 5)
        fake.fail("copyMessage", chat_id=50_003, status=400, description="Bad Request: message to copy not found")
        tutor = db.find_learner("telegram", str(TUTOR.id))
        assert tutor is not None
        bid = db.create_broadcast(cohort.id, tutor.id, datetime.now(timezone.utc))
        db.set_broadcast_message(bid, TUTOR.id, 77, "hello")
        assert db.start_broadcast(bid, datetime.now(timezone.utc)) == 5
        db.set_progress_message(bid, TUTOR.id, 1)
        start = fake.mark()
        app.bot_data["sender"].wake()
        await fake.wait_for("copyMessage", since=start, count=4)
        while db.outbox_pending():
            await asyncio.sleep(0.1)
        fake.fail("sendMessage", chat_id=TUTOR.id, status=502, description="Bad Gateway")
        for _ in range(4):  # finishes the broadcast, posting the report fails, it is tried again, then no more
            await asyncio.sleep(1.05)  # the fake's 1 message a second to one chat
            await run_job(app, "broadcast-progress")
        reports = [c for c in fake.find("sendMessage", chat_id=TUTOR.id, since=start, ok=None)
                   if "Broadcast finished" in c.text]
        assert [c.status for c in reports] == [502, 200]
        assert "4 sent, 0 blocked the bot, 1 failed" in reports[1].text
        assert reports[1].buttons == [("Resend to the failed", f"bcre:{bid}")]
        mark = fake.mark()
        fake.press(TUTOR, f"bcre:{bid}")
        [resending] = await fake.wait_for("sendMessage", chat_id=TUTOR.id, since=mark,
                                          where=lambda c: "Resending to 1 learner" in c.text)
        app.bot_data["sender"].wake()
        [again] = await fake.wait_for("copyMessage", chat_id=50_003, since=mark)
        assert again.ok
    assert db.outbox_counts(bid) == {"sent": 5}

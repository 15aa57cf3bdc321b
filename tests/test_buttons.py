"""The button codec: every kind encodes and decodes back to the same action, within 64 bytes; junk is None."""

from __future__ import annotations

import pytest

from bot.tutor import buttons
from bot.tutor.actions import (
    AllTopics, BroadcastCancel, BroadcastConfirm, BroadcastPick, CancelForget, Choose, CloseCohort, CohortExamSet,
    ConfirmForget, Dashboard, Extra, Leave, Next, Override, Remind, RotateCode, SetExam, ShowAnswer, Stats, Stop,
    ToggleTopic, question_key,
)

EXAMPLES = [
    (Next(), "next:"), (Extra(), "extra:"), (Stop(), "stop:"), (Stats(), "stats:"), (Override(42), "override:42"),
    (Choose(question_key("kpi-aht"), 2), f"choose:{question_key('kpi-aht')}:2"), (AllTopics(), "topic:*"),
    (ToggleTopic("kpis"), "topic:kpis"), (ConfirmForget(), "forget:yes"), (CancelForget(), "forget:no"),
    (Remind("18:00"), "remind:18:00"), (Remind("none"), "remind:none"), (Leave(3), "leave:3"),
    (RotateCode(4), "rotate:4"), (CloseCohort(5), "close:5"), (Dashboard(6), "dash:6"), (BroadcastPick(7), "bcpick:7"),
    (BroadcastConfirm(8), "bcyes:8"), (BroadcastCancel(9), "bcno:9"),
    (ShowAnswer(question_key("kpi-aht")), f"show:{question_key('kpi-aht')}"), (SetExam("off"), "exam:off"),
    (CohortExamSet(3, "2027-05-14"), "cexam:3:2027-05-14"), (CohortExamSet(3, "off"), "cexam:3:off"),
]


@pytest.mark.parametrize(("action", "data"), EXAMPLES)
def test_each_kind_encodes_as_before_and_decodes_back(action: object, data: str) -> None:
    assert buttons.encode(action) == data  # type: ignore[arg-type]  # the data of buttons already in chats
    assert buttons.decode(data) == action


def test_every_declared_kind_has_an_example() -> None:
    assert {k.action for k in buttons.KINDS} == {type(a) for a, _ in EXAMPLES}


@pytest.mark.parametrize("junk", ["", "zzz", "next:x", "override:", "override:abc", "override:-1", "override:²",
                                  "choose:123:x", "choose:zzzzzzzz:1", "forget:maybe", "topic:", "leave:",
                                  "x" * 65, "bcyes:1:2", "show:zz", "cexam:x:2027-01-01"])
def test_junk_and_stale_data_decode_to_none(junk: str) -> None:
    assert buttons.decode(junk) is None


def test_an_action_that_would_not_fit_64_bytes_has_no_data() -> None:
    assert buttons.encode(ToggleTopic("t" * 80)) is None
    assert buttons.encode(Remind("x" * 58)) is None and buttons.encode(Remind("x" * 57)) is not None

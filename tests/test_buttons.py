"""The button codec: every kind encodes and decodes back to the same action, within 64 bytes; junk is None."""

from __future__ import annotations

import pytest

from bot.tutor import buttons
from bot.tutor.actions import (
    AllTopics, BroadcastCancel, BroadcastConfirm, BroadcastPick, BroadcastResend, CancelForget, Choose, ClaimAccept, ClaimReject, Claims,
    ClaimSkipReason, CloseCohort, CohortExamSet, ConfirmForget, ContentRollback, Dashboard, Extra, Learned, Leave, Next,
    Override, Remind, RotateCode, SetExam, ShowAnswer, Stats, Stop, ToggleTopic, WithdrawLearned, question_key,
)

EXAMPLES = [
    (Next(), "next:"), (Extra(), "extra:"), (Stop(), "stop:"), (Stats(), "stats:"), (Override(42), "override:42"),
    (Choose(question_key("kpi-aht"), 2), f"choose:{question_key('kpi-aht')}:2"), (AllTopics(), "topic:*"),
    (ToggleTopic("kpis"), "topic:kpis"), (ConfirmForget(), "forget:yes"), (CancelForget(), "forget:no"),
    (Remind("18:00"), "remind:18:00"), (Remind("none"), "remind:none"), (Leave(3), "leave:3"),
    (RotateCode(4), "rotate:4"), (CloseCohort(5), "close:5"), (Dashboard(6), "dash:6"), (BroadcastPick(7), "bcpick:7"),
    (BroadcastConfirm(8), "bcyes:8"), (BroadcastCancel(9), "bcno:9"),
    (BroadcastResend(10), "bcre:10"),
    (ShowAnswer(question_key("kpi-aht")), f"show:{question_key('kpi-aht')}"), (SetExam("off"), "exam:off"),
    (CohortExamSet(3, "2027-05-14"), "cexam:3:2027-05-14"), (CohortExamSet(3, "off"), "cexam:3:off"),
    (Claims(), "claims:"), (ClaimAccept(10, 2), "cacc:10:2:1"), (ClaimAccept(10, 0, 0), "cacc:10:0:0"),
    (ClaimReject(11), "crej:11"), (ClaimSkipReason(12), "cskip:12"), (Learned(), "learned:"),
    (WithdrawLearned(13), "lwd:13"), (ContentRollback(14), "rollback:14"),
]


@pytest.mark.parametrize(("action", "data"), EXAMPLES)
def test_each_kind_encodes_as_before_and_decodes_back(action: object, data: str) -> None:
    assert buttons.encode(action) == data  # type: ignore[arg-type]  # the data of buttons already in chats
    assert buttons.decode(data) == action


def test_every_declared_kind_has_an_example() -> None:
    assert {k.action for k in buttons.KINDS} == {type(a) for a, _ in EXAMPLES}


@pytest.mark.parametrize("junk", ["", "zzz", "next:x", "override:", "override:abc", "override:-1", "override:²",
                                  "choose:123:x", "choose:zzzzzzzz:1", "forget:maybe", "topic:", "leave:",
                                  "x" * 65, "bcyes:1:2", "show:zz", "cexam:x:2027-01-01",
                                  "cacc:1:2", "cacc:1:2:5", "cacc:1:99:1", "crej:x", "rollback:"])
def test_junk_and_stale_data_decode_to_none(junk: str) -> None:
    assert buttons.decode(junk) is None


def test_an_action_that_would_not_fit_64_bytes_has_no_data() -> None:
    assert buttons.encode(ToggleTopic("t" * 80)) is None
    assert buttons.encode(Remind("x" * 58)) is None and buttons.encode(Remind("x" * 57)) is not None


@pytest.mark.parametrize("forged", ["override:99999999999999999999", "override:2147483648", "bcyes:9999999999",
                                    "dash:" + "9" * 40, "choose:00000000:99999999999"])
def test_forged_huge_ids_are_refused_not_raised(forged: str) -> None:
    assert buttons.decode(forged) is None  # a refusal (an expired button), never OverflowError/DataError
    assert buttons.decode("override:2147483647") == Override(2**31 - 1)

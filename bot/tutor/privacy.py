"""What the conversation says about privacy, and which actions show private data (answered in private only)."""

from __future__ import annotations

from bot.tutor.actions import (
    AddTutor, BroadcastCancel, BroadcastConfirm, BroadcastPick, BroadcastResend, BroadcastStart, ClaimAccept,
    ClaimReject, Claims, ClaimSkipReason, CloseCohort, CohortExam, CohortExamSet, ConfirmForget, ContentInfo,
    ContentRollback, Dashboard, Export, Forget, Learned, ListCohorts, NewCohort, RemoveTutor, RotateCode, Stats,
    UploadContent, WithdrawLearned,
)
from bot.tutor.replies import Message

__all__ = ["PRIVACY", "PRIVATE_ONLY", "ASK_IN_PRIVATE", "ALREADY_ANSWERED", "privacy_text", "ask_in_private"]

PRIVACY = (
    "What we store: your Telegram id and name, your answers and marks, your revision "
    "schedule, settings (time zone, reminder time, topics) and any cohorts you join.\n"
    "Why: to mark your answers, schedule your revision and, if you join a cohort, to show "
    "your tutor how the cohort is doing. The lawful basis is legitimate interests in "
    "supporting your training.\n"
    "How long: until you erase it{retention}. Nothing is shared with anyone outside your cohort's tutors "
    "(and the college's admins); our logs hold internal ids only, never your name or answers.\n"
    "Your rights: /mydata downloads everything we hold about you; /forget erases it all."
)
ASK_IN_PRIVATE = "I only show that in our private chat, so nobody else sees your data. Ask me in private: {link}"
# Answered only in a private chat: they show personal data (or other learners').
PRIVATE_ONLY = (Stats, Export, Forget, ConfirmForget, AddTutor, RemoveTutor, NewCohort, ListCohorts, RotateCode,
                CloseCohort, BroadcastStart, BroadcastPick, BroadcastConfirm, BroadcastCancel, BroadcastResend,
                Dashboard, CohortExam, CohortExamSet, Claims, ClaimAccept, ClaimReject, ClaimSkipReason, Learned,
                WithdrawLearned, ContentInfo, ContentRollback, UploadContent)
ALREADY_ANSWERED = "That question has already been answered. Tap Next for a new one."


def privacy_text(retention_days: int) -> str:
    """The privacy notice, with the retention period (RETENTION_DAYS; 0: kept until erased)."""
    retention = (f", or until you have not used the bot for {retention_days} days, when everything about you "
                 "is erased automatically") if retention_days else ""
    return PRIVACY.format(retention=retention)


def ask_in_private(link_base: str | None) -> Message:
    """The answer in a group to an action in PRIVATE_ONLY: a link to the bot's private chat."""
    link = (link_base or "").split("?", 1)[0] or "a private chat with me"
    return Message(ASK_IN_PRIVATE.format(link=link))

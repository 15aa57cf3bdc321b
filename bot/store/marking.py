"""The marking loop's tables: claims a tutor decides, learned accept wordings, content versions, counters.

A mixin of `bot.store.Store` (the same connection helpers); the only SQL for issue 16's loop.
`counters` holds version numbers other replicas poll with one primary-key read: "learned"
moves whenever a learned wording is added or withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import fsrs
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store import schema as s
from bot.tutor.models import Claim, ContentVersion, LearnedAccept

__all__ = ["MarkingTables", "COUNTED_OVERRIDE"]

# An override that counts the review as right: a learner's claim not (yet) rejected, or any accepted one.
COUNTED_OVERRIDE = or_(s.overrides.c.status == "accepted",
                       and_(s.overrides.c.kind == "claim", s.overrides.c.status == "pending"))
LEARNED = "learned"

_latest = (select(func.max(s.reviews.c.id)).where(s.reviews.c.learner_id == s.overrides.c.learner_id,
                                                   s.reviews.c.question_id == s.overrides.c.question_id,
                                                   s.reviews.c.extra.is_(False))
           .correlate(s.overrides).scalar_subquery())
_CLAIMS = (select(s.overrides, s.reviews.c.answer, s.reviews.c.misses, s.reviews.c.rating, s.reviews.c.card_before,
                  s.reviews.c.reviewed_at, s.learners.c.display_name, s.learners.c.chat_id,
                  (_latest == s.overrides.c.review_id).label("latest"))
           .join(s.reviews, s.reviews.c.id == s.overrides.c.review_id)
           .join(s.learners, s.learners.c.id == s.overrides.c.learner_id))


def _claim(row: Any) -> Claim:
    return Claim(row.id, row.review_id, row.learner_id, row.display_name, row.chat_id, row.question_id, row.answer,
                 tuple(row.misses), row.rating, fsrs.Card.from_dict(row.card_before) if row.card_before else None,
                 row.reviewed_at, bool(row.latest), row.kind, row.status, row.created_at, row.decided_by)


def _learned(row: Any) -> LearnedAccept:
    return LearnedAccept(row.id, row.question_id, row.point_id, row.wording, row.learned_by, row.learned_at,
                         row.override_id, row.from_learner)


class MarkingTables:
    """Claims, learned wordings, content versions (mixed into `Store`)."""

    if TYPE_CHECKING:  # provided by Store
        def _read(self) -> AbstractContextManager[Connection]: ...
        def tx(self) -> AbstractContextManager[Connection]: ...

    # ------------------------------------------------------------------ claims

    def flag_maybe(self, review_id: int, learner_id: int, question_id: str, now: datetime) -> None:
        """The grader doubted a miss ("may cover this"): queue the answer for tutors, as a claim would be."""
        with self.tx() as c:
            if c.execute(select(s.overrides.c.id).where(s.overrides.c.review_id == review_id)).first() is None:
                c.execute(insert(s.overrides).values(review_id=review_id, learner_id=learner_id,
                                                     question_id=question_id, created_at=now, kind="maybe"))

    def claims(self, tutor_id: int | None = None, *, status: str = "pending") -> list[Claim]:
        """Claims with `status`, oldest first: of the cohorts `tutor_id` owns (None: everyone's)."""
        q = _CLAIMS.where(s.overrides.c.status == status)
        if tutor_id is not None:
            q = q.where(s.overrides.c.learner_id.in_(
                select(s.memberships.c.learner_id).join(s.cohorts, s.cohorts.c.id == s.memberships.c.cohort_id)
                .where(s.cohorts.c.owner_id == tutor_id)))
        with self._read() as c:
            return [_claim(r) for r in c.execute(q.order_by(s.overrides.c.id)).all()]

    def claim(self, claim_id: int) -> Claim | None:
        with self._read() as c:
            row = c.execute(_CLAIMS.where(s.overrides.c.id == claim_id)).first()
        return _claim(row) if row else None

    def claim_cohort_owners(self, learner_id: int) -> list[int]:
        """The tutors owning a cohort the learner is in (who may decide their claims)."""
        with self._read() as c:
            return [int(o) for o in c.execute(
                select(s.cohorts.c.owner_id).join(s.memberships, s.memberships.c.cohort_id == s.cohorts.c.id)
                .where(s.memberships.c.learner_id == learner_id, s.cohorts.c.owner_id.is_not(None))).scalars()]

    def decide_claim(self, claim_id: int, status: str, tutor_id: int, now: datetime, *,
                     card: tuple[str, fsrs.Card, datetime] | None = None,
                     learn: tuple[str, str, str] | None = None, reason: str | None = None) -> bool:
        """Move a pending claim to `status` (False: no longer pending: another tutor or a stale button).

        `card` (question id, card, due) is written to the learner's card in the same transaction;
        `learn` (question id, point id, wording) is stored as a learned accept and bumps "learned".
        """
        with self.tx() as c:
            row = c.execute(select(s.overrides.c.learner_id).where(s.overrides.c.id == claim_id,
                                                                   s.overrides.c.status == "pending")).first()
            if row is None or not c.execute(update(s.overrides).where(
                    s.overrides.c.id == claim_id, s.overrides.c.status == "pending").values(
                    status=status, decided_by=tutor_id, decided_at=now, reason=reason)).rowcount:
                return False
            if card is not None:
                qid, fcard, due = card
                c.execute(update(s.cards).where(s.cards.c.learner_id == row.learner_id, s.cards.c.question_id == qid)
                          .values(card=dict(fcard.to_dict()), due=due))
            if learn is not None:
                qid, pid, wording = learn
                c.execute(insert(s.learned_accepts).values(question_id=qid, point_id=pid, wording=wording,
                                                           learned_by=tutor_id, learned_at=now, override_id=claim_id,
                                                           from_learner=row.learner_id))
                self._bump(c, LEARNED)
        return True

    def rejecting_claim(self, tutor_id: int) -> Claim | None:
        """The claim this tutor rejected and has not yet given (or skipped) a reason for."""
        with self._read() as c:
            row = c.execute(_CLAIMS.where(s.overrides.c.status == "rejecting", s.overrides.c.decided_by == tutor_id)
                            .order_by(s.overrides.c.id.desc())).first()
        return _claim(row) if row else None

    def finish_rejection(self, claim_id: int, reason: str | None) -> bool:
        with self.tx() as c:
            return bool(c.execute(update(s.overrides).where(s.overrides.c.id == claim_id,
                                                            s.overrides.c.status == "rejecting")
                                  .values(status="rejected", reason=reason)).rowcount)

    # ------------------------------------------------------------------ learned wordings

    def _bump(self, c: Connection, name: str) -> None:
        if not c.execute(update(s.counters).where(s.counters.c.name == name)
                         .values(value=s.counters.c.value + 1)).rowcount:
            c.execute(insert(s.counters).values(name=name, value=1))

    def claim_day(self, name: str, day: date) -> bool:
        """True for the one caller (of any replica) that claims `name` for `day` first: a daily job runs once."""
        value = day.toordinal()
        try:
            with self.tx() as c:
                if c.execute(update(s.counters).where(s.counters.c.name == name, s.counters.c.value < value)
                             .values(value=value)).rowcount:
                    return True
                if c.execute(select(s.counters.c.value).where(s.counters.c.name == name)).first() is not None:
                    return False  # claimed already today (or a later day)
                c.execute(insert(s.counters).values(name=name, value=value))
                return True
        except IntegrityError:  # another replica inserted it first
            return False

    def counter(self, name: str) -> int:
        with self._read() as c:
            return int(c.execute(select(s.counters.c.value).where(s.counters.c.name == name)).scalar_one_or_none()
                       or 0)

    def learned_accepts(self) -> list[LearnedAccept]:
        with self._read() as c:
            return [_learned(r) for r in c.execute(select(s.learned_accepts).order_by(s.learned_accepts.c.id))]

    def learned_version(self) -> int:
        return self.counter(LEARNED)

    def withdraw_learned(self, ids: Sequence[int]) -> int:
        """Delete learned wordings (withdrawn by a tutor, or exported to content/); bumps "learned"."""
        if not ids:
            return 0
        with self.tx() as c:
            n = c.execute(delete(s.learned_accepts).where(s.learned_accepts.c.id.in_(list(ids)))).rowcount
            if n:
                self._bump(c, LEARNED)
        return int(n)

    def forget_in_learned(self, c: Connection, learner_id: int, name: str) -> None:
        """/forget: a learned wording stays only without what identifies the learner (in `forget`'s transaction)."""
        la = s.learned_accepts
        parts = [p for p in name.lower().split() if len(p) >= 3]  # a wording naming them goes
        if parts:
            c.execute(delete(la).where(la.c.from_learner == learner_id, or_(
                *(func.lower(la.c.wording).contains(p, autoescape=True) for p in parts))))
        c.execute(update(la).where(la.c.from_learner == learner_id).values(from_learner=None, override_id=None))
        c.execute(update(la).where(la.c.learned_by == learner_id).values(learned_by=None))
        c.execute(update(s.overrides).where(s.overrides.c.decided_by == learner_id).values(decided_by=None))
        c.execute(update(s.content_versions).where(s.content_versions.c.created_by == learner_id)
                  .values(created_by=None))
        self._bump(c, LEARNED)

    # ------------------------------------------------------------------ content versions

    def content_version(self) -> int:
        """The live version's number (0: the bundled content only)."""
        with self._read() as c:
            return int(c.execute(select(func.max(s.content_versions.c.id)).where(
                s.content_versions.c.rolled_back_at.is_(None))).scalar_one() or 0)

    def content(self, version: int | None = None) -> ContentVersion | None:
        """Version `version` (None: the live one); None for version 0 (the bundled content)."""
        cv = s.content_versions
        q = select(cv).where(cv.c.rolled_back_at.is_(None)).order_by(cv.c.id.desc()) if version is None else (
            select(cv).where(cv.c.id == version))
        with self._read() as c:
            row = c.execute(q).first()
        return ContentVersion(row.id, row.created_at, row.created_by, dict(row.topics), row.summary) if row else None

    def add_content(self, topics: dict[str, str], summary: str, by: int | None, now: datetime,
                    expected: int) -> int | None:
        """A new live version holding `topics`, if the live one is still `expected` (else None: raced)."""
        with self.tx() as c:
            if self._live(c) != expected:
                return None
            return int(c.execute(insert(s.content_versions).values(
                created_at=now, created_by=by, topics=topics, summary=summary[:300])
                .returning(s.content_versions.c.id)).scalar_one())

    def roll_back_content(self, version: int, now: datetime) -> int | None:
        """Retire live version `version` (a stale button: None); returns the version live after it."""
        with self.tx() as c:
            if version == 0 or self._live(c) != version:
                return None
            c.execute(update(s.content_versions).where(s.content_versions.c.id == version)
                      .values(rolled_back_at=now))
            return self._live(c)

    @staticmethod
    def _live(c: Connection) -> int:
        return int(c.execute(select(func.max(s.content_versions.c.id)).where(
            s.content_versions.c.rolled_back_at.is_(None))).scalar_one() or 0)

    def progress_on(self, question_ids: Sequence[str]) -> dict[str, int]:
        """question id -> how many learners have a card for it (progress an upload must not delete)."""
        if not question_ids:
            return {}
        with self._read() as c:
            rows = c.execute(select(s.cards.c.question_id, func.count()).where(
                s.cards.c.question_id.in_(list(question_ids))).group_by(s.cards.c.question_id)).all()
        return {q: int(n) for q, n in rows}



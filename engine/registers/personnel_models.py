"""Tables of the personnel register (执法人员): one record per person (执法证, 法律职业资格), their training
records, and the once-a-year training reminders already sent."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, User, UTCDateTime


class PersonnelRecord(Base):
    """What the register knows of one user: the 执法证 (number, validity, enforcement area), the
    法律职业资格 (certificate number, date) where held, and since when the person is a legal reviewer."""

    __tablename__ = "personnel_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    cert_no: Mapped[str | None] = mapped_column(String(32))              # 执法证号
    cert_valid_from: Mapped[date | None] = mapped_column(Date)
    cert_valid_until: Mapped[date | None] = mapped_column(Date)
    area: Mapped[str | None] = mapped_column(String(200))                # 执法区域
    legal_cert_no: Mapped[str | None] = mapped_column(String(64))        # 法律职业资格证书编号
    legal_cert_date: Mapped[date | None] = mapped_column(Date)
    reviewer_since: Mapped[date | None] = mapped_column(Date)            # first appointed as legal reviewer
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[User] = relationship(lazy="joined")


# The user's record, read with the user where a request loads who is signed in (engine.org.signed_in_user): the
# 执法证 check of a handler's step then needs no statement of its own. Read only: records are written above.
User.personnel = relationship(PersonnelRecord, uselist=False, viewonly=True, lazy="select")


class TrainingRecord(Base):
    """One training a person attended: date, course, hours, organiser."""

    __tablename__ = "personnel_training"
    __table_args__ = (UniqueConstraint("user_id", "day", "course"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    course: Mapped[str] = mapped_column(String(200))
    hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    organiser: Mapped[str | None] = mapped_column(String(200))


class TrainingReminder(Base):
    """The training-shortfall reminder of one reviewer in one year was sent (the job sends it once)."""

    __tablename__ = "personnel_training_reminders"
    __table_args__ = (UniqueConstraint("user_id", "year"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    year: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)

"""Tables of the enterprise contact points (企业联系点, 任务16) and their survey rounds."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models import Base, OrgUnit, UTCDateTime, User


class ContactPoint(Base):
    """An enterprise chosen as a contact point, kept by a county's or the city's justice bureau
    (``owner_unit``); ``units`` are the enforcement units that enforce on it."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("owner_unit_id", "credit_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18))         # 统一社会信用代码 (GB 32100-2015)
    sector: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner_unit: Mapped[OrgUnit] = relationship(lazy="joined")
    units: Mapped[list["ContactPointUnit"]] = relationship(lazy="selectin", cascade="all, delete-orphan",
                                                           order_by="ContactPointUnit.unit_id")


class ContactPointUnit(Base):
    """An enforcement unit that enforces on a contact point."""

    __tablename__ = "contact_point_units"
    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True, index=True)
    unit: Mapped[OrgUnit] = relationship(lazy="joined")


class SurveyResponse(Base):
    """One contact point's questionnaire in a survey round (the round is the process instance)."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("instance_id", "contact_point_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    contact_point_id: Mapped[int] = mapped_column(ForeignKey("contact_points.id"), index=True)
    visited_on: Mapped[date | None] = mapped_column(Date)
    problems: Mapped[str | None] = mapped_column(Text)
    suggestions: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_point: Mapped[ContactPoint] = relationship(lazy="joined")
    answered_by: Mapped[User | None] = relationship(lazy="joined")
    ratings: Mapped[list["SurveyRating"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class SurveyRating(Base):
    """The satisfaction (1–5) of a contact point with one enforcement unit's enforcement."""

    __tablename__ = "survey_ratings"
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    satisfaction: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[OrgUnit] = relationship(lazy="joined")

"""Tables of the assessment (考核): a closed period's figures, frozen when it is closed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models import Base, UTCDateTime


class AssessmentPeriod(Base):
    """A closed (published) period: ``period`` is ``2026`` or ``2026Q1``; ``method`` the configuration the
    figures were computed with (indicators, kinds, parameters, weights) as it was at closing."""

    __tablename__ = "assessment_periods"
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(8), unique=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[dict] = mapped_column(JSON, default=dict)
    scores: Mapped[list["AssessmentScore"]] = relationship(lazy="select", cascade="all, delete-orphan")


class AssessmentScore(Base):
    __tablename__ = "assessment_scores"
    __table_args__ = (UniqueConstraint("period_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("assessment_periods.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    score: Mapped[float | None] = mapped_column(Float)


class AssessmentFigure(Base):
    """One indicator of one unit in a closed period, with the ids behind it (the drill-down)."""

    __tablename__ = "assessment_figures"
    __table_args__ = (UniqueConstraint("period_id", "unit_id", "indicator"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("assessment_periods.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    indicator: Mapped[str] = mapped_column(String(64))
    numerator: Mapped[float] = mapped_column(Float)
    denominator: Mapped[float] = mapped_column(Float)
    applicable: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float)              # the effective weight after redistribution
    contribution: Mapped[float | None] = mapped_column(Float)
    details: Mapped[list | None] = mapped_column(JSON)

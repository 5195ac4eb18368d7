"""Tables of the outside-oversight registers (issue 12 §1–2): invited supervisors (行政执法监督员) with their
terms and assigned areas, and the expert panel (行政执法监督专家团)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, OrgUnit, User, UTCDateTime


class SupervisorAppointment(Base):
    """One term of an invited supervisor, kept by a justice bureau: who (a user account holding the
    invited-supervisor role), from which organisation, from when to when, and the units or areas assigned
    (a unit covers every unit below it)."""

    __tablename__ = "supervisor_appointments"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    bureau_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)   # the keeping bureau
    organisation: Mapped[str] = mapped_column(String(200))
    term_from: Mapped[date] = mapped_column(Date)
    term_to: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[User] = relationship(lazy="joined")
    bureau: Mapped[OrgUnit] = relationship(lazy="joined")
    areas: Mapped[list["SupervisorArea"]] = relationship(lazy="selectin", cascade="all, delete-orphan")


class SupervisorArea(Base):
    __tablename__ = "supervisor_areas"
    __table_args__ = (UniqueConstraint("appointment_id", "unit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("supervisor_appointments.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    unit: Mapped[OrgUnit] = relationship(lazy="joined")


class Expert(Base):
    """A member of the expert panel; signs in with the user account (holding the expert role)."""

    __tablename__ = "experts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    organisation: Mapped[str] = mapped_column(String(200))
    fields: Mapped[list] = mapped_column(JSON, default=list)          # fields of expertise (words)
    contact: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[User] = relationship(lazy="joined")

"""Tables of the six public lists (任务4): one row per version of one list of one unit; the list's rows are
kept in the version as JSON (column key -> text), columns defined by engine/registers/list_types/*.yaml."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..models import Base, OrgUnit, UTCDateTime


class ListVersion(Base):
    """draft → submitted (the approval procedure runs) → published, or back to draft when the agency head
    returns it. Published versions are never changed again; the current one is the latest published version
    whose effective date has come."""
    __tablename__ = "list_versions"
    __table_args__ = (UniqueConstraint("unit_id", "list_type", "version_no"),
                      Index("ix_list_versions_lookup", "unit_id", "list_type", "status"))
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    list_type: Mapped[str] = mapped_column(String(32))
    version_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))          # draft / submitted / published
    rows: Mapped[list] = mapped_column(JSON)
    effective_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    returned_note: Mapped[str | None] = mapped_column(Text)   # the agency head's reason when returned to draft
    instance_id: Mapped[int | None] = mapped_column(Integer)   # the approval case (process_instances.id)
    unit: Mapped[OrgUnit] = relationship(lazy="joined")

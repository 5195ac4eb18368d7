"""Figures computed from the indexed tables (never by loading workflows): revisit statistics per unit."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import AuditEvent, ProcessInstance


def revisit_stats(session: Session, unit_id: int, start: datetime, end: datetime) -> dict:
    """Revisits done for a unit's cases in [start, end): count, satisfaction, problems confirmed."""
    rows = session.execute(select(AuditEvent.data).join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
                           .where(AuditEvent.action == "task_completed", ProcessInstance.unit_id == unit_id,
                                  AuditEvent.at >= start, AuditEvent.at < end)).scalars()
    satisfaction: Counter = Counter()
    revisits = confirmed = 0
    for data in rows:
        element, values = data.get("element_id"), data.get("data") or {}
        if element == "revisit":
            revisits += 1
            satisfaction[values.get("satisfaction") or "unknown"] += 1
        elif element == "verify" and values.get("problem_confirmed"):
            confirmed += 1
    return {"revisits": revisits, "satisfied": satisfaction["satisfied"], "basically": satisfaction["basically"],
            "dissatisfied": satisfaction["dissatisfied"], "problems_confirmed": confirmed}

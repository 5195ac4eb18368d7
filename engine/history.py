"""Append-only audit trail with one hash chain per stream (each instance, plus ``system``).

Each row's hash covers its content and the previous row's hash; ``verify`` recomputes every chain and
reports the first row whose stored hash or link does not match."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import N_, Conflict
from .models import AuditEvent

GENESIS = "0" * 64


def stream_of(instance_id: int | None) -> str:
    return f"instance:{instance_id}" if instance_id is not None else "system"


def _digest(stream: str, seq: int, at: datetime, actor: str | None, action: str, instance_id: int | None,
            task_id: str | None, data: Any, prev_hash: str) -> str:
    body = json.dumps([stream, seq, at.isoformat(timespec="microseconds"), actor, action, instance_id, task_id,
                       data, prev_hash], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(session: Session, at: datetime, action: str, *, actor: str | None = None,
           instance_id: int | None = None, task_id: str | None = None, data: dict | None = None) -> AuditEvent:
    """Append one event in the caller's transaction. Two writers appending to the same stream at once make
    the second one fail on the (stream, seq) unique key, so a chain never forks."""
    at = at.astimezone(timezone.utc)
    stream = stream_of(instance_id)
    heads = _heads(session)
    if stream not in heads:
        last = session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.stream == stream)
                               .order_by(AuditEvent.seq.desc()).limit(1)).first()
        heads[stream] = (last.seq, last.hash) if last else (0, GENESIS)
    seq, prev = heads[stream][0] + 1, heads[stream][1]
    data = json.loads(json.dumps(data or {}, ensure_ascii=False, default=str))
    event = AuditEvent(stream=stream, seq=seq, at=at, actor=actor, action=action, instance_id=instance_id,
                       task_id=task_id, data=data, prev_hash=prev,
                       hash=_digest(stream, seq, at, actor, action, instance_id, task_id, data, prev))
    session.add(event)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(N_("The case was changed by someone else at the same moment; reload and try again")) from None
    heads[stream] = (seq, event.hash)
    return event


def _heads(session: Session) -> dict[str, tuple[int, str]]:
    """The last (seq, hash) of each stream written in the current transaction, so appending several events
    does not query the chain's end each time. Kept per transaction: a rollback forgets it."""
    real = session.registry() if hasattr(session, "registry") else session    # unwrap a scoped_session
    txn = real.get_transaction()
    cached = real.info.get("audit_heads")
    if cached is None or cached[0] is not txn:
        cached = (txn, {})
        real.info["audit_heads"] = cached
    return cached[1]


@dataclass
class Break:
    event_id: int
    stream: str
    seq: int
    reason: str


def verify(session: Session) -> tuple[int, Break | None]:
    """Check every chain. Returns (rows checked, first break in id order or None)."""
    previous: dict[str, tuple[int, str]] = {}
    checked = 0
    first: Break | None = None
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.stream, AuditEvent.seq)).yield_per(1000):
        checked += 1
        exp_seq, exp_prev = previous.get(ev.stream, (1, GENESIS))
        reason = None
        if ev.seq != exp_seq:
            reason = f"sequence {ev.seq}, expected {exp_seq} (a row is missing)"
        elif ev.prev_hash != exp_prev:
            reason = "link to the previous row does not match"
        elif ev.hash != _digest(ev.stream, ev.seq, ev.at, ev.actor, ev.action, ev.instance_id, ev.task_id,
                                ev.data, ev.prev_hash):
            reason = "content does not match its hash (row was edited)"
        if reason and (first is None or ev.id < first.event_id):
            first = Break(ev.id, ev.stream, ev.seq, reason)
        previous[ev.stream] = (ev.seq + 1, ev.hash)
    return checked, first


def for_instance(session: Session, instance_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.stream == stream_of(instance_id))
                                .order_by(AuditEvent.seq)))

"""Append-only audit trail with one hash chain per stream (each instance, plus ``system``).

Each row's hash covers its content and the previous row's hash; ``verify`` recomputes every chain and
reports the first row whose stored hash or link does not match."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import String, cast, event, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

from .errors import N_, Conflict
from .models import AuditEvent

GENESIS = "0" * 64


def stream_of(instance_id: int | None) -> str:
    return f"instance:{instance_id}" if instance_id is not None else "system"


def stream_of_sql(instance_id):
    """``stream_of`` in SQL, for an instance id only the database knows yet (a subquery)."""
    return literal("instance:") + cast(instance_id, String)


def _digest(stream: str, seq: int, at: datetime, actor: str | None, action: str, instance_id: int | None,
            task_id: str | None, data: Any, prev_hash: str) -> str:
    body = json.dumps([stream, seq, at.isoformat(timespec="microseconds"), actor, action, instance_id, task_id,
                       data, prev_hash], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(session: Session, at: datetime, action: str, *, actor: str | None = None,
           instance_id: int | None = None, task_id: str | None = None, data: dict | None = None) -> dict:
    """Append one event in the caller's transaction. The chain is built in memory: the row is inserted with
    the transaction's other new events in one statement (``flush``: at the end of a runtime action, before
    any query that reads the audit trail, at the latest before the commit). Two writers appending to the
    same stream at once make the second one fail on the (stream, seq) unique key (:class:`Conflict`), so a
    chain never forks."""
    at = at.astimezone(timezone.utc)
    stream = stream_of(instance_id)
    heads, pending = _txn_state(session)
    if stream not in heads:
        last = session.execute(select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.stream == stream)
                               .order_by(AuditEvent.seq.desc()).limit(1)).first()
        heads[stream] = (last.seq, last.hash) if last else (0, GENESIS)
    seq, prev = heads[stream][0] + 1, heads[stream][1]
    data = json.loads(json.dumps(data or {}, ensure_ascii=False, default=str))
    row = dict(stream=stream, seq=seq, at=at, actor=actor, action=action, instance_id=instance_id,
               task_id=task_id, data=data, prev_hash=prev,
               hash=_digest(stream, seq, at, actor, action, instance_id, task_id, data, prev))
    pending.append(row)
    heads[stream] = (seq, row["hash"])
    return row


def seed_head(session: Session, instance_id: int | None, seq: int | None, hash_: str | None) -> None:
    """Tell the chain's end of a stream read along with other things (or None: the stream is new), so
    ``record`` does not query it. Ignored when the transaction knows the stream's end already."""
    heads, _ = _txn_state(session)
    heads.setdefault(stream_of(instance_id), (seq, hash_) if seq is not None else (0, GENESIS))


def flush(session: Session) -> None:
    """Insert the events recorded in this transaction and not inserted yet: one (executemany) statement."""
    real = _real(session)
    cached = real.info.get("audit_heads")
    if not cached or not cached[2] or cached[0] is not real.get_transaction():
        return
    rows, cached[2][:] = list(cached[2]), []
    try:
        real.connection().execute(AuditEvent.__table__.insert(), rows)
    except IntegrityError:
        raise Conflict(N_("The case was changed by someone else at the same moment; reload and try again")) from None


def _real(session: Session) -> Session:
    return session.registry() if hasattr(session, "registry") else session    # unwrap a scoped_session


def _txn_state(session: Session) -> tuple[dict[str, tuple[int, str]], list[dict]]:
    """The last (seq, hash) of each stream written in the current transaction, so appending several events
    does not query the chain's end each time, and the events not inserted yet. Kept per transaction: a
    rollback forgets both."""
    real = _real(session)
    txn = real.get_transaction()
    if txn is None:             # none begun yet: begin it now, so the events are kept with the one they go into
        real.connection()
        txn = real.get_transaction()
    cached = real.info.get("audit_heads")
    if cached is None or cached[0] is not txn:
        cached = (txn, {}, [])
        real.info["audit_heads"] = cached
    return cached[1], cached[2]


@event.listens_for(Session, "before_commit")
def _insert_before_commit(session: Session) -> None:
    flush(session)


@event.listens_for(Session, "do_orm_execute")
def _insert_before_reading(state) -> None:
    """A query that reads the audit trail in the same transaction sees the events recorded so far."""
    cached = state.session.info.get("audit_heads")
    if cached and cached[2] and (AuditEvent.__mapper__ in state.all_mappers or any(
            getattr(t, "name", None) == AuditEvent.__tablename__
            for t in find_tables(state.statement, check_columns=True, include_aliases=True, include_crud=True))):
        flush(state.session)


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction) -> None:
    """A SAVEPOINT begins: remember the chain ends and the pending events, to go back to them if it is
    rolled back (the events of the instances fired before it in the same transaction are kept)."""
    if not transaction.nested:
        return
    cached = session.info.get("audit_heads")
    current = cached is not None and cached[0] is session.get_transaction()
    session.info.setdefault("audit_marks", {})[transaction] = (
        (dict(cached[1]), list(cached[2])) if current else ({}, []))


@event.listens_for(Session, "after_rollback")
def _back_to_savepoint(session: Session) -> None:
    """A rolled-back SAVEPOINT undoes its events: those recorded in it are dropped, those inserted in it
    (with the ones recorded before it) are pending again, and each chain ends where it ended before it.

    Heard on the database's ROLLBACK TO SAVEPOINT, while the savepoint is still the session's innermost
    one: a flush that fails inside a SAVEPOINT rolls it back from the flush's own subtransaction, and the
    SAVEPOINT is then only closed — ``after_soft_rollback`` never names it."""
    nested = session.get_nested_transaction()
    if nested is None:
        return
    mark = session.info.get("audit_marks", {}).pop(nested, None)
    cached = session.info.get("audit_heads")
    if mark is None or cached is None or cached[0] is not session.get_transaction():
        return
    cached[1].clear()
    cached[1].update(mark[0])
    cached[2][:] = mark[1]


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A transaction that ended (committed: inserted already; rolled back: never to be) leaves nothing pending.
    (A released SAVEPOINT's mark is dropped with the transaction's other marks when the transaction ends.)"""
    if transaction.nested:
        return
    session.info.pop("audit_marks", None)
    cached = session.info.get("audit_heads")
    if cached is not None and cached[0] is transaction:
        del session.info["audit_heads"]


@dataclass
class Break:
    event_id: int
    stream: str
    seq: int
    reason: str


def verify(session: Session) -> tuple[int, Break | None]:
    """Check every chain. Returns (rows checked, first break in id order or None)."""
    flush(session)
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

"""The mail outbox: notifications that their users also want by e-mail. engine.notifications writes a row in
the transaction of the step that caused the notification; the scheduler sends pending rows after that commit
(``send_pending``), one row per transaction, so a slow or failing SMTP server never fails nor delays the step.
A failed send is tried again after ``retry``, 2×, 4× … (at most ``MAX_BACKOFF``); after ``max_attempts`` the
row is ``failed`` (kept with its last error for an administrator)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .jobs import _locking
from .models import MailOutbox

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class MailReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def send_pending(session: Session, clock, deliver: Callable[[MailOutbox], None], *, max_attempts: int = 5,
                 retry: timedelta = timedelta(seconds=60), batch_size: int = 50) -> MailReport:
    """Send the outbox rows that are due through ``deliver(row)`` (which raises when the server refuses or
    cannot be reached); each row's outcome is committed on its own."""
    report = MailReport()
    tried: set[int] = set()
    while True:
        now = clock.now()
        stmt = select(MailOutbox).where(MailOutbox.status == "pending", MailOutbox.next_attempt_at <= now)
        if tried:
            stmt = stmt.where(MailOutbox.id.not_in(tried))
        row = session.scalars(_locking(session, stmt.order_by(MailOutbox.id).limit(1), MailOutbox)).first()
        if row is None or len(tried) >= batch_size:
            session.rollback()
            return report
        tried.add(row.id)
        row.attempts += 1
        try:
            deliver(row)
        except Exception as exc:          # SMTP errors, refused connections, timeouts: tried again later
            row.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if row.attempts >= max_attempts:
                row.status = "failed"
                report.failed += 1
                log.warning("e-mail %s to user %s failed %s times, given up: %s", row.id, row.user_id,
                            row.attempts, row.last_error)
            else:
                row.next_attempt_at = now + min(retry * (2 ** (row.attempts - 1)), MAX_BACKOFF)
                report.retried += 1
                log.info("e-mail %s could not be sent (attempt %s): %s", row.id, row.attempts, row.last_error)
        else:
            row.status, row.sent_at, row.last_error = "sent", now, None
            report.sent += 1
        session.commit()

"""E-mail delivery of notifications (engine.mailer sends the outbox; this composes each message in Chinese and
hands it to the SMTP server of the settings SMTP_*)."""
from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import Flask
from flask_babel import gettext as _

from engine.calendar import LOCAL_TZ
from engine.errors import N_
from engine.mailer import MailReport, send_pending

from .extensions import db

# the same words as the bell (web/templates/_notification.html)
KIND_LABELS = {"new_task": N_("New task"), "supervision": N_("Supervision notice received"),
               "returned": N_("Sent back to you"), "assigned": N_("Assigned"), "due_soon": N_("Due soon"),
               "overdue": N_("Overdue"), "escalated": N_("Escalated"), "unassigned": N_("Nobody can take it"),
               "urged": N_("Urged"), "withdrawn": N_("Withdrawn"), "cancelled": N_("Cancelled")}


def compose(app: Flask, row) -> EmailMessage:
    note = row.notification
    task = note.task
    label = _(KIND_LABELS.get(note.kind, N_("Notice")))
    case = (task.subject or task.instance.business_key or _("Case %(id)s", id=note.instance_id)) if task else ""
    msg = EmailMessage()
    msg["Subject"] = f"【{_('Law-enforcement supervision platform')}】{label}：{task.name if task else ''} {case}".strip()
    msg["From"] = app.config["SMTP_FROM"]
    msg["To"] = row.address
    msg["Message-ID"] = make_msgid(domain=app.config["SMTP_FROM"].rsplit("@", 1)[-1].strip(">"))
    when = note.created_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    lines = [f"{label}：{task.name if task else ''}", f"{_('Case')}：{case}"]
    if task is not None and task.unit is not None:
        lines.append(f"{_('Unit')}：{task.unit.name}")
    if task is not None and task.due_at is not None:
        lines.append(f"{_('Due')}：{task.due_at.astimezone(LOCAL_TZ).strftime('%Y-%m-%d %H:%M')}")
    lines += [f"{_('Time')}：{when}", "", _("Sign in to the platform to see it; this message was sent automatically.")]
    msg.set_content("\n".join(lines))
    return msg


def smtp_deliver(app: Flask):
    config = app.config

    def deliver(row) -> None:
        message = compose(app, row)
        security, timeout = config.get("SMTP_SECURITY") or "starttls", config.get("SMTP_TIMEOUT") or 30
        port = config.get("SMTP_PORT") or (465 if security == "ssl" else 587)
        if security == "ssl":
            server = smtplib.SMTP_SSL(config["SMTP_HOST"], port, timeout=timeout,
                                      context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(config["SMTP_HOST"], port, timeout=timeout)
        with server:
            if security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                server.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            server.send_message(message)
    return deliver


def send_outbox(app: Flask) -> MailReport:
    """One pass over the outbox (from the scheduler's tick); nothing when no SMTP server is configured."""
    if not app.config.get("SMTP_HOST"):
        return MailReport()
    return send_pending(db.session, app.extensions["clock"], smtp_deliver(app),
                        max_attempts=app.config["MAIL_MAX_ATTEMPTS"],
                        retry=timedelta(seconds=app.config["MAIL_RETRY_SECONDS"]))

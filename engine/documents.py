"""Official documents (文书): PDFs generated from the case data when a step issues them, each with a 文号
numbered per issuing unit, kind and year (固司审〔2026〕12号), kept as attachments of the case.

The number is taken in the transaction of the step that issues the document: the counter row of
(unit, kind, year) is locked (SELECT … FOR UPDATE on PostgreSQL; on SQLite every write transaction holds the
database's write lock from BEGIN), so two steps issuing at once get consecutive numbers, and a step whose
transaction rolls back consumes none (the counter goes back with it): the numbers have no gaps.

Layout and wording live in templates an administrator can change (Jinja HTML + CSS, one file per kind in the
template folder given by the caller — DOCUMENT_TEMPLATE_DIR), rendered to PDF by WeasyPrint with the CJK
fonts fontconfig finds. No Flask here: the caller passes the folder, the attachment store and the clock."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import history
from .calendar import LOCAL_TZ
from .errors import N_, InvalidInput
from .models import DocumentCounter, HumanTask, IssuedDocument, OrgUnit, ProcessInstance, User


@dataclass(frozen=True)
class DocumentKind:
    code: str
    char: str          # the kind's character in the 文号 (审 in 固司审〔2026〕12号)
    title: str         # the document's name (Chinese, as printed)
    template: str      # the template file's name in the template folder


KINDS = {k.code: k for k in (
    DocumentKind("review_opinion", "审", "法制审核意见书", "review_opinion.html"),
    DocumentKind("review_application", "申", "重大执法决定法制审核申请表", "review_application.html"),
    DocumentKind("supervision_notice", "督", "行政执法监督通知书", "supervision_notice.html"),
    DocumentKind("coordination_opinion", "协", "行政执法协调意见书", "coordination_opinion.html"),
    DocumentKind("referral_letter", "移", "案件移送函", "referral_letter.html"),
    DocumentKind("circular", "通", "通报", "circular.html"),
)}

# leading place names of a unit's name (廊坊市, 固安县, 银河南路街道 …): the first one's first character is the
# place in a derived prefix, the character after the last one names the agency
_PLACE = re.compile(r"^.{1,8}?(?:省|自治区|市|县|区|旗|街道|镇|乡)")


def unit_prefix(unit: OrgUnit) -> str:
    """The unit's short name in a 文号: its ``short_name`` (org file), else derived from its name: the first
    character of the place and the first of the agency (固安县司法局 → 固司, 廊坊市人民政府 → 廊政)."""
    if unit.short_name:
        return unit.short_name
    name = (unit.name or "").strip()
    rest, place = name.removeprefix("中共"), ""          # 中共廊坊市委… → 廊委
    while True:
        m = _PLACE.match(rest)
        if m is None or len(rest) - m.end() < 2:
            break
        place = place or rest[0]
        rest = rest[m.end():]
    agency = "政" if rest.startswith("人民政府") else rest[:1]
    return (place + agency) or name[:2] or "文"


def doc_number(prefix: str, kind: DocumentKind, year: int, number: int) -> str:
    return f"{prefix}{kind.char}〔{year}〕{number}号"


def next_number(session: Session, unit_id: int, kind: str, year: int) -> int:
    """The next number of (unit, kind, year) in the caller's transaction, with the counter row locked until
    it ends. The first document of a year creates the row (two creating it at once: one insert wins, the
    other waits for it and then locks the row)."""
    stmt = select(DocumentCounter).where(DocumentCounter.unit_id == unit_id, DocumentCounter.kind == kind,
                                         DocumentCounter.year == year).with_for_update()
    row = session.scalar(stmt.execution_options(populate_existing=True))
    if row is None:
        dialect = session.get_bind().dialect.name
        values = {"unit_id": unit_id, "kind": kind, "year": year, "last_number": 0}
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            session.execute(insert(DocumentCounter).values(**values).on_conflict_do_nothing())
        else:
            session.add(DocumentCounter(**values))
            session.flush()
        row = session.scalar(stmt.execution_options(populate_existing=True))
    row.last_number += 1
    session.flush()
    return row.last_number


def render_html(template_dir: str, kind: DocumentKind, context: dict) -> str:
    """The document as HTML from its template (Jinja, autoescaped; templates may extend ``base.html``)."""
    from jinja2 import Environment, FileSystemLoader, TemplateNotFound, select_autoescape
    # a missing variable prints as nothing (the case data differs between steps), never an error
    env = Environment(loader=FileSystemLoader(template_dir), autoescape=select_autoescape(["html"]))
    env.filters["cn_date"] = cn_date
    env.filters["money"] = money
    try:
        template = env.get_template(kind.template)
    except TemplateNotFound:
        raise InvalidInput(N_("The template of %(document)s is missing"), document=kind.title) from None
    return template.render(**context)


def render_pdf(template_dir: str, kind: DocumentKind, context: dict) -> bytes:
    """The document as PDF (WeasyPrint; the template folder is the base for its stylesheets and images)."""
    from weasyprint import HTML
    html = render_html(template_dir, kind, context)
    return HTML(string=html, base_url=os.path.abspath(template_dir) + os.sep).write_pdf()


def cn_date(value) -> str:
    """2026年3月20日 (a date, a datetime — shown in Asia/Shanghai — or an ISO date string)."""
    if value in (None, ""):
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value[:10]).date() if len(value) <= 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).date() if value.tzinfo else value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def money(value) -> str:
    try:
        return f"{float(value):,.2f} 元"
    except (TypeError, ValueError):
        return str(value or "")


class DocumentService:
    """Issues documents in the caller's transaction. ``store``: an engine.attachments.AttachmentStore."""

    def __init__(self, session: Session, store, clock, template_dir: str):
        self.session, self.store, self.clock, self.template_dir = session, store, clock, template_dir

    def _unit_label(self, code) -> str:
        """A unit's name from its code (templates never print codes)."""
        if not isinstance(code, str) or not code:
            return ""
        return self.session.scalar(select(OrgUnit.name).where(OrgUnit.code == code)) or ""

    def issue(self, kind_code: str, instance: ProcessInstance, user: User, data: dict, *,
              task: HumanTask | None = None, unit: OrgUnit | None = None) -> IssuedDocument:
        """Number, render and store one document of ``instance``: issued by ``unit`` (default: the task's
        unit, else the case's), from ``data`` (the case data after the step)."""
        kind = KINDS.get(kind_code)
        if kind is None:
            raise InvalidInput(N_("Unknown document kind %(kind)s"), kind=str(kind_code)[:32])
        unit = unit or (task.unit if task is not None and task.unit is not None else instance.unit) or user.unit
        now = self.clock.now()
        year = now.astimezone(LOCAL_TZ).year
        number = next_number(self.session, unit.id, kind.code, year)
        wenhao = doc_number(unit_prefix(unit), kind, year, number)
        context = {"doc_number": wenhao, "title": kind.title, "kind": kind.code, "unit": unit,
                   "unit_name": unit.name, "issuer": user.display_name, "issued_on": now, "data": data,
                   "case_number": data.get("case_number") or instance.business_key or "",
                   "case_title": data.get("case_title") or "",
                   "instance": instance, "task": task, "step": task.name if task is not None else "",
                   "case_unit_name": instance.unit.name if instance.unit else "",
                   "unit_label": self._unit_label}
        pdf = render_pdf(self.template_dir, kind, context)
        filename = f"{kind.title}（{wenhao}）.pdf"
        attachment = self.store.save(user, filename, pdf, "application/pdf", now, instance_id=instance.id,
                                     task_id=task.id if task is not None else None, generated=True)
        row = IssuedDocument(instance_id=instance.id, task_id=task.id if task is not None else None,
                             attachment_id=attachment.id, kind=kind.code, unit_id=unit.id, year=year,
                             number=number, doc_number=wenhao, title=kind.title, issued_at=now, issued_by_id=user.id)
        self.session.add(row)
        self.session.flush()
        history.record(self.session, now, "document_issued", actor=user.username, instance_id=instance.id,
                       task_id=row.task_id, data={"kind": kind.code, "doc_number": wenhao, "title": kind.title,
                                                  "attachment_id": attachment.id})
        return row


def for_instances(session: Session, instance_ids: list[int]) -> list[IssuedDocument]:
    if not instance_ids:
        return []
    return list(session.scalars(select(IssuedDocument).where(IssuedDocument.instance_id.in_(instance_ids))
                                .order_by(IssuedDocument.issued_at, IssuedDocument.id)))


def by_attachment(session: Session, attachment_ids) -> dict[str, IssuedDocument]:
    ids = list(attachment_ids)
    if not ids:
        return {}
    return {d.attachment_id: d for d in session.scalars(
        select(IssuedDocument).where(IssuedDocument.attachment_id.in_(ids)))}

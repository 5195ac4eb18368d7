"""Demo records of issue 12 §3–4 for `flask demo load`: contact points of 固安县 and the city, and the last
ended quarter closed (frozen) in the assessment. Idempotent."""
from __future__ import annotations

from sqlalchemy import select

from engine.analytics import assessment as A
from engine.models import OrgUnit
from engine.registers.contact_point_models import ContactPoint, ContactPointUnit
from engine.registers.contact_points import credit_check_char

POINTS = [("lf.guan.sfj", "固安县兴达食品有限公司", "91131022MA0DEMO01", "食品生产", ["lf.guan.scjg", "lf.guan.sthj"]),
          ("lf.guan.sfj", "固安县恒通物流有限公司", "91131022MA0DEMO02", "道路运输", ["lf.guan.scjg", "lf.guan.yjgl"]),
          ("lf.guan.sfj", "固安县新源建材有限公司", "91131022MA0DEMO03", "建材制造", ["lf.guan.sthj", "lf.guan.yjgl"]),
          ("lf.sfj", "廊坊市华北医药有限公司", "91131000MA0DEMO04", "药品经营", ["lf.scjg", "lf.sthj"])]


def _code(body: str) -> str:
    body = body.replace("DEMO", "0000")[:17]
    return body + credit_check_char(body)


def load(session, now, config_path: str) -> None:
    units = {u.code: u for u in session.scalars(select(OrgUnit))}
    for owner, name, code, sector, enforcers in POINTS:
        credit = _code(code)
        if owner not in units or session.scalar(select(ContactPoint.id).where(ContactPoint.credit_code == credit)):
            continue
        point = ContactPoint(owner_unit_id=units[owner].id, name=name, credit_code=credit, sector=sector,
                             address="廊坊市", contact_name="办公室", contact_phone="0316-0000000", active=True,
                             created_at=now, updated_at=now)
        point.units = [ContactPointUnit(unit_id=units[c].id) for c in enforcers if c in units]
        session.add(point)
    session.flush()
    quarter = A.periods_ended(now)[0]
    if session.scalar(select(A.AssessmentPeriod.id).where(A.AssessmentPeriod.period == quarter)) is None:
        A.close_period(session, A.load_config(config_path), quarter, now, "demo")

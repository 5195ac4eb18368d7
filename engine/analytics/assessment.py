"""Assessment of the enforcement units (考核, 任务6/17/18): a yearly and a quarterly score per unit from
indicators computed from the platform's own data.

The indicators, their kinds, parameters and weights are configuration (engine/data/assessment.yaml, or the file
the setting ASSESSMENT_CONFIG names), checked by :func:`load_config`: a mistake raises
:class:`AssessmentConfigError` naming the key and the line. Each indicator has a *source*, ``builtin:<name>``
or ``package.module:function`` with the signature ``fn(session, unit_ids, start, end, **params) ->
{unit_id: (numerator, denominator)}``; a source may carry a ``detail`` function (``fn.detail`` or the
indicator's ``detail:`` key), ``detail(session, unit_id, start, end, **params) -> [{label, instance_id,
task_id, value}]``, for the drill-down to the cases behind a number.

A unit whose denominator is 0 has nothing to count for that indicator (e.g. no 督办 received): the indicator
is *not applicable* and — by default, ``not_applicable: redistribute`` — its weight is shared by the unit's
applicable indicators in proportion to their weights; ``full`` scores it 100, ``zero`` scores it 0.

An open period is computed live (up to now); a closed one is read from the tables its closing filled
(:func:`close_period`: by an administrator, or by the scheduler after the period's end plus a grace time), so
later edits never change a published ranking."""
from __future__ import annotations

import importlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Callable

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine import history
from engine.calendar import LOCAL_TZ
from engine.errors import N_, Conflict, EngineError, InvalidInput, NotFound
from engine.models import AuditEvent, HumanTask, OrgUnit, ProcessInstance

from .assessment_models import AssessmentFigure, AssessmentPeriod, AssessmentScore

KINDS = ("rate", "inverse_rate", "penalty", "average")
NOT_APPLICABLE = ("redistribute", "full", "zero")
KIND_PARAMS = {"per_item", "min", "max"}           # read by the kind, not passed to the source
NOTICE_REPLY = "rectify_reply"                     # the 督办's 整改并书面回复 step, at the unit addressed
_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4]))?$")
_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class AssessmentConfigError(EngineError):
    """The configuration file cannot be used; the message names the key and the line (the page and the API
    answer 503 with it, so an administrator sees what to fix)."""

    status = 503

    def __init__(self, detail: str):
        super().__init__(N_("The assessment configuration cannot be used: %(detail)s"), detail=detail)


# -- configuration ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Indicator:
    key: str
    name: str
    source: str
    kind: str
    weight: float
    params: dict = field(default_factory=dict)
    not_applicable: str | None = None
    detail: str | None = None

    def source_params(self) -> dict:
        return {k: v for k, v in self.params.items() if k not in KIND_PARAMS}

    def as_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "source": self.source, "kind": self.kind, "weight": self.weight,
                "params": dict(self.params), "not_applicable": self.not_applicable}


@dataclass(frozen=True)
class Config:
    unit_kinds: tuple[str, ...]
    not_applicable: str
    indicators: tuple[Indicator, ...]

    def as_dict(self) -> dict:
        return {"unit_kinds": list(self.unit_kinds), "not_applicable": self.not_applicable,
                "indicators": [i.as_dict() for i in self.indicators]}

    @staticmethod
    def from_dict(raw: dict) -> "Config":
        return Config(tuple(raw["unit_kinds"]), raw["not_applicable"],
                      tuple(Indicator(**{k: v for k, v in i.items()}) for i in raw["indicators"]))


def _lines(node, path=(), out=None) -> dict:
    """(key path) -> line number (1-based) of every value in a composed YAML document."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _lines(value_node, path + (str(key_node.value),), out)
            out[path + (str(key_node.value),)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, path + (index,), out)
    return out


def parse_config(text: str, source: str = "assessment.yaml") -> Config:
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AssessmentConfigError(f"{source}: not valid YAML: {exc}") from None
    lines = _lines(node) if node is not None else {}

    def fail(path: tuple, message: str):
        where = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")
        line = next((lines[path[:i]] for i in range(len(path), -1, -1) if path[:i] in lines), None)
        raise AssessmentConfigError(f"{source}, line {line}, {where or 'document'}: {message}")

    if not isinstance(raw, dict):
        fail((), "the file must hold a mapping with unit_kinds, not_applicable and indicators")
    unknown = set(raw) - {"unit_kinds", "not_applicable", "indicators"}
    if unknown:
        fail((sorted(unknown)[0],), "unknown key (known: unit_kinds, not_applicable, indicators)")
    kinds = raw.get("unit_kinds")
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) and k for k in kinds):
        fail(("unit_kinds",), "give a list of unit kinds, e.g. [enforcement_dept, police]")
    policy = raw.get("not_applicable", "redistribute")
    if policy not in NOT_APPLICABLE:
        fail(("not_applicable",), f"must be one of {', '.join(NOT_APPLICABLE)}")
    items = raw.get("indicators")
    if not isinstance(items, list) or not items:
        fail(("indicators",), "give a list of indicators")
    indicators, keys = [], set()
    for index, item in enumerate(items):
        at = ("indicators", index)
        if not isinstance(item, dict):
            fail(at, "an indicator is a mapping with key, name, source, kind and weight")
        unknown = set(item) - {"key", "name", "source", "kind", "weight", "params", "not_applicable", "detail"}
        if unknown:
            fail(at + (sorted(unknown)[0],), "unknown key (known: key, name, source, kind, weight, params, "
                                              "not_applicable, detail)")
        key = item.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            fail(at + ("key",), "give a snake_case key")
        if key in keys:
            fail(at + ("key",), f"the key {key} is used twice")
        keys.add(key)
        if not isinstance(item.get("name"), str) or not item["name"].strip():
            fail(at + ("name",), "give the name shown on the ranking")
        src = item.get("source")
        if not isinstance(src, str) or not _source_known(src):
            fail(at + ("source",), f"unknown source {src!r}: builtin:<one of {', '.join(sorted(BUILTIN))}> or "
                                   f"an importable package.module:function")
        detail = item.get("detail")
        if detail is not None and (not isinstance(detail, str) or not _DOTTED.match(detail)
                                   or _import(detail) is None):
            fail(at + ("detail",), f"unknown detail function {detail!r} (package.module:function)")
        kind = item.get("kind")
        if kind not in KINDS:
            fail(at + ("kind",), f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
        weight = item.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 100:
            fail(at + ("weight",), "give a number of points from 0 to 100")
        params = item.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            fail(at + ("params",), "give a mapping of parameters")
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                fail(at + ("params", name), "a parameter is a number or a text")
        if kind == "penalty" and (not isinstance(params.get("per_item"), (int, float)) or params["per_item"] < 0):
            fail(at + ("params",), "a penalty needs params.per_item (points off per item, not negative)")
        if kind == "average":
            low, high = params.get("min"), params.get("max")
            if not isinstance(low, (int, float)) or not isinstance(high, (int, float)) or not low < high:
                fail(at + ("params",), "an average needs params.min < params.max (its scale)")
        own = item.get("not_applicable")
        if own is not None and own not in NOT_APPLICABLE:
            fail(at + ("not_applicable",), f"must be one of {', '.join(NOT_APPLICABLE)}")
        indicators.append(Indicator(key, item["name"].strip(), src, kind, float(weight), dict(params), own, detail))
    total = sum(i.weight for i in indicators)
    if abs(total - 100) > 1e-6:
        fail(("indicators",), f"the weights add up to {total:g}, they must add up to 100")
    return Config(tuple(kinds), policy, tuple(indicators))


def load_config(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise AssessmentConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    return parse_config(text, path)


def _import(dotted: str) -> Callable | None:
    module_name, _, name = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    fn = getattr(module, name, None)
    return fn if callable(fn) else None


def _source_known(source: str) -> bool:
    if source.startswith("builtin:"):
        return source[len("builtin:"):] in BUILTIN
    return bool(_DOTTED.match(source)) and _import(source) is not None


def source_function(indicator: Indicator) -> Callable:
    if indicator.source.startswith("builtin:"):
        return BUILTIN[indicator.source[len("builtin:"):]]
    return _import(indicator.source)


def detail_function(indicator: Indicator) -> Callable | None:
    if indicator.detail:
        return _import(indicator.detail)
    return getattr(source_function(indicator), "detail", None)


# -- periods ---------------------------------------------------------------------------------------------------

def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of ``2026`` or ``2026Q2`` in Asia/Shanghai."""
    match = _PERIOD.match(period or "") if isinstance(period, str) else None
    if not match or not 2000 <= int(match.group(1)) <= 2200:
        raise InvalidInput(N_("A period is a year such as 2026 or a quarter such as 2026Q2"))
    year, quarter = int(match.group(1)), match.group(2)
    if quarter:
        first = date(year, 3 * (int(quarter) - 1) + 1, 1)
        last = date(year + 1, 1, 1) if quarter == "4" else date(year, 3 * int(quarter) + 1, 1)
    else:
        first, last = date(year, 1, 1), date(year + 1, 1, 1)
    return datetime.combine(first, time(0), LOCAL_TZ), datetime.combine(last, time(0), LOCAL_TZ)


def current_period(now: datetime, quarterly: bool = True) -> str:
    local = now.astimezone(LOCAL_TZ)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}" if quarterly else str(local.year)


def periods_ended(now: datetime) -> list[str]:
    """The last ended quarter and the last ended year."""
    local = now.astimezone(LOCAL_TZ)
    quarter = (local.month - 1) // 3 + 1
    last_q = f"{local.year}Q{quarter - 1}" if quarter > 1 else f"{local.year - 1}Q4"
    return [last_q, str(local.year - 1)]


# -- builtin sources -------------------------------------------------------------------------------------------

def _steps(unit_ids, start, end):
    return (HumanTask.unit_id.in_(list(unit_ids)), HumanTask.due_at.is_not(None), HumanTask.due_at >= start,
            HumanTask.due_at < end, HumanTask.status.in_(("open", "completed")))


def _on_time():
    return (HumanTask.completed_at.is_not(None), HumanTask.completed_at <= HumanTask.due_at,
            HumanTask.sla_state != "escalated")


def _late():
    return or_(HumanTask.completed_at.is_(None), HumanTask.completed_at > HumanTask.due_at,
               HumanTask.sla_state == "escalated")


def _count_by_unit(session, stmt) -> dict[int, int]:
    return dict(session.execute(stmt.group_by(HumanTask.unit_id)).all())


def steps_on_time(session: Session, unit_ids, start: datetime, end: datetime) -> dict:
    """Steps due in [start, end) at the unit: done by their deadline (and never escalated) / all of them."""
    total = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(*_steps(unit_ids, start, end)))
    done = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(*_steps(unit_ids, start, end),
                                                                                  *_on_time()))
    return {u: (done.get(u, 0), total.get(u, 0)) for u in unit_ids}


def steps_late(session: Session, unit_ids, start: datetime, end: datetime) -> dict:
    """Steps due in [start, end) at the unit that went overdue or were escalated / all of them."""
    total = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(*_steps(unit_ids, start, end)))
    late = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(*_steps(unit_ids, start, end),
                                                                                  _late()))
    return {u: (late.get(u, 0), total.get(u, 0)) for u in unit_ids}


def notices_received(session: Session, unit_ids, start: datetime, end: datetime) -> dict:
    """督办 addressed to the unit in [start, end) (its reply step offered then) / 1: always applicable."""
    got = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(
        HumanTask.unit_id.in_(list(unit_ids)), HumanTask.element_id == NOTICE_REPLY,
        HumanTask.created_at >= start, HumanTask.created_at < end))
    return {u: (got.get(u, 0), 1) for u in unit_ids}


def notices_late(session: Session, unit_ids, start: datetime, end: datetime) -> dict:
    """督办 replies due in [start, end): answered late or not yet answered / all of them."""
    base = (*_steps(unit_ids, start, end), HumanTask.element_id == NOTICE_REPLY)
    total = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(*base))
    late = _count_by_unit(session, select(HumanTask.unit_id, func.count()).where(
        *base, or_(HumanTask.completed_at.is_(None), HumanTask.completed_at > HumanTask.due_at)))
    return {u: (late.get(u, 0), total.get(u, 0)) for u in unit_ids}


REVISIT_POINTS = {"satisfied": 100, "basically": 60, "dissatisfied": 0}


def _revisits(session, unit_ids, start, end):
    rows = session.execute(select(ProcessInstance.unit_id, AuditEvent.data, AuditEvent.instance_id,
                                  AuditEvent.task_id, ProcessInstance.business_key)
                           .join(ProcessInstance, ProcessInstance.id == AuditEvent.instance_id)
                           .where(AuditEvent.action == "task_completed", ProcessInstance.unit_id.in_(list(unit_ids)),
                                  AuditEvent.at >= start, AuditEvent.at < end).order_by(AuditEvent.id))
    for unit_id, data, instance_id, task_id, business_key in rows:
        if (data or {}).get("element_id") == "revisit":
            answer = ((data or {}).get("data") or {}).get("satisfaction")
            if answer in REVISIT_POINTS:
                yield unit_id, answer, instance_id, task_id, business_key


def revisit_satisfaction(session: Session, unit_ids, start: datetime, end: datetime, **points) -> dict:
    """The revisits (开展回访) of the unit's cases done in [start, end): the sum of their satisfaction points
    (params satisfied/basically/dissatisfied) / the number of revisits."""
    scale = {**REVISIT_POINTS, **{k: float(v) for k, v in points.items() if k in REVISIT_POINTS}}
    out = {u: [0.0, 0] for u in unit_ids}
    for unit_id, answer, *_ in _revisits(session, unit_ids, start, end):
        out[unit_id][0] += scale[answer]
        out[unit_id][1] += 1
    return {u: (n, d) for u, (n, d) in out.items()}


def survey_satisfaction(session: Session, unit_ids, start: datetime, end: datetime) -> dict:
    """The contact points' ratings (1–5) of the unit in questionnaires answered in [start, end): their sum /
    their number."""
    from engine.registers.contact_point_models import SurveyRating, SurveyResponse
    rows = dict((u, (n, d)) for u, n, d in session.execute(
        select(SurveyRating.unit_id, func.sum(SurveyRating.satisfaction), func.count())
        .join(SurveyResponse, SurveyResponse.id == SurveyRating.response_id)
        .where(SurveyRating.unit_id.in_(list(unit_ids)), SurveyResponse.answered_at >= start,
               SurveyResponse.answered_at < end).group_by(SurveyRating.unit_id)))
    return {u: (float(rows[u][0]), rows[u][1]) if u in rows else (0, 0) for u in unit_ids}


# drill-downs: the rows behind a unit's number

def _task_rows(session, stmt, late_test=None) -> list[dict]:
    out = []
    for task in session.scalars(stmt.order_by(HumanTask.due_at, HumanTask.id)):
        out.append({"label": f"{task.instance.business_key or task.instance_id} · {task.name or ''}"
                             + (f" · {task.subject}" if task.subject else ""),
                    "instance_id": task.instance_id, "task_id": task.id,
                    "value": late_test(task) if late_test else 1})
    return out


def _steps_detail(session, unit_id, start, end, **_):
    def on_time(t):
        return int(t.completed_at is not None and t.completed_at <= t.due_at and t.sla_state != "escalated")
    return _task_rows(session, select(HumanTask).where(*_steps([unit_id], start, end)), on_time)


def _late_detail(session, unit_id, start, end, **_):
    def late(t):
        return int(t.completed_at is None or t.completed_at > t.due_at or t.sla_state == "escalated")
    return _task_rows(session, select(HumanTask).where(*_steps([unit_id], start, end)), late)


def _received_detail(session, unit_id, start, end, **_):
    return _task_rows(session, select(HumanTask).where(HumanTask.unit_id == unit_id,
                                                       HumanTask.element_id == NOTICE_REPLY,
                                                       HumanTask.created_at >= start, HumanTask.created_at < end))


def _notices_late_detail(session, unit_id, start, end, **_):
    def late(t):
        return int(t.completed_at is None or t.completed_at > t.due_at)
    return _task_rows(session, select(HumanTask).where(*_steps([unit_id], start, end),
                                                       HumanTask.element_id == NOTICE_REPLY), late)


def _revisit_detail(session, unit_id, start, end, **points):
    scale = {**REVISIT_POINTS, **{k: float(v) for k, v in points.items() if k in REVISIT_POINTS}}
    return [{"label": f"{key or instance_id} · {answer}", "instance_id": instance_id, "task_id": task_id,
             "value": scale[answer]} for _, answer, instance_id, task_id, key in _revisits(session, [unit_id], start, end)]


def _survey_detail(session, unit_id, start, end, **_):
    from engine.registers.contact_point_models import SurveyRating, SurveyResponse
    rows = session.execute(select(SurveyRating, SurveyResponse).join(SurveyResponse).where(
        SurveyRating.unit_id == unit_id, SurveyResponse.answered_at >= start, SurveyResponse.answered_at < end)
        .order_by(SurveyResponse.answered_at, SurveyRating.id)).all()
    return [{"label": response.contact_point.name, "instance_id": response.instance_id, "task_id": None,
             "value": rating.satisfaction} for rating, response in rows]


steps_on_time.detail = _steps_detail
steps_late.detail = _late_detail
notices_received.detail = _received_detail
notices_late.detail = _notices_late_detail
revisit_satisfaction.detail = _revisit_detail
survey_satisfaction.detail = _survey_detail

BUILTIN: dict[str, Callable] = {"steps_on_time": steps_on_time, "steps_late": steps_late,
                                "notices_received": notices_received, "notices_late": notices_late,
                                "revisit_satisfaction": revisit_satisfaction,
                                "survey_satisfaction": survey_satisfaction}


# -- scores ------------------------------------------------------------------------------------------------------

def indicator_score(indicator: Indicator, numerator: float, denominator: float) -> tuple[float | None, float | None]:
    """(value, score 0..100) of one applicable indicator."""
    p = indicator.params
    if indicator.kind == "penalty":
        return numerator, max(0.0, 100.0 - float(p["per_item"]) * numerator)
    value = numerator / denominator
    if indicator.kind == "rate":
        return value, max(0.0, min(100.0, 100.0 * value))
    if indicator.kind == "inverse_rate":
        return value, max(0.0, min(100.0, 100.0 * (1 - value)))
    low, high = float(p["min"]), float(p["max"])
    return value, max(0.0, min(100.0, 100.0 * (value - low) / (high - low)))


def score_unit(config: Config, figures: dict[str, tuple[float, float]]) -> tuple[float | None, dict[str, dict]]:
    """The unit's total and each indicator's value, score, effective weight and contribution."""
    out, applicable_weight = {}, 0.0
    for ind in config.indicators:
        n, d = figures.get(ind.key, (0, 0))
        policy = ind.not_applicable or config.not_applicable
        row = {"numerator": n, "denominator": d, "applicable": d > 0, "value": None, "score": None,
               "weight": 0.0, "contribution": None, "policy": policy}
        if d > 0:
            row["value"], row["score"] = indicator_score(ind, n, d)
        elif policy == "full":
            row["score"] = 100.0
        elif policy == "zero":
            row["score"] = 0.0
        if row["score"] is not None:
            applicable_weight += ind.weight
        out[ind.key] = row
    if applicable_weight <= 0:
        return None, out
    total_weight = sum(i.weight for i in config.indicators)
    total = 0.0
    for ind in config.indicators:
        row = out[ind.key]
        if row["score"] is None:
            continue
        row["weight"] = ind.weight * total_weight / applicable_weight     # = ind.weight without redistribution
        row["contribution"] = round(row["score"] * row["weight"] / 100.0, 2)
        total += row["score"] * row["weight"] / 100.0
    return round(total, 2), out


def assessed_units(session: Session, config: Config, area: set[int] | None = None,
                   tier: str | None = None, kind: str | None = None) -> list[OrgUnit]:
    stmt = select(OrgUnit).where(OrgUnit.kind.in_(config.unit_kinds)).order_by(OrgUnit.code)
    if tier:
        stmt = stmt.where(OrgUnit.tier == tier)
    if kind:
        stmt = stmt.where(OrgUnit.kind == kind)
    if area is not None:
        stmt = stmt.where(OrgUnit.id.in_(area) if area else OrgUnit.id.is_(None))
    return list(session.scalars(stmt))


@dataclass
class Ranking:
    period: str
    start: datetime
    end: datetime
    frozen: bool
    closed_at: datetime | None
    config: Config
    rows: list[dict]                 # per unit: unit, county, score, rank, figures {key: {...}}


def _live_figures(session, config, units, start, end) -> dict[int, dict[str, tuple]]:
    ids = [u.id for u in units]
    figures: dict[int, dict[str, tuple]] = defaultdict(dict)
    if not ids:
        return figures
    for ind in config.indicators:
        fn = source_function(ind)
        params = ind.source_params()
        values = fn(session, ids, start, end, **params) if params else fn(session, ids, start, end)
        for unit_id in ids:
            n, d = (values or {}).get(unit_id, (0, 0))
            figures[unit_id][ind.key] = (float(n or 0), float(d or 0))
    return figures


def _county_name(unit: OrgUnit) -> str:
    node = unit
    while node is not None and not (node.kind == "government" and node.tier in ("county", "city")):
        node = node.parent
    return node.name if node is not None else ""


def _rank(rows: list[dict]) -> None:
    """Rank within each (tier, kind): 1 = best score; units without a score come last, unranked."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["tier"], row["kind"])].append(row)
    for members in groups.values():
        scored = sorted((r for r in members if r["score"] is not None), key=lambda r: -r["score"])
        previous, rank = None, 0
        for index, row in enumerate(scored, start=1):
            if row["score"] != previous:
                rank, previous = index, row["score"]
            row["rank"] = rank
        for row in members:
            row.setdefault("rank", None)


def ranking(session: Session, config: Config, period: str, now: datetime, area: set[int] | None = None,
            tier: str | None = None, kind: str | None = None) -> Ranking:
    """The ranking of ``period``: frozen figures when the period is closed, else computed live up to now."""
    start, end = period_bounds(period)
    closed = session.scalar(select(AssessmentPeriod).where(AssessmentPeriod.period == period))
    units = {u.id: u for u in session.scalars(select(OrgUnit))}
    if closed is not None:
        frozen_config = Config.from_dict(closed.method)
        scores = {s.unit_id: s.score for s in session.scalars(select(AssessmentScore).where(
            AssessmentScore.period_id == closed.id))}
        figures: dict[int, dict] = defaultdict(dict)
        for f in session.scalars(select(AssessmentFigure).where(AssessmentFigure.period_id == closed.id)):
            figures[f.unit_id][f.indicator] = {"numerator": f.numerator, "denominator": f.denominator,
                                               "applicable": f.applicable, "value": f.value, "score": f.score,
                                               "weight": f.weight, "contribution": f.contribution}
        rows = []
        for unit_id, score in scores.items():
            unit = units[unit_id]
            if (area is not None and unit_id not in area) or (tier and unit.tier != tier) or (kind and unit.kind != kind):
                continue
            rows.append(_row(unit, score, figures[unit_id]))
        _rank(rows)
        rows.sort(key=_order)
        return Ranking(period, start, end, True, closed.closed_at, frozen_config, rows)
    chosen = assessed_units(session, config, area, tier, kind)
    live = _live_figures(session, config, chosen, start, min(end, now))
    rows = []
    for unit in chosen:
        total, detail = score_unit(config, live[unit.id])
        rows.append(_row(unit, total, detail))
    _rank(rows)
    rows.sort(key=_order)
    return Ranking(period, start, end, False, None, config, rows)


def _row(unit: OrgUnit, score, figures) -> dict:
    return {"unit_id": unit.id, "code": unit.code, "name": unit.name, "tier": unit.tier, "kind": unit.kind,
            "county": _county_name(unit), "score": score, "figures": figures}


def _order(row: dict):
    return (row["tier"] != "city", row["tier"], row["kind"], row["rank"] is None, row["rank"] or 0, row["code"])


def drilldown(session: Session, config: Config, period: str, now: datetime, unit_id: int, key: str) -> list[dict]:
    """The cases (tasks, ratings) behind one unit's figure: frozen with a closed period."""
    start, end = period_bounds(period)
    closed = session.scalar(select(AssessmentPeriod).where(AssessmentPeriod.period == period))
    if closed is not None:
        figure = session.scalar(select(AssessmentFigure).where(
            AssessmentFigure.period_id == closed.id, AssessmentFigure.unit_id == unit_id,
            AssessmentFigure.indicator == key))
        if figure is None:
            raise NotFound(N_("No such indicator for this unit in this period"))
        return list(figure.details or [])
    indicator = next((i for i in config.indicators if i.key == key), None)
    if indicator is None:
        raise NotFound(N_("No such indicator for this unit in this period"))
    fn = detail_function(indicator)
    if fn is None:
        return []
    params = indicator.source_params()
    return list(fn(session, unit_id, start, min(end, now), **params) if params else fn(session, unit_id, start,
                                                                                      min(end, now)))


def close_period(session: Session, config: Config, period: str, now: datetime, actor: str) -> AssessmentPeriod:
    """Freeze ``period`` (it must have ended): every assessed unit's figures, scores and drill-down ids are
    stored with the method used, and from now on the ranking is read from them."""
    start, end = period_bounds(period)
    if end > now:
        raise Conflict(N_("A period can be closed only after it has ended"))
    if session.scalar(select(AssessmentPeriod.id).where(AssessmentPeriod.period == period)) is not None:
        raise Conflict(N_("This period has already been closed"))
    closed = AssessmentPeriod(period=period, start=start, end=end, closed_at=now, closed_by=actor,
                              method=config.as_dict())
    session.add(closed)
    session.flush()
    units = assessed_units(session, config)
    live = _live_figures(session, config, units, start, end)
    for unit in units:
        total, detail = score_unit(config, live[unit.id])
        session.add(AssessmentScore(period_id=closed.id, unit_id=unit.id, score=total))
        for ind in config.indicators:
            row = detail[ind.key]
            fn = detail_function(ind)
            params = ind.source_params()
            rows = (fn(session, unit.id, start, end, **params) if params else fn(session, unit.id, start, end)) \
                if fn is not None and row["denominator"] else []
            session.add(AssessmentFigure(period_id=closed.id, unit_id=unit.id, indicator=ind.key,
                                         numerator=row["numerator"], denominator=row["denominator"],
                                         applicable=row["applicable"], value=row["value"], score=row["score"],
                                         weight=row["weight"], contribution=row["contribution"],
                                         details=_jsonable(rows)))
    session.flush()
    history.record(session, now, "assessment_period_closed", actor=actor,
                   data={"period": period, "units": len(units), "indicators": [i.key for i in config.indicators]})
    return closed


def close_ended_periods(session: Session, config: Config, now: datetime, grace_days: int) -> list[str]:
    """What the scheduler does: close the last ended quarter and year once ``grace_days`` have passed since
    their end (late entries of the period's last days still count)."""
    done = []
    for period in periods_ended(now):
        _, end = period_bounds(period)
        if end + timedelta(days=grace_days) <= now and session.scalar(
                select(AssessmentPeriod.id).where(AssessmentPeriod.period == period)) is None:
            close_period(session, config, period, now, "scheduler")
            done.append(period)
    return done


def closed_periods(session: Session) -> list[AssessmentPeriod]:
    return list(session.scalars(select(AssessmentPeriod).order_by(AssessmentPeriod.start.desc(),
                                                                   AssessmentPeriod.period)))


def _jsonable(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        out.append({k: (v if isinstance(v, (str, int, float, type(None))) else str(v)) for k, v in row.items()})
    return out


def as_json(r: Ranking) -> dict[str, Any]:
    return {"period": r.period, "start": r.start.isoformat(), "end": r.end.isoformat(), "frozen": r.frozen,
            "closed_at": r.closed_at.isoformat() if r.closed_at else None,
            "method": r.config.as_dict(),
            "units": [{"unit": {"code": row["code"], "name": row["name"], "tier": row["tier"], "kind": row["kind"]},
                       "county": row["county"], "score": row["score"], "rank": row["rank"],
                       "indicators": {k: {kk: vv for kk, vv in v.items() if kk != "policy"}
                                      for k, v in row["figures"].items()}} for row in r.rows]}

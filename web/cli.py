"""``flask`` commands: deploy, org load, users (token, set-password, create), audit verify, calendar seed,
demo load."""
from __future__ import annotations

import glob
import os
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext
from sqlalchemy import select

from engine import history
from engine.calendar import seed_from_chinesecalendar
from engine.errors import EngineError, render_problem
from engine.models import Role, User
from engine.org import TOKEN_DAYS, create_user, issue_token, load_file, set_password
from engine.registers.experts import load_file as load_registers_demo
from engine.repository import deploy_paths

from . import services
from .extensions import db


def _fail(exc: EngineError) -> None:
    db.session.rollback()
    rendered = exc.render(gettext)
    click.echo(rendered["message"], err=True)
    for e in rendered["errors"]:
        if not (e.get("file") or e.get("line") or e.get("element_id")):      # e.g. the password policy
            if e["message"] != rendered["message"]:
                click.echo(f"  - {e['message']}", err=True)
            continue
        where = ":".join(str(x) for x in (e.get("file"), e.get("line")) if x)
        click.echo(f"  {where} [{e.get('element_id') or '-'}] {e['message']}", err=True)
    sys.exit(1)


def _seed_calendar():
    """Seed the holiday table from chinesecalendar; when that adds a year, the provisional deadlines of running
    cases are recomputed (in the caller's transaction). Returns (years covered, report or None)."""
    from engine.models import CalendarYear, ProvisionalValue
    from engine.provisional import recompute_provisional
    before = set(db.session.scalars(select(CalendarYear.year)))
    years = seed_from_chinesecalendar(db.session)
    added = sorted(set(db.session.scalars(select(CalendarYear.year))) - before)
    if not added or db.session.scalar(select(ProvisionalValue.id).limit(1)) is None:
        return years, None
    return years, recompute_provisional(db.session, services.clock(), actor="system",
                                        reason={"source": "chinesecalendar", "years": added})


def _deploy(paths: list[str], actor: str, comment: str | None) -> None:
    result = deploy_paths(services.repository(), paths, actor=actor, comment=comment)
    db.session.commit()
    for d in result.created:
        click.echo(f"deployed {d.key} v{d.version}")
    for d in result.unchanged:
        click.echo(f"unchanged {d.key} v{d.version}")
    for w in result.warnings:
        rendered = render_problem(w, gettext)
        where = ":".join(str(x) for x in (w.get("file"), w.get("line")) if x)
        click.echo(f"warning: {where} [{w.get('element_id') or '-'}] {rendered['message']}", err=True)


def register(app: Flask) -> None:
    @app.cli.command("deploy")
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--comment", default=None, help="Why this version is deployed")
    def deploy_cmd(paths, comment):
        """Deploy BPMN/DMN files (together, as one deployment)."""
        try:
            _deploy(list(paths), "cli", comment)
        except EngineError as exc:
            _fail(exc)

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    @click.option("--no-scheduler", is_flag=True, help="Do not fire timers in this process")
    def serve_cmd(host, port, no_scheduler):
        """Serve the web app with the embedded timer scheduler (the demo / single-node default)."""
        from werkzeug.serving import run_simple

        from . import logs
        from .scheduler import start_background
        app_obj = current_app._get_current_object()
        logs.configure_for(app_obj, process="web")
        if not no_scheduler:
            start_background(app_obj)
        click.echo(f" * Serving on http://{host}:{port}/ (one line per request in the log; Ctrl-C stops)")
        run_simple(host, port, app_obj, threaded=True, use_reloader=False)

    @app.cli.command("scheduler")
    @click.option("--drain", is_flag=True, help="Fire what is due now, then exit")
    def scheduler_cmd(drain):
        """Run the timer scheduler as its own process (several may share one PostgreSQL)."""
        from . import logs
        from .scheduler import run_blocking, tick
        app_obj = current_app._get_current_object()
        logs.configure_for(app_obj, process="scheduler", scheduler=app_obj.config["SCHEDULER_NAME"])
        if drain:
            report = tick(app_obj)
            click.echo(f"fired {report.fired_instances} instances, {report.conflicts} conflicts, "
                       f"{report.failures} failures, {report.incidents} new incidents, "
                       f"{report.sla_changes} SLA changes")
            if not report.ok:
                click.echo("the tick ended early on a database error (see the log)", err=True)
                sys.exit(1)
            return
        run_blocking(app_obj)

    org = AppGroup("org", help="Organisation: units, roles, users.")

    @org.command("load")
    @click.argument("path")
    def org_load(path):
        """Load an organisation YAML file (idempotent)."""
        try:
            counts = load_file(db.session, path, current_app.config["ORG_PASSWORD_METHOD"])
            db.session.commit()
        except EngineError as exc:
            _fail(exc)
        click.echo(f"loaded {counts['units']} units, {counts['users']} users, {counts['roles']} roles")

    @org.command("check")
    @click.option("--process", "keys", multiple=True, help="Only this procedure (key; repeatable)")
    def org_check(keys):
        """List every (role, unit) a step of the deployed procedures can be routed to where no active user
        holds the role; exit code 1 when there is any (or when routing fails for some case)."""
        report = services.route_check(list(keys) or None)
        roles = {r.code: r.name for r in db.session.scalars(select(Role))}
        click.echo(f"checked {report.procedures} procedures, {report.steps} steps, {report.routes} routes "
                   f"(step × receiving unit)")
        for group in report.gap_groups():
            role = group["role_code"] or "-"
            click.echo(f"GAP {role} ({roles.get(role, role)}) at {group['tier']} {group['kind']}: "
                       f"{len(group['units'])} unit(s)")
            for unit in group["units"]:
                example = group["examples"].get(unit.code)
                click.echo(f"    {unit.code} {unit.name}" + (f"  (e.g. a case of {example})" if example else ""))
            for procedure, step in group["steps"]:
                click.echo(f"    step: {procedure} / {step}")
        for f in report.gaps:
            if f.kind == "no_role":
                click.echo(f"GAP {f.process_key}/{f.element_id}: {gettext(f.msgid) % f.params}")
        for f in report.errors:
            click.echo(f"ERROR {f.process_key}/{f.element_id} ({f.step}): {gettext(f.msgid) % f.params}"
                       + (f"  (e.g. a case of {f.example})" if f.example else ""))
        for f in report.unchecked:
            click.echo(f"not checked {f.process_key}/{f.element_id} ({f.step}): {gettext(f.msgid) % f.params}")
        from engine.calendar import local_date
        from engine.registers.personnel import units_without_qualified_reviewer
        unqualified = units_without_qualified_reviewer(db.session, local_date(services.clock().now()),
                                                       services.reviewer_rule())
        for unit in unqualified:        # its review tasks would wait in the 待分派 queue of the bureau above
            click.echo(f"NO QUALIFIED legal_reviewer ({roles.get('legal_reviewer', '')}) at {unit.code} {unit.name}")
        click.echo(f"{report.gap_count} gaps, {len(report.errors)} routing errors, "
                   f"{len(report.unchecked)} steps not checked, "
                   f"{len(unqualified)} units without a qualified legal reviewer")
        if not report.ok or unqualified:
            sys.exit(1)

    app.cli.add_command(org)

    users = AppGroup("users", help="User accounts.")

    def _user(username: str) -> User:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            click.echo(gettext("No user %(user)s", user=username), err=True)
            sys.exit(1)
        return user

    def _password(password: str | None) -> str:
        if password is not None:
            return password
        first = click.prompt(gettext("New password"), hide_input=True, err=True)
        if click.prompt(gettext("New password again"), hide_input=True, err=True) != first:
            click.echo(gettext("The two new passwords differ."), err=True)
            sys.exit(1)
        return first

    @users.command("token")
    @click.argument("username")
    @click.option("--days", type=click.IntRange(1, 3650), default=TOKEN_DAYS, show_default=True,
                  help="Days until the token expires")
    @click.option("--name", default=None, help="A label shown to the user (e.g. the system that uses it)")
    def users_token(username, days, name):
        """Issue an API token (shown once)."""
        user = _user(username)
        try:
            token = issue_token(db.session, user, services.clock().now(), name=name, days=days)
        except EngineError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(token)

    @users.command("set-password")
    @click.argument("username")
    @click.option("--password", default=None, help="For scripts; without it the password is asked twice")
    def users_set_password(username, password):
        """Set a user's password (the password policy applies) and end that user's sessions."""
        user = _user(username)
        try:
            set_password(db.session, user, _password(password), current_app.config["ORG_PASSWORD_METHOD"])
        except EngineError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(gettext("Password set for %(user)s; their sessions have ended.", user=username))

    @users.command("create")
    @click.argument("username")
    @click.option("--name", "display_name", required=True, help="Display name")
    @click.option("--unit", "unit_code", required=True, help="Unit code, e.g. lf.guan.scjg")
    @click.option("--role", "roles", multiple=True, help="Role code at that unit (repeatable)")
    @click.option("--password", default=None, help="For scripts; without it the password is asked twice")
    def users_create(username, display_name, unit_code, roles, password):
        """Create a user (the password policy applies)."""
        try:
            create_user(db.session, username, display_name, unit_code, roles, _password(password),
                        current_app.config["ORG_PASSWORD_METHOD"])
        except EngineError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(gettext("User %(user)s created.", user=username))

    app.cli.add_command(users)

    audit = AppGroup("audit", help="Audit trail.")

    @audit.command("verify")
    def audit_verify():
        """Check every hash chain; report the first broken row."""
        checked, broken = history.verify(db.session)
        if broken is None:
            click.echo(f"OK: {checked} audit rows, every chain intact")
            return
        click.echo(f"BROKEN: audit row id={broken.event_id} (stream {broken.stream}, seq {broken.seq}): "
                   f"{broken.reason}", err=True)
        sys.exit(1)

    app.cli.add_command(audit)

    rollups = AppGroup("rollups", help="Dashboard rollups (engine.analytics.rollups).")

    @rollups.command("rebuild")
    def rollups_rebuild():
        """Recompute the handling-time rollup from the completed human tasks (after a restore or a bulk load)."""
        from engine.analytics.rollups import rebuild
        rows = rebuild(db.session)
        db.session.commit()
        click.echo(f"handling_rollups: {rows} rows")

    app.cli.add_command(rollups)

    cal = AppGroup("calendar", help="Working-day calendar.")

    @cal.command("seed")
    def calendar_seed():
        """Load the holidays chinesecalendar knows (keeps administrator overrides); provisional deadlines of
        running cases in a year it adds are recomputed."""
        years, report = _seed_calendar()
        db.session.commit()
        click.echo(f"calendar covers {years} years")
        if report is not None:
            click.echo(f"provisional deadlines recomputed: {report.deadlines}, moved: {report.moved}, "
                       f"still provisional: {report.still_provisional}")

    @cal.command("enter")
    @click.argument("year", type=int)
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def calendar_enter(year, path):
        """Enter a whole year from a list of dates (the format of the calendar page: "2027-01-01 元旦 休",
        "2027-02-06至2027-02-13 春节", "2027-02-14 调休 班") and recompute the provisional deadlines."""
        from engine.calendar import parse_notice
        from engine.provisional import enter_year
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        try:
            count, report = enter_year(db.session, services.clock(), year, parse_notice(text, year), actor="cli")
        except EngineError as exc:
            _fail(exc)
        db.session.commit()
        click.echo(f"{year}: {count} days entered; provisional deadlines recomputed: {report.deadlines}, "
                   f"moved: {report.moved}, still provisional: {report.still_provisional}")

    @cal.command("show")
    @click.argument("year", type=int)
    def calendar_show(year):
        """Print a year's public holidays and make-up working days."""
        from engine.calendar import year_overrides
        from engine.models import CalendarYear
        covered = db.session.get(CalendarYear, year)
        if covered is None:
            click.echo(f"{year}: not in the calendar — deadlines reaching it are provisional until that year's "
                       f"holidays are entered (/admin/calendar/{year}, `flask calendar enter {year} FILE` or "
                       f"PUT /api/calendar/years/{year})", err=True)
            sys.exit(1)
        click.echo(f"{year} (source: {covered.source})")
        for row in year_overrides(db.session, year):
            kind = "working day (调休)" if row.is_workday else "holiday"
            click.echo(f"  {row.day.isoformat()} {row.day.strftime('%a')}  {kind:<18} {row.name or ''}  [{row.source}]")

    app.cli.add_command(cal)

    demo = AppGroup("demo", help="Demo data for `make run`.")

    @demo.command("load")
    def demo_load():
        """Seed the calendar, load the demo organisation and deploy every file in workflows/bpmn/."""
        try:
            _seed_calendar()
            load_file(db.session, current_app.config["DEMO_ORG_FILE"], current_app.config["ORG_PASSWORD_METHOD"])
            db.session.commit()
            load_registers_demo(db.session, current_app.config["DEMO_REGISTERS_FILE"])
            db.session.commit()
            paths = sorted(glob.glob(os.path.join(current_app.config["BPMN_DIR"], "*.bpmn"))
                           + glob.glob(os.path.join(current_app.config["BPMN_DIR"], "*.dmn")))
            if paths:
                _deploy(paths, "demo", "demo load")
            from .demo_casework import seed as seed_casework
            seed_casework()                     # cases to search, batch-complete, withdrawn and cancelled
            from .demo_documents import load as load_document_demo
            if load_document_demo():
                click.echo("demo case with issued documents (法制审核意见书) added")
            from engine.registers.lists import load_demo
            load_demo(db.session, current_app.config["DEMO_LISTS_FILE"], current_app.extensions["clock"].now())
            from . import demo_assessment
            from .services import validate_form
            now = current_app.extensions["clock"].now()
            demo_assessment.load(db.session, now)
            db.session.commit()
            demo_assessment.survey_round(db.session, validate_form)
            demo_assessment.close_quarter(db.session, now, current_app.config["ASSESSMENT_CONFIG"])
            db.session.commit()
        except EngineError as exc:
            _fail(exc)
        click.echo("demo data loaded")

    @demo.command("logins")
    def demo_logins():
        """Print the URL and the demo sign-ins (every demo password is demo1234)."""
        shown = ["guan_guanzhen_handler", "guan_scjg_handler", "guan_scjg_review", "guan_scjg_head", "guan_review",
                 "guan_sup", "sanhe_review", "guan_scjg_revisit", "city_sup", "city_observer", "guan_observer", "expert_wang",
                 "designer", "admin"]
        click.echo("")
        click.echo("  http://127.0.0.1:5000/")
        click.echo("")
        click.echo(f"  {'user name':<24} {'password':<10} unit / roles")
        for username in shown:
            user = db.session.scalar(select(User).where(User.username == username))
            if user is not None:
                roles = ", ".join(sorted(ra.role_code for ra in user.roles))
                click.echo(f"  {username:<24} {'demo1234':<10} {user.unit.name} / {roles}")
        click.echo("")

    app.cli.add_command(demo)

    assessment = AppGroup("assessment", help="The assessment of the enforcement units (考核).")

    @assessment.command("check")
    def assessment_check():
        """Check the indicators file (ASSESSMENT_CONFIG): a mistake is named with its key and line."""
        from engine.analytics.assessment import load_config
        try:
            cfg = load_config(current_app.config["ASSESSMENT_CONFIG"])
        except EngineError as exc:
            _fail(exc)
        for ind in cfg.indicators:
            click.echo(f"  {ind.weight:>5g}  {ind.key:<24} {ind.kind:<13} {ind.source}")
        click.echo(f"{len(cfg.indicators)} indicators, weights add up to 100")

    @assessment.command("close")
    @click.argument("period")
    def assessment_close(period):
        """Close (freeze) an ended period, e.g. 2026Q1 or 2026."""
        from engine.analytics.assessment import close_period, load_config
        try:
            close_period(db.session, load_config(current_app.config["ASSESSMENT_CONFIG"]), period,
                         current_app.extensions["clock"].now(), "cli")
            db.session.commit()
        except EngineError as exc:
            _fail(exc)
        click.echo(f"{period} closed")

    app.cli.add_command(assessment)

"""Timer firing benchmark (not a test: it measures and prints, it asserts no timings).

N instances of tests/bpmn/wait_timer.bpmn (start -> timeDate timer ``fire_at`` -> end) all wait on a timer
that falls due at the same moment. Real ``flask scheduler`` processes (the long-running APScheduler mode,
not --drain; poll interval SCHEDULER_POLL_SECONDS, batch size SCHEDULER_BATCH_SIZE) are started before the
due time, and the script waits until every ``timers`` row is 'fired':

  (a) one scheduler process;
  (b) two scheduler processes at once (PostgreSQL only: FOR UPDATE SKIP LOCKED);
  (c) the raw engine in memory: N SpiffWorkflow workflows of the same BPMN (parsed once), each waiting on its
      timer, then ``wf.refresh_timers(); wf.do_engine_steps()`` on all of them after the due time.

Reported per configuration: seconds to drain (due time -> last ``fired_at``), timers/s, lateness
(``fired_at - due_at``) median / p95 / max; checked: N ``timer_fired`` audit rows for N distinct instances
(each timer fired exactly once), N instances completed.

The instances are made quickly: one is started through the services, then copied N-1 times with one
INSERT ... SELECT (as tests/test_scheduler_pg.py does), with their timer rows and case search rows.

(d) Statements per timer: ``--statements M`` (default 1,000) more waiting instances are fired in this process by
``engine.jobs.run_due_timers`` (batches of SCHEDULER_BATCH_SIZE, as a tick does) while every statement sent
to the database is counted (PostgreSQL's implicit BEGIN is not counted; each COMMIT is counted once).

Database: PostgreSQL from DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench), whose schema
``public`` is DROPPED and recreated before each configuration; the script refuses a database whose name does
not contain "bench" unless --allow-any-db is given, and refuses while other sessions use that database.
With --sqlite: a SQLite file in a temporary directory, configuration (a) only.

    PYTHONPATH=. .venv/bin/python bench/timers.py                       # 10,000 timers, (a) (b) (c)
    PYTHONPATH=. .venv/bin/python bench/timers.py --n 2000 --poll 1 --batch 25
    PYTHONPATH=. .venv/bin/python bench/timers.py --sqlite --n 1000     # quick run
"""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # allow `python bench/timers.py` without PYTHONPATH
    sys.path.insert(0, ROOT)

from bench.engine_throughput import database_notes, machine_notes, normalise_url, table  # noqa: E402

BPMN_PATH = os.path.join(ROOT, "tests", "bpmn", "wait_timer.bpmn")
PROCESS_KEY = "wait_timer"
USERNAME = "guan_scjg_handler"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench"
APP_NAME_PREFIX = "bench-timers-"


# --- results ---------------------------------------------------------------------------------------------------

@dataclass
class Run:
    label: str
    n: int
    drain_s: float                   # due time -> last fire
    span_s: float                    # first fire -> last fire
    lateness: list[float]            # seconds, per timer
    checks: list[list[str]] = field(default_factory=list)
    split: str = ""                  # timers fired per scheduler process
    up_before_due_s: float | None = None   # how long before the due time the last scheduler was up

    @property
    def per_second(self) -> float:
        return self.n / self.drain_s if self.drain_s > 0 else float("inf")

    @property
    def span_per_second(self) -> float:
        return self.n / self.span_s if self.span_s > 0 else float("inf")


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- database setup --------------------------------------------------------------------------------------------

def reset_database(app) -> None:
    """Fresh schema: migrate, calendar, demo organisation, wait_timer.bpmn deployed (as engine_throughput)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from engine.calendar import seed_from_chinesecalendar
    from engine.org import load_file
    from engine.repository import deploy_paths
    from web.extensions import db
    from web.services import repository

    session = db.session
    if db.engine.dialect.name == "postgresql":
        others = session.execute(text(
            "SELECT pid, coalesce(application_name, ''), coalesce(client_addr::text, 'local') FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        if others:
            raise SystemExit("refusing to drop schema public: other sessions use this database: "
                             + "; ".join(f"pid {p} {a!r} from {c}" for p, a, c in others)
                             + " (a running benchmark, or a scheduler left over from an interrupted run?)")
        session.execute(text("DROP SCHEMA public CASCADE"))
        session.execute(text("CREATE SCHEMA public"))
        session.commit()
    upgrade()
    seed_from_chinesecalendar(session)
    load_file(session, app.config["DEMO_ORG_FILE"], app.config["ORG_PASSWORD_METHOD"])
    session.commit()
    deploy_paths(repository(), [BPMN_PATH], actor="bench")
    session.commit()
    if db.engine.dialect.name == "postgresql":
        # Which scheduler fired which timer: an unlogged side table filled by a trigger with the session's
        # application_name (each subprocess connects with its own). One small insert per fired timer.
        session.execute(text("CREATE UNLOGGED TABLE bench_fired_by (timer_id integer, app text)"))
        session.execute(text(
            "CREATE FUNCTION bench_note_fired() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.status = 'fired' AND OLD.status IS DISTINCT FROM 'fired' THEN"
            " INSERT INTO bench_fired_by VALUES (NEW.id, current_setting('application_name')); END IF;"
            " RETURN NEW; END $$"))
        session.execute(text("CREATE TRIGGER bench_fired_by AFTER UPDATE OF status ON timers FOR EACH ROW"
                             " EXECUTE FUNCTION bench_note_fired()"))
        session.commit()


def create_waiting(app, n: int, fire_at: datetime) -> float:
    """n running instances each waiting on a timer due at ``fire_at``: one started through the services,
    copied n-1 times with SQL. Returns the seconds it took."""
    from sqlalchemy import func, select, text

    from engine.models import ProcessInstance, Timer, User
    from engine.runtime import Runtime
    from web.extensions import db

    t0 = time.perf_counter()
    session = db.session
    pg = db.engine.dialect.name == "postgresql"
    user = session.query(User).filter_by(username=USERNAME).one()
    # started by the platform for the user's unit, as the tests do: the timer input is start data, which a
    # person may not give a procedure without a start form
    first = Runtime(session, app.extensions["clock"]).start(
        PROCESS_KEY, business_key="BULK-0",
        data={"fire_at": fire_at.isoformat(), "initiator": user.username, "case_unit": user.unit.code})
    session.commit()
    first_id = first.id
    series = ("generate_series(1, :m) g(x)" if pg else
              "(WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < :m) SELECT x FROM s) g")
    if n > 1:
        session.execute(text(
            "INSERT INTO process_instances (definition_id, process_key, business_key, status, unit_id, started_by,"
            " started_at, next_timer_at, state, version) SELECT definition_id, process_key, 'BULK-' || g.x, status,"
            f" unit_id, started_by, started_at, next_timer_at, state, 1 FROM process_instances, {series}"
            " WHERE id = :id"), {"m": n - 1, "id": first_id})
        session.execute(text(
            "INSERT INTO timers (instance_id, task_id, element_id, due_at, status) SELECT p.id, t.task_id,"
            " t.element_id, t.due_at, 'waiting' FROM process_instances p, timers t WHERE t.instance_id = :id"
            " AND p.id <> :id AND p.process_key = :key"), {"id": first_id, "key": PROCESS_KEY})
        # the case search row every started instance has (engine.casework.index_case)
        session.execute(text(
            "INSERT INTO case_index (instance_id, case_number, title, parties, updated_at) SELECT p.id,"
            " p.business_key, NULL, NULL, p.started_at FROM process_instances p WHERE p.id <> :id"
            " AND p.process_key = :key"), {"id": first_id, "key": PROCESS_KEY})
    session.commit()
    # planner statistics for the fresh rows, as autovacuum would have them in a live system
    session.execute(text("ANALYZE"))
    session.commit()
    waiting = session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "waiting"))
    running = session.scalar(select(func.count()).select_from(ProcessInstance)
                             .where(ProcessInstance.status == "running"))
    session.rollback()
    if waiting != n or running != n:
        raise RuntimeError(f"expected {n} waiting timers and running instances, found {waiting} / {running}")
    return time.perf_counter() - t0


# --- scheduler processes ---------------------------------------------------------------------------------------

def scheduler_url(url: str, app_name: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.update_query_dict({"application_name": app_name})
    return parsed.render_as_string(hide_password=False)


def start_scheduler(url: str, app_name: str, poll: int | None, batch: int | None, logdir: str):
    env = {**os.environ, "FLASK_APP": "web", "PYTHONPATH": ROOT, "DATABASE_URL": scheduler_url(url, app_name),
           "SCHEDULER_NAME": app_name}      # each its own heartbeat row, as deploy/serve names them
    env.pop("FLASK_DEBUG", None)
    if poll is not None:
        env["SCHEDULER_POLL_SECONDS"] = str(poll)
    if batch is not None:
        env["SCHEDULER_BATCH_SIZE"] = str(batch)
    log_path = os.path.join(logdir, app_name + ".log")
    log = open(log_path, "w", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "flask", "scheduler"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    return proc, log_path


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def check_alive(procs) -> None:
    for proc, log_path in procs:
        if proc.poll() is not None:
            raise RuntimeError(f"scheduler pid {proc.pid} exited with code {proc.returncode}:\n{tail(log_path)}")


def wait_ready(procs, app_names: list[str], sqlite_path: str | None, timeout: float = 120.0) -> datetime:
    """Until each scheduler has connected (its first tick runs at start-up): on PostgreSQL its
    application_name is in pg_stat_activity; on SQLite it holds the database file open."""
    from sqlalchemy import text

    from web.extensions import db

    deadline = time.monotonic() + timeout
    while True:
        check_alive(procs)
        if sqlite_path is None:
            names = set(db.session.scalars(text(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")))
            db.session.rollback()
            ready = all(name in names for name in app_names)
        else:
            ready = all(holds_file(proc.pid, sqlite_path) for proc, _ in procs)
        if ready:
            return now_utc()
        if time.monotonic() > deadline:
            raise RuntimeError(f"schedulers not connected after {timeout:.0f} s")
        time.sleep(0.05)


def holds_file(pid: int, path: str) -> bool:
    target = os.path.realpath(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def stop(procs) -> list[int]:
    for proc, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = []
    for proc, _ in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        codes.append(proc.returncode)
    return codes


def fired_count(sqlite_path: str | None) -> int:
    """Count fired rows without disturbing the schedulers: on SQLite a separate read-only connection (the
    app's connections begin every transaction with BEGIN IMMEDIATE, i.e. take the write lock)."""
    if sqlite_path is not None:
        conn = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute("SELECT count(*) FROM timers WHERE status = 'fired'").fetchone()[0]
        finally:
            conn.close()
    from sqlalchemy import text

    from web.extensions import db

    count = db.session.scalar(text("SELECT count(*) FROM timers WHERE status = 'fired'"))
    db.session.rollback()
    return count


def wait_all_fired(procs, n: int, sqlite_path: str | None, label: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        count = fired_count(sqlite_path)
        if count >= n:
            return
        check_alive(procs)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{label}: only {count} of {n} timers fired after {timeout:.0f} s")
        if time.monotonic() - last_report >= 10:
            progress(f"  {label}: {count:,} / {n:,} fired")
            last_report = time.monotonic()
        time.sleep(0.25)


# --- one database configuration --------------------------------------------------------------------------------

def run_schedulers(app, url: str, sqlite_path: str | None, label: str, processes: int, n: int,
                   poll: int | None, batch: int | None, lead: float, timeout: float, logdir: str) -> Run:
    from sqlalchemy import func, select, text

    from engine.models import AuditEvent, ProcessInstance, Timer
    from web.extensions import db

    progress(f"{label}: resetting the database, creating {n:,} waiting instances")
    reset_database(app)
    fire_at = now_utc() + timedelta(seconds=lead)
    created_s = create_waiting(app, n, fire_at)
    db.session.remove()
    progress(f"{label}: {n:,} instances made in {created_s:.2f} s; starting {processes} scheduler process(es)")

    tag = label.split()[0].strip("()")
    app_names = [f"{APP_NAME_PREFIX}{tag}-{i + 1}" for i in range(processes)]
    procs = []
    try:
        for name in app_names:
            procs.append(start_scheduler(url, name, poll, batch, logdir))
        ready_at = wait_ready(procs, app_names, sqlite_path)
        due = db.session.scalar(select(func.min(Timer.due_at)))
        db.session.rollback()
        up_before = (due - ready_at).total_seconds()
        if up_before <= 0:
            progress(f"{label}: WARNING the schedulers were up only {-up_before:.2f} s after the due time; "
                     f"use a larger --lead")
        else:
            progress(f"{label}: schedulers up {up_before:.2f} s before the due time; waiting")
        wait_all_fired(procs, n, sqlite_path, label, timeout)
        progress(f"{label}: all {n:,} fired; stopping the schedulers")
    finally:
        codes = stop(procs)

    session = db.session
    rows = session.execute(select(Timer.due_at, Timer.fired_at).where(Timer.status == "fired")).all()
    due_min = min(r.due_at for r in rows)
    fired = sorted(r.fired_at for r in rows)
    lateness = sorted((r.fired_at - r.due_at).total_seconds() for r in rows)
    run = Run(label, n, drain_s=(fired[-1] - due_min).total_seconds(),
              span_s=(fired[-1] - fired[0]).total_seconds(), lateness=lateness, up_before_due_s=up_before)

    timers_fired = len(rows)
    audit = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "timer_fired"))
    distinct = session.scalar(select(func.count(func.distinct(AuditEvent.instance_id)))
                              .where(AuditEvent.action == "timer_fired"))
    completed = session.scalar(select(func.count()).select_from(ProcessInstance)
                               .where(ProcessInstance.status == "completed"))
    not_fired = session.scalar(select(func.count()).select_from(Timer).where(Timer.status != "fired"))

    def ok(value: int, expected: int) -> str:
        return f"{value:,}" + ("  ok" if value == expected else f"  MISMATCH (expected {expected:,})")

    run.checks = [["timers rows with status 'fired'", ok(timers_fired, n)],
                  ["timers rows not 'fired'", ok(not_fired, 0)],
                  ["audit rows action 'timer_fired'", ok(audit, n)],
                  ["  distinct instance ids among them", ok(distinct, n)],
                  ["instances completed", ok(completed, n)]]
    if sqlite_path is None:
        per_app = dict(session.execute(text("SELECT app, count(*) FROM bench_fired_by GROUP BY app")).all())
        run.split = " / ".join(f"{per_app.get(name, 0):,}" for name in app_names)
        run.checks.append(["timers fired per scheduler process (" + " / ".join(app_names) + ")", run.split])
    run.checks.append(["scheduler exit codes after SIGTERM (-15: killed by it)", ", ".join(map(str, codes))])
    session.rollback()
    return run


# --- (d) statements per timer ----------------------------------------------------------------------------------

@dataclass
class Statements:
    n: int
    batch: int
    seconds: float
    statements: int
    commits: int
    by_kind: dict[str, int]


def run_statements(app, n: int, batch: int, lead: float) -> Statements:
    """n waiting instances fired in this process by run_due_timers in batches, every statement counted."""
    from collections import Counter

    from sqlalchemy import event

    from engine.jobs import run_due_timers
    from web.extensions import db

    progress(f"(d): resetting the database, creating {n:,} waiting instances")
    reset_database(app)
    fire_at = now_utc() + timedelta(seconds=lead)
    create_waiting(app, n, fire_at)
    db.session.remove()
    while now_utc() <= fire_at:
        time.sleep(0.01)
    kinds: Counter = Counter()

    def count(_conn, _cursor, statement, _params, _context, _many):
        words = statement.split(None, 1)
        kinds[words[0].upper() if words else "?"] += 1

    def count_commit(_conn):
        kinds["COMMIT"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    event.listen(db.engine, "commit", count_commit)
    clock = app.extensions["clock"]
    skip: set[int] = set()
    fired = 0
    t0 = time.perf_counter()
    try:
        while True:
            report = run_due_timers(db.session, clock, batch, skip=skip)
            fired += report.fired_instances
            if report.claimed < batch:
                break
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        event.remove(db.engine, "commit", count_commit)
    elapsed = time.perf_counter() - t0
    db.session.remove()
    if fired != n:
        raise RuntimeError(f"(d): fired {fired} of {n} instances")
    return Statements(n, batch, elapsed, sum(v for k, v in kinds.items() if k != "COMMIT"), kinds["COMMIT"],
                      dict(kinds))


# --- (c) raw engine --------------------------------------------------------------------------------------------

def run_raw(n: int) -> tuple[Run, float]:
    """n in-memory workflows waiting on their timer, fired with refresh_timers + do_engine_steps."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(BPMN_PATH)
    spec, subprocess_specs = parser.get_spec(PROCESS_KEY), parser.get_subprocess_specs(PROCESS_KEY)
    base = {"initiator": USERNAME, "initiator_unit": "lf.guan.scjg", "case_unit": "lf.guan.scjg",
            "business_key": "RAW"}

    def make(fire_at: datetime):
        wf = BpmnWorkflow(spec, subprocess_specs)
        wf.task_tree.data.update(base, fire_at=fire_at.isoformat())
        wf.do_engine_steps()
        return wf

    # estimate how long creating n takes, so that the timers fall due only after all are waiting
    sample = min(200, n)
    t0 = time.perf_counter()
    for _ in range(sample):
        make(now_utc() + timedelta(hours=1))
    estimate = (time.perf_counter() - t0) / sample * n
    fire_at = now_utc() + timedelta(seconds=estimate * 1.5 + 2)
    gc.collect()
    t0 = time.perf_counter()
    workflows = [make(fire_at) for _ in range(n)]
    create_s = time.perf_counter() - t0
    waiting = sum(1 for wf in workflows if not wf.is_completed() and wf.get_tasks(state=TaskState.WAITING))
    if waiting != n:
        raise RuntimeError(f"raw: only {waiting} of {n} workflows waiting when created (due too early?)")
    gc.collect()
    while now_utc() <= fire_at:
        time.sleep(0.001)
    t0 = time.perf_counter()
    start = now_utc()
    lateness = []
    for wf in workflows:
        wf.refresh_timers()
        wf.do_engine_steps()
        lateness.append((now_utc() - fire_at).total_seconds())
    elapsed = time.perf_counter() - t0
    completed = sum(1 for wf in workflows if wf.is_completed())
    run = Run("(c) raw SpiffWorkflow in memory", n, drain_s=elapsed, span_s=elapsed, lateness=sorted(lateness))
    run.checks = [["workflows completed after refresh_timers + do_engine_steps",
                   f"{completed:,}" + ("  ok" if completed == n else f"  MISMATCH (expected {n:,})")],
                  ["first fire after the due time", f"{(start - fire_at).total_seconds():.3f} s"]]
    return run, create_s


# --- main ------------------------------------------------------------------------------------------------------

def fmt_s(x: float) -> str:
    return f"{x:,.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="timers (= instances) per configuration (default 10000)")
    ap.add_argument("--poll", type=int, default=None,
                    help="SCHEDULER_POLL_SECONDS for the scheduler processes (default: the app's default)")
    ap.add_argument("--batch", type=int, default=None,
                    help="SCHEDULER_BATCH_SIZE for the scheduler processes (default: the app's default)")
    ap.add_argument("--sqlite", action="store_true",
                    help="a SQLite file in a temporary directory instead of PostgreSQL; one scheduler only")
    ap.add_argument("--lead", type=float, default=5.0,
                    help="the timers fall due this many seconds after the instances are made; the schedulers "
                         "must be up before (default 5)")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="give up when not all timers fired after this many seconds (default 3600)")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw engine baseline (c)")
    ap.add_argument("--statements", type=int, default=1000,
                    help="(d): fire this many timers in-process counting the statements sent (default 1000; 0: skip)")
    ap.add_argument("--allow-any-db", action="store_true",
                    help="allow resetting a PostgreSQL database whose name does not contain 'bench'")
    args = ap.parse_args(argv)
    if args.n < 1 or (args.poll is not None and args.poll < 1) or (args.batch is not None and args.batch < 1):
        ap.error("--n, --poll and --batch must be at least 1")

    sys.stdout.reconfigure(line_buffering=True)
    from sqlalchemy.engine import make_url

    import config
    from web import create_app
    from web.extensions import db

    poll = args.poll if args.poll is not None else config.Config.SCHEDULER_POLL_SECONDS
    batch = args.batch if args.batch is not None else config.Config.SCHEDULER_BATCH_SIZE

    tmp = tempfile.TemporaryDirectory(prefix="timers-bench-")
    try:
        if args.sqlite:
            sqlite_path = os.path.join(tmp.name, "bench.db")
            url = "sqlite:///" + sqlite_path
            where = url
            configs = [("(a) 1 scheduler process", 1)]
        else:
            sqlite_path = None
            url = normalise_url(os.environ.get("DATABASE_URL") or DEFAULT_URL)
            parsed = make_url(url)
            if parsed.get_backend_name() != "postgresql":
                raise SystemExit("DATABASE_URL must be PostgreSQL (use --sqlite for SQLite)")
            if "bench" not in (parsed.database or "") and not args.allow_any_db:
                raise SystemExit(f"refusing to drop schema public of database {parsed.database!r}: use a "
                                 f"database whose name contains 'bench' or pass --allow-any-db")
            where = parsed.render_as_string(hide_password=True)
            configs = [("(a) 1 scheduler process", 1), ("(b) 2 scheduler processes", 2)]

        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        runs: list[Run] = []
        with app.app_context():
            try:
                for label, processes in configs:
                    runs.append(run_schedulers(app, url, sqlite_path, label, processes, args.n, args.poll,
                                               args.batch, args.lead, args.timeout, tmp.name))
                stmts = None
                if args.statements > 0:
                    stmts = run_statements(app, args.statements, batch, args.lead)
                raw = None
                if not args.no_raw:
                    progress(f"(c): {args.n:,} in-memory workflows")
                    raw, raw_create_s = run_raw(args.n)
                    runs.append(raw)

                print(f"timer firing benchmark: {os.path.basename(BPMN_PATH)} (start -> timeDate timer -> end), "
                      f"{args.n:,} timers due at the same moment")
                print(f"database: {where}")
                print(f"schedulers: `flask scheduler` subprocesses, poll every {poll} s, batch {batch}"
                      f"{'' if args.poll is None and args.batch is None else ' (set with --poll/--batch)'}\n")

                print(table(
                    ["configuration", "timers", "drain s", "timers/s", "first fire s", "firing span s",
                     "timers/s in span", "late median s", "late p95 s", "late max s"],
                    [[r.label, f"{r.n:,}", fmt_s(r.drain_s), f"{r.per_second:,.1f}",
                      fmt_s(r.lateness[0]), fmt_s(r.span_s), f"{r.span_per_second:,.1f}",
                      fmt_s(statistics.median(r.lateness)), fmt_s(percentile(r.lateness, 95)),
                      fmt_s(r.lateness[-1])] for r in runs]))
                print("drain = due time -> last fired_at; timers/s = timers / drain; first fire = lateness of the "
                      "first timer (waiting for the next poll);\nfiring span = first -> last fired_at; "
                      "lateness = timers.fired_at - timers.due_at. (c): time of the refresh loop, lateness = "
                      "when each workflow was done.")
                print()

                if raw is not None:
                    ratio_rows = []
                    for r in runs:
                        if r is raw:
                            continue
                        tag = r.label.split(")")[0] + ")"
                        ratio_rows.append([f"{tag} / (c), drain", f"{r.per_second / raw.per_second:.4f}",
                                           f"1 : {raw.per_second / r.per_second:,.0f}"])
                        ratio_rows.append([f"{tag} / (c), firing span",
                                           f"{r.span_per_second / raw.per_second:.4f}",
                                           f"1 : {raw.per_second / r.span_per_second:,.0f}"])
                    print(table(["timers/s ratio, scheduler / raw engine", "ratio", "as 1 : x"], ratio_rows))
                    print()

                if stmts is not None:
                    per = stmts.n
                    print(f"(d) statements per timer: {stmts.n:,} timers fired in this process by run_due_timers, "
                          f"batches of {stmts.batch}, {stmts.seconds:.2f} s ({stmts.n / stmts.seconds:,.1f} timers/s)")
                    rows = [[kind, f"{count:,}", f"{count / per:.2f}"]
                            for kind, count in sorted(stmts.by_kind.items(), key=lambda kv: -kv[1])]
                    rows.append(["all statements (COMMIT included)", f"{stmts.statements + stmts.commits:,}",
                                 f"{(stmts.statements + stmts.commits) / per:.2f}"])
                    print(table(["statement", "count", "per timer"], rows))
                    print()

                for r in runs:
                    print(r.label)
                    rows = list(r.checks)
                    if r.up_before_due_s is not None:
                        rows.append(["schedulers up before the due time",
                                     f"{r.up_before_due_s:.2f} s" if r.up_before_due_s > 0 else
                                     f"NO: {-r.up_before_due_s:.2f} s after (use a larger --lead)"])
                    if r is raw:
                        rows.append(["creating the waiting workflows (untimed above)",
                                     f"{raw_create_s:.2f} s ({args.n / raw_create_s:,.0f}/s)"])
                    print(table(["check", "value"], rows, right=set()))
                    print()

                print("machine")
                notes = machine_notes() + database_notes() + [
                    ["scheduler poll interval (SCHEDULER_POLL_SECONDS)", f"{poll} s"],
                    ["scheduler batch size (SCHEDULER_BATCH_SIZE)", str(batch)],
                    ["timers fall due after the instances are made (--lead)", f"{args.lead:g} s"],
                ]
                if sqlite_path is None:
                    notes.append(["instrumentation", "a trigger on timers notes the firing process "
                                                     "(one insert into an unlogged table per fired timer)"])
                print(table(["item", "value"], notes, right=set()))
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

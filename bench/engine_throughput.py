"""Engine throughput benchmark (not a test: it measures and prints, it asserts no timings).

The same model, bench/three_steps.bpmn (start -> 3 user tasks -> end), is run N times in-process in three
ways:

  (a) raw SpiffWorkflow in memory: spec parsed once, BpmnWorkflow, do_engine_steps, task.run() per task;
  (b) raw SpiffWorkflow with a JSON round trip per step: the whole workflow (spec included) is written with
      BpmnWorkflowSerializer.serialize_json after the start and after each task, and read back with
      deserialize_json before each task;
  (c) our services with a database commit per action: Runtime(session, clock).start(...), then
      TaskService(session, clock).complete(...) for each of the 3 tasks; session.commit() after each of the
      4 actions. New Runtime/TaskService objects per action, as a web request would build them.

Then it parks --parked extra instances at the first user task and reports the bytes stored per waiting
instance (process_instances.state), next to the size of SpiffWorkflow's full serializer output (spec
included) for the same workflow.

Database: a SQLite file in a temporary directory, or PostgreSQL when DATABASE_URL is set. On PostgreSQL the
schema ``public`` of that database is DROPPED and recreated; to protect other databases (the tests use
``test``) the script refuses unless the database name contains "bench" or --allow-any-db is given.

    PYTHONPATH=. .venv/bin/python bench/engine_throughput.py [--n 500] [--n-db 200] [--repeat 3]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench PYTHONPATH=. .venv/bin/python bench/engine_throughput.py
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:  # allow `python bench/engine_throughput.py` without PYTHONPATH
    sys.path.insert(0, ROOT)

import SpiffWorkflow  # noqa: E402
import sqlalchemy  # noqa: E402
from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser  # noqa: E402
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

BPMN_PATH = os.path.join(HERE, "three_steps.bpmn")
PROCESS_KEY = "three_steps"
USERNAME = "guan_guanzhen_handler"
USER_STEPS = 3
# The form data each of the 3 tasks is completed with (same in all modes).
STEP_DATA = [{f"result_{i}": "ok", "note": f"bench step {i}"} for i in (1, 2, 3)]


# --- helpers -------------------------------------------------------------------------------------------------

@dataclass
class Result:
    mode: str
    n: int
    seconds: float          # best of the repeats
    runs: list[float]

    @property
    def per_second(self) -> float:
        return self.n / self.seconds if self.seconds else float("inf")

    @property
    def ms_per_instance(self) -> float:
        return 1000.0 * self.seconds / self.n if self.n else 0.0


def best_of(mode: str, n: int, repeat: int, run: Callable[[int], None]) -> Result:
    """Run ``run(n)`` ``repeat`` times; keep the fastest (least disturbed) time."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        run(n)
        runs.append(time.perf_counter() - t0)
    return Result(mode, n, min(runs), runs)


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Plain-text table with aligned columns (columns in ``right`` are right-aligned)."""
    right = right if right is not None else set(range(1, len(headers)))
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def human_bytes(n: float) -> str:
    return f"{n:,.0f} B" if n < 1024 else f"{n:,.0f} B ({n / 1024:.1f} KiB)"


# --- (a) and (b): raw SpiffWorkflow --------------------------------------------------------------------------

def parse_spec():
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(BPMN_PATH)
    return parser.get_spec(PROCESS_KEY), parser.get_subprocess_specs(PROCESS_KEY)


def start_data_for(username: str, unit_code: str) -> dict:
    """What Runtime.start puts on the root task for a user, so all modes carry the same data."""
    return {"initiator": username, "initiator_unit": unit_code, "case_unit": unit_code}


def raw_instance(spec, subprocess_specs, start_data: dict, serializer: BpmnWorkflowSerializer | None = None):
    """One instance start -> end. With ``serializer``: save (serialize) after the start and after every task,
    load (deserialize) before every task, like a store-everything persistence layer would."""
    wf = BpmnWorkflow(spec, subprocess_specs)
    wf.task_tree.data.update(start_data)
    wf.do_engine_steps()
    saved = serializer.serialize_json(wf) if serializer else None
    for step in range(USER_STEPS):
        if serializer:
            wf = serializer.deserialize_json(saved)
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        if len(ready) != 1:
            raise RuntimeError(f"expected one ready user task at step {step + 1}, found {len(ready)}")
        task = ready[0]
        task.data.update(STEP_DATA[step])
        task.run()
        wf.do_engine_steps()
        if serializer:
            saved = serializer.serialize_json(wf)
    if not wf.is_completed():
        raise RuntimeError("raw workflow did not complete")
    return wf


def raw_instances(n: int, spec, subprocess_specs, start_data: dict,
                  serializer: BpmnWorkflowSerializer | None = None) -> None:
    for _ in range(n):
        raw_instance(spec, subprocess_specs, start_data, serializer)


def raw_parked(spec, subprocess_specs, start_data: dict) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec, subprocess_specs)
    wf.task_tree.data.update(start_data)
    wf.do_engine_steps()
    return wf


# --- (c): our services and a database ------------------------------------------------------------------------

def normalise_url(url: str) -> str:
    """psycopg 3 is the installed driver; SQLAlchemy's plain ``postgresql://`` means psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@contextmanager
def bench_database(url: str | None, allow_any_db: bool,
                   extra_models: list[str] | None = None) -> Iterator[tuple[object, str]]:
    """A migrated database with the calendar, the demo organisation and the bench model deployed.
    Yields (app, description) with an app context pushed."""
    from flask_migrate import upgrade
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from engine.calendar import seed_from_chinesecalendar
    from engine.org import load_file
    from engine.repository import deploy_paths
    from web import create_app
    from web.extensions import db
    from web.services import repository

    tmp = None
    if url:
        url = normalise_url(url)
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql" and "bench" not in (parsed.database or "") and not allow_any_db:
            raise SystemExit(f"refusing to drop schema public of database {parsed.database!r}: use a database "
                             f"whose name contains 'bench' (e.g. createdb bench) or pass --allow-any-db")
        where = parsed.render_as_string(hide_password=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="engine-bench-")
        url = "sqlite:///" + os.path.join(tmp.name, "bench.db")
        where = url
    try:
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
        with app.app_context():
            if db.engine.dialect.name == "postgresql":
                db.session.execute(text("DROP SCHEMA public CASCADE"))
                db.session.execute(text("CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            seed_from_chinesecalendar(db.session)
            load_file(db.session, app.config["DEMO_ORG_FILE"], app.config["ORG_PASSWORD_METHOD"])
            db.session.commit()
            deploy_paths(repository(), [BPMN_PATH, *(extra_models or [])], actor="bench")
            db.session.commit()
            try:
                yield app, where
            finally:
                db.session.remove()
                db.engine.dispose()
    finally:
        if tmp is not None:
            tmp.cleanup()


# statements sent so far while counting (count_statements), and their split by action (start / complete)
# (all, without BEGIN / COMMIT)
_SENT = [0, 0]
# action -> [statements, actions, statements without BEGIN / COMMIT]
TALLY: dict[str, list[int]] = {"start": [0, 0, 0], "complete": [0, 0, 0]}


def _tally(action: str, before: tuple[int, int]) -> None:
    TALLY[action][0] += _SENT[0] - before[0]
    TALLY[action][1] += 1
    TALLY[action][2] += _SENT[1] - before[1]


def db_instances(app, user_id: int, n: int, created: list[int]) -> None:
    """n instances through the services, each action as a web request makes it: a fresh session, the user
    read as a signed-in request reads it (engine.org.signed_in_user), the task known by its id (the URL), one
    commit (start + 3 completions). Finding the next task's id is not counted as the action's statements; it
    ends as a page that only read ends: with COMMIT on PostgreSQL (web._watch_writes — a ROLLBACK would make
    psycopg forget the statements it prepared), rolled back on SQLite."""
    from sqlalchemy import select

    from engine.models import HumanTask
    from engine.org import signed_in_user
    from engine.tasks import TaskService
    from web.extensions import db

    session = db.session
    clock = app.extensions["clock"]
    for _ in range(n):
        session.remove()
        before = tuple(_SENT)
        instance_id = start_one(session, clock, signed_in_user(session, user_id), created)
        _tally("start", before)
        for step in range(USER_STEPS):
            open_ids = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance_id,
                                                                 HumanTask.status == "open")).all()
            if len(open_ids) != 1:
                raise RuntimeError(f"instance {instance_id}: expected one open task at step {step + 1}, "
                                   f"found {len(open_ids)}")
            if session.get_bind().dialect.name == "postgresql":
                session.commit()                   # as a page that only read ends there (web._watch_writes)
            session.remove()                       # the next request
            before = tuple(_SENT)
            TaskService(session, clock).complete(signed_in_user(session, user_id), open_ids[0], STEP_DATA[step])
            session.commit()
            _tally("complete", before)
        session.remove()


def db_parked(app, user_id: int, n: int, created: list[int]) -> None:
    """n instances started and left waiting at the first user task, one commit each."""
    from engine.models import User
    from web.extensions import db

    session = db.session
    clock = app.extensions["clock"]
    for _ in range(n):
        start_one(session, clock, session.get(User, user_id), created)


def start_one(session, clock, user, created: list[int]) -> int:
    """Start one instance through the services and commit; remember its id."""
    from engine.runtime import Runtime
    instance_id = Runtime(session, clock).start(PROCESS_KEY, user=user).id    # known before the commit, as
    session.commit()                                                          # a web answer is built
    created.append(instance_id)
    return instance_id


# seconds spent inside the database driver while timing: all its execute, executemany and commit calls; the commits
DRIVER = [0.0, 0.0]


@contextmanager
def time_in_driver(engine) -> Iterator[None]:
    """Add the time of every call into the driver (statements sent, with psycopg their rows fetched too, and
    commits) to DRIVER[0]: what is left of an action's time is SQLAlchemy, the services and SpiffWorkflow."""
    dialect = engine.dialect
    names = ("do_execute", "do_executemany", "do_execute_no_params", "do_commit")

    def timed(call, commit: bool):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                DRIVER[0] += spent
                if commit:
                    DRIVER[1] += spent
        return wrapper
    for name in names:
        setattr(dialect, name, timed(getattr(dialect, name), name == "do_commit"))
    try:
        yield
    finally:
        for name in names:
            delattr(dialect, name)           # the dialect's own methods again


@contextmanager
def count_statements(engine) -> Iterator[list[int]]:
    """Count the statements the engine sends (queries, DML, BEGIN; COMMIT counted separately)."""
    from sqlalchemy import event

    counter = _SENT
    counter[:] = [0, 0]

    def on_execute(_conn, _cursor, statement, *_args):
        counter[0] += 1
        if not statement.lstrip().upper().startswith("BEGIN"):
            counter[1] += 1

    def on_commit(*_args):
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def split_of_c(a: Result, b: Result, c: Result, driver_runs: list[tuple[float, float]]) -> list[list[str]]:
    """Where (c)'s time per action goes, for its best run: inside the database driver (the commits apart), or
    above it; and the least c / b could be if nothing above the driver cost more than SpiffWorkflow in memory
    (a)."""
    driver_ms, commit_ms = (1000.0 * x / (4 * c.n) for x in driver_runs[c.runs.index(c.seconds)])
    action_ms, a_ms, b_ms = c.ms_per_instance / 4, a.ms_per_instance / 4, b.ms_per_instance / 4
    return [
        ["  of it in the database driver (its execute and commit calls)",
         f"{driver_ms:.2f} ms ({100 * driver_ms / action_ms:.0f} %)"],
        ["    of which the commit", f"{commit_ms:.2f} ms"],
        ["  of it above the driver (SQLAlchemy, the services, SpiffWorkflow)",
         f"{action_ms - driver_ms:.2f} ms ({100 * (action_ms - driver_ms) / action_ms:.0f} %)"],
        ["a per action (SpiffWorkflow in memory, no JSON)", f"{a_ms:.2f} ms"],
        ["floor of c / b: (driver + a) / b", f"{(driver_ms + a_ms) / b_ms:,.1f}x"],
    ]


def check_statuses(ids: list[int], expected: str) -> None:
    from sqlalchemy import func, select

    from engine.models import ProcessInstance
    from web.extensions import db

    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        good = db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.id.in_(chunk), ProcessInstance.status == expected))
        if good != len(chunk):
            raise RuntimeError(f"{len(chunk) - good} of {len(chunk)} instances are not {expected}")


def storage_report(app, parked_ids: list[int], spec, subprocess_specs, start_data: dict) -> list[list[str]]:
    from sqlalchemy import func, select, text

    from engine.models import AuditEvent, HumanTask, ProcessDefinition, ProcessInstance
    from engine.runtime import Runtime
    from engine.serialization import state_to_json
    from web.extensions import db

    session = db.session
    full = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    states = [s for (s,) in session.execute(select(ProcessInstance.state).where(ProcessInstance.id.in_(parked_ids)))]
    sizes = [len(s.encode("utf-8")) for s in states]
    avg = sum(sizes) / len(sizes)
    rows = [["process_instances.state, average (UTF-8 bytes)", human_bytes(avg)],
            ["process_instances.state, min / max", f"{min(sizes):,} / {max(sizes):,} B"]]
    if session.get_bind().dialect.name == "postgresql":
        on_disk = session.scalar(text("SELECT avg(pg_column_size(state)) FROM process_instances WHERE id = ANY(:ids)"),
                                 {"ids": parked_ids})
        rows.append(["  same, as stored by PostgreSQL (pg_column_size, after TOAST compression)",
                     human_bytes(float(on_disk))])
    first = session.get(ProcessInstance, parked_ids[0])
    wf = Runtime(session, app.extensions["clock"]).load(first)
    rows.append(["full serializer output incl. spec, same workflow (serialize_json)",
                 human_bytes(len(full.serialize_json(wf).encode("utf-8")))])
    rows.append(["  state-only JSON of that loaded workflow (state_to_json, check)",
                 human_bytes(len(state_to_json(wf).encode("utf-8")))])
    raw = raw_parked(spec, subprocess_specs, start_data)
    rows.append(["raw SpiffWorkflow parked at task 1: serialize_json incl. spec",
                 human_bytes(len(full.serialize_json(raw).encode("utf-8")))])
    spec_json = session.scalar(select(ProcessDefinition.spec_json).where(ProcessDefinition.key == PROCESS_KEY)
                               .order_by(ProcessDefinition.version.desc()).limit(1))
    rows.append(["process_definitions.spec_json (stored once per version)", human_bytes(len(spec_json.encode()))])
    audit = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id.in_(parked_ids)))
    tasks = session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.instance_id.in_(parked_ids)))
    rows.append(["other rows per waiting instance: audit_events / human_tasks",
                 f"{audit / len(parked_ids):.1f} / {tasks / len(parked_ids):.1f}"])
    session.rollback()
    return rows


# --- machine ---------------------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def filesystem_of(path: str) -> str:
    """Mount point and type of the filesystem holding ``path`` (Linux); '' if unknown."""
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            mounts = [line.split()[:3] for line in fh]
    except OSError:
        return ""
    path = os.path.realpath(path)
    best = max((m for m in mounts if path == m[1] or path.startswith(m[1].rstrip("/") + "/")),
               key=lambda m: len(m[1]), default=None)
    return f"{best[2]} at {best[1]}" if best else ""


def database_notes() -> list[list[str]]:
    from sqlalchemy import text

    from web.extensions import db

    engine = db.engine
    session = db.session
    if engine.dialect.name == "postgresql":
        version = session.scalar(text("SHOW server_version"))
        settings = ", ".join(f"{name}={session.scalar(text('SHOW ' + name))}"
                             for name in ("fsync", "synchronous_commit", "shared_buffers"))
        rows = [["database", f"PostgreSQL {version} (driver {engine.driver})"], ["database settings", settings]]
    else:
        path = engine.url.database or ""
        journal = session.scalar(text("PRAGMA journal_mode"))
        sync = session.scalar(text("PRAGMA synchronous"))
        rows = [["database", f"SQLite {sqlite3.sqlite_version} (driver {engine.driver})"],
                ["database settings", f"journal_mode={journal}, synchronous={sync} (2=FULL, 1=NORMAL)"],
                ["database file system", filesystem_of(os.path.dirname(path)) or "?"]]
    session.rollback()
    return rows


def code_version() -> str:
    """git HEAD of the checkout and whether engine/, web/ or migrations/ have uncommitted changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "engine", "web", "migrations"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"git {head}" + (f" + {len(dirty)} uncommitted file(s) in engine/ web/ migrations/" if dirty else "")


def machine_notes() -> list[list[str]]:
    u = platform.uname()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        ["cpu", f"platform.processor()={platform.processor()!r}; /proc/cpuinfo: {cpu_model() or '?'}"],
        ["cpu count", f"{os.cpu_count()} (usable by this process: {usable})"],
        ["uname", f"{u.system} {u.release} {u.machine}"],
        ["load average (1/5/15 min, at the end)", " / ".join(f"{x:.2f}" for x in os.getloadavg())
         if hasattr(os, "getloadavg") else "?"],
        ["python", f"{platform.python_implementation()} {platform.python_version()}"],
        ["code", code_version()],
        ["libraries", f"SpiffWorkflow {SpiffWorkflow.__version__}, SQLAlchemy {sqlalchemy.__version__}"],
    ]


# --- main ------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="instances for the in-memory modes a and b (default 500)")
    ap.add_argument("--n-db", type=int, default=200, help="instances for the database mode c (default 200)")
    ap.add_argument("--parked", type=int, default=200,
                    help="extra instances left waiting at the first task for the storage figures (default 200)")
    ap.add_argument("--repeat", type=int, default=1, help="run each mode this many times, report the best")
    ap.add_argument("--warmup", type=int, default=10, help="untimed instances per mode first (default 10)")
    ap.add_argument("--allow-any-db", action="store_true",
                    help="allow resetting a PostgreSQL database whose name does not contain 'bench'")
    args = ap.parse_args(argv)
    if min(args.n, args.n_db, args.parked, args.repeat) < 1 or args.warmup < 0:
        ap.error("--n, --n-db, --parked and --repeat must be at least 1, --warmup at least 0")

    sys.stdout.reconfigure(line_buffering=True)   # keep our lines in order with Alembic's log on stderr
    url = os.environ.get("DATABASE_URL") or None
    spec, subprocess_specs = parse_spec()
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    results: list[Result] = []

    with bench_database(url, args.allow_any_db) as (app, where):
        from engine.models import User
        from web.extensions import db

        user = db.session.query(User).filter_by(username=USERNAME).one()
        user_id, start_data = user.id, start_data_for(user.username, user.unit.code)
        db.session.rollback()
        print(f"engine throughput benchmark: {os.path.basename(BPMN_PATH)} (start -> {USER_STEPS} user tasks -> end)")
        print(f"database: {where}")
        print(f"repeat: best of {args.repeat}; warm-up: {args.warmup} untimed instance(s) per mode\n", flush=True)

        # (a) raw, in memory
        for _ in range(args.warmup):
            raw_instance(spec, subprocess_specs, start_data)
        results.append(best_of("a  SpiffWorkflow, in memory", args.n, args.repeat,
                               lambda n: raw_instances(n, spec, subprocess_specs, start_data)))
        # (b) raw with a full JSON round trip per step
        for _ in range(args.warmup):
            raw_instance(spec, subprocess_specs, start_data, serializer)
        results.append(best_of("b  SpiffWorkflow + JSON round trip per step", args.n, args.repeat,
                               lambda n: raw_instances(n, spec, subprocess_specs, start_data, serializer)))
        # (c) services + database, commit per action
        created: list[int] = []
        db_instances(app, user_id, args.warmup, created)
        created.clear()
        for value in TALLY.values():
            value[:] = [0, 0, 0]
        driver_runs: list[tuple[float, float]] = []

        def timed_db_run(n: int) -> None:
            before = list(DRIVER)
            db_instances(app, user_id, n, created)
            driver_runs.append((DRIVER[0] - before[0], DRIVER[1] - before[1]))
        with count_statements(db.engine) as statements, time_in_driver(db.engine):
            results.append(best_of("c  services + DB commit per action", args.n_db, args.repeat, timed_db_run))
        check_statuses(created, "completed")
        # parked instances for the storage figures (timed as well: start only)
        parked: list[int] = []
        results.append(best_of("c' services + DB, start only (parked at task 1)", args.parked, 1,
                               lambda n: db_parked(app, user_id, n, parked)))
        check_statuses(parked, "running")

        a, b, c = results[0], results[1], results[2]
        print(table(["mode", "N", "seconds", "instances/s", "ms/instance"],
                    [[r.mode, r.n, f"{r.seconds:.3f}", f"{r.per_second:,.1f}", f"{r.ms_per_instance:.3f}"]
                     for r in results]))
        if args.repeat > 1:
            print("all runs (s): " + "; ".join(f"{r.mode.split()[0]}: " + ", ".join(f"{s:.3f}" for s in r.runs)
                                               for r in results[:3]))
        print()
        print(table(["ratio (time per instance)", "value"], [
            ["c / a", f"{c.ms_per_instance / a.ms_per_instance:,.1f}x"],
            ["c / b", f"{c.ms_per_instance / b.ms_per_instance:,.1f}x"],
            ["b / a", f"{b.ms_per_instance / a.ms_per_instance:,.1f}x"],
            ["c per action (4 commits per instance)", f"{c.ms_per_instance / 4:.2f} ms"],
            *split_of_c(a, b, c, driver_runs),
            ["c statements sent per instance (SQL + commits)", f"{statements[0] / len(created):.1f}"],
            *[[f"c statements per {label} (reading the user included): all / without BEGIN and COMMIT",
               f"{TALLY[action][0] / max(TALLY[action][1], 1):.1f} / {TALLY[action][2] / max(TALLY[action][1], 1):.1f}"]
              for action, label in (("start", "start"), ("complete", "completed task"))],
        ]))
        print()
        print(f"storage per waiting instance ({len(parked)} instances parked at the first user task)")
        print(table(["measure", "value"], storage_report(app, parked, spec, subprocess_specs, start_data)))
        print()
        print("machine")
        print(table(["item", "value"], machine_notes() + database_notes(), right=set()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

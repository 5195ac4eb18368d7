"""Engine throughput benchmark (not a test: it measures and prints, it asserts no timings).

The same model, bench/three_steps.bpmn (start -> 3 user tasks -> end), is run N times in-process in these
ways:

  (a) raw SpiffWorkflow in memory: spec parsed once, BpmnWorkflow, do_engine_steps, task.run() per task;
  (b) raw SpiffWorkflow with a JSON round trip per step: the whole workflow (spec included) is written with
      BpmnWorkflowSerializer.serialize_json after the start and after each task, and read back with
      deserialize_json before each task;
  (c) our services with a database commit per action: Runtime(session, clock).start(...), then
      TaskService(session, clock).complete(...) for each of the 3 tasks; session.commit() after each of the
      4 actions. New Runtime/TaskService objects per action, as a web request would build them;
  (d) the floor of (c): the same work written by hand as SQL text on the driver's own connection, with the
      state-only JSON (FloorPath: the same reads, writes, version check, audit row, rollup and commits, no
      ORM, no services); d / b (on PostgreSQL d' / b) is the least c / b any implementation of this work
      reaches on this database and machine;
  (e) (d)'s statements sent through SQLAlchemy Core's connection (exec_driver_sql);
  (d') on PostgreSQL, (d) in psycopg's pipeline mode: three round trips per action.

a to e take turns, --repeat rounds, and each keeps its fastest round: on a noisy host the slow minutes fall on
all of them alike. bench/action_layers.py splits (c)'s time by layer from a py-spy recording.

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
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
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
    return interleaved([(mode, n, run)], repeat)[0]


def interleaved(modes: list[tuple[str, int, Callable[[int], None]]], repeat: int) -> list[Result]:
    """``repeat`` rounds, each running every mode's ``run(n)`` once in turn; each mode keeps its fastest
    (least disturbed) time. Taking turns spreads a noisy host's slow minutes over all modes."""
    runs: list[list[float]] = [[] for _ in modes]
    for _ in range(repeat):
        for (_, n, run), times in zip(modes, runs):
            gc.collect()
            t0 = time.perf_counter()
            run(n)
            times.append(time.perf_counter() - t0)
    return [Result(mode, n, min(times), times) for (mode, n, _), times in zip(modes, runs)]


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
def count_statements(engine, reset: bool = True) -> Iterator[list[int]]:
    """Count the statements the engine sends (queries, DML, BEGIN; COMMIT counted separately), from zero
    unless ``reset`` is false."""
    from sqlalchemy import event

    counter = _SENT
    if reset:
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


def split_of_c(c: Result, driver_runs: list[tuple[float, float]]) -> list[list[str]]:
    """Where (c)'s time per action goes, for its best run: inside the database driver (the commits apart), or
    above it. (The least c / b could be is measured by (d), see floor_rows.)"""
    driver_ms, commit_ms = (1000.0 * x / (4 * c.n) for x in driver_runs[c.runs.index(c.seconds)])
    action_ms = c.ms_per_instance / 4
    return [
        ["  of it in the database driver (its execute and commit calls)",
         f"{driver_ms:.2f} ms ({100 * driver_ms / action_ms:.0f} %)"],
        ["    of which the commit", f"{commit_ms:.2f} ms"],
        ["  of it above the driver (SQLAlchemy, the services, SpiffWorkflow)",
         f"{action_ms - driver_ms:.2f} ms ({100 * (action_ms - driver_ms) / action_ms:.0f} %)"],
    ]


# --- (d): the floor of any implementation that does (c)'s work -------------------------------------------------

# (d) is what an action path written by hand straight on the database driver could do at best: no SQLAlchemy,
# no services, the organisation and the model known in memory. Each action still does what (c)'s does and what
# the guarantees need: it reads the signed-in user and the task with its case (permission, optimistic lock), the
# next task's candidates (whom to tell; the task is flagged unassigned in the same INSERT when nobody holds the
# role), loads the state-only JSON into SpiffWorkflow, runs the step, writes the case with its version checked,
# the task rows, one hash-chained audit row and the handling rollup, and commits durably; between actions a read
# finds the next task, as in (c). Its start writes the case with its state in one INSERT (c's writes it twice).
#
# (d') on PostgreSQL is the same work in psycopg's pipeline mode: the statements that do not wait for an answer
# go out together, so an action takes three round trips to the server (its two reads; its writes with the
# commit; the read that finds the next task) instead of one per statement. A lost optimistic lock then makes the
# UPDATE's own statement fail (division by zero over the rows it changed), which aborts the transaction.
HOLDERS = ("FROM users u JOIN role_assignments ra ON u.id = ra.user_id "
           "WHERE ra.role_code = %s AND ra.unit_id = %s AND u.active")
FLOOR_SQL = {
    "user": "SELECT u.id, u.username, u.unit_id, u.active, u.session_version, ou.code, ra.role_code, ra.unit_id "
            "FROM users u JOIN org_units ou ON ou.id = u.unit_id LEFT JOIN role_assignments ra ON ra.user_id = u.id "
            "WHERE u.id = %s",
    "definition": "SELECT id FROM process_definitions WHERE \"key\" = %s ORDER BY version DESC LIMIT 1",
    "insert_case": "INSERT INTO process_instances (definition_id, process_key, status, unit_id, started_by, "
                   "started_at, state, version) VALUES (%s, %s, 'running', %s, %s, %s, %s, 1) RETURNING id",
    "case_index": "INSERT INTO case_index (instance_id, updated_at) VALUES (%s, %s)",
    "candidates": "SELECT u.id, u.email, u.email_notifications " + HOLDERS,
    "insert_task": "INSERT INTO human_tasks (id, instance_id, process_key, element_id, name, role_code, unit_id, "
                   "form_key, status, created_at, sla_state, provisional, unassigned) "
                   "SELECT %s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, 'on_time', %s, "
                   "NOT EXISTS (SELECT 1 " + HOLDERS + ")",
    "audit": "INSERT INTO audit_events (stream, seq, at, actor, action, instance_id, task_id, data, prev_hash, hash) "
             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    "open_task": "SELECT id FROM human_tasks WHERE instance_id = %s AND status = 'open'",
    "task": "SELECT t.id, t.status, t.role_code, t.unit_id, t.created_at, t.element_id, t.name, i.state, i.version "
            "FROM human_tasks t JOIN process_instances i ON i.id = t.instance_id WHERE t.id = %s",
    "save_case": "UPDATE process_instances SET state = %s, version = %s WHERE id = %s AND version = %s",
    "end_case": "UPDATE process_instances SET status = 'completed', ended_at = %s, state = %s, version = %s "
                "WHERE id = %s AND version = %s",
    "complete_task": "UPDATE human_tasks SET status = 'completed', claimed_by_id = %s, completed_at = %s, "
                     "completed_by_id = %s WHERE id = %s",
    "rollup": "INSERT INTO handling_rollups (process_key, element_id, unit_id, span, month, tasks, seconds, name) "
              "VALUES (%s, %s, %s, 'M', %s, 1, %s, %s) ON CONFLICT (process_key, element_id, unit_id, span, month) "
              "DO UPDATE SET tasks = handling_rollups.tasks + excluded.tasks, "
              "seconds = handling_rollups.seconds + excluded.seconds",
    "drop_ledger": "DELETE FROM provisional_values WHERE instance_id = %s",
}


class FloorPath:
    """(d) the action path written by hand on the driver's own connection; (e) the same statements sent
    through SQLAlchemy Core's connection (``core``: exec_driver_sql, the least SQLAlchemy can add); (d') the
    driver in pipeline mode (``pipelined``)."""

    def __init__(self, engine, spec, subprocess_specs, user_id: int, start_data: dict, places: list[tuple],
                 pipelined: bool = False, core: bool = False):
        self.sqlite = engine.dialect.name == "sqlite"
        if pipelined and (self.sqlite or core):
            raise ValueError("pipeline mode is psycopg's (PostgreSQL), on the driver's connection")
        self.pipelined, self.core = pipelined, core
        self.sql = {k: v.replace("%s", "?") if self.sqlite else v for k, v in FLOOR_SQL.items()}
        if pipelined:                            # a lost lock fails the statement itself (see above)
            for name in ("save_case", "end_case"):
                self.sql[name] = f"WITH saved AS ({self.sql[name]} RETURNING 1) SELECT 1 / COUNT(*) FROM saved"
        # the pool's connection: the same pragmas / settings as (c)
        self.raw = engine.connect() if core else engine.raw_connection()
        self.conn = self.raw if core else self.raw.driver_connection
        self.spec, self.subprocess_specs = spec, subprocess_specs
        self.user_id, self.start_data = user_id, start_data
        self.places = places                     # (role_code, unit_id) of the 1st, 2nd, 3rd task, as (c) routed them
        self.statements = 0

    def close(self) -> None:
        self.raw.close()

    def _time(self, moment):
        """A UTC moment as the column stores it (naive UTC; SQLite: SQLAlchemy's text form)."""
        naive = moment.replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    @contextmanager
    def _transaction(self, commit: bool = True):
        """One transaction: BEGIN IMMEDIATE on SQLite (as web.create_app's engine does), psycopg's implicit
        BEGIN; in pipeline mode nothing waits for the server until a result is read or the commit."""
        if self.sqlite:
            self.statements += 1
            if self.core:
                self.conn.begin()                # the engine's own begin event sends BEGIN IMMEDIATE
            else:
                self.conn.execute("BEGIN IMMEDIATE")
        with self.conn.pipeline() if self.pipelined else nullcontext():
            yield
            if commit or not self.sqlite:        # a page that only read: COMMIT on PostgreSQL, as (c)
                self.statements += 1
                self.conn.commit()
            else:                                # and rolled back on SQLite (not counted, as in c)
                self.conn.rollback()

    def _run(self, name: str, *params):
        self.statements += 1
        if self.core:
            return self.conn.exec_driver_sql(self.sql[name], params)
        cur = self.conn.cursor()
        cur.execute(self.sql[name], params)
        return cur

    def _offer(self, instance_id: int, wf, step: int, now):
        """Insert the workflow's one ready user task as the next human task; returns the cursor of its
        candidates (whom to tell), read in the same round trip as the writes."""
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        if len(ready) != 1:
            raise RuntimeError(f"(d) expected one ready user task at step {step + 1}, found {len(ready)}")
        task = ready[0]
        role, unit = self.places[step]
        self._run("insert_task", str(task.id), instance_id, PROCESS_KEY, task.task_spec.bpmn_id,
                  task.task_spec.bpmn_name, role, unit, None, self._time(now), False, role, unit)
        return self._run("candidates", role, unit)

    def _audit(self, chain: list, now, action: str, instance_id: int, task_id: str | None) -> None:
        from engine.history import _digest, stream_of
        stream, (seq, prev), data = stream_of(instance_id), chain, {"step": chain[0]}
        digest = _digest(stream, seq + 1, now, USERNAME, action, instance_id, task_id, data, prev)
        self._run("audit", stream, seq + 1, self._time(now), USERNAME, action, instance_id, task_id,
                  json.dumps(data), prev, digest)
        chain[:] = [seq + 1, digest]

    def instance(self, definition_id: int) -> int:
        from engine.serialization import state_to_json, workflow_from_state
        now = datetime.now(timezone.utc)
        with self._transaction():
            user, definition = self._run("user", self.user_id), self._run("definition", PROCESS_KEY)
            if not user.fetchall()[0][3] or definition.fetchone()[0] != definition_id:
                raise RuntimeError("(d) the bench user is inactive or the model changed")
            wf = BpmnWorkflow(self.spec, self.subprocess_specs)
            wf.task_tree.data.update(self.start_data)
            wf.do_engine_steps()
            instance_id = self._run("insert_case", definition_id, PROCESS_KEY, self.places[0][1], USERNAME,
                                    self._time(now), state_to_json(wf)).fetchone()[0]
            self._run("case_index", instance_id, self._time(now))
            chain = [0, "0" * 64]
            holders = self._offer(instance_id, wf, 0, now)
            self._audit(chain, now, "instance_started", instance_id, None)
        holders.fetchall()
        for step in range(USER_STEPS):
            with self._transaction(commit=False):              # the page that finds the next task
                found = self._run("open_task", instance_id)
            open_ids = found.fetchall()
            if len(open_ids) != 1:
                raise RuntimeError(f"(d) instance {instance_id}: {len(open_ids)} open tasks at step {step + 1}")
            now = datetime.now(timezone.utc)
            last = step == USER_STEPS - 1
            with self._transaction():                          # the action
                user, task_row = self._run("user", self.user_id), self._run("task", open_ids[0][0])
                if not user.fetchall()[0][3]:
                    raise RuntimeError("(d) the bench user is inactive")
                task_id, status, role, unit, created, element, name, state, version = task_row.fetchone()
                if status != "open":
                    raise RuntimeError("(d) the task is no longer open")
                wf = workflow_from_state(state, self.spec, self.subprocess_specs, wf.script_engine)
                task = wf.get_task_from_id(uuid.UUID(task_id))
                task.data.update(STEP_DATA[step])
                task.run()
                wf.do_engine_steps()
                text = state_to_json(wf)
                if last:
                    if not wf.is_completed():
                        raise RuntimeError("(d) the workflow did not complete")
                    self._run("drop_ledger", instance_id)
                    saved = self._run("end_case", self._time(now), text, version + 1, instance_id, version)
                else:
                    saved = self._run("save_case", text, version + 1, instance_id, version)
                if not self.pipelined and saved.rowcount != 1:
                    raise RuntimeError("(d) the case changed meanwhile (optimistic lock)")
                self._run("complete_task", self.user_id, self._time(now), self.user_id, task_id)
                holders = None if last else self._offer(instance_id, wf, step + 1, now)
                self._audit(chain, now, "task_completed", instance_id, task_id)
                if isinstance(created, str):
                    created = datetime.fromisoformat(created)
                seconds = (now.replace(tzinfo=None) - created.replace(tzinfo=None)).total_seconds()
                month = now.date().replace(day=1)
                self._run("rollup", PROCESS_KEY, element, unit, month.isoformat() if self.sqlite else month,
                          seconds, name)
            if holders is not None:
                holders.fetchall()
        return instance_id


def floor_rows(b: Result, c: Result, floors: list[tuple[Result, float]]) -> list[list[str]]:
    """(d), (e) and (d') against b and c. d / b is the least c / b any implementation of (c)'s work reaches
    on this database and machine; e / b the least while the statements go through SQLAlchemy; d' / b the least
    with three round trips per action (PostgreSQL)."""
    rows = []
    for result, statements in floors:
        name = result.mode.split()[0]
        rows += [[f"{name} / b (the least c / b could be, see {name} above)",
                  f"{result.ms_per_instance / b.ms_per_instance:,.1f}x"],
                 [f"c / {name}", f"{c.ms_per_instance / result.ms_per_instance:,.1f}x"],
                 [f"{name} per action; statements sent per instance (BEGIN and commits, reads between actions)",
                  f"{result.ms_per_instance / 4:.2f} ms; {statements:.1f}"]]
    return rows


def floor_places(session, instance_id: int) -> list[tuple]:
    """(role_code, unit_id) of an instance's tasks in the order they were offered: where (c) routed them."""
    from sqlalchemy import select

    from engine.models import HumanTask
    rows = session.execute(select(HumanTask.role_code, HumanTask.unit_id)
                           .where(HumanTask.instance_id == instance_id)
                           .order_by(HumanTask.created_at, HumanTask.id)).all()
    return [tuple(r) for r in rows]


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

        # warm-ups, then every mode once per round, rounds --repeat times: this host's noise comes and goes, so
        # each mode meets it alike; each keeps its fastest round
        for _ in range(args.warmup):
            raw_instance(spec, subprocess_specs, start_data)                   # (a) raw, in memory
            raw_instance(spec, subprocess_specs, start_data, serializer)       # (b) with a JSON round trip per step
        created: list[int] = []
        db_instances(app, user_id, args.warmup, created)                       # (c) services + database
        # the floors (d), (e), (d'): (c)'s work written by hand, routed where (c) routed it
        from engine.models import ProcessInstance
        places = floor_places(db.session, created[0])
        definition_id = db.session.get(ProcessInstance, created[0]).definition_id
        db.session.rollback()
        created.clear()
        for value in TALLY.values():
            value[:] = [0, 0, 0]
        _SENT[:] = [0, 0]
        driver_runs: list[tuple[float, float]] = []

        def timed_db_run(n: int) -> None:
            before = list(DRIVER)
            with count_statements(db.engine, reset=False), time_in_driver(db.engine):
                db_instances(app, user_id, n, created)
            driver_runs.append((DRIVER[0] - before[0], DRIVER[1] - before[1]))

        variants = [("d  floor: (c)'s work by hand on the driver", {}),
                    ("e  (d) through SQLAlchemy Core's connection", {"core": True})]
        if db.engine.dialect.name == "postgresql":
            variants.append(("d' (d) pipelined: 3 round trips per action", {"pipelined": True}))
        floors = [FloorPath(db.engine, spec, subprocess_specs, user_id, start_data, places, **how)
                  for _, how in variants]
        floor_ids: list[list[int]] = [[] for _ in floors]
        try:
            for floor in floors:
                for _ in range(args.warmup):
                    floor.instance(definition_id)
                floor.statements = 0
            results += interleaved(
                [("a  SpiffWorkflow, in memory", args.n, lambda n: raw_instances(n, spec, subprocess_specs, start_data)),
                 ("b  SpiffWorkflow + JSON round trip per step", args.n,
                  lambda n: raw_instances(n, spec, subprocess_specs, start_data, serializer)),
                 ("c  services + DB commit per action", args.n_db, timed_db_run)]
                + [(label, args.n_db, lambda n, floor=floor, ids=ids: ids.extend(floor.instance(definition_id)
                                                                               for _ in range(n)))
                   for (label, _), floor, ids in zip(variants, floors, floor_ids)], args.repeat)
        finally:
            for floor in floors:
                floor.close()
        check_statuses(created, "completed")
        for ids in floor_ids:
            check_statuses(ids, "completed")
        db.session.rollback()                          # SQLite: let go of the write lock those reads took
        floor_figures = [(result, floor.statements / len(ids))      # (result, statements sent per instance)
                         for result, floor, ids in zip(results[3:], floors, floor_ids)]
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
                                               for r in results if len(r.runs) > 1))
        print()
        print(table(["ratio (time per instance)", "value"], [
            ["c / a", f"{c.ms_per_instance / a.ms_per_instance:,.1f}x"],
            ["c / b", f"{c.ms_per_instance / b.ms_per_instance:,.1f}x"],
            ["b / a", f"{b.ms_per_instance / a.ms_per_instance:,.1f}x"],
            ["c per action (4 commits per instance)", f"{c.ms_per_instance / 4:.2f} ms"],
            *split_of_c(c, driver_runs),
            ["c statements sent per instance (SQL + commits)", f"{_SENT[0] / len(created):.1f}"],
            *[[f"c statements per {label} (reading the user included): all / without BEGIN and COMMIT",
               f"{TALLY[action][0] / max(TALLY[action][1], 1):.1f} / {TALLY[action][2] / max(TALLY[action][1], 1):.1f}"]
              for action, label in (("start", "start"), ("complete", "completed task"))],
            *floor_rows(b, c, floor_figures),
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

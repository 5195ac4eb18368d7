"""Cost by instance age (not a test: it measures and prints, it asserts no timings).

One instance of bench/loop_200.bpmn (start -> a user task in a loop, back via an exclusive gateway 200
times -> end) is driven through our services, one commit per completion, as user guan_guanzhen_handler:
TaskService(session, clock).complete(...) on the open task, 200 times. For the 1st, 50th, 100th and 200th
completion it prints the CPU time of that action (time.process_time, the action and its commit; the
database server's own time is not in it on PostgreSQL) and its wall time, the statements sent, and the
stored size of process_instances.state after it (UTF-8 bytes; on PostgreSQL also pg_column_size). The
timed completions are each the median of their neighbourhood (--window completions around it) to smooth
out noise from other jobs on the machine.

Database: a SQLite file in a temporary directory, or PostgreSQL when DATABASE_URL is set (schema "public"
of a database whose name contains "bench" is DROPPED and recreated, as in engine_throughput.py).

    PYTHONPATH=. .venv/bin/python bench/loop_age.py [--instances 3]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench PYTHONPATH=. .venv/bin/python bench/loop_age.py
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.engine_throughput import (USERNAME, bench_database, count_statements, database_notes,  # noqa: E402
                                     machine_notes, table)

BPMN_PATH = os.path.join(HERE, "loop_200.bpmn")
PROCESS_KEY = "loop_rounds"
ROUNDS = 200
MARKS = (1, 50, 100, 200)


def run_instance(app, user_id: int) -> dict[int, tuple[float, float, int, int]]:
    """Drive one instance through all rounds; per completion k: (cpu s, wall s, statements, state bytes)."""
    from sqlalchemy import select

    from engine.models import ProcessInstance, User
    from engine.runtime import Runtime
    from engine.tasks import TaskService
    from web.extensions import db

    session, clock = db.session, app.extensions["clock"]
    instance_id = Runtime(session, clock).start(PROCESS_KEY, user=session.get(User, user_id)).id
    session.commit()
    out = {}
    for k in range(1, ROUNDS + 1):
        user = session.get(User, user_id)
        with count_statements(db.engine) as statements:
            c0, w0 = time.process_time(), time.perf_counter()
            service = TaskService(session, clock)
            open_tasks = service.open_tasks(instance_id)
            if len(open_tasks) != 1:
                raise RuntimeError(f"round {k}: expected one open task, found {len(open_tasks)}")
            service.complete(user, open_tasks[0].id, {"note": f"round {k}", "result": "ok"})
            session.commit()
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        size = len(session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
                   .encode("utf-8"))
        session.rollback()
        out[k] = (cpu, wall, statements[0], size)
    status = session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
    if status != "completed":
        raise RuntimeError(f"the instance is {status} after {ROUNDS} rounds, not completed")
    from engine.history import for_instance
    done = sum(1 for e in for_instance(session, instance_id) if e.action == "task_completed")
    if done != ROUNDS:
        raise RuntimeError(f"history lists {done} completions, not {ROUNDS}")
    session.rollback()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=3, help="instances driven one after the other (default 3)")
    ap.add_argument("--window", type=int, default=5, help="completions around each mark for the median (5)")
    ap.add_argument("--allow-any-db", action="store_true")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    url = os.environ.get("DATABASE_URL") or None
    with bench_database(url, args.allow_any_db, extra_models=[BPMN_PATH]) as (app, where):
        from sqlalchemy import text

        from engine.models import User
        from web.extensions import db
        user_id = db.session.query(User).filter_by(username=USERNAME).one().id
        db.session.rollback()
        print(f"loop age benchmark: {os.path.basename(BPMN_PATH)} ({ROUNDS} rounds of one user task)")
        print(f"database: {where}; {args.instances} instance(s), median over ±{args.window // 2} completions\n")
        runs = [run_instance(app, user_id) for _ in range(args.instances)]
        half = args.window // 2
        rows = []
        first_cpu = None
        for mark in MARKS:
            ks = [k for k in range(mark - half, mark + half + 1) if 1 <= k <= ROUNDS]
            cpu = statistics.median(r[k][0] for r in runs for k in ks) * 1000
            wall = statistics.median(r[k][1] for r in runs for k in ks) * 1000
            stmts = statistics.median(r[mark][2] for r in runs)
            size = statistics.median(r[mark][3] for r in runs)
            first_cpu = first_cpu or cpu
            rows.append([f"completion {mark}", f"{cpu:.2f}", f"{cpu / first_cpu:.2f}x", f"{wall:.2f}",
                         f"{stmts:.0f}", f"{size:,.0f}"])
        print(table(["", "CPU ms", "CPU vs 1st", "wall ms", "statements", "state bytes"], rows))
        if db.engine.dialect.name == "postgresql":
            on_disk = db.session.scalar(text("SELECT max(pg_column_size(state)) FROM process_instances"))
            print(f"largest state on disk (pg_column_size, after TOAST compression; completed instances): {on_disk} B")
            db.session.rollback()
        print()
        print("machine")
        print(table(["item", "value"], machine_notes() + database_notes(), right=set()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

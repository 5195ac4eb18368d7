"""Scale benchmark (issue 14, parts 2 and 5; not a test: it measures and prints, it asserts no timings).

For each scale (full: 100,000 open and 1,000,000 finished human tasks; reference: 1/100 of that) the script

1. drops and recreates schema ``public`` of a PostgreSQL database whose name contains "bench", migrates it,
   loads the calendar, the demo organisation (Langfang) and deploys workflows/bpmn;
2. seeds in bulk with ``INSERT … SELECT generate_series``: running instances (each: 4 finished tasks and the
   open one) and closed instances (5 finished tasks), every task routed to a (role, unit) that has a holder in
   the demo organisation (handlers, legal reviewers, agency heads, revisit officers of every unit, so a
   county holds ~1/11 of everything), offered over two years, ~14 % of open tasks past their deadline, ~2 %
   escalated, 40 % of open tasks claimed; one ``task_completed`` audit row per finished task; then rebuilds
   the handling-time rollup (``flask rollups rebuild``) and ANALYZEs;
3. starts the production server — ``gunicorn -c gunicorn.conf.py wsgi:app`` with 2 sync workers and
   SUPERVISION_CONFIG=production — and times 50 requests (after 3 untimed) to each of: ``/api/tasks`` (paged),
   the five inbox tabs including 已办, ``/dashboard`` as a county and as the city bureau, the city's overdue
   and handling-time exports; p50 / p95 / max, bytes, while a thread samples the RSS of every server process
   (/proc) every 50 ms;
4. prints EXPLAIN (ANALYZE, BUFFERS) summaries of the queries behind the inbox tabs, /api/tasks and the
   dashboard (captured by running the same services in-process);
5. (``--throughput``, part 5) requests/s at 8 concurrent connections for ``/api/tasks?limit=50`` and the
   inbox page, naming the server kind.

    psql -h 127.0.0.1 -U postgres -c 'create database bench_scale'          # once
    PYTHONPATH=. .venv/bin/python bench/scale.py --throughput                # reference, then full
    PYTHONPATH=. .venv/bin/python bench/scale.py --scales ref --throughput   # quick
    PYTHONPATH=. .venv/bin/python bench/scale.py --open 10000 --finished 100000 --scales custom

DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/bench_scale) is used for every scale unless
DATABASE_URL_REF / DATABASE_URL_FULL / DATABASE_URL_CUSTOM name one for that scale (so a seeded full-scale
database can be kept with --reuse while the reference is reseeded).
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.engine_throughput import machine_notes, normalise_url, table  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_scale"
SCALES = {"full": (100_000, 1_000_000), "ref": (1_000, 10_000)}
BENCH_ROLES = ("handler", "legal_reviewer", "agency_head", "revisit_officer")
HANDLER = "guan_scjg_handler"            # one handler whose inbox is timed
COUNTY_SUP, CITY_SUP = "guan_sup", "city_sup"
PASSWORD = "demo1234"


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# --- database ------------------------------------------------------------------------------------------------

def make_app(url: str):
    from web import create_app
    return create_app("testing", SQLALCHEMY_DATABASE_URI=url)


def reset_and_load(app) -> None:
    import glob

    from flask_migrate import upgrade
    from sqlalchemy import text

    from engine.calendar import seed_from_chinesecalendar
    from engine.org import load_file
    from engine.registers.experts import load_file as load_registers
    from engine.repository import deploy_paths
    from web.extensions import db
    from web.services import repository

    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE"))
        db.session.execute(text("CREATE SCHEMA public"))
        db.session.commit()
        upgrade(directory=os.path.join(ROOT, "migrations"))
        seed_from_chinesecalendar(db.session)
        load_file(db.session, app.config["DEMO_ORG_FILE"], app.config["ORG_PASSWORD_METHOD"])
        db.session.commit()
        load_registers(db.session, app.config["DEMO_REGISTERS_FILE"])
        db.session.commit()
        paths = sorted(glob.glob(os.path.join(ROOT, "workflows", "bpmn", "*.bpmn"))
                       + glob.glob(os.path.join(ROOT, "workflows", "bpmn", "*.dmn")))
        deploy_paths(repository(), paths, actor="bench")
        db.session.commit()


SEED_SQL = """
CREATE TEMP TABLE b_ra AS
  SELECT (row_number() OVER (PARTITION BY ra.role_code ORDER BY ra.id)) - 1 AS n, ra.role_code, ra.unit_id, ra.user_id
  FROM role_assignments ra JOIN users u ON u.id = ra.user_id
  WHERE ra.role_code IN :roles AND u.active;
CREATE TEMP TABLE b_def AS
  SELECT (row_number() OVER (ORDER BY key)) - 1 AS n, id, key FROM (
    SELECT DISTINCT ON (key) id, key FROM process_definitions WHERE key <> 'pilot_reporting'
    ORDER BY key, version DESC) d;
"""


def seed(app, n_open: int, n_finished: int) -> dict:
    """Bulk rows; returns the counts and seconds taken."""
    from sqlalchemy import bindparam, text

    from engine.analytics.rollups import rebuild
    from web.extensions import db

    running = n_open
    closed = max((n_finished - 4 * running + 4) // 5, 0)
    timings = {}
    with app.app_context():
        s = db.session
        s.execute(text(SEED_SQL.split(";")[0]).bindparams(bindparam("roles", expanding=True)),
                  {"roles": list(BENCH_ROLES)})
        s.execute(text(SEED_SQL.split(";")[1]))
        s.execute(text("CREATE TEMP TABLE b_rc AS SELECT role_code, count(*) AS cnt FROM b_ra GROUP BY role_code"))
        nra = s.scalar(text("SELECT count(*) FROM b_ra"))
        ndef = s.scalar(text("SELECT count(*) FROM b_def"))
        base = s.scalar(text("SELECT coalesce(max(id), 0) FROM process_instances"))   # the demo's own cases
        params = {"running": running, "closed": closed, "nra": nra, "ndef": ndef, "base": base}
        t0 = time.perf_counter()
        # instances: 1..running are running, running+1..running+closed closed; started over the last two years
        s.execute(text("""
            INSERT INTO process_instances (id, definition_id, process_key, business_key, status, unit_id, started_by,
                                           started_at, ended_at, next_timer_at, state, version)
            SELECT :base + g, d.id, d.key, 'BENCH-' || g, CASE WHEN g <= :running THEN 'running' ELSE 'completed' END,
                   ra.unit_id, 'bench',
                   st, CASE WHEN g <= :running THEN NULL ELSE st + interval '12 days' END, NULL, '{}', 1
            FROM generate_series(1, :running + :closed) g
            JOIN b_def d ON d.n = floor(:ndef * power(((g::bigint * 2654435761) % 1000003) / 1000003.0, 2))
            JOIN b_rc rc ON rc.role_code = 'handler'
            JOIN b_ra ra ON ra.role_code = rc.role_code AND ra.n = (g * 7919) % rc.cnt
            CROSS JOIN LATERAL (SELECT now() AT TIME ZONE 'UTC' - CASE WHEN g <= :running
                 THEN interval '8 days' + random() * interval '110 days'
                 ELSE interval '13 days' + random() * interval '717 days' END AS st) t
        """), params)
        s.execute(text("SELECT setval(pg_get_serial_sequence('process_instances', 'id'), :top)"),
                  {"top": base + running + closed})
        timings["instances"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # finished tasks: k = 0..3 of running instances, 0..4 of closed ones; offered 2 days apart, done in 1-72 h
        s.execute(text("""
            INSERT INTO human_tasks (id, instance_id, element_id, name, subject, role_code, unit_id, form_key, status,
                                     claimed_by_id, created_at, due_at, remind_at, sla, sla_state, provisional,
                                     completed_at, completed_by_id, unassigned, process_key)
            SELECT gen_random_uuid()::text, i.id, 'step_' || k, '第' || (k + 1) || '步', NULL, ra.role_code,
                   ra.unit_id, NULL, 'completed', ra.user_id, c, c + interval '7 days', c + interval '5 days',
                   '7 working days', 'on_time', false, c + interval '1 hour' + random() * interval '71 hours',
                   ra.user_id, false, i.process_key
            FROM process_instances i
            CROSS JOIN LATERAL generate_series(0, CASE WHEN i.status = 'running' THEN 3 ELSE 4 END) k
            JOIN b_rc rc ON rc.role_code = (ARRAY['handler', 'legal_reviewer', 'agency_head', 'handler',
                                                  'revisit_officer'])[k + 1]
            JOIN b_ra ra ON ra.role_code = rc.role_code AND ra.n = (i.id * 31 + k * 7) % rc.cnt
            CROSS JOIN LATERAL (SELECT i.started_at + k * interval '2 days' AS c) t
            WHERE i.id > :base
        """), params)
        timings["finished tasks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # open tasks: one per running instance; ~14 % past the deadline, ~2 % escalated, 40 % claimed
        s.execute(text("""
            INSERT INTO human_tasks (id, instance_id, element_id, name, subject, role_code, unit_id, form_key, status,
                                     claimed_by_id, created_at, due_at, remind_at, sla, sla_state, provisional,
                                     completed_at, completed_by_id, unassigned, process_key)
            SELECT gen_random_uuid()::text, i.id, 'step_' || (i.id % 4), '第' || (i.id % 4 + 1) || '步', NULL,
                   ra.role_code, ra.unit_id, NULL, 'open',
                   CASE WHEN i.id % 5 < 2 THEN ra.user_id END, i.started_at + interval '8 days', due,
                   due - interval '2 days', '7 working days',
                   CASE WHEN i.id % 50 = 0 THEN 'escalated' WHEN due < now() AT TIME ZONE 'UTC' THEN 'overdue'
                        ELSE 'on_time' END, false, NULL, NULL, false, i.process_key
            FROM process_instances i
            JOIN b_rc rc ON rc.role_code = (ARRAY['handler', 'legal_reviewer', 'agency_head', 'handler'])[i.id % 4 + 1]
            JOIN b_ra ra ON ra.role_code = rc.role_code AND ra.n = (i.id * 17) % rc.cnt
            CROSS JOIN LATERAL (SELECT now() AT TIME ZONE 'UTC' + (random() * 60 - 8.6 + 0 * i.id) * interval '1 day'
                                AS due) t
            WHERE i.status = 'running' AND i.id > :base
        """), params)
        timings["open tasks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        s.execute(text("""
            INSERT INTO audit_events (stream, seq, at, actor, action, instance_id, task_id, data, prev_hash, hash)
            SELECT 'instance:' || t.instance_id,
                   row_number() OVER (PARTITION BY t.instance_id ORDER BY t.created_at), t.completed_at,
                   'bench', 'task_completed', t.instance_id, t.id,
                   json_build_object('element_id', t.element_id, 'name', t.name, 'data', json_build_object()),
                   repeat('0', 64), md5(t.id) || md5(t.id || 'x')
            FROM human_tasks t WHERE t.status = 'completed' AND t.instance_id > :base
        """), params)
        timings["audit rows"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        rebuild(s)
        timings["rollup rebuild"] = time.perf_counter() - t0
        s.commit()
        counts = dict(s.execute(text("SELECT status, count(*) FROM human_tasks GROUP BY status")).all())
        counts["instances"] = s.scalar(text("SELECT count(*) FROM process_instances"))
        counts["audit rows"] = s.scalar(text("SELECT count(*) FROM audit_events"))
        counts["rollup rows"] = s.scalar(text("SELECT count(*) FROM handling_rollups"))
        counts["overdue (open, past due or escalated)"] = s.scalar(text(
            "SELECT count(*) FROM human_tasks WHERE status = 'open' AND (due_at < now() AT TIME ZONE 'UTC' "
            "OR sla_state IN ('overdue', 'escalated'))"))
        counts["handler's open / done"] = "%s / %s" % tuple(s.execute(text(
            "SELECT count(*) FILTER (WHERE t.status = 'open'), count(*) FILTER (WHERE t.completed_by_id = u.id) "
            "FROM human_tasks t JOIN role_assignments ra ON ra.role_code = t.role_code AND ra.unit_id = t.unit_id "
            "JOIN users u ON u.id = ra.user_id WHERE u.username = :u"), {"u": HANDLER}).one())
    # VACUUM cannot run in a transaction
    import psycopg
    raw = psycopg.connect(app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://"),
                          autocommit=True)
    t0 = time.perf_counter()
    raw.execute("VACUUM ANALYZE")
    raw.close()
    timings["vacuum analyze"] = time.perf_counter() - t0
    counts["seconds"] = timings
    return counts


def existing(app, n_open: int, n_finished: int) -> dict | None:
    """The counts of a database seeded earlier at this scale (``--reuse``), or None. The rollup is rebuilt
    (the code may have changed) and the tables analyzed."""
    from sqlalchemy import text

    from engine.analytics.rollups import rebuild
    from web.extensions import db
    with app.app_context():
        try:
            counts = dict(db.session.execute(text(
                "SELECT status, count(*) FROM human_tasks WHERE instance_id IN "
                "(SELECT id FROM process_instances WHERE business_key LIKE 'BENCH-%') GROUP BY status")).all())
        except Exception:
            db.session.rollback()
            return None
        if counts.get("open") != n_open or counts.get("completed") != n_finished:
            return None
        from flask_migrate import upgrade
        upgrade(directory=os.path.join(ROOT, "migrations"))
        t0 = time.perf_counter()
        from engine.analytics.rollups import HandlingRollup        # recreated: its shape may have changed
        HandlingRollup.__table__.drop(db.session.connection(), checkfirst=True)
        HandlingRollup.__table__.create(db.session.connection())
        counts["rollup rows"] = rebuild(db.session)
        db.session.commit()
        counts["instances"] = db.session.scalar(text("SELECT count(*) FROM process_instances"))
        counts["audit rows"] = db.session.scalar(text("SELECT count(*) FROM audit_events"))
        counts["seconds"] = {"rollup rebuild": time.perf_counter() - t0}
        return counts


def issue_token(app, username: str) -> str:
    from engine.org import issue_token as issue
    from engine.models import User
    from web.extensions import db
    with app.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        token = issue(db.session, user, datetime.now(timezone.utc), name="bench", days=30)
        db.session.commit()
        return token


# --- the server ------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn -c gunicorn.conf.py wsgi:app, production settings, 2 sync workers."""

    def __init__(self, url: str, workers: int = 2, threads: int = 1):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.log = tempfile.NamedTemporaryFile(prefix="bench-scale-gunicorn-", suffix=".log", delete=False)
        env = {**os.environ, "SUPERVISION_CONFIG": "production", "SECRET_KEY": secrets.token_hex(32),
               "DATABASE_URL": url, "WEB_CONCURRENCY": str(workers), "WEB_THREADS": str(threads),
               "WEB_BIND": f"127.0.0.1:{self.port}", "LOG_LEVEL": "WARNING", "PYTHONPATH": ROOT}
        self.proc = subprocess.Popen([os.path.join(ROOT, ".venv", "bin", "gunicorn"), "-c", "gunicorn.conf.py",
                                      "wsgi:app"], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        import requests
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited: " + open(self.log.name).read()[-3000:])
            try:
                if requests.get(self.base + "/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            raise RuntimeError("gunicorn did not answer in 120 s")
        version = subprocess.run([os.path.join(ROOT, ".venv", "bin", "gunicorn"), "--version"],
                                 capture_output=True, text=True).stdout.strip().split()[-1].strip("()")
        self.kind = (f"gunicorn {version or '?'}, {'sync' if threads == 1 else 'gthread'} workers: "
                     f"{workers} × {threads} thread(s), SUPERVISION_CONFIG=production")

    def pids(self) -> list[int]:
        out = [self.proc.pid]
        try:
            for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
                with open(f"/proc/{self.proc.pid}/task/{tid}/children") as fh:
                    out += [int(p) for p in fh.read().split()]
        except OSError:
            pass
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class RssSampler(threading.Thread):
    """The largest RSS of any one server process, and of all of them together, every 50 ms."""

    def __init__(self, server: Server):
        super().__init__(daemon=True)
        self.server, self.stop_flag = server, threading.Event()
        self.max_process, self.max_total = 0.0, 0.0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            sizes = [rss_mb(p) for p in self.server.pids()]
            if sizes:
                self.max_process = max(self.max_process, max(sizes))
                self.max_total = max(self.max_total, sum(sizes))
            time.sleep(0.05)


def sign_in(base: str, username: str) -> dict:
    """A page session: log in through the form; the session cookie is Secure (production), so it is sent back
    as a plain header over this local http connection."""
    import requests

    def cookie_header(resp) -> str:
        return "; ".join(c.split(";")[0] for c in resp.raw.headers.getlist("Set-Cookie"))
    page = requests.get(base + "/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    resp = requests.post(base + "/login", data={"csrf_token": csrf, "username": username, "password": PASSWORD},
                         headers={"Cookie": cookie_header(page)}, allow_redirects=False)
    if resp.status_code != 302:
        raise RuntimeError(f"login {username}: {resp.status_code}")
    return {"Cookie": cookie_header(resp)}


def time_requests(base: str, path: str, headers: dict, n: int, warmup: int = 3) -> dict:
    import requests
    s = requests.Session()
    times, size, status = [], 0, None
    for i in range(warmup + n):
        t0 = time.perf_counter()
        resp = s.get(base + path, headers=headers)
        body = resp.content
        elapsed = time.perf_counter() - t0
        status = resp.status_code
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:300]!r}")
        if i >= warmup:
            times.append(elapsed * 1000)
            size = len(body)
    return {"p50": percentile(times, .5), "p95": percentile(times, .95), "max": max(times), "bytes": size}


def throughput(base: str, path: str, headers: dict, connections: int = 8, seconds: float = 20.0,
               server_pids: list[int] | None = None) -> dict:
    """Requests/s with ``connections`` clients each sending its next request as soon as the last answered; and
    the CPU each request cost the server's processes (``server_pids``) and this load client, which share the
    machine's cores with the server and the database."""
    import requests
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client():
        s = requests.Session()
        mine = []
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            resp = s.get(base + path, headers=headers)
            _ = resp.content
            if resp.status_code != 200:
                errors[0] += 1
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    for _ in range(3):
        requests.get(base + path, headers=headers)
    pids = server_pids or []
    server0, client0 = sum(map(cpu_seconds, pids)), time.process_time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        for f in [pool.submit(client) for _ in range(connections)]:
            f.result()
    elapsed = time.perf_counter() - t0
    n = max(len(latencies), 1)
    return {"rps": len(latencies) / elapsed, "n": len(latencies), "errors": errors[0],
            "p50": percentile([x * 1000 for x in latencies], .5), "p95": percentile([x * 1000 for x in latencies], .95),
            "server_cpu_ms": (sum(map(cpu_seconds, pids)) - server0) / n * 1000 if pids else None,
            "client_cpu_ms": (time.process_time() - client0) / n * 1000}


# --- EXPLAIN ---------------------------------------------------------------------------------------------------

def explain(app, n_show: int = 8) -> list[str]:
    """Run the services behind the timed pages in-process, capture every SELECT they send and EXPLAIN (ANALYZE,
    BUFFERS) it: per statement the time, the plan's top node and the scans it uses."""
    from sqlalchemy import event

    from engine.dashboard import Dashboard, Filters, area_of
    from engine.models import User
    from web.extensions import db
    from web.services import tasks

    out = []
    with app.app_context():
        captured: list[tuple[str, str, object]] = []
        label = [""]

        def grab(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT") and "FROM" in statement.upper():
                captured.append((label[0], statement, parameters))

        event.listen(db.engine, "before_cursor_execute", grab)
        now = datetime.now(timezone.utc)
        s = db.session
        user = s.query(User).filter_by(username=HANDLER).one()
        svc = tasks()
        for tab in ("mine", "group", "due_soon", "overdue", "done"):
            label[0] = f"inbox {tab}"
            svc.inbox(user, tab, now=now, page=1, per_page=20)
        label[0] = "/api/tasks"
        svc.page(user, "all", "open", limit=50)
        city = s.query(User).filter_by(username=CITY_SUP).one()
        from engine.calendar import LOCAL_TZ
        start = datetime(now.astimezone(LOCAL_TZ).year, 1, 1, tzinfo=LOCAL_TZ)    # the page's default window
        d = Dashboard(s, now, area_of(s, city))
        label[0] = "dashboard city: all counts (one pass)"
        d.unit_counts()
        d.procedure_counts()
        d.unassigned_counts()
        label[0] = "dashboard city: overdue page"
        d.overdue_rows(limit=50)
        label[0] = "export overdue (city): every row"
        for _row in d.overdue_rows(stream=True):
            pass
        label[0] = "dashboard city: handling (rollup)"
        Dashboard(s, now, area_of(s, city), Filters(created_from=start)).handling_times()
        label[0] = "calendar banner (every page, December): provisional deadlines"
        from engine.provisional import pending_count
        pending_count(s)
        event.remove(db.engine, "before_cursor_execute", grab)
        s.rollback()
        seen = set()
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for what, statement, parameters in captured:
                key = (what, statement)
                if key in seen or "FROM org_units" in statement and "human_tasks" not in statement:
                    continue
                if not any(table in statement for table in ("human_tasks", "handling_rollups", "FROM timers")):
                    continue
                seen.add(key)
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statement, parameters)
                plan = [r[0] for r in cur.fetchall()]
                took = next((l for l in plan if l.startswith("Execution Time")), "")
                scans = sorted({m.group(0) for l in plan for m in
                                [re.search(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Index Scan|Bitmap Heap Scan)"
                                           r"( using \S+)? on \S+", l)] if m})
                spill = [l.strip() for l in plan if "Disk" in l or "external" in l]
                out.append(f"{what}: {took}; top: {plan[0].strip()[:110]}")
                out.append("    scans: " + "; ".join(scans) + (("; SPILL: " + " ".join(spill)) if spill else ""))
            raw.rollback()
        finally:
            raw.close()
    return out


# --- main ------------------------------------------------------------------------------------------------------

ENDPOINTS = [
    ("/api/tasks?limit=50 (handler, paged)", "api", "/api/tasks?limit=50"),
    ("/api/tasks?status=completed&limit=50 (handler)", "api", "/api/tasks?status=completed&limit=50"),
    ("inbox 我的 (mine)", "handler", "/?tab=mine"),
    ("inbox 待认领 (group)", "handler", "/?tab=group"),
    ("inbox 即将到期 (due soon)", "handler", "/?tab=due_soon"),
    ("inbox 已逾期 (overdue)", "handler", "/?tab=overdue"),
    ("inbox 已办 (done)", "handler", "/?tab=done"),
    ("/dashboard as a county (固安县)", "county", "/dashboard"),
    ("/dashboard as the city bureau", "city", "/dashboard"),
    ("/dashboard page 20 of the overdue list (city)", "city", "/dashboard?overdue_page=20"),
    ("export overdue.xlsx (city)", "city", "/dashboard/export/overdue.xlsx"),
    ("export handling.xlsx (city)", "city", "/dashboard/export/handling.xlsx"),
]


def run_scale(url: str, label: str, n_open: int, n_finished: int, args) -> dict:
    app = make_app(url)
    counts = existing(app, n_open, n_finished) if args.reuse else None
    if counts is None:
        progress(f"{label}: loading the demo organisation into {url}")
        reset_and_load(app)
        progress(f"{label}: seeding {n_open:,} open and {n_finished:,} finished tasks")
        t0 = time.perf_counter()
        counts = seed(app, n_open, n_finished)
        seed_s = time.perf_counter() - t0
        progress(f"{label}: seeded in {seed_s:.0f} s: {counts}")
    else:
        seed_s = counts["seconds"].get("total", 0.0)
        progress(f"{label}: reusing the seeded database: {counts}")
    if args.seed_only:
        return None
    token = issue_token(app, HANDLER)
    plans = explain(app)
    app = None
    server = Server(url)
    sampler = RssSampler(server)
    results, tput = [], []
    try:
        heads = {"api": {"Authorization": "Bearer " + token}, "handler": sign_in(server.base, HANDLER),
                 "county": sign_in(server.base, COUNTY_SUP), "city": sign_in(server.base, CITY_SUP)}
        sampler.start()
        for name, who, path in ENDPOINTS:
            progress(f"{label}: {name}")
            results.append((name, time_requests(server.base, path, heads[who], args.requests)))
        if args.throughput:
            for name, who, path in (("/api/tasks?limit=50", "api", "/api/tasks?limit=50"),
                                    ("inbox page (/?tab=mine)", "handler", "/?tab=mine")):
                progress(f"{label}: throughput {name}")
                tput.append((name, throughput(server.base, path, heads[who], 8, args.seconds, server.pids())))
    finally:
        sampler.stop_flag.set()
        server.stop()
    return {"label": label, "n_open": n_open, "n_finished": n_finished, "counts": counts, "seed_s": seed_s,
            "results": results, "throughput": tput, "rss": (sampler.max_process, sampler.max_total),
            "plans": plans, "server": server.kind, "requests": args.requests}


def report(runs: list[dict]) -> None:
    ref = next((r for r in runs if r["label"] == "ref"), None)
    for run in runs:
        print(f"\n## {run['label']}: {run['n_open']:,} open, {run['n_finished']:,} finished human tasks "
              f"(seeded in {run['seed_s']:.0f} s)\n")
        c = dict(run["counts"])
        secs = c.pop("seconds")
        print(table(["what", "rows"], [[k, f"{v:,}" if isinstance(v, int) else str(v)] for k, v in c.items()]))
        print("seed steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items()))
        print(f"\nserver: {run['server']}\n")
        ref_p95 = {name: r["p95"] for name, r in ref["results"]} if ref and run is not ref else {}
        rows = []
        for name, r in run["results"]:
            ratio = f"{r['p95'] / ref_p95[name]:.1f}×" if name in ref_p95 and ref_p95[name] else ""
            rows.append([name, f"{r['p50']:.0f}", f"{r['p95']:.0f}", f"{r['max']:.0f}", f"{r['bytes']:,}", ratio])
        print(table([f"request ({run['requests']} each)", "p50 ms", "p95 ms", "max ms", "bytes", "p95 / ref"], rows))
        print(f"\nserver RSS, sampled every 50 ms: largest process {run['rss'][0]:.0f} MB, "
              f"all processes together {run['rss'][1]:.0f} MB")
        if run["throughput"]:
            print()
            print(table(["8 connections, " + run["server"].split(",")[0], "requests/s", "requests", "errors",
                         "p50 ms", "p95 ms", "server CPU ms/req", "client CPU ms/req"],
                        [[n, f"{t['rps']:.1f}", str(t["n"]), str(t["errors"]), f"{t['p50']:.0f}", f"{t['p95']:.0f}",
                          f"{t['server_cpu_ms']:.1f}" if t["server_cpu_ms"] is not None else "",
                          f"{t['client_cpu_ms']:.1f}"]
                         for n, t in run["throughput"]]))
            print("(CPU per request: the server's processes and this benchmark's own load client, on the cores they "
                  "share with PostgreSQL; what the two leave of the machine's CPU time is the database's and the "
                  "system's)")
        print("\nEXPLAIN (ANALYZE, BUFFERS) of the queries behind the pages:")
        for line in run["plans"]:
            print("  " + line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="ref,full", help="ref, full and/or custom (default ref,full)")
    ap.add_argument("--open", type=int, default=10_000, help="open tasks for the custom scale")
    ap.add_argument("--finished", type=int, default=100_000, help="finished tasks for the custom scale")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--throughput", action="store_true", help="also requests/s at 8 connections (part 5)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each throughput run")
    ap.add_argument("--reuse", action="store_true",
                    help="keep a database seeded at the same scale by an earlier run (only the rollup is rebuilt)")
    ap.add_argument("--seed-only", action="store_true", help="seed, then stop")
    ap.add_argument("--allow-any-db", action="store_true")
    args = ap.parse_args(argv)
    url = normalise_url(os.environ.get("DATABASE_URL") or DEFAULT_URL)
    from sqlalchemy.engine import make_url
    if "bench" not in (make_url(url).database or "") and not args.allow_any_db:
        print(f"refusing: the database name must contain 'bench' (its schema is dropped): {url}", file=sys.stderr)
        return 2
    runs = []
    for label in [s.strip() for s in args.scales.split(",") if s.strip()]:
        n_open, n_finished = SCALES.get(label, (args.open, args.finished))
        scale_url = normalise_url(os.environ[f"DATABASE_URL_{label.upper()}"]) \
            if os.environ.get(f"DATABASE_URL_{label.upper()}") else url
        if "bench" not in (make_url(scale_url).database or "") and not args.allow_any_db:
            print(f"refusing: the database name must contain 'bench': {scale_url}", file=sys.stderr)
            return 2
        run = run_scale(scale_url, label, n_open, n_finished, args)
        if run is not None:
            runs.append(run)
    if not runs:
        return 0
    print("# Scale benchmark (bench/scale.py)\n")
    print(table(["machine", ""], machine_notes(), right=set()))
    report(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())

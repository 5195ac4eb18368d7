"""Real processes for the production-shape tests: gunicorn nodes and `flask scheduler` processes started as
an operator would, a small HTTP client (stdlib only; cookies kept by hand, since production cookies are
Secure and the tests speak plain HTTP on the loopback), and fresh databases to restore or copy into."""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
SECRET = secrets.token_hex(32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(db_url: str, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCHEDULER_", "WEB_", "SMTP_", "ATTACHMENT_", "PROMETHEUS_"))}
    env.update({"SUPERVISION_CONFIG": "production", "SECRET_KEY": SECRET, "DATABASE_URL": db_url,
                "FLASK_APP": "web", "PYTHONPATH": ROOT, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


# -- HTTP -------------------------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Answer:
    status: int
    headers: dict
    body: bytes
    seconds: float

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Client:
    """Requests to one node; ``cookies`` (a dict) may be shared between the clients of two nodes."""
    base: str
    cookies: dict = field(default_factory=dict)

    def request(self, method: str, path: str, *, json_body=None, form=None, files=None, headers=None) -> Answer:
        head = dict(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            head["Content-Type"] = "application/json"
        elif files:
            boundary = uuid.uuid4().hex
            data = _multipart(boundary, form or {}, files)
            head["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            head["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=head)
        started = time.perf_counter()
        try:
            with _OPENER.open(req, timeout=60) as resp:
                status, headers, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            status, headers, body = err.code, err.headers, err.read()
        seconds = time.perf_counter() - started
        for cookie in headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(status, dict(headers.items()), body, seconds)

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> Answer:
        return self.request("POST", path, **kw)

    def sign_in(self, username: str, password: str = "demo1234") -> None:
        page = self.get("/login").text
        answer = self.post("/login", form={"username": username, "password": password, "csrf_token": csrf(page)})
        assert answer.status == 302, answer.text[:500]


def csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def _multipart(boundary: str, form: dict, files: dict) -> bytes:
    parts = []
    for name, value in form.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


# -- processes --------------------------------------------------------------------------------------------

@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: str
    started: float

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def json_lines(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def spawn(name: str, args: list[str], env: dict, log_dir) -> Proc:
    log_path = os.path.join(str(log_dir), f"{name}.log")
    out = open(log_path, "w", encoding="utf-8")          # a file, never a pipe nobody reads
    popen = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return Proc(name, popen, log_path, time.perf_counter())


def gunicorn(name: str, env: dict, log_dir, workers: int = 2) -> tuple[Proc, Client]:
    port = free_port()
    env = {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    proc = spawn(name, [os.path.join(BIN, "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], env, log_dir)
    return proc, Client(f"http://127.0.0.1:{port}")


def wait_healthy(proc: Proc, client: Client, timeout: float = 90) -> float:
    """Seconds until the node answered /api/health with 200 (fails when the process ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} ended with {proc.popen.returncode}:\n{proc.log()[-3000:]}")
        try:
            if client.get("/api/health").status == 200:
                return time.perf_counter() - proc.started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{proc.name} did not answer within {timeout} s:\n{proc.log()[-3000:]}")


def scheduler(name: str, env: dict, log_dir) -> Proc:
    return spawn(name, [os.path.join(BIN, "flask"), "scheduler"], {**env, "SCHEDULER_NAME": name}, log_dir)


# -- databases --------------------------------------------------------------------------------------------

def fresh_database(db_url: str, suffix: str, tmp_path) -> str:
    """An empty database beside the tests' one: on PostgreSQL ``<name>_<suffix>`` (dropped and created
    again), else a new SQLite file."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return "sqlite:///" + str(tmp_path / f"{suffix}.db")
    name = f"{url.database}_{suffix}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(url_text: str) -> None:
    url = make_url(url_text)
    if url.get_backend_name() != "postgresql":
        return
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()


def migrate(url: str, **config):
    """A test app on ``url`` with the schema migrated; returns the app."""
    from flask_migrate import upgrade

    from web import create_app
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, **config)
    with app.app_context():
        upgrade()
    return app

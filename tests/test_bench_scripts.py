"""The engine throughput benchmark still runs end to end, and its hand-written floor (d, e) does the same work
as the services: every case it starts ends completed, with the rows (c) writes. Timings are printed by the
benchmark, never asserted here."""
from __future__ import annotations

import importlib
import re

import pytest


def _bench_module(name: str):
    return importlib.import_module(f"bench.{name}")


def test_engine_throughput_runs_every_mode_and_its_floor_completes_every_case(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)         # its own SQLite file, never a shared database
    bench = _bench_module("engine_throughput")
    assert bench.main(["--n", "3", "--n-db", "3", "--parked", "2", "--warmup", "1", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    for mode in ("a  SpiffWorkflow", "b  SpiffWorkflow", "c  services", "d  floor", "e  (d) through",
                 "c' services", "d / b", "c / e", "c statements per completed task"):
        assert mode in out, mode


def test_floor_path_writes_what_the_services_write(monkeypatch):
    """(d)'s case ends completed with three completed tasks, a chained audit trail and the handling rollup:
    the work it times is the services' work, not less."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    bench = _bench_module("engine_throughput")
    from sqlalchemy import func, select

    from engine.analytics.rollups import HandlingRollup
    from engine.models import AuditEvent, HumanTask, ProcessInstance, User
    from web.extensions import db

    with bench.bench_database(None, False) as (app, _where):
        user = db.session.scalars(select(User).filter_by(username=bench.USERNAME)).one()
        user_id, start_data = user.id, bench.start_data_for(user.username, user.unit.code)
        db.session.rollback()
        served: list[int] = []
        bench.db_instances(app, user_id, 1, served)
        places = bench.floor_places(db.session, served[0])
        definition_id = db.session.get(ProcessInstance, served[0]).definition_id
        db.session.rollback()
        spec, subprocess_specs = bench.parse_spec()
        for how in ({}, {"core": True}):
            floor = bench.FloorPath(db.engine, spec, subprocess_specs, user_id, start_data, places, **how)
            try:
                instance_id = floor.instance(definition_id)
            finally:
                floor.close()
            case = db.session.get(ProcessInstance, instance_id)
            assert case.status == "completed" and case.version == 4
            tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                                       .order_by(HumanTask.created_at)).all()
            assert [t.status for t in tasks] == ["completed"] * 3
            assert [(t.role_code, t.unit_id) for t in tasks] == places
            assert all(t.completed_by_id == user_id and not t.unassigned for t in tasks)
            events = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                        .order_by(AuditEvent.seq)).all()
            assert [e.seq for e in events] == [1, 2, 3, 4]
            assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:]))
            db.session.rollback()
        done = db.session.scalar(select(func.sum(HandlingRollup.tasks)).where(HandlingRollup.span == "M"))
        assert done == 9                                     # the services' 3 tasks and the floors' 3 + 3


def test_floor_path_refuses_pipeline_mode_on_sqlite():
    bench = _bench_module("engine_throughput")

    class _Engine:
        class dialect:
            name = "sqlite"
    with pytest.raises(ValueError):
        bench.FloorPath(_Engine(), None, None, 1, {}, [], pipelined=True)


def test_action_layers_gives_each_sample_to_its_innermost_layer(tmp_path, capsys):
    layers = _bench_module("action_layers")
    raw = tmp_path / "c.raw"
    loop = "<module> (bench/engine_throughput.py:1);db_instances (bench/engine_throughput.py:250)"
    raw.write_text("\n".join([
        f"{loop};TaskService.complete (engine/tasks.py:1);Session.execute (sqlalchemy/orm/session.py:1) 5",
        f"{loop};Session.flush (sqlalchemy/orm/session.py:2);Connection.execute (sqlalchemy/engine/base.py:3) 3",
        f"{loop};Connection.execute (sqlalchemy/engine/base.py:3);DefaultDialect.do_execute "
        "(sqlalchemy/engine/default.py:9);execute (<built-in>) 4",
        f"{loop};Runtime.run_task (engine/runtime.py:1);Task.run (SpiffWorkflow/task.py:1) 2",
        f"{loop};state_to_json (engine/serialization.py:1);dumps (json/__init__.py:1) 1",
        f"{loop};record (engine/history.py:1);dumps (json/__init__.py:1) 1",
        "<module> (bench/engine_throughput.py:1);raw_instances (bench/engine_throughput.py:9) 50",
    ]) + "\n", encoding="utf-8")
    counts = layers.layer_counts(raw.read_text(encoding="utf-8").splitlines(keepends=True))
    assert {layer: counts[layer] for layer in layers.LAYERS} == {
        "driver": 4, "SQLAlchemy ORM": 5, "SQLAlchemy Core": 3, "SpiffWorkflow": 2, "state JSON": 1, "services": 1,
        "other": 0}
    assert sum(counts.values()) == 16                      # the 50 samples outside the loop are not counted
    assert layers.main([str(raw)]) == 0
    assert re.search(r"^all\s+16$", capsys.readouterr().out, re.M)

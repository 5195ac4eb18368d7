"""A looping instance's stored state keeps the size of one round (finished rounds are pruned from the task
tree at each save, engine.serialization.prune_finished), and nothing a user sees changes: it resumes at its
open task, which works; its history lists every round; the case page still marks the steps done before."""
from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import select

from engine import history
from engine.models import HumanTask, ProcessInstance, User
from engine.repository import deploy_paths
from engine.runtime import Runtime
from engine.tasks import TaskService
from web.extensions import db
from web.services import repository

from .test_pages import sign_in

MODEL = os.path.join(os.path.dirname(__file__), "models", "loop_rounds.bpmn")
HANDLER = "guan_scjg_handler"
ROUNDS = 30


def _user(name: str) -> User:
    return db.session.scalars(select(User).where(User.username == name)).one()


@pytest.fixture
def looping(ctx):
    """An instance of the loop model (deployed once; started by the platform for the handler's unit)."""
    if repository().latest("test_loop_rounds", missing_ok=True) is None:
        deploy_paths(repository(), [MODEL], actor="tests")
        db.session.commit()
    handler = _user(HANDLER)
    instance = Runtime(db.session, ctx.extensions["clock"]).start(
        "test_loop_rounds", business_key="LOOP-1", data={"initiator": HANDLER, "case_unit": handler.unit.code})
    db.session.commit()
    return instance.id


def _state(instance_id: int) -> str:
    return db.session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == instance_id))


def _complete_round(ctx, instance_id: int, k: int) -> None:
    db.session.expire_all()                       # every round from what the database holds
    service = TaskService(db.session, ctx.extensions["clock"])
    (task,) = service.open_tasks(instance_id)
    service.complete(_user(HANDLER), task.id, {"note": f"round {k}"})
    db.session.commit()


def test_a_looping_instance_is_pruned_and_still_resumes_with_its_whole_history(ctx, looping, client, token):
    sizes = {}
    for k in range(1, ROUNDS + 1):
        _complete_round(ctx, looping, k)
        sizes[k] = len(_state(looping))
    # the stored state does not grow with the rounds done (unpruned, each round adds about 1 KB)
    assert sizes[ROUNDS] < sizes[3] + 500, sizes

    # it resumes: the loaded workflow waits at exactly the open task of the index, with the round's data
    instance = db.session.get(ProcessInstance, looping)
    workflow = Runtime(db.session, ctx.extensions["clock"]).load(instance)
    assert len(workflow.tasks) < 20
    ready = [t for t in workflow.get_tasks() if t.state == 16]       # TaskState.READY
    (open_row,) = TaskService(db.session, ctx.extensions["clock"]).open_tasks(looping)
    assert [str(t.id) for t in ready] == [open_row.id]
    assert ready[0].data["round"] == ROUNDS and ready[0].data["note"] == f"round {ROUNDS}"
    assert "init" in json.loads(_state(looping))["pruned_done"]

    # its open task works (twice more: the pruned state is pruned again)
    _complete_round(ctx, looping, ROUNDS + 1)
    _complete_round(ctx, looping, ROUNDS + 2)
    rows = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == looping)).all()
    assert sorted(r.status for r in rows) == ["completed"] * (ROUNDS + 2) + ["open"]
    # a task of a pruned round cannot be completed again: a conflict, not an error
    old = next(r for r in rows if r.status == "completed")
    resp = client.post(f"/api/tasks/{old.id}/complete", headers=token(HANDLER), json={"data": {"note": "again"}})
    assert resp.status_code == 409

    # the history lists every round, in order, and its chain verifies
    events = history.for_instance(db.session, looping)
    notes = [e.data["data"]["note"] for e in events if e.action == "task_completed"]
    assert notes == [f"round {k}" for k in range(1, ROUNDS + 3)]
    assert sum(e.action == "task_created" for e in events) == ROUNDS + 3
    assert history.verify(db.session)[1] is None
    body = client.get(f"/api/instances/{looping}", headers=token(HANDLER)).get_json()
    assert [e["data"]["data"]["note"] for e in body["history"] if e["action"] == "task_completed"] == notes

    # the case page: every round in the timeline, the steps done before the loop still marked done
    sign_in(client, HANDLER)
    page = client.get(f"/cases/{looping}").get_data(as_text=True)
    assert page.count("本轮处理") >= 2 * (ROUNDS + 2)          # each round: created and completed
    done = json.loads(re.search(r"data-done='([^']*)'", page).group(1))
    current = json.loads(re.search(r"data-current='([^']*)'", page).group(1))
    assert {"start", "init", "count", "again"} <= set(done) and current == ["work"]


def test_an_instance_without_a_loop_keeps_its_whole_tree(ctx):
    """Pruning is for loops: an ordinary instance's state is stored as the engine made it."""
    from engine.serialization import prune_finished
    handler = _user("guan_guanzhen_handler")
    rt = Runtime(db.session, ctx.extensions["clock"])
    instance = rt.start("two_lane_review", business_key="NL-1",
                        data={"initiator": handler.username, "case_unit": handler.unit.code})
    db.session.commit()
    workflow = rt.load(db.session.get(ProcessInstance, instance.id))
    assert prune_finished(workflow) == 0
    assert "pruned_done" not in json.loads(_state(instance.id))


@pytest.mark.nodb
def test_parallel_branches_in_a_loop_survive_pruning_between_their_steps():
    """A round's parallel join still waiting keeps the round's split: saving (pruning) and loading between the
    two branches' steps, in any order, every round still joins and the loop runs to its end."""
    import random

    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
    from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
    from SpiffWorkflow.util.task import TaskState

    from engine.serialization import done_in_pruned, prune_finished, state_to_json, workflow_from_state

    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(os.path.join(os.path.dirname(__file__), "models", "parallel_loop.bpmn"))
    spec, subprocess_specs = parser.get_spec("parallel_loop"), parser.get_subprocess_specs("parallel_loop")
    engine = PythonScriptEngine()
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
    workflow.do_engine_steps()
    rnd, sizes, steps = random.Random(7), [], 0
    while not workflow.is_completed():
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert ready and steps < 100
        rnd.choice(ready).run()
        workflow.do_engine_steps()
        prune_finished(workflow)
        text = state_to_json(workflow)
        sizes.append(len(text))
        workflow = workflow_from_state(text, spec, subprocess_specs, engine)
        steps += 1
    assert steps == 24                                 # 12 rounds of a and b
    assert workflow.last_task.data["round"] == 12
    assert max(sizes[-6:]) < max(sizes[:6]) + 200      # no growth with the rounds
    assert {"start", "init", "a", "b", "split", "join"} <= done_in_pruned(workflow)

"""Engine services bound to the current request's database session and the app's clock."""
from __future__ import annotations

from flask import current_app

from engine.clock import Clock
from engine.repository import Repository
from engine.runtime import Runtime
from engine.tasks import TaskService

from .extensions import db


def clock() -> Clock:
    return current_app.extensions["clock"]


def runtime() -> Runtime:
    return Runtime(db.session, clock())


def tasks() -> TaskService:
    return TaskService(db.session, clock())


def repository() -> Repository:
    from engine.models import Role
    roles = set()
    for role in db.session.query(Role):
        roles.update((role.code, role.name))
    return Repository(db.session, clock(), known_roles=roles or None)

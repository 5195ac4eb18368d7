"""The human-task index: who may see a task, claim, unclaim, delegate, complete.

A task is offered to the users holding its role (the lane) at its unit (the unit expression). Users who
are not candidates do not learn that the task exists (NotFound)."""
from __future__ import annotations

from functools import cache, lru_cache
from typing import Callable, NamedTuple

from sqlalchemy import Integer, String, and_, bindparam, cast, exists, false, func, literal, or_, select, union, update
from sqlalchemy.orm import Session, aliased, defaultload, joinedload, lazyload, undefer

from . import history
from .analytics.rollups import record_completion
from .errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from .limits import is_db_id, is_uuid
from .models import HumanTask, OrgUnit, ProcessInstance, User
from .notifications import notify
from .org import Directory, user_holds
from .registers.experts import EXPERT_ROLE, is_expert_only
from .runtime import Runtime, check_data


MAX_PAGE, MAX_PER_PAGE = 100_000, 200
# the order of the inbox and the API's task list: soonest due first, then the oldest, then the id (total: pages
# read one after the other return every task once)
ORDER = (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at, HumanTask.id)
FormValidator = Callable[[str, dict, dict], dict]   # (form key, submitted data, case data) -> cleaned data
# (task, user, accepted data, case data with it) -> None: what the step issues (official documents,
# engine.documents), in the step's transaction — an error there undoes the whole step; it may add to the
# accepted data (a document's 文号) before the engine moves on
StepIssuer = Callable[[HumanTask, User, dict, dict], None]


# A list of tasks shows each task with its unit, its case and who claimed it — not the case's unit, the claimant's
# unit or roles, which the models' eager defaults would join too: every join of the page's statement costs
# PostgreSQL planning time on every request (1.7 of its 2.1 ms with all five joins), the roles one more SELECT
CASE_WITHOUT_UNIT = (defaultload(HumanTask.instance).lazyload(ProcessInstance.unit),)
LISTED = (defaultload(HumanTask.claimed_by).lazyload(User.unit), defaultload(HumanTask.claimed_by).lazyload(User.roles),
          *CASE_WITHOUT_UNIT)


class Bound(NamedTuple):
    """A statement and the values of its named parameters."""
    statement: object
    params: dict


class Arms(NamedTuple):
    """Conditions whose union is a list of tasks, one index range each, written with named parameters (user_id,
    role_<i>/unit_<i> for the user's i-th (role, unit) pair, now, the filters) and their values. The conditions
    and every statement made of them are built once per shape (which tab, how many pairs, which filters) and
    reused: SQLAlchemy then neither builds, nor keys, nor compiles them again; a request only binds its values."""
    conditions: tuple
    params: dict

    def count(self) -> Bound:
        return Bound(_count_of(self.conditions), self.params)


def _user_params(user: User, pairs: list[tuple[str, int]]) -> dict:
    params = {"user_id": user.id}
    for i, (role, unit) in enumerate(pairs):
        params[f"role_{i}"], params[f"unit_{i}"] = role, unit
    return params


def _offered(i: int):
    return and_(HumanTask.role_code == bindparam(f"role_{i}"), HumanTask.unit_id == bindparam(f"unit_{i}"))


def _inline(status: str):
    """A task state written into the statement's text, not sent as a parameter: the text is then the same at
    every request, so PostgreSQL prepares it once (psycopg, after five runs) and may keep one generic plan — which
    only matches the partial indexes ``WHERE status = 'open'`` when it sees the state itself."""
    return literal(status, literal_execute=True)


def _inline_int(name: str):
    """A page's size or offset, written into the statement's text like the task state (see ``_inline``): with
    a parameter there, PostgreSQL estimates a generic plan as reading a tenth of the table and plans every
    execution anew."""
    return bindparam(name, type_=Integer, literal_execute=True)


@lru_cache(maxsize=512)
def _scope_arms(scope: str, status: str, n_pairs: int) -> tuple:
    """``TaskService._arms`` for a user with ``n_pairs`` (role, unit) pairs."""
    state = [HumanTask.status == _inline(status)] if status != "any" else []
    mine = and_(*state, HumanTask.claimed_by_id == bindparam("user_id"))
    unclaimed = [HumanTask.claimed_by_id.is_(None)] if scope == "group" else []
    pairs = tuple(and_(*state, *unclaimed, _offered(i)) for i in range(n_pairs))
    if scope == "mine":
        return (mine,)
    if scope == "group":
        return pairs
    done = (and_(*state, HumanTask.completed_by_id == bindparam("user_id")),) if status != "open" else ()
    return (mine, *pairs, *done)


_FILTERS = {"process_key": lambda: HumanTask.process_key == bindparam("process_key"),
            "filter_unit": lambda: HumanTask.unit_id == bindparam("filter_unit"),
            "created_from": lambda: HumanTask.created_at >= bindparam("created_from"),
            "created_to": lambda: HumanTask.created_at < bindparam("created_to")}


@lru_cache(maxsize=512)
def _inbox_arms(tab: str, n_pairs: int, filters: tuple[str, ...]) -> tuple:
    """The arms of an inbox tab for a user with ``n_pairs`` (role, unit) pairs, with the ``filters`` chosen."""
    (mine,), to_claim = _scope_arms("mine", "open", n_pairs), _scope_arms("group", "open", n_pairs)
    now = bindparam("now")
    if tab == "mine":
        arms = [mine]
    elif tab == "group":
        arms = list(to_claim)
    elif tab == "due_soon":
        soon = and_(HumanTask.remind_at <= now, or_(HumanTask.due_at.is_(None), HumanTask.due_at >= now))
        arms = [and_(arm, soon) for arm in [mine, *to_claim]]
    elif tab == "overdue":
        arms = [and_(arm, HumanTask.due_at < now) for arm in [mine, *to_claim]]
    else:
        arms = [and_(HumanTask.status == _inline("completed"), HumanTask.completed_by_id == bindparam("user_id"))]
    chosen = [_FILTERS[name]() for name in filters]
    return tuple(and_(arm, *chosen) for arm in arms)


@lru_cache(maxsize=512)
def _count_of(conditions: tuple):
    return select(func.count()).select_from(HumanTask).where(or_(*conditions) if conditions else false())


# what a list loads with each task: the API also shows who claimed it; the inbox does not
_LISTED_BY = {"api": LISTED, "inbox": (lazyload(HumanTask.claimed_by), *CASE_WITHOUT_UNIT)}


@lru_cache(maxsize=512)
def _union_page(listed: str, conditions: tuple):
    """Rows offset … offset + limit in ``ORDER`` of the union of each condition's first ``first_n`` rows."""
    keys = (HumanTask.id, HumanTask.due_at, HumanTask.created_at)
    firsts = [select(*keys).where(arm).order_by(*ORDER).limit(_inline_int("first_n")).subquery() for arm in conditions]
    chosen = union(*(select(*first.c) for first in firsts)).subquery()
    return (select(HumanTask).options(*_LISTED_BY[listed]).join(chosen, chosen.c.id == HumanTask.id)
            .order_by(*ORDER).offset(_inline_int("offset")).limit(_inline_int("limit")))


@lru_cache(maxsize=64)
def _done_page(condition):
    return (select(HumanTask).options(*_LISTED_BY["inbox"]).where(condition)
            .order_by(HumanTask.completed_at.desc(), HumanTask.id)
            .offset(_inline_int("offset")).limit(_inline_int("limit")))


class TaskService:
    def __init__(self, session: Session, clock, runtime: Runtime | None = None,
                 validate_form: FormValidator | None = None, issue: StepIssuer | None = None):
        self.session = session
        self.clock = clock
        self.runtime = runtime or Runtime(session, clock)
        self.validate_form = validate_form
        self.issue = issue

    # -- visibility -------------------------------------------------------------------------------
    def _offering(self, user: User) -> list[tuple[str, int]]:
        """The (role, unit) pairs whose tasks are offered to the user: the legal reviewer role only while
        qualified (personnel register); never the expert role: an expert's task is personal (given to that
        expert by name, claimed), never offered to the group."""
        directory = self.runtime.directory
        return [(ra.role_code, ra.unit_id) for ra in user.roles
                if ra.role_code != EXPERT_ROLE and directory.qualified_for(user, ra.role_code)]

    def _arms(self, user: User, scope: str = "all", status: str = "open") -> Arms:
        """The conditions whose union is ``query``, one index range each: claimed by the user; each of the
        user's (role, unit) pairs (only the unclaimed tasks for ``group``); and, for a state other than open,
        completed by the user (nobody has completed an open task)."""
        pairs = self._offering(user)
        return Arms(_scope_arms(scope, status, len(pairs)), _user_params(user, pairs))

    def query(self, user: User, scope: str = "all", status: str = "open"):
        """Tasks the user may see. ``mine`` = claimed by the user; ``group`` = unclaimed tasks offered to
        the user's roles at their unit; ``all`` = both."""
        arms = self._arms(user, scope, status)
        return select(HumanTask).where(or_(*arms.conditions) if arms.conditions else false()) \
            .order_by(*ORDER).params(arms.params)

    def count_query(self, user: User, scope: str = "all", status: str = "open") -> Bound:
        """The statement counting ``query`` (with its values), one index range per arm."""
        return self._arms(user, scope, status).count()

    def _count_of_arms(self, arms: Arms) -> int:
        """How many tasks meet any of ``arms``."""
        return self.session.scalar(*arms.count()) if arms.conditions else 0

    def _page_of_arms(self, listed: str, arms: Arms, offset: int, limit: int) -> list[HumanTask]:
        """One page, in ``ORDER`` (total), of the tasks meeting any of ``arms`` (which may overlap), loaded
        with the ``listed`` options. Each arm is read as one index range in that order — its first offset +
        limit rows — and the page is taken from their union: for an OR of the arms PostgreSQL walks every
        open task along the deadline index (10-20 ms at 100,000 open tasks) to find a user's few."""
        if not arms.conditions:
            return []
        return list(self.session.scalars(_union_page(listed, arms.conditions),
                                         arms.params | {"first_n": offset + limit, "offset": offset, "limit": limit}))

    def page(self, user: User, scope: str = "all", status: str = "open", *, limit: int, offset: int = 0
             ) -> tuple[list[HumanTask], int]:
        """One page of ``query``: (rows, total). The order is total (soonest due, then oldest, then id), so
        pages read one after the other return every task exactly once while nothing changes."""
        arms = self._arms(user, scope, status)
        return self._page_of_arms("api", arms, offset, limit), self._count_of_arms(arms)

    INBOX_TABS = ("mine", "group", "due_soon", "overdue", "done")

    def inbox(self, user: User, tab: str, *, now, process_key: str | None = None, unit_id: int | None = None,
              created_from=None, created_to=None, page: int = 1, per_page: int = 20,
              count_with: Callable[[Bound], int] | None = None) -> tuple[list[HumanTask], int]:
        """One tab of the inbox, soonest due first: my claimed tasks, tasks to claim, those due soon or
        overdue (mine or offered to me), and those I completed. Returns (rows of the page, total).
        ``count_with``: what reads the total's count statement (a page reads it in the statement of its other
        counts); by default it is read on its own."""
        if tab not in self.INBOX_TABS:
            raise InvalidInput(N_("Unknown inbox tab %(tab)s"), tab=tab)
        chosen = {"process_key": process_key, "filter_unit": unit_id, "created_from": created_from,
                  "created_to": created_to}
        chosen = {name: value for name, value in chosen.items() if value}
        pairs = self._offering(user)
        arms = Arms(_inbox_arms(tab, len(pairs), tuple(chosen)), _user_params(user, pairs) | chosen | {"now": now})
        total = count_with(arms.count()) if count_with else self._count_of_arms(arms)
        per_page = min(max(int(per_page), 1), MAX_PER_PAGE)
        page = min(max(int(page), 1), MAX_PAGE)              # an offset the database can take
        offset = (page - 1) * per_page
        if tab == "done":                                    # one arm, one index range (ix_human_tasks_done)
            rows = list(self.session.scalars(_done_page(arms.conditions[0]),
                                             arms.params | {"offset": offset, "limit": per_page}))
        else:
            rows = self._page_of_arms("inbox", arms, offset, per_page)
        return rows, total

    def list(self, user: User, scope: str = "all", status: str = "open") -> list[HumanTask]:
        return list(self.session.scalars(self.query(user, scope, status)))

    def is_candidate(self, user: User, task: HumanTask) -> bool:
        """The user holds the task's role at its unit — and, for a review task, is a qualified reviewer."""
        if task.role_code == EXPERT_ROLE:
            return task.claimed_by_id == user.id
        return user_holds(user, task.role_code, task.unit_id) and \
            self.runtime.directory.qualified_for(user, task.role_code)

    def _check_qualified(self, user: User, task: HumanTask) -> None:
        """Refuse with the reason an unqualified legal reviewer taking or doing a review task, and a case
        handler without a valid 执法证 doing a handler's step (personnel register)."""
        from .registers.personnel import HANDLER_ROLE, REVIEWER_ROLE, check_enforcement, check_reviewer
        directory = self.runtime.directory
        if task.role_code == REVIEWER_ROLE:
            check_reviewer(self.session, user, directory.today(), directory.reviewer_rule)
        elif task.role_code == HANDLER_ROLE:
            check_enforcement(self.session, user, directory.today())

    def get_for(self, user: User, task_id: str) -> HumanTask:
        """A task the user may see: offered to them, claimed or done by them, or — read only — in the area
        a supervisor oversees. Acting on it still needs the task's role at its unit."""
        task = self.session.get(HumanTask, task_id) if is_uuid(task_id) else None
        if task is None:
            raise NotFound(N_("No such task"))
        # holding the role is enough to see the task (an unqualified reviewer reads why he may not act), except
        # for an expert's task, which is personal: only the expert it was given to sees it
        holds = task.role_code != EXPERT_ROLE and user_holds(user, task.role_code, task.unit_id)
        if holds or task.claimed_by_id == user.id or task.completed_by_id == user.id:
            return task
        area = self.runtime.directory.supervised_area(user)
        if area is None or task.unit_id in area or task.instance.unit_id in area:
            return task
        raise NotFound(N_("No such task"))

    def instance_for(self, user: User, instance_id: int, write: bool = False) -> ProcessInstance:
        """An instance the user may read: one they started, one of their unit, one with a task offered to
        or done by them, or — for supervision officers and admins — one of a unit in their area. With
        ``write`` (adding a comment), reading it as an invited supervisor is not enough."""
        instance = self.session.get(ProcessInstance, instance_id) if is_db_id(instance_id) else None
        if instance is None:
            raise NotFound(N_("No such case"))
        expert_only = is_expert_only(user)         # an expert reads only the cases sent to him or her
        if instance.started_by == user.username or (instance.unit_id == user.unit_id and not expert_only):
            return instance
        area = set() if expert_only else self.runtime.directory.supervised_area(user)
        if area is None or instance.unit_id in area:
            if write and not self.runtime.directory.oversees_actively(user):
                raise Forbidden(N_("Invited supervisors read cases; they do not comment on them"))
            return instance
        # a task of the case offered to the user, claimed by or completed by the user, in any state
        arms = self._arms(user, "all", "any")
        related = self.session.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == instance.id, or_(*arms.conditions)).limit(1), arms.params).first()
        if related is None:
            raise NotFound(N_("No such case"))
        return instance

    def case_file(self, user: User, instance: ProcessInstance) -> list[ProcessInstance]:
        """The instances of ``instance``'s case (same business key: the review, the referral on both sides,
        notices, revisits) that ``user`` may read, oldest first; always including ``instance`` itself."""
        from . import casefile
        out = []
        for other in casefile.instances(self.session, instance.business_key) or [instance]:
            if other.id != instance.id:
                try:
                    self.instance_for(user, other.id)
                except NotFound:
                    continue
            out.append(other)
        if instance not in out:
            out.append(instance)
        return out

    def open_tasks(self, instance_id: int) -> list[HumanTask]:
        return list(self.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "open").order_by(HumanTask.created_at)))

    def comments(self, instance_id: int):
        from .models import Comment
        return list(self.session.scalars(select(Comment).where(Comment.instance_id == instance_id)
                                         .order_by(Comment.created_at, Comment.id)))

    def add_comment(self, user: User, instance_id: int, text: str, task_id: str | None = None):
        """A remark on a case by someone who may see it; recorded in the case history too."""
        from .models import Comment
        self.instance_for(user, instance_id, write=True)
        text = (text or "").strip()
        if not text:
            raise InvalidInput(N_("A comment cannot be empty"))
        if len(text) > 2000:
            raise InvalidInput(N_("A comment can have at most 2000 characters"))
        if task_id is not None and (not is_uuid(task_id) or self.session.scalar(select(HumanTask.id).where(
                HumanTask.id == task_id, HumanTask.instance_id == instance_id)) is None):
            raise InvalidInput(N_("The comment names a task that is not part of this case"))
        now = self.clock.now()
        comment = Comment(instance_id=instance_id, task_id=task_id, author_id=user.id, text=text, created_at=now)
        self.session.add(comment)
        history.record(self.session, now, "comment_added", actor=user.username, instance_id=instance_id,
                       task_id=task_id, data={"text": text})
        self.session.flush()
        return comment

    # -- actions ----------------------------------------------------------------------------------
    def _open_for(self, user: User, task_id: str) -> HumanTask:
        task = self.get_for(user, task_id)
        if task.status != "open":
            raise Conflict(N_("This task has already been completed or withdrawn"))
        return task

    def claim(self, user: User, task_id: str) -> HumanTask:
        task = self._open_for(user, task_id)
        if task.claimed_by_id == user.id:
            return task
        if not user_holds(user, task.role_code, task.unit_id):
            raise Forbidden(N_("You do not hold the role this task needs"))
        self._check_qualified(user, task)
        done = self.session.execute(update(HumanTask).where(
            HumanTask.id == task.id, HumanTask.status == "open", HumanTask.claimed_by_id.is_(None))
            .values(claimed_by_id=user.id, unassigned=False, unassigned_reason=None)   # someone took it after all
            .execution_options(synchronize_session=False)).rowcount
        if done != 1:
            raise Conflict(N_("Someone else has already claimed this task"))
        self.session.refresh(task)
        history.record(self.session, self.clock.now(), "task_claimed", actor=user.username,
                       instance_id=task.instance_id, task_id=task.id)
        return task

    def unclaim(self, user: User, task_id: str) -> HumanTask:
        task = self._open_for(user, task_id)
        if task.claimed_by_id != user.id:
            raise Forbidden(N_("Only the person who claimed this task can give it back"))
        if task.role_code == EXPERT_ROLE:
            raise Forbidden(N_("An expert's task was sent to that expert by name and cannot be given back"))
        task.claimed_by = None         # the object too: the answer is built before the commit
        self.session.flush()
        history.record(self.session, self.clock.now(), "task_unclaimed", actor=user.username,
                       instance_id=task.instance_id, task_id=task.id)
        return task

    def delegate(self, user: User, task_id: str, to_username: str) -> HumanTask:
        """Hand a task to a colleague holding its role at its unit: only its claimant, or while nobody has
        claimed it a candidate, may (a supervisor who can read the task cannot)."""
        task = self._open_for(user, task_id)
        if task.claimed_by_id not in (None, user.id):
            raise Forbidden(N_("This task is claimed by someone else"))
        if task.claimed_by_id is None and not self.is_candidate(user, task):
            raise Forbidden(N_("You do not hold the role this task needs"))
        target = self.session.scalar(select(User).where(User.username == to_username, User.active.is_(True)))
        if target is None:
            raise NotFound(N_("No user %(user)s"), user=to_username)
        if target.unit_id != task.unit_id or not self.is_candidate(target, task):
            raise Forbidden(N_("%(user)s does not hold this task's role at this unit"), user=target.display_name)
        task.claimed_by = target
        self.session.flush()
        if target.id != user.id:           # handed to me by a colleague: my bell says so
            notify(self.session, Directory(self.session), task, "assigned", self.clock.now())
        history.record(self.session, self.clock.now(), "task_delegated", actor=user.username,
                       instance_id=task.instance_id, task_id=task.id, data={"to": target.username})
        return task

    def complete(self, user: User, task_id: str, data: dict | None = None) -> HumanTask:
        """Complete the task with form data. The first completion wins; a second one — also a concurrent
        one in another transaction — raises Conflict and changes nothing."""
        case = self._case_of(task_id)                  # the task itself comes with it: _open_for reads no more
        task = self._open_for(user, task_id)
        if task.claimed_by_id not in (None, user.id):
            raise Forbidden(N_("This task is claimed by someone else"))
        if task.claimed_by_id is None and not user_holds(user, task.role_code, task.unit_id):
            raise Forbidden(N_("You do not hold the role this task needs"))
        self._check_qualified(user, task)
        data = check_data(data)
        if case is None:                               # not open at the first read, open at the second
            raise Conflict(N_("The case was changed by someone else at the same moment; reload and try again"))
        instance = task.instance
        if instance.status != "running":
            raise Conflict(N_("The case is no longer running"))
        now = self.clock.now()
        task.status, task.completed_at, task.completed_by_id, task.claimed_by = "completed", now, user.id, user
        self._prepare(task, case)

        seen: dict = {}

        def accepted(clean: dict) -> None:
            if self.issue is not None and task.form_key:
                # before the engine moves on, so a document's 文号 may go into the case data (``clean``)
                self.issue(task, user, clean, {**seen.get("case", {}), **clean})
            history.record(self.session, now, "task_completed", actor=user.username, instance_id=instance.id,
                           task_id=task.id, data={"element_id": task.element_id, "name": task.name, "data": clean})

        validate = None
        if task.form_key and self.validate_form is not None:
            # the form may refer to ``task_unit``: the unit this task was routed to (e.g. whose revisit officers)
            def validate(case_data: dict, submitted: dict) -> dict:
                seen["case"] = case_data
                return self.validate_form(task.form_key, submitted,
                                          {**case_data, "task_unit": task.unit.code if task.unit else None})
        self.runtime.run_task(instance, task.id, data, actor=user.username, validate=validate, accepted=accepted)
        record_completion(self.session, task, instance.process_key)     # dashboard rollup: one UPSERT
        return task

    def _case_of(self, task_id: str) -> list | None:
        """What completing a task reads, in one statement found by the task's id (``_case_statement``). None
        when the task is not open, or no task: the checks say why."""
        if not is_uuid(task_id):
            return None
        rows = self.session.execute(_case_statement(), {"task_id": task_id}).all()
        return rows if any(row[0].id == task_id for row in rows) else None

    def _prepare(self, task: HumanTask, rows: list) -> None:
        """Hand what ``_case_of`` read to the runtime and the audit trail, for this action only."""
        _, seq, hash_, has_unread, completers = rows[0]
        history.seed_head(self.session, task.instance_id, seq, hash_)
        self.runtime.preloaded_open[task.instance_id] = [row[0] for row in rows]
        last = {element: int(user_id) for element, user_id in
                (pair.rsplit(":", 1) for pair in (completers or "").split(",") if pair)}
        last[task.element_id] = task.completed_by_id          # this completion is the latest of its step
        self.runtime.last_completers[task.instance_id] = last
        if not has_unread:
            self.runtime.quiet_tasks.add(task.id)

    # -- the 待分派 queue: tasks nobody can take --------------------------------------------------------
    def assign_area(self, user: User) -> set[int] | None:
        """Units whose unassigned tasks ``user`` may assign: every unit (None) for an administrator, the
        county or city of a supervision officer's bureau; nothing (an empty set) for anyone else — invited
        supervisors only read."""
        directory = self.runtime.directory
        if not directory.oversees_actively(user):
            return set()
        return directory.supervised_area(user)

    def queue_query(self, user: User):
        """Open tasks nobody can take (无人承接) that the user may assign, oldest first. A task belongs to the
        area of its unit, or — without a unit — of its case's unit."""
        area = self.assign_area(user)
        stmt = (select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                .where(HumanTask.status == "open", HumanTask.unassigned.is_(True)))
        if area is not None:
            stmt = stmt.where(or_(HumanTask.unit_id.in_(area),
                                  and_(HumanTask.unit_id.is_(None), ProcessInstance.unit_id.in_(area)))
                              if area else false())
        return stmt.order_by(HumanTask.created_at, HumanTask.id)

    def queue(self, user: User) -> list[HumanTask]:
        return list(self.session.scalars(self.queue_query(user)))

    def may_assign(self, user: User, task: HumanTask) -> bool:
        area = self.assign_area(user)
        return area is None or (task.unit_id if task.unit_id is not None else task.instance.unit_id) in area

    def assign(self, user: User, task_id: str, unit_code: str, username: str | None = None) -> HumanTask:
        """Give a task nobody could take to a unit where somebody holds its role (re-routing it there), or
        to one such person (who then has it claimed). Only an administrator, or a supervision officer whose
        area holds the task, may; the target unit must lie in that area too. Audited; the queue entry goes."""
        task = self.get_for(user, task_id)
        if not self.may_assign(user, task):
            raise Forbidden(N_("Only the supervision officers of the bureau above this task's unit, or an "
                               "administrator, may assign it"))
        if task.status != "open":
            raise Conflict(N_("This task has already been completed or withdrawn"))
        if not task.unassigned:
            raise Conflict(N_("This task is not waiting to be assigned"))
        directory = self.runtime.directory
        unit = self.session.scalar(select(OrgUnit).where(OrgUnit.code == unit_code)) \
            if isinstance(unit_code, str) and unit_code else None
        if unit is None:
            raise InvalidInput(N_("Unknown unit: %(code)s"), code=str(unit_code)[:64])
        area = self.assign_area(user)
        if area is not None and unit.id not in area:
            raise Forbidden(N_("You can only assign to a unit in the area you supervise"))
        target = None
        if username:
            target = self.session.scalar(select(User).where(User.username == username, User.active.is_(True)))
            fits = target is not None and (user_holds(target, task.role_code, unit.id)
                                           and directory.qualified_for(target, task.role_code) if task.role_code
                                           else target.unit_id == unit.id)
            if not fits:
                raise InvalidInput(N_("Choose a person who holds this task's role at the chosen unit."))
        elif task.role_code is None:
            raise InvalidInput(N_("This step names no role: choose the person who is to do it."))
        elif not directory.has_holder(task.role_code, unit.id):
            raise InvalidInput(N_("Nobody at %(unit)s holds the role this task needs."), unit=unit.name)
        before, reason = task.unit, task.unassigned_reason
        done = self.session.execute(update(HumanTask).where(
            HumanTask.id == task.id, HumanTask.status == "open", HumanTask.unassigned.is_(True))
            .values(unassigned=False, unassigned_reason=None, unit_id=unit.id,
                    claimed_by_id=target.id if target else None)
            .execution_options(synchronize_session=False)).rowcount
        if done != 1:
            raise Conflict(N_("Someone else has already assigned this task"))
        self.session.refresh(task)
        now = self.clock.now()
        history.record(self.session, now, "task_assigned", actor=user.username, instance_id=task.instance_id,
                       task_id=task.id, data={"element_id": task.element_id, "name": task.name,
                                              "role": task.role_code, "reason": reason,
                                              "from_unit": before.code if before else None, "to_unit": unit.code,
                                              "to_user": target.username if target else None})
        notify(self.session, directory, task, "assigned", now)
        return task


@cache
def _case_statement():
    """The case of the task ``:task_id``, as completing it needs it: the case's open task rows (the task among
    them) with the instance (its state and definition), the end of its audit chain, whether the task has unread
    calls to act, and who last completed each step of the case ("element:user id,…": a step offered again goes
    back to them as "returned"). Built once: its aliases cost more to build than the statement takes to run."""
    from .models import AuditEvent, Notification
    from .notifications import calls_to_act
    task_id = bindparam("task_id", type_=String)
    case_id = select(HumanTask.instance_id).where(HumanTask.id == task_id).scalar_subquery()
    head = select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.stream == history.stream_of_sql(case_id)) \
        .order_by(AuditEvent.seq.desc()).limit(1)
    unread = exists().where(Notification.task_id == task_id, Notification.read_at.is_(None),
                            calls_to_act())
    done = aliased(HumanTask)
    last = select(done.element_id, func.max(done.completed_at).label("at")) \
        .where(done.instance_id == case_id, done.status == "completed", done.completed_by_id.is_not(None)) \
        .group_by(done.element_id).subquery()
    step = aliased(HumanTask)
    completers = select(func.aggregate_strings(step.element_id + ":" + cast(step.completed_by_id, String), ",")) \
        .join(last, and_(step.element_id == last.c.element_id, step.completed_at == last.c.at)) \
        .where(step.instance_id == case_id, step.status == "completed", step.completed_by_id.is_not(None))
    return (select(HumanTask, head.with_only_columns(AuditEvent.seq).scalar_subquery(),
                   head.with_only_columns(AuditEvent.hash).scalar_subquery(), unread, completers.scalar_subquery())
            .where(HumanTask.instance_id == case_id, HumanTask.status == "open")
            .options(joinedload(HumanTask.instance).options(undefer(ProcessInstance.state),
                                                            joinedload(ProcessInstance.definition)),
                     # not the units or the claimant (the task's unit and claimant are ids here): their joins cost
                     # PostgreSQL more planning than the statement takes to run, the claimant's roles a SELECT
                     lazyload(HumanTask.unit), lazyload(HumanTask.claimed_by), *CASE_WITHOUT_UNIT))

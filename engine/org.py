"""Organisation: tiers, units, roles, users; and routing — which unit and which users get a task.

Units are referred to by their ``code`` in case data and in BPMN unit expressions, e.g.
``justice_bureau_above(case_unit)`` where ``case_unit`` holds ``"lf.gax.gaz"``."""
from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from functools import lru_cache
from typing import Any, Callable, Iterable

import yaml
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, joinedload, lazyload
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import N_, Forbidden, InvalidInput, NotFound
from .models import ApiToken, OrgUnit, Role, RoleAssignment, User, reading_reference

TIERS = ("city", "county", "township")
GOVERNMENT = "government"
JUSTICE_BUREAU = "justice_bureau"
JUSTICE_OFFICE = "justice_office"          # 司法所: under the county bureau, serving one township
REVIEWER_ROLE = "legal_reviewer"           # offered review tasks only when qualified (personnel register)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


# Per database (URL), shared by every Directory of the process: the role names and codes, and unit codes ->
# ids. Both only grow in practice (engine.org.load); a lane or code not found is looked up again, and a unit
# is always read through the session (by primary key: usually already there), so nothing stale is served.
_shared: dict[str, dict] = {}


@lru_cache(maxsize=1)
def _candidates_statement():
    """Active users holding :role_code at :unit_id (built once). Who they are is enough (whom to tell, and how):
    their roles and unit load when asked."""
    return select(User).join(RoleAssignment).where(
        RoleAssignment.role_code == bindparam("role_code"), RoleAssignment.unit_id == bindparam("unit_id"),
        User.active.is_(True)).options(lazyload(User.roles), lazyload(User.unit))


def _shared_of(session: Session) -> dict:
    return _shared.setdefault(str(session.get_bind().url), {"roles": None, "units": {}})


def forget_shared(session: Session) -> None:
    """The organisation was (re)loaded: read roles and units afresh."""
    _shared.pop(str(session.get_bind().url), None)


class Directory:
    """Read access to the organisation with the routing helpers BPMN expressions call."""

    def __init__(self, session: Session, remember_holders: bool = False, reviewer_rule=None,
                 today: Callable[[], date] | None = None):
        """``remember_holders``: answer "does anybody hold this role here" from one read of the role
        assignments (for a check that asks it thousands of times while the organisation stays as it is).
        ``reviewer_rule`` (engine.registers.personnel.ReviewerRule; its defaults when None) and ``today`` (the
        local date, for the year's training hours) decide which legal reviewers are qualified: only they
        are candidates of, and count as holders for, review tasks."""
        from .registers.personnel import ReviewerRule
        self.session = session
        self.reviewer_rule = reviewer_rule or ReviewerRule()
        self._today = today or (lambda: datetime.now(LOCAL_TZ).date())
        self._qualified: dict[int, bool] = {}
        self._by_code: dict[str, OrgUnit] = {}
        self._children: dict[int, list[OrgUnit]] | None = None
        self._roles: dict[str, str] | None = None
        self._roles_read = False
        self._candidates: dict[tuple[str, int], list[User]] = {}
        self._holders: set[tuple[str, int]] | None = set() if remember_holders else None
        self._holders_loaded = False
        self.clock = None                   # set by the runtime: whose "today" an invited supervisor's term uses

    def _unflushed_kept(self):
        """Reading the organisation writes nothing of the action first (engine.models.reading_reference)."""
        return reading_reference(self.session, OrgUnit, User, RoleAssignment, Role)

    # -- units --------------------------------------------------------------------------------------
    def unit(self, code: str) -> OrgUnit:
        if not isinstance(code, str) or not code or len(code) > 64:     # a list, a number, junk: no unit
            raise NotFound(N_("Unknown unit: %(code)s"), code=str(code)[:64])
        if code not in self._by_code:
            ids = _shared_of(self.session)["units"]
            with self._unflushed_kept():
                unit = self.session.get(OrgUnit, ids[code]) if code in ids else None
                if unit is None or unit.code != code:
                    unit = self.session.scalar(select(OrgUnit).where(OrgUnit.code == code))
            if unit is None:
                raise NotFound(N_("Unknown unit: %(code)s"), code=code)
            ids[code] = unit.id
            self._by_code[code] = unit
        return self._by_code[code]

    def _kids(self, unit: OrgUnit) -> list[OrgUnit]:
        if self._children is None:
            self._children = {}
            with self._unflushed_kept():
                units = list(self.session.scalars(select(OrgUnit)))
            for u in units:
                if u.parent_id is not None:
                    self._children.setdefault(u.parent_id, []).append(u)
        return self._children.get(unit.id, [])

    def ancestors(self, unit: OrgUnit, include_self: bool = True) -> list[OrgUnit]:
        with self._unflushed_kept():                  # (each parent is loaded when first asked for)
            chain, u = [], unit if include_self else unit.parent
            while u is not None:
                chain.append(u)
                u = u.parent
        return chain

    def government_of(self, unit: OrgUnit) -> OrgUnit:
        """The people's government whose area the unit belongs to (the unit itself if it is one)."""
        for u in self.ancestors(unit):
            if u.kind == GOVERNMENT:
                return u
        raise NotFound(N_("Unit %(code)s is not under any government"), code=unit.code)

    def child_of_kind(self, government: OrgUnit, kind: str) -> OrgUnit:
        for child in self._kids(government):
            if child.kind == kind:
                return child
        raise NotFound(N_("%(unit)s has no unit of kind %(kind)s"), unit=government.name, kind=kind)

    def unit_of_kind(self, unit: OrgUnit, kind: str) -> OrgUnit:
        """The unit of ``kind`` serving the unit's area: found under the unit's own government, else under
        the nearest government above that has one (a township has no justice bureau: its county's serves it)."""
        for gov in self.ancestors(unit):
            if gov.kind != GOVERNMENT:
                continue
            for child in self._kids(gov):
                if child.kind == kind:
                    return child
        raise NotFound(N_("%(unit)s has no unit of kind %(kind)s"), unit=self.government_of(unit).name, kind=kind)

    def justice_office_of(self, unit: OrgUnit) -> OrgUnit | None:
        """The 司法所 serving the township a unit belongs to (None above the township tier or without one)."""
        gov = self.government_of(unit)
        if gov.tier != "township":
            return None
        return self.session.scalar(select(OrgUnit).where(OrgUnit.serves_id == gov.id, OrgUnit.kind == JUSTICE_OFFICE)
                                   .order_by(OrgUnit.code).limit(1))

    def justice_bureau_above(self, unit: OrgUnit) -> OrgUnit:
        """The justice bureau that supervises ``unit``: its county's bureau for a township-level unit,
        its own government's bureau for a department or a 司法所, the next tier's bureau for a justice bureau.
        The top bureau (the city's: no higher one is part of the organisation) supervises itself — its
        supervision section oversees its own legal review office — so an escalation there still reaches
        somebody."""
        gov = self.government_of(unit)
        if gov.tier == "township":
            gov = self.government_of(gov.parent)
        bureau = self.child_of_kind(gov, JUSTICE_BUREAU)
        if bureau.id == unit.id and gov.parent is not None:
            bureau = self.child_of_kind(self.government_of(gov.parent), JUSTICE_BUREAU)
        return bureau

    def common_superior(self, a: OrgUnit, b: OrgUnit) -> OrgUnit:
        """The lowest government whose area covers both units."""
        govs_b = {u.id for u in self.ancestors(b) if u.kind == GOVERNMENT}
        for u in self.ancestors(a):
            if u.kind == GOVERNMENT and u.id in govs_b:
                return u
        raise NotFound(N_("Units %(a)s and %(b)s have no common superior"), a=a.name, b=b.name)

    def descendant_ids(self, area: OrgUnit) -> set[int]:
        """The ids of ``area`` and every unit below it."""
        ids, stack = set(), [area]
        while stack:
            unit = stack.pop()
            ids.add(unit.id)
            stack.extend(self._kids(unit))
        return ids

    def supervised_area(self, user: User) -> set[int] | None:
        """Units whose cases a user may oversee: all (None) for an admin, the county or city below a
        supervision officer's justice bureau; for an invited supervisor, the units the register assigns for a
        term that covers today (engine.registers.supervisors); else nothing."""
        roles = {ra.role_code for ra in user.roles}
        if "admin" in roles:
            return None
        if "supervision_officer" in roles:
            return self.descendant_ids(self.county_or_city(user.unit.code))
        if "invited_supervisor" in roles:      # invited supervisors only read, what the register assigns them
            from .registers.supervisors import assigned_area
            return assigned_area(self.session, self, user, self.today())
        return set()

    def today(self):
        """Today's date in Asia/Shanghai, by the clock the directory was given (the real one by default)."""
        from .calendar import local_date
        from .clock import Clock
        return local_date((self.clock or Clock()).now())

    @staticmethod
    def oversees_actively(user: User) -> bool:
        """Supervision officers and admins act on what they oversee; invited supervisors only read it."""
        return bool({ra.role_code for ra in user.roles} & {"supervision_officer", "admin"})

    def is_within(self, unit: OrgUnit, area: OrgUnit) -> bool:
        """True when ``unit`` is ``area`` or lies below it."""
        return any(u.id == area.id for u in self.ancestors(unit))

    def helpers(self) -> dict[str, Callable[..., Any]]:
        """Functions for BPMN expressions: they take and return unit codes."""
        return {
            "justice_bureau_above": lambda code: self.justice_bureau_above(self.unit(code)).code,
            "justice_bureau_of": lambda code: self.child_of_kind(self.county_or_city(code), JUSTICE_BUREAU).code,
            "common_superior": lambda a, b: self.common_superior(self.unit(a), self.unit(b)).code,
            "government_of": lambda code: self.government_of(self.unit(code)).code,
            "parent_unit": lambda code: (self.unit(code).parent.code if self.unit(code).parent else None),
            "unit_tier": lambda code: self.unit(code).tier,
            "unit_kind": lambda code: self.unit(code).kind,
            "unit_name": lambda code: self.unit(code).name,
            "unit_of_kind": lambda code, kind: self.unit_of_kind(self.unit(code), kind).code,
            "legal_review_unit": lambda code: self.legal_review_unit(self.unit(code)).code,
            "revisit_unit": lambda code: self.revisit_unit(self.unit(code)).code,
            "agency_head_unit": lambda code: self.agency_head_unit(self.unit(code)).code,
            "county_governments": lambda code: self.county_governments(self.unit(code)),
        }

    def units_with_role(self, role_code: str) -> list[str]:
        """Codes of the units where somebody holds ``role_code``."""
        return sorted(self.session.scalars(select(OrgUnit.code).join(RoleAssignment, RoleAssignment.unit_id == OrgUnit.id)
                                           .where(RoleAssignment.role_code == role_code).distinct()))

    def county_governments(self, unit: OrgUnit) -> list[str]:
        """Codes of the county-level governments under the city a unit belongs to (for reporting rounds)."""
        city = next((u for u in self.ancestors(unit) if u.kind == GOVERNMENT and u.tier == "city"), None)
        if city is None:
            raise NotFound(N_("Unit %(code)s is not under a city government"), code=unit.code)
        return sorted(u.code for u in self._kids(city) if u.kind == GOVERNMENT and u.tier == "county")

    def agency_head_unit(self, unit: OrgUnit) -> OrgUnit:
        """Where the agency head of a unit sits: the unit itself, or the nearest unit above it with an
        agency head (a township's enforcement team answers to the township government)."""
        for u in self.ancestors(unit):
            if self.has_holder("agency_head", u.id):
                return u
        raise NotFound(N_("No agency head above %(unit)s"), unit=unit.name)

    def legal_review_unit(self, unit: OrgUnit) -> OrgUnit:
        """Who reviews a unit's major decisions (DOMAIN §1): its own legal review office when it has a legal
        reviewer; for a township unit without one, the 司法所 serving the township when that has a reviewer;
        otherwise the justice bureau above it. A unit with reviewers keeps its own review even when none of
        them is qualified: the task then waits in the 待分派 queue of the bureau above (never offered to an
        unqualified reviewer), and the supervision dashboard shows the shortfall."""
        if self.has_holder(REVIEWER_ROLE, unit.id, qualified_only=False):
            return unit
        office = self.justice_office_of(unit)
        if office is not None and self.has_holder(REVIEWER_ROLE, office.id, qualified_only=False):
            return office
        return self.justice_bureau_above(unit)

    def revisit_unit(self, unit: OrgUnit) -> OrgUnit:
        """Who revisits a unit's closed cases (DOMAIN §2): its own revisit officers; a unit without any (a
        township's enforcement team, most departments) is revisited by the justice bureau above it."""
        if self.has_holder("revisit_officer", unit.id):
            return unit
        return self.justice_bureau_above(unit)

    def county_or_city(self, code: str) -> OrgUnit:
        """The county- or city-level government a unit belongs to (a township's county)."""
        gov = self.government_of(self.unit(code))
        return self.government_of(gov.parent) if gov.tier == "township" else gov

    # -- roles and users ----------------------------------------------------------------------------
    def role_code(self, lane: str | None) -> str | None:
        """A lane names a role by code or by its Chinese name."""
        if lane is None:
            return None
        shared = _shared_of(self.session)
        if self._roles is None:
            self._roles = shared["roles"]
        if self._roles is None or (lane.strip() not in self._roles and not self._roles_read):
            self._roles, self._roles_read = {}, True        # unknown here: read the table once more
            for r in self.session.scalars(select(Role)):
                self._roles[r.code] = r.code
                self._roles[r.name] = r.code
            shared["roles"] = self._roles
        return self._roles.get(lane.strip())

    def today(self) -> date:
        return self._today()

    def qualified(self, user_ids: Iterable[int]) -> set[int]:
        """Which of these users are qualified legal reviewers today (remembered for this directory's life)."""
        from .registers.personnel import qualified_ids
        ids = set(user_ids)
        unknown = ids - set(self._qualified)
        if unknown:
            from .registers.personnel_models import PersonnelRecord, TrainingRecord
            with reading_reference(self.session, PersonnelRecord, TrainingRecord):
                good = qualified_ids(self.session, unknown, self.today(), self.reviewer_rule)
            self._qualified.update({uid: uid in good for uid in unknown})
        return {uid for uid in ids if self._qualified[uid]}

    def qualified_for(self, user: User, role_code: str | None) -> bool:
        """May ``user`` act in ``role_code`` as far as qualification goes (only legal reviewers need it)?"""
        return role_code != REVIEWER_ROLE or bool(self.qualified([user.id]))

    def candidates(self, role_code: str, unit_id: int) -> list[User]:
        """Active users holding the role at the unit — for the legal reviewer role, only the qualified ones.
        Remembered for this directory's life (one action)."""
        key = (role_code, unit_id)
        if key not in self._candidates:
            with self._unflushed_kept():
                users = list(self.session.scalars(_candidates_statement(),
                                                  {"role_code": role_code, "unit_id": unit_id}))
            if role_code == REVIEWER_ROLE and users:
                good = self.qualified(u.id for u in users)
                users = [u for u in users if u.id in good]
            self._candidates[key] = users
        return list(self._candidates[key])

    def has_holder(self, role_code: str | None, unit_id: int | None, qualified_only: bool = True) -> bool:
        """Does an active user hold ``role_code`` at the unit (a qualified one, for the legal reviewer role,
        unless ``qualified_only`` is False)?"""
        if role_code is None or unit_id is None:
            return False
        check = qualified_only and role_code == REVIEWER_ROLE
        if self._holders is None:
            if check or role_code != REVIEWER_ROLE:      # the candidates are asked for next (notifications)
                return bool(self.candidates(role_code, unit_id))
            return self.session.scalar(
                select(RoleAssignment.id).join(User).where(RoleAssignment.role_code == role_code,
                                                           RoleAssignment.unit_id == unit_id,
                                                           User.active.is_(True)).limit(1)) is not None
        if not self._holders_loaded:
            rows = list(self.session.execute(
                select(RoleAssignment.role_code, RoleAssignment.unit_id, RoleAssignment.user_id).join(User)
                .where(User.active.is_(True))))
            self._holders.update((r, u) for r, u, _id in rows)
            good = self.qualified(uid for r, _u, uid in rows if r == REVIEWER_ROLE)
            self._qualified_holders = {(r, u) for r, u, uid in rows if r == REVIEWER_ROLE and uid in good}
            self._holders_loaded = True
        return (role_code, unit_id) in (self._qualified_holders if check else self._holders)

    def users_with_role(self, role_code: str) -> list[User]:
        """Active users holding ``role_code`` at any unit (e.g. the administrators)."""
        return list(self.session.scalars(select(User).join(RoleAssignment).where(
            RoleAssignment.role_code == role_code, User.active.is_(True)).distinct().order_by(User.username)))


def user_holds(user: User, role_code: str | None, unit_id: int | None) -> bool:
    return any(ra.role_code == role_code and ra.unit_id == unit_id for ra in user.roles)


# --- tokens and passwords -------------------------------------------------------------------------

TOKEN_DAYS = 90
TOKEN_TOUCH_SECONDS = 60          # last use is written at most once a minute per token


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, now: datetime, name: str | None = None,
                days: int = TOKEN_DAYS) -> str:
    """Create an API token for ``user``, valid for ``days`` days; only its hash is stored, the token is
    shown once."""
    if days < 1:
        raise InvalidInput(N_("A token must be valid for at least one day"))
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), name=(name or "").strip()[:100] or None,
                         created_at=now, expires_at=now + timedelta(days=days), revoked=False))
    session.flush()
    return token


def _with_what_requests_ask():
    """Loader options for the user a request acts as: the roles (whose tasks; may they act) and the personnel
    record (the 执法证 a handler's step checks), joined into the statement that reads the user."""
    return (joinedload(User.roles), joinedload(User.personnel).lazyload("*"))


@lru_cache(maxsize=1)
def _signed_in_statement():
    return select(User).where(User.id == bindparam("user_id")).options(*_with_what_requests_ask())


def signed_in_user(session: Session, user_id: int) -> User | None:
    """The user of a signed-in session, with roles and personnel record, in one statement (built once)."""
    return session.scalars(_signed_in_statement(), {"user_id": user_id}).unique().first()


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The active user holding a valid (not expired, not revoked) token, read with roles and personnel record
    in one statement; records when it was last used (at most once a minute: then the session is dirty)."""
    now = now or datetime.now(timezone.utc)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token))
                         .options(joinedload(ApiToken.user).options(*_with_what_requests_ask())))
    if row is None or row.revoked or row.expires_at <= now or not row.user.active:
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= TOKEN_TOUCH_SECONDS:
        row.last_used_at = now
    return row.user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of ``user``'s own tokens (another user's token is not found)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound(N_("No such token"))
    row.revoked = True
    session.flush()
    return row


@lru_cache(maxsize=4)
def _dummy_hash(method: str | None) -> str:
    """A hash of a random password, made like real ones: checked when the user name is unknown, so a refusal
    takes as long for an unknown user as for a wrong password."""
    return hash_password(secrets.token_urlsafe(16), method)


def hash_password(password: str, method: str | None = None) -> str:
    return generate_password_hash(password, method=method) if method else generate_password_hash(password)


def check_password(user: User, password: str) -> bool:
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


class WrongPassword(InvalidInput):
    """A password check failed; the attempt was recorded and counts toward the sign-in limits."""


def _refuse_when_limited(session: Session, username: str, remote_addr: str | None, now: datetime,
                         max_failures: int, max_address_failures: int, window_minutes: int) -> None:
    from .models import LoginAttempt
    since = now - timedelta(minutes=window_minutes)
    failed = select(func.count()).select_from(LoginAttempt).where(LoginAttempt.at >= since,
                                                                  LoginAttempt.succeeded.is_(False))
    if session.scalar(failed.where(LoginAttempt.username == username[:64])) >= max_failures:
        raise Forbidden(N_("Too many failed sign-ins; try again in %(minutes)s minutes"), minutes=window_minutes)
    if remote_addr and max_address_failures and \
            session.scalar(failed.where(LoginAttempt.remote_addr == remote_addr[:64])) >= max_address_failures:
        raise Forbidden(N_("Too many failed sign-ins from your address; try again in %(minutes)s minutes"),
                        minutes=window_minutes)


def _record_attempt(session: Session, username: str, remote_addr: str | None, now: datetime, ok: bool) -> None:
    from .models import LoginAttempt
    session.add(LoginAttempt(username=username[:64], remote_addr=(remote_addr or "")[:64], at=now, succeeded=ok))
    session.flush()


def sign_in(session: Session, username: str, password: str, now: datetime, remote_addr: str | None = None,
            max_failures: int = 5, window_minutes: int = 15, max_address_failures: int = 20,
            password_method: str | None = None) -> User:
    """Check a sign-in. Refused (Forbidden) after ``max_failures`` failures for the user name, or
    ``max_address_failures`` failures from the source address, within the window. Every attempt is recorded.
    An unknown user name costs a password-hash check like a known one (``password_method``: how passwords
    are hashed, werkzeug's default when None)."""
    _refuse_when_limited(session, username, remote_addr, now, max_failures, max_address_failures, window_minutes)
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is not None and user.password_hash:
        ok = check_password_hash(user.password_hash, password)
    else:
        check_password_hash(_dummy_hash(password_method), password)
        ok = False
    _record_attempt(session, username, remote_addr, now, ok)
    if not ok:
        raise WrongPassword(N_("Wrong user name or password"))
    return user


def end_sessions(user: User) -> None:
    """Every session signed in before now is no longer valid (see the web layer's user loader)."""
    user.session_version = (user.session_version or 0) + 1


def set_password(session: Session, user: User, password: str, method: str | None = None) -> None:
    """Set a password chosen by a person (the policy applies) and end the user's sessions."""
    from .passwords import require_strong
    require_strong(password, user.username)
    user.password_hash = hash_password(password, method)
    end_sessions(user)
    session.flush()


def change_password(session: Session, user: User, current_password: str, new_password: str, now: datetime,
                    remote_addr: str | None = None, password_method: str | None = None, max_failures: int = 5,
                    window_minutes: int = 15, max_address_failures: int = 20) -> None:
    """A user changes their own password: the current one must be right (a wrong one counts as a failed
    sign-in), the new one must follow the policy. Every session of the user ends."""
    from .passwords import field_problem
    _refuse_when_limited(session, user.username, remote_addr, now, max_failures, max_address_failures,
                         window_minutes)
    if not check_password(user, current_password or ""):
        _record_attempt(session, user.username, remote_addr, now, False)
        wrong = N_("The current password is wrong")
        raise WrongPassword(wrong, errors=[field_problem(wrong, "current_password")])
    set_password(session, user, new_password, password_method)


def create_user(session: Session, username: str, display_name: str, unit_code: str, roles: Iterable[str],
                password: str, password_method: str | None = None) -> User:
    """A user created by an administrator: the password policy applies."""
    from .passwords import require_strong
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise InvalidInput(N_("A user name needs 1 to 64 characters"))
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise InvalidInput(N_("The user %(user)s already exists"), user=username)
    unit = Directory(session).unit(unit_code)
    known_roles = {r.code for r in session.scalars(select(Role))}
    for role in roles:
        if role not in known_roles:
            raise InvalidInput(N_("User %(user)s has an unknown role %(role)s"), user=username, role=role)
    require_strong(password, username)
    user = User(username=username, display_name=display_name or username, unit=unit, active=True,
                password_hash=hash_password(password, password_method), session_version=0)
    user.roles = [RoleAssignment(role_code=role, unit_id=unit.id) for role in sorted(set(roles))]
    session.add(user)
    session.flush()
    return user


# --- loading an organisation file -----------------------------------------------------------------

def load_file(session: Session, path: str, password_method: str | None = None) -> dict[str, int]:
    with open(path, encoding="utf-8") as fh:
        return load(session, yaml.safe_load(fh), password_method)


def load(session: Session, doc: dict, password_method: str | None = None) -> dict[str, int]:
    """Create or update roles, units and users from an organisation document. Idempotent: loading the
    same document twice changes nothing. A user's ``password`` is the initial password: it is set when the
    user is created and never overwritten by a later load (users change their own passwords).
    Returns counts of what the document holds."""
    if not isinstance(doc, dict) or "units" not in doc:
        raise InvalidInput(N_("An organisation file needs a 'units' list"))
    forget_shared(session)
    for r in doc.get("roles", []):
        role = session.get(Role, r["code"])
        if role is None:
            session.add(Role(code=r["code"], name=r["name"]))
        else:
            role.name = r["name"]
    session.flush()

    units: dict[str, OrgUnit] = {u.code: u for u in session.scalars(select(OrgUnit))}
    count_units = 0

    def walk(items: Iterable[dict], parent: OrgUnit | None) -> None:
        nonlocal count_units
        for item in items:
            tier = item.get("tier") or (parent.tier if parent else None)
            if tier not in TIERS:
                raise InvalidInput(N_("Unit %(code)s has no valid tier"), code=item.get("code"))
            unit = units.get(item["code"])
            if unit is None:
                unit = OrgUnit(code=item["code"])
                session.add(unit)
                units[item["code"]] = unit
            unit.name, unit.tier, unit.kind = item["name"], tier, item.get("kind", "department")
            unit.short_name = str(item["short_name"])[:16] if item.get("short_name") else None   # 文号 prefix
            unit.parent = parent
            count_units += 1
            session.flush()
            walk(item.get("children", []), unit)

    walk(doc["units"], None)
    serving: dict[str, str] = {}

    def collect(items: Iterable[dict]) -> None:
        for item in items:
            serving[item["code"]] = item.get("serves")
            collect(item.get("children", []))

    collect(doc["units"])
    for code, served in serving.items():
        if served is not None and served not in units:
            raise InvalidInput(N_("Unit %(code)s serves an unknown unit %(unit)s"), code=code, unit=served)
        units[code].serves_id = units[served].id if served else None
    session.flush()

    known_roles = {r.code for r in session.scalars(select(Role))}
    count_users = 0
    # one hash per distinct initial password of the file: the demo's hundreds of users share one, and hashing
    # each (deliberately slow) would dominate the load; users replace initial passwords with their own
    initial_hashes: dict[str, str] = {}
    for u in doc.get("users", []):
        unit = units.get(u["unit"])
        if unit is None:
            raise InvalidInput(N_("User %(user)s names an unknown unit %(unit)s"), user=u["username"], unit=u["unit"])
        user = session.scalar(select(User).where(User.username == u["username"]))
        if user is None:
            user = User(username=u["username"])
            session.add(user)
        user.display_name, user.unit, user.active = u.get("name", u["username"]), unit, u.get("active", True)
        if u.get("password") and not user.password_hash:                         # seeded: no policy check
            if u["password"] not in initial_hashes:
                initial_hashes[u["password"]] = hash_password(u["password"], password_method)
            user.password_hash = initial_hashes[u["password"]]
        wanted = set()
        for role in u.get("roles", []):
            if role not in known_roles:
                raise InvalidInput(N_("User %(user)s has an unknown role %(role)s"), user=u["username"], role=role)
            wanted.add(role)
        session.flush()
        have = {ra.role_code: ra for ra in user.roles if ra.unit_id == unit.id}
        for ra in list(user.roles):
            if ra.role_code not in wanted or ra.unit_id != unit.id:
                user.roles.remove(ra)
        for role in wanted - set(have):
            user.roles.append(RoleAssignment(role_code=role, unit_id=unit.id))
        count_users += 1
    session.flush()
    if doc.get("personnel"):                     # the personnel register's demo records (执法证, training)
        from .registers.personnel import load_demo
        load_demo(session, doc, datetime.now(LOCAL_TZ).date())
    return {"roles": len(doc.get("roles", [])), "units": count_units, "users": count_users}

"""The password policy for passwords people choose (a password change, an administrator setting one, a user
created from the command line): at least ``MIN_LENGTH`` characters, not the user name and not containing it,
not on the list of common passwords shipped in ``engine/data/common_passwords.txt``.

Initial passwords from an organisation file (seeded data such as the demo users' ``demo1234``) are not
checked here."""
from __future__ import annotations

import os
from functools import lru_cache

from .errors import N_, InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256
LIST_FILE = os.path.join(os.path.dirname(__file__), "data", "common_passwords.txt")

TOO_SHORT = N_("The password must have at least %(n)s characters")
TOO_LONG = N_("The password must have at most %(n)s characters")
CONTAINS_USERNAME = N_("The password must not contain the user name")
TOO_COMMON = N_("This password is too common and easy to guess; choose another")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with open(LIST_FILE, encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip() and not line.startswith("#"))


def field_problem(msgid: str, field: str, **params) -> dict:
    """One entry of an error list naming the form field it belongs to."""
    return {"field": field, "msgid": msgid, "params": params, "message": msgid % params if params else msgid}


def problems(password: str, username: str, field: str = "new_password") -> list[dict]:
    """What is wrong with ``password`` for user ``username`` (empty when it is acceptable)."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(field_problem(TOO_SHORT, field, n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        found.append(field_problem(TOO_LONG, field, n=MAX_LENGTH))
    name, lowered = (username or "").strip().lower(), password.lower()
    if name and (lowered == name or (len(name) >= 3 and name in lowered)):
        found.append(field_problem(CONTAINS_USERNAME, field))
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        found.append(field_problem(TOO_COMMON, field))
    return found


def require_strong(password: str, username: str, field: str = "new_password") -> None:
    """Raise InvalidInput (message: the first problem; ``errors``: every problem) unless acceptable."""
    found = problems(password, username, field)
    if found:
        raise InvalidInput(found[0]["msgid"], errors=found, **found[0]["params"])

"""Bounds on values that come from outside (requests, messages, forms), shared by the engine and the web
layer: an id the database can hold, a task id that is a UUID, the size and shape of case data."""
from __future__ import annotations

from uuid import UUID

# ids are INTEGER columns: 32-bit signed on PostgreSQL (a larger value is an error there, an
# OverflowError beyond 64 bits on SQLite) — anything outside cannot be a row
MAX_DB_ID = 2 ** 31 - 1

# case data (task and start data, message payloads), see engine.runtime.check_data
MAX_DATA_DEPTH = 32            # levels of nesting (the data object itself is level 1)
MAX_DATA_ITEMS = 2000          # keys and list items in total
MAX_DATA_BYTES = 1024 * 1024   # the data as stored JSON
MAX_NUMBER_DIGITS = 15         # integers and the integral part of decimals (what a double holds exactly)


def is_db_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DB_ID


def is_uuid(value) -> bool:
    """Task and document ids are UUIDs in canonical form (36 characters)."""
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        UUID(value)
    except ValueError:
        return False
    return True

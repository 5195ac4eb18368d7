"""Reproducible random sampling (case revisits, DOMAIN §2): a case is drawn when a number derived from a
seed and its case number falls below the ratio. The same seed and case number always give the same draw."""
from __future__ import annotations

import hashlib

_SCALE = 16 ** 15


def draw(seed: str, case_number: str) -> float:
    """A number in [0, 1) fixed by (seed, case number)."""
    digest = hashlib.sha256(f"{seed}|{case_number}".encode("utf-8")).hexdigest()
    return int(digest[:15], 16) / _SCALE


def sampled(seed: str, case_number: str, ratio: float) -> tuple[bool, float]:
    value = draw(seed, case_number)
    return value < float(ratio), value

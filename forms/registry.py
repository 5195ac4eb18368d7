"""The forms that exist, read once from forms/definitions/."""
from __future__ import annotations

import os
from functools import lru_cache

from .definition import Form, check_shows, load_definitions

DEFINITIONS_DIR = os.path.join(os.path.dirname(__file__), "definitions")


_EXTRA_DIRECTORIES: list[str] = []


class FormRegistry:
    def __init__(self, directory: str = DEFINITIONS_DIR, *more: str):
        self.directory = directory
        self.forms: dict[str, Form] = load_definitions(directory)
        for extra in more:
            self.forms.update(load_definitions(extra))
        check_shows(self.forms)

    def get(self, key: str) -> Form | None:
        return self.forms.get(key)

    def keys(self) -> set[str]:
        return set(self.forms)


def add_directory(directory: str) -> None:
    """Forms of another directory besides forms/definitions/ (a city's own forms; the tests' forms)."""
    if directory not in _EXTRA_DIRECTORIES:
        _EXTRA_DIRECTORIES.append(directory)
        default_registry.cache_clear()


@lru_cache(maxsize=1)
def default_registry() -> FormRegistry:
    return FormRegistry(DEFINITIONS_DIR, *_EXTRA_DIRECTORIES)

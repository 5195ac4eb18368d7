"""The forms that exist, read once from forms/definitions/."""
from __future__ import annotations

import os
from functools import lru_cache

from .definition import Form, load_definitions

DEFINITIONS_DIR = os.path.join(os.path.dirname(__file__), "definitions")


class FormRegistry:
    def __init__(self, directory: str = DEFINITIONS_DIR):
        self.directory = directory
        self.forms: dict[str, Form] = load_definitions(directory)

    def get(self, key: str) -> Form | None:
        return self.forms.get(key)

    def keys(self) -> set[str]:
        return set(self.forms)


@lru_cache(maxsize=1)
def default_registry() -> FormRegistry:
    return FormRegistry()

"""Form definitions (one YAML file per form key in forms/definitions/) and the marshmallow schemas built
from them. The same definition validates submissions server-side and drives page rendering."""
from .definition import FIELD_TYPES, Field, Form, FormDefinitionError, load_definitions
from .registry import FormRegistry, default_registry
from .schema import build_schema, validate

__all__ = ["FIELD_TYPES", "Field", "Form", "FormDefinitionError", "FormRegistry", "build_schema",
           "default_registry", "load_definitions", "validate"]

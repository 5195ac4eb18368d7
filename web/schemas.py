"""marshmallow schemas of the JSON API: what comes in is loaded (validated), what goes out is dumped.
Every message a client gets back is in the user's language: the schemas' own messages are lazy gettext
strings, and marshmallow's built-in ones are translated when a schema is made (``Schema`` below)."""
from functools import lru_cache

from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext
from marshmallow import Schema as _Schema
from marshmallow import ValidationError, fields, validate, validates, validates_schema

from engine.errors import N_
from engine.limits import MAX_DB_ID

# marshmallow's own messages (its default_error_messages), as message ids
BUILTIN_MESSAGES = (
    N_("Missing data for required field."), N_("Field may not be null."), N_("Invalid value."),
    N_("Not a valid string."), N_("Not a valid utf-8 string."), N_("Not a valid integer."), N_("Not a valid number."),
    N_("Number too large."), N_("Not a valid boolean."), N_("Not a valid date."), N_("Not a valid mapping type."),
    N_("Not a valid list."), N_("Invalid type."), N_("Invalid input type."), N_("Unknown field."),
)


@lru_cache(maxsize=1024)
def _translated(locale: str, messages: tuple) -> dict:
    """A field's error messages in ``locale``: the same few dozen sets for every request, translated once."""
    return {k: gettext(v) if isinstance(v, str) else v for k, v in messages}


def _translate(field) -> None:
    field.error_messages = dict(_translated(str(get_locale()), tuple(field.error_messages.items())))
    for inner in (getattr(field, "inner", None), getattr(field, "key_field", None),
                  getattr(field, "value_field", None)):
        if inner is not None:
            _translate(inner)


class Schema(_Schema):
    """A marshmallow schema answering in the user's language (made per request, so per language)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.error_messages = {k: gettext(v) for k, v in self.error_messages.items()}

    def on_bind_field(self, field_name, field_obj) -> None:
        _translate(field_obj)


def _length(lo: int | None, hi: int):
    if lo:
        return validate.Length(min=lo, max=hi,
                               error=lazy_gettext("Enter %(min)s to %(max)s characters.", min=lo, max=hi))
    return validate.Length(max=hi, error=lazy_gettext("At most %(max)s characters.", max=hi))


class LoginSchema(Schema):
    username = fields.String(required=True, validate=_length(1, 64))
    password = fields.String(required=True, validate=_length(1, 256))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password = fields.String(required=True, validate=validate.Length(max=1024))


class TokenSchema(Schema):
    """A token as its owner sees it: never the token itself nor its hash."""
    id = fields.Integer()
    name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked = fields.Boolean()


class StartInstanceSchema(Schema):
    process_key = fields.String(required=True, validate=_length(1, 128))
    business_key = fields.String(load_default=None, validate=_length(None, 128))
    data = fields.Dict(keys=fields.String(), load_default=dict)

    @validates("data")
    def _case_unit(self, value, **_kwargs):
        """``case_unit`` routes the case: a unit code, nothing else (a list or a number is no unit)."""
        unit = value.get("case_unit")
        if unit is not None and not (isinstance(unit, str) and 0 < len(unit) <= 64):
            raise ValidationError({"case_unit": [gettext("Choose an existing unit.")]})


class MessageSchema(Schema):
    name = fields.String(required=True, validate=_length(1, 128))
    payload = fields.Dict(keys=fields.String(), required=True)

    @validates_schema
    def _routing(self, body, **_kwargs):
        """What the API reads itself (case number and unit) must be text; the rest is checked as case data."""
        payload = body.get("payload") or {}
        errors = {}
        for key, message in (("case_number", gettext("Enter text.")), ("business_key", gettext("Enter text.")),
                             ("case_unit", gettext("Choose an existing unit."))):
            value = payload.get(key)
            if value is not None and not (isinstance(value, str) and len(value) <= 128):
                errors[key] = [message]
        if errors:
            raise ValidationError({"payload": errors})


class CompleteSchema(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class DelegateSchema(Schema):
    username = fields.String(required=True, validate=_length(1, 64))


class AssignSchema(Schema):
    """A task nobody could take goes to a unit (re-routed there) and, optionally, one person there."""
    unit = fields.String(required=True, validate=_length(1, 64))
    username = fields.String(load_default=None, allow_none=True, validate=_length(1, 64))


class MigrateSchema(Schema):
    instances = fields.List(fields.Integer(strict=True, validate=validate.Range(
        min=1, max=MAX_DB_ID, error=lazy_gettext("Not the id of a case."))), load_default=list,
        validate=validate.Length(max=1000, error=lazy_gettext("At most %(max)s cases at a time.", max=1000)))


class UnitSchema(Schema):
    code = fields.String()
    name = fields.String()
    tier = fields.String()
    kind = fields.String()


class UserSchema(Schema):
    username = fields.String()
    display_name = fields.String()
    unit = fields.Nested(UnitSchema)
    roles = fields.Method("_roles")

    def _roles(self, user):
        return sorted(ra.role_code for ra in user.roles)


class ProcessSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    version = fields.Integer()
    name = fields.String()
    sha256 = fields.String()
    created_at = fields.DateTime()
    deployed_by = fields.String(attribute="deployment.deployed_by")


class TaskSchema(Schema):
    id = fields.String()
    instance_id = fields.Integer()
    business_key = fields.String(attribute="instance.business_key")
    process_key = fields.String(attribute="instance.process_key")
    element_id = fields.String()
    name = fields.String()
    subject = fields.String(allow_none=True)
    role = fields.String(attribute="role_code")
    unit = fields.Nested(UnitSchema)
    form_key = fields.String()
    status = fields.String()
    claimed_by = fields.Function(lambda t: t.claimed_by.username if t.claimed_by else None)
    created_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    remind_at = fields.DateTime(allow_none=True)
    provisional = fields.Boolean()          # due_at/remind_at counted over a year the calendar lacks (暂定)
    sla = fields.String(allow_none=True)
    sla_state = fields.String(attribute="live_sla_state")
    working_days_left = fields.Integer(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    unassigned = fields.Boolean()
    unassigned_reason = fields.String(allow_none=True)


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    audience = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    task = fields.Nested(TaskSchema, allow_none=True)
    about = fields.String(attribute="subject_user.display_name", allow_none=True)   # training_due: the reviewer


class TimerSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    business_key = fields.String(attribute="instance.business_key")
    process_key = fields.String(attribute="instance.process_key")
    unit = fields.Nested(UnitSchema, attribute="instance.unit", allow_none=True)
    element_id = fields.String()
    due_at = fields.DateTime()
    provisional = fields.Boolean()          # due_at counted over a year the calendar lacks (暂定)
    status = fields.String()


class HolidaySchema(Schema):
    day = fields.Date(required=True)
    is_workday = fields.Boolean(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=_length(None, 64))
    source = fields.String(dump_only=True)


class CalendarYearSchema(Schema):
    days = fields.List(fields.Nested(HolidaySchema), required=True)


class AuditSchema(Schema):
    id = fields.Integer()
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(allow_none=True)
    action = fields.String()
    task_id = fields.String(allow_none=True)
    data = fields.Raw()


class InstanceSchema(Schema):
    id = fields.Integer()
    process_key = fields.String()
    version = fields.Integer(attribute="definition.version")
    business_key = fields.String(allow_none=True)
    status = fields.String()
    unit = fields.Nested(UnitSchema, allow_none=True)
    started_by = fields.String(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    next_timer_at = fields.DateTime(allow_none=True)

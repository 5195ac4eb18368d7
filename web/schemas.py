"""marshmallow schemas of the JSON API: what comes in is loaded (validated), what goes out is dumped."""
from marshmallow import Schema, fields, validate


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


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
    process_key = fields.String(required=True, validate=validate.Length(min=1, max=128))
    business_key = fields.String(load_default=None, validate=validate.Length(max=128))
    data = fields.Dict(keys=fields.String(), load_default=dict)


class MessageSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    payload = fields.Dict(keys=fields.String(), required=True)


class CompleteSchema(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)


class DelegateSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))


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
    sla = fields.String(allow_none=True)
    sla_state = fields.String(attribute="live_sla_state")
    working_days_left = fields.Integer(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    audience = fields.String()
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    task = fields.Nested(TaskSchema)


class TimerSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    business_key = fields.String(attribute="instance.business_key")
    process_key = fields.String(attribute="instance.process_key")
    unit = fields.Nested(UnitSchema, attribute="instance.unit", allow_none=True)
    element_id = fields.String()
    due_at = fields.DateTime()
    status = fields.String()


class HolidaySchema(Schema):
    day = fields.Date(required=True)
    is_workday = fields.Boolean(required=True)
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
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

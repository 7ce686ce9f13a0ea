"""The connection form for the Airflow UIs that build it from Python (2.11, 3.0, 3.1).

Airflow 3.2 and newer read the form from the provider info (``conn-fields`` and
``ui-field-behaviour`` in :mod:`oss_provider.provider_info`) and never call these. Older versions
call the hook's ``get_connection_form_widgets`` (wtforms fields) and ``get_ui_field_behaviour``
(snake_case keys) instead. Both are made here from the provider info, so the form is written once.
"""

from __future__ import annotations

from typing import Any


def _field_spec() -> tuple[dict[str, Any], dict[str, Any]]:
    from oss_provider.provider_info import PROVIDER_INFO

    (conn_type,) = PROVIDER_INFO["connection-types"]
    return conn_type["conn-fields"], conn_type["ui-field-behaviour"]


def _description(field: dict[str, Any]) -> str:
    schema = field["schema"]
    text = field.get("description", "")
    shown = schema.get("values_display")
    if shown:  # wtforms fields allowed by Airflow have no drop-down: list the choices instead
        choices = ", ".join(
            f"{value} ({label})" for value, label in shown.items() if value != "null"
        )
        text = f"{text}; one of: {choices}" if text else f"one of: {choices}"
    return text


def form_widgets() -> dict[str, Any]:
    """``get_connection_form_widgets()``: one wtforms field per ``conn-fields`` entry (Airflow
    accepts only string, password, integer and boolean fields; numbers are typed as text and
    parsed by the hook). Empty without wtforms (Airflow 3.0/3.1 without the FAB provider, whose
    form then has the standard fields and the JSON extra, as for every provider)."""
    try:
        from wtforms import BooleanField, IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional
    except ImportError:
        return {}
    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
    except ImportError:  # 3.0/3.1's API server mocks these when they are missing; so do we
        BS3PasswordFieldWidget = BS3TextFieldWidget = lambda: None
        lazy_gettext = str

    fields, _ = _field_spec()
    widgets: dict[str, Any] = {}
    for name, field in fields.items():
        schema = field["schema"]
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        label = lazy_gettext(field["label"])
        description = _description(field)
        if schema.get("format") == "password":
            widgets[name] = PasswordField(
                label, widget=BS3PasswordFieldWidget(), description=description
            )
        elif "boolean" in types:
            widgets[name] = BooleanField(
                label, default=schema.get("default", False), description=description
            )
        elif "integer" in types:
            bounds = NumberRange(min=schema.get("minimum"), max=schema.get("maximum"))
            widgets[name] = IntegerField(
                label,
                widget=BS3TextFieldWidget(),
                validators=[Optional(strip_whitespace=True), bounds],
                description=description,
            )
        else:
            widgets[name] = StringField(label, widget=BS3TextFieldWidget(), description=description)
    return widgets


def field_behaviour() -> dict[str, Any]:
    """``get_ui_field_behaviour()``: the provider info's ``ui-field-behaviour`` with the
    snake_case keys that Airflow's Python form path validates against."""
    _, behaviour = _field_spec()
    return {key.replace("-", "_"): value for key, value in behaviour.items()}

"""The connection form as Airflow's UI receives it: every choice it offers makes a working
connection, an empty choice has a label (not a bare ``null``), and the README documents every field."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from oss_provider._compat import AIRFLOW_V_3_0_PLUS, AIRFLOW_V_3_2_PLUS

README = ROOT / "README.md"
CONN_TYPE = "oss_multipart"
PREFIX = f"extra__{CONN_TYPE}__"


@pytest.fixture(scope="module")
def widgets():
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    return {n[len(PREFIX) :]: w for n, w in widgets.items() if n.startswith(PREFIX)}


@pytest.fixture(scope="module")
def ui_fields(widgets):
    """Each extra field as the UI receives it, ``{"value", "schema": {"title", "type", ...}}``:
    3.2+ reads the provider info's conn-fields; 3.0 and 3.1's React UI turn the hook's wtforms
    fields into the same shape (HookMetaService); 2.11's FAB UI renders the wtforms fields."""
    if AIRFLOW_V_3_2_PLUS:
        return {name: widget.field for name, widget in widgets.items()}
    if AIRFLOW_V_3_0_PLUS:  # asked in a fresh process, as the API server does
        code = (
            "import json\n"
            "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
            f"meta = [m for m in HookMetaService.hook_meta_data() if m.connection_type == {CONN_TYPE!r}]\n"
            "print('FIELDS', json.dumps(meta[0].extra_fields or {}, default=str))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("FIELDS ")]
        assert lines, done.stdout[-2000:] + done.stderr[-2000:]
        return json.loads(lines[-1][len("FIELDS ") :])
    fields = {}
    for name, widget in widgets.items():
        kind = widget.field.field_class.__name__
        schema = {"title": str(widget.field.args[0])}
        if kind == "PasswordField":
            schema["format"] = "password"
        fields[name] = {"value": widget.field.kwargs.get("default"), "schema": schema}
    return fields


@pytest.fixture(scope="module")
def form_fields(ui_fields):
    """The declarative form (3.2+), whose choice fields are drop-downs."""
    if not AIRFLOW_V_3_2_PLUS:
        pytest.skip("Airflow < 3.2 has no drop-downs in the form: choices are typed as text")
    return ui_fields


def test_the_form_has_every_field_labelled_and_the_secret_hidden(ui_fields):
    from oss_provider.provider_info import PROVIDER_INFO

    (spec,) = PROVIDER_INFO["connection-types"]
    assert set(ui_fields) == set(spec["conn-fields"])
    for name, field in ui_fields.items():
        assert field["schema"]["title"] == spec["conn-fields"][name]["label"], name
        assert (field["schema"].get("format") == "password") == (name == "security_token"), name


def test_the_form_defaults_make_a_working_connection(ui_fields):
    from airflow.models.connection import Connection

    from oss_provider.hooks.connection import settings_from_connection

    extra = {name: field.get("value") for name, field in ui_fields.items()}
    extra.update(region="cn-hangzhou", bucket_name="b")
    conn = Connection(conn_id="form", conn_type=CONN_TYPE, login="ak", password="sk",
                      extra=json.dumps(extra))  # fmt: skip
    settings = settings_from_connection(conn, "form")
    assert (settings.signature_version, settings.addressing) == ("v4", "auto")


def test_the_declarative_form_needs_no_wtforms():
    """Airflow 3.2+ reads the form from the provider info: without the FAB provider (no wtforms)
    the relabelled and hidden standard fields still register. (3.0 and 3.1 read both widgets and
    behaviours through wtforms, for every provider; 2.11 always has it.)"""
    if not AIRFLOW_V_3_2_PLUS:
        pytest.skip("Airflow < 3.2 builds the whole form through wtforms")
    code = (
        "import sys; sys.modules['wtforms'] = None\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "pm = ProvidersManager(); print(pm.field_behaviours['oss_multipart']['relabeling']['login'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip().endswith("AccessKey ID"), done.stdout[-2000:] + done.stderr[-2000:]


def test_every_choice_is_labelled_and_makes_a_working_connection(form_fields):
    from airflow.models.connection import Connection

    from oss_provider.hooks.connection import settings_from_connection

    choices = {}
    for name, field in form_fields.items():
        schema = field["schema"]
        assert schema.get("title"), name
        if "enum" in schema:
            display = schema.get("values_display", {})
            for value in schema["enum"]:
                assert ("null" if value is None else value) in display, (name, value)
            choices[name] = schema["enum"]
    assert choices["addressing"] == [None, "virtual", "path"]  # "auto" is the empty choice
    assert choices["signature_version"] == [None, "v4", "v1"]
    for combo in itertools.product(*choices.values()):
        # what the form writes: every field, with its default when not chosen
        extra = {name: field["value"] for name, field in form_fields.items()}
        extra.update(dict(zip(choices, combo, strict=True)))
        extra.update(region="cn-hangzhou", bucket_name="b")
        conn = Connection(
            conn_id="form",
            conn_type="oss_multipart",
            host="oss-cn-hangzhou.aliyuncs.com",
            login="ak",
            password="sk",
            extra=json.dumps(extra),
        )
        settings = settings_from_connection(conn, "form")
        assert settings.signature_version == (extra["signature_version"] or "v4")
        assert settings.addressing == (extra["addressing"] or "auto")


def test_readme_documents_every_form_field(ui_fields):
    text = README.read_text()
    missing = [name for name in ui_fields if f"`{name}`" not in text]
    assert not missing, f"README's connection table lacks {missing}"

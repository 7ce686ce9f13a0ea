"""The connection form as Airflow's UI receives it: every choice it offers makes a working
connection, an empty choice has a label (not a bare ``null``), and the README documents every field."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PREFIX = "extra__oss_multipart__"


@pytest.fixture(scope="module")
def form_fields():
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    fields = {n[len(PREFIX) :]: w.field for n, w in widgets.items() if n.startswith(PREFIX)}
    assert fields, "the oss_multipart connection type registered no form fields"
    return fields


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


def test_readme_documents_every_form_field(form_fields):
    text = README.read_text()
    missing = [name for name in form_fields if f"`{name}`" not in text]
    assert not missing, f"README's connection table lacks {missing}"

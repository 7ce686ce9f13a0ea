"""Every operator's and the sensor's ``template_fields``: each one is an attribute set from its
argument, and each one is rendered (a Jinja expression in any of them comes out as the value)."""

from __future__ import annotations

import pytest

from oss_provider.client.options import option_names
from oss_provider.operators._args import OBJECT_OPTIONS
from oss_provider.operators.cleanup import OSSAbortStaleUploadsOperator
from oss_provider.operators.files import OSSPlanUploadFilesOperator, OSSUploadFilesOperator
from oss_provider.operators.multipart import (
    OSSAbortMultipartUploadOperator,
    OSSCompleteMultipartUploadOperator,
    OSSInitiateMultipartUploadOperator,
    OSSPlanMultipartUploadOperator,
    OSSUploadPartsOperator,
)
from oss_provider.operators.upload import OSSMultipartUploadOperator
from oss_provider.sensors.oss_object import OSSObjectSensor

REQUIRED = {
    OSSInitiateMultipartUploadOperator: {"key": "k"},
    OSSPlanMultipartUploadOperator: {"source": "/x"},
    OSSUploadPartsOperator: {"key": "k", "upload_id": "u", "source": "/x"},
    OSSCompleteMultipartUploadOperator: {"key": "k", "upload_id": "u"},
    OSSAbortMultipartUploadOperator: {"key": "k", "upload_id": "u"},
    OSSMultipartUploadOperator: {"key": "k", "source": "/x"},
    OSSUploadFilesOperator: {"source": "/x"},
    OSSPlanUploadFilesOperator: {"source": "/x"},
    OSSAbortStaleUploadsOperator: {},
    OSSObjectSensor: {"key": "k"},
}
WRITERS = (OSSInitiateMultipartUploadOperator, OSSMultipartUploadOperator, OSSUploadFilesOperator)


def _build(cls, **extra):
    return cls(task_id="t", **{**REQUIRED[cls], **extra})


def test_every_operator_of_the_package_is_covered():
    import oss_provider.sensors.oss_object as sensor
    from oss_provider.operators import cleanup, files, multipart, upload

    found = {
        obj
        for module in (cleanup, files, multipart, upload, sensor)
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and obj.__name__.endswith(("Operator", "Sensor"))
    }
    assert found == set(REQUIRED)


@pytest.mark.parametrize("cls", list(REQUIRED), ids=lambda c: c.__name__)
def test_each_template_field_is_set_from_its_argument_and_rendered(cls):
    op = _build(cls)
    assert op.template_fields, cls
    assert len(set(op.template_fields)) == len(op.template_fields), "a field listed twice"
    params = {}
    for name in op.template_fields:
        assert hasattr(op, name), f"{cls.__name__}.{name} is a template field but no attribute"
        setattr(op, name, "{{ params." + name + " }}")
        params[name] = f"rendered-{name}"
    op.render_template_fields({"params": params})
    for name in op.template_fields:
        assert getattr(op, name) == f"rendered-{name}", name


@pytest.mark.parametrize("cls", WRITERS, ids=lambda c: c.__name__)
def test_object_writing_operators_take_every_object_option_as_a_templated_argument(cls):
    """A new ObjectOptions field becomes an argument (and a template field) of each writer."""
    assert set(OBJECT_OPTIONS) == set(option_names()) - {"content_type", "metadata", "headers"}
    values = {name: f"value-of-{name}" for name in OBJECT_OPTIONS}
    op = _build(cls, **values)
    for name in OBJECT_OPTIONS:
        assert name in op.template_fields, name
        assert getattr(op, name) == values[name], name


def test_an_unknown_argument_is_still_refused():
    from oss_provider._compat import AirflowException

    # Airflow 3 raises TypeError, 2.11 AirflowException ("Invalid arguments were passed")
    with pytest.raises((TypeError, AirflowException), match="no_such_option"):
        _build(OSSMultipartUploadOperator, no_such_option="x")


@pytest.mark.parametrize("cls", WRITERS, ids=lambda c: c.__name__)
def test_object_options_are_arguments_airflow_knows(cls):
    """partial()/expand() check argument names against the signature, and default_args fill
    only declared arguments: object options must be both."""
    import pendulum

    from oss_provider._compat import DAG

    required = dict(REQUIRED[cls])
    key, value = required.popitem()  # one required argument is mapped, the rest partial
    mapped = cls.partial(task_id="m", storage_class="IA", **required).expand(**{key: [value]})
    assert mapped.partial_kwargs["storage_class"] == "IA"
    mapped = cls.partial(task_id="n", **REQUIRED[cls]).expand(storage_class=["IA", "Archive"])
    assert mapped.expand_input.value["storage_class"] == ["IA", "Archive"]
    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    default_args = {"storage_class": "IA", "content_encoding": "gzip"}
    with DAG("object_option_defaults", schedule=None, start_date=start, default_args=default_args):
        op = _build(cls)
    assert (op.storage_class, op.content_encoding) == ("IA", "gzip")

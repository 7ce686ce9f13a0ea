"""Operator arguments after templating: one coercion per kind, each naming the argument.

Rendered templates are strings unless the DAG renders native objects; these accept both and
raise ``ValueError`` / ``TypeError`` that name the argument and the accepted forms, which the
operators turn into a task failure without retries (a retry renders the same value).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from oss_provider.client.options import ObjectOptions, option_names
from oss_provider.client.urls import oss_path_target
from oss_provider.templated import as_bool, as_json, as_metadata, as_str, is_none


def as_key(value: Any) -> str:
    """An object key, ``oss://bucket/key`` or an ``oss://`` ObjectStoragePath, exactly as given:
    spaces belong to a key."""
    if is_none(value):
        raise ValueError("key is required: an object key such as 'exports/data.bin'")
    target = oss_path_target(value)
    if target is not None:  # an ObjectStoragePath
        return f"oss://{target[0]}/{target[1]}"
    if not isinstance(value, str):
        raise TypeError(f"key must be a string, got {type(value).__name__}")
    return value


def source_arg(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if is_none(text):
            raise ValueError("source is required: a path, a URL or oss://bucket/key")
        return text
    if value is None:
        raise ValueError("source is required: a path, a URL or oss://bucket/key")
    return value


# The object options an operator takes as keyword arguments (template fields), besides the
# content_type and metadata it names itself: every ObjectOptions field but the raw headers. A new
# ObjectOptions field becomes an argument of every object-writing operator.
OBJECT_OPTIONS = tuple(
    name for name in option_names() if name not in ("content_type", "metadata", "headers")
)
OBJECT_OPTIONS_DOC = (
    "Object options (keyword arguments, each templated; see "
    ":class:`~oss_provider.client.options.ObjectOptions`): " + ", ".join(OBJECT_OPTIONS)
)


def with_object_options(init: Callable[..., None]) -> Callable[..., None]:
    """Declare the object options as keyword-only parameters of an operator's ``__init__``
    (which takes them from ``**kwargs`` with :func:`take_object_options`), so Airflow sees them
    as arguments: ``.partial()`` / ``.expand()`` accept them and ``default_args`` fill them."""
    sig = inspect.signature(init)
    params = list(sig.parameters.values())
    at = next(i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD)
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
        for name in OBJECT_OPTIONS
        if name not in sig.parameters
    ]
    init.__signature__ = sig.replace(parameters=[*params[:at], *extra, *params[at:]])  # type: ignore[attr-defined]
    return init


def take_object_options(owner: Any, kwargs: dict[str, Any]) -> None:
    """Move the object options out of an operator's keyword arguments into attributes
    (template fields, rendered before ``execute``); BaseOperator never sees them."""
    for name in OBJECT_OPTIONS:
        setattr(owner, name, kwargs.pop(name, None))


def as_object_options(owner: Any) -> ObjectOptions:
    """The object options an operator holds (rendered), coerced by the type of their
    :class:`ObjectOptions` field; unset ones left out."""
    out: dict[str, Any] = {}
    for f in fields(ObjectOptions):
        value = getattr(owner, f.name, None)
        if f.name == "headers" or is_none(value):
            continue
        if f.name == "metadata":
            out[f.name] = as_metadata(f.name, value)
        elif f.name == "tagging":
            out[f.name] = _as_tagging(value)
        elif str(f.type).startswith("bool"):
            out[f.name] = as_bool(f.name, value)
        else:
            out[f.name] = as_str(f.name, value)
    return ObjectOptions.of(**out)


def _as_tagging(value: Any) -> dict[str, str] | str:
    if isinstance(value, str) and not value.strip().startswith(("{", "[")):
        return value.strip()  # "k1=v1&k2=v2", checked by the client
    data = as_json("tagging", value)
    if not isinstance(data, Mapping):
        raise TypeError(f"tagging must be a mapping or 'k1=v1&k2=v2', got {value!r}")
    return {str(k): str(v) for k, v in data.items()}

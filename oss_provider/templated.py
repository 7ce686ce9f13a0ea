"""Rendered template values: one coercion per kind, each naming the argument.

Rendered templates are strings unless the DAG renders native objects; these accept both and
raise ``ValueError`` / ``TypeError`` that name the argument and the accepted forms, which the
operators, sensors and triggers turn into a task failure without retries (a retry renders the
same value). No Airflow import: every layer that takes templated arguments may use it.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

_NONE_TEXT = {"", "none", "null"}


def is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_TEXT)


def as_int(name: str, value: Any, *, minimum: int = 0) -> int | None:
    if is_none(value):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip().replace("_", ""))
        except ValueError:
            number = None
    if number is None:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return number


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def as_json(name: str, value: Any) -> Any:
    """A dict/list from itself or from its rendered text (JSON or Python literal)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if is_none(text):
        return None
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise ValueError(
                f"{name} must be JSON (a dict or a list), got {text[:200]!r}"
            ) from None


def as_str(name: str, value: Any, *, required: bool = True) -> str | None:
    if is_none(value):
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return value.strip()


def as_metadata(name: str, value: Any) -> dict[str, str] | None:
    """User metadata: a mapping (or its JSON text) of names to strings, numbers or booleans."""
    data = as_json(name, value)
    if data is None or data == {}:
        return None
    if not isinstance(data, Mapping):
        raise TypeError(
            f'{name} must be a mapping of names to values, e.g. {{"owner": "etl"}}, got '
            f"{type(data).__name__} {str(value)[:100]!r}"
        )
    out: dict[str, str] = {}
    for item, text in data.items():
        if not isinstance(item, str) or not item.strip():
            raise TypeError(f"{name} names must be non-empty strings, got {item!r}")
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, int | float):
            text = str(text)
        if not isinstance(text, str):
            raise TypeError(
                f"{name}[{item!r}] must be a string, number or boolean, got {type(text).__name__}"
            )
        out[item] = text
    return out

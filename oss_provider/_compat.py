"""Airflow imports in one place (the Task SDK on Airflow 3)."""

from __future__ import annotations

from airflow.sdk import BaseHook, BaseOperator
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
)
from airflow.sdk.log import mask_secret

__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "BaseHook",
    "BaseOperator",
    "mask_secret",
]

"""Every Airflow name this provider uses, from the one place that knows where each version keeps it.

Airflow 3 moved the authoring names to ``airflow.sdk`` one release at a time (3.0 has no
``airflow.sdk.BaseHook``, 3.3 has it; 2.11 has none of them), so "try ``airflow.sdk``, else the 2.x
path" must be decided per name, not per module. ``apache-airflow-providers-common-compat`` (the
``sdk`` and ``version_compat`` modules the community providers import through) does that; this
module takes each name from it once, and everything else in the package imports from here.

Features that exist only on some versions go through :func:`require_airflow`, which names the
version a feature needs instead of failing with an ImportError from deep inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat import sdk as _sdk
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    Asset,
    BaseHook,
    BaseOperator,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
    mask_secret,
)
from airflow.providers.common.compat.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AIRFLOW_V_3_1_PLUS,
    AIRFLOW_V_3_2_PLUS,
    AIRFLOW_V_3_3_PLUS,
    get_base_airflow_version_tuple,
)
from airflow.triggers.base import BaseTrigger, TriggerEvent

from oss_provider.errors import AirflowVersionError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import (
        DAG,
        AssetAlias,
        Connection,
        Context,
        ObjectStoragePath,
        Param,
        TaskDeferred,
        redact,
        task,
    )

AIRFLOW_VERSION: tuple[int, int, int] = get_base_airflow_version_tuple()

# Names only DAG files, tests and a few code paths use (DAG authoring, ObjectStoragePath, the
# Connection model): loaded on first use rather than by every importer of this module.
_LAZY = frozenset(
    {"DAG", "AssetAlias", "Connection", "Context", "ObjectStoragePath", "Param", "TaskDeferred",
     "redact", "task"}
)  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(_sdk, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_airflow(minimum: tuple[int, int], feature: str) -> None:
    """Raise :class:`AirflowVersionError` naming ``feature`` and the version it needs when the
    running Airflow is older than ``minimum``; do nothing otherwise."""
    if AIRFLOW_VERSION[:2] >= minimum:
        return
    have = ".".join(str(part) for part in AIRFLOW_VERSION)
    need = ".".join(str(part) for part in minimum)
    raise AirflowVersionError(
        f"{feature} needs Apache Airflow {need} or newer; this is {have}. "
        f"Upgrade Airflow, or see the README's 'Supported versions' for what works on {have}."
    )


def dag_bag(dag_folder: str) -> Any:
    """A ``DagBag`` of ``dag_folder`` (``airflow.dag_processing.dagbag`` from 3.1, the models
    module before; 3.3 warns on the old path)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


def register_dags(bag: Any) -> None:
    """Write a ``DagBag``'s DAGs, assets and asset aliases to the metadata DB, as the DAG processor
    would, before ``dag.test()``. 3.x's ``dag.test()`` does it itself; 2.11's does not, and an event
    for a ``DatasetAlias`` that no DAG processor recorded fails the task ("Can't flush None value
    found in collection DatasetModel.aliases")."""
    if not AIRFLOW_V_3_0_PLUS:
        bag.sync_to_db()


def asset_event_tables() -> tuple[Any, Any, str]:
    """The metadata-DB models of asset events: ``(event, asset, event column naming the asset)``
    (datasets on 2.x). For demos and tests that count the events an upload recorded."""
    if AIRFLOW_V_3_0_PLUS:
        from airflow.models.asset import AssetEvent, AssetModel

        return AssetEvent, AssetModel, "asset_id"
    from airflow.models.dataset import DatasetEvent, DatasetModel

    return DatasetEvent, DatasetModel, "dataset_id"


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowVersionError",
    "Asset",
    "AssetAlias",
    "BaseHook",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "ObjectStoragePath",
    "Param",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "asset_event_tables",
    "conf",
    "dag_bag",
    "mask_secret",
    "redact",
    "register_dags",
    "require_airflow",
    "task",
]

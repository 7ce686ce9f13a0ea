"""Pytest plugin: a real OSS emulator process for tests (registered as the ``oss_provider`` plugin).

Fixtures:

- ``oss_emulator`` (session): an :class:`EmulatorServer` on a free loopback port with a temporary
  data directory (removed at the end) and the bucket ``test-bucket``. One per xdist worker.
- ``oss_bucket``: a fresh, uniquely named bucket, emptied and removed after the test.
- ``oss_client``: an ``oss_provider.client.api.OSSClient`` for the emulator.
- ``oss_conn_env``: ``AIRFLOW_CONN_OSS_MULTIPART_DEFAULT`` pointing at the emulator (restored after).

Faults and clock offsets set by a test are cleared when its ``oss_client`` / ``oss_bucket``
fixture ends, so one failing test does not leave a trap for the next.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from oss_provider.emulator.process import (
    CONN_ENV,
    CONTROL_HEADERS,
    CREDENTIALS_ENV,
    DEFAULT_BUCKET,
    DEFAULT_REGION,
    EmulatorServer,
    stop_process_group,
)

__all__ = [
    "CONN_ENV",
    "CONTROL_HEADERS",
    "CREDENTIALS_ENV",
    "DEFAULT_BUCKET",
    "DEFAULT_REGION",
    "EmulatorServer",
    "oss_bucket",
    "oss_client",
    "oss_conn_env",
    "oss_emulator",
    "stop_process_group",
]


@pytest.fixture(scope="session")
def oss_emulator() -> Iterator[EmulatorServer]:
    """A running OSS emulator for the whole session (bucket ``test-bucket`` exists)."""
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def oss_bucket(oss_emulator: EmulatorServer) -> Iterator[str]:
    """A fresh bucket; emptied and removed after the test."""
    name = f"t-{uuid.uuid4().hex[:16]}"
    oss_emulator.create_bucket(name)
    try:
        yield name
    finally:
        if oss_emulator.running:
            oss_emulator.remove_bucket(name)
            oss_emulator.tidy()


@pytest.fixture
def oss_client(oss_emulator: EmulatorServer) -> Iterator[Any]:
    """An ``OSSClient`` (V4, path style) talking to the emulator."""
    from oss_provider.client.api import OSSClient
    from oss_provider.client.models import Credentials

    client = OSSClient(
        oss_emulator.endpoint,
        Credentials(oss_emulator.access_key_id, oss_emulator.access_key_secret),
        region=oss_emulator.region,
    )
    try:
        yield client
    finally:
        client.close()
        oss_emulator.tidy()


@pytest.fixture
def oss_conn_env(oss_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the default ``oss_multipart`` connection at the emulator; yields the env value."""
    value = oss_emulator.connection_uri_json()
    monkeypatch.setenv(CONN_ENV, value)
    yield value

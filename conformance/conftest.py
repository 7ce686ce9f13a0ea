"""Harness for running oss2's own upstream integration tests against the local emulator.

``conformance/run.py`` copies this file next to the unpacked ``tests/`` of the oss2 sdist. It:

- blocks every connection (and name lookup) that is not loopback, so no test can reach the cloud;
- fixes the bucket kind to plain/RSA: the upstream tests pick ``random.choice`` among a plain, an
  RSA-encrypting and a KMS-encrypting bucket; KMS needs Alibaba Cloud's KMS service, so the KMS
  slot is filled with the RSA bucket (client-side encryption, the same OSS requests);
- provides ``mock`` (the PyPI backport test_upload.py imports) as the standard ``unittest.mock``;
- deselects, by name, the tests that need the real cloud, and prints each with its reason.

The upstream test files themselves are run unchanged.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import unittest.mock

import pytest

# test id (relative to the sdist root) -> why it cannot run against a local server
DESELECTED: dict[str, str] = {
    "tests/test_multipart.py::TestMultipart::test_multipart_sequential": (
        "hard-coded cloud endpoint http://oss-cn-shanghai.aliyuncs.com (creates a bucket there)"
    ),
    "tests/test_upload.py::TestUpload::test_upload_sequenial": (
        "hard-coded cloud endpoint http://oss-cn-shanghai.aliyuncs.com (creates a bucket there)"
    ),
    "tests/test_iterator.py::TestIterator::test_live_channel_iterator": (
        "creates RTMP live channels (ApsaraVideo live streaming, not an OSS storage API); the "
        "empty live-channel listing every teardown does still runs in every test"
    ),
}

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").split("%", 1)[0]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NonLoopbackBlocked(ConnectionRefusedError):
    """Raised instead of opening a connection that would leave this machine."""


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _check_address(sock: socket.socket, address: object) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback(host):
        raise NonLoopbackBlocked(
            f"conformance harness: connection to {address!r} blocked (loopback only)"
        )


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _is_loopback(host):
        raise socket.gaierror(
            socket.EAI_NONAME, f"conformance harness: lookup of {host!r} blocked (loopback only)"
        )
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    config._conformance_deselected = []  # type: ignore[attr-defined]
    # test_upload.py does ``from mock import patch``: the PyPI backport of unittest.mock
    sys.modules.setdefault("mock", unittest.mock)


def _fix_bucket_kind(cls: type) -> None:
    """Wrap OssTestCase.setUp once so its KMS crypto bucket is the RSA one."""
    base = next((c for c in cls.__mro__ if c.__name__ == "OssTestCase"), None)
    if base is None or getattr(base, "_conformance_patched", False):
        return
    original = base.setUp

    def setUp(self: object) -> None:
        original(self)
        self.kms_crypto_bucket = self.rsa_crypto_bucket  # type: ignore[attr-defined]

    base.setUp = setUp
    base._conformance_patched = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, dropped = [], []
    for item in items:
        if item.nodeid in DESELECTED:
            dropped.append(item)
            config._conformance_deselected.append((item.nodeid, DESELECTED[item.nodeid]))
        else:
            keep.append(item)
            if item.cls is not None:
                _fix_bucket_kind(item.cls)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: object, config: pytest.Config) -> None:
    deselected = config._conformance_deselected  # type: ignore[attr-defined]
    terminalreporter.section("deselected: need the real cloud")  # type: ignore[attr-defined]
    for nodeid, reason in deselected:
        terminalreporter.write_line(f"{nodeid}: {reason}")  # type: ignore[attr-defined]
    if not deselected:
        terminalreporter.write_line("(none in the selected files)")  # type: ignore[attr-defined]

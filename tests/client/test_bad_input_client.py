"""Bad input to the client and ``transfer.upload``, against the emulator over real HTTP.

Every case must fail fast (within a few seconds, never hang), before any request is sent, with a
ValueError / TypeError whose message names the argument and says how to fix it, and must leave
nothing on the server (no multipart upload, no object).
"""

from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from oss_provider.transfer import upload as transfer

pytestmark = pytest.mark.timeout(60)

#: Seconds a case may take: refusing bad input needs no network round trip, let alone a wait.
DEADLINE = 5.0


def _bounded(call: Callable[[], Any]) -> BaseException | None:
    """Run ``call`` in a daemon thread; fail the test if it is still running after DEADLINE."""
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=run, name="bad-input-case", daemon=True)
    worker.start()
    worker.join(DEADLINE)
    assert not worker.is_alive(), f"the call still runs after {DEADLINE} s (it hangs)"
    assert time.monotonic() - started < DEADLINE
    return outcome.get("error")


@pytest.fixture
def sent(oss_client, monkeypatch) -> list[str]:
    """Operations the client sends over HTTP during the test."""
    operations: list[str] = []
    send = oss_client.transport.send

    def counting(request, *args, **kwargs):
        operations.append(getattr(request, "operation", "?"))
        return send(request, *args, **kwargs)

    monkeypatch.setattr(oss_client.transport, "send", counting)
    return operations


def _assert_refused(error, expected: type, fragments: tuple[str, ...]) -> None:
    assert error is not None, "the bad input was accepted"
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    message = str(error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def _assert_nothing_left(client, bucket: str) -> None:
    assert list(client.iter_multipart_uploads(bucket)) == []
    assert client.list_objects(bucket) == []
    assert client.bucket_exists(bucket)  # a '.' / '..' key must not reach the bucket itself


# -- sources -----------------------------------------------------------------------------------

_NOT_REGULAR = ("source", "only regular files can be uploaded by path")
_PIPE_FIX = (*_NOT_REGULAR, "open binary stream")
_TEXT_FIX = ("source", "text stream", "binary mode", "'rb'")


class _StrReader:
    """A hand-made text reader: no ``mode``, not an ``io`` class; ``read`` returns ``str``."""

    def read(self, n: int = -1) -> str:
        return "text"[: None if n < 0 else n]


def _fifo(tmp_path, stack):
    path = tmp_path / "pipe"
    os.mkfifo(path)  # no writer: opening it for reading would block forever
    return str(path)


def _fifo_pathlike(tmp_path, stack):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _fifo_url(tmp_path, stack):
    return "file://" + _fifo(tmp_path, stack)


def _directory(tmp_path, stack):
    return str(tmp_path)


def _char_device(tmp_path, stack):
    return os.devnull


def _unix_socket(tmp_path, stack):
    short = tempfile.mkdtemp(prefix="s")  # AF_UNIX paths are limited to ~107 bytes
    stack.append(lambda: os.rmdir(short))
    path = os.path.join(short, "sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    stack.append(lambda: os.unlink(path))
    stack.append(server.close)
    return path


def _text_file(tmp_path, stack):
    path = tmp_path / "data.txt"
    path.write_text("hello\n" * 1000)
    handle = open(path)  # noqa: SIM115 - closed by the test
    stack.append(handle.close)
    return handle


def _text_wrapper_over_binary(tmp_path, stack):
    return io.TextIOWrapper(io.BytesIO(b"hello"), encoding="utf-8")


def _string_io(tmp_path, stack):
    return io.StringIO("hello")


def _str_reader(tmp_path, stack):
    return _StrReader()


def _text_pipe(tmp_path, stack):
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r")  # text mode: the mistake being tested
    os.close(write_fd)
    stack.append(reader.close)
    return reader


SOURCE_CASES = [
    pytest.param(_fifo, ValueError, (*_PIPE_FIX, "FIFO"), id="fifo-path"),
    pytest.param(_fifo_pathlike, ValueError, (*_PIPE_FIX, "FIFO"), id="fifo-pathlike"),
    pytest.param(_fifo_url, ValueError, (*_PIPE_FIX, "FIFO"), id="fifo-file-url"),
    pytest.param(_directory, ValueError, (*_NOT_REGULAR, "directory"), id="directory"),
    pytest.param(_char_device, ValueError, (*_PIPE_FIX, "character device"), id="dev-null"),
    pytest.param(_unix_socket, ValueError, (*_PIPE_FIX, "socket"), id="unix-socket"),
    pytest.param(_text_file, TypeError, _TEXT_FIX, id="open-r"),
    pytest.param(_text_wrapper_over_binary, TypeError, _TEXT_FIX, id="text-wrapper"),
    pytest.param(_string_io, TypeError, _TEXT_FIX, id="stringio"),
    pytest.param(_str_reader, TypeError, _TEXT_FIX, id="read-returns-str"),
    pytest.param(_text_pipe, TypeError, _TEXT_FIX, id="pipe-opened-r"),
]


@pytest.fixture
def cleanup():
    stack: list[Callable[[], Any]] = []
    yield stack
    for undo in reversed(stack):
        undo()


@pytest.mark.parametrize(("make", "expected", "fragments"), SOURCE_CASES)
def test_bad_source_is_refused_before_any_request(
    oss_emulator, oss_client, oss_bucket, sent, tmp_path, cleanup, make, expected, fragments
):
    source = make(tmp_path, cleanup)
    key = "bad-source/object.bin"
    error = _bounded(lambda: transfer.upload(oss_client, oss_bucket, key, source))
    _assert_refused(error, expected, fragments)
    assert sent == [], f"requests were sent before the source was refused: {sent}"
    _assert_nothing_left(oss_client, oss_bucket)


def test_a_fifo_opened_by_the_caller_still_uploads(oss_emulator, oss_client, oss_bucket, tmp_path):
    """The fix the FIFO error suggests works: open the pipe and pass the binary stream."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    data = b"through a named pipe\n" * 100

    def write() -> None:
        with open(path, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with open(path, "rb") as pipe:
        error = _bounded(lambda: transfer.upload(oss_client, oss_bucket, "from-fifo.bin", pipe))
    writer.join(DEADLINE)
    assert error is None, error
    assert oss_client.get_object(oss_bucket, "from-fifo.bin") == data


# -- keys --------------------------------------------------------------------------------------

_DOTS = ("object key", "'.' and '..'", "Use a key without")
_UTF8 = ("object key", "not valid UTF-8", "surrogate")

KEY_CASES = [
    pytest.param(".", _DOTS, id="dot"),
    pytest.param("..", _DOTS, id="dot-dot"),
    pytest.param("a/../b", _DOTS, id="a-up-b"),
    pytest.param("./x", _DOTS, id="dot-slash-x"),
    pytest.param("a/.", _DOTS, id="a-slash-dot"),
    pytest.param("a/./b", _DOTS, id="a-dot-b"),
    pytest.param("a/..", _DOTS, id="a-slash-dot-dot"),
    pytest.param("\ud800", _UTF8, id="lone-surrogate"),
    pytest.param("file-\udcff.bin", _UTF8, id="surrogateescape"),
    pytest.param("/abs/key", ("object key", "starts with", "Drop the leading"), id="leading-slash"),
    pytest.param("\\win", ("object key", "starts with", "Drop the leading"), id="backslash"),
    pytest.param("k" * 1024, ("object key", "1024 bytes", "at most 1023"), id="too-long"),
    pytest.param("", ("object key", "non-empty"), id="empty"),
]


def _client_calls(client, bucket: str, key: str) -> dict[str, Callable[[], Any]]:
    return {
        "initiate_multipart_upload": lambda: client.start_multipart_upload(bucket, key).upload_id,
        "upload_part": lambda: client.upload_part(bucket, key, "upload-id", 1, b"x"),
        "complete_multipart_upload": lambda: client.complete_multipart_upload(
            bucket, key, "upload-id", [{"part_number": 1, "etag": '"e"'}]
        ),
        "abort_multipart_upload": lambda: client.abort_multipart_upload(bucket, key, "id"),
        "list_parts": lambda: client.list_parts(bucket, key, "upload-id"),
        "put_object": lambda: client.put_object(bucket, key, b"data"),
        "head_object": lambda: client.head_object(bucket, key),
        "get_object": lambda: client.get_object(bucket, key),
        "delete_object": lambda: client.delete_object(bucket, key),
        "upload_part_copy(source_key)": lambda: client.upload_part_copy(
            bucket, "good/key", "upload-id", 1, bucket, key
        ),
        "presign_url": lambda: client.presign_url("GET", bucket, key),
    }


@pytest.mark.parametrize(("key", "fragments"), KEY_CASES)
@pytest.mark.parametrize(
    "source", [pytest.param(b"payload", id="bytes"), pytest.param(io.BytesIO, id="stream")]
)
def test_bad_key_is_refused_by_upload(
    oss_emulator, oss_client, oss_bucket, sent, key, fragments, source
):
    data = source(b"payload") if source is io.BytesIO else source
    error = _bounded(lambda: transfer.upload(oss_client, oss_bucket, key, data))
    _assert_refused(error, ValueError, fragments)
    assert sent == [], f"requests were sent before the key was refused: {sent}"
    _assert_nothing_left(oss_client, oss_bucket)


@pytest.mark.parametrize(("key", "fragments"), KEY_CASES)
def test_bad_key_is_refused_by_upload_of_a_file(
    oss_emulator, oss_client, oss_bucket, sent, tmp_path, key, fragments
):
    """A file upload resumes by default, so it may look for an earlier upload of the key
    first; the key must still be refused before any request, with the same message."""
    path = tmp_path / "f.bin"
    path.write_bytes(b"payload")
    error = _bounded(lambda: transfer.upload(oss_client, oss_bucket, key, path))
    _assert_refused(error, ValueError, fragments)
    assert sent == [], f"requests were sent before the key was refused: {sent}"
    _assert_nothing_left(oss_client, oss_bucket)


@pytest.mark.parametrize(("key", "fragments"), KEY_CASES)
def test_bad_key_is_refused_by_every_client_method(
    oss_emulator, oss_client, oss_bucket, sent, key, fragments
):
    for name, call in _client_calls(oss_client, oss_bucket, key).items():
        error = _bounded(call)
        assert error is not None, f"{name} accepted key {key!r}"
        try:
            _assert_refused(error, ValueError, fragments)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert sent == [], f"requests were sent before the key was refused: {sent}"
    _assert_nothing_left(oss_client, oss_bucket)


# -- connection extras and the secrets masker ----------------------------------------------------


def test_form_fields_default_to_no_short_strings():
    """A form default is written into every connection's extra; Airflow masks each extra value
    when it fetches the connection and logs "too short (<5 chars)" for short strings."""
    from oss_provider.provider_info import PROVIDER_INFO

    (conn_type,) = PROVIDER_INFO["connection-types"]
    for name, field in conn_type["conn-fields"].items():
        default = field["schema"].get("default")
        assert not (isinstance(default, str) and len(default) < 5), (name, default)


def test_connection_extras_are_read_without_masking_them(monkeypatch):
    """Reading the extras masks nothing: only the AccessKey secret and the STS token are."""
    import json

    import airflow.sdk.log
    from airflow.sdk import Connection

    from oss_provider.hooks import oss_multipart
    from oss_provider.hooks.connection import settings_from_connection

    masked: list[Any] = []
    monkeypatch.setattr(airflow.sdk.log, "mask_secret", lambda s, n=None: masked.append(s))
    extra = {"region": "cn-hangzhou", "signature_version": "v4", "addressing": "path",
             "internal": False, "security_token": "sts-token-value"}  # fmt: skip
    conn = Connection(
        conn_id="ui_made", conn_type="oss_multipart", host="http://127.0.0.1:9",
        login="AKIDEXAMPLE1", password="secret-value-1", extra=json.dumps(extra),
    )  # fmt: skip
    settings = settings_from_connection(conn, "ui_made")
    assert settings.signature_version == "v4" and settings.addressing == "path"
    assert settings.credentials.security_token == "sts-token-value"
    assert masked == []  # extra_dejson would have handed the whole dict to the masker

    monkeypatch.setattr(oss_multipart, "mask_secret", masked.append)
    hook = oss_multipart.OSSMultipartHook(oss_conn_id="ui_made")
    monkeypatch.setattr(hook, "get_connection", lambda conn_id: conn)
    assert hook.settings.region == "cn-hangzhou"
    assert masked == ["secret-value-1", "sts-token-value"]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        pytest.param("{not json", "extra is not valid JSON", id="not-json"),
        pytest.param('["v4"]', "extra must be a JSON object", id="list"),
    ],
)
def test_connection_with_unreadable_extra_names_the_fix(extra, fragment):
    from airflow.sdk import Connection

    from oss_provider.hooks.connection import settings_from_connection

    conn = Connection(conn_id="bad", conn_type="oss_multipart", host="h", extra=extra)
    with pytest.raises(ValueError, match=fragment) as err:
        settings_from_connection(conn, "bad")
    assert "connection 'bad'" in str(err.value) and "region" in str(err.value)

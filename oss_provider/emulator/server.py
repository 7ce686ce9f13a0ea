"""HTTP layer: a threaded HTTP/1.1 keep-alive server that routes OSS requests to the operations.

Per request: locate bucket and key (path style, or ``<bucket>.localhost`` virtual host), route by
method and sub-resource, check names, verify the signature, apply injected faults, run the
operation, answer. Any error becomes OSS error XML; the server keeps serving after bad requests.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from . import buckets, objects
from .app import Emulator
from .auth import V1_SUBRESOURCES, SignedRequest
from .clock import http_date
from .errors import ServiceError
from .faults import Fault
from .responses import error_document, error_headers
from .store import BUCKET_NAME
from .wire import AbortConnection, BodyReader, Request, Response

log = logging.getLogger(__name__)

HANDLED_SUBRESOURCES = {
    "uploads",
    "uploadId",
    "partNumber",
    "lifecycle",
    "bucketInfo",
    "location",
    "security-token",
    "continuation-token",
    "x-oss-traffic-limit",
    "x-oss-request-payer",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "tagging",
    "acl",
    "delete",
    "objectMeta",
    "live",
}
UNSUPPORTED_SUBRESOURCES = V1_SUBRESOURCES - HANDLED_SUBRESOURCES
MAX_DRAIN = objects.MAX_OBJECT_SIZE


def wire_text(value: str) -> str:
    """A received header value as text. http.server decodes header bytes as latin-1; OSS
    clients send UTF-8 (``x-oss-meta-*: 测试``), so undo that. Bytes that are not UTF-8 are
    kept as surrogate escapes and signed/stored/returned byte for byte."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value
    return raw.decode("utf-8", "surrogateescape")


def wire_value(value: object) -> str:
    """A response header value as http.server will write it (latin-1): UTF-8 bytes, as OSS
    sends non-ASCII metadata."""
    text = str(value)
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _check_names(bucket: str | None, key: str | None) -> None:
    if bucket is not None and not BUCKET_NAME.match(bucket):
        raise ServiceError("InvalidBucketName", extras={"BucketName": bucket}, ec="0015-00000001")
    if key is not None:
        if len(key.encode("utf-8", "surrogatepass")) > 1023:
            raise ServiceError("InvalidObjectName", ec="0016-00000005")
        if key.startswith(("/", "\\")):
            raise ServiceError(
                "InvalidObjectName",
                "Object name must not begin with '/' or '\\'.",
                ec="0016-00000005",
            )


Operation = Callable[[Emulator, Request], Response]
OPERATIONS: dict[str, Operation] = {
    "ListBuckets": lambda app, r: buckets.list_buckets(app.store, r, app.region),
    "PutBucket": lambda app, r: buckets.put_bucket(app.store, r),
    "DeleteBucket": lambda app, r: buckets.delete_bucket(app.store, r),
    "HeadBucket": lambda app, r: buckets.head_bucket(app.store, r),
    "GetBucketInfo": lambda app, r: buckets.bucket_info(app.store, r, app.region),
    "GetBucketLocation": lambda app, r: buckets.bucket_location(app.store, r, app.region),
    "ListObjects": lambda app, r: buckets.list_objects(app.store, r, v2=False),
    "ListObjectsV2": lambda app, r: buckets.list_objects(app.store, r, v2=True),
    "ListMultipartUploads": lambda app, r: buckets.list_uploads(app.store, r),
    "PutBucketLifecycle": lambda app, r: buckets.put_lifecycle(app.store, r),
    "GetBucketLifecycle": lambda app, r: buckets.get_lifecycle(app.store, r),
    "DeleteBucketLifecycle": lambda app, r: buckets.delete_lifecycle(app.store, r),
    "GetBucketAcl": lambda app, r: buckets.get_bucket_acl(app.store, r),
    "DeleteMultipleObjects": lambda app, r: buckets.delete_multiple(app.store, r),
    "ListLiveChannel": lambda app, r: buckets.list_live_channels(app.store, r),
    "GetObjectTagging": lambda app, r: objects.get_tagging(app.store, r),
    "PutObjectTagging": lambda app, r: objects.put_tagging(app.store, r),
    "DeleteObjectTagging": lambda app, r: objects.delete_tagging(app.store, r),
    "GetObjectAcl": lambda app, r: objects.get_object_acl(app.store, r),
    "PutObjectAcl": lambda app, r: objects.put_object_acl(app.store, r),
    "GetObjectMeta": lambda app, r: objects.get_object_meta(app.store, r),
    "PutObject": lambda app, r: objects.put_object(app.store, r),
    "CopyObject": lambda app, r: objects.copy_object(app.store, r),
    "GetObject": lambda app, r: objects.get_object(app.store, r),
    "HeadObject": lambda app, r: objects.get_object(app.store, r, head=True),
    "DeleteObject": lambda app, r: objects.delete_object(app.store, r),
    "InitiateMultipartUpload": lambda app, r: objects.initiate(app.store, r),
    "UploadPart": lambda app, r: objects.upload_part(app.store, r),
    "UploadPartCopy": lambda app, r: objects.upload_part(app.store, r),
    "CompleteMultipartUpload": lambda app, r: objects.complete(app.store, r),
    "AbortMultipartUpload": lambda app, r: objects.abort(app.store, r),
    "ListParts": lambda app, r: objects.list_parts(app.store, r),
}


def route(
    method: str, bucket: str | None, key: str | None, query: dict[str, str], copy: bool
) -> str:
    """The OSS operation a request names; MethodNotAllowed / NotImplemented otherwise."""
    unsupported = sorted(set(query) & UNSUPPORTED_SUBRESOURCES)
    if unsupported:
        raise ServiceError(
            "NotImplemented",
            f"The sub-resource {unsupported[0]!r} is not implemented by this emulator.",
        )
    has = query.__contains__
    op = _special_route(method, bucket, key, query)
    if op is not None:
        return op
    if bucket is None:
        op = {"GET": "ListBuckets"}.get(method)
    elif key is None:
        if method == "GET":
            op = next(
                (
                    o
                    for p, o in (
                        ("uploads", "ListMultipartUploads"),
                        ("lifecycle", "GetBucketLifecycle"),
                        ("bucketInfo", "GetBucketInfo"),
                        ("location", "GetBucketLocation"),
                    )
                    if has(p)
                ),
                "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects",
            )
        elif method == "PUT":
            op = "PutBucketLifecycle" if has("lifecycle") else "PutBucket"
        elif method == "DELETE":
            op = "DeleteBucketLifecycle" if has("lifecycle") else "DeleteBucket"
        elif method == "HEAD":
            op = "HeadBucket"
    elif method == "PUT":
        if has("uploadId") or has("partNumber"):
            op = "UploadPartCopy" if copy else "UploadPart"
        else:
            op = "CopyObject" if copy else "PutObject"
    elif method == "GET":
        op = "ListParts" if has("uploadId") else "GetObject"
    elif method == "HEAD":
        op = "HeadObject"
    elif method == "DELETE":
        op = "AbortMultipartUpload" if has("uploadId") else "DeleteObject"
    elif method == "POST":
        if has("uploads"):
            op = "InitiateMultipartUpload"
        elif has("uploadId"):
            op = "CompleteMultipartUpload"
    if op is None:
        raise ServiceError(
            "MethodNotAllowed",
            extras={"Method": method, "ResourceType": "Object" if key else "Bucket"},
        )
    return op


# (method, bucket-level?, sub-resource) -> operation, for the sub-resources that select one.
SPECIAL_ROUTES = {
    ("GET", True, "acl"): "GetBucketAcl",
    ("POST", True, "delete"): "DeleteMultipleObjects",
    ("GET", True, "live"): "ListLiveChannel",
    ("GET", False, "tagging"): "GetObjectTagging",
    ("PUT", False, "tagging"): "PutObjectTagging",
    ("DELETE", False, "tagging"): "DeleteObjectTagging",
    ("GET", False, "acl"): "GetObjectAcl",
    ("PUT", False, "acl"): "PutObjectAcl",
    ("HEAD", False, "objectMeta"): "GetObjectMeta",
    ("GET", False, "objectMeta"): "GetObjectMeta",
}
SPECIAL_SUBRESOURCES = frozenset(sub for _, _, sub in SPECIAL_ROUTES)


def _special_route(
    method: str, bucket: str | None, key: str | None, query: dict[str, str]
) -> str | None:
    subs = SPECIAL_SUBRESOURCES & set(query)
    if bucket is None or not subs:
        return None
    for sub in sorted(subs):
        op = SPECIAL_ROUTES.get((method, key is None, sub))
        if op is not None:
            return op
    raise ServiceError(
        "NotImplemented",
        f"{method} with the sub-resource {min(subs)!r} is not implemented by this emulator.",
    )


# Query parameters whose values are secrets: presigned-URL signatures and STS tokens.
SECRET_PARAMS = frozenset(
    {"signature", "x-oss-signature", "security-token", "x-oss-security-token"}
)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;\s\"'#?]+)=([^&;\s\"'#]*)")


def redact(text: str) -> str:
    """``text`` (a request line, a log message) with signature and token values REDACTED."""

    def one(m: re.Match[str]) -> str:
        if unquote_plus(m.group(2)).strip().lower() in SECRET_PARAMS and m.group(3):
            return f"{m.group(1)}{m.group(2)}=REDACTED"
        return m.group(0)

    return _QUERY_PAIR.sub(one, text)


class OSSRequestHandler(BaseHTTPRequestHandler):
    """One connection; serves requests until the client closes it (HTTP/1.1 keep-alive)."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK hold every answer with a body for ~40 ms on loopback
    disable_nagle_algorithm = True
    server_version = "AliyunOSS"
    sys_version = ""
    timeout = 300  # idle keep-alive connections do not keep a thread forever
    server: OSSHTTPServer

    # ----------------------------------------------------------------- plumbing

    def version_string(self) -> str:
        return "AliyunOSS"

    def date_time_string(self, timestamp: float | None = None) -> str:
        return http_date(self.server.app.clock.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), redact(format % args))

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                rest, budget = self.raw_requestline, 1024 * 1024
                while not rest.endswith(b"\n") and budget > 0:  # read the line out, then answer
                    rest = self.rfile.readline(65536)
                    budget -= len(rest)
                    if not rest:
                        break
                self.send_error(414, "The request line is too long.")
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._serve()
        except AbortConnection:
            self._reset()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, huge headers): still an OSS-shaped XML answer."""
        err = ServiceError(
            "InvalidArgument" if code < 500 else "InternalError",
            message or "The request is not valid HTTP.",
            status=code,
        )
        request_id = self.server.app.new_request_id()
        headers = getattr(self, "headers", None)
        body = error_document(err, request_id, headers.get("Host", "") if headers else "")
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-oss-request-id", request_id)
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        """Drop the connection with RST (linger 0), as a network failure would."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        except OSError:
            pass

    # ----------------------------------------------------------------- one request

    def _serve(self) -> None:
        app = self.server.app
        request_id = app.new_request_id()
        split = urlsplit(self.path)
        if split.path == "/_emulator" or split.path.startswith("/_emulator/"):
            from .admin import handle_admin, refuse_unless_control

            self._drain_plain()
            refused = refuse_unless_control(self.headers)
            if refused is not None:
                status, payload = refused
            else:
                status, payload = handle_admin(app, self.command, split.path, self._admin_body)
            self._send_bytes(status, {"Content-Type": "application/json"}, payload, request_id)
            return
        host = self.headers.get("Host", "")
        body = self._body_reader(app)
        head = self.command == "HEAD"
        fault: Fault | None = None
        operation = "Unknown"
        try:
            if body is None:
                raise ServiceError(
                    "InvalidArgument",
                    "Content-Length is not a valid number.",
                    headers={"Connection": "close"},
                )
            bucket, key, virtual = app.locate(host, split.path)
            pairs = parse_qsl(split.query, keep_blank_values=True)
            query: dict[str, str] = {}
            for name, value in pairs:
                query.setdefault(name, value)
            operation = route(
                self.command, bucket, key, query, self.headers.get("x-oss-copy-source") is not None
            )
            app.stats.count(operation)
            _check_names(bucket, key)
            get_all = self._get_all
            names = list(self.headers.keys())
            app.verifier.verify(SignedRequest(self.command, bucket, key, pairs, get_all, names))
            if app.faults.latency_ms:
                time.sleep(app.faults.latency_ms / 1000)
            fault = app.faults.pick(operation)
            if fault is not None:
                self._apply_fault(fault, body)
            req = Request(
                method=self.command,
                bucket=bucket,
                key=key,
                query=query,
                headers=get_all,
                header_names=names,
                host=host,
                virtual_host=virtual,
                request_id=request_id,
                body=body,
                now=app.clock.now(),
            )
            response = OPERATIONS[operation](app, req)
        except ServiceError as err:
            response = self._error(err, request_id, host, head, body)
        except AbortConnection:
            raise
        except (ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # a bug must not stop the server: answer InternalError
            log.exception("emulator: %s failed", operation)
            err = ServiceError("InternalError", f"Emulator error: {type(exc).__name__}")
            response = self._error(err, request_id, host, head, body)
        if fault is not None and fault.kind in ("lose_complete_response", "lose_response"):
            if response.reader is not None:
                response.reader.close()
            raise AbortConnection("fault injection: answer lost after the operation succeeded")
        if body is not None and not body.finished and "Connection" not in response.headers:
            if body.chunked or (body.length or 0) <= MAX_DRAIN:
                body.drain()
            else:
                response.headers["Connection"] = "close"
        half = fault is not None and fault.kind == "reset" and not (body and body.present)
        if fault is not None and fault.kind == "garbled" and response.status < 300:
            response = _garbled(response)
        self._send(response, request_id, head, reset_half=half)

    def _get_all(self, name: str) -> list[str]:
        return [wire_text(v) for v in self.headers.get_all(name) or []]

    def _body_reader(self, app: Emulator) -> BodyReader | None:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        raw_length = self.headers.get("Content-Length")
        length = None
        if raw_length is not None and "chunked" not in te:
            try:
                length = int(raw_length)
            except ValueError:
                length = -1
            if length < 0:
                self.close_connection = True
                return None
        return BodyReader(self.rfile, length, "chunked" in te, app.stats.received)

    def _apply_fault(self, fault: Fault, body: BodyReader) -> None:
        kind = fault.kind
        if kind == "slow":
            time.sleep(fault.delay_seconds)
        elif kind == "reset":
            if body.present:
                body.fail_after = max(1, (body.length or 2 * 1024 * 1024) // 2)
            elif self.command != "GET":
                raise AbortConnection("fault injection: reset before the answer")
        elif kind == "503":
            raise ServiceError("SlowDown", ec="0000-00000503")
        elif kind == "500":
            raise ServiceError("InternalError", ec="0000-00000500")
        elif kind not in ("lose_complete_response", "lose_response", "garbled"):
            raise ServiceError(kind)

    def _error(
        self, err: ServiceError, request_id: str, host: str, head: bool, body: BodyReader | None
    ) -> Response:
        self.server.app.stats.error(err.code)
        if err.status == 304:
            return Response(304, dict(err.headers))
        document = error_document(err, request_id, host)
        headers = error_headers(err, document, head=head)
        if err.headers.get("Connection") == "close" and body is not None and not body.finished:
            self.close_connection = True
        return Response(err.status, headers, b"" if head else document)

    # ----------------------------------------------------------------- answers

    def _send(
        self, resp: Response, request_id: str, head: bool, *, reset_half: bool = False
    ) -> None:
        try:
            self.send_response(resp.status)
            headers = dict(resp.headers)
            headers["x-oss-request-id"] = request_id
            if resp.reader is None and "Content-Length" not in headers:
                headers["Content-Length"] = str(len(resp.body))
            if headers.get("Connection") == "close":
                self.close_connection = True
            for name, value in headers.items():
                self.send_header(name, wire_value(value))
            self.end_headers()
            if head or resp.status in (204, 304):
                return
            if resp.reader is None:
                if reset_half and resp.body:
                    self.wfile.write(resp.body[: len(resp.body) // 2])
                    raise AbortConnection("fault injection: reset in the middle of the answer")
                self.wfile.write(resp.body)
                self.server.app.stats.sent(len(resp.body))
                return
            total = resp.end - resp.start + 1
            budget = total // 2 if reset_half else total
            for path, offset, count in resp.reader.ranges(resp.start, resp.end):
                count = min(count, budget)
                if count <= 0:
                    break
                with open(path, "rb") as fh:
                    sent = self.connection.sendfile(fh, offset, count)
                budget -= sent
                self.server.app.stats.sent(sent)
            if reset_half:
                raise AbortConnection("fault injection: reset in the middle of the answer")
        finally:
            if resp.reader is not None:
                resp.reader.close()

    def _send_bytes(
        self, status: int, headers: dict[str, str], body: bytes, request_id: str
    ) -> None:
        self._send(Response(status, headers, body), request_id, head=self.command == "HEAD")

    def _drain_plain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._admin_body = self.rfile.read(min(length, 1024 * 1024)) if length > 0 else b""
        if length > 1024 * 1024:
            self.close_connection = True


class OSSHTTPServer(ThreadingHTTPServer):
    """The listening socket; one thread per connection."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Emulator) -> None:
        self.app = app
        super().__init__(address, OSSRequestHandler)

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def build_server(host: str, port: int, app: Emulator) -> OSSHTTPServer:
    """Bind (port 0 picks a free one) and return the server, ready for ``serve_forever``."""
    return OSSHTTPServer((host, port), app)


__all__ = ["Emulator", "OSSHTTPServer", "build_server", "route"]


def _garbled(response: Response) -> Response:
    """The answer with its XML body cut in half (fault ``garbled``); object data is left alone."""
    if response.reader is not None or not response.body:
        return response
    body = response.body[: max(1, len(response.body) // 2)]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(response.status, headers, body, after_send=response.after_send)

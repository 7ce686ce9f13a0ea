"""The OSS wire format: XML documents built by hand so element order is exactly OSS's.

No namespace, ``.000Z`` dates (see clock.iso_date), quoted upper-case ETags, and error bodies with
Code, Message, RequestId, HostId, the per-error extras, EC and RecommendDoc in that order.
"""

from __future__ import annotations

import base64
from urllib.parse import quote
from xml.sax.saxutils import escape

from .errors import ServiceError

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


class Raw(str):
    """Already-serialised XML (is not escaped again)."""


def E(name: str, *parts: object) -> Raw:
    """``<name>parts</name>``; plain values are escaped, ``Raw`` parts are inserted as they are."""
    inner = "".join(p if isinstance(p, Raw) else escape("" if p is None else str(p)) for p in parts)
    return Raw(f"<{name}>{inner}</{name}>")


def document(root: Raw) -> bytes:
    return (XML_DECLARATION + root).encode("utf-8")


def url_encode(value: str) -> str:
    """``encoding-type=url``: everything but unreserved characters percent-encoded (``/`` too)."""
    return quote(value, safe="")


def quoted_etag(etag: str) -> str:
    return f'"{etag}"'


def error_document(err: ServiceError, request_id: str, host_id: str) -> bytes:
    """The Error body, laid out (with indentation) the way OSS sends it."""
    lines = [
        E("Code", err.code),
        E("Message", err.message),
        E("RequestId", request_id),
        E("HostId", host_id),
        *(E(name, value) for name, value in err.extras.items()),
        E("EC", err.ec),
        E("RecommendDoc", f"https://api.aliyun.com/troubleshoot?q={err.ec}"),
    ]
    body = "<Error>\n" + "".join(f"  {line}\n" for line in lines) + "</Error>\n"
    # "replace": a StringToSign may hold header bytes that are not UTF-8 (surrogate escapes)
    return (XML_DECLARATION + body).encode("utf-8", "replace")


def error_headers(err: ServiceError, body: bytes, *, head: bool) -> dict[str, str]:
    """Headers of an error answer; HEAD answers carry the XML base64-encoded in ``x-oss-err``."""
    headers = {"Content-Type": "application/xml", "x-oss-ec": err.ec, **err.headers}
    if head:
        headers["x-oss-err"] = base64.b64encode(body).decode("ascii")
    return headers

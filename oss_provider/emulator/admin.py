"""Unsigned control endpoints under ``/_emulator/`` (bucket names cannot contain ``_``).

POST /_emulator/faults       {"fail_next": N, "kind": ..., "operation": ..., "delay_seconds": ...}
                             or {"clear": true}, or {"rate": 0.1, "seed": 7, "operation": null} (random)
POST /_emulator/clock        {"offset_seconds": float}          GET: current offset and time
POST /_emulator/credentials  {"access_key_id", "access_key_secret", "security_token"}  add/replace
                             {"access_key_id", "expired": true|false}                expire/revive
                             {"access_key_id", "remove": true}                        remove
GET  /_emulator/stats        request counts per operation, errors, bytes; POST resets the counters
POST /_emulator/buckets      {"name": ...} create;  DELETE /_emulator/buckets/<name> force-delete
GET  /_emulator/health       {"ok": true}

Every control request must carry ``X-OSS-Emulator-Control: 1`` and must not look like it came
from a browser (no ``Origin`` header, ``Sec-Fetch-Site`` absent or ``none``); otherwise it is
answered 403. A web page cannot send a custom header cross-origin without a CORS preflight,
which these endpoints never grant, so a page the developer visits cannot drive the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .auth import Credential
from .errors import ServiceError

if TYPE_CHECKING:
    from .app import Emulator


CONTROL_HEADER = "X-OSS-Emulator-Control"
CONTROL_HEADERS = {CONTROL_HEADER: "1"}


def _json(status: int, payload: dict[str, Any]) -> tuple[int, bytes]:
    return status, json.dumps(payload).encode("utf-8")


def refuse_unless_control(headers: Mapping[str, str]) -> tuple[int, bytes] | None:
    """None when a control request may proceed; else a 403 answer saying what is needed.

    Refused: anything a browser sent (``Origin`` present, or ``Sec-Fetch-Site`` other than
    ``none``), and anything without ``X-OSS-Emulator-Control: 1``.
    """
    site = headers.get("Sec-Fetch-Site")
    needed = f"the header '{CONTROL_HEADER}: 1'"
    if headers.get("Origin") is not None:
        why = "an Origin header was sent"
    elif site is not None and site.strip().lower() != "none":
        why = f"Sec-Fetch-Site: {site.strip()[:40]}"
    elif (headers.get(CONTROL_HEADER) or "").strip() != "1":
        why = None
    else:
        return None
    if why is None:
        message = f"control endpoints need {needed} (and no Origin header)"
    else:
        message = f"control endpoints refuse browser requests ({why}); call them from a "
        message += f"non-browser client with {needed}"
    return _json(
        403,
        {
            "error": "Forbidden",
            "message": message,
            "required_header": f"{CONTROL_HEADER}: 1",
        },
    )


def handle_admin(app: Emulator, method: str, path: str, raw: bytes) -> tuple[int, bytes]:
    """Answer one admin request with (status, JSON body); bad input -> 400 with the reason."""
    try:
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise TypeError("the body must be a JSON object")
        return _dispatch(app, method, path.rstrip("/"), data)
    except (ValueError, TypeError, KeyError) as exc:
        return _json(400, {"error": f"{type(exc).__name__}: {exc}"})
    except ServiceError as exc:
        return _json(exc.status, {"error": exc.code, "message": exc.message})


def _dispatch(app: Emulator, method: str, path: str, data: dict[str, Any]) -> tuple[int, bytes]:
    if path == "/_emulator/health":
        return _json(200, {"ok": True})
    if path == "/_emulator/faults" and method == "POST":
        if data.get("clear"):
            app.faults.clear()
        elif "rate" in data:
            seed = data.get("seed")
            app.faults.set_rate(
                float(data["rate"]), None if seed is None else int(seed), data.get("operation")
            )
        else:
            app.faults.fail_next(
                int(data["fail_next"]),
                str(data["kind"]),
                data.get("operation"),
                float(data.get("delay_seconds", 2.0)),
            )
        return _json(200, {"pending": app.faults.pending()})
    if path == "/_emulator/clock":
        if method == "POST":
            app.clock.set_offset(float(data["offset_seconds"]))
        return _json(200, {"offset_seconds": app.clock.offset_seconds, "now": app.clock.now()})
    if path == "/_emulator/credentials" and method == "POST":
        ak = str(data["access_key_id"])
        if data.get("remove"):
            return _json(200, {"removed": app.credentials.remove(ak)})
        if "access_key_secret" in data:
            app.credentials.put(
                Credential(
                    ak,
                    str(data["access_key_secret"]),
                    data.get("security_token"),
                    bool(data.get("expired", False)),
                )
            )
            return _json(200, {"added": ak})
        if "expired" in data:
            if not app.credentials.expire(ak, bool(data["expired"])):
                raise KeyError(f"no credential with access_key_id {ak!r}")
            return _json(200, {"expired": bool(data["expired"])})
        raise ValueError("give access_key_secret (add), expired (expire) or remove")
    if path == "/_emulator/stats":
        if method == "POST":
            app.stats.reset()
        snap = app.stats.snapshot()
        snap["faults_injected"] = app.faults.injected
        snap["store"] = app.store.counts()
        return _json(200, snap)
    if path == "/_emulator/buckets" and method == "POST":
        app.store.create_bucket(str(data["name"]), app.clock.now())
        return _json(200, {"created": data["name"]})
    if path.startswith("/_emulator/buckets/") and method == "DELETE":
        name = path.rsplit("/", 1)[1]
        app.store.delete_bucket(name, force=True)
        return _json(200, {"deleted": name})
    return _json(404, {"error": f"unknown admin endpoint {method} {path}"})

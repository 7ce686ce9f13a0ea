"""A misbehaving HTTP proxy in front of the emulator, for the failure-model tests.

Run as ``python tests/_slow_proxy.py UPSTREAM_PORT RULES_JSON``; it binds 127.0.0.1 on a free
port, prints ``PORT <n>`` and serves until killed. It parses each request on a keep-alive client
connection (request line, headers, Content-Length body), and for the first rule whose ``method``
and ``query`` match (``query``: a substring of the request target; ``"!x"`` means x is absent)
it does the rule's ``action`` while the rule's ``count`` lasts (-1: always):

- ``swallow``: read the request and never answer (a peer that went silent);
- ``trickle``: forward it, then send the upstream answer one byte every ``interval`` seconds;
- ``slow_body``: read the request body ``chunk`` bytes every ``interval`` seconds, then forward;
- ``html``: answer ``status`` with an HTML page, as a load balancer does, without forwarding.

Anything else is forwarded as it is. Every request gets a fresh upstream connection.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

HTML = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"


class Rules:
    def __init__(self, rules: list[dict]) -> None:
        self.rules = rules
        self.lock = threading.Lock()

    def pick(self, method: str, target: str) -> dict | None:
        with self.lock:
            for rule in self.rules:
                if rule.get("method", method) != method or rule.get("count", -1) == 0:
                    continue
                query = rule.get("query", "")
                if query.startswith("!"):
                    if query[1:] in target:
                        continue
                elif query not in target:
                    continue
                if rule.get("count", -1) > 0:
                    rule["count"] -= 1
                return rule
        return None


def read_head(sock: socket.socket, buffer: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    del buffer[:end]
    return head


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def read_exact(sock: socket.socket, buffer: bytearray, size: int, rule: dict | None) -> bytes:
    slow = rule is not None and rule["action"] == "slow_body"
    while len(buffer) < size:
        want = rule.get("chunk", 1024) if slow else 65536
        chunk = sock.recv(want)
        if not chunk:
            raise ConnectionError("client went away")
        buffer += chunk
        if slow:
            time.sleep(rule.get("interval", 0.05))
    data = bytes(buffer[:size])
    del buffer[:size]
    return data


def forward(upstream_port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", upstream_port)) as up:
        up.sendall(request)
        buffer = bytearray()
        head = read_head(up, buffer)
        if head is None:
            raise ConnectionError("upstream closed")
        status = int(head.split(b" ", 2)[1])
        no_body = status in (204, 304) or request.startswith(b"HEAD ")
        body = b"" if no_body else read_exact(up, buffer, content_length(head), None)
        return head + body


def serve_client(client: socket.socket, upstream_port: int, rules: Rules) -> None:
    buffer = bytearray()
    with client:
        while True:
            head = read_head(client, buffer)
            if head is None:
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            rule = rules.pick(method, target)
            body = read_exact(client, buffer, content_length(head), rule)
            action = rule["action"] if rule else None
            if action == "swallow":
                while client.recv(65536):  # silent until the client gives up
                    pass
                return
            if action == "html":
                page = HTML
                status = rule.get("status", 502)
                client.sendall(
                    f"HTTP/1.1 {status} Bad Gateway\r\nContent-Type: text/html\r\n"
                    f"Content-Length: {len(page)}\r\n\r\n".encode()
                    + page
                )
                continue
            answer = forward(upstream_port, head + body)
            if action == "trickle":
                for i in range(len(answer)):
                    client.sendall(answer[i : i + 1])
                    time.sleep(rule.get("interval", 0.05))
            else:
                client.sendall(answer)


def main() -> None:
    upstream_port = int(sys.argv[1])
    rules = Rules(json.loads(sys.argv[2]))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader stays slow
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(
            target=_quietly, args=(serve_client, client, upstream_port, rules), daemon=True
        ).start()


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except (OSError, ConnectionError, ValueError):
        pass


if __name__ == "__main__":
    main()

"""A tiny recording stand-in for the Iron Cage REST API, for wire-format tests.

It implements the agent-facing contract (progress, events, checkpoints, checkpoint, status,
secrets), records every request verbatim, and can be told to fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

_ROUTE = re.compile(r"^/api/agents/(?P<agent>[^/]+)/(?P<what>progress|events|checkpoints|checkpoint|status|secrets|name)$")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


class FakeServer:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.checkpoints: dict[str, list[Any]] = {}
        # What GET .../secrets hands out (every agent gets the same), and whether the vault is locked.
        self.secrets: dict[str, Any] = {}
        self.vault_locked = False
        self.fail_status: int | None = None
        self.fail_remaining = 0
        self.delay_event: threading.Event | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self.fail_status, self.fail_remaining = status, count

    def posts(self, what: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and (what is None or r.path.endswith("/" + what))]

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                with server._changed:
                    server.requests.append(record)
                    server._changed.notify_all()
                gate = server.delay_event
                if gate is not None:
                    gate.wait(5)
                with server._changed:
                    failing = server.fail_remaining > 0
                    if failing:
                        server.fail_remaining -= 1
                        status = server.fail_status or 500
                if failing:
                    self._reply(status, {"error": {"code": "injected", "message": "injected failure"}})
                    return
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._reply(401, {"error": {"code": "unauthorized", "message": "bad token"}})
                    return
                match = _ROUTE.match(self.path)
                if not match:
                    self._reply(404, {"error": {"code": "not_found", "message": "no route"}})
                    return
                self._route(self.command, match["agent"], match["what"], raw)

            def _route(self, method: str, agent: str, what: str, raw: bytes) -> None:
                with server._changed:
                    server._seq += 1
                    seq = server._seq
                    saved = server.checkpoints.setdefault(agent, [])
                    if method == "POST" and what == "progress":
                        return self._reply(200, {"ok": True})
                    if method == "POST" and what == "name":
                        return self._reply(200, {"id": agent, "name": json.loads(raw)["name"]})
                    if method == "POST" and what == "events":
                        return self._reply(201, {"seq": seq})
                    if method == "POST" and what == "checkpoints":
                        saved.append(json.loads(raw)["state"])
                        server._changed.notify_all()
                        return self._reply(201, {"id": len(saved), "createdAt": "2024-01-01T00:00:00.000Z"})
                    if method == "GET" and what == "checkpoint":
                        if not saved:
                            return self._reply(404, {"error": {"code": "not_found", "message": "no checkpoint"}})
                        return self._reply(200, {"state": saved[-1], "createdAt": "2024-01-01T00:00:00.000Z", "id": len(saved)})
                    if method == "GET" and what == "secrets":
                        if server.vault_locked:
                            return self._reply(423, {"error": {"code": "vault_locked", "message": "no master key"}})
                        return self._reply(200, {"agentId": agent, "environment": "development",
                                                 "secrets": server.secrets})
                    if method == "GET" and what == "status":
                        return self._reply(200, {"id": agent, "name": "hello", "status": "running", "pid": 1,
                                                 "restarts": 0, "progress": {"done": 0, "total": None, "unit": "leads"},
                                                 "budget": None})
                self._reply(405, {"error": {"code": "method_not_allowed", "message": method}})

            do_GET = do_POST = _handle

        return Handler


def closed_port_url() -> str:
    """A URL nothing listens on: the port was just bound and released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def supervised_env(url: str, agent_id: str = "hl-7a3f9c2d", token: str = "test-token", restarts: int = 0):
    """The environment iron-cage gives an agent, with the SDK's process runtime reset around it."""
    from iron_cage import _registry

    env = {"IRON_CAGE_URL": url, "IRON_CAGE_AGENT_ID": agent_id, "IRON_CAGE_TOKEN": token,
           "IRON_CAGE_RESTARTS": str(restarts)}
    _registry.reset()
    try:
        with mock.patch.dict(os.environ, env):
            yield
    finally:
        _registry.reset()


@contextlib.contextmanager
def standalone_env():
    """No iron-cage variables, and a fresh process runtime."""
    from iron_cage import _registry

    _registry.reset()
    try:
        with mock.patch.dict(os.environ):
            for name in ("IRON_CAGE_URL", "IRON_CAGE_AGENT_ID", "IRON_CAGE_TOKEN", "IRON_CAGE_RESTARTS"):
                os.environ.pop(name, None)
            yield
    finally:
        _registry.reset()


def wait_until(predicate, timeout=5.0):
    """Poll until predicate() is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)

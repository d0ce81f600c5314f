"""The agent's external API calls, through iron-cage's tool proxy.

Under ``iron-cage start`` every configured service (``tools.<service>`` in the config file) is
reachable as ``/tools/<service>/...`` on the iron-cage server. The proxy adds the service's API
keys, guards it with a circuit breaker and answers from its cache or a placeholder while the
service is down; the response says which tier answered::

    from iron_cage import tools

    r = tools.get("linkedin", "/people", params={"company": "Acme"})
    if r.breaker_open:
        print("LinkedIn is resting; this answer came from", r.tier)   # "cache" or "placeholder"
    people = r.json()

Like ``requests``, an error status does not raise by itself: call ``r.raise_for_status()``,
which raises CircuitOpenError when the circuit is open and nothing could stand in for the
service, PiiBlockedError when the safety policy refused the answer, PolicyDeniedError when a
tool policy refused the call (or a person denied it), ToolError otherwise.

A call a policy rule holds for a person's approval (``policies:`` in the config) waits for the
decision; the client's default timeout (15 minutes) outlasts the default approval timeout (10).
To ask before doing the work, ``request_approval`` takes the same arguments and waits::

    a = tools.request_approval("crm", "/deals", method="POST", json={"amount": 5000}, note="closing Acme")
    if a.approved:
        tools.post("crm", "/deals", json={"amount": 5000})   # goes through at once: approved ahead
"""

from __future__ import annotations

import http.client
import json as _json
import re
import select
import socket
import threading
import time
import urllib.parse
from typing import Any, Iterator, Mapping

from ._settings import Settings
from .errors import CircuitOpenError, IronCageError, PiiBlockedError, PolicyDeniedError

__all__ = [
    "Approval",
    "ToolConnectionError",
    "ToolError",
    "ToolResponse",
    "ToolsClient",
    "client",
    "delete",
    "get",
    "head",
    "patch",
    "post",
    "put",
    "request",
    "request_approval",
]

USER_AGENT = "iron-cage-python/0.1.0"
TIERS = ("live", "cache", "placeholder", "failed")
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE"))
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Characters a path may keep as written: everything legal in a path, '%' so escapes survive.
_PATH_SAFE = "/%:@!$&'()*+,;=~-._"
_POLICY_CODES = frozenset(("policy_denied", "approval_denied", "approval_expired"))
# A held call waits for a person (policies' default timeout: 10 minutes); the proxy bounds every
# upstream call itself (tools.<service>.timeout_s), so this only guards against a hung iron-cage.
DEFAULT_TIMEOUT_S = 900.0
# One long poll for a decision: under the server's 30 s limit.
_POLL_S = 25


class ToolError(IronCageError):
    """The tool call failed: the proxy refused it, or the service failed with nothing to fall back on."""

    def __init__(self, status: int | None, code: str, message: str, response: "ToolResponse | None" = None):
        self.status = status
        self.code = code
        self.response = response
        super().__init__(f"{status} {code}: {message}" if status is not None else f"{code}: {message}")


class ToolConnectionError(ToolError):
    """The iron-cage server itself could not be reached."""

    def __init__(self, message: str):
        super().__init__(None, "connection_error", message)


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively; repeated headers are joined with ', '."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr({name: value for name, value in self._items.values()})


class ToolResponse:
    """One answer from the tool proxy, whichever tier produced it."""

    def __init__(self, service: str, method: str, path: str, status: int, headers: Headers, content: bytes):
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers
        self.content = content

    @property
    def status_code(self) -> int:
        """Alias of ``status`` for code written against ``requests``."""
        return self.status

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    @property
    def text(self) -> str:
        match = re.search(r"charset=([\w.-]+)", self.headers.get("content-type", ""), re.I)
        try:
            return self.content.decode(match.group(1) if match else "utf-8", errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content.decode("utf-8")) if self.content else None

    @property
    def tier(self) -> str | None:
        """``live``, ``cache`` or ``placeholder`` for an answer; ``failed`` when no tier had one;
        None when the proxy refused the call before trying (bad path, unknown service, ...)."""
        value = self.headers.get("x-iron-cage-tier")
        return value if value in TIERS else None

    @property
    def from_fallback(self) -> bool:
        """The service did not answer this call; the cache or the placeholder did."""
        return self.tier in ("cache", "placeholder")

    @property
    def breaker(self) -> str | None:
        """``open`` or ``half-open`` when the circuit kept this call from the service, else None."""
        return self.headers.get("x-iron-cage-breaker")

    @property
    def breaker_open(self) -> bool:
        return self.breaker is not None

    @property
    def fallback_reason(self) -> str | None:
        """Why a fallback answered: ``circuit_open``, ``half_open_busy`` or ``upstream_failure``."""
        return self.headers.get("x-iron-cage-fallback-reason")

    @property
    def cached_at(self) -> str | None:
        """For a cached answer: when the live answer was stored (ISO 8601)."""
        return self.headers.get("x-iron-cage-cached-at")

    @property
    def retry_after(self) -> float | None:
        """Seconds until the service may be tried again, when the proxy or the service said so."""
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None

    @property
    def error(self) -> dict | None:
        """The proxy's ``{"code", "message"}`` for an iron-cage error, else None."""
        if self.status < 400 or "json" not in self.headers.get("content-type", ""):
            return None
        try:
            body = self.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, dict) and "code" in error else None

    def raise_for_status(self) -> "ToolResponse":
        if self.ok:
            return self
        error = self.error or {}
        code = str(error.get("code") or f"http_{self.status}")
        message = str(error.get("message") or f"{self.service} answered {self.status}")
        if code == "circuit_open":
            raise CircuitOpenError(self.service, self.retry_after)
        if code == "pii_blocked":
            raise PiiBlockedError(self.headers.get("x-iron-cage-pii", "PII"), message)
        if code in _POLICY_CODES:
            raise PolicyDeniedError(code, message)
        raise ToolError(self.status, code, message, self)

    def __repr__(self) -> str:
        extra = f" breaker={self.breaker}" if self.breaker else ""
        return f"<ToolResponse {self.service} {self.method} {self.path} {self.status} tier={self.tier}{extra}>"


class ToolsClient:
    """Talks to one iron-cage server. Connections are kept alive, one per thread."""

    def __init__(self, url: str, token: str | None, timeout: float = DEFAULT_TIMEOUT_S):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"iron-cage URL must be http(s)://host:port, got {url!r}")
        self.url = url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        # Kept off repr: printing the client must not leak the agent's token.
        self._token = token
        self.timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"ToolsClient({self.url!r})"

    def request(
        self,
        method: str,
        service: str,
        path: str = "/",
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
        data: bytes | str | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> ToolResponse:
        if not isinstance(service, str) or not _SERVICE.match(service):
            raise ValueError(f"not a service name: {service!r}")
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        target = self._target(service, path, params)
        send_headers = {"User-Agent": USER_AGENT, "Accept": "application/json, */*;q=0.5"}
        body: bytes | None = None
        if json is not None:
            body = _json.dumps(json, separators=(",", ":")).encode("utf-8")
            send_headers["Content-Type"] = "application/json"
        elif isinstance(data, Mapping):
            body = urllib.parse.urlencode(data, doseq=True).encode("ascii")
            send_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif isinstance(data, str):
            body = data.encode("utf-8")
        elif data is not None:
            body = bytes(data)
        for name, value in (headers or {}).items():
            if name.lower() in ("authorization", "x-api-key"):
                # The proxy would drop it anyway: the service's credentials live in iron-cage's config.
                raise ValueError(f"{name} is iron-cage's; put the service's credentials in tools.{service}.headers")
            send_headers[name] = value
        if self._token:
            send_headers["Authorization"] = f"Bearer {self._token}"
        status, pairs, content = self._send(method.upper(), target, body, send_headers, timeout or self.timeout)
        return ToolResponse(service, method.upper(), path, status, Headers(pairs), content)

    def get(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("GET", service, path, **kwargs)

    def post(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("POST", service, path, **kwargs)

    def put(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("PUT", service, path, **kwargs)

    def patch(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("PATCH", service, path, **kwargs)

    def delete(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("DELETE", service, path, **kwargs)

    def head(self, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
        return self.request("HEAD", service, path, **kwargs)

    def request_approval(
        self,
        service: str,
        path: str = "/",
        *,
        method: str = "POST",
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        mcp_tool: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        note: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> "Approval":
        """Ask the cage's policy ahead of a call: the same call made after an approval goes through at once.

        For an HTTP tool give the call as you will make it (``service``, ``path``, ``method``,
        ``json``/``params``); for an MCP tool, ``service`` is the server and ``mcp_tool`` its tool,
        with ``arguments``. Returns at once when no rule holds the call (``approved`` and not
        ``needed``); otherwise waits for a person (``wait=False``: returns the pending request,
        ``a.wait()`` later). A rule that refuses the call outright raises PolicyDeniedError.
        """
        if not isinstance(service, str) or not _SERVICE.match(service):
            raise ValueError(f"not a service name: {service!r}")
        body: dict[str, Any] = {"service": service}
        if mcp_tool is not None:
            body.update(mcp=True, tool=mcp_tool, args=dict(arguments or {}))
        else:
            args: dict[str, Any] = {}
            if json is not None:
                if not isinstance(json, Mapping):
                    raise ValueError("json must be a mapping (the body's fields are what a policy reads)")
                args.update(json)
            for k, v in (params or {}).items():
                args.setdefault(k, v)
            body.update(tool=path or "/", method=method.upper(), args=args)
        if note is not None:
            body["note"] = note
        status, answer = self._api("POST", "/api/approvals", body, timeout)
        if status == 403 and answer.get("error", {}).get("code") in _POLICY_CODES:
            err = answer["error"]
            raise PolicyDeniedError(err["code"], err.get("message", "refused by policy"))
        if status not in (200, 201):
            err = answer.get("error") or {}
            raise ToolError(status, str(err.get("code") or f"http_{status}"), str(err.get("message") or f"POST /api/approvals answered {status}"))
        if answer.get("decision") == "allow":
            return Approval(self, None, {"status": "not_needed", "rule": answer.get("rule")})
        approval = Approval(self, answer["approval"]["id"], answer["approval"])
        return approval.wait(timeout) if wait else approval

    def _api(self, method: str, target: str, body: Any, timeout: float | None) -> tuple[int, dict]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        data = None
        if body is not None:
            data = _json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        status, _pairs, content = self._send(method, self._prefix + target, data, headers, timeout or self.timeout)
        try:
            parsed = _json.loads(content.decode("utf-8")) if content else {}
        except ValueError:
            parsed = {}
        return status, parsed if isinstance(parsed, dict) else {}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _target(self, service: str, path: str, params: Any) -> str:
        path = path or "/"
        query = ""
        if "?" in path:
            path, query = path.split("?", 1)
        quoted = urllib.parse.quote(path.lstrip("/"), safe=_PATH_SAFE)
        if params:
            extra = urllib.parse.urlencode(params, doseq=True)
            query = f"{query}&{extra}" if query else extra
        return f"{self._prefix}/tools/{service}/{quoted}" + (f"?{query}" if query else "")

    def _connection(self, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _dropped(conn.sock):
            # The server closed the idle socket (its keep-alive timer); do not send into it.
            self.close()
            conn = None
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            return conn, True
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=timeout)
        self._local.conn = conn
        return conn, False

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str], timeout: float):
        for attempt in (1, 2):
            conn, reused = self._connection(timeout)
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                content = resp.read()
                pairs = resp.getheaders()
                if resp.will_close:
                    self.close()
                return resp.status, pairs, content
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                # A kept-alive socket that died between the check and the send: try once more
                # on a fresh one, but only where a repeat cannot do something twice.
                if reused and attempt == 1 and method in _IDEMPOTENT:
                    continue
                raise ToolConnectionError(f"{method} {self.url}{target.split('?')[0]}: {type(exc).__name__}: {exc}") from None
            except (OSError, socket.timeout, http.client.HTTPException) as exc:
                self.close()
                raise ToolConnectionError(f"{method} {self.url}{target.split('?')[0]}: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")


class Approval:
    """An approval asked ahead: ``status`` is ``not_needed`` (no rule holds the call), ``pending``,
    ``approved``, ``denied``, ``expired`` or ``withdrawn``; ``approved`` is true when the call may go."""

    def __init__(self, client: ToolsClient, approval_id: str | None, view: Mapping[str, Any]):
        self._client = client
        self.id = approval_id
        self._view = dict(view)

    @property
    def status(self) -> str:
        return str(self._view.get("status"))

    @property
    def approved(self) -> bool:
        return self.status in ("approved", "not_needed")

    @property
    def needed(self) -> bool:
        return self.status != "not_needed"

    @property
    def decided_by(self) -> str | None:
        return self._view.get("decidedBy")

    @property
    def reason(self) -> str | None:
        return self._view.get("reason")

    @property
    def rule(self) -> str | None:
        return self._view.get("rule")

    def wait(self, timeout: float | None = None) -> "Approval":
        """Wait for the decision (at most ``timeout`` seconds, else until the approval's own deadline)."""
        if self.id is None:
            return self
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.status == "pending":
            left = _POLL_S if deadline is None else min(_POLL_S, max(0.0, deadline - time.monotonic()))
            status, view = self._client._api("GET", f"/api/approvals/{urllib.parse.quote(self.id)}?wait={int(left)}", None, left + 30)
            if status != 200:
                err = view.get("error") or {}
                raise ToolError(status, str(err.get("code") or f"http_{status}"), str(err.get("message") or f"GET /api/approvals/{self.id} answered {status}"))
            self._view = view
            if deadline is not None and time.monotonic() >= deadline:
                break
        return self

    def __repr__(self) -> str:
        return f"<Approval {self.id or '-'} {self.status}>"


def _dropped(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed (or sent garbage) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


_lock = threading.Lock()
_client: ToolsClient | None = None
_client_key: tuple[str | None, str | None] | None = None


def client() -> ToolsClient:
    """The process's client, from IRON_CAGE_URL and IRON_CAGE_TOKEN (set by ``iron-cage start``)."""
    global _client, _client_key
    settings = Settings.from_env()
    key = (settings.url, settings.token)
    with _lock:
        if _client is not None and _client_key == key:
            return _client
        if not settings.url:
            raise ToolError(
                None,
                "not_supervised",
                "iron_cage.tools reaches external services through iron-cage: run the agent with "
                "`iron-cage start` (IRON_CAGE_URL is not set)",
            )
        if _client is not None:
            _client.close()
        _client = ToolsClient(settings.url, settings.token)
        _client_key = key
        return _client


def _reset() -> None:
    """Forget the process's client (tests switch environments)."""
    global _client, _client_key
    with _lock:
        if _client is not None:
            _client.close()
        _client, _client_key = None, None


def request(method: str, service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    return client().request(method, service, path, **kwargs)


def get(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    """GET ``path`` of ``service``; ``params=`` become the query string."""
    return client().request("GET", service, path, **kwargs)


def post(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    """POST to ``path`` of ``service``; ``json=`` sends a JSON body, ``data=`` bytes, text or a form."""
    return client().request("POST", service, path, **kwargs)


def put(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    return client().request("PUT", service, path, **kwargs)


def patch(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    return client().request("PATCH", service, path, **kwargs)


def delete(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    return client().request("DELETE", service, path, **kwargs)


def head(service: str, path: str = "/", **kwargs: Any) -> ToolResponse:
    return client().request("HEAD", service, path, **kwargs)


def request_approval(service: str, path: str = "/", **kwargs: Any) -> Approval:
    """Ask the cage's policy ahead of a call and wait for a person if a rule says so (see ToolsClient.request_approval)."""
    return client().request_approval(service, path, **kwargs)

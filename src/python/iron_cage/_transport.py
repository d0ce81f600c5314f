"""HTTP to the Iron Cage server with urllib, and nothing that could leak the token."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from .errors import IronCageError

USER_AGENT = "iron-cage-python/0.1.0"


class TransportError(Exception):
    """The server could not be reached or did not answer in time."""


class ApiError(IronCageError):
    """The server answered with an error status."""

    def __init__(self, status: int, code: str, message: str):
        self.status = status
        self.code = code
        super().__init__(f"{status} {code}: {message}")

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status in (408, 429)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would hand the bearer token to wherever it points.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


class Transport:
    def __init__(self, base_url: str, token: str | None, timeout: float = 2.0):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        # The server is local (or named explicitly), so proxy variables meant for the agent's
        # own traffic must not reroute it.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())

    def scrub(self, text: str) -> str:
        """Replace the agent's own token if it turns up in outgoing data (e.g. a dumped environment)."""
        # Short strings would match ordinary words; real tokens are long.
        if self._token and len(self._token) >= 16 and self._token in text:
            return text.replace(self._token, "[REDACTED]")
        return text

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return resp.status, _parse(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                payload = _parse(exc.read())
            except (OSError, http.client.HTTPException):
                payload = None
            finally:
                exc.close()
            error = payload.get("error") if isinstance(payload, dict) else None
            if not isinstance(error, dict):
                error = {}
            raise ApiError(
                exc.code,
                str(error.get("code") or "http_error"),
                str(error.get("message") or exc.reason or "request failed"),
            ) from None
        except urllib.error.URLError as exc:
            raise TransportError(f"{method} {self.base_url}{path}: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise TransportError(f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}") from None

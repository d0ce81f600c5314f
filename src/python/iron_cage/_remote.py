"""The runtime an agent gets under `iron-cage start`: telemetry and checkpoints go to the server."""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import urllib.parse
from typing import Any

from . import _payloads
from ._sender import CHECKPOINT, EVENT, PROGRESS, Item, Sender, Waiter
from ._settings import Settings
from ._transport import ApiError, Transport, TransportError

logger = logging.getLogger("iron_cage")


class RemoteRuntime:
    remote = True

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 2.0,
        checkpoint_wait: float = 5.0,
        flush_timeout: float = 2.0,
        restore_attempts: int = 3,
        **sender_options: Any,
    ) -> None:
        """`sender_options` go to the background Sender as they are (buffer_size,
        failure_threshold, retry_delay, backoff_initial, backoff_max), which checks them."""
        if not settings.supervised:
            raise ValueError("RemoteRuntime needs IRON_CAGE_URL and IRON_CAGE_AGENT_ID")
        self.agent_id: str = settings.agent_id  # type: ignore[assignment]
        self.name: str | None = None
        self.budget: float | None = None
        self.restarts = settings.restarts
        self.url = settings.url
        self._transport = Transport(settings.url, settings.token, timeout)  # type: ignore[arg-type]
        self._sender = Sender(self._transport, **sender_options)
        self._base = "/api/agents/" + urllib.parse.quote(self.agent_id, safe="")
        self._checkpoint_wait = checkpoint_wait
        self._flush_timeout = flush_timeout
        self._restore_attempts = max(1, restore_attempts)
        self._lock = threading.Lock()
        self._local_state: str | None = None
        self._progress: dict | None = None
        self._closed = False
        if not settings.token:
            logger.warning("IRON_CAGE_TOKEN is not set; the Iron Cage server will refuse this agent's updates")
        atexit.register(self.close)

    @property
    def sender(self) -> Sender:
        return self._sender

    def _body(self, obj: Any) -> bytes:
        return self._transport.scrub(_payloads.dumps(obj)).encode("utf-8")

    def report_progress(
        self, done: int, total: int | None = None, unit: str = "leads", succeeded: int | None = None, failed: int | None = None
    ) -> None:
        body = _payloads.progress_body(done, total, unit, succeeded, failed)
        with self._lock:
            body = self._progress = _payloads.carry_outcomes(self._progress, body)
            self._sender.submit(Item(PROGRESS, self._base + "/progress", self._body(body)))

    def event(self, message: str, severity: str = "info", **data: Any) -> None:
        body = _payloads.event_body(message, severity, data)
        self._sender.submit(Item(EVENT, self._base + "/events", self._body(body)))

    def checkpoint(self, obj: Any) -> int | None:
        """Send the state and wait for the server; return its checkpoint id, or None if it is only kept locally."""
        encoded = _payloads.encode_state(obj)
        with self._lock:
            self._local_state = encoded
        body = self._transport.scrub('{"state":' + encoded + "}").encode("utf-8")
        if self._sender.is_down:
            # The outage was already reported once; the state is queued for when it ends.
            self._sender.submit(Item(CHECKPOINT, self._base + "/checkpoints", body))
            logger.debug("checkpoint kept in memory while the Iron Cage server is unreachable")
            return None
        waiter = Waiter()
        self._sender.submit(Item(CHECKPOINT, self._base + "/checkpoints", body, waiter))
        if not waiter.wait(self._checkpoint_wait):
            logger.warning(
                "Iron Cage server did not confirm a checkpoint within %.1fs; it is kept in memory and still queued",
                self._checkpoint_wait,
            )
            return None
        if waiter.outcome == Waiter.OK and isinstance(waiter.payload, dict):
            ident = waiter.payload.get("id")
            return ident if isinstance(ident, int) else None
        return None

    def restore(self, default: Any = None) -> Any:
        with self._lock:
            local = self._local_state
        # This process's own latest checkpoint is at least as new as the server's copy.
        if local is not None:
            return json.loads(local)
        problem: Exception | None = None
        for attempt in range(self._restore_attempts):
            if attempt:
                time.sleep(0.25 * attempt)
            try:
                _status, payload = self._transport.request("GET", self._base + "/checkpoint")
            except ApiError as exc:
                if exc.status == 404:
                    return default
                problem = exc
                if not exc.retryable:
                    break
                continue
            except TransportError as exc:
                problem = exc
                continue
            if isinstance(payload, dict) and "state" in payload:
                return payload["state"]
            problem = ValueError("the server's checkpoint answer has no state")
            break
        logger.warning("Could not fetch the last checkpoint from Iron Cage (%s); starting from the default", problem)
        return default

    def status(self) -> dict | None:
        try:
            _status, payload = self._transport.request("GET", self._base + "/status")
        except (ApiError, TransportError) as exc:
            logger.warning("Could not fetch the agent status from Iron Cage (%s)", exc)
            return None
        return payload if isinstance(payload, dict) else None

    def flush(self, timeout: float | None = None) -> bool:
        return self._sender.flush(self._flush_timeout if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        lost = self._sender.close(self._flush_timeout if timeout is None else timeout)
        if lost:
            logger.warning("%d Iron Cage updates could not be delivered before exit", lost)

    def _declare(self, budget: float | None, name: str | None) -> None:
        # Under iron-cage the limit is whatever `iron-cage start --budget` set; the declared value
        # is kept for the agent's own information only.
        if self.budget is None:
            self.budget = budget
        if self.name is None:
            self.name = name
            # Told to iron-cage once, for the run summary and the dashboard: shown, never the
            # agent's identity there (budgets and tokens match the name it was started with).
            if name:
                self._sender.submit(Item(EVENT, self._base + "/name", self._body({"name": str(name)[:64]})))

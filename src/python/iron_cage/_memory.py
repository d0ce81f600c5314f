"""Runtimes that keep everything in this process: the standalone fallback and the test double's base."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections import deque
from typing import Any

from . import _payloads

logger = logging.getLogger("iron_cage")

_MICROS = 1_000_000


class MemoryRuntime:
    """Validates exactly like the remote runtime, then records instead of sending."""

    remote = False

    def __init__(
        self,
        *,
        agent_id: str,
        name: str | None = None,
        budget: float | None = None,
        restarts: int = 0,
        max_events: int | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.name = name
        self.restarts = restarts
        self._budget_micros = None if budget is None else to_micros(budget)
        self._spent_micros = 0
        self._lock = threading.RLock()
        self.progress_reports: list[dict] = []
        self._progress: dict | None = None
        self.events: deque[dict] | list[dict] = deque(maxlen=max_events) if max_events else []
        self._checkpoint_json: str | None = None
        self._checkpoint_seq = 0

    @property
    def budget(self) -> float | None:
        return None if self._budget_micros is None else self._budget_micros / _MICROS

    @property
    def spent_usd(self) -> float:
        return self._spent_micros / _MICROS

    @property
    def progress(self) -> dict | None:
        """The latest progress report, as the server would show it (outcomes carried over from
        an earlier report when this one left them out)."""
        with self._lock:
            return None if self._progress is None else dict(self._progress)

    def report_progress(
        self, done: int, total: int | None = None, unit: str = "leads", succeeded: int | None = None, failed: int | None = None
    ) -> None:
        body = _payloads.progress_body(done, total, unit, succeeded, failed)
        with self._lock:
            self._progress = _payloads.carry_outcomes(self._progress, body)
            self.progress_reports.append(body)
            self._on_progress(body)

    def event(self, message: str, severity: str = "info", **data: Any) -> None:
        body = _payloads.event_body(message, severity, data)
        with self._lock:
            self.events.append(body)
            self._on_event(body)

    def checkpoint(self, obj: Any) -> int:
        encoded = _payloads.encode_state(obj)
        with self._lock:
            self._checkpoint_seq += 1
            self._checkpoint_json = encoded
            self._on_checkpoint(encoded)
            return self._checkpoint_seq

    def restore(self, default: Any = None) -> Any:
        with self._lock:
            encoded = self._checkpoint_json
        # A fresh decode each time, like a real restore: the caller may mutate what it gets.
        return default if encoded is None else json.loads(encoded)

    def status(self) -> dict:
        with self._lock:
            progress = self.progress or {"done": 0, "total": None, "unit": "leads"}
            budget = None
            if self._budget_micros is not None:
                budget = {"limitUsd": self.budget, "spentUsd": self.spent_usd, "reservedUsd": 0.0}
            return {
                "id": self.agent_id,
                "name": self.name,
                "status": "running",
                "pid": os.getpid(),
                "restarts": self.restarts,
                "progress": progress,
                "budget": budget,
            }

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        pass

    def _declare(self, budget: float | None, name: str | None) -> None:
        # A limit the runtime was created with wins over one declared by the agent's code.
        with self._lock:
            if self._budget_micros is None and budget is not None:
                self._budget_micros = to_micros(budget)
            if self.name is None:
                self.name = name

    def _on_progress(self, body: dict) -> None:
        pass

    def _on_event(self, body: dict) -> None:
        pass

    def _on_checkpoint(self, encoded: str) -> None:
        pass


def to_micros(usd: float, what: str = "budget") -> int:
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not usd >= 0:
        raise ValueError(f"{what} must be a non-negative number of US dollars, got {usd!r}")
    return round(usd * _MICROS)


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class LocalRuntime(MemoryRuntime):
    """Used when the agent runs without iron-cage: nothing is enforced, nothing leaves the process."""

    def __init__(self, *, name: str | None = None, budget: float | None = None) -> None:
        # Long standalone runs must not grow without bound.
        super().__init__(
            agent_id=f"local-{secrets.token_hex(4)}", name=name, budget=budget, max_events=1000
        )

    def _on_progress(self, body: dict) -> None:
        # Only the latest matters locally; keeping every report would be a slow leak.
        del self.progress_reports[:-1]

    def _on_event(self, body: dict) -> None:
        logger.log(_LEVELS[body["severity"]], "%s", body["message"])

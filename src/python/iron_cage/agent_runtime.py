"""`with AgentRuntime(...) as rt:`: a block of code run under the cage (as `@protect_agent` runs a function)."""

from __future__ import annotations

import asyncio
import logging
import traceback
from types import TracebackType
from typing import Any

from . import _registry
from .errors import IronCageError

logger = logging.getLogger("iron_cage")


class AgentRuntime:
    """Binds the block to the Iron Cage runtime and cleans up when it ends.

    Under `iron-cage start` it talks to the supervising server; run standalone it uses an
    in-memory runtime and warns once that nothing is enforced. Inside a MockRuntime (or
    another AgentRuntime) it joins that one, so decorated agents can be unit-tested.

    On exit it reports an exception as an error event, delivers what is still queued (for at
    most flush_timeout seconds) and lets the exception propagate unchanged.

    budget, pii_detection and circuit_breaker declare what the agent expects. Under
    iron-cage the server's settings (`--budget`, `--safety-mode`) are what is enforced.
    name is told to iron-cage once: its run summary and dashboard call the agent by it (budgets
    and tokens keep matching the name it was started with).
    """

    def __init__(
        self,
        budget: float | None = None,
        name: str | None = None,
        *,
        pii_detection: bool = True,
        circuit_breaker: bool = True,
        flush_timeout: float = 2.0,
    ) -> None:
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget < 0):
            raise ValueError(f"budget must be a non-negative number of US dollars, got {budget!r}")
        self.budget = None if budget is None else float(budget)
        self.name = name
        self.pii_detection = pii_detection
        self.circuit_breaker = circuit_breaker
        self._flush_timeout = flush_timeout
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        """The runtime calls go to: the bound one inside the block, the current one outside it."""
        return self._backend if self._backend is not None else _registry.current()

    @property
    def agent_id(self) -> str:
        return self.backend.agent_id

    @property
    def remote(self) -> bool:
        return bool(self.backend.remote)

    @property
    def restarts(self) -> int:
        return self.backend.restarts

    def report_progress(
        self, done: int, total: int | None = None, unit: str = "leads", succeeded: int | None = None, failed: int | None = None
    ) -> None:
        self.backend.report_progress(done, total, unit, succeeded, failed)

    def event(self, message: str, severity: str = "info", **data: Any) -> None:
        self.backend.event(message, severity, **data)

    def checkpoint(self, obj: Any) -> int | None:
        return self.backend.checkpoint(obj)

    def restore(self, default: Any = None) -> Any:
        return self.backend.restore(default)

    def status(self) -> dict | None:
        return self.backend.status()

    def flush(self, timeout: float | None = None) -> bool:
        return self.backend.flush(self._flush_timeout if timeout is None else timeout)

    def __enter__(self) -> "AgentRuntime":
        if self._backend is not None:
            raise IronCageError("this AgentRuntime is already active; create a new one to nest")
        backend = _registry.current()
        backend._declare(self.budget, self.name)
        _registry.push(backend)
        self._backend = backend
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        backend = self._backend
        try:
            if exc is not None:
                _report_exception(backend, exc)
            backend.flush(self._flush_timeout)
        except Exception:
            # Cleanup trouble must never replace the agent's own exception or result.
            logger.debug("Iron Cage cleanup failed", exc_info=True)
        finally:
            _registry.pop(backend)
            self._backend = None
        return False

    async def __aenter__(self) -> "AgentRuntime":
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        return self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        state = "active" if self._backend is not None else "inactive"
        return f"<AgentRuntime {state} budget={self.budget!r} name={self.name!r}>"


def _report_exception(backend: Any, exc: BaseException) -> None:
    if isinstance(exc, SystemExit):
        if exc.code in (0, None):
            return
        if isinstance(exc.code, int):
            backend.event(f"Agent exited with code {exc.code}", "error", exitCode=exc.code)
        else:
            backend.event(f"Agent exited: {exc.code}", "error", exitCode=1)
        return
    if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
        backend.event(f"Agent {'interrupted' if isinstance(exc, KeyboardInterrupt) else 'cancelled'}", "warn")
        return
    kind = type(exc).__qualname__
    text = str(exc)
    data: dict[str, Any] = {"exception": f"{type(exc).__module__}.{kind}"}
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        data["location"] = f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}"
    backend.event(f"{kind}: {text}" if text else kind, "error", **data)

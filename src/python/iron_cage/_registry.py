"""Which runtime module-level calls go to.

A process-wide stack rather than contextvars: an agent's worker threads must report to the
same runtime as the code that started them, and new threads do not inherit contextvars.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._memory import LocalRuntime
from ._remote import RemoteRuntime
from ._settings import Settings

logger = logging.getLogger("iron_cage")

_lock = threading.RLock()
_stack: list[Any] = []
_default: Any = None


def current() -> Any:
    with _lock:
        return _stack[-1] if _stack else default()


def installed() -> Any:
    """The runtime a block put in effect (MockRuntime, AgentRuntime), without creating the default."""
    with _lock:
        return _stack[-1] if _stack else None


def default() -> Any:
    """The process's own runtime: remote under iron-cage, else a local one (announced once)."""
    global _default
    with _lock:
        if _default is None:
            _default = _create_default()
        return _default


def _create_default() -> Any:
    settings = Settings.from_env()
    if settings.supervised:
        return RemoteRuntime(settings)
    if settings.url:
        logger.warning("IRON_CAGE_URL is set but IRON_CAGE_AGENT_ID is not; ignoring the server")
    logger.warning(
        "Iron Cage: running standalone; budget, PII and circuit-breaker protections are NOT active "
        "(run the agent with `iron-cage start` to enable them)"
    )
    return LocalRuntime()


def push(runtime: Any) -> None:
    with _lock:
        _stack.append(runtime)


def pop(runtime: Any) -> None:
    with _lock:
        # Usually the top; a runtime exited from another thread may sit lower down.
        for index in range(len(_stack) - 1, -1, -1):
            if _stack[index] is runtime:
                del _stack[index]
                return


def reset() -> None:
    """Forget every runtime (tests use this to switch between environments)."""
    global _default
    with _lock:
        previous, _default = _default, None
        _stack.clear()
    if previous is not None:
        previous.close(timeout=0.5)

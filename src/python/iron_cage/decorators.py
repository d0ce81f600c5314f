"""`@protect_agent`: an agent function run under the cage, inside an AgentRuntime."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

from .agent_runtime import AgentRuntime


def protect_agent(
    func: Callable | float | None = None,
    *,
    budget: float = 100.0,
    pii_detection: bool = True,
    circuit_breaker: bool = True,
    name: str | None = None,
) -> Any:
    """Run the decorated agent function (sync or async) inside an AgentRuntime.

    All of these work: ``@protect_agent``, ``@protect_agent()``, ``@protect_agent(budget=50.0)``
    and ``@protect_agent(50.0)``.
    """
    if isinstance(func, (int, float)) and not isinstance(func, bool):
        budget, func = func, None

    def decorate(fn: Callable) -> Callable:
        if not callable(fn):
            raise TypeError(f"@protect_agent decorates a function, not {type(fn).__name__}")
        options = {
            "budget": budget,
            "name": name or getattr(fn, "__name__", None),
            "pii_detection": pii_detection,
            "circuit_breaker": circuit_breaker,
        }

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with AgentRuntime(**options):
                    return await fn(*args, **kwargs)

            async_wrapper.__iron_cage__ = dict(options)  # type: ignore[attr-defined]
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with AgentRuntime(**options):
                return fn(*args, **kwargs)

        wrapper.__iron_cage__ = dict(options)  # type: ignore[attr-defined]
        return wrapper

    if func is None:
        return decorate
    return decorate(func)

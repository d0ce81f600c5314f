"""The module-level API: each call goes to the current runtime."""

from __future__ import annotations

from typing import Any

from . import _registry, _secrets


def get_runtime() -> Any:
    """The runtime module-level calls go to: a MockRuntime or AgentRuntime in effect, else the process's own."""
    return _registry.current()


def agent_id() -> str:
    return _registry.current().agent_id


def report_progress(
    done: int,
    total: int | None = None,
    unit: str = "leads",
    succeeded: int | None = None,
    failed: int | None = None,
) -> None:
    """Report how far the agent is; returns at once (delivery happens in the background).

    A total of 0 is sent as an unknown total. ``succeeded``/``failed`` count the units done that
    worked and that did not (the dashboard's success rate); omitted, the last ones reported stay.
    """
    _registry.current().report_progress(done, total, unit, succeeded, failed)


def event(message: str, severity: str = "info", **data: Any) -> None:
    """Record an event (severity debug|info|warn|error|critical); returns at once."""
    _registry.current().event(message, severity, **data)


def checkpoint(obj: Any) -> int | None:
    """Save a JSON-serializable state durably; returns the checkpoint id, or None if it is only kept in memory.

    Raises NotSerializableError (a TypeError) for a state JSON cannot hold.
    """
    return _registry.current().checkpoint(obj)


def restore(default: Any = None) -> Any:
    """The state of the last checkpoint (including one from before a crash-restart), else default."""
    return _registry.current().restore(default)


def status() -> dict | None:
    """The agent's status as the server reports it (or a local equivalent); None if unreachable."""
    return _registry.current().status()


def reload_secrets() -> list[str]:
    """Fetch the agent's secrets now, update os.environ and run the on_secrets_rotated callbacks.

    Returns the sorted names that changed. If the server cannot hand them out (down, refused,
    vault locked) one warning is logged and the current values stay. Standalone it returns []
    (with a single warning); inside a MockRuntime it asks the mock.
    """
    runtime = _registry.installed()
    if runtime is not None and hasattr(runtime, "reload_secrets"):
        return runtime.reload_secrets()
    return _secrets.reload()

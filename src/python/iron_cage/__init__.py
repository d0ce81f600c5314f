"""Iron Cage agent SDK (standard library only).

Under ``iron-cage start agent.py`` these calls reach the supervising server; run standalone,
they work in memory and a single warning says that no protection is active::

    import iron_cage

    state = iron_cage.restore(default={"next": 0})
    for i in range(state["next"], len(leads)):
        process(leads[i])
        iron_cage.report_progress(i + 1, len(leads))
        iron_cage.checkpoint({"next": i + 1})

Under iron-cage, rotated secrets reach ``os.environ`` without a restart (SIGUSR1, handled by
the SDK); ``on_secrets_rotated(fn)`` lets the agent rebuild a client that read one.

Diagnostics go to the ``iron_cage`` logger.
"""

from ._api import agent_id, checkpoint, event, get_runtime, reload_secrets, report_progress, restore, status
from ._secrets import on_secrets_rotated, remove_secrets_callback
from ._signals import install_rotation_handler
from . import tools
from .agent_runtime import AgentRuntime
from .decorators import protect_agent
from .errors import (
    BudgetExceededError,
    CheckpointTooLargeError,
    CircuitOpenError,
    IronCageError,
    NotSerializableError,
    PiiBlockedError,
    PolicyDeniedError,
)

__version__ = "0.1.0"

# At import, so iron-cage's SIGUSR1 finds a handler rather than the default action (exit).
install_rotation_handler()

__all__ = [
    "AgentRuntime",
    "BudgetExceededError",
    "CheckpointTooLargeError",
    "CircuitOpenError",
    "IronCageError",
    "NotSerializableError",
    "PiiBlockedError",
    "PolicyDeniedError",
    "agent_id",
    "checkpoint",
    "event",
    "get_runtime",
    "install_rotation_handler",
    "on_secrets_rotated",
    "protect_agent",
    "reload_secrets",
    "remove_secrets_callback",
    "report_progress",
    "restore",
    "status",
    "tools",
]

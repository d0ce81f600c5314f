"""Iron Cage agent SDK (standard library only).

Under ``iron-cage start agent.py`` these calls reach the supervising server; run standalone,
they work in memory and a single warning says that no protection is active::

    import iron_cage

    state = iron_cage.restore(default={"next": 0})
    for i in range(state["next"], len(leads)):
        process(leads[i])
        iron_cage.report_progress(i + 1, len(leads))
        iron_cage.checkpoint({"next": i + 1})

Diagnostics go to the ``iron_cage`` logger.
"""

from ._api import agent_id, checkpoint, event, get_runtime, report_progress, restore, status
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
)

__version__ = "0.1.0"

__all__ = [
    "AgentRuntime",
    "BudgetExceededError",
    "CheckpointTooLargeError",
    "CircuitOpenError",
    "IronCageError",
    "NotSerializableError",
    "PiiBlockedError",
    "agent_id",
    "checkpoint",
    "event",
    "get_runtime",
    "protect_agent",
    "report_progress",
    "restore",
    "status",
    "tools",
]

"""What the supervisor tells the agent through its environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class Settings:
    url: str | None
    agent_id: str | None
    # Kept out of repr so printing the settings (or a traceback showing them) never leaks it.
    token: str | None = field(default=None, repr=False)
    restarts: int = 0

    @property
    def supervised(self) -> bool:
        return bool(self.url and self.agent_id)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        try:
            restarts = max(0, int(env.get("IRON_CAGE_RESTARTS", "0") or "0"))
        except ValueError:
            restarts = 0
        return cls(
            url=(env.get("IRON_CAGE_URL") or "").strip().rstrip("/") or None,
            agent_id=(env.get("IRON_CAGE_AGENT_ID") or "").strip() or None,
            token=env.get("IRON_CAGE_TOKEN") or None,
            restarts=restarts,
        )

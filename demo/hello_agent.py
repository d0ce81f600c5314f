"""Hello agent: the smallest useful Iron Cage agent.

Processes 10 items, reporting progress and checkpointing after each one. On start it
restores the last checkpoint, so after a crash-restart it carries on where it stopped.

    iron-cage start demo/hello_agent.py --budget 50
    PYTHONPATH=src/python python3 demo/hello_agent.py          # standalone, with a warning

HELLO_DELAY=seconds per item (default 0.2). HELLO_CRASH_AT=N exits with code 1 just before
item N on the first run only (IRON_CAGE_RESTARTS is "0"), to show the supervisor restarting
the agent from its checkpoint.
"""

import os
import sys
import time

import iron_cage

TOTAL = 10


def main() -> int:
    delay = float(os.environ.get("HELLO_DELAY", "0.2"))
    crash_at = int(os.environ.get("HELLO_CRASH_AT") or 0)
    first_run = os.environ.get("IRON_CAGE_RESTARTS", "0") == "0"

    with iron_cage.AgentRuntime(name="hello") as rt:
        state = rt.restore(default={"next": 1})
        start = state.get("next", 1) if isinstance(state, dict) else 1
        if start > 1:
            print(f"resumed from checkpoint: continuing at item {start} of {TOTAL}", flush=True)
        else:
            print(f"hello agent {rt.agent_id}: {TOTAL} items", flush=True)
        rt.report_progress(start - 1, TOTAL, unit="items")

        for item in range(start, TOTAL + 1):
            if item == crash_at and first_run:
                print(f"crashing at item {item} (HELLO_CRASH_AT={crash_at})", flush=True)
                rt.event(f"simulated crash before item {item}", "warn", item=item)
                return 1
            time.sleep(delay)
            print(f"item {item}/{TOTAL} done", flush=True)
            rt.report_progress(item, TOTAL, unit="items")
            rt.checkpoint({"next": item + 1})

        rt.event("hello agent finished", items=TOTAL)
    print("all items done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

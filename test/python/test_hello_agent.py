import os
import subprocess
import sys
import unittest
from pathlib import Path

from fake_server import FakeServer

ROOT = Path(__file__).resolve().parents[2]
AGENT = "hl-7a3f9c2d"
TOKEN = "tok-hello-0123456789"


def run_hello(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IRON_CAGE_", "HELLO_"))}
    base.update(PYTHONPATH=str(ROOT / "src" / "python"), HELLO_DELAY="0", **env)
    return subprocess.run(
        [sys.executable, str(ROOT / "demo" / "hello_agent.py")],
        env=base,
        capture_output=True,
        text=True,
        timeout=30,
    )


class HelloAgentTest(unittest.TestCase):
    def test_standalone_run_warns_and_completes(self):
        result = run_hello()
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual([line for line in lines if line.startswith("item ")], [f"item {i}/10 done" for i in range(1, 11)])
        self.assertIn("protections are NOT active", result.stderr)
        self.assertEqual(result.stderr.count("Iron Cage"), 1, result.stderr)

    def test_crash_then_restart_resumes_from_the_checkpoint(self):
        with FakeServer(token=TOKEN) as server:
            supervised = {"IRON_CAGE_URL": server.url, "IRON_CAGE_AGENT_ID": AGENT, "IRON_CAGE_TOKEN": TOKEN}

            first = run_hello(HELLO_CRASH_AT="4", IRON_CAGE_RESTARTS="0", **supervised)
            self.assertEqual(first.returncode, 1, first.stderr)
            self.assertIn("crashing at item 4", first.stdout)
            self.assertEqual(server.checkpoints[AGENT][-1], {"next": 4})
            self.assertEqual(first.stderr, "")

            second = run_hello(HELLO_CRASH_AT="4", IRON_CAGE_RESTARTS="1", **supervised)
            self.assertEqual(second.returncode, 0, second.stderr)
            self.assertIn("resumed from checkpoint: continuing at item 4", second.stdout)
            self.assertNotIn("item 3/10 done", second.stdout)
            self.assertIn("item 10/10 done", second.stdout)

            self.assertEqual(server.checkpoints[AGENT][-1], {"next": 11})
            progress = [r.json for r in server.posts("progress")]
            self.assertEqual(progress[-1], {"done": 10, "total": 10, "unit": "items"})
            messages = [r.json["message"] for r in server.posts("events")]
            self.assertIn("simulated crash before item 4", messages)
            self.assertEqual(messages[-1], "hello agent finished")


if __name__ == "__main__":
    unittest.main()

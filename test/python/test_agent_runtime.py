import asyncio
import logging
import unittest

import iron_cage
from iron_cage import AgentRuntime, IronCageError
from iron_cage.testing import MockRuntime

from fake_server import standalone_env


class StandaloneTest(unittest.TestCase):
    def setUp(self):
        self.enterContext(standalone_env())

    def test_local_runtime_with_a_single_warning(self):
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            with AgentRuntime(budget=50.0, name="leads") as rt:
                self.assertFalse(rt.remote)
                self.assertTrue(rt.agent_id.startswith("local-"))
                self.assertEqual(iron_cage.agent_id(), rt.agent_id)
        self.assertEqual(len(logs.records), 1)
        self.assertIn("protections are NOT active", logs.output[0])
        self.assertIn("iron-cage start", logs.output[0])

        with self.assertNoLogs("iron_cage", logging.WARNING):
            with AgentRuntime() as rt:
                iron_cage.report_progress(1, 2)
        self.assertEqual(rt.backend.progress, {"done": 1, "total": 2, "unit": "leads"})
        self.assertEqual(rt.status()["budget"]["limitUsd"], 50.0)

    def test_checkpoint_and_restore_in_process(self):
        with self.assertLogs("iron_cage", logging.WARNING):
            with AgentRuntime() as rt:
                self.assertEqual(rt.restore(default={"next": 0}), {"next": 0})
                self.assertEqual(rt.checkpoint({"next": 4}), 1)
                self.assertEqual(iron_cage.restore(), {"next": 4})
        with AgentRuntime() as again:
            self.assertEqual(again.restore(), {"next": 4})

    def test_exceptions_propagate_unchanged_after_an_error_event(self):
        boom = RuntimeError("model returned garbage")
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            with self.assertRaises(RuntimeError) as caught:
                with AgentRuntime() as rt:
                    raise boom
        self.assertIs(caught.exception, boom)
        self.assertEqual(rt.backend.events[-1]["severity"], "error")
        self.assertIn("RuntimeError: model returned garbage", logs.output[-1])

    def test_exit_codes_and_interrupts(self):
        with self.assertLogs("iron_cage", logging.WARNING):
            with self.assertRaises(SystemExit):
                with AgentRuntime() as rt:
                    raise SystemExit(0)
        self.assertEqual(list(rt.backend.events), [])
        with self.assertLogs("iron_cage", logging.WARNING) as logs:
            with self.assertRaises(SystemExit):
                with AgentRuntime():
                    raise SystemExit(3)
            with self.assertRaises(KeyboardInterrupt):
                with AgentRuntime():
                    raise KeyboardInterrupt
        self.assertEqual(len(logs.records), 2)
        self.assertEqual(
            [(e["severity"], e["message"]) for e in rt.backend.events],
            [("error", "Agent exited with code 3"), ("warn", "Agent interrupted")],
        )

    def test_one_instance_cannot_be_entered_twice_at_once(self):
        rt = AgentRuntime()
        with self.assertLogs("iron_cage", logging.WARNING):
            with rt:
                with self.assertRaises(IronCageError):
                    rt.__enter__()
        with rt:
            pass

    def test_bad_budget(self):
        for bad in (-1, "50", True):
            with self.assertRaises(ValueError):
                AgentRuntime(budget=bad)

    def test_async_with(self):
        async def agent():
            async with AgentRuntime(budget=3) as rt:
                rt.report_progress(5)
                return rt

        with self.assertLogs("iron_cage", logging.WARNING):
            rt = asyncio.run(agent())
        self.assertEqual(rt.backend.progress["done"], 5)


class InsideMockTest(unittest.TestCase):
    def test_joins_the_installed_mock(self):
        with MockRuntime() as mock:
            with AgentRuntime(budget=7.0) as rt:
                self.assertIs(rt.backend, mock)
                self.assertFalse(rt.remote)
                rt.event("inside", severity="debug")
                self.assertEqual(rt.agent_id, "mock-00000000")
            self.assertIs(iron_cage.get_runtime(), mock)
        mock.assert_event("inside", severity="debug")
        self.assertEqual(mock.budget, 7.0)


if __name__ == "__main__":
    unittest.main()

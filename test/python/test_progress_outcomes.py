"""report_progress(..., succeeded=, failed=): the agent's own outcomes, on every runtime."""

import logging
import unittest

import iron_cage
from iron_cage import AgentRuntime
from iron_cage.testing import MockRuntime

from fake_server import FakeServer, standalone_env, supervised_env

AGENT = "hl-7a3f9c2d"
TOKEN = "tok-SECRET-0123456789abcdef"


class MockOutcomesTest(unittest.TestCase):
    def test_outcomes_are_recorded_and_carried_over_like_the_server_does(self):
        with MockRuntime() as mock:
            iron_cage.report_progress(2, 10)
            self.assertNotIn("succeeded", mock.progress)
            iron_cage.report_progress(4, 10, succeeded=3, failed=1)
            mock.assert_progress(4, 10, succeeded=3, failed=1)
            # Left out, the last reported outcomes stay (as the server keeps them).
            iron_cage.report_progress(5, 10)
            self.assertEqual(mock.progress, {"done": 5, "total": 10, "unit": "leads", "succeeded": 3, "failed": 1})
            iron_cage.report_progress(6, 10, succeeded=5)
            mock.assert_progress(6, succeeded=5, failed=1)
        # What was sent is what the agent passed: no outcomes where it gave none.
        self.assertEqual(
            [body for kind, body in mock.calls if kind == "progress"],
            [
                {"done": 2, "total": 10, "unit": "leads"},
                {"done": 4, "total": 10, "unit": "leads", "succeeded": 3, "failed": 1},
                {"done": 5, "total": 10, "unit": "leads"},
                {"done": 6, "total": 10, "unit": "leads", "succeeded": 5},
            ],
        )
        with self.assertRaises(AssertionError) as caught:
            mock.assert_progress(6, failed=2)
        self.assertIn("failed=2", str(caught.exception))

    def test_outcomes_are_validated_like_done_and_nothing_is_recorded(self):
        mock = MockRuntime()
        bad = [
            (ValueError, dict(succeeded=-1)),
            (ValueError, dict(failed=-2)),
            (TypeError, dict(succeeded=True)),
            (TypeError, dict(failed=1.5)),
            (TypeError, dict(succeeded="3")),
            (ValueError, dict(succeeded=3, failed=2)),
            (ValueError, dict(failed=5)),
        ]
        for error, kwargs in bad:
            with self.subTest(**kwargs), self.assertRaises(error):
                mock.report_progress(4, 10, **kwargs)
        self.assertEqual(mock.progress_reports, [])
        mock.report_progress(4, 10, succeeded=4, failed=0)
        mock.assert_progress(4, succeeded=4, failed=0)
        # Outcomes carried from the last report count too.
        with self.assertRaises(ValueError):
            mock.report_progress(3, 10)
        mock.assert_progress(4, succeeded=4, failed=0)

    def test_agent_runtime_passes_them_on(self):
        with MockRuntime() as mock:
            with AgentRuntime() as rt:
                rt.report_progress(3, 3, unit="pages", succeeded=2, failed=1)
        mock.assert_progress(3, 3, unit="pages", succeeded=2, failed=1)


class StandaloneOutcomesTest(unittest.TestCase):
    def test_local_runtime_keeps_them(self):
        self.enterContext(standalone_env())
        with self.assertLogs("iron_cage", logging.WARNING):
            with AgentRuntime() as rt:
                iron_cage.report_progress(2, 4, succeeded=1, failed=1)
                iron_cage.report_progress(3, 4)
        self.assertEqual(rt.backend.progress, {"done": 3, "total": 4, "unit": "leads", "succeeded": 1, "failed": 1})


class WireOutcomesTest(unittest.TestCase):
    def setUp(self):
        self.server = self.enterContext(FakeServer(token=TOKEN))
        self.enterContext(supervised_env(self.server.url, AGENT, TOKEN))

    def test_bodies_carry_the_outcomes_so_a_coalesced_report_loses_none(self):
        iron_cage.report_progress(2, 10)
        self.assertTrue(iron_cage.get_runtime().flush(5))
        # Sent at once, the second may replace the first before it goes: it must carry its outcomes.
        iron_cage.report_progress(4, 10, succeeded=3, failed=1)
        iron_cage.report_progress(5, 10)
        with self.assertRaises(ValueError):
            iron_cage.report_progress(6, 10, succeeded=6, failed=1)
        with self.assertRaises(ValueError):
            iron_cage.report_progress(3, 10)  # the outcomes carried (3 + 1) exceed it
        self.assertTrue(iron_cage.get_runtime().flush(5))
        bodies = [r.json for r in self.server.posts("progress")]
        self.assertEqual(bodies[0], {"done": 2, "total": 10, "unit": "leads"})
        self.assertEqual(bodies[-1], {"done": 5, "total": 10, "unit": "leads", "succeeded": 3, "failed": 1})
        self.assertTrue(all(b["succeeded"] == 3 and b["failed"] == 1 for b in bodies[1:]), bodies)


if __name__ == "__main__":
    unittest.main()

import asyncio
import inspect
import unittest

import iron_cage
from iron_cage import protect_agent
from iron_cage.testing import MockRuntime


@protect_agent(budget=50.0)
def sync_agent(items, *, label="leads"):
    """Processes leads."""
    for index, _ in enumerate(items, 1):
        iron_cage.report_progress(index, len(items), unit=label)
    return len(items)


@protect_agent(budget=5.0, pii_detection=False)
async def async_agent(count):
    """Async agent."""
    for index in range(1, count + 1):
        await asyncio.sleep(0)
        iron_cage.report_progress(index, count)
    return "done"


@protect_agent
def bare_agent():
    return iron_cage.get_runtime()


@protect_agent()
def called_agent():
    return "ok"


@protect_agent(25)
def positional_budget_agent():
    return iron_cage.get_runtime().budget


@protect_agent
def failing_agent():
    raise LookupError("lead 7 vanished")


@protect_agent
async def failing_async_agent():
    await asyncio.sleep(0)
    raise ConnectionError("upstream gone")


class DecoratorTest(unittest.TestCase):
    def test_sync_function_runs_inside_the_runtime(self):
        with MockRuntime() as mock:
            self.assertEqual(sync_agent(["a", "b"], label="items"), 2)
        mock.assert_progress(2, 2, unit="items")
        self.assertEqual(mock.budget, 50.0)
        self.assertEqual(mock.name, "sync_agent")

    def test_metadata_is_preserved(self):
        self.assertEqual(sync_agent.__name__, "sync_agent")
        self.assertEqual(sync_agent.__doc__, "Processes leads.")
        self.assertEqual(inspect.signature(sync_agent), inspect.signature(sync_agent.__wrapped__))
        self.assertEqual(sync_agent.__iron_cage__["budget"], 50.0)
        self.assertEqual(
            bare_agent.__iron_cage__,
            {"budget": 100.0, "name": "bare_agent", "pii_detection": True, "circuit_breaker": True},
        )

    def test_async_function_stays_a_coroutine_function(self):
        self.assertTrue(inspect.iscoroutinefunction(async_agent))
        self.assertFalse(inspect.iscoroutinefunction(sync_agent))
        self.assertEqual(async_agent.__doc__, "Async agent.")
        self.assertFalse(async_agent.__iron_cage__["pii_detection"])
        with MockRuntime() as mock:
            self.assertEqual(asyncio.run(async_agent(3)), "done")
        mock.assert_progress(3, 3)
        self.assertEqual(mock.budget, 5.0)

    def test_all_spellings(self):
        with MockRuntime() as mock:
            self.assertIs(bare_agent(), mock)
            self.assertEqual(called_agent(), "ok")
        with MockRuntime():
            self.assertEqual(positional_budget_agent(), 25.0)
        with self.assertRaises(TypeError):
            protect_agent("not a function")

    def test_a_budget_given_to_the_mock_wins(self):
        with MockRuntime(budget=1.0) as mock:
            sync_agent(["a"])
        self.assertEqual(mock.budget, 1.0)

    def test_exceptions_propagate_and_are_reported(self):
        with MockRuntime() as mock:
            with self.assertRaises(LookupError) as caught:
                failing_agent()
        self.assertEqual(str(caught.exception), "lead 7 vanished")
        event = mock.assert_event("LookupError: lead 7 vanished", severity="error")
        self.assertEqual(event["data"]["exception"], "builtins.LookupError")
        self.assertIn("failing_agent", event["data"]["location"])

    def test_async_exceptions_propagate_and_are_reported(self):
        with MockRuntime() as mock:
            with self.assertRaises(ConnectionError):
                asyncio.run(failing_async_agent())
        mock.assert_event("ConnectionError: upstream gone", severity="error")

    def test_budget_errors_reach_the_agent_as_python_exceptions(self):
        @protect_agent(budget=0.5)
        def spender(mock):
            mock.simulate_spend(0.3)
            mock.simulate_spend(0.3)

        with MockRuntime() as mock:
            with self.assertRaises(iron_cage.BudgetExceededError):
                spender(mock)
        mock.assert_budget_exceeded()
        mock.assert_event("BudgetExceededError", severity="error")


if __name__ == "__main__":
    unittest.main()

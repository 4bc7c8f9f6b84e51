"""Marks a failed test on its node, so that the browser fixture saves a screenshot of the page as it failed."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if outcome.get_result().when == "call" and outcome.get_result().failed:
        item.failed = True

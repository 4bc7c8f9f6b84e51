"""Progress output piped into a log file reads as plain lines: not wrapped, no blank lines, no bar redraws."""

import io

import pytest
from rich.console import Console

from headstart import progress
from headstart.progress import Reporter


def piped() -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()  # not a tty, like `headstart train ... 2> log.txt`
    console = Console(file=out, highlight=False)
    assert not console.is_terminal
    return Reporter(verbose=True, console=console), out


def test_piped_messages_and_tasks_are_single_unwrapped_lines():
    reporter, out = piped()
    long_message = "strategy head:" + " fits a linear layer on frozen features" * 4
    assert len(long_message) > 150
    reporter.say(long_message)
    reporter.say("[bold]strategy[/] head")  # markup is rendered, not printed
    assert list(reporter.track(range(40), 40, "epoch 1/3")) == list(range(40))
    reporter.say("after the epoch")
    assert list(reporter.track(iter(range(5)), None, "predicting " + "x" * 120)) == list(range(5))

    text = out.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text
    assert all(line.strip() for line in lines), f"blank line in {lines}"
    assert lines[0] == long_message
    assert lines[1] == "strategy head"
    assert lines[2] == "epoch 1/3: started (40 steps)"
    assert lines[3].startswith("epoch 1/3: done, 40 of 40 in ")
    assert lines[4] == "after the epoch"
    assert lines[5] == "predicting " + "x" * 120 + ": started"
    assert lines[6].startswith("predicting " + "x" * 120 + ": done, 5 in ")
    assert len(lines) == 7


def test_long_piped_tasks_add_a_line_per_quarter(monkeypatch):
    monkeypatch.setattr(progress, "MILESTONE_AFTER_SECONDS", 0.0)  # every task counts as long
    reporter, out = piped()
    list(reporter.track(range(100), 100, "extracting features"))
    lines = out.getvalue().splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "extracting features: started (100 steps)",
        "extracting features: 25 of 100 (25%)",
        "extracting features: 50 of 100 (50%)",
        "extracting features: 75 of 100 (75%)",
        "extracting features: done, 100 of 100",
    ]


@pytest.mark.parametrize("verbose", [False, True])
def test_a_terminal_still_gets_a_transient_bar_and_quiet_means_silent(verbose):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    reporter = Reporter(verbose=verbose, console=console)
    assert list(reporter.track(range(3), 3, "epoch 1/1")) == [0, 1, 2]
    reporter.say("hello")
    if verbose:
        assert "hello" in out.getvalue() and "started" not in out.getvalue()
    else:
        assert out.getvalue() == ""

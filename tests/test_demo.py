"""`headstart demo`, the README's first command, exactly as a new user runs it."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_shows_transfer_far_ahead_of_scratch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "headstart", "demo", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stderr
    assert "transfer vs scratch" in result.stdout and str(tmp_path / "transfer") in result.stdout
    transfer, scratch = (json.loads((tmp_path / name / "summary.json").read_text()) for name in ("transfer", "scratch"))
    assert transfer["evaluated_on"] == scratch["evaluated_on"] == "test"
    assert transfer["scores"]["n"] == scratch["scores"]["n"] == 200
    assert transfer["scores"]["accuracy"] >= 0.75
    # Fashion-MNIST is kind to scratch training (centred greyscale items); transfer still wins clearly (seen: +15.5)
    assert transfer["scores"]["accuracy"] >= scratch["scores"]["accuracy"] + 0.08
    assert f"{(transfer['scores']['accuracy'] - scratch['scores']['accuracy']) * 100:+.1f} points" in result.stdout

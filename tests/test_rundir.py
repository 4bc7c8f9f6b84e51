import json
import pickle

import numpy as np
import pytest

import headstart
from headstart import HeadstartError, ImageClassifier
from headstart.rundir import CONFIG, WEIGHTS

# Every test here trains a network or uses a fitted one: the fast loop (-m 'not slow') leaves them to CI.
pytestmark = pytest.mark.slow


def test_save_then_load_gives_identical_probabilities(fitted_probe, sample_dir, tmp_path):
    files = [str(p) for p in sorted((sample_dir / "test").rglob("*.png"))[::10]]
    run = fitted_probe.save(tmp_path / "run")
    assert {p.name for p in run.iterdir()} >= {CONFIG, WEIGHTS, "metrics.csv"}
    assert not [p for p in run.iterdir() if p.suffix in (".pt", ".pth", ".pkl", ".bin")]
    loaded = headstart.load(run)
    assert isinstance(loaded, ImageClassifier)
    assert list(loaded.classes_) == list(fitted_probe.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(files), fitted_probe.predict_proba(files))
    assert loaded.get_params() == fitted_probe.get_params()


def test_config_is_plain_json_with_what_rebuilds_the_model(fitted_probe, tmp_path):
    config = json.loads((fitted_probe.save(tmp_path / "run") / CONFIG).read_text())
    assert config["model"]["architecture"] == "tf_efficientnet_lite0"
    assert config["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert config["strategy"] == "linear-probe"
    assert config["data"]["splits"]["val"] == "none"  # the probe cross-validates; the sample has a test split
    assert config["data"]["counts"]["train"]["bag"] == 30
    assert config["params"]["seed"] == 0


@pytest.fixture
def saved_run(fitted_probe, tmp_path):
    return fitted_probe.save(tmp_path / "run")


def test_run_from_a_newer_version_is_refused(saved_run):
    config = json.loads((saved_run / CONFIG).read_text())
    config["format_version"] = 99
    (saved_run / CONFIG).write_text(json.dumps(config))
    with pytest.raises(HeadstartError, match="newer headstart"):
        headstart.load(saved_run)


def test_damaged_or_incomplete_runs_are_refused(saved_run):
    (saved_run / CONFIG).write_text("{not json")
    with pytest.raises(HeadstartError, match="damaged"):
        headstart.load(saved_run)
    (saved_run / CONFIG).unlink()
    with pytest.raises(HeadstartError, match="not a complete headstart run"):
        headstart.load(saved_run)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_planted_pickle_weights_are_refused(saved_run, capsys):
    (saved_run / WEIGHTS).write_bytes(pickle.dumps({"head.1.weight": Payload()}))
    with pytest.raises(HeadstartError, match="not a valid safetensors file"):
        headstart.load(saved_run)
    assert "this must never run" not in capsys.readouterr().out


def test_unwritable_output_folder_is_one_error(fitted_probe, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the run folder should go")
    with pytest.raises(HeadstartError, match="cannot write the run"):
        fitted_probe.save(blocker / "run")

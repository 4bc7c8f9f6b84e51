"""``RunConfig`` reads a run's config.json (or a flat JSON/YAML file), merges options over it and gives back
``headstart.train``'s arguments; what it writes reads back the same."""

from __future__ import annotations

import json

import pytest

from headstart import FineTune, HeadstartError, RunConfig


def test_a_config_round_trips_through_its_file(tmp_path):
    config = RunConfig(data="sample", model="efficientnet_lite0", strategy=FineTune(layer_decay=0.9),
                       read={"per_class": 5}, params={"epochs": 3, "image_size": 96})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    again = RunConfig.from_file(path)
    assert again.to_dict() == config.to_dict()
    assert again.to_dict()["params"]["strategy"] == "fine-tune(layer_decay=0.9)"
    assert again.to_dict()["data"]["args"] == {"data": "sample", "task": "image", "per_class": 5}
    kwargs = again.train_kwargs()
    assert kwargs["epochs"] == 3 and kwargs["per_class"] == 5 and kwargs["strategy"] == "fine-tune(layer_decay=0.9)"


def test_flags_override_the_file_and_knobs_of_another_task_are_dropped(tmp_path):
    # A detection run's config holds every knob of the detector; trained again on images, the detector's own
    # knobs (freeze, conf, iou) are not passed on, the shared ones are.
    written = {"params": {"epochs": 4, "lr": None, "freeze": None, "conf": 0.25, "iou": 0.45, "seed": 3,
                          "model": None, "strategy": "auto", "verbose": False},
               "data": {"args": {"data": "detect-sample", "task": "detect"}}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(written))
    config = RunConfig.from_file(path)
    assert config.resolved_task() == "detect" and config.params["conf"] == 0.25
    merged = config.merged(data="sample", task="image", epochs=2, image_size=None)
    assert merged.params == {"epochs": 2, "seed": 3}
    assert merged.merged(freeze=3).params["freeze"] == 3  # given, so kept, and refused when the run starts
    assert merged.merged(freeze=3).merged(epochs=5).params == {"epochs": 5, "seed": 3, "freeze": 3}


def test_a_flat_yaml_file_is_read_as_written_by_hand(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data: text-sample\nmodel: minilm-l6\nstrategy: linear-probe\nper_class: 8\nmax_length: 64\n")
    config = RunConfig.from_file(path)
    assert (config.data, config.model, config.strategy, config.read, config.params) == (
        "text-sample", "minilm-l6", "linear-probe", {"per_class": 8}, {"max_length": 64})
    assert config.resolved_task() == "text"


@pytest.mark.parametrize(("content", "message"), [
    (None, "config file not found"), ("{not json", "cannot parse"), ("[1, 2]", "must hold a mapping")])
def test_a_bad_config_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(HeadstartError, match=message):
        RunConfig.from_file(path)


def test_no_data_is_said_when_the_run_starts():
    with pytest.raises(HeadstartError, match="no DATA given"):
        RunConfig(model="efficientnet_lite0").train_kwargs()
    with pytest.raises(HeadstartError, match="no DATA given"):  # before the model is looked up
        RunConfig().merged(model="no_such_net").train_kwargs()

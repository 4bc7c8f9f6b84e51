"""bf16 features only where they keep the linear probe's accuracy: checked once per machine and backbone.

bf16 kernels (OpenVINO's, or PyTorch's autocast) round differently from CPU to CPU, and a probe on bf16 features
has been measured 1.3 points below the same probe on fp32 features (issue 34), far beyond what the speed was
worth. So before a run extracts in bf16 because ``precision="auto"`` chose it, the probe set that ships with
headstart is extracted both ways and scored by the linear probe's own recipe (features/probe_recipe.py,
cross-validated); bf16 is kept only when it stays within ``TOLERANCE`` of fp32. The verdict is kept in a small JSON
file beside the feature cache, keyed by the machine's identity (CPU, its bf16 instructions, library versions), the
backbone's weights, the preprocessing and the probe's recipe, so each machine pays for the check once per backbone
(and again when the recipe changes).
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from torch import nn
from torch.utils.data import Dataset

from headstart.compute.device import cpu_fields
from headstart.digests import digest
from headstart.features.cache import module_digest
from headstart.features.extract import extract_features
from headstart.features.probe_recipe import C_GRID, RECIPE, cross_validate, probe_inputs
from headstart.files import write_json
from headstart.paths import feature_cache_dir
from headstart.progress import Reporter

TOLERANCE = 0.003  # accuracy (0.3 points) bf16 features may cost the probe and still be used
VERDICTS = "precision-verdicts.json"


@dataclass(frozen=True)
class Verdict:
    """Which precision features are extracted in here, and the measurement behind it."""

    precision: str  # "bf16" or "fp32"
    fp32_accuracy: float
    bf16_accuracy: float
    n: int

    def reason(self) -> str:
        change = (self.bf16_accuracy - self.fp32_accuracy) * 100
        verdict = "kept" if self.precision == "bf16" else "not used: fp32 instead"
        return (f"bf16 features {verdict} (on this machine the probe set's cross-validated accuracy was "
                f"{self.bf16_accuracy:.1%} in bf16 against {self.fp32_accuracy:.1%} in fp32, {change:+.1f} points; "
                f"allowed: -{TOLERANCE * 100:.1f})")


def machine_identity() -> dict[str, str]:
    """What makes bf16 results differ between machines: the CPU, its bf16 instructions, the libraries."""
    fields = cpu_fields()
    cpu = f"{fields.get('model name', platform.processor())} (family {fields.get('cpu family')}, model {fields.get('model')})"
    flags = set(fields.get("flags", "").split())
    identity = {"cpu": cpu, "bf16": ",".join(sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"}))}
    for package in ("torch", "openvino", "onnxruntime"):
        try:
            identity[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            identity[package] = "-"
    return identity


def bf16_verdict(backbone: nn.Module, probe: Dataset, labels: Sequence[int], preprocessing: dict,
                 folder: Path | None = None, reporter: Reporter | None = None) -> Verdict:
    """The verdict for ``backbone`` with ``preprocessing`` on this machine: read from ``folder`` (default: the
    feature cache's) when it was measured before, else measured on ``probe`` (items with class ``labels``)."""
    path = Path(folder or feature_cache_dir()) / VERDICTS
    key = digest(json.dumps(machine_identity(), sort_keys=True), module_digest(backbone),
                 json.dumps(preprocessing, sort_keys=True, default=str), RECIPE)
    known = _read(path)
    if key in known:
        return Verdict(**known[key])
    reporter = reporter or Reporter()
    reporter.say("checking bf16 features against fp32 on this machine (once per backbone)")
    y = np.asarray(labels)
    scores = {precision: _probe_accuracy(extract_features(backbone, probe, precision=precision, reporter=reporter,
                                                          description=f"probe set ({precision})"), y)
              for precision in ("fp32", "bf16")}
    precision = "bf16" if scores["bf16"] >= scores["fp32"] - TOLERANCE else "fp32"
    verdict = Verdict(precision, scores["fp32"], scores["bf16"], len(y))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**_read(path), key: asdict(verdict)})
    except OSError as exc:  # a read-only home: the run goes on, and measures again next time
        reporter.say(f"  could not keep the bf16 verdict in {path} ({exc.strerror or exc})")
    return verdict


def _probe_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
    """The linear probe's cross-validated accuracy on ``features`` (its recipe, 5 seeded folds): each example
    predicted at the chosen C by the fold that left it out."""
    x, _, _ = probe_inputs(features)
    with threadpool_limits(limits=1, user_api="blas"):
        found = cross_validate(x, labels, C_GRID, min(5, int(np.bincount(labels).min())), seed=0)
    return float((found.out_of_fold == labels).mean())


def _read(path: Path) -> dict:
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}

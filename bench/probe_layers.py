"""Which frozen features should the linear probe see: the last layer alone, or intermediate stages too (issue 34)?

    python bench/probe_layers.py --sizes 10 20 100 --seeds 0 1 2

Far from ImageNet (28-pixel grey scans of clothes), a network's earlier stages carry features its last layers have
specialised away (Yosinski et al. 2014; Evci et al. 2022, "Head2Toe"). Each cell draws N labelled Fashion-MNIST
images per class with the seed, pools every stage of EfficientNet-Lite0 (fp32, the preprocessing headstart picks for
28-pixel inputs) and fits headstart's probe recipe (each block of features divided by its own root mean square, C
on the 0.001-100 grid by 5-fold cross-validated log-loss) on several sets of stages, optionally after a signed
square-root power transform; the naive recipe (last layer, scikit-learn's default logistic regression) is the
reference. All are scored on the same 2,000 official test images (200 per class, seed 0). Rows go to
bench/results/probe_layers.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from threadpoolctl import threadpool_limits

from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.models import create_backbone, get_model_spec
from headstart.models.registry import PREPROCESSING_NOTE
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "probe_layers.jsonl"
GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
STAGES = ("blocks.2", "blocks.4", "blocks.6", "head")
POOLS = ("head_max", "head_gem", "head_std")  # other poolings of the last layer's map
FEATURE_SETS = {"head": ("head",), "b6+head": ("blocks.6", "head"), "b4+head": ("blocks.4", "head"),
                "b4+b6+head": ("blocks.4", "blocks.6", "head"), "all": STAGES, "b4+b6": ("blocks.4", "blocks.6"),
                "head+max": ("head", "head_max"), "gem": ("head_gem",), "head+std": ("head", "head_std"),
                "b4+head+std": ("blocks.4", "head", "head_std")}


@torch.inference_mode()
def stage_features(images, cache: Path) -> dict[str, np.ndarray]:
    """Every stage's globally averaged features for ``images``, cached in one .npz per draw."""
    if cache.exists():
        return dict(np.load(cache))
    task, spec = get_task("image"), get_model_spec("efficientnet_lite0")
    model = create_backbone(spec).eval()
    preprocessing = task.preprocessing(spec, {}, images.items)
    preprocessing.pop(PREPROCESSING_NOTE, None)
    dataset = task.inputs_dataset(images.items, None, preprocessing, train=False)
    indices = [i for i, info in enumerate(model.feature_info) if info["module"] in STAGES]
    out: dict[str, list] = {name: [] for name in STAGES + POOLS}
    for batch in torch.utils.data.DataLoader(dataset, batch_size=64):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        final, stages = model.forward_intermediates(x, indices=indices, intermediates_only=False)
        for name, stage in zip(STAGES[:-1], stages):
            out[name].append(stage.mean((2, 3)).numpy())
        out["head"].append(model.forward_head(final, pre_logits=True).numpy())
        out["head_max"].append(final.amax((2, 3)).numpy())
        out["head_gem"].append(final.clamp(min=1e-6).pow(3).mean((2, 3)).pow(1 / 3).numpy())
        out["head_std"].append(final.std((2, 3)).numpy())
    arrays = {name: np.concatenate(parts) for name, parts in out.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


def design(stages: dict[str, np.ndarray], names, reference: dict[str, np.ndarray], power: float) -> np.ndarray:
    """The chosen stages side by side, each transformed and divided by its root mean square on ``reference``."""
    def transform(x):
        return np.sign(x) * np.abs(x) ** power

    return np.hstack([transform(stages[n]) / (np.sqrt(np.mean(transform(reference[n]) ** 2)) or 1.0)
                      for n in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/headstart-bench-layers"))
    args = parser.parse_args()
    test = load_fashion_mnist(per_class=1, test_per_class=200, seed=0).test
    x_test_stages = stage_features(test, args.cache / "test.npz")
    for per_class in args.sizes:
        for seed in args.seeds:
            train = load_fashion_mnist(per_class=per_class, test_per_class=1, seed=seed).train
            classes = sorted(set(train.labels))
            y, y_test = np.searchsorted(classes, train.labels), np.searchsorted(classes, test.labels)
            stages = stage_features(train, args.cache / f"train-{per_class}-{seed}.npz")
            row = {"set": "fashion-mnist", "model": "efficientnet_lite0", "per_class": per_class, "seed": seed,
                   "n_test": len(y_test)}
            naive = LogisticRegression(max_iter=2000).fit(stages["head"], y)
            row["naive"] = float((naive.predict(x_test_stages["head"]) == y_test).mean())
            cv = StratifiedKFold(n_splits=min(5, int(np.bincount(y).min())), shuffle=True, random_state=seed)
            for set_name, names in FEATURE_SETS.items():
                for power in (1.0, 0.5):
                    variant = set_name + ("" if power == 1.0 else "+sqrt")
                    x = design(stages, names, stages, power)
                    x_test = design(x_test_stages, names, stages, power)
                    start = time.perf_counter()
                    search = GridSearchCV(LogisticRegression(max_iter=2000, random_state=seed), {"C": list(GRID)},
                                          cv=cv, scoring="neg_log_loss")
                    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        search.fit(x, y)
                    row[variant] = float((search.predict(x_test) == y_test).mean())
                    row[variant + "_C"] = search.best_params_["C"]
                    row[variant + "_cv_log_loss"] = round(-search.best_score_, 4)
                    row[variant + "_seconds"] = round(time.perf_counter() - start, 2)
            print({k: v for k, v in row.items() if not k.endswith(("_seconds", "_C", "_cv_log_loss"))}, flush=True)
            append_row(RESULTS, {**row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()

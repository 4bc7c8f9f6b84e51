"""Where the points between headstart's linear probe and the naive recipe go (issue 34), on Fashion-MNIST.

    python bench/naive_gap.py --per-class 10 20 --seeds 0 1 2 --test-per-class 200

The naive recipe: EfficientNet-Lite0 features in fp32 at 224 px (timm's evaluation transform: centre crop 0.875),
scikit-learn's default ``LogisticRegression`` on every labelled image. Each variant changes one thing: the crop
(1.0 keeps the whole 28-pixel image), feature scaling, headstart's cross-validated C grid, or the 20% a run without a
test split sets aside. Every variant is scored on the same official test images. Rows go to
bench/results/naive_gap.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.features import extract_features
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "naive_gap.jsonl"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)  # the linear probe's grid when these rows were measured


def features(backbone, items, crop_pct: float, size: int) -> np.ndarray:
    preprocessing = {**get_model_spec("efficientnet_lite0").preprocessing, "crop_pct": crop_pct,
                     "input_size": (3, size, size)}
    dataset = get_task("image").inputs_dataset(items, None, preprocessing, train=False)
    return extract_features(backbone, dataset, precision="fp32", batch_size=64)


def accuracy(x_train, y_train, x_test, y_test, scale: bool, grid: bool, seed: int) -> float:
    if scale:
        scaler = StandardScaler().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if grid:
            folds = min(5, int(np.bincount(y_train).min()))
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            clf = GridSearchCV(LogisticRegression(max_iter=2000, random_state=seed), {"C": list(C_GRID)}, cv=cv)
        else:
            clf = LogisticRegression(max_iter=2000)
        clf.fit(x_train, y_train)
    return float((clf.predict(x_test) == y_test).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--image-size", type=int, default=224, help="the network's input side (the naive recipe: 224)")
    args = parser.parse_args()
    backbone = create_backbone("efficientnet_lite0").eval()
    test = load_fashion_mnist(per_class=1, test_per_class=args.test_per_class, seed=0).test
    classes = sorted(set(test.labels))
    y_test = np.searchsorted(classes, test.labels)
    test_x = {crop: features(backbone, test.items, crop, args.image_size) for crop in (0.875, 1.0)}
    for per_class in args.per_class:
        for seed in args.seeds:
            train = load_fashion_mnist(per_class=per_class, test_per_class=1, seed=seed).train
            y = np.searchsorted(classes, train.labels)
            kept = held_out_mask(y, seed)
            row = {"per_class": per_class, "seed": seed, "n_test": len(y_test), "image_size": args.image_size}
            for crop in (0.875, 1.0):
                x = features(backbone, train.items, crop, args.image_size)
                tag = "crop1" if crop == 1.0 else "crop875"
                for scale in (False, True):
                    for grid in (False, True):
                        name = f"{tag}{'_scaled' if scale else ''}{'_grid' if grid else ''}"
                        row[name] = accuracy(x, y, test_x[crop], y_test, scale, grid, seed)
                        row[name + "_80pct"] = accuracy(x[kept], y[kept], test_x[crop], y_test, scale, grid, seed)
            append_row(RESULTS, {**row, "machine": machine(), "commit": commit()})


def held_out_mask(y: np.ndarray, seed: int, share: float = 0.2) -> np.ndarray:
    """The 80% of each class a run without a test split trains on (the rest scores it)."""
    rng = np.random.default_rng(seed)
    kept = np.ones(len(y), bool)
    for label in np.unique(y):
        where = np.flatnonzero(y == label)
        kept[rng.choice(where, max(1, round(len(where) * share)), replace=False)] = False
    return kept


if __name__ == "__main__":
    main()

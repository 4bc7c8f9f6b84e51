"""Pseudo-labels for an unlabelled pool (issue 30), from the pre-trained backbone's cached features.

Three teachers, one chosen per run by cross-validated accuracy on the labelled examples alone (each fold's examples
hidden from the teacher, then scored): the linear probe (features/probe_recipe.py), label propagation on the k-NN
graph of the labelled and pool items (search/propagation.py), and both (their probabilities multiplied). Measured on
Fashion-MNIST (bench/semi_supervised.py): propagation labels the pool best with 10 labelled images per class, both
together with 100, and the cross-validation picked the better one each time. The pool is used only when a teacher
that uses it (propagation, or both) beats the probe alone in that cross-validation: the probe's own confident
guesses teach it nothing new (see below), and a pool of the wrong inputs makes the graph worse. Then class balance: a class keeps at
most its share of the labelled examples times the usable pool, its most confident items first, so that a class the
teacher over-predicts cannot crowd the others out. Inputs the unknown-input detector (search/novelty.py) flags as
unlike every labelled example are left out of the graph and never labelled: a pool of inputs of no known class is
left alone rather than forced into the classes.

Tried and dropped: self-training of the probe (rounds adding its most confident items, as scikit-learn's
``SelfTrainingClassifier`` does): those items are the easy ones (95% right), and test accuracy moved by -1.9 to
+0.0 points at 10 labelled images per class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from headstart.errors import HeadstartError
from headstart.features.probe_recipe import C_GRID, DEFAULT_C, cv_folds, probe_inputs, probe_options
from headstart.options import Range, check_range
from headstart.search.novelty import NoveltyDetector
from headstart.search.propagation import DEFAULT_ALPHA, DEFAULT_NEIGHBOURS, knn_graph, propagate

if TYPE_CHECKING:
    from headstart.models.transfer import TransferModel
    from headstart.strategies.base import FitContext, Split

TEACHERS = ("probe", "propagation", "both")


@dataclass
class PseudoLabelling:
    """How an unlabelled pool is pseudo-labelled: ``teacher`` auto (chosen by cross-validation) or one of
    ``TEACHERS``; at most ``limit`` pseudo-labels (None: as many as class balance allows), the most confident of
    each class; ``neighbours`` and ``alpha`` are the propagation's."""

    teacher: str = "auto"
    limit: int | None = None
    neighbours: int = DEFAULT_NEIGHBOURS
    alpha: float = DEFAULT_ALPHA
    ranges: ClassVar[dict[str, Range]] = {"limit": Range(int, 1), "neighbours": Range(int, 1, 1000),
                                          "alpha": Range(float, 0.0, 1.0, low_open=True)}

    def __post_init__(self) -> None:
        if self.teacher not in ("auto", *TEACHERS):
            raise HeadstartError(f"unknown pseudo-label teacher '{self.teacher}'; use auto or one of "
                                 f"{', '.join(TEACHERS)}")
        for name, valid in self.ranges.items():
            if getattr(self, name) is not None:
                setattr(self, name, check_range(f"pseudo-label {name}", getattr(self, name), valid))


@dataclass
class PseudoLabels:
    """What the teacher chose: pool rows, their classes and its confidence in each, and how it was chosen."""

    rows: np.ndarray
    targets: np.ndarray
    confidence: np.ndarray
    teacher: str
    reason: str
    cv_accuracy: dict[str, float]
    left_out_unknown: int  # flagged by the unknown-input detector
    left_out_balance: int  # over their class's share of the pseudo-labels (balance, or the limit)
    usable: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pool rows not flagged unknown

    def record(self, classes: list[str]) -> dict[str, Any]:
        counts = np.bincount(self.targets, minlength=len(classes))
        return {"pseudo_labels": len(self.rows), "per_class": dict(zip(classes, counts.tolist(), strict=True)),
                "teacher": self.teacher, "teacher_reason": self.reason, "cv_accuracy": self.cv_accuracy,
                "left_out": {"unknown": self.left_out_unknown, "over_quota": self.left_out_balance},
                "mean_confidence": float(self.confidence.mean()) if len(self.confidence) else None}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Each row's most probable class, or -1 for a row with no class above chance (propagation's unreached
    nodes: all zeros)."""
    chance = 1.0 / probabilities.shape[1]
    return np.where(probabilities.max(axis=1) > chance, probabilities.argmax(axis=1), -1)


def quotas(labelled: np.ndarray, num_classes: int, total: int) -> np.ndarray:
    """``total`` shared out by the classes' shares of the labelled examples (largest remainders: the quotas add up
    to ``total`` exactly)."""
    exact = np.bincount(labelled, minlength=num_classes) / len(labelled) * total
    share = np.floor(exact).astype(int)
    share[np.argsort(-(exact - share), kind="stable")[: total - share.sum()]] += 1
    return share


def balanced_choice(probabilities: np.ndarray, labelled: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Rows to pseudo-label: of each class, at most its share of the labelled examples times all the rows (times
    ``limit`` with one), those predicted as it with the highest probability (ties by row, so the choice is
    reproducible). Rows with no class above chance are never chosen."""
    num_classes = probabilities.shape[1]
    allowed = quotas(labelled, num_classes, min(limit or len(probabilities), len(probabilities)))
    predicted, confidence = predicted_classes(probabilities), probabilities.max(axis=1)
    chosen = []
    for label in range(num_classes):
        rows = np.flatnonzero(predicted == label)
        chosen.append(rows[np.lexsort((rows, -confidence[rows]))[: allowed[label]]])
    return np.sort(np.concatenate(chosen))


def pseudo_label(model: TransferModel, train: Split, pool: Split, ctx: FitContext,
                 options: PseudoLabelling | None = None) -> PseudoLabels:
    """Pseudo-labels for ``pool`` from ``model``'s (pre-trained, frozen) backbone and the labelled ``train``."""
    options = options or PseudoLabelling()
    x_train = ctx.features(model, train, "features (train)")
    x_pool = ctx.features(model, pool, "features (unlabelled pool)")
    usable = ~NoveltyDetector().fit(x_train).unknown(x_pool) if len(x_train) >= 2 else np.ones(len(x_pool), bool)
    if not usable.any():
        return PseudoLabels(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), "none",
                            "every pool input is unlike the labelled examples", {}, len(usable), 0)
    usable_rows = np.flatnonzero(usable)
    defaults = probe_options(model.backbone)  # TF-IDF: its rows as they are
    z_train, power, scale = probe_inputs(x_train, defaults.get("power"), defaults.get("scale"))
    z_pool = probe_inputs(x_pool[usable], power, scale)[0]
    y = np.asarray(train.targets)
    recipe, classes = ctx.task.probe_recipe, ctx.num_classes
    ctx.reporter.say(f"  label propagation graph: {len(z_train) + len(z_pool)} inputs, {options.neighbours} "
                     "neighbours each")
    graph = knn_graph(np.concatenate([z_train, z_pool]), options.neighbours)
    present = np.bincount(y)
    folds = min(5, int(present[present > 0].min()))

    def fit(rows: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(limits=1, user_api="blas"):
            return recipe.fit(z_train[rows], y[rows], c, ctx.seed, None, classes)

    def teach(rows: np.ndarray, c: float, nodes: np.ndarray) -> dict[str, np.ndarray]:
        """Each teacher's probabilities for the graph's ``nodes``, taught by the labelled ``rows``."""
        weight, bias = fit(rows, c)
        points = np.concatenate([z_train, z_pool])[nodes]
        probe = softmax(points @ weight.T + bias)
        spread = propagate(graph, rows, y[rows], classes, options.alpha)[nodes]
        both = probe * spread
        return {"probe": probe, "propagation": spread, "both": both / np.maximum(both.sum(1, keepdims=True), 1e-300)}

    c, cv = DEFAULT_C, {}
    if folds >= 2:
        with threadpool_limits(limits=1, user_api="blas"):
            c = recipe.cross_validate(z_train, y, C_GRID, folds, ctx.seed).C
        hits = dict.fromkeys(TEACHERS, 0)
        for kept, hidden in cv_folds(folds, ctx.seed).split(z_train, y):
            for name, found in teach(kept, c, hidden).items():
                hits[name] += int((predicted_classes(found) == y[hidden]).sum())
        cv = {name: hit / len(y) for name, hit in hits.items()}
    measured = f"{folds}-fold cross-validation on the labelled examples: " + ", ".join(
        f"{name} {value:.1%}" for name, value in cv.items())
    if options.teacher != "auto":
        teacher, reason = options.teacher, "chosen by the user"
    elif not cv:
        teacher, reason = "propagation", "too few labelled examples per class to cross-validate"
    else:
        teacher = max(("propagation", "both"), key=lambda name: cv[name])  # the first of equals
        if cv[teacher] <= cv["probe"]:
            # Only the pool's structure (the graph) can teach the probe something new: its own confident guesses
            # are the easy inputs (self-training, measured: no gain). So without the graph's help, no pseudo-labels.
            return PseudoLabels(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), "none",
                                f"no teacher that uses the pool beats the probe alone ({measured})", cv,
                                int((~usable).sum()), 0, usable_rows)
        reason = f"the most accurate ({measured})"
    probabilities = teach(np.arange(len(y)), c, len(y) + np.arange(len(z_pool)))[teacher]
    chosen = balanced_choice(probabilities, y, options.limit)
    ctx.reporter.say(f"  pseudo-labels from {teacher}: {reason}")
    rows = usable_rows[chosen]
    return PseudoLabels(rows, probabilities[chosen].argmax(1), probabilities[chosen].max(1), teacher, reason, cv,
                        int((~usable).sum()), len(z_pool) - len(chosen), usable_rows)

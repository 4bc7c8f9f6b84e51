"""auto's guard rail (issue 34): ``auto`` never saves a model that its own validation estimate puts below the plain
probe, the naive recipe a user could write in ten lines (the model's own preprocessing, fp32 features, scikit-learn's
default logistic regression on them).

The plain probe is fitted as a sibling estimator with the run's data, seed and refit setting, and both are judged on
the same examples: the validation split when the run set one aside (both models scored on it before any refit),
else the linear probe's cross-validation folds (same folds, same seed). Ties keep auto's choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headstart.data.dataset import DataSplits
from headstart.progress import Reporter
from headstart.strategies import LinearProbe, get_strategy

if TYPE_CHECKING:
    from headstart.estimators.base import Estimator
    from headstart.models.registry import ModelSpec
    from headstart.tasks import Task

PLAIN_PROBE = LinearProbe(C=1.0, scale=1.0)  # scikit-learn's default regression on the raw features
GUARD_ITEMS = 5_000  # labelled examples up to which the guard runs (about 2 min of fp32 features at 224 px here)
SIBLING_SKIPS = ("splits_", "throughput_", "data_record_")  # what the run keeps of its own when it falls back


def plain_probe_guard(run: Estimator, task: Task, spec: ModelSpec, splits: DataSplits, reporter: Reporter
                      ) -> Estimator | None:
    """Fit the plain probe beside ``run`` (fitted by auto) and compare their estimates; record the verdict in
    ``run.fit_details_["auto"]["guard"]``. Returns the fitted plain probe when it scores higher, else None."""
    knobs = task.plain_probe_knobs(spec) or {}
    labelled = len(splits.train) + (len(splits.val) if splits.val is not None else 0)
    verdict: dict[str, Any]
    if labelled > GUARD_ITEMS:
        verdict = {"checked": False, "message": f"not checked: {labelled} labelled examples (over {GUARD_ITEMS}), "
                                                "where the adapting strategies measured well above the plain probe"}
    else:
        params = {**run.get_params(), "model": spec.name, "strategy": PLAIN_PROBE, "precision": "fp32",
                  "verbose": False, **knobs}
        params.pop("budget", None)  # for auto only
        plain = type(run)(**params)
        reporter.say("guard rail: fitting the plain probe (model's own preprocessing, fp32, default logistic "
                     "regression) to compare")
        plain.fit(DataSplits(splits.train, splits.val, splits.test, dict(splits.record), []))
        ours, theirs, how = estimate(run, splits), estimate(plain, splits), estimate_name(run, splits)
        if ours is None or theirs is None:
            verdict = {"checked": False, "message": "not checked: no validation estimate to compare on (no "
                                                    "validation split, and too few examples per class to cross-validate)"}
        else:
            fell_back, choice = theirs > ours, run.strategy_spec_
            message = (f"{choice} {ours:.1%} against the plain probe's {theirs:.1%} ({how}): "
                       + ("the plain probe is saved instead" if fell_back else f"{choice} is kept"))
            verdict = {"checked": True, "estimate": how, "auto": ours, "plain_probe": theirs, "fell_back": fell_back,
                       "seconds": round(plain.fit_seconds_, 2), "message": message}
            reporter.say(f"guard rail: {message}")
            if fell_back:
                return _adopt(run, plain, verdict)
    run.fit_details_.setdefault("auto", {})["guard"] = verdict
    return None


def estimate(model: Estimator, splits: DataSplits) -> float | None:
    """A fitted model's validation estimate: its score on the validation split before any refit, else its
    cross-validated accuracy (linear probe), else None."""
    key = "balanced_accuracy" if getattr(model, "class_weight", "none") == "auto" else "accuracy"
    if splits.val is not None and len(splits.val):
        if model.holdout_ is None:
            model.holdout_ = model.evaluate_with_outputs(splits.val)
        return float(model.holdout_[0][key])
    # Cross-validated on frozen features only: a backbone trained on the folds' examples would score itself.
    return model.fit_details_.get("cv_accuracy") if get_strategy(model.strategy_).frozen_backbone else None


def estimate_name(model: Estimator, splits: DataSplits) -> str:
    if splits.val is not None and len(splits.val):
        return f"validation split of {len(splits.val)}, scored before any refit"
    return f"{model.fit_details_.get('cv_folds')}-fold cross-validation on the same folds"


def _adopt(run: Estimator, plain: Estimator, verdict: dict) -> Estimator:
    """Make ``run`` the plain probe (what it learned, its preprocessing and precision); keep why in its record."""
    auto = {**run.fit_details_.get("auto", {}), "guard": verdict, "discarded": run.strategy_spec_}
    seconds = run.fit_seconds_ + plain.fit_seconds_
    reason = (f"{run.strategy_reason_}; then the guard rail: {run.strategy_spec_} scored {verdict['auto']:.1%} and "
              f"the plain probe {verdict['plain_probe']:.1%} ({verdict['estimate']}), so the plain probe is saved")
    for key, value in vars(plain).items():
        if key.endswith("_") and key not in SIBLING_SKIPS:
            setattr(run, key, value)
    run.splits_.warnings.extend(w for w in plain.splits_.warnings if w not in run.splits_.warnings)
    run.fit_details_ = {**plain.fit_details_, "auto": auto}
    run.fit_seconds_ = seconds
    run.strategy_reason_ = reason
    return plain

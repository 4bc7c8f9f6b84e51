"""auto's guard rail (issue 34): ``auto`` never saves a model that its own validation data shows clearly below the
plain probe, the naive recipe a user could write in ten lines (the model's own preprocessing, fp32 features,
scikit-learn's default logistic regression on them).

The plain probe is fitted as a sibling estimator with the run's data, seed and refit setting, and both are judged on
the same examples: the validation split when the run set one aside (both models scored on it before any refit),
else the linear probe's cross-validation folds (same folds, same seed; each example predicted by the fold that left
it out). The plain probe replaces auto's choice when it is right on more of these examples than the choice, by more
than chance: a one-sided sign test on the examples exactly one of them gets right, at ``ALPHA``. Why not simply the
higher score: on 3 to 20 validation examples that is mostly noise, and in the first measurements every fallback on a
lead within chance lowered the test accuracy (0.5 to 2.7 points; docs/benchmarks.md). A strategy that stops
early on the validation split is judged on the split it selected on, a slight edge for auto's choice: the test asks
the plain probe for a clear lead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import binomtest

from headstart.data.dataset import DataSplits
from headstart.errors import HeadstartError
from headstart.features.probe_recipe import probe_options
from headstart.progress import Reporter
from headstart.strategies import LinearProbe, get_strategy

if TYPE_CHECKING:
    from headstart.estimators.base import Estimator
    from headstart.models.registry import ModelSpec
    from headstart.tasks import Task

PLAIN_PROBE = LinearProbe(C=1.0, scale=1.0, power=1.0)  # scikit-learn's default regression on the raw features
ALPHA = 0.05  # the sign test's level: how unlikely the plain probe's lead must be under a coin toss
GUARD_ITEMS = 5_000  # labelled examples up to which the guard runs (about 2 min of fp32 features at 224 px here)
SIBLING_SKIPS = ("splits_", "data_record_")  # what the run keeps of its own when it falls back


def guards(task: Task, spec: ModelSpec, splits: DataSplits) -> bool:
    """Whether the guard rail applies: a task with a plain probe, and at most ``GUARD_ITEMS`` labelled examples."""
    labelled = len(splits.train) + (len(splits.val) if splits.val is not None else 0)
    return task.plain_probe_knobs(spec) is not None and labelled <= GUARD_ITEMS


def is_plain_probe(run: Estimator) -> bool:
    """Whether ``run`` fitted the plain probe itself: a linear probe with no options of its own, on a backbone whose
    ``probe_defaults`` are the plain probe's (TF-IDF's)."""
    own = probe_options(getattr(run.model_, "backbone", None))
    return (bool(own) and run.strategy_spec_ == PLAIN_PROBE.name
            and all(getattr(PLAIN_PROBE, name) == value for name, value in own.items()))


def plain_probe_guard(run: Estimator, task: Task, spec: ModelSpec, splits: DataSplits, reporter: Reporter
                      ) -> Estimator | None:
    """Fit the plain probe beside ``run`` (fitted by auto) and compare their estimates; record the verdict in
    ``run.fit_details_["auto"]["guard"]``. Returns the plain probe, now adopted by ``run``, when its lead is beyond
    chance, else None."""
    knobs = task.plain_probe_knobs(spec)
    verdict: dict[str, Any]
    if knobs is None:
        return None
    if is_plain_probe(run):
        verdict = {"checked": False, "message": "not checked: the run is the plain probe (its model's own probe "
                                                "options are the plain probe's)"}
    elif not guards(task, spec, splits):
        verdict = {"checked": False, "message": f"not checked: over {GUARD_ITEMS} labelled examples, where the "
                                                "adapting strategies measured well above the plain probe"}
    elif (plain := _fit_plain_probe(run, spec, knobs, splits, reporter)) is None:
        verdict = {"checked": False, "message": "not checked: the plain probe could not be fitted (see the log)"}
    else:
        ours, theirs, how = estimate(run, splits), estimate(plain, splits), estimate_name(run, splits)
        pairs = correct_pairs(run, plain, splits)
        if ours is None or theirs is None or pairs is None:
            verdict = {"checked": False, "message": "not checked: no estimate to compare on (no validation split, "
                                                    "and no cross-validation on frozen features with 2 or more "
                                                    "examples per class)"}
        else:
            choice = run.strategy_spec_
            plain_only, choice_only = int((pairs[1] & ~pairs[0]).sum()), int((pairs[0] & ~pairs[1]).sum())
            p_value = sign_test(plain_only, choice_only)
            fell_back = p_value < ALPHA
            outcome = ("the plain probe is saved instead" if fell_back else
                       f"{choice} is kept" + (" (the plain probe's lead is within chance)" if theirs > ours else ""))
            message = (f"{choice} {ours:.1%} against the plain probe's {theirs:.1%} ({how}; right where the other is "
                       f"wrong: {choice_only} against {plain_only}, sign test p={p_value:.2g}): {outcome}")
            verdict = {"checked": True, "estimate": how, "auto": ours, "plain_probe": theirs,
                       "auto_alone_right": choice_only, "plain_probe_alone_right": plain_only, "p_value": p_value,
                       "fell_back": fell_back, "seconds": round(plain.fit_seconds_, 2), "message": message}
            reporter.say(f"guard rail: {message}")
            if fell_back:
                return _adopt(run, plain, verdict)
    run.fit_details_.setdefault("auto", {})["guard"] = verdict
    return None


def _fit_plain_probe(run: Estimator, spec: ModelSpec, knobs: dict, splits: DataSplits, reporter: Reporter
                     ) -> Estimator | None:
    """The plain probe fitted as ``run`` was (data, seed, refit); None if that fails (the run goes on without)."""
    params = {**run.get_params(), "model": spec.name, "strategy": PLAIN_PROBE, "precision": "fp32", "verbose": False,
              **knobs}
    for knob in ("budget", "pseudo_teacher", "pseudo_limit"):  # for auto, and for a pool: the plain probe has neither
        params.pop(knob, None)
    reporter.say("guard rail: fitting the plain probe (model's own preprocessing, fp32, default logistic "
                 "regression) to compare")
    sibling = type(run)(**params)
    sibling._with_extras = False  # the run fits its own (unknown-input detector...) once it is settled
    try:
        return sibling.fit(DataSplits(splits.train, splits.val, splits.test, dict(splits.record), []))
    except (HeadstartError, RuntimeError, MemoryError, OSError) as exc:  # the guard must not cost the run itself
        reporter.say(f"guard rail: the plain probe failed ({str(exc)[:200]}); auto's choice is kept unjudged")
        return None


def estimate(model: Estimator, splits: DataSplits) -> float | None:
    """A fitted model's validation estimate: its score on the validation split before any refit, else its
    cross-validated accuracy (linear probe), else None."""
    key = "balanced_accuracy" if getattr(model, "class_weight", "none") == "auto" else "accuracy"
    if splits.val is not None and len(splits.val):
        return float(held_out(model, splits.val)[0][key])
    # Cross-validated on frozen features only: a backbone trained on the folds' examples would score itself.
    return model.fit_details_.get("cv_accuracy") if get_strategy(model.strategy_).frozen_backbone else None


def held_out(model: Estimator, val: Any) -> tuple[dict, Any]:
    """The model's scores and outputs on the validation split before any refit, computed once (``holdout_``)."""
    if model.holdout_ is None:
        model.holdout_ = model.evaluate_with_outputs(val)
    return model.holdout_


def correct_pairs(run: Estimator, plain: Estimator, splits: DataSplits) -> tuple[np.ndarray, np.ndarray] | None:
    """Whether each judged example is right, for the run and the plain probe: the validation split's predictions,
    or the out-of-fold predictions of the cross-validation."""
    if splits.val is not None and len(splits.val):
        truth = np.searchsorted(run.classes_, splits.val.labels)
        return tuple(np.asarray(held_out(m, splits.val)[1]).argmax(axis=1) == truth for m in (run, plain))
    if run.out_of_fold_ is None or plain.out_of_fold_ is None:
        return None
    truth = np.searchsorted(run.classes_, splits.train.labels)
    return run.out_of_fold_ == truth, plain.out_of_fold_ == truth


def sign_test(plain_only: int, choice_only: int) -> float:
    """One-sided p-value of the plain probe's lead on the examples exactly one model gets right (1 without one)."""
    if plain_only <= choice_only:
        return 1.0
    return float(binomtest(plain_only, plain_only + choice_only, 0.5, alternative="greater").pvalue)


def estimate_name(model: Estimator, splits: DataSplits) -> str:
    if splits.val is not None and len(splits.val):
        return f"validation split of {len(splits.val)}, scored before any refit"
    return f"{model.fit_details_.get('cv_folds')}-fold cross-validation on the same folds"


def _adopt(run: Estimator, plain: Estimator, verdict: dict) -> Estimator:
    """Make ``run`` the plain probe (what it learned, its preprocessing and precision); keep why in its record."""
    auto = {**run.fit_details_.get("auto", {}), "guard": verdict, "discarded": run.strategy_spec_}
    pool = run.fit_details_.get("unlabeled")  # the plain probe trains on labelled examples alone: say so
    dropped = {"unlabeled": {**{k: pool[k] for k in ("source", "pool", "left_out", "cv_accuracy", "seconds")},
                             "pseudo_labels": 0, "per_class": {}, "teacher": "none",
                             "teacher_reason": f"discarded with auto's choice, which used it ({pool['teacher_reason']}): "
                                               "the plain probe trains on labelled examples alone"}} if pool else {}
    seconds = run.fit_seconds_ + plain.fit_seconds_
    reason = f"{run.strategy_reason_}; then the guard rail: {verdict['message']}"
    for key, value in vars(plain).items():
        if key.endswith("_") and key not in SIBLING_SKIPS:
            setattr(run, key, value)
    run.splits_.warnings.extend(w for w in plain.splits_.warnings if w not in run.splits_.warnings)
    run.fit_details_ = {**plain.fit_details_, "auto": auto, **dropped}
    run.fit_seconds_ = seconds
    run.strategy_reason_ = reason
    return plain

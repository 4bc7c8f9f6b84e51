"""``RunConfig``: what a run is asked to do, in the shape of a run's ``config.json``.

A run's ``config.json`` (and the launch record a run in progress keeps) holds the estimator's knobs under
``params`` (model and strategy among them) and the data arguments under ``data.args``. ``RunConfig`` reads that
shape, a flat mapping of the same names (JSON or YAML, as people write by hand), merges options given on top of
it, and gives back the keyword arguments of :func:`headstart.train` (which writes config.json itself; ``to_dict``
gives the same ``params`` and ``data.args`` keys)::

    config = RunConfig.from_file("runs/first/config.json").merged(epochs=5)
    headstart.train(**config.train_kwargs())
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from headstart.errors import HeadstartError
from headstart.estimators import ESTIMATORS, estimator_for
from headstart.rundir import read_launch
from headstart.strategies import strategy_spec
from headstart.tasks import infer_task

READ_ARGS = ("per_class", "test_per_class", "text_column", "label_column", "unlabeled", "labels")
NOT_KNOBS = ("model", "strategy", "verbose")  # estimator parameters a config holds apart, or not at all


@dataclass(frozen=True)
class RunConfig:
    """The data, model, strategy, data-reading options and estimator knobs of one training run."""

    data: str | None = None
    model: str | None = None
    strategy: Any = None
    task: str | None = None
    read: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    given: tuple[str, ...] = ()  # knobs given to ``merged``: kept whatever the task (and refused if they do not apply)

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """A run's config.json, or a JSON/YAML file of the same keys (nested as config.json, or flat)."""
        path = Path(path)
        if not path.is_file():
            raise HeadstartError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                mapping = yaml.safe_load(text)
            else:
                mapping = json.loads(text)
        except Exception as exc:
            raise HeadstartError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from exc
        if not isinstance(mapping, dict):
            raise HeadstartError(f"{path} must hold a mapping of option names to values")
        return cls.from_dict(mapping)

    @classmethod
    def from_run(cls, run_dir: str | Path) -> RunConfig:
        """How an unfinished run was started (its launch record), to resume it with the same options."""
        return cls.from_dict(read_launch(run_dir))

    @classmethod
    def from_dict(cls, mapping: dict[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_dict`; a flat mapping (``{"model": ..., "epochs": 5, "data": "photos/"}``)
        is read too. Keys that are not options of any task (a config.json's records) are left out."""
        params = dict(mapping.get("params", mapping))
        data = mapping.get("data")
        args = dict(data.get("args", {})) if isinstance(data, dict) else {"data": data} if data else {}
        if args.get("from"):  # its old classes came from another run's kept features, not from data to read again
            raise HeadstartError(f"this run was made by adding classes to {args['from']}; to do it again: headstart "
                                 f"train {args.get('data', 'DATA')} --from {args['from']} --out NEW_FOLDER")
        args.update({k: params.pop(k) for k in (*READ_ARGS, "task") if k in params and "params" not in mapping})
        known = {knob for estimator in _estimators() for knob in estimator.knobs()}
        return cls(
            data=args.pop("data", None), model=params.get("model"), strategy=params.get("strategy"),
            task=args.pop("task", None), read={k: args[k] for k in READ_ARGS if args.get(k) is not None},
            params={k: v for k, v in params.items() if k in known and k not in NOT_KNOBS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``params`` and ``data.args`` keys of a run's config.json."""
        params = {**self.params, "model": self.model, "strategy": strategy_spec(self.strategy or "auto")}
        args = {"data": None if self.data is None else str(self.data), "task": self.resolved_task(), **self.read}
        return {"params": params, "data": {"args": args}}

    def merged(self, **given: Any) -> RunConfig:
        """This config with the options in ``given`` that are set (not None) on top. The knobs this config
        brings are kept where they apply to the run's task (a config.json holds every knob of its own task, set
        or not); a knob given here is always kept, so one that does not apply is refused when the run starts."""
        given = {k: v for k, v in given.items() if v is not None}
        fields = {k: given.pop(k) for k in ("data", "model", "strategy", "task") if k in given}
        read = {**self.read, **{k: given.pop(k) for k in READ_ARGS if k in given}}
        merged = replace(self, **fields, read=read)
        task = merged.task or (infer_task(merged.data, merged.model) if merged.data else None)
        own = set(estimator_for(task).knobs()) if task else None
        kept = {k: v for k, v in self.params.items()
                if v is not None and (own is None or k in own or k in self.given)}
        return replace(merged, params={**kept, **given}, given=tuple(dict.fromkeys(self.given + tuple(given))))

    def resolved_task(self) -> str | None:
        """The task given, else the one the model or the data implies (None without either)."""
        if self.task or not (self.data or self.model):
            return self.task
        return infer_task(self.data or "", self.model)

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`headstart.train` (DATA must be known)."""
        if self.data is None:
            raise HeadstartError("no DATA given: pass an image folder, a CSV/JSONL file, or a dataset name such as "
                                 "'sample'")
        return {"data": self.data, "model": self.model, "strategy": self.strategy or "auto", "task": self.task,
                **self.read, **self.params}


def _estimators() -> list[type]:
    estimator_for("image")  # registers every estimator
    return list(ESTIMATORS.values())

"""Benchmark: time-to-accuracy of headstart against the recipes users would pick instead, in one run on one machine.

    python bench/side_by_side.py                        # 100 and 1,000 per class, 224 px (many hours on 2 cores)
    python bench/side_by_side.py --smoke                # 10 per class, 200 test images, 1 epoch each: minutes

The full run takes longer than one sitting on a 2-core machine (the tutorial alone, 25 full-network epochs on 10,000
images, takes many hours), so it is resumable: run the same command again and it skips the cells already in the
results file (same size, test split, epochs and machine) and carries the tutorial and fastai on from their last
finished epoch (state under ~/.cache/headstart/side_by_side/; only finished epochs count towards training time).
``--fresh`` starts over. ``--tutorial-minutes M`` ends a sitting's tutorial before an epoch that would take it past M
minutes and records its test accuracy so far as a partial row (``"partial": true``, ``epochs_done``): a point on its
time-to-accuracy curve; the next run goes on from there.

Same data (Fashion-MNIST, N labelled images per class, the official test split), same EfficientNet-Lite0 weights:
(a) headstart linear-probe, head and fine-tune (its defaults: bf16 extraction where the CPU has it, feature and
decoded-image caches); (b) the classic PyTorch transfer-learning tutorial (torchvision ImageFolder on PNG files,
full fine-tune with SGD and StepLR, fp32, no caching); (c) fastai (``vision_learner`` on the same timm backbone and
weights, ``fine_tune``). Each row: test accuracy, training seconds, seconds per fine-tuning epoch. Rows go to
bench/results/side_by_side.jsonl; ``python bench/report.py --write`` puts the table and the goal ratios in
docs/benchmarks.md. fastai is in the ``bench`` extra (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from headstart import ImageClassifier
from headstart.data.dataset import DataSplits
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.models import create_backbone, get_model_spec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "side_by_side.jsonl"
TUTORIAL, FASTAI = "pytorch tutorial (full fine-tune, fp32)", "fastai vision_learner + fine_tune"
STATE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "headstart" / "side_by_side"
SPEC = get_model_spec("efficientnet_lite0")
MEAN, STD = SPEC.preprocessing["mean"], SPEC.preprocessing["std"]


def write_image_folder(splits: DataSplits, root: Path) -> Path:
    """The tutorial's layout: root/{train,val}/<class>/<n>.png (val is the test split, as in the tutorial)."""
    for name, part in (("train", splits.train), ("val", splits.test)):
        for index, (item, label) in enumerate(zip(part.items, part.labels, strict=True)):
            folder = root / name / label
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(item)).convert("RGB").save(folder / f"{index}.png")
    return root


class EpochState:
    """The state of one long recipe after each finished epoch, so that a run stopped part-way (a time limit, a
    crash) goes on from there. Kept only for the same recipe, size and machine: epochs timed on another machine
    would not add up to one training time. Written atomically; removed once the row is recorded."""

    def __init__(self, name: str, config: dict) -> None:
        self.path = STATE_DIR / f"{name}.pt"
        self.config = {**config, "machine": machine()}

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        state = torch.load(self.path, weights_only=False)  # our own file: model, optimiser and timings
        if state["config"] != self.config:
            print(f"{self.path}: saved for another configuration, starting over", flush=True)
            return None
        print(f"{self.path.stem}: resuming after epoch {state['epoch']}", flush=True)
        return state

    def save(self, **state) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        torch.save({**state, "config": self.config}, partial)
        os.replace(partial, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def headstart_run(splits: DataSplits, strategy: str, epochs: int | None) -> dict:
    clf = ImageClassifier(strategy=strategy, epochs=epochs, image_size=224, cache=tempfile.mkdtemp())
    clf.fit(DataSplits(splits.train, None, None, splits.record))
    accuracy = float((clf.predict(splits.test.items) == np.asarray(splits.test.labels)).mean())
    # fine-tune's epochs with the whole network unfrozen (the "all" stage) compare with fastai's unfrozen ones.
    tuned = [r["seconds"] for r in clf.history_ if r["stage"] == "all"] or [r["seconds"] for r in clf.history_]
    return {"method": f"headstart {strategy}", "test_accuracy": accuracy, "train_seconds": clf.fit_seconds_,
            "epoch_seconds": float(np.mean(tuned)) if strategy == "fine-tune" else None, "precision": clf.precision,
            "epochs": epochs}


def tutorial_run(folder: Path, epochs: int, state: EpochState, batch_size: int = 32,
                 budget_seconds: float | None = None) -> dict:
    """pytorch.org's "Transfer Learning for Computer Vision" recipe, on Lite0 (its own mean/std). With a budget,
    stops before an epoch that would run past it (at least one epoch runs) and scores the model so far."""
    from torchvision import datasets, transforms

    train_tf = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                                   transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    val_tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize(MEAN, STD)])
    train = datasets.ImageFolder(folder / "train", train_tf)
    val = datasets.ImageFolder(folder / "val", val_tf)
    model = create_backbone(SPEC)
    model = torch.nn.Sequential(model, torch.nn.Linear(model.num_features, len(train.classes)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    saved = state.load() or {"epoch": 0, "epoch_seconds": [], "commits": []}
    if saved["epoch"]:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    epoch_seconds, commits = saved["epoch_seconds"], sorted({*saved["commits"], commit()})
    sitting = []
    for epoch in range(saved["epoch"], epochs):
        if budget_seconds is not None and sitting and sum(sitting) + np.mean(sitting) > budget_seconds:
            print(f"tutorial: stopping after epoch {epoch} of {epochs}, the budget of this sitting", flush=True)
            break
        torch.manual_seed(epoch)  # epoch k draws the same order and crops whether or not the run was resumed
        began = time.perf_counter()
        model.train()
        for inputs, labels in torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True):
            optimizer.zero_grad()
            loss_fn(model(inputs), labels).backward()
            optimizer.step()
        scheduler.step()
        sitting.append(time.perf_counter() - began)
        epoch_seconds.append(sitting[-1])
        state.save(model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                   epoch=epoch + 1, epoch_seconds=epoch_seconds, commits=commits)
    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, labels in torch.utils.data.DataLoader(val, batch_size=64):
            correct += int((model(inputs).argmax(1) == labels).sum())
    return {"method": TUTORIAL, "test_accuracy": correct / len(val),
            "train_seconds": sum(epoch_seconds), "epoch_seconds": float(np.mean(epoch_seconds)), "precision": "fp32",
            "epochs": epochs, "epochs_done": len(epoch_seconds), "partial": len(epoch_seconds) < epochs,
            "commits": commits}


def fastai_run(folder: Path, epochs: int, state: EpochState, freeze_epochs: int = 1, batch_size: int = 32) -> dict:
    """fastai's documented recipe: vision_learner on the timm backbone (our weights loaded), ``fine_tune``. Its two
    phases are called here as ``fine_tune`` calls them (same defaults), so that a stopped run can go on from its
    last epoch with fastai's own ``start_epoch``."""
    from fastai.vision.all import (
        Callback,
        CategoryBlock,
        DataBlock,
        GrandparentSplitter,
        ImageBlock,
        Normalize,
        Resize,
        accuracy,
        aug_transforms,
        get_image_files,
        parent_label,
        vision_learner,
    )

    base_lr, lr_mult = 2e-3, 100  # fine_tune's defaults
    saved = state.load() or {"epoch": 0, "epoch_seconds": [], "validate_seconds": [], "commits": []}
    commits = sorted({*saved["commits"], commit()})

    class EpochTimer(Callback):
        """The training phase of each epoch, and the validation fastai runs after it (on our test split, as the
        tutorial does): headstart and the tutorial do not score the test split while training, so it is taken
        out of fastai's training time too. After each epoch, the state to go on from."""

        order = 99  # after the recorder

        def __init__(self, offset: int) -> None:
            self.offset = offset

        def before_train(self):
            self.began = time.perf_counter()

        def after_train(self):
            saved["epoch_seconds"].append(time.perf_counter() - self.began)
            self.trained = True

        def before_validate(self):
            self.began = time.perf_counter()

        def after_validate(self):
            saved["validate_seconds"].append(time.perf_counter() - self.began)

        def after_epoch(self):  # fastai calls it for the epochs start_epoch skips too: those are saved already
            if getattr(self, "trained", False):
                self.trained = False
                state.save(**{**saved, "epoch": self.offset + self.epoch + 1, "commits": commits,
                              "model": self.learn.model.state_dict(), "optimizer": self.learn.opt.state_dict()})

    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                      splitter=GrandparentSplitter(train_name="train", valid_name="val"), item_tfms=Resize(224),
                      batch_tfms=[*aug_transforms(), Normalize.from_stats(MEAN, STD)])
    dls = block.dataloaders(folder, bs=batch_size, num_workers=0)
    learn = vision_learner(dls, SPEC.architecture, pretrained=False, metrics=accuracy)
    learn.model[0].model.load_state_dict(create_backbone(SPEC).state_dict())
    done = saved["epoch"]
    with learn.no_bar(), learn.no_logging():
        if done < freeze_epochs:
            learn.freeze()
            learn.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, start_epoch=done, cbs=EpochTimer(0))
        learn.unfreeze()  # clears the optimiser's state, as in fine_tune
        if done >= freeze_epochs:
            learn.model.load_state_dict(saved["model"])
            if done > freeze_epochs:  # mid-way through the unfrozen phase: its optimiser state too
                learn.opt.load_state_dict(saved["optimizer"])
        learn.fit_one_cycle(epochs, slice(base_lr / 2 / lr_mult, base_lr / 2), pct_start=0.3, div=5.0,
                            start_epoch=max(done - freeze_epochs, 0), cbs=EpochTimer(freeze_epochs))
        _, test_accuracy = learn.validate()
    tuned = saved["epoch_seconds"][freeze_epochs:] or saved["epoch_seconds"]
    return {"method": FASTAI, "test_accuracy": float(test_accuracy),
            "train_seconds": sum(saved["epoch_seconds"]), "epoch_seconds": float(np.mean(tuned)),
            "precision": "fp32", "epochs": freeze_epochs + epochs, "commits": commits}


def recorded(path: Path, fresh: bool) -> set[tuple]:
    """The finished cells in the results file, as (per class, test images, method, epochs, machine)."""
    if fresh or not path.exists():
        return set()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["per_class"], r["n_test"], r["method"], r.get("epochs"), r["machine"]) for r in rows
            if not r["smoke"] and not r.get("partial")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", default="100,1000", help="comma-separated labelled images per class")
    parser.add_argument("--test-per-class", type=int, default=None, help="default: the whole official test split")
    parser.add_argument("--methods", default="headstart,tutorial,fastai")
    parser.add_argument("--strategies", default="linear-probe,head,fine-tune")
    parser.add_argument("--tutorial-epochs", type=int, default=25, help="the tutorial's 25")
    parser.add_argument("--tutorial-minutes", type=float, default=None,
                        help="end this sitting's tutorial before an epoch past M minutes; record a partial row")
    parser.add_argument("--fastai-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="headstart epochs [its strategies' defaults]")
    parser.add_argument("--smoke", action="store_true", help="10 per class, 20 test per class, 1 epoch everywhere")
    parser.add_argument("--fresh", action="store_true", help="run every cell again, from its first epoch")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file rows are appended to")
    args = parser.parse_args()
    if args.smoke:
        args.per_class, args.test_per_class = "10", 20
        args.tutorial_epochs = args.fastai_epochs = args.epochs = 1
    methods = {m.strip() for m in args.methods.split(",")}
    done = recorded(args.out, args.fresh)
    for per_class in [int(n) for n in args.per_class.split(",")]:
        splits = load_fashion_mnist(per_class=per_class, test_per_class=args.test_per_class, seed=0)
        n_test = len(splits.test)

        def todo(method: str, epochs: int | None, per_class: int = per_class, n_test: int = n_test) -> bool:
            if (per_class, n_test, method, epochs, machine()) in done:
                print(f"{per_class} per class, {method}: in {args.out} already (--fresh runs it again)")
                return False
            return True

        def record(row: dict, per_class: int = per_class, n_test: int = n_test) -> None:
            append_row(args.out, {**row, "per_class": per_class, "n_test": n_test, "image_size": 224,
                                 "smoke": args.smoke, "machine": machine(), "commit": commit()})

        def state(recipe: str, epochs: int, per_class: int = per_class, n_test: int = n_test) -> EpochState:
            found = EpochState(f"{recipe}-{per_class}", {"per_class": per_class, "n_test": n_test, "epochs": epochs})
            if args.fresh:
                found.clear()
            return found

        if "headstart" in methods:
            for strategy in args.strategies.split(","):
                if todo(f"headstart {strategy}", args.epochs):
                    record(headstart_run(splits, strategy, args.epochs))
        fastai_epochs = 1 + args.fastai_epochs  # fine_tune's one frozen epoch, then the unfrozen ones
        tutorial = "tutorial" in methods and todo(TUTORIAL, args.tutorial_epochs)
        fastai = "fastai" in methods and todo(FASTAI, fastai_epochs)
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_image_folder(splits, Path(tmp)) if tutorial or fastai else None
            if tutorial:
                tutorial_state = state("tutorial", args.tutorial_epochs)
                budget = args.tutorial_minutes * 60 if args.tutorial_minutes else None
                row = tutorial_run(folder, args.tutorial_epochs, tutorial_state, budget_seconds=budget)
                record(row)
                if not row["partial"]:
                    tutorial_state.clear()
            if fastai:
                fastai_state = state("fastai", fastai_epochs)
                record(fastai_run(folder, args.fastai_epochs, fastai_state))
                fastai_state.clear()


if __name__ == "__main__":
    main()

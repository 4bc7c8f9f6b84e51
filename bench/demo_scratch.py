"""The demo's scratch run at several input sizes: does training from random weights need the 160 px the probe uses?

    python bench/demo_scratch.py                      # 96 and 160 px, seeds 0 1 2

``headstart demo``'s scratch half (EfficientNet-Lite0 from random weights, up to 10 epochs chosen on a validation
split, then trained again on all 300 images of the shipped Fashion-MNIST sample) at each size and seed, scored on
the sample's 200 test images. Rows go to bench/results/demo_scratch.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from headstart import api

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "demo_scratch.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 160])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    for seed in args.seeds:
        for size in args.sizes:
            with tempfile.TemporaryDirectory() as folder:
                result = api.train("sample", strategy="scratch", epochs=10, image_size=size, seed=seed,
                                   out=Path(folder) / "run", verbose=False, baseline=False, check_leakage=False)
            summary = result.summary
            append_row(RESULTS, {"image_size": size, "seed": seed, "accuracy": summary["scores"]["accuracy"],
                                 "fit_seconds": summary["fit_seconds"], "n_test": summary["scores"]["n"],
                                 "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()

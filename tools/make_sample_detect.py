"""Regenerate the hand-labelled detection sample: real photos from scikit-image and scikit-learn, in YOLO format.

Run from the repository root: ``python tools/make_sample_detect.py``. The boxes below were drawn by hand, by looking
at each photo on a 50-pixel grid (pixel coordinates x1, y1, x2, y2 of the original image). Photos are stored as
JPEG with their longest side at most ``MAX_SIDE`` pixels; YOLO labels are normalised, so they do not change.
"""

from pathlib import Path

from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_images

OUT = Path("src/headstart/data/sample_detect")
MAX_SIDE, QUALITY = 480, 82
CLASSES = ["person", "cat", "cup", "motorcycle", "rocket", "flower"]
china, flower = load_sample_images().images
PHOTOS = {  # name: (split, pixels, [(class, x1, y1, x2, y2), ...])
    "coffee": ("train", data.coffee(), [("cup", 172, 18, 412, 305)]),
    "chelsea": ("train", data.chelsea(), [("cat", 0, 0, 420, 300)]),
    "astronaut": ("train", data.astronaut(), [("person", 20, 15, 365, 512), ("rocket", 352, 0, 472, 280)]),
    "motorcycle_left": ("train", data.stereo_motorcycle()[0], [("motorcycle", 92, 22, 684, 452)]),
    "rocket": ("train", data.rocket(), [("rocket", 305, 125, 340, 405)]),
    "flower": ("train", flower, [("flower", 168, 85, 447, 360), ("flower", 288, 373, 470, 427)]),
    "china": ("train", china, []),  # a temple: none of the classes (an image with no boxes is valid data)
    "camera": ("val", data.camera(), [("person", 0, 62, 335, 512)]),
    "motorcycle_right": ("val", data.stereo_motorcycle()[1], [("motorcycle", 78, 15, 628, 450)]),
}

for name, (split, pixels, boxes) in PHOTOS.items():
    image = Image.fromarray(pixels).convert("RGB")
    width, height = image.size
    rows = [
        f"{CLASSES.index(c)} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
        f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        for c, x1, y1, x2, y2 in boxes
    ]
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    for folder in ("images", "labels"):
        (OUT / folder / split).mkdir(parents=True, exist_ok=True)
    image.save(OUT / "images" / split / f"{name}.jpg", quality=QUALITY)
    (OUT / "labels" / split / f"{name}.txt").write_text("".join(row + "\n" for row in rows))
names = "".join(f"  {i}: {c}\n" for i, c in enumerate(CLASSES))
(OUT / "data.yaml").write_text(f"# Hand-labelled sample (see README.md)\ntrain: images/train\nval: images/val\nnames:\n{names}")

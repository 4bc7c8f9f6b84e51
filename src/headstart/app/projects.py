"""The app's projects: folders on disk in headstart's own formats, so that the command line and the app work on the
same data and runs.

    PROJECTS/<name>/project.json   name, kind (image or text), classes, created
    PROJECTS/<name>/data/<class>/  images, one folder per class          (image projects)
    PROJECTS/<name>/data.csv       text,label rows                       (text projects)
    PROJECTS/<name>/runs/<id>/     headstart runs (`headstart train data --out runs/<id>`)
    PROJECTS/<name>/removed/       what was removed in the app: moved here, never deleted

Everything is read from disk at each call, so files added or removed by hand while the app runs are seen at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.data.images import IMAGE_EXTENSIONS, decode_image
from headstart.errors import HeadstartError
from headstart.files import atomic_write, write_json

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
FEW = 5  # fewer examples than this in a class: warned
IMBALANCE = 5.0  # the largest class over the smallest: warned beyond this


def check_name(name: str, what: str) -> str:
    """A project or class name that is safe as a folder name."""
    name = str(name).strip()
    if not NAME.match(name) or name in (".", ".."):
        raise HeadstartError(f"the {what} name '{name}' is not allowed; use 1-64 letters, digits, spaces, '_', '-' or "
                             "'.', starting with a letter or digit")
    return name


@dataclass
class Project:
    """One project folder."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> dict:
        try:
            return json.loads((self.root / "project.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HeadstartError(f"{self.root}/project.json is missing or damaged ({exc}); remove the folder or "
                                 "write it again") from exc

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def store(self) -> ImageStore | TextStore:
        return STORES[self.kind](self.root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def classes(self) -> list[str]:
        """The classes named in project.json, and any found on disk (added by hand)."""
        named = list(self.config.get("classes", []))
        return named + sorted(set(self.store.counts()) - set(named))

    def add_class(self, name: str) -> None:
        name = check_name(name, "class")
        config = self.config
        if name.lower() in (c.lower() for c in self.classes()):
            raise HeadstartError(f"the class '{name}' exists already (names are compared without case)")
        config["classes"] = [*config.get("classes", []), name]
        write_json(self.root / "project.json", config)
        self.store.add_class(name)

    def check_class(self, name: str) -> str:
        if name not in self.classes():
            raise HeadstartError(f"no class '{name}' in project {self.name}; add it first")
        return name

    def summary(self) -> dict:
        counts = self.store.counts()
        classes = self.classes()
        per_class = {c: counts.get(c, 0) for c in classes}
        return {"name": self.name, "kind": self.kind, "classes": per_class, "warnings": self.warnings(per_class),
                "runs": [run.name for run in self.runs()]}

    def warnings(self, per_class: dict[str, int]) -> list[str]:
        found = []
        if len(per_class) < 2:
            found.append("add at least two classes")
        few = [c for c, n in per_class.items() if n < FEW]
        if few:
            found.append(f"fewer than {FEW} examples in {', '.join(few)}: add more for a useful model")
        filled = [n for n in per_class.values() if n]
        if len(filled) >= 2 and max(filled) > IMBALANCE * min(filled):
            found.append(f"imbalanced: {max(filled)} examples in the largest class, {min(filled)} in the smallest")
        repeats = self.store.repeats()
        if repeats:
            found.append(f"{repeats} example(s) repeat another one (same content)")
        return found

    def runs(self) -> list[Path]:
        """Runs, oldest first."""
        return sorted(p for p in self.runs_dir.glob("*") if p.is_dir()) if self.runs_dir.is_dir() else []

    def run(self, run_id: str) -> Path:
        path = self.runs_dir / check_name(run_id, "run")
        if not path.is_dir():
            raise HeadstartError(f"no run '{run_id}' in project {self.name}")
        return path

    def removed_dir(self) -> Path:
        folder = self.root / "removed" / time.strftime("%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class ImageStore:
    """Images in class folders; an upload is stored under its content digest (its own name is never a path)."""

    data_arg = "data"

    def __init__(self, root: Path) -> None:
        self.data = root / "data"

    def add_class(self, name: str) -> None:
        (self.data / name).mkdir(parents=True, exist_ok=True)

    def counts(self) -> dict[str, int]:
        if not self.data.is_dir():
            return {}
        return {d.name: sum(1 for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
                for d in sorted(self.data.iterdir()) if d.is_dir()}

    def add(self, label: str, uploads: list[tuple[str, bytes]], max_pixels: int) -> dict:
        """Store each readable image; the others are listed with why, nothing half-written."""
        added, skipped = 0, []
        for name, data in uploads:
            try:
                image = decode_image(data, name, max_pixels)
            except HeadstartError as exc:
                skipped.append(str(exc))
                continue
            digest = hashlib.sha256(data).hexdigest()[:16]
            suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
                      "PPM": ".ppm"}.get(getattr(image, "format", None) or _format(data), ".png")
            target = self.data / label / f"{digest}{suffix}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(target, lambda tmp, data=data: Path(tmp).write_bytes(data))
                added += 1
            else:
                skipped.append(f"{name} is in {label} already")
        return {"added": added, "skipped": skipped}

    def examples(self, label: str) -> list[str]:
        folder = self.data / label
        return sorted(f.name for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS) if folder.is_dir() else []

    def path(self, label: str, example: str) -> Path:
        path = self.data / check_name(label, "class") / example
        if Path(example).name != example or example in (".", "..") or not path.is_file():
            raise HeadstartError(f"no example {example} in class {label}")
        return path

    def move(self, label: str, example: str, target: Path) -> None:
        source = self.path(label, example)
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target / source.name))

    def repeats(self) -> int:
        seen: Counter = Counter()
        if self.data.is_dir():
            for f in self.data.rglob("*"):
                if f.suffix.lower() in IMAGE_EXTENSIONS:
                    seen[f.name] += 1  # named by content digest when added here
        return sum(n - 1 for n in seen.values() if n > 1)


def _format(data: bytes) -> str:
    from PIL import Image

    return Image.open(io.BytesIO(data)).format or "PNG"


class TextStore:
    """Texts as rows of data.csv (text,label)."""

    data_arg = "data.csv"

    def __init__(self, root: Path) -> None:
        self.path = root / "data.csv"

    def add_class(self, name: str) -> None:
        """A class of a text project is a label: it exists once a row has it (project.json lists it before)."""

    def rows(self) -> list[tuple[str, str]]:
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8", newline="") as handle:
            return [(row.get("text") or "", row.get("label") or "") for row in csv.DictReader(handle)]

    def counts(self) -> dict[str, int]:
        return dict(Counter(label for _, label in self.rows() if label))

    def add(self, label: str, texts: list[str], max_chars: int) -> dict:
        rows = self.rows()
        have = set(rows)
        added, skipped = [], []
        for i, text in enumerate(texts):
            text = text.strip()
            if not text:
                continue
            if len(text) > max_chars:
                skipped.append(f"text {i + 1} has {len(text):,} characters, over {max_chars:,}")
            elif (text, label) in have:
                skipped.append(f"text {i + 1} is in {label} already")
            else:
                added.append((text, label))
                have.add((text, label))
        if added:
            self._write(rows + added)
        return {"added": len(added), "skipped": skipped}

    def _write(self, rows: list[tuple[str, str]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(buffer.getvalue(), encoding="utf-8"))

    def examples(self, label: str) -> list[str]:
        return [text for text, row_label in self.rows() if row_label == label]

    def relabel(self, text: str, label: str, to: str | None, removed: Path | None) -> None:
        """Give the row (text, label) the label ``to``, or move it to ``removed/data.csv`` (``to`` None)."""
        rows = self.rows()
        if (text, label) not in rows:
            raise HeadstartError(f"no text in class {label} reads like that; reload the page")
        rows.remove((text, label))
        if to is not None:
            rows.append((text, to))
        elif removed is not None:
            with (removed / "data.csv").open("a", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerow([text, label])
        self._write(rows)

    def repeats(self) -> int:
        texts = Counter(text for text, _ in self.rows())
        return sum(n - 1 for n in texts.values() if n > 1)


STORES: dict[str, Any] = {"image": ImageStore, "text": TextStore}


class Projects:
    """The folder of projects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def list(self) -> list[dict]:
        return [Project(p).summary() for p in sorted(self.root.iterdir()) if (p / "project.json").is_file()]

    def create(self, name: str, kind: str) -> Project:
        name = check_name(name, "project")
        if kind not in STORES:
            raise HeadstartError(f"unknown project kind '{kind}'; use {' or '.join(STORES)}")
        root = self.root / name
        if root.exists():
            raise HeadstartError(f"a project named '{name}' exists already; choose another name")
        root.mkdir(parents=True)
        write_json(root / "project.json", {"name": name, "kind": kind, "classes": [],
                                           "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return Project(root)

    def get(self, name: str) -> Project:
        root = self.root / check_name(name, "project")
        if not (root / "project.json").is_file():
            raise HeadstartError(f"no project named '{name}' in {self.root}")
        return Project(root)

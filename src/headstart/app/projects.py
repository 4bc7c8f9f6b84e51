"""The app's projects: folders on disk in headstart's own formats, so that the command line and the app work on the
same data and runs.

    PROJECTS/<name>/project.json   name, kind (image or text), classes, created
    PROJECTS/<name>/data/<class>/  images, one folder per class          (image projects)
    PROJECTS/<name>/data.csv       a text and a label column             (text projects)
    PROJECTS/<name>/runs/<id>/     headstart runs (`headstart train DATA --out runs/<id>`), runs/<id>.log their output
    PROJECTS/<name>/unlabelled/    images not labelled yet: what "Label next" asks about (image projects)
    PROJECTS/<name>/unlabelled.csv texts not labelled yet, one text column               (text projects)
    PROJECTS/<name>/removed/       what was removed in the app: moved here, never deleted

Everything is read from disk at each call, so files added or removed by hand while the app runs are seen at once.
What differs between image and text projects is in their store classes (ImageStore, TextStore), picked by kind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import re
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from headstart.data.images import IMAGE_EXTENSIONS, SPLIT_NAMES, decode_image
from headstart.data.texts import LABEL_COLUMNS, TEXT_COLUMNS, _column, _table
from headstart.errors import HeadstartError
from headstart.files import atomic_write, write_json

NAME = re.compile(r"^\w[\w .-]{0,63}$")  # letters of any script, digits, '_', then also spaces, '.', '-'
FEW = 5  # fewer examples than this in a class: warned
IMBALANCE = 5.0  # the largest class over the smallest: warned beyond this


def check_name(name: str, what: str) -> str:
    """A project or class name that is safe as a folder name."""
    name = str(name).strip()
    if not NAME.match(name) or name.endswith("."):
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
        path = self.root / "project.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HeadstartError(f"{path} is missing or damaged ({type(exc).__name__}); write it again, e.g. "
                                 '{"kind": "image", "classes": []}') from exc
        if not isinstance(config, dict) or config.get("kind") not in STORES or not isinstance(config.get("classes", []), list):
            raise HeadstartError(f"{path} needs a kind ({' or '.join(STORES)}) and a list of classes; write it again")
        return config

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def store(self) -> ImageStore | TextStore:
        return STORES[self.kind](self.root)

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def classes(self, counts: dict[str, int] | None = None) -> list[str]:
        """The classes named in project.json, and any found on disk (added by hand; ``counts``: the store's, when
        read already)."""
        named = [str(c) for c in self.config.get("classes", [])]
        return named + sorted(set(self.store.counts() if counts is None else counts) - set(named))

    def add_class(self, name: str) -> None:
        name = self.store.check_class_name(check_name(name, "class"))
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
        per_class = {c: counts.get(c, 0) for c in self.classes(counts)}
        return {"name": self.name, "kind": self.kind, "classes": per_class, "warnings": self.warnings(per_class),
                "unlabelled": self.store.pool_count(),
                "runs": [{"run": run.name, "finished": (run / "summary.json").is_file()} for run in self.runs()]}

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
        if not self.runs_dir.is_dir():
            return []
        return sorted(p for p in self.runs_dir.iterdir() if p.is_dir() and NAME.match(p.name))

    def run(self, run_id: str) -> Path:
        path = self.runs_dir / check_name(run_id, "run")
        if not path.is_dir():
            raise HeadstartError(f"no run '{run_id}' in project {self.name}")
        return path

    def finished_run(self, run_id: str) -> Path:
        path = self.run(run_id)
        if not (path / "summary.json").is_file():
            raise HeadstartError(f"run {run_id} has not finished training")
        return path

    def removed_dir(self) -> Path:
        folder = self.root / "removed" / time.strftime("%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _move_new(source: Path, folder: Path) -> Path:
    """Move ``source`` into ``folder`` as ``name``, or ``name-1``, ``name-2``... when taken: never over a file (a
    hard link is refused where the name exists, so two moves at once cannot pick the same name)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = source.stem, source.suffix
    for n in itertools.count():
        target = folder / (source.name if n == 0 else f"{stem}-{n}{suffix}")
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system: a plain move to a name free now
            if target.exists():
                continue
            shutil.move(str(source), str(target))
            return target
        source.unlink()
        return target
    raise AssertionError("unreachable")


class ImageStore:
    """Images in class folders; an upload is stored under its content digest (the name it came with is never a
    path)."""

    reads_text = False
    read_while_training = True  # a training opens the files again each epoch: none may move meanwhile

    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.pool = root / "unlabelled"

    def check_class_name(self, name: str) -> str:
        if name.lower() in SPLIT_NAMES:
            raise HeadstartError(f"'{name}' names a split folder (train, val, test) for `headstart train`; call the "
                                 f"class something else, e.g. '{name} class'")
        return name

    def add_class(self, name: str) -> None:
        (self.data / name).mkdir(parents=True, exist_ok=True)

    def _files(self, folder: Path) -> list[Path]:
        return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file()
                      and not f.is_symlink() and not f.name.startswith("."))

    def counts(self) -> dict[str, int]:
        return {d.name: len(self._files(d)) for d in self._class_folders()}

    def _class_folders(self) -> list[Path]:
        if not self.data.is_dir():
            return []
        return [d for d in sorted(self.data.iterdir()) if d.is_dir() and not d.name.startswith(".")]

    def add(self, label: str | None, names: list[str], blobs: list[bytes], limits: Any) -> dict:
        """Store each readable image in class ``label`` (None: among the unlabelled); the others are listed with
        why, nothing half-written."""
        folder = self.pool if label is None else self.data / label
        classes = [d.name for d in self._class_folders()] if label is None else []
        added, skipped = 0, []
        for name, data in zip(names, blobs, strict=True):
            try:
                image = decode_image(data, name, limits.max_pixels)
            except HeadstartError as exc:
                skipped.append(str(exc))
                continue
            del image
            suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif",
                      "PPM": ".ppm"}.get(_format(data), ".png")
            stored = f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
            with _lock_for(self.data):  # not while an unlabelled image moves into a class
                where = next((c for c in classes if (self.data / c / stored).exists()), None)
                if (folder / stored).exists():
                    skipped.append(f"{name} is in {label or 'the unlabelled examples'} already")
                elif label is None and where is not None:
                    skipped.append(f"{name} is labelled already (in {where})")
                else:
                    folder.mkdir(parents=True, exist_ok=True)
                    atomic_write(folder / stored, lambda tmp, data=data: tmp.write_bytes(data))
                    added += 1
        return {"added": added, "skipped": skipped}

    def examples(self, label: str) -> list[str]:
        folder = self.data / label
        return [f.name for f in self._files(folder)] if folder.is_dir() else []

    def image_path(self, label: str | None, example: str) -> Path:
        """The image ``example`` of class ``label`` (None: of the unlabelled), never a path outside its folder."""
        path = (self.pool if label is None else self.data / label) / example
        if (Path(example).name != example or example.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS
                or path.is_symlink() or not path.is_file()):
            raise HeadstartError(f"no example {example} in " + ("the unlabelled examples" if label is None else
                                                                 f"class {label}") + "; reload the page")
        return path

    def relabel(self, label: str, example: str, to: str | None, removed: Path) -> None:
        """Move the image to class ``to``, or out of the data into ``removed`` (``to`` None); never over a file."""
        with _lock_for(self.data):
            _move_new(self.image_path(label, example), self.data / to if to is not None else removed / label)

    def mistake(self, row: dict, run: Path) -> dict:
        """A wrong prediction as the page shows it: the run's own copy of the image, and whether the file is one of
        the project's (then it can be relabelled)."""
        where = Path(row["input"])
        inside = where.parent.parent == self.data and where.parent.name == row["label"] and where.is_file()
        picture = f"mistakes/{row['index']}.png"
        return {"example": where.name, "editable": inside,
                "picture": picture if (run / picture).is_file() else None}

    def pool_count(self) -> int:
        return len(self._files(self.pool)) if self.pool.is_dir() else 0

    def pool_source(self) -> Path | None:
        """What `headstart suggest` and `train --unlabeled` read as the unlabelled pool (None: nothing in it)."""
        return self.pool if self.pool_count() else None

    def label_pooled(self, example: str, to: str) -> None:
        """Move an unlabelled image into class ``to`` (never over a file; one the class has already, same name and
        content, just leaves the unlabelled ones)."""
        with _lock_for(self.data):
            source = self.image_path(None, example)
            twin = self.data / to / source.name
            if twin.is_file() and _digest(twin) == _digest(source):
                source.unlink()
            else:
                _move_new(source, self.data / to)

    def pooled(self, row: dict) -> dict | None:
        """A row `suggest` returned as the page shows it (None: not one of the project's unlabelled images)."""
        where = Path(row["input"])
        return {"example": where.name, "picture": True} if where.parent == self.pool.resolve() else None

    def repeats(self) -> int:
        """Images whose content another has too (digests cached by path, size and time)."""
        if not self.data.is_dir():
            return 0
        seen = Counter(_digest(f) for d in self.data.iterdir() if d.is_dir() for f in self._files(d))
        return sum(n - 1 for n in seen.values() if n > 1)


_DIGESTS: dict[tuple, str] = {}


def _digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _DIGESTS[key]


def _format(data: bytes) -> str:
    from PIL import Image

    return Image.open(io.BytesIO(data)).format or "PNG"


class TextStore:
    """Texts as rows of data.csv: the columns `headstart train` reads (text/review/sentence..., label/class...),
    other columns kept as they are."""

    reads_text = True
    read_while_training = False  # a training reads the tables once, when it starts

    def __init__(self, root: Path) -> None:
        self.data = root / "data.csv"
        self.pool = root / "unlabelled.csv"

    def check_class_name(self, name: str) -> str:
        return name

    def add_class(self, name: str) -> None:
        """A class of a text project is a label: it exists once a row has it (project.json lists it before)."""

    def _read(self, path: Path | None = None, for_writing: bool = False) -> tuple[list[dict], list[str], str, Any]:
        """(rows, columns, the text column, the label column) of data.csv (``path`` None) or of the unlabelled texts
        (no label column: None), read as `headstart train` and `suggest` read them. Refused when the file has no
        such columns, and (``for_writing``) when rewriting it would change what is not the app's: undecodable bytes,
        cells beyond the header, repeated column names."""
        path = path or self.data
        label_columns = ["label"] if path == self.data else []
        if not path.is_file():
            return [], ["text", *label_columns], "text", (label_columns or [None])[0]
        header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig", errors="replace"))), [])
        if not header:
            return [], ["text", *label_columns], "text", (label_columns or [None])[0]
        try:
            rows, columns, bad_lines = _table(path)
        except HeadstartError:
            rows, columns, bad_lines = [], header, 0  # a header and no rows (the last text removed)
        text = _column(columns, None, TEXT_COLUMNS, "text", path)
        label = _column(columns, None, LABEL_COLUMNS, "label", path) if label_columns else None
        if for_writing and (bad_lines or len(set(header)) != len(header) or any(None in row for row in rows)):
            raise HeadstartError(f"{path} has bytes that are not UTF-8, repeated column names or cells beyond its "
                                 "header; the app will not rewrite it: fix it in an editor (save as UTF-8)")
        return [{c: row.get(c) for c in columns} for row in rows], columns, text, label

    def _write(self, rows: list[dict], columns: list[str], path: Path | None = None) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(path or self.data, lambda tmp: tmp.write_text(buffer.getvalue(), encoding="utf-8", newline=""))

    def counts(self) -> dict[str, int]:
        """Texts per class among the rows `headstart train` learns from (a test split's rows are not counted)."""
        rows, columns, text, label = self._read()
        split = next((c for c in columns if c.strip().lower() == "split"), None)
        return dict(Counter(str(r[label]).strip() for r in rows
                            if str(r.get(label) or "").strip() and str(r.get(text) or "").strip()
                            and (split is None or str(r.get(split) or "").strip().lower() != "test")))

    def add(self, label: str | None, names: list[str], texts: list[str], limits: Any) -> dict:
        """Add ``texts`` to class ``label`` (None: to the unlabelled ones); each too long or already there is left
        out with why."""
        if label is None:
            with _lock_for(self.pool):
                return self._add_pooled(texts, limits)
        with _lock_for(self.data):
            return self._add(label, texts, limits.max_text_chars)

    def _add_pooled(self, texts: list[str], limits: Any) -> dict:
        rows, columns, text_col, _ = self._read(self.pool, for_writing=True)
        have = {str(r.get(text_col) or "").strip() for r in rows}
        data, _, data_text, data_label = self._read()
        labelled = {str(r.get(data_text) or "").strip() for r in data if str(r.get(data_label) or "").strip()}
        new, skipped = _new_texts(texts, limits.max_text_chars, lambda text: "is among the unlabelled already"
                                  if text in have else "is labelled already" if text in labelled else None)
        if new:
            self._write(rows + [{text_col: text} for text in new], columns, self.pool)
        return {"added": len(new), "skipped": skipped}

    def _pooled(self) -> list[str]:
        """The unlabelled texts (unlabelled.csv: a text column, as `headstart suggest` reads it)."""
        rows, _, text, _ = self._read(self.pool)
        return [t for r in rows if (t := str(r.get(text) or "").strip())]

    def _add(self, label: str, texts: list[str], max_chars: float = float("inf")) -> dict:
        rows, columns, text_col, label_col = self._read(for_writing=True)
        have = {str(r.get(text_col) or "").strip() for r in rows if str(r.get(label_col) or "").strip() == label}
        new, skipped = _new_texts(texts, max_chars, lambda text: f"is in {label} already" if text in have else None)
        if new:
            self._write(rows + [{text_col: text, label_col: label} for text in new], columns)
        return {"added": len(new), "skipped": skipped}

    def examples(self, label: str) -> list[str]:
        rows, _, text, label_col = self._read()
        return [str(r[text]) for r in rows if str(r.get(label_col) or "").strip() == label and str(r.get(text) or "").strip()]

    def image_path(self, label: str, example: str) -> Path:
        raise HeadstartError("this project holds texts, not images")

    def relabel(self, label: str, example: str, to: str | None, removed: Path) -> None:
        """Give the row (``example``, ``label``) the label ``to``, or move it to ``removed/data.csv`` (``to``
        None)."""
        with _lock_for(self.data):
            self._relabel(label, example, to, removed)

    def _relabel(self, label: str, example: str, to: str | None, removed: Path) -> None:
        rows, columns, text, label_col = self._read(for_writing=True)
        index = next((i for i, r in enumerate(rows) if str(r.get(text) or "").strip() == example.strip()
                      and str(r.get(label_col) or "").strip() == label), None)
        if index is None:
            raise HeadstartError(f"no text in class {label} reads like that; reload the page")
        if to is not None:
            rows[index][label_col] = to
        else:
            kept = removed / "data.csv"
            new = not kept.exists()
            with kept.open("a", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
                if new:
                    writer.writeheader()
                writer.writerow(rows[index])
            del rows[index]
        self._write(rows, columns)

    def mistake(self, row: dict, run: Path) -> dict:
        return {"example": row["input"], "editable": True, "picture": None}

    def pool_count(self) -> int:
        try:
            return len(self._pooled())
        except HeadstartError:
            return 0  # unreadable: adding to it, or Label next, says why

    def pool_source(self) -> Path | None:
        return self.pool if self._pooled() else None

    def label_pooled(self, example: str, to: str) -> None:
        """Give an unlabelled text the label ``to``: added to data.csv first, then taken out of unlabelled.csv (a
        stop between the two leaves it in both, never in neither)."""
        with _lock_for(self.pool), _lock_for(self.data):
            rows, columns, text, _ = self._read(self.pool, for_writing=True)
            index = next((i for i, r in enumerate(rows) if str(r.get(text) or "").strip() == example.strip()), None)
            if index is None or not example.strip():
                raise HeadstartError("no unlabelled text reads like that; reload the page")
            self._add(to, [example])
            del rows[index]
            self._write(rows, columns, self.pool)

    def pooled(self, row: dict) -> dict | None:
        return {"example": row["input"], "picture": None}

    def repeats(self) -> int:
        rows, _, text, _ = self._read()
        counts = Counter(str(r.get(text) or "").strip() for r in rows)
        return sum(n - 1 for t, n in counts.items() if t and n > 1)


def _new_texts(texts: list[str], max_chars: float, known: Any) -> tuple[list[str], list[str]]:
    """The texts to add (stripped, each once) and why each other was left out: empty ones silently, too long ones,
    and those ``known(text)`` gives a reason for (already there)."""
    new: list[str] = []
    skipped = []
    for i, text in enumerate(texts):
        text = text.strip()
        if not text:
            continue
        reason = (f"has {len(text):,} characters, over {max_chars:,}" if len(text) > max_chars else
                  known(text) or ("is in this paste already" if text in new else None))
        if reason:
            skipped.append(f"text {i + 1} {reason}")
        else:
            new.append(text)
    return new, skipped


STORES: dict[str, Any] = {"image": ImageStore, "text": TextStore}
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per file the app rewrites: two quick adds must not lose each other's rows."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


class Projects:
    """The folder of projects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HeadstartError(f"cannot use {root} as the projects folder ({exc.strerror}); pass --project with a "
                                 "folder") from exc

    def list(self) -> list[dict]:
        """Every project; one whose folder is damaged is listed with what is wrong instead of hiding the others."""
        found = []
        for path in sorted(self.root.iterdir()):
            if path.is_dir() and (path / "project.json").is_file():
                try:
                    found.append(Project(path).summary())
                except HeadstartError as exc:
                    found.append({"name": path.name, "error": str(exc)})
        return found

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

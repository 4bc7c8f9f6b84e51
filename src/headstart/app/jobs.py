"""Training from the app: `headstart train` in its own process per project, one at a time per project.

The process writes its output to ``runs/<id>.log`` beside its run folder, and a lock file (``.training.json``:
its process id, start time and run) says it is running, so that an app started again while it runs (or a second
app) sees it, shows its progress and can stop it. Stopping is Ctrl-C's signal: the run keeps its checkpoint, and
``headstart train --resume RUN`` continues it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from headstart.app.projects import Project
from headstart.errors import HeadstartError
from headstart.files import atomic_write

LOCK = ".training.json"
STARTED = re.compile(r"^(?P<stage>[\w-]+) (?P<epoch>\d+)/(?P<epochs>\d+): started")
RECORD = re.compile(r"^\s*(?P<stage>[\w-]+) epoch (?P<epoch>\d+): train loss (?P<loss>[\d.]+)\s+train acc "
                    r"(?P<acc>[\d.]+)(?:\s+val loss (?P<val_loss>[\d.]+)\s+val acc (?P<val_acc>[\d.]+))?.*\((?P<s>\d+)s\)")
KEPT_LINES = 200
STRATEGIES = ("auto", "linear-probe", "head", "fine-tune", "contrastive", "lora", "scratch")


def log_path(run: Path) -> Path:
    return run.with_name(run.name + ".log")


def resumable(run: Path) -> bool:
    """A run stopped after its first checkpoint and not finished since."""
    from headstart.training.checkpoint import CHECKPOINT

    return (run / CHECKPOINT).is_file() and not (run / "summary.json").is_file()


@dataclass
class Job:
    """One training process and what the page shows of it (read from its log file)."""

    project: str
    run: Path
    pid: int
    process: subprocess.Popen | None = None  # None: started by another app, followed through its lock and log
    offset: int = 0  # where this process's output starts in the log (a resumed run appends to it)
    started: float = field(default_factory=time.time)
    interrupted: bool = False
    lines: list[str] = field(default_factory=list)
    state: str = "running"  # running, done, failed, stopped
    epoch: dict = field(default_factory=dict)
    error: str | None = None

    def view(self) -> dict:
        return {"project": self.project, "run": self.run.name, "state": self.state, "lines": self.lines[-30:],
                "epoch": self.epoch, "elapsed": round(time.time() - self.started, 1), "left": self._left(),
                "error": self.error, "resumable": self.state != "running" and resumable(self.run)}

    def _left(self) -> float | None:
        """Seconds left in the current stage: its epochs so far, timed as their lines came, over those to come."""
        e = self.epoch
        counted = e.get("done", 0) - e.get("first", 0)
        if self.state != "running" or not e.get("epochs") or counted <= 0 or "record_time" not in e:
            return None
        per_epoch = (e["record_time"] - e["stage_time"]) / counted
        return round(per_epoch * (e["epochs"] - e["done"]), 1)

    def read(self, line: str) -> None:
        line = line.rstrip("\n")
        if not line.strip():
            return
        self.lines = [*self.lines[-KEPT_LINES:], line]
        if started := STARTED.match(line):
            new_stage = started["stage"] != self.epoch.get("stage") or "stage_time" not in self.epoch
            self.epoch = {**self.epoch, "stage": started["stage"], "epoch": int(started["epoch"]),
                          "epochs": int(started["epochs"]), "done": int(started["epoch"]) - 1}
            if new_stage:  # timed from here (a resumed stage starts part-way: its earlier epochs are not counted)
                self.epoch.update(stage_time=time.time(), first=int(started["epoch"]) - 1)
        elif record := RECORD.match(line):
            self.epoch = {**self.epoch, "done": int(record["epoch"]), "loss": float(record["loss"]),
                          "accuracy": float(record["acc"]), "seconds": float(record["s"]), "record_time": time.time(),
                          **({"val_accuracy": float(record["val_acc"])} if record["val_acc"] else {})}
        elif line.lower().startswith("error:"):
            self.error = line.split(":", 1)[1].strip()
        if line.lower().startswith(("interrupted", "error: interrupted")):  # what `headstart train` says on Ctrl-C
            self.interrupted = True


class Trainer:
    """The app's training processes, by project."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def start(self, project: Project, strategy: str = "auto", epochs: int | None = None,
              resume: str | None = None, unlabelled: bool = False) -> Job:
        """Train ``project`` (or resume its run ``resume``); ``unlabelled``: learn from its unlabelled examples too
        (`headstart train --unlabeled`)."""
        if strategy not in STRATEGIES:
            raise HeadstartError(f"unknown strategy '{strategy}'; use {', '.join(STRATEGIES)}")
        with self.lock:
            running = self.running(project)
            if running is not None:
                raise HeadstartError(f"project {project.name} is training already (run {running}); wait for it or "
                                     "stop it first")
            if resume:
                run = project.run(resume)
                command = ["train", "--resume", str(run)]
            else:
                filled = [c for c, n in project.summary()["classes"].items() if n]
                if len(filled) < 2:
                    raise HeadstartError("add examples to at least two classes before training")
                project.runs_dir.mkdir(parents=True, exist_ok=True)
                run = project.runs_dir / time.strftime("%Y%m%d-%H%M%S")
                while run.exists() or log_path(run).exists():
                    run = run.with_name(run.name + "-1")
                command = ["train", str(project.store.data), "--out", str(run), "--strategy", strategy]
                command += ["--epochs", str(epochs)] if epochs is not None else []
                if unlabelled:
                    pool = project.store.pool_source()
                    if pool is None:
                        raise HeadstartError("no unlabelled examples to learn from: add some under 'Not labelled "
                                             "yet', or untick the option")
                    command += ["--unlabeled", str(pool)]
            env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
            env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "TERM": "dumb"})
            offset = log_path(run).stat().st_size if log_path(run).is_file() else 0
            with log_path(run).open("a", encoding="utf-8") as log:
                process = subprocess.Popen([sys.executable, "-m", "headstart", *command], stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            job = Job(project.name, run, process.pid, process, offset)
            self.jobs[project.name] = job
            atomic_write(project.root / LOCK, lambda tmp: tmp.write_text(json.dumps(
                {"pid": process.pid, "started": _process_start(process.pid), "run": run.name, "offset": offset})))
        threading.Thread(target=self._follow, args=(job, project), daemon=True).start()
        return job

    def _follow(self, job: Job, project: Project) -> None:
        """Read the log as it grows until the process ends; then say how it ended."""
        code = None
        try:
            with log_path(job.run).open("rb") as log:
                log.seek(job.offset)
                pending = b""  # a line still being written
                while True:
                    pending += log.readline()
                    if pending.endswith(b"\n"):
                        job.read(pending.decode("utf-8", errors="replace"))
                        pending = b""
                        continue
                    code = job.process.poll() if job.process is not None else (None if _alive(job.pid) else -1)
                    if code is not None:
                        for rest in (pending + log.read()).decode("utf-8", errors="replace").splitlines():
                            job.read(rest)
                        break
                    time.sleep(0.2)
        finally:
            ended = code is not None
            if ended and _held_by(project, job.pid):  # never while the process may still run
                (project.root / LOCK).unlink(missing_ok=True)
            finished = (job.run / "summary.json").is_file()
            job.state = "done" if finished else "stopped" if job.interrupted or code == -signal.SIGINT else "failed"
            if job.state == "failed" and job.error is None:
                job.error = job.lines[-1] if job.lines else f"training ended with code {code}"

    def stop(self, project: Project) -> dict:
        job = self.jobs.get(project.name)
        if job is None or job.state != "running":
            self.attach(project)
            job = self.jobs.get(project.name)
        if job is None or job.state != "running":
            raise HeadstartError(f"project {project.name} is not training")
        try:
            os.kill(job.pid, signal.SIGINT)  # as Ctrl-C: the run keeps its checkpoint, resumable
        except (ProcessLookupError, PermissionError) as exc:
            raise HeadstartError(f"the training of project {project.name} cannot be stopped ({exc.strerror})") from exc
        return job.view()

    def running(self, project: Project) -> str | None:
        """The run being trained on ``project`` (by this app, or by another process still alive), or None."""
        job = self.jobs.get(project.name)
        if job is not None and job.state == "running":
            return job.run.name
        held = _lock(project)
        return str(held["run"]) if held else None

    def attach(self, project: Project) -> None:
        """Follow a training that another app (or this one before a restart) started and that still runs."""
        with self.lock:
            held = _lock(project)
            job = self.jobs.get(project.name)
            if not held or (job is not None and job.state == "running"):
                return
            job = Job(project.name, project.runs_dir / str(held["run"]), int(held["pid"]),
                      offset=int(held.get("offset", 0)))
            self.jobs[project.name] = job
        threading.Thread(target=self._follow, args=(job, project), daemon=True).start()

    def view(self, project: Project) -> dict | None:
        self.attach(project)
        job = self.jobs.get(project.name)
        return job.view() if job is not None else None

    def stop_all(self, projects_root: Path, wait: float = 30.0) -> None:
        """Stop every training this app started (as Ctrl-C: each run keeps its checkpoint), and wait for them to
        end, so that what is on disk is settled (resumable) when the app has stopped."""
        running = [job for job in self.jobs.values() if job.state == "running" and job.process is not None]
        for job in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGINT)
        deadline = time.monotonic() + wait
        for job in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                job.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            if job.process.poll() is not None:
                project = Project(projects_root / job.project)
                if _held_by(project, job.pid):
                    (project.root / LOCK).unlink(missing_ok=True)


def _process_start(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat): a pid reused after a reboot has another."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _lock(project: Project) -> dict | None:
    """The lock's record while its process lives (the same process: same start time); a stale lock is removed."""
    path = project.root / LOCK
    try:
        held = json.loads(path.read_text())
        pid = int(held["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # being written, or damaged: not a reason to delete it
    if _alive(pid) and held.get("started") in (None, _process_start(pid)):
        return held
    path.unlink(missing_ok=True)
    return None


def _held_by(project: Project, pid: int) -> bool:
    try:
        return int(json.loads((project.root / LOCK).read_text())["pid"]) == pid
    except (OSError, ValueError, KeyError, TypeError):
        return False

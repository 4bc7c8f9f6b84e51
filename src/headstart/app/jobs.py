"""Training from the app: `headstart train` in its own process per project, its output read line by line for the
page, one training per project at a time (a lock file holds its process id, so a second app or a restarted one sees
it too), stopped with Ctrl-C's signal (the run keeps its checkpoint) and resumed with ``--resume``."""

from __future__ import annotations

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

LOCK = ".training.json"
STARTED = re.compile(r"^(?P<stage>[\w-]+) (?P<epoch>\d+)/(?P<epochs>\d+): started")
RECORD = re.compile(r"^\s*(?P<stage>[\w-]+) epoch (?P<epoch>\d+): train loss (?P<loss>[\d.]+)\s+train acc "
                    r"(?P<acc>[\d.]+)(?:\s+val loss (?P<val_loss>[\d.]+)\s+val acc (?P<val_acc>[\d.]+))?")
KEPT_LINES = 200


@dataclass
class Job:
    """One training process and what the page shows of it."""

    project: str
    run: Path
    process: subprocess.Popen | None
    started: float = field(default_factory=time.time)
    lines: list[str] = field(default_factory=list)
    state: str = "running"  # running, done, failed, stopped
    epoch: dict = field(default_factory=dict)
    error: str | None = None

    def view(self) -> dict:
        elapsed = time.time() - self.started
        left = None
        if self.epoch.get("epoch") and self.epoch.get("epochs") and self.state == "running":
            done = self.epoch["epoch"] - 1 + self.epoch.get("fraction", 0)
            left = elapsed / done * (self.epoch["epochs"] - done) if done > 0 else None
        return {"project": self.project, "run": self.run.name, "state": self.state, "lines": self.lines[-30:],
                "epoch": self.epoch, "elapsed": round(elapsed, 1), "left": None if left is None else round(left, 1),
                "error": self.error}

    def read(self, line: str) -> None:
        line = line.rstrip("\n")
        self.lines = [*self.lines[-KEPT_LINES:], line]
        if started := STARTED.match(line):
            self.epoch = {**self.epoch, "stage": started["stage"], "epoch": int(started["epoch"]),
                          "epochs": int(started["epochs"]), "fraction": 0}
        elif record := RECORD.match(line):
            self.epoch = {**self.epoch, "fraction": 1, "loss": float(record["loss"]), "accuracy": float(record["acc"]),
                          **({"val_accuracy": float(record["val_acc"])} if record["val_acc"] else {})}
        elif line.startswith("error:"):
            self.error = line.removeprefix("error:").strip()


class Trainer:
    """The app's training processes, by project."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def start(self, project: Project, strategy: str = "auto", epochs: int | None = None,
              resume: str | None = None) -> Job:
        with self.lock:
            running = self.running(project)
            if running is not None:
                raise HeadstartError(f"project {project.name} is training already (run {running}); wait for it or "
                                     "stop it first")
            summary = project.summary()
            if len([c for c, n in summary["classes"].items() if n]) < 2:
                raise HeadstartError("add examples to at least two classes before training")
            if resume:
                run = project.run(resume)
            else:
                run = project.runs_dir / time.strftime("%Y%m%d-%H%M%S")
                while run.exists():
                    run = run.with_name(run.name + "-1")
            command = [sys.executable, "-m", "headstart", "train", str(project.root / project.store.data_arg),
                       "--out", str(run), "--strategy", strategy]
            if epochs is not None:
                command += ["--epochs", str(epochs)]
            if resume:
                command.append("--resume")
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       encoding="utf-8", errors="replace", env=env, start_new_session=True)
            job = Job(project.name, run, process)
            (project.root / LOCK).write_text(json.dumps({"pid": process.pid, "run": run.name}))
            self.jobs[project.name] = job
        threading.Thread(target=self._follow, args=(job, project), daemon=True).start()
        return job

    def _follow(self, job: Job, project: Project) -> None:
        assert job.process is not None and job.process.stdout is not None
        for line in job.process.stdout:
            job.read(line)
        code = job.process.wait()
        job.state = "done" if code == 0 else ("stopped" if code in (130, -signal.SIGINT) else "failed")
        if job.state == "failed" and job.error is None:
            job.error = job.lines[-1] if job.lines else f"training ended with code {code}"
        (project.root / LOCK).unlink(missing_ok=True)

    def stop(self, project: Project) -> Job:
        job = self.jobs.get(project.name)
        if job is None or job.state != "running" or job.process is None:
            raise HeadstartError(f"project {project.name} is not training")
        job.process.send_signal(signal.SIGINT)  # as Ctrl-C: the run keeps its checkpoint, resumable
        return job

    def running(self, project: Project) -> str | None:
        """The run being trained on ``project`` (by this app, or by another process still alive), or None."""
        job = self.jobs.get(project.name)
        if job is not None and job.state == "running":
            return job.run.name
        lock = project.root / LOCK
        if lock.is_file():
            try:
                held = json.loads(lock.read_text())
                os.kill(int(held["pid"]), 0)
                return str(held["run"])
            except (OSError, ValueError, KeyError):
                lock.unlink(missing_ok=True)  # its process is gone
        return None

    def view(self, project: Project) -> dict | None:
        job = self.jobs.get(project.name)
        if job is not None:
            return job.view()
        other = self.running(project)
        return {"project": project.name, "run": other, "state": "running elsewhere"} if other else None

    def stop_all(self) -> None:
        for job in self.jobs.values():
            if job.state == "running" and job.process is not None:
                job.process.send_signal(signal.SIGINT)

"""Several processes on torch.distributed: who this process is, waiting for the others, and local launches.

headstart does not run processes of its own making: ``--nproc N`` hands the command to torchrun
(``torch.distributed.run``), and on a cluster users launch it with torchrun, ``accelerate launch`` or SLURM's srun
the same way. Inside, accelerate reads the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR...) and sets up the
process group (gloo on CPU, NCCL on GPUs); this module only asks it who we are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import torch.distributed as dist

from headstart.training.device import usable_cores


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Whether a distributed launcher started this process with more than one process in all."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world() -> World:
    """This process's rank and the number of processes; the process group is set up on first use."""
    if not launched():
        return World()
    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState()  # reads the launcher's environment and initialises the default process group
    return World(dist.get_rank(), dist.get_world_size())


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a single process)."""
    if world().size > 1:
        dist.barrier()


def launch(argv: list[str], nproc: int) -> int:
    """Run ``headstart ARGV`` in ``nproc`` processes on this machine with torchrun; returns the exit code.

    torchrun gives each process one thread (OMP_NUM_THREADS=1) unless it is set, so N processes share the cores.
    """
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "--module",
        "headstart",
        *argv,
    ]
    threads = os.environ.get("OMP_NUM_THREADS", str(max(1, usable_cores() // nproc)))
    return subprocess.call(command, env={**os.environ, "OMP_NUM_THREADS": threads})

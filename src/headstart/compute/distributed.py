"""Several processes on torch.distributed: who this process is, waiting for the others, and local launches.

headstart does not run processes of its own making: ``--nproc N`` hands the command to torchrun
(``torch.distributed.run``), and on a cluster users launch it with torchrun, ``accelerate launch`` or SLURM's srun
the same way. Inside, accelerate reads the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR...) and sets up the
process group (gloo on CPU, NCCL on GPUs); this module only asks it who we are.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

# torch is imported where it is used: the CLI asks `launched()` before any command runs, and `headstart --help`
# should not wait seconds for torch.


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


def is_first_process() -> bool:
    """Rank 0 (or not launched), from the launcher's environment alone: safe where the group may not exist."""
    return os.environ.get("RANK", "0") == "0"


def world() -> World:
    """This process's rank and the number of processes; the process group is set up on first use."""
    if not launched():
        return World()
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        PartialState()  # reads the launcher's environment and initialises the default process group
    return World(dist.get_rank(), dist.get_world_size())


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a single process)."""
    if world().size > 1:
        import torch.distributed as dist

        dist.barrier()


def launch(argv: list[str], nproc: int) -> int:
    """Run ``headstart ARGV`` in ``nproc`` processes on this machine with torchrun, in this process as the
    ``torchrun`` script does; returns the exit code (the first process's when it failed, 130 on Ctrl-C).

    Each process gets cores // nproc threads unless OMP_NUM_THREADS is set. The first process explains a failure
    in one line, so torchrun's own multi-line report of it is not printed.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from headstart.compute.cores import usable_cores

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // nproc)))
    for name in [*logging.root.manager.loggerDict, "torch.distributed.elastic"]:  # torch sets levels per module
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module", "headstart", *argv]))
    except SignalException:
        return 130
    except ChildFailedError as exc:
        failures = exc.failures
        if 0 in failures:
            code = failures[0].exitcode
            return code if code > 0 else 128 - code  # killed by signal s: exitcode is -s
        rank, failure = exc.get_first_failure()
        print(f"error: process {rank} of {nproc} failed (exit code {failure.exitcode}); run the command again with "
              "--debug to see its traceback", file=sys.stderr)
        return 1
    return 0

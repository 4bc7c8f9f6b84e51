"""Requests that arrive together run together: one model's requests are run a batch at a time, each batch holding
the requests that came while the one before ran. Under load that is fewer, larger runtime calls; when idle a request
runs at once (nothing waits for company)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import numpy as np

# A batch takes requests up to this many inputs: on 2 cores a batch of 8 images runs at 1.2-1.5x the rate of single
# ones, and larger batches only hold more memory (a single request larger than this still runs whole).
BATCH_INPUTS = 16


class Batcher:
    """``await batcher.proba(items)``: the probabilities of ``items``, computed by ``predict_proba`` in
    ``executor`` beside those of the requests waiting with them. A batch that fails is run again request by
    request, so that only the request that caused it gets the error."""

    def __init__(self, predict_proba: Callable[[list[Any]], np.ndarray], executor: Executor,
                 max_batch: int = BATCH_INPUTS) -> None:
        self.predict_proba, self.executor, self.max_batch = predict_proba, executor, max_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.waiting: list = []  # a request taken from the queue that did not fit the batch before: next one's first
        self.calls = self.inputs = 0

    async def proba(self, items: list[Any]) -> np.ndarray:
        if self.task is None or self.task.done():  # started on first use, in the server's event loop
            self.task = asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((items, future))
        return await future

    async def _run(self) -> None:
        while True:
            jobs = [self.waiting.pop() if self.waiting else await self.queue.get()]
            count = len(jobs[0][0])
            while not self.queue.empty():
                job = self.queue.get_nowait()
                if count + len(job[0]) > self.max_batch:
                    self.waiting.append(job)
                    break
                jobs.append(job)
                count += len(job[0])
            jobs = [(items, future) for items, future in jobs if not future.done()]  # clients gone: skip them
            if jobs:
                await self._answer(jobs)

    async def _answer(self, jobs: list[tuple[list[Any], asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        items = [item for job_items, _ in jobs for item in job_items]
        try:
            proba = await loop.run_in_executor(self.executor, self.predict_proba, items)
        except Exception as exc:
            if len(jobs) > 1:  # find the request at fault: each alone
                for job in jobs:
                    await self._answer([job])
            elif not jobs[0][1].done():
                jobs[0][1].set_exception(exc)
            return
        self.calls, self.inputs = self.calls + 1, self.inputs + len(items)
        start = 0
        for job_items, future in jobs:
            if not future.done():
                future.set_result(proba[start : start + len(job_items)])
            start += len(job_items)

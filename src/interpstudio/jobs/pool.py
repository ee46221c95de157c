"""The embedded worker pool: ``interpstudio serve`` runs N worker processes beside the API.

Each child runs ``runner.worker_main`` (spawned, so torch is imported only there). A supervisor
thread restarts a child that dies; the new worker's recovery marks the dead one's job
``interrupted`` so the user can resume it. ``stop()`` sends SIGTERM (running jobs end as
``interrupted`` at their next check) and kills what does not exit in time. This module is NOT
responsible for running jobs itself.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from multiprocessing.process import BaseProcess

from interpstudio.core.settings import Settings
from interpstudio.jobs.runner import worker_main

log = logging.getLogger(__name__)


class WorkerPool:
    def __init__(self, settings: Settings, size: int | None = None) -> None:
        self.settings = settings
        self.size = settings.workers if size is None else size
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def start(self) -> None:
        self._processes = [self._spawn() for _ in range(self.size)]
        self._supervisor = threading.Thread(target=self._supervise, name="worker-pool", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(target=worker_main, args=(self.settings, os.getpid()),
                                        name="interpstudio-worker", daemon=True)
        process.start()
        log.info("started worker process %s", process.pid)
        return process

    def _supervise(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self._processes):
                if not process.is_alive() and not self._stopping.is_set():
                    log.warning("worker process %s exited (%s); restarting", process.pid,
                                process.exitcode)
                    self._processes[index] = self._spawn()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker stops after its current step
        for process in self._processes:
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join(2)
        if self._supervisor is not None:
            self._supervisor.join(2)

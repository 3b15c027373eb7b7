"""Deadlines on hardware I/O: a hung driver never blocks the control loop.

A sysfs read of a sensor behind a wedged I2C bus, or a PWM write to a driver
stuck in the kernel, can block in ``read(2)``/``write(2)`` for ever, and no
timeout can be put on a plain file.  So each device (one sensor file, one
fan) gets its own worker thread; the loop hands it a call and waits at most
the deadline.  A call that misses it raises :class:`DeadlineMissed`; while
that call is still stuck in the kernel, later calls to the same device fail
at once with the same error instead of queueing behind it, and every other
device keeps working.  The workers are daemon threads, so a thread stuck for
good does not keep the process from exiting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DeadlineMissed", "Pending", "Worker"]

T = TypeVar("T")


class DeadlineMissed(OSError):
    """A device call did not return within its deadline (or an earlier one is still hung)."""


class Pending(Generic[T]):
    """One call handed to a :class:`Worker`; :meth:`result` waits for it up to a deadline."""

    def __init__(self, worker: Worker, fn: Callable[[], T]) -> None:
        self._worker = worker
        self._fn = fn
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller, whatever it is
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float) -> T:
        """The call's value; its exception; or :class:`DeadlineMissed` after ``timeout`` s."""
        if not self._done.wait(max(0.0, timeout)):
            raise DeadlineMissed(f"{self._worker.name}: no answer within {timeout:g} s")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class _Failed(Pending[T]):
    """A call refused because the device's previous call is still hung."""

    def __init__(self, worker: Worker, error: DeadlineMissed) -> None:
        super().__init__(worker, lambda: None)  # type: ignore[arg-type,return-value]
        self._error = error
        self._done.set()


class Worker:
    """Runs the calls of one device, one at a time, on its own daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._jobs: list[Pending[object]] = []
        self._wake = threading.Condition(self._lock)
        self._current: Pending[object] | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Worker({self.name!r}, hung={self.hung})"

    @property
    def hung(self) -> bool:
        """True while an earlier call has not returned yet."""
        with self._lock:
            return self._current is not None or bool(self._jobs)

    def submit(self, fn: Callable[[], T]) -> Pending[T]:
        """Start ``fn`` on the device's thread; fails at once if the device is still busy."""
        with self._lock:
            busy = (
                self._current
                if self._current is not None
                else (self._jobs[0] if self._jobs else None)
            )
            if busy is not None:
                return _Failed(self, DeadlineMissed(f"{self.name}: an earlier call is still hung"))
            job: Pending[T] = Pending(self, fn)
            self._jobs.append(job)  # type: ignore[arg-type]
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"microrack-io {self.name}", daemon=True
                )
                self._thread.start()
            self._wake.notify()
            return job

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` on the device's thread and wait at most ``timeout`` seconds."""
        return self.submit(fn).result(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._jobs:
                    self._wake.wait()
                self._current = self._jobs.pop(0)
            try:
                self._current._run()
            finally:
                with self._lock:
                    self._current = None

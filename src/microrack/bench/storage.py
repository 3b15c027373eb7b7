"""Storage workload: what fio users measure, run on each Dask worker.

Phases, in fio's vocabulary: sequential write (``rw=write``, ends with an
fsync like ``end_fsync=1``), sequential read (``rw=read``), then random 4 KiB
reads and writes (``randread``/``randwrite``) at queue depth 1 and at
``--queue-depth``, each for ``--runtime`` seconds.  A deeper queue is that many
threads issuing ``preadv``/``pwritev`` on one descriptor (the syscalls release
the GIL), which keeps that many requests in flight in the kernel, as fio's
``iodepth`` does.  Before every read phase the page cache of the file is
dropped (``posix_fadvise(DONTNEED)``, fio's ``invalidate=1``).

Direct I/O (``O_DIRECT``, aligned ``mmap`` buffers) is used where the
filesystem allows it and the result says which one ran.  Every block carries
its own offset in its first 8 bytes, so the read phase verifies what it read.
The test file is removed in a ``finally`` and, on Ctrl-C, by the client on
every worker.
"""

from __future__ import annotations

import contextlib
import glob
import mmap
import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from microrack.bench.engine import BenchCluster
from microrack.bench.measure import WorkloadResult, format_bytes, percentiles
from microrack.errors import ResourceError, UsageError

__all__ = [
    "StorageParams",
    "check_directory",
    "cleanup",
    "phase_names",
    "phases_done",
    "preflight_local",
    "preflight_workers",
    "run_storage",
    "storage_job",
]

FILE_PREFIX = ".microrack-bench-"
_STOP: dict[str, threading.Event] = {}
#: phases finished so far by the job of ``<run_id>-<node>`` (read by the client's progress bar)
_DONE: dict[str, list[str]] = {}
_POLL_S = 0.5
_LATENCY_SAMPLE = 2000


@dataclass(slots=True)
class StorageParams:
    """The fio-shaped knobs: ``--dir --size --block-size --queue-depth --direct/--buffered``."""

    directory: str = "."
    size: int = 256 << 20
    block_size: int = 1 << 20
    queue_depth: int = 16
    direct: bool | None = None  # None: direct where the filesystem allows it
    runtime: float = 5.0
    random_block: int = 4096
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: random phases to run (``randread_qd1`` ...); None: all of them
    random_phases: tuple[str, ...] | None = None

    def file_size(self) -> int:
        """``size`` rounded down to whole blocks (fio does the same)."""
        unit = max(self.block_size, self.random_block)
        return self.size // unit * unit


def phase_names(params: StorageParams) -> list[str]:
    """Every phase a node runs, in order (the storage progress bar has one step per phase)."""
    names = ["seq_write", "seq_read"]
    for kind in ("randread", "randwrite"):
        for qd in sorted({1, params.queue_depth}):
            if params.random_phases is None or f"{kind}_qd{qd}" in params.random_phases:
                names.append(f"{kind}_qd{qd}")
    return names


def phases_done(run_id: str, node: str) -> list[str]:
    """Runs on a worker (beside a running job): the phases it has finished."""
    return list(_DONE.get(f"{run_id}-{node}", ()))


def _direct_supported(directory: str) -> bool:
    probe = os.path.join(directory, f"{FILE_PREFIX}probe-{uuid.uuid4().hex[:8]}")
    buf = mmap.mmap(-1, 4096)
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except OSError:
        return False
    try:
        os.pwritev(fd, [buf], 0)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(probe)


def check_directory(
    directory: str, size: int, direct: bool | None, block_size: int = 4096
) -> dict[str, Any]:
    """Runs where the file will live: is the directory usable for ``size`` bytes?

    Returns ``{"argument", "message"}`` for the first problem, else
    ``{"direct": bool, "free": int}``; never raises, so a worker can answer.
    """
    if size < block_size:
        return {
            "argument": "--size",
            "message": f"{format_bytes(size)} is smaller than "
            f"--block-size {format_bytes(block_size)}",
        }
    if not os.path.isdir(directory):
        return {"argument": "--dir", "message": f"{directory} is not a directory"}
    probe = os.path.join(directory, f"{FILE_PREFIX}probe-{uuid.uuid4().hex[:8]}")
    try:
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        return {
            "argument": "--dir",
            "message": f"{directory} is not writable ({exc.strerror or exc})",
        }
    free = shutil.disk_usage(directory).free
    if size > free:
        return {
            "argument": "--size",
            "message": f"{format_bytes(size)} is larger than the "
            f"free space in {directory} "
            f"({format_bytes(free)})",
        }
    aligned = block_size % 4096 == 0
    if direct is True and not aligned:
        return {
            "argument": "--block-size",
            "message": f"{block_size} bytes is not a multiple "
            "of 4k, which direct I/O needs; use "
            "--buffered",
        }
    can_direct = aligned and _direct_supported(directory)
    if direct is True and not can_direct:
        return {
            "argument": "--direct",
            "message": f"the filesystem of {directory} does not allow O_DIRECT; use --buffered",
        }
    return {"direct": can_direct if direct is None else direct, "free": free}


def preflight_local(params: StorageParams, size: int | None = None) -> None:
    """The embedded cluster's workers share this machine: check here, before starting Dask."""
    answer = check_directory(
        params.directory,
        params.file_size() if size is None else size,
        params.direct,
        params.block_size if size is None else 1,
    )
    if "argument" in answer:
        raise UsageError(answer["argument"], answer["message"])


def preflight_workers(
    bench: BenchCluster, params: StorageParams, size: int | None = None
) -> dict[str, bool]:
    """Ask every worker the same questions; the first problem names the worker."""
    answers = bench.call_everywhere(
        check_directory,
        params.directory,
        params.file_size() if size is None else size,
        params.direct,
        params.block_size if size is None else 1,
    )
    direct: dict[str, bool] = {}
    for w in bench.workers:
        answer = answers.get(w.address, {})
        if "argument" in answer:
            raise UsageError(answer["argument"], f"{answer['message']} on {w.node} ({w.address})")
        direct[w.address] = bool(answer.get("direct"))
    return direct


def cleanup(run_id: str, directory: str) -> list[str]:
    """Stop the run's I/O loops and remove its files (called on Ctrl-C, on every worker)."""
    _STOP.setdefault(run_id, threading.Event()).set()
    removed = []
    for path in glob.glob(os.path.join(glob.escape(directory), f"{FILE_PREFIX}{run_id}-*")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            removed.append(path)
    return removed


def _random_phase(
    fd: int,
    *,
    write: bool,
    depth: int,
    runtime: float,
    file_size: int,
    block: int,
    seed: int,
    stop: threading.Event,
) -> dict[str, Any]:
    blocks = file_size // block
    per_thread: list[list[int]] = [[] for _ in range(depth)]
    deadline = time.perf_counter() + runtime

    def loop(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        buf = mmap.mmap(-1, block)
        buf[:] = rng.randbytes(block)
        lat = per_thread[i]
        op = os.pwritev if write else os.preadv
        clock = time.perf_counter_ns
        end_ns = int(deadline * 1e9)
        while not stop.is_set():
            off = rng.randrange(blocks) * block
            t0 = clock()
            op(fd, [buf], off)
            t1 = clock()
            lat.append(t1 - t0)
            if t1 >= end_ns:
                break

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(depth)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = [x for per in per_thread for x in per]
    return {"ops": len(lat), "seconds": elapsed, "latency_ns": lat}


def _sample(values: list[int]) -> list[float]:
    step = max(1, len(values) // _LATENCY_SAMPLE)
    return [v / 1e9 for v in values[::step]]


def storage_job(
    directory: str,
    run_id: str,
    node: str,
    file_size: int,
    block: int,
    depth: int,
    direct: bool,
    runtime: float,
    random_block: int = 4096,
    seed: int = 0,
    random_phases: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Runs on a worker: every phase on one file, which is always removed.

    The sequential phases always run (they lay out and verify the file);
    ``random_phases`` picks among ``randread_qd1``, ``randread_qd<depth>``, ...
    """
    stop = _STOP.setdefault(run_id, threading.Event())
    path = os.path.join(directory, f"{FILE_PREFIX}{run_id}-{node}.dat")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | (os.O_DIRECT if direct else 0)
    fd = os.open(path, flags, 0o600)
    phases: dict[str, Any] = {}
    done = _DONE[f"{run_id}-{node}"] = []
    try:
        buf = mmap.mmap(-1, block)
        buf[:] = random.Random(seed).randbytes(block)
        lat: list[int] = []
        clock = time.perf_counter_ns
        t0 = time.perf_counter()
        written = 0
        for off in range(0, file_size, block):
            if stop.is_set():
                break
            buf[0:8] = off.to_bytes(8, "little")
            s = clock()
            written += os.pwritev(fd, [buf], off)
            lat.append(clock() - s)
        os.fsync(fd)
        phases["seq_write"] = {
            "bytes": written,
            "seconds": time.perf_counter() - t0,
            "latency_ns": lat,
        }
        done.append("seq_write")

        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        lat = []
        read = verified = 0
        t0 = time.perf_counter()
        for off in range(0, file_size, block):
            if stop.is_set():
                break
            s = clock()
            n = os.preadv(fd, [buf], off)
            lat.append(clock() - s)
            read += n
            verified += n == block and int.from_bytes(buf[0:8], "little") == off
        phases["seq_read"] = {
            "bytes": read,
            "seconds": time.perf_counter() - t0,
            "latency_ns": lat,
            "verified_blocks": verified,
        }
        done.append("seq_read")

        for name, write in (("randread", False), ("randwrite", True)):
            for qd in sorted({1, depth}):
                if random_phases is not None and f"{name}_qd{qd}" not in random_phases:
                    continue
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                phases[f"{name}_qd{qd}"] = _random_phase(
                    fd,
                    write=write,
                    depth=qd,
                    runtime=runtime,
                    file_size=file_size,
                    block=random_block,
                    seed=seed + qd,
                    stop=stop,
                )
                if write:
                    os.fsync(fd)
                done.append(f"{name}_qd{qd}")
    finally:
        os.close(fd)
        _DONE.pop(f"{run_id}-{node}", None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    return {
        "path": path,
        "direct": direct,
        "phases": phases,
        "interrupted": stop.is_set(),
        "removed": not os.path.exists(path),
    }


def run_storage(
    bench: BenchCluster, params: StorageParams, step: Callable[[str], None] = lambda _: None
) -> WorkloadResult:
    """One node at a time (nodes sharing a disk must not share the measurement)."""
    direct = preflight_workers(bench, params)
    result = WorkloadResult("storage")
    size = params.file_size()
    result.details.update(
        {
            "directory": params.directory,
            "file_size": size,
            "block_size": params.block_size,
            "queue_depth": params.queue_depth,
            "random_block": params.random_block,
            "runtime": params.runtime,
            "latency_samples_s": {},
        }
    )
    where = "?"
    try:
        for w in bench.workers:
            where = f"{w.node} ({w.address})"
            with _phase_steps(bench, params, w.node, step):
                job = bench.call(
                    w,
                    storage_job,
                    params.directory,
                    params.run_id,
                    w.node,
                    size,
                    params.block_size,
                    params.queue_depth,
                    direct[w.address],
                    params.runtime,
                    params.random_block,
                    0,
                    params.random_phases,
                )
            _record(result, w.node, job, params)
    except OSError as exc:  # the disk filled up, went read-only, ... on that worker
        with contextlib.suppress(Exception):
            bench.call_everywhere(cleanup, params.run_id, params.directory)
        raise ResourceError(f"storage on {where}: {exc}") from None
    except BaseException:
        # Ctrl-C (or a lost worker): stop the loops and remove the files everywhere.
        with contextlib.suppress(Exception):
            bench.call_everywhere(cleanup, params.run_id, params.directory)
        if bench.embedded:
            cleanup(params.run_id, params.directory)
        raise
    return result


@contextlib.contextmanager
def _phase_steps(
    bench: BenchCluster, params: StorageParams, node: str, step: Callable[[str], None]
) -> Iterator[None]:
    """One ``step`` per finished phase of ``node``'s job while it runs.

    A thread asks the workers every half second which phases are done (a quick
    call beside the job); when the job returns, the phases not yet counted are.
    """
    names = phase_names(params)
    counted = 0
    lock = threading.Lock()
    stop = threading.Event()

    def advance(upto: int, final: bool = False) -> None:
        nonlocal counted
        with lock:
            if stop.is_set() and not final:  # a poll that came back after the job
                return
            while counted < min(upto, len(names)):
                step(f"{node} {names[counted]}")
                counted += 1

    def poll() -> None:
        while not stop.wait(_POLL_S):
            with contextlib.suppress(Exception):
                answers = bench.call_everywhere(phases_done, params.run_id, node)
                advance(max((len(a) for a in answers.values()), default=0))

    poller = threading.Thread(target=poll, name="storage-progress", daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join(timeout=10)
    advance(len(names), final=True)


def _record(result: WorkloadResult, node: str, job: dict[str, Any], params: StorageParams) -> None:
    ph = job["phases"]
    result.add("direct_io", job["direct"], "bool", node=node)
    result.add("test_file_removed", job["removed"], "bool", node=node)
    for name in ("seq_write", "seq_read"):
        p = ph[name]
        result.add(f"{name}_throughput", p["bytes"] / p["seconds"], "bytes/s", node=node)
        result.add(f"{name}_bytes", p["bytes"], "bytes", node=node)
    result.add("seq_read_verified_blocks", ph["seq_read"]["verified_blocks"], "count", node=node)
    result.add("blocks", params.file_size() // params.block_size, "count", node=node)
    samples: dict[str, list[float]] = {}
    for name, p in ph.items():
        if name.startswith("rand"):
            kind, qd = name.split("_qd")
            result.add(f"{kind}_iops", p["ops"] / p["seconds"], "iops", node=node, qd=qd)
            result.add(f"{kind}_ops", p["ops"], "count", node=node, qd=qd)
        for q, v in percentiles(p["latency_ns"]).items():
            result.add("latency", v, "s", node=node, phase=name, quantile=q)
        samples[name] = _sample(p["latency_ns"])
    result.details["latency_samples_s"][node] = samples

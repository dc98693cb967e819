"""Worker placement: calls run on workers on their event loop's CPU (opt-in).

Why: while a loop has several calls in flight, it and its workers take
turns holding the GIL, and every hand-over wakes a thread. On one CPU a
hand-over is cheap; across CPUs each costs a cross-core wake-up, and on a
2-vCPU machine that dominates (doc/performance.md, "Placement").

``MOTORLIKE_WORKER_AFFINITY`` picks the mode (Linux, with glibc's
``sched_getcpu`` and two usable CPUs; elsewhere always ``off``):

``off`` (the default)
    Nothing is pinned. No mode below is safe and faster everywhere:
    ``loop`` changes the application's own thread, ``workers`` halves the
    throughput of two busy processes sharing two CPUs (the kernel moves
    their loops, the workers chase them). Numbers: doc/performance.md.
``loop`` (``1``)
    The caller's thread (the loop's) is pinned, at its first call, to the
    CPU it is on, for good, and all its calls carry that CPU; a worker pins
    itself to the CPU of the call it runs. Fastest, single or several
    processes, but the application's own thread then has a one-CPU mask:
    ``os.process_cpu_count()`` and pools sized from the mask see one CPU,
    and processes ``multiprocessing`` starts with spawn or forkserver (no
    audit event) inherit it.
``workers``
    W1. A call made while its client already runs a call carries the CPU
        its caller is on at that moment; the worker that runs it pins itself
        there first. A call made while none runs carries no CPU, and its
        worker stays where it is.
    W2. The caller is never pinned.

W3. Nothing motorlike did not create keeps a mask motorlike set. A pinned
    thread (a worker, or a ``loop`` caller) takes its original mask back
    *before* it starts a process (the audit events of subprocess, fork,
    posix_spawn, system, exec) or a thread (3.12+ audit a thread's start),
    and is pinned again at its next job. Before 3.12, a worker that started
    threads during a job (PyMongo's monitors, at a client's first call)
    gives those that carry its one-CPU mask the original mask after the job
    (a thread the application starts and pins to that CPU itself during the
    job, from another thread, would be given it too: a window of one call).

State: one :class:`_Pin` per thread (thread-local), read and written by its
own thread only; ``Placement._lock`` guards the set of worker thread ids.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Callable

_MODES = {"workers": "workers", "": "off", "1": "loop", "loop": "loop", "true": "loop", "yes": "loop",
          "on": "loop", "0": "off", "off": "off", "false": "off", "no": "off"}
#: Audit events after which a new process or thread exists: it inherits the
#: mask of the thread that raised the event.
_UNPIN_BEFORE = frozenset({
    "subprocess.Popen", "os.posix_spawn", "os.posix_spawnp", "os.system", "os.exec", "os.fork", "os.forkpty",
    "_thread.start_new_thread", "_thread.start_joinable_thread",
})
_THREAD_STARTS_ARE_AUDITED = sys.version_info >= (3, 12)


def placement_mode_from_environment() -> str:
    """``off`` (the default, ``0`` too), ``loop`` (``1`` too) or ``workers``; ``off`` where unsupported."""
    raw = os.environ.get("MOTORLIKE_WORKER_AFFINITY", "").strip().lower()
    mode = _MODES.get(raw)
    if mode is None:
        raise ValueError(f"MOTORLIKE_WORKER_AFFINITY must be workers, loop (1) or off (0), not {raw!r}")
    return mode if mode == "off" or placement_supported() else "off"


def placement_supported() -> bool:
    """Linux's affinity calls, glibc's ``sched_getcpu``, two usable CPUs."""
    if not hasattr(os, "sched_setaffinity") or cpu_reader() is None:
        return False
    try:
        return len(os.sched_getaffinity(0)) >= 2
    except OSError:
        return False


def cpu_reader() -> Callable[[], int] | None:
    """glibc's ``sched_getcpu`` (a vDSO read, no system call), if there is one."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes

        # PyDLL keeps the GIL across the call: CDLL would release and take
        # it back on every submit, a stall of up to a switch interval when
        # workers are busy.
        function = ctypes.PyDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function


class _Pin:
    """One thread's placement (thread-local: see :data:`_local`)."""

    __slots__ = ("cpu", "pinned", "original", "starting_worker")

    def __init__(self, original: frozenset[int]) -> None:
        self.cpu = -1  # the CPU it is pinned to, while ``pinned``
        self.pinned = False
        self.original = original  # what a thread or process it starts gets
        self.starting_worker = False  # W3 leaves the pool's own thread starts alone


_local = threading.local()


def _set_mask(cpus: frozenset[int] | set[int], tid: int = 0) -> bool:
    try:
        os.sched_setaffinity(tid, cpus)
        return True
    except OSError:
        return False  # not allowed (a cgroup's cpuset), or the thread is gone


def _pin_to(pin: _Pin, cpu: int) -> None:
    pin.cpu = cpu  # tried once per CPU, whatever the outcome
    pin.pinned = True
    if cpu in pin.original:
        _set_mask({cpu})


def _unpin_before_a_start(event: str, _args: tuple) -> None:
    """W3's audit hook. Runs for every audited event of the process: the
    cheap test first, and nothing may escape into the caller's start."""
    if event not in _UNPIN_BEFORE:
        return
    try:
        pin = getattr(_local, "pin", None)
        if pin is not None and pin.pinned and not pin.starting_worker:
            if _set_mask(pin.original):
                pin.pinned = False
    except Exception:  # noqa: BLE001 - placement is never worth a failed start
        pass


_hook_installed = False
_hook_lock = threading.Lock()


def _install_audit_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_unpin_before_a_start)  # cannot be removed; costs a set lookup per event
            _hook_installed = True


def _forget_pins_in_child() -> None:
    # A forked child keeps the forking thread's thread-local state; its
    # mask was put back before the fork (W3), so it starts unpinned.
    pin = getattr(_local, "pin", None)
    if pin is not None:
        pin.pinned, pin.cpu, pin.starting_worker = False, -1, False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pins_in_child)


class Placement:
    """W1-W3 (or the ``loop`` mode) for one worker pool."""

    def __init__(self, read_cpu: Callable[[], int], pin_callers: bool = False) -> None:
        self._read_cpu = read_cpu
        self.pin_callers = pin_callers
        #: The process's CPUs as the pool found them: what a worker's
        #: threads and processes get (W3).
        self.original = frozenset(os.sched_getaffinity(0))
        self._lock = threading.Lock()
        self._workers: set[int] = set()  # native ids of this pool's worker threads
        _install_audit_hook()

    # -- callers -----------------------------------------------------------------

    def caller_cpu(self, busy: bool) -> int:
        """The CPU a call made on this thread should run on, or -1: anywhere.

        ``busy``: its client already runs a call (W1)."""
        if not self.pin_callers:
            return self._read_cpu() if busy else -1
        pin = getattr(_local, "pin", None)
        if pin is None:
            pin = _local.pin = _Pin(frozenset(os.sched_getaffinity(0)))
        if not pin.pinned:
            _pin_to(pin, pin.cpu if pin.cpu >= 0 else self._read_cpu())
        return pin.cpu

    # -- workers -----------------------------------------------------------------

    def worker_started(self) -> None:
        """On a new worker thread, before its first job. It may have inherited
        a pinned mask from the thread that started it: W3 must know."""
        pin = _local.pin = _Pin(self.original)
        mask = os.sched_getaffinity(0)
        if mask != self.original and len(mask) == 1:
            pin.cpu, pin.pinned = next(iter(mask)), True
        with self._lock:
            self._workers.add(threading.get_native_id())

    def worker_ending(self) -> None:
        with self._lock:
            self._workers.discard(threading.get_native_id())

    def follow(self, cpu: int) -> None:
        """On a worker, before a job made on ``cpu`` (W1)."""
        pin = _local.pin
        if cpu != pin.cpu or not pin.pinned:
            _pin_to(pin, cpu)

    def starting_worker(self, starting: bool) -> None:
        """Around the pool's own thread starts, which W3 leaves alone."""
        pin = getattr(_local, "pin", None)
        if pin is not None:
            pin.starting_worker = starting

    def threads_before_a_job(self) -> frozenset[int] | None:
        """Before 3.12, on a pinned worker: the threads alive before its job,
        for :meth:`after_a_job` (a set of ids, not a count: a thread that ends
        during the job must not hide one that starts)."""
        if _THREAD_STARTS_ARE_AUDITED or not _local.pin.pinned:
            return None
        return frozenset(thread.native_id for thread in threading.enumerate())

    def after_a_job(self, threads_before: frozenset[int] | None) -> None:
        """Before 3.12 (W3): threads started while this pinned worker ran its
        job (PyMongo's monitors) that carry exactly its one-CPU mask get the
        original mask. Threads that existed before the job, and the pool's
        workers, are never touched."""
        if threads_before is None:
            return
        pin = _local.pin
        with self._lock:
            skip = self._workers | threads_before
        mine = {pin.cpu}
        for thread in threading.enumerate():
            tid = thread.native_id
            if tid is None or tid in skip:
                continue
            try:
                if os.sched_getaffinity(tid) == mine:
                    _set_mask(self.original, tid)
            except OSError:
                continue  # it ended meanwhile

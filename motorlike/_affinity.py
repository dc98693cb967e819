"""Worker placement: an event loop's thread and its workers share one CPU.

Why: every call hands off twice between a loop and a worker thread, and on
a small machine a wake-up that crosses cores costs more than the rest of a
``find_one`` (doc/performance.md, "The hop"). Keeping the two on one CPU
also costs little parallelism: they take turns holding the GIL anyway.

On by default where Linux's ``sched_setaffinity`` and glibc's
``sched_getcpu`` exist and the process may use two CPUs or more;
``MOTORLIKE_WORKER_AFFINITY=0`` turns it off. The rules:

P1. A thread that makes calls (an event loop's, a *caller*) is pinned, at
    its first call, to the CPU it is on; each call carries that CPU, and a
    worker pins itself to the CPU of the call it runs.
P2. Every ``CHECK_INTERVAL`` of a caller's calls the choice is looked at
    again: when its CPU is saturated, at least ``FOREIGN_SHARE`` of it by
    other processes, and another CPU it may use is at least ``IDLE_SHARE``
    idle, the caller moves there, with probability 1/2 (two processes that
    see the same picture do not swap places forever), and its workers follow.
P3. Nothing motorlike did not create keeps a changed mask. A pinned thread
    gets its original mask back *before* it starts a process (the audit
    events of subprocess, posix_spawn, system, exec, fork) or a thread (3.12+
    audit the start of a thread), and is pinned again at its next call or
    job. Before 3.12, a ``threading`` thread started by a pinned thread puts
    its mask back as its first act (a ``threading.setprofile`` hook that
    removes itself and hands on to any hook set before it). Threads started
    from C get the original mask at the caller's next call after the
    process's thread count changed; every P2 look checks all the process's
    threads and the children of pinned threads.
P4. When the process's last open client is closed, every pinned caller
    thread gets its original mask back.

State: one :class:`_Pin` per thread (thread-local), read and written by its
own thread; ``Placement._lock`` guards the set of pinned threads and the
callers' records that P4 and the repairs read from other threads.
"""

from __future__ import annotations

import _thread
import os
import random
import sys
import threading
import time
from typing import Callable

#: Seconds between two looks at a caller's CPU (P2).
CHECK_INTERVAL = 0.5
#: P2's thresholds, shares of one CPU over a CHECK_INTERVAL.
SATURATED_SHARE = 0.85
FOREIGN_SHARE = 0.25
IDLE_SHARE = 0.35
#: Audit events after which a new process exists: its mask is inherited.
_STARTS_A_PROCESS = frozenset(
    {"subprocess.Popen", "os.posix_spawn", "os.posix_spawnp", "os.system", "os.exec", "os.fork", "os.forkpty"}
)
_STARTS_A_THREAD = frozenset({"_thread.start_new_thread", "_thread.start_joinable_thread"})
_UNPIN_BEFORE = _STARTS_A_PROCESS | _STARTS_A_THREAD


def worker_affinity_from_environment() -> bool:
    """Read ``MOTORLIKE_WORKER_AFFINITY``: ``0`` off; unset or ``1``: on where supported."""
    raw = os.environ.get("MOTORLIKE_WORKER_AFFINITY", "").strip().lower()
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("", "1", "true", "yes", "on"):
        return placement_supported()
    raise ValueError(f"MOTORLIKE_WORKER_AFFINITY must be 1 or 0, not {raw!r}")


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


def cpu_times() -> dict[int, tuple[int, int]]:
    """Per CPU, (busy, total) clock ticks since boot, from ``/proc/stat``.

    Busy counts what this process cannot have: user, system, interrupts
    and time stolen by the hypervisor; idle and iowait are free.
    """
    times: dict[int, tuple[int, int]] = {}
    with open("/proc/stat", "rb") as stat:
        for line in stat:
            if not line.startswith(b"cpu") or line.startswith(b"cpu "):
                continue
            name, *fields = line.split()
            values = [int(field) for field in fields[:8]]
            values += [0] * (8 - len(values))
            user, nice, system, idle, iowait, irq, softirq, steal = values
            busy = user + nice + system + irq + softirq + steal
            times[int(name[3:])] = (busy, busy + idle + iowait)
    return times


def choose_cpu(
    current: int,
    allowed: frozenset[int],
    before: dict[int, tuple[int, int]],
    after: dict[int, tuple[int, int]],
    own_share: float,
    coin: bool,
) -> int:
    """P2 as a pure function: where a caller on ``current`` goes next.

    ``before``/``after``: :func:`cpu_times` at both ends of the interval;
    ``own_share``: this process's CPU time over it, in CPUs (its pinned
    threads all run on ``current``; counting its other threads too only
    makes a move less likely); ``coin``: the 1/2 chance.
    """

    def shares(cpu: int) -> tuple[float, float] | None:
        if cpu not in before or cpu not in after:
            return None
        busy = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        if total <= 0:
            return None
        return busy / total, 1 - busy / total

    mine = shares(current)
    if mine is None:
        return current
    load, _idle = mine
    foreign = load - min(own_share, load)
    if load < SATURATED_SHARE or foreign < FOREIGN_SHARE:
        return current
    best, best_idle = current, IDLE_SHARE
    for cpu in sorted(allowed):
        other = shares(cpu) if cpu != current else None
        if other is not None and other[1] >= best_idle:
            best, best_idle = cpu, other[1]
    return best if coin else current


class _Pin:
    """One thread's placement; thread-local (see :data:`_local`)."""

    __slots__ = ("cpu", "pinned", "original", "worker", "native_id", "calls", "next_check", "looked_at", "stat",
                 "process_time", "starting_worker", "placement")

    def __init__(self, placement: Placement, worker: bool) -> None:
        self.placement = placement
        self.cpu = -1  # the CPU chosen for it (callers) or followed (workers)
        self.pinned = False  # whether its mask is {cpu} now
        self.original = frozenset(os.sched_getaffinity(0))
        self.worker = worker
        self.native_id = threading.get_native_id()
        self.calls = 0
        self.next_check = 0.0
        self.looked_at = 0.0
        self.stat: dict[int, tuple[int, int]] | None = None
        self.process_time = 0.0
        self.starting_worker = False  # P3 skips the pool's own thread starts


_local = threading.local()
#: The placement whose threads the audit hook unpins (one pool per process).
_active: Placement | None = None
_hook_installed = False


def _pin_of_this_thread(placement: Placement) -> _Pin | None:
    pin = getattr(_local, "pin", None)
    return pin if pin is not None and pin.placement is placement else None


def _set_mask(tid: int, cpus: frozenset[int] | set[int]) -> bool:
    try:
        os.sched_setaffinity(tid, cpus)
        return True
    except OSError:
        return False  # not allowed (a cgroup's cpuset), or the thread is gone


def _on_audit(event: str, _args: tuple) -> None:
    # Runs for every audited event of the process: the cheap test first.
    if event not in _UNPIN_BEFORE:
        return
    placement = _active
    if placement is None:
        return
    pin = _pin_of_this_thread(placement)
    if pin is not None and pin.pinned and not pin.starting_worker:
        if _set_mask(0, pin.original):  # P3: the new thread or process inherits this
            pin.pinned = False


def _hook_thread_starts() -> None:
    """Before 3.12 (no audit event for a thread's start): every ``threading``
    thread's first profiled event puts its mask back (P3), then the thread
    gets the profile hook that was set before this one (usually none)."""
    previous = threading.getprofile()

    def first_event_of_a_new_thread(frame: object, event: str, arg: object) -> object:
        sys.setprofile(previous)
        placement = _active
        if placement is not None:
            placement.repair_this_thread()
        return previous(frame, event, arg) if previous is not None else None

    threading.setprofile(first_event_of_a_new_thread)


class Placement:
    """P1-P4 for one worker pool."""

    def __init__(self, read_cpu: Callable[[], int]) -> None:
        global _active, _hook_installed
        self._read_cpu = read_cpu
        self._lock = threading.Lock()
        self._ours: set[int] = set()  # native ids of the threads it pinned
        self._callers: dict[int, _Pin] = {}
        self._seen_threads: set[int] = set()  # native ids a repair has looked at
        self._seen_children: set[int] = set()  # the same for child processes
        self._open_clients = 0
        self._thread_count = _thread._count()
        #: The mask of the first caller before it was pinned: what a
        #: repaired thread or process gets back.
        self.base: frozenset[int] | None = None
        self.moves = 0  # P2 moves, for tests and benchmarks
        self.repairs = 0  # threads and processes given their mask back (P3)
        _active = self
        if not _hook_installed:
            sys.addaudithook(_on_audit)  # cannot be removed: it checks _active first
            if sys.version_info < (3, 12):
                _hook_thread_starts()
            _hook_installed = True

    # -- callers (P1, P2) ----------------------------------------------------

    def caller_cpu(self) -> int:
        """The CPU for a call made on this thread; pins the thread (P1) and
        now and then looks again (P2)."""
        pin = _pin_of_this_thread(self)
        if pin is None:
            pin = self._new_caller()
        elif pin.worker:
            return pin.cpu  # a worker's own call: it runs where the worker is
        if not pin.pinned:
            self._pin_caller(pin)
        pin.calls += 1
        if not pin.calls & 63:
            self._maybe_move(pin)
        if _thread._count() != self._thread_count:
            self._repair(all_threads=False)
        return pin.cpu

    def _new_caller(self) -> _Pin:
        pin = _Pin(self, worker=False)
        _local.pin = pin
        with self._lock:
            if self.base is None:
                self.base = pin.original
            self._callers[pin.native_id] = pin
            self._ours.add(pin.native_id)
        return pin

    def _pin_caller(self, pin: _Pin) -> None:
        if pin.cpu < 0:
            pin.cpu = self._read_cpu()
            pin.next_check = time.monotonic()  # the first look sets the baseline
        if pin.cpu in pin.original and _set_mask(0, {pin.cpu}):
            pin.pinned = True
        else:
            pin.pinned = True  # not allowed: its workers still go where it is; do not retry each call
        with self._lock:
            self._ours.add(pin.native_id)
            self._callers[pin.native_id] = pin

    def _maybe_move(self, pin: _Pin) -> None:
        now = time.monotonic()
        if now < pin.next_check:
            return
        stat = cpu_times()
        process_time = time.process_time()
        if pin.stat is not None:
            own_share = (process_time - pin.process_time) / max(now - pin.looked_at, 1e-3)
            cpu = choose_cpu(pin.cpu, pin.original, pin.stat, stat, own_share, random.random() < 0.5)
            if cpu != pin.cpu and _set_mask(0, {cpu}):
                pin.cpu = cpu
                self.moves += 1
        pin.stat, pin.process_time, pin.looked_at = stat, process_time, now
        pin.next_check = now + CHECK_INTERVAL
        self._repair(all_threads=True)

    # -- workers (P1) ----------------------------------------------------------

    def worker_started(self) -> None:
        """On a new worker thread, before its first job."""
        pin = _Pin(self, worker=True)
        if self.base is not None:
            pin.original = self.base  # what it inherited may be a caller's pinned mask
        _local.pin = pin
        with self._lock:
            self._ours.add(pin.native_id)

    def follow(self, cpu: int) -> None:
        """On a worker, before a job made on ``cpu``."""
        pin = _local.pin
        if cpu != pin.cpu or not pin.pinned:
            pin.cpu = cpu  # tried once per CPU, whatever the outcome
            pin.pinned = True
            _set_mask(0, {cpu})

    def starting_worker(self, starting: bool) -> None:
        """Around the pool's own thread starts, which P3 leaves alone."""
        pin = _pin_of_this_thread(self)
        if pin is not None:
            pin.starting_worker = starting

    # -- what motorlike did not create (P3, P4) -----------------------------------

    def _repair(self, all_threads: bool) -> None:
        """Give the original mask back to threads (and, with ``all_threads``,
        the children of pinned threads) that inherited a pinned one."""
        self._thread_count = _thread._count()
        base = self.base
        if base is None:
            return
        if all_threads:
            try:
                tids = [int(name) for name in os.listdir("/proc/self/task")]
            except OSError:
                tids = []
        else:
            tids = [thread.native_id for thread in threading.enumerate() if thread.native_id is not None]
        with self._lock:
            ours = set(self._ours)
            pinned_cpus = {pin.cpu for pin in self._callers.values()}
            new = [tid for tid in tids if tid not in ours and tid not in self._seen_threads]
            self._seen_threads.update(new)
        for tid in new:
            self._repair_task(tid, base, pinned_cpus)
        if all_threads:
            for tid in ours & set(tids):
                self._repair_children(tid, base, pinned_cpus)
            with self._lock:  # forget threads that ended (their ids may be reused)
                self._seen_threads &= set(tids)

    def repair_this_thread(self) -> None:
        """P3 on a new thread, as its first act."""
        base = self.base
        if base is None:
            return
        with self._lock:
            pinned_cpus = {pin.cpu for pin in self._callers.values()}
        self._repair_task(0, base, pinned_cpus)

    def _repair_task(self, tid: int, base: frozenset[int], pinned_cpus: set[int]) -> None:
        try:
            mask = os.sched_getaffinity(tid)
        except OSError:
            return
        # Only a mask that can have come from a pinned thread: one CPU of ours.
        if len(mask) == 1 and next(iter(mask)) in pinned_cpus and mask != base:
            if _set_mask(tid, base):
                self.repairs += 1

    def _repair_children(self, tid: int, base: frozenset[int], pinned_cpus: set[int]) -> None:
        try:
            with open(f"/proc/self/task/{tid}/children") as children:
                pids = [int(pid) for pid in children.read().split()]
        except (OSError, ValueError):
            return
        for pid in pids:
            if pid in self._seen_children:
                continue
            self._seen_children.add(pid)
            try:
                tasks = [int(name) for name in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            for task in tasks:
                self._repair_task(task, base, pinned_cpus)

    def client_opened(self) -> None:
        with self._lock:
            self._open_clients += 1

    def client_closed(self) -> None:
        """P4 when it was the last open client."""
        with self._lock:
            self._open_clients -= 1
            last = self._open_clients <= 0
        if last:
            self.release_callers()

    def release_callers(self) -> None:
        """P4: every pinned caller thread gets its original mask back (it is
        pinned again at its next call)."""
        with self._lock:
            callers = list(self._callers.values())
            self._callers.clear()
        alive = {thread.native_id for thread in threading.enumerate()}
        me = threading.get_native_id()
        for pin in callers:
            if pin.pinned and pin.native_id in alive:  # a live thread's id is not reused
                if _set_mask(0 if pin.native_id == me else pin.native_id, pin.original):
                    pin.pinned = False
        self._repair(all_threads=True)

"""Opt-in worker affinity: a loop's thread and its workers share one CPU.

``MOTORLIKE_WORKER_AFFINITY=1`` (Linux only): each thread that starts
motorlike calls (an event loop's) is pinned to the CPU it is on at its first
call, and its calls run on workers pinned to that CPU, so no wake-up between
a loop and its workers crosses cores. Off by default: it changes the
application's own thread placement (doc/performance.md).
"""

from __future__ import annotations

import os
import threading
from typing import Callable


def worker_affinity_from_environment() -> bool:
    """Read ``MOTORLIKE_WORKER_AFFINITY`` (``1``: on; Linux only)."""
    raw = os.environ.get("MOTORLIKE_WORKER_AFFINITY", "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"MOTORLIKE_WORKER_AFFINITY must be 1 or 0, not {raw!r}")


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


_callers = threading.local()


def caller_cpu(read_cpu: Callable[[], int]) -> int:
    """The CPU of the calling thread (an event loop's), pinned there at its
    first call, so that it and its workers stay together instead of chasing
    each other across cores."""
    cpu = getattr(_callers, "cpu", None)
    if cpu is None:
        cpu = read_cpu()
        pin_this_thread(cpu)  # if not allowed, its workers still go where it is now
        _callers.cpu = cpu
    return cpu


def pin_this_thread(cpu: int) -> None:
    try:
        os.sched_setaffinity(0, {cpu})  # 0: this thread, on Linux
    except OSError:
        pass  # not allowed (a cgroup's cpuset): the thread runs where it is

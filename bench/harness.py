"""What every benchmark in ``bench/`` shares, once: drivers, worker processes, measuring,
repetitions and figures, the machine.

A measurement runs in a fresh worker process (``run_worker``) with a hard timeout and answers
with one ``RESULT {json}`` line (``report``): a crash or a hang is a failed measurement, not
a failed run. Contenders take turns (``interleaved``), the order rotated each repetition, and
are summed up as median, best and spread (``figures``). Scripts put the repository first on
``sys.path`` and import this as ``bench.harness``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import inspect
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Driver name -> its label in every report, in the order of run.py's columns.
DRIVER_LABELS = {
    "pymongo": "PyMongo sync",
    "motor": "Motor 3.7 asyncio",
    "pymongo_async": "PyMongo Async",
    "motorlike": "motorlike asyncio",
    "motorlike_affinity": "motorlike asyncio, affinity",
    "motorlike_tornado": "motorlike Tornado",
}

RESULT = "RESULT "  # how a worker's answer starts; whatever else it prints is ignored


# -- drivers ----------------------------------------------------------------


def module_version(name: str) -> str:
    """The version a module says it has (``version`` or ``__version__``), or "missing"."""
    try:
        module = __import__(name)
    except ImportError:
        return "missing"
    return str(getattr(module, "version", getattr(module, "__version__", "?")))


def import_driver(driver: str):
    """(client class, GridFS bucket class or None, version) of a driver in ``DRIVER_LABELS``;
    ImportError if it is missing, or if "motor" is motorlike's alias rather than Motor 3.7."""
    if driver in ("pymongo", "pymongo_async"):
        import gridfs
        import pymongo

        if driver == "pymongo":
            return pymongo.MongoClient, gridfs.GridFSBucket, pymongo.version
        return pymongo.AsyncMongoClient, gridfs.AsyncGridFSBucket, pymongo.version
    if driver == "motor":
        import motor

        version = getattr(motor, "version", "?")
        if motor.__name__ != "motor" or "motorlike" in (motor.__file__ or "") or not version.startswith("3.7"):
            raise ImportError("'motor' is not Motor 3.7 here: %s version %s" % (motor.__file__, version))
        import motor.motor_asyncio as ma

        return ma.AsyncIOMotorClient, getattr(ma, "AsyncIOMotorGridFSBucket", None), version
    if driver == "motorlike_affinity":
        os.environ["MOTORLIKE_WORKER_AFFINITY"] = "1"  # read when the worker pool starts, at the first call
        driver = "motorlike"
    if driver == "motorlike":
        import motorlike.motor_asyncio as ma

        return ma.AsyncIOMotorClient, getattr(ma, "AsyncIOMotorGridFSBucket", None), module_version("motorlike")
    if driver == "motorlike_tornado":
        import motorlike.motor_tornado as mt

        return mt.MotorClient, getattr(mt, "MotorGridFSBucket", None), module_version("motorlike")
    raise ValueError("unknown driver %r" % driver)


def run_async(driver: str, make_coroutine):
    """Run ``make_coroutine()`` on the driver's loop: a Tornado IOLoop of its own, else ``asyncio.run``."""
    if driver == "motorlike_tornado":
        from tornado.ioloop import IOLoop

        io_loop = IOLoop(make_current=False)
        try:
            return io_loop.run_sync(make_coroutine)
        finally:
            io_loop.close()
    return asyncio.run(make_coroutine())


async def maybe_await(value):
    """Await ``value`` if it is awaitable: ``close()`` is a coroutine in AsyncMongoClient only."""
    if inspect.isawaitable(value):
        return await value
    return value


# -- measuring --------------------------------------------------------------


def context_switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of every live thread of this process
    (``/proc/self/status`` counts the main thread only); (0, 0) without /proc."""
    counts = {"voluntary_ctxt_switches": 0, "nonvoluntary_ctxt_switches": 0}
    tasks = os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else []
    for task in tasks:
        with contextlib.suppress(OSError), open("/proc/self/task/%s/status" % task) as status:  # OSError: it ended
            for key, value in (line.split(":", 1) for line in status):
                if key in counts:
                    counts[key] += int(value)
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]


class Measured:
    """Wall, CPU (``process_time``: background threads count), minor faults and context
    switches over a ``with`` block; ``collect=True`` collects garbage before the start."""

    def __init__(self, collect: bool = False, barrier=None) -> None:
        self.collect = collect
        self.barrier = barrier
        self.wall = self.cpu = 0.0
        self.faults = self.voluntary = self.involuntary = 0
        self.started_at = self.ended_at = 0.0  # time.monotonic(): one clock for all processes

    def __enter__(self) -> "Measured":
        if self.barrier is not None:
            self.barrier()  # the processes of a multi-process run start together
        if self.collect:
            gc.collect()
        self._switches = context_switches()
        self._faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        self.started_at = time.monotonic()
        return self

    def __exit__(self, *exc_info) -> None:
        self.wall = time.perf_counter() - self._wall
        self.ended_at = time.monotonic()
        self.cpu = time.process_time() - self._cpu
        self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self._faults
        voluntary, involuntary = context_switches()
        self.voluntary = voluntary - self._switches[0]
        self.involuntary = involuntary - self._switches[1]


def file_barrier(directory: str, index: int, poll: float = 0.001):
    """A barrier across processes: each is ready with a file, then waits for ``release_barrier``'s."""

    def wait() -> None:
        open(os.path.join(directory, "ready-%d" % index), "w").close()
        go = os.path.join(directory, "go")
        while not os.path.exists(go):
            time.sleep(poll)

    return wait


def release_barrier(directory: str, count: int, procs, timeout: float = 300.0) -> bool:
    """Let ``count`` ready processes go; False if one of ``procs`` ended first or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while sum(1 for name in os.listdir(directory) if name.startswith("ready-")) < count:
        if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    open(os.path.join(directory, "go"), "w").close()
    return True


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- worker processes -------------------------------------------------------


def report(result: dict) -> None:
    print(RESULT + json.dumps(result, default=str), flush=True)


def error_text(exc: BaseException, limit: int | None = None) -> str:
    """``Type: message`` of an exception, the message cut to ``limit`` characters if given."""
    return "%s: %s" % (type(exc).__name__, str(exc)[:limit])


def failed(exc: BaseException, limit: int | None = None) -> dict:
    """What a worker reports when its measurement raised: the error and the traceback's end."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"ok": False, "error": error_text(exc, limit), "traceback": text[-2000:]}


def child_env() -> dict:
    """A worker's environment: this tree's motorlike first, one hash seed for all runs, and no
    placement from the shell (a variant sets its own: "motorlike" must mean the default)."""
    env = dict(os.environ)
    env.pop("MOTORLIKE_WORKER_AFFINITY", None)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def start_worker(script: str, args: list) -> subprocess.Popen:
    """Start ``python script *args`` in the repository; ``collect`` its result."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(script)] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, env=child_env(), cwd=ROOT,
        start_new_session=True,  # its own process group: a timeout kills what it started too
    )


def collect(proc: subprocess.Popen, timeout: float) -> dict:
    """A started worker's ``RESULT``, or a failed one if it dies without one or outlives ``timeout`` (killed)."""
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # something outside the group holds the pipes
            out, err = "", ""
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT):  # answered, then hung on its way out: the answer stands
            return json.loads(line[len(RESULT) :])
    if timed_out:
        return {"ok": False, "error": "timed out after %.0fs" % timeout}
    tail = (err or out or "").strip().splitlines()[-5:]
    return {"ok": False, "error": "worker exited %s: %s" % (proc.returncode, " | ".join(tail))}


def run_worker(script: str, args: list, timeout: float) -> dict:
    return collect(start_worker(script, args), timeout)


# -- repetitions and figures -----------------------------------------------


def rotations(repeat: int, contenders):
    """(repetition, contenders in turn order), rotated by one each repetition: a drift of a shared
    machine is spread over all of them."""
    contenders = list(contenders)
    for index in range(repeat):
        shift = index % len(contenders) if contenders else 0
        yield index, contenders[shift:] + contenders[:shift]


def interleaved(repeat: int, contenders, measure) -> dict:
    """``measure(contender)`` for each, ``repeat`` times in ``rotations``: the results per contender."""
    results: dict = {contender: [] for contender in contenders}
    for _index, order in rotations(repeat, contenders):
        for contender in order:
            results[contender].append(measure(contender))
    return results


def figures(values) -> dict | None:
    """Median, best (largest) and spread ((max - min) / median) of rates; None if none. The best run is
    reported because other processes on a shared machine only ever make a run look worse."""
    values = [value for value in values if value is not None]
    if not values:
        return None
    middle = statistics.median(values)
    return {
        "median": middle,
        "best": max(values),
        "spread": (max(values) - min(values)) / middle if middle else 0.0,
    }


def fmt_rate(value) -> str:
    """A rate with the digits that matter: 12,345 / 45.6 / 1.23; "-" for none."""
    if value is None:
        return "-"
    if value >= 100:
        return "{:,.0f}".format(value)
    if value >= 10:
        return "{:.1f}".format(value)
    return "{:.2f}".format(value)


def markdown_table(header: list, rows: list, numeric_from: int = 1) -> list:
    """The lines of a Markdown table; columns from ``numeric_from`` on are right-aligned."""
    rule = "|" + "---|" * numeric_from + "---:|" * (len(header) - numeric_from)
    return ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def machine() -> dict:
    """What a report says about where it ran."""
    cpu_model = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu_model)
    return {
        "date": now(), "os": "%s %s" % (platform.system(), platform.release()), "nproc": os.cpu_count(),
        "cpu_model": cpu_model, "python": platform.python_version(), "pymongo": module_version("pymongo"),
        "loadavg": loadavg(),
    }


def _cpu_ticks() -> dict:
    """/proc/stat's "cpu" (all CPUs) and "cpu0"...: (busy ticks, all ticks) so far; {} without it."""
    try:
        with open("/proc/stat") as f:
            rows = [line.split() for line in f if line.startswith("cpu")]
    except OSError:
        return {}
    ticks = {fields[0]: [int(v) for v in fields[1:9]] for fields in rows}
    return {name: (sum(t) - t[3] - t[4], sum(t)) for name, t in ticks.items()}  # t[3], t[4]: idle, iowait


def cpu_times():
    """(wall, busy CPU seconds of the whole machine or None, CPU seconds of this process tree)."""
    whole = _cpu_ticks().get("cpu")
    busy = whole[0] / os.sysconf("SC_CLK_TCK") if whole else None
    ours = sum(ru.ru_utime + ru.ru_stime for ru in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))
    return time.monotonic(), busy, ours


def foreign_cpus(start, end):
    """How many CPUs processes other than this benchmark kept busy between two ``cpu_times()``."""
    if start[1] is None or end[1] is None or end[0] <= start[0]:
        return None
    return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]))


def per_cpu_busy() -> dict:
    """Per CPU (``cpu0``...): (busy ticks, all ticks) so far, from /proc/stat; {} without it."""
    return {name: value for name, value in _cpu_ticks().items() if name != "cpu"}


def cpu_shares(before: dict, after: dict) -> dict:
    """How busy each CPU was between two ``per_cpu_busy()`` (0..1, two decimals)."""
    return {name: round((after[name][0] - before[name][0]) / max(1, after[name][1] - before[name][1]), 2)
            for name in after if name in before}


# -- the machine and the server ---------------------------------------------


def is_loopback_uri(uri: str) -> bool:
    """True if every host of a ``mongodb://`` URI is a loopback address (SRV never is)."""
    from pymongo.uri_parser import parse_uri

    hosts = [] if uri.startswith("mongodb+srv://") else [h.strip("[]").lower() for h, _ in parse_uri(uri)["nodelist"]]
    return bool(hosts) and all(h in ("localhost", "::1") or h.startswith("127.") for h in hosts)


def refuse_remote(uri: str) -> bool:
    """True, after saying why, if ``uri`` is not on a loopback address: benchmarks talk to no other."""
    if is_loopback_uri(uri):
        return False
    print("refusing %r: this benchmark only talks to servers on loopback addresses" % uri)
    return True


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def loadavg() -> str:
    return "%.2f %.2f %.2f" % os.getloadavg()


def write_json(path: str, data) -> None:
    """Results as JSON, in one format for every benchmark (sorted keys, diffable)."""
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=str)

"""Run tests many times in a row, optionally on a loaded machine; stop at the first failure.

    python -m tools.repeat_tests test/test_contract.py test/test_cursor.py --count 20
    python -m tools.repeat_tests --count 3 --burners 4          # the whole suite, both CPUs busy
    python -m tools.repeat_tests test/test_loops.py -- -k cancel   # after --: pytest's own options

Each run is one fresh ``python -m pytest`` process over the given tests
(none: pytest's ``testpaths``, i.e. the README's test command), so a run
sees what a user's run sees: a new interpreter, a new test server, the
tests in their order. A failure that shows only after many runs, or only
while the machine is busy, is a test that depends on timing.

``--burners K`` starts K processes that spin on the CPU for the length of
the repetition (a busy CI runner, other developers' builds). They stop when
this script ends, and by themselves if it is killed.

Prints one line per run; at the first failing run, its failure summary
and where its whole output is, then exits 1. Exit 0: every run passed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: A burner: spins until its parent (this script) is gone, checking now and
#: then, so that one left behind by a killed script ends by itself.
_BURNER = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(200_000):
        pass
"""

#: pytest's closing line, with or without -q's decoration: "3 passed, 1 skipped in 2.10s".
_SUMMARY = re.compile(r"^=*\s*(?P<counts>\d+ \w+(?:, \d+ \w+)*) in [\d.]+s")


def start_burners(count: int, python: str = sys.executable) -> list[subprocess.Popen]:
    return [subprocess.Popen([python, "-c", _BURNER]) for _ in range(count)]


def stop_burners(burners: list[subprocess.Popen]) -> None:
    for burner in burners:
        if burner.poll() is None:
            burner.kill()
    for burner in burners:
        burner.wait()


def pytest_command(python: str, tests: list[str], pytest_args: list[str]) -> list[str]:
    # -rfE: the failures' one-line summary, which the report quotes.
    return [python, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *pytest_args, *tests]


def counts_of(output: str) -> str:
    """pytest's closing counts ("12 passed, 2 skipped"), or '' if none."""
    for line in reversed(output.splitlines()):
        match = _SUMMARY.match(line.strip())
        if match:
            return match.group("counts")
    return ""


def failure_summary(output: str, lines: int = 30) -> str:
    """The "short test summary info" of a run's output, else its last lines."""
    text = output.splitlines()
    for index, line in enumerate(text):
        if "short test summary info" in line:
            return "\n".join(text[index + 1 :][:lines])
    return "\n".join(text[-lines:])


def repeat(
    tests: list[str],
    count: int,
    burners: int = 0,
    pytest_args: list[str] | None = None,
    python: str = sys.executable,
    log_dir: Path | None = None,
    out: object = sys.stdout,
) -> int:
    """Run the tests ``count`` times; 0 if every run passed, else 1 (stops at the first failure)."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="motorlike-repeat-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    command = pytest_command(python, tests, pytest_args or [])

    def say(text: str) -> None:
        print(text, file=out, flush=True)  # type: ignore[call-overload]

    say(f"{count} runs of: {' '.join(command[1:])}")
    say(f"{burners} CPU burners; {os.cpu_count()} CPUs; load average {_load()}; logs in {log_dir}")
    spinning = start_burners(burners, python)
    if spinning:
        say("burner pids: " + " ".join(str(burner.pid) for burner in spinning))
    started = time.monotonic()
    try:
        for run in range(1, count + 1):
            begun = time.monotonic()
            result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            output = result.stdout + result.stderr
            log = log_dir / f"run-{run}.log"
            log.write_text(output, encoding="utf-8")
            took = time.monotonic() - begun
            if result.returncode != 0:
                # 5: no test ran, which proves nothing either.
                say(f"run {run}/{count}: FAILED (pytest exit {result.returncode}) in {took:.1f}s, load {_load()}: {counts_of(output)}")
                say(failure_summary(output))
                say(f"whole output: {log}")
                return 1
            say(f"run {run}/{count}: passed in {took:.1f}s, load {_load()}: {counts_of(output)}")
    finally:
        stop_burners(spinning)
    say(f"all {count} runs passed in {time.monotonic() - started:.0f}s")
    return 0


def _load() -> str:
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    pytest_args: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, pytest_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        prog="python -m tools.repeat_tests",
        description="Run pytest over the given tests COUNT times in a row, optionally with CPU burners; "
        "stop at the first failing run. Options after -- go to pytest.",
    )
    parser.add_argument("tests", nargs="*", help="test files or node ids (default: the whole suite)")
    parser.add_argument("--count", type=int, default=20, help="runs in a row (default 20)")
    parser.add_argument("--burners", type=int, default=0, help="processes spinning on the CPU meanwhile (default 0)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest (default: this one)")
    parser.add_argument("--log-dir", type=Path, help="where each run's output goes (default: a new temporary directory)")
    options = parser.parse_args(argv)
    if options.count < 1 or options.burners < 0:
        parser.error("--count must be at least 1 and --burners at least 0")
    return repeat(options.tests, options.count, options.burners, pytest_args, options.python, options.log_dir)


if __name__ == "__main__":
    sys.exit(main())

"""``python -m synchro``: PyMongo's own tests through motorlike, with a parity report.

For the selected test files of PyMongo's suite (the version installed
here, see :mod:`synchro.suite`) the runner makes one pytest run with plain
PyMongo (the baseline) and one through synchro per framework, each in a
subprocess, each against a freshly started embedded test server (or all
against ``MOTORLIKE_TEST_URI``). The report lists, per file, how many tests
passed each way and the *gap*: tests that pass with plain PyMongo but not
through synchro.

When it starts the server itself, the runner first moves into a network
namespace of its own (``unshare --net``) with only a loopback interface:
PyMongo's tests name hosts such as ``cluster.example``, and there no
packet can leave the machine. Everything that needs the package registry
(the suite, the venvs) is prepared before that.

Exit status: 0 when the gap is empty, 1 when it is not (unless
``--allow-gap``), 2 when the run itself went wrong (a stale exclusion
entry, pytest unable to run).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

from synchro import exclusions, markdown, suite
from synchro.reports import build_report, combine_reports, explain_failure, format_table

#: The files CI runs, for both frameworks (``--jobs 3``): every file whose
#: tests drive a client through the API motorlike wraps (CRUD, cursors,
#: sessions, GridFS, monitoring, the unified-format spec runners), chosen by
#: the per-file seconds of doc/synchro-suite.md to keep .ci/run under 30
#: minutes. test_read_concern.py is left out: after the files before it, its
#: tests fail in both runs ("collection coll already exists"), so it could
#: never show a gap there. Left to ``tox -e synchro-full``: the suite's unit
#: tests of PyMongo's own machinery (BSON, URIs, SDAM, server selection), slow
#: waits that never reach motorlike's classes (test_discovery_and_monitoring,
#: test_streaming_protocol, test_server_selection_logging), and
#: the legacy gridfs.GridFS file, excluded by design.
CI_SELECTION = (
    # motorlike's classes one by one
    "test_client.py",
    "test_database.py",
    "test_collection.py",
    "test_cursor.py",
    "test_bulk.py",
    "test_session.py",
    "test_change_stream.py",
    "test_transactions.py",
    "test_gridfs_bucket.py",
    "test_grid_file.py",
    "test_custom_types.py",
    "test_comment.py",
    "test_fork.py",
    "test_collation.py",
    "test_write_concern.py",
    "test_raw_bson.py",
    "test_typing.py",
    "test_examples.py",
    "test_run_command.py",
    "test_collection_management.py",
    # events, retries, timeouts as an application sees them
    "test_monitoring.py",
    "test_command_monitoring.py",
    "test_command_logging.py",
    "test_retryable_reads.py",
    "test_retryable_writes.py",
    "test_csot.py",
    "test_threads.py",
    "test_pooling.py",
    "test_connection_monitoring.py",
    "test_client_backpressure.py",
    "test_operation_id_retry.py",
    # the specifications' unified-format runners, through motorlike
    "test_crud_unified.py",
    "test_retryable_reads_unified.py",
    "test_retryable_writes_unified.py",
    "test_sessions_unified.py",
    "test_transactions_unified.py",
    "test_unified_format.py",
    "test_gridfs_spec.py",
    "test_read_write_concern_spec.py",
    "test_versioned_api_integration.py",
    "test_create_entities.py",
)

FRAMEWORK_CHOICES = ("asyncio", "tornado", "both")
INSIDE_NETNS_FLAG = "--inside-netns"


def _log(message: str) -> None:
    print(f"[synchro] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m synchro", description="Run PyMongo's test suite through motorlike.")
    parser.add_argument(
        "--framework",
        choices=FRAMEWORK_CHOICES,
        default=os.environ.get("SYNCHRO_FRAMEWORK") or "asyncio",
        help="motorlike classes to test: asyncio, tornado or both (default: $SYNCHRO_FRAMEWORK or asyncio)",
    )
    parser.add_argument(
        "--report",
        default="synchro-report.json",
        help="where to write the JSON report (with --framework both: one file per framework, "
        "the framework's name added before the suffix)",
    )
    parser.add_argument("--full", action="store_true", help="run every synchronous test file of the suite")
    parser.add_argument("--files", help="comma-separated test files to run instead of the CI selection")
    parser.add_argument("--timeout", type=int, default=120, help="seconds one test may take (default 120)")
    parser.add_argument("--allow-gap", action="store_true", help="exit 0 even if the gap is not empty")
    parser.add_argument("--no-netns", action="store_true", help="do not move into a private network namespace")
    parser.add_argument("--logs", help="directory for the pytest logs (default: synchro-logs beside the report)")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression, passed to every run")
    parser.add_argument(
        "--no-server-exclusions",
        action="store_true",
        help="also run the tests excluded because the embedded server cannot run them (for a real mongod)",
    )
    parser.add_argument("--plain-only", action="store_true", help="run only the plain PyMongo baseline")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs (the baseline, each framework) to make side by side, each with its own server (default 1)",
    )
    parser.add_argument(
        "--markdown",
        help="also write the per-file table as Markdown to this path (doc/synchro-suite.md for --full runs)",
    )
    parser.add_argument(INSIDE_NETNS_FLAG, action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def frameworks_of(option: str) -> list[str]:
    return ["asyncio", "tornado"] if option == "both" else [option]


def selected_files(options: argparse.Namespace, suite_root: pathlib.Path) -> list[str]:
    if options.files:
        files = [name.strip() for name in options.files.split(",") if name.strip()]
    elif options.full:
        files = sorted(path.name for path in (suite_root / "test").glob("test_*.py"))
    else:
        files = list(CI_SELECTION)
    names = [pathlib.PurePath(name).name for name in files]
    missing = [name for name in names if not (suite_root / "test" / name).exists()]
    if missing:
        raise SystemExit(f"not in PyMongo's suite: {', '.join(missing)}")
    return names


def report_paths(report: str, frameworks: list[str]) -> dict[str, pathlib.Path]:
    """Where each framework's report goes; with several, PATH gets a summary of them."""
    path = pathlib.Path(report).resolve()
    if len(frameworks) == 1:
        return {frameworks[0]: path}
    return {name: path.with_name(f"{path.stem}-{name}{path.suffix}") for name in frameworks}


# ---------------------------------------------------------------------------
# Network namespace


def _netns_available() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True)
    return probe.returncode == 0


def _bring_loopback_up() -> None:
    ip = shutil.which("ip")
    if ip is not None:
        subprocess.run([ip, "link", "set", "lo", "up"], check=True)
        return
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, siocgifflags, request)[:18])[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


# ---------------------------------------------------------------------------
# Runs


def _server_address(uri: str) -> tuple[str, int]:
    from pymongo.uri_parser import parse_uri

    nodes = parse_uri(uri)["nodelist"]
    host, port = nodes[0]
    return host, port


class ServerSource:
    """A fresh embedded server per run, or MOTORLIKE_TEST_URI for all of them."""

    def __init__(self) -> None:
        from motorlike import testserver

        self.testserver = testserver
        self.fixed_uri = testserver.test_server_uri()

    def describe(self) -> str:
        return f"MOTORLIKE_TEST_URI={self.fixed_uri}" if self.fixed_uri else "embedded server (fresh per run)"

    def open(self) -> Any:
        return self.testserver.server_uri()


def run_pytest(
    *,
    mode: str,
    framework: str | None,
    files: list[str],
    uri: str,
    suite_root: pathlib.Path,
    python: pathlib.Path,
    source_path: pathlib.Path,
    entries: list[exclusions.Exclusion],
    timeout: int,
    log_path: pathlib.Path,
    keyword: str | None,
) -> dict:
    """One pytest run of ``files``; returns the plugin's results."""
    host, port = _server_address(uri)
    label = mode if framework is None else f"{mode} {framework}"
    with tempfile.TemporaryDirectory(prefix="synchro-run-") as scratch:
        exclusions_file = pathlib.Path(scratch) / "exclusions.json"
        exclusions_file.write_text(json.dumps([entry.as_dict() for entry in entries]))
        results_file = pathlib.Path(scratch) / "results.json"
        env = dict(os.environ)
        for variable in ("MOTORLIKE_TEST_URI", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
            env.pop(variable, None)
        env.update(
            {
                "PYTHONPATH": str(source_path),
                "DB_IP": host,
                "DB_PORT": str(port),
                "SYNCHRO_MODE": mode,
                "SYNCHRO_TEST_ROOT": str(suite_root / "test"),
                "SYNCHRO_EXCLUSIONS": str(exclusions_file),
                "SYNCHRO_RESULTS": str(results_file),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        if framework is not None:
            env["SYNCHRO_FRAMEWORK"] = framework
        command = [
            str(python), "-m", "pytest",
            "-p", "synchro.pytest_plugin",
            "-p", "no:cacheprovider",
            "-o", "addopts=",
            "-o", "log_cli=false",
            "-m", "default",
            f"--timeout={timeout}",
            "-rfE", "-v", "--color=no", "--durations=30",
        ]
        if keyword:
            command += ["-k", keyword]
        command += [f"test/{name}" for name in files]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            log.write(f"$ {' '.join(command)}\n# DB_IP={host} DB_PORT={port} SYNCHRO_MODE={mode} SYNCHRO_FRAMEWORK={framework}\n")
            log.flush()
            completed = subprocess.run(command, cwd=suite_root, env=env, stdout=log, stderr=subprocess.STDOUT)
        elapsed = time.monotonic() - started
        why = ""
        if not results_file.exists() or completed.returncode not in (0, 1, 5):
            reason = explain_failure(log_path)
            why = f" ({reason})" if reason else ""
        if not results_file.exists():
            raise PytestRunFailed(f"pytest ({label}) wrote no results, exit {completed.returncode}{why}; see {log_path}")
        results = json.loads(results_file.read_text())
    if completed.returncode not in (0, 1, 5):
        raise PytestRunFailed(f"pytest ({label}) exited {completed.returncode}{why}; see {log_path}")
    results["seconds"] = round(elapsed, 1)
    results["log"] = str(log_path)
    counts: dict[str, int] = {}
    for outcome in results["outcomes"].values():
        counts[outcome] = counts.get(outcome, 0) + 1
    _log(f"{mode:7} {framework or '':8} {elapsed:6.1f}s  " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return results


#: Files per pytest process in a --full run: a crash of pytest itself (or a
#: file it cannot collect) costs at most this group, which is then run again
#: file by file, so that only the file to blame is lost.
FULL_RUN_GROUP_SIZE = 10


class PytestRunFailed(RuntimeError):
    """pytest ended without results (a crash, an INTERNALERROR, a file it cannot collect)."""


def run_in_groups(files: list[str], run_files: Callable[[list[str]], dict], group_size: int) -> dict:
    """Results of ``run_files`` over ``files``, a group of files per call.

    A group whose run fails is run again one file at a time; a file whose
    own run fails is reported in ``failed_files`` (with the error) instead
    of ending the whole run. Results of the runs that worked are merged.
    """
    merged: dict = {"outcomes": {}, "collected": [], "seconds": 0.0, "log": None, "failed_files": {}}

    merged["file_seconds"] = {}

    def merge(results: dict) -> None:
        merged["outcomes"].update(results["outcomes"])
        merged["file_seconds"].update(results.get("file_seconds", {}))
        merged["collected"].extend(results.get("collected", []))
        merged["seconds"] = round(merged["seconds"] + (results.get("seconds") or 0.0), 1)
        merged["log"] = results.get("log") or merged["log"]

    for start in range(0, len(files), group_size):
        group = files[start : start + group_size]
        try:
            merge(run_files(group))
            continue
        except PytestRunFailed as error:
            if len(group) == 1:
                merged["failed_files"][group[0]] = str(error)
                continue
            _log(f"a run of {len(group)} files failed ({error}); running them one by one")
        for name in group:
            try:
                merge(run_files([name]))
            except PytestRunFailed as error:
                merged["failed_files"][name] = str(error)
    return merged


def run(options: argparse.Namespace) -> int:
    version = suite.installed_pymongo_version()
    suite_root = suite.suite_dir(version)
    venv = suite.venv_dir(version)
    source_path = suite.source_path_dir()
    files = selected_files(options, suite_root)
    frameworks = frameworks_of(options.framework)
    reports = report_paths(options.report, frameworks)
    logs = pathlib.Path(options.logs).resolve() if options.logs else next(iter(reports.values())).parent / "synchro-logs"

    servers = ServerSource()
    if servers.fixed_uri is None and not options.inside_netns:
        # What the embedded server needs from the registry, before any namespace.
        servers.testserver.ensure_server_venv()
        if not options.no_netns:
            if _netns_available():
                _log("moving into a private network namespace (loopback only)")
                command = [shutil.which("unshare"), "--net", "--", sys.executable, "-m", "synchro", *sys.argv[1:], INSIDE_NETNS_FLAG]
                return subprocess.call(command)
            _log("unshare --net is not available here: running in the machine's own network namespace")
    if options.inside_netns:
        _bring_loopback_up()

    _log(f"PyMongo {version}; {len(files)} file(s); frameworks: {', '.join(frameworks)}; server: {servers.describe()}")
    grouped = options.full and not options.files

    def run_mode(mode: str, framework: str | None, uri: str, entries: list[exclusions.Exclusion]) -> dict:
        name = "plain" if framework is None else f"synchro-{framework}"
        if not grouped:
            return run_pytest(mode=mode, framework=framework, uri=uri, entries=entries, log_path=logs / f"{name}.log", **common)

        def run_files(group: list[str]) -> dict:
            label = group[0].removesuffix(".py") + (f"+{len(group) - 1}" if len(group) > 1 else "")
            return run_pytest(
                mode=mode, framework=framework, uri=uri, entries=entries,
                log_path=logs / name / f"{label}.log", **{**common, "files": group},
            )

        return run_in_groups(files, run_files, FULL_RUN_GROUP_SIZE)

    common = dict(
        files=files,
        suite_root=suite_root,
        python=suite.venv_python(venv),
        source_path=source_path,
        timeout=options.timeout,
        keyword=options.keyword,
    )
    stale: list[exclusions.Exclusion] = []

    server_exclusions = not options.no_server_exclusions
    paths = [f"test/{name}" for name in files]
    plain_entries = exclusions.applicable("plain", paths, server_exclusions=server_exclusions)
    synchro_entries = exclusions.applicable("synchro", paths, server_exclusions=server_exclusions)

    def run_with_own_server(framework: str | None) -> dict:
        mode, entries = ("plain", plain_entries) if framework is None else ("synchro", synchro_entries)
        with servers.open() as uri:
            return run_mode(mode, framework, uri, entries)

    # The baseline and each framework's run are independent (each gets a
    # fresh server), so with --jobs they can run side by side.
    wanted: list[str | None] = [None] + ([] if options.plain_only else frameworks)
    jobs = max(1, options.jobs)
    if jobs > 1 and servers.fixed_uri is not None:
        # One server for all runs: side by side they would use (and drop)
        # the same databases at once.
        _log(f"--jobs {jobs} ignored: every run uses MOTORLIKE_TEST_URI, so they run one after another")
        jobs = 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as executor:
        futures = {framework: executor.submit(run_with_own_server, framework) for framework in wanted}
        outcomes = {framework: future.result() for framework, future in futures.items()}
    plain = outcomes[None]
    if not options.keyword:
        stale += exclusions.unmatched(plain_entries, plain["collected"])

    status = 0
    written: dict[str, dict] = {}
    for framework in [] if options.plain_only else frameworks:
        results = outcomes[framework]
        if not options.keyword:
            stale += [entry for entry in exclusions.unmatched(synchro_entries, results["collected"]) if entry not in stale]
        report = build_report(version, framework, files, plain, results, synchro_entries)
        path = reports[framework]
        path.write_text(json.dumps(report, indent=2) + "\n")
        written[framework] = report
        print(format_table(report))
        print(f"report: {path}")
        if report["gap_total"] and not options.allow_gap:
            status = max(status, 1)

    if options.markdown and written:
        pathlib.Path(options.markdown).write_text(markdown.render(written, server=servers.describe()))
        print(f"markdown: {options.markdown}")

    if len(written) > 1:
        summary_path = pathlib.Path(options.report).resolve()
        summary = combine_reports(version, written)
        summary["reports"] = {name: str(reports[name]) for name in written}
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"summary: {summary_path}")

    if stale:
        try:
            exclusions.check(stale, [])
        except exclusions.StaleExclusionError as error:
            print(f"error: {error}", file=sys.stderr)
        return 2
    return status


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        return run(options)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

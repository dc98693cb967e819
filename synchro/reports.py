"""What a synchro run found, as data and as a table: per-file outcomes of
PyMongo's tests run plainly and through motorlike, the gap between them, and
the reason a pytest run ended without results."""

from __future__ import annotations

import pathlib
import re

from synchro import exclusions


def explain_failure(log_path: pathlib.Path) -> str | None:
    """The line of a pytest log that says why the run failed, if one does."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"^E\s+((?:ModuleNotFoundError|ImportError|SyntaxError)\b.*)$|^(INTERNALERROR> \S.*Error.*)$", text, re.M)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).strip()


def file_of(node_id: str) -> str:
    return pathlib.PurePosixPath(node_id.split("::", 1)[0]).name


def build_report(
    version: str, framework: str, files: list[str], plain: dict, synchro_results: dict, excluded: list[exclusions.Exclusion]
) -> dict:
    report_files: dict[str, dict] = {}
    for name in files:
        report_files[name] = {
            "plain_passed": 0,
            "synchro_passed": 0,
            "gap": [],
            "excluded": [],
            "plain_seconds": plain.get("file_seconds", {}).get(f"test/{name}", 0.0),
            "synchro_seconds": synchro_results.get("file_seconds", {}).get(f"test/{name}", 0.0),
        }
    for node, outcome in plain["outcomes"].items():
        entry = report_files.get(file_of(node))
        if entry is not None and outcome == "passed":
            entry["plain_passed"] += 1
    for node, outcome in synchro_results["outcomes"].items():
        entry = report_files.get(file_of(node))
        if entry is not None and outcome == "passed":
            entry["synchro_passed"] += 1
    synchro_outcomes = synchro_results["outcomes"]
    for node, outcome in sorted(plain["outcomes"].items()):
        if outcome != "passed":
            continue
        if synchro_outcomes.get(node) == "passed":
            continue
        if any(exclusions.matches(entry.id, node) for entry in excluded):
            continue
        entry = report_files.get(file_of(node))
        if entry is not None:
            entry["gap"].append(node)
    for entry in excluded:
        target = report_files.get(file_of(entry.id))
        if target is not None:
            target["excluded"].append({"id": entry.id, "runs": entry.runs, "reason": entry.reason})
    # How many collected tests each kind of exclusion kept out of the runs.
    for node in synchro_results.get("collected", []):
        target = report_files.get(file_of(node))
        hit = next((entry for entry in excluded if exclusions.matches(entry.id, node)), None)
        if target is None or hit is None:
            continue
        key = "excluded_tests" if hit.runs == "synchro" else "server_excluded_tests"
        target[key] = target.get(key, 0) + 1
    return {
        "pymongo_version": version,
        "framework": framework,
        "files": report_files,
        "runs": {
            "plain": {"seconds": plain.get("seconds"), "log": plain.get("log")},
            "synchro": {"seconds": synchro_results.get("seconds"), "log": synchro_results.get("log")},
        },
        "gap_total": sum(len(entry["gap"]) for entry in report_files.values()),
        # Files pytest could not run (--full runs them in groups): their
        # plain passes are in the gap when only the synchro run failed.
        "failed_files": {
            "plain": dict(plain.get("failed_files", {})),
            "synchro": dict(synchro_results.get("failed_files", {})),
        },
    }


def combine_reports(version: str, reports: dict[str, dict]) -> dict:
    """One report, of the same shape, for runs over several frameworks.

    Per file: the baseline's ``plain_passed``; ``synchro_passed``, the fewest
    any framework passed; ``gap``, every test in some framework's gap; and
    ``frameworks``, each one's own ``synchro_passed`` and ``gap``.
    """
    files: dict[str, dict] = {}
    for framework, report in reports.items():
        for name, entry in report["files"].items():
            combined = files.setdefault(
                name, {"plain_passed": entry["plain_passed"], "synchro_passed": None, "gap": [], "frameworks": {}}
            )
            passed = entry["synchro_passed"]
            combined["synchro_passed"] = passed if combined["synchro_passed"] is None else min(combined["synchro_passed"], passed)
            combined["gap"] = sorted(set(combined["gap"]) | set(entry["gap"]))
            combined["frameworks"][framework] = {"synchro_passed": passed, "gap": entry["gap"]}
    return {
        "pymongo_version": version,
        "framework": "+".join(reports),
        "files": files,
        "gap_total": sum(len(entry["gap"]) for entry in files.values()),
    }


def format_table(report: dict) -> str:
    rows = [("file", "plain passed", "synchro passed", "excluded", "gap")]
    for name, entry in report["files"].items():
        rows.append(
            (
                name,
                str(entry["plain_passed"]),
                str(entry["synchro_passed"]),
                str(len(entry["excluded"])),
                str(len(entry["gap"])),
            )
        )
    rows.append(
        (
            "total",
            str(sum(e["plain_passed"] for e in report["files"].values())),
            str(sum(e["synchro_passed"] for e in report["files"].values())),
            str(sum(len(e["excluded"]) for e in report["files"].values())),
            str(report["gap_total"]),
        )
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"PyMongo {report['pymongo_version']} suite through synchro ({report['framework']})"]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0 or index == len(rows) - 2:
            lines.append("  ".join("-" * width for width in widths))
    for name, entry in report["files"].items():
        for node in entry["gap"]:
            lines.append(f"  gap: {node}")
    for run, failed in report.get("failed_files", {}).items():
        for name, error in failed.items():
            lines.append(f"  not run ({run}): {name}: {error}")
    return "\n".join(lines)

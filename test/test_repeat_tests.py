"""tools/repeat_tests.py: runs in a row, stops at the first failing run, burners stop with it."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from tools import repeat_tests

pytestmark = pytest.mark.no_server


def _run(tests: list[str], count: int, tmp_path: Path, burners: int = 0) -> tuple[int, str]:
    out = io.StringIO()
    code = repeat_tests.repeat(tests, count, burners, python=sys.executable, log_dir=tmp_path / "logs", out=out)
    return code, out.getvalue()


def test_every_run_passing_is_exit_0(tmp_path: Path) -> None:
    test_file = tmp_path / "test_fine.py"
    test_file.write_text("def test_fine():\n    assert True\n")
    code, report = _run([str(test_file)], 2, tmp_path)
    assert code == 0, report
    assert [line.split(":")[0] for line in report.splitlines() if line.startswith("run ")] == ["run 1/2", "run 2/2"]
    assert "1 passed" in report and "all 2 runs passed" in report


def test_the_first_failing_run_stops_the_repetition_and_is_reported(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    test_file = tmp_path / "test_second_time.py"
    test_file.write_text(
        "from pathlib import Path\n"
        f"COUNTER = Path({str(counter)!r})\n"
        "def test_fails_on_the_second_run():\n"
        "    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1\n"
        "    COUNTER.write_text(str(runs))\n"
        "    assert runs != 2, 'the second run'\n"
    )
    code, report = _run([str(test_file)], 3, tmp_path)
    assert code == 1, report
    assert "run 1/3: passed" in report
    assert "run 2/3: FAILED (pytest exit 1)" in report
    assert "run 3/3" not in report and counter.read_text() == "2"
    assert "test_fails_on_the_second_run" in report  # pytest's failure summary, quoted
    assert str(tmp_path / "logs" / "run-2.log") in report and (tmp_path / "logs" / "run-2.log").exists()


def test_a_run_in_which_no_test_ran_is_a_failure(tmp_path: Path) -> None:
    empty = tmp_path / "test_nothing.py"
    empty.write_text("# no tests\n")
    code, report = _run([str(empty)], 1, tmp_path)
    assert code == 1 and "FAILED (pytest exit 5)" in report, report


def test_burners_run_meanwhile_and_are_gone_after(tmp_path: Path) -> None:
    witness = tmp_path / "test_burners_spin.py"
    # The test sees the burners: processes whose parent is the repeating script.
    witness.write_text(
        "import os\n"
        "def test_burners_exist():\n"
        "    parent = os.getppid()\n"
        "    children = []\n"
        "    for entry in os.listdir('/proc'):\n"
        "        if entry.isdigit():\n"
        "            try:\n"
        "                stat = open(f'/proc/{entry}/stat').read()\n"
        "            except OSError:\n"
        "                continue\n"
        "            if int(stat.rsplit(')', 1)[1].split()[1]) == parent:\n"
        "                children.append(entry)\n"
        "    assert len(children) >= 3  # two burners and this pytest\n"
    )
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to see the burners")
    code, report = _run([str(witness)], 1, tmp_path, burners=2)
    assert code == 0, report
    (pids_line,) = [line for line in report.splitlines() if line.startswith("burner pids:")]
    pids = [int(pid) for pid in pids_line.split(":")[1].split()]
    assert len(pids) == 2
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_options_after_double_dash_go_to_pytest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_repeat(tests, count, burners, pytest_args, python, log_dir):  # noqa: ANN001
        seen.update(tests=tests, count=count, burners=burners, pytest_args=pytest_args)
        return 0

    monkeypatch.setattr(repeat_tests, "repeat", fake_repeat)
    assert repeat_tests.main(["test/a.py", "--count", "4", "--burners", "2", "--", "-k", "cancel"]) == 0
    assert seen == {"tests": ["test/a.py"], "count": 4, "burners": 2, "pytest_args": ["-k", "cancel"]}

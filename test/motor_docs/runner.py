"""Run examples of the Motor documentation in a fresh interpreter.

Used by ``test/test_motor_docs.py``: ``python runner.py SPEC.json``. The
alias is installed before anything imports ``motor``, so a test process
(where ``import motor`` is real Motor) is never touched.

SPEC is a JSON object:

``implementation``
    ``"motorlike"`` (``motorlike.install_motor_alias()`` first) or
    ``"motor"`` (the real Motor, to compare a failing example with it).
``framework``
    ``"asyncio"`` or ``"tornado"``: the loop that top-level ``await`` in a
    code block runs on.
``steps``
    run in order in one namespace, each ``{"kind", "name", "source"}``:

    - ``docs``: a block of the docs. A block starting with ``>>>`` runs as a
      doctest (its printed output compared), or with ``"compare_output":
      false`` as the script of its source lines (the output is the test's
      to check); any other block runs as code, where top-level ``await`` is
      allowed (the docs' fragments use it).
    - ``harness``: code of the test, not of the docs (a check, a call of a
      function the docs only define ...); top-level ``await`` allowed.
    - ``script``: a complete program of the docs, run as ``__main__`` in a
      namespace of its own, with ``__file__`` = ``file`` and
      ``sys.argv[1:]`` = ``argv``.

    A step with ``expect_error`` must raise that exception class (by name);
    the runner then prints ``raised NAME: message`` and goes on.

As in a Python session, an event loop is set before the first step, so the
docs' ``asyncio.get_event_loop()`` and ``IOLoop.current()`` find it (unless
``"event_loop": false``: a program that forks must create its loop after). The
runner exits 1 on a failed doctest, an exception, a ``RuntimeWarning``
(e.g. a coroutine never awaited) or any unraisable exception.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import doctest
import inspect
import json
import os
import re
import sys
import traceback
import warnings

#: Keys a current server adds to what the docs print (MongoDB 4.4+ reports the
#: duplicate key in writeErrors). A doctest output compared as a Python
#: literal may have these in a dict where the docs' output has not.
SERVER_ADDED_KEYS = {"keyPattern", "keyValue"}

TIMEOUT = 60


def literal_matches(want: object, got: object) -> bool:
    """``got`` is ``want``, where a string of ``want`` containing ``...``
    matches any text there, and a dict of ``got`` may hold SERVER_ADDED_KEYS."""
    if isinstance(want, str) and isinstance(got, str) and "..." in want:
        pattern = ".*".join(re.escape(part) for part in want.split("..."))
        return re.fullmatch(pattern, got, re.DOTALL) is not None
    if isinstance(want, dict) and isinstance(got, dict):
        if not set(want) <= set(got) or not set(got) - set(want) <= SERVER_ADDED_KEYS:
            return False
        return all(literal_matches(want[key], got[key]) for key in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(map(literal_matches, want, got))
    return type(want) is type(got) and want == got


class DocsOutputChecker(doctest.OutputChecker):
    """doctest's ELLIPSIS comparison; failing that, for output that is a
    Python literal (a pprint-ed dict), :func:`literal_matches`. pprint splits
    a long string over lines, so the docs' ``'... duplicate key error ...'``
    cannot match the text of a longer server message line by line."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        try:
            return literal_matches(ast.literal_eval(want), ast.literal_eval(got))
        except (SyntaxError, ValueError):
            return False


class Runner:
    def __init__(self, spec: dict) -> None:
        self.framework = spec["framework"]
        self.namespace: dict = {"__name__": "__motor_docs__", "__builtins__": builtins}
        self.namespace["URI"] = os.environ["MOTORLIKE_TEST_URI"]
        self.steps = spec["steps"]
        self.unraisable: list[str] = []

    def run_coroutine(self, coroutine):
        if self.framework == "tornado":
            from tornado.ioloop import IOLoop

            return IOLoop.current().run_sync(lambda: coroutine, timeout=TIMEOUT)
        loop = asyncio.get_event_loop()
        return loop.run_until_complete(asyncio.wait_for(coroutine, TIMEOUT))

    def run_code(self, source: str, name: str, namespace: dict) -> None:
        code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            self.run_coroutine(result)

    def run_doctest(self, source: str, name: str) -> None:
        test = doctest.DocTestParser().get_doctest(source, {}, name, name, 0)
        test.globs = self.namespace  # DocTest copies its globs; the session goes on in ours
        report: list[str] = []
        runner = doctest.DocTestRunner(checker=DocsOutputChecker(), optionflags=doctest.ELLIPSIS)
        result = runner.run(test, out=report.append, clear_globs=False)
        if result.failed:
            raise AssertionError(f"doctest {name} failed:\n" + "".join(report))

    def run_step(self, step: dict) -> None:
        kind, name, source = step["kind"], f"<{step['kind']} {step['name']}>", step["source"]
        if kind == "script":
            namespace = {"__name__": "__main__", "__file__": step["file"], "__builtins__": builtins}
            sys.argv = [step["file"], *step.get("argv", [])]
            self.run_code(source, step["file"], namespace)
        elif kind == "docs" and source.lstrip().startswith(">>>"):
            if step.get("compare_output", True):
                self.run_doctest(source, name)
            else:
                self.run_code(doctest.script_from_examples(source), name, self.namespace)
        else:
            self.run_code(source, name, self.namespace)

    def main(self) -> int:
        sys.unraisablehook = self.record_unraisable
        for step in self.steps:
            expected = step.get("expect_error")
            try:
                self.run_step(step)
            except BaseException as exc:
                if expected and type(exc).__name__ == expected:
                    print(f"raised {expected}: {exc}", flush=True)
                    continue
                traceback.print_exc()
                print(f"runner: step {step['kind']} {step['name']!r} failed", file=sys.stderr)
                return 1
            else:
                if expected:
                    print(f"runner: step {step['name']!r} did not raise {expected}", file=sys.stderr)
                    return 1
        import gc

        gc.collect()  # a coroutine never awaited says so now
        if self.unraisable:
            print("runner: unraisable exceptions:\n" + "\n".join(self.unraisable), file=sys.stderr)
            return 1
        print("runner: ok", flush=True)
        return 0

    def record_unraisable(self, unraisable) -> None:
        text = "".join(traceback.format_exception_only(unraisable.exc_type, unraisable.exc_value))
        self.unraisable.append(f"{unraisable.err_msg or 'Exception ignored in'}: {unraisable.object!r}: {text}")
        print(f"unraisable: {text}", file=sys.stderr, flush=True)


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    warnings.simplefilter("error", RuntimeWarning)
    if spec["implementation"] == "motorlike":
        import motorlike

        motorlike.install_motor_alias()
        import motor

        assert motor is motorlike, motor
    else:
        import motor

        assert not hasattr(motor, "install_motor_alias"), "expected the real Motor"
    if spec.get("event_loop", True):
        asyncio.set_event_loop(asyncio.new_event_loop())
    return Runner(spec).main()


if __name__ == "__main__":
    sys.exit(main())

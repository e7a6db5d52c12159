"""A process that runs ``lr-refimpl`` commands for test_cli_properties.

It reads one JSON request per line on standard input: ``{"argv": [...]}`` runs
:func:`refimpl.cli.main` on the arguments with standard output and error captured, and
writes one line ``RESULT {json}`` with the exit status (or the traceback of an
exception that escaped ``main``, which a user would have seen) and the captured text;
``{"exec": "..."}`` runs Python code first (the test of the harness itself uses it to
plant a crash and a hang).  Running the
commands here, in one long-lived process, keeps each example fast (no interpreter
start), while the test can still kill a command that hangs -- also one stuck in C code,
which no signal handler would interrupt -- by killing this process.

The captured streams encode as the real ones do in a UTF-8 locale: standard output
strictly (printing an unencodable character is a crash), standard error with
backslash escapes.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import traceback

from refimpl.cli import main

MARK = "RESULT "


def _stream(errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, write_through=True)


def serve() -> None:
    """Answer every request on standard input until it closes."""
    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if "exec" in request:
            exec(request["exec"], {})
            continue
        argv = request["argv"]
        out, err = _stream("strict"), _stream("backslashreplace")
        result: dict[str, object] = {}
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                result["status"] = main(argv)
            except BaseException:
                result["traceback"] = traceback.format_exc()
        for name, stream in (("stdout", out), ("stderr", err)):
            result[name] = stream.buffer.getvalue().decode("utf-8", "replace")  # type: ignore[attr-defined]
        protocol.write(MARK + json.dumps(result) + "\n")
        protocol.flush()


if __name__ == "__main__":
    serve()
